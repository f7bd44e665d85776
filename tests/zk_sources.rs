//! The ZooKeeper sources against a real ZooKeeper (`scripts/services up zk`).
//!
//! The address comes from `KLAG_TEST_ZK` (e.g. `127.0.0.1:21810`); without it
//! every test prints "skipped: KLAG_TEST_ZK not set" and passes, unless
//! `KLAG_REQUIRE_SERVICES=1`, which makes that a failure. Nodes are created as
//! the writers create them (persistent JSON nodes; ephemeral owners and ids)
//! under a root unique to each test, deleted afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use regex::Regex;
use zookeeper_client::{Acls, CreateMode};

mod common;

use common::zk_writer::{block_on, delete_tree, put, put_with, writer};
use klag::brokers_zk;
use klag::lag::{Committed, Source};
use klag::sources::{storm, trident, zk_consumers, SourceResult};
use klag::zk::{self, Zk, ZkError, ZkSettings};

const TIMEOUT: Duration = Duration::from_secs(10);

fn zk_address() -> Option<String> {
    common::service("KLAG_TEST_ZK")
}

fn run<F: Future<Output = ()>>(test: F) {
    block_on(test);
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unique_root(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("/klag-test-{test}-{}-{nanos}", std::process::id())
}

async fn connect(addr: &str, digest: Option<&str>) -> Zk {
    let settings = ZkSettings { connect: addr.to_string(), timeout: TIMEOUT, digest: digest.map(str::to_string) };
    zk::connect(&settings).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

fn rows_of<'a>(r: &'a SourceResult, group: &str) -> Vec<&'a Committed> {
    r.rows.iter().filter(|c| c.group == group).collect()
}

fn key(c: &Committed) -> (String, i32, Option<i64>, Option<String>) {
    (c.topic.clone(), c.partition, c.offset, c.error.clone())
}

