//! Trident Kafka spouts: `<root>/<streamId>/user/<partitionId>/<txid>`
//! (root `transactional.zookeeper.root`, default `/transactional`).
//!
//! Partition ids:
//! - `partition_<N>`: storm-kafka (`TridentKafkaEmitter`), one topic per stream;
//! - `<topic>/partition_<N>`: storm-kafka in wildcard-topic mode;
//! - `<topic>@<N>`: storm-kafka-client (Storm 1.2 and 2.x).
//!
//! Old txids are deleted as batches complete, so the numerically largest
//! txid child holds the latest batch metadata. Position: storm-kafka
//! `nextOffset`; storm-kafka-client `lastOffset + 1`.

use std::collections::BTreeSet;

use regex::Regex;

use crate::lag::{Committed, GroupInfo, Source, StormInfo};
use crate::sources::storm::fill_unknown_topics;
use crate::sources::SourceResult;
use crate::zk::{self, parse_json, parse_partition_node_name, Fields, NodeError, Problem, Zk};

/// The default `transactional.zookeeper.root`.
pub const DEFAULT_ROOT: &str = "/transactional";

/// Which writer a partition id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// storm-kafka `TridentKafkaEmitter` (ids `partition_<N>` or `<topic>/partition_<N>`).
    StormKafka,
    /// storm-kafka-client `KafkaTridentSpoutEmitter` (ids `<topic>@<N>`).
    KafkaClient,
}

/// A recognized Trident partition id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionId {
    pub writer: Writer,
    /// Known from the id in wildcard and storm-kafka-client forms.
    pub topic: Option<String>,
    pub partition: i32,
}

/// Parses a one-level partition id (`partition_<N>` or `<topic>@<N>`).
/// Wildcard ids span two levels: see [`parse_wildcard_partition_id`].
pub fn parse_partition_id(name: &str) -> Option<PartitionId> {
    if let Some(partition) = parse_partition_node_name(name) {
        return Some(PartitionId { writer: Writer::StormKafka, topic: None, partition });
    }
    let (topic, digits) = name.rsplit_once('@')?;
    if topic.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let partition = digits.parse().ok()?;
    Some(PartitionId { writer: Writer::KafkaClient, topic: Some(topic.to_string()), partition })
}

/// The wildcard form: a `<topic>` directory holding `partition_<N>`.
pub fn parse_wildcard_partition_id(topic: &str, name: &str) -> Option<PartitionId> {
    let partition = parse_partition_node_name(name)?;
    Some(PartitionId { writer: Writer::StormKafka, topic: Some(topic.to_string()), partition })
}

/// The numerically largest txid among `children` (non-numeric names ignored).
pub fn latest_txid(children: &[String]) -> Option<&str> {
    children.iter().map(String::as_str).filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())).max_by(
        |a, b| {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        },
    )
}

/// The latest batch metadata of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TridentNode {
    pub writer: Writer,
    /// `None` only for a storm-kafka `null` payload in the plain layout.
    pub topic: Option<String>,
    pub partition: i32,
    /// Next offset the spout will emit; `None` for a `null` payload (no batch yet).
    pub position: Option<i64>,
    pub topology_name: Option<String>,
    pub topology_id: Option<String>,
    pub broker: Option<String>,
    /// storm-kafka: `instanceId` absent (the fallback after a failed fetch).
    pub fallback: bool,
}

/// Parses the metadata node of `id` at `path`.
pub fn parse_node(path: &str, id: &PartitionId, data: &[u8]) -> Result<TridentNode, NodeError> {
    match id.writer {
        Writer::StormKafka => parse_storm_kafka(path, id, data),
        Writer::KafkaClient => parse_kafka_client(path, id, data),
    }
}

fn null_node(id: &PartitionId) -> TridentNode {
    TridentNode {
        writer: id.writer,
        topic: id.topic.clone(),
        partition: id.partition,
        position: None,
        topology_name: None,
        topology_id: None,
        broker: None,
        fallback: false,
    }
}

