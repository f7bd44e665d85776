//! The default terminal output: aligned per-partition rows, then a per-group
//! summary, then notes for anything flagged. With `--state`, partitions and
//! groups end with a STATUS column; with `--watch` on a terminal, a TREND
//! column of lag sparklines.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Padding, Style};

use super::Exporter;
use crate::judge::{judge, Severity, Thresholds, Verdict};
use crate::lag::{Flag, GroupSummary, PartitionLag, Snapshot, Source};
use crate::trend::{Status, MIN_SAMPLES};
use crate::watch::LagHistory;

/// The table. With `color`, rows are coloured by their severity under
/// `thresholds` (red critical, magenta unknown, yellow warning) and headers
/// are bold; `main.rs` turns it on only for a terminal without NO_COLOR.
#[derive(Debug, Clone, Default)]
pub struct Table<'a> {
    pub color: bool,
    pub thresholds: Thresholds,
    /// `--watch` on a terminal: a TREND column of lag sparklines.
    pub trends: Option<&'a LagHistory>,
}

const DASH: &str = "-";

impl Exporter for Table<'_> {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let verdict = if self.color { judge(snapshot, &self.thresholds) } else { Verdict::default() };
        let severity = |i: usize| verdict.partitions.get(i).map_or(Severity::Ok, |v| v.severity);
        let (storm, consumers): (Vec<_>, Vec<_>) = snapshot
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p, severity(i)))
            .partition(|(p, _)| matches!(p.source, Source::Storm | Source::Trident));
        let judged = snapshot.partitions.iter().any(|p| p.trend.is_some());
        let timed = snapshot.time_lag;
        let mut sections = Vec::new();
        if !consumers.is_empty() {
            sections.push(self.partitions(consumer_rows, &consumers, judged, timed));
        }
        if !storm.is_empty() {
            let rows: Vec<&PartitionLag> = storm.iter().map(|(p, _)| *p).collect();
            sections.push(self.partitions(storm_rows, &storm, judged, timed) + &storm_totals(&rows));
        }
        if !snapshot.groups.is_empty() {
            let severities: Vec<Severity> = (0..snapshot.groups.len())
                .map(|i| verdict.groups.get(i).map_or(Severity::Ok, |g| g.severity))
                .collect();
            let (mut header, mut body, right) = group_rows(&snapshot.groups, judged, timed);
            if let Some(h) = self.trends {
                header.push("TREND");
                for (row, g) in body.iter_mut().zip(&snapshot.groups) {
                    row.push(h.group(&(g.source, g.group.clone())));
                }
            }
            sections.push(self.paint(layout(&header, body, &right), &severities));
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

/// Header, rows and numeric columns of a section.
type Section = (Vec<&'static str>, Vec<Vec<String>>, Vec<usize>);

impl Table<'_> {
    /// Lays out a partition section: a TIME-LAG column when timed (by the
    /// section), a STATUS column when judged, a TREND
    /// column when watching, rows coloured by severity.
    fn partitions(
        &self,
        section: fn(&[&PartitionLag], bool) -> Section,
        rows: &[(&PartitionLag, Severity)],
        judged: bool,
        timed: bool,
    ) -> String {
        let partitions: Vec<&PartitionLag> = rows.iter().map(|(p, _)| *p).collect();
        let (mut header, mut body, right) = section(&partitions, timed);
        if judged {
            header.push("STATUS");
            for (row, p) in body.iter_mut().zip(&partitions) {
                row.push(status_cell(p.trend.as_ref().and_then(|t| t.status)));
            }
        }
        if let Some(h) = self.trends {
            header.push("TREND");
            for (row, p) in body.iter_mut().zip(&partitions) {
                row.push(h.partition(&(p.source, p.group.clone(), p.topic.clone(), p.partition)));
            }
        }
        let severities: Vec<Severity> = rows.iter().map(|(_, s)| *s).collect();
        self.paint(layout(&header, body, &right), &severities)
    }

    fn paint(&self, text: String, rows: &[Severity]) -> String {
        if self.color {
            paint(&text, rows)
        } else {
            text
        }
    }
}

/// Bold header (the first line), then each row's line in its severity's
/// colour. Lines past the rows stay plain.
fn paint(text: &str, rows: &[Severity]) -> String {
    let mut out = String::with_capacity(text.len() + 16 * rows.len());
    for (i, line) in text.lines().enumerate() {
        let code = match i.checked_sub(1).map(|r| rows.get(r)) {
            None => Some("1"),
            Some(Some(Severity::Critical)) => Some("31"),
            Some(Some(Severity::Unknown)) => Some("35"),
            Some(Some(Severity::Warning)) => Some("33"),
            Some(_) => None,
        };
        match code {
            Some(c) if !line.is_empty() => out.push_str(&format!("\x1b[{c}m{line}\x1b[0m\n")),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn status_cell(status: Option<Status>) -> String {
    status.map_or_else(|| DASH.to_string(), |s| s.as_str().to_string())
}

fn consumer_rows(rows: &[&PartitionLag], timed: bool) -> Section {
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
    (header_with(&header, 7, timed, "TIME-LAG"), body, right_with(&[2, 3, 4, 5, 6], 7, timed))
}

/// The Storm view keeps stormkafkamon's columns: depth is what the broker
/// holds (latest - earliest), lag is what the spout has yet to read.
fn storm_rows(rows: &[&PartitionLag], timed: bool) -> Section {
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
    (header_with(&header, 10, timed, "TIME-LAG"), body, right_with(&[4, 5, 6, 7, 8, 9], 10, timed))
}

/// The summary line under the Storm section.
fn storm_totals(rows: &[&PartitionLag]) -> String {
    let mut brokers: Vec<&str> = rows.iter().filter_map(|p| p.broker()).collect();
    brokers.sort_unstable();
    brokers.dedup();
    let depth =
        rows.iter().filter_map(|p| Some(p.log_end?.saturating_sub(p.log_start?))).fold(0i64, i64::saturating_add);
    let lag = rows.iter().filter_map(|p| p.lag).fold(0i64, i64::saturating_add);
    format!(
        "\nBrokers: {}  Partitions: {}  Total depth: {} messages  Total lag: {} messages\n",
        brokers.len(),
        rows.len(),
        depth,
        lag
    )
}

fn group_rows(groups: &[GroupSummary], judged: bool, timed: bool) -> Section {
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
            let mut row = with_time(row, 7, timed, || age(g.max_lag_seconds));
            if judged {
                row.push(status_cell(g.trend.as_ref().and_then(|t| t.status)));
            }
            row
        })
        .collect();
    let header = ["GROUP", "SOURCE", "STATE", "MEMBERS", "PARTITIONS", "TOTAL-LAG", "MAX-LAG"];
    let mut header = header_with(&header, 7, timed, "MAX-TIME-LAG");
    if judged {
        header.push("STATUS");
    }
    (header, body, right_with(&[3, 4, 5, 6], 7, timed))
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
    let collecting = snapshot
        .partitions
        .iter()
        .filter(|p| p.measured() && p.trend.as_ref().is_some_and(|t| t.status.is_none()))
        .count();
    if collecting > 0 {
        lines.push(format!(
            "status: {collecting} partition(s) have fewer than {MIN_SAMPLES} samples in the --state file yet: STATUS is -\n"
        ));
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
        insta::assert_snapshot!(render_to_string(&Table::default(), &sample::snapshot()));
    }

    #[test]
    fn table_with_status_snapshot() {
        insta::assert_snapshot!(render_to_string(&Table::default(), &sample::snapshot_with_trend()));
    }

    #[test]
    fn a_first_state_run_explains_the_missing_status() {
        let mut s = sample::snapshot();
        for p in &mut s.partitions {
            p.trend = Some(Box::new(crate::trend::Trend { samples: 1, ..Default::default() }));
        }
        crate::trend::annotate_groups(&mut s);
        let out = render_to_string(&Table::default(), &s);
        assert!(out.contains("status: 4 partition(s) have fewer than 2 samples in the --state file yet"), "{out}");
        assert!(out.contains("CLIENT-ID           STATUS\n"), "{out}");
        assert!(!render_to_string(&Table::default(), &sample::snapshot()).contains("STATUS"));
    }

    #[test]
    fn colour_follows_severity_and_is_off_by_default() {
        let s = sample::snapshot();
        assert!(!render_to_string(&Table::default(), &s).contains('\x1b'));
        let thresholds =
            Thresholds { lag: crate::judge::Levels { warn: Some(5), crit: Some(20) }, ..Default::default() };
        let out = render_to_string(&Table { color: true, thresholds, trends: None }, &s);
        assert!(out.starts_with("\x1b[1mGROUP"), "{out}");
        // billing orders/0 lags 10 (a warning), audit orders/0 97 (critical).
        let row = |group: &str, lag: &str| out.lines().find(|l| l.contains(group) && l.contains(lag)).unwrap_or("");
        assert!(row("billing", " 10 ").starts_with("\x1b[33m") && row("billing", " 10 ").ends_with("\x1b[0m"), "{out}");
        assert!(row("audit", " 97 ").starts_with("\x1b[31m"), "{out}");
        // Same text once the colour codes are taken out.
        let plain = out.replace("\x1b[1m", "").replace("\x1b[31m", "").replace("\x1b[33m", "");
        let plain = plain.replace("\x1b[35m", "").replace("\x1b[0m", "");
        assert_eq!(plain, render_to_string(&Table::default(), &s));
    }

    #[test]
    fn watch_adds_a_trend_column_to_every_section() {
        let s = sample::snapshot();
        let mut h = LagHistory::default();
        h.record(&s);
        h.record(&s);
        let out = render_to_string(&Table { trends: Some(&h), ..Table::default() }, &s);
        let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("GROUP") || l.starts_with("TOPOLOGY")).collect();
        assert_eq!(headers.len(), 3, "{out}");
        assert!(headers.iter().all(|h| h.ends_with("TREND")), "{out}");
        // billing orders/0: lag 10 twice; billing orders/2: unknown twice.
        assert!(out.lines().any(|l| l.starts_with("billing  orders             0") && l.ends_with("██")), "{out}");
    }

    #[test]
    fn table_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Table::default(), &sample::timed()));
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
        let out = render_to_string(&Table::default(), &crate::lag::tests::fuzz_overflowing_lags());
        assert!(out.contains("Total depth: 9223372036854775807 messages"), "{out}");
        assert!(out.contains("Total lag: 9223372036854775807 messages"), "{out}");
    }
}
