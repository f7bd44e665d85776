//! Storm spouts, Trident streams and classic consumer groups end to end: nodes
//! written to a real ZooKeeper the way their writers write them, records in a
//! real Kafka 3.9 registered in that ZooKeeper, and the real klag binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::zk_writer::{block_on, delete_tree, put, put_with, writer};
use common::*;
use serde_json::{json, Value};
use zookeeper_client::{Acls, CreateMode};

struct Env {
    zk: String,
    kafka: String,
}

fn env() -> Option<Env> {
    Some(Env { zk: service("KLAG_TEST_ZK")?, kafka: service("KLAG_TEST_KAFKA39")? })
}

fn spout_node(topology: (&str, &str), topic: &str, partition: i32, offset: i64) -> Vec<u8> {
    json!({
        "topology": {"id": topology.1, "name": topology.0},
        "offset": offset,
        "partition": partition,
        "broker": {"host": "stale-kafka-host", "port": 9092},
        "topic": topic,
    })
    .to_string()
    .into_bytes()
}

fn assert_lag(doc: &Value, group: &str, topic: &str, p: i64, committed: i64, end: i64) {
    let r = row(doc, group, topic, p);
    assert_eq!(r["committed"], committed, "committed of {group} {topic}/{p}");
    assert_eq!(r["log_start"], 0, "log_start of {group} {topic}/{p}");
    assert_eq!(r["log_end"], end, "log_end of {group} {topic}/{p}");
    assert_eq!(r["lag"], end - committed, "lag of {group} {topic}/{p}");
    assert_eq!(r["flags"], json!([]), "flags of {group} {topic}/{p}");
}

