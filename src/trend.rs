//! Trend and Burrow-style status across runs. Pure: no I/O (the state file
//! is `state.rs`; a long-running mode can keep a [`History`] in memory).
//!
//! A [`History`] keeps, per partition (source, group, topic, partition), the
//! last samples (time, committed, log end, lag), one per run that measured it.
//! From the last `window` of them, [`evaluate`] computes the consume and
//! produce rates, the time to catch up, and a status after Burrow's evaluator
//! (linkedin/Burrow `core/internal/evaluator`), with one difference: Burrow
//! sees every commit with its time, klag only samples the committed offset.
//! So the **last commit time** is the time of the first sample of the window
//! from which the committed offset stayed what it is now.
//!
//! Rules, in order, over the window (`W`, oldest first, the current sample last):
//! - fewer than 2 samples: no status yet (`None`);
//! - some sample has lag 0 (the current one included): `OK`;
//! - the committed offset went down between two samples: `REWIND`;
//! - the offset moved within the window, and the time since the last commit
//!   is longer than the time from the window's first sample to it: `STOP`;
//! - the offset never moved within the window: `STALL`;
//! - the offset moved but the lag never went down: `WARN`;
//! - otherwise `OK`.
//!
//! Burrow's STOP ("no commit for longer than the window's span") cannot be
//! told from STALL ("commits that do not move") without commit timestamps, so
//! STOP here means the consumer moved earlier in the window and has been still
//! for longer than it was moving; once a whole window passes without movement
//! it is STALL. With a window of 2, STOP cannot happen.
//!
//! Group status: the worst partition status (OK < WARN < ERR < STOP < STALL <
//! REWIND), capped at ERR as Burrow does, so a group is OK, WARN or ERR.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::lag::{GroupSummary, PartitionLag, Snapshot, Source};

/// Unix time in milliseconds.
pub type Millis = i64;

/// Fewest samples a status needs.
pub const MIN_SAMPLES: usize = 2;
/// Bounds of the window (samples per partition).
pub const MIN_WINDOW: usize = 2;
pub const MAX_WINDOW: usize = 100;
pub const DEFAULT_WINDOW: usize = 10;
/// At most this many partitions are kept; beyond it the least recently seen go.
pub const MAX_PARTITIONS: usize = 100_000;
/// At most this many samples in all; beyond it every partition keeps fewer
/// (but at least [`MIN_SAMPLES`]).
pub const MAX_SAMPLES: usize = 1_000_000;

/// Identifies a partition as one group sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    pub source: Source,
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn of(p: &PartitionLag) -> Self {
        PartitionKey { source: p.source, group: p.group.clone(), topic: p.topic.clone(), partition: p.partition }
    }
}

/// What one run measured for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: Millis,
    pub committed: i64,
    pub log_end: i64,
    pub lag: i64,
}

/// A Burrow partition status, in Burrow's order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Ok,
    Warn,
    /// Only for groups: a partition worse than WARN.
    Err,
    Stop,
    Stall,
    Rewind,
}

impl Status {
    pub const ALL: [Status; 6] = [Status::Ok, Status::Warn, Status::Err, Status::Stop, Status::Stall, Status::Rewind];

    /// Burrow's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Err => "ERR",
            Status::Stop => "STOP",
            Status::Stall => "STALL",
            Status::Rewind => "REWIND",
        }
    }

    /// Telegraf's burrow input codes (OK=1, NOT_FOUND=2, WARN=3, ERR=4,
    /// STOP=5, STALL=6). Telegraf has none for REWIND (it writes 0 for any
    /// status it does not know); klag uses 7, the next one, so that a higher
    /// code is never a better status.
    pub fn code(self) -> i64 {
        match self {
            Status::Ok => 1,
            Status::Warn => 3,
            Status::Err => 4,
            Status::Stop => 5,
            Status::Stall => 6,
            Status::Rewind => 7,
        }
    }

    pub fn from_code(code: i64) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A partition's trend over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trend {
    /// `None` while the window has fewer than [`MIN_SAMPLES`] samples.
    pub status: Option<Status>,
    /// Committed offsets per second (since the last rewind within the window).
    pub consume_rate: Option<f64>,
    /// Log end offsets per second (since the log end last went down).
    pub produce_rate: Option<f64>,
    /// Seconds until lag reaches 0 at the current rates: 0 when caught up,
    /// `None` when the consumer is not faster than the producers.
    pub catch_up_seconds: Option<f64>,
    /// Samples the trend was computed from.
    pub samples: usize,
}

