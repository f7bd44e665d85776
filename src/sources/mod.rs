//! Offset sources: each yields committed positions as [`crate::lag::Committed`] rows.

pub mod kafka_groups;
pub mod storm;
pub mod trident;
pub mod zk_consumers;

use regex::Regex;

use crate::lag::{Committed, GroupInfo};

/// What one source read: its groups, their rows, and run-level problems.
#[derive(Debug, Default)]
pub struct SourceResult {
    pub groups: Vec<GroupInfo>,
    pub rows: Vec<Committed>,
    /// Problems that are not tied to one row (a source that failed as a whole).
    pub errors: Vec<String>,
    /// Oddities worth a line on stderr that do not make the run incomplete.
    pub warnings: Vec<String>,
}

impl SourceResult {
    pub fn extend(&mut self, other: SourceResult) {
        // Into an empty result, a move: 100k rows are not copied, nor held twice.
        if self.rows.is_empty() {
            self.rows = other.rows;
        } else {
            self.rows.extend(other.rows);
        }
        self.groups.extend(other.groups);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// The `--group`, `--topic` and `--topology` filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub group: Option<Regex>,
    pub topic: Option<Regex>,
    pub topology: Option<Regex>,
}

impl Filter {
    pub fn wants_group(&self, group: &str) -> bool {
        self.group.as_ref().is_none_or(|r| r.is_match(group))
    }

    pub fn wants_topic(&self, topic: &str) -> bool {
        self.topic.as_ref().is_none_or(|r| r.is_match(topic))
    }

    pub fn wants_topology(&self, topology: &str) -> bool {
        self.topology.as_ref().is_none_or(|r| r.is_match(topology))
    }
}
