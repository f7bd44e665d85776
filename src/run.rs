//! One measurement: read committed positions from every configured source,
//! then the log offsets of every partition they name, then join.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Utc;

use crate::config::{Config, ZkSources};
use crate::ensembles::{run_bounded, Ensembles};
use crate::fasthash::FastSet;
use crate::kafka::Kafka;
use crate::lag::{build_snapshot, OffsetTable, Snapshot};
use crate::sources::{kafka_groups, storm, trident, zk_consumers, Filter, SourceResult};

/// Takes one snapshot. Never fails as a whole: what could not be read is
/// recorded in the snapshot, whose coverage decides the exit code.
pub fn snapshot(config: &Config) -> Snapshot {
    let deadline = Instant::now() + config.timeout;
    let mut read = SourceResult::default();
    let mut brokers = config.kafka.clone();
    if let Some(sources) = &config.zookeeper {
        let (zk_read, discovered) = read_zookeeper(sources, &config.filter, deadline);
        read.extend(zk_read);
        if brokers.is_none() {
            brokers = discovered.map(|servers| config.discovered_brokers(servers));
        }
    }
    let mut offsets = OffsetTable::new();
    match &brokers {
        Some(settings) => match Kafka::connect(settings) {
            Ok(kafka) => {
                if config.kafka_groups {
                    // Two thirds of the time left for the groups, the rest for
                    // ListOffsets: a broker that never answers then costs the
                    // groups and partitions it serves, not the whole run.
                    let now = Instant::now();
                    let groups_deadline = now + deadline.saturating_duration_since(now) * 2 / 3;
                    match kafka_groups::read(&kafka, &config.filter, groups_deadline) {
                        Ok(r) => read.extend(r),
                        Err(e) => read.errors.push(e.to_string()),
                    }
                }
                // Committed offsets were read above; end offsets only now, so
                // a consumer racing ahead can never show negative lag.
                let partitions = partitions_of(&read);
                if !partitions.is_empty() {
                    match kafka.log_offsets(&partitions, config.isolation, deadline) {
                        Ok(table) => offsets = table,
                        Err(e) => read.errors.push(e.to_string()),
                    }
                }
            }
            Err(e) => read.errors.push(e.to_string()),
        },
        None if !read.rows.is_empty() => read
            .errors
            .push("no Kafka brokers known: give --bootstrap-server or a --zookeeper where brokers register".into()),
        None => {}
    }
    finish(read, &offsets)
}

/// Reads every ZooKeeper-held source concurrently, and the broker list when
/// asked for. Bounded by `deadline` as a whole.
fn read_zookeeper(sources: &ZkSources, filter: &Filter, deadline: Instant) -> (SourceResult, Option<String>) {
    run_bounded(sources, deadline, read_zookeeper_async(sources, filter))
        .unwrap_or_else(|e| (SourceResult { errors: vec![e], ..Default::default() }, None))
}

async fn read_zookeeper_async(sources: &ZkSources, filter: &Filter) -> (SourceResult, Option<String>) {
    let mut result = SourceResult::default();
    let ensembles = Ensembles::connect(sources, &mut result.errors).await;
    let (kafka_zk, storm_zk) = (&ensembles.kafka, &ensembles.storm);
    let want_group = |g: &str| filter.wants_group(g);
    let classic = async {
        match (kafka_zk, sources.classic) {
            (Some(z), true) => Some(zk_consumers::read(z, &want_group).await),
            _ => None,
        }
    };
    let spouts = async {
        match storm_zk {
            Some(z) if !sources.storm_roots.is_empty() => {
                Some(storm::read(z, &sources.storm_roots, filter.topology.as_ref()).await)
            }
            _ => None,
        }
    };
    let tridents = async {
        match (storm_zk, &sources.trident_root) {
            (Some(z), Some(root)) => Some(trident::read(z, root, filter.topology.as_ref()).await),
            _ => None,
        }
    };
    let brokers = ensembles.brokers(sources.listener.as_deref());
    let (classic, spouts, tridents, brokers) = futures::join!(classic, spouts, tridents, brokers);
    for r in [classic, spouts, tridents].into_iter().flatten() {
        result.extend(r);
    }
    apply_filter(&mut result, filter);
    let servers = match brokers {
        Some(Ok(b)) => {
            result.warnings.extend(b.warnings.iter().cloned());
            Some(b.servers)
        }
        Some(Err(e)) => {
            result.warnings.push(format!("broker discovery through ZooKeeper failed: {e}"));
            None
        }
        None => None,
    };
    (result, servers)
}

/// Applies the group and topic filters to sources that read everything.
/// A group left with no rows by the topic filter is dropped.
fn apply_filter(result: &mut SourceResult, filter: &Filter) {
    result.rows.retain(|r| filter.wants_group(&r.group) && filter.wants_topic(&r.topic));
    let kept: BTreeSet<(crate::lag::Source, &str)> = result.rows.iter().map(|r| (r.source, r.group.as_str())).collect();
    let topic_filter = filter.topic.is_some();
    result
        .groups
        .retain(|g| filter.wants_group(&g.group) && (!topic_filter || kept.contains(&(g.source, g.group.as_str()))));
}

/// The distinct partitions named by a source result, in a stable order.
pub fn partitions_of(read: &SourceResult) -> Vec<(String, i32)> {
    // Many groups read the same partitions: dedupe first, sort what is left.
    let set: FastSet<(&str, i32)> =
        read.rows.iter().filter(|r| !r.topic.is_empty()).map(|r| (r.topic.as_str(), r.partition)).collect();
    let mut distinct: Vec<(&str, i32)> = set.into_iter().collect();
    distinct.sort_unstable();
    distinct.into_iter().map(|(t, p)| (t.to_string(), p)).collect()
}

/// Joins what was read into a snapshot stamped now.
pub fn finish(read: SourceResult, offsets: &OffsetTable) -> Snapshot {
    let mut snapshot = build_snapshot(Utc::now(), read.groups, read.rows, offsets);
    snapshot.errors = read.errors;
    snapshot.warnings = read.warnings;
    snapshot
}