/// Every float in a trend is finite (see [`evaluate`]), so equality is total.
impl Eq for Trend {}

/// A group's status: `None` when none of its partitions has one yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupTrend {
    pub status: Option<Status>,
}

/// What [`History::record`] did, for the caller to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Partitions sampled in this run.
    pub samples: usize,
    /// Samples dropped because they were not older than this run (the clock
    /// went back, or a run was recorded twice).
    pub from_the_future: usize,
    /// Partitions forgotten: not seen in the last `capacity` recorded runs.
    pub expired: usize,
    /// Partitions forgotten to stay within [`MAX_PARTITIONS`].
    pub over_bound: usize,
}

/// Recent samples of every partition seen lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    capacity: usize,
    /// Times of the last `capacity` runs that sampled something.
    runs: VecDeque<Millis>,
    series: BTreeMap<PartitionKey, VecDeque<Sample>>,
}

impl History {
    /// An empty history keeping `capacity` samples per partition (clamped to
    /// [`MIN_WINDOW`]..=[`MAX_WINDOW`]).
    pub fn new(capacity: usize) -> Self {
        History { capacity: capacity.clamp(MIN_WINDOW, MAX_WINDOW), runs: VecDeque::new(), series: BTreeMap::new() }
    }

    /// Rebuilds a history from stored parts (the state file), enforcing every
    /// invariant and bound: samples in strictly increasing time order, runs
    /// likewise, at most `capacity` of each.
    pub fn from_parts(
        capacity: usize,
        runs: Vec<Millis>,
        series: impl IntoIterator<Item = (PartitionKey, Vec<Sample>)>,
    ) -> Self {
        let mut h = History::new(capacity);
        let mut runs = runs;
        runs.sort_unstable();
        runs.dedup();
        h.runs = runs.into_iter().collect();
        while h.runs.len() > h.capacity {
            h.runs.pop_front();
        }
        for (key, samples) in series {
            h.series.entry(key).or_default().extend(samples);
        }
        for s in h.series.values_mut() {
            let mut v: Vec<Sample> = s.drain(..).collect();
            v.sort_by_key(|x| x.at);
            v.dedup_by_key(|x| x.at);
            *s = v.into_iter().collect();
        }
        h.series.retain(|_, s| !s.is_empty());
        h.enforce_bounds();
        h
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Times of the recent runs that sampled something, oldest first.
    pub fn runs(&self) -> impl Iterator<Item = Millis> + '_ {
        self.runs.iter().copied()
    }

