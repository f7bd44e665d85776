//! klag's own Kafka client: a run's requests in a number that grows with
//! brokers, not with groups or partitions (issue 6), on plain TCP.
//!
//! librdkafka's admin API takes one group per ListConsumerGroupOffsets call
//! and sends a FindCoordinator and an OffsetFetch for each; its
//! DescribeConsumerGroups also goes group by group; and a librdkafka client
//! starts threads and connects twice (bootstrap, then each broker) before its
//! first ListGroups. Here, per run, on one connection per broker opened in
//! parallel and kept for the whole run:
//!
//! - ApiVersions once per connection;
//! - listing ([`Wire::list_groups`]): one Metadata, one ListGroups per broker;
//!   a group's coordinator is the broker that listed it;
//! - groups ([`Wire::read`], `groups.rs`): per coordinator, pipelined, one
//!   ConsumerGroupDescribe (when the broker has it) and one DescribeGroups with
//!   every group to describe, and one OffsetFetch with every group (KIP-709);
//!   one FindCoordinator for all groups (KIP-699) when no listing told;
//! - log offsets ([`Wire::list_offsets`], `offsets.rs`): one Metadata, then
//!   per partition leader one ListOffsets for the log start and one for the end.
//!
//! Brokers are asked concurrently. Moved coordinators and leaders, and ones
//! loading or not yet elected, are asked again until the deadline.
//!
//! Only plain TCP: [`Settings::plain`] is the one place that decides, and
//! returns `None` (librdkafka's path) when the connection needs anything more
//! (TLS, SASL, or any librdkafka property this client does not implement).
//! Brokers older than Kafka 3.0 (no FindCoordinator v4 / OffsetFetch v8) are
//! likewise left to librdkafka ([`Unusable::Fallback`]).

mod codec;
mod conn;
mod groups;
mod listing;
mod messages;
mod offsets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Instant;

use conn::{Conn, ConnError, Log};

pub(crate) use groups::Fail;
pub(crate) use listing::ListFailure;
pub(crate) use offsets::OffsetFail;

/// librdkafka properties that do not change how connections are made, with
/// the value they must have (`None`: any). Any other `-X` property sends the
/// group phase through librdkafka, which implements them all.
const PLAIN_PROPERTIES: &[(&str, Option<&str>)] = &[
    ("bootstrap.servers", None),
    ("metadata.broker.list", None),
    ("client.id", None),
    ("debug", None),
    ("log_level", None),
    ("enable.auto.commit", None),
    ("security.protocol", Some("plaintext")),
    ("socket.timeout.ms", None),
    ("socket.connection.setup.timeout.ms", None),
    ("api.version.request.timeout.ms", None),
];

/// How this client reaches the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    endpoints: Vec<(String, u16)>,
    client_id: String,
    protocol_debug: bool,
}

impl Settings {
    /// Settings for plain TCP connections to `bootstrap`, or `None` when the
    /// connection needs more than this client does: TLS, SASL (including
    /// any security option KafkaSettings may carry), a bootstrap address it
    /// does not parse, or a property outside [`PLAIN_PROPERTIES`].
    pub(crate) fn plain(bootstrap: &str, properties: &[(String, String)]) -> Option<Settings> {
        let mut client_id = "klag".to_string();
        let mut protocol_debug = false;
        for (key, value) in properties {
            let (_, want) = PLAIN_PROPERTIES.iter().find(|(k, _)| k == key)?;
            if want.is_some_and(|w| !value.trim().eq_ignore_ascii_case(w)) {
                return None;
            }
            match key.as_str() {
                "client.id" => client_id = value.clone(),
                "debug" => protocol_debug = value.split(',').any(|c| matches!(c.trim(), "protocol" | "all")),
                _ => {}
            }
        }
        let endpoints = parse_bootstrap(bootstrap)?;
        Some(Settings { endpoints, client_id, protocol_debug })
    }

    fn log(&self) -> Log {
        Log { protocol: self.protocol_debug }
    }
}

/// `host[:port]` entries separated by commas, each optionally prefixed
/// `plaintext://`; IPv6 hosts in brackets. Port 9092 when none is given.
fn parse_bootstrap(list: &str) -> Option<Vec<(String, u16)>> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let entry = match entry.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("plaintext") => rest,
            Some(_) => return None,
            None => entry,
        };
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            match after {
                "" => (host, 9092),
                p => (host, p.strip_prefix(':')?.parse().ok()?),
            }
        } else {
            match entry.split_once(':') {
                None => (entry, 9092),
                Some((h, p)) => (h, p.parse().ok()?),
            }
        };
        if host.is_empty() || port == 0 {
            return None;
        }
        out.push((host.to_string(), port));
    }
    (!out.is_empty()).then_some(out)
}

