//! The `klag` binary: parse, configure, measure, render, exit.

// No panics on external data (issue 7): besides unwrap/expect (Cargo.toml),
// no panic!/unreachable!/todo!/unimplemented! outside tests. Overflow and
// indexing are checked at run time by the fuzz targets in fuzz/.
#![cfg_attr(not(test), warn(clippy::panic, clippy::unreachable, clippy::todo, clippy::unimplemented))]

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use regex::Regex;

use klag::cli::{
    self, AlertArgs, Cli, ColorArg, Command, FormatArg, InfluxSchemaArg, IsolationArg, MechanismArg, MetricsArgs,
    PrecisionArg, ProtocolArg, QueryArgs, SecurityArgs,
};
use klag::config::{Config, Format, ZkSources};
use klag::config_file::{self, ConfigFile, ConfigFileError};
use klag::exit::ExitCode;
use klag::judge::{self, Levels, Severity, Thresholds};
use klag::kafka::{Isolation, KafkaSettings, Protocol, SaslMechanism, Secret, Security};
use klag::lag::Snapshot;
use klag::output::metrics::{validate_prefix, InfluxSchema, MetricsOptions, Precision};
use klag::sinks::{self, SinkSpec, SpoolSettings};
use klag::sources::Filter;
use klag::state::{State, StateSettings};
use klag::zk::ZkSettings;
use klag::{demo, listing, output, run};

/// `--timeout` when neither the command line, KLAG_TIMEOUT nor the file sets it.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn main() {
    let check = check_requested(std::env::args_os());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let code = if !e.use_stderr() {
                0 // --help, --version
            } else if check {
                Severity::Unknown.code()
            } else {
                ExitCode::Usage.code()
            };
            std::process::exit(code);
        }
    };
    let code = match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("klag: error: {e:#}");
            if check {
                Severity::Unknown.code()
            } else {
                ExitCode::Usage.code()
            }
        }
    };
    std::process::exit(code);
}

/// True when the command line asks for monitoring-plugin exit codes: a
/// threshold option or the nagios format. Looked at before parsing, so that a
/// usage error in a check command exits 3 (UNKNOWN) as plugins must.
fn check_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let nagios_env = std::env::var("KLAG_FORMAT").is_ok_and(|f| f == "nagios");
    let threshold_env = cli::CHECK_ENV.iter().any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    nagios_env
        || threshold_env
        || args.iter().enumerate().any(|(i, a)| {
            let name = a.split('=').next().unwrap_or_default();
            let next_is_nagios = args.get(i + 1).is_some_and(|n| n == "nagios");
            cli::CHECK_OPTIONS.contains(&name)
                || a == "--format=nagios"
                || a == "-fnagios"
                || ((a == "--format" || a == "-f") && next_is_nagios)
        })
}

fn execute(mut cli: Cli) -> anyhow::Result<i32> {
    if !matches!(cli.command, Some(Command::Completions { .. })) {
        apply_config_file(&mut cli.query, &|k| std::env::var(k).ok())?;
    }
    match cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut cli::command(), "klag", &mut std::io::stdout());
            Ok(ExitCode::Ok.code())
        }
        Some(Command::Demo(args)) => {
            let config = config(&cli.query, true)?;
            demo::run(&config, args.once, std::time::Duration::from_secs_f64(args.interval.max(0.1)))
                .map(ExitCode::code)
        }
        Some(Command::Groups) => {
            let config = config(&cli.query, false)?;
            let listing = listing::list(&config);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = match config.format {
                Format::Json => serde_json::to_writer_pretty(&mut out, &listing)
                    .map_err(std::io::Error::other)
                    .and_then(|()| writeln!(out)),
                // The metrics formats have no listing form: a table.
                _ => listing::render_table(&listing, &mut out),
            };
            ignore_broken_pipe(written)?;
            for e in &listing.errors {
                eprintln!("klag: error: {e}");
            }
            Ok(match (listing.groups.is_empty(), listing.errors.is_empty()) {
                (_, true) => ExitCode::Ok,
                (true, false) => ExitCode::Nothing,
                (false, false) => ExitCode::Partial,
            }
            .code())
        }
        None => {
            let config = config(&cli.query, false)?;
            if let Some(interval) = cli.query.watch {
                return watch(&config, interval);
            }
            let (snapshot, deadline) = measure(&config);
            let code = emit(&config, &snapshot, deadline, false);
            // The process exits next: freeing 100k rows one by one would
            // only delay that.
            std::mem::forget(snapshot);
            code
        }
    }
}

