//! Process exit codes. Documented in the README and the man page.

/// Exit codes, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was measured.
    Ok = 0,
    /// Partial: some partitions or groups could not be measured (with
    /// `--time-lag`, also a lagging partition whose record could not be
    /// read); the rest were reported exactly.
    Partial = 1,
    /// Usage error: bad option, bad regex, unreadable secret file.
    Usage = 2,
    /// Nothing could be measured: cluster or ZooKeeper unreachable, timeout.
    Nothing = 3,
    /// Some lines could not be delivered to a `--send` destination (they are
    /// in the spool with `--spool`). Outranks `Partial`; `Nothing` outranks it.
    DeliveryFailed = 4,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code of a run whose measurement gave `self` and whose delivery
    /// failed (`delivery_failed`): 2 and 3 stay, 0 and 1 become 4.
    pub fn with_delivery(self, delivery_failed: bool) -> ExitCode {
        match self {
            ExitCode::Ok | ExitCode::Partial if delivery_failed => ExitCode::DeliveryFailed,
            other => other,
        }
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

#[cfg(test)]
mod tests {
    use super::ExitCode::*;

    #[test]
    fn delivery_failure_outranks_partial_but_not_nothing_or_usage() {
        assert_eq!(Ok.with_delivery(true), DeliveryFailed);
        assert_eq!(Partial.with_delivery(true), DeliveryFailed);
        assert_eq!(Nothing.with_delivery(true), Nothing);
        assert_eq!(Usage.with_delivery(true), Usage);
        assert_eq!(Partial.with_delivery(false), Partial);
        assert_eq!(DeliveryFailed.code(), 4);
    }
}
