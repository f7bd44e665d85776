//! `--state FILE`: trends and Burrow-style statuses across runs of the real
//! binary against a real Kafka (scripts/services), and the state file's
//! robustness: kill -9 in the middle of a write, concurrent runs, garbage and
//! foreign files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use chrono::DateTime;
use common::*;
use klag::lag::Source;
use klag::trend::{History, PartitionKey, Sample};
use serde_json::Value;

/// The first Kafka cluster of the harness (skipped without one).
fn bootstrap() -> Option<String> {
    kafka_clusters().into_iter().next().map(|(_, b)| b)
}

/// One klag run with --state, as JSON; asserts exit 0.
fn run(bootstrap: &str, group: &str, state: &Path, window: usize) -> (Value, String) {
    let (doc, out) = klag_json(&[
        "-b",
        bootstrap,
        "--group",
        &format!("^{group}$"),
        "--state",
        state.to_str().unwrap(),
        "--window",
        &window.to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    (doc, stderr)
}

fn status<'a>(doc: &'a Value, group: &str, topic: &str, partition: i64) -> &'a Value {
    &row(doc, group, topic, partition)["status"]
}

fn taken_ms(doc: &Value) -> i64 {
    DateTime::parse_from_rfc3339(doc["taken_at"].as_str().unwrap()).unwrap().timestamp_millis()
}

/// klag prints the shortest exact form; serde_json's default float parser
/// may read it back one unit in the last place off.
fn assert_rate(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - want).abs() <= want.abs() * 4.0 * f64::EPSILON, "{got} != {want}");
}

fn decode_file(path: &Path, window: usize) -> History {
    let bytes = std::fs::read(path).unwrap();
    klag::state::decode(&bytes, window).unwrap_or_else(|e| panic!("{} is not a valid state: {e}", path.display()))
}

