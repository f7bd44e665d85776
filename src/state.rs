//! `--state FILE`: the [`History`] kept between runs, so that each run can
//! judge trends without a daemon.
//!
//! Format (version 1): the line `klag-state 1`, then one JSON document with
//! one partition per line:
//!
//! ```text
//! klag-state 1
//! {"window":10,"runs":[1700000000000,1700000060000],"partitions":[
//! {"source":"kafka","group":"billing","topic":"orders","partition":0,"samples":[[1700000000000,90,100,10],[1700000060000,95,110,15]]}
//! ]}
//! ```
//!
//! `runs` are the times (Unix ms) of the last `window` runs that measured
//! something; `samples` are `[time, committed, log_end, lag]`, oldest first.
//! A file without the header (garbage, another tool's JSON) or whose body
//! does not parse is reported and replaced by a new history; so is a file of
//! another format version. Files over [`MAX_FILE_BYTES`] are not read.
//!
//! Concurrency and crashes: a run takes an exclusive lock on `FILE.lock`
//! before reading (waiting at most `--timeout`) and keeps it until it has
//! written the file, so concurrent runs take turns and each adds its sample.
//! A run that cannot get the lock still judges from the file as it is, but
//! does not save. Writes go to a temporary file in the same folder, are
//! synced and renamed over FILE: a reader, or a run killed at any moment,
//! sees the old file or the new one, never a mix. Temporary files left by a
//! killed run are removed by the next run that holds the lock.
//!
//! No problem here stops a run: each is a warning naming the file, and the
//! measurement is reported as usual.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lag::{Snapshot, Source};
use crate::lockfile::{self, Lock};
use crate::output::{remove_stale_temps, sync_parent, write_atomic_with};
use crate::trend::{History, Millis, PartitionKey, Sample};

pub const MAGIC: &str = "klag-state";
pub const VERSION: &str = "1";
/// Larger files are not read (the writer stays far below: see the README).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// `--state FILE --window N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    pub path: PathBuf,
    /// Samples per partition kept and judged.
    pub window: usize,
}

/// Why a file's content cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Invalid {
    #[error("not a klag state file (it does not start with \"{MAGIC} {VERSION}\")")]
    Foreign,
    #[error("state format {0:?} is not the format this klag reads ({VERSION})")]
    Version(String),
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("too large ({0} bytes; at most {MAX_FILE_BYTES} are read)")]
    TooLarge(u64),
}

#[derive(Serialize)]
struct PartitionOut<'a> {
    source: Source,
    group: &'a str,
    topic: &'a str,
    partition: i32,
    samples: Vec<[i64; 4]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[allow(dead_code)]
    window: usize,
    runs: Vec<Millis>,
    partitions: Vec<PartitionIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionIn {
    source: Source,
    group: String,
    topic: String,
    partition: i32,
    samples: Vec<[i64; 4]>,
}

/// Writes `history` in the file format.
pub fn encode(history: &History, out: &mut dyn Write) -> io::Result<()> {
    let runs: Vec<Millis> = history.runs().collect();
    writeln!(out, "{MAGIC} {VERSION}")?;
    write!(out, "{{\"window\":{},\"runs\":", history.capacity())?;
    serde_json::to_writer(&mut *out, &runs).map_err(io::Error::other)?;
    out.write_all(b",\"partitions\":[")?;
    for (i, (key, samples)) in history.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        let p = PartitionOut {
            source: key.source,
            group: &key.group,
            topic: &key.topic,
            partition: key.partition,
            samples: samples.iter().map(|s| [s.at, s.committed, s.log_end, s.lag]).collect(),
        };
        serde_json::to_writer(&mut *out, &p).map_err(io::Error::other)?;
    }
    out.write_all(b"\n]}\n")
}

/// Reads the file format back into a history keeping `window` samples.
pub fn decode(bytes: &[u8], window: usize) -> Result<History, Invalid> {
    let (header, body) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let Some(version) = header.strip_prefix(MAGIC).and_then(|rest| rest.strip_prefix(' ')) else {
        return Err(Invalid::Foreign);
    };
    if version.trim_end() != VERSION {
        return Err(Invalid::Version(version.chars().take(20).collect()));
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| Invalid::Corrupt(e.to_string()))?;
    let series = body.partitions.into_iter().map(|p| {
        let key = PartitionKey { source: p.source, group: p.group, topic: p.topic, partition: p.partition };
        let samples =
            p.samples.into_iter().map(|[at, committed, log_end, lag]| Sample { at, committed, log_end, lag }).collect();
        (key, samples)
    });
    Ok(History::from_parts(window, body.runs, series))
}

