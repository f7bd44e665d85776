//! Kafka-committed groups against real brokers: Apache Kafka 3.9 (ZooKeeper
//! mode) and 4.x (KRaft), started by scripts/services. Values are asserted
//! exactly, and compared with Apache Kafka's own kafka-consumer-groups.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_arguments)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command as Process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

/// A member that joins `group`, subscribes to `topic`, commits the given
/// offsets once it has its assignment, then keeps polling until stopped.
struct ActiveMember {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ActiveMember {
    fn start(bootstrap: &str, group: &str, topic: &str, commits: Vec<(i32, i64)>, partitions: usize) -> Self {
        let mut cfg = rdkafka::ClientConfig::new();
        cfg.set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("client.id", "klag-test-active")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "30000");
        let c: rdkafka::consumer::BaseConsumer = cfg.create().unwrap();
        c.subscribe(&[topic]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.assignment().map(|a| a.count()).unwrap_or(0) < partitions {
            assert!(Instant::now() < deadline, "member never got its assignment");
            let _ = c.poll(Duration::from_millis(100));
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in commits {
            tpl.add_partition_offset(topic, p, Offset::Offset(o)).unwrap();
        }
        c.commit(&tpl, CommitMode::Sync).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                // Poll to keep membership; records are never committed.
                let _ = c.poll(Duration::from_millis(100));
            }
        });
        ActiveMember { stop, handle: Some(handle) }
    }
}

impl Drop for ActiveMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Scenario {
    prefix: String,
    a: String,
    b: String,
    c: String,
    d: String,
    _member: ActiveMember,
}

/// Topics with known record counts and groups with known commits:
/// - `<p>-two`: no members, reads topics a (3 partitions) and b;
/// - `<p>-active`: one live member on c, partition 1 never committed;
/// - `<p>-trunc`: committed 10 on d, whose records before 30 were deleted.
fn scenario(bootstrap: &str) -> Scenario {
    let prefix = unique("kg");
    let (a, b, c, d) = (format!("{prefix}-a"), format!("{prefix}-b"), format!("{prefix}.c"), format!("{prefix}-d"));
    create_topic(bootstrap, &a, 3);
    create_topic(bootstrap, &b, 1);
    create_topic(bootstrap, &c, 2);
    create_topic(bootstrap, &d, 1);
    produce(bootstrap, &a, &[10, 20, 30]);
    produce(bootstrap, &b, &[7]);
    produce(bootstrap, &c, &[4, 6]);
    produce(bootstrap, &d, &[50]);
    delete_records(bootstrap, &d, 0, 30);
    commit(bootstrap, &format!("{prefix}-two"), &[(&a, 0, 5), (&a, 1, 20), (&a, 2, 12), (&b, 0, 7)]);
    commit(bootstrap, &format!("{prefix}-trunc"), &[(&d, 0, 10)]);
    let member = ActiveMember::start(bootstrap, &format!("{prefix}-active"), &c, vec![(0, 3)], 2);
    Scenario { prefix, a, b, c, d, _member: member }
}

fn assert_row(
    doc: &Value,
    group: &str,
    topic: &str,
    p: i64,
    committed: Option<i64>,
    start: i64,
    end: i64,
    lag: Option<i64>,
) {
    let r = row(doc, group, topic, p);
    let want = |v: Option<i64>| v.map_or(Value::Null, Value::from);
    assert_eq!(r["source"], "kafka");
    assert_eq!(r["committed"], want(committed), "committed of {group} {topic}/{p}");
    assert_eq!(r["log_start"], start, "log_start of {group} {topic}/{p}");
    assert_eq!(r["log_end"], end, "log_end of {group} {topic}/{p}");
    assert_eq!(r["lag"], want(lag), "lag of {group} {topic}/{p}");
}