/// One measurement, with `--state` kept up to date, and the deadline its
/// delivery must meet.
fn measure(config: &Config) -> (Snapshot, std::time::Instant) {
    // Held from before the measurement until the state is saved, so
    // concurrent runs record their samples in turn. Waits at most
    // --timeout for another run.
    let state = config.state.as_ref().map(|s| State::open(s, std::time::Instant::now() + config.timeout));
    // The run's deadline: measurement and delivery both end by it.
    let deadline = std::time::Instant::now() + config.timeout;
    let mut snapshot = run::snapshot(config);
    if let Some(state) = state {
        state.update(&mut snapshot);
    }
    (snapshot, deadline)
}

/// `--watch`: a measurement every `interval` (from the start of the last)
/// until Ctrl-C or SIGTERM, then exit 0. A terminal with the table format
/// gets a live screen; anything else gets each snapshot in turn.
fn watch(config: &Config, interval: std::time::Duration) -> anyhow::Result<i32> {
    use klag::watch::{screen, LagHistory};
    let stop = klag::watch::stop_flag().context("installing the Ctrl-C handler")?;
    let live = config.format == Format::Table && config.output.is_none() && std::io::stdout().is_terminal();
    let mut history = LagHistory::default();
    let mut first = true;
    let mut stdout = std::io::stdout();
    if live {
        write!(stdout, "{}", screen::ENTER).and_then(|()| stdout.flush())?;
    }
    let result = (|| -> anyhow::Result<()> {
        loop {
            let started = std::time::Instant::now();
            let (snapshot, deadline) = measure(config);
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            if live {
                history.record(&snapshot);
                let mut buf = Vec::new();
                let took = started.elapsed().as_secs_f64();
                let at = snapshot.taken_at.format("%H:%M:%S UTC");
                writeln!(buf, "klag: every {}s, at {at} (took {took:.2}s); Ctrl-C to quit\n", interval.as_secs_f64())?;
                let table =
                    output::Table { color: config.color, thresholds: config.thresholds, trends: Some(&history) };
                output::Exporter::render(&table, &snapshot, &mut buf)?;
                // Reports go on the screen: stderr would scribble over it.
                for (ok, report) in deliver_reports(config, &snapshot, deadline) {
                    writeln!(buf, "{}{report}", if ok { "" } else { "error: delivery to " })?;
                }
                stdout.write_all(screen::CLEAR.as_bytes())?;
                stdout.write_all(&buf)?;
                stdout.flush()?;
            } else {
                emit(config, &snapshot, deadline, !first)?;
                first = false;
                if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(()); // `klag --watch | head`: the reader is gone.
                }
            }
            if klag::watch::sleep_until(&stop, started + interval) {
                return Ok(());
            }
        }
    })();
    if live {
        let _ = write!(stdout, "{}", screen::LEAVE).and_then(|()| stdout.flush());
    }
    result.map(|()| ExitCode::Ok.code())
}