    /// Number of partitions with samples.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn total_samples(&self) -> usize {
        self.series.values().map(VecDeque::len).sum()
    }

    /// Every partition and its samples, oldest first, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&PartitionKey, &VecDeque<Sample>)> {
        self.series.iter()
    }

    pub fn samples(&self, key: &PartitionKey) -> Option<&VecDeque<Sample>> {
        self.series.get(key)
    }

    /// One partition's lag over time, oldest first (for sparklines).
    pub fn lag_series(&self, key: &PartitionKey) -> Vec<(Millis, i64)> {
        self.series.get(key).map(|s| s.iter().map(|x| (x.at, x.lag)).collect()).unwrap_or_default()
    }

    /// A group's total lag over time: at each sample time, the sum of the
    /// lags of its partitions sampled then.
    pub fn group_lag_series(&self, source: Source, group: &str) -> Vec<(Millis, i64)> {
        let mut by_time: BTreeMap<Millis, i64> = BTreeMap::new();
        let from = PartitionKey { source, group: group.to_string(), topic: String::new(), partition: i32::MIN };
        let of_group = self.series.range(from..).take_while(|(k, _)| k.source == source && k.group == group);
        for (_, samples) in of_group {
            for s in samples {
                let total = by_time.entry(s.at).or_insert(0);
                *total = total.saturating_add(s.lag);
            }
        }
        by_time.into_iter().collect()
    }

    /// Records one run: a sample for every measured partition of `snapshot`.
    pub fn record(&mut self, snapshot: &Snapshot) -> Recorded {
        let at = snapshot.taken_at.timestamp_millis();
        let rows = snapshot.partitions.iter().filter_map(|p| {
            let (committed, log_end, lag) = (p.committed?, p.log_end?, p.lag?);
            Some((PartitionKey::of(p), Sample { at, committed, log_end, lag }))
        });
        self.record_samples(at, rows)
    }

    /// Records one run at time `at` (every sample's `at` is set to it).
    pub fn record_samples(&mut self, at: Millis, rows: impl IntoIterator<Item = (PartitionKey, Sample)>) -> Recorded {
        let rows: Vec<(PartitionKey, Sample)> = rows.into_iter().collect();
        let mut report = Recorded { samples: rows.len(), ..Recorded::default() };
        if rows.is_empty() {
            // A run that measured nothing (cluster down) must not age the
            // history out.
            return report;
        }
        // Samples at or after `at` cannot precede this run: the clock went
        // back. They are dropped so that time only moves forward.
        for samples in self.series.values_mut() {
            while samples.back().is_some_and(|s| s.at >= at) {
                samples.pop_back();
                report.from_the_future += 1;
            }
        }
        self.series.retain(|_, s| !s.is_empty());
        self.runs.retain(|&r| r < at);
        for (key, sample) in rows {
            let samples = self.series.entry(key).or_default();
            // A key twice in one run: the last row wins, times stay strictly increasing.
            if samples.back().is_some_and(|s| s.at == at) {
                samples.pop_back();
            }
            samples.push_back(Sample { at, ..sample });
        }
        self.runs.push_back(at);
        while self.runs.len() > self.capacity {
            self.runs.pop_front();
        }
        // Forget partitions without a sample in the last `capacity` runs.
        if self.runs.len() == self.capacity {
            if let Some(&oldest) = self.runs.front() {
                let before = self.series.len();
                self.series.retain(|_, s| s.back().is_some_and(|x| x.at >= oldest));
                report.expired = before - self.series.len();
            }
        }
        report.over_bound = self.enforce_bounds();
        report
    }

    /// Keeps at most [`MAX_PARTITIONS`] partitions (the most recently seen;
    /// ties by key) and [`MAX_SAMPLES`] samples. Returns partitions dropped.
    fn enforce_bounds(&mut self) -> usize {
        let mut dropped = 0;
        if self.series.len() > MAX_PARTITIONS {
            let mut last_seen: Vec<(Millis, PartitionKey)> =
                self.series.iter().map(|(k, s)| (s.back().map_or(Millis::MIN, |x| x.at), k.clone())).collect();
            // Newest first; among equals, the key order decides.
            last_seen.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            for (_, key) in last_seen.drain(MAX_PARTITIONS..) {
                self.series.remove(&key);
                dropped += 1;
            }
        }
        let per_series = self.samples_per_partition();
        for s in self.series.values_mut() {
            while s.len() > per_series {
                s.pop_front();
            }
        }
        dropped
    }

    /// How many samples each partition may keep now.
    pub fn samples_per_partition(&self) -> usize {
        let fair = MAX_SAMPLES / self.series.len().max(1);
        self.capacity.min(fair).max(MIN_SAMPLES)
    }

    /// The trend of one partition over its last `window` samples.
    pub fn trend(&self, key: &PartitionKey, window: usize) -> Trend {
        match self.series.get(key) {
            Some(s) => {
                let start = s.len().saturating_sub(window.max(1));
                let w: Vec<Sample> = s.range(start..).copied().collect();
                evaluate(&w)
            }
            None => Trend::default(),
        }
    }

    /// Sets the trend of every partition of `snapshot` (measured ones that
    /// were sampled at the snapshot's time; the others get an empty trend)
    /// and the status of every group.
    pub fn annotate(&self, snapshot: &mut Snapshot, window: usize) {
        let at = snapshot.taken_at.timestamp_millis();
        for p in &mut snapshot.partitions {
            let key = PartitionKey::of(p);
            let current = p.measured() && self.series.get(&key).and_then(|s| s.back()).is_some_and(|s| s.at == at);
            let trend = if current { self.trend(&key, window) } else { Trend::default() };
            p.trend = Some(Box::new(trend));
        }
        annotate_groups(snapshot);
    }
}

