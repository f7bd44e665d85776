//! Kafka broker and topic registrations in ZooKeeper (ZooKeeper-mode clusters).
//!
//! `/brokers/ids/<id>` versions: 1 (0.8) host, port, jmx_port, timestamp;
//! 2 (0.9) + endpoints `["PLAINTEXT://host:9092"]`; 3 + rack;
//! 4 (0.10.2+) + listener_security_protocol_map, endpoints named by listener;
//! 5 (2.7+) + features. With no PLAINTEXT listener `host` is null and `port`
//! is -1, so endpoints are what counts.

use std::collections::{BTreeMap, HashMap};

use crate::zk::{self, parse_json, Fields, NodeError, Problem, Zk, ZkError};

pub const BROKER_IDS: &str = "/brokers/ids";
pub const TOPICS: &str = "/brokers/topics";

/// One advertised listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Listener name (`PLAINTEXT`, `CLIENT`, ...), upper case.
    pub listener: String,
    /// Security protocol (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub protocol: String,
    /// Without brackets; empty when the broker registered none.
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `host:port`, IPv6 bracketed.
    pub fn address(&self) -> String {
        zk::host_port(&self.host, i64::from(self.port))
    }
}

/// A parsed `/brokers/ids/<id>` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    pub version: i64,
    /// Legacy PLAINTEXT host (null without a PLAINTEXT listener).
    pub host: Option<String>,
    /// Legacy PLAINTEXT port (-1 without a PLAINTEXT listener).
    pub port: Option<i64>,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    pub jmx_port: Option<i64>,
}

/// Parses `LISTENER://host:port` (host may be empty or a bracketed IPv6 address).
pub fn parse_endpoint(text: &str, protocols: &BTreeMap<String, String>) -> Result<Endpoint, String> {
    let bad = || format!("endpoint \"{text}\" is not LISTENER://host:port");
    let (listener, address) = text.split_once("://").ok_or_else(bad)?;
    if listener.is_empty() {
        return Err(bad());
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| format!("endpoint \"{text}\" has an invalid port"))?;
    let listener = listener.to_ascii_uppercase();
    let protocol = protocols.get(&listener).cloned().unwrap_or_else(|| listener.clone());
    Ok(Endpoint { listener, protocol, host: host.to_string(), port })
}

/// Parses a broker registration; `id` comes from the node name.
pub fn parse_broker(path: &str, id: i32, data: &[u8]) -> Result<BrokerRegistration, NodeError> {
    let value = parse_json(path, data)?;
    let fields = Fields::of(path, &value)?;
    let version = fields.req_i64("version")?;
    let mut protocols = BTreeMap::new();
    if let Some(map) = fields.opt_object("listener_security_protocol_map", "listener_security_protocol_map")? {
        for key in map.map().keys() {
            if let Some(protocol) = map.opt_str(key)? {
                protocols.insert(key.to_ascii_uppercase(), protocol.to_ascii_uppercase());
            }
        }
    }
    let mut endpoints = Vec::new();
    for (i, item) in fields.opt_array("endpoints")?.into_iter().flatten().enumerate() {
        let text = item.as_str().ok_or_else(|| {
            NodeError::new(
                path,
                Problem::WrongType {
                    field: format!("endpoints[{i}]"),
                    expected: "a string",
                    found: zk::json_type(item),
                },
            )
        })?;
        endpoints.push(parse_endpoint(text, &protocols).map_err(|e| NodeError::new(path, Problem::Other(e)))?);
    }
    let host = fields.opt_str("host")?.map(str::to_string);
    let port = fields.opt_i64("port")?;
    if endpoints.is_empty() && (host.is_none() || port.is_none()) {
        let missing = if host.is_none() { "host" } else { "port" };
        return Err(NodeError::new(path, Problem::MissingField(missing.into())));
    }
    Ok(BrokerRegistration {
        id,
        version,
        host,
        port,
        endpoints,
        rack: fields.opt_str("rack")?.map(str::to_string),
        jmx_port: fields.opt_i64("jmx_port")?,
    })
}

