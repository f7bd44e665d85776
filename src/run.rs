//! One measurement: read committed positions from every configured source,
//! then the log offsets of every partition they name, then join; with
//! `--time-lag`, then read the record timestamps of the lagging partitions.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::Utc;

use crate::brokers_zk::Bootstrap;
use crate::config::{Config, ZkSources};
use crate::ensembles::{run_bounded, Ensembles};
use crate::fasthash::FastSet;
use crate::kafka::{timestamps, Isolation, Kafka, KafkaSettings};
use crate::lag::{build_snapshot, OffsetTable, Snapshot};
use crate::sources::{kafka_groups, storm, trident, zk_consumers, Filter, SourceResult};
use crate::time_lag;

/// Takes one snapshot. Never fails as a whole: what could not be read is
/// recorded in the snapshot, whose coverage decides the exit code.
pub fn snapshot(config: &Config) -> Snapshot {
    let deadline = Instant::now() + config.timeout;
    let mut read = SourceResult::default();
    let mut brokers = config.kafka.clone();
    if let Some(sources) = &config.zookeeper {
        let (zk_read, discovered) = read_zookeeper(sources, &config.filter, deadline);
        read.extend(zk_read);
        if let (None, Some(found)) = (&brokers, discovered) {
            read.warnings.extend(config.listener_warning(&found.protocol));
            brokers = Some(config.discovered_brokers(found.servers));
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
                    // With --time-lag, half, so that record reads get a share.
                    let share = if config.time_lag { 1.0 / 2.0 } else { 2.0 / 3.0 };
                    let groups_deadline = share_of(deadline, share);
                    match kafka_groups::read(&kafka, &config.filter, groups_deadline) {
                        Ok(r) => read.extend(r),
                        Err(e) => read.errors.push(e.to_string()),
                    }
                }
                // Committed offsets were read above; end offsets only now, so
                // a consumer racing ahead can never show negative lag.
                let partitions = partitions_of(&read);
                if !partitions.is_empty() {
                    // With --time-lag, a third of the time left is kept for
                    // reading records.
                    let offsets_deadline = if config.time_lag { share_of(deadline, 2.0 / 3.0) } else { deadline };
                    match kafka.log_offsets(&partitions, config.isolation, offsets_deadline) {
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
    let mut snapshot = finish(read, &offsets);
    if config.time_lag {
        add_time_lag(&mut snapshot, brokers.as_ref(), config.isolation, deadline);
    }
    snapshot
}

/// The instant `share` of the time left before `deadline` from now.
fn share_of(deadline: Instant, share: f64) -> Instant {
    let now = Instant::now();
    now + deadline.saturating_duration_since(now).mul_f64(share)
}

/// `--time-lag`: reads the record at each lagging partition's committed
/// offset (one consumer, Fetch batched per broker) by `deadline` and fills
/// `lag_seconds`. Without brokers there is no lag to time: nothing is read.
pub fn add_time_lag(snapshot: &mut Snapshot, brokers: Option<&KafkaSettings>, isolation: Isolation, deadline: Instant) {
    let wanted = time_lag::wanted(snapshot);
    let times = match brokers {
        Some(settings) if !wanted.is_empty() => timestamps::record_times(settings, isolation, &wanted, deadline),
        _ => Default::default(),
    };
    time_lag::apply(snapshot, &times);
}

/// Reads every ZooKeeper-held source concurrently, and the broker list when
/// asked for. Bounded by `deadline` as a whole.
fn read_zookeeper(sources: &ZkSources, filter: &Filter, deadline: Instant) -> (SourceResult, Option<Bootstrap>) {
    run_bounded(sources, deadline, read_zookeeper_async(sources, filter))
        .unwrap_or_else(|e| (SourceResult { errors: vec![e], ..Default::default() }, None))
}

async fn read_zookeeper_async(sources: &ZkSources, filter: &Filter) -> (SourceResult, Option<Bootstrap>) {
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
            Some(b)
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
