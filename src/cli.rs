//! The command-line interface. clap types stay here; `main.rs` turns them into a
//! [`klag::config::Config`] and nothing else in the crate sees clap.

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  everything asked for was measured
  1  partial: some partitions or groups could not be measured, or with
     --time-lag some lagging partitions' time lag (see stderr); everything
     else was reported exactly
  2  usage error
  3  nothing could be measured (cluster unreachable, timeout, SASL
     authentication or TLS handshake failed)
  4  delivery failed: some lines could not be delivered to a --send
     destination (kept in --spool DIR if given); 3 outranks 4, 4 outranks 1
With a threshold (--warn, --crit, ...) or --format nagios, the monitoring-plugin
convention instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage error,
nothing or not everything measured, failed delivery); CRITICAL outranks
UNKNOWN, which outranks WARNING.

Examples:
  klag --bootstrap-server kafka1:9092
  klag --bootstrap-server kafka1:9092 --group '^billing' --format json | jq '.groups'
  klag -b kafka1:9092 --time-lag --format json | jq '.groups[].max_lag_seconds'
  klag -b kafka1:9092 --format graphite | nc graphite 2003
  klag -b kafka1:9092 --send influx://influx:8086/kafka --spool /var/spool/klag
  klag -b kafka1:9092 --group '^billing$' --warn 1000 --crit 100000 --format nagios
  klag -b kafka1:9092 --state /var/lib/klag/state --format json   # from cron: rates, status
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
    /// Configuration file (TOML) with named clusters and defaults
    /// [default: $XDG_CONFIG_HOME/klag/config.toml, if it exists].
    #[arg(long, value_name = "FILE", env = "KLAG_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,

    /// Use the settings of this cluster from the configuration file.
    #[arg(long, value_name = "NAME", env = "KLAG_CLUSTER", global = true)]
    pub cluster: Option<String>,

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
    #[arg(long, value_name = "FILE", env = "KLAG_ZK_AUTH_FILE", global = true)]
    pub zk_auth_file: Option<std::path::PathBuf>,

    /// Read storm-kafka KafkaSpout offsets under this ZooKeeper path (repeatable;
    /// comma-separated in KLAG_STORM_ROOT).
    #[arg(long, value_name = "PATH", env = "KLAG_STORM_ROOT", value_delimiter = ',', global = true)]
    pub storm_root: Vec<String>,

    /// Read Trident Kafka spout offsets under this ZooKeeper path.
    #[arg(
        long,
        value_name = "ROOT",
        num_args = 0..=1,
        default_missing_value = "/transactional",
        env = "KLAG_TRIDENT",
        global = true
    )]
    pub trident: Option<String>,

    /// Read classic consumer groups under /consumers (the default with --zookeeper
    /// unless --storm-root or --trident is given).
    #[arg(long, global = true)]
    pub classic: bool,

    /// Only Storm topologies whose name matches this regular expression.
    #[arg(long, value_name = "REGEX", env = "KLAG_TOPOLOGY", global = true)]
    pub topology: Option<String>,

    /// Broker listener to use from ZooKeeper registrations (default: PLAINTEXT,
    /// else the first endpoint).
    #[arg(long, value_name = "NAME", env = "KLAG_LISTENER", global = true)]
    pub listener: Option<String>,

    /// Only consumer groups whose id matches this regular expression.
    #[arg(short = 'g', long, value_name = "REGEX", env = "KLAG_GROUP", global = true)]
    pub group: Option<String>,

    /// Only topics whose name matches this regular expression.
    #[arg(short = 't', long, value_name = "REGEX", env = "KLAG_TOPIC", global = true)]
    pub topic: Option<String>,

    /// Which log end offset lag is measured against.
    ///
    /// read-uncommitted: the high watermark (what kafka-consumer-groups uses);
    /// read-committed: the last stable offset, what a transactional reader can reach.
    /// [default: read-uncommitted]
    #[arg(long, value_enum, env = "KLAG_ISOLATION", global = true)]
    pub isolation: Option<IsolationArg>,

    /// Also report how far behind in time each consumer is: `lag_seconds`, the age
    /// of the record at its committed offset.
    ///
    /// For every partition with lag, klag reads the timestamp of the record at the
    /// committed offset (the first record after it when it holds none; the log start
    /// when retention deleted it) with one consumer that never joins a group, Fetch
    /// requests batched per broker. 0 when caught up; unknown (exit code 1) when the
    /// record could not be read in time.
    #[arg(long, global = true)]
    pub time_lag: bool,

    /// Output format. Default: table on a terminal, json otherwise.
    #[arg(short = 'f', long, value_enum, env = "KLAG_FORMAT", global = true)]
    pub format: Option<FormatArg>,

    /// Upper bound for the whole run, e.g. 10s, 500ms, 2m [default: 10s].
    #[arg(long, value_name = "DURATION", env = "KLAG_TIMEOUT", value_parser = parse_duration, global = true)]
    pub timeout: Option<std::time::Duration>,

    /// Pass a librdkafka property through, e.g. -X debug=protocol (repeatable).
    /// Properties other than debug, client.id, security.protocol=plaintext and
    /// the socket timeouts make klag use librdkafka instead of its own requests.
    /// Applied after the options. Secret-bearing properties (passwords,
    /// passphrases, secrets, inline keys) are refused: see "Kafka security".
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = PropertyParser, global = true)]
    pub property: Vec<(String, String)>,

    /// Measure again every INTERVAL (default 2s) until Ctrl-C: a live table on a
    /// terminal, with lag-trend sparklines; elsewhere one snapshot per interval.
    #[arg(
        short = 'w',
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "2s",
        value_parser = parse_duration,
        global = true
    )]
    pub watch: Option<std::time::Duration>,

    /// Colour the table by severity: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,

    #[command(flatten)]
    pub alert: AlertArgs,

    #[command(flatten)]
    pub security: SecurityArgs,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    #[command(flatten)]
    pub trend: TrendArgs,
}

