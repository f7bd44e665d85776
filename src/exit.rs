//! Process exit codes. Documented in the README and the man page.

/// Exit codes, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was measured.
    Ok = 0,
    /// Partial: some partitions or groups could not be measured; the rest
    /// were reported exactly.
    Partial = 1,
    /// Usage error: bad option, bad regex, unreadable secret file.
    Usage = 2,
    /// Nothing could be measured: cluster or ZooKeeper unreachable, timeout.
    Nothing = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<crate::lag::Coverage> for ExitCode {
    fn from(c: crate::lag::Coverage) -> Self {
        match c {
            crate::lag::Coverage::Complete => ExitCode::Ok,
            crate::lag::Coverage::Partial => ExitCode::Partial,
            crate::lag::Coverage::Nothing => ExitCode::Nothing,
        }
    }
}