/// Why the client cannot serve a call at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// Old brokers, or every bootstrap address failed at once: librdkafka's
    /// path (which retries, and explains) serves the call.
    Fallback(String),
    /// No broker answered by the deadline.
    Timeout(String),
}

/// Bootstrap connections being opened, all at once; the first to answer
/// ApiVersions is used (a broker that accepts connections but never answers,
/// e.g. a frozen one, costs nothing but its thread).
struct Race {
    rx: mpsc::Receiver<Result<Conn, ConnError>>,
    attempts: usize,
}

impl std::fmt::Debug for Race {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Race").field("attempts", &self.attempts).finish_non_exhaustive()
    }
}

/// A broker by node id and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Node {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

impl Node {
    fn addr(&self) -> String {
        conn::addr(&self.host, self.port)
    }

    fn label(&self) -> String {
        format!("{}/{}", self.addr(), self.id)
    }
}

/// The client: settings, and connections kept for the run.
#[derive(Debug)]
pub(crate) struct Wire {
    settings: Settings,
    /// Started by [`Wire::warm_up`], not yet waited for.
    warm: Mutex<Option<Race>>,
    /// The rest of a race whose first connection is in use: later answers
    /// join the pool (a bootstrap broker is also a leader or coordinator).
    late: Mutex<Option<Race>>,
    /// Open connections not in use.
    pool: Mutex<Vec<Conn>>,
    /// The coordinator of each group, as the last listing found.
    coordinators: Mutex<HashMap<String, Node>>,
    /// Some broker answered ApiVersions.
    answered: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wire {
    pub(crate) fn new(settings: Settings) -> Wire {
        Wire {
            settings,
            warm: Mutex::new(None),
            late: Mutex::new(None),
            pool: Mutex::new(Vec::new()),
            coordinators: Mutex::new(HashMap::new()),
            answered: AtomicBool::new(false),
        }
    }

    /// Starts opening the bootstrap connections now, so the first call
    /// finds one ready.
    pub(crate) fn warm_up(&self, deadline: Instant) {
        let mut warm = lock(&self.warm);
        if warm.is_none() && lock(&self.pool).is_empty() {
            *warm = Some(self.race(deadline));
        }
    }

    /// Whether any broker ever answered this client.
    pub(crate) fn answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    fn race(&self, deadline: Instant) -> Race {
        let (tx, rx) = mpsc::channel();
        let log = self.settings.log();
        let mut attempts = 0;
        for (host, port) in &self.settings.endpoints {
            let (tx, host, port, client_id) = (tx.clone(), host.clone(), *port, self.settings.client_id.clone());
            let spawned = std::thread::Builder::new().name("klag-bootstrap".into()).spawn(move || {
                let label = format!("{}/bootstrap", conn::addr(&host, port));
                let _ = tx.send(Conn::open(&host, port, label, &client_id, deadline, log));
            });
            if spawned.is_ok() {
                attempts += 1;
            }
        }
        Race { rx, attempts }
    }

    /// The first bootstrap connection to answer.
    fn bootstrap(&self, deadline: Instant) -> Result<Conn, Unusable> {
        let warm = lock(&self.warm).take();
        let mut race = warm.unwrap_or_else(|| self.race(deadline));
        let mut failures = Vec::new();
        let mut timed_out = false;
        while race.attempts > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            let answer = race.rx.recv_timeout(wait);
            race.attempts -= 1;
            match answer {
                Ok(Ok(conn)) => {
                    self.answered.store(true, Ordering::Relaxed);
                    *lock(&self.late) = Some(race);
                    return Ok(conn);
                }
                Ok(Err(e)) => {
                    timed_out |= matches!(e, ConnError::Timeout(_));
                    failures.push(e.to_string());
                }
                Err(_) => {
                    timed_out = true;
                    break;
                }
            }
        }
        let detail = if failures.is_empty() { "no bootstrap broker answered".to_string() } else { failures.join("; ") };
        Err(if timed_out { Unusable::Timeout(detail) } else { Unusable::Fallback(detail) })
    }