/// Trend and status across runs.
#[derive(Debug, Args)]
#[command(next_help_heading = "Trend and status across runs")]
pub struct TrendArgs {
    /// Keep recent samples in FILE between runs, and report per partition the
    /// consume and produce rates, the time to catch up and a Burrow-style status
    /// (OK, WARN, STOP, STALL, REWIND; groups OK, WARN, ERR). The first run
    /// only starts the history. Locked against concurrent runs, replaced
    /// atomically; a damaged file is reported and replaced.
    #[arg(long, value_name = "FILE", global = true)]
    pub state: Option<std::path::PathBuf>,

    /// Samples per partition kept in the --state file and judged (2 to 100).
    #[arg(
        long,
        value_name = "N",
        default_value_t = crate::trend::DEFAULT_WINDOW as u16,
        requires = "state",
        value_parser = clap::value_parser!(u16).range(crate::trend::MIN_WINDOW as i64..=crate::trend::MAX_WINDOW as i64),
        global = true
    )]
    pub window: u16,
}

/// Thresholds: any of them (or --format nagios) switches the exit codes to
/// the monitoring-plugin convention.
#[derive(Debug, Args)]
#[command(next_help_heading = "Thresholds (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")]
pub struct AlertArgs {
    /// WARNING when a partition's lag is at least N messages.
    #[arg(long, value_name = "N", env = "KLAG_WARN", value_parser = parse_count, global = true)]
    pub warn: Option<i64>,

    /// CRITICAL when a partition's lag is at least N messages.
    #[arg(long, value_name = "N", env = "KLAG_CRIT", value_parser = parse_count, global = true)]
    pub crit: Option<i64>,

    /// WARNING when a group's total lag is at least N messages.
    #[arg(long, value_name = "N", env = "KLAG_WARN_TOTAL", value_parser = parse_count, global = true)]
    pub warn_total: Option<i64>,

