//! `--output FILE`: whole files or nothing. The bytes go to a temporary file
//! beside the target, are synced, and the temporary file is renamed over the
//! target, so a reader (node_exporter's textfile collector, a dashboard
//! script) sees the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A temporary name in the same folder (a rename across file systems would
/// not be atomic), hidden and unique per process.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "klag".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], with the content streamed by `write` into the
/// (buffered) temporary file, so a large file is never held in memory.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let f: File = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut out = io::BufWriter::with_capacity(1 << 16, f);
        write(&mut out)?;
        let f = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename in `path`'s folder durable (the folder entry itself is
/// synced); needed only across a power loss, a crashed process loses nothing.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// Removes temporary files of `path` left by a process killed mid-write.
/// Call it only while holding a lock that every writer of `path` takes.
pub fn remove_stale_temps(path: &Path) -> io::Result<usize> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(0);
    };
    let stem = format!(".{name}.tmp-");
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let mut removed = 0;
    for entry in fs::read_dir(dir)?.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(&stem) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("lag.prom");
        write_atomic(&path, b"old\n")?;
        write_atomic(&path, b"new\n")?;
        assert_eq!(fs::read(&path)?, b"new\n");
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn streamed_writes_and_stale_temporaries() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state");
        fs::write(dir.path().join(".state.tmp-1-2"), b"left by kill -9")?;
        fs::write(dir.path().join(".other.tmp-1-2"), b"not ours")?;
        write_atomic_with(&path, |w| w.write_all(b"streamed"))?;
        sync_parent(&path)?;
        assert_eq!(fs::read(&path)?, b"streamed");
        assert_eq!(remove_stale_temps(&path)?, 1);
        assert_eq!(fs::read_dir(dir.path())?.count(), 2);
        let failed = write_atomic_with(&path, |_| Err(io::Error::other("encoder failed")));
        assert!(failed.is_err());
        assert_eq!(fs::read(&path)?, b"streamed");
        assert_eq!(fs::read_dir(dir.path())?.count(), 2);
        Ok(())
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert!(write_atomic(&dir.path().join("no/such/file"), b"x").is_err());
    }
}