impl BrokerRegistration {
    /// The endpoint to bootstrap from: the named listener, else the first
    /// PLAINTEXT one, else the legacy host/port, else the first endpoint.
    /// An empty endpoint host falls back to the legacy host.
    pub fn choose(&self, listener: Option<&str>) -> Result<Endpoint, String> {
        let chosen = match listener {
            Some(name) => {
                self.endpoints.iter().find(|e| e.listener.eq_ignore_ascii_case(name)).cloned().ok_or_else(|| {
                    let names: Vec<&str> = self.endpoints.iter().map(|e| e.listener.as_str()).collect();
                    format!("broker {} has no listener {name} (listeners: {})", self.id, list_or_none(&names))
                })?
            }
            None => match self.endpoints.iter().find(|e| e.protocol == "PLAINTEXT") {
                Some(e) => e.clone(),
                None => match self.legacy() {
                    Some(e) => e,
                    None => self
                        .endpoints
                        .first()
                        .cloned()
                        .ok_or_else(|| format!("broker {} registers no endpoint", self.id))?,
                },
            },
        };
        if !chosen.host.is_empty() {
            return Ok(chosen);
        }
        match self.host.as_deref().filter(|h| !h.is_empty()) {
            Some(host) => Ok(Endpoint { host: host.to_string(), ..chosen }),
            None => Err(format!("broker {} registers an empty host for listener {}", self.id, chosen.listener)),
        }
    }

    fn legacy(&self) -> Option<Endpoint> {
        let host = self.host.as_deref().filter(|h| !h.is_empty())?;
        let port = u16::try_from(self.port?).ok().filter(|p| *p > 0)?;
        Some(Endpoint { listener: "PLAINTEXT".into(), protocol: "PLAINTEXT".into(), host: host.to_string(), port })
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Why no bootstrap list could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokersError {
    #[error(transparent)]
    Zk(#[from] ZkError),
    #[error("no broker is registered under {path} in ZooKeeper {ensemble}")]
    NoBrokers { path: String, ensemble: String },
    #[error("no usable broker registration in ZooKeeper {ensemble}: {}", .problems.join("; "))]
    NoUsable { ensemble: String, problems: Vec<String> },
}

/// A bootstrap list built from broker registrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// `host:port,host:port`, by broker id.
    pub servers: String,
    /// Security protocol of the chosen listener (of the first broker, when
    /// brokers disagree, which `warnings` then says).
    pub protocol: String,
    /// Brokers skipped and other oddities; the list is still usable.
    pub warnings: Vec<String>,
}

impl std::fmt::Display for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.servers)
    }
}

/// Every broker registration, by id; unparsable ones are reported as errors.
pub async fn registrations(zk: &Zk) -> Result<(Vec<BrokerRegistration>, Vec<String>), ZkError> {
    let ids = zk.children(BROKER_IDS).await?.unwrap_or_default();
    let mut numeric: Vec<(i32, String)> = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        match id.parse::<i32>() {
            Ok(n) => numeric.push((n, zk::join(BROKER_IDS, &id))),
            Err(_) => errors.push(format!("{}: broker id is not a number", zk::join(BROKER_IDS, &id))),
        }
    }
    numeric.sort();
    let paths = numeric.iter().map(|(_, p)| p.clone()).collect();
    let mut brokers = Vec::new();
    for ((id, path), (_, data)) in numeric.into_iter().zip(zk.data_many(paths).await) {
        match data {
            Ok(Some(bytes)) => match parse_broker(&path, id, &bytes) {
                Ok(b) => brokers.push(b),
                Err(e) => errors.push(e.to_string()),
            },
            Ok(None) => {} // went away since it was listed
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok((brokers, errors))
}

/// The pure half of [`bootstrap`].
pub fn bootstrap_from(
    brokers: &[BrokerRegistration],
    mut warnings: Vec<String>,
    listener: Option<&str>,
    ensemble: &str,
) -> Result<Bootstrap, BrokersError> {
    let mut servers = Vec::new();
    let mut protocols: Vec<String> = Vec::new();
    for b in brokers {
        match b.choose(listener) {
            Ok(e) => {
                if !protocols.contains(&e.protocol) {
                    protocols.push(e.protocol.clone());
                }
                servers.push(e.address());
            }
            Err(e) => warnings.push(e),
        }
    }
    let Some(protocol) = protocols.first().cloned() else {
        return Err(BrokersError::NoUsable { ensemble: ensemble.to_string(), problems: warnings });
    };
    if protocols.len() > 1 {
        warnings.push(format!("brokers' chosen listeners use different security protocols: {}", protocols.join(", ")));
    }
    Ok(Bootstrap { servers: servers.join(","), protocol, warnings })
}

/// A bootstrap list from `/brokers/ids`. `listener` picks a listener by name;
/// without it the PLAINTEXT listener is preferred.
pub async fn bootstrap(zk: &Zk, listener: Option<&str>) -> Result<Bootstrap, BrokersError> {
    let (brokers, errors) = registrations(zk).await?;
    if brokers.is_empty() && errors.is_empty() {
        return Err(BrokersError::NoBrokers { path: BROKER_IDS.to_string(), ensemble: zk.ensemble().to_string() });
    }
    bootstrap_from(&brokers, errors, listener, zk.ensemble())
}

/// A parsed `/brokers/topics/<topic>` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRegistration {
    pub version: Option<i64>,
    /// Partition to replica broker ids.
    pub partitions: BTreeMap<i32, Vec<i32>>,
    /// Version 3 (Kafka 2.8+).
    pub topic_id: Option<String>,
}