    /// CRITICAL when a group's total lag is at least N messages.
    #[arg(long, value_name = "N", env = "KLAG_CRIT_TOTAL", value_parser = parse_count, global = true)]
    pub crit_total: Option<i64>,

    /// WARNING when a partition's time lag is at least DURATION (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", env = "KLAG_WARN_SECONDS", value_parser = parse_duration, global = true)]
    pub warn_seconds: Option<std::time::Duration>,

    /// CRITICAL when a partition's time lag is at least DURATION.
    #[arg(long, value_name = "DURATION", env = "KLAG_CRIT_SECONDS", value_parser = parse_duration, global = true)]
    pub crit_seconds: Option<std::time::Duration>,
}

/// The long options that switch to monitoring-plugin exit codes, so that
/// even a usage error in such a command line exits 3 (UNKNOWN), not 2.
pub const CHECK_OPTIONS: &[&str] =
    &["--warn", "--crit", "--warn-total", "--crit-total", "--warn-seconds", "--crit-seconds"];

/// Their environment variables, which do the same.
pub const CHECK_ENV: &[&str] =
    &["KLAG_WARN", "KLAG_CRIT", "KLAG_WARN_TOTAL", "KLAG_CRIT_TOTAL", "KLAG_WARN_SECONDS", "KLAG_CRIT_SECONDS"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// TLS and SASL for every Kafka connection (given or discovered brokers).
#[derive(Debug, Args)]
#[command(next_help_heading = "Kafka security")]
pub struct SecurityArgs {
    /// How to talk to the brokers. Default: inferred from the options below:
    /// a SASL mechanism or username means SASL, --ssl-ca, --ssl-cert, --ssl-key
    /// or --ssl-skip-hostname-verification means TLS; both mean sasl-ssl,
    /// neither plaintext. A password alone turns nothing on.
    #[arg(long, value_enum, value_name = "PROTOCOL", env = "KLAG_SECURITY_PROTOCOL", global = true)]
    pub security_protocol: Option<ProtocolArg>,

    /// SASL mechanism. GSSAPI (Kerberos) needs a klag built with the `gssapi`
    /// feature; set its keytab and principal with -X sasl.kerberos.*.
    #[arg(long, value_enum, value_name = "MECHANISM", ignore_case = true, env = "KLAG_SASL_MECHANISM", global = true)]
    pub sasl_mechanism: Option<MechanismArg>,

    /// SASL username (PLAIN, SCRAM).
    #[arg(long, value_name = "USER", env = "KLAG_SASL_USERNAME", global = true)]
    pub sasl_username: Option<String>,

    /// File whose first line is the SASL password. Without it the password
    /// comes from the KLAG_SASL_PASSWORD environment variable; it is never
    /// taken from the command line.
    #[arg(long, value_name = "FILE", global = true)]
    pub sasl_password_file: Option<std::path::PathBuf>,

    /// CA certificate(s), PEM, that broker certificates must chain to
    /// (default: the system's CA store).
    #[arg(long, value_name = "FILE", env = "KLAG_SSL_CA", global = true)]
    pub ssl_ca: Option<std::path::PathBuf>,

    /// Client certificate, PEM, for brokers that require one (with --ssl-key).
    #[arg(long, value_name = "FILE", env = "KLAG_SSL_CERT", global = true)]
    pub ssl_cert: Option<std::path::PathBuf>,

    /// Private key of --ssl-cert, PEM.
    #[arg(long, value_name = "FILE", env = "KLAG_SSL_KEY", global = true)]
    pub ssl_key: Option<std::path::PathBuf>,

    /// File whose first line is the password of an encrypted --ssl-key.
    /// Without it the password comes from KLAG_SSL_KEY_PASSWORD.
    #[arg(long, value_name = "FILE", global = true)]
    pub ssl_key_password_file: Option<std::path::PathBuf>,

    /// Accept a broker certificate that does not name the address connected
    /// to (it must still chain to the CA), e.g. brokers advertised by an IP
    /// address their certificates do not list.
    #[arg(long, global = true)]
    pub ssl_skip_hostname_verification: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MechanismArg {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
    #[value(name = "GSSAPI")]
    Gssapi,
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
    /// A monitoring-plugin status line with performance data (Nagios, Icinga, Sensu).
    Nagios,
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

/// A message count for thresholds: a non-negative integer.
fn parse_count(s: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| format!("expected a number of messages, got {s:?}"))
}

/// Parses `-X KEY=VALUE`, refusing secret-bearing keys. Its errors never
/// quote the argument (clap's own "invalid value" message would): it may hold
/// a secret.
fn parse_property(s: &str) -> Result<(String, String), String> {
    let Some((k, v)) = s.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
        return Err("-X expects KEY=VALUE".to_string());
    };
    let key = k.trim();
    if crate::kafka::is_secret_property(key) {
        let instead = match key {
            "sasl.password" => "set KLAG_SASL_PASSWORD or use --sasl-password-file FILE",
            "ssl.key.password" => "set KLAG_SSL_KEY_PASSWORD or use --ssl-key-password-file FILE",
            "ssl.key.pem" => "put the key in a file and use --ssl-key FILE",
            _ => "klag takes passwords only from environment variables or files (see \"Kafka security\" in --help)",
        };
        return Err(format!("-X {key} would put a secret on the command line, where other users see it: {instead}"));
    }
    Ok((key.to_string(), v.to_string()))
}

/// clap value parser for `-X`: [`parse_property`] with errors that do not
/// echo the value.
#[derive(Clone)]
struct PropertyParser;

impl clap::builder::TypedValueParser for PropertyParser {
    type Value = (String, String);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let fail = |msg: String| clap::Error::raw(clap::error::ErrorKind::ValueValidation, msg + "\n").with_cmd(cmd);
        let s = value.to_str().ok_or_else(|| fail("-X: KEY=VALUE is not valid UTF-8".to_string()))?;
        parse_property(s).map_err(fail)
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
    fn counts() {
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(parse_count("9223372036854775807"), Ok(i64::MAX));
        assert!(parse_count("-1").is_err());
        assert!(parse_count("1e3").is_err());
    }

    #[test]
    fn properties() {
        assert_eq!(parse_property("debug=protocol"), Ok(("debug".into(), "protocol".into())));
        assert_eq!(parse_property("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }

    #[test]
    fn secret_properties_are_refused_without_echo() {
        for key in ["sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret"] {
            let e = parse_property(&format!("{key}=CANARY")).err().unwrap_or_default();
            assert!(e.contains(key) && !e.contains("CANARY"), "{e}");
        }
        let e = parse_property("sasl.password=x").err().unwrap_or_default();
        assert!(e.contains("KLAG_SASL_PASSWORD") && e.contains("--sasl-password-file"), "{e}");
        assert!(parse_property("sasl.username=alice").is_ok());
        assert!(parse_property("ssl.ca.location=/etc/ca.pem").is_ok());
    }

    #[test]
    fn security_options_parse() {
        let cli = Cli::try_parse_from([
            "klag",
            "--sasl-mechanism",
            "scram-sha-512",
            "--security-protocol",
            "sasl-ssl",
            "--ssl-skip-hostname-verification",
        ]);
        let s = cli.map(|c| c.query.security).ok();
        let s = s.as_ref();
        assert_eq!(s.and_then(|s| s.sasl_mechanism), Some(MechanismArg::ScramSha512));
        assert_eq!(s.and_then(|s| s.security_protocol), Some(ProtocolArg::SaslSsl));
        assert_eq!(s.map(|s| s.ssl_skip_hostname_verification), Some(true));
        // No option takes a password on the command line.
        assert!(Cli::try_parse_from(["klag", "--sasl-password", "x"]).is_err());
        let e = Cli::try_parse_from(["klag", "-X", "sasl.password=CANARY"]).err().map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| e.contains("sasl.password") && !e.contains("CANARY")), "{e:?}");
    }

    #[test]
    fn clap_definition_is_valid() {
        command().debug_assert();
    }
}
