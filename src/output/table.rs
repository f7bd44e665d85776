//! The default terminal output: aligned per-partition rows, then a per-group
//! summary, then notes for anything flagged.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Padding, Style};

use super::Exporter;
use crate::lag::{Flag, GroupSummary, PartitionLag, Snapshot, Source};

pub struct Table;

const DASH: &str = "-";

impl Exporter for Table {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let (storm, consumers): (Vec<&PartitionLag>, Vec<&PartitionLag>) =
            snapshot.partitions.iter().partition(|p| matches!(p.source, Source::Storm | Source::Trident));
        let mut sections = Vec::new();
        let timed = snapshot.time_lag;
        if !consumers.is_empty() {
            sections.push(consumer_rows(&consumers, timed));
        }
        if !storm.is_empty() {
            sections.push(storm_rows(&storm, timed));
        }
        if !snapshot.groups.is_empty() {
            sections.push(group_rows(&snapshot.groups, timed));
        }
        if sections.is_empty() {
            sections.push("No consumer groups found.\n".to_string());
        }
        let notes = notes(snapshot);
        if !notes.is_empty() {
            sections.push(notes);
        }
        out.write_all(sections.join("\n").as_bytes())
    }
}

fn num(v: Option<i64>) -> String {
    v.map_or_else(|| DASH.to_string(), |n| n.to_string())
}

/// A time lag for people: `0s`, `12.3s`, `2m05s`, `1h02m03s`, `3d04h05m`.
fn age(v: Option<f64>) -> String {
    let Some(s) = v.filter(|s| s.is_finite() && *s >= 0.0) else {
        return DASH.to_string();
    };
    let tenths = (s * 10.0).round() / 10.0;
    if tenths < 60.0 {
        return if tenths.fract() == 0.0 { format!("{tenths:.0}s") } else { format!("{tenths:.1}s") };
    }
    // Whole seconds from here on; saturating beyond u64 (never in practice).
    let t = s.round() as u64;
    let (d, h, m, sec) = (t / 86_400, t / 3_600 % 24, t / 60 % 60, t % 60);
    match (d, h) {
        (0, 0) => format!("{m}m{sec:02}s"),
        (0, _) => format!("{h}h{m:02}m{sec:02}s"),
        _ => format!("{d}d{h:02}h{m:02}m"),
    }
}

/// Inserts `value` at column `at` of a row when the time lag is shown.
fn with_time(mut row: Vec<String>, at: usize, timed: bool, value: impl FnOnce() -> String) -> Vec<String> {
    if timed {
        row.insert(at, value());
    }
    row
}

/// The header, with `name` inserted at `at` when the time lag is shown.
fn header_with<'a>(header: &[&'a str], at: usize, timed: bool, name: &'a str) -> Vec<&'a str> {
    let mut h = header.to_vec();
    if timed {
        h.insert(at, name);
    }
    h
}

/// The right-aligned columns, one more after `at` when the time lag is shown.
fn right_with(right: &[usize], at: usize, timed: bool) -> Vec<usize> {
    let mut r = right.to_vec();
    if timed {
        r.push(at);
    }
    r
}

fn text(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => printable(s),
        _ => DASH.to_string(),
    }
}

/// Names come from outside: keep control characters from moving the cursor.
pub(crate) fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Lays out rows with two spaces between columns; `right` lists numeric columns.
pub(crate) fn layout(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::empty()).with(Padding::new(0, 2, 0, 0));
    for &c in right {
        t.modify(Columns::one(c), Alignment::right());
    }
    let mut s: String = t.to_string().lines().map(|l| format!("{}\n", l.trim_end())).collect();
    if s.is_empty() {
        s.push('\n');
    }
    s
}

