//! The pure core: joins committed positions from any offset source with the
//! brokers' log start/end offsets into a [`Snapshot`]. No I/O happens here.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fasthash::FastMap;
use crate::trend::{GroupTrend, Trend};

/// Where a committed position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Offsets committed to Kafka (`__consumer_offsets`).
    Kafka,
    /// Classic 0.8-era consumers under `/consumers` in ZooKeeper.
    Zookeeper,
    /// storm-kafka KafkaSpout nodes in ZooKeeper.
    Storm,
    /// Trident Kafka spouts under `/transactional` in ZooKeeper.
    Trident,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kafka => "kafka",
            Source::Zookeeper => "zookeeper",
            Source::Storm => "storm",
            Source::Trident => "trident",
        }
    }
}

/// The group member that owns a partition, when the source knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

/// Storm-specific identity of a spout partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StormInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology_id: Option<String>,
    /// The broker recorded in the node: possibly stale, shown but never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
}

/// One committed (or assigned but uncommitted) position reported by a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub source: Source,
    /// Group id, spout id or Trident stream id.
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// Next offset the consumer will read; `None` when nothing was committed.
    pub offset: Option<i64>,
    pub owner: Owner,
    /// Boxed: most rows are not Storm rows, and 100k rows add up.
    pub storm: Option<Box<StormInfo>>,
    /// A problem with this row's source data (bad node, fetch error).
    pub error: Option<String>,
}

impl Committed {
    /// A plain row with no owner, Storm info or error.
    pub fn new(source: Source, group: &str, topic: &str, partition: i32, offset: Option<i64>) -> Self {
        Committed {
            source,
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
            offset,
            owner: Owner::default(),
            storm: None,
            error: None,
        }
    }

    /// A row whose source data could not be read: no offset, and why.
    pub fn bad(source: Source, group: &str, topic: &str, partition: i32, error: String) -> Self {
        Committed { error: Some(error), ..Committed::new(source, group, topic, partition, None) }
    }

    /// The same row carrying Storm identity.
    pub fn with_storm(self, storm: StormInfo) -> Self {
        Committed { storm: Some(Box::new(storm)), ..self }
    }
}

/// What a source knows about a group as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub source: Source,
    pub group: String,
    /// Kafka group state (Stable, Empty, ...); `None` where the source has none.
    pub state: Option<String>,
    pub members: Option<u32>,
    /// The group could not be read (its partitions may be missing).
    pub error: Option<String>,
}

/// Log start and end offsets of one partition, or why they are unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOffsets {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub error: Option<String>,
}

/// Log offsets keyed by (topic, partition).
pub type OffsetTable = HashMap<(String, i32), LogOffsets>;

/// Something worth a reader's attention about one partition row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// No committed offset: lag unknown and not summed.
    NoCommit,
    /// Committed offset below the log start: messages were lost to retention.
    OutOfRange,
    /// Committed offset beyond the log end (log truncated or recreated).
    AheadOfEnd,
    /// Log offsets could not be fetched (no leader, unknown topic, timeout).
    Unavailable,
    /// The source data for this row is malformed.
    BadData,
    /// `--time-lag`: the timestamp of the record at the committed offset
    /// could not be read, so `lag_seconds` is unknown (a warning says why).
    NoTimestamp,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::NoCommit => "no_commit",
            Flag::OutOfRange => "out_of_range",
            Flag::AheadOfEnd => "ahead_of_end",
            Flag::Unavailable => "unavailable",
            Flag::BadData => "bad_data",
            Flag::NoTimestamp => "no_timestamp",
        }
    }
}

/// One row of the result: a partition as seen by one consumer group.
/// (Serialized by hand below: the JSON schema lists Storm fields inline.)
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLag {
    pub source: Source,
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub log_start: Option<i64>,
    pub log_end: Option<i64>,
    pub lag: Option<i64>,
    /// `--time-lag`: seconds between the snapshot and the timestamp of the
    /// record at the committed offset (millisecond resolution, at least 0);
    /// 0 when caught up; `None` when unknown or not asked for.
    pub lag_seconds: Option<f64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
    /// Storm and Trident rows: topology, topology id and recorded broker.
    pub storm: Option<Box<StormInfo>>,
    pub flags: Vec<Flag>,
    pub error: Option<String>,
    /// With `--state`: rates and status across runs (see `trend`).
    pub trend: Option<Box<Trend>>,
}

