//! End to end: a real Kafka (kafka4) with awkward names (a dotted topic; group
//! ids with spaces, commas, `=`, quotes, a backslash, unicode) measured by the
//! klag binary, delivered to a real Graphite carbon-cache and a real InfluxDB
//! 1.x, over `--send` and over a pipe, and read back from carbon's whisper
//! files (whisper-fetch) and InfluxDB's /query. Also: exit code 4 and the
//! delivered-line count against a stopped and a resetting sink, and the spool
//! across a carbon restart (on a carbon of its own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

use klag::output::graphite::component;

struct Setup {
    bootstrap: String,
    token: String,
    topic: String,
    groups: Vec<String>,
}

/// A dotted topic with two partitions (5 and 3 records) and four groups with
/// awkward ids, each with its own committed offsets.
fn setup(bootstrap: &str) -> Setup {
    let token = unique("m");
    let topic = format!("klag.it.{token}.orders");
    create_topic(bootstrap, &topic, 2);
    produce(bootstrap, &topic, &[5, 3]);
    let groups = vec![
        format!("billing team {token}"),
        format!("g,comma=eq\"dq'sq {token}"),
        format!("ünïcødé ✓ {token}"),
        format!("back\\slash {token}"),
    ];
    for (i, g) in groups.iter().enumerate() {
        commit(bootstrap, g, &[(&topic, 0, 1 + i as i64), (&topic, 1, 2)]);
    }
    Setup { bootstrap: bootstrap.to_string(), token, topic, groups }
}

