//! ZooKeeper access shared by the Storm, Trident, classic-consumer and broker
//! readers: connecting (chroot, digest auth, bounded time), bounded concurrent
//! bulk reads, and the error type for malformed node payloads.
//!
//! Bulk reads go in batches of [`BATCH`] operations, [`BATCHES_IN_FLIGHT`]
//! batches outstanding at a time. Each batch is one ZooKeeper 3.6+ multi-read
//! request; on a server without multi-read (3.4/3.5) the batch's operations
//! are pipelined as single requests instead, and the session remembers not to
//! try multi-read again. Either way thousands of nodes cost a few round trips,
//! never one round trip each. Every request is bounded by the settings'
//! timeout; once one has timed out, the rest of the bulk read fails at once
//! instead of waiting out the timeout batch after batch.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{Map, Value};
use zookeeper_client as zkc;

/// Operations per bulk-read batch (one multi-read request).
pub const BATCH: usize = 128;
/// Batches outstanding at once in a bulk read.
pub const BATCHES_IN_FLIGHT: usize = 8;
/// Retries of a read whose connection was lost.
const MAX_RETRIES: u32 = 3;

const MULTI_UNKNOWN: u8 = 0;
const MULTI_YES: u8 = 1;
const MULTI_NO: u8 = 2;

/// How to reach ZooKeeper. `digest` is `user:password` for the `digest`
/// scheme, already read from a file or the environment by the caller.
#[derive(Clone)]
pub struct ZkSettings {
    /// `host:port[,host:port...][/chroot]`.
    pub connect: String,
    /// Bounds session establishment and every request.
    pub timeout: Duration,
    pub digest: Option<String>,
}

impl fmt::Debug for ZkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkSettings")
            .field("connect", &self.connect)
            .field("timeout", &self.timeout)
            .field("digest", &self.digest.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// ZooKeeper connection and request failures. Messages name the ensemble
/// (the connect string as given) or the node path, never a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    #[error("invalid ZooKeeper connect string \"{connect}\": {reason}")]
    InvalidConnect { connect: String, reason: String },
    #[error("cannot connect to ZooKeeper at {ensemble}: {reason}")]
    Connect { ensemble: String, reason: String },
    #[error("no ZooKeeper session with {ensemble} within {}", fmt_duration(*.timeout))]
    ConnectTimeout { ensemble: String, timeout: Duration },
    #[error("ZooKeeper {path}: {reason}")]
    Request { path: String, reason: String },
    #[error("ZooKeeper {path}: no answer within {}", fmt_duration(*.timeout))]
    RequestTimeout { path: String, timeout: Duration },
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn request_error(ensemble: &str, path: &str, err: &zkc::Error) -> ZkError {
    let reason = match err {
        zkc::Error::NoAuth => "not authorized (missing or wrong digest credentials)".to_string(),
        // The session failed, not the node: say which ensemble (a run may use two).
        zkc::Error::SessionExpired => format!("the session with {ensemble} expired"),
        zkc::Error::ClientClosed => format!("the session with {ensemble} was closed"),
        other => other.to_string(),
    };
    ZkError::Request { path: path.to_string(), reason }
}

/// A ZooKeeper session plus the per-request time bound.
#[derive(Clone, Debug)]
pub struct Zk {
    client: zkc::Client,
    timeout: Duration,
    ensemble: String,
    /// Whether the server takes multi-read requests: [`MULTI_UNKNOWN`] until
    /// the first batch tells.
    multi_read: Arc<AtomicU8>,
}

/// Opens a session. Fails within about `settings.timeout`.
///
/// Must run inside a Tokio runtime with time enabled (the session's task is
/// spawned on it); keep that runtime alive while the returned [`Zk`] is used.
pub async fn connect(settings: &ZkSettings) -> Result<Zk, ZkError> {
    let ensemble = settings.connect.trim().to_string();
    check_connect_string(&ensemble)?;
    let timeout = if settings.timeout.is_zero() { Duration::from_secs(10) } else { settings.timeout };
    let mut connector = zkc::Client::connector().with_session_timeout(timeout).with_fail_eagerly();
    if let Some(digest) = &settings.digest {
        connector = connector.with_auth("digest", check_digest(digest, &ensemble)?.as_bytes());
    }
    let started = tokio::time::Instant::now();
    let attempt = tokio::time::timeout(timeout, connector.connect(&ensemble)).await;
    // What is left of the timeout bounds the diagnosis of a failure.
    let left = timeout.saturating_sub(started.elapsed()).clamp(Duration::from_millis(100), Duration::from_secs(2));
    match attempt {
        Ok(Ok(client)) => Ok(Zk::from_client(client, timeout, &ensemble)),
        Ok(Err(zkc::Error::BadArguments(reason))) => {
            Err(ZkError::InvalidConnect { connect: ensemble, reason: (*reason).to_string() })
        }
        Ok(Err(zkc::Error::Timeout)) | Err(_) => Err(ZkError::ConnectTimeout { ensemble, timeout }),
        Ok(Err(zkc::Error::NoHosts)) | Ok(Err(zkc::Error::ConnectionLoss)) => {
            let reason = probe(&ensemble, left).await;
            Err(ZkError::Connect { ensemble, reason })
        }
        Ok(Err(zkc::Error::AuthFailed)) => {
            Err(ZkError::Connect { ensemble, reason: "authentication failed".to_string() })
        }
        Ok(Err(other)) => Err(ZkError::Connect { ensemble, reason: other.to_string() }),
    }
}

/// `user:password` without the line ending a secret file usually has.
fn check_digest<'a>(digest: &'a str, ensemble: &str) -> Result<&'a str, ZkError> {
    let digest = digest.trim_end_matches(['\r', '\n']);
    match digest.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(digest),
        _ => Err(ZkError::Connect {
            ensemble: ensemble.to_string(),
            reason: "digest credentials must have the form user:password".to_string(),
        }),
    }
}

