//! The numbers every metrics format emits, at three levels: partition, topic
//! (one group's view of one topic) and group. Graphite, Influx, Prometheus and
//! CSV all render the [`Point`]s built here, so a new metric is one line in
//! [`PARTITION_METRICS`] and shows up in every format.

use std::collections::BTreeMap;

use crate::lag::{PartitionLag, Snapshot, Source};

/// How a partition metric rolls up into topic and group values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Sum of the known values (unknown ones are left out, see `unmeasured`).
    Sum,
    /// Largest known value.
    Max,
}

/// One roll-up of a partition metric: its name at that level and how.
#[derive(Debug, Clone, Copy)]
pub struct Rollup {
    pub name: &'static str,
    pub agg: Agg,
    pub help: &'static str,
}

/// A metric value: a count or offset (an integer, `12i` in Influx), or a
/// measure such as seconds or a rate (a float). A metric keeps one kind:
/// Influx fixes a field's type when it is first written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
}

/// Integers as they are; floats in Rust's shortest round-trip form, which
/// never uses an exponent (Graphite, Influx and Prometheus all read it).
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// A per-partition number and its topic and group roll-ups.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub help: &'static str,
    /// The partition's value; non-finite floats are left out.
    pub value: fn(&PartitionLag) -> Option<Value>,
    pub topic: &'static [Rollup],
    pub group: &'static [Rollup],
}

const fn r(name: &'static str, agg: Agg, help: &'static str) -> Rollup {
    Rollup { name, agg, help }
}

/// Every per-partition metric. Add a line here and every format emits it.
pub const PARTITION_METRICS: &[MetricDef] = &[
    MetricDef {
        name: "lag",
        help: "Messages the consumer has yet to read: log_end - committed, at least 0.",
        value: |p| p.lag.map(Value::Int),
        topic: &[
            r("lag", Agg::Sum, "Sum of the known partition lags of the group on the topic."),
            r("max_lag", Agg::Max, "Largest partition lag of the group on the topic."),
        ],
        group: &[
            r("lag", Agg::Sum, "Sum of the known partition lags of the group."),
            r("max_lag", Agg::Max, "Largest partition lag of the group."),
        ],
    },
    MetricDef {
        name: "committed",
        help: "Committed offset: the next offset the consumer will read.",
        value: |p| p.committed.map(Value::Int),
        topic: &[r("committed", Agg::Sum, "Sum of the known committed offsets of the group on the topic.")],
        group: &[],
    },
    MetricDef {
        name: "log_start",
        help: "First offset still in the partition's log.",
        value: |p| p.log_start.map(Value::Int),
        topic: &[r("log_start", Agg::Sum, "Sum of the known log start offsets of the topic's partitions.")],
        group: &[],
    },
    MetricDef {
        name: "log_end",
        help: "Log end offset (high watermark, or last stable offset with --isolation read-committed).",
        value: |p| p.log_end.map(Value::Int),
        topic: &[r("log_end", Agg::Sum, "Sum of the known log end offsets of the topic's partitions.")],
        group: &[],
    },
    MetricDef {
        name: "lag_seconds",
        help: "With --time-lag: seconds since the timestamp of the record at the committed offset; 0 when caught up.",
        value: |p| p.lag_seconds.map(Value::Float),
        topic: &[r("max_lag_seconds", Agg::Max, "Largest known partition time lag of the group on the topic.")],
        group: &[r("max_lag_seconds", Agg::Max, "Largest known partition time lag of the group.")],
    },
    // With --state (see `trend`): absent on the first run and without it.
    MetricDef {
        name: "consume_rate",
        help: "Committed offsets per second over the --state window.",
        value: |p| p.trend.as_ref()?.consume_rate.map(Value::Float),
        topic: &[r("consume_rate", Agg::Sum, "Sum of the known partition consume rates of the group on the topic.")],
        group: &[r("consume_rate", Agg::Sum, "Sum of the known partition consume rates of the group.")],
    },
    MetricDef {
        name: "produce_rate",
        help: "Log end offsets per second over the --state window.",
        value: |p| p.trend.as_ref()?.produce_rate.map(Value::Float),
        topic: &[r("produce_rate", Agg::Sum, "Sum of the known partition produce rates of the topic.")],
        group: &[r("produce_rate", Agg::Sum, "Sum of the known produce rates of the group's partitions.")],
    },
    MetricDef {
        name: "catch_up_seconds",
        help: "Seconds until lag is 0 at the current rates (0 when caught up; absent when not catching up).",
        value: |p| p.trend.as_ref()?.catch_up_seconds.map(Value::Float),
        topic: &[],
        group: &[],
    },
    MetricDef {
        name: "status_code",
        help: "Burrow status over the --state window, Telegraf's codes: OK=1 WARN=3 STOP=5 STALL=6 REWIND=7.",
        value: |p| p.trend.as_ref()?.status.map(|s| Value::Int(s.code())),
        topic: &[],
        group: &[],
    },
];

