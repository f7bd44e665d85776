//! Kafka-committed consumer groups: discovery, state and members, committed offsets.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::kafka::{CommittedOffset, GroupDescription, GroupListing, Kafka, KafkaError};
use crate::lag::{Committed, GroupInfo, Owner, Source};

use super::{Filter, SourceResult};

/// Discovers groups on the cluster and reads them.
///
/// Fails only when discovery itself fails (nothing could be reached);
/// a group that cannot be described or fetched is reported in its row.
pub fn read(kafka: &Kafka, filter: &Filter, deadline: Instant) -> Result<SourceResult, KafkaError> {
    kafka.warm_up(deadline);
    let (listings, partial_errors) = kafka.list_groups(deadline)?;
    let mut listings: Vec<GroupListing> = listings.into_iter().filter(|g| filter.wants_group(&g.group_id)).collect();
    listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    listings.dedup_by(|a, b| a.group_id == b.group_id);
    if listings.is_empty() {
        return Ok(SourceResult { errors: partial_errors, ..SourceResult::default() });
    }
    let ids: Vec<String> = listings.iter().map(|g| g.group_id.clone()).collect();
    // Only groups with members have anything to describe (owners of
    // partitions); the listing already gives every group's state. On a
    // cluster of mostly idle groups this saves most of the requests.
    let to_describe: Vec<String> =
        listings.iter().filter(|g| !has_no_members(&g.state)).map(|g| g.group_id.clone()).collect();
    // Descriptions and committed offsets need only the group ids: ask for
    // both at once rather than one round trip after the other.
    let (described, committed) = kafka.describe_and_fetch(&to_describe, &ids, deadline);
    let mut described: BTreeMap<String, Result<GroupDescription, String>> = described?.into_iter().collect();
    let descriptions = listings
        .into_iter()
        .map(|l| {
            let d = described.remove(&l.group_id).unwrap_or_else(|| {
                Ok(GroupDescription { group_id: l.group_id.clone(), state: l.state.clone(), members: Vec::new() })
            });
            (l.group_id, d)
        })
        .collect();
    let mut result = join(descriptions, committed, filter);
    result.errors.extend(partial_errors);
    Ok(result)
}

/// Group states in which a group has no members by definition.
fn has_no_members(state: &str) -> bool {
    matches!(state, "Empty" | "Dead")
}

/// Reads committed offsets for groups whose descriptions are already known.
///
/// `partitions` limits the offset fetch to known partitions; `None` asks for
/// every committed partition. (The demo's mock cluster only answers the former.)
pub fn read_described(
    kafka: &Kafka,
    descriptions: Vec<(String, Result<GroupDescription, String>)>,
    filter: &Filter,
    partitions: Option<&[(String, i32)]>,
    deadline: Instant,
) -> SourceResult {
    let ids: Vec<String> = descriptions.iter().map(|(id, _)| id.clone()).collect();
    let committed = if ids.is_empty() { Vec::new() } else { kafka.committed_offsets_of(&ids, partitions, deadline) };
    join(descriptions, committed, filter)
}

/// Joins descriptions (owners) with committed offsets into rows per group.
fn join(
    descriptions: Vec<(String, Result<GroupDescription, String>)>,
    committed: Vec<(String, Result<Vec<CommittedOffset>, String>)>,
    filter: &Filter,
) -> SourceResult {
    let mut committed: BTreeMap<String, Result<Vec<CommittedOffset>, String>> = committed.into_iter().collect();

    let mut result = SourceResult::default();
    // One allocation for every row, not a doubling per group.
    result.rows.reserve(committed.values().map(|c| c.as_ref().map_or(0, Vec::len)).sum());
    for (id, description) in descriptions {
        let mut info = GroupInfo { source: Source::Kafka, group: id.clone(), state: None, members: None, error: None };
        // Rows of assigned partitions (with their owner), found again by key
        // when the committed offsets arrive.
        let mut rows: Vec<Committed> = Vec::new();
        let mut assigned: HashMap<(String, i32), usize> = HashMap::new();
        match description {
            Ok(d) => {
                info.state = Some(d.state.clone());
                info.members = u32::try_from(d.members.len()).ok();
                for m in d.members {
                    for (topic, partition) in m.assignment {
                        if !filter.wants_topic(&topic) || assigned.contains_key(&(topic.clone(), partition)) {
                            continue;
                        }
                        let mut row = Committed::new(Source::Kafka, &id, &topic, partition, None);
                        row.owner = Owner {
                            consumer_id: Some(m.consumer_id.clone()),
                            host: Some(m.host.clone()),
                            client_id: Some(m.client_id.clone()),
                        };
                        assigned.insert((topic, partition), rows.len());
                        rows.push(row);
                    }
                }
            }
            Err(e) => info.error = Some(format!("could not describe group: {e}")),
        }
        match committed.remove(&id) {
            Some(Ok(offsets)) => {
                rows.reserve(offsets.len());
                for c in offsets {
                    if !filter.wants_topic(&c.topic) {
                        continue;
                    }
                    let error = c.error.map(|e| format!("could not fetch committed offset: {e}"));
                    let key = (c.topic, c.partition);
                    // Most groups at scale have no members: no lookup then.
                    let owned = if assigned.is_empty() { None } else { assigned.get(&key) };
                    match owned {
                        Some(&i) => {
                            rows[i].offset = c.offset;
                            rows[i].error = error;
                        }
                        // The common case at scale: moves the topic, no lookups.
                        None => rows.push(Committed {
                            topic: key.0,
                            error,
                            ..Committed::new(Source::Kafka, &id, "", key.1, c.offset)
                        }),
                    }
                }
            }
            Some(Err(e)) => {
                let msg = format!("could not fetch committed offsets: {e}");
                info.error = Some(info.error.map_or(msg.clone(), |prev| format!("{prev}; {msg}")));
            }
            None => info.error = Some("no answer for committed offsets".to_string()),
        }
        // With a topic filter, a group that has nothing on the wanted topics is not shown.
        let keep = !rows.is_empty() || info.error.is_some() || filter.topic.is_none();
        if keep {
            // Sorted per group, the whole snapshot's final sort is nearly free.
            rows.sort_unstable_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            result.groups.push(info);
            result.rows.append(&mut rows);
        }
    }
    result
}
