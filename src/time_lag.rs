//! `--time-lag`, the pure part: which records to read, and what their
//! timestamps make of a snapshot. The reading is in `kafka::timestamps`.
//!
//! A lagging partition's time lag is the snapshot time minus the timestamp of
//! the record at its committed offset: the next record the consumer will
//! read, so how long that record has been waiting. Exact, unlike
//! interpolating end offsets over time.
//! - Committed below the log start (retention deleted the record): the record
//!   at the log start, the oldest the consumer can still read.
//! - No record at the offset (compacted away, a transaction marker, an
//!   aborted record skipped by a read_committed reader): the first record
//!   after it.
//! - No record at all up to the log end (only markers or aborted records
//!   left): nothing waits, so 0.
//! - Lag 0 (caught up): 0, nothing is read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::lag::{Flag, PartitionLag, Snapshot, Source};

/// What reading at an offset found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTime {
    /// The timestamp, in milliseconds since the epoch, of the first record at
    /// or after the offset.
    At(i64),
    /// No record at or after the offset before the log end.
    EndOfLog,
}

/// A partition and the offset its record is read at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordAt {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What reading each [`RecordAt`] found, or why it could not be read.
pub type RecordTimes = HashMap<RecordAt, Result<RecordTime, String>>;

/// Where a row's record is read: the committed offset, or the log start when
/// that is above it. `None` when nothing needs reading (lag 0 or unknown).
pub fn read_at(p: &PartitionLag) -> Option<RecordAt> {
    let committed = p.committed?;
    if p.lag? <= 0 {
        return None;
    }
    let offset = p.log_start.map_or(committed, |start| committed.max(start));
    Some(RecordAt { topic: p.topic.clone(), partition: p.partition, offset })
}

/// The distinct records to read for a snapshot, in order.
pub fn wanted(snapshot: &Snapshot) -> Vec<RecordAt> {
    let set: BTreeSet<RecordAt> = snapshot.partitions.iter().filter_map(read_at).collect();
    set.into_iter().collect()
}

/// Seconds from `record_ms` to `taken_ms` (both ms since the epoch),
/// millisecond resolution, at least 0 (a producer clock ahead of ours).
pub fn seconds_between(taken_ms: i64, record_ms: i64) -> f64 {
    taken_ms.saturating_sub(record_ms).max(0) as f64 / 1000.0
}

/// How many partitions a warning names before "and N more".
const NAMED: usize = 10;

/// Fills `lag_seconds` of every row and `max_lag_seconds` of every group from
/// `times`, and marks the snapshot as time-lag measured. A lagging row whose
/// record could not be read gets `Flag::NoTimestamp`, and one warning per
/// distinct reason names its partitions.
pub fn apply(snapshot: &mut Snapshot, times: &RecordTimes) {
    snapshot.time_lag = true;
    let taken_ms = snapshot.taken_at.timestamp_millis();
    // Reason -> partitions (topic, partition), deduplicated across groups.
    let mut unknown: BTreeMap<String, BTreeSet<(String, i32)>> = BTreeMap::new();
    for p in &mut snapshot.partitions {
        p.lag_seconds = match (p.lag, read_at(p)) {
            (None, _) => None,
            (Some(_), None) => Some(0.0),
            (Some(_), Some(at)) => match times.get(&at) {
                Some(Ok(RecordTime::At(ms))) => Some(seconds_between(taken_ms, *ms)),
                Some(Ok(RecordTime::EndOfLog)) => Some(0.0),
                failed => {
                    let why = match failed {
                        Some(Err(e)) => e.clone(),
                        _ => "its record was not read".to_string(),
                    };
                    unknown.entry(why).or_default().insert((at.topic, at.partition));
                    if !p.flags.contains(&Flag::NoTimestamp) {
                        p.flags.push(Flag::NoTimestamp);
                        p.flags.sort();
                    }
                    None
                }
            },
        };
    }
    let mut max: HashMap<(Source, &str), f64> = HashMap::new();
    for p in &snapshot.partitions {
        if let Some(s) = p.lag_seconds {
            let m = max.entry((p.source, p.group.as_str())).or_insert(s);
            *m = m.max(s);
        }
    }
    let max: HashMap<(Source, String), f64> = max.into_iter().map(|((s, g), v)| ((s, g.to_string()), v)).collect();
    for g in &mut snapshot.groups {
        g.max_lag_seconds = max.get(&(g.source, g.group.clone())).copied();
    }
    for (why, parts) in unknown {
        snapshot.warnings.push(unknown_warning(&why, &parts));
    }
}

