//! `--time-lag`, the I/O part: the timestamp of the first record at or after
//! each wanted offset (see `crate::time_lag` for what is wanted and why).
//!
//! One consumer client reads them all. It assigns every partition at its
//! offset (assign only: no subscribe, no commits, no committed offsets
//! fetched, no group joined; librdkafka's assign() merely needs a group.id,
//! which costs a few FindCoordinator requests), so librdkafka sends one Fetch per leader
//! broker for all of them. A partition is unassigned as soon as its first
//! record arrives, or moved to the next offset wanted on it when several
//! groups read it at different offsets. Memory stays bounded at any number of
//! partitions: a Fetch response holds at most 2 MiB (`fetch.max.bytes`), and
//! prefetched records wait in one queue of at most 2 MiB for all partitions
//! (`queued.max.messages.kbytes`). A partition's whole first batch is
//! fetched (up to 1 MiB, `max.partition.fetch.bytes`): batches are the unit
//! of transfer and compression. So a broker gets one Fetch for all its
//! partitions when their first batches fit in 2 MiB, and one per 2 MiB of
//! first batches otherwise.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::CString;
use std::time::{Duration, Instant};

use super::admin::{Client, PartitionList};
use super::records::{Polled, ERR_PARTITION_EOF};
use super::{base_properties, is_secret_property, secs, Isolation, KafkaSettings};
use crate::time_lag::{RecordAt, RecordTime, RecordTimes};

/// librdkafka's assign() needs a group id; this one is never joined or
/// committed to.
const GROUP_ID: &str = "klag-time-lag";

/// How long one poll waits at most, so the deadline is checked often.
const SLICE: Duration = Duration::from_millis(100);

/// Records handled between two changes of the assignment.
const BATCH: usize = 1000;

/// The consumer's own settings, applied after [`base_properties`] and before
/// the `-X` ones.
fn consumer_properties(isolation: Isolation) -> Vec<(&'static str, &'static str)> {
    let level = match isolation {
        Isolation::ReadUncommitted => "read_uncommitted",
        Isolation::ReadCommitted => "read_committed",
    };
    vec![
        ("group.id", GROUP_ID),
        ("enable.auto.offset.store", "false"),
        // The reader's isolation decides which records it will read next.
        ("isolation.level", level),
        // Reaching the log end without a record is an answer (see `EndOfLog`).
        ("enable.partition.eof", "true"),
        // An offset deleted between ListOffsets and Fetch: read the log start.
        ("auto.offset.reset", "earliest"),
        // A partition's first batch must arrive whole (a cut one is useless
        // and fetched again): up to 1 MiB, Kafka's default batch limit. A
        // response holds at most 2 MiB, and records wait in one queue of
        // at most 2 MiB for all partitions, so memory does not grow with
        // the partition count; small batches of many partitions still
        // share one Fetch.
        ("max.partition.fetch.bytes", "1048576"),
        ("fetch.max.bytes", "2097152"),
        ("queued.max.messages.kbytes", "2048"),
        ("queued.min.messages", "10000"),
        // When the queue is full, fetch again soon after it drained.
        ("fetch.queue.backoff.ms", "20"),
        ("fetch.wait.max.ms", "100"),
    ]
}

/// The offsets still wanted on each partition, lowest first.
type Pending = BTreeMap<(String, i32), VecDeque<i64>>;

