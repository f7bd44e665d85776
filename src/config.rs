//! The immutable run configuration, built from the command line in `main.rs`.

use std::time::Duration;

use crate::kafka::{Isolation, KafkaSettings, Security};
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
    Nagios,
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
    /// TLS and SASL, for every Kafka client (given or discovered brokers).
    pub security: Security,
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
    /// `--warn`, `--crit` and friends.
    pub thresholds: crate::judge::Thresholds,
    /// Monitoring-plugin exit codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN):
    /// on when a threshold is given or the format is nagios.
    pub check: bool,
    /// Colour the table by severity (a terminal, no NO_COLOR, or --color always).
    pub color: bool,
    /// `--state FILE --window N`: trends and statuses across runs.
    pub state: Option<crate::state::StateSettings>,
}

impl Config {
    /// Kafka settings for brokers found through ZooKeeper registrations.
    pub fn discovered_brokers(&self, servers: String) -> KafkaSettings {
        KafkaSettings {
            bootstrap: servers,
            timeout: self.timeout,
            security: self.security.clone(),
            properties: self.properties.clone(),
        }
    }

    /// A warning when the broker listener chosen from ZooKeeper registrations
    /// speaks `registered` (e.g. `SASL_SSL`) and klag another protocol (unless
    /// `-X security.protocol` overrides it): the connection would only time out.
    pub fn listener_warning(&self, registered: &str) -> Option<String> {
        let ours = self.security.protocol().name();
        if registered.eq_ignore_ascii_case(ours) || self.properties.iter().any(|(k, _)| k == "security.protocol") {
            return None;
        }
        Some(format!(
            "the brokers' listener speaks {registered} but klag connects with {ours}: set --security-protocol \
             (see \"Kafka security\" in --help) or choose another --listener"
        ))
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