fn consumer_rows(rows: &[&PartitionLag], timed: bool) -> String {
    let body = rows
        .iter()
        .map(|p| {
            let row = vec![
                printable(&p.group),
                printable(&p.topic),
                p.partition.to_string(),
                num(p.committed),
                num(p.log_start),
                num(p.log_end),
                num(p.lag),
                text(p.consumer_id.as_deref()),
                text(p.host.as_deref()),
                text(p.client_id.as_deref()),
            ];
            with_time(row, 7, timed, || age(p.lag_seconds))
        })
        .collect();
    let header =
        ["GROUP", "TOPIC", "PARTITION", "COMMITTED", "LOG-START", "LOG-END", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"];
    layout(&header_with(&header, 7, timed, "TIME-LAG"), body, &right_with(&[2, 3, 4, 5, 6], 7, timed))
}

/// The Storm view keeps stormkafkamon's columns: depth is what the broker
/// holds (latest - earliest), lag is what the spout has yet to read.
fn storm_rows(rows: &[&PartitionLag], timed: bool) -> String {
    let body = rows
        .iter()
        .map(|p| {
            let depth = match (p.log_start, p.log_end) {
                (Some(s), Some(e)) => Some(e.saturating_sub(s)),
                _ => None,
            };
            let row = vec![
                text(p.topology()),
                printable(&p.group),
                text(p.broker()),
                printable(&p.topic),
                p.partition.to_string(),
                num(p.log_start),
                num(p.log_end),
                num(depth),
                num(p.committed),
                num(p.lag),
            ];
            with_time(row, 10, timed, || age(p.lag_seconds))
        })
        .collect();
    let header = ["TOPOLOGY", "SPOUT", "BROKER", "TOPIC", "PARTITION", "EARLIEST", "LATEST", "DEPTH", "CURRENT", "LAG"];
    let mut s = layout(&header_with(&header, 10, timed, "TIME-LAG"), body, &right_with(&[4, 5, 6, 7, 8, 9], 10, timed));
    let mut brokers: Vec<&str> = rows.iter().filter_map(|p| p.broker()).collect();
    brokers.sort_unstable();
    brokers.dedup();
    let depth =
        rows.iter().filter_map(|p| Some(p.log_end?.saturating_sub(p.log_start?))).fold(0i64, i64::saturating_add);
    let lag = rows.iter().filter_map(|p| p.lag).fold(0i64, i64::saturating_add);
    s.push_str(&format!(
        "\nBrokers: {}  Partitions: {}  Total depth: {} messages  Total lag: {} messages\n",
        brokers.len(),
        rows.len(),
        depth,
        lag
    ));
    s
}

fn group_rows(groups: &[GroupSummary], timed: bool) -> String {
    let body = groups
        .iter()
        .map(|g| {
            let row = vec![
                printable(&g.group),
                g.source.as_str().to_string(),
                text(g.state.as_deref()),
                g.members.map_or_else(|| DASH.to_string(), |m| m.to_string()),
                g.partitions.to_string(),
                num(g.total_lag),
                num(g.max_lag),
            ];
            with_time(row, 7, timed, || age(g.max_lag_seconds))
        })
        .collect();
    let header = ["GROUP", "SOURCE", "STATE", "MEMBERS", "PARTITIONS", "TOTAL-LAG", "MAX-LAG"];
    layout(&header_with(&header, 7, timed, "MAX-TIME-LAG"), body, &right_with(&[3, 4, 5, 6], 7, timed))
}

/// One line per flagged row or failed group, so nothing odd goes unexplained.
fn notes(snapshot: &Snapshot) -> String {
    let mut lines = Vec::new();
    for p in &snapshot.partitions {
        let place = format!("{} {}/{}", printable(&p.group), printable(&p.topic), p.partition);
        for f in &p.flags {
            let why = match f {
                Flag::NoCommit => "no committed offset".to_string(),
                Flag::OutOfRange => format!(
                    "committed offset {} is below log start {}: messages were lost to retention",
                    num(p.committed),
                    num(p.log_start)
                ),
                Flag::AheadOfEnd => {
                    format!("committed offset {} is beyond log end {}", num(p.committed), num(p.log_end))
                }
                Flag::Unavailable | Flag::BadData => printable(p.error.as_deref().unwrap_or("unavailable")),
                Flag::NoTimestamp => format!(
                    "time lag unknown: the record at offset {} could not be read (see the warnings)",
                    num(p.committed.max(p.log_start))
                ),
            };
            lines.push(format!("{place}: {why}\n"));
        }
    }
    for g in &snapshot.groups {
        if let Some(e) = &g.error {
            lines.push(format!("{}: {}\n", printable(&g.group), printable(e)));
        }
    }
    for e in &snapshot.errors {
        lines.push(format!("{}\n", printable(e)));
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("NOTES\n{}", lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render_to_string, sample};

    #[test]
    fn table_snapshot() {
        insta::assert_snapshot!(render_to_string(&Table, &sample::snapshot()));
    }

    #[test]
    fn table_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Table, &sample::timed()));
    }

    #[test]
    fn ages_read_like_durations() {
        assert_eq!(age(None), "-");
        assert_eq!(age(Some(0.0)), "0s");
        assert_eq!(age(Some(12.345)), "12.3s");
        assert_eq!(age(Some(59.96)), "1m00s");
        assert_eq!(age(Some(125.4)), "2m05s");
        assert_eq!(age(Some(3723.0)), "1h02m03s");
        assert_eq!(age(Some(273_900.0)), "3d04h05m");
        assert_eq!(age(Some(f64::NAN)), "-");
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(printable("a\x1b[2Jb\n"), "a?[2Jb?");
    }

    /// Found by the render_formats fuzz target: depth and lag totals of the
    /// Storm table overflowed; they saturate.
    #[test]
    fn fuzz_storm_totals_saturate() {
        let out = render_to_string(&Table, &crate::lag::tests::fuzz_overflowing_lags());
        assert!(out.contains("Total depth: 9223372036854775807 messages"), "{out}");
        assert!(out.contains("Total lag: 9223372036854775807 messages"), "{out}");
    }
}
