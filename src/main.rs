//! The `klag` binary: parse, configure, measure, render, exit.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Parser;
use regex::Regex;

use klag::cli::{self, Cli, Command, FormatArg, IsolationArg, QueryArgs};
use klag::config::{Config, Format};
use klag::exit::ExitCode;
use klag::kafka::{Isolation, KafkaSettings};
use klag::lag::Snapshot;
use klag::sources::Filter;
use klag::{demo, output, run};

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
        None => {
            let config = config(&cli.query, false)?;
            let snapshot = run::snapshot(&config);
            emit(&config, &snapshot)
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
        None if demo => None,
        None => bail!("no source given: use --bootstrap-server HOST:PORT (or try `klag demo`)"),
    };
    let format = match q.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Json) => Format::Json,
        None if std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    Ok(Config {
        kafka,
        filter: Filter { group: regex("group", &q.group)?, topic: regex("topic", &q.topic)?, topology: None },
        isolation: match q.isolation {
            IsolationArg::ReadUncommitted => Isolation::ReadUncommitted,
            IsolationArg::ReadCommitted => Isolation::ReadCommitted,
        },
        format,
        timeout: q.timeout,
    })
}

/// Writes the snapshot to stdout, problems to stderr, and picks the exit code.
fn emit(config: &Config, snapshot: &Snapshot) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    output::exporter(config.format).render(snapshot, &mut stdout).context("writing output")?;
    stdout.flush().context("writing output")?;
    for e in &snapshot.errors {
        eprintln!("klag: error: {e}");
    }
    let unmeasured = snapshot.partitions.iter().filter(|p| p.error.is_some()).count();
    if unmeasured > 0 {
        eprintln!("klag: warning: {unmeasured} partition(s) could not be measured; see their \"error\" and \"flags\"");
    }
    Ok(snapshot.coverage().into())
}
