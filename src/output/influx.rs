//! `--format influx`: InfluxDB line protocol.
//!
//! klag schema (default): measurements `klag_partition`, `klag_topic` and
//! `klag_group`; tags `group`, `partition`, `source`, `spout`, `topic`,
//! `topology` (sorted, empty or unknown ones left out); integer fields with
//! the `i` suffix, float fields (`lag_seconds`, `max_lag_seconds`) without;
//! one timestamp for every line, in `--precision` units.
//!
//! `--influx-schema burrow` writes Telegraf's burrow input schema instead:
//! `burrow_partition` (tags cluster, group, owner, partition, topic; fields
//! lag, offset, and with `--state` status and status_code) and `burrow_group`
//! (tags cluster, group; fields partition_count, total_lag, lag, and with
//! `--state` status and status_code). `status` is Burrow's name (a string
//! field), `status_code` Telegraf's number for it (see `trend::Status::code`).
//!
//! Escaping, as InfluxDB parses it (checked against influxd 1.6): in tag keys
//! and values and field keys, `,`, `=` and space get a backslash; in
//! measurements, `,` and space. Backslashes are kept as they are. Two values
//! line protocol cannot carry are changed by a fixed rule ([`tag_value`]):
//! a line feed or carriage return becomes a space, and a value ending in a
//! backslash gets a space appended (otherwise the separator after it would
//! read as escaped).

use std::io::{self, Write};

use super::metrics::{points, InfluxSchema, Level, MetricsOptions, Point, Precision, Value};
use super::Exporter;
use crate::lag::Snapshot;
use crate::trend::Status;

/// A field value: a number, or a string (quoted, `"` and `\` escaped).
enum Field {
    Num(Value),
    Str(&'static str),
}

pub struct Influx {
    pub schema: InfluxSchema,
    pub precision: Precision,
    pub burrow_cluster: String,
}

impl Default for Influx {
    fn default() -> Self {
        let o = MetricsOptions::default();
        Influx { schema: o.influx_schema, precision: o.precision, burrow_cluster: o.burrow_cluster }
    }
}

/// The measurement of a level in the klag schema.
pub fn measurement(level: Level) -> &'static str {
    match level {
        Level::Partition => "klag_partition",
        Level::Topic => "klag_topic",
        Level::Group => "klag_group",
    }
}

