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
    let tmp = temp_path(path);
    let result = (|| {
        let mut f: File = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
    fn a_missing_folder_is_an_error() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert!(write_atomic(&dir.path().join("no/such/file"), b"x").is_err());
    }
}
