//! `--send` delivery against fake peers on loopback: a stopped sink, one that
//! resets the connection, one that never confirms, a well-behaved one, fake
//! InfluxDB HTTP servers (500, 401, a failing second batch, a reset), and the
//! spool between runs. The binary-level tests (silent Graphite and InfluxDB
//! peers, InfluxDB 500/401 beside good peers) measure a group on the shared
//! kafka39, so they run where it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::DateTime;

use klag::lag::{build_snapshot, Committed, LogOffsets, OffsetTable, Snapshot, Source};
use klag::output::{render_to_string, Graphite, MetricsOptions};
use klag::sinks::{deliver, SinkSpec, SpoolSettings};

fn snapshot(secs: i64) -> Snapshot {
    let mut offsets = OffsetTable::new();
    offsets.insert(("orders.v2".into(), 0), LogOffsets { start: Some(0), end: Some(10), error: None });
    let rows = vec![Committed::new(Source::Kafka, "billing team", "orders.v2", 0, Some(4))];
    build_snapshot(DateTime::from_timestamp(secs, 0).unwrap(), vec![], rows, &offsets)
}

fn graphite_lines(s: &Snapshot) -> Vec<String> {
    render_to_string(&Graphite::default(), s).lines().map(|l| format!("{l}\n")).collect()
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spec(url: &str) -> SinkSpec {
    SinkSpec::parse(url, &|_| None).unwrap()
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

/// Accepts connections; each is handled by `f`; returns what every
/// connection sent (as read by `f`) and the number of connections.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;
type Requests = Arc<Mutex<Vec<(String, String)>>>;

fn fake(f: fn(TcpStream) -> Vec<u8>) -> (u16, Received, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        for s in l.incoming().flatten() {
            let data = f(s);
            g.lock().unwrap().push(data);
        }
    });
    (port, got, h)
}

/// What a fake peer recorded, once it has recorded at least `n` connections
/// (bounded wait): the sink may finish before the peer's thread records.
fn settled<T>(got: &Mutex<Vec<T>>, n: usize) -> std::sync::MutexGuard<'_, Vec<T>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.lock().unwrap().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // A little longer, so that an unexpected extra connection is seen too.
    std::thread::sleep(Duration::from_millis(50));
    got.lock().unwrap()
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut buf);
    buf
}

/// Accepts and resets at once: SO_LINGER 0, then close.
fn reset(s: TcpStream) -> Vec<u8> {
    common::reset_connection(s);
    Vec::new()
}

/// Reads a few bytes, then closes with data unread (the kernel resets).
fn read_a_little(mut s: TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 8];
    let _ = s.read(&mut buf);
    std::thread::sleep(Duration::from_millis(50));
    drop(s);
    buf.to_vec()
}

/// Reads everything but never closes (holds the socket for 10 s).
fn never_confirm(s: TcpStream) -> Vec<u8> {
    let s2 = s.try_clone().unwrap();
    let data = read_all(s);
    std::thread::sleep(Duration::from_secs(10));
    drop(s2);
    data
}

#[test]
fn a_stopped_sink_delivers_nothing_and_says_so() {
    let s = snapshot(1_700_000_000);
    let url = format!("graphite://127.0.0.1:{}", closed_port());
    let r = deliver(&s, &MetricsOptions::default(), &[spec(&url)], None, soon(3000));
    assert_eq!(r.len(), 1);
    let r = &r[0];
    assert_eq!((r.current, r.delivered, r.undelivered()), (graphite_lines(&s).len(), 0, graphite_lines(&s).len()));
    assert!(!r.ok());
    let msg = r.to_string();
    let n = graphite_lines(&s).len();
    assert!(
        msg.contains(&format!("0 of {n} lines delivered")) && msg.contains("refused") && msg.contains("dropped"),
        "{msg}"
    );
}

#[test]
fn a_sink_that_resets_is_tried_twice_and_nothing_is_counted() {
    let s = snapshot(1_700_000_000);
    for handler in [reset as fn(TcpStream) -> Vec<u8>, read_a_little] {
        let (port, got, _h) = fake(handler);
        let r =
            deliver(&s, &MetricsOptions::default(), &[spec(&format!("graphite://127.0.0.1:{port}"))], None, soon(5000));
        assert_eq!(r[0].delivered, 0, "{}", r[0]);
        assert!(r[0].error.is_some());
        assert_eq!(settled(&got, 2).len(), 2, "one attempt and one retry");
    }
}

