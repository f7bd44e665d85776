//! Property tests of the metrics formats: whatever a group id, topic or
//! topology is called (unicode, spaces, commas, `=`, quotes, backslashes,
//! newlines), every Influx line parses back to exactly the original tag
//! values (with the documented rules for line feeds and a final backslash),
//! every Graphite path has its fixed number of components, every Prometheus
//! label and CSV cell reads back exactly.
//!
//! The Influx parser here follows InfluxDB 1.x (models/points.go), whose
//! behaviour the integration test in tests/metrics_sinks.rs checks against a
//! real influxd: a `,`, `=` or space is escaped when a backslash precedes it,
//! and unescaping turns `\,`, `\=`, `\ ` into the character; other backslashes
//! are literal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::DateTime;
use proptest::prelude::*;

use klag::lag::{build_snapshot, Committed, LogOffsets, OffsetTable, Snapshot, Source, StormInfo};
use klag::output::graphite::{self, Graphite};
use klag::output::influx::{self, Influx};
use klag::output::metrics::{InfluxSchema, Level, Precision};
use klag::output::{render_to_string, Csv, Prometheus};

/// Names made of the characters that break line formats, and any others.
fn awkward() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => any::<char>(),
        1 => Just(' '),
        1 => Just(','),
        1 => Just('='),
        1 => Just('"'),
        1 => Just('\''),
        1 => Just('\\'),
        1 => Just('\n'),
        1 => Just('\r'),
        1 => Just(';'),
        1 => Just('.'),
        1 => Just('~'),
        1 => Just('é'),
        1 => Just('✓'),
    ];
    prop::collection::vec(ch, 1..16).prop_map(String::from_iter)
}

fn snapshot(group: &str, topic: &str, topology: &str, source: Source) -> Snapshot {
    let mut row = Committed::new(source, group, topic, 3, Some(40));
    if source == Source::Storm {
        row.storm = Some(Box::new(StormInfo { topology: Some(topology.to_string()), topology_id: None, broker: None }));
    }
    let mut offsets = OffsetTable::new();
    offsets.insert((topic.to_string(), 3), LogOffsets { start: Some(7), end: Some(100), error: None });
    let t = DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap();
    build_snapshot(t, vec![], vec![row], &offsets)
}

/// Index of the first byte in `s[from..]` that is one of `delims` and not
/// preceded by a backslash (InfluxDB 1.x's rule), or s.len().
fn scan(s: &[u8], from: usize, delims: &[u8]) -> usize {
    let mut i = from;
    while i < s.len() {
        if delims.contains(&s[i]) && (i == 0 || s[i - 1] != b'\\') {
            return i;
        }
        i += 1;
    }
    s.len()
}

