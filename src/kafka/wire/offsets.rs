//! Log start and end offsets: one Metadata for the partitions' leaders, then
//! per leader one ListOffsets for the start and one for the end, pipelined,
//! all leaders at once.
//!
//! A partition in a leadership change (no leader yet, leader moved, a new
//! leader whose high watermark has not caught up) is asked again, Metadata
//! first, until the deadline. Everything else is final at once: an unknown
//! topic or partition, any other broker error, a leader that cannot be
//! reached (named in the error).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::conn::{Conn, ConnError};
use super::messages::{self, errors};
use super::{concurrently, Node, Unusable, Wire};
use crate::kafka::admin::err_text;

/// Why one offset of one partition is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OffsetFail {
    /// The cluster's answer: unknown topic, a broker error, ...
    Broker(String),
    /// The leader could not be reached or did not answer usably.
    NoAnswer(String),
    /// Still in a leadership change at the deadline; what was last seen.
    Timeout(String),
}

/// Per partition: the log start and the log end offset.
pub(crate) type SpecOffsets = HashMap<(String, i32), [Result<i64, OffsetFail>; 2]>;

/// `[start, end]` of one partition, `None` while unknown.
type Slots = [Option<Result<i64, OffsetFail>>; 2];

const SPECS: [i64; 2] = [messages::EARLIEST, messages::LATEST];

/// One leader's share: its partitions by topic.
type Job = (Node, Vec<(String, Vec<i32>)>);

/// `(partition, spec index, what was said)`.
type Answer = ((String, i32), usize, Said);

/// What one leader said: per partition and spec, an offset, a final failure,
/// or a reason to ask again.
enum Said {
    Offset(i64),
    Final(OffsetFail),
    Again(String),
}

impl Wire {
    /// Log start and end offsets of `topics`' partitions, by `deadline`.
    pub(crate) fn list_offsets(
        &self,
        topics: &[(String, Vec<i32>)],
        read_committed: bool,
        deadline: Instant,
    ) -> Result<SpecOffsets, Unusable> {
        let mut slots: BTreeMap<(String, i32), Slots> = BTreeMap::new();
        for (t, parts) in topics {
            for p in parts {
                slots.insert((t.clone(), *p), [None, None]);
            }
        }
        let mut reasons: HashMap<(String, i32), String> = HashMap::new();
        let mut backoff = Duration::from_millis(20);
        let mut first = true;
        loop {
            let pending: Vec<(String, i32)> =
                slots.iter().filter(|(_, s)| s.iter().any(Option::is_none)).map(|(k, _)| k.clone()).collect();
            if pending.is_empty() {
                break;
            }
            let mut names: Vec<&str> = pending.iter().map(|(t, _)| t.as_str()).collect();
            names.dedup();
            let metadata = match self.metadata(&names, deadline) {
                Ok(m) => m,
                Err(e) if first => return Err(e),
                Err(Unusable::Timeout(t) | Unusable::Fallback(t)) => {
                    for k in &pending {
                        reasons.insert(k.clone(), t.clone());
                    }
                    metadata_default()
                }
            };
            first = false;
            let jobs = leaders(&metadata, &pending, &mut slots, &mut reasons);
            let answers = concurrently(&jobs, |job| self.ask_leader(job, read_committed, deadline));
            for said in answers.into_iter().flatten() {
                for (key, spec, s) in said? {
                    let Some(slot) = slots.get_mut(&key) else { continue };
                    match s {
                        Said::Offset(o) => slot[spec] = Some(Ok(o)),
                        Said::Final(f) => slot[spec] = Some(Err(f)),
                        Said::Again(r) => {
                            reasons.insert(key, r);
                        }
                    }
                }
            }
            if Instant::now() + backoff >= deadline {
                break;
            }
            if slots.values().any(|s| s.iter().any(Option::is_none)) {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
        Ok(slots
            .into_iter()
            .map(|(key, [start, end])| {
                let reason = || reasons.get(&key).cloned().unwrap_or_else(|| "no answer".to_string());
                let start = start.unwrap_or_else(|| Err(OffsetFail::Timeout(reason())));
                let end = end.unwrap_or_else(|| Err(OffsetFail::Timeout(reason())));
                (key, [start, end])
            })
            .collect())
    }

    /// Both ListOffsets of one leader, pipelined.
    fn ask_leader(
        &self,
        (node, topics): &Job,
        read_committed: bool,
        deadline: Instant,
    ) -> Result<Vec<Answer>, Unusable> {
        let all = || topics.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)));
        let fail_all = |e: &ConnError| -> Vec<Answer> {
            let f = match e {
                ConnError::Timeout(t) => OffsetFail::Timeout(t.clone()),
                ConnError::Io(t) | ConnError::Malformed(t) => OffsetFail::NoAnswer(t.clone()),
            };
            all().flat_map(|k| [(k.clone(), 0, Said::Final(f.clone())), (k, 1, Said::Final(f.clone()))]).collect()
        };
        let mut conn = match self.conn_to(node, deadline) {
            Ok(c) => c,
            Err(e) => return Ok(fail_all(&e)),
        };
        if !conn.versions.supports(messages::LIST_OFFSETS, messages::LIST_OFFSETS_VERSION) {
            return Err(Unusable::Fallback(format!("{} has no ListOffsets v6", conn.label)));
        }
        let refs: Vec<(&str, Vec<i32>)> = topics.iter().map(|(t, ps)| (t.as_str(), ps.clone())).collect();
        for ts in SPECS {
            let body = messages::list_offsets_request(read_committed, &refs, ts);
            if let Err(e) = conn.send(messages::LIST_OFFSETS, messages::LIST_OFFSETS_VERSION, &body, deadline) {
                return Ok(fail_all(&e));
            }
        }
        let mut out = Vec::new();
        for spec in 0..SPECS.len() {
            match read_offsets(&mut conn, deadline) {
                Ok(listed) => out.extend(said(&conn.label, spec, all(), listed)),
                Err(e) => return Ok(fail_all(&e)),
            }
        }
        self.give_back(conn);
        Ok(out)
    }
}