#[test]
fn every_zookeeper_layout_is_measured_exactly() {
    let Some(env) = env() else { return };
    let p = unique("zke");
    let (clicks, orders) = (format!("{p}-clicks"), format!("{p}.orders.v1"));
    create_topic(&env.kafka, &clicks, 3);
    create_topic(&env.kafka, &orders, 2);
    produce(&env.kafka, &clicks, &[10, 20, 30]);
    produce(&env.kafka, &orders, &[5, 8]);

    let storm_root = format!("/{p}-storm");
    let tx_root = format!("/{p}-tx");
    let classic = format!("{p}-classic");
    block_on(async {
        let c = writer(&env.zk, None).await;
        // storm-kafka 1.x: topology id is the storm id.
        let topo1 = ("clicks-topo", "clicks-topo-3-1700000000");
        for (part, off) in [(0, 4), (1, 20), (2, 25)] {
            put(&c, &format!("{storm_root}/spoutA/partition_{part}"), &spout_node(topo1, &clicks, part, off)).await;
        }
        // storm-kafka 0.9.x: topology id is a random UUID.
        let topo09 = ("orders-topo", "0b5bd4c6-4b5e-4a7e-9a5a-6b8d3f1e2c11");
        put(&c, &format!("{storm_root}/spoutB/partition_0"), &spout_node(topo09, &orders, 0, 1)).await;
        // Wildcard-topic layout: <root>/<spout>/<topic>/partition_<N>.
        let topo_w = ("wild-topo", "wild-topo-1-1700000001");
        put(&c, &format!("{storm_root}/spoutW/{orders}/partition_1"), &spout_node(topo_w, &orders, 1, 2)).await;
        // A broken node: reported on its row, everything else complete.
        put(&c, &format!("{storm_root}/spoutBad/partition_0"), b"{\"offset\": ").await;
        // A partition of a topic that no longer exists.
        let gone = format!("{p}-deleted-topic");
        put(
            &c,
            &format!("{storm_root}/spoutGone/partition_0"),
            &spout_node(("gone-topo", "gone-topo-1-1"), &gone, 0, 3),
        )
        .await;

        // Trident storm-kafka: the numerically largest txid wins (12 > 5).
        let tk = |offset: i64, next: i64| {
            json!({"offset": offset, "nextOffset": next, "instanceId": "5a0f", "partition": 0,
                   "broker": {"host": "stale-kafka-host", "port": 9092}, "topic": clicks,
                   "topology": {"name": "tx-topo", "id": "tx-topo-2-1700000002"}})
            .to_string()
        };
        put(&c, &format!("{tx_root}/streamK/user/partition_0/5"), tk(3, 6).as_bytes()).await;
        put(&c, &format!("{tx_root}/streamK/user/partition_0/12"), tk(6, 9).as_bytes()).await;
        // Trident storm-kafka-client: position = lastOffset + 1.
        let tc = json!({"firstOffset": 2, "lastOffset": 4, "topologyId": "client-topo-1-1700000003"}).to_string();
        put(&c, &format!("{tx_root}/streamC/user/{orders}@1/3"), tc.as_bytes()).await;

        // Classic 0.8 consumer group: decimal text, owners and ids.
        put(&c, &format!("/consumers/{classic}/offsets/{clicks}/0"), b"7").await;
        put(&c, &format!("/consumers/{classic}/offsets/{clicks}/1"), b"20\n").await;
        let owner = format!("{classic}_host1-1700000000000-abcd1234-0");
        put(&c, &format!("/consumers/{classic}/owners/{clicks}/0"), owner.as_bytes()).await;
        put(
            &c,
            &format!("/consumers/{classic}/ids/{classic}_host1-1700000000000-abcd1234"),
            br#"{"version":1,"subscription":{"x":1},"pattern":"static","timestamp":"1700000000000"}"#,
        )
        .await;
    });

    let (doc, out) = klag_json(&[
        "--zookeeper",
        &env.zk,
        "--storm-root",
        &storm_root,
        "--trident",
        &tx_root,
        "--classic",
        "--group",
        &format!("^(spout|stream|{p})"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One bad node: partial, exit 1, and the node is named.
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");

    assert_lag(&doc, "spoutA", &clicks, 0, 4, 10);
    assert_lag(&doc, "spoutA", &clicks, 1, 20, 20);
    assert_lag(&doc, "spoutA", &clicks, 2, 25, 30);
    let a0 = row(&doc, "spoutA", &clicks, 0);
    assert_eq!(a0["source"], "storm");
    assert_eq!(a0["topology"], "clicks-topo");
    assert_eq!(a0["broker"], "stale-kafka-host:9092", "the stale broker is shown");
    assert_lag(&doc, "spoutB", &orders, 0, 1, 5);
    assert_eq!(row(&doc, "spoutB", &orders, 0)["topology"], "orders-topo");
    assert_lag(&doc, "spoutW", &orders, 1, 2, 8);
    let bad: Vec<&Value> = doc["partitions"].as_array().unwrap().iter().filter(|r| r["group"] == "spoutBad").collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["flags"], json!(["bad_data"]));
    assert!(bad[0]["error"].as_str().unwrap().contains(&format!("{storm_root}/spoutBad/partition_0")));

    let gone = row(&doc, "spoutGone", &format!("{p}-deleted-topic"), 0);
    assert_eq!(gone["flags"], json!(["unavailable"]));
    assert_eq!(gone["committed"], 3);
    assert!(gone["error"].as_str().unwrap().contains("Unknown topic"), "{gone}");

    assert_lag(&doc, "streamK", &clicks, 0, 9, 10);
    assert_eq!(row(&doc, "streamK", &clicks, 0)["source"], "trident");
    assert_lag(&doc, "streamC", &orders, 1, 5, 8);

    assert_lag(&doc, &classic, &clicks, 0, 7, 10);
    assert_lag(&doc, &classic, &clicks, 1, 20, 20);
    let c0 = row(&doc, &classic, &clicks, 0);
    assert_eq!(c0["source"], "zookeeper");
    assert_eq!(c0["consumer_id"], format!("{classic}_host1-1700000000000-abcd1234-0"));
    let g = group(&doc, &classic);
    assert_eq!(g["members"], 1);
    assert_eq!(g["total_lag"], 3);
    let g = group(&doc, "spoutA");
    assert_eq!(g["total_lag"], 11);

    // --topology narrows Storm and Trident to one topology.
    let (doc, out) = klag_json(&["-z", &env.zk, "--storm-root", &storm_root, "--topology", "^clicks-topo$"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let groups: Vec<&str> = doc["groups"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect();
    assert_eq!(groups, vec!["spoutA"]);

    // The Storm table keeps stormkafkamon's columns and summary lines.
    let table = klag()
        .args(["-z", &env.zk, "--storm-root", &storm_root, "--group", "spoutA", "--format", "table"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("TOPOLOGY") && text.contains("EARLIEST") && text.contains("DEPTH") && text.contains("CURRENT"),
        "{text}"
    );
    assert!(text.contains("Partitions: 3  Total depth: 60 messages  Total lag: 11 messages"), "{text}");

    // klag groups lists all of them.
    let listing = klag()
        .args([
            "groups",
            "-z",
            &env.zk,
            "--storm-root",
            &storm_root,
            "--trident",
            &tx_root,
            "--classic",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let listing: Value = serde_json::from_slice(&listing.stdout).unwrap();
    let names: Vec<(String, String)> = listing["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["source"].as_str().unwrap().to_string(), g["group"].as_str().unwrap().to_string()))
        .collect();
    for want in [
        ("storm", "spoutA"),
        ("storm", "spoutW"),
        ("trident", "streamK"),
        ("trident", "streamC"),
        ("zookeeper", classic.as_str()),
    ] {
        assert!(names.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} missing from {names:?}");
    }

    block_on(async {
        let c = writer(&env.zk, None).await;
        delete_tree(&c, &storm_root).await;
        delete_tree(&c, &tx_root).await;
        delete_tree(&c, &format!("/consumers/{classic}")).await;
    });
}

/// Spouts in Storm's own (chrooted) ensemble, brokers given explicitly;
/// digest-protected nodes read with credentials from the environment.
#[test]
fn storm_zookeeper_chroot_and_digest() {
    let Some(env) = env() else { return };
    let p = unique("zkc");
    let topic = format!("{p}-t");
    create_topic(&env.kafka, &topic, 1);
    produce(&env.kafka, &topic, &[12]);
    let chroot = format!("/{p}-stormzk");
    block_on(async {
        let c = writer(&env.zk, Some("storm:s3cret-canary")).await;
        put(&c, &format!("{chroot}/kafkastorm/open/partition_0"), &spout_node(("t", "t-1-1"), &topic, 0, 2)).await;
        put_with(&c, &format!("{chroot}/kafkastorm/locked"), b"", CreateMode::Persistent, Acls::anyone_all()).await;
        put_with(
            &c,
            &format!("{chroot}/kafkastorm/locked/partition_0"),
            &spout_node(("t", "t-1-1"), &topic, 0, 5),
            CreateMode::Persistent,
            Acls::creator_all(),
        )
        .await;
    });
    let chrooted = format!("{}{chroot}", env.zk);
    let args = ["-b", env.kafka.as_str(), "--storm-zookeeper", &chrooted, "--storm-root", "/kafkastorm"];

    let out = klag().args(args).args(["--format", "json"]).env("KLAG_ZK_AUTH", "storm:s3cret-canary").output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_lag(&doc, "open", &topic, 0, 2, 12);
    assert_lag(&doc, "locked", &topic, 0, 5, 12);

    // Without credentials the locked node is an error on its row only.
    let out = klag().args(args).args(["--format", "json"]).env_remove("KLAG_ZK_AUTH").output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_lag(&doc, "open", &topic, 0, 2, 12);
    let locked = &doc["partitions"].as_array().unwrap().iter().find(|r| r["group"] == "locked").unwrap();
    assert!(locked["error"].as_str().unwrap().contains("not authorized"), "{locked}");
    for text in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(text).contains("s3cret-canary"));
    }

    block_on(async {
        let c = writer(&env.zk, Some("storm:s3cret-canary")).await;
        delete_tree(&c, &chroot).await;
    });
}

#[test]
fn zookeeper_down_before_the_run_fails_cleanly_in_time() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    let out = klag().args(["-z", &addr, "--storm-root", "/s", "--timeout", "3s", "--format", "json"]).output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

/// A proxy in front of the real ZooKeeper that cuts every connection, and
/// refuses new ones, once the first reply has passed: ZooKeeper dying mid-run.
fn dying_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let dead = Arc::new(AtomicBool::new(false));
        for client in listener.incoming().flatten() {
            if dead.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let server = TcpStream::connect(&upstream).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c_in, &mut s_out));
            let dead = dead.clone();
            std::thread::spawn(move || {
                let (mut s_in, mut c_out) = (server, client);
                let mut buf = [0u8; 4096];
                // Forward the session handshake and one reply, then die.
                for _ in 0..2 {
                    match s_in.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            let _ = c_out.write_all(&buf[..n]);
                        }
                        _ => break,
                    }
                }
                dead.store(true, Ordering::SeqCst);
                let _ = s_in.shutdown(std::net::Shutdown::Both);
                let _ = c_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

#[test]
fn zookeeper_dying_during_the_run_fails_cleanly_in_time() {
    let Some(env) = env() else { return };
    let p = unique("zkd");
    let root = format!("/{p}-storm");
    block_on(async {
        let c = writer(&env.zk, None).await;
        for i in 0..200 {
            put(&c, &format!("{root}/spout/partition_{i}"), &spout_node(("t", "t-1-1"), "x", i, 1)).await;
        }
    });
    let proxy = dying_proxy(env.zk.clone());
    let start = Instant::now();
    let out = klag()
        .args([
            "-b",
            &env.kafka,
            "--storm-zookeeper",
            &proxy,
            "--storm-root",
            &root,
            "--timeout",
            "3s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(4), "took {took:?}; stderr: {stderr}");
    assert!(matches!(out.status.code(), Some(1) | Some(3)), "exit {:?}; stderr: {stderr}", out.status.code());
    assert!(stderr.contains("ZooKeeper"), "stderr: {stderr}");
    block_on(async {
        let c = writer(&env.zk, None).await;
        delete_tree(&c, &root).await;
    });
}

/// A proxy in front of the real ZooKeeper whose first connection passes the
/// session handshake and one reply, then is cut; every later connection (the
/// client reconnecting to resume its session) gets the answer a server gives
/// for a session it has expired: a ConnectResponse with timeout 0 and session
/// id 0. So the session expires mid-run, deterministically.
fn expiring_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let first = Arc::new(AtomicBool::new(true));
        for client in listener.incoming().flatten() {
            if !first.swap(false, Ordering::SeqCst) {
                std::thread::spawn(move || {
                    let mut client = client;
                    // The ConnectRequest: a 4-byte length, then that many bytes.
                    let mut len = [0u8; 4];
                    if client.read_exact(&mut len).is_ok() {
                        let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
                        let _ = client.read_exact(&mut req);
                    }
                    // protocolVersion 0, timeOut 0, sessionId 0, passwd (16 zero bytes), readOnly false.
                    let mut resp = Vec::new();
                    resp.extend_from_slice(&0i32.to_be_bytes());
                    resp.extend_from_slice(&0i32.to_be_bytes());
                    resp.extend_from_slice(&0i64.to_be_bytes());
                    resp.extend_from_slice(&16i32.to_be_bytes());
                    resp.extend_from_slice(&[0u8; 16]);
                    resp.push(0);
                    let mut framed = (resp.len() as u32).to_be_bytes().to_vec();
                    framed.extend_from_slice(&resp);
                    let _ = client.write_all(&framed);
                    std::thread::sleep(Duration::from_millis(200));
                });
                continue;
            }
            let server = TcpStream::connect(&upstream).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c_in, &mut s_out));
            std::thread::spawn(move || {
                let (mut s_in, mut c_out) = (server, client);
                let mut buf = [0u8; 4096];
                for _ in 0..2 {
                    match s_in.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            let _ = c_out.write_all(&buf[..n]);
                        }
                        _ => break,
                    }
                }
                let _ = s_in.shutdown(std::net::Shutdown::Both);
                let _ = c_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

/// The session expires during a Storm read: the run ends in time, names
/// ZooKeeper, and shows no spout row with a number it did not read.
#[test]
fn zookeeper_session_expiring_during_the_run_fails_cleanly_in_time() {
    let Some(env) = env() else { return };
    let p = unique("zkx");
    let root = format!("/{p}-storm");
    let topic = format!("{p}-t");
    create_topic(&env.kafka, &topic, 1);
    produce(&env.kafka, &topic, &[9]);
    block_on(async {
        let c = writer(&env.zk, None).await;
        for i in 0..200 {
            put(&c, &format!("{root}/spout/partition_{i}"), &spout_node(("t", "t-1-1"), &topic, 0, 4)).await;
        }
    });
    let proxy = expiring_proxy(env.zk.clone());
    let start = Instant::now();
    let out = klag()
        .args(["-b", &env.kafka, "--storm-zookeeper", &proxy, "--storm-root", &root, "--timeout", "5s"])
        .args(["--group", "^spout$", "--format", "json"])
        .output()
        .unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(6), "took {took:?}; stderr: {stderr}");
    // Only the handshake and the first reply got through: nothing measured.
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains(&format!("the session with {proxy} expired")), "names the ensemble: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in doc["partitions"].as_array().unwrap().iter().filter(|r| r["source"] == "storm") {
        assert_eq!((&r["committed"], &r["lag"]), (&json!(4), &json!(5)), "a spout row is exact or absent: {r}");
    }
    eprintln!("session expiry: exit {:?} after {took:?}: {stderr}", out.status.code());
    block_on(async {
        let c = writer(&env.zk, None).await;
        delete_tree(&c, &root).await;
    });
}