/// Counts emitted at topic and group level besides the roll-ups.
pub const PARTITIONS_HELP: &str = "Partitions reported for the group (and topic).";
pub const UNMEASURED_HELP: &str = "Partitions whose lag is unknown (no commit, offsets unavailable, bad data).";
pub const MEMBERS_HELP: &str = "Members of the consumer group, where the source knows them.";
pub const GROUP_STATUS_HELP: &str =
    "Burrow group status over the --state window (worst partition, capped at ERR): OK=1 WARN=3 ERR=4.";

/// Timestamp unit of Influx line protocol (`--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    S,
    Ms,
    Us,
    #[default]
    Ns,
}

impl Precision {
    /// The name in `/api/v2/write?precision=` and `--precision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::S => "s",
            Precision::Ms => "ms",
            Precision::Us => "us",
            Precision::Ns => "ns",
        }
    }

    /// The name in InfluxDB 1.x `/write?precision=` (which says `u` and `n`).
    pub fn as_v1_str(self) -> &'static str {
        match self {
            Precision::S => "s",
            Precision::Ms => "ms",
            Precision::Us => "u",
            Precision::Ns => "n",
        }
    }
}

/// Which measurements and fields `--format influx` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InfluxSchema {
    /// klag_partition, klag_topic, klag_group.
    #[default]
    Klag,
    /// Telegraf's burrow input: burrow_partition, burrow_group.
    Burrow,
}

/// Options of the metrics formats, shared by stdout output and `--send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Graphite path prefix: dot-separated components of `[A-Za-z0-9_-]`.
    pub prefix: String,
    /// Graphite 1.1 tagged series (`name;tag=value`) instead of plain paths.
    pub graphite_tags: bool,
    pub precision: Precision,
    pub influx_schema: InfluxSchema,
    /// The `cluster` tag of the burrow schema.
    pub burrow_cluster: String,
}

pub const DEFAULT_PREFIX: &str = "klag";
pub const DEFAULT_BURROW_CLUSTER: &str = "local";

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            prefix: DEFAULT_PREFIX.to_string(),
            graphite_tags: false,
            precision: Precision::Ns,
            influx_schema: InfluxSchema::Klag,
            burrow_cluster: DEFAULT_BURROW_CLUSTER.to_string(),
        }
    }
}

/// Checks a `--prefix`: empty, or dot-separated non-empty components of
/// ASCII letters, digits, `_` and `-`.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    for c in prefix.split('.') {
        if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-') {
            return Err(format!(
                "invalid --prefix {prefix:?}: use dot-separated components of letters, digits, '_' and '-'"
            ));
        }
    }
    Ok(())
}

/// Which level a point describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Partition,
    Topic,
    Group,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Partition, Level::Topic, Level::Group];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Partition => "partition",
            Level::Topic => "topic",
            Level::Group => "group",
        }
    }

    /// Every value name emitted at this level, in emission order.
    pub fn value_names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for m in PARTITION_METRICS {
            match self {
                Level::Partition => names.push(m.name),
                Level::Topic => names.extend(m.topic.iter().map(|r| r.name)),
                Level::Group => names.extend(m.group.iter().map(|r| r.name)),
            }
        }
        match self {
            Level::Partition => {}
            Level::Topic => names.extend(["partitions", "unmeasured"]),
            Level::Group => names.extend(["partitions", "unmeasured", "members", "status_code"]),
        }
        names
    }

    /// The help text of a value at this level.
    pub fn help(self, name: &str) -> &'static str {
        for m in PARTITION_METRICS {
            let found = match self {
                Level::Partition => (m.name == name).then_some(m.help),
                Level::Topic => m.topic.iter().find(|r| r.name == name).map(|r| r.help),
                Level::Group => m.group.iter().find(|r| r.name == name).map(|r| r.help),
            };
            if let Some(h) = found {
                return h;
            }
        }
        match name {
            "partitions" => PARTITIONS_HELP,
            "unmeasured" => UNMEASURED_HELP,
            "members" => MEMBERS_HELP,
            "status_code" if self == Level::Group => GROUP_STATUS_HELP,
            _ => "",
        }
    }
}