fn read_offsets(conn: &mut Conn, deadline: Instant) -> Result<Vec<messages::ListedOffset>, ConnError> {
    let r = conn.recv(deadline)?;
    messages::parse_list_offsets(r.body()).map_err(|e| ConnError::Malformed(format!("{}: {e}", conn.label)))
}

/// One spec's answers for the partitions asked.
fn said(
    label: &str,
    spec: usize,
    asked: impl Iterator<Item = (String, i32)>,
    listed: Vec<messages::ListedOffset>,
) -> Vec<Answer> {
    let mut by_key: HashMap<(String, i32), messages::ListedOffset> =
        listed.into_iter().map(|l| ((l.topic.clone(), l.partition), l)).collect();
    asked
        .map(|key| {
            let s = match by_key.remove(&key) {
                None => Said::Final(OffsetFail::NoAnswer(format!("{label}: no offset returned"))),
                Some(l) if l.error_code == 0 && l.offset >= 0 => Said::Offset(l.offset),
                Some(l) if l.error_code == 0 => {
                    Said::Final(OffsetFail::NoAnswer(format!("{label}: offset {}", l.offset)))
                }
                Some(l) if errors::is_leader_retry(l.error_code) => {
                    Said::Again(format!("{label}: {}", err_text(l.error_code.into())))
                }
                Some(l) => Said::Final(OffsetFail::Broker(err_text(l.error_code.into()))),
            };
            (key, spec, s)
        })
        .collect()
}

fn metadata_default() -> messages::Metadata {
    messages::Metadata::default()
}

/// The leader of each pending partition, from `metadata`; partitions the
/// metadata settles (unknown, errors) are filled in, ones without a leader
/// yet get a reason to ask again.
fn leaders(
    metadata: &messages::Metadata,
    pending: &[(String, i32)],
    slots: &mut BTreeMap<(String, i32), Slots>,
    reasons: &mut HashMap<(String, i32), String>,
) -> Vec<Job> {
    let brokers: HashMap<i32, &messages::MetadataBroker> = metadata.brokers.iter().map(|b| (b.node_id, b)).collect();
    let topics: HashMap<&str, &messages::MetadataTopic> =
        metadata.topics.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut jobs: BTreeMap<Node, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    if metadata.topics.is_empty() && metadata.brokers.is_empty() {
        return Vec::new(); // no metadata this round: the reasons are set
    }
    for key in pending {
        let (topic, partition) = (key.0.as_str(), key.1);
        let settle = |slots: &mut BTreeMap<(String, i32), Slots>, code: i16| {
            if let Some(s) = slots.get_mut(key) {
                let f = OffsetFail::Broker(err_text(code.into()));
                *s = [Some(Err(f.clone())), Some(Err(f))];
            }
        };
        let Some(t) = topics.get(topic) else {
            settle(slots, errors::UNKNOWN_TOPIC_OR_PARTITION);
            continue;
        };
        match t.error_code {
            0 => {}
            errors::LEADER_NOT_AVAILABLE => {
                reasons.insert(key.clone(), format!("topic {topic}: {}", err_text(t.error_code.into())));
                continue;
            }
            code => {
                settle(slots, code);
                continue;
            }
        }
        let Some(p) = t.partitions.iter().find(|p| p.partition == partition) else {
            settle(slots, errors::UNKNOWN_TOPIC_OR_PARTITION);
            continue;
        };
        let leader = (p.leader >= 0).then(|| brokers.get(&p.leader)).flatten();
        let Some(b) = leader else {
            let code = if p.error_code != 0 { p.error_code } else { errors::LEADER_NOT_AVAILABLE };
            reasons.insert(key.clone(), format!("{topic}/{partition}: {}", err_text(code.into())));
            continue;
        };
        let Ok(port) = u16::try_from(b.port) else {
            reasons.insert(key.clone(), format!("{topic}/{partition}: leader {} has port {}", b.node_id, b.port));
            continue;
        };
        let node = Node { id: b.node_id, host: b.host.clone(), port };
        jobs.entry(node).or_default().entry(topic.to_string()).or_default().push(partition);
    }
    jobs.into_iter().map(|(node, topics)| (node, topics.into_iter().collect())).collect()
}
