//! `--send URL`: delivery of the metrics lines to Graphite and InfluxDB.
//!
//! | URL | what |
//! |---|---|
//! | `graphite://HOST[:PORT]` | carbon plaintext over TCP (port 2003), one connection per run |
//! | `graphite+udp://HOST[:PORT]` | carbon plaintext over UDP: sent, never confirmed |
//! | `influx://HOST[:PORT]/DB` | InfluxDB 1.x `POST /write?db=DB` (port 8086) |
//! | `influx2://HOST[:PORT]?org=ORG&bucket=BUCKET` | InfluxDB 2.x `POST /api/v2/write` |
//!
//! Credentials come only from the environment (`KLAG_INFLUX_USERNAME`,
//! `KLAG_INFLUX_PASSWORD`, `KLAG_INFLUX_TOKEN`), are held in [`Secret`], and
//! never appear in a message. Every network operation ends by the run's
//! deadline; a failed attempt is retried once. A line counts as delivered only
//! when the peer confirmed it: carbon closed the connection cleanly after
//! reading everything, or InfluxDB answered 2xx.

mod graphite;
mod influx;
pub mod spool;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Format;
use crate::lag::Snapshot;
use crate::output::{self, MetricsOptions};

pub use spool::SpoolSettings;

/// Environment variables holding Influx credentials.
pub const ENV_INFLUX_USERNAME: &str = "KLAG_INFLUX_USERNAME";
pub const ENV_INFLUX_PASSWORD: &str = "KLAG_INFLUX_PASSWORD";
pub const ENV_INFLUX_TOKEN: &str = "KLAG_INFLUX_TOKEN";

/// A credential: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What kind of destination a `--send` URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    GraphiteTcp,
    GraphiteUdp,
    /// InfluxDB 1.x `/write`.
    InfluxV1 {
        db: String,
        username: Option<String>,
        password: Option<Secret>,
    },
    /// InfluxDB 2.x `/api/v2/write`.
    InfluxV2 {
        org: String,
        bucket: String,
        token: Option<Secret>,
    },
}

/// One parsed `--send` destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSpec {
    pub kind: SinkKind,
    pub host: String,
    pub port: u16,
}

