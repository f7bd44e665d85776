//! One measurement: read committed positions from every configured source,
//! then the log offsets of every partition they name, then join.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Utc;

use crate::config::Config;
use crate::kafka::Kafka;
use crate::lag::{build_snapshot, OffsetTable, Snapshot};
use crate::sources::{kafka_groups, SourceResult};

/// Takes one snapshot. Never fails as a whole: what could not be read is
/// recorded in the snapshot, whose coverage decides the exit code.
pub fn snapshot(config: &Config) -> Snapshot {
    let deadline = Instant::now() + config.timeout;
    let mut read = SourceResult::default();
    let mut offsets = OffsetTable::new();
    if let Some(settings) = &config.kafka {
        match Kafka::connect(settings) {
            Ok(kafka) => {
                match kafka_groups::read(&kafka, &config.filter, deadline) {
                    Ok(r) => read.extend(r),
                    Err(e) => read.errors.push(e.to_string()),
                }
                // Committed offsets were read above; end offsets only now, so
                // a consumer racing ahead can never show negative lag.
                match kafka.log_offsets(&partitions_of(&read), config.isolation, deadline) {
                    Ok(table) => offsets = table,
                    Err(e) => read.errors.push(e.to_string()),
                }
            }
            Err(e) => read.errors.push(e.to_string()),
        }
    }
    finish(read, &offsets)
}

/// The distinct partitions named by a source result, in a stable order.
pub fn partitions_of(read: &SourceResult) -> Vec<(String, i32)> {
    let set: BTreeSet<(&str, i32)> = read.rows.iter().map(|r| (r.topic.as_str(), r.partition)).collect();
    set.into_iter().map(|(t, p)| (t.to_string(), p)).collect()
}

/// Joins what was read into a snapshot stamped now.
pub fn finish(read: SourceResult, offsets: &OffsetTable) -> Snapshot {
    let mut snapshot = build_snapshot(Utc::now(), read.groups, read.rows, offsets);
    snapshot.errors = read.errors;
    snapshot
}
