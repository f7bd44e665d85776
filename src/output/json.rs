//! `--format json`: the whole snapshot as one JSON document.

use std::io::{self, Write};

use super::Exporter;
use crate::lag::Snapshot;

pub struct Json;

impl Exporter for Json {
    fn render(&self, snapshot: &Snapshot, out: &mut dyn Write) -> io::Result<()> {
        // A concrete buffered writer: serde_json writes token by token, and
        // through `dyn Write` each token would be a virtual call.
        let mut buf = io::BufWriter::with_capacity(1 << 16, out);
        serde_json::to_writer_pretty(&mut buf, snapshot).map_err(io::Error::other)?;
        buf.write_all(b"\n")?;
        buf.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