/// What reading each of `wanted` found, by `deadline`. Never fails as a
/// whole: every record asked for gets a result or the reason it has none.
pub fn record_times(
    settings: &KafkaSettings,
    isolation: Isolation,
    wanted: &[RecordAt],
    deadline: Instant,
) -> RecordTimes {
    let start = Instant::now();
    let mut out = RecordTimes::new();
    let mut wanted_at: BTreeMap<(String, i32), BTreeSet<i64>> = BTreeMap::new();
    let mut topics: BTreeMap<String, CString> = BTreeMap::new();
    for w in wanted {
        let bad = match CString::new(w.topic.as_str()) {
            _ if w.topic.is_empty() => Some("empty topic name"),
            _ if w.partition < 0 => Some("negative partition"),
            _ if w.offset < 0 => Some("negative offset"),
            Err(_) => Some("topic name contains a NUL byte"),
            Ok(c) => {
                topics.entry(w.topic.clone()).or_insert(c);
                None
            }
        };
        match bad {
            Some(why) => {
                out.insert(w.clone(), Err(why.to_string()));
            }
            None => {
                wanted_at.entry((w.topic.clone(), w.partition)).or_default().insert(w.offset);
            }
        }
    }
    let mut pending: Pending = wanted_at.into_iter().map(|(k, o)| (k, o.into_iter().collect())).collect();
    if pending.is_empty() {
        return out;
    }
    if deadline <= start {
        fail_all(&mut out, pending, "no time was left for --time-lag (raise --timeout)");
        return out;
    }
    let base = base_properties(settings);
    let mut props: Vec<(&str, &str, bool)> = base.iter().map(|(k, v, secret)| (*k, v.as_str(), *secret)).collect();
    props.extend(consumer_properties(isolation).into_iter().map(|(k, v)| (k, v, false)));
    props.extend(settings.properties.iter().map(|(k, v)| (k.as_str(), v.as_str(), is_secret_property(k))));
    let client = match Client::new(&props) {
        Ok(c) => c,
        Err(e) => {
            fail_all(&mut out, pending, &format!("could not create the client that reads records: {e}"));
            return out;
        }
    };
    let first: Vec<(String, i32, i64)> =
        pending.iter().filter_map(|((t, p), offsets)| Some((t.clone(), *p, *offsets.front()?))).collect();
    if let Err(e) = assign(&client, &topics, &first) {
        fail_all(&mut out, pending, &format!("could not assign the partitions: {e}"));
        return out;
    }
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut batch: Vec<Polled> = client.consumer_poll(left.min(SLICE)).into_iter().collect();
        while batch.len() < BATCH {
            match client.consumer_poll(Duration::ZERO) {
                Some(p) => batch.push(p),
                None => break,
            }
        }
        // What happens to each partition after this batch: each one once, as
        // librdkafka aborts on unassigning a partition it does not have.
        let mut changes = Changes::new();
        for polled in batch {
            handle(polled, &mut pending, &mut out, &mut changes);
        }
        // A moved partition is unassigned and assigned again at its next
        // offset: records prefetched from the old position are dropped.
        let unassign: Vec<(String, i32, i64)> = changes.keys().map(|(t, p)| (t.clone(), *p, 0)).collect();
        let moved: Vec<(String, i32, i64)> =
            changes.into_iter().filter_map(|((t, p), next)| Some((t, p, next?))).collect();
        if let Err(e) = unassign_all(&client, &topics, &unassign).and_then(|()| assign(&client, &topics, &moved)) {
            let why = format!("could not change the assignment: {e}");
            for (t, p, _) in &moved {
                fail_partition(&mut out, &mut pending, &(t.clone(), *p), &why);
            }
        }
    }
    if !pending.is_empty() {
        let elapsed = deadline.saturating_duration_since(start);
        let hint = client_hint(&client);
        let why = format!("no record was read within {} (the time --timeout left for --time-lag){hint}", secs(elapsed));
        fail_all(&mut out, pending, &why);
    }
    out
}

/// Partitions to unassign after a batch, with the offset to assign them
/// again at when more is wanted on them (`None`: done).
type Changes = BTreeMap<(String, i32), Option<i64>>;