/// "time lag unknown for 2 partitions (t/0, t/1): why".
fn unknown_warning(why: &str, parts: &BTreeSet<(String, i32)>) -> String {
    let mut names: Vec<String> = parts.iter().take(NAMED).map(|(t, p)| format!("{t}/{p}")).collect();
    if parts.len() > NAMED {
        names.push(format!("and {} more", parts.len() - NAMED));
    }
    let noun = if parts.len() == 1 { "partition" } else { "partitions" };
    format!("time lag unknown for {} {noun} ({}): {why}", parts.len(), names.join(", "))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::lag::{build_snapshot, Committed, Coverage, LogOffsets, OffsetTable};

    /// 2023-11-14T22:13:20.250Z in milliseconds.
    const TAKEN_MS: i64 = 1_700_000_000_250;

    fn at(topic: &str, partition: i32, offset: i64) -> RecordAt {
        RecordAt { topic: topic.into(), partition, offset }
    }

    /// Group g: t/0 committed 4 of 10, t/1 caught up, t/2 committed 1 below
    /// start 5, t/3 no commit. Group h: t/0 committed 7; spout s: t/0 at 4.
    fn snapshot() -> Snapshot {
        let mut offsets = OffsetTable::new();
        for (p, start, end) in [(0, 0, 10), (1, 0, 10), (2, 5, 10), (3, 0, 10)] {
            offsets.insert(("t".into(), p), LogOffsets { start: Some(start), end: Some(end), error: None });
        }
        let rows = vec![
            Committed::new(Source::Kafka, "g", "t", 0, Some(4)),
            Committed::new(Source::Kafka, "g", "t", 1, Some(10)),
            Committed::new(Source::Kafka, "g", "t", 2, Some(1)),
            Committed::new(Source::Kafka, "g", "t", 3, None),
            Committed::new(Source::Kafka, "h", "t", 0, Some(7)),
            Committed::new(Source::Storm, "s", "t", 0, Some(4)),
        ];
        let taken_at = DateTime::from_timestamp_millis(TAKEN_MS).unwrap_or_default();
        build_snapshot(taken_at, Vec::new(), rows, &offsets)
    }

    fn row<'a>(s: &'a Snapshot, source: Source, group: &str, partition: i32) -> &'a PartitionLag {
        match s.partitions.iter().find(|p| p.source == source && p.group == group && p.partition == partition) {
            Some(p) => p,
            None => panic!("no row {group}/{partition}"),
        }
    }

    #[test]
    fn only_lagging_rows_are_read_at_committed_or_log_start_once_each() {
        let s = snapshot();
        assert_eq!(wanted(&s), vec![at("t", 0, 4), at("t", 0, 7), at("t", 2, 5)]);
    }

    #[test]
    fn seconds_have_millisecond_resolution_and_never_go_negative() {
        assert_eq!(seconds_between(TAKEN_MS, TAKEN_MS - 3_600_000), 3600.0);
        assert_eq!(seconds_between(TAKEN_MS, TAKEN_MS - 120_001), 120.001);
        assert_eq!(seconds_between(TAKEN_MS, TAKEN_MS + 5_000), 0.0);
        assert_eq!(seconds_between(i64::MAX, i64::MIN), i64::MAX as f64 / 1000.0);
    }

    #[test]
    fn timestamps_become_lag_seconds_and_group_maxima() {
        let mut s = snapshot();
        let times: RecordTimes = [
            (at("t", 0, 4), Ok(RecordTime::At(TAKEN_MS - 3_600_000))),
            (at("t", 0, 7), Ok(RecordTime::At(TAKEN_MS - 120_500))),
            (at("t", 2, 5), Ok(RecordTime::At(TAKEN_MS - 600_000))),
        ]
        .into_iter()
        .collect();
        apply(&mut s, &times);
        assert!(s.time_lag);
        assert_eq!(row(&s, Source::Kafka, "g", 0).lag_seconds, Some(3600.0));
        assert_eq!(row(&s, Source::Kafka, "g", 1).lag_seconds, Some(0.0), "caught up");
        assert_eq!(row(&s, Source::Kafka, "g", 2).lag_seconds, Some(600.0), "read at the log start");
        assert_eq!(row(&s, Source::Kafka, "g", 3).lag_seconds, None, "no commit");
        assert_eq!(row(&s, Source::Kafka, "h", 0).lag_seconds, Some(120.5));
        assert_eq!(row(&s, Source::Storm, "s", 0).lag_seconds, Some(3600.0));
        let max: Vec<(&str, Option<f64>)> = s.groups.iter().map(|g| (g.group.as_str(), g.max_lag_seconds)).collect();
        assert_eq!(max, vec![("g", Some(3600.0)), ("h", Some(120.5)), ("s", Some(3600.0))]);
        assert!(s.warnings.is_empty());
        assert!(s.partitions.iter().all(|p| !p.flags.contains(&Flag::NoTimestamp)));
        assert_eq!(s.coverage(), Coverage::Complete);
    }

    #[test]
    fn end_of_log_means_nothing_waits() {
        let mut s = snapshot();
        let times: RecordTimes = [(at("t", 0, 7), Ok(RecordTime::EndOfLog))].into_iter().collect();
        apply(&mut s, &times);
        assert_eq!(row(&s, Source::Kafka, "h", 0).lag_seconds, Some(0.0));
    }

    #[test]
    fn unread_records_are_flagged_warned_about_and_make_the_run_partial() {
        let mut s = snapshot();
        let times: RecordTimes = [
            (at("t", 0, 4), Err("no record fetched within 2s".to_string())),
            (at("t", 0, 7), Ok(RecordTime::At(TAKEN_MS - 1_000))),
        ]
        .into_iter()
        .collect();
        apply(&mut s, &times);
        let g0 = row(&s, Source::Kafka, "g", 0);
        assert_eq!(g0.lag_seconds, None);
        assert_eq!(g0.flags, vec![Flag::NoTimestamp]);
        assert_eq!(g0.lag, Some(6), "the offset lag stays exact");
        assert_eq!(row(&s, Source::Storm, "s", 0).flags, vec![Flag::NoTimestamp]);
        assert_eq!(row(&s, Source::Kafka, "g", 2).flags, vec![Flag::OutOfRange, Flag::NoTimestamp]);
        assert_eq!(s.groups.iter().find(|g| g.group == "g").and_then(|g| g.max_lag_seconds), Some(0.0));
        assert_eq!(s.groups.iter().find(|g| g.group == "s").and_then(|g| g.max_lag_seconds), None);
        assert_eq!(
            s.warnings,
            vec![
                "time lag unknown for 1 partition (t/2): its record was not read".to_string(),
                "time lag unknown for 1 partition (t/0): no record fetched within 2s".to_string(),
            ],
            "one warning per reason, in the reasons' order"
        );
        assert_eq!(s.coverage(), Coverage::Partial);
    }

    #[test]
    fn warnings_name_ten_partitions_then_count() {
        let parts: BTreeSet<(String, i32)> = (0..12).map(|p| ("t".to_string(), p)).collect();
        let w = unknown_warning("timed out", &parts);
        assert!(w.starts_with("time lag unknown for 12 partitions (t/0, t/1,"), "{w}");
        assert!(w.ends_with("t/9, and 2 more): timed out"), "{w}");
    }

    #[test]
    fn without_apply_nothing_changes() {
        let s = snapshot();
        assert!(!s.time_lag);
        assert!(s.partitions.iter().all(|p| p.lag_seconds.is_none()));
        assert!(s.groups.iter().all(|g| g.max_lag_seconds.is_none()));
    }
}
