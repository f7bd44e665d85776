//! The command-line interface. clap types stay here; `main.rs` turns them into a
//! [`klag::config::Config`] and nothing else in the crate sees clap.

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  everything asked for was measured
  1  partial: some partitions or groups could not be measured (see stderr);
     everything else was reported exactly
  2  usage error
  3  nothing could be measured (cluster unreachable, timeout)
  4  delivery failed: some lines could not be delivered to a --send
     destination (kept in --spool DIR if given); 3 outranks 4, 4 outranks 1

Examples:
  klag --bootstrap-server kafka1:9092
  klag --bootstrap-server kafka1:9092 --group '^billing' --format json | jq '.groups'
  klag -b kafka1:9092 --format graphite | nc graphite 2003
  klag -b kafka1:9092 --send influx://influx:8086/kafka --spool /var/spool/klag
  klag demo";

/// How far behind are my Kafka consumers?
///
/// Reports committed offset, log-start and log-end offsets and lag for every
/// partition of every consumer group, from one batched round of requests.
#[derive(Debug, Parser)]
#[command(name = "klag", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub query: QueryArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a self-contained demo on librdkafka's in-process mock cluster.
    ///
    /// Produces to a few topics and runs three consumer groups (one caught up,
    /// one lagging, one stalled), then shows their live lag. Needs no services.
    Demo(DemoArgs),
    /// List everything that can be monitored: Kafka groups with state and
    /// members, ZooKeeper consumer groups, Storm spouts, Trident streams.
    Groups,
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print one snapshot and exit instead of refreshing.
    #[arg(long)]
    pub once: bool,

    /// Seconds between refreshes of the live table.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(short = 'b', long, value_name = "HOST:PORT[,...]", env = "KLAG_BOOTSTRAP_SERVER", global = true)]
    pub bootstrap_server: Option<String>,

    /// ZooKeeper ensemble, `host:port[,host:port...][/chroot]`: classic consumer
    /// groups, Storm spouts, and (without --bootstrap-server) the brokers.
    #[arg(short = 'z', long, value_name = "CONNECT", env = "KLAG_ZOOKEEPER", global = true)]
    pub zookeeper: Option<String>,

    /// Storm's own ZooKeeper, where spout offsets live when it is not Kafka's.
    #[arg(long, value_name = "CONNECT", env = "KLAG_STORM_ZOOKEEPER", global = true)]
    pub storm_zookeeper: Option<String>,

    /// File holding ZooKeeper digest credentials as `user:password` (or set them in
    /// the KLAG_ZK_AUTH environment variable; never on the command line).
    #[arg(long, value_name = "FILE", global = true)]
    pub zk_auth_file: Option<std::path::PathBuf>,

    /// Read storm-kafka KafkaSpout offsets under this ZooKeeper path (repeatable).
    #[arg(long, value_name = "PATH", global = true)]
    pub storm_root: Vec<String>,

    /// Read Trident Kafka spout offsets under this ZooKeeper path.
    #[arg(long, value_name = "ROOT", num_args = 0..=1, default_missing_value = "/transactional", global = true)]
    pub trident: Option<String>,

    /// Read classic consumer groups under /consumers (the default with --zookeeper
    /// unless --storm-root or --trident is given).
    #[arg(long, global = true)]
    pub classic: bool,

    /// Only Storm topologies whose name matches this regular expression.
    #[arg(long, value_name = "REGEX", global = true)]
    pub topology: Option<String>,

    /// Broker listener to use from ZooKeeper registrations (default: PLAINTEXT,
    /// else the first endpoint).
    #[arg(long, value_name = "NAME", global = true)]
    pub listener: Option<String>,

    /// Only consumer groups whose id matches this regular expression.
    #[arg(short = 'g', long, value_name = "REGEX", global = true)]
    pub group: Option<String>,

    /// Only topics whose name matches this regular expression.
    #[arg(short = 't', long, value_name = "REGEX", global = true)]
    pub topic: Option<String>,

    /// Which log end offset lag is measured against.
    ///
    /// read-uncommitted: the high watermark (what kafka-consumer-groups uses);
    /// read-committed: the last stable offset, what a transactional reader can reach.
    #[arg(long, value_enum, default_value_t = IsolationArg::ReadUncommitted, global = true)]
    pub isolation: IsolationArg,

    /// Output format. Default: table on a terminal, json otherwise.
    #[arg(short = 'f', long, value_enum, env = "KLAG_FORMAT", global = true)]
    pub format: Option<FormatArg>,

    /// Upper bound for the whole run, e.g. 10s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, global = true)]
    pub timeout: std::time::Duration,

    /// Pass a librdkafka property through, e.g. -X debug=protocol (repeatable).
    /// Properties other than debug, client.id, security.protocol=plaintext and
    /// the socket timeouts make klag use librdkafka instead of its own requests.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_property, global = true)]
    pub property: Vec<(String, String)>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Metrics formats, `--output` and delivery to Graphite and InfluxDB.
