//! `--watch`: measure again every interval until Ctrl-C (or SIGTERM).
//!
//! On a terminal with the table format, the screen is redrawn in place (in
//! the alternate screen, restored on exit) with a TREND column: a sparkline
//! of each partition's and group's lag over the last refreshes. Elsewhere
//! each snapshot is simply written after the previous one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lag::{Snapshot, Source};

/// Refreshes a sparkline spans.
pub const TREND_POINTS: usize = 24;

/// A partition: (source, group, topic, partition).
pub type PartitionKey = (Source, String, String, i32);
/// A group: (source, group).
pub type GroupKey = (Source, String);

/// Lag over the last [`TREND_POINTS`] refreshes, per partition and per group;
/// `None` where the lag was unknown.
#[derive(Debug, Default)]
pub struct LagHistory {
    partitions: HashMap<PartitionKey, VecDeque<Option<i64>>>,
    groups: HashMap<GroupKey, VecDeque<Option<i64>>>,
}

fn push(series: &mut VecDeque<Option<i64>>, v: Option<i64>) {
    if series.len() == TREND_POINTS {
        series.pop_front();
    }
    series.push_back(v);
}

impl LagHistory {
    /// Adds a refresh. Partitions and groups gone from the snapshot are
    /// forgotten, so the history stays as large as the cluster.
    pub fn record(&mut self, s: &Snapshot) {
        let mut partitions = HashMap::with_capacity(s.partitions.len());
        for p in &s.partitions {
            let key = (p.source, p.group.clone(), p.topic.clone(), p.partition);
            let mut series = self.partitions.remove(&key).unwrap_or_default();
            push(&mut series, p.lag);
            partitions.insert(key, series);
        }
        let mut groups = HashMap::with_capacity(s.groups.len());
        for g in &s.groups {
            let key = (g.source, g.group.clone());
            let mut series = self.groups.remove(&key).unwrap_or_default();
            push(&mut series, g.total_lag);
            groups.insert(key, series);
        }
        self.partitions = partitions;
        self.groups = groups;
    }

    pub fn partition(&self, key: &PartitionKey) -> String {
        self.partitions.get(key).map(sparkline).unwrap_or_default()
    }

    pub fn group(&self, key: &GroupKey) -> String {
        self.groups.get(key).map(sparkline).unwrap_or_default()
    }
}

/// `▁▂▃▄▅▆▇█` scaled from 0 to the series' largest value; a space where
/// the lag was unknown.
pub fn sparkline(series: &VecDeque<Option<i64>>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = series.iter().flatten().copied().max().unwrap_or(0).max(0);
    series
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if max == 0 => BARS[0],
            Some(v) => {
                let level = (i128::from((*v).max(0)) * 7 + i128::from(max) / 2) / i128::from(max);
                BARS[usize::try_from(level).unwrap_or(7).min(7)]
            }
        })
        .collect()
}

/// Set by SIGINT or SIGTERM.
pub fn stop_flag() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// Sleeps until `until` in short steps; true if asked to stop meanwhile.
pub fn sleep_until(stop: &AtomicBool, until: Instant) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Terminal control for the live screen.
pub mod screen {
    /// Alternate screen, cursor hidden.
    pub const ENTER: &str = "\x1b[?1049h\x1b[?25l";
    /// Cursor shown, main screen back as it was.
    pub const LEAVE: &str = "\x1b[?25h\x1b[?1049l";
    /// Cursor home, screen cleared.
    pub const CLEAR: &str = "\x1b[H\x1b[2J";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::{build_snapshot, Committed, GroupInfo, LogOffsets, OffsetTable};
    use chrono::DateTime;

    fn series(v: &[Option<i64>]) -> VecDeque<Option<i64>> {
        v.iter().copied().collect()
    }

    #[test]
    fn sparklines_scale_to_the_largest_lag() {
        assert_eq!(sparkline(&series(&[Some(0), Some(7), Some(14), None, Some(3)])), "▁▅█ ▃");
        assert_eq!(sparkline(&series(&[Some(0), Some(0)])), "▁▁");
        assert_eq!(sparkline(&series(&[Some(i64::MAX), Some(0)])), "█▁");
        assert_eq!(sparkline(&series(&[None])), " ");
        assert_eq!(sparkline(&series(&[])), "");
    }

    fn snapshot(lag: i64, with_b: bool) -> Snapshot {
        let mut offsets = OffsetTable::new();
        offsets.insert(("t".into(), 0), LogOffsets { start: Some(0), end: Some(100), error: None });
        let mut rows = vec![Committed::new(Source::Kafka, "a", "t", 0, Some(100 - lag))];
        let mut groups =
            vec![GroupInfo { source: Source::Kafka, group: "a".into(), state: None, members: None, error: None }];
        if with_b {
            rows.push(Committed::new(Source::Kafka, "b", "t", 0, Some(50)));
            groups.push(GroupInfo {
                source: Source::Kafka,
                group: "b".into(),
                state: None,
                members: None,
                error: None,
            });
        }
        build_snapshot(DateTime::from_timestamp(0, 0).unwrap_or_default(), groups, rows, &offsets)
    }

    #[test]
    fn history_is_bounded_and_forgets_what_is_gone() {
        let mut h = LagHistory::default();
        for lag in 0..(TREND_POINTS as i64 + 5) {
            h.record(&snapshot(lag, lag == 0));
        }
        let key = (Source::Kafka, "a".to_string(), "t".to_string(), 0);
        assert_eq!(h.partition(&key).chars().count(), TREND_POINTS);
        assert!(h.partition(&key).ends_with('█'));
        assert_eq!(h.group(&(Source::Kafka, "a".into())).chars().count(), TREND_POINTS);
        assert_eq!(h.group(&(Source::Kafka, "b".into())), "");
        assert_eq!(h.partitions.len(), 1);
    }

    #[test]
    fn a_stop_request_ends_the_sleep_at_once() {
        let stop = AtomicBool::new(true);
        let start = Instant::now();
        assert!(sleep_until(&stop, Instant::now() + Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(!sleep_until(&AtomicBool::new(false), Instant::now() + Duration::from_millis(20)));
    }
}
