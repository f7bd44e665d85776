//! Every output format over a snapshot with arbitrary names, offsets, owners,
//! errors, flags, (`--time-lag`) record timestamps and (`--state`) trends, with
//! every metrics option (Graphite prefix and tags, Influx schemas and
//! precisions), thresholds, and the table coloured and with `--watch` trend
//! sparklines. Besides "no panic", cheap structural invariants are checked per
//! format:
//! - graphite: one line per value, three space-separated fields, a fixed
//!   number of path components per level, one timestamp;
//! - influx: exactly the expected number of lines, no raw CR or LF inside one;
//! - prometheus: HELP/TYPE per family, one sample line per value, no raw LF;
//! - csv: RFC 4180 records, one per partition plus the header, every record
//!   with the header's column count;
//! - json: parses back with the same numbers of partitions and groups;
//! - table: no control character other than LF (uncoloured); coloured, the
//!   same text once the colour codes are removed;
//! - nagios: a `KLAG <STATE> - ` first line, one line per partition that is
//!   not OK (at most 100, then one more), no CR, no `|` but the perf data's.
#![no_main]

use chrono::DateTime;
use klag::config::Format;
use klag::lag::{build_snapshot, Committed, GroupInfo, LogOffsets, OffsetTable, Owner, Source, StormInfo};
use klag::output::metrics::{points, validate_prefix, InfluxSchema, Level, MetricsOptions, Precision};
use klag::judge::{judge, Levels, Severity, Thresholds};
use klag::output::{exporter_with, graphite, render_to_string, Nagios, Table};
use klag::trend::{annotate_groups, Status, Trend};
use klag::watch::LagHistory;
use klag::time_lag::{apply, read_at, RecordTime, RecordTimes};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Row {
    source: u8,
    group: String,
    topic: String,
    partition: i32,
    offset: Option<i64>,
    consumer_id: Option<String>,
    host: Option<String>,
    client_id: Option<String>,
    storm: Option<(Option<String>, Option<String>, Option<String>)>,
    error: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Offsets {
    /// Index of the row whose (topic, partition) these are, or an unrelated key.
    row: u8,
    start: Option<i64>,
    end: Option<i64>,
    error: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Group {
    source: u8,
    /// Index of a row whose group this is, or a name of its own.
    row: Option<u8>,
    name: String,
    state: Option<String>,
    members: Option<u32>,
    error: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    secs: i64,
    nanos: u32,
    prefix: String,
    graphite_tags: bool,
    precision: u8,
    burrow: bool,
    burrow_cluster: String,
    rows: Vec<Row>,
    offsets: Vec<Offsets>,
    groups: Vec<Group>,
    errors: Vec<String>,
    warnings: Vec<String>,
    /// `--time-lag`: per row index, the record's timestamp or (None) a failure.
    times: Option<Vec<(u8, Option<i64>)>>,
    /// `--state`: per row index, (status, consume rate, produce rate, catch-up seconds, samples).
    trends: Option<Vec<(u8, Option<u8>, Option<f64>, Option<f64>, Option<f64>, u8)>>,
    /// --warn, --crit, --warn-total, --crit-total, --warn-seconds, --crit-seconds.
    thresholds: (Option<u32>, Option<u32>, Option<u32>, Option<u32>, Option<u16>, Option<u16>),
    /// Earlier lags for the --watch sparklines (as extra snapshots' shifts).
    history: Vec<i64>,
}

/// A finite float, as the trend module guarantees.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|f| f.is_finite())
}

fn source(n: u8) -> Source {
    match n % 4 {
        0 => Source::Kafka,
        1 => Source::Zookeeper,
        2 => Source::Storm,
        _ => Source::Trident,
    }
}

const FORMATS: [Format; 6] =
    [Format::Table, Format::Json, Format::Graphite, Format::Influx, Format::Prometheus, Format::Csv];

fuzz_target!(|input: Input| {
    let rows: Vec<Committed> = input
        .rows
        .iter()
        .take(48)
        .map(|r| {
            let mut c = Committed::new(source(r.source), &r.group, &r.topic, r.partition, r.offset);
            c.owner =
                Owner { consumer_id: r.consumer_id.clone(), host: r.host.clone(), client_id: r.client_id.clone() };
            if let Some((topology, topology_id, broker)) = &r.storm {
                c = c.with_storm(StormInfo {
                    topology: topology.clone(),
                    topology_id: topology_id.clone(),
                    broker: broker.clone(),
                });
            }
            c.error = r.error.clone();
            c
        })
        .collect();
    let mut offsets = OffsetTable::new();
    for o in input.offsets.iter().take(64) {
        let key = match rows.get(usize::from(o.row)) {
            Some(r) => (r.topic.clone(), r.partition),
            None => (String::from("unrelated"), i32::from(o.row)),
        };
        offsets.insert(key, LogOffsets { start: o.start, end: o.end, error: o.error.clone() });
    }
    let groups: Vec<GroupInfo> = input
        .groups
        .iter()
        .take(16)
        .map(|g| {
            let (src, name) = match g.row.and_then(|i| rows.get(usize::from(i))) {
                Some(r) => (r.source, r.group.clone()),
                None => (source(g.source), g.name.clone()),
            };
            GroupInfo { source: src, group: name, state: g.state.clone(), members: g.members, error: g.error.clone() }
        })
        .collect();
    let taken_at =
        DateTime::from_timestamp(input.secs % 20_000_000_000, input.nanos % 1_000_000_000).unwrap_or_default();
    let mut snapshot = build_snapshot(taken_at, groups, rows, &offsets);
    snapshot.errors = input.errors.into_iter().take(8).collect();
    snapshot.warnings = input.warnings.into_iter().take(8).collect();
    if let Some(times) = &input.times {
        let mut found = RecordTimes::new();
        for (i, ts) in times.iter().take(48) {
            if let Some(at) = snapshot.partitions.get(usize::from(*i)).and_then(read_at) {
                found.insert(at, ts.map(RecordTime::At).ok_or_else(|| "fuzzed failure".to_string()));
            }
        }
        apply(&mut snapshot, &found);
        for p in &snapshot.partitions {
            assert!(p.lag_seconds.is_none_or(|s| s.is_finite() && s >= 0.0), "lag_seconds {:?}", p.lag_seconds);
        }
    }

    if let Some(trends) = &input.trends {
        for p in &mut snapshot.partitions {
            p.trend = Some(Box::default());
        }
        for &(i, status, consume, produce, catch_up, samples) in trends.iter().take(48) {
            if let Some(p) = snapshot.partitions.get_mut(usize::from(i)) {
                p.trend = Some(Box::new(Trend {
                    status: status.map(|s| Status::ALL[usize::from(s) % Status::ALL.len()]),
                    consume_rate: finite(consume),
                    produce_rate: finite(produce),
                    catch_up_seconds: finite(catch_up),
                    samples: usize::from(samples),
                }));
            }
        }
        annotate_groups(&mut snapshot);
    }

    let prefix = if validate_prefix(&input.prefix).is_ok() { input.prefix } else { "klag".to_string() };
    let precision = match input.precision % 4 {
        0 => Precision::S,
        1 => Precision::Ms,
        2 => Precision::Us,
        _ => Precision::Ns,
    };
    let options = MetricsOptions {
        prefix: prefix.clone(),
        graphite_tags: input.graphite_tags,
        precision,
        influx_schema: if input.burrow { InfluxSchema::Burrow } else { InfluxSchema::Klag },
        burrow_cluster: input.burrow_cluster,
    };

    let pts = points(&snapshot);
    let values: usize = pts.iter().map(|p| p.values.len()).sum();
    for format in FORMATS {
        let out = render_to_string(exporter_with(format, &options).as_ref(), &snapshot);
        match format {
            Format::Table => {
                assert!(out.chars().all(|c| c == '\n' || !c.is_control()), "control character in the table");
            }
            Format::Json => {
                let doc: serde_json::Value = serde_json::from_str(&out).expect("json output parses");
                assert_eq!(doc["partitions"].as_array().map(Vec::len), Some(snapshot.partitions.len()));
                assert_eq!(doc["groups"].as_array().map(Vec::len), Some(snapshot.groups.len()));
            }
            Format::Graphite => check_graphite(&out, &prefix, input.graphite_tags, values, taken_at.timestamp()),
            Format::Influx => {
                let expected = if input.burrow {
                    pts.iter()
                        .filter(|p| match p.level {
                            Level::Partition => {
                                p.value("lag").is_some()
                                    || p.value("committed").is_some()
                                    || p.value("status_code").is_some()
                            }
                            Level::Topic => false,
                            Level::Group => true,
                        })
                        .count()
                } else {
                    pts.iter().filter(|p| !p.values.is_empty()).count()
                };
                check_lines(&out, expected, "influx");
                assert!(!out.contains('\r'), "raw CR in influx output");
            }
            Format::Prometheus => {
                let families: usize = Level::ALL.iter().map(|l| l.value_names().len()).sum();
                // HELP + TYPE per family, one line per value, 3 timestamp lines.
                check_lines(&out, 2 * families + values + 3, "prometheus");
            }
            Format::Csv => check_csv(&out, snapshot.partitions.len() + 1),
            Format::Nagios => {}
        }
    }

    let (w, c, wt, ct, ws, cs) = input.thresholds;
    let thresholds = Thresholds {
        lag: Levels { warn: w.map(i64::from), crit: c.map(i64::from) },
        total_lag: Levels { warn: wt.map(i64::from), crit: ct.map(i64::from) },
        seconds: Levels { warn: ws.map(f64::from), crit: cs.map(f64::from) },
    };
    let verdict = judge(&snapshot, &thresholds);
    assert_eq!(verdict.partitions.len(), snapshot.partitions.len());
    assert_eq!(verdict.groups.len(), snapshot.groups.len());

    let nagios = Nagios { thresholds, problems: vec![] };
    let out = render_to_string(&nagios, &snapshot);
    let severity = nagios.severity(&snapshot);
    assert!(out.starts_with(&format!("KLAG {severity} - ")), "{out:?}");
    assert!(!out.contains('\r'));
    let first = out.lines().next().unwrap_or_default();
    assert!(first.matches('|').count() <= 1, "a stray | in {first:?}");
    let over = verdict.partitions.iter().filter(|v| v.severity > Severity::Ok).count();
    check_lines(&out, 1 + over.min(100) + usize::from(over > 100), "nagios");

    let mut history = LagHistory::default();
    for shift in input.history.iter().take(4) {
        let mut earlier = snapshot.clone();
        for p in &mut earlier.partitions {
            p.lag = p.lag.map(|l| l.saturating_add(*shift));
        }
        history.record(&earlier);
    }
    history.record(&snapshot);
    let plain = render_to_string(&Table { color: false, thresholds, trends: Some(&history) }, &snapshot);
    assert!(plain.chars().all(|c| c == '\n' || !c.is_control()), "control character in the table");
    let coloured = render_to_string(&Table { color: true, thresholds, trends: Some(&history) }, &snapshot);
    let mut stripped = coloured.clone();
    for code in ["\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[35m", "\x1b[0m"] {
        stripped = stripped.replace(code, "");
    }
    assert_eq!(stripped, plain, "colour changed the text");
});

fn check_lines(out: &str, expected: usize, what: &str) {
    if expected == 0 {
        assert!(out.is_empty(), "{what}: output without anything to say: {out:?}");
        return;
    }
    assert!(out.ends_with('\n'), "{what}: last line unterminated");
    let n = out.matches('\n').count();
    assert_eq!(n, expected, "{what}: {n} lines, expected {expected}:\n{out}");
}

fn check_graphite(out: &str, prefix: &str, tagged: bool, values: usize, ts: i64) {
    check_lines(out, values, "graphite");
    let head = if prefix.is_empty() { 0 } else { prefix.split('.').count() };
    let ts = ts.to_string();
    for line in out.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "graphite line not `path value ts`: {line:?}");
        assert_eq!(fields[2], ts, "{line:?}");
        assert!(fields[1].parse::<i64>().is_ok() || fields[1].parse::<f64>().is_ok_and(f64::is_finite), "{line:?}");
        let series = fields[0];
        assert!(!series.contains('\n') && !series.contains('\r'));
        let path = if tagged { series.split(';').next().unwrap_or_default() } else { series };
        let parts: Vec<&str> = path.split('.').collect();
        let level = parts.get(head).copied().unwrap_or_default();
        let level = Level::ALL.into_iter().find(|l| l.as_str() == level).expect("known level");
        // `components` counts the level name and the metric.
        let want = if tagged { head + 2 } else { head + graphite::components(level) };
        assert_eq!(parts.len(), want, "graphite path components: {line:?}");
        assert!(parts.iter().all(|p| !p.is_empty()), "empty path component: {line:?}");
    }
}

/// Counts RFC 4180 records and checks each has the header's column count.
fn check_csv(out: &str, expected_records: usize) {
    let columns = klag::output::csv::header().len();
    let mut records = 0;
    let mut fields = 1;
    let mut quoted = false;
    let mut at_start = true;
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    quoted = false;
                }
            }
            continue;
        }
        match c {
            '"' => {
                assert!(at_start, "csv: quote inside an unquoted cell");
                quoted = true;
            }
            ',' => {
                fields += 1;
                at_start = true;
                continue;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "csv: bare CR");
                assert_eq!(fields, columns, "csv: record {records} has {fields} fields");
                records += 1;
                fields = 1;
                at_start = true;
                continue;
            }
            '\n' => panic!("csv: bare LF outside quotes"),
            _ => {}
        }
        at_start = false;
    }
    assert!(!quoted, "csv: unterminated quote");
    assert_eq!(records, expected_records);
}