/// The `host:port` list of a connect string and its chroot (if any).
pub fn split_connect_string(connect: &str) -> (Vec<&str>, Option<&str>) {
    let (hosts, chroot) = match connect.find('/') {
        Some(i) => (&connect[..i], Some(&connect[i..])),
        None => (connect, None),
    };
    let hosts = hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    (hosts, chroot.filter(|c| *c != "/"))
}

fn check_connect_string(connect: &str) -> Result<(), ZkError> {
    let invalid = |reason: String| ZkError::InvalidConnect { connect: connect.to_string(), reason };
    let (hosts, chroot) = split_connect_string(connect);
    if hosts.is_empty() {
        return Err(invalid("no host:port".to_string()));
    }
    for host in hosts {
        let port = if let Some(bracketed) = host.strip_prefix('[') {
            match bracketed.split_once(']') {
                Some((h, "")) if !h.is_empty() => None,
                Some((h, rest)) if !h.is_empty() && rest.starts_with(':') => Some(&rest[1..]),
                _ => return Err(invalid(format!("\"{host}\" is not a valid [IPv6]:port address"))),
            }
        } else {
            match host.split_once(':') {
                None => None,
                Some(("", _)) => return Err(invalid(format!("\"{host}\" has no host name"))),
                // An unbracketed IPv6 address: left to the client.
                Some((_, rest)) if rest.contains(':') => None,
                Some((_, port)) => Some(port),
            }
        };
        if let Some(port) = port {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(invalid(format!("\"{host}\" has an invalid port")));
            }
        }
    }
    if let Some(chroot) = chroot {
        if chroot.ends_with('/') || chroot.contains("//") {
            return Err(invalid(format!("chroot \"{chroot}\" is not a valid path")));
        }
    }
    Ok(())
}

/// Explains why no server answered: one TCP connect per host, concurrently,
/// each bounded by `per_host`.
async fn probe(ensemble: &str, per_host: Duration) -> String {
    let hosts: Vec<String> = split_connect_string(ensemble).0.into_iter().map(str::to_string).collect();
    let checks = hosts.into_iter().map(|host| async move {
        let target = if host.contains(':') && !host.ends_with(']') { host.clone() } else { format!("{host}:2181") };
        let probe_target = target.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            use std::net::{TcpStream, ToSocketAddrs};
            let addrs = probe_target.to_socket_addrs().map_err(|e| e.to_string())?;
            let mut last = "no address".to_string();
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, per_host) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(last)
        })
        .await;
        match outcome {
            Ok(Ok(())) => {
                format!("{target}: TCP connect works but no ZooKeeper session was established")
            }
            Ok(Err(e)) => format!("{target}: {e}"),
            Err(e) => format!("{target}: {e}"),
        }
    });
    let reasons = futures::future::join_all(checks).await;
    if reasons.is_empty() {
        "no server reachable".to_string()
    } else {
        reasons.join("; ")
    }
}

