//! Helpers for integration tests against the real services started by
//! `scripts/services` (see scripts/README.md). A test asks for a service by
//! its env var; when unset it is skipped, unless KLAG_REQUIRE_SERVICES=1
//! (set by scripts/test), in which case a missing service fails the test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod zk_writer;

use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

/// The address of a service from its env var, or None (test skipped).
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("KLAG_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{var} is not set but KLAG_REQUIRE_SERVICES=1: start the services with scripts/services up")
        }
        _ => {
            eprintln!("skipped: {var} not set (run scripts/test, or scripts/services up and export it)");
            None
        }
    }
}

/// The Kafka clusters under test: (label, bootstrap).
pub fn kafka_clusters() -> Vec<(&'static str, String)> {
    [("kafka39", "KLAG_TEST_KAFKA39"), ("kafka4", "KLAG_TEST_KAFKA4")]
        .into_iter()
        .filter_map(|(label, var)| service(var).map(|b| (label, b)))
        .collect()
}

/// A name no earlier run used, so tests never see each other's data.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client")
}

fn opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))
}

pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let results = block_on(
        admin(bootstrap).create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &opts()),
    )
    .expect("create_topics");
    for r in results {
        r.expect("topic created");
    }
    // Wait until every partition has a leader and answers.
    let c = consumer(bootstrap, None);
    for _ in 0..100 {
        if let Ok(md) = c.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            let t = &md.topics()[0];
            if t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0 && p.error().is_none())
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("topic {topic} never became ready");
}

/// Produces `counts[p]` records to partition p and waits for every ack.
pub fn produce(bootstrap: &str, topic: &str, counts: &[usize]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("acks", "all")
        .create()
        .expect("producer");
    for (partition, &n) in counts.iter().enumerate() {
        for i in 0..n {
            let key = format!("k{i}");
            p.send(BaseRecord::to(topic).partition(partition as i32).key(&key).payload("v"))
                .map_err(|(e, _)| e)
                .expect("enqueue");
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

pub fn consumer(bootstrap: &str, group: Option<&str>) -> BaseConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("enable.auto.commit", "false");
    if let Some(g) = group {
        c.set("group.id", g);
    }
    c.create().expect("consumer")
}

/// Commits offsets for a group without joining it (the group stays Empty).
pub fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let c = consumer(bootstrap, Some(group));
    let mut tpl = TopicPartitionList::new();
    for &(t, p, o) in offsets {
        tpl.add_partition_offset(t, p, Offset::Offset(o)).unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// Deletes records before `before` in one partition (moves the log start).
pub fn delete_records(bootstrap: &str, topic: &str, partition: i32, before: i64) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(before)).unwrap();
    let res = block_on(admin(bootstrap).delete_records(&tpl, &opts())).expect("delete_records");
    for e in res.elements() {
        assert!(e.error().is_ok(), "delete_records failed: {:?}", e.error());
    }
}

pub fn klag() -> Command {
    let mut c = Command::cargo_bin("klag").expect("klag binary");
    c.env_remove("KLAG_BOOTSTRAP_SERVER").env_remove("KLAG_FORMAT");
    for var in [
        "KLAG_SECURITY_PROTOCOL",
        "KLAG_SASL_MECHANISM",
        "KLAG_SASL_USERNAME",
        "KLAG_SASL_PASSWORD",
        "KLAG_SSL_CA",
        "KLAG_SSL_CERT",
        "KLAG_SSL_KEY",
        "KLAG_SSL_KEY_PASSWORD",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs klag with `args` plus `--format json` and parses the document.
pub fn klag_json(args: &[&str]) -> (Value, Output) {
    let out = klag().args(args).args(["--format", "json"]).timeout(Duration::from_secs(60)).output().expect("run klag");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "klag printed no JSON ({e}); status {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out)
}

/// The JSON partition row for (group, topic, partition).
pub fn row<'a>(doc: &'a Value, group: &str, topic: &str, partition: i64) -> &'a Value {
    doc["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["group"] == group && p["topic"] == topic && p["partition"] == partition)
        .unwrap_or_else(|| panic!("no row for {group} {topic}/{partition} in {doc:#}"))
}

pub fn group<'a>(doc: &'a Value, group: &str) -> &'a Value {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == group)
        .unwrap_or_else(|| panic!("no group {group} in {doc:#}"))
}

/// Closes `s` with SO_LINGER 0, so the peer sees a connection reset.
pub fn reset_connection(s: std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket owned here, with a valid struct of the given size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Produces one record per timestamp (ms) to `partition`, in order.
pub fn produce_at(bootstrap: &str, topic: &str, partition: i32, timestamps: &[i64]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("acks", "all")
        .create()
        .unwrap();
    for ts in timestamps {
        p.send(BaseRecord::to(topic).partition(partition).key("k").payload("v").timestamp(*ts))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
}
