//! Listing the groups: one Metadata for the brokers, then one ListGroups to
//! every broker at once. Each broker lists the groups it coordinates, which
//! spares the group phase its FindCoordinator.
//!
//! A broker lists only the groups of the `__consumer_offsets` partitions it
//! has finished loading, and answers without error while a partition moves
//! to it: for a moment after a coordinator stops (the old one has resigned,
//! the new one has not loaded yet) no broker lists that partition's groups.
//! So each ListGroups sits between two DescribeGroups of probe groups, one
//! per partition: a partition counts as listed when a broker answered both
//! probes as its ready coordinator. A listing that misses a partition is
//! taken again for a while, then reported, never silently short.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::conn::{Conn, ConnError};
use super::messages::{self, errors};
use super::{concurrently, lock, state_name, Node, Unusable, Wire};
use crate::kafka::admin::err_text;
use crate::kafka::GroupListing;

/// The groups of the cluster, and the brokers that could not list theirs.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub groups: Vec<GroupListing>,
    /// What happened to each broker that failed.
    pub failures: Vec<(ListFailure, String)>,
}

/// How a broker failed to list its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListFailure {
    /// No answer by the deadline.
    Timeout,
    /// Unreachable: refused, reset, closed.
    NoAnswer,
    /// It answered with an error.
    Error,
    /// Every broker answered, but none was the ready coordinator of some
    /// `__consumer_offsets` partitions (the text names them).
    Unowned,
}

/// One broker's answer: the groups it listed (kept alongside an error, as
/// librdkafka keeps them: a broker still loading some groups lists the
/// others), what went wrong, and what its probes said per partition.
enum Listed {
    Answer(Vec<messages::ListedGroup>, Option<(ListFailure, String)>, Vec<Probe>),
    /// The broker has no ListGroups v4.
    Unsupported,
}

/// What a broker's probes said about one `__consumer_offsets` partition,
/// best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Probe {
    /// Its ready coordinator, before and after the ListGroups.
    Ready,
    /// No telling (no probe sent or answered, or an error such as a denied
    /// Describe): the partition is taken as listed.
    Unknown,
    /// Not its coordinator, or still loading it, at either probe.
    NotReady,
}

/// The topic whose partitions decide which broker coordinates a group.
const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How long a broker still loading groups is asked again.
const LOADING_RETRY: Duration = Duration::from_secs(1);

/// How long a listing that misses a partition's coordinator is taken again.
const UNOWNED_RETRY: Duration = Duration::from_secs(3);