/// Applies one polled record or error to what is pending.
///
/// Records come in offset order per partition, also those prefetched from a
/// position the partition is being moved away from in this batch: the first
/// one at or after the wanted offset is still the right one.
fn handle(polled: Polled, pending: &mut Pending, out: &mut RecordTimes, changes: &mut Changes) {
    let Some(topic) = polled.topic else {
        return; // A client-wide error: the error log keeps it for the hint.
    };
    let key = (topic, polled.partition);
    let Some(&target) = pending.get(&key).and_then(|o| o.front()) else {
        return; // Left over from a partition already done.
    };
    let result = match polled.err {
        // The log end, with no record from the target on.
        ERR_PARTITION_EOF if polled.offset >= target => Ok(RecordTime::EndOfLog),
        ERR_PARTITION_EOF => return,           // From a position before the target.
        0 if polled.offset < target => return, // Likewise.
        0 => match polled.timestamp {
            Some(ms) => Ok(RecordTime::At(ms)),
            None => Err(format!("the record at offset {} has no timestamp (message format v0)", polled.offset)),
        },
        _ => {
            let why = format!("reading the record failed: {}", polled.text);
            fail_partition(out, pending, &key, &why);
            changes.insert(key, None);
            return;
        }
    };
    // Every wanted offset up to the record's has that record as its first.
    let Some(offsets) = pending.get_mut(&key) else { return };
    let upto = if polled.err == 0 { polled.offset } else { i64::MAX };
    while let Some(&o) = offsets.front().filter(|&&o| o <= upto) {
        offsets.pop_front();
        out.insert(RecordAt { topic: key.0.clone(), partition: key.1, offset: o }, result.clone());
    }
    let next = offsets.front().copied();
    if next.is_none() {
        pending.remove(&key);
    }
    changes.insert(key, next);
}

fn assign(client: &Client, topics: &BTreeMap<String, CString>, parts: &[(String, i32, i64)]) -> Result<(), String> {
    if parts.is_empty() {
        return Ok(());
    }
    client.incremental_assign(&list(topics, parts)?)
}

fn unassign_all(
    client: &Client,
    topics: &BTreeMap<String, CString>,
    parts: &[(String, i32, i64)],
) -> Result<(), String> {
    if parts.is_empty() {
        return Ok(());
    }
    client.incremental_unassign(&list(topics, parts)?)
}

fn list(topics: &BTreeMap<String, CString>, parts: &[(String, i32, i64)]) -> Result<PartitionList, String> {
    let mut l = PartitionList::new(parts.len())?;
    for (t, p, o) in parts {
        if let Some(c) = topics.get(t) {
            l.add(c, *p, *o);
        }
    }
    Ok(l)
}

fn fail_partition(out: &mut RecordTimes, pending: &mut Pending, key: &(String, i32), why: &str) {
    if let Some(offsets) = pending.remove(key) {
        for o in offsets {
            out.insert(RecordAt { topic: key.0.clone(), partition: key.1, offset: o }, Err(why.to_string()));
        }
    }
}

fn fail_all(out: &mut RecordTimes, pending: Pending, why: &str) {
    for ((topic, partition), offsets) in pending {
        for offset in offsets {
            out.insert(RecordAt { topic: topic.clone(), partition, offset }, Err(why.to_string()));
        }
    }
}