/// The documented field order; Storm fields only where known. A plain struct
/// (not serde's flatten, which goes through a map) keeps 100k rows fast.
impl Serialize for PartitionLag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let storm = self.storm.as_deref();
        let field = |f: fn(&StormInfo) -> &Option<String>| storm.and_then(|s| f(s).as_deref());
        let (topology, topology_id, broker) = (field(|s| &s.topology), field(|s| &s.topology_id), field(|s| &s.broker));
        let mut st = serializer.serialize_struct("PartitionLag", 17)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("group", &self.group)?;
        st.serialize_field("topic", &self.topic)?;
        st.serialize_field("partition", &self.partition)?;
        st.serialize_field("committed", &self.committed)?;
        st.serialize_field("log_start", &self.log_start)?;
        st.serialize_field("log_end", &self.log_end)?;
        st.serialize_field("lag", &self.lag)?;
        st.serialize_field("lag_seconds", &self.lag_seconds)?;
        st.serialize_field("consumer_id", &self.consumer_id)?;
        st.serialize_field("host", &self.host)?;
        st.serialize_field("client_id", &self.client_id)?;
        for (name, value) in [("topology", topology), ("topology_id", topology_id), ("broker", broker)] {
            match value {
                Some(v) => st.serialize_field(name, v)?,
                None => st.skip_field(name)?,
            }
        }
        st.serialize_field("flags", &self.flags)?;
        st.serialize_field("error", &self.error)?;
        let trend = self.trend.as_deref();
        let status = trend.map(|t| t.status);
        let rates = [
            ("consume_rate", trend.map(|t| t.consume_rate)),
            ("produce_rate", trend.map(|t| t.produce_rate)),
            ("catch_up_seconds", trend.map(|t| t.catch_up_seconds)),
        ];
        match status {
            Some(s) => st.serialize_field("status", &s)?,
            None => st.skip_field("status")?,
        }
        for (name, value) in rates {
            match value {
                Some(v) => st.serialize_field(name, &v)?,
                None => st.skip_field(name)?,
            }
        }
        st.end()
    }
}

impl PartitionLag {
    /// The Storm topology name, for spout rows.
    pub fn topology(&self) -> Option<&str> {
        self.storm.as_ref().and_then(|s| s.topology.as_deref())
    }

    /// The broker a spout node recorded (possibly stale).
    pub fn broker(&self) -> Option<&str> {
        self.storm.as_ref().and_then(|s| s.broker.as_deref())
    }

    /// True when both the committed position and the log end are known.
    pub fn measured(&self) -> bool {
        self.lag.is_some()
    }
}

/// Per-group totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    pub group: String,
    pub source: Source,
    pub state: Option<String>,
    pub members: Option<u32>,
    pub partitions: usize,
    /// Sum of known lags; partitions with unknown lag are not summed.
    pub total_lag: Option<i64>,
    pub max_lag: Option<i64>,
    /// `--time-lag`: the largest known `lag_seconds` of the group's partitions.
    pub max_lag_seconds: Option<f64>,
    /// Partitions whose lag could not be computed.
    pub unmeasured: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    pub error: Option<String>,
    /// With `--state`: the group's status (see `trend`).
    #[serde(flatten)]
    pub trend: Option<GroupTrend>,
}

/// Everything one run measured, in a stable order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    pub partitions: Vec<PartitionLag>,
    pub groups: Vec<GroupSummary>,
    /// Run-level problems that did not stop the run (a source that failed).
    pub errors: Vec<String>,
    /// Oddities that do not make the snapshot incomplete (a broker skipped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether `--time-lag` was measured (`lag_seconds` columns are shown).
    #[serde(skip)]
    pub time_lag: bool,
}

impl Snapshot {
    /// How complete the snapshot is, which decides the exit code.
    pub fn coverage(&self) -> Coverage {
        let measured = self.partitions.iter().filter(|p| p.measured()).count();
        let unmeasured_rows = self.partitions.iter().filter(|p| !p.measured() && !p.flags.contains(&Flag::NoCommit));
        // A row whose offset lag is exact but whose asked-for time lag is not.
        let untimed_rows = self.partitions.iter().filter(|p| p.measured() && p.flags.contains(&Flag::NoTimestamp));
        let problems = unmeasured_rows.count()
            + untimed_rows.count()
            + self.groups.iter().filter(|g| g.error.is_some()).count()
            + self.errors.len();
        match (measured, problems) {
            (_, 0) => Coverage::Complete,
            (0, _) if self.partitions.iter().all(|p| p.flags.contains(&Flag::Unavailable) || p.error.is_some()) => {
                Coverage::Nothing
            }
            _ => Coverage::Partial,
        }
    }
}