/// Fills what neither the command line nor a `KLAG_*` variable set from the
/// configuration file: `--config FILE`, else the default path if it exists.
/// Precedence: command line > environment > file > built-in defaults.
fn apply_config_file(q: &mut QueryArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let (path, explicit) = match &q.config {
        Some(p) => (p.clone(), true),
        None => match config_file::default_path(env) {
            Some(p) if p.exists() => (p, false),
            other => {
                if let Some(name) = &q.cluster {
                    let looked =
                        other.map_or_else(|| "$XDG_CONFIG_HOME or $HOME unset".into(), |p| p.display().to_string());
                    bail!(ConfigFileError::NoFile { name: name.clone(), path: looked });
                }
                return Ok(());
            }
        },
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        let which = if explicit { "--config" } else { "the default configuration file" };
        format!("cannot read {which} {}", path.display())
    })?;
    let file = ConfigFile::parse(&text, &path)?;
    let c = file.settings(q.cluster.as_deref(), &path)?;
    let at = |key: &str| format!("{}: {key}", path.display());
    let fill = |slot: &mut Option<String>, v: Option<String>| {
        if slot.is_none() {
            *slot = v;
        }
    };
    fill(&mut q.bootstrap_server, c.bootstrap_server);
    fill(&mut q.zookeeper, c.zookeeper);
    fill(&mut q.storm_zookeeper, c.storm_zookeeper);
    fill(&mut q.trident, c.trident);
    fill(&mut q.listener, c.listener);
    if q.zk_auth_file.is_none() {
        q.zk_auth_file = c.zk_auth_file;
    }
    if q.storm_root.is_empty() {
        q.storm_root = c.storm_root.unwrap_or_default();
    }
    q.classic |= c.classic.unwrap_or(false);
    if q.isolation.is_none() {
        if let Some(i) = c.isolation {
            q.isolation =
                Some(IsolationArg::from_str(&i, false).map_err(|e| anyhow::anyhow!("{}: {e}", at("isolation")))?);
        }
    }
    let duration = |key: &str, v: Option<String>| -> anyhow::Result<Option<std::time::Duration>> {
        v.map(|d| cli::parse_duration(&d).map_err(|e| anyhow::anyhow!("{}: {e}", at(key)))).transpose()
    };
    if q.timeout.is_none() {
        q.timeout = duration("timeout", c.timeout)?;
    }
    let count = |key: &str, v: Option<u64>| -> anyhow::Result<Option<i64>> {
        v.map(|n| i64::try_from(n).map_err(|_| anyhow::anyhow!("{}: {n} is too large", at(key)))).transpose()
    };
    let a = &mut q.alert;
    if a.warn.is_none() {
        a.warn = count("warn", c.warn)?;
    }
    if a.crit.is_none() {
        a.crit = count("crit", c.crit)?;
    }
    if a.warn_total.is_none() {
        a.warn_total = count("warn_total", c.warn_total)?;
    }
    if a.crit_total.is_none() {
        a.crit_total = count("crit_total", c.crit_total)?;
    }
    if a.warn_seconds.is_none() {
        a.warn_seconds = duration("warn_seconds", c.warn_seconds)?;
    }
    if a.crit_seconds.is_none() {
        a.crit_seconds = duration("crit_seconds", c.crit_seconds)?;
    }
    if let Some(sec) = c.security {
        let s = &mut q.security;
        if s.security_protocol.is_none() {
            if let Some(p) = sec.protocol {
                s.security_protocol = Some(
                    ProtocolArg::from_str(&p, true).map_err(|e| anyhow::anyhow!("{}: {e}", at("security.protocol")))?,
                );
            }
        }
        if s.sasl_mechanism.is_none() {
            if let Some(m) = sec.sasl_mechanism {
                s.sasl_mechanism = Some(
                    MechanismArg::from_str(&m, true)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", at("security.sasl_mechanism")))?,
                );
            }
        }
        fill(&mut s.sasl_username, sec.sasl_username);
        let fill_path = |slot: &mut Option<std::path::PathBuf>, v: Option<std::path::PathBuf>| {
            if slot.is_none() {
                *slot = v;
            }
        };
        fill_path(&mut s.sasl_password_file, sec.sasl_password_file);
        fill_path(&mut s.ssl_ca, sec.ssl_ca);
        fill_path(&mut s.ssl_cert, sec.ssl_cert);
        fill_path(&mut s.ssl_key, sec.ssl_key);
        fill_path(&mut s.ssl_key_password_file, sec.ssl_key_password_file);
        s.ssl_skip_hostname_verification |= sec.ssl_skip_hostname_verification.unwrap_or(false);
    }
    // File properties first: a -X on the command line for the same key wins.
    let mut properties: Vec<(String, String)> = c.properties.unwrap_or_default().into_iter().collect();
    if let Some((key, _)) = properties.iter().find(|(k, _)| klag::kafka::is_secret_property(k.trim())) {
        bail!(
            "{}: secrets never go in the configuration file: use the environment variable or the *_file setting",
            at(&format!("properties.{key}"))
        );
    }
    properties.append(&mut q.property);
    q.property = properties;
    Ok(())
}