/// Why a `--send` URL or a delivery failed. No variant holds a credential.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid --send URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{0}: no time left before the --timeout deadline")]
    Deadline(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: HTTP {status}: {body}")]
    Http { what: String, status: u16, body: String },
    #[error("{what}: {message}")]
    Other { what: String, message: String },
    #[error("spool {dir}: {source}")]
    Spool {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SinkError {
    /// Worth another attempt (connection trouble, timeouts, 5xx, 429)?
    pub fn retryable(&self) -> bool {
        match self {
            SinkError::Io { .. } | SinkError::Other { .. } => true,
            SinkError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// A lookup of environment variables (injectable for tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values treated as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl SinkSpec {
    /// Parses a `--send` URL; Influx credentials are read from `env`.
    pub fn parse(raw: &str, env: Env) -> Result<SinkSpec, SinkError> {
        // Never echo a URL that may carry a password: show it without userinfo.
        let bad = |reason: &str| SinkError::BadUrl { url: redact(raw), reason: reason.to_string() };
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(&format!(
                "credentials do not belong in the URL: set {ENV_INFLUX_USERNAME}, {ENV_INFLUX_PASSWORD} or {ENV_INFLUX_TOKEN}"
            )));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("no host")),
        };
        let path = url.path().trim_matches('/');
        let query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let param =
            |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        let (kind, default_port) = match url.scheme() {
            "graphite" | "graphite+udp" => {
                if !path.is_empty() || !query.is_empty() {
                    return Err(bad("a graphite URL has no path or query: graphite://HOST[:PORT]"));
                }
                let kind = if url.scheme() == "graphite+udp" { SinkKind::GraphiteUdp } else { SinkKind::GraphiteTcp };
                (kind, 2003)
            }
            "influx" => {
                if path.is_empty() || path.contains('/') {
                    return Err(bad("expected influx://HOST[:PORT]/DATABASE"));
                }
                let db = percent_decode(path).ok_or_else(|| bad("database name is not valid UTF-8"))?;
                let password = env(ENV_INFLUX_PASSWORD).map(Secret::new);
                (SinkKind::InfluxV1 { db, username: env(ENV_INFLUX_USERNAME), password }, 8086)
            }
            "influx2" => {
                let (Some(org), Some(bucket)) = (param("org"), param("bucket")) else {
                    return Err(bad("expected influx2://HOST[:PORT]?org=ORG&bucket=BUCKET"));
                };
                let Some(token) = env(ENV_INFLUX_TOKEN).map(Secret::new) else {
                    return Err(bad(&format!("influx2 needs a token in {ENV_INFLUX_TOKEN}")));
                };
                (SinkKind::InfluxV2 { org, bucket, token: Some(token) }, 8086)
            }
            other => {
                return Err(bad(&format!("unknown scheme {other:?}: use graphite, graphite+udp, influx or influx2")))
            }
        };
        Ok(SinkSpec { kind, host, port: url.port().unwrap_or(default_port) })
    }

    /// The lines format this destination takes.
    pub fn format(&self) -> Format {
        match self.kind {
            SinkKind::GraphiteTcp | SinkKind::GraphiteUdp => Format::Graphite,
            SinkKind::InfluxV1 { .. } | SinkKind::InfluxV2 { .. } => Format::Influx,
        }
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A name for the spool folder: the destination and, for Influx, the
    /// precision (spooled lines must be read back in the unit they were written).
    pub fn spool_key(&self, options: &MetricsOptions) -> String {
        let key = match &self.kind {
            SinkKind::GraphiteTcp | SinkKind::GraphiteUdp => format!("graphite-{}-{}", self.host, self.port),
            SinkKind::InfluxV1 { db, .. } => {
                format!("influx-{}-{}-{}-{}", self.host, self.port, db, options.precision.as_str())
            }
            SinkKind::InfluxV2 { org, bucket, .. } => {
                format!("influx2-{}-{}-{}-{}-{}", self.host, self.port, org, bucket, options.precision.as_str())
            }
        };
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
    }
}

/// Shown in messages: scheme, host, port and database, never a credential.
impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hp = self.host_port();
        match &self.kind {
            SinkKind::GraphiteTcp => write!(f, "graphite://{hp}"),
            SinkKind::GraphiteUdp => write!(f, "graphite+udp://{hp}"),
            SinkKind::InfluxV1 { db, .. } => write!(f, "influx://{hp}/{db}"),
            SinkKind::InfluxV2 { org, bucket, .. } => write!(f, "influx2://{hp}?org={org}&bucket={bucket}"),
        }
    }
}

/// A URL for messages: anything between the scheme (and its `//`) and the
/// last `@` is cut out. The URL parser also finds credentials without `//`
/// (`http:user:pw@host`, `http:\\user:pw@host`), so `//` is not required.
fn redact(raw: &str) -> String {
    let (Some(colon), Some(at)) = (raw.find(':'), raw.rfind('@')) else {
        return raw.to_string();
    };
    if colon > at {
        return raw.to_string();
    }
    let mut start = colon + 1;
    if raw[start..].starts_with("//") {
        start += 2;
    }
    format!("{}***@{}", &raw[..start], &raw[at + 1..])
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Time left before `deadline`, or an error naming what ran out of time.
pub(crate) fn remaining(deadline: Instant, what: &str) -> Result<Duration, SinkError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        Err(SinkError::Deadline(what.to_string()))
    } else {
        Ok(left)
    }
}

/// The outcome of one attempt to hand lines over: how many lines from the
/// start were confirmed, and why the rest were not.
#[derive(Debug)]
pub struct Sent {
    pub delivered: usize,
    pub error: Option<SinkError>,
}

/// Sends `lines` (each ending in `\n`) to a destination, retrying once.
fn send(spec: &SinkSpec, lines: &[String], options: &MetricsOptions, deadline: Instant) -> Sent {
    if lines.is_empty() {
        return Sent { delivered: 0, error: None };
    }
    match &spec.kind {
        SinkKind::GraphiteTcp => graphite::send_tcp(spec, lines, deadline),
        SinkKind::GraphiteUdp => graphite::send_udp(spec, lines, deadline),
        SinkKind::InfluxV1 { .. } | SinkKind::InfluxV2 { .. } => influx::send(spec, lines, options.precision, deadline),
    }
}