/// How much of what was asked for could be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every row measured (rows with no commit count as measured: that is a fact).
    Complete,
    /// Some rows or groups could not be measured (or, with `--time-lag`,
    /// some lagging rows' time lag); the rest are exact.
    Partial,
    /// Nothing could be measured at all.
    Nothing,
}

/// Joins committed positions with log offsets.
///
/// `offsets` must have been fetched *after* the committed positions were read,
/// so that lag is never negative by race; it is clamped at 0 anyway.
pub fn build_snapshot(
    taken_at: DateTime<Utc>,
    groups: Vec<GroupInfo>,
    committed: Vec<Committed>,
    offsets: &OffsetTable,
) -> Snapshot {
    // Looked up by (&str, partition): no key allocation per row.
    let index: FastMap<(&str, i32), &LogOffsets> = offsets.iter().map(|((t, p), l)| ((t.as_str(), *p), l)).collect();
    // Convert from the back and give memory back as the input shrinks, so the
    // two vectors never both hold every row: that was the peak at 100k rows.
    let mut committed = committed;
    let mut partitions = Vec::with_capacity(committed.len());
    while let Some(c) = committed.pop() {
        partitions.push(join_row(c, &index));
        if committed.capacity() > 4096 && committed.len() < committed.capacity() / 2 {
            committed.shrink_to_fit();
        }
    }
    partitions
        .sort_by(|a, b| (a.source, &a.group, &a.topic, a.partition).cmp(&(b.source, &b.group, &b.topic, b.partition)));
    let groups = summarize(groups, &partitions);
    Snapshot { taken_at, partitions, groups, errors: Vec::new(), warnings: Vec::new(), time_lag: false }
}

fn join_row(c: Committed, offsets: &FastMap<(&str, i32), &LogOffsets>) -> PartitionLag {
    let mut flags = Vec::new();
    let log = offsets.get(&(c.topic.as_str(), c.partition)).copied();
    let (log_start, log_end) = log.map_or((None, None), |l| (l.start, l.end));
    let bad_source = c.error.is_some();
    let mut error = c.error;
    if bad_source {
        flags.push(Flag::BadData);
    }
    match log {
        Some(l) if l.error.is_none() && l.end.is_some() => {}
        Some(l) => {
            flags.push(Flag::Unavailable);
            if error.is_none() {
                error = Some(l.error.clone().unwrap_or_else(|| "log end offset unknown".to_string()));
            }
        }
        None if error.is_none() => {
            flags.push(Flag::Unavailable);
            error = Some("log offsets were not fetched".to_string());
        }
        None => {}
    }
    let lag = match (c.offset, log_end) {
        (Some(committed), Some(end)) => Some(end.saturating_sub(committed).max(0)),
        _ => None,
    };
    if c.offset.is_none() && !bad_source {
        flags.push(Flag::NoCommit);
    }
    if let (Some(committed), Some(start)) = (c.offset, log_start) {
        if committed < start {
            flags.push(Flag::OutOfRange);
        }
    }
    if let (Some(committed), Some(end)) = (c.offset, log_end) {
        if committed > end {
            flags.push(Flag::AheadOfEnd);
        }
    }
    flags.sort();
    PartitionLag {
        source: c.source,
        group: c.group,
        topic: c.topic,
        partition: c.partition,
        committed: c.offset,
        log_start,
        log_end,
        lag,
        lag_seconds: None,
        consumer_id: c.owner.consumer_id,
        host: c.owner.host,
        client_id: c.owner.client_id,
        storm: c.storm,
        flags,
        error,
        trend: None,
    }
}

