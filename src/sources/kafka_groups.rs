//! Kafka-committed consumer groups: discovery, state and members, committed offsets.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::kafka::{CommittedOffset, GroupDescription, Kafka, KafkaError};
use crate::lag::{Committed, GroupInfo, Owner, Source};

use super::{Filter, SourceResult};

/// Discovers groups on the cluster and reads them.
///
/// Fails only when discovery itself fails (nothing could be reached);
/// a group that cannot be described or fetched is reported in its row.
pub fn read(kafka: &Kafka, filter: &Filter, deadline: Instant) -> Result<SourceResult, KafkaError> {
    let (listings, partial_errors) = kafka.list_groups(deadline)?;
    let mut ids: Vec<String> = listings.into_iter().map(|g| g.group_id).filter(|g| filter.wants_group(g)).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(SourceResult { errors: partial_errors, ..SourceResult::default() });
    }
    // Descriptions and committed offsets need only the group ids: ask for
    // both at once rather than one round trip after the other.
    let (descriptions, committed) = std::thread::scope(|s| {
        let described = s.spawn(|| kafka.describe_groups(&ids, deadline));
        let committed = kafka.committed_offsets_of(&ids, None, deadline);
        (described.join(), committed)
    });
    let descriptions = match descriptions {
        Ok(d) => d?,
        Err(_) => ids.iter().map(|id| (id.clone(), Err("describing groups failed".to_string()))).collect(),
    };
    let mut result = join(descriptions, committed, filter);
    result.errors.extend(partial_errors);
    Ok(result)
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
    for (id, description) in descriptions {
        let mut info = GroupInfo { source: Source::Kafka, group: id.clone(), state: None, members: None, error: None };
        // Partition -> owner, from the members' assignments.
        let mut rows: BTreeMap<(String, i32), Committed> = BTreeMap::new();
        match description {
            Ok(d) => {
                info.state = Some(d.state.clone());
                info.members = u32::try_from(d.members.len()).ok();
                for m in d.members {
                    for (topic, partition) in m.assignment {
                        if !filter.wants_topic(&topic) {
                            continue;
                        }
                        let mut row = Committed::new(Source::Kafka, &id, &topic, partition, None);
                        row.owner = Owner {
                            consumer_id: Some(m.consumer_id.clone()),
                            host: Some(m.host.clone()),
                            client_id: Some(m.client_id.clone()),
                        };
                        rows.insert((topic, partition), row);
                    }
                }
            }
            Err(e) => info.error = Some(format!("could not describe group: {e}")),
        }
        match committed.remove(&id) {
            Some(Ok(offsets)) => {
                for c in offsets {
                    if !filter.wants_topic(&c.topic) {
                        continue;
                    }
                    let row = rows
                        .entry((c.topic.clone(), c.partition))
                        .or_insert_with(|| Committed::new(Source::Kafka, &id, &c.topic, c.partition, None));
                    row.offset = c.offset;
                    row.error = c.error.map(|e| format!("could not fetch committed offset: {e}"));
                }
            }
            Some(Err(e)) => {
                let msg = format!("could not fetch committed offsets: {e}");
                info.error = Some(info.error.map_or(msg.clone(), |prev| format!("{prev}; {msg}")));
            }
            None => info.error = Some("no answer for committed offsets".to_string()),
        }
        // With a topic filter, a group that has nothing on the wanted topics is not shown.
        let keep = rows.values().next().is_some() || info.error.is_some() || filter.topic.is_none();
        if keep {
            result.groups.push(info);
            result.rows.extend(rows.into_values());
        }
    }
    result
}