/// storm-kafka `TridentKafkaEmitter` metadata:
/// `{"offset":..,"nextOffset":..,"instanceId":..,"partition":..,"broker":{..},"topic":..,"topology":{"name":..,"id":..}}`.
fn parse_storm_kafka(path: &str, id: &PartitionId, data: &[u8]) -> Result<TridentNode, NodeError> {
    let value = parse_json(path, data)?;
    if value.is_null() {
        return Ok(null_node(id));
    }
    let fields = Fields::of(path, &value)?;
    let next = fields.req_non_negative("nextOffset")?;
    if fields.get("offset").is_some() {
        fields.req_non_negative("offset")?;
    }
    let topic = match (fields.opt_str("topic")?, id.topic.as_deref()) {
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
        if payload != i64::from(id.partition) {
            return Err(NodeError::new(
                path,
                Problem::PartitionMismatch { payload, name: format!("partition_{}", id.partition) },
            ));
        }
    }
    let instance = fields.opt_str("instanceId")?;
    let (topology_name, topology_id) = match fields.opt_object("topology", "topology")? {
        Some(t) => (t.opt_str("name")?.map(str::to_string), t.opt_str("id")?.map(str::to_string)),
        None => (None, None),
    };
    Ok(TridentNode {
        writer: Writer::StormKafka,
        topic: Some(topic),
        partition: id.partition,
        position: Some(next),
        topology_name,
        topology_id: topology_id.or_else(|| instance.map(str::to_string)),
        broker: zk::storm_broker(&fields)?,
        fallback: instance.is_none(),
    })
}

/// storm-kafka-client `KafkaTridentSpoutBatchMetadata`:
/// `{"firstOffset":..,"lastOffset":..,"topologyId":..}`.
fn parse_kafka_client(path: &str, id: &PartitionId, data: &[u8]) -> Result<TridentNode, NodeError> {
    let value = parse_json(path, data)?;
    if value.is_null() {
        return Ok(null_node(id));
    }
    let fields = Fields::of(path, &value)?;
    let last = fields.req_non_negative("lastOffset")?;
    if let Some(first) = fields.opt_i64("firstOffset")? {
        if first < 0 {
            return Err(NodeError::new(path, Problem::Negative { field: "firstOffset".into(), value: first }));
        }
        if first > last {
            return Err(NodeError::new(
                path,
                Problem::Other(format!("firstOffset ({first}) is greater than lastOffset ({last})")),
            ));
        }
    }
    let position = last.checked_add(1).ok_or_else(|| {
        NodeError::new(path, Problem::OutOfRange { field: "lastOffset".into(), value: last.to_string() })
    })?;
    let topology_id = fields.opt_str("topologyId")?.map(str::to_string);
    let topology_name = topology_id.as_deref().and_then(zk::topology_name_from_storm_id).map(str::to_string);
    Ok(TridentNode {
        writer: Writer::KafkaClient,
        topic: id.topic.clone(),
        partition: id.partition,
        position: Some(position),
        topology_name,
        topology_id,
        broker: None,
        fallback: false,
    })
}

/// A Trident stream with Kafka partitions, for discovery listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub stream_id: String,
    pub writer: Writer,
    pub topologies: Vec<String>,
    pub topology_ids: Vec<String>,
    pub topics: Vec<String>,
    pub partitions: usize,
    pub bad_partitions: usize,
}

struct StreamDir {
    stream_id: String,
    writer: Option<Writer>,
    error: Option<String>,
    rows: Vec<Committed>,
}

struct PartitionDir {
    stream: usize,
    path: String,
    id: PartitionId,
}

/// Reads every Trident stream under `root` that has Kafka partitions.
/// `topology` keeps streams whose metadata names a matching topology (for
/// storm-kafka-client, the name inside the topology id `name-N-timestamp`).
pub async fn read(zk: &Zk, root: &str, topology: Option<&Regex>) -> SourceResult {
    let (streams, errors) = collect(zk, root).await;
    let mut result = SourceResult { errors, ..SourceResult::default() };
    for s in streams {
        if s.writer.is_none() && s.error.is_none() {
            continue; // not a Kafka spout
        }
        if let Some(re) = topology {
            let matches = s
                .rows
                .iter()
                .filter_map(|r| r.storm.as_ref().and_then(|i| i.topology.as_deref()))
                .any(|name| re.is_match(name));
            if !matches {
                continue;
            }
        }
        result.groups.push(GroupInfo {
            source: Source::Trident,
            group: s.stream_id.clone(),
            state: None,
            members: None,
            error: s.error,
        });
        result.rows.extend(s.rows);
    }
    result
}