fn summarize(groups: Vec<GroupInfo>, partitions: &[PartitionLag]) -> Vec<GroupSummary> {
    let mut by_group: BTreeMap<(Source, String), GroupSummary> = BTreeMap::new();
    for g in groups {
        by_group.insert(
            (g.source, g.group.clone()),
            GroupSummary {
                group: g.group,
                source: g.source,
                state: g.state,
                members: g.members,
                partitions: 0,
                total_lag: None,
                max_lag: None,
                max_lag_seconds: None,
                unmeasured: 0,
                topology: None,
                error: g.error,
                trend: None,
            },
        );
    }
    // Rows come sorted by (source, group): one lookup per run of a group's rows.
    for run in partitions.chunk_by(|a, b| a.source == b.source && a.group == b.group) {
        let Some(first) = run.first() else { continue };
        let s = by_group.entry((first.source, first.group.clone())).or_insert_with(|| GroupSummary {
            group: first.group.clone(),
            source: first.source,
            state: None,
            members: None,
            partitions: 0,
            total_lag: None,
            max_lag: None,
            max_lag_seconds: None,
            unmeasured: 0,
            topology: None,
            error: None,
            trend: None,
        });
        for p in run {
            s.partitions += 1;
            if s.topology.is_none() {
                s.topology = p.topology().map(str::to_string);
            }
            match p.lag {
                Some(lag) => {
                    s.total_lag = Some(s.total_lag.unwrap_or(0).saturating_add(lag));
                    s.max_lag = Some(s.max_lag.map_or(lag, |m| m.max(lag)));
                }
                None => s.unmeasured += 1,
            }
        }
    }
    by_group.into_values().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn table(rows: &[(&str, i32, i64, i64)]) -> OffsetTable {
        rows.iter()
            .map(|&(t, p, s, e)| ((t.to_string(), p), LogOffsets { start: Some(s), end: Some(e), error: None }))
            .collect()
    }

    #[test]
    fn lag_is_end_minus_committed() {
        let s = build_snapshot(
            t0(),
            vec![],
            vec![Committed::new(Source::Kafka, "g", "t", 0, Some(40))],
            &table(&[("t", 0, 0, 100)]),
        );
        assert_eq!(s.partitions[0].lag, Some(60));
        assert!(s.partitions[0].flags.is_empty());
        assert_eq!(s.groups[0].total_lag, Some(60));
        assert_eq!(s.coverage(), Coverage::Complete);
    }

    #[test]
    fn committed_beyond_end_clamps_to_zero_and_is_flagged() {
        let s = build_snapshot(
            t0(),
            vec![],
            vec![Committed::new(Source::Kafka, "g", "t", 0, Some(120))],
            &table(&[("t", 0, 0, 100)]),
        );
        assert_eq!(s.partitions[0].lag, Some(0));
        assert_eq!(s.partitions[0].flags, vec![Flag::AheadOfEnd]);
    }

    #[test]
    fn no_commit_is_unknown_lag_not_summed() {
        let s = build_snapshot(
            t0(),
            vec![],
            vec![Committed::new(Source::Kafka, "g", "t", 0, None), Committed::new(Source::Kafka, "g", "t", 1, Some(5))],
            &table(&[("t", 0, 0, 10), ("t", 1, 0, 10)]),
        );
        assert_eq!(s.partitions[0].lag, None);
        assert_eq!(s.partitions[0].flags, vec![Flag::NoCommit]);
        assert_eq!(s.groups[0].total_lag, Some(5));
        assert_eq!(s.groups[0].max_lag, Some(5));
        assert_eq!(s.groups[0].unmeasured, 1);
        assert_eq!(s.coverage(), Coverage::Complete);
    }

    #[test]
    fn committed_below_log_start_is_out_of_range() {
        let s = build_snapshot(
            t0(),
            vec![],
            vec![Committed::new(Source::Kafka, "g", "t", 0, Some(3))],
            &table(&[("t", 0, 7, 10)]),
        );
        assert_eq!(s.partitions[0].lag, Some(7));
        assert_eq!(s.partitions[0].flags, vec![Flag::OutOfRange]);
    }

    #[test]
    fn unavailable_partition_is_reported_and_rest_is_exact() {
        let mut offsets = table(&[("t", 0, 0, 10)]);
        offsets.insert(("t".into(), 1), LogOffsets { start: None, end: None, error: Some("no leader".into()) });
        let s = build_snapshot(
            t0(),
            vec![],
            vec![
                Committed::new(Source::Kafka, "g", "t", 0, Some(4)),
                Committed::new(Source::Kafka, "g", "t", 1, Some(4)),
            ],
            &offsets,
        );
        assert_eq!(s.partitions[0].lag, Some(6));
        assert_eq!(s.partitions[1].lag, None);
        assert_eq!(s.partitions[1].flags, vec![Flag::Unavailable]);
        assert_eq!(s.partitions[1].error.as_deref(), Some("no leader"));
        assert_eq!(s.coverage(), Coverage::Partial);
    }

    #[test]
    fn nothing_measured_when_every_row_is_unavailable() {
        let s = build_snapshot(
            t0(),
            vec![],
            vec![Committed::new(Source::Kafka, "g", "t", 0, Some(4))],
            &OffsetTable::new(),
        );
        assert_eq!(s.coverage(), Coverage::Nothing);
    }

    #[test]
    fn bad_source_row_keeps_its_error() {
        let mut bad = Committed::new(Source::Storm, "spout", "t", 2, None);
        bad.error = Some("invalid JSON".into());
        let s = build_snapshot(
            t0(),
            vec![],
            vec![bad, Committed::new(Source::Storm, "spout", "t", 0, Some(1))],
            &table(&[("t", 0, 0, 3), ("t", 2, 0, 3)]),
        );
        assert_eq!(s.partitions[0].partition, 0);
        assert_eq!(s.partitions[0].lag, Some(2));
        assert_eq!(s.partitions[1].flags, vec![Flag::BadData]);
        assert_eq!(s.partitions[1].error.as_deref(), Some("invalid JSON"));
        assert_eq!(s.coverage(), Coverage::Partial);
    }

    #[test]
    fn rows_are_sorted_and_groups_without_partitions_kept() {
        let s = build_snapshot(
            t0(),
            vec![GroupInfo {
                source: Source::Kafka,
                group: "empty".into(),
                state: Some("Empty".into()),
                members: Some(0),
                error: None,
            }],
            vec![
                Committed::new(Source::Kafka, "b", "t", 1, Some(1)),
                Committed::new(Source::Kafka, "a", "u", 0, Some(1)),
                Committed::new(Source::Kafka, "a", "t", 10, Some(1)),
                Committed::new(Source::Kafka, "a", "t", 2, Some(1)),
            ],
            &table(&[("t", 1, 0, 1), ("u", 0, 0, 1), ("t", 10, 0, 1), ("t", 2, 0, 1)]),
        );
        let keys: Vec<_> = s.partitions.iter().map(|p| (p.group.as_str(), p.topic.as_str(), p.partition)).collect();
        assert_eq!(keys, vec![("a", "t", 2), ("a", "t", 10), ("a", "u", 0), ("b", "t", 1)]);
        let groups: Vec<_> = s.groups.iter().map(|g| (g.group.as_str(), g.partitions)).collect();
        assert_eq!(groups, vec![("a", 3), ("b", 1), ("empty", 0)]);
        assert_eq!(s.groups[2].total_lag, None);
    }

    /// Found by `fuzz/fuzz_targets/render_formats.rs` (crash-3b7efd96, kept in
    /// fuzz/regressions/): two rows of one group whose lags add up past
    /// `i64::MAX` overflowed the group total. Sums saturate instead.
    pub(crate) fn fuzz_overflowing_lags() -> Snapshot {
        let row = |error: &str| Committed {
            error: Some(error.to_string()),
            ..Committed::new(Source::Storm, "", "", -1, Some(-1))
        };
        let mut offsets = OffsetTable::new();
        offsets.insert(
            (String::new(), -1),
            LogOffsets { start: Some(-2_227_559_822), end: Some(8_064_104_604_066_906_111), error: None },
        );
        build_snapshot(t0(), Vec::new(), vec![row(""), row("\":,\"p\0\08{\"")], &offsets)
    }

    #[test]
    fn fuzz_lag_sums_saturate() {
        let s = fuzz_overflowing_lags();
        assert_eq!(s.partitions[0].lag, Some(8_064_104_604_066_906_112));
        assert_eq!(s.groups[0].total_lag, Some(i64::MAX));
        assert_eq!(s.groups[0].max_lag, Some(8_064_104_604_066_906_112));
        let extreme = build_snapshot(
            t0(),
            Vec::new(),
            vec![Committed::new(Source::Kafka, "g", "t", 0, Some(i64::MIN))],
            &table(&[("t", 0, i64::MIN, i64::MAX)]),
        );
        assert_eq!(extreme.partitions[0].lag, Some(i64::MAX));
    }
}