/// Turns parsed options into the immutable configuration.
fn config(q: &QueryArgs, demo: bool) -> anyhow::Result<Config> {
    let timeout = q.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let regex = |what: &str, v: &Option<String>| -> anyhow::Result<Option<Regex>> {
        v.as_deref().map(|s| Regex::new(s).with_context(|| format!("invalid --{what} regex"))).transpose()
    };
    let security = security(&q.security)?;
    let kafka = match &q.bootstrap_server {
        Some(b) if b.trim().is_empty() => bail!("--bootstrap-server is empty"),
        Some(b) => Some(KafkaSettings {
            bootstrap: b.trim().to_string(),
            timeout,
            security: security.clone(),
            properties: q.property.clone(),
        }),
        None => None,
    };
    let zookeeper = zk_sources(q)?;
    if kafka.is_none() && zookeeper.is_none() && !demo {
        bail!("no source given: use --bootstrap-server HOST:PORT or --zookeeper CONNECT (or try `klag demo`)");
    }
    // Storm and Trident flags narrow the run to those sources; without them,
    // every group of the cluster is read.
    let storm_only = !q.storm_root.is_empty() || q.trident.is_some();
    let kafka_groups = q.bootstrap_server.is_some() || !storm_only;
    let thresholds = thresholds(&q.alert)?;
    let format = match q.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Graphite) => Format::Graphite,
        Some(FormatArg::Influx) => Format::Influx,
        Some(FormatArg::Prometheus) => Format::Prometheus,
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Nagios) => Format::Nagios,
        None if std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    Ok(Config {
        kafka,
        zookeeper,
        kafka_groups,
        security,
        properties: q.property.clone(),
        filter: Filter {
            group: regex("group", &q.group)?,
            topic: regex("topic", &q.topic)?,
            topology: regex("topology", &q.topology)?,
        },
        isolation: match q.isolation {
            None | Some(IsolationArg::ReadUncommitted) => Isolation::ReadUncommitted,
            Some(IsolationArg::ReadCommitted) => Isolation::ReadCommitted,
        },
        format,
        timeout,
        // Time-lag thresholds need the time lag.
        time_lag: q.time_lag || thresholds.seconds.is_set(),
        metrics: metrics_options(&q.metrics)?,
        output: q.metrics.output.clone(),
        sinks: sinks(&q.metrics)?,
        spool: q.metrics.spool.clone().map(|dir| SpoolSettings { dir, max_bytes: q.metrics.spool_max }),
        check: thresholds.any() || format == Format::Nagios,
        thresholds,
        color: match q.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            // https://no-color.org: set and not empty means no colour.
            ColorArg::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        },
        state: q.trend.state.clone().map(|path| StateSettings { path, window: usize::from(q.trend.window) }),
    })
}

/// `--warn`, `--crit` and friends; a warning level above its critical one is
/// a usage error.
fn thresholds(a: &AlertArgs) -> anyhow::Result<Thresholds> {
    let t = Thresholds {
        lag: Levels { warn: a.warn, crit: a.crit },
        total_lag: Levels { warn: a.warn_total, crit: a.crit_total },
        seconds: Levels {
            warn: a.warn_seconds.map(|d| d.as_secs_f64()),
            crit: a.crit_seconds.map(|d| d.as_secs_f64()),
        },
    };
    for (inverted, what) in [
        (t.lag.inverted(), "--warn is above --crit"),
        (t.total_lag.inverted(), "--warn-total is above --crit-total"),
        (t.seconds.inverted(), "--warn-seconds is above --crit-seconds"),
    ] {
        if inverted {
            bail!("{what}: a warning level must not exceed the critical one");
        }
    }
    Ok(t)
}

/// The metrics formats' options (`--prefix`, `--precision`, ...).
fn metrics_options(m: &MetricsArgs) -> anyhow::Result<MetricsOptions> {
    validate_prefix(&m.prefix).map_err(anyhow::Error::msg)?;
    Ok(MetricsOptions {
        prefix: m.prefix.clone(),
        graphite_tags: m.graphite_tags,
        precision: match m.precision {
            PrecisionArg::S => Precision::S,
            PrecisionArg::Ms => Precision::Ms,
            PrecisionArg::Us => Precision::Us,
            PrecisionArg::Ns => Precision::Ns,
        },
        influx_schema: match m.influx_schema {
            InfluxSchemaArg::Klag => InfluxSchema::Klag,
            InfluxSchemaArg::Burrow => InfluxSchema::Burrow,
        },
        burrow_cluster: m.burrow_cluster.clone(),
    })
}

