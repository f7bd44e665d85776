//! Exclusive locks between concurrent klag runs (the `--spool` folders and the
//! `--state` file). An advisory `flock` on a separate lock file: the kernel
//! releases it when the process exits, even on kill -9, so a crashed run never
//! leaves a stale lock behind. The lock file itself stays (empty).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Held while it lives; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn try_lock(f: &File) -> bool {
    // SAFETY: flock on a file descriptor this File owns; no memory is shared.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Takes the lock on `path` (creating the file), retrying until `deadline`.
/// `Ok(None)` when another process still held it at the deadline; an error
/// when the lock file cannot be opened (missing folder, permissions).
pub fn acquire(path: &Path, deadline: Instant) -> io::Result<Option<Lock>> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    let mut locked = try_lock(&file);
    while !locked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20).min(deadline.saturating_duration_since(Instant::now())));
        locked = try_lock(&file);
    }
    Ok(locked.then_some(Lock { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_until_released() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".lock");
        let first = acquire(&path, Instant::now())?;
        assert!(first.is_some());
        let started = Instant::now();
        assert!(acquire(&path, Instant::now() + Duration::from_millis(60))?.is_none());
        assert!(started.elapsed() >= Duration::from_millis(60));
        drop(first);
        assert!(acquire(&path, Instant::now())?.is_some());
        Ok(())
    }

    #[test]
    fn a_missing_folder_is_an_error() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert!(acquire(&dir.path().join("no/such/.lock"), Instant::now()).is_err());
        Ok(())
    }
}