/// One measured thing at one level, with the values known for it. Unknown
/// values are absent, never zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    pub level: Level,
    pub source: Source,
    /// Group id, spout id or Trident stream id.
    pub group: &'a str,
    pub topic: Option<&'a str>,
    pub partition: Option<i32>,
    /// Storm topology name, where known.
    pub topology: Option<&'a str>,
    /// The spout id for Storm and Trident sources (the same as `group`).
    pub spout: Option<&'a str>,
    /// The committing member's host, where known (partition level only).
    pub host: Option<&'a str>,
    pub values: Vec<(&'static str, Value)>,
}

impl Point<'_> {
    /// The identifying labels that are known and not empty, sorted by key.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        let mut l: Vec<(&'static str, String)> = vec![("group", self.group.to_string())];
        if let Some(p) = self.partition {
            l.push(("partition", p.to_string()));
        }
        l.push(("source", self.source.as_str().to_string()));
        if let Some(s) = self.spout {
            l.push(("spout", s.to_string()));
        }
        if let Some(t) = self.topic {
            l.push(("topic", t.to_string()));
        }
        if let Some(t) = self.topology {
            l.push(("topology", t.to_string()));
        }
        l.retain(|(_, v)| !v.is_empty());
        l
    }

    pub fn value(&self, name: &str) -> Option<Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

fn spout_of(source: Source, group: &str) -> Option<&str> {
    matches!(source, Source::Storm | Source::Trident).then_some(group)
}

fn finite(v: Value) -> Option<Value> {
    match v {
        Value::Float(f) if !f.is_finite() => None,
        v => Some(v),
    }
}

/// A partition metric's value, if known and finite.
fn value_of(m: &MetricDef, p: &PartitionLag) -> Option<Value> {
    (m.value)(p).and_then(finite)
}

/// Rolls known values up; a metric's values are all of one kind.
fn roll(values: &[Option<Value>], agg: Agg) -> Option<Value> {
    values.iter().flatten().copied().fold(None, |acc, v| {
        Some(match (acc, v, agg) {
            (None, v, _) => v,
            (Some(Value::Int(a)), Value::Int(b), Agg::Sum) => Value::Int(a.saturating_add(b)),
            (Some(Value::Int(a)), Value::Int(b), Agg::Max) => Value::Int(a.max(b)),
            (Some(a), b, Agg::Sum) => Value::Float(float(a) + float(b)),
            (Some(a), b, Agg::Max) => Value::Float(float(a).max(float(b))),
        })
    })
}

fn float(v: Value) -> f64 {
    match v {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
    }
}

