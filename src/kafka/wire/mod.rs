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
//! - listing ([`Wire::list_groups`]): one Metadata, one ListGroups per broker
//!   between two DescribeGroups that probe which `__consumer_offsets`
//!   partitions it coordinates; a group's coordinator is the broker that
//!   listed it;
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
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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

/// The run's connections: open ones not in use, and the bootstrap
/// addresses being connected to (each in a thread of its own, all at once,
/// so a broker that accepts connections but never answers, e.g. a frozen
/// one, costs nothing but its thread).
#[derive(Debug, Default)]
struct Pool {
    idle: Vec<Conn>,
    connecting: Vec<String>,
    /// Why bootstrap connections failed: (timed out, text).
    failures: Vec<(bool, String)>,
}

/// The pool and the signal that it changed.
#[derive(Debug, Default)]
struct Shared {
    pool: Mutex<Pool>,
    changed: Condvar,
    /// Some broker answered ApiVersions.
    answered: AtomicBool,
}

/// The client: settings, and connections kept for the run.
#[derive(Debug)]
pub(crate) struct Wire {
    settings: Settings,
    shared: Arc<Shared>,
    /// The coordinator of each group, as the last listing found.
    coordinators: Mutex<HashMap<String, Node>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wire {
    pub(crate) fn new(settings: Settings) -> Wire {
        Wire { settings, shared: Arc::default(), coordinators: Mutex::new(HashMap::new()) }
    }

    /// Starts connecting to the bootstrap brokers now, so the first call
    /// finds connections ready.
    pub(crate) fn warm_up(&self, deadline: Instant) {
        let mut pool = lock(&self.shared.pool);
        if pool.idle.is_empty() && pool.connecting.is_empty() {
            self.connect_bootstrap(&mut pool, deadline);
        }
    }

    /// Whether any broker ever answered this client.
    pub(crate) fn answered(&self) -> bool {
        self.shared.answered.load(Ordering::Relaxed)
    }

    /// Connects to every bootstrap address not already open or opening.
    fn connect_bootstrap(&self, pool: &mut Pool, deadline: Instant) {
        pool.failures.clear();
        for (host, port) in &self.settings.endpoints {
            let addr = conn::addr(host, *port);
            if pool.connecting.contains(&addr) || pool.idle.iter().any(|c| c.addr == addr) {
                continue;
            }
            let (shared, host, port, client_id) =
                (Arc::clone(&self.shared), host.clone(), *port, self.settings.client_id.clone());
            let log = self.settings.log();
            let label = format!("{addr}/bootstrap");
            let spawned = std::thread::Builder::new().name("klag-bootstrap".into()).spawn(move || {
                let opened = Conn::open(&host, port, label, &client_id, deadline, log);
                let mut pool = lock(&shared.pool);
                pool.connecting.retain(|a| *a != conn::addr(&host, port));
                match opened {
                    Ok(conn) => {
                        shared.answered.store(true, Ordering::Relaxed);
                        if !pool.idle.iter().any(|c| c.addr == conn.addr) {
                            pool.idle.push(conn);
                        }
                    }
                    Err(e) => pool.failures.push((matches!(e, ConnError::Timeout(_)), e.to_string())),
                }
                shared.changed.notify_all();
            });
            if spawned.is_ok() {
                pool.connecting.push(addr);
            }
        }
    }

    /// Waits for the pool to change, until `deadline` (then `None`).
    fn wait<'a>(
        &'a self,
        mut pool: std::sync::MutexGuard<'a, Pool>,
        deadline: Instant,
    ) -> Option<std::sync::MutexGuard<'a, Pool>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        pool = match self.shared.changed.wait_timeout(pool, left) {
            Ok((p, _)) => p,
            Err(poisoned) => poisoned.into_inner().0,
        };
        Some(pool)
    }

    /// A connection to any broker: an open one, else the first bootstrap
    /// broker to answer.
    fn any_conn(&self, deadline: Instant) -> Result<Conn, Unusable> {
        let mut pool = lock(&self.shared.pool);
        if pool.idle.is_empty() && pool.connecting.is_empty() {
            self.connect_bootstrap(&mut pool, deadline);
        }
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.connecting.is_empty() {
                let timed_out = pool.failures.iter().any(|(t, _)| *t);
                let texts: Vec<&str> = pool.failures.iter().map(|(_, t)| t.as_str()).collect();
                let detail =
                    if texts.is_empty() { "no bootstrap broker answered".to_string() } else { texts.join("; ") };
                return Err(if timed_out { Unusable::Timeout(detail) } else { Unusable::Fallback(detail) });
            }
            pool = match self.wait(pool, deadline) {
                Some(p) => p,
                None => {
                    let pending = lock(&self.shared.pool).connecting.join(", ");
                    return Err(Unusable::Timeout(format!("no bootstrap broker answered ({pending} silent)")));
                }
            };
        }
    }

    /// A connection to `node`: an open one to its address (waiting for one
    /// that a bootstrap thread is opening), else a new one.
    fn conn_to(&self, node: &Node, deadline: Instant) -> Result<Conn, ConnError> {
        let addr = node.addr();
        let pooled = {
            let mut pool = lock(&self.shared.pool);
            loop {
                if let Some(i) = pool.idle.iter().position(|c| c.addr == addr) {
                    break Some(pool.idle.swap_remove(i));
                }
                if !pool.connecting.contains(&addr) {
                    break None;
                }
                pool = self.wait(pool, deadline).ok_or_else(|| {
                    ConnError::Timeout(format!("{}: connection not established in time", node.label()))
                })?;
            }
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let log = self.settings.log();
                let c = Conn::open(&node.host, node.port, node.label(), &self.settings.client_id, deadline, log)?;
                self.shared.answered.store(true, Ordering::Relaxed);
                c
            }
        };
        conn.label = node.label();
        Ok(conn)
    }

    /// Returns a connection that is still good to the pool.
    fn give_back(&self, conn: Conn) {
        let mut pool = lock(&self.shared.pool);
        // One still owed a response would hand it to the next request: dropped.
        if conn.is_idle() && !pool.idle.iter().any(|c| c.addr == conn.addr) {
            pool.idle.push(conn);
        }
        self.shared.changed.notify_all();
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
