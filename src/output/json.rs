//! `--format json`: the whole snapshot as one JSON document.
//!
//! Written by hand, byte for byte what `serde_json::to_writer_pretty` writes
//! for [`Snapshot`]'s `Serialize` (the tests compare the two): at 100k rows
//! serde's token-by-token path was most of a run's CPU time.

use std::io::{self, Write};

use super::Exporter;
use crate::lag::{GroupSummary, PartitionLag, Snapshot};

pub struct Json;

impl Exporter for Json {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        let mut w = Pretty { buf: Vec::with_capacity(FLUSH_AT + 4096), out, depth: 0, first: true };
        w.open(b'{');
        w.key("taken_at");
        // chrono's own RFC 3339 form, as serde writes it.
        let taken_at = serde_json::to_string(&snapshot.taken_at).map_err(io::Error::other)?;
        w.raw(taken_at.as_bytes());
        w.key("partitions");
        rows(&mut w, &snapshot.partitions, partition)?;
        w.key("groups");
        rows(&mut w, &snapshot.groups, group)?;
        w.key("errors");
        w.strings(&snapshot.errors);
        if !snapshot.warnings.is_empty() {
            w.key("warnings");
            w.strings(&snapshot.warnings);
        }
        w.close(b'}');
        w.buf.push(b'\n');
        w.out.write_all(&w.buf)?;
        w.out.flush()
    }
}

/// An array of objects at depth 1 (a member of the top-level object): every
/// object's members sit at depth 3, so their line prefixes are constants.
fn rows<T>(w: &mut Pretty<'_>, items: &[T], row: fn(&mut Pretty<'_>, &T)) -> io::Result<()> {
    if items.is_empty() {
        w.raw(b"[]");
        return Ok(());
    }
    for (i, item) in items.iter().enumerate() {
        w.raw(if i == 0 { b"[\n    {" } else { b",\n    {" });
        row(w, item);
        w.raw(b"\n    }");
        w.flush_if_full()?;
    }
    w.raw(b"\n  ]");
    w.first = false;
    Ok(())
}

fn partition(w: &mut Pretty<'_>, p: &PartitionLag) {
    w.raw(b"\n      \"source\": ");
    w.string(p.source.as_str());
    w.raw(b",\n      \"group\": ");
    w.string(&p.group);
    w.raw(b",\n      \"topic\": ");
    w.string(&p.topic);
    w.raw(b",\n      \"partition\": ");
    w.int(i64::from(p.partition));
    w.raw(b",\n      \"committed\": ");
    w.opt_int(p.committed);
    w.raw(b",\n      \"log_start\": ");
    w.opt_int(p.log_start);
    w.raw(b",\n      \"log_end\": ");
    w.opt_int(p.log_end);
    w.raw(b",\n      \"lag\": ");
    w.opt_int(p.lag);
    w.raw(b",\n      \"lag_seconds\": ");
    w.value(&p.lag_seconds);
    w.raw(b",\n      \"consumer_id\": ");
    w.opt_string(p.consumer_id.as_deref());
    w.raw(b",\n      \"host\": ");
    w.opt_string(p.host.as_deref());
    w.raw(b",\n      \"client_id\": ");
    w.opt_string(p.client_id.as_deref());
    if let Some(s) = p.storm.as_deref() {
        let fields: [(&[u8], &Option<String>); 3] = [
            (b",\n      \"topology\": ", &s.topology),
            (b",\n      \"topology_id\": ", &s.topology_id),
            (b",\n      \"broker\": ", &s.broker),
        ];
        for (prefix, v) in fields {
            if let Some(v) = v {
                w.raw(prefix);
                w.string(v);
            }
        }
    }
    w.raw(b",\n      \"flags\": ");
    for (i, f) in p.flags.iter().enumerate() {
        w.raw(if i == 0 { b"[\n        " } else { b",\n        " });
        w.string(f.as_str());
    }
    w.raw(if p.flags.is_empty() { b"[]" } else { b"\n      ]" });
    w.raw(b",\n      \"error\": ");
    w.opt_string(p.error.as_deref());
    // With --state only.
    if let Some(t) = p.trend.as_deref() {
        w.raw(b",\n      \"status\": ");
        w.value(&t.status);
        w.raw(b",\n      \"consume_rate\": ");
        w.value(&t.consume_rate);
        w.raw(b",\n      \"produce_rate\": ");
        w.value(&t.produce_rate);
        w.raw(b",\n      \"catch_up_seconds\": ");
        w.value(&t.catch_up_seconds);
    }
}