impl Wire {
    /// Every consumer group (and simple group) of the cluster, by `deadline`.
    pub(crate) fn list_groups(&self, deadline: Instant) -> Result<Listing, Unusable> {
        let retry_until = deadline.min(Instant::now() + UNOWNED_RETRY);
        let mut backoff = Duration::from_millis(50);
        // What the attempts so far listed, and the partitions none was ready for.
        let mut so_far: Option<(Listing, Vec<i32>)> = None;
        loop {
            let started = Instant::now();
            let attempt = self.brokers(deadline).and_then(|(brokers, partitions)| {
                let probes = probe_groups(partitions);
                let answers = concurrently(&brokers, |node| self.list_one(node, &probes, deadline));
                self.merge(&brokers, answers, partitions, !probes.is_empty())
            });
            let retried = so_far.is_some();
            let (listing, unowned) = match (attempt, so_far.take()) {
                (Err(e), None) => return Err(e),
                // A listing taken again that cannot be used does not undo
                // what the ones before it listed.
                (Err(_), Some((before, missed))) => return Ok(unowned_reported(before, &missed)),
                (Ok(now), None) => now,
                // A partition is missed only when no attempt was ready for it.
                (Ok((now, now_missed)), Some((before, missed))) => {
                    (union(before, now), missed.into_iter().filter(|p| now_missed.contains(p)).collect())
                }
            };
            if !listing.failures.is_empty() {
                // A failed broker is reported, and its partitions with it;
                // what earlier attempts missed as well is reported too.
                return Ok(if retried && !unowned.is_empty() { unowned_reported(listing, &unowned) } else { listing });
            }
            if unowned.is_empty() {
                return Ok(listing);
            }
            // Again only when another attempt as long as this one would end
            // before the retry time does (an estimate: the deadline bounds it).
            if Instant::now() + backoff + started.elapsed() < retry_until {
                so_far = Some((listing, unowned));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
            return Ok(unowned_reported(listing, &unowned));
        }
    }

    /// The brokers' answers as one listing, and the partitions no broker
    /// was the ready coordinator of.
    fn merge(
        &self,
        brokers: &[Node],
        answers: Vec<Option<Listed>>,
        partitions: usize,
        probed: bool,
    ) -> Result<(Listing, Vec<i32>), Unusable> {
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        // Per partition, the best any broker that listed cleanly said
        // (without probe ids, nothing can be told).
        let none = if probed { Probe::NotReady } else { Probe::Unknown };
        let mut best = vec![none; partitions];
        let mut coordinators = lock(&self.coordinators);
        for (node, answer) in brokers.iter().zip(answers) {
            let failed = (ListFailure::Error, format!("{}: internal error", node.label()));
            match answer.unwrap_or(Listed::Answer(Vec::new(), Some(failed), Vec::new())) {
                Listed::Unsupported => {
                    return Err(Unusable::Fallback(format!("{} has no ListGroups v4", node.label())))
                }
                Listed::Answer(groups, failure, probes) => {
                    if failure.is_none() {
                        for (b, p) in best.iter_mut().zip(&probes) {
                            *b = (*b).min(*p);
                        }
                    }
                    listing.failures.extend(failure);
                    for g in groups {
                        // librdkafka lists consumer groups and simple (protocol-less) ones.
                        let is_simple = g.protocol_type.is_empty();
                        if !is_simple && g.protocol_type != "consumer" {
                            continue;
                        }
                        coordinators.insert(g.group_id.clone(), node.clone());
                        if seen.insert(g.group_id.clone()) {
                            let state = state_name(&g.state);
                            listing.groups.push(GroupListing { group_id: g.group_id, state, is_simple });
                        }
                    }
                }
            }
        }
        let count = |want: Probe| best.iter().filter(|b| **b == want).count();
        self.settings.log().line(
            "LISTING",
            format_args!(
                "coordinator probes: {} of {partitions} {OFFSETS_TOPIC} partitions ready, {} not ready, {} unknown",
                count(Probe::Ready),
                count(Probe::NotReady),
                count(Probe::Unknown)
            ),
        );
        let unowned = (0..).zip(best).filter(|(_, b)| *b == Probe::NotReady).map(|(p, _)| p).collect();
        Ok((listing, unowned))
    }

    /// The cluster's brokers, and how many partitions `__consumer_offsets`
    /// has (0 when it does not exist or cannot be described), from Metadata
    /// on any connection.
    fn brokers(&self, deadline: Instant) -> Result<(Vec<Node>, usize), Unusable> {
        let metadata = self.metadata(&[OFFSETS_TOPIC], deadline)?;
        let partitions = metadata
            .topics
            .iter()
            .find(|t| t.name == OFFSETS_TOPIC && t.error_code == 0)
            .map_or(0, |t| t.partitions.len());
        let nodes: Vec<Node> = metadata
            .brokers
            .into_iter()
            .filter_map(|b| Some(Node { id: b.node_id, host: b.host, port: u16::try_from(b.port).ok()? }))
            .collect();
        if nodes.is_empty() {
            return Err(Unusable::Fallback("Metadata named no broker".to_string()));
        }
        Ok((nodes, partitions))
    }

    /// ListGroups on one broker, between two probes. A broker still loading
    /// groups is asked again for a while, a connection that breaks is
    /// opened once more.
    fn list_one(&self, node: &Node, probes: &[String], deadline: Instant) -> Listed {
        let failed = |e: ConnError| {
            let how = if let ConnError::Timeout(_) = e { ListFailure::Timeout } else { ListFailure::NoAnswer };
            Some((how, e.to_string()))
        };
        let retry_until = deadline.min(Instant::now() + LOADING_RETRY);
        let mut backoff = Duration::from_millis(20);
        let mut reopened = false;
        let mut last: Vec<messages::ListedGroup> = Vec::new();
        loop {
            let mut conn = match self.conn_to(node, deadline) {
                Ok(c) => c,
                Err(e) => return Listed::Answer(last, failed(e), Vec::new()),
            };
            if !conn.versions.supports(messages::LIST_GROUPS, messages::LIST_GROUPS_VERSION) {
                self.give_back(conn);
                return Listed::Unsupported;
            }
            let (code, groups, probed) = match probed_listing(&mut conn, probes, deadline) {
                Ok(a) => a,
                Err(ConnError::Io(_)) if !reopened => {
                    reopened = true;
                    continue;
                }
                Err(e) => return Listed::Answer(last, failed(e), Vec::new()),
            };
            let label = conn.label.clone();
            self.give_back(conn);
            if errors::is_coordinator_retry(code) && Instant::now() + backoff < retry_until {
                last = groups;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
            let failure = match code {
                0 => None,
                code => Some((ListFailure::Error, format!("{label}: {}", err_text(code.into())))),
            };
            return Listed::Answer(groups, failure, probed);
        }
    }
}

/// `listing` with a failure naming the partitions no broker was ready for.
fn unowned_reported(mut listing: Listing, unowned: &[i32]) -> Listing {
    const SHOWN: usize = 10;
    let mut list = unowned.iter().take(SHOWN).map(i32::to_string).collect::<Vec<_>>().join(", ");
    if unowned.len() > SHOWN {
        list.push_str(&format!(" and {} more", unowned.len() - SHOWN));
    }
    let text = format!("no broker is the ready coordinator of {OFFSETS_TOPIC} partitions {list} (moving or loading)");
    listing.failures.push((ListFailure::Unowned, text));
    listing
}

/// The groups of both listings (`now`'s state where both have a group),
/// with the failures of both.
fn union(before: Listing, mut now: Listing) -> Listing {
    let seen: HashSet<String> = now.groups.iter().map(|g| g.group_id.clone()).collect();
    now.groups.extend(before.groups.into_iter().filter(|g| !seen.contains(&g.group_id)));
    now.failures.extend(before.failures);
    now
}

/// Probe, ListGroups, probe, pipelined on `conn` (a broker answers one
/// connection's requests in order): the ListGroups error code, its groups,
/// and per partition what both probes said. Without probes (or DescribeGroups
/// v5), ListGroups alone.
fn probed_listing(
    conn: &mut Conn,
    probes: &[String],
    deadline: Instant,
) -> Result<(i16, Vec<messages::ListedGroup>, Vec<Probe>), ConnError> {
    let probing =
        !probes.is_empty() && conn.versions.supports(messages::DESCRIBE_GROUPS, messages::DESCRIBE_GROUPS_VERSION);
    let ids: Vec<&str> = probes.iter().map(String::as_str).collect();
    let probe = messages::describe_groups_request(&ids);
    let describe =
        |conn: &mut Conn| conn.send(messages::DESCRIBE_GROUPS, messages::DESCRIBE_GROUPS_VERSION, &probe, deadline);
    if probing {
        describe(conn)?;
    }
    conn.send(messages::LIST_GROUPS, messages::LIST_GROUPS_VERSION, &messages::list_groups_request(), deadline)?;
    if probing {
        describe(conn)?;
    }
    let malformed = |conn: &Conn, e| ConnError::Malformed(format!("{}: {e}", conn.label));
    let mut said = vec![Probe::Unknown; probes.len()];
    if probing {
        let r = conn.recv(deadline)?;
        let before = messages::parse_describe_groups(r.body()).map_err(|e| malformed(conn, e))?;
        let before = probe_codes(&before);
        said = probes.iter().map(|id| probe_said(&before, id)).collect();
    }
    let r = conn.recv(deadline)?;
    let (code, groups) = messages::parse_list_groups(r.body()).map_err(|e| malformed(conn, e))?;
    if probing {
        let r = conn.recv(deadline)?;
        let after = messages::parse_describe_groups(r.body()).map_err(|e| malformed(conn, e))?;
        let after = probe_codes(&after);
        for (s, id) in said.iter_mut().zip(probes) {
            *s = match (*s, probe_said(&after, id)) {
                (Probe::NotReady, _) | (_, Probe::NotReady) => Probe::NotReady,
                (Probe::Ready, Probe::Ready) => Probe::Ready,
                _ => Probe::Unknown,
            };
        }
    }
    Ok((code, groups, said))
}

/// One DescribeGroups answer's error code per group id.
fn probe_codes(described: &[messages::DescribedGroup]) -> HashMap<&str, i16> {
    described.iter().map(|g| (g.group_id.as_str(), g.error_code)).collect()
}

/// What one DescribeGroups answer says of the probe group `id`.
fn probe_said(codes: &HashMap<&str, i16>, id: &str) -> Probe {
    match codes.get(id).copied() {
        // An unknown group is Dead (or not found) at its ready coordinator.
        Some(0 | errors::GROUP_ID_NOT_FOUND) => Probe::Ready,
        Some(code) if errors::is_coordinator_retry(code) => Probe::NotReady,
        _ => Probe::Unknown,
    }
}

/// One group id per `__consumer_offsets` partition, in partition order,
/// stored in that partition as Kafka places groups: abs(Java hashCode of the
/// id) modulo the partition count. Empty when some partition gets no id
/// (never in practice) or the count is beyond any real cluster's (a broker's
/// answer must not buy unbounded work): no probing then.
fn probe_groups(partitions: usize) -> Vec<String> {
    const MOST: usize = 10_000;
    let Some(n) = i32::try_from(partitions).ok().filter(|_| partitions <= MOST) else { return Vec::new() };
    let mut ids: Vec<Option<String>> = vec![None; partitions];
    let mut missing = partitions;
    for k in 0..partitions.saturating_mul(64) {
        if missing == 0 {
            break;
        }
        let id = format!("klag-coordinator-probe-{k}");
        let p = usize::try_from(java_abs(java_hash(&id)) % n).unwrap_or(0);
        if ids[p].is_none() {
            ids[p] = Some(id);
            missing -= 1;
        }
    }
    ids.into_iter().collect::<Option<Vec<_>>>().unwrap_or_default()
}

/// Java's `String.hashCode`: over UTF-16 code units, wrapping.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's `Utils.abs`: `i32::MIN` maps to 0.
fn java_abs(h: i32) -> i32 {
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The probe group of `partition` of `partitions`.
    pub(crate) fn probe_of(partitions: usize, partition: usize) -> String {
        probe_groups(partitions).swap_remove(partition)
    }

    #[test]
    fn java_hash_matches_java() {
        // Values from Java's "…".hashCode().
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("hello"), 99_162_322);
        assert_eq!(java_hash("test"), 3_556_498);
        assert_eq!((java_hash("Aa"), java_hash("BB")), (2112, 2112));
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(java_abs(i32::MIN), 0);
        assert_eq!(java_abs(-5), 5);
    }

    #[test]
    fn every_partition_gets_a_probe_in_it() {
        for n in [1usize, 3, 50, 200] {
            let ids = probe_groups(n);
            assert_eq!(ids.len(), n);
            for (p, id) in ids.iter().enumerate() {
                assert_eq!(java_abs(java_hash(id)) % n as i32, p as i32, "{id}");
            }
        }
        assert!(probe_groups(0).is_empty());
        assert!(probe_groups(10_001).is_empty(), "no probing for an absurd count");
    }
}