fn check_cluster(label: &str, bootstrap: &str) {
    let s = scenario(bootstrap);
    let p = &s.prefix;
    let (doc, out) = klag_json(&["--bootstrap-server", bootstrap, "--group", &format!("^{p}-")]);
    assert_eq!(out.status.code(), Some(0), "{label}: stderr {}", String::from_utf8_lossy(&out.stderr));
    assert!(doc["taken_at"].as_str().is_some_and(chrono_like), "taken_at is RFC 3339");

    let two = format!("{p}-two");
    assert_row(&doc, &two, &s.a, 0, Some(5), 0, 10, Some(5));
    assert_row(&doc, &two, &s.a, 1, Some(20), 0, 20, Some(0));
    assert_row(&doc, &two, &s.a, 2, Some(12), 0, 30, Some(18));
    assert_row(&doc, &two, &s.b, 0, Some(7), 0, 7, Some(0));
    let g = group(&doc, &two);
    assert_eq!(g["state"], "Empty");
    assert_eq!(g["members"], 0);
    assert_eq!(g["partitions"], 4);
    assert_eq!(g["total_lag"], 23);
    assert_eq!(g["max_lag"], 18);

    let active = format!("{p}-active");
    assert_row(&doc, &active, &s.c, 0, Some(3), 0, 4, Some(1));
    assert_row(&doc, &active, &s.c, 1, None, 0, 6, None);
    let uncommitted = row(&doc, &active, &s.c, 1);
    assert_eq!(uncommitted["flags"], serde_json::json!(["no_commit"]));
    assert_eq!(uncommitted["client_id"], "klag-test-active");
    assert!(uncommitted["consumer_id"].as_str().is_some_and(|c| c.starts_with("klag-test-active")));
    assert!(uncommitted["host"].as_str().is_some_and(|h| h.contains("127.0.0.1")));
    let g = group(&doc, &active);
    assert_eq!(g["state"], "Stable");
    assert_eq!(g["members"], 1);
    assert_eq!(g["total_lag"], 1);

    let trunc = format!("{p}-trunc");
    assert_row(&doc, &trunc, &s.d, 0, Some(10), 30, 50, Some(40));
    assert_eq!(row(&doc, &trunc, &s.d, 0)["flags"], serde_json::json!(["out_of_range"]));

    // librdkafka's path (any -X property klag's own client does not
    // implement sends the run through it) measures the same.
    let (rd, out) = klag_json(&[
        "--bootstrap-server",
        bootstrap,
        "--group",
        &format!("^{p}-"),
        "-X",
        "socket.keepalive.enable=true",
    ]);
    assert_eq!(out.status.code(), Some(0), "{label}: stderr {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((&rd["partitions"], &rd["groups"]), (&doc["partitions"], &doc["groups"]), "{label}: both paths agree");

    // Only the topic filter's topic, and only groups that read it.
    let (doc, _) =
        klag_json(&["-b", bootstrap, "--group", &format!("^{p}-"), "--topic", &format!("^{}$", regex_escape(&s.b))]);
    assert_eq!(doc["partitions"].as_array().unwrap().len(), 1);
    assert_eq!(doc["groups"].as_array().unwrap().len(), 1);
    assert_row(&doc, &two, &s.b, 0, Some(7), 0, 7, Some(0));

    compare_with_kafka_consumer_groups(label, bootstrap, p);
}

fn chrono_like(t: &str) -> bool {
    t.len() >= 20 && t.as_bytes()[4] == b'-' && t.contains('T') && (t.ends_with('Z') || t.contains('+'))
}

fn regex_escape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_string() } else { format!("\\{c}") }).collect()
}

/// Apache Kafka's kafka-consumer-groups --describe --all-groups on the same
/// quiesced cluster must give the same lag for every partition.
fn compare_with_kafka_consumer_groups(label: &str, bootstrap: &str, prefix: &str) {
    let line = if label == "kafka39" { "39" } else { "4" };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka-cli");
    let out = Process::new(script)
        .args([line, "consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--all-groups"])
        .output()
        .expect("run kafka-consumer-groups");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut theirs: BTreeMap<(String, String, i64), String> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 6 && f[0].starts_with(prefix) {
            if let Ok(p) = f[2].parse::<i64>() {
                theirs.insert((f[0].to_string(), f[1].to_string(), p), f[5].to_string());
            }
        }
    }
    assert!(
        theirs.len() == 7,
        "{label}: kafka-consumer-groups did not print the 7 expected rows:\n{text}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (doc, _) = klag_json(&["-b", bootstrap, "--group", &format!("^{prefix}-")]);
    let mut ours: BTreeMap<(String, String, i64), String> = BTreeMap::new();
    for r in doc["partitions"].as_array().unwrap() {
        let lag = r["lag"].as_i64().map_or("-".to_string(), |l| l.to_string());
        ours.insert(
            (
                r["group"].as_str().unwrap().into(),
                r["topic"].as_str().unwrap().into(),
                r["partition"].as_i64().unwrap(),
            ),
            lag,
        );
    }
    assert_eq!(ours, theirs, "{label}: klag and kafka-consumer-groups disagree");
}

#[test]
fn groups_are_measured_exactly_on_real_kafka() {
    for (label, bootstrap) in kafka_clusters() {
        check_cluster(label, &bootstrap);
    }
}

/// Counts the requests of one kind in a `-X debug=protocol` log: librdkafka's
/// lines and those of klag's own client, which logs in the same form.
fn sent(stderr: &str, request: &str) -> usize {
    stderr.lines().filter(|l| l.contains("Sent") && l.contains(request)).count()
}

/// Every request of a `-X debug=protocol` log, by kind.
fn requests(stderr: &str) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for l in stderr.lines() {
        let Some((_, rest)) = l.split_once(": Sent ") else { continue };
        let kind = rest.split_whitespace().next().unwrap_or("?").trim_end_matches("Request");
        *kinds.entry(kind.to_string()).or_default() += 1;
    }
    kinds
}

