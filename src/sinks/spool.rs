//! `--spool DIR`: lines that could not be delivered wait here for the next run.
//!
//! Layout: one folder per destination (`SinkSpec::spool_key`), holding
//! `<unix-ms>-<pid>-<n>.lines` files of rendered lines, oldest name first, and
//! a `.lock` file. A run takes the lock (waiting at most until its deadline),
//! sends the spooled lines before its own, then deletes what was delivered,
//! keeps the rest, and writes its own undelivered lines to a new file. The
//! lines keep the timestamps they were rendered with. Every file is written
//! through a temporary file and a rename.
//!
//! Bound: when the folder holds more than `max_bytes`, the oldest lines are
//! dropped (and counted) until it fits. A run that cannot get the lock (another
//! klag still running) leaves the backlog alone and only adds its own file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use super::SinkError;
use crate::lockfile::{self, Lock};
use crate::output::write_atomic;

/// Where and how much to spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    /// Bound per destination, in bytes.
    pub max_bytes: u64,
}

pub const DEFAULT_MAX_BYTES: u64 = 10 << 20;

/// One destination's spool folder, locked for this run when possible.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Held while the run works on the backlog; released on drop.
    lock: Option<Lock>,
    files: Vec<(PathBuf, Vec<String>)>,
}

/// What settling left in the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Lines now waiting in the spool (all runs).
    pub kept: usize,
    /// Oldest lines dropped to stay within the bound.
    pub dropped: usize,
}

fn err(dir: &Path, source: std::io::Error) -> SinkError {
    SinkError::Spool { dir: dir.to_path_buf(), source }
}

fn lines_of(text: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| if l.ends_with('\n') { l.to_string() } else { format!("{l}\n") })
        .collect()
}

/// Spool files in the folder, oldest first.
fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            !name.starts_with('.') && name.ends_with(".lines")
        })
        .collect();
    files.sort();
    Ok(files)
}

fn new_file_name(dir: &Path) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    dir.join(format!("{ms:013}-{}-{}.lines", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)))
}

impl Spool {
    /// Opens (creating) the folder of one destination and loads its backlog.
    pub fn open(settings: &SpoolSettings, key: &str, deadline: Instant) -> Result<Spool, SinkError> {
        let dir = settings.dir.join(key);
        fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
        let lock = lockfile::acquire(&dir.join(".lock"), deadline).map_err(|e| err(&dir, e))?;
        let mut spool = Spool { dir, max_bytes: settings.max_bytes, lock, files: Vec::new() };
        if spool.lock.is_some() {
            for path in list(&spool.dir).map_err(|e| err(&spool.dir, e))? {
                let bytes = fs::read(&path).map_err(|e| err(&spool.dir, e))?;
                let lines = lines_of(&String::from_utf8_lossy(&bytes));
                spool.files.push((path, lines));
            }
        }
        Ok(spool)
    }

    /// The spooled lines, oldest first (empty when the lock was not had).
    pub fn backlog(&self) -> Vec<String> {
        self.files.iter().flat_map(|(_, l)| l.iter().cloned()).collect()
    }

    /// Records the outcome: the first `delivered` of backlog-then-`current`
    /// lines arrived; the rest stay (or go in) the spool, within the bound.
    pub fn settle(self, delivered: usize, current: &[String]) -> Result<Settled, SinkError> {
        let dir = self.dir.clone();
        let mut left = delivered;
        for (path, lines) in &self.files {
            if left >= lines.len() {
                left -= lines.len();
                fs::remove_file(path).map_err(|e| err(&dir, e))?;
            } else if left > 0 {
                write_atomic(path, lines[left..].concat().as_bytes()).map_err(|e| err(&dir, e))?;
                left = 0;
            }
        }
        let rest = current.get(left..).unwrap_or_default();
        if !rest.is_empty() {
            write_atomic(&new_file_name(&dir), rest.concat().as_bytes()).map_err(|e| err(&dir, e))?;
        }
        let dropped = if self.lock.is_some() { self.enforce_bound()? } else { 0 };
        let mut kept = 0;
        for path in list(&dir).map_err(|e| err(&dir, e))? {
            let bytes = fs::read(&path).map_err(|e| err(&dir, e))?;
            kept += lines_of(&String::from_utf8_lossy(&bytes)).len();
        }
        Ok(Settled { kept, dropped })
    }

