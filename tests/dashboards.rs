//! The Grafana dashboards in dashboards/ are importable as they are, and every
//! query in them names measurements, fields, tags and Graphite paths that klag
//! actually emits (compared with the renderers' output for a snapshot with a
//! Kafka group and a Storm spout).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::DateTime;
use regex::Regex;
use serde_json::Value;

use klag::lag::{build_snapshot, Committed, GroupInfo, LogOffsets, OffsetTable, Snapshot, Source, StormInfo};
use klag::output::{render_to_string, Graphite, Influx};

fn snapshot() -> Snapshot {
    let mut spout = Committed::new(Source::Storm, "spout-a", "clicks", 0, Some(3));
    spout.storm = Some(Box::new(StormInfo { topology: Some("clickstream".into()), topology_id: None, broker: None }));
    let rows = vec![Committed::new(Source::Kafka, "billing", "orders", 0, Some(5)), spout];
    let mut offsets = OffsetTable::new();
    for t in ["orders", "clicks"] {
        offsets.insert((t.into(), 0), LogOffsets { start: Some(0), end: Some(9), error: None });
    }
    let groups = vec![GroupInfo {
        source: Source::Kafka,
        group: "billing".into(),
        state: Some("Stable".into()),
        members: Some(1),
        error: None,
    }];
    build_snapshot(DateTime::from_timestamp(1_700_000_000, 0).unwrap(), groups, rows, &offsets)
}

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Importable as is: one datasource input, used by every panel and target.
fn check_importable(d: &Value, plugin: &str) -> String {
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["type"], "datasource");
    assert_eq!(inputs[0]["pluginId"], plugin);
    let uid = format!("${{{}}}", inputs[0]["name"].as_str().unwrap());
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()) && d["title"].as_str().is_some());
    assert!(d["schemaVersion"].as_i64().unwrap() >= 36, "Grafana 9+ JSON model");
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    for p in panels {
        assert_eq!(p["datasource"]["uid"].as_str(), Some(uid.as_str()), "{}", p["title"]);
        assert_eq!(p["datasource"]["type"].as_str(), Some(plugin));
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"].as_str(), Some(uid.as_str()));
        }
    }
    uid
}

/// Queries of the panels (`key` of each target) and of the query variables.
fn queries(d: &Value, key: &str) -> (Vec<String>, Vec<String>) {
    let panels = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t[key].as_str().unwrap().to_string()))
        .collect();
    let vars = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| v["query"].as_str().unwrap().to_string())
        .collect();
    (panels, vars)
}

/// measurement -> (tag keys, field keys) of klag's Influx lines.
fn influx_schema() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for line in render_to_string(&Influx::default(), &snapshot()).lines() {
        // The names here have no escaped characters: plain splits will do.
        let mut parts = line.split(' ');
        let (series, fields) = (parts.next().unwrap(), parts.next().unwrap());
        let mut series = series.split(',');
        let entry = out.entry(series.next().unwrap().to_string()).or_default();
        entry.0.extend(series.map(|kv| kv.split('=').next().unwrap().to_string()));
        entry.1.extend(fields.split(',').map(|kv| kv.split('=').next().unwrap().to_string()));
    }
    out
}

fn check_influxql(q: &str, schema: &BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>) {
    let from = Regex::new(r#"FROM "(\w+)""#).unwrap();
    let measurements: Vec<&str> = from.captures_iter(q).map(|c| c.get(1).unwrap().as_str()).collect();
    assert_eq!(measurements.len(), 1, "one measurement in {q}");
    let m = measurements[0];
    let (tags, fields) = schema.get(m).unwrap_or_else(|| panic!("klag emits no measurement {m:?} ({q})"));
    let quoted = Regex::new(r#""(\w+)""#).unwrap();
    let names = |s: &str| quoted.captures_iter(s).map(|c| c.get(1).unwrap().as_str().to_string()).collect::<Vec<_>>();
    let from_at = q.find(" FROM ").unwrap();
    if let Some(select) = q.strip_prefix("SELECT ") {
        let selected = names(&select[..from_at - "SELECT ".len()]);
        assert!(!selected.is_empty(), "no field in {q}");
        for f in selected {
            assert!(fields.contains(&f), "{m} has no field {f:?} ({q}); it has {fields:?}");
        }
    } else {
        assert!(q.starts_with("SHOW TAG VALUES FROM"), "unexpected query {q}");
    }
    let rest = &q[from_at..];
    let mut used: Vec<String> = names(rest).into_iter().filter(|n| n != m).collect();
    assert!(!used.is_empty() || !q.contains("WHERE"), "no tag found in {q}");
    used.sort();
    used.dedup();
    for t in used {
        assert!(tags.contains(&t), "{m} has no tag {t:?} ({q}); it has {tags:?}");
    }
}

#[test]
fn influxdb_dashboard_queries_name_what_klag_writes() {
    let d = load("klag-influxdb.json");
    check_importable(&d, "influxdb");
    let schema = influx_schema();
    assert_eq!(schema.keys().collect::<Vec<_>>(), ["klag_group", "klag_partition", "klag_topic"]);
    let (panels, vars) = queries(&d, "query");
    assert!(panels.len() >= 8);
    for q in panels.iter().chain(&vars) {
        check_influxql(q, &schema);
    }
    // Legend aliases name tags the query groups by.
    let alias = Regex::new(r"\$tag_(\w+)").unwrap();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let q = t["query"].as_str().unwrap();
            let group_by = &q[q.find("GROUP BY").expect("GROUP BY")..];
            for c in alias.captures_iter(t["alias"].as_str().unwrap()) {
                let tag = c.get(1).unwrap().as_str();
                assert!(group_by.contains(&format!("\"{tag}\"")), "alias $tag_{tag} not grouped by in {q}");
            }
        }
    }
}