impl Zk {
    /// Wraps an existing session (tests, or a caller with its own connector).
    pub fn from_client(client: zkc::Client, timeout: Duration, ensemble: &str) -> Zk {
        Zk { client, timeout, ensemble: ensemble.to_string(), multi_read: Arc::new(AtomicU8::new(MULTI_UNKNOWN)) }
    }

    /// Turns multi-read batches on or off (on by default; they are turned off
    /// by themselves when the server turns out not to support them).
    pub fn with_multi_read(self, enabled: bool) -> Zk {
        let state = if enabled { MULTI_UNKNOWN } else { MULTI_NO };
        Zk { multi_read: Arc::new(AtomicU8::new(state)), ..self }
    }

    pub fn client(&self) -> &zkc::Client {
        &self.client
    }

    /// The connect string as given (hosts and chroot, no credentials).
    pub fn ensemble(&self) -> &str {
        &self.ensemble
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs a read within the timeout. A lost connection is retried (reads
    /// are idempotent) once the session has reconnected: servers before 3.6
    /// close the connection after refusing a multi-read, and ensembles
    /// drop connections during leader elections.
    async fn bounded<T, F, Fut>(&self, path: &str, request: F) -> Result<Option<T>, ZkError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, zkc::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let timed_out = || ZkError::RequestTimeout { path: path.to_string(), timeout: self.timeout };
        let mut retries = 0;
        loop {
            match tokio::time::timeout_at(deadline, request()).await {
                Ok(Ok(value)) => return Ok(Some(value)),
                Ok(Err(zkc::Error::NoNode)) => return Ok(None),
                Ok(Err(zkc::Error::ConnectionLoss)) if retries < MAX_RETRIES => {
                    retries += 1;
                    if !self.reconnected(deadline).await {
                        return Err(timed_out());
                    }
                }
                Ok(Err(e)) => return Err(request_error(&self.ensemble, path, &e)),
                Err(_) => return Err(timed_out()),
            }
        }
    }

    /// Waits until the session is connected again; false at the deadline.
    async fn reconnected(&self, deadline: tokio::time::Instant) -> bool {
        let mut watcher = self.client.state_watcher();
        let wait = async {
            while watcher.peek_state() == zkc::SessionState::Disconnected {
                watcher.changed().await;
            }
        };
        tokio::time::timeout_at(deadline, wait).await.is_ok()
    }

    /// Children of `path`, sorted; `None` when the node does not exist.
    pub async fn children(&self, path: &str) -> Result<Option<Vec<String>>, ZkError> {
        let children = self.bounded(path, || self.client.list_children(path)).await?;
        Ok(children.map(|mut c| {
            c.sort();
            c
        }))
    }

    /// Data of `path`; `None` when the node does not exist.
    pub async fn data(&self, path: &str) -> Result<Option<Vec<u8>>, ZkError> {
        let data = self.bounded(path, || self.client.get_data(path)).await?;
        Ok(data.map(|(bytes, _stat)| bytes))
    }

    /// [`Zk::children`] of many paths, in batches; results in input order.
    pub async fn children_many(&self, paths: Vec<String>) -> Vec<(String, Result<Option<Vec<String>>, ZkError>)> {
        self.read_many(Op::Children, paths)
            .await
            .into_iter()
            .map(|(path, node)| {
                let children = node.and_then(|node| match node {
                    Some(Node::Children(mut c)) => {
                        c.sort();
                        Ok(Some(c))
                    }
                    Some(Node::Data(_)) => Err(unexpected(&path)),
                    None => Ok(None),
                });
                (path, children)
            })
            .collect()
    }

    /// [`Zk::data`] of many paths, in batches; results in input order.
    pub async fn data_many(&self, paths: Vec<String>) -> Vec<(String, Result<Option<Vec<u8>>, ZkError>)> {
        self.read_many(Op::Data, paths)
            .await
            .into_iter()
            .map(|(path, node)| {
                let data = node.and_then(|node| match node {
                    Some(Node::Data(d)) => Ok(Some(d)),
                    Some(Node::Children(_)) => Err(unexpected(&path)),
                    None => Ok(None),
                });
                (path, data)
            })
            .collect()
    }

    async fn read_many(&self, op: Op, paths: Vec<String>) -> Vec<(String, NodeResult)> {
        let tripped = AtomicBool::new(false);
        let mut batches: Vec<Vec<String>> = paths.chunks(BATCH).map(<[String]>::to_vec).collect();
        let mut done: Vec<(String, NodeResult)> = Vec::with_capacity(paths.len());
        // The first multi-read goes alone: a server that refuses it also
        // drops the connection, which would fail every batch in flight.
        if self.multi_read.load(Ordering::Relaxed) == MULTI_UNKNOWN && !batches.is_empty() {
            let first = batches.remove(0);
            done.extend(self.read_batch(op, first, &tripped).await);
        }
        let rest: Vec<Vec<(String, NodeResult)>> = stream::iter(batches)
            .map(|batch| self.read_batch(op, batch, &tripped))
            .buffered(BATCHES_IN_FLIGHT)
            .collect()
            .await;
        done.extend(rest.into_iter().flatten());
        done
    }

    async fn read_batch(&self, op: Op, batch: Vec<String>, tripped: &AtomicBool) -> Vec<(String, NodeResult)> {
        let timed_out = |batch: Vec<String>| -> Vec<(String, NodeResult)> {
            batch
                .into_iter()
                .map(|path| {
                    let err = ZkError::RequestTimeout { path: path.clone(), timeout: self.timeout };
                    (path, Err(err))
                })
                .collect()
        };
        if tripped.load(Ordering::Relaxed) {
            return timed_out(batch);
        }
        let multi = self.multi_read.load(Ordering::Relaxed);
        if multi != MULTI_NO {
            match self.multi_read(op, &batch).await {
                MultiOutcome::Done(results) => {
                    self.multi_read.store(MULTI_YES, Ordering::Relaxed);
                    return batch.into_iter().zip(results).collect();
                }
                MultiOutcome::TimedOut => {
                    tripped.store(true, Ordering::Relaxed);
                    return timed_out(batch);
                }
                MultiOutcome::Unsupported => self.multi_read.store(MULTI_NO, Ordering::Relaxed),
                MultiOutcome::ConnectionLost if multi == MULTI_UNKNOWN => {
                    self.multi_read.store(MULTI_NO, Ordering::Relaxed)
                }
                MultiOutcome::ConnectionLost | MultiOutcome::Failed => {}
            }
        }
        // One pipelined request per path.
        let singles = batch.iter().map(|path| async move {
            match op {
                Op::Data => self.data(path).await.map(|d| d.map(Node::Data)),
                Op::Children => self.children(path).await.map(|c| c.map(Node::Children)),
            }
        });
        let results = futures::future::join_all(singles).await;
        if results.iter().any(|r| matches!(r, Err(ZkError::RequestTimeout { .. }))) {
            tripped.store(true, Ordering::Relaxed);
        }
        batch.into_iter().zip(results).collect()
    }

    async fn multi_read(&self, op: Op, batch: &[String]) -> MultiOutcome {
        let mut reader = self.client.new_multi_reader();
        for path in batch {
            let added = match op {
                Op::Data => reader.add_get_data(path),
                Op::Children => reader.add_get_children(path),
            };
            if added.is_err() {
                // An invalid path: let the single requests report it.
                return MultiOutcome::Failed;
            }
        }
        let results = match tokio::time::timeout(self.timeout, reader.commit()).await {
            Err(_) => return MultiOutcome::TimedOut,
            Ok(Err(zkc::Error::Unimplemented))
            | Ok(Err(zkc::Error::UnexpectedErrorCode(_)))
            | Ok(Err(zkc::Error::UnmarshalError { .. }))
            | Ok(Err(zkc::Error::MarshallingError))
            | Ok(Err(zkc::Error::BadArguments(_))) => return MultiOutcome::Unsupported,
            Ok(Err(zkc::Error::ConnectionLoss)) => return MultiOutcome::ConnectionLost,
            Ok(Err(_)) => return MultiOutcome::Failed,
            Ok(Ok(results)) => results,
        };
        if results.len() != batch.len() {
            return MultiOutcome::Failed;
        }
        let nodes = batch
            .iter()
            .zip(results)
            .map(|(path, result)| match result {
                zkc::MultiReadResult::Data { data, .. } => Ok(Some(Node::Data(data))),
                zkc::MultiReadResult::Children { children } => Ok(Some(Node::Children(children))),
                zkc::MultiReadResult::Error { err: zkc::Error::NoNode } => Ok(None),
                zkc::MultiReadResult::Error { err } => Err(request_error(&self.ensemble, path, &err)),
                _ => Err(unexpected(path)),
            })
            .collect();
        MultiOutcome::Done(nodes)
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Data,
    Children,
}

enum Node {
    Data(Vec<u8>),
    Children(Vec<String>),
}

type NodeResult = Result<Option<Node>, ZkError>;

enum MultiOutcome {
    Done(Vec<NodeResult>),
    TimedOut,
    /// The server does not know multi-read (ZooKeeper before 3.6).
    Unsupported,
    /// The connection dropped: a server before 3.6 refusing it, or a blip.
    ConnectionLost,
    /// Something else went wrong with the batch as a whole: retry it as singles.
    Failed,
}

fn unexpected(path: &str) -> ZkError {
    ZkError::Request { path: path.to_string(), reason: "unexpected reply".to_string() }
}

/// `parent/child`, without doubling the slash under the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// A user-given root path made absolute, without a trailing slash.
pub fn normalize_root(root: &str) -> String {
    let trimmed = root.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// A node whose payload could not be used, with the ZooKeeper path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct NodeError {
    pub path: String,
    pub problem: Problem,
}

impl NodeError {
    pub fn new(path: &str, problem: Problem) -> Self {
        NodeError { path: path.to_string(), problem }
    }
}

/// What is wrong with a node payload. Nested fields are dotted (`broker.port`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("empty node")]
    Empty,
    #[error("payload is not UTF-8 text")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("payload is {found}, expected a JSON object")]
    NotAnObject { found: &'static str },
    #[error("missing field \"{0}\"")]
    MissingField(String),
    #[error("field \"{field}\" is {found}, expected {expected}")]
    WrongType { field: String, expected: &'static str, found: &'static str },
    #[error("field \"{field}\" is negative ({value})")]
    Negative { field: String, value: i64 },
    #[error("field \"{field}\" is out of range ({value})")]
    OutOfRange { field: String, value: String },
    #[error("offset \"{0}\" is not a decimal number")]
    NotDecimal(String),
    #[error("offset is negative ({0})")]
    NegativeOffset(i64),
    #[error("partition in payload ({payload}) does not match the node name ({name})")]
    PartitionMismatch { payload: i64, name: String },
    #[error("topic in payload (\"{payload}\") does not match the path (\"{path}\")")]
    TopicMismatch { payload: String, path: String },
    #[error("{0}")]
    Other(String),
}

/// The JSON type name used in messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a non-integer number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The payload as JSON: empty, non-UTF-8 and malformed payloads are errors.
pub fn parse_json(path: &str, data: &[u8]) -> Result<Value, NodeError> {
    let text = std::str::from_utf8(data).map_err(|_| NodeError::new(path, Problem::NotUtf8))?;
    if text.trim().is_empty() {
        return Err(NodeError::new(path, Problem::Empty));
    }
    serde_json::from_str(text).map_err(|e| NodeError::new(path, Problem::InvalidJson(e.to_string())))
}

/// A JSON object's fields, read with precise errors naming the node path.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    path: &'a str,
    prefix: &'a str,
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// The top-level object of a payload.
    pub fn of(path: &'a str, value: &'a Value) -> Result<Fields<'a>, NodeError> {
        match value {
            Value::Object(obj) => Ok(Fields { path, prefix: "", obj }),
            other => Err(NodeError::new(path, Problem::NotAnObject { found: json_type(other) })),
        }
    }

    fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    fn err(&self, problem: Problem) -> NodeError {
        NodeError::new(self.path, problem)
    }

    /// The field's value; JSON `null` counts as absent.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn wrong(&self, field: &str, expected: &'static str, v: &Value) -> NodeError {
        self.err(Problem::WrongType { field: self.name(field), expected, found: json_type(v) })
    }

    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, NodeError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None if n.is_u64() => {
                    Err(self.err(Problem::OutOfRange { field: self.name(field), value: n.to_string() }))
                }
                None => Err(self.wrong(field, "an integer", &Value::Number(n.clone()))),
            },
            Some(other) => Err(self.wrong(field, "an integer", other)),
        }
    }

    pub fn req_i64(&self, field: &str) -> Result<i64, NodeError> {
        self.opt_i64(field)?.ok_or_else(|| self.err(Problem::MissingField(self.name(field))))
    }

    /// A required integer that must be zero or more (offsets).
    pub fn req_non_negative(&self, field: &str) -> Result<i64, NodeError> {
        let value = self.req_i64(field)?;
        if value < 0 {
            return Err(self.err(Problem::Negative { field: self.name(field), value }));
        }
        Ok(value)
    }

    pub fn opt_i32(&self, field: &str) -> Result<Option<i32>, NodeError> {
        match self.opt_i64(field)? {
            None => Ok(None),
            Some(v) => i32::try_from(v)
                .map(Some)
                .map_err(|_| self.err(Problem::OutOfRange { field: self.name(field), value: v.to_string() })),
        }
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, NodeError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(field, "a string", other)),
        }
    }

    pub fn req_str(&self, field: &str) -> Result<&'a str, NodeError> {
        self.opt_str(field)?.ok_or_else(|| self.err(Problem::MissingField(self.name(field))))
    }

    /// A nested object; `prefix` must be the dotted name of `field`.
    pub fn opt_object(&self, field: &str, prefix: &'a str) -> Result<Option<Fields<'a>>, NodeError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(obj)) => Ok(Some(Fields { path: self.path, prefix, obj })),
            Some(other) => Err(self.wrong(field, "an object", other)),
        }
    }

    pub fn opt_array(&self, field: &str) -> Result<Option<&'a Vec<Value>>, NodeError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(field, "an array", other)),
        }
    }

    /// The raw object.
    pub fn map(&self) -> &'a Map<String, Value> {
        self.obj
    }
}

