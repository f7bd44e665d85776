//! The `klag` binary: parse, configure, measure, render, exit.

// No panics on external data (issue 7): besides unwrap/expect (Cargo.toml),
// no panic!/unreachable!/todo!/unimplemented! outside tests. Overflow and
// indexing are checked at run time by the fuzz targets in fuzz/.
#![cfg_attr(not(test), warn(clippy::panic, clippy::unreachable, clippy::todo, clippy::unimplemented))]

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Parser;
use regex::Regex;

use klag::cli::{self, Cli, Command, FormatArg, InfluxSchemaArg, IsolationArg, MetricsArgs, PrecisionArg, QueryArgs};
use klag::config::{Config, Format, ZkSources};
use klag::exit::ExitCode;
use klag::kafka::{Isolation, KafkaSettings};
use klag::lag::Snapshot;
use klag::output::metrics::{validate_prefix, InfluxSchema, MetricsOptions, Precision};
use klag::sinks::{self, SinkSpec, SpoolSettings};
use klag::sources::Filter;
use klag::zk::ZkSettings;
use klag::{demo, listing, output, run};

fn main() {
    let cli = Cli::parse();
    let code = match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("klag: error: {e:#}");
            ExitCode::Usage
        }
    };
    std::process::exit(code.code());
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut cli::command(), "klag", &mut std::io::stdout());
            Ok(ExitCode::Ok)
        }
        Some(Command::Demo(args)) => {
            let config = config(&cli.query, true)?;
            demo::run(&config, args.once, std::time::Duration::from_secs_f64(args.interval.max(0.1)))
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
            })
        }
        None => {
            let config = config(&cli.query, false)?;
            // The run's deadline: measurement and delivery both end by it.
            let deadline = std::time::Instant::now() + config.timeout;
            let snapshot = run::snapshot(&config);
            let code = emit(&config, &snapshot, deadline);
            // The process exits next: freeing 100k rows one by one would
            // only delay that.
            std::mem::forget(snapshot);
            code
        }
    }
}

/// Turns parsed options into the immutable configuration.
fn config(q: &QueryArgs, demo: bool) -> anyhow::Result<Config> {
    let regex = |what: &str, v: &Option<String>| -> anyhow::Result<Option<Regex>> {
        v.as_deref().map(|s| Regex::new(s).with_context(|| format!("invalid --{what} regex"))).transpose()
    };
    let kafka = match &q.bootstrap_server {
        Some(b) if b.trim().is_empty() => bail!("--bootstrap-server is empty"),
        Some(b) => {
            Some(KafkaSettings { bootstrap: b.trim().to_string(), timeout: q.timeout, properties: q.property.clone() })
        }
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
    let format = match q.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Graphite) => Format::Graphite,
        Some(FormatArg::Influx) => Format::Influx,
        Some(FormatArg::Prometheus) => Format::Prometheus,
        Some(FormatArg::Csv) => Format::Csv,
        None if std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    Ok(Config {
        kafka,
        zookeeper,
        kafka_groups,
        properties: q.property.clone(),
        filter: Filter {
            group: regex("group", &q.group)?,
            topic: regex("topic", &q.topic)?,
            topology: regex("topology", &q.topology)?,
        },
        isolation: match q.isolation {
            IsolationArg::ReadUncommitted => Isolation::ReadUncommitted,
            IsolationArg::ReadCommitted => Isolation::ReadCommitted,
        },
        format,
        timeout: q.timeout,
        metrics: metrics_options(&q.metrics)?,
        output: q.metrics.output.clone(),
        sinks: sinks(&q.metrics)?,
        spool: q.metrics.spool.clone().map(|dir| SpoolSettings { dir, max_bytes: q.metrics.spool_max }),
    })
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
            Some(c) => Ok(Some(ZkSettings { connect: c.to_string(), timeout: q.timeout, digest: digest.clone() })),
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

/// A closed pipe (`klag | head`) is not an error worth a message.
fn ignore_broken_pipe(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing output"),
    }
}

/// Writes the snapshot to stdout, problems to stderr, and picks the exit code.
fn emit(config: &Config, snapshot: &Snapshot, deadline: std::time::Instant) -> anyhow::Result<ExitCode> {
    let exporter = output::exporter_with(config.format, &config.metrics);
    // A failed --output is reported after the delivery: the lines still go out
    // (or to the spool) instead of being lost with the file.
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
    let mut delivery_failed = false;
    for report in sinks::deliver(snapshot, &config.metrics, &config.sinks, config.spool.as_ref(), deadline) {
        if report.ok() {
            eprintln!("klag: {report}");
        } else {
            delivery_failed = true;
            eprintln!("klag: error: delivery to {report}");
        }
    }
    written?;
    Ok(ExitCode::from(snapshot.coverage()).with_delivery(delivery_failed))
}
