//! `--format nagios`: the monitoring-plugin output. One status line with
//! performance data, then one line per partition that is not OK:
//!
//! ```text
//! KLAG CRITICAL - 3 groups: 1 critical, 1 warning; billing: orders/3 lag 1200 >= 1000 | 'billing lag'=1300;;;0 ...
//! CRITICAL billing orders/3: lag 1200 >= 1000
//! ```
//!
//! Perf data per group: `lag` (total, judged by --warn-total/--crit-total),
//! `max_lag` (judged by --warn/--crit) and, with --time-lag, `max_lag_seconds`.
//! Labels are the group id (`source:group` for other sources than Kafka) with
//! `'`, `=`, `|` and control characters replaced by `_`.

use std::io::{self, Write};

use super::Exporter;
use crate::judge::{judge, run_severity, Levels, Severity, Thresholds};
use crate::lag::{GroupSummary, Snapshot, Source};

/// Non-OK groups named on the status line before "and N more".
const GROUPS_NAMED: usize = 5;
/// Partition lines after the status line before "and N more".
const PARTITION_LINES: usize = 100;

pub struct Nagios {
    pub thresholds: Thresholds,
    /// Problems outside the snapshot that make the run UNKNOWN (a failed delivery).
    pub problems: Vec<String>,
}

impl Nagios {
    /// The run's state: the verdict, made UNKNOWN by outside problems.
    pub fn severity(&self, snapshot: &Snapshot) -> Severity {
        run_severity(snapshot, &self.thresholds, !self.problems.is_empty())
    }
}

/// Text outside the perf data: no line breaks, no `|` (which starts it).
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() || c == '|' { '_' } else { c }).collect()
}

/// A perf data label, also without `'` and `=`.
fn label(g: &GroupSummary) -> String {
    let group: String = clean(&g.group).chars().map(|c| if matches!(c, '\'' | '=') { '_' } else { c }).collect();
    match g.source {
        Source::Kafka => group,
        other => format!("{}:{group}", other.as_str()),
    }
}

fn levels<T: std::fmt::Display + Copy>(l: &Levels<T>) -> String {
    let show = |v: Option<T>| v.map(|v| v.to_string()).unwrap_or_default();
    format!("{};{}", show(l.warn), show(l.crit))
}

fn perf<T: std::fmt::Display>(label: &str, name: &str, value: Option<T>, unit: &str, levels: &str) -> String {
    let value = value.map_or_else(|| "U".to_string(), |v| format!("{v}{unit}"));
    format!("'{label} {name}'={value};{levels};0")
}