#[test]
fn a_sink_that_never_confirms_ends_by_the_deadline() {
    let s = snapshot(1_700_000_000);
    let (port, _got, _h) = fake(never_confirm);
    let start = Instant::now();
    let r = deliver(&s, &MetricsOptions::default(), &[spec(&format!("graphite://127.0.0.1:{port}"))], None, soon(800));
    assert!(start.elapsed() < Duration::from_millis(1500), "took {:?}", start.elapsed());
    assert_eq!(r[0].delivered, 0);
    assert!(r[0].to_string().contains("deadline"), "{}", r[0]);
}

#[test]
fn a_good_sink_gets_every_line_in_one_connection() {
    let s = snapshot(1_700_000_000);
    let (port, got, _h) = fake(read_all);
    let r = deliver(&s, &MetricsOptions::default(), &[spec(&format!("graphite://127.0.0.1:{port}"))], None, soon(5000));
    assert!(r[0].ok(), "{}", r[0]);
    assert_eq!(r[0].delivered, graphite_lines(&s).len());
    let got = settled(&got, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(String::from_utf8_lossy(&got[0]), graphite_lines(&s).concat());
    assert!(got[0].starts_with(b"klag.partition.kafka.billing_team.orders_v2.0.lag 6 1700000000\n"));
}

#[test]
fn the_spool_keeps_a_failed_run_and_delivers_it_first_with_its_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let spool = SpoolSettings { dir: dir.path().to_path_buf(), max_bytes: 1 << 20 };
    let (first, second) = (snapshot(1_700_000_000), snapshot(1_700_000_060));
    // The destination is down: the first run's lines are spooled.
    let port = closed_port();
    let down = spec(&format!("graphite://127.0.0.1:{port}"));
    let r = deliver(&first, &MetricsOptions::default(), std::slice::from_ref(&down), Some(&spool), soon(3000));
    let n = graphite_lines(&first).len();
    assert_eq!((r[0].delivered, r[0].spooled), (0, n), "{}", r[0]);
    assert!(r[0].to_string().contains(&format!("{n} lines kept in the spool")), "{}", r[0]);
    // It is back (on the same address): spooled lines first, then this run's.
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let h = std::thread::spawn(move || read_all(l.accept().unwrap().0));
    let r = deliver(&second, &MetricsOptions::default(), &[down], Some(&spool), soon(5000));
    assert!(r[0].ok(), "{}", r[0]);
    assert_eq!((r[0].from_spool, r[0].current, r[0].delivered, r[0].spooled), (n, n, 2 * n, 0));
    let mut want = graphite_lines(&first);
    want.extend(graphite_lines(&second));
    assert_eq!(String::from_utf8(h.join().unwrap()).unwrap(), want.concat());
}

#[test]
fn a_full_spool_drops_the_oldest_lines_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let one_run: usize = graphite_lines(&snapshot(1_700_000_000)).iter().map(String::len).sum();
    let spool = SpoolSettings { dir: dir.path().to_path_buf(), max_bytes: (one_run + one_run / 2) as u64 };
    let down = spec(&format!("graphite://127.0.0.1:{}", closed_port()));
    deliver(
        &snapshot(1_700_000_000),
        &MetricsOptions::default(),
        std::slice::from_ref(&down),
        Some(&spool),
        soon(2000),
    );
    let r = deliver(&snapshot(1_700_000_060), &MetricsOptions::default(), &[down], Some(&spool), soon(2000));
    let n = graphite_lines(&snapshot(1_700_000_000)).len();
    assert!(r[0].dropped_by_bound > 0 && r[0].dropped_by_bound < n, "{}", r[0]);
    assert_eq!(r[0].spooled + r[0].dropped_by_bound, 2 * n);
    assert!(r[0].to_string().contains("oldest lines were dropped"), "{}", r[0]);
}

/// A one-request-per-connection HTTP server answering `status` in turn;
/// records each request's head and body.
fn fake_http(statuses: Vec<u16>) -> (u16, Requests) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for (i, s) in l.incoming().flatten().enumerate() {
            let mut s = s;
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (head, text[end + 4..end + 4 + len].to_string());
                    }
                }
            };
            let status = statuses.get(i).copied().unwrap_or(204);
            g.lock().unwrap().push((head, body));
            let reason = if status == 204 { "No Content" } else { "Error" };
            let msg = if status == 204 { String::new() } else { format!("{{\"error\":\"status {status}\"}}") };
            let _ = write!(
                s,
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            );
        }
    });
    (port, got)
}