#[derive(Debug, Args)]
#[command(next_help_heading = "Metrics output and delivery")]
pub struct MetricsArgs {
    /// Write the output to FILE (through a temporary file renamed into place,
    /// so readers never see half a file) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE", global = true)]
    pub output: Option<std::path::PathBuf>,

    /// Graphite path prefix: dot-separated components of letters, digits, _ and -.
    #[arg(long, value_name = "PREFIX", default_value = "klag", global = true)]
    pub prefix: String,

    /// Graphite: write Graphite 1.1 tagged series (`name;tag=value`) instead of paths.
    #[arg(long, global = true)]
    pub graphite_tags: bool,

    /// Influx: timestamp precision of the lines.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Ns, global = true)]
    pub precision: PrecisionArg,

    /// Influx: klag's measurements, or Telegraf's burrow input schema
    /// (burrow_partition, burrow_group) for existing dashboards.
    #[arg(long, value_enum, default_value_t = InfluxSchemaArg::Klag, global = true)]
    pub influx_schema: InfluxSchemaArg,

    /// Influx burrow schema: the value of the `cluster` tag.
    #[arg(long, value_name = "NAME", default_value = "local", global = true)]
    pub burrow_cluster: String,

    /// Also deliver the metrics to URL (repeatable): graphite://HOST[:PORT],
    /// graphite+udp://HOST[:PORT], influx://HOST[:PORT]/DB,
    /// influx2://HOST[:PORT]?org=ORG&bucket=BUCKET. Credentials come from
    /// KLAG_INFLUX_USERNAME, KLAG_INFLUX_PASSWORD (influx) and KLAG_INFLUX_TOKEN (influx2).
    #[arg(long, value_name = "URL", global = true)]
    pub send: Vec<String>,

    /// Keep lines that could not be delivered in DIR and deliver them first
    /// on the next run, with their original timestamps.
    #[arg(long, value_name = "DIR", global = true)]
    pub spool: Option<std::path::PathBuf>,

    /// Bound of the spool per destination, e.g. 10M, 512k; when it is hit the
    /// oldest lines are dropped (and counted).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = parse_size, global = true)]
    pub spool_max: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    S,
    Ms,
    Us,
    Ns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InfluxSchemaArg {
    Klag,
    Burrow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    ReadUncommitted,
    ReadCommitted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned per-partition rows and a per-group summary.
    Table,
    /// One JSON document (schema in the README).
    Json,
    /// Graphite plaintext lines: <prefix>.<path> <value> <unix-seconds>.
    Graphite,
    /// InfluxDB line protocol.
    Influx,
    /// Prometheus text exposition (node_exporter textfile collector).
    Prometheus,
    /// One CSV row per partition, with a header row.
    Csv,
}

/// Parses `10s`, `500ms`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 500ms, 2m"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit {unit:?} in {s:?}: use ms, s, m or h")),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
        return Err(format!("duration {s:?} must be positive"));
    }
    // Below a nanosecond, a positive number is still a zero Duration.
    let duration = std::time::Duration::from_secs_f64(seconds);
    if duration.is_zero() {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(duration)
}

/// Parses a byte size: `1048576`, `512k`, `10M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}: expected e.g. 10M, 512k"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit {unit:?} in {s:?}: use k, M or G")),
    };
    n.checked_mul(mult).filter(|&v| v > 0).ok_or_else(|| format!("size {s:?} must be positive and below 16 EiB"))
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {:?}", s.split('=').next().unwrap_or(""))),
    }
}

/// The clap command, for man page and completion generation.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5y").is_err());
    }

    /// Found by the sink_url fuzz target (fuzz/regressions/sink_url/crash-dab64501):
    /// a positive duration below one nanosecond became a zero timeout.
    #[test]
    fn fuzz_sub_nanosecond_durations_are_rejected() {
        let input = include_str!("../fuzz/regressions/sink_url/crash-dab64501dd4bf414eaa0435fc30018ae0598d00b");
        assert!(parse_duration(input).is_err(), "{input:?}");
        assert!(parse_duration("0.0000000001s").is_err());
        assert_eq!(parse_duration("0.000000001s"), Ok(Duration::from_nanos(1)));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("10T").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn properties() {
        assert_eq!(parse_property("debug=protocol"), Ok(("debug".into(), "protocol".into())));
        assert_eq!(parse_property("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }

    #[test]
    fn clap_definition_is_valid() {
        command().debug_assert();
    }
}