#[test]
fn storm_spouts_in_both_layouts() {
    let Some(addr) = zk_address() else { return };
    run(async move {
        let zk = connect(&addr, None).await;
        let w = writer(&addr, None).await;
        let c = &w;
        let root = unique_root("storm");
        let plain = format!("{root}/kafkastorm");
        let other = format!("{root}/storm-offsets");
        put(c, &format!("{plain}/clicks-spout/partition_0"), &fixture("storm/spout-0.9-partition_0.json")).await;
        put(c, &format!("{plain}/clicks-spout/partition_1"), &fixture("storm/spout-0.9-partition_1.json")).await;
        put(
            c,
            &format!("{plain}/logs-spout/access_log/partition_2"),
            &fixture("storm/spout-wildcard-access_log-partition_2.json"),
        )
        .await;
        put(c, &format!("{plain}/bad-spout/partition_0"), &fixture("storm/spout-0.9-partition_0.json")).await;
        put(c, &format!("{plain}/bad-spout/partition_2"), &fixture("malformed/storm-missing-offset.json")).await;
        put(c, &format!("{plain}/bad-spout/partition_3"), b"").await;
        put(c, &format!("{plain}/idle-spout"), b"").await;
        put(c, &format!("{other}/orders-spout/partition_7"), &fixture("storm/spout-1.x-partition_7.json")).await;

        let roots = vec![plain.clone(), format!("{other}/"), format!("{root}/missing")];
        let r = storm::read(&zk, &roots, None).await;
        assert_eq!(r.errors, vec![format!("Storm root {root}/missing does not exist in ZooKeeper {addr}")]);
        let groups: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(groups, vec!["bad-spout", "clicks-spout", "idle-spout", "logs-spout", "orders-spout"]);
        assert!(r.groups.iter().all(|g| g.source == Source::Storm && g.error.is_none()));

        let clicks = rows_of(&r, "clicks-spout");
        assert_eq!(
            clicks.iter().map(|c| key(c)).collect::<Vec<_>>(),
            vec![("clicks".into(), 0, Some(4222), None), ("clicks".into(), 1, Some(0), None)]
        );
        let info = clicks[0].storm.clone().unwrap();
        assert_eq!(info.topology.as_deref(), Some("clickstream"));
        assert_eq!(info.topology_id.as_deref(), Some("3f7b1c2e-9a4d-4e8f-b1c6-2d5e8f0a7b13"));
        assert_eq!(info.broker.as_deref(), Some("kafka1.example.com:9092"));
        assert!(clicks.iter().all(|c| c.source == Source::Storm));

        let logs = rows_of(&r, "logs-spout");
        assert_eq!(logs.iter().map(|c| key(c)).collect::<Vec<_>>(), vec![("access_log".into(), 2, Some(77), None)]);
        assert_eq!(logs[0].storm.as_ref().and_then(|s| s.topology.as_deref()), Some("log-shipper"));

        let orders = rows_of(&r, "orders-spout");
        assert_eq!(
            orders.iter().map(|c| key(c)).collect::<Vec<_>>(),
            vec![("orders.v2".into(), 7, Some(918_273_645), None)]
        );

        // Bad nodes: a per-row error naming the path; the topic is the one
        // the spout's good nodes agree on; the good row is complete.
        let bad = rows_of(&r, "bad-spout");
        assert_eq!(
            bad.iter().map(|c| key(c)).collect::<Vec<_>>(),
            vec![
                ("clicks".into(), 0, Some(4222), None),
                ("clicks".into(), 2, None, Some(format!("{plain}/bad-spout/partition_2: missing field \"offset\""))),
                ("clicks".into(), 3, None, Some(format!("{plain}/bad-spout/partition_3: empty node"))),
            ]
        );
        assert!(rows_of(&r, "idle-spout").is_empty());

        // Topology filter.
        let re = Regex::new("^clickstream$").unwrap();
        let r = storm::read(&zk, &roots, Some(&re)).await;
        let groups: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(groups, vec!["bad-spout", "clicks-spout"]);
        assert_eq!(r.rows.len(), 5);

        // The same spout id under two roots: groups are qualified by root.
        put(c, &format!("{other}/clicks-spout/partition_0"), &fixture("storm/spout-0.9-partition_0.json")).await;
        let r = storm::read(&zk, &roots[..2], None).await;
        let groups: Vec<String> = r.groups.iter().map(|g| g.group.clone()).collect();
        assert!(groups.contains(&format!("{plain}/clicks-spout")), "{groups:?}");
        assert!(groups.contains(&format!("{other}/clicks-spout")), "{groups:?}");

        let (listing, errors) = storm::list(&zk, &roots[..1]).await;
        assert!(errors.is_empty());
        let clicks = listing.iter().find(|s| s.spout_id == "clicks-spout").unwrap();
        assert_eq!(clicks.topologies, vec!["clickstream".to_string()]);
        assert_eq!(clicks.topics, vec!["clicks".to_string()]);
        assert_eq!((clicks.partitions, clicks.bad_partitions), (2, 0));
        let bad = listing.iter().find(|s| s.spout_id == "bad-spout").unwrap();
        assert_eq!((bad.partitions, bad.bad_partitions), (3, 2));

        delete_tree(c, &root).await;
    });
}