#[test]
fn influx_v2_gets_path_query_token_and_is_retried_once_after_a_5xx() {
    let (port, got) = fake_http(vec![503, 204]);
    let url = format!("influx2://127.0.0.1:{port}?org=acme%20co&bucket=lag");
    let spec = SinkSpec::parse(&url, &|k| (k == "KLAG_INFLUX_TOKEN").then(|| "t0ken".to_string())).unwrap();
    let s = snapshot(1_700_000_000);
    let r = deliver(&s, &MetricsOptions::default(), &[spec], None, soon(5000));
    assert!(r[0].ok(), "{}", r[0]);
    assert!(!r[0].to_string().contains("t0ken"));
    let got = settled(&got, 2);
    assert_eq!(got.len(), 2);
    let (head, body) = &got[1];
    assert!(head.starts_with("POST /api/v2/write?org=acme+co&bucket=lag&precision=ns HTTP/1.1"), "{head}");
    assert!(head.lines().any(|l| l.eq_ignore_ascii_case("authorization: Token t0ken")), "{head}");
    assert!(
        body.starts_with("klag_partition,group=billing\\ team,partition=0,source=kafka,topic=orders.v2 lag=6i"),
        "{body}"
    );
    assert_eq!(body.lines().count(), r[0].delivered);
}

#[test]
fn influx_v1_rejection_is_not_retried_and_nothing_is_counted() {
    let (port, got) = fake_http(vec![400]);
    let spec = SinkSpec::parse(&format!("influx://127.0.0.1:{port}/kafka"), &|k| match k {
        "KLAG_INFLUX_USERNAME" => Some("klag".into()),
        "KLAG_INFLUX_PASSWORD" => Some("pw".into()),
        _ => None,
    })
    .unwrap();
    let opts = MetricsOptions { precision: klag::output::metrics::Precision::S, ..MetricsOptions::default() };
    let r = deliver(&snapshot(1_700_000_000), &opts, &[spec], None, soon(5000));
    assert_eq!(r[0].delivered, 0);
    let msg = r[0].to_string();
    assert!(msg.contains("HTTP 400") && !msg.contains("pw"), "{msg}");
    let got = settled(&got, 1);
    assert_eq!(got.len(), 1, "a 4xx is not retried");
    assert!(got[0].0.starts_with("POST /write?db=kafka&precision=s HTTP/1.1"), "{}", got[0].0);
    // klag:pw in base64.
    assert!(got[0].0.lines().any(|l| l.eq_ignore_ascii_case("authorization: Basic a2xhZzpwdw==")), "{}", got[0].0);
}

#[test]
fn udp_lines_go_out_in_whole_line_datagrams_unconfirmed() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let s = snapshot(1_700_000_000);
    let r =
        deliver(&s, &MetricsOptions::default(), &[spec(&format!("graphite+udp://127.0.0.1:{port}"))], None, soon(3000));
    assert!(r[0].ok() && r[0].unconfirmed, "{}", r[0]);
    assert!(r[0].to_string().contains("sent (UDP, unconfirmed)"), "{}", r[0]);
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < graphite_lines(&s).concat().len() {
        let n = sock.recv(&mut buf).unwrap();
        assert!(n <= 1400 && buf[..n].ends_with(b"\n"));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8(got).unwrap(), graphite_lines(&s).concat());
}

fn klag() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("klag").unwrap();
    c.env_remove("KLAG_BOOTSTRAP_SERVER").env_remove("KLAG_FORMAT").env_remove("KLAG_INFLUX_TOKEN");
    c.timeout(Duration::from_secs(30));
    c
}

#[test]
fn nothing_measured_outranks_a_failed_delivery_and_output_goes_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klag.prom");
    let kafka = format!("127.0.0.1:{}", closed_port());
    let out = klag()
        .args(["-b", &kafka, "--timeout", "2s", "--format", "prometheus", "-o"])
        .arg(&file)
        .args(["--send", &format!("graphite://127.0.0.1:{}", closed_port())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("# TYPE klag_partition_lag gauge") && text.contains("klag_snapshot_timestamp_seconds "));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
}

#[test]
fn bad_send_urls_and_missing_tokens_are_usage_errors_without_secrets() {
    for (args, says) in [
        (vec!["--send", "ftp://x"], "unknown scheme"),
        (vec!["--send", "influx2://h?org=o&bucket=b"], "KLAG_INFLUX_TOKEN"),
        (vec!["--send", "influx://admin:hunter2@h/db"], "credentials do not belong"),
        (vec!["--spool", "/tmp/x"], "--spool keeps lines"),
        (vec!["--prefix", "a..b"], "invalid --prefix"),
    ] {
        let out = klag().args(["-b", "127.0.0.1:9"]).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says) && !err.contains("hunter2"), "{args:?}: {err}");
    }
}

