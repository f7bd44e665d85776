//! `--time-lag` against real brokers (Kafka 3.9 and 4.x) and, for a Storm
//! spout, a real ZooKeeper: records produced with known CreateTime
//! timestamps, commits at known records, lag_seconds asserted to the
//! millisecond against the snapshot's `taken_at`. The last test needs no
//! services: a dead leader on librdkafka's mock cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::zk_writer::{block_on, delete_tree, put, writer};
use common::*;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{json, Value};

fn producer(bootstrap: &str, transactional_id: Option<&str>) -> ThreadedProducer<DefaultProducerContext> {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("linger.ms", "5").set("acks", "all");
    if let Some(id) = transactional_id {
        c.set("transactional.id", id);
    }
    c.create().unwrap()
}

/// Produces one 40 KB record per timestamp, each in its own batch: larger
/// than klag's per-partition fetch size, and one Fetch returns one of them.
fn produce_big_at(bootstrap: &str, topic: &str, partition: i32, timestamps: &[i64]) {
    let p = producer(bootstrap, None);
    let payload = vec![b'x'; 40_000];
    for ts in timestamps {
        p.send(BaseRecord::to(topic).partition(partition).key("k").payload(&payload).timestamp(*ts))
            .map_err(|(e, _)| e)
            .unwrap();
        p.flush(Duration::from_secs(30)).unwrap();
    }
}