/// Sets each group's status from its partitions' (see the module rules).
pub fn annotate_groups(snapshot: &mut Snapshot) {
    let mut worst: BTreeMap<(Source, &str), Option<Status>> = BTreeMap::new();
    for p in &snapshot.partitions {
        let status = p.trend.as_ref().and_then(|t| t.status);
        let w = worst.entry((p.source, p.group.as_str())).or_default();
        *w = (*w).max(status);
    }
    let statuses: Vec<Option<Status>> = snapshot
        .groups
        .iter()
        .map(|g| worst.get(&(g.source, g.group.as_str())).copied().flatten().map(group_status))
        .collect();
    for (g, status) in snapshot.groups.iter_mut().zip(statuses) {
        set_group(g, status);
    }
}

fn set_group(g: &mut GroupSummary, status: Option<Status>) {
    g.trend = Some(GroupTrend { status });
}

/// Burrow's cap: a group is at worst ERR.
pub fn group_status(worst_partition: Status) -> Status {
    worst_partition.min(Status::Err)
}

/// Rates, catch-up time and status over `window` (oldest first, strictly
/// increasing times, the current sample last). See the module rules.
pub fn evaluate(window: &[Sample]) -> Trend {
    let Some(current) = window.last() else {
        return Trend::default();
    };
    let consume_rate = rate(window, |s| s.committed);
    let produce_rate = rate(window, |s| s.log_end);
    let catch_up_seconds = match (current.lag, consume_rate, produce_rate) {
        (0, _, _) => Some(0.0),
        (lag, Some(c), Some(p)) if c > p => finite(lag as f64 / (c - p)),
        _ => None,
    };
    Trend { status: status(window), consume_rate, produce_rate, catch_up_seconds, samples: window.len() }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Offsets per second since the value last went down (a rewind or a
/// recreated topic would otherwise give a meaningless negative rate).
fn rate(window: &[Sample], value: fn(&Sample) -> i64) -> Option<f64> {
    let start = (1..window.len()).rev().find(|&i| value(&window[i]) < value(&window[i - 1])).unwrap_or(0);
    let (first, last) = (window.get(start)?, window.last()?);
    let millis = last.at.checked_sub(first.at).filter(|&d| d > 0)?;
    let delta = i128::from(value(last)) - i128::from(value(first));
    finite(delta as f64 * 1000.0 / millis as f64)
}

fn status(w: &[Sample]) -> Option<Status> {
    let current = w.last()?;
    if w.len() < MIN_SAMPLES {
        return None;
    }
    // Rule 1: lag 0 anywhere in the window (now included) means OK.
    if w.iter().any(|s| s.lag == 0) {
        return Some(Status::Ok);
    }
    let pairs = || w.windows(2).map(|p| (&p[0], &p[1]));
    if pairs().any(|(a, b)| b.committed < a.committed) {
        return Some(Status::Rewind);
    }
    // The last commit: the first sample of the final run of equal offsets.
    let last_commit = w.iter().rposition(|s| s.committed != current.committed).map_or(0, |i| i + 1);
    let (first, commit, now) = (w[0].at, w[last_commit].at, current.at);
    if last_commit > 0 && now.saturating_sub(commit) > commit.saturating_sub(first) {
        return Some(Status::Stop);
    }
    if last_commit == 0 {
        return Some(Status::Stall);
    }
    if pairs().all(|(a, b)| b.lag >= a.lag) {
        return Some(Status::Warn);
    }
    Some(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::{build_snapshot, Committed, LogOffsets, OffsetTable};
    use chrono::DateTime;

    /// Samples a minute apart from (committed, log_end), lag derived.
    fn series(points: &[(i64, i64)]) -> Vec<Sample> {
        points
            .iter()
            .enumerate()
            .map(|(i, &(c, e))| Sample { at: 60_000 * i as i64, committed: c, log_end: e, lag: (e - c).max(0) })
            .collect()
    }

    fn status_of(points: &[(i64, i64)]) -> Option<Status> {
        evaluate(&series(points)).status
    }

    fn key(group: &str, partition: i32) -> PartitionKey {
        PartitionKey { source: Source::Kafka, group: group.into(), topic: "t".into(), partition }
    }

    fn sample(at: Millis, committed: i64, log_end: i64) -> Sample {
        Sample { at, committed, log_end, lag: (log_end - committed).max(0) }
    }

    #[test]
    fn ok_when_the_consumer_keeps_up() {
        assert_eq!(status_of(&[(10, 100), (40, 110), (80, 120)]), Some(Status::Ok));
    }

    #[test]
    fn ok_when_lag_was_zero_in_the_window_whatever_else() {
        // The offset went back, but lag was 0 at the start: Burrow's rule 1.
        assert_eq!(status_of(&[(100, 100), (50, 120), (50, 130)]), Some(Status::Ok));
        // Lag 0 now.
        assert_eq!(status_of(&[(10, 100), (10, 100), (100, 100)]), Some(Status::Ok));
    }

    #[test]
    fn warn_when_moving_but_lag_never_decreases() {
        assert_eq!(status_of(&[(10, 100), (20, 110), (30, 125)]), Some(Status::Warn));
    }

    #[test]
    fn stop_when_still_for_longer_than_it_was_moving() {
        // Moved during the first interval, then still for three.
        assert_eq!(status_of(&[(10, 100), (20, 100), (20, 100), (20, 100), (20, 100)]), Some(Status::Stop));
        // Moved for two intervals, still for two: not longer, so not STOP;
        // lag went down, so OK.
        assert_eq!(status_of(&[(10, 100), (15, 100), (20, 100), (20, 100), (20, 100)]), Some(Status::Ok));
    }

    #[test]
    fn stall_when_the_offset_never_moves_with_lag() {
        assert_eq!(status_of(&[(10, 100), (10, 100)]), Some(Status::Stall));
        assert_eq!(status_of(&[(10, 100), (10, 150), (10, 200)]), Some(Status::Stall));
    }

    #[test]
    fn rewind_when_the_offset_goes_back() {
        assert_eq!(status_of(&[(50, 100), (40, 100)]), Some(Status::Rewind));
        // Rewind outranks STOP and STALL.
        assert_eq!(status_of(&[(50, 100), (40, 100), (40, 100), (40, 100), (40, 100)]), Some(Status::Rewind));
    }

    #[test]
    fn groups_take_the_worst_partition_capped_at_err() {
        assert_eq!(group_status(Status::Ok), Status::Ok);
        assert_eq!(group_status(Status::Warn), Status::Warn);
        for s in [Status::Stop, Status::Stall, Status::Rewind] {
            assert_eq!(group_status(s), Status::Err);
        }
    }

    #[test]
    fn codes_follow_telegraf_and_severity() {
        let codes: Vec<i64> = Status::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, vec![1, 3, 4, 5, 6, 7]);
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(2), None);
        assert_eq!(serde_json::to_string(&Status::Stall).ok().as_deref(), Some("\"STALL\""));
    }

    #[test]
    fn first_run_has_no_status_but_lag_zero_catches_up_now() {
        let t = evaluate(&series(&[(10, 100)]));
        assert_eq!(t.status, None);
        assert_eq!((t.consume_rate, t.produce_rate, t.catch_up_seconds), (None, None, None));
        assert_eq!(evaluate(&series(&[(100, 100)])).catch_up_seconds, Some(0.0));
        assert_eq!(evaluate(&[]), Trend::default());
    }

    #[test]
    fn rates_and_catch_up() {
        // 120 s: committed +600 (5/s), log end +300 (2.5/s), lag 60 at the end.
        let t = evaluate(&series(&[(0, 360), (300, 480), (600, 660)]));
        assert_eq!(t.consume_rate, Some(5.0));
        assert_eq!(t.produce_rate, Some(2.5));
        assert_eq!(t.catch_up_seconds, Some(24.0));
        assert_eq!(t.samples, 3);
        // Producing faster than consuming: never catches up.
        let t = evaluate(&series(&[(0, 100), (60, 400)]));
        assert_eq!(t.catch_up_seconds, None);
        assert_eq!(t.status, Some(Status::Warn));
    }

    #[test]
    fn rates_restart_after_a_rewind() {
        // Rewound from 500 to 100 at the second sample, then +60 in a minute.
        let t = evaluate(&series(&[(500, 1000), (100, 1000), (160, 1000)]));
        assert_eq!(t.consume_rate, Some(1.0));
        assert_eq!(t.produce_rate, Some(0.0));
        // Right after the rewind there is one sample since: no rate.
        assert_eq!(evaluate(&series(&[(500, 1000), (100, 1000)])).consume_rate, None);
    }

    #[test]
    fn lag_zero_everywhere_is_ok_with_zero_catch_up() {
        let t = evaluate(&series(&[(100, 100), (200, 200), (300, 300)]));
        assert_eq!(t.status, Some(Status::Ok));
        assert_eq!(t.catch_up_seconds, Some(0.0));
    }

    fn snapshot_at(secs: i64, rows: &[(&str, i32, i64, i64)]) -> Snapshot {
        let taken = DateTime::from_timestamp(secs, 0).unwrap_or_default();
        let committed = rows.iter().map(|&(g, p, c, _)| Committed::new(Source::Kafka, g, "t", p, Some(c))).collect();
        let mut offsets = OffsetTable::new();
        for &(_, p, _, e) in rows {
            offsets.insert(("t".into(), p), LogOffsets { start: Some(0), end: Some(e), error: None });
        }
        build_snapshot(taken, Vec::new(), committed, &offsets)
    }

    #[test]
    fn history_judges_across_snapshots_and_annotates_groups() {
        let mut h = History::new(10);
        let runs = [
            [("g", 0, 10, 100), ("g", 1, 0, 50)],
            [("g", 0, 30, 100), ("g", 1, 0, 60)],
            [("g", 0, 50, 100), ("g", 1, 0, 70)],
        ];
        let mut last = None;
        for (i, rows) in runs.iter().enumerate() {
            let mut s = snapshot_at(1_700_000_000 + 60 * i as i64, rows);
            let r = h.record(&s);
            assert_eq!(r.samples, 2);
            h.annotate(&mut s, 10);
            last = Some(s);
        }
        let s = last.unwrap_or_else(|| snapshot_at(0, &[]));
        let statuses: Vec<_> = s.partitions.iter().map(|p| p.trend.as_ref().and_then(|t| t.status)).collect();
        assert_eq!(statuses, vec![Some(Status::Ok), Some(Status::Stall)]);
        assert_eq!(s.groups[0].trend, Some(GroupTrend { status: Some(Status::Err) }));
        assert_eq!(
            h.lag_series(&key("g", 0)),
            vec![(1_700_000_000_000, 90), (1_700_000_060_000, 70), (1_700_000_120_000, 50)]
        );
        assert_eq!(
            h.group_lag_series(Source::Kafka, "g"),
            vec![(1_700_000_000_000, 140), (1_700_000_060_000, 130), (1_700_000_120_000, 120)]
        );
        assert!(h.group_lag_series(Source::Zookeeper, "g").is_empty());
    }

    #[test]
    fn first_snapshot_is_collecting_for_partitions_and_groups() {
        let mut h = History::new(10);
        let mut s = snapshot_at(1_700_000_000, &[("g", 0, 10, 100)]);
        h.record(&s);
        h.annotate(&mut s, 10);
        let t = s.partitions[0].trend.as_deref().cloned().unwrap_or_default();
        assert_eq!((t.status, t.samples), (None, 1));
        assert_eq!(s.groups[0].trend, Some(GroupTrend { status: None }));
    }

    #[test]
    fn an_unmeasured_partition_gets_an_empty_trend() {
        let mut h = History::new(10);
        let mut s = snapshot_at(1_700_000_000, &[("g", 0, 10, 100)]);
        s.partitions[0].lag = None;
        assert_eq!(h.record(&s).samples, 0);
        h.annotate(&mut s, 10);
        assert_eq!(s.partitions[0].trend.as_deref(), Some(&Trend::default()));
    }

    #[test]
    fn window_smaller_than_history_uses_the_latest_samples() {
        let mut h = History::new(10);
        // Stalled for a while, then moving with lag going down.
        for (i, c) in [10, 10, 10, 10, 20, 30].into_iter().enumerate() {
            h.record_samples(60_000 * i as i64, [(key("g", 0), sample(0, c, 100))]);
        }
        assert_eq!(h.trend(&key("g", 0), 10).status, Some(Status::Ok));
        assert_eq!(h.trend(&key("g", 0), 3).samples, 3);
        assert_eq!(h.trend(&key("g", 0), 3).consume_rate, Some(10.0 / 60.0));
        // Over the last four only the first moved: STOP; over all 6, lag went down: OK.
        h.record_samples(6 * 60_000, [(key("g", 0), sample(0, 30, 100))]);
        h.record_samples(7 * 60_000, [(key("g", 0), sample(0, 30, 100))]);
        assert_eq!(h.trend(&key("g", 0), 4).status, Some(Status::Stop));
        assert_eq!(h.trend(&key("g", 0), 3).status, Some(Status::Stall));
        assert_eq!(h.trend(&key("missing", 0), 3), Trend::default());
    }

    #[test]
    fn a_partition_that_disappears_is_kept_for_a_window_of_runs_then_dropped() {
        let mut h = History::new(3);
        h.record_samples(0, [(key("gone", 0), sample(0, 1, 10)), (key("stays", 0), sample(0, 1, 10))]);
        for i in 1..3 {
            let r = h.record_samples(i * 1000, [(key("stays", 0), sample(0, 1, 10))]);
            assert_eq!(r.expired, 0);
            assert!(h.samples(&key("gone", 0)).is_some());
        }
        let r = h.record_samples(3000, [(key("stays", 0), sample(0, 1, 10))]);
        assert_eq!(r.expired, 1);
        assert!(h.samples(&key("gone", 0)).is_none());
        assert_eq!(h.samples(&key("stays", 0)).map(VecDeque::len), Some(3));
        // A run that measured nothing ages nothing.
        assert_eq!(h.record_samples(4000, []), Recorded::default());
        assert_eq!(h.runs().collect::<Vec<_>>(), vec![1000, 2000, 3000]);
    }

    #[test]
    fn a_group_that_reappears_within_the_window_keeps_its_history() {
        let mut h = History::new(5);
        h.record_samples(0, [(key("g", 0), sample(0, 50, 100))]);
        h.record_samples(1000, [(key("other", 0), sample(0, 1, 1))]);
        // Recreated with offsets reset to 0: a rewind.
        h.record_samples(2000, [(key("g", 0), sample(0, 0, 100))]);
        assert_eq!(h.trend(&key("g", 0), 5).status, Some(Status::Rewind));
        assert_eq!(h.trend(&key("g", 0), 5).samples, 2);
    }

    #[test]
    fn the_clock_going_back_drops_the_samples_from_the_future() {
        let mut h = History::new(10);
        for i in 0..4 {
            h.record_samples(10_000 + i * 1000, [(key("g", 0), sample(0, 10 + i, 100))]);
        }
        let r = h.record_samples(11_500, [(key("g", 0), sample(0, 20, 100))]);
        assert_eq!(r.from_the_future, 2);
        let times: Vec<Millis> = h.samples(&key("g", 0)).map(|s| s.iter().map(|x| x.at).collect()).unwrap_or_default();
        assert_eq!(times, vec![10_000, 11_000, 11_500]);
        assert_eq!(h.runs().collect::<Vec<_>>(), vec![10_000, 11_000, 11_500]);
        // Same time twice: the later record replaces the earlier.
        let r = h.record_samples(11_500, [(key("g", 0), sample(0, 21, 100))]);
        assert_eq!(r.from_the_future, 1);
        assert_eq!(h.samples(&key("g", 0)).and_then(|s| s.back()).map(|s| s.committed), Some(21));
        // And a status is still computed over strictly increasing times.
        assert_eq!(h.trend(&key("g", 0), 10).status, Some(Status::Ok));
    }

    #[test]
    fn capacity_is_clamped_and_enforced() {
        assert_eq!(History::new(0).capacity(), MIN_WINDOW);
        assert_eq!(History::new(10_000).capacity(), MAX_WINDOW);
        let mut h = History::new(3);
        for i in 0..10 {
            h.record_samples(i * 1000, [(key("g", 0), sample(0, i, 100))]);
        }
        assert_eq!(h.total_samples(), 3);
    }

    #[test]
    fn many_partitions_stay_within_the_bounds() {
        let mut h = History::new(MAX_WINDOW);
        let n = MAX_PARTITIONS + 500;
        for run in 0..3 {
            let rows = (0..n).map(|i| {
                let k = PartitionKey {
                    source: Source::Kafka,
                    group: format!("g{:06}", i / 100),
                    topic: "t".into(),
                    partition: (i % 100) as i32,
                };
                (k, sample(0, run, 100))
            });
            let r = h.record_samples(run * 1000, rows);
            assert_eq!(r.over_bound, 500);
        }
        assert_eq!(h.len(), MAX_PARTITIONS);
        assert!(h.total_samples() <= MAX_SAMPLES);
        assert_eq!(h.samples_per_partition(), MAX_SAMPLES / MAX_PARTITIONS);
        // The dropped ones are the last in key order (all were seen together).
        let last = PartitionKey { source: Source::Kafka, group: "g001004".into(), topic: "t".into(), partition: 99 };
        assert!(h.samples(&last).is_none());
    }

    proptest::proptest! {
        /// Whatever the samples (a hand-edited state file), no panic, and
        /// every float is finite.
        #[test]
        fn evaluation_never_panics(raw in proptest::collection::vec(
            (proptest::prelude::any::<i64>(), proptest::prelude::any::<i64>(), proptest::prelude::any::<i64>(), proptest::prelude::any::<i64>()),
            0..12,
        )) {
            let h = History::from_parts(10, vec![], [(key("g", 0), raw.iter().map(|&(at, committed, log_end, lag)| Sample { at, committed, log_end, lag }).collect())]);
            let t = h.trend(&key("g", 0), 10);
            for v in [t.consume_rate, t.produce_rate, t.catch_up_seconds].into_iter().flatten() {
                proptest::prop_assert!(v.is_finite());
            }
            let _ = h.group_lag_series(Source::Kafka, "g");
        }
    }

    #[test]
    fn a_partition_twice_in_one_run_keeps_one_sample() {
        let mut h = History::new(5);
        h.record_samples(1000, [(key("g", 0), sample(0, 1, 10)), (key("g", 0), sample(0, 2, 10))]);
        assert_eq!(h.samples(&key("g", 0)).map(|s| s.iter().map(|x| x.committed).collect::<Vec<_>>()), Some(vec![2]));
    }

    #[test]
    fn from_parts_repairs_order_and_duplicates() {
        let h = History::from_parts(
            3,
            vec![3000, 1000, 2000, 2000, 0],
            [(key("g", 0), vec![sample(3000, 3, 9), sample(1000, 1, 9), sample(2000, 2, 9), sample(2000, 2, 9)])],
        );
        assert_eq!(h.runs().collect::<Vec<_>>(), vec![1000, 2000, 3000]);
        let committed: Vec<i64> =
            h.samples(&key("g", 0)).map(|s| s.iter().map(|x| x.committed).collect()).unwrap_or_default();
        assert_eq!(committed, vec![1, 2, 3]);
    }
}