#[test]
fn an_unwritable_output_file_is_an_error_after_the_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let out = klag()
        .args(["-b", &format!("127.0.0.1:{}", closed_port()), "--timeout", "2s", "-o"])
        .arg(dir.path().join("no/such/dir/lag.json"))
        .args(["--send", &format!("graphite://127.0.0.1:{}", closed_port()), "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0 of 0 lines delivered") && err.contains("writing") && err.contains("lag.json"), "{err}");
    assert!(spool.is_dir(), "the delivery (and its spool) ran before the error");
}

// ---------------------------------------------------------------------------
// Through the binary, with a real Kafka measured: silent peers, InfluxDB
// answering 500 or 401, a well-behaved sink alongside. Exact counts.
// ---------------------------------------------------------------------------

/// A group with commits on two partitions of a fresh topic on the shared
/// kafka39: 20 graphite lines (2 partitions x 4, topic 7, group 5) and 4
/// influx lines (2 partitions, topic, group). The arguments measure it.
fn measured_group() -> Option<Vec<String>> {
    let kafka = common::service("KLAG_TEST_KAFKA39")?;
    let p = common::unique("dlv");
    let (topic, group) = (format!("{p}-t"), format!("{p}-g"));
    common::create_topic(&kafka, &topic, 2);
    common::produce(&kafka, &topic, &[5, 3]);
    common::commit(&kafka, &group, &[(&topic, 0, 1), (&topic, 1, 2)]);
    Some(["-b", &kafka, "--group", &format!("^{group}$"), "--format", "graphite"].map(String::from).to_vec())
}

const GRAPHITE_LINES: usize = 20;
const INFLUX_LINES: usize = 4;

/// Accepts connections and holds them, never reading nor answering.
fn silent_peer() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

fn run_send(args: &[String], timeout: &str, sends: &[String]) -> (std::process::Output, Duration) {
    let mut cmd = klag();
    cmd.args(args).args(["--timeout", timeout]);
    for s in sends {
        cmd.args(["--send", s]);
    }
    let start = Instant::now();
    let out = cmd.output().unwrap();
    (out, start.elapsed())
}

#[test]
fn silent_graphite_and_influx_end_by_the_timeout_and_are_named() {
    let Some(args) = measured_group() else { return };
    for url in [format!("graphite://{}", silent_peer()), format!("influx://{}/kafka", silent_peer())] {
        let (out, took) = run_send(&args, "3s", std::slice::from_ref(&url));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(took < Duration::from_secs(4), "{url}: took {took:?}, limit is --timeout + 1 s; {err}");
        assert_eq!(out.status.code(), Some(4), "{url}: {err}");
        let n = if url.starts_with("graphite") { GRAPHITE_LINES } else { INFLUX_LINES };
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), GRAPHITE_LINES, "stdout is complete");
        let want = format!("klag: error: delivery to {url}: 0 of {n} lines delivered; failed: ");
        assert!(err.contains(&want) && err.contains(&format!("; {n} lines dropped")), "{url}: {err}");
        assert!(err.contains("deadline"), "{url}: says why: {err}");
    }
}

