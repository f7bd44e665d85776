//! `--format csv`: one row per partition under a header row, for spreadsheets.
//!
//! Columns: `taken_at,source,group,topic,partition`, then every partition
//! metric (`lag,committed,log_start,log_end,lag_seconds,consume_rate,
//! produce_rate,catch_up_seconds,status_code`, see `metrics::PARTITION_METRICS`;
//! `lag_seconds` is empty without `--time-lag`, the rest without `--state`), then
//! `consumer_id,host,client_id,topology,flags,error,status` (`status`: the
//! Burrow status name with `--state`). Unknown values are
//! empty cells; `flags` are joined with `|`. Quoting per RFC 4180: a cell with
//! a comma, double quote, CR or LF is enclosed in double quotes, with quotes
//! doubled. Lines end with CRLF, as RFC 4180 says.

use std::io::{self, Write};

use super::metrics::PARTITION_METRICS;
use super::Exporter;
use crate::lag::Snapshot;

pub struct Csv {
    /// The header row; `--watch` writes it only before the first snapshot.
    pub header: bool,
}

impl Default for Csv {
    fn default() -> Self {
        Csv { header: true }
    }
}

/// Quotes a cell when RFC 4180 needs it.
pub fn cell(v: &str) -> String {
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The header names, in column order.
pub fn header() -> Vec<&'static str> {
    let mut h = vec!["taken_at", "source", "group", "topic", "partition"];
    h.extend(PARTITION_METRICS.iter().map(|m| m.name));
    h.extend(["consumer_id", "host", "client_id", "topology", "flags", "error", "status"]);
    h
}

impl Exporter for Csv {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let mut buf = String::new();
        if self.header {
            buf = header().join(",");
            buf.push_str("\r\n");
        }
        let taken_at = snapshot.taken_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for p in &snapshot.partitions {
            let opt = |v: Option<&str>| v.map(cell).unwrap_or_default();
            let mut row = vec![
                taken_at.clone(),
                p.source.as_str().to_string(),
                cell(&p.group),
                cell(&p.topic),
                p.partition.to_string(),
            ];
            row.extend(PARTITION_METRICS.iter().map(|m| (m.value)(p).map(|v| v.to_string()).unwrap_or_default()));
            let flags: Vec<&str> = p.flags.iter().map(|f| f.as_str()).collect();
            row.extend([
                opt(p.consumer_id.as_deref()),
                opt(p.host.as_deref()),
                opt(p.client_id.as_deref()),
                opt(p.topology()),
                flags.join("|"),
                opt(p.error.as_deref()),
                opt(p.trend.as_ref().and_then(|t| t.status).map(|s| s.as_str())),
            ]);
            buf.push_str(&row.join(","));
            buf.push_str("\r\n");
        }
        out.write_all(buf.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render_to_string, sample};

    #[test]
    fn csv_snapshot() {
        insta::assert_snapshot!(render_to_string(&Csv::default(), &sample::snapshot()));
    }

    #[test]
    fn csv_with_trend_snapshot() {
        insta::assert_snapshot!(render_to_string(&Csv::default(), &sample::snapshot_with_trend()));
    }

    #[test]
    fn csv_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Csv::default(), &sample::timed()));
    }

    #[test]
    fn quoting() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("l1\nl2"), "\"l1\nl2\"");
    }
}