    /// Drops the oldest lines until the folder holds at most `max_bytes`.
    fn enforce_bound(&self) -> Result<usize, SinkError> {
        let dir = &self.dir;
        let files = list(dir).map_err(|e| err(dir, e))?;
        let mut sizes = Vec::with_capacity(files.len());
        for f in &files {
            sizes.push(fs::metadata(f).map_err(|e| err(dir, e))?.len());
        }
        let mut total: u64 = sizes.iter().sum();
        let mut dropped = 0;
        for (path, size) in files.iter().zip(sizes) {
            if total <= self.max_bytes {
                break;
            }
            let bytes = fs::read(path).map_err(|e| err(dir, e))?;
            let lines = lines_of(&String::from_utf8_lossy(&bytes));
            if total - size >= self.max_bytes {
                dropped += lines.len();
                total -= size;
                fs::remove_file(path).map_err(|e| err(dir, e))?;
                continue;
            }
            // Drop just enough of this file's first lines.
            let mut over = total - self.max_bytes;
            let mut cut = 0;
            for l in &lines {
                if over == 0 {
                    break;
                }
                over = over.saturating_sub(l.len() as u64);
                cut += 1;
            }
            dropped += cut;
            write_atomic(path, lines[cut..].concat().as_bytes()).map_err(|e| err(dir, e))?;
            break;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lines(tag: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{tag}.m {i} 17000000{i:02}\n")).collect()
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn undelivered_lines_come_back_first_and_delivered_ones_go() -> Result<(), SinkError> {
        let tmp = tempfile::tempdir().map_err(|e| err(Path::new("tmp"), e))?;
        let settings = SpoolSettings { dir: tmp.path().to_path_buf(), max_bytes: DEFAULT_MAX_BYTES };
        // Run 1: nothing delivered.
        let s = Spool::open(&settings, "k", far())?;
        assert!(s.backlog().is_empty());
        assert_eq!(s.settle(0, &lines("a", 3))?, Settled { kept: 3, dropped: 0 });
        // Run 2: backlog first; 4 of 3 + 2 delivered.
        let s = Spool::open(&settings, "k", far())?;
        assert_eq!(s.backlog(), lines("a", 3));
        assert_eq!(s.settle(4, &lines("b", 2))?, Settled { kept: 1, dropped: 0 });
        // Run 3: the one line left is b's last.
        let s = Spool::open(&settings, "k", far())?;
        assert_eq!(s.backlog(), lines("b", 2)[1..].to_vec());
        assert_eq!(s.settle(1, &[])?, Settled { kept: 0, dropped: 0 });
        Ok(())
    }

    #[test]
    fn the_bound_drops_the_oldest_lines_and_counts_them() -> Result<(), SinkError> {
        let tmp = tempfile::tempdir().map_err(|e| err(Path::new("tmp"), e))?;
        let one = lines("old", 1)[0].len() as u64;
        let settings = SpoolSettings { dir: tmp.path().to_path_buf(), max_bytes: one * 5 };
        Spool::open(&settings, "k", far())?.settle(0, &lines("old", 4))?;
        let s = Spool::open(&settings, "k", far())?;
        let settled = s.settle(0, &lines("new", 3))?;
        assert_eq!(settled, Settled { kept: 5, dropped: 2 });
        let s = Spool::open(&settings, "k", far())?;
        let mut want = lines("old", 4)[2..].to_vec();
        want.extend(lines("new", 3));
        assert_eq!(s.backlog(), want);
        Ok(())
    }

    #[test]
    fn a_locked_spool_is_left_alone() -> Result<(), SinkError> {
        let tmp = tempfile::tempdir().map_err(|e| err(Path::new("tmp"), e))?;
        let settings = SpoolSettings { dir: tmp.path().to_path_buf(), max_bytes: DEFAULT_MAX_BYTES };
        Spool::open(&settings, "k", far())?.settle(0, &lines("a", 2))?;
        let holder = Spool::open(&settings, "k", far())?;
        let other = Spool::open(&settings, "k", Instant::now() + Duration::from_millis(50))?;
        assert!(other.backlog().is_empty());
        assert_eq!(other.settle(0, &lines("b", 1))?.kept, 3);
        drop(holder);
        Ok(())
    }
}