/// The `--send` destinations, credentials read from the environment.
fn sinks(m: &MetricsArgs) -> anyhow::Result<Vec<SinkSpec>> {
    if m.spool.is_some() && m.send.is_empty() {
        bail!("--spool keeps lines for --send destinations: give at least one --send URL");
    }
    Ok(m.send.iter().map(|u| SinkSpec::parse(u, &sinks::process_env)).collect::<Result<_, _>>()?)
}

/// TLS and SASL settings; passwords from files or the environment only.
fn security(s: &SecurityArgs) -> anyhow::Result<Security> {
    let security = Security {
        protocol: s.security_protocol.map(|p| match p {
            ProtocolArg::Plaintext => Protocol::Plaintext,
            ProtocolArg::Ssl => Protocol::Ssl,
            ProtocolArg::SaslPlaintext => Protocol::SaslPlaintext,
            ProtocolArg::SaslSsl => Protocol::SaslSsl,
        }),
        sasl_mechanism: s.sasl_mechanism.map(|m| match m {
            MechanismArg::Plain => SaslMechanism::Plain,
            MechanismArg::ScramSha256 => SaslMechanism::ScramSha256,
            MechanismArg::ScramSha512 => SaslMechanism::ScramSha512,
            MechanismArg::Gssapi => SaslMechanism::Gssapi,
        }),
        sasl_username: s.sasl_username.clone().filter(|u| !u.is_empty()),
        sasl_password: None,
        ssl_ca: s.ssl_ca.clone(),
        ssl_cert: s.ssl_cert.clone(),
        ssl_key: s.ssl_key.clone(),
        ssl_key_password: None,
        ssl_skip_hostname_verification: s.ssl_skip_hostname_verification,
    };
    // A password variable counts only where it is used (it may be exported
    // for other clusters); a password file is always read, and checked.
    let sasl_env = if security.protocol().sasl() { "KLAG_SASL_PASSWORD" } else { "" };
    let key_env = if security.ssl_key.is_some() { "KLAG_SSL_KEY_PASSWORD" } else { "" };
    let security = Security {
        sasl_password: secret("SASL password", s.sasl_password_file.as_deref(), sasl_env)?,
        ssl_key_password: secret("TLS key password", s.ssl_key_password_file.as_deref(), key_env)?,
        ..security
    };
    security.validate().map_err(anyhow::Error::msg)?;
    // librdkafka would only say "No such file" when the first client is made.
    for (option, path) in
        [("--ssl-ca", &security.ssl_ca), ("--ssl-cert", &security.ssl_cert), ("--ssl-key", &security.ssl_key)]
    {
        if let Some(path) = path {
            std::fs::File::open(path).with_context(|| format!("{option}: cannot read {}", path.display()))?;
        }
    }
    Ok(security)
}

/// A password from the first line of `file`, else from the environment
/// variable `var` ("": none; an empty value counts as unset). Errors name the
/// file, never its content.
fn secret(what: &str, file: Option<&std::path::Path>, var: &str) -> anyhow::Result<Option<Secret>> {
    let Some(path) = file else {
        let value = if var.is_empty() { None } else { std::env::var(var).ok() };
        return Ok(value.filter(|v| !v.is_empty()).map(Secret::new));
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("the {what} file {} is empty: its first line is the password", path.display());
    }
    Ok(Some(Secret::new(line)))
}

/// The ZooKeeper part of the configuration, if any ZooKeeper was named.
fn zk_sources(q: &QueryArgs) -> anyhow::Result<Option<ZkSources>> {
    let storm_only = !q.storm_root.is_empty() || q.trident.is_some();
    if q.zookeeper.is_none() && q.storm_zookeeper.is_none() {
        if storm_only || q.classic {
            bail!("--storm-root, --trident and --classic need --zookeeper (or --storm-zookeeper)");
        }
        return Ok(None);
    }
    let digest = zk_digest(q)?;
    let settings = |connect: &Option<String>| -> anyhow::Result<Option<ZkSettings>> {
        match connect.as_deref().map(str::trim) {
            Some("") => bail!("empty ZooKeeper connect string"),
            Some(c) => Ok(Some(ZkSettings {
                connect: c.to_string(),
                timeout: q.timeout.unwrap_or(DEFAULT_TIMEOUT),
                digest: digest.clone(),
            })),
            None => Ok(None),
        }
    };
    Ok(Some(ZkSources {
        kafka_zk: settings(&q.zookeeper)?,
        storm_zk: settings(&q.storm_zookeeper)?,
        storm_roots: q.storm_root.clone(),
        trident_root: q.trident.clone(),
        classic: q.classic || (!storm_only && q.zookeeper.is_some()),
        listener: q.listener.clone(),
    }))
}