fn group(w: &mut Pretty<'_>, g: &GroupSummary) {
    w.raw(b"\n      \"group\": ");
    w.string(&g.group);
    w.raw(b",\n      \"source\": ");
    w.string(g.source.as_str());
    w.raw(b",\n      \"state\": ");
    w.opt_string(g.state.as_deref());
    w.raw(b",\n      \"members\": ");
    w.opt_int(g.members.map(i64::from));
    w.raw(b",\n      \"partitions\": ");
    w.uint(g.partitions as u64);
    w.raw(b",\n      \"total_lag\": ");
    w.opt_int(g.total_lag);
    w.raw(b",\n      \"max_lag\": ");
    w.opt_int(g.max_lag);
    w.raw(b",\n      \"max_lag_seconds\": ");
    w.value(&g.max_lag_seconds);
    w.raw(b",\n      \"unmeasured\": ");
    w.uint(g.unmeasured as u64);
    if let Some(t) = &g.topology {
        w.raw(b",\n      \"topology\": ");
        w.string(t);
    }
    w.raw(b",\n      \"error\": ");
    w.opt_string(g.error.as_deref());
    if let Some(t) = &g.trend {
        w.raw(b",\n      \"status\": ");
        w.value(&t.status);
    }
}

/// Bytes buffered before a write to the output.
const FLUSH_AT: usize = 1 << 16;

/// serde_json's pretty layout: two-space indent, `"key": value`, elements
/// on their own lines, empty containers as `[]` and `{}`.
struct Pretty<'a> {
    buf: Vec<u8>,
    out: &'a mut dyn Write,
    depth: usize,
    /// No element written yet in the innermost open container.
    first: bool,
}