/// Escapes a measurement name: `,` and space.
pub fn escape_measurement(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in newline_rule(s).chars() {
        if c == ',' || c == ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    trailing_backslash_rule(out)
}

/// Escapes a tag key, tag value or field key: `,`, `=` and space.
pub fn escape_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in newline_rule(s).chars() {
        if c == ',' || c == '=' || c == ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    trailing_backslash_rule(out)
}

/// What a tag value reads back as after [`escape_key`]: the original, with line
/// feeds and carriage returns as spaces and a space after a final backslash.
pub fn tag_value(s: &str) -> String {
    let mut v = newline_rule(s);
    if v.ends_with('\\') {
        v.push(' ');
    }
    v
}

/// Escapes a string field value: `"` and `\` get a backslash.
pub fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in newline_rule(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn code_of(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        Value::Float(_) => None,
    }
}

fn newline_rule(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A final backslash would escape the separator that follows: add an
/// (escaped) space after it.
fn trailing_backslash_rule(mut escaped: String) -> String {
    // An escaped trailing space ends in "\ ", never in a bare backslash, so
    // only a backslash from the original value can be last.
    if escaped.ends_with('\\') {
        escaped.push_str("\\ ");
    }
    escaped
}

impl Influx {
    fn timestamp(&self, snapshot: &Snapshot) -> i64 {
        let t = snapshot.taken_at;
        match self.precision {
            Precision::S => t.timestamp(),
            Precision::Ms => t.timestamp_millis(),
            Precision::Us => t.timestamp_micros(),
            // Out of range only after the year 2262.
            Precision::Ns => t.timestamp_nanos_opt().unwrap_or(i64::MAX),
        }
    }

    fn line(measurement: &str, tags: &[(&str, String)], fields: &[(&str, Field)], ts: i64) -> Option<String> {
        if fields.is_empty() {
            return None;
        }
        let mut tags: Vec<&(&str, String)> = tags.iter().filter(|(_, v)| !v.is_empty()).collect();
        tags.sort_by(|a, b| a.0.cmp(b.0));
        let mut s = escape_measurement(measurement);
        for (k, v) in tags {
            s.push(',');
            s.push_str(&escape_key(k));
            s.push('=');
            s.push_str(&escape_key(v));
        }
        s.push(' ');
        let fields: Vec<String> = fields
            .iter()
            .map(|(k, v)| match v {
                Field::Num(Value::Int(i)) => format!("{}={i}i", escape_key(k)),
                Field::Num(v @ Value::Float(_)) => format!("{}={v}", escape_key(k)),
                Field::Str(text) => format!("{}=\"{}\"", escape_key(k), escape_string(text)),
            })
            .collect();
        s.push_str(&fields.join(","));
        s.push(' ');
        s.push_str(&ts.to_string());
        s.push('\n');
        Some(s)
    }

    fn klag_line(p: &Point, ts: i64) -> Option<String> {
        let fields: Vec<(&str, Field)> = p.values.iter().map(|&(k, v)| (k, Field::Num(v))).collect();
        Self::line(measurement(p.level), &p.labels(), &fields, ts)
    }

    /// Telegraf's `status` and `status_code` fields, when the point has a status.
    fn status_fields(p: &Point, fields: &mut Vec<(&str, Field)>) {
        if let Some(status) = p.value("status_code").and_then(code_of).and_then(Status::from_code) {
            fields.push(("status", Field::Str(status.as_str())));
            fields.push(("status_code", Field::Num(Value::Int(status.code()))));
        }
    }

    fn burrow_line(&self, p: &Point, ts: i64) -> Option<String> {
        let cluster = ("cluster", self.burrow_cluster.clone());
        let group = ("group", p.group.to_string());
        match p.level {
            Level::Partition => {
                let mut tags = vec![cluster, group];
                tags.push(("topic", p.topic.unwrap_or_default().to_string()));
                tags.push(("partition", p.partition.map(|n| n.to_string()).unwrap_or_default()));
                tags.push(("owner", p.host.unwrap_or_default().to_string()));
                let mut fields = Vec::new();
                Self::status_fields(p, &mut fields);
                if let Some(v) = p.value("lag") {
                    fields.push(("lag", Field::Num(v)));
                }
                if let Some(v) = p.value("committed") {
                    fields.push(("offset", Field::Num(v)));
                }
                Self::line("burrow_partition", &tags, &fields, ts)
            }
            Level::Topic => None,
            Level::Group => {
                let mut fields = Vec::new();
                Self::status_fields(p, &mut fields);
                if let Some(v) = p.value("partitions") {
                    fields.push(("partition_count", Field::Num(v)));
                }
                if let Some(v) = p.value("lag") {
                    fields.push(("total_lag", Field::Num(v)));
                }
                if let Some(v) = p.value("max_lag") {
                    fields.push(("lag", Field::Num(v)));
                }
                Self::line("burrow_group", &[cluster, group], &fields, ts)
            }
        }
    }
}

impl Exporter for Influx {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let ts = self.timestamp(snapshot);
        let mut buf = String::new();
        for p in points(snapshot) {
            let line = match self.schema {
                InfluxSchema::Klag => Self::klag_line(&p, ts),
                InfluxSchema::Burrow => self.burrow_line(&p, ts),
            };
            if let Some(l) = line {
                buf.push_str(&l);
            }
        }
        out.write_all(buf.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render_to_string, sample};

    #[test]
    fn influx_snapshot() {
        insta::assert_snapshot!(render_to_string(&Influx::default(), &sample::snapshot()));
    }

    #[test]
    fn influx_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Influx::default(), &sample::timed()));
    }

    #[test]
    fn influx_burrow_snapshot() {
        let i = Influx { schema: InfluxSchema::Burrow, precision: Precision::S, burrow_cluster: "prod eu".into() };
        insta::assert_snapshot!(render_to_string(&i, &sample::snapshot()));
    }

    #[test]
    fn influx_with_trend_snapshot() {
        insta::assert_snapshot!(render_to_string(&Influx::default(), &sample::snapshot_with_trend()));
    }

    #[test]
    fn influx_burrow_with_status_snapshot() {
        let i = Influx { schema: InfluxSchema::Burrow, precision: Precision::S, burrow_cluster: "prod eu".into() };
        insta::assert_snapshot!(render_to_string(&i, &sample::snapshot_with_trend()));
    }

    #[test]
    fn precisions() {
        let s = sample::snapshot();
        let last = |p| {
            let i = Influx { precision: p, ..Influx::default() };
            let out = render_to_string(&i, &s);
            out.lines().next().and_then(|l| l.rsplit(' ').next()).map(str::to_string).unwrap_or_default()
        };
        assert_eq!(last(Precision::S), "1700000000");
        assert_eq!(last(Precision::Ms), "1700000000250");
        assert_eq!(last(Precision::Us), "1700000000250000");
        assert_eq!(last(Precision::Ns), "1700000000250000000");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_key("a b,c=d"), r"a\ b\,c\=d");
        assert_eq!(escape_key(r"x\"), r"x\\ ");
        assert_eq!(escape_key("l1\nl2\r"), r"l1\ l2\ ");
        assert_eq!(escape_key(r#"q"'\é"#), r#"q"'\é"#);
        assert_eq!(escape_measurement("m a,b=c"), r"m\ a\,b=c");
        assert_eq!(tag_value("a\\"), "a\\ ");
        assert_eq!(escape_string(r#"say "hi" \o/"#), r#"say \"hi\" \\o/"#);
    }
}