fn unescape(s: &[u8], codes: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() && codes.contains(&s[i + 1]) {
            out.push(s[i + 1]);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[derive(Debug)]
struct Line {
    measurement: String,
    tags: BTreeMap<String, String>,
    tag_order: Vec<String>,
    fields: BTreeMap<String, String>,
    timestamp: String,
}

fn parse_line(line: &str) -> Line {
    assert!(!line.contains('\n') && !line.contains('\r'), "newline inside a line: {line:?}");
    let b = line.as_bytes();
    let m_end = scan(b, 0, b", ");
    let measurement = unescape(&b[..m_end], b", ");
    let mut i = m_end;
    let mut tags = BTreeMap::new();
    let mut tag_order = Vec::new();
    while i < b.len() && b[i] == b',' {
        let end = scan(b, i + 1, b", ");
        let kv = &b[i + 1..end];
        let eq = scan(kv, 0, b"=");
        assert!(eq < kv.len(), "tag without '=' in {line:?}");
        let k = unescape(&kv[..eq], b", =");
        let v = unescape(&kv[eq + 1..], b", =");
        assert!(!v.is_empty(), "empty tag value in {line:?}");
        assert_eq!(scan(&kv[eq + 1..], 0, b"="), kv.len() - eq - 1, "unescaped '=' in a tag value: {line:?}");
        tag_order.push(k.clone());
        tags.insert(k, v);
        i = end;
    }
    assert_eq!(b.get(i), Some(&b' '), "no fields in {line:?}");
    let f_end = scan(b, i + 1, b" ");
    let mut fields = BTreeMap::new();
    let mut j = i + 1;
    while j < f_end {
        let end = scan(&b[..f_end], j, b",");
        let kv = &b[j..end];
        let eq = scan(kv, 0, b"=");
        fields.insert(unescape(&kv[..eq], b", ="), String::from_utf8(kv[eq + 1..].to_vec()).unwrap());
        j = end + 1;
    }
    let timestamp = String::from_utf8(b[f_end + 1..].to_vec()).unwrap();
    Line { measurement, tags, tag_order, fields, timestamp }
}

fn influx_lines(s: &Snapshot, schema: InfluxSchema, cluster: &str) -> Vec<Line> {
    let i = Influx { schema, precision: Precision::Ms, burrow_cluster: cluster.to_string() };
    render_to_string(&i, s).lines().map(parse_line).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn influx_tags_read_back_exactly(group in awkward(), topic in awkward(), topology in awkward(), storm in any::<bool>()) {
        let source = if storm { Source::Storm } else { Source::Kafka };
        let s = snapshot(&group, &topic, &topology, source);
        let lines = influx_lines(&s, InfluxSchema::Klag, "");
        prop_assert_eq!(lines.len(), 3);
        for l in &lines {
            prop_assert!(["klag_partition", "klag_topic", "klag_group"].contains(&l.measurement.as_str()));
            prop_assert_eq!(l.tags.get("group"), Some(&influx::tag_value(&group)));
            prop_assert_eq!(l.tags.get("source").map(String::as_str), Some(source.as_str()));
            if l.measurement != "klag_group" {
                prop_assert_eq!(l.tags.get("topic"), Some(&influx::tag_value(&topic)));
            }
            if storm {
                prop_assert_eq!(l.tags.get("spout"), Some(&influx::tag_value(&group)));
                prop_assert_eq!(l.tags.get("topology"), Some(&influx::tag_value(&topology)));
            }
            let mut sorted = l.tag_order.clone();
            sorted.sort();
            prop_assert_eq!(&sorted, &l.tag_order, "tags not sorted");
            prop_assert_eq!(&l.timestamp, "1700000000123");
            for v in l.fields.values() {
                prop_assert!(v.ends_with('i') && v[..v.len() - 1].parse::<i64>().is_ok(), "{}", v);
            }
        }
        let part = &lines[0];
        prop_assert_eq!(part.tags.get("partition").map(String::as_str), Some("3"));
        prop_assert_eq!(part.fields.get("lag").map(String::as_str), Some("60i"));
        prop_assert_eq!(part.fields.get("committed").map(String::as_str), Some("40i"));
    }

    #[test]
    fn names_without_newline_or_final_backslash_are_exact(group in awkward(), topic in awkward()) {
        let clean = |s: &str| s.replace(['\n', '\r'], "x").trim_end_matches('\\').to_string() + "z";
        let (g, t) = (clean(&group), clean(&topic));
        let lines = influx_lines(&snapshot(&g, &t, "", Source::Kafka), InfluxSchema::Klag, "");
        prop_assert_eq!(lines[0].tags.get("group"), Some(&g));
        prop_assert_eq!(lines[0].tags.get("topic"), Some(&t));
    }

    #[test]
    fn burrow_tags_read_back(group in awkward(), topic in awkward(), cluster in awkward()) {
        let lines = influx_lines(&snapshot(&group, &topic, "", Source::Kafka), InfluxSchema::Burrow, &cluster);
        prop_assert_eq!(lines.len(), 2);
        prop_assert_eq!(&lines[0].measurement, "burrow_partition");
        prop_assert_eq!(lines[0].tags.get("topic"), Some(&influx::tag_value(&topic)));
        prop_assert_eq!(&lines[1].measurement, "burrow_group");
        for l in &lines {
            prop_assert_eq!(l.tags.get("group"), Some(&influx::tag_value(&group)));
            prop_assert_eq!(l.tags.get("cluster"), Some(&influx::tag_value(&cluster)));
        }
    }

    #[test]
    fn graphite_paths_have_fixed_components(group in awkward(), topic in awkward(), prefix in "[a-z]{1,5}(\\.[a-z0-9_-]{1,5}){0,3}") {
        let g = Graphite { prefix: prefix.clone(), tagged: false };
        let out = render_to_string(&g, &snapshot(&group, &topic, "", Source::Kafka));
        let prefix_parts = prefix.split('.').count();
        prop_assert_eq!(out.lines().count(), out.matches('\n').count());
        for line in out.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            prop_assert_eq!(f.len(), 3, "{}", line);
            prop_assert!(f[1].parse::<i64>().is_ok());
            prop_assert_eq!(f[2], "1700000000");
            let parts: Vec<&str> = f[0].split('.').collect();
            let level = match parts[prefix_parts] {
                "partition" => Level::Partition,
                "topic" => Level::Topic,
                "group" => Level::Group,
                other => panic!("level {other} in {line}"),
            };
            prop_assert_eq!(parts.len() - prefix_parts, graphite::components(level), "{}", line);
            prop_assert_eq!(parts[prefix_parts + 2], graphite::component(&group));
            for p in &parts {
                prop_assert!(!p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{}", line);
            }
        }
    }

    #[test]
    fn graphite_tags_are_valid(group in awkward(), topic in awkward()) {
        let g = Graphite { prefix: "klag".into(), tagged: true };
        let out = render_to_string(&g, &snapshot(&group, &topic, "", Source::Kafka));
        for line in out.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            prop_assert_eq!(f.len(), 3, "{}", line);
            let mut parts = f[0].split(';');
            let name = parts.next().unwrap_or_default();
            prop_assert!(name.starts_with("klag."));
            for tag in parts {
                let (k, v) = tag.split_once('=').expect("tag=value");
                prop_assert!(!k.is_empty() && !k.contains(['!', '^', '=']));
                prop_assert!(!v.is_empty() && !v.starts_with('~'));
            }
        }
    }

    #[test]
    fn prometheus_labels_read_back(group in awkward(), topic in awkward()) {
        let out = render_to_string(&Prometheus, &snapshot(&group, &topic, "", Source::Kafka));
        let sample = out.lines().find(|l| l.starts_with("klag_partition_lag{")).expect("sample");
        let labels = parse_prom_labels(sample);
        prop_assert_eq!(labels.get("group"), Some(&group));
        prop_assert_eq!(labels.get("topic"), Some(&topic));
        prop_assert!(sample.ends_with(" 60"), "{}", sample);
    }

    #[test]
    fn csv_cells_read_back(group in awkward(), topic in awkward()) {
        let out = render_to_string(&Csv::default(), &snapshot(&group, &topic, "", Source::Kafka));
        let rows = parse_csv(&out);
        prop_assert_eq!(rows.len(), 2);
        prop_assert_eq!(&rows[1][2], &group);
        prop_assert_eq!(&rows[1][3], &topic);
        prop_assert_eq!(&rows[1][5], "60");
    }
}

/// Label values of one Prometheus sample line, unescaped.
fn parse_prom_labels(line: &str) -> BTreeMap<String, String> {
    let body = &line[line.find('{').unwrap() + 1..];
    let mut out = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || key.starts_with('}') {
            break;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut v = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some(x) => v.push(x),
                    None => panic!("dangling escape"),
                },
                '"' => break,
                '\n' => panic!("raw newline in label"),
                c => v.push(c),
            }
        }
        out.insert(key, v);
        if chars.next() != Some(',') {
            break;
        }
    }
    out
}

/// An RFC 4180 reader: rows of cells.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn an_empty_group_id_is_left_out_of_the_tags() {
    let lines = influx_lines(&snapshot("", "t", "", Source::Kafka), InfluxSchema::Klag, "");
    assert!(lines.iter().all(|l| !l.tags.contains_key("group")));
    assert_eq!(lines[0].tags.get("topic").map(String::as_str), Some("t"));
}