/// Issue 6: the number of requests of a run is at most a constant per broker
/// plus one per group, whatever the partitions: measured for 2 and 20 groups
/// of 2 and 48 partitions each (the groups are Empty: nothing to describe).
#[test]
fn request_count_does_not_grow_with_groups_or_partitions() {
    /// ApiVersions, Metadata twice, ListGroups between two probing
    /// DescribeGroups, FindCoordinator, ConsumerGroupDescribe, DescribeGroups,
    /// OffsetFetch, ListOffsets twice.
    const PER_BROKER: usize = 12;
    for (label, bootstrap) in kafka_clusters() {
        let brokers = consumer(&bootstrap, None).fetch_metadata(None, Duration::from_secs(10)).unwrap().brokers().len();
        let prefix = unique("rc");
        let mut seen = Vec::new();
        for partitions in [2usize, 48] {
            let topic = format!("{prefix}-t{partitions}");
            create_topic(&bootstrap, &topic, partitions as i32);
            produce(&bootstrap, &topic, &vec![3; partitions]);
            let offsets: Vec<(&str, i32, i64)> = (0..partitions as i32).map(|p| (topic.as_str(), p, 1)).collect();
            for groups in [2usize, 20] {
                let gp = format!("{prefix}-p{partitions}-g{groups}-");
                for g in 0..groups {
                    commit(&bootstrap, &format!("{gp}{g}"), &offsets);
                }
                let (doc, out) = klag_json(&["-b", &bootstrap, "--group", &format!("^{gp}"), "-X", "debug=protocol"]);
                assert_eq!(out.status.code(), Some(0), "{label}: {}", String::from_utf8_lossy(&out.stderr));
                assert_eq!(doc["partitions"].as_array().unwrap().len(), groups * partitions);
                assert!(doc["groups"].as_array().unwrap().iter().all(|g| g["total_lag"] == 2 * partitions as i64));
                let stderr = String::from_utf8_lossy(&out.stderr);
                let kinds = requests(&stderr);
                let total: usize = kinds.values().sum();
                eprintln!("{label}: {groups} groups x {partitions} partitions, {brokers} broker(s): {total} requests {kinds:?}");
                assert!(total > 0, "{label}: no requests seen in the debug log");
                assert!(total <= PER_BROKER * brokers + groups, "{label}: {total} requests: {kinds:?}");
                // One OffsetFetch per coordinator and two ListOffsets per
                // leader, whatever the groups and partitions.
                assert!(sent(&stderr, "OffsetFetch") <= brokers, "{label}: {kinds:?}");
                assert!(sent(&stderr, "ListOffsets") <= 2 * brokers, "{label}: {kinds:?}");
                // An Empty group has no members to describe: its state comes
                // from the listing, whose only DescribeGroups are the two
                // coordinator probes around each broker's ListGroups.
                assert_eq!(sent(&stderr, "ConsumerGroupDescribe"), 0, "{label}");
                assert!(sent(&stderr, "DescribeGroups") <= 2 * brokers, "{label}: {kinds:?}");
                // The probes tell every partition's ready coordinator.
                let probes = stderr.lines().find(|l| l.contains("coordinator probes: ")).unwrap_or_default();
                assert!(probes.ends_with("partitions ready, 0 not ready, 0 unknown"), "{label}: {probes}");
                assert!(!probes.contains("probes: 0 of"), "{label}: {probes}");
                seen.push(total);
            }
        }
        eprintln!("{label}: requests per run for (2, 20 groups) x (2, 48 partitions): {seen:?}");
    }
}

/// With an open transaction the high watermark runs ahead of the last stable
/// offset: the default measures against the former, --isolation
/// read-committed against the latter.
#[test]
fn isolation_level_picks_high_watermark_or_last_stable_offset() {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    for (label, bootstrap) in kafka_clusters() {
        let prefix = unique("iso");
        let (topic, group) = (format!("{prefix}-t"), format!("{prefix}-g"));
        create_topic(&bootstrap, &topic, 1);
        produce(&bootstrap, &topic, &[4]);
        commit(&bootstrap, &group, &[(&topic, 0, 1)]);
        let p: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("transactional.id", &prefix)
            .create()
            .unwrap();
        p.init_transactions(Duration::from_secs(30)).unwrap();
        p.begin_transaction().unwrap();
        for _ in 0..5 {
            p.send(BaseRecord::to(&topic).partition(0).key("k").payload("open")).map_err(|(e, _)| e).unwrap();
        }
        p.flush(Duration::from_secs(30)).unwrap();

        let args = ["-b", bootstrap.as_str(), "--group", &format!("^{group}$")];
        let (doc, _) = klag_json(&args);
        assert_eq!(row(&doc, &group, &topic, 0)["log_end"], 9, "{label}: high watermark");
        assert_eq!(row(&doc, &group, &topic, 0)["lag"], 8, "{label}");
        let (doc, _) = klag_json(&[&args[..], &["--isolation", "read-committed"]].concat());
        assert_eq!(row(&doc, &group, &topic, 0)["log_end"], 4, "{label}: last stable offset");
        assert_eq!(row(&doc, &group, &topic, 0)["lag"], 3, "{label}");
        p.abort_transaction(Duration::from_secs(30)).unwrap();
    }
}