/// `host:port`, bracketing IPv6 addresses.
pub fn host_port(host: &str, port: i64) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A Storm broker object `{"host":..,"port":..}` as `host:port`.
pub fn storm_broker(fields: &Fields<'_>) -> Result<Option<String>, NodeError> {
    let Some(broker) = fields.opt_object("broker", "broker")? else {
        return Ok(None);
    };
    let host = broker.req_str("host")?;
    let port = broker.req_i64("port")?;
    Ok(Some(host_port(host, port)))
}

/// The topology name inside a Storm id `name-N-timestamp` (Storm 1.x and later).
pub fn topology_name_from_storm_id(storm_id: &str) -> Option<&str> {
    let (rest, timestamp) = storm_id.rsplit_once('-')?;
    let (name, counter) = rest.rsplit_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if name.is_empty() || !digits(counter) || !digits(timestamp) {
        return None;
    }
    Some(name)
}

/// `partition_<N>` node names, as written by storm-kafka.
pub fn parse_partition_node_name(name: &str) -> Option<i32> {
    let digits = name.strip_prefix("partition_")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings_split_hosts_and_chroot() {
        assert_eq!(split_connect_string("a:1,b:2/kafka"), (vec!["a:1", "b:2"], Some("/kafka")));
        assert_eq!(split_connect_string("a:1"), (vec!["a:1"], None));
        assert_eq!(split_connect_string("a:1/"), (vec!["a:1"], None));
        assert!(check_connect_string("a:1,b:2/kafka/x").is_ok());
        assert!(check_connect_string("[::1]:2181").is_ok());
        assert!(check_connect_string("zk").is_ok());
        let bad = check_connect_string("a:notaport").map_err(|e| e.to_string());
        assert_eq!(
            bad,
            Err("invalid ZooKeeper connect string \"a:notaport\": \"a:notaport\" has an invalid port".into())
        );
        assert!(check_connect_string("/chroot").is_err());
        assert!(check_connect_string(":2181").is_err());
        assert!(check_connect_string("a:2181/x/").is_err());
    }

    #[test]
    fn digests_need_a_user() {
        assert_eq!(check_digest("u:p\n", "zk"), Ok("u:p"));
        assert_eq!(check_digest("u:", "zk"), Ok("u:"));
        let err = check_digest("secret", "zk:2181").unwrap_err().to_string();
        assert_eq!(err, "cannot connect to ZooKeeper at zk:2181: digest credentials must have the form user:password");
        assert!(check_digest(":p", "zk").is_err());
    }

    #[test]
    fn settings_debug_redacts_the_digest() {
        let s = ZkSettings { connect: "a:1".into(), timeout: Duration::from_secs(1), digest: Some("u:secret".into()) };
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn paths_join_and_roots_normalize() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(normalize_root("kafkastorm/"), "/kafkastorm");
        assert_eq!(normalize_root("/"), "/");
        assert_eq!(normalize_root(""), "/");
    }

    #[test]
    fn storm_ids_give_topology_names() {
        assert_eq!(topology_name_from_storm_id("word-count-3-1700000000"), Some("word-count"));
        assert_eq!(topology_name_from_storm_id("6f1c9b0e-4a7d-4c55-9d8a-2c4f5e0b1a23"), None);
        assert_eq!(topology_name_from_storm_id("x-1"), None);
    }

    #[test]
    fn partition_node_names() {
        assert_eq!(parse_partition_node_name("partition_0"), Some(0));
        assert_eq!(parse_partition_node_name("partition_17"), Some(17));
        assert_eq!(parse_partition_node_name("partition_"), None);
        assert_eq!(parse_partition_node_name("partition_-1"), None);
        assert_eq!(parse_partition_node_name("partition_99999999999"), None);
        assert_eq!(parse_partition_node_name("access_log"), None);
    }

    #[test]
    fn host_ports_bracket_ipv6() {
        assert_eq!(host_port("::1", 9092), "[::1]:9092");
        assert_eq!(host_port("[::1]", 9092), "[::1]:9092");
        assert_eq!(host_port("kafka1", 9092), "kafka1:9092");
    }

    #[test]
    fn field_errors_are_precise() {
        let v = parse_json("/p", br#"{"offset":"12","n":1.5,"big":18446744073709551615,"o":{"port":"x"}}"#)
            .unwrap_or_default();
        let f = Fields::of("/p", &v).map_err(|e| e.to_string());
        let Ok(f) = f else { panic!("{f:?}") };
        let msg = |r: Result<i64, NodeError>| r.map_err(|e| e.to_string());
        assert_eq!(msg(f.req_i64("offset")), Err("/p: field \"offset\" is a string, expected an integer".into()));
        assert_eq!(msg(f.req_i64("n")), Err("/p: field \"n\" is a non-integer number, expected an integer".into()));
        assert_eq!(msg(f.req_i64("big")), Err("/p: field \"big\" is out of range (18446744073709551615)".into()));
        assert_eq!(msg(f.req_i64("nope")), Err("/p: missing field \"nope\"".into()));
        let nested = f.opt_object("o", "o").ok().flatten();
        let Some(nested) = nested else { panic!("no nested object") };
        assert_eq!(msg(nested.req_i64("port")), Err("/p: field \"o.port\" is a string, expected an integer".into()));
        assert_eq!(parse_json("/e", b"  \n").map_err(|e| e.to_string()), Err("/e: empty node".into()));
        assert_eq!(
            parse_json("/u", &[0xff, 0xfe]).map_err(|e| e.to_string()),
            Err("/u: payload is not UTF-8 text".into())
        );
    }
}
