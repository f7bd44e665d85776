//! storm-kafka KafkaSpout offsets in ZooKeeper (Storm 0.9.x to 1.2.x).
//!
//! Layouts under each root (the SpoutConfig `zkRoot`):
//! - `<root>/<spoutId>/partition_<N>`: one topic per spout, named in the payload;
//! - `<root>/<spoutId>/<topic>/partition_<N>`: wildcard-topic mode (Storm 1.0+).
//!
//! Payload (`PartitionManager.commit()`):
//! `{"topology":{"id":..,"name":..},"offset":..,"partition":..,"broker":{"host":..,"port":..},"topic":..}`
//! where `offset` is the next offset to process.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use crate::lag::{Committed, GroupInfo, Source, StormInfo};
use crate::sources::SourceResult;
use crate::zk::{self, parse_json, Fields, NodeError, Problem, Zk};

pub use crate::zk::parse_partition_node_name;

/// One parsed `partition_<N>` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoutNode {
    pub topic: String,
    pub partition: i32,
    /// Next offset the spout will process.
    pub offset: i64,
    pub topology_name: Option<String>,
    /// 0.9.x/0.10.x: a random UUID per spout; 1.x: the storm id `name-N-timestamp`.
    pub topology_id: Option<String>,
    /// `host:port` of the leader at assignment time (display only).
    pub broker: Option<String>,
}

/// Parses a spout partition node.
///
/// `partition` comes from the node name and is cross-checked with the
/// payload; `path_topic` is the topic directory in wildcard layout (the
/// payload's topic must then agree), `None` in the plain layout (the payload
/// must name the topic).
pub fn parse_spout_node(
    path: &str,
    partition: i32,
    path_topic: Option<&str>,
    data: &[u8],
) -> Result<SpoutNode, NodeError> {
    let value = parse_json(path, data)?;
    let fields = Fields::of(path, &value)?;
    let offset = fields.req_non_negative("offset")?;
    let topic = match (fields.opt_str("topic")?, path_topic) {
        (Some(payload), Some(dir)) if payload != dir => {
            return Err(NodeError::new(
                path,
                Problem::TopicMismatch { payload: payload.to_string(), path: dir.to_string() },
            ))
        }
        (_, Some(dir)) => dir.to_string(),
        (Some(payload), None) => payload.to_string(),
        (None, None) => return Err(NodeError::new(path, Problem::MissingField("topic".into()))),
    };
    if let Some(payload) = fields.opt_i64("partition")? {
        if payload != i64::from(partition) {
            return Err(NodeError::new(
                path,
                Problem::PartitionMismatch { payload, name: format!("partition_{partition}") },
            ));
        }
    }
    let (topology_name, topology_id) = match fields.opt_object("topology", "topology")? {
        Some(t) => (t.opt_str("name")?.map(str::to_string), t.opt_str("id")?.map(str::to_string)),
        None => (None, None),
    };
    let broker = zk::storm_broker(&fields)?;
    Ok(SpoutNode { topic, partition, offset, topology_name, topology_id, broker })
}

/// A spout found under a root, for discovery listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spout {
    pub root: String,
    pub spout_id: String,
    /// The group name used in rows (the spout id, or `root/spoutId` when the
    /// same spout id exists under more than one root).
    pub group: String,
    pub topologies: Vec<String>,
    pub topology_ids: Vec<String>,
    pub topics: Vec<String>,
    pub partitions: usize,
    /// Partition nodes that could not be read or parsed.
    pub bad_partitions: usize,
}

/// One partition node's location.
#[derive(Debug, Clone)]
struct NodeRef {
    spout: usize,
    path: String,
    partition: i32,
    path_topic: Option<String>,
}

struct SpoutDir {
    root: String,
    spout_id: String,
    error: Option<String>,
    rows: Vec<Committed>,
}

/// Reads every spout under every root. `topology` keeps only spouts whose
/// nodes name a matching topology (spouts whose topology is unknown because
/// every node is bad are then left out).
pub async fn read(zk: &Zk, roots: &[String], topology: Option<&Regex>) -> SourceResult {
    let (spouts, errors) = collect(zk, roots).await;
    let mut result = SourceResult { errors, ..SourceResult::default() };
    let groups = group_names(&spouts);
    for (spout, group) in spouts.into_iter().zip(groups) {
        if let Some(re) = topology {
            let matches = spout
                .rows
                .iter()
                .filter_map(|r| r.storm.as_ref().and_then(|s| s.topology.as_deref()))
                .any(|name| re.is_match(name));
            if !matches {
                continue;
            }
        }
        result.groups.push(GroupInfo {
            source: Source::Storm,
            group: group.clone(),
            state: None,
            members: None,
            error: spout.error,
        });
        result.rows.extend(spout.rows.into_iter().map(|mut row| {
            row.group.clone_from(&group);
            row
        }));
    }
    result
}