/// ZooKeeper digest credentials (`user:password`) from --zk-auth-file or the
/// KLAG_ZK_AUTH environment variable; never from a command-line value.
fn zk_digest(q: &QueryArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &q.zk_auth_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read ZooKeeper credentials from {}", path.display()))?;
        let line = text.lines().next().unwrap_or("").trim().to_string();
        if !line.contains(':') {
            bail!("{}: expected one line `user:password`", path.display());
        }
        return Ok(Some(line));
    }
    Ok(std::env::var("KLAG_ZK_AUTH").ok().filter(|v| !v.trim().is_empty()))
}

/// Set when stdout's reader went away: `--watch` then ends.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A closed pipe (`klag | head`) is not an error worth a message.
fn ignore_broken_pipe(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        other => other.context("writing output"),
    }
}

/// Writes the snapshot to stdout, problems to stderr, and picks the exit code.
/// `again`: a later snapshot of `--watch`, written after an earlier one (no
/// second CSV header).
fn emit(config: &Config, snapshot: &Snapshot, deadline: std::time::Instant, again: bool) -> anyhow::Result<i32> {
    for w in &snapshot.warnings {
        eprintln!("klag: warning: {w}");
    }
    for e in &snapshot.errors {
        eprintln!("klag: error: {e}");
    }
    let unmeasured = snapshot.partitions.iter().filter(|p| p.error.is_some()).count();
    if unmeasured > 0 {
        eprintln!("klag: warning: {unmeasured} partition(s) could not be measured; see their \"error\" and \"flags\"");
    }
    // The nagios line reports the delivery, so it is delivered first; other
    // formats are written first, and a failed --output is reported after the
    // delivery: the lines still go out (or to the spool).
    let nagios = config.format == Format::Nagios;
    let mut failures = if nagios { deliver(config, snapshot, deadline) } else { Vec::new() };
    let exporter: Box<dyn output::Exporter> = match config.format {
        Format::Nagios => Box::new(output::Nagios { thresholds: config.thresholds, problems: failures.clone() }),
        Format::Table => Box::new(output::Table { color: config.color, thresholds: config.thresholds, trends: None }),
        Format::Csv => Box::new(output::Csv { header: !again }),
        other => output::exporter_with(other, &config.metrics),
    };
    let written = if let Some(path) = &config.output {
        let mut buf = Vec::new();
        exporter
            .render(snapshot, &mut buf)
            .and_then(|()| output::write_atomic(path, &buf))
            .with_context(|| format!("writing {}", path.display()))
    } else {
        // Buffered: pretty JSON is many short lines, and stdout is line-buffered.
        let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        ignore_broken_pipe(exporter.render(snapshot, &mut stdout).and_then(|()| stdout.flush()))
    };
    if !nagios {
        failures = deliver(config, snapshot, deadline);
    }
    written?;
    Ok(if config.check {
        judge::run_severity(snapshot, &config.thresholds, !failures.is_empty()).code()
    } else {
        ExitCode::from(snapshot.coverage()).with_delivery(!failures.is_empty()).code()
    })
}

/// Delivers to every `--send` destination, reports each on stderr, and
/// returns the failures' descriptions.
fn deliver(config: &Config, snapshot: &Snapshot, deadline: std::time::Instant) -> Vec<String> {
    let mut failures = Vec::new();
    for (ok, report) in deliver_reports(config, snapshot, deadline) {
        if ok {
            eprintln!("klag: {report}");
        } else {
            eprintln!("klag: error: delivery to {report}");
            failures.push(format!("delivery to {report}"));
        }
    }
    failures
}

/// Delivers to every `--send` destination: (delivered in full, report).
fn deliver_reports(config: &Config, snapshot: &Snapshot, deadline: std::time::Instant) -> Vec<(bool, String)> {
    sinks::deliver(snapshot, &config.metrics, &config.sinks, config.spool.as_ref(), deadline)
        .into_iter()
        .map(|r| (r.ok(), r.to_string()))
        .collect()
}