/// Graphite glob (`*`, `{a,b}`, `$var` as `*`) to a regex over dotted names.
fn glob(pattern: &str) -> Regex {
    let var = Regex::new(r"\$\w+").unwrap();
    let mut re = String::from("^");
    for (i, comp) in pattern.split('.').enumerate() {
        if i > 0 {
            re.push_str(r"\.");
        }
        let comp = var.replace_all(comp, "*");
        for c in comp.chars() {
            match c {
                '*' => re.push_str("[^.]*"),
                '{' => re.push_str("(?:"),
                '}' => re.push(')'),
                ',' => re.push('|'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
    }
    re.push('$');
    Regex::new(&re).unwrap()
}

#[test]
fn graphite_dashboard_targets_match_paths_klag_writes() {
    let d = load("klag-graphite.json");
    check_importable(&d, "graphite");
    let prefix = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "prefix")
        .and_then(|v| v["query"].as_str())
        .expect("a prefix constant");
    assert_eq!(prefix, "klag", "the default --prefix");
    let paths: Vec<String> = render_to_string(&Graphite::default(), &snapshot())
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    // Components of letters, digits, _ - * $var and {a,b} alternatives.
    let comp = r"(?:[A-Za-z0-9_$*-]|\{[^}]*\})+";
    let path_re = Regex::new(&format!(r"{comp}(?:\.{comp})+")).unwrap();
    let (targets, vars) = queries(&d, "target");
    assert!(targets.len() >= 8);
    for t in &targets {
        let found: Vec<&str> = path_re.find_iter(t).map(|m| m.as_str()).collect();
        assert_eq!(found.len(), 1, "one series path in {t}");
        let pattern = found[0].replace("$prefix", prefix);
        let re = glob(&pattern);
        assert!(paths.iter().any(|p| re.is_match(p)), "no path klag writes matches {pattern} ({t}); paths: {paths:#?}");
        // aliasByNode positions exist in the path.
        if let Some(args) = t.rsplit_once("), ").map(|(_, a)| a.trim_end_matches(')')).or_else(|| {
            t.strip_prefix("aliasByNode(").and_then(|r| r.split_once(", ")).map(|(_, a)| a.trim_end_matches(')'))
        }) {
            for n in args.split(',').map(|n| n.trim().parse::<usize>().expect("node index")) {
                assert!(n < pattern.split('.').count(), "aliasByNode {n} beyond {pattern}");
            }
        }
    }
    for v in &vars {
        let pattern = v.replace("$prefix", prefix);
        let n = pattern.split('.').count();
        let re = glob(&pattern);
        let heads: BTreeSet<String> =
            paths.iter().map(|p| p.split('.').take(n).collect::<Vec<_>>().join(".")).collect();
        assert!(heads.iter().any(|h| re.is_match(h)), "variable query {v} matches no node klag writes");
    }
}

/// Every InfluxQL query of the dashboard, with Grafana's macros filled in,
/// runs without error on a real InfluxDB holding klag's lines, and finds data.
#[test]
fn influxdb_dashboard_queries_run_on_a_real_influxdb() {
    let Some(addr) = common::service("KLAG_TEST_INFLUX") else { return };
    let db = format!("dash_{}", common::unique("d").replace('-', "_"));
    let post = |path: &str, params: &[(&str, &str)], body: String| -> String {
        let mut req = ureq::post(&format!("http://{addr}{path}"));
        for (k, v) in params {
            req = req.query(*k, *v);
        }
        let mut resp = req.send(body).unwrap_or_else(|e| panic!("{path}: {e}"));
        resp.body_mut().read_to_string().unwrap()
    };
    post("/query", &[("q", &format!("CREATE DATABASE \"{db}\""))], String::new());
    // Two snapshots a minute apart, stamped near now, so that rates have two points.
    let now = chrono::Utc::now().timestamp();
    for (i, t) in [now - 60, now].into_iter().enumerate() {
        let mut s = snapshot();
        s.taken_at = DateTime::from_timestamp(t, 0).unwrap();
        for p in &mut s.partitions {
            p.log_end = p.log_end.map(|e| e + 10 * i as i64);
        }
        let opts =
            klag::output::MetricsOptions { precision: klag::output::metrics::Precision::S, ..Default::default() };
        let lines = render_to_string(&*klag::output::exporter_with(klag::config::Format::Influx, &opts), &s);
        post("/write", &[("db", &db), ("precision", "s")], lines);
    }
    let d = load("klag-influxdb.json");
    let (panels, vars) = queries(&d, "query");
    for q in panels.iter().chain(&vars) {
        let q = q
            .replace("$timeFilter", "time > now() - 1h")
            .replace("$__interval", "30s")
            .replace("/^$source$/", "/^(kafka|storm)$/")
            .replace("/^$group$/", "/.*/")
            .replace("/^$topic$/", "/.*/");
        let answer = post("/query", &[("db", &db), ("q", &q)], String::new());
        let doc: Value = serde_json::from_str(&answer).unwrap();
        let result = &doc["results"][0];
        assert!(result.get("error").is_none(), "{q}: {answer}");
        let series = result["series"].as_array().unwrap_or_else(|| panic!("no data for {q}: {answer}"));
        assert!(!series.is_empty(), "{q}");
    }
}