/// The snapshot time of a JSON document, in ms since the epoch.
fn taken_ms(doc: &Value) -> i64 {
    let t = doc["taken_at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis()
}

/// Asserts a row's lag_seconds is the age of the record stamped `record_ms`
/// at the snapshot time (to the millisecond, so well within 1 s).
fn assert_age(doc: &Value, group: &str, topic: &str, p: i64, record_ms: i64) {
    let got = row(doc, group, topic, p)["lag_seconds"].as_f64();
    let want = (taken_ms(doc) - record_ms) as f64 / 1000.0;
    let got = got.unwrap_or_else(|| panic!("no lag_seconds for {group} {topic}/{p}: {doc:#}"));
    assert!((got - want).abs() < 0.0015, "{group} {topic}/{p}: lag_seconds {got}, expected {want}");
}

fn run(args: &[&str]) -> Value {
    let (doc, out) = klag_json(&[args, &["--time-lag"]].concat());
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    doc
}

#[test]
fn lag_seconds_is_the_age_of_the_record_at_the_committed_offset() {
    for (label, bootstrap) in kafka_clusters() {
        let prefix = unique("tl");
        let (topic, tx, big) = (format!("{prefix}-t"), format!("{prefix}-tx"), format!("{prefix}-big"));
        create_topic(&bootstrap, &topic, 3);
        create_topic(&bootstrap, &tx, 2);
        create_topic(&bootstrap, &big, 1);
        let now = now_ms();
        let (hour, two_min) = (now - 3_600_000, now - 120_000);
        // p0: two records an hour old, three two minutes old (1 ms apart).
        produce_at(&bootstrap, &topic, 0, &[hour, hour + 1, two_min, two_min + 1, two_min + 2]);
        // p1: three records a minute old; p2: three two hours old (deleted
        // below), three ten minutes old.
        produce_at(&bootstrap, &topic, 1, &[now - 60_000; 3]);
        let ten_min = now - 600_000;
        produce_at(
            &bootstrap,
            &topic,
            2,
            &[now - 7_200_000, now - 7_200_000, now - 7_200_000, ten_min, ten_min, ten_min],
        );
        delete_records(&bootstrap, &topic, 2, 3);
        // tx/0: a committed transaction of two records (offsets 0-1, marker
        // at 2), then one plain record (offset 3). tx/1: a transaction of one
        // record (offset 0, marker at 1) and nothing after it.
        let txp = producer(&bootstrap, Some(&prefix));
        txp.init_transactions(Duration::from_secs(30)).unwrap();
        for (partition, n) in [(0, 2), (1, 1)] {
            txp.begin_transaction().unwrap();
            for _ in 0..n {
                let r = BaseRecord::to(&tx).partition(partition).key("k").payload("t").timestamp(now - 30_000);
                txp.send(r).map_err(|(e, _)| e).unwrap();
            }
            txp.commit_transaction(Duration::from_secs(30)).unwrap();
        }
        let after_marker = now - 5_000;
        produce_at(&bootstrap, &tx, 0, &[after_marker]);
        // big/0: ten large records a second apart, read at 0 and at 8.
        let big_ts: Vec<i64> = (0..10).map(|i| now - 1_800_000 + i * 1_000).collect();
        produce_big_at(&bootstrap, &big, 0, &big_ts);

        let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
        commit(&bootstrap, &a, &[(&topic, 0, 0), (&topic, 1, 3), (&topic, 2, 1), (&tx, 0, 2), (&tx, 1, 1)]);
        // A second group reads p0 at another offset: the same partition is read twice.
        commit(&bootstrap, &b, &[(&topic, 0, 3), (&big, 0, 8)]);
        commit(&bootstrap, &format!("{prefix}-c"), &[(&big, 0, 0)]);

        let doc = run(&["-b", &bootstrap, "--group", &format!("^{prefix}-")]);
        assert_age(&doc, &a, &topic, 0, hour);
        assert_eq!(row(&doc, &a, &topic, 1)["lag"], 0, "{label}");
        assert_eq!(row(&doc, &a, &topic, 1)["lag_seconds"], 0.0, "{label}: caught up");
        // Committed 1 is below the log start 3: the first remaining record.
        let p2 = row(&doc, &a, &topic, 2);
        assert_eq!((p2["log_start"].as_i64(), p2["flags"].clone()), (Some(3), json!(["out_of_range"])), "{label}");
        assert_age(&doc, &a, &topic, 2, ten_min);
        // A transaction marker at the committed offset: the next record.
        assert_eq!(row(&doc, &a, &tx, 0)["lag"], 2, "{label}");
        assert_age(&doc, &a, &tx, 0, after_marker);
        // Only a marker up to the log end: nothing waits.
        assert_eq!(row(&doc, &a, &tx, 1)["lag"], 1, "{label}");
        assert_eq!(row(&doc, &a, &tx, 1)["lag_seconds"], 0.0, "{label}: only a marker left");
        assert_age(&doc, &b, &topic, 0, two_min + 1);
        assert_age(&doc, &format!("{prefix}-c"), &big, 0, big_ts[0]);
        assert_age(&doc, &b, &big, 0, big_ts[8]);
        let max = |g: &str| group(&doc, g)["max_lag_seconds"].as_f64().unwrap();
        assert_eq!(max(&a), row(&doc, &a, &topic, 0)["lag_seconds"].as_f64().unwrap(), "{label}");
        assert_eq!(max(&b), row(&doc, &b, &big, 0)["lag_seconds"].as_f64().unwrap(), "{label}");
        assert!((3600.0..3700.0).contains(&max(&a)), "{label}: {}", max(&a));

        // Without --time-lag nothing is read: the fields are null.
        let (plain, _) = klag_json(&["-b", &bootstrap, "--group", &format!("^{prefix}-a$")]);
        assert!(row(&plain, &a, &topic, 0)["lag_seconds"].is_null());
        assert!(group(&plain, &a)["max_lag_seconds"].is_null());

        // The table shows the column only with --time-lag.
        let table = |extra: &[&str]| {
            let out = klag()
                .args(["-b", &bootstrap, "--group", &format!("^{prefix}-b$"), "--format", "table"])
                .args(extra)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let timed = table(&["--time-lag"]);
        assert!(timed.contains("TIME-LAG") && timed.contains("MAX-TIME-LAG") && timed.contains("2m0"), "{timed}");
        assert!(!table(&[]).contains("TIME-LAG"));
    }
}

/// Counts librdkafka's protocol requests of one kind in a debug log.
fn sent(stderr: &str, request: &str) -> usize {
    stderr.lines().filter(|l| l.contains(&format!("Sent {request}"))).count()
}

#[test]
fn fetch_requests_are_per_broker_not_per_partition() {
    for (label, bootstrap) in kafka_clusters() {
        let prefix = unique("tlrc");
        let mut counts = Vec::new();
        for partitions in [2usize, 48] {
            let topic = format!("{prefix}-t{partitions}");
            let group = format!("{prefix}-g{partitions}");
            create_topic(&bootstrap, &topic, partitions as i32);
            produce(&bootstrap, &topic, &vec![3; partitions]);
            let offsets: Vec<(&str, i32, i64)> = (0..partitions as i32).map(|p| (topic.as_str(), p, 1)).collect();
            commit(&bootstrap, &group, &offsets);
            let (doc, out) =
                klag_json(&["-b", &bootstrap, "--group", &format!("^{group}$"), "--time-lag", "-X", "debug=protocol"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{label}: {}",
                stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            );
            let rows = doc["partitions"].as_array().unwrap();
            assert_eq!(rows.len(), partitions);
            assert!(
                rows.iter().all(|r| r["lag_seconds"].as_f64().is_some_and(|s| (0.0..600.0).contains(&s))),
                "{doc:#}"
            );
            counts.push(sent(&stderr, "FetchRequest"));
        }
        eprintln!("{label}: Fetch requests sent for 2 and 48 lagging partitions: {counts:?}");
        assert!(counts[0] > 0, "{label}: no Fetch seen in the debug log");
        // One broker: a handful of Fetches (the first answers every partition;
        // librdkafka may have sent the next before the partitions were dropped).
        assert!(counts[1] <= counts[0] + 2 && counts[1] <= 6, "{label}: Fetch count grew with partitions: {counts:?}");
    }
}

#[test]
fn a_storm_spout_gets_lag_seconds() {
    let (Some(zk), Some(bootstrap)) = (service("KLAG_TEST_ZK"), service("KLAG_TEST_KAFKA39")) else { return };
    let prefix = unique("tlstorm");
    let topic = format!("{prefix}-t");
    create_topic(&bootstrap, &topic, 1);
    let old = now_ms() - 900_000;
    produce_at(&bootstrap, &topic, 0, &[old - 1, old, old + 1]);
    let root = format!("/{prefix}");
    let spout = format!("{prefix}-spout");
    let node = json!({
        "topology": {"id": "tl-topo-1-1700000000", "name": "tl-topo"},
        "offset": 1,
        "partition": 0,
        "broker": {"host": "stale-kafka-host", "port": 9092},
        "topic": topic,
    })
    .to_string();
    block_on(async {
        let w = writer(&zk, None).await;
        put(&w, &format!("{root}/{spout}/partition_0"), node.as_bytes()).await;
    });
    let doc = run(&["-z", &zk, "--storm-root", &root, "-b", &bootstrap, "--group", &format!("^{spout}$")]);
    assert_eq!(row(&doc, &spout, &topic, 0)["source"], "storm");
    assert_eq!(row(&doc, &spout, &topic, 0)["lag"], 2);
    assert_age(&doc, &spout, &topic, 0, old);
    assert_eq!(group(&doc, &spout)["max_lag_seconds"], row(&doc, &spout, &topic, 0)["lag_seconds"]);
    block_on(async {
        let w = writer(&zk, None).await;
        delete_tree(&w, &root).await;
    });
}

/// On librdkafka's mock cluster (no services needed): a partition whose
/// leader is down costs only its own record, by the deadline, with a reason;
/// an offset at the log end is answered by the end of the log.
#[test]
fn a_dead_leader_costs_only_its_partitions_by_the_deadline() {
    use klag::kafka::timestamps::record_times;
    use klag::kafka::{Isolation, KafkaSettings};
    use klag::time_lag::{RecordAt, RecordTime};
    use rdkafka::mocking::MockCluster;
    use std::time::Instant;

    let mock = MockCluster::new(3).unwrap();
    mock.create_topic("tl", 2, 1).unwrap();
    mock.partition_leader("tl", 0, Some(1)).unwrap();
    mock.partition_leader("tl", 1, Some(2)).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let ts = now_ms() - 42_000;
    produce_at(&bootstrap, "tl", 0, &[ts - 1, ts, ts + 1]);
    produce_at(&bootstrap, "tl", 1, &[ts]);
    mock.broker_down(2).unwrap();

    let at = |partition: i32, offset: i64| RecordAt { topic: "tl".into(), partition, offset };
    let settings = KafkaSettings {
        bootstrap,
        timeout: Duration::from_secs(2),
        security: Default::default(),
        properties: Vec::new(),
    };
    let begin = Instant::now();
    let wanted = [at(0, 1), at(0, 3), at(1, 0)];
    let found = record_times(&settings, Isolation::ReadUncommitted, &wanted, begin + Duration::from_secs(2));
    let took = begin.elapsed();
    assert!(took < Duration::from_millis(2_600), "took {took:?}");
    assert_eq!(found.get(&at(0, 1)), Some(&Ok(RecordTime::At(ts))));
    assert_eq!(found.get(&at(0, 3)), Some(&Ok(RecordTime::EndOfLog)));
    let why = found.get(&at(1, 0)).cloned().unwrap().unwrap_err();
    assert!(why.contains("no record was read within 2s"), "{why}");
}