/// "; last client error: ..." or "".
fn client_hint(client: &Client) -> String {
    client.serve();
    let recent = client.recent_errors();
    let telling = recent.iter().rfind(|e| !e.ends_with("brokers are down"));
    telling.or(recent.last()).map_or_else(String::new, |e| format!("; last client error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaSettings {
        KafkaSettings {
            bootstrap: "127.0.0.1:1".into(),
            timeout: Duration::from_secs(1),
            security: Default::default(),
            properties: Vec::new(),
        }
    }

    fn at(topic: &str, partition: i32, offset: i64) -> RecordAt {
        RecordAt { topic: topic.into(), partition, offset }
    }

    fn polled(topic: &str, partition: i32, offset: i64, err: i32, timestamp: Option<i64>) -> Polled {
        Polled { topic: Some(topic.into()), partition, offset, err, text: "boom".into(), timestamp }
    }

    fn pending(rows: &[(&str, i32, &[i64])]) -> Pending {
        rows.iter().map(|(t, p, o)| ((t.to_string(), *p), o.iter().copied().collect())).collect()
    }

    #[test]
    fn nothing_wanted_needs_no_client() {
        assert!(record_times(&settings(), Isolation::ReadUncommitted, &[], Instant::now()).is_empty());
    }

    #[test]
    fn invalid_and_late_requests_are_answered_without_network() {
        let wanted = [at("", 0, 1), at("t", -1, 1), at("a\0b", 0, 1), at("t", 0, 5)];
        let out = record_times(&settings(), Isolation::ReadUncommitted, &wanted, Instant::now());
        assert_eq!(out.len(), 4);
        assert_eq!(out.get(&at("", 0, 1)), Some(&Err("empty topic name".to_string())));
        let late = out.get(&at("t", 0, 5)).cloned().and_then(Result::err).unwrap_or_default();
        assert!(late.contains("no time was left"), "{late}");
    }

    #[test]
    fn unreachable_cluster_times_out_per_record_by_the_deadline() {
        let begin = Instant::now();
        let wanted = [at("t", 0, 5), at("t", 0, 9)];
        let out = record_times(&settings(), Isolation::ReadCommitted, &wanted, begin + Duration::from_millis(400));
        assert!(begin.elapsed() < Duration::from_secs(3), "{:?}", begin.elapsed());
        let why = out.get(&at("t", 0, 9)).cloned().and_then(Result::err).unwrap_or_default();
        assert!(why.contains("no record was read within 0.4s"), "{why}");
    }

    fn key(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    #[test]
    fn a_record_answers_every_offset_up_to_its_own_then_moves_on() {
        let mut p = pending(&[("t", 0, &[3, 5, 9])]);
        let (mut out, mut changes) = (RecordTimes::new(), Changes::new());
        // Offsets 3..5 compacted away: the record at 6 answers 3 and 5.
        handle(polled("t", 0, 6, 0, Some(1_000)), &mut p, &mut out, &mut changes);
        assert_eq!(out.get(&at("t", 0, 3)), Some(&Ok(RecordTime::At(1_000))));
        assert_eq!(out.get(&at("t", 0, 5)), Some(&Ok(RecordTime::At(1_000))));
        assert_eq!(changes, Changes::from([(key("t", 0), Some(9))]));
        // Records before the next target are skipped; the first at or after
        // it answers it, even when prefetched from the old position.
        handle(polled("t", 0, 7, 0, Some(2_000)), &mut p, &mut out, &mut changes);
        assert!(!out.contains_key(&at("t", 0, 9)));
        handle(polled("t", 0, 9, 0, None), &mut p, &mut out, &mut changes);
        let why = out.get(&at("t", 0, 9)).cloned().and_then(Result::err).unwrap_or_default();
        assert!(why.contains("has no timestamp"), "{why}");
        assert_eq!(changes, Changes::from([(key("t", 0), None)]), "moved then done: unassigned once");
        assert!(p.is_empty());
    }

    #[test]
    fn end_of_log_and_errors_settle_a_partition() {
        let mut p = pending(&[("t", 0, &[3, 5]), ("t", 1, &[2]), ("u", 0, &[1])]);
        let (mut out, mut changes) = (RecordTimes::new(), Changes::new());
        handle(polled("t", 0, 2, ERR_PARTITION_EOF, None), &mut p, &mut out, &mut changes);
        assert!(out.is_empty(), "an end of log before the target is stale");
        handle(polled("t", 0, 8, ERR_PARTITION_EOF, None), &mut p, &mut out, &mut changes);
        assert_eq!(out.get(&at("t", 0, 3)), Some(&Ok(RecordTime::EndOfLog)));
        assert_eq!(out.get(&at("t", 0, 5)), Some(&Ok(RecordTime::EndOfLog)));
        handle(polled("t", 1, -1, 29, None), &mut p, &mut out, &mut changes);
        assert_eq!(out.get(&at("t", 1, 2)), Some(&Err("reading the record failed: boom".to_string())));
        let global = Polled { topic: None, ..polled("", 0, 0, -187, None) };
        handle(global, &mut p, &mut out, &mut changes);
        handle(polled("gone", 0, 1, 0, Some(1)), &mut p, &mut out, &mut changes);
        assert_eq!(p.len(), 1, "only u/0 is still pending");
        assert_eq!(changes, Changes::from([(key("t", 0), None), (key("t", 1), None)]));
    }
}