/// The lock file beside the state file.
pub fn lock_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    path.with_file_name(format!("{name}.lock"))
}

/// Reads the file: `Ok(None)` when it does not exist yet.
fn read(path: &Path, window: usize) -> io::Result<Option<Result<History, Invalid>>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len > MAX_FILE_BYTES {
        return Ok(Some(Err(Invalid::TooLarge(len))));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
    Ok(Some(decode(&bytes, window)))
}

/// The state of one run: the loaded history and, when it was had, the lock.
pub struct State {
    settings: StateSettings,
    lock: Option<Lock>,
    history: History,
    /// False when the file could not be read: it must not be overwritten.
    writable: bool,
    warnings: Vec<String>,
}

impl State {
    /// Takes the lock (waiting until `deadline`) and loads the history.
    /// Never fails: every problem becomes a warning naming the file.
    pub fn open(settings: &StateSettings, deadline: Instant) -> State {
        let path = &settings.path;
        let shown = path.display();
        let mut warnings = Vec::new();
        let waited = deadline.saturating_duration_since(Instant::now());
        let lock = match lockfile::acquire(&lock_path(path), deadline) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                warnings.push(format!(
                    "state file {shown}: another klag run kept it locked for {}; \
                     statuses are judged from it, but this run's sample is not saved",
                    seconds(waited)
                ));
                None
            }
            Err(e) => {
                warnings.push(format!(
                    "state file {shown}: cannot lock {}: {e}; this run's sample is not saved",
                    lock_path(path).display()
                ));
                None
            }
        };
        let mut writable = true;
        let history = match read(path, settings.window) {
            Ok(None) => History::new(settings.window),
            Ok(Some(Ok(history))) => history,
            Ok(Some(Err(invalid))) => {
                let fate = if lock.is_some() { "it is replaced by a new one" } else { "it is left as it is" };
                warnings.push(format!("state file {shown}: {invalid}; starting a new history, {fate}"));
                History::new(settings.window)
            }
            Err(e) => {
                writable = false;
                warnings.push(format!("state file {shown}: cannot read it: {e}; this run's sample is not saved"));
                History::new(settings.window)
            }
        };
        State { settings: settings.clone(), lock, history, writable, warnings }
    }

    /// The history as loaded (or as updated).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Records the snapshot, sets its trends and statuses, saves the file
    /// (when the lock was had) and releases the lock. Warnings go to the
    /// snapshot's warnings.
    pub fn update(mut self, snapshot: &mut Snapshot) {
        let shown = self.settings.path.display().to_string();
        let recorded = self.history.record(snapshot);
        self.history.annotate(snapshot, self.settings.window);
        if recorded.from_the_future > 0 {
            self.warnings.push(format!(
                "state file {shown}: {} sample(s) not older than this run were dropped (did the clock go back?)",
                recorded.from_the_future
            ));
        }
        if recorded.over_bound > 0 {
            self.warnings.push(format!(
                "state file {shown}: {} partition(s) not kept: a state keeps at most {} partitions",
                recorded.over_bound,
                crate::trend::MAX_PARTITIONS
            ));
        }
        if self.lock.is_some() && self.writable {
            if let Err(e) = self.save() {
                self.warnings.push(format!("state file {shown}: cannot write it: {e}"));
            }
        }
        drop(self.lock.take());
        snapshot.warnings.append(&mut self.warnings);
    }

    fn save(&self) -> io::Result<()> {
        let path = &self.settings.path;
        // Only runs holding the lock write the file, so any temporary file
        // of it now was left by a killed run.
        let _ = remove_stale_temps(path);
        write_atomic_with(path, |out| encode(&self.history, out))?;
        sync_parent(path)
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trend::{Status, MAX_PARTITIONS};

    fn key(group: &str, partition: i32) -> PartitionKey {
        PartitionKey { source: Source::Kafka, group: group.into(), topic: "t".into(), partition }
    }

    fn sample(committed: i64, log_end: i64) -> Sample {
        Sample { at: 0, committed, log_end, lag: (log_end - committed).max(0) }
    }

    fn history() -> History {
        let mut h = History::new(5);
        h.record_samples(1000, [(key("a", 0), sample(1, 10)), (key("b \"quoted\"\n", 1), sample(5, 10))]);
        h.record_samples(2000, [(key("a", 0), sample(3, 10))]);
        h
    }

    fn encoded(h: &History) -> Vec<u8> {
        let mut buf = Vec::new();
        let _ = encode(h, &mut buf);
        buf
    }

    #[test]
    fn round_trip() {
        let h = history();
        let bytes = encoded(&h);
        assert!(bytes.starts_with(b"klag-state 1\n{\"window\":5,\"runs\":[1000,2000],\"partitions\":[\n{\"source\""));
        assert_eq!(decode(&bytes, 5), Ok(h.clone()));
        // Another window keeps what fits.
        let smaller = decode(&bytes, 2).unwrap_or_else(|_| History::new(2));
        assert_eq!(smaller.capacity(), 2);
        assert_eq!(smaller.samples(&key("a", 0)).map(|s| s.len()), Some(2));
        let empty = encoded(&History::new(3));
        assert_eq!(decode(&empty, 3), Ok(History::new(3)));
    }

    #[test]
    fn garbage_foreign_other_versions_and_truncation_are_detected() {
        assert_eq!(decode(b"\x00\xff\xfegarbage", 5), Err(Invalid::Foreign));
        assert_eq!(decode(b"", 5), Err(Invalid::Foreign));
        assert_eq!(decode(b"{\"lag\": {\"billing\": 10}}\n", 5), Err(Invalid::Foreign));
        assert_eq!(decode(b"klag-stateless\n{}", 5), Err(Invalid::Foreign));
        assert_eq!(decode(b"klag-state 2\n{}", 5), Err(Invalid::Version("2".into())));
        let bytes = encoded(&history());
        for cut in [13, 20, bytes.len() / 2, bytes.len() - 3] {
            assert!(matches!(decode(&bytes[..cut], 5), Err(Invalid::Corrupt(_))), "cut at {cut}");
        }
        let unknown_field = b"klag-state 1\n{\"window\":5,\"runs\":[],\"partitions\":[],\"extra\":1}";
        assert!(matches!(decode(unknown_field, 5), Err(Invalid::Corrupt(_))));
        let bad_source = b"klag-state 1\n{\"window\":5,\"runs\":[],\"partitions\":[{\"source\":\"nope\",\"group\":\"g\",\"topic\":\"t\",\"partition\":0,\"samples\":[]}]}";
        assert!(matches!(decode(bad_source, 5), Err(Invalid::Corrupt(_))));
    }

    proptest::proptest! {
        /// Damaged files are errors, never panics.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut bytes = b"klag-state 1\n".to_vec();
            bytes.extend(&body);
            let _ = decode(&bytes, 10);
            let _ = decode(&body, 10);
        }

        /// Valid bodies with arbitrary numbers decode to a usable history.
        #[test]
        fn arbitrary_samples_decode(samples in proptest::collection::vec(proptest::prelude::any::<[i64; 4]>(), 0..20), runs in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..20)) {
            let body = serde_json::json!({
                "window": 3, "runs": runs,
                "partitions": [{"source": "kafka", "group": "g", "topic": "t", "partition": 0, "samples": samples}],
            });
            let bytes = format!("klag-state 1\n{body}");
            let h = decode(bytes.as_bytes(), 3);
            proptest::prop_assert!(h.is_ok());
            let h = h.unwrap_or_else(|_| History::new(3));
            proptest::prop_assert!(h.total_samples() <= 3);
            proptest::prop_assert!(h.runs().count() <= 3);
        }
    }

    fn settings(dir: &Path, window: usize) -> StateSettings {
        StateSettings { path: dir.join("klag.state"), window }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn snapshot_at(secs: i64, committed: i64) -> Snapshot {
        use crate::lag::{build_snapshot, Committed, LogOffsets, OffsetTable};
        let mut offsets = OffsetTable::new();
        offsets.insert(("t".into(), 0), LogOffsets { start: Some(0), end: Some(100), error: None });
        build_snapshot(
            chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            Vec::new(),
            vec![Committed::new(Source::Kafka, "g", "t", 0, Some(committed))],
            &offsets,
        )
    }

    fn status(s: &Snapshot) -> Option<Status> {
        s.partitions[0].trend.as_ref().and_then(|t| t.status)
    }

    #[test]
    fn runs_accumulate_in_the_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = settings(dir.path(), 3);
        let mut statuses = Vec::new();
        for (i, c) in [10, 20, 20, 20].into_iter().enumerate() {
            let mut s = snapshot_at(1_700_000_000 + 60 * i as i64, c);
            State::open(&st, far()).update(&mut s);
            assert!(s.warnings.is_empty(), "{:?}", s.warnings);
            statuses.push(status(&s));
        }
        assert_eq!(statuses, vec![None, Some(Status::Ok), Some(Status::Ok), Some(Status::Stall)]);
        let h = decode(&fs::read(&st.path)?, 3).unwrap_or_else(|_| History::new(3));
        assert_eq!(h.total_samples(), 3);
        assert!(lock_path(&st.path).exists());
        assert_eq!(fs::read_dir(dir.path())?.count(), 2, "no temporary file left");
        Ok(())
    }

    #[test]
    fn a_garbage_file_is_reported_and_replaced() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = settings(dir.path(), 3);
        fs::write(&st.path, b"{\"other\":\"tool\"}")?;
        let mut s = snapshot_at(1_700_000_000, 10);
        State::open(&st, far()).update(&mut s);
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("klag.state: not a klag state file"), "{}", s.warnings[0]);
        assert!(s.warnings[0].contains("replaced"), "{}", s.warnings[0]);
        assert!(decode(&fs::read(&st.path)?, 3).is_ok());
        Ok(())
    }

    #[test]
    fn a_locked_file_is_read_but_not_written() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = settings(dir.path(), 3);
        let mut s = snapshot_at(1_700_000_000, 10);
        State::open(&st, far()).update(&mut s);
        let before = fs::read(&st.path)?;
        let holder = State::open(&st, far());
        let mut s = snapshot_at(1_700_000_060, 20);
        State::open(&st, Instant::now() + Duration::from_millis(50)).update(&mut s);
        assert_eq!(status(&s), Some(Status::Ok), "judged from the file");
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].contains("locked"), "{}", s.warnings[0]);
        assert_eq!(fs::read(&st.path)?, before);
        drop(holder);
        Ok(())
    }

    #[test]
    fn a_missing_folder_or_unreadable_file_is_a_warning() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = settings(&dir.path().join("missing"), 3);
        let mut s = snapshot_at(1_700_000_000, 10);
        State::open(&st, far()).update(&mut s);
        assert_eq!(status(&s), None);
        assert!(s.warnings.iter().any(|w| w.contains("missing/klag.state") && w.contains("cannot lock")));
        // A folder where the file should be: unreadable, left alone.
        let st = settings(dir.path(), 3);
        fs::create_dir(&st.path)?;
        let mut s = snapshot_at(1_700_000_000, 10);
        State::open(&st, far()).update(&mut s);
        assert!(s.warnings.iter().any(|w| w.contains("cannot read it")), "{:?}", s.warnings);
        assert!(st.path.is_dir());
        Ok(())
    }

    #[test]
    fn stale_temporaries_are_removed_under_the_lock() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = settings(dir.path(), 3);
        fs::write(dir.path().join(".klag.state.tmp-123-456"), b"klag-state 1\n{\"win")?;
        let mut s = snapshot_at(1_700_000_000, 10);
        State::open(&st, far()).update(&mut s);
        let names: Vec<String> =
            fs::read_dir(dir.path())?.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into()).collect();
        assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
        Ok(())
    }

    #[test]
    fn many_partitions_stay_within_the_file_bound() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let st = settings(dir.path(), 10);
        let mut h = History::new(10);
        let n = MAX_PARTITIONS + 1000;
        for run in 0..12 {
            let rows = (0..n).map(|i| {
                let k = PartitionKey {
                    source: Source::Kafka,
                    group: format!("consumer-group-{:05}", i / 50),
                    topic: format!("topic-{:03}", i % 7),
                    partition: (i % 50) as i32,
                };
                let c = 1_000_000_000 + run * 1000 + i as i64;
                (k, Sample { at: 0, committed: c, log_end: c + 500, lag: 500 })
            });
            h.record_samples(1_700_000_000_000 + run * 60_000, rows);
        }
        write_atomic_with(&st.path, |out| encode(&h, out))?;
        let size = fs::metadata(&st.path)?.len();
        assert!(size < MAX_FILE_BYTES / 4, "{size} bytes");
        let back = decode(&fs::read(&st.path)?, 10).unwrap_or_else(|_| History::new(10));
        assert_eq!(back.len(), MAX_PARTITIONS);
        assert_eq!(back.total_samples(), MAX_PARTITIONS * 10);
        assert_eq!(back, h);
        Ok(())
    }
}