/// Partition, then topic, then group points of a snapshot, each level in the
/// snapshot's order (source, group, topic, partition).
pub fn points(snapshot: &Snapshot) -> Vec<Point<'_>> {
    let mut out = Vec::new();
    for p in &snapshot.partitions {
        let values = PARTITION_METRICS.iter().filter_map(|m| value_of(m, p).map(|v| (m.name, v))).collect();
        out.push(Point {
            level: Level::Partition,
            source: p.source,
            group: &p.group,
            topic: Some(&p.topic),
            partition: Some(p.partition),
            topology: p.topology(),
            spout: spout_of(p.source, &p.group),
            host: p.host.as_deref(),
            values,
        });
    }
    // Topic level: partitions grouped by (source, group, topic), already sorted.
    let mut topics: BTreeMap<(Source, &str, &str), Vec<&PartitionLag>> = BTreeMap::new();
    for p in &snapshot.partitions {
        topics.entry((p.source, &p.group, &p.topic)).or_default().push(p);
    }
    for ((source, group, topic), rows) in &topics {
        let mut values = Vec::new();
        for m in PARTITION_METRICS {
            let column: Vec<Option<Value>> = rows.iter().map(|p| value_of(m, p)).collect();
            for r in m.topic {
                if let Some(v) = roll(&column, r.agg) {
                    values.push((r.name, v));
                }
            }
        }
        values.push(("partitions", Value::Int(rows.len() as i64)));
        values.push(("unmeasured", Value::Int(rows.iter().filter(|p| p.lag.is_none()).count() as i64)));
        out.push(Point {
            level: Level::Topic,
            source: *source,
            group,
            topic: Some(topic),
            partition: None,
            topology: rows.iter().find_map(|p| p.topology()),
            spout: spout_of(*source, group),
            host: None,
            values,
        });
    }
    // Group level: every group of the snapshot, also those without partitions.
    for g in &snapshot.groups {
        let rows: Vec<&PartitionLag> =
            snapshot.partitions.iter().filter(|p| p.source == g.source && p.group == g.group).collect();
        let mut values = Vec::new();
        for m in PARTITION_METRICS {
            let column: Vec<Option<Value>> = rows.iter().map(|p| value_of(m, p)).collect();
            for r in m.group {
                if let Some(v) = roll(&column, r.agg) {
                    values.push((r.name, v));
                }
            }
        }
        values.push(("partitions", Value::Int(g.partitions as i64)));
        values.push(("unmeasured", Value::Int(g.unmeasured as i64)));
        if let Some(m) = g.members {
            values.push(("members", Value::Int(i64::from(m))));
        }
        if let Some(status) = g.trend.as_ref().and_then(|t| t.status) {
            values.push(("status_code", Value::Int(status.code())));
        }
        out.push(Point {
            level: Level::Group,
            source: g.source,
            group: &g.group,
            topic: None,
            partition: None,
            topology: g.topology.as_deref(),
            spout: spout_of(g.source, &g.group),
            host: None,
            values,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn every_level_has_its_names_and_unknowns_are_absent() {
        let s = sample::snapshot();
        let pts = points(&s);
        let no_commit = pts
            .iter()
            .find(|p| p.level == Level::Partition && p.group == "billing" && p.partition == Some(2))
            .map(|p| p.values.clone());
        assert_eq!(no_commit, Some(vec![("log_start", Value::Int(0)), ("log_end", Value::Int(40))]));
        let billing = pts.iter().find(|p| p.level == Level::Group && p.group == "billing");
        assert_eq!(billing.and_then(|p| p.value("lag")), Some(Value::Int(10)));
        let idle = pts.iter().find(|p| p.level == Level::Group && p.group == "idle");
        let zero = Value::Int(0);
        assert_eq!(
            idle.map(|p| p.values.clone()),
            Some(vec![("partitions", zero), ("unmeasured", zero), ("members", zero)])
        );
        for p in &pts {
            let names = p.level.value_names();
            assert!(p.values.iter().all(|(n, _)| names.contains(n)), "{p:?}");
        }
    }

    #[test]
    fn group_roll_up_matches_the_snapshot_summary() {
        let s = sample::snapshot();
        for g in &s.groups {
            let p =
                points(&s).into_iter().find(|p| p.level == Level::Group && p.group == g.group && p.source == g.source);
            assert_eq!(p.as_ref().and_then(|p| p.value("lag")), g.total_lag.map(Value::Int));
            assert_eq!(p.as_ref().and_then(|p| p.value("max_lag")), g.max_lag.map(Value::Int));
        }
    }

    #[test]
    fn time_lag_is_a_float_at_every_level_and_matches_the_summary() {
        let s = sample::timed();
        let pts = points(&s);
        let find = |level: Level, group: &str| pts.iter().find(|p| p.level == level && p.group == group);
        let audit = find(Level::Partition, "audit").and_then(|p| p.value("lag_seconds"));
        assert_eq!(audit, Some(Value::Float(7384.123)));
        let billing_topic = find(Level::Topic, "billing").and_then(|p| p.value("max_lag_seconds"));
        assert_eq!(billing_topic, Some(Value::Float(42.5)));
        for g in &s.groups {
            let p = pts.iter().find(|p| p.level == Level::Group && p.group == g.group && p.source == g.source);
            assert_eq!(p.and_then(|p| p.value("max_lag_seconds")), g.max_lag_seconds.map(Value::Float), "{}", g.group);
        }
        // Unknown (the spout's unread record) is left out, never 0.
        assert_eq!(find(Level::Partition, "spout-a").and_then(|p| p.value("lag_seconds")), None);
        // Without --time-lag no point carries it.
        assert!(points(&sample::snapshot()).iter().all(|p| p.value("lag_seconds").is_none()));
    }

    #[test]
    fn values_render_and_roll_up_by_kind() {
        assert_eq!(Value::Int(7).to_string(), "7");
        assert_eq!(Value::Float(1.5).to_string(), "1.5");
        assert_eq!(Value::Float(1e21).to_string(), "1000000000000000000000");
        let ints = [Some(Value::Int(2)), None, Some(Value::Int(i64::MAX))];
        assert_eq!(roll(&ints, Agg::Sum), Some(Value::Int(i64::MAX)));
        assert_eq!(roll(&ints, Agg::Max), Some(Value::Int(i64::MAX)));
        let floats = [Some(Value::Float(0.25)), Some(Value::Float(2.5)), None];
        assert_eq!(roll(&floats, Agg::Sum), Some(Value::Float(2.75)));
        assert_eq!(roll(&floats, Agg::Max), Some(Value::Float(2.5)));
        assert_eq!(roll(&[None, None], Agg::Sum), None);
        assert_eq!(finite(Value::Float(f64::NAN)), None);
    }
}
