//! Thresholds and the monitoring-plugin verdict (`--warn`, `--crit`, ...).
//!
//! Pure: a [`Snapshot`] and [`Thresholds`] in, a [`Verdict`] out. Offset lag
//! and time lag are judged per partition; total lag per group. A group takes
//! the worst of its partitions and its total; the run takes the worst group.
//! Severity order: OK < WARNING < UNKNOWN < CRITICAL, so an unmeasurable
//! partition is never hidden by a warning, and a crossed critical threshold is
//! never hidden by a partition that could not be measured.

use std::fmt;

use crate::lag::{Flag, GroupSummary, PartitionLag, Snapshot};

/// Monitoring-plugin states, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    #[default]
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Unknown => "UNKNOWN",
            Severity::Critical => "CRITICAL",
        }
    }

    /// The monitoring-plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn code(self) -> i32 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A warning and a critical level; a value at or above a level crosses it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Levels<T> {
    pub warn: Option<T>,
    pub crit: Option<T>,
}

impl<T: PartialOrd + Copy> Levels<T> {
    /// The severity of `value`, and the level it crossed.
    fn judge(&self, value: T) -> Option<(Severity, T)> {
        match (self.crit, self.warn) {
            (Some(c), _) if value >= c => Some((Severity::Critical, c)),
            (_, Some(w)) if value >= w => Some((Severity::Warning, w)),
            _ => None,
        }
    }

    pub fn is_set(&self) -> bool {
        self.warn.is_some() || self.crit.is_some()
    }

    /// Both given and warn above crit: a mistake worth an error.
    pub fn inverted(&self) -> bool {
        matches!((self.warn, self.crit), (Some(w), Some(c)) if w > c)
    }
}

/// Every threshold klag judges by. All unset: nothing is ever over.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Thresholds {
    /// Offset lag of each partition (`--warn`, `--crit`).
    pub lag: Levels<i64>,
    /// Total offset lag of each group (`--warn-total`, `--crit-total`).
    pub total_lag: Levels<i64>,
    /// Time lag of each partition in seconds (`--warn-seconds`, `--crit-seconds`).
    pub seconds: Levels<f64>,
}

impl Thresholds {
    pub fn any(&self) -> bool {
        self.lag.is_set() || self.total_lag.is_set() || self.seconds.is_set()
    }
}

/// Why something is not OK, e.g. `lag 1200 >= 1000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
}

/// The verdict on one partition (indexes match `Snapshot::partitions`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartitionVerdict {
    pub severity: Severity,
    pub findings: Vec<Finding>,
}

/// The verdict on one group (indexes match `Snapshot::groups`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupVerdict {
    pub severity: Severity,
    /// The group's own findings (total lag, a failed read) and the worst
    /// partition finding, most severe first.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    pub partitions: Vec<PartitionVerdict>,
    pub groups: Vec<GroupVerdict>,
    /// Worst group, and UNKNOWN when the run itself had errors.
    pub overall: Severity,
}