impl Setup {
    fn args(&self) -> Vec<String> {
        ["-b", &self.bootstrap, "--group", &self.token, "--topic", &self.token, "--timeout", "20s"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

fn run(args: &[String]) -> std::process::Output {
    klag().args(args).timeout(Duration::from_secs(60)).output().expect("run klag")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (group, partition) -> (committed, log_start, log_end, lag) from a JSON document.
fn expected(doc: &Value) -> BTreeMap<(String, i64), [i64; 4]> {
    doc["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("{k} unknown in {p}"));
            (
                (p["group"].as_str().unwrap().to_string(), p["partition"].as_i64().unwrap()),
                [n("committed"), n("log_start"), n("log_end"), n("lag")],
            )
        })
        .collect()
}

fn taken_at(doc: &Value) -> chrono::DateTime<chrono::Utc> {
    doc["taken_at"].as_str().unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------
// Graphite: whisper files
// ---------------------------------------------------------------------------

fn storage() -> PathBuf {
    PathBuf::from(service("KLAG_TEST_CARBON_STORAGE").expect("KLAG_TEST_CARBON_STORAGE"))
}

fn whisper_file(storage: &Path, path: &str) -> PathBuf {
    storage.join(format!("{}.wsp", path.replace('.', "/")))
}

/// The value stored at `ts`, waiting (carbon writes asynchronously) up to 30 s.
fn whisper_value(file: &Path, ts: i64) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if file.exists() {
            let out = Process::new("whisper-fetch")
                .arg(format!("--from={}", ts - 1))
                .arg(format!("--until={}", ts + 1))
                .arg(file)
                .output()
                .expect("whisper-fetch (Debian python3-whisper)");
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                let mut f = line.split_whitespace();
                if f.next().and_then(|t| t.parse::<i64>().ok()) == Some(ts) {
                    if let Some(v) = f.next().and_then(|v| v.parse::<f64>().ok()) {
                        return Some(v);
                    }
                }
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn check_whisper(storage: &Path, prefix: &str, s: &Setup, want: &BTreeMap<(String, i64), [i64; 4]>, ts: i64) {
    assert_eq!(want.len(), 8, "4 groups x 2 partitions: {want:?}");
    for ((group, partition), values) in want {
        let base = format!("{prefix}.partition.kafka.{}.{}.{partition}", component(group), component(&s.topic));
        for (metric, v) in ["committed", "log_start", "log_end", "lag"].iter().zip(values) {
            let file = whisper_file(storage, &format!("{base}.{metric}"));
            assert_eq!(whisper_value(&file, ts), Some(*v as f64), "{}", file.display());
        }
    }
    // The group level, and the documented sanitizing on concrete names.
    let t = component(&s.token);
    let lag0 = want[&(s.groups[0].clone(), 0)][3] + want[&(s.groups[0].clone(), 1)][3];
    let file = whisper_file(storage, &format!("{prefix}.group.kafka.billing_team_{t}.lag"));
    assert_eq!(whisper_value(&file, ts), Some(lag0 as f64), "{}", file.display());
    let file =
        whisper_file(storage, &format!("{prefix}.topic.kafka.g_comma_eq_dq_sq_{t}.klag_it_{t}_orders.partitions"));
    assert_eq!(whisper_value(&file, ts), Some(2.0), "{}", file.display());
    let file = whisper_file(storage, &format!("{prefix}.group.kafka._n_c_d____{t}.members"));
    assert_eq!(whisper_value(&file, ts), Some(0.0), "{}", file.display());
}

// ---------------------------------------------------------------------------
// InfluxDB: /query
// ---------------------------------------------------------------------------

fn influx_query(addr: &str, db: &str, q: &str) -> Value {
    let url = format!("http://{addr}/query");
    let mut resp = ureq::post(&url)
        .query("db", db)
        .query("epoch", "ns")
        .send_form([("q", q)])
        .unwrap_or_else(|e| panic!("influx query {q}: {e}"));
    let text = resp.body_mut().read_to_string().expect("query answer");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("query {q}: {e}: {text}"))
}

fn create_db(addr: &str, db: &str) {
    influx_query(addr, "", &format!("CREATE DATABASE \"{db}\""));
}

/// Rows of a measurement as column -> value maps.
fn influx_rows(addr: &str, db: &str, measurement: &str) -> Vec<BTreeMap<String, Value>> {
    let doc = influx_query(addr, db, &format!("SELECT * FROM \"{measurement}\""));
    let Some(series) = doc["results"][0]["series"][0].as_object() else {
        return Vec::new();
    };
    let cols: Vec<String> =
        series["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| cols.iter().cloned().zip(row.as_array().unwrap().iter().cloned()).collect())
        .collect()
}

fn check_influx(addr: &str, db: &str, s: &Setup, want: &BTreeMap<(String, i64), [i64; 4]>, time_ns: i64) {
    let rows = influx_rows(addr, db, "klag_partition");
    let got: BTreeMap<(String, i64), [i64; 4]> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["time"].as_i64(), Some(time_ns), "one timestamp for the run: {r:?}");
            assert_eq!(r["topic"].as_str(), Some(s.topic.as_str()));
            assert_eq!(r["source"].as_str(), Some("kafka"));
            let n = |k: &str| r[k].as_i64().unwrap_or_else(|| panic!("{k} in {r:?}"));
            (
                (r["group"].as_str().unwrap().to_string(), r["partition"].as_str().unwrap().parse().unwrap()),
                [n("committed"), n("log_start"), n("log_end"), n("lag")],
            )
        })
        .collect();
    assert_eq!(&got, want, "klag_partition rows read back from InfluxDB");
    let groups: BTreeMap<String, i64> = influx_rows(addr, db, "klag_group")
        .iter()
        .map(|r| (r["group"].as_str().unwrap().to_string(), r["lag"].as_i64().unwrap()))
        .collect();
    let mut want_groups: Vec<&String> = s.groups.iter().collect();
    want_groups.sort();
    assert_eq!(groups.keys().collect::<Vec<_>>(), want_groups);
    for g in &s.groups {
        assert_eq!(groups[g], want[&(g.clone(), 0)][3] + want[&(g.clone(), 1)][3]);
    }
}

fn services() -> Option<(String, String, String)> {
    let kafka = service("KLAG_TEST_KAFKA4")?;
    let carbon = service("KLAG_TEST_CARBON")?;
    let influx = service("KLAG_TEST_INFLUX")?;
    Some((kafka, carbon, influx))
}

#[test]
fn awkward_names_arrive_exactly_over_send() {
    let Some((kafka, carbon, influx)) = services() else { return };
    let s = setup(&kafka);
    let prefix = format!("send_{}", component(&s.token));
    let db = format!("send_{}", component(&s.token));
    create_db(&influx, &db);
    let mut args = s.args();
    args.extend(["--format", "json", "--prefix", &prefix].map(String::from));
    args.extend(["--send".into(), format!("graphite://{carbon}"), "--send".into(), format!("influx://{influx}/{db}")]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout alongside --send");
    let want = expected(&doc);
    let err = stderr(&out);
    // 8 partitions x 4 + 1 topic-level x 4 groups x 7 + 4 groups x 5 (members known).
    let lines = 8 * 4 + 4 * 7 + 4 * 5;
    assert!(err.contains(&format!("graphite://{carbon}: {lines} of {lines} lines delivered")), "{err}");
    let influx_lines = 8 + 4 + 4;
    assert!(
        err.contains(&format!("influx://{influx}/{db}: {influx_lines} of {influx_lines} lines delivered")),
        "{err}"
    );
    let t = taken_at(&doc);
    check_whisper(&storage(), &prefix, &s, &want, t.timestamp());
    check_influx(&influx, &db, &s, &want, t.timestamp_nanos_opt().unwrap());
}

#[test]
fn udp_lines_arrive_in_carbon() {
    let Some((kafka, carbon, _influx)) = services() else { return };
    let s = setup(&kafka);
    let prefix = format!("udp_{}", component(&s.token));
    let mut args = s.args();
    args.extend(["--format", "json", "--prefix", &prefix].map(String::from));
    args.extend(["--send".into(), format!("graphite+udp://{carbon}")]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = 8 * 4 + 4 * 7 + 4 * 5;
    assert!(stderr(&out).contains(&format!("{lines} of {lines} lines sent (UDP, unconfirmed)")), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_whisper(&storage(), &prefix, &s, &expected(&doc), taken_at(&doc).timestamp());
}

#[test]
fn awkward_names_arrive_exactly_over_a_pipe() {
    let Some((kafka, carbon, influx)) = services() else { return };
    let s = setup(&kafka);
    let (want, _) = klag_json(&s.args().iter().map(String::as_str).collect::<Vec<_>>());
    let want = expected(&want);
    // klag ... --format graphite | nc carbon 2003, with the nc in Rust.
    let prefix = format!("pipe_{}", component(&s.token));
    let mut args = s.args();
    args.extend(["--format", "graphite", "--prefix", &prefix].map(String::from));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let ts: i64 = text.lines().next().and_then(|l| l.rsplit(' ').next()).unwrap().parse().unwrap();
    assert!(text.lines().all(|l| l.ends_with(&format!(" {ts}"))), "one timestamp per run");
    let mut conn = TcpStream::connect(&carbon).unwrap();
    conn.write_all(text.as_bytes()).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let _ = conn.read_to_end(&mut Vec::new());
    check_whisper(&storage(), &prefix, &s, &want, ts);
    // klag ... --format influx --precision s | curl --data-binary @- .../write?db=..&precision=s
    let db = format!("pipe_{}", component(&s.token));
    create_db(&influx, &db);
    let mut args = s.args();
    args.extend(["--format", "influx", "--precision", "s"].map(String::from));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let body = String::from_utf8(out.stdout).unwrap();
    let ts: i64 = body.lines().next().and_then(|l| l.rsplit(' ').next()).unwrap().parse().unwrap();
    let resp = ureq::post(&format!("http://{influx}/write"))
        .query("db", &db)
        .query("precision", "s")
        .send(&body)
        .expect("influx /write");
    assert_eq!(resp.status().as_u16(), 204);
    check_influx(&influx, &db, &s, &want, ts * 1_000_000_000);
}

#[test]
fn a_trailing_backslash_and_a_newline_follow_the_documented_rule_in_influxdb() {
    let Some((kafka, _carbon, influx)) = services() else { return };
    let token = unique("nl");
    let topic = format!("klag.it.{token}");
    create_topic(&kafka, &topic, 1);
    produce(&kafka, &topic, &[2]);
    let groups = [format!("ends with backslash {token}\\"), format!("two\nlines {token}")];
    for g in &groups {
        commit(&kafka, g, &[(&topic, 0, 1)]);
    }
    let db = format!("rule_{}", component(&token));
    create_db(&influx, &db);
    let out = run(&[
        "-b".into(),
        kafka.clone(),
        "--group".into(),
        token.clone(),
        "--format".into(),
        "json".into(),
        "--send".into(),
        format!("influx://{influx}/{db}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut got: Vec<String> =
        influx_rows(&influx, &db, "klag_group").iter().map(|r| r["group"].as_str().unwrap().to_string()).collect();
    got.sort();
    let mut want: Vec<String> = groups.iter().map(|g| klag::output::influx::tag_value(g)).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(want.contains(&format!("ends with backslash {token}\\ ")) && want.contains(&format!("two lines {token}")));
}

/// A listener that accepts and resets every connection (SO_LINGER 0).
fn resetting_sink() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            reset_connection(s);
        }
    });
    addr
}

#[test]
fn failed_delivery_exits_4_with_the_right_counts() {
    let Some((kafka, carbon, _influx)) = services() else { return };
    let s = setup(&kafka);
    let stopped = format!("127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let resetting = resetting_sink();
    let lines = 8 * 4 + 4 * 7 + 4 * 5;
    let mut args = s.args();
    args.extend(["--format", "json", "--prefix", &format!("fail_{}", component(&s.token))].map(String::from));
    for target in [&stopped, &resetting, &carbon] {
        args.extend(["--send".into(), format!("graphite://{target}")]);
    }
    let out = run(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(serde_json::from_slice::<Value>(&out.stdout).is_ok(), "stdout still has the JSON document");
    assert!(
        err.contains(&format!("error: delivery to graphite://{stopped}: 0 of {lines} lines delivered; failed:")),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(
        err.contains(&format!("error: delivery to graphite://{resetting}: 0 of {lines} lines delivered; failed:")),
        "{err}"
    );
    assert!(err.contains(&format!("klag: graphite://{carbon}: {lines} of {lines} lines delivered")), "{err}");
}

/// A carbon-cache of this test's own (own folder and port), stopped and
/// started with scripts/services; wiped on drop.
struct OwnCarbon {
    dir: PathBuf,
    port: u16,
}

impl OwnCarbon {
    fn services(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/services");
        let out = Process::new(script)
            .args(args)
            .env("KLAG_SERVICES_DIR", &self.dir)
            .env("KLAG_CARBON_PORT", self.port.to_string())
            .output()
            .expect("scripts/services");
        assert!(out.status.success(), "scripts/services {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for OwnCarbon {
    fn drop(&mut self) {
        // No assertion here: a panic while unwinding would abort the tests.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/services");
        let _ = Process::new(script)
            .args(["down", "carbon"])
            .env("KLAG_SERVICES_DIR", &self.dir)
            .env("KLAG_CARBON_PORT", self.port.to_string())
            .output();
    }
}

#[test]
fn the_spool_carries_a_run_across_a_carbon_restart() {
    let Some((kafka, _carbon, _influx)) = services() else { return };
    let s = setup(&kafka);
    let port = std::env::var("KLAG_SPOOL_CARBON_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(22103);
    let carbon = OwnCarbon { dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/services-spooltest"), port };
    carbon.services(&["down", "carbon"]);
    let spool = tempfile::tempdir().unwrap();
    let prefix = format!("spool_{}", component(&s.token));
    let mut args = s.args();
    args.extend(["--format", "json", "--prefix", &prefix].map(String::from));
    args.extend(["--send".into(), format!("graphite://127.0.0.1:{port}"), "--spool".into()]);
    args.push(spool.path().display().to_string());
    let lines = 8 * 4 + 4 * 7 + 4 * 5;
    // Run 1: carbon is stopped; the lines wait in the spool.
    let first = run(&args);
    let err = stderr(&first);
    assert_eq!(first.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("0 of {lines} lines delivered"))
            && err.contains(&format!("{lines} lines kept in the spool")),
        "{err}"
    );
    let t1 = taken_at(&serde_json::from_slice(&first.stdout).unwrap()).timestamp();
    // Run 2, a second later, after carbon is back: both runs' points arrive.
    std::thread::sleep(Duration::from_millis(1100));
    carbon.services(&["up", "carbon"]);
    let second = run(&args);
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(0), "{err}");
    let total = 2 * lines;
    assert!(err.contains(&format!("{total} of {total} lines delivered ({lines} of them from the spool)")), "{err}");
    let t2 = taken_at(&serde_json::from_slice(&second.stdout).unwrap()).timestamp();
    assert!(t2 > t1);
    let storage = carbon.dir.join("carbon/storage/whisper");
    let want = expected(&serde_json::from_slice(&second.stdout).unwrap());
    for ts in [t1, t2] {
        check_whisper(&storage, &prefix, &s, &want, ts);
    }
}

/// The property test's names (tests/metrics_formats.rs), for real: 300 random
/// awkward group ids and topics written to InfluxDB in one batch read back as
/// exactly the documented tag values.
#[test]
fn random_awkward_names_read_back_from_a_real_influxdb() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let Some(influx) = service("KLAG_TEST_INFLUX") else { return };
    let ch = proptest::prop_oneof![
        4 => proptest::arbitrary::any::<char>(),
        1 => proptest::strategy::Just(' '),
        1 => proptest::strategy::Just(','),
        1 => proptest::strategy::Just('='),
        1 => proptest::strategy::Just('"'),
        1 => proptest::strategy::Just('\\'),
        1 => proptest::strategy::Just('\n'),
        1 => proptest::strategy::Just('é'),
    ];
    let names = proptest::collection::vec(proptest::collection::vec(ch, 1..12), 300);
    let mut runner = TestRunner::deterministic();
    let names: Vec<String> =
        names.new_tree(&mut runner).unwrap().current().into_iter().map(String::from_iter).collect();
    let mut rows = Vec::new();
    let mut offsets = klag::lag::OffsetTable::new();
    for (i, n) in names.iter().enumerate() {
        let topic = format!("{n}#{i}");
        rows.push(klag::lag::Committed::new(klag::lag::Source::Kafka, &format!("{i}:{n}"), &topic, 0, Some(1)));
        offsets.insert((topic, 0), klag::lag::LogOffsets { start: Some(0), end: Some(3), error: None });
    }
    let snapshot = klag::lag::build_snapshot(chrono::Utc::now(), vec![], rows, &offsets);
    let body = klag::output::render_to_string(&klag::output::Influx::default(), &snapshot);
    let db = format!("props_{}", component(&unique("p")));
    create_db(&influx, &db);
    let mut resp = ureq::post(&format!("http://{influx}/write")).query("db", &db).send(&body).expect("/write");
    assert_eq!(resp.status().as_u16(), 204, "{}", resp.body_mut().read_to_string().unwrap_or_default());
    let rows = influx_rows(&influx, &db, "klag_partition");
    assert_eq!(rows.len(), names.len());
    let got: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r["group"].as_str().unwrap().to_string(), r["topic"].as_str().unwrap().to_string()))
        .collect();
    let want: std::collections::BTreeSet<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let tv = klag::output::influx::tag_value;
            (tv(&format!("{i}:{n}")), tv(&format!("{n}#{i}")))
        })
        .collect();
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}");
}