#[test]
fn storm_5000_partitions_read_in_well_under_a_second() {
    let Some(addr) = zk_address() else { return };
    run(async move {
        let zk = connect(&addr, None).await;
        let w = writer(&addr, None).await;
        let c = &w;
        let root = unique_root("storm5000");
        let spout = format!("{root}/big-spout");
        c.mkdir(&spout, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.unwrap();
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let created: Vec<_> = stream::iter(0..5000)
            .map(|p| {
                let path = format!("{spout}/partition_{p}");
                let data = format!(
                    r#"{{"topology":{{"id":"big-1-1700000000","name":"big"}},"offset":{},"partition":{p},"broker":{{"host":"k","port":9092}},"topic":"t{}"}}"#,
                    p * 10,
                    p % 3
                );
                let options = &options;
                async move { c.create(&path, data.as_bytes(), options).await.map(|_| ()) }
            })
            .buffer_unordered(256)
            .collect()
            .await;
        assert!(created.iter().all(Result::is_ok));

        let started = Instant::now();
        let r = storm::read(&zk, std::slice::from_ref(&root), None).await;
        let elapsed = started.elapsed();
        println!("read 5000 spout partition nodes in {elapsed:?}");
        assert_eq!(r.rows.len(), 5000);
        assert!(r.rows.iter().all(|c| c.error.is_none()));
        assert!(r.rows.iter().any(|c| c.topic == "t2" && c.partition == 4997 && c.offset == Some(49970)));
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

        // The same with one pipelined request per node (servers before 3.6).
        let singles = zk.clone().with_multi_read(false);
        let started = Instant::now();
        let again = storm::read(&singles, std::slice::from_ref(&root), None).await;
        let elapsed = started.elapsed();
        println!("read 5000 spout partition nodes without multi-read in {elapsed:?}");
        assert_eq!(again.rows, r.rows);
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

        delete_tree(c, &root).await;
    });
}

#[test]
fn trident_streams() {
    let Some(addr) = zk_address() else { return };
    run(async move {
        let zk = connect(&addr, None).await;
        let w = writer(&addr, None).await;
        let c = &w;
        let root = unique_root("trident");
        let tx = format!("{root}/transactional");
        let clicks = format!("{tx}/clicks-stream/user");
        // Older txids are still there: the numerically largest wins ("999" < "1207").
        put(c, &format!("{clicks}/partition_0/999"), br#"{"nextOffset":1,"topic":"clicks","partition":0}"#).await;
        put(c, &format!("{clicks}/partition_0/1206"), br#"{"nextOffset":48100,"topic":"clicks","partition":0}"#).await;
        put(c, &format!("{clicks}/partition_0/1207"), &fixture("trident/storm-kafka.json")).await;
        put(c, &format!("{clicks}/partition_1/1207"), &fixture("trident/storm-kafka-fallback.json")).await;
        put(c, &format!("{clicks}/partition_2/1207"), &fixture("trident/storm-kafka-null.json")).await;
        put(c, &format!("{clicks}/partition_3/1207"), &fixture("malformed/trident-missing-nextOffset.json")).await;
        put(c, &format!("{tx}/clicks-stream/coordinator/currtx"), b"1208").await;
        put(c, &format!("{tx}/orders-stream/user/orders@3/1041"), br#"{"lastOffset":999}"#).await;
        put(c, &format!("{tx}/orders-stream/user/orders@3/1042"), &fixture("trident/storm-kafka-client.json")).await;
        put(
            c,
            &format!("{tx}/multi-stream/user/metrics.cpu/partition_4/31"),
            &fixture("trident/storm-kafka-wildcard.json"),
        )
        .await;
        // A non-Kafka transactional spout: not reported.
        put(c, &format!("{tx}/other-stream/user/shard-a/5"), b"{\"seq\":5}").await;

        let r = trident::read(&zk, &tx, None).await;
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let groups: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(groups, vec!["clicks-stream", "multi-stream", "orders-stream"]);
        assert!(r.rows.iter().all(|c| c.source == Source::Trident));

        let rows = rows_of(&r, "clicks-stream");
        assert_eq!(
            rows.iter().map(|c| key(c)).collect::<Vec<_>>(),
            vec![
                ("clicks".into(), 0, Some(48213), None),
                ("clicks".into(), 1, Some(9000), None),
                ("clicks".into(), 2, None, None),
                ("clicks".into(), 3, None, Some(format!("{clicks}/partition_3/1207: missing field \"nextOffset\""))),
            ]
        );
        let info = rows[0].storm.clone().unwrap();
        assert_eq!(info.topology.as_deref(), Some("clicks-trident"));
        assert_eq!(info.topology_id.as_deref(), Some("clicks-trident-5-1700000100"));
        assert_eq!(info.broker.as_deref(), Some("kafka1.example.com:9092"));

        let rows = rows_of(&r, "orders-stream");
        assert_eq!(rows.iter().map(|c| key(c)).collect::<Vec<_>>(), vec![("orders".into(), 3, Some(1042), None)]);
        let info = rows[0].storm.clone().unwrap();
        assert_eq!(info.topology.as_deref(), Some("orders-trident"));
        assert_eq!(info.topology_id.as_deref(), Some("orders-trident-7-1700000300"));

        let rows = rows_of(&r, "multi-stream");
        assert_eq!(rows.iter().map(|c| key(c)).collect::<Vec<_>>(), vec![("metrics.cpu".into(), 4, Some(512), None)]);

        let re = Regex::new("^orders").unwrap();
        let r = trident::read(&zk, &tx, Some(&re)).await;
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.rows.len(), 1);

        let (streams, errors) = trident::list(&zk, &tx).await;
        assert!(errors.is_empty());
        let ids: Vec<&str> = streams.iter().map(|s| s.stream_id.as_str()).collect();
        assert_eq!(ids, vec!["clicks-stream", "multi-stream", "orders-stream"]);
        assert_eq!(streams[2].writer, trident::Writer::KafkaClient);
        assert_eq!((streams[0].partitions, streams[0].bad_partitions), (4, 1));

        let missing = trident::read(&zk, &format!("{root}/nope"), None).await;
        assert_eq!(missing.errors, vec![format!("Trident root {root}/nope does not exist in ZooKeeper {addr}")]);

        delete_tree(c, &root).await;
    });
}

#[test]
fn classic_consumers_through_a_chroot() {
    let Some(addr) = zk_address() else { return };
    run(async move {
        let root = unique_root("classic");
        let w = writer(&addr, None).await;
        let c = &w;
        let g = format!("{root}/consumers/clicks-etl");
        put(c, &format!("{g}/offsets/clicks/0"), &fixture("consumers/offset.txt")).await;
        put(c, &format!("{g}/offsets/clicks/1"), &fixture("consumers/offset-newline.txt")).await;
        put(c, &format!("{g}/offsets/clicks/2"), &fixture("malformed/consumer-offset-not-a-number.txt")).await;
        put(c, &format!("{g}/offsets/clicks/3"), &fixture("malformed/consumer-offset-negative.txt")).await;
        put(c, &format!("{g}/offsets/orders/0-1"), b"5").await;
        let ephemeral = |name: &str| (name.to_string(), CreateMode::Ephemeral);
        for (path, data) in [
            (format!("{g}/owners/clicks/0"), fixture("consumers/owner.txt")),
            (format!("{g}/owners/clicks/4"), fixture("consumers/owner-custom-id.txt")),
            (
                format!("{g}/ids/clicks-etl_worker3.example.com-1400000000000-1a2b3c4d"),
                fixture("consumers/ids-static.json"),
            ),
            (format!("{g}/ids/clicks-etl_worker4-1400000000123-5e6f7a8b"), fixture("consumers/ids-white-list.json")),
        ] {
            let (path, mode) = ephemeral(&path);
            put_with(c, &path, &data, mode, Acls::anyone_all()).await;
        }
        put(c, &format!("{root}/consumers/idle-group/ids"), b"").await;
        put(c, &format!("{root}/consumers/other/offsets/t/0"), b"1").await;

        let chrooted = connect(&format!("{addr}{root}"), None).await;
        let wanted = |g: &str| g != "other";
        let r = zk_consumers::read(&chrooted, &wanted).await;
        assert_eq!(
            r.errors,
            vec![format!(
                "/consumers/clicks-etl/offsets/orders/0-1: partition node name is not a number (Kafka 0.7 <broker>-<partition> offsets are not supported)"
            )]
        );
        let groups: Vec<(&str, Option<u32>)> = r.groups.iter().map(|g| (g.group.as_str(), g.members)).collect();
        assert_eq!(groups, vec![("clicks-etl", Some(2)), ("idle-group", Some(0))]);
        assert!(r.groups.iter().all(|g| g.source == Source::Zookeeper && g.error.is_none()));
        let rows = rows_of(&r, "clicks-etl");
        let base = "/consumers/clicks-etl/offsets/clicks";
        assert_eq!(
            rows.iter().map(|c| key(c)).collect::<Vec<_>>(),
            vec![
                ("clicks".into(), 0, Some(4222), None),
                ("clicks".into(), 1, Some(15), None),
                ("clicks".into(), 2, None, Some(format!("{base}/2: offset \"42abc\" is not a decimal number"))),
                ("clicks".into(), 3, None, Some(format!("{base}/3: offset is negative (-1)"))),
                ("clicks".into(), 4, None, None),
            ]
        );
        assert_eq!(
            rows[0].owner.consumer_id.as_deref(),
            Some("clicks-etl_worker3.example.com-1400000000000-1a2b3c4d-0")
        );
        assert_eq!(rows[0].owner.host.as_deref(), Some("worker3.example.com"));
        assert_eq!(rows[4].owner.consumer_id.as_deref(), Some("etl-consumer-a-2"));
        assert_eq!(rows[1].owner.consumer_id, None);
        assert!(rows.iter().all(|c| c.storm.is_none()));

        let (listing, errors) = zk_consumers::list(&chrooted, &|_| true).await;
        assert!(errors.is_empty());
        let names: Vec<(&str, u32, Vec<String>)> =
            listing.iter().map(|g| (g.group.as_str(), g.members, g.topics.clone())).collect();
        assert_eq!(
            names,
            vec![
                ("clicks-etl", 2, vec!["clicks".to_string(), "orders".to_string()]),
                ("idle-group", 0, vec![]),
                ("other", 0, vec!["t".to_string()]),
            ]
        );

        drop(chrooted);
        delete_tree(c, &root).await;
    });
}

#[test]
fn digest_protected_nodes() {
    let Some(addr) = zk_address() else { return };
    run(async move {
        let w = writer(&addr, Some("klag:s3cret")).await;
        let c = &w;
        let root = unique_root("digest");
        let spout = format!("{root}/kafkastorm/clicks-spout");
        for p in 0..2 {
            put_with(
                c,
                &format!("{spout}/partition_{p}"),
                &fixture(&format!("storm/spout-0.9-partition_{p}.json")),
                CreateMode::Persistent,
                Acls::creator_all(),
            )
            .await;
        }
        let roots = vec![format!("{root}/kafkastorm")];

        let authorized = connect(&addr, Some("klag:s3cret")).await;
        let r = storm::read(&authorized, &roots, None).await;
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(
            r.rows.iter().map(key).collect::<Vec<_>>(),
            vec![("clicks".into(), 0, Some(4222), None), ("clicks".into(), 1, Some(0), None)]
        );

        for digest in [None, Some("klag:wrong")] {
            let anonymous = connect(&addr, digest).await;
            let r = storm::read(&anonymous, &roots, None).await;
            assert_eq!(r.rows.len(), 2);
            for row in &r.rows {
                let expected = format!(
                    "ZooKeeper {spout}/partition_{}: not authorized (missing or wrong digest credentials)",
                    row.partition
                );
                assert_eq!(row.error.as_deref(), Some(expected.as_str()));
                assert_eq!(row.offset, None);
            }
        }

        delete_tree(c, &root).await;
    });
}

#[test]
fn unreachable_zookeeper_fails_cleanly_within_the_timeout() {
    // Needs no server: a port that was just free refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    run(async move {
        let timeout = Duration::from_secs(3);
        let settings =
            ZkSettings { connect: format!("127.0.0.1:{port}/chroot"), timeout, digest: Some("user:hunter2".into()) };
        let started = Instant::now();
        let err = zk::connect(&settings).await.unwrap_err();
        let elapsed = started.elapsed();
        let msg = err.to_string();
        println!("{msg} (after {elapsed:?})");
        assert!(elapsed < timeout + Duration::from_secs(1), "took {elapsed:?}");
        assert!(matches!(err, ZkError::Connect { .. } | ZkError::ConnectTimeout { .. }), "{err:?}");
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    });
}

#[test]
fn brokers_and_topics_from_registrations() {
    let Some(addr) = zk_address() else { return };
    run(async move {
        let admin = connect(&addr, None).await;
        let w = writer(&addr, None).await;
        let c = &w;
        let root = unique_root("brokers");
        put(c, &format!("{root}/brokers/ids/1"), &fixture("brokers/v1.json")).await;
        put(c, &format!("{root}/brokers/ids/4"), &fixture("brokers/v4.json")).await;
        put(c, &format!("{root}/brokers/ids/6"), &fixture("brokers/v4-empty-host.json")).await;
        put(c, &format!("{root}/brokers/ids/8"), &fixture("brokers/v5-ipv6.json")).await;
        put(c, &format!("{root}/brokers/topics/clicks"), &fixture("topics/v1.json")).await;

        let chrooted = connect(&format!("{addr}{root}"), None).await;
        let b = brokers_zk::bootstrap(&chrooted, None).await.unwrap();
        assert_eq!(b.servers, "kafka1.example.com:9092,kafka4.example.com:9092,[2001:db8::7]:9092");
        assert_eq!(b.protocol, "PLAINTEXT");
        assert_eq!(b.warnings, vec!["broker 6 registers an empty host for listener PLAINTEXT".to_string()]);
        let err = brokers_zk::bootstrap(&chrooted, Some("INTERNAL")).await.unwrap();
        assert_eq!(err.servers, "10.0.0.4:9094");
        assert_eq!(err.protocol, "SASL_PLAINTEXT");

        let topics = brokers_zk::topic_partitions(&chrooted, &["clicks".to_string(), "gone".to_string()]).await;
        assert_eq!(topics.get("clicks"), Some(&Ok(Some(vec![0, 1, 2]))));
        assert_eq!(topics.get("gone"), Some(&Ok(None)));

        let empty = connect(&format!("{addr}{root}/brokers/topics"), None).await;
        let err = brokers_zk::bootstrap(&empty, None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no broker is registered under /brokers/ids in ZooKeeper {addr}{root}/brokers/topics")
        );

        // The harness's Kafka 3.9 (ZooKeeper mode) registers at the root, when it runs.
        let (brokers, errors) = brokers_zk::registrations(&admin).await.unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        if !brokers.is_empty() {
            let b = brokers_zk::bootstrap(&admin, None).await.unwrap();
            println!("live brokers: {brokers:?} -> {b}");
            assert!(!b.servers.is_empty());
        }

        drop(chrooted);
        drop(empty);
        delete_tree(c, &root).await;
    });
}

#[test]
fn a_dead_host_in_the_connect_string_is_skipped() {
    let Some(addr) = zk_address() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    run(async move {
        let zk = connect(&format!("127.0.0.1:{port},{addr}"), None).await;
        assert!(zk.children("/").await.unwrap().is_some());
    });
}

#[test]
fn a_server_that_is_not_zookeeper_fails_within_the_timeout() {
    // Accepts connections and closes them at once, like a wrong port would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    run(async move {
        let timeout = Duration::from_secs(3);
        let settings = ZkSettings { connect: format!("127.0.0.1:{port}"), timeout, digest: None };
        let started = Instant::now();
        let err = zk::connect(&settings).await.unwrap_err();
        let elapsed = started.elapsed();
        println!("{err} (after {elapsed:?})");
        assert!(elapsed < timeout + Duration::from_secs(1), "took {elapsed:?}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    });
}
