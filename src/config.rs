//! The immutable run configuration, built from the command line in `main.rs`.

use std::time::Duration;

use crate::kafka::{Isolation, KafkaSettings};
use crate::sources::Filter;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Everything a run needs, decided before any I/O.
#[derive(Debug, Clone)]
pub struct Config {
    pub kafka: Option<KafkaSettings>,
    pub filter: Filter,
    pub isolation: Isolation,
    pub format: Format,
    /// Upper bound for the whole run.
    pub timeout: Duration,
}
