//! `--format prometheus`: the Prometheus text exposition format, for
//! node_exporter's textfile collector (write it with `--output FILE.prom`).
//!
//! One gauge family per level and value, `klag_<level>_<value>` (for example
//! `klag_partition_lag`, `klag_topic_max_lag`, `klag_group_members`), with
//! labels `group`, `partition`, `source`, `spout`, `topic`, `topology` (unknown
//! or empty ones left out). Samples carry no timestamp (the textfile collector
//! rejects them); `klag_snapshot_timestamp_seconds` holds the snapshot time.
//! Label values escape `\`, `"` and line feed as `\\`, `\"` and `\n`.

use std::io::{self, Write};

use super::metrics::{points, Level};
use super::Exporter;
use crate::lag::Snapshot;

pub struct Prometheus;

/// The family name of a value at a level.
pub fn family(level: Level, value: &str) -> String {
    format!("klag_{}_{}", level.as_str(), value)
}

pub const TIMESTAMP_FAMILY: &str = "klag_snapshot_timestamp_seconds";

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str(r"\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str(r"\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

impl Exporter for Prometheus {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let pts = points(snapshot);
        let mut buf = String::new();
        for level in Level::ALL {
            for name in level.value_names() {
                let fam = family(level, name);
                buf.push_str(&format!("# HELP {fam} {}\n# TYPE {fam} gauge\n", escape_help(level.help(name))));
                for p in pts.iter().filter(|p| p.level == level) {
                    if let Some(v) = p.value(name) {
                        let labels: Vec<String> =
                            p.labels().iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
                        buf.push_str(&format!("{fam}{{{}}} {v}\n", labels.join(",")));
                    }
                }
            }
        }
        let t = snapshot.taken_at;
        buf.push_str(&format!(
            "# HELP {TIMESTAMP_FAMILY} When the snapshot was taken (Unix time).\n# TYPE {TIMESTAMP_FAMILY} gauge\n{TIMESTAMP_FAMILY} {}.{:03}\n",
            t.timestamp(),
            t.timestamp_subsec_millis()
        ));
        out.write_all(buf.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render_to_string, sample};

    #[test]
    fn prometheus_snapshot() {
        insta::assert_snapshot!(render_to_string(&Prometheus, &sample::snapshot()));
    }

    #[test]
    fn prometheus_with_trend_snapshot() {
        insta::assert_snapshot!(render_to_string(&Prometheus, &sample::snapshot_with_trend()));
    }

    #[test]
    fn prometheus_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Prometheus, &sample::timed()));
    }

    #[test]
    fn label_escaping() {
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
    }
}
