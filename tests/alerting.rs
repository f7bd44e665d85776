//! Thresholds and monitoring-plugin exit codes (0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN) against real Kafka, every path: each threshold kind, usage
//! errors, nothing measured, partial measurement, failed delivery; and the
//! `--format nagios` line with its performance data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::zk_writer::{block_on, delete_tree, put, writer};
use common::*;

/// A group on a fresh topic: partition 0 lags 5, partition 1 lags 30.
fn lagging_group(bootstrap: &str) -> (String, String) {
    let topic = unique("alert");
    let group = unique("alert-g");
    create_topic(bootstrap, &topic, 2);
    produce(bootstrap, &topic, &[100, 30]);
    commit(bootstrap, &group, &[(&topic, 0, 95), (&topic, 1, 0)]);
    (topic, group)
}

fn run(bootstrap: &str, group: &str, args: &[&str]) -> (i32, String, String) {
    let out = klag()
        .args(["-b", bootstrap, "--group", &format!("^{group}$"), "--timeout", "20s"])
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn thresholds_give_ok_warning_and_critical_with_nagios_lines() {
    for (label, b) in kafka_clusters() {
        let (topic, group) = lagging_group(&b);
        let nagios = ["--format", "nagios"];
        let (code, out, err) = run(&b, &group, &[&nagios[..], &["--warn", "50", "--crit", "100"]].concat());
        assert_eq!(code, 0, "{label}: {out}{err}");
        assert_eq!(out, format!("KLAG OK - 1 group OK | '{group} lag'=35;;;0 '{group} max_lag'=30;50;100;0\n"));

        let (code, out, _) = run(&b, &group, &[&nagios[..], &["--warn", "10", "--crit", "100"]].concat());
        assert_eq!(code, 1, "{label}: {out}");
        let line = format!(
            "KLAG WARNING - 1 group: 1 warning; {group}: {topic}/1 lag 30 >= 10 | '{group} lag'=35;;;0 '{group} max_lag'=30;10;100;0\nWARNING {group} {topic}/1: lag 30 >= 10\n"
        );
        assert_eq!(out, line, "{label}");

        let (code, out, _) = run(&b, &group, &[&nagios[..], &["--warn", "5", "--crit", "30"]].concat());
        assert_eq!(code, 2, "{label}: {out}");
        assert!(out.starts_with(&format!("KLAG CRITICAL - 1 group: 1 critical; {group}: {topic}/1 lag 30 >= 30 |")));
        assert!(
            out.ends_with(&format!(
                "CRITICAL {group} {topic}/1: lag 30 >= 30\nWARNING {group} {topic}/0: lag 5 >= 5\n"
            )),
            "{out}"
        );

        // Per group: the total lag (35).
        let (code, out, _) = run(&b, &group, &[&nagios[..], &["--warn-total", "30", "--crit-total", "36"]].concat());
        assert_eq!(code, 1, "{label}: {out}");
        assert!(out.contains(&format!("{group}: total lag 35 >= 30 | '{group} lag'=35;30;36;0 ")), "{out}");
        let (code, _, _) = run(&b, &group, &["--crit-total", "35"]);
        assert_eq!(code, 2, "{label}");

        // The codes hold whatever the format: JSON output, same judgement.
        let (code, out, _) = run(&b, &group, &["--format", "json", "--warn", "30"]);
        assert_eq!(code, 1, "{label}");
        assert!(out.starts_with('{'), "{out}");
        // Not in a terminal: never coloured, even with thresholds.
        let (_, out, _) = run(&b, &group, &["--format", "table", "--warn", "1"]);
        assert!(!out.contains('\x1b'), "{out}");
        let (_, out, _) = run(&b, &group, &["--format", "table", "--warn", "1", "--color", "always"]);
        assert!(out.contains("\x1b[33m"), "{out}");
    }
}

#[test]
fn usage_errors_are_unknown_in_check_mode_and_2_otherwise() {
    for args in [
        &["-b", "127.0.0.1:1", "--warn", "10", "--crit", "5"][..],
        &["-b", "127.0.0.1:1", "--warn", "ten"],
        &["-b", "127.0.0.1:1", "--crit=5", "--no-such-option"],
        &["-b", "127.0.0.1:1", "--format", "nagios", "--group", "("],
        &["-b", "127.0.0.1:1", "-f", "nagios", "--warn-seconds", "soon"],
    ] {
        let out = klag().args(args).timeout(Duration::from_secs(20)).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = klag().args(["-b", "127.0.0.1:1", "--no-such-option"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = klag().args(["-b", "127.0.0.1:1", "--group", "("]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = klag().args(["--warn", "1", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn nothing_measured_is_unknown() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let out = klag()
        .args(["-b", &addr, "--timeout", "3s", "--warn", "1", "--format", "nagios"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.starts_with("KLAG UNKNOWN - no consumer groups found; ") && line.contains(&addr), "{line}");
}

/// One Storm partition node is garbage: that partition is UNKNOWN, which
/// outranks a warning elsewhere and is outranked by a critical.
#[test]
fn a_partial_run_is_unknown_unless_critical() {
    let (Some(zk), Some(b)) = (service("KLAG_TEST_ZK"), service("KLAG_TEST_KAFKA39")) else { return };
    let (_topic, group) = lagging_group(&b);
    let root = format!("/{}", unique("alert-storm"));
    block_on(async {
        let c = writer(&zk, None).await;
        put(&c, &format!("{root}/spout/partition_0"), b"{not json").await;
    });
    let args = |extra: &[&str]| {
        let mut a = vec!["--zookeeper", zk.as_str(), "--storm-root", root.as_str(), "--format", "nagios"];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run_with = |extra: &[&str]| {
        let a = args(extra);
        run(&b, &format!("{group}|spout"), &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, out, _) = run_with(&["--warn", "10"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("KLAG UNKNOWN - 2 groups: 1 unknown, 1 warning; storm:spout: "), "{out}");
    let (code, out, _) = run_with(&["--crit", "10"]);
    assert_eq!(code, 2, "{out}");
    block_on(async { delete_tree(&writer(&zk, None).await, &root).await });
}

#[test]
fn a_failed_delivery_is_unknown_unless_critical() {
    let Some(b) = service("KLAG_TEST_KAFKA39") else { return };
    let (_topic, group) = lagging_group(&b);
    let send = format!("graphite://127.0.0.1:{}", closed_port());
    let (code, out, err) = run(&b, &group, &["--format", "nagios", "--warn", "1000", "--send", &send]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("KLAG UNKNOWN - 1 group OK; delivery to graphite://127.0.0.1:"), "{out}");
    let (code, _, _) = run(&b, &group, &["--format", "json", "--crit", "30", "--send", &send]);
    assert_eq!(code, 2);
    // Without thresholds the documented delivery code stays.
    let (code, _, _) = run(&b, &group, &["--format", "json", "--send", &send]);
    assert_eq!(code, 4);
}

/// Time-lag thresholds turn on --time-lag and judge each partition's
/// lag_seconds: a record produced 10 minutes ago at the committed offset.
#[test]
fn time_lag_thresholds_judge_lag_seconds() {
    for (label, b) in kafka_clusters() {
        let topic = unique("alert-time");
        let group = unique("alert-time-g");
        create_topic(&b, &topic, 1);
        let now = now_ms();
        produce_at(&b, &topic, 0, &[now - 600_000, now - 1_000]);
        commit(&b, &group, &[(&topic, 0, 0)]);
        let nagios = ["--format", "nagios"];
        let (code, out, err) =
            run(&b, &group, &[&nagios[..], &["--warn-seconds", "5m", "--crit-seconds", "20m"]].concat());
        assert_eq!(code, 1, "{label}: {out}{err}");
        assert!(out.starts_with(&format!("KLAG WARNING - 1 group: 1 warning; {group}: {topic}/0 lag 600.")), "{out}");
        let perf = out.split(" | ").nth(1).unwrap_or_default();
        let seconds: f64 = perf
            .split_once("max_lag_seconds'=")
            .and_then(|(_, v)| v.split('s').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!((seconds - 600.0).abs() < 5.0, "{seconds}: {out}");
        assert!(perf.contains("s;300;1200;0"), "{out}");
        let (code, _, _) = run(&b, &group, &["--format", "json", "--crit-seconds", "9m"]);
        assert_eq!(code, 2, "{label}");
        let (code, _, _) = run(&b, &group, &["--format", "json", "--warn-seconds", "11m"]);
        assert_eq!(code, 0, "{label}");
    }
}
