//! `--format graphite`: Graphite plaintext lines, `<path> <value> <unix-seconds>`.
//!
//! Paths (without the prefix) have a fixed number of components per level:
//!
//! ```text
//! <prefix>.partition.<source>.<group>.<topic>.<partition>.<metric>
//! <prefix>.topic.<source>.<group>.<topic>.<metric>
//! <prefix>.group.<source>.<group>.<metric>
//! ```
//!
//! Every component that comes from a name is sanitized by [`component`]: each
//! character other than ASCII letters, digits, `_` and `-` becomes `_` (so a
//! dot in a topic name cannot split the path), and an empty name becomes `_`.
//!
//! With `--graphite-tags` the Graphite 1.1 tagged form is written instead:
//! `<prefix>.<level>.<metric>;group=..;partition=..;source=..;topic=..`, tags
//! sorted, values cleaned by [`tag_value`].

use std::io::{self, Write};

use super::metrics::{points, Level, Point};
use super::Exporter;
use crate::lag::Snapshot;

pub struct Graphite {
    /// Already validated (see `metrics::validate_prefix`).
    pub prefix: String,
    pub tagged: bool,
}

impl Default for Graphite {
    fn default() -> Self {
        Graphite { prefix: super::metrics::DEFAULT_PREFIX.to_string(), tagged: false }
    }
}

/// Path components after the prefix, per level (metric name included).
pub fn components(level: Level) -> usize {
    match level {
        Level::Partition => 6,
        Level::Topic => 5,
        Level::Group => 4,
    }
}

/// Sanitizes one path component: ASCII letters, digits, `_` and `-` are kept,
/// every other character (each `.`, space, `/`, non-ASCII letter...) becomes `_`.
pub fn component(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// Cleans a Graphite 1.1 tag value: `;`, whitespace and control characters
/// become `_`, as does a leading `~`. Empty values are left out by the caller.
pub fn tag_value(v: &str) -> String {
    let mut s: String =
        v.chars().map(|c| if c == ';' || c.is_whitespace() || c.is_control() { '_' } else { c }).collect();
    if s.starts_with('~') {
        s.replace_range(0..1, "_");
    }
    s
}

impl Graphite {
    fn head(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}.", self.prefix)
        }
    }

    /// The series name of a point's value, plain path or tagged.
    pub fn series(&self, p: &Point, metric: &str) -> String {
        let mut s = self.head();
        s.push_str(p.level.as_str());
        if self.tagged {
            s.push('.');
            s.push_str(metric);
            for (k, v) in p.labels() {
                s.push(';');
                s.push_str(k);
                s.push('=');
                s.push_str(&tag_value(&v));
            }
            return s;
        }
        let mut parts = vec![p.source.as_str().to_string(), component(p.group)];
        if let Some(t) = p.topic {
            parts.push(component(t));
        }
        if let Some(n) = p.partition {
            parts.push(n.to_string());
        }
        parts.push(metric.to_string());
        for part in parts {
            s.push('.');
            s.push_str(&part);
        }
        s
    }
}

impl Exporter for Graphite {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        // One timestamp for every line of the run.
        let ts = snapshot.taken_at.timestamp();
        let mut buf = String::new();
        for p in points(snapshot) {
            for (name, value) in &p.values {
                buf.push_str(&format!("{} {} {}\n", self.series(&p, name), value, ts));
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
    fn graphite_snapshot() {
        insta::assert_snapshot!(render_to_string(&Graphite::default(), &sample::snapshot()));
    }

    #[test]
    fn graphite_with_trend_snapshot() {
        insta::assert_snapshot!(render_to_string(&Graphite::default(), &sample::snapshot_with_trend()));
    }

    #[test]
    fn graphite_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Graphite::default(), &sample::timed()));
    }

    #[test]
    fn graphite_tagged_snapshot() {
        let g = Graphite { prefix: "kafka.lag".into(), tagged: true };
        insta::assert_snapshot!(render_to_string(&g, &sample::snapshot()));
    }

    #[test]
    fn dotted_names_cannot_split_the_path() {
        assert_eq!(component("orders.v2"), "orders_v2");
        assert_eq!(component("a b,c=d\"é\n"), "a_b_c_d___");
        assert_eq!(component(""), "_");
        assert_eq!(tag_value("~a;b c"), "_a_b_c");
    }

    #[test]
    fn every_line_has_the_fixed_shape_and_one_timestamp() {
        let out = render_to_string(&Graphite::default(), &sample::snapshot());
        for line in out.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 3, "{line}");
            assert_eq!(f[2], "1700000000");
            let n = f[0].split('.').count() - 1;
            let level = f[0].split('.').nth(1).unwrap_or_default();
            let want = match level {
                "partition" => 6,
                "topic" => 5,
                "group" => 4,
                _ => panic!("bad level in {line}"),
            };
            assert_eq!(n, want, "{line}");
        }
    }
}