    /// Moves the bootstrap connections that answered since into the pool.
    fn collect_late(&self) {
        let mut late = lock(&self.late);
        let Some(race) = late.as_mut() else { return };
        let mut pool = lock(&self.pool);
        while let Ok(answer) = race.rx.try_recv() {
            race.attempts = race.attempts.saturating_sub(1);
            if let Ok(conn) = answer {
                if !pool.iter().any(|c| c.addr == conn.addr) {
                    pool.push(conn);
                }
            }
        }
        if race.attempts == 0 {
            *late = None;
        }
    }

    /// A connection to any broker: a pooled one, else the first bootstrap
    /// broker to answer.
    fn any_conn(&self, deadline: Instant) -> Result<Conn, Unusable> {
        self.collect_late();
        match lock(&self.pool).pop() {
            Some(c) => Ok(c),
            None => self.bootstrap(deadline),
        }
    }

    /// A connection to `node`: a pooled one to its address, else a new one.
    fn conn_to(&self, node: &Node, deadline: Instant) -> Result<Conn, ConnError> {
        self.collect_late();
        let addr = node.addr();
        let pooled = {
            let mut pool = lock(&self.pool);
            pool.iter().position(|c| c.addr == addr).map(|i| pool.swap_remove(i))
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let log = self.settings.log();
                let c = Conn::open(&node.host, node.port, node.label(), &self.settings.client_id, deadline, log)?;
                self.answered.store(true, Ordering::Relaxed);
                c
            }
        };
        conn.label = node.label();
        Ok(conn)
    }

    /// Returns a connection that is still good to the pool.
    fn give_back(&self, conn: Conn) {
        let mut pool = lock(&self.pool);
        if !pool.iter().any(|c| c.addr == conn.addr) {
            pool.push(conn);
        }
    }

    /// Metadata for `topics` (none: brokers only), on any connection; a
    /// pooled connection that turns out closed is replaced once.
    fn metadata(&self, topics: &[&str], deadline: Instant) -> Result<messages::Metadata, Unusable> {
        let body = messages::metadata_request(topics);
        let mut last = String::new();
        for _ in 0..2 {
            let mut conn = self.any_conn(deadline)?;
            if !conn.versions.supports(messages::METADATA, messages::METADATA_VERSION) {
                return Err(Unusable::Fallback(format!("{} has no Metadata v9", conn.label)));
            }
            let answer = Wire::ask(&mut conn, messages::METADATA, messages::METADATA_VERSION, &body, deadline)
                .and_then(|r| {
                    messages::parse_metadata(r.body()).map_err(|e| ConnError::Malformed(format!("{}: {e}", conn.label)))
                });
            match answer {
                Ok(m) => {
                    self.give_back(conn);
                    return Ok(m);
                }
                Err(ConnError::Timeout(t)) => return Err(Unusable::Timeout(t)),
                Err(ConnError::Malformed(t)) => return Err(Unusable::Fallback(t)),
                Err(ConnError::Io(t)) => last = t,
            }
        }
        Err(Unusable::Fallback(last))
    }

    /// Sends one request on `conn` and reads its response.
    fn ask(
        conn: &mut Conn,
        key: i16,
        version: i16,
        body: &[u8],
        deadline: Instant,
    ) -> Result<conn::Response, ConnError> {
        conn.send(key, version, body, deadline)?;
        conn.recv(deadline)
    }
}

/// Runs `job` on every item at once (scoped threads; inline for one) and
/// returns the results in order (`None` for a job whose thread failed).
fn concurrently<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    if items.len() == 1 {
        return items.iter().map(|i| Some(job(i))).collect();
    }
    let job = &job;
    std::thread::scope(|s| {
        // A thread that cannot be started runs its job here instead.
        let started: Vec<Result<_, &T>> = items
            .iter()
            .map(|item| {
                std::thread::Builder::new()
                    .name("klag-broker".into())
                    .spawn_scoped(s, move || job(item))
                    .map_err(|_| item)
            })
            .collect();
        started
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().ok(),
                Err(item) => Some(job(item)),
            })
            .collect()
    })
}

/// A group state as librdkafka names it: one of its six names (matched
/// without case), anything else (e.g. KIP-848's Assigning) `Unknown`.
fn state_name(state: &str) -> String {
    const NAMES: [&str; 6] = ["Unknown", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"];
    NAMES.iter().find(|n| n.eq_ignore_ascii_case(state)).unwrap_or(&"Unknown").to_string()
}

#[cfg(test)]
mod tests;