/// Lists the spouts under the roots with their topologies and topics.
pub async fn list(zk: &Zk, roots: &[String]) -> (Vec<Spout>, Vec<String>) {
    let (spouts, errors) = collect(zk, roots).await;
    let groups = group_names(&spouts);
    let listing = spouts
        .into_iter()
        .zip(groups)
        .map(|(s, group)| {
            let storm = || s.rows.iter().filter_map(|r| r.storm.as_ref());
            let topologies: BTreeSet<String> = storm().filter_map(|i| i.topology.clone()).collect();
            let ids: BTreeSet<String> = storm().filter_map(|i| i.topology_id.clone()).collect();
            let topics: BTreeSet<String> =
                s.rows.iter().filter(|r| !r.topic.is_empty()).map(|r| r.topic.clone()).collect();
            Spout {
                root: s.root.clone(),
                spout_id: s.spout_id.clone(),
                group,
                topologies: topologies.into_iter().collect(),
                topology_ids: ids.into_iter().collect(),
                topics: topics.into_iter().collect(),
                partitions: s.rows.len(),
                bad_partitions: s.rows.iter().filter(|r| r.error.is_some()).count(),
            }
        })
        .collect();
    (listing, errors)
}

/// Spout ids, or `root/spoutId` for ids present under several roots.
fn group_names(spouts: &[SpoutDir]) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in spouts {
        *count.entry(s.spout_id.as_str()).or_default() += 1;
    }
    spouts
        .iter()
        .map(|s| {
            if count.get(s.spout_id.as_str()).copied().unwrap_or(0) > 1 {
                zk::join(&s.root, &s.spout_id)
            } else {
                s.spout_id.clone()
            }
        })
        .collect()
}

async fn collect(zk: &Zk, roots: &[String]) -> (Vec<SpoutDir>, Vec<String>) {
    let mut errors = Vec::new();
    let mut spouts: Vec<SpoutDir> = Vec::new();
    let mut seen_roots = BTreeSet::new();
    let roots: Vec<String> =
        roots.iter().map(|r| zk::normalize_root(r)).filter(|r| seen_roots.insert(r.clone())).collect();
    for (root, listed) in zk.children_many(roots).await {
        match listed {
            Ok(Some(ids)) => spouts.extend(ids.into_iter().map(|spout_id| SpoutDir {
                root: root.clone(),
                spout_id,
                error: None,
                rows: Vec::new(),
            })),
            Ok(None) => errors.push(format!("Storm root {root} does not exist in ZooKeeper {}", zk.ensemble())),
            Err(e) => errors.push(e.to_string()),
        }
    }

    // Children of each spout: partition nodes, or topic directories (wildcard).
    let spout_paths = spouts.iter().map(|s| zk::join(&s.root, &s.spout_id)).collect();
    let mut nodes: Vec<NodeRef> = Vec::new();
    let mut topic_dirs: Vec<(usize, String, String)> = Vec::new();
    for (i, (path, listed)) in zk.children_many(spout_paths).await.into_iter().enumerate() {
        match listed {
            Ok(children) => {
                for child in children.unwrap_or_default() {
                    let child_path = zk::join(&path, &child);
                    match parse_partition_node_name(&child) {
                        Some(partition) => {
                            nodes.push(NodeRef { spout: i, path: child_path, partition, path_topic: None })
                        }
                        None => topic_dirs.push((i, child_path, child)),
                    }
                }
            }
            Err(e) => set_error(&mut spouts, i, e.to_string()),
        }
    }
    let dir_paths = topic_dirs.iter().map(|(_, p, _)| p.clone()).collect();
    for ((spout, _, topic), (path, listed)) in topic_dirs.into_iter().zip(zk.children_many(dir_paths).await) {
        match listed {
            Ok(children) => {
                for child in children.unwrap_or_default() {
                    if let Some(partition) = parse_partition_node_name(&child) {
                        nodes.push(NodeRef {
                            spout,
                            path: zk::join(&path, &child),
                            partition,
                            path_topic: Some(topic.clone()),
                        });
                    }
                }
            }
            Err(e) => set_error(&mut spouts, spout, e.to_string()),
        }
    }

    let node_paths = nodes.iter().map(|n| n.path.clone()).collect();
    let read = zk.data_many(node_paths).await;
    for (node, (_, data)) in nodes.into_iter().zip(read) {
        let parsed = match data {
            Ok(Some(bytes)) => parse_spout_node(&node.path, node.partition, node.path_topic.as_deref(), &bytes)
                .map_err(|e| e.to_string()),
            Ok(None) => continue, // deleted since it was listed
            Err(e) => Err(e.to_string()),
        };
        if let Some(s) = spouts.get_mut(node.spout) {
            s.rows.push(row(&s.spout_id, &node, parsed));
        }
    }
    for s in &mut spouts {
        fill_unknown_topics(&mut s.rows);
        s.rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    }
    (spouts, errors)
}