impl Exporter for Nagios {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let t = &self.thresholds;
        let verdict = judge(snapshot, t);
        let severity = verdict.run_severity(snapshot, !self.problems.is_empty());
        let mut summary = Vec::new();
        let n = snapshot.groups.len();
        let count = |s: Severity| verdict.groups.iter().filter(|g| g.severity == s).count();
        let counts: Vec<String> = [Severity::Critical, Severity::Unknown, Severity::Warning]
            .into_iter()
            .filter(|&s| count(s) > 0)
            .map(|s| format!("{} {}", count(s), s.as_str().to_ascii_lowercase()))
            .collect();
        let plural = if n == 1 { "" } else { "s" };
        summary.push(match (n, counts.is_empty()) {
            (0, _) => "no consumer groups found".to_string(),
            (_, true) => format!("{n} group{plural} OK"),
            (_, false) => format!("{n} group{plural}: {}", counts.join(", ")),
        });
        let mut bad: Vec<(usize, Severity)> = verdict
            .groups
            .iter()
            .enumerate()
            .filter(|(_, v)| v.severity > Severity::Ok)
            .map(|(i, v)| (i, v.severity))
            .collect();
        bad.sort_by_key(|b| std::cmp::Reverse(b.1));
        let mut named: Vec<String> = bad
            .iter()
            .take(GROUPS_NAMED)
            .filter_map(|&(i, _)| {
                let g = snapshot.groups.get(i)?;
                let why = verdict.groups.get(i)?.findings.first()?;
                Some(format!("{}: {}", label(g), clean(&why.what)))
            })
            .collect();
        if bad.len() > GROUPS_NAMED {
            named.push(format!("and {} more", bad.len() - GROUPS_NAMED));
        }
        if !named.is_empty() {
            summary.push(named.join(", "));
        }
        let errors: Vec<&String> = snapshot.errors.iter().chain(&self.problems).collect();
        if let Some(first) = errors.first() {
            let more = if errors.len() > 1 { format!(" (and {} more)", errors.len() - 1) } else { String::new() };
            summary.push(format!("{}{more}", clean(first)));
        }
        let mut perfdata = Vec::new();
        for g in &snapshot.groups {
            let l = label(g);
            perfdata.push(perf(&l, "lag", g.total_lag, "", &levels(&t.total_lag)));
            perfdata.push(perf(&l, "max_lag", g.max_lag, "", &levels(&t.lag)));
            if snapshot.time_lag {
                perfdata.push(perf(&l, "max_lag_seconds", g.max_lag_seconds, "s", &levels(&t.seconds)));
            }
        }
        let mut text = format!("KLAG {severity} - {}", summary.join("; "));
        if !perfdata.is_empty() {
            text.push_str(" | ");
            text.push_str(&perfdata.join(" "));
        }
        text.push('\n');
        // Worst first; in snapshot order within a severity.
        let mut over: Vec<_> =
            snapshot.partitions.iter().zip(&verdict.partitions).filter(|(_, v)| v.severity > Severity::Ok).collect();
        over.sort_by_key(|(_, v)| std::cmp::Reverse(v.severity));
        let mut lines = over.into_iter().map(|(p, v)| {
            let what: Vec<&str> = v.findings.iter().map(|f| f.what.as_str()).collect();
            format!(
                "{} {} {}/{}: {}\n",
                v.severity,
                clean(&p.group),
                clean(&p.topic),
                p.partition,
                clean(&what.join(", "))
            )
        });
        for line in lines.by_ref().take(PARTITION_LINES) {
            text.push_str(&line);
        }
        let rest = lines.count();
        if rest > 0 {
            text.push_str(&format!("... and {rest} more partitions\n"));
        }
        out.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render_to_string, sample};

    fn nagios(warn: i64, crit: i64) -> Nagios {
        Nagios {
            thresholds: Thresholds { lag: Levels { warn: Some(warn), crit: Some(crit) }, ..Default::default() },
            problems: vec![],
        }
    }

    #[test]
    fn nagios_snapshot() {
        insta::assert_snapshot!(render_to_string(&nagios(5, 8), &sample::snapshot()));
    }

    #[test]
    fn ok_when_nothing_is_over_and_names_are_cleaned() {
        let n = Nagios { thresholds: Thresholds::default(), problems: vec![] };
        let mut s = sample::snapshot();
        s.errors.clear();
        for p in &mut s.partitions {
            p.error = None;
            p.flags.clear();
        }
        let out = render_to_string(&n, &s);
        assert!(out.starts_with(&format!("KLAG OK - {} groups OK | ", s.groups.len())), "{out}");
        assert_eq!(clean("a'b=c|d\ne"), "a'b=c_d_e");
        let mut g = s.groups[0].clone();
        g.group = "a'b=c|d\ne".into();
        assert_eq!(label(&g), "a_b_c_d_e");
    }

    #[test]
    fn a_failed_delivery_is_unknown() {
        let mut n = nagios(1_000_000, 2_000_000);
        n.problems.push("delivery to graphite://x:2003 failed".into());
        let mut s = sample::snapshot();
        s.errors.clear();
        for p in &mut s.partitions {
            p.error = None;
            p.flags.clear();
        }
        assert_eq!(n.severity(&s), Severity::Unknown);
        assert!(render_to_string(&n, &s).starts_with("KLAG UNKNOWN - "));
    }
}
