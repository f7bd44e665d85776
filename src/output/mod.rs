//! Renders a [`Snapshot`]: one file per format, all behind [`Exporter`].

pub mod csv;
mod file;
pub mod graphite;
pub mod influx;
mod json;
pub mod metrics;
pub mod nagios;
pub mod prometheus;
mod table;

use std::io::{self, Write};

use crate::config::Format;
use crate::lag::Snapshot;

pub use csv::Csv;
pub use file::{remove_stale_temps, sync_parent, write_atomic, write_atomic_with};
pub use graphite::Graphite;
pub use influx::Influx;
pub use json::Json;
pub use metrics::MetricsOptions;
pub use nagios::Nagios;
pub use prometheus::Prometheus;
pub use table::Table;
pub(crate) use table::{layout, printable};

/// Renders a whole snapshot to a writer.
pub trait Exporter {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()>;
}

/// The exporter for a format, with default metrics options.
pub fn exporter(format: Format) -> Box<dyn Exporter> {
    exporter_with(format, &MetricsOptions::default())
}

/// The exporter for a format, with the metrics formats' options.
pub fn exporter_with(format: Format, options: &MetricsOptions) -> Box<dyn Exporter> {
    match format {
        Format::Table => Box::new(Table::default()),
        Format::Json => Box::new(Json),
        Format::Graphite => Box::new(Graphite { prefix: options.prefix.clone(), tagged: options.graphite_tags }),
        Format::Influx => Box::new(Influx {
            schema: options.influx_schema,
            precision: options.precision,
            burrow_cluster: options.burrow_cluster.clone(),
        }),
        Format::Prometheus => Box::new(Prometheus),
        Format::Csv => Box::new(Csv::default()),
        Format::Nagios => Box::new(Nagios { thresholds: Default::default(), problems: vec![] }),
    }
}

/// Renders to a string (tests and snapshot tests).
pub fn render_to_string(exporter: &dyn Exporter, snapshot: &Snapshot) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = exporter.render(snapshot, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
pub(crate) mod sample {
    //! A snapshot with one of everything, shared by the format tests.
    use chrono::DateTime;

    use crate::lag::*;

    pub fn snapshot() -> Snapshot {
        let mut owned = Committed::new(Source::Kafka, "billing", "orders", 0, Some(90));
        owned.owner = Owner {
            consumer_id: Some("consumer-billing-1-7f3a".into()),
            host: Some("/127.0.0.1".into()),
            client_id: Some("consumer-billing-1".into()),
        };
        let mut bad = Committed::new(Source::Storm, "spout-a", "clicks", 1, None);
        bad.error = Some("/storm/spout-a/partition_1: invalid JSON at line 1 column 2".into());
        let mut spout = Committed::new(Source::Storm, "spout-a", "clicks", 0, Some(12));
        spout.storm = Some(Box::new(StormInfo {
            topology: Some("clickstream".into()),
            topology_id: Some("clickstream-3-1700000000".into()),
            broker: Some("kafka1:9092".into()),
        }));
        let rows = vec![
            owned,
            Committed::new(Source::Kafka, "billing", "orders", 1, Some(100)),
            Committed::new(Source::Kafka, "billing", "orders", 2, None),
            Committed::new(Source::Kafka, "audit", "orders", 0, Some(3)),
            Committed::new(Source::Kafka, "audit", "orders.v2", 0, Some(5)),
            spout,
            bad,
        ];
        let mut offsets = OffsetTable::new();
        for (t, p, s, e) in [
            ("orders", 0, 0, 100),
            ("orders", 1, 0, 100),
            ("orders", 2, 0, 40),
            ("clicks", 0, 0, 20),
            ("clicks", 1, 0, 20),
        ] {
            offsets.insert((t.into(), p), LogOffsets { start: Some(s), end: Some(e), error: None });
        }
        offsets.insert(("orders".into(), 0), LogOffsets { start: Some(10), end: Some(100), error: None });
        offsets.insert(
            ("orders.v2".into(), 0),
            LogOffsets { start: None, end: None, error: Some("no leader for partition".into()) },
        );
        let groups = vec![
            GroupInfo {
                source: Source::Kafka,
                group: "billing".into(),
                state: Some("Stable".into()),
                members: Some(1),
                error: None,
            },
            GroupInfo {
                source: Source::Kafka,
                group: "audit".into(),
                state: Some("Empty".into()),
                members: Some(0),
                error: None,
            },
            GroupInfo {
                source: Source::Kafka,
                group: "idle".into(),
                state: Some("Empty".into()),
                members: Some(0),
                error: None,
            },
        ];
        let taken_at = DateTime::from_timestamp(1_700_000_000, 250_000_000).unwrap_or_default();
        build_snapshot(taken_at, groups, rows, &offsets)
    }

    /// The same snapshot as a `--state` run judged it.
    pub fn snapshot_with_trend() -> Snapshot {
        use crate::trend::{annotate_groups, Status, Trend};
        let mut s = snapshot();
        let trend = |status, consume_rate, produce_rate, catch_up_seconds| Trend {
            status: Some(status),
            consume_rate: Some(consume_rate),
            produce_rate: Some(produce_rate),
            catch_up_seconds,
            samples: 10,
        };
        for p in &mut s.partitions {
            let t = match (p.group.as_str(), p.topic.as_str(), p.partition) {
                ("billing", "orders", 0) => trend(Status::Ok, 12.5, 10.0, Some(4.0)),
                ("billing", "orders", 1) => trend(Status::Ok, 3.0, 3.0, Some(0.0)),
                ("audit", "orders", 0) => trend(Status::Stall, 0.0, 1.5, None),
                ("spout-a", "clicks", 0) => trend(Status::Warn, 0.25, 0.5, None),
                // Unmeasured rows, and one measured for the first time.
                _ => Trend { samples: usize::from(p.measured()), ..Trend::default() },
            };
            p.trend = Some(Box::new(t));
        }
        annotate_groups(&mut s);
        s
    }

    /// The same snapshot measured with `--time-lag`: billing's orders/0 waits
    /// 42.5 s, audit's (read at the log start) 2h03m04.123s, and the spout's
    /// record could not be read.
    pub fn timed() -> Snapshot {
        use crate::time_lag::{apply, RecordAt, RecordTime, RecordTimes};
        let mut s = snapshot();
        let taken = s.taken_at.timestamp_millis();
        let at = |topic: &str, partition: i32, offset: i64| RecordAt { topic: topic.into(), partition, offset };
        let times: RecordTimes = [
            (at("orders", 0, 90), Ok(RecordTime::At(taken - 42_500))),
            (at("orders", 0, 10), Ok(RecordTime::At(taken - 7_384_123))),
            (at("clicks", 0, 12), Err("no record was read within 2s (the time --timeout left for --time-lag)".into())),
        ]
        .into_iter()
        .collect();
        apply(&mut s, &times);
        s
    }
}