/// Judges a partition. Rows without a committed offset are not judged (a
/// member that has not committed yet is a fact, not a failure); rows that
/// could not be measured are UNKNOWN.
pub fn judge_partition(p: &PartitionLag, t: &Thresholds) -> PartitionVerdict {
    let mut findings = Vec::new();
    if p.error.is_some() || p.flags.iter().any(|f| matches!(f, Flag::Unavailable | Flag::BadData)) {
        findings.push(Finding {
            severity: Severity::Unknown,
            what: format!("not measured: {}", p.error.as_deref().unwrap_or("unavailable")),
        });
    }
    if let Some((severity, level)) = p.lag.and_then(|lag| t.lag.judge(lag)) {
        findings.push(Finding { severity, what: format!("lag {} >= {level}", p.lag.unwrap_or_default()) });
    }
    if t.seconds.is_set() && p.flags.contains(&Flag::NoTimestamp) {
        findings.push(Finding { severity: Severity::Unknown, what: "time lag unknown".into() });
    }
    if let Some(s) = p.lag_seconds {
        if let Some((severity, level)) = t.seconds.judge(s) {
            findings.push(Finding { severity, what: format!("lag {}s >= {}s", seconds(s), seconds(level)) });
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    PartitionVerdict { severity: findings.first().map_or(Severity::Ok, |f| f.severity), findings }
}

/// Seconds for messages: whole when whole, else to the millisecond.
fn seconds(s: f64) -> String {
    let ms = (s * 1000.0).round() / 1000.0;
    format!("{ms}")
}

/// Judges a group from its summary and its partitions' verdicts.
fn judge_group(g: &GroupSummary, t: &Thresholds, partitions: &[(&PartitionLag, &PartitionVerdict)]) -> GroupVerdict {
    let mut findings = Vec::new();
    if let Some(e) = &g.error {
        findings.push(Finding { severity: Severity::Unknown, what: format!("not read: {e}") });
    }
    if let Some((severity, level)) = g.total_lag.and_then(|lag| t.total_lag.judge(lag)) {
        findings.push(Finding { severity, what: format!("total lag {} >= {level}", g.total_lag.unwrap_or_default()) });
    }
    // The worst partition (by severity, then lag) speaks for all: how many
    // share its severity.
    if let Some((p, v)) =
        partitions.iter().max_by_key(|(p, v)| (v.severity, p.lag)).filter(|(_, v)| v.severity > Severity::Ok)
    {
        let same = partitions.iter().filter(|(_, o)| o.severity == v.severity).count();
        let first = v.findings.first().map(|f| f.what.as_str()).unwrap_or_default();
        let more = if same > 1 { format!(" and {} more", same - 1) } else { String::new() };
        findings.push(Finding { severity: v.severity, what: format!("{}/{} {first}{more}", p.topic, p.partition) });
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    GroupVerdict { severity: findings.first().map_or(Severity::Ok, |f| f.severity), findings }
}

/// Judges a whole snapshot.
pub fn judge(s: &Snapshot, t: &Thresholds) -> Verdict {
    let partitions: Vec<PartitionVerdict> = s.partitions.iter().map(|p| judge_partition(p, t)).collect();
    // Partitions are sorted by (source, group, ...): index each group's run.
    let mut runs: std::collections::HashMap<(crate::lag::Source, &str), Vec<usize>> = Default::default();
    for (i, p) in s.partitions.iter().enumerate() {
        runs.entry((p.source, p.group.as_str())).or_default().push(i);
    }
    let groups: Vec<GroupVerdict> = s
        .groups
        .iter()
        .map(|g| {
            let rows: Vec<(&PartitionLag, &PartitionVerdict)> = runs
                .get(&(g.source, g.group.as_str()))
                .map(|ix| ix.iter().filter_map(|&i| Some((s.partitions.get(i)?, partitions.get(i)?))).collect())
                .unwrap_or_default();
            judge_group(g, t, &rows)
        })
        .collect();
    let mut overall = groups.iter().map(|g| g.severity).max().unwrap_or_default();
    // A partition without a group summary still counts.
    overall = overall.max(partitions.iter().map(|p| p.severity).max().unwrap_or_default());
    if !s.errors.is_empty() {
        overall = overall.max(Severity::Unknown);
    }
    Verdict { partitions, groups, overall }
}

/// The state of a whole run, for the exit code and the nagios line: the
/// verdict, and at least UNKNOWN when nothing was measured or something
/// outside the snapshot failed (`outside_problems`: a delivery).
pub fn run_severity(s: &Snapshot, t: &Thresholds, outside_problems: bool) -> Severity {
    judge(s, t).run_severity(s, outside_problems)
}

impl Verdict {
    /// [`run_severity`] from a verdict already made on `s`.
    pub fn run_severity(&self, s: &Snapshot, outside_problems: bool) -> Severity {
        if outside_problems || s.coverage() == crate::lag::Coverage::Nothing {
            self.overall.max(Severity::Unknown)
        } else {
            self.overall
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::{build_snapshot, Committed, GroupInfo, LogOffsets, OffsetTable, Source};
    use chrono::DateTime;

    fn snapshot(lags: &[(&str, i32, Option<i64>)]) -> Snapshot {
        let mut offsets = OffsetTable::new();
        let mut rows = Vec::new();
        let mut groups = Vec::new();
        for &(group, partition, lag) in lags {
            offsets.insert(("t".into(), partition), LogOffsets { start: Some(0), end: Some(10_000), error: None });
            rows.push(Committed::new(Source::Kafka, group, "t", partition, lag.map(|l| 10_000 - l)));
            if !groups.iter().any(|g: &GroupInfo| g.group == group) {
                groups.push(GroupInfo {
                    source: Source::Kafka,
                    group: group.into(),
                    state: None,
                    members: None,
                    error: None,
                });
            }
        }
        build_snapshot(DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(), groups, rows, &offsets)
    }

    fn t(warn: i64, crit: i64) -> Thresholds {
        Thresholds { lag: Levels { warn: Some(warn), crit: Some(crit) }, ..Default::default() }
    }

    #[test]
    fn levels_are_inclusive_and_crit_wins() {
        let l = Levels { warn: Some(100), crit: Some(1000) };
        assert_eq!(l.judge(99), None);
        assert_eq!(l.judge(100), Some((Severity::Warning, 100)));
        assert_eq!(l.judge(1000), Some((Severity::Critical, 1000)));
        assert_eq!(Levels { warn: None, crit: Some(5) }.judge(4), None);
        assert!(Levels { warn: Some(5), crit: Some(4) }.inverted());
        assert!(!Levels { warn: Some(5), crit: None }.inverted());
    }

    #[test]
    fn severities_order_and_codes() {
        use Severity::*;
        assert!(Ok < Warning && Warning < Unknown && Unknown < Critical);
        assert_eq!([Ok, Warning, Critical, Unknown].map(Severity::code), [0, 1, 2, 3]);
    }

    #[test]
    fn partitions_and_groups_take_the_worst() {
        let s = snapshot(&[("a", 0, Some(5)), ("a", 1, Some(150)), ("b", 0, Some(1500)), ("b", 1, Some(2000))]);
        let v = judge(&s, &t(100, 1000));
        let sev: Vec<Severity> = v.partitions.iter().map(|p| p.severity).collect();
        assert_eq!(sev, [Severity::Ok, Severity::Warning, Severity::Critical, Severity::Critical]);
        assert_eq!(v.groups[0].severity, Severity::Warning);
        assert_eq!(v.groups[0].findings[0].what, "t/1 lag 150 >= 100");
        assert_eq!(v.groups[1].findings[0].what, "t/1 lag 2000 >= 1000 and 1 more");
        assert_eq!(v.overall, Severity::Critical);
    }

    #[test]
    fn total_lag_is_judged_per_group() {
        let s = snapshot(&[("a", 0, Some(60)), ("a", 1, Some(60))]);
        let th = Thresholds { total_lag: Levels { warn: Some(100), crit: None }, ..Default::default() };
        let v = judge(&s, &th);
        assert_eq!(v.partitions[0].severity, Severity::Ok);
        assert_eq!(
            v.groups[0].findings,
            [Finding { severity: Severity::Warning, what: "total lag 120 >= 100".into() }]
        );
    }

    #[test]
    fn no_commit_is_not_judged_and_unmeasured_is_unknown() {
        let mut s = snapshot(&[("a", 0, None), ("a", 1, Some(1))]);
        assert_eq!(judge(&s, &t(1, 2)).partitions[0].severity, Severity::Ok);
        s.partitions[1].lag = None;
        s.partitions[1].error = Some("leader not available".into());
        let v = judge(&s, &t(1, 2));
        assert_eq!(v.partitions[1].severity, Severity::Unknown);
        assert_eq!(v.overall, Severity::Unknown);
        assert_eq!(v.groups[0].findings[0].what, "t/1 not measured: leader not available");
    }

    #[test]
    fn time_lag_is_judged_in_seconds() {
        let mut s = snapshot(&[("a", 0, Some(1)), ("a", 1, Some(1)), ("a", 2, Some(1))]);
        s.partitions[0].lag_seconds = Some(59.5);
        s.partitions[1].lag_seconds = Some(600.25);
        s.partitions[2].flags.push(Flag::NoTimestamp);
        let th = Thresholds { seconds: Levels { warn: Some(60.0), crit: Some(600.0) }, ..Default::default() };
        let v = judge(&s, &th);
        assert_eq!(v.partitions[2].findings[0].what, "time lag unknown");
        assert_eq!(judge(&s, &Thresholds::default()).partitions[2].severity, Severity::Ok);
        assert_eq!(v.partitions[0].severity, Severity::Ok);
        assert_eq!(v.partitions[1].findings[0].what, "lag 600.25s >= 600s");
        assert_eq!(v.overall, Severity::Critical);
    }

    #[test]
    fn run_errors_make_an_ok_run_unknown_but_not_a_critical_one() {
        let mut s = snapshot(&[("a", 0, Some(5))]);
        s.errors.push("broker down".into());
        assert_eq!(judge(&s, &t(100, 1000)).overall, Severity::Unknown);
        assert_eq!(judge(&s, &t(1, 2)).overall, Severity::Critical);
    }
}