impl Pretty<'_> {
    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn newline(&mut self) {
        const INDENT: &[u8; 33] = b"\n                                ";
        match INDENT.get(..1 + 2 * self.depth) {
            Some(line) => self.buf.extend_from_slice(line),
            None => {
                self.buf.push(b'\n');
                self.buf.resize(self.buf.len() + 2 * self.depth, b' ');
            }
        }
    }

    fn open(&mut self, bracket: u8) {
        self.buf.push(bracket);
        self.depth += 1;
        self.first = true;
    }

    /// Closes the innermost container (which is never empty when `first`
    /// is false). Containers only nest in non-empty parents here, so the
    /// parent's `first` is false afterwards.
    fn close(&mut self, bracket: u8) {
        self.depth -= 1;
        if !self.first {
            self.newline();
        }
        self.buf.push(bracket);
        self.first = false;
    }

    /// Starts an array element.
    fn element(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.newline();
    }

    /// Starts an object member; `name` needs no escaping.
    fn key(&mut self, name: &str) {
        self.element();
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\": ");
    }

    fn strings(&mut self, items: &[String]) {
        self.open(b'[');
        for s in items {
            self.element();
            self.string(s);
        }
        self.close(b']');
    }

    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.buf.extend_from_slice(b"null"),
        }
    }

    /// A scalar the way serde_json writes it (floats through ryu, as serde
    /// does; statuses as their names). Only rare fields come this way.
    fn value<T: serde::Serialize>(&mut self, v: &T) {
        if serde_json::to_writer(&mut self.buf, v).is_err() {
            self.buf.extend_from_slice(b"null");
        }
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.buf.extend_from_slice(b"null"),
        }
    }

    fn int(&mut self, v: i64) {
        if v < 0 {
            self.buf.push(b'-');
        }
        self.uint(v.unsigned_abs());
    }

    fn uint(&mut self, mut n: u64) {
        if n < 10 {
            self.buf.push(b'0' + n as u8);
            return;
        }
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    /// A JSON string escaped as serde_json escapes: `"` and `\`, control
    /// characters as `\b \t \n \f \r` or `\u00xx`; everything else as is.
    fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
            self.buf.extend_from_slice(bytes);
            self.buf.push(b'"');
            return;
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b >= 0x20 && b != b'"' && b != b'\\' {
                continue;
            }
            self.buf.extend_from_slice(&bytes[start..i]);
            match b {
                b'"' => self.buf.extend_from_slice(b"\\\""),
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                0x08 => self.buf.extend_from_slice(b"\\b"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                0x0c => self.buf.extend_from_slice(b"\\f"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]),
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::{Flag, GroupSummary, Source, StormInfo};
    use crate::output::{render_to_string, sample};

    #[test]
    fn json_snapshot() {
        insta::assert_snapshot!(render_to_string(&Json, &sample::snapshot()));
    }

    #[test]
    fn json_with_trend_snapshot() {
        insta::assert_snapshot!(render_to_string(&Json, &sample::snapshot_with_trend()));
    }

    #[test]
    fn json_time_lag_snapshot() {
        insta::assert_snapshot!(render_to_string(&Json, &sample::timed()));
    }

    #[test]
    fn unknown_values_are_null_and_times_rfc3339() {
        let doc: serde_json::Value = match serde_json::from_str(&render_to_string(&Json, &sample::snapshot())) {
            Ok(v) => v,
            Err(e) => panic!("invalid JSON: {e}"),
        };
        assert_eq!(doc["taken_at"], "2023-11-14T22:13:20.250Z");
        let no_commit = &doc["partitions"][4];
        assert_eq!(no_commit["partition"], 2);
        assert!(no_commit["committed"].is_null());
        assert!(no_commit["lag"].is_null());
        assert_eq!(no_commit["flags"][0], "no_commit");
    }

    fn serde_pretty(s: &Snapshot) -> String {
        serde_json::to_string_pretty(s).map(|j| j + "\n").unwrap_or_default()
    }

    #[test]
    fn same_bytes_as_serde_json() {
        for s in [sample::snapshot_with_trend(), sample::timed()] {
            assert_eq!(render_to_string(&Json, &s), serde_pretty(&s));
        }
        let mut s = sample::snapshot();
        assert_eq!(render_to_string(&Json, &s), serde_pretty(&s));
        s.errors = vec!["a \"quoted\" \\ path\n\t\u{1}\u{7f}é😀".into(), String::new()];
        s.warnings = vec!["w".into()];
        s.partitions.truncate(0);
        s.groups.truncate(0);
        assert_eq!(render_to_string(&Json, &s), serde_pretty(&s));
    }

    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("(.|\n|\u{0}|\u{1f}|\"|\\\\){0,12}").unwrap_or_else(|_| panic!("regex"))
    }

    proptest::proptest! {
        #[test]
        fn any_snapshot_renders_as_serde_json_does(
            rows in proptest::collection::vec(
                (text(), proptest::option::of(text()), proptest::option::of(proptest::prelude::any::<i64>()),
                 proptest::prelude::any::<i32>(), proptest::option::of((proptest::option::of(text()), proptest::option::of(text()))),
                 proptest::collection::vec(0..5u8, 0..3)),
                0..5),
            errors in proptest::collection::vec(text(), 0..3),
            warnings in proptest::collection::vec(text(), 0..2),
        ) {
            let mut s = sample::snapshot();
            s.errors = errors;
            s.warnings = warnings;
            for (name, opt, n, p, storm, flags) in rows {
                let mut row = s.partitions[0].clone();
                row.group = name.clone();
                row.topic.clone_from(&name);
                row.partition = p;
                row.committed = n;
                row.lag = n.map(|v| v.wrapping_neg());
                row.lag_seconds = n.map(|v| v as f64 / 1000.0);
                row.trend = (p % 2 == 0).then(|| Box::new(crate::trend::Trend {
                    status: Some(crate::trend::Status::Stall),
                    consume_rate: n.map(|v| v as f64 / 3.0),
                    produce_rate: None,
                    catch_up_seconds: Some(0.5),
                    samples: 3,
                }));
                row.host.clone_from(&opt);
                row.error.clone_from(&opt);
                row.storm = storm.map(|(topology, broker)| Box::new(StormInfo { topology, topology_id: None, broker }));
                row.flags = flags.into_iter().map(|f| match f {
                    0 => Flag::NoCommit, 1 => Flag::OutOfRange, 2 => Flag::AheadOfEnd, 3 => Flag::Unavailable, _ => Flag::BadData,
                }).collect();
                s.partitions.push(row);
                s.groups.push(GroupSummary {
                    group: name,
                    source: Source::Storm,
                    state: opt.clone(),
                    members: None,
                    partitions: usize::MAX,
                    total_lag: n,
                    max_lag: Some(i64::MIN),
                    max_lag_seconds: n.map(|v| v as f64 * 1e10),
                    unmeasured: 0,
                    topology: opt,
                    error: None,
                    trend: (p % 2 == 0).then_some(crate::trend::GroupTrend { status: Some(crate::trend::Status::Err) }),
                });
            }
            proptest::prop_assert_eq!(render_to_string(&Json, &s), serde_pretty(&s));
        }
    }
}