/// Lists the Trident streams with Kafka partitions under `root`.
pub async fn list(zk: &Zk, root: &str) -> (Vec<Stream>, Vec<String>) {
    let (streams, errors) = collect(zk, root).await;
    let listing = streams
        .into_iter()
        .filter_map(|s| {
            let writer = s.writer?;
            let storm = || s.rows.iter().filter_map(|r| r.storm.as_ref());
            let topologies: BTreeSet<String> = storm().filter_map(|i| i.topology.clone()).collect();
            let ids: BTreeSet<String> = storm().filter_map(|i| i.topology_id.clone()).collect();
            let topics: BTreeSet<String> =
                s.rows.iter().filter(|r| !r.topic.is_empty()).map(|r| r.topic.clone()).collect();
            Some(Stream {
                stream_id: s.stream_id.clone(),
                writer,
                topologies: topologies.into_iter().collect(),
                topology_ids: ids.into_iter().collect(),
                topics: topics.into_iter().collect(),
                partitions: s.rows.len(),
                bad_partitions: s.rows.iter().filter(|r| r.error.is_some()).count(),
            })
        })
        .collect();
    (listing, errors)
}

async fn collect(zk: &Zk, root: &str) -> (Vec<StreamDir>, Vec<String>) {
    let root = zk::normalize_root(root);
    let mut errors = Vec::new();
    let ids = match zk.children(&root).await {
        Ok(Some(ids)) => ids,
        Ok(None) => {
            errors.push(format!("Trident root {root} does not exist in ZooKeeper {}", zk.ensemble()));
            return (Vec::new(), errors);
        }
        Err(e) => {
            errors.push(e.to_string());
            return (Vec::new(), errors);
        }
    };
    let mut streams: Vec<StreamDir> =
        ids.into_iter().map(|stream_id| StreamDir { stream_id, writer: None, error: None, rows: Vec::new() }).collect();

    // <stream>/user children: partition ids, or topic directories (wildcard).
    let user_paths = streams.iter().map(|s| zk::join(&zk::join(&root, &s.stream_id), "user")).collect();
    let mut partitions: Vec<PartitionDir> = Vec::new();
    let mut other_dirs: Vec<(usize, String, String)> = Vec::new();
    for (i, (user, listed)) in zk.children_many(user_paths).await.into_iter().enumerate() {
        match listed {
            Ok(children) => {
                for child in children.unwrap_or_default() {
                    let path = zk::join(&user, &child);
                    match parse_partition_id(&child) {
                        Some(id) => partitions.push(PartitionDir { stream: i, path, id }),
                        None => other_dirs.push((i, path, child)),
                    }
                }
            }
            Err(e) => set_error(&mut streams, i, e.to_string()),
        }
    }

    // One listing per partition id directory (txids) and per other directory
    // (wildcard `partition_<N>` children, or a non-Kafka spout's state).
    let mut listing_paths: Vec<String> = partitions.iter().map(|p| p.path.clone()).collect();
    listing_paths.extend(other_dirs.iter().map(|(_, p, _)| p.clone()));
    let mut listed = zk.children_many(listing_paths).await.into_iter();
    let mut txids: Vec<Result<Vec<String>, String>> = Vec::new();
    for _ in 0..partitions.len() {
        txids.push(match listed.next() {
            Some((_, Ok(children))) => Ok(children.unwrap_or_default()),
            Some((_, Err(e))) => Err(e.to_string()),
            None => Err("missing listing".to_string()),
        });
    }
    let mut wildcard: Vec<PartitionDir> = Vec::new();
    for ((stream, path, topic), (_, children)) in other_dirs.into_iter().zip(listed) {
        match children {
            Ok(children) => {
                for child in children.unwrap_or_default() {
                    if let Some(id) = parse_wildcard_partition_id(&topic, &child) {
                        wildcard.push(PartitionDir { stream, path: zk::join(&path, &child), id });
                    }
                }
            }
            Err(e) => set_error(&mut streams, stream, e.to_string()),
        }
    }
    let wildcard_paths = wildcard.iter().map(|p| p.path.clone()).collect();
    for (_, children) in zk.children_many(wildcard_paths).await {
        txids.push(match children {
            Ok(children) => Ok(children.unwrap_or_default()),
            Err(e) => Err(e.to_string()),
        });
    }
    partitions.extend(wildcard);

    // The latest txid node of each partition.
    let mut to_read: Vec<(usize, String)> = Vec::new();
    let mut outcomes: Vec<Option<Result<TridentNode, String>>> = Vec::new();
    for (i, (p, children)) in partitions.iter().zip(txids).enumerate() {
        match children {
            Ok(children) => match latest_txid(&children) {
                Some(txid) => {
                    to_read.push((i, zk::join(&p.path, txid)));
                    outcomes.push(None);
                }
                None => outcomes.push(Some(Ok(null_node(&p.id)))),
            },
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    let paths = to_read.iter().map(|(_, path)| path.clone()).collect();
    for ((i, path), (_, data)) in to_read.into_iter().zip(zk.data_many(paths).await) {
        let Some(p) = partitions.get(i) else { continue };
        let parsed = match data {
            Ok(Some(bytes)) => parse_node(&path, &p.id, &bytes).map_err(|e| e.to_string()),
            Ok(None) => Ok(null_node(&p.id)), // rotated away since it was listed
            Err(e) => Err(e.to_string()),
        };
        if let Some(slot) = outcomes.get_mut(i) {
            *slot = Some(parsed);
        }
    }
    for (p, outcome) in partitions.iter().zip(outcomes) {
        let Some(s) = streams.get_mut(p.stream) else {
            continue;
        };
        s.writer.get_or_insert(p.id.writer);
        let outcome = outcome.unwrap_or_else(|| Err(format!("{}: not read", p.path)));
        s.rows.push(row(&s.stream_id, &p.id, outcome));
    }
    for s in &mut streams {
        fill_unknown_topics(&mut s.rows);
        s.rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    }
    (streams, errors)
}

fn set_error(streams: &mut [StreamDir], i: usize, error: String) {
    if let Some(s) = streams.get_mut(i) {
        s.error = Some(error);
    }
}

fn row(stream_id: &str, id: &PartitionId, outcome: Result<TridentNode, String>) -> Committed {
    match outcome {
        Ok(n) => {
            let topic = n.topic.as_deref().unwrap_or("");
            Committed::new(Source::Trident, stream_id, topic, n.partition, n.position).with_storm(StormInfo {
                topology: n.topology_name,
                topology_id: n.topology_id,
                broker: n.broker,
            })
        }
        Err(error) => {
            let topic = id.topic.as_deref().unwrap_or("");
            Committed::bad(Source::Trident, stream_id, topic, id.partition, error)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn partition_ids() {
        assert_eq!(
            parse_partition_id("partition_2"),
            Some(PartitionId { writer: Writer::StormKafka, topic: None, partition: 2 })
        );
        assert_eq!(
            parse_partition_id("access.log@11"),
            Some(PartitionId { writer: Writer::KafkaClient, topic: Some("access.log".into()), partition: 11 })
        );
        assert_eq!(parse_partition_id("@1"), None);
        assert_eq!(parse_partition_id("t@"), None);
        assert_eq!(parse_partition_id("t@x"), None);
        assert_eq!(parse_partition_id("access_log"), None);
        assert_eq!(
            parse_wildcard_partition_id("t", "partition_0"),
            Some(PartitionId { writer: Writer::StormKafka, topic: Some("t".into()), partition: 0 })
        );
    }

    #[test]
    fn latest_txid_is_numeric_max() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(latest_txid(&c(&["9", "10", "2"])), Some("10"));
        assert_eq!(
            latest_txid(&c(&["99999999999999999999999", "100000000000000000000000"])),
            Some("100000000000000000000000")
        );
        assert_eq!(latest_txid(&c(&["x", "3"])), Some("3"));
        assert_eq!(latest_txid(&c(&["x"])), None);
        assert_eq!(latest_txid(&[]), None);
    }

    #[test]
    fn kafka_client_errors() {
        let id = parse_partition_id("t@0").unwrap();
        let e = |d: &str| parse_node("/x", &id, d.as_bytes()).unwrap_err().to_string();
        assert_eq!(e(r#"{"firstOffset":1}"#), "/x: missing field \"lastOffset\"");
        assert_eq!(e(r#"{"firstOffset":5,"lastOffset":4}"#), "/x: firstOffset (5) is greater than lastOffset (4)");
        assert_eq!(
            e(r#"{"lastOffset":9223372036854775807}"#),
            "/x: field \"lastOffset\" is out of range (9223372036854775807)"
        );
        assert_eq!(
            e(r#"{"lastOffset":1,"topologyId":7}"#),
            "/x: field \"topologyId\" is an integer, expected a string"
        );
    }

    #[test]
    fn null_payload_means_no_batch_yet() {
        let id = parse_partition_id("partition_1").unwrap();
        let n = parse_node("/x", &id, b"null").unwrap();
        assert_eq!((n.position, n.topic, n.partition), (None, None, 1));
    }
}
