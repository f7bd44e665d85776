//! The binary's behaviour without any service: usage errors, completions,
//! unreachable and silent peers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

fn klag() -> Command {
    let mut c = Command::cargo_bin("klag").expect("klag binary");
    c.env_remove("KLAG_BOOTSTRAP_SERVER").env_remove("KLAG_FORMAT");
    c
}

#[test]
fn no_source_is_a_usage_error() {
    klag().assert().code(2).stderr(predicate::str::contains("--bootstrap-server"));
}

#[test]
fn bad_regex_is_a_usage_error() {
    klag()
        .args(["--bootstrap-server", "127.0.0.1:9", "--group", "("])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid --group regex"));
}

#[test]
fn bad_timeout_is_a_usage_error() {
    klag().args(["--bootstrap-server", "127.0.0.1:9", "--timeout", "soon"]).assert().code(2);
}

#[test]
fn completions_for_bash() {
    klag().args(["completions", "bash"]).assert().success().stdout(predicate::str::contains("_klag"));
}

/// A closed port: nothing listens there.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn unreachable_bootstrap_ends_in_time_with_exit_3() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let start = Instant::now();
    klag()
        .args(["--bootstrap-server", &addr, "--timeout", "3s", "--format", "json"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(3)
        .stderr(predicate::str::contains(addr.as_str()));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}, limit is timeout + 1 s");
}

#[test]
fn silent_server_ends_in_time_with_exit_3() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    // Accept connections and read whatever comes, never answering.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = s.read(&mut buf);
            held.push(s);
        }
    });
    let start = Instant::now();
    klag()
        .args(["--bootstrap-server", &addr, "--timeout", "3s", "--format", "json"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(3)
        .stderr(predicate::str::contains(addr.as_str()));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}, limit is timeout + 1 s");
}

#[test]
fn demo_once_json_needs_no_services() {
    let out = klag()
        .args(["demo", "--once", "--format", "json"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("one JSON document");
    let groups = doc["groups"].as_array().expect("groups");
    let lag_of =
        |g: &str| groups.iter().find(|x| x["group"] == g).map(|x| x["total_lag"].as_i64().unwrap_or(-1)).expect(g);
    assert!(lag_of("archiver") > 0, "the stalled group lags");
    assert!(lag_of("analytics") > 0, "the slow group lags");
    assert!(doc["partitions"].as_array().expect("partitions").iter().all(|p| p["source"] == "kafka"));
}

/// A ZooKeeper that accepts and never answers: the run ends in time, exit 3,
/// naming the address, with `-z` alone and with Storm spouts asked for.
#[test]
fn silent_zookeeper_ends_in_time_with_exit_3() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    for extra in [&[][..], &["--storm-root", "/kafkastorm"][..]] {
        let start = Instant::now();
        klag()
            .args(["--zookeeper", &addr, "--timeout", "3s", "--format", "json"])
            .args(extra)
            .timeout(Duration::from_secs(10))
            .assert()
            .code(3)
            .stderr(predicate::str::contains(addr.as_str()).and(predicate::str::contains("ZooKeeper")));
        let took = start.elapsed();
        assert!(took < Duration::from_secs(4), "{extra:?}: took {took:?}, limit is timeout + 1 s");
    }
}