#[test]
fn influx_500_401_and_refused_through_the_binary_count_exactly() {
    let Some(args) = measured_group() else { return };
    // 500 every time: tried twice. 401: not retried. Good ones beside them, and a closed port.
    let (p500, got500) = fake_http(vec![500, 500, 500]);
    let (p401, got401) = fake_http(vec![401, 401]);
    let (good, gotgood) = fake_http(vec![]);
    let (carbon, gotcarbon, _h) = fake(read_all);
    let sends = [
        format!("influx://127.0.0.1:{p500}/kafka"),
        format!("influx://127.0.0.1:{p401}/kafka"),
        format!("influx://127.0.0.1:{good}/kafka"),
        format!("graphite://127.0.0.1:{carbon}"),
        format!("influx://127.0.0.1:{}/kafka", closed_port()),
    ];
    let (out, took) = run_send(&args, "10s", &sends);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(took < Duration::from_secs(11), "took {took:?}");
    assert_eq!(out.status.code(), Some(4), "{err}");
    let n = INFLUX_LINES;
    assert!(
        err.contains(&format!(
            "klag: error: delivery to {}: 0 of {n} lines delivered; failed: HTTP 500: {{\"error\":\"status 500\"}}; {n} lines dropped",
            sends[0]
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "klag: error: delivery to {}: 0 of {n} lines delivered; failed: HTTP 401: {{\"error\":\"status 401\"}}; {n} lines dropped",
            sends[1]
        )),
        "{err}"
    );
    assert!(err.contains(&format!("klag: {}: {n} of {n} lines delivered\n", sends[2])), "{err}");
    let g = GRAPHITE_LINES;
    assert!(err.contains(&format!("klag: {}: {g} of {g} lines delivered\n", sends[3])), "{err}");
    let refused = format!("klag: error: delivery to {}: 0 of {n} lines delivered; failed: ", sends[4]);
    let line = err.lines().find(|l| l.starts_with(&refused)).unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("refused") && line.ends_with(&format!("; {n} lines dropped (use --spool DIR to keep them)")),
        "{line}"
    );
    assert_eq!(settled(&got500, 2).len(), 2, "a 500 is retried once");
    assert_eq!(settled(&got401, 1).len(), 1, "a 401 is not retried");
    // What the good peers confirmed is what was counted, line for line.
    let good_body = settled(&gotgood, 1)[0].1.clone();
    assert_eq!(good_body.lines().count(), n);
    assert_eq!(settled(&gotcarbon, 1)[0].as_slice(), out.stdout.as_slice(), "carbon got the printed lines");
    // The failed peers saw the same lines that were reported as not delivered.
    assert_eq!(got500.lock().unwrap()[1].1, good_body);
}

/// More than one batch: the first 5000 lines confirmed, the second batch
/// refused twice with a 500. Exactly those 5000 count; the rest are dropped,
/// or kept in the spool, to the line.
#[test]
fn a_failing_second_influx_batch_counts_the_first_exactly() {
    let mut offsets = OffsetTable::new();
    let mut rows = Vec::new();
    for p in 0..6000 {
        offsets.insert(("big".into(), p), LogOffsets { start: Some(0), end: Some(10), error: None });
        rows.push(Committed::new(Source::Kafka, "g", "big", p, Some(4)));
    }
    let s = build_snapshot(DateTime::from_timestamp(1_700_000_000, 0).unwrap(), vec![], rows, &offsets);
    let n = render_to_string(&klag::output::Influx::default(), &s).lines().count();
    assert!(n > 5000 && n < 10_000, "{n}");
    for spool in [false, true] {
        let (port, got) = fake_http(vec![204, 500, 500]);
        let dir = tempfile::tempdir().unwrap();
        let settings = SpoolSettings { dir: dir.path().to_path_buf(), max_bytes: 1 << 24 };
        let url = spec(&format!("influx://127.0.0.1:{port}/kafka"));
        let r = deliver(&s, &MetricsOptions::default(), &[url], spool.then_some(&settings), soon(10_000));
        let r = &r[0];
        assert_eq!((r.delivered, r.undelivered()), (5000, n - 5000), "{r}");
        let msg = r.to_string();
        assert!(msg.contains(&format!("5000 of {n} lines delivered; failed: HTTP 500")), "{msg}");
        if spool {
            assert_eq!(r.spooled, n - 5000, "{r}");
            assert!(msg.contains(&format!("{} lines kept in the spool", n - 5000)), "{msg}");
        } else {
            assert!(msg.contains(&format!("{} lines dropped", n - 5000)), "{msg}");
        }
        let got = settled(&got, 3);
        assert_eq!(got.len(), 3, "batch 1, batch 2 and its retry");
        assert_eq!((got[0].1.lines().count(), got[1].1.lines().count()), (5000, n - 5000));
    }
}

/// An InfluxDB that reads the request and resets the connection instead of
/// answering: both attempts fail, nothing is counted.
#[test]
fn influx_resetting_mid_request_counts_nothing() {
    let (port, got, _h) = fake(|mut s| {
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
        common::reset_connection(s);
        buf.to_vec()
    });
    let s = snapshot(1_700_000_000);
    let r =
        deliver(&s, &MetricsOptions::default(), &[spec(&format!("influx://127.0.0.1:{port}/db"))], None, soon(5000));
    assert_eq!(r[0].delivered, 0, "{}", r[0]);
    let n = r[0].current;
    assert!(r[0].to_string().contains(&format!("0 of {n} lines delivered; failed: ")), "{}", r[0]);
    assert_eq!(settled(&got, 2).len(), 2, "one attempt and one retry");
}