/// What happened to one destination in this run.
#[derive(Debug)]
pub struct DeliveryReport {
    pub sink: String,
    /// Lines of this run's snapshot.
    pub current: usize,
    /// Lines taken from the spool (earlier runs), sent before the current ones.
    pub from_spool: usize,
    /// Lines confirmed (for UDP: sent).
    pub delivered: usize,
    /// Undelivered lines kept in the spool for the next run.
    pub spooled: usize,
    /// Oldest spooled lines dropped because the spool hit --spool-max.
    pub dropped_by_bound: usize,
    /// UDP: nothing is ever confirmed.
    pub unconfirmed: bool,
    pub error: Option<SinkError>,
    /// A problem with the spool itself (the lines were still counted above).
    pub spool_error: Option<SinkError>,
}

impl DeliveryReport {
    /// Lines (current or from the spool) that did not reach the destination.
    pub fn undelivered(&self) -> usize {
        (self.current + self.from_spool).saturating_sub(self.delivered)
    }

    /// Everything was delivered and nothing went wrong.
    pub fn ok(&self) -> bool {
        self.undelivered() == 0 && self.error.is_none() && self.spool_error.is_none() && self.dropped_by_bound == 0
    }
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.current + self.from_spool;
        let verb = if self.unconfirmed { "sent (UDP, unconfirmed)" } else { "delivered" };
        write!(f, "{}: {} of {} lines {verb}", self.sink, self.delivered, total)?;
        if self.from_spool > 0 {
            write!(f, " ({} of them from the spool)", self.from_spool)?;
        }
        if let Some(e) = &self.error {
            // The error names the destination too: say it once.
            let e = e.to_string();
            let e = e.strip_prefix(&format!("{}: ", self.sink)).unwrap_or(&e);
            write!(f, "; failed: {e}")?;
        }
        let undelivered = self.undelivered();
        if undelivered > 0 {
            if self.spooled > 0 {
                write!(f, "; {} lines kept in the spool for the next run", self.spooled)?;
            }
            let lost = undelivered.saturating_sub(self.spooled);
            if lost > 0 && self.spooled == 0 {
                write!(f, "; {lost} lines dropped (use --spool DIR to keep them)")?;
            } else if lost > 0 {
                write!(f, "; {lost} lines dropped")?;
            }
        }
        if self.dropped_by_bound > 0 {
            write!(f, "; the spool was full: its {} oldest lines were dropped", self.dropped_by_bound)?;
        }
        if let Some(e) = &self.spool_error {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

/// Renders the snapshot for each destination and delivers it, spooled lines
/// first. Never fails as a whole: each report says what happened.
pub fn deliver(
    snapshot: &Snapshot,
    options: &MetricsOptions,
    sinks: &[SinkSpec],
    spool: Option<&SpoolSettings>,
    deadline: Instant,
) -> Vec<DeliveryReport> {
    sinks
        .iter()
        .map(|spec| {
            let rendered = output::render_to_string(&*output::exporter_with(spec.format(), options), snapshot);
            let current: Vec<String> = rendered.split_inclusive('\n').map(str::to_string).collect();
            deliver_one(spec, options, current, spool, deadline)
        })
        .collect()
}

fn deliver_one(
    spec: &SinkSpec,
    options: &MetricsOptions,
    current: Vec<String>,
    spool: Option<&SpoolSettings>,
    deadline: Instant,
) -> DeliveryReport {
    let mut report = DeliveryReport {
        sink: spec.to_string(),
        current: current.len(),
        from_spool: 0,
        delivered: 0,
        spooled: 0,
        dropped_by_bound: 0,
        unconfirmed: spec.kind == SinkKind::GraphiteUdp,
        error: None,
        spool_error: None,
    };
    let Some(settings) = spool else {
        let sent = send(spec, &current, options, deadline);
        report.delivered = sent.delivered;
        report.error = sent.error;
        return report;
    };
    let queue = match spool::Spool::open(settings, &spec.spool_key(options), deadline) {
        Ok(q) => q,
        Err(e) => {
            // Without a spool the run still delivers what it can.
            report.spool_error = Some(e);
            let sent = send(spec, &current, options, deadline);
            report.delivered = sent.delivered;
            report.error = sent.error;
            return report;
        }
    };
    let backlog = queue.backlog();
    report.from_spool = backlog.len();
    let mut all = backlog;
    all.extend(current);
    let sent = send(spec, &all, options, deadline);
    report.delivered = sent.delivered;
    report.error = sent.error;
    match queue.settle(sent.delivered, &all[report.from_spool..]) {
        Ok(s) => {
            report.spooled = s.kept;
            report.dropped_by_bound = s.dropped;
        }
        Err(e) => report.spool_error = Some(e),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn parses_every_scheme() {
        let none = env(&[]);
        let g = SinkSpec::parse("graphite://carbon.example", &none).map(|s| s.to_string());
        assert_eq!(g.ok().as_deref(), Some("graphite://carbon.example:2003"));
        let u = SinkSpec::parse("graphite+udp://10.0.0.1:2103", &none).map(|s| (s.kind, s.port));
        assert_eq!(u.ok(), Some((SinkKind::GraphiteUdp, 2103)));
        let i = SinkSpec::parse("influx://influx:8087/kafka%20lag", &none).map(|s| s.to_string());
        assert_eq!(i.ok().as_deref(), Some("influx://influx:8087/kafka lag"));
        let with_token = env(&[(ENV_INFLUX_TOKEN, "s3cret")]);
        let v2 = SinkSpec::parse("influx2://[::1]:8086?org=acme&bucket=lag", &with_token).map(|s| s.to_string());
        assert_eq!(v2.ok().as_deref(), Some("influx2://[::1]:8086?org=acme&bucket=lag"));
    }

    #[test]
    fn bad_urls_are_explained_without_secrets() {
        let none = env(&[]);
        for (url, says) in [
            ("graphite://", "no host"),
            ("influx://h", "DATABASE"),
            ("influx2://h?org=o", "bucket"),
            ("influx2://h?org=o&bucket=b", ENV_INFLUX_TOKEN),
            ("http://h", "unknown scheme"),
            ("graphite://h/x", "no path"),
        ] {
            let e = SinkSpec::parse(url, &none).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(says), "{url}: {e}");
        }
        let e = SinkSpec::parse("influx://admin:hunter2@h/db", &none).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("credentials do not belong") && !e.contains("hunter2") && !e.contains("admin"), "{e}");
    }

    /// Found by `fuzz/fuzz_targets/sink_url.rs` (crash-ccc72ecc, kept in
    /// fuzz/regressions/): a special scheme without `//` still carries
    /// credentials for the URL parser, and the message showed the password.
    #[test]
    fn fuzz_credentials_without_slashes_are_redacted() {
        let none = env(&[]);
        for url in ["http:ggf\u{18}gtp:ggfMgggg4@;", "http:admin:hunter2@h", "http:\\\\admin:hunter2@h/x@y"] {
            let e = SinkSpec::parse(url, &none).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.contains("ggfMgggg4") && !e.contains("hunter2") && !e.contains("admin"), "{url}: {e}");
        }
        assert_eq!(redact("influx://u:p@h/db"), "influx://***@h/db");
        assert_eq!(redact("http:u:p@h"), "http:***@h");
        assert_eq!(redact("no-at://h"), "no-at://h");
    }

    #[test]
    fn secrets_are_never_printed() {
        let vars = env(&[(ENV_INFLUX_TOKEN, "tok-123"), (ENV_INFLUX_PASSWORD, "pw-456")]);
        let v2 = SinkSpec::parse("influx2://h?org=o&bucket=b", &vars);
        let v1 = SinkSpec::parse("influx://h/db", &vars);
        let shown = format!(
            "{v2:?} {v1:?} {} {}",
            v2.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            v1.as_ref().map(|s| s.to_string()).unwrap_or_default()
        );
        assert!(!shown.contains("tok-123") && !shown.contains("pw-456"), "{shown}");
        assert!(shown.contains("Secret(***)"));
    }

    #[test]
    fn spool_keys_are_file_names() {
        let spec = SinkSpec::parse("influx://h.example:8086/my%2Fdb", &env(&[]));
        let key = spec.map(|s| s.spool_key(&MetricsOptions::default())).unwrap_or_default();
        assert_eq!(key, "influx-h_example-8086-my_db-ns");
    }
}
