//! The immutable run configuration, built from the command line in `main.rs`.

use std::time::Duration;

use crate::kafka::{Isolation, KafkaSettings};
use crate::sources::Filter;
use crate::zk::ZkSettings;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Graphite,
    Influx,
    Prometheus,
    Csv,
}

/// Everything a run needs, decided before any I/O.
#[derive(Debug, Clone)]
pub struct Config {
    /// Explicit Kafka brokers (`--bootstrap-server`).
    pub kafka: Option<KafkaSettings>,
    /// ZooKeeper-held sources, and broker discovery when `kafka` is None.
    pub zookeeper: Option<ZkSources>,
    /// Read Kafka-committed groups (when some brokers are known).
    pub kafka_groups: bool,
    pub filter: Filter,
    pub isolation: Isolation,
    pub format: Format,
    /// Upper bound for the whole run.
    pub timeout: Duration,
    /// `--time-lag`: also read the timestamp of the record at each lagging
    /// partition's committed offset.
    pub time_lag: bool,
    /// librdkafka properties passed through with -X.
    pub properties: Vec<(String, String)>,
    /// Options of the metrics formats (graphite, influx), also used by `--send`.
    pub metrics: crate::output::MetricsOptions,
    /// `--output FILE`: written atomically instead of stdout.
    pub output: Option<std::path::PathBuf>,
    /// `--send` destinations.
    pub sinks: Vec<crate::sinks::SinkSpec>,
    /// `--spool DIR`: keep undelivered lines for the next run.
    pub spool: Option<crate::sinks::SpoolSettings>,
}

impl Config {
    /// Kafka settings for brokers found through ZooKeeper registrations.
    pub fn discovered_brokers(&self, servers: String) -> KafkaSettings {
        KafkaSettings { bootstrap: servers, timeout: self.timeout, properties: self.properties.clone() }
    }
}

/// What to read from ZooKeeper.
#[derive(Debug, Clone)]
pub struct ZkSources {
    /// Kafka's ensemble: classic consumers and broker registrations.
    pub kafka_zk: Option<ZkSettings>,
    /// Storm's ensemble for spout and Trident offsets (defaults to Kafka's).
    pub storm_zk: Option<ZkSettings>,
    pub storm_roots: Vec<String>,
    pub trident_root: Option<String>,
    /// Classic consumer groups under /consumers.
    pub classic: bool,
    /// Listener name to pick from broker registrations.
    pub listener: Option<String>,
}

impl ZkSources {
    /// The ensemble spout offsets are read from.
    pub fn storm(&self) -> Option<&ZkSettings> {
        self.storm_zk.as_ref().or(self.kafka_zk.as_ref())
    }
}
