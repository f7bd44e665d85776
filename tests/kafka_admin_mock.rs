//! `klag::kafka` against librdkafka's in-process mock cluster (real loopback
//! TCP ports), a closed port and a silent server.
//!
//! The mock cluster supports Produce, ListOffsets, OffsetCommit/OffsetFetch
//! and FindCoordinator, but not ListGroups/DescribeGroups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use klag::kafka::{CommittedOffset, Isolation, Kafka, KafkaSettings};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

const BROKERS: i32 = 3;

fn settings(bootstrap: &str, timeout: Duration, props: &[(&str, &str)]) -> KafkaSettings {
    KafkaSettings {
        bootstrap: bootstrap.to_string(),
        timeout,
        security: Default::default(),
        properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn connect(bootstrap: &str) -> Kafka {
    Kafka::connect(&settings(bootstrap, Duration::from_secs(10), &[])).unwrap()
}

fn in_secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

/// Produces `count` records to each `(topic, partition, count)`.
fn produce(bootstrap: &str, counts: &[(&str, i32, usize)]) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    for &(topic, partition, count) in counts {
        for i in 0..count {
            let payload = format!("{topic}-{partition}-{i}");
            producer.send(BaseRecord::<(), _>::to(topic).partition(partition).payload(&payload)).unwrap();
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(producer.in_flight_count(), 0);
}

/// Commits `(topic, partition, offset)` for `group` without joining it.
fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for &(topic, partition, offset) in offsets {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset)).unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
}

/// A mock cluster with topics `orders` (3 partitions: 5, 0, 7 records) and
/// `events` (2 partitions: 3, 4 records); group `g1` committed orders/0=2,
/// orders/2=7, events/1=1 and group `g2` committed events/0=3.
fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let mock = MockCluster::new(BROKERS).unwrap();
    mock.create_topic("orders", 3, 1).unwrap();
    mock.create_topic("events", 2, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();
    produce(&bootstrap, &[("orders", 0, 5), ("orders", 2, 7), ("events", 0, 3), ("events", 1, 4)]);
    commit(&bootstrap, "g1", &[("orders", 0, 2), ("orders", 2, 7), ("events", 1, 1)]);
    commit(&bootstrap, "g2", &[("events", 0, 3)]);
    mock
}

fn sorted(mut v: Vec<CommittedOffset>) -> Vec<(String, i32, Option<i64>)> {
    assert!(v.iter().all(|c| c.error.is_none()), "{v:?}");
    v.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    v.into_iter().map(|c| (c.topic, c.partition, c.offset)).collect()
}

fn tp(topic: &str, partition: i32) -> (String, i32) {
    (topic.to_string(), partition)
}

#[test]
fn committed_offsets_are_exact() {
    let mock = cluster();
    let kafka = connect(&mock.bootstrap_servers());
    let ids: Vec<String> = ["g1", "g2", "nobody", "g1"].iter().map(|s| s.to_string()).collect();
    let parts =
        vec![tp("orders", 0), tp("orders", 1), tp("orders", 2), tp("events", 0), tp("events", 1), tp("orders", 0)];
    let started = Instant::now();
    let res = kafka.committed_offsets_of(&ids, Some(&parts), in_secs(10));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let names: Vec<&str> = res.iter().map(|(g, _)| g.as_str()).collect();
    assert_eq!(names, ["g1", "g2", "nobody"]);
    let got: Vec<_> = res.into_iter().map(|(_, r)| sorted(r.unwrap())).collect();
    let row = |t: &str, p: i32, o: Option<i64>| (t.to_string(), p, o);
    assert_eq!(
        got[0],
        vec![
            row("events", 0, None),
            row("events", 1, Some(1)),
            row("orders", 0, Some(2)),
            row("orders", 1, None),
            row("orders", 2, Some(7)),
        ]
    );
    assert_eq!(
        got[1],
        vec![
            row("events", 0, Some(3)),
            row("events", 1, None),
            row("orders", 0, None),
            row("orders", 1, None),
            row("orders", 2, None)
        ]
    );
    assert!(got[2].iter().all(|(_, _, o)| o.is_none()) && got[2].len() == 5);
    // Nothing asked, nothing sent.
    let none = kafka.committed_offsets_of(&ids, Some(&[]), in_secs(10));
    assert!(none.iter().all(|(_, r)| r.as_ref().is_ok_and(|v| v.is_empty())));
}

#[test]
fn committed_offsets_of_all_partitions_answer_on_the_mock() {
    // NULL partitions = "all committed partitions" (OffsetFetch with a null
    // topic array). The mock cannot answer that form and returns no topics;
    // real brokers (verified with Kafka 3.9 and 4.x) return every commit.
    let mock = cluster();
    let kafka = connect(&mock.bootstrap_servers());
    let res = kafka.committed_offsets(&["g1".to_string()], in_secs(10));
    assert_eq!(res.len(), 1);
    assert!(res[0].1.is_ok(), "{res:?}");
}

#[test]
fn log_offsets_are_exact() {
    let mock = cluster();
    let kafka = connect(&mock.bootstrap_servers());
    let parts =
        vec![tp("orders", 0), tp("orders", 1), tp("orders", 2), tp("events", 0), tp("events", 1), tp("orders", 0)];
    for isolation in [Isolation::ReadUncommitted, Isolation::ReadCommitted] {
        let table = kafka.log_offsets(&parts, isolation, in_secs(10)).unwrap();
        let got: BTreeMap<_, _> = table.iter().map(|(k, v)| (k.clone(), (v.start, v.end, v.error.clone()))).collect();
        let want: BTreeMap<_, _> =
            [("orders", 0, 5), ("orders", 1, 0), ("orders", 2, 7), ("events", 0, 3), ("events", 1, 4)]
                .iter()
                .map(|&(t, p, end)| (tp(t, p), (Some(0), Some(end), None)))
                .collect();
        assert_eq!(got, want, "{isolation:?}");
    }
}

#[test]
fn unknown_topic_and_partition_do_not_spoil_the_rest() {
    let mock = cluster();
    let kafka = connect(&mock.bootstrap_servers());
    let parts = vec![tp("orders", 0), tp("no-such-topic", 0), tp("orders", 9), tp("events", 1), tp("no-such-topic", 1)];
    let started = Instant::now();
    let table = kafka.log_offsets(&parts, Isolation::ReadUncommitted, in_secs(10)).unwrap();
    eprintln!("mixed: took {:?}", started.elapsed());
    for (k, v) in &table {
        eprintln!("{k:?}: {v:?}");
    }
    assert_eq!(table.len(), 5);
    let ok = |t: &str, p: i32, end: i64| {
        let l = &table[&tp(t, p)];
        assert_eq!((l.start, l.end, l.error.as_deref()), (Some(0), Some(end), None), "{t}/{p}");
    };
    ok("orders", 0, 5);
    ok("events", 1, 4);
    for (t, p) in [("no-such-topic", 0), ("orders", 9), ("no-such-topic", 1)] {
        let l = &table[&tp(t, p)];
        assert_eq!((l.start, l.end), (None, None), "{t}/{p}");
        assert!(l.error.is_some(), "{t}/{p}");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn only_unknown_topics_give_per_partition_errors() {
    let mock = cluster();
    let kafka = connect(&mock.bootstrap_servers());
    let parts = vec![tp("no-such-topic", 0), tp("other-missing", 3)];
    let started = Instant::now();
    let table = kafka.log_offsets(&parts, Isolation::ReadUncommitted, in_secs(10)).unwrap();
    eprintln!("unknown only: took {:?}: {table:?}", started.elapsed());
    assert_eq!(table.len(), 2);
    assert!(table.values().all(|l| l.start.is_none() && l.end.is_none() && l.error.is_some()));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn topic_stuck_in_leader_not_available_does_not_spoil_the_rest() {
    // A topic whose metadata keeps saying LEADER_NOT_AVAILABLE (as while it
    // is being created) makes librdkafka's leader lookup wait until the
    // request timeout and then fail the whole ListOffsets, every partition
    // included. klag gives the first attempt half the time, then asks per topic.
    let mock = cluster();
    mock.create_topic("stuck", 2, 1).unwrap();
    mock.topic_error("stuck", RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let kafka = connect(&bootstrap);
    let budget = Duration::from_secs(4);
    let started = Instant::now();
    let parts = vec![tp("orders", 0), tp("stuck", 0), tp("events", 1)];
    let table = kafka.log_offsets(&parts, Isolation::ReadUncommitted, started + budget).unwrap();
    let took = started.elapsed();
    assert!(took <= budget + Duration::from_secs(1), "took {took:?}");
    let l = &table[&tp("orders", 0)];
    assert_eq!((l.start, l.end, l.error.as_deref()), (Some(0), Some(5), None));
    let l = &table[&tp("events", 1)];
    assert_eq!((l.start, l.end, l.error.as_deref()), (Some(0), Some(4), None));
    let l = &table[&tp("stuck", 0)];
    assert_eq!((l.start, l.end), (None, None));
    let e = l.error.clone().unwrap();
    assert!(e.contains("timed out") && e.contains(&bootstrap), "{e}");
}

#[test]
fn group_listing_on_the_mock_fails_by_the_deadline_naming_the_address() {
    // The mock has no ListGroups/DescribeGroups: errors, not hangs or panics.
    let mock = cluster();
    let bootstrap = mock.bootstrap_servers();
    let kafka = connect(&bootstrap);
    let started = Instant::now();
    let listed = kafka.list_groups(in_secs(3));
    eprintln!("list_groups on mock: {:?} after {:?}", listed, started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(4));
    if let Err(e) = &listed {
        assert!(e.to_string().contains(&bootstrap), "{e}");
    }
    let started = Instant::now();
    let described = kafka.describe_groups(&["g1".to_string()], in_secs(3));
    eprintln!("describe_groups on mock: {:?} after {:?}", described, started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// Asserts every call fails by its deadline (+1 s) with the address named.
fn assert_unreachable(bootstrap: &str) {
    let kafka = Kafka::connect(&settings(bootstrap, Duration::from_secs(2), &[])).unwrap();
    let budget = Duration::from_secs(2);
    let slack = Duration::from_secs(1);

    let started = Instant::now();
    let r = kafka.log_offsets(&[tp("orders", 0), tp("events", 1)], Isolation::ReadUncommitted, started + budget);
    let took = started.elapsed();
    let e = r.expect_err("log_offsets must fail").to_string();
    eprintln!("log_offsets: {e} ({took:?})");
    assert!(took <= budget + slack, "took {took:?}");
    assert!(e.starts_with(&format!("no broker answered at {bootstrap} within 2s (")), "{e}");

    let started = Instant::now();
    let r = kafka.committed_offsets(&["g1".to_string(), "g2".to_string()], started + budget);
    let took = started.elapsed();
    assert!(took <= budget + slack, "took {took:?}");
    assert_eq!(r.len(), 2);
    for (g, res) in r {
        let e = res.expect_err("committed_offsets must fail");
        eprintln!("committed_offsets {g}: {e} ({took:?})");
        assert!(e.starts_with(&format!("no broker answered at {bootstrap} within 2s (")), "{e}");
    }

    let started = Instant::now();
    let r = kafka.list_groups(started + budget);
    let took = started.elapsed();
    let e = r.expect_err("list_groups must fail").to_string();
    eprintln!("list_groups: {e} ({took:?})");
    // ListGroups takes half the time left: the rest is for the requests after it.
    assert!(took <= budget / 2 + slack, "took {took:?}");
    assert!(e.starts_with(&format!("no broker answered at {bootstrap} within 1s (")), "{e}");

    let started = Instant::now();
    let r = kafka.describe_groups(&["g1".to_string()], started + budget);
    let took = started.elapsed();
    let e = match r {
        Err(e) => e.to_string(),
        Ok(mut v) => v.pop().and_then(|(_, d)| d.err()).expect("describe_groups must fail"),
    };
    eprintln!("describe_groups: {e} ({took:?})");
    assert!(took <= budget + slack, "took {took:?}");
    assert!(e.starts_with(&format!("no broker answered at {bootstrap} within 2s (")), "{e}");

    let started = Instant::now();
    drop(kafka);
    assert!(started.elapsed() < slack, "dropping the client took {:?}", started.elapsed());
}

#[test]
fn closed_port_fails_by_the_deadline() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bootstrap = format!("127.0.0.1:{port}");
    assert_unreachable(&bootstrap);
    // The refused connection itself is named too.
    let kafka = connect(&bootstrap);
    let e = kafka.log_offsets(&[tp("t", 0)], Isolation::ReadUncommitted, in_secs(2)).unwrap_err().to_string();
    assert!(e.contains("Connection refused"), "{e}");
}

#[test]
fn silent_server_fails_by_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                // Accept, read nothing, answer nothing.
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
    });
    assert_unreachable(&format!("127.0.0.1:{port}"));
}

/// Runs only as a child of `debug_protocol_counts_requests` (env set): its
/// librdkafka `debug=protocol` output on stderr is what the parent counts.
#[test]
fn child_debug_protocol() {
    let Ok(bootstrap) = std::env::var("KLAG_TEST_CHILD_BOOTSTRAP") else {
        return;
    };
    let kafka = Kafka::connect(&settings(&bootstrap, Duration::from_secs(10), &[("debug", "protocol")])).unwrap();
    let ids: Vec<String> = ["g1", "g2", "nobody"].iter().map(|s| s.to_string()).collect();
    let res = kafka.committed_offsets(&ids, in_secs(10));
    assert!(res.iter().all(|(_, r)| r.is_ok()));
    let parts = vec![tp("orders", 0), tp("orders", 1), tp("orders", 2), tp("events", 0), tp("events", 1)];
    let table = kafka.log_offsets(&parts, Isolation::ReadUncommitted, in_secs(10)).unwrap();
    assert!(table.values().all(|l| l.error.is_none()));
    println!("CHILD-OK");
}

#[test]
fn debug_protocol_counts_requests() {
    let mock = cluster();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "child_debug_protocol", "--nocapture", "--test-threads=1"])
        .env("KLAG_TEST_CHILD_BOOTSTRAP", mock.bootstrap_servers())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("CHILD-OK"), "{stdout}\n{err}");
    let count = |what: &str| err.lines().filter(|l| l.contains(&format!("Sent {what}Request"))).count();
    let (list_offsets, offset_fetch) = (count("ListOffsets"), count("OffsetFetch"));
    eprintln!("ListOffsets requests: {list_offsets}, OffsetFetch requests: {offset_fetch}");
    // One OffsetFetch per group; one ListOffsets per leader for each of the
    // two specs (5 partitions over 3 brokers: at most 3 leaders).
    assert_eq!(offset_fetch, 3, "{err}");
    assert!((2..=2 * BROKERS as usize).contains(&list_offsets), "{err}");
}