#[test]
fn statuses_follow_the_committed_offsets_across_runs() {
    let Some(b) = bootstrap() else { return };
    let (topic, group) = (unique("state-topic"), unique("state-group"));
    create_topic(&b, &topic, 2);
    produce(&b, &topic, &[100, 100]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("klag.state");
    let t = topic.as_str();

    // Run 1: the history starts; no status yet, and no warning about it.
    commit(&b, &group, &[(t, 0, 10), (t, 1, 50)]);
    let (doc, stderr) = run(&b, &group, &state, 2);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(*status(&doc, &group, t, 0), Value::Null);
    assert_eq!(row(&doc, &group, t, 0)["consume_rate"], Value::Null);
    assert_eq!(common::group(&doc, &group)["status"], Value::Null);

    // Run 2: both moved and lag went down: OK.
    commit(&b, &group, &[(t, 0, 30), (t, 1, 60)]);
    let (doc, _) = run(&b, &group, &state, 2);
    assert_eq!(*status(&doc, &group, t, 0), "OK");
    assert_eq!(*status(&doc, &group, t, 1), "OK");
    assert_eq!(common::group(&doc, &group)["status"], "OK");
    assert!(row(&doc, &group, t, 0)["consume_rate"].as_f64().unwrap() > 0.0);
    assert_eq!(row(&doc, &group, t, 0)["produce_rate"], 0.0);

    // Run 3: nothing moved, lag left: STALL, and the group is ERR (Burrow's cap).
    let (doc, _) = run(&b, &group, &state, 2);
    assert_eq!(*status(&doc, &group, t, 0), "STALL");
    assert_eq!(*status(&doc, &group, t, 1), "STALL");
    assert_eq!(row(&doc, &group, t, 0)["consume_rate"], 0.0);
    assert_eq!(row(&doc, &group, t, 0)["catch_up_seconds"], Value::Null);
    assert_eq!(common::group(&doc, &group)["status"], "ERR");
    let before = doc;

    // Run 4: partition 0 committed an older offset: REWIND.
    commit(&b, &group, &[(t, 0, 20), (t, 1, 70)]);
    let (doc, _) = run(&b, &group, &state, 2);
    assert_eq!(*status(&doc, &group, t, 0), "REWIND");
    assert_eq!(*status(&doc, &group, t, 1), "OK");
    assert_eq!(common::group(&doc, &group)["status"], "ERR");
    let rewound = doc;

    // Run 5: partition 0 caught up (lag 0: OK, catch-up 0 s); partition 1
    // moved but 50 new records made its lag grow: WARN.
    produce(&b, &topic, &[0, 50]);
    commit(&b, &group, &[(t, 0, 100), (t, 1, 80)]);
    let (doc, _) = run(&b, &group, &state, 2);
    assert_eq!(*status(&doc, &group, t, 0), "OK");
    assert_eq!(row(&doc, &group, t, 0)["catch_up_seconds"], 0.0);
    assert_eq!(*status(&doc, &group, t, 1), "WARN");
    assert_eq!(common::group(&doc, &group)["status"], "WARN");
    // Rates are offsets over the two samples' times (klag keeps milliseconds).
    let ms = (taken_ms(&doc) - taken_ms(&rewound)) as f64;
    assert_rate(&row(&doc, &group, t, 0)["consume_rate"], 80.0 * 1000.0 / ms);
    assert_rate(&row(&doc, &group, t, 1)["consume_rate"], 10.0 * 1000.0 / ms);
    assert_rate(&row(&doc, &group, t, 1)["produce_rate"], 50.0 * 1000.0 / ms);
    assert!(taken_ms(&rewound) > taken_ms(&before));

    // The file holds the last 2 samples per partition.
    let h = decode_file(&state, 2);
    let key = PartitionKey { source: Source::Kafka, group: group.clone(), topic: topic.clone(), partition: 1 };
    let lags: Vec<i64> = h.lag_series(&key).into_iter().map(|(_, lag)| lag).collect();
    assert_eq!(lags, vec![30, 70]);
}

#[test]
fn stop_when_a_consumer_stood_still_longer_than_it_moved() {
    let Some(b) = bootstrap() else { return };
    let (topic, group) = (unique("state-stop"), unique("state-stop-group"));
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[100]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("klag.state");
    let t = topic.as_str();
    // Moves between the first two (quick) runs, then stands still over two
    // runs a second apart: still for longer than it was moving.
    commit(&b, &group, &[(t, 0, 10)]);
    run(&b, &group, &state, 4);
    commit(&b, &group, &[(t, 0, 20)]);
    run(&b, &group, &state, 4);
    std::thread::sleep(Duration::from_secs(1));
    run(&b, &group, &state, 4);
    std::thread::sleep(Duration::from_secs(1));
    let (doc, _) = run(&b, &group, &state, 4);
    assert_eq!(*status(&doc, &group, t, 0), "STOP");
    assert_eq!(common::group(&doc, &group)["status"], "ERR");
}

/// Every format carries the status: table column, CSV, metrics codes, and
/// Telegraf's burrow fields.
#[test]
fn every_format_carries_the_status() {
    let Some(b) = bootstrap() else { return };
    let (topic, group) = (unique("state-formats"), unique("state-formats-group"));
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[10]);
    commit(&b, &group, &[(&topic, 0, 4)]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let args = |format: &str| {
        let mut c = klag();
        c.args(["-b", &b, "--group", &format!("^{group}$"), "--state", state.to_str().unwrap()]);
        c.args(["--format", format, "--influx-schema", "burrow"]).timeout(Duration::from_secs(60));
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = args("table");
    assert!(first.contains("STATUS"), "{first}");
    assert!(first.contains("status: 1 partition(s) have fewer than 2 samples"), "{first}");
    // Nothing moved since: STALL from now on.
    let table = args("table");
    assert!(table.lines().any(|l| l.starts_with(&group) && l.ends_with("STALL")), "{table}");
    assert!(table.lines().any(|l| l.starts_with(&group) && l.ends_with("ERR")), "{table}");
    let csv = args("csv");
    assert!(csv.lines().next().unwrap().ends_with(",consume_rate,produce_rate,catch_up_seconds,status_code,consumer_id,host,client_id,topology,flags,error,status"));
    assert!(csv.lines().nth(1).unwrap().ends_with(",6,,,,,,,STALL"), "{csv}");
    let prom = args("prometheus");
    assert!(
        prom.contains(&format!(
            "klag_partition_status_code{{group=\"{group}\",partition=\"0\",source=\"kafka\",topic=\"{topic}\"}} 6\n"
        )),
        "{prom}"
    );
    assert!(prom.contains(&format!("klag_group_status_code{{group=\"{group}\",source=\"kafka\"}} 4\n")), "{prom}");
    let influx = args("influx");
    assert!(influx.contains(" status=\"STALL\",status_code=6i,lag=6i,offset=4i "), "{influx}");
    assert!(influx.contains(" status=\"ERR\",status_code=4i,partition_count=1i"), "{influx}");
}

/// A state file as big as a busy cluster's: `partitions` bulk partitions of
/// other groups with 3 runs of samples, so that a run spends a while writing.
fn big_state(partitions: usize) -> (History, Vec<u8>) {
    let mut h = History::new(10);
    for run in 0..3i64 {
        let rows = (0..partitions).map(|i| {
            let key = PartitionKey {
                source: Source::Kafka,
                group: format!("bulk-consumer-group-{:05}", i / 20),
                topic: format!("bulk-topic-{:02}", i % 20),
                partition: (i % 20) as i32,
            };
            let c = 1_000_000 + run * 500 + i as i64;
            (key, Sample { at: 0, committed: c, log_end: c + 700, lag: 700 })
        });
        h.record_samples(1_700_000_000_000 + run * 60_000, rows);
    }
    let mut bytes = Vec::new();
    klag::state::encode(&h, &mut bytes).unwrap();
    (h, bytes)
}

/// Temporary files of the state file's writer in `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".klag.state.tmp-"))
        .map(|e| e.path())
        .collect()
}

fn spawn(bootstrap: &str, group: &str, state: &Path) -> Child {
    Process::new(env!("CARGO_BIN_EXE_klag"))
        .args(["-b", bootstrap, "--group", &format!("^{group}$"), "--format", "json", "--state"])
        .arg(state)
        .env_remove("KLAG_BOOTSTRAP_SERVER")
        .env_remove("KLAG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_state_file_survives_kill_9_in_the_middle_of_a_write() {
    let Some(b) = bootstrap() else { return };
    let (topic, group) = (unique("state-kill"), unique("state-kill-group"));
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[10]);
    commit(&b, &group, &[(&topic, 0, 3)]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("klag.state");
    let (old, old_bytes) = big_state(40_000);
    let ours = PartitionKey { source: Source::Kafka, group: group.clone(), topic: topic.clone(), partition: 0 };

    // How long a whole run takes, to spread plain kill delays over it.
    std::fs::write(&state, &old_bytes).unwrap();
    let started = Instant::now();
    let out = spawn(&b, &group, &state).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let whole = started.elapsed();

    let (mut mid_write, mut old_seen, mut new_seen) = (0, 0, 0);
    for i in 0..20u32 {
        std::fs::write(&state, &old_bytes).unwrap();
        let mut child = spawn(&b, &group, &state);
        if i >= 12 {
            // At plain delays from a sixth of a run to past its end: while
            // reading, measuring, writing, or after.
            std::thread::sleep(whole * (i - 11) / 6);
        } else {
            // Wait for the temporary file, then let the write go on a little.
            let deadline = Instant::now() + Duration::from_secs(60);
            while temporaries(dir.path()).is_empty() && Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_millis(u64::from(3 * (i % 4) * (i / 4))));
        }
        let _ = child.kill(); // SIGKILL (nothing if it already ended)
        child.wait().unwrap();
        if !temporaries(dir.path()).is_empty() {
            mid_write += 1;
        }
        // Always the old file or a complete new one, never a mix.
        let bytes = std::fs::read(&state).unwrap();
        if bytes == old_bytes {
            old_seen += 1;
            continue;
        }
        let new = klag::state::decode(&bytes, 10)
            .unwrap_or_else(|e| panic!("iteration {i}: the state file is neither old nor valid: {e}"));
        assert_eq!(new.runs().count(), old.runs().count() + 1, "iteration {i}");
        assert_eq!(new.len(), old.len() + 1, "iteration {i}");
        assert_eq!(new.samples(&ours).map(|s| s.len()), Some(1), "iteration {i}");
        new_seen += 1;
    }
    eprintln!(
        "kill -9 (a run takes {whole:?}): {mid_write} of 20 mid-write; file old {old_seen} times, new {new_seen} times"
    );
    assert!(mid_write >= 4, "only {mid_write} kills landed in the middle of a write (old {old_seen}, new {new_seen})");
    // The next run reads the old state, removes the killed runs' temporary
    // files (holding the lock) and writes a new state.
    std::fs::write(&state, &old_bytes).unwrap();
    let child = spawn(&b, &group, &state);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(temporaries(dir.path()).is_empty());
    let new = decode_file(&state, 10);
    assert_eq!(new.len(), old.len() + 1);
}

#[test]
fn two_concurrent_runs_both_finish_and_the_file_stays_valid() {
    let Some(b) = bootstrap() else { return };
    let (topic, group) = (unique("state-concurrent"), unique("state-concurrent-group"));
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[10]);
    commit(&b, &group, &[(&topic, 0, 3)]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("klag.state");
    // Big enough that each run holds the lock for a while.
    let (old, old_bytes) = big_state(20_000);
    std::fs::write(&state, &old_bytes).unwrap();
    let children = [spawn(&b, &group, &state), spawn(&b, &group, &state)];
    let mut skipped = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        if stderr.contains("locked") {
            assert!(stderr.contains(&format!("state file {}", state.display())), "{stderr}");
            skipped += 1;
        }
    }
    eprintln!("concurrent runs: {skipped} skipped the state");
    let new = decode_file(&state, 10);
    assert_eq!(new.runs().count(), old.runs().count() + 2 - skipped);
    let ours = PartitionKey { source: Source::Kafka, group: group.clone(), topic: topic.clone(), partition: 0 };
    assert_eq!(new.samples(&ours).map(|s| s.len()), Some(2 - skipped));
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn garbage_foreign_and_truncated_files_are_reported_and_replaced() {
    let Some(b) = bootstrap() else { return };
    let (topic, group) = (unique("state-garbage"), unique("state-garbage-group"));
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[10]);
    commit(&b, &group, &[(&topic, 0, 3)]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("klag.state");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    let (_, valid) = big_state(10);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("garbage", garbage, "not a klag state file"),
        ("foreign JSON", br#"{"consumers":{"billing":{"lag":10}}}"#.to_vec(), "not a klag state file"),
        ("truncated", valid[..valid.len() / 2].to_vec(), "corrupt"),
        ("future version", b"klag-state 9\n{}".to_vec(), "state format \"9\""),
    ];
    for (what, bytes, why) in cases {
        std::fs::write(&state, &bytes).unwrap();
        let (doc, stderr) = run(&b, &group, &state, 10);
        let expected = format!("klag: warning: state file {}: {why}", state.display());
        assert!(stderr.contains(&expected), "{what}: {stderr}");
        assert!(stderr.contains("starting a new history, it is replaced by a new one"), "{what}: {stderr}");
        // The measurement is reported as usual, the history restarted.
        assert_eq!(row(&doc, &group, &topic, 0)["lag"], 7);
        assert_eq!(*status(&doc, &group, &topic, 0), Value::Null);
        let h = decode_file(&state, 10);
        assert_eq!(h.len(), 1, "{what}");
        // The next run is clean.
        let (_, stderr) = run(&b, &group, &state, 10);
        assert!(!stderr.contains("warning"), "{what}: {stderr}");
    }
}

#[test]
fn window_without_state_is_a_usage_error() {
    let out = klag().args(["-b", "127.0.0.1:1", "--window", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state"));
    let out = klag().args(["-b", "127.0.0.1:1", "--state", "/tmp/x", "--window", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