fn set_error(spouts: &mut [SpoutDir], i: usize, error: String) {
    if let Some(s) = spouts.get_mut(i) {
        s.error = Some(error);
    }
}

fn row(spout_id: &str, node: &NodeRef, parsed: Result<SpoutNode, String>) -> Committed {
    match parsed {
        Ok(n) => Committed::new(Source::Storm, spout_id, &n.topic, n.partition, Some(n.offset)).with_storm(StormInfo {
            topology: n.topology_name,
            topology_id: n.topology_id,
            broker: n.broker,
        }),
        Err(error) => {
            let topic = node.path_topic.as_deref().unwrap_or("");
            Committed::bad(Source::Storm, spout_id, topic, node.partition, error)
        }
    }
}

/// In the plain layout a spout reads one topic: a bad node whose topic is
/// unknown takes the topic its good siblings agree on.
pub(crate) fn fill_unknown_topics(rows: &mut [Committed]) {
    let known: BTreeSet<&str> = rows.iter().map(|r| r.topic.as_str()).filter(|t| !t.is_empty()).collect();
    if known.len() != 1 {
        return;
    }
    let Some(topic) = known.into_iter().next().map(str::to_string) else {
        return;
    };
    for r in rows.iter_mut().filter(|r| r.topic.is_empty()) {
        r.topic.clone_from(&topic);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const P: &str = "/kafkastorm/spout1/partition_3";

    fn err(data: &str) -> String {
        parse_spout_node(P, 3, None, data.as_bytes()).expect_err("should fail").to_string()
    }

    #[test]
    fn plain_payload() {
        let n = parse_spout_node(
            P,
            3,
            None,
            br#"{"topology":{"id":"t-1-2","name":"t"},"offset":10,"partition":3,"broker":{"host":"k1","port":9092},"topic":"a"}"#,
        )
        .unwrap();
        assert_eq!(
            n,
            SpoutNode {
                topic: "a".into(),
                partition: 3,
                offset: 10,
                topology_name: Some("t".into()),
                topology_id: Some("t-1-2".into()),
                broker: Some("k1:9092".into()),
            }
        );
    }

    #[test]
    fn minimal_payload() {
        let n = parse_spout_node(P, 3, Some("a"), br#"{"offset":0}"#).unwrap();
        assert_eq!((n.topic.as_str(), n.offset, n.topology_name, n.broker), ("a", 0, None, None));
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(err(""), format!("{P}: empty node"));
        assert_eq!(err(r#"{"topic":"a"}"#), format!("{P}: missing field \"offset\""));
        assert_eq!(err(r#"{"offset":1}"#), format!("{P}: missing field \"topic\""));
        assert_eq!(err(r#"{"offset":-1,"topic":"a"}"#), format!("{P}: field \"offset\" is negative (-1)"));
        assert_eq!(
            err(r#"{"offset":1,"topic":"a","partition":4}"#),
            format!("{P}: partition in payload (4) does not match the node name (partition_3)")
        );
        assert_eq!(
            err(r#"{"offset":1,"topic":"a","broker":{"host":"k"}}"#),
            format!("{P}: missing field \"broker.port\"")
        );
        assert_eq!(err("[1]"), format!("{P}: payload is an array, expected a JSON object"));
        let mismatch = parse_spout_node(P, 3, Some("b"), br#"{"offset":1,"topic":"a"}"#).unwrap_err();
        assert_eq!(mismatch.to_string(), format!("{P}: topic in payload (\"a\") does not match the path (\"b\")"));
    }

    #[test]
    fn unknown_topics_are_filled_from_siblings() {
        let mut rows =
            vec![Committed::new(Source::Storm, "s", "a", 0, Some(1)), Committed::new(Source::Storm, "s", "", 1, None)];
        fill_unknown_topics(&mut rows);
        assert_eq!(rows[1].topic, "a");
        let mut mixed = vec![
            Committed::new(Source::Storm, "s", "a", 0, Some(1)),
            Committed::new(Source::Storm, "s", "b", 0, Some(1)),
            Committed::new(Source::Storm, "s", "", 1, None),
        ];
        fill_unknown_topics(&mut mixed);
        assert_eq!(mixed[2].topic, "");
    }
}