/// Parses `{"version":1,"partitions":{"0":[0,1,2]}}` (v2 adds
/// adding/removing_replicas, v3 topic_id).
pub fn parse_topic(path: &str, data: &[u8]) -> Result<TopicRegistration, NodeError> {
    let value = parse_json(path, data)?;
    let fields = Fields::of(path, &value)?;
    let parts = fields
        .opt_object("partitions", "partitions")?
        .ok_or_else(|| NodeError::new(path, Problem::MissingField("partitions".into())))?;
    let mut partitions = BTreeMap::new();
    for (key, replicas) in parts.map() {
        let partition: i32 =
            key.parse().ok().filter(|p| *p >= 0).ok_or_else(|| {
                NodeError::new(path, Problem::Other(format!("partition key \"{key}\" is not a number")))
            })?;
        let field = format!("partitions.{key}");
        let items = replicas.as_array().ok_or_else(|| {
            NodeError::new(
                path,
                Problem::WrongType { field: field.clone(), expected: "an array", found: zk::json_type(replicas) },
            )
        })?;
        let ids = items
            .iter()
            .map(|r| r.as_i64().and_then(|r| i32::try_from(r).ok()))
            .collect::<Option<Vec<i32>>>()
            .ok_or_else(|| {
                NodeError::new(
                    path,
                    Problem::WrongType { field, expected: "an array of broker ids", found: "something else" },
                )
            })?;
        partitions.insert(partition, ids);
    }
    Ok(TopicRegistration {
        version: fields.opt_i64("version")?,
        partitions,
        topic_id: fields.opt_str("topic_id")?.map(str::to_string),
    })
}

/// A parsed `/brokers/topics/<t>/partitions/<p>/state` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// `None` when the partition has no leader (-1).
    pub leader: Option<i32>,
    pub leader_epoch: Option<i64>,
    pub isr: Vec<i32>,
}

/// Parses `{"controller_epoch":4,"leader":1,"leader_epoch":1,"isr":[1,0],"version":1}`.
pub fn parse_partition_state(path: &str, data: &[u8]) -> Result<PartitionState, NodeError> {
    let value = parse_json(path, data)?;
    let fields = Fields::of(path, &value)?;
    let leader = fields.req_i64("leader")?;
    let isr = fields
        .opt_array("isr")?
        .map(|items| items.iter().filter_map(|v| v.as_i64().and_then(|i| i32::try_from(i).ok())).collect())
        .unwrap_or_default();
    Ok(PartitionState {
        leader: i32::try_from(leader).ok().filter(|l| *l >= 0),
        leader_epoch: fields.opt_i64("leader_epoch")?,
        isr,
    })
}

/// The partitions of each topic per `/brokers/topics`: `Ok(None)` when the
/// topic is not registered (deleted, or never created).
pub async fn topic_partitions(zk: &Zk, topics: &[String]) -> HashMap<String, Result<Option<Vec<i32>>, String>> {
    let paths = topics.iter().map(|t| zk::join(TOPICS, t)).collect();
    topics
        .iter()
        .zip(zk.data_many(paths).await)
        .map(|(topic, (path, data))| {
            let partitions = match data {
                Ok(Some(bytes)) => parse_topic(&path, &bytes)
                    .map(|t| Some(t.partitions.into_keys().collect()))
                    .map_err(|e| e.to_string()),
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            };
            (topic.clone(), partitions)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let none = BTreeMap::new();
        let e = parse_endpoint("PLAINTEXT://[::1]:9092", &none).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.address()), ("::1", 9092, "[::1]:9092".to_string()));
        let e = parse_endpoint("PLAINTEXT://:9092", &none).unwrap();
        assert_eq!(e.host, "");
        assert!(parse_endpoint("PLAINTEXT:9092", &none).is_err());
        assert!(parse_endpoint("PLAINTEXT://h:x", &none).is_err());
        let map = BTreeMap::from([("CLIENT".to_string(), "SSL".to_string())]);
        let e = parse_endpoint("CLIENT://h:9093", &map).unwrap();
        assert_eq!((e.listener.as_str(), e.protocol.as_str()), ("CLIENT", "SSL"));
    }

    #[test]
    fn bootstrap_needs_one_usable_broker() {
        let err = bootstrap_from(&[], vec!["x".into()], None, "zk:2181").unwrap_err();
        assert_eq!(err.to_string(), "no usable broker registration in ZooKeeper zk:2181: x");
    }
}
