//! Talking to Kafka brokers: group discovery, committed offsets and log offsets.
//!
//! One [`Kafka`] client serves the whole run. Every call takes a deadline and
//! returns by it. The librdkafka admin calls behind it live in `admin`; group
//! descriptions and committed offsets go through klag's own client in `wire`
//! when the connection is plain TCP and the brokers are Kafka 3.0 or newer
//! (librdkafka's admin calls take one group each).
//!
//! Request counts (what `-X debug=protocol` shows; `wire` logs its own
//! requests in the same style):
//! - [`Kafka::list_groups`]: one ListGroups per broker (through `wire`,
//!   between two DescribeGroups probing the coordinators).
//! - [`Kafka::describe_and_fetch`] (and [`Kafka::describe_groups`],
//!   [`Kafka::committed_offsets`]) through `wire`: one ApiVersions per
//!   connection, one FindCoordinator for all groups, and per coordinator one
//!   DescribeGroups (plus one ConsumerGroupDescribe where the broker has it)
//!   and one OffsetFetch for all its groups. Through librdkafka: one
//!   DescribeGroups and one FindCoordinator (unless cached) plus one
//!   OffsetFetch per group.
//! - [`Kafka::log_offsets`]: one ListOffsets per partition leader for the log
//!   start and one for the log end, both in flight at once (plus a Metadata
//!   request for unknown leaders).
//! - [`timestamps::record_times`] (`--time-lag`, its own consumer client):
//!   Fetch requests per leader broker for all partitions at once, plus a few
//!   FindCoordinator (librdkafka's assign() needs a group.id; no group is
//!   joined, nothing is committed).

mod admin;
mod records;
mod security;
pub mod timestamps;
mod wire;

pub use security::{Protocol, SaslMechanism, Secret, Security};

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::lag::{LogOffsets, OffsetTable};

use admin::{AdminOp, Client, Event, Options, PartEntry, Queue, Spec};
use wire::ListFailure;

const LIST_OFFSETS: &str = "ListOffsets";
const LIST_GROUPS: &str = "ListConsumerGroups";

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092,host2:9092`.
    pub bootstrap: String,
    /// Bounds socket timeouts (each call has its own deadline).
    pub timeout: Duration,
    /// TLS and SASL.
    pub security: Security,
    /// librdkafka properties passed through (`-X key=value`), applied last.
    pub properties: Vec<(String, String)>,
}

/// Which end offset ListOffsets reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// The high watermark.
    #[default]
    ReadUncommitted,
    /// The last stable offset (what a transactional read_committed consumer reaches).
    ReadCommitted,
}

/// One group from ListConsumerGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Dead` or `Unknown`.
    pub state: String,
    /// A group with no group protocol (offsets committed by assign()-only consumers).
    pub is_simple: bool,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub consumer_id: String,
    pub client_id: String,
    pub host: String,
    /// `(topic, partition)` pairs assigned to this member.
    pub assignment: Vec<(String, i32)>,
}

/// DescribeConsumerGroups result for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub members: Vec<Member>,
}

/// One committed position from OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// `None` when nothing is committed.
    pub offset: Option<i64>,
    /// A per-partition error from the broker.
    pub error: Option<String>,
}

/// One group's outcome: its id and its result, or why it failed.
pub type PerGroup<T> = (String, Result<T, String>);

/// Descriptions of groups, or why none could be had at all.
pub type Described = Result<Vec<PerGroup<GroupDescription>>, KafkaError>;

/// Log start (index 0) and end (1) offsets by partition.
type PerSpec = [HashMap<(String, i32), Result<i64, Fail>>; 2];

/// Why a Kafka call failed as a whole. Every message names the bootstrap
/// address; no message contains a property value.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("invalid Kafka client settings for {bootstrap}: {message}")]
    Config { bootstrap: String, message: String },
    /// No broker ever answered this client (no Metadata response yet).
    /// `elapsed` is the time the call had.
    #[error("no broker answered at {bootstrap} within {} ({detail})", secs(*.elapsed))]
    NoAnswer { bootstrap: String, elapsed: Duration, detail: String },
    /// The cluster answered before, but not this call in time.
    #[error("{request} at {bootstrap} timed out after {} ({detail})", secs(*.elapsed))]
    Timeout { request: &'static str, bootstrap: String, elapsed: Duration, detail: String },
    #[error("{request} at {bootstrap} failed: {detail}")]
    Request { request: &'static str, bootstrap: String, detail: String },
    /// SASL authentication or the TLS handshake failed before any broker
    /// answered: waiting longer would not help. `detail` names the broker.
    #[error("authentication or TLS with {bootstrap} failed: {detail}")]
    Auth { bootstrap: String, detail: String },
}

/// True for properties whose value is a secret: never printed, and refused
/// by `-X` (librdkafka's sasl.password, ssl.key.password,
/// ssl.keystore.password, ssl.key.pem, sasl.oauthbearer.config,
/// sasl.oauthbearer.client.secret, sasl.oauthbearer.assertion.private.key.*
/// and whatever a later version names alike). Paths and URLs are no secrets.
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "passphrase", "secret", "key.pem", "sasl.oauthbearer.config", "sasl.jaas"]
        .iter()
        .any(|s| k.contains(s))
}

/// Settings for klag's own group-phase client, or `None` when the connection
/// needs what only librdkafka implements. The one place that decides: every
/// field of [`KafkaSettings`] is looked at (a new one, e.g. TLS or SASL
/// options, fails to compile here until it is), and every `-X` property must
/// be one `wire` knows to leave connections plain.
fn plain_wire_settings(settings: &KafkaSettings, bootstrap: &str) -> Option<wire::Settings> {
    let KafkaSettings { bootstrap: _, timeout: _, security, properties } = settings;
    // TLS and SASL are librdkafka's.
    if security.protocol() != Protocol::Plaintext {
        return None;
    }
    wire::Settings::plain(bootstrap, properties)
}

/// librdkafka's message for a client it could not create, with a hint where
/// OpenSSL says only "PEM lib" (a missing or wrong key password).
fn client_error(mut message: String) -> String {
    if message.contains("ssl.key.location") {
        message += " (is the key encrypted? its password comes from KLAG_SSL_KEY_PASSWORD or \
                    --ssl-key-password-file)";
    }
    message
}

/// "10s", "2.5s", "0.1s".
fn secs(d: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    if tenths % 10 == 0 {
        format!("{}s", tenths / 10)
    } else {
        format!("{}.{}s", tenths / 10, tenths % 10)
    }
}

/// librdkafka's admin timeout for a call ending at `deadline`: a little less
/// than the time left, so its own (more specific) timeout error arrives first.
fn admin_timeout(deadline: Instant) -> Duration {
    let left = deadline.saturating_duration_since(Instant::now());
    left.saturating_sub((left / 10).min(Duration::from_millis(250)))
}

/// The properties every librdkafka client of a run starts from, TLS and
/// SASL included: `(key, value, secret)`. `-X` ones are applied after.
fn base_properties(settings: &KafkaSettings) -> Vec<(&'static str, String, bool)> {
    let ms = settings.timeout.as_millis();
    let clamp = |lo: u128, hi: u128| ms.clamp(lo, hi).to_string();
    let plain = vec![
        ("bootstrap.servers", settings.bootstrap.clone()),
        ("client.id", "klag".to_string()),
        ("enable.auto.commit", "false".to_string()),
        // librdkafka's own log lines (connection refused, request timed
        // out, ...) stay off stderr: the errors they describe are collected
        // by the error callback and named in klag's messages. `-X debug=..`
        // raises the level to debug; `-X log_level=6` restores the default.
        ("log_level", "2".to_string()),
        ("socket.timeout.ms", clamp(10, 300_000)),
        ("socket.connection.setup.timeout.ms", clamp(1_000, 2_147_483_647)),
        ("api.version.request.timeout.ms", clamp(10, 300_000)),
    ];
    let mut props: Vec<(&'static str, String, bool)> = plain.into_iter().map(|(k, v)| (k, v, false)).collect();
    props.extend(settings.security.properties());
    props
}

/// One client for the whole run.
pub struct Kafka {
    /// librdkafka: created by `connect`, or at first use when klag's own
    /// client serves the run (then often never).
    client: OnceLock<Result<Client, String>>,
    /// librdkafka properties `(key, value, secret)`, for that first use.
    props: Vec<(String, String, bool)>,
    bootstrap: String,
    /// klag's own client, when the connection is plain TCP.
    wire: Option<wire::Wire>,
}

impl std::fmt::Debug for Kafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kafka").field("bootstrap", &self.bootstrap).finish_non_exhaustive()
    }
}

impl Kafka {
    /// Creates the client. No network I/O happens until the first call.
    pub fn connect(settings: &KafkaSettings) -> Result<Kafka, KafkaError> {
        let bootstrap = settings
            .properties
            .iter()
            .rev()
            .find(|(k, _)| k == "bootstrap.servers" || k == "metadata.broker.list")
            .map_or(settings.bootstrap.as_str(), |(_, v)| v.as_str())
            .to_string();
        let config_err = |message: String| KafkaError::Config { bootstrap: bootstrap.clone(), message };
        if bootstrap.trim().is_empty() {
            return Err(config_err("no bootstrap server given".to_string()));
        }
        let base = base_properties(settings);
        let mut props: Vec<(&str, &str, bool)> = base.iter().map(|(k, v, secret)| (*k, v.as_str(), *secret)).collect();
        for (k, v) in &settings.properties {
            props.push((k.as_str(), v.as_str(), is_secret_property(k)));
        }
        let wire = plain_wire_settings(settings, &bootstrap).map(wire::Wire::new);
        let client = OnceLock::new();
        if wire.is_some() {
            // Checked now (a bad property is a usage error), created at first use.
            admin::check_properties(&props).map_err(config_err)?;
        } else {
            let _ = client.set(Ok(Client::new(&props).map_err(|m| config_err(client_error(m)))?));
        }
        let props = props.into_iter().map(|(k, v, h)| (k.to_string(), v.to_string(), h)).collect();
        Ok(Kafka { client, props, bootstrap, wire })
    }

    /// librdkafka's client, created on first use.
    fn rd(&self) -> Result<&Client, KafkaError> {
        let client = self.client.get_or_init(|| {
            let props: Vec<(&str, &str, bool)> =
                self.props.iter().map(|(k, v, h)| (k.as_str(), v.as_str(), *h)).collect();
            Client::new(&props).map_err(client_error)
        });
        client
            .as_ref()
            .map_err(|message| KafkaError::Config { bootstrap: self.bootstrap.clone(), message: message.clone() })
    }

    /// Whether any broker ever answered (klag's client or librdkafka's Metadata).
    fn has_metadata(&self) -> bool {
        self.wire.as_ref().is_some_and(wire::Wire::answered)
            || matches!(self.client.get(), Some(Ok(c)) if c.has_metadata())
    }

    /// Starts opening klag's own connections, so they are ready for the
    /// first request. No effect on the librdkafka path.
    pub fn warm_up(&self, deadline: Instant) {
        if let Some(w) = &self.wire {
            w.warm_up(deadline);
        }
    }

    /// The bootstrap address errors name.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// All consumer groups (ListGroups to every broker). The second element
    /// lists brokers that failed while others answered.
    ///
    /// Takes at most half the time left before `deadline`: ListGroups goes to
    /// every broker and librdkafka answers only when all have, so a broker that
    /// is down but still registered (killed, its ZooKeeper session not yet
    /// expired) holds the call until its timeout. The other half is left for
    /// the requests that follow, and the groups that broker coordinates are
    /// reported as missing from the listing.
    pub fn list_groups(&self, deadline: Instant) -> Result<(Vec<GroupListing>, Vec<String>), KafkaError> {
        let start = Instant::now();
        let deadline = start + deadline.saturating_duration_since(start) / 2;
        if let Some(w) = &self.wire {
            match w.list_groups(deadline) {
                Ok(listing) => return self.listed(listing.groups, listing.failures, start, deadline),
                Err(wire::Unusable::Timeout(detail)) => {
                    return Err(self.no_answer_error(LIST_GROUPS, start, deadline, &detail))
                }
                Err(wire::Unusable::Fallback(_)) => {}
            }
        }
        let queue = self.queue(LIST_GROUPS)?;
        let opts = self.options(LIST_GROUPS, AdminOp::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, deadline)?;
        admin::list_groups(self.rd()?, &queue, &opts);
        let ev = self.expect_event(LIST_GROUPS, queue.next(deadline), start, deadline)?;
        let (listings, errors) = ev.group_listings().ok_or_else(|| self.unexpected(LIST_GROUPS, &ev))?;
        // librdkafka's per-broker errors do not say which broker failed.
        let errors = errors
            .into_iter()
            .map(|(code, text)| {
                let how = if code == admin::ERR_TIMED_OUT { ListFailure::Timeout } else { ListFailure::Error };
                (how, text)
            })
            .collect();
        self.listed(listings, errors, start, deadline)
    }

    /// A listing with the brokers that failed it: an error when none
    /// answered, else the listing and a message per failure.
    fn listed(
        &self,
        listings: Vec<GroupListing>,
        errors: Vec<(ListFailure, String)>,
        start: Instant,
        deadline: Instant,
    ) -> Result<(Vec<GroupListing>, Vec<String>), KafkaError> {
        // Nothing listed because every broker failed is an error; a listing
        // that only missed moving partitions is a partial result.
        if listings.is_empty() && !errors.is_empty() && errors.iter().any(|(how, _)| *how != ListFailure::Unowned) {
            if errors.iter().all(|(how, _)| *how == ListFailure::Timeout) {
                let text = errors.into_iter().next().map(|(_, t)| t);
                return Err(self.timeout(LIST_GROUPS, start, deadline, text));
            }
            return Err(self.request_error(LIST_GROUPS, summarize(errors.into_iter().map(|(_, t)| t))));
        }
        let b = &self.bootstrap;
        let partial = errors
            .into_iter()
            .map(|(how, text)| match how {
                ListFailure::Timeout => format!(
                    "a broker of {b} did not answer ListGroups in time: the groups it coordinates are not listed ({text}{})",
                    self.client_hint()
                ),
                ListFailure::NoAnswer => {
                    format!("a broker of {b} did not answer ListGroups: the groups it coordinates are not listed ({text})")
                }
                ListFailure::Error => format!("a broker of {b} failed ListGroups: {text}"),
                ListFailure::Unowned => format!("{b}: {text}: the groups stored there are not listed"),
            })
            .collect();
        Ok((listings, partial))
    }

    /// Describes `ids` in one call. One entry per distinct id, in input order.
    pub fn describe_groups(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Vec<PerGroup<GroupDescription>>, KafkaError> {
        self.describe_and_fetch(ids, &[], deadline).0
    }

    /// Describes the groups `describe` and fetches the committed offsets of
    /// every partition of the groups `fetch`, all at once. One entry per
    /// distinct id, in input order, in each result. Only partitions with a
    /// commit are returned by the broker.
    ///
    /// Through klag's own client when it can serve the call (see `wire`);
    /// groups it cannot serve (an old coordinator), or every group when the
    /// connection is not plain TCP or the brokers are older than Kafka 3.0,
    /// through librdkafka.
    pub fn describe_and_fetch(
        &self,
        describe: &[String],
        fetch: &[String],
        deadline: Instant,
    ) -> (Described, Vec<PerGroup<Vec<CommittedOffset>>>) {
        let start = Instant::now();
        let (describe, fetch) = (dedupe(describe), dedupe(fetch));
        let mut described: HashMap<String, Result<GroupDescription, String>> = HashMap::new();
        let mut committed: HashMap<String, Result<Vec<CommittedOffset>, String>> = HashMap::new();
        // What librdkafka serves: everything, unless klag's client takes it.
        let (mut describe_rd, mut fetch_rd) = (describe.clone(), fetch.clone());
        if let (Some(w), false) = (&self.wire, describe.is_empty() && fetch.is_empty()) {
            match w.read(&describe, &fetch, deadline) {
                Ok(outcome) => {
                    for (id, r) in outcome.described {
                        described.insert(id, r.map_err(|f| self.wire_error(f, start, deadline)));
                    }
                    for (id, r) in outcome.committed {
                        committed.insert(id, r.map_err(|f| self.wire_error(f, start, deadline)));
                    }
                    (describe_rd, fetch_rd) = (outcome.describe_elsewhere, outcome.fetch_elsewhere);
                }
                Err(wire::Unusable::Fallback(_)) => {}
                Err(wire::Unusable::Timeout(detail)) => {
                    let e = self.no_answer_error("DescribeGroups", start, deadline, &detail).to_string();
                    described.extend(describe.iter().map(|id| (id.clone(), Err(e.clone()))));
                    let e = self.no_answer_error("OffsetFetch", start, deadline, &detail).to_string();
                    committed.extend(fetch.iter().map(|id| (id.clone(), Err(e.clone()))));
                    (describe_rd, fetch_rd) = (Vec::new(), Vec::new());
                }
            }
        }
        // librdkafka's describing and fetching at the same time.
        let (described_rd, committed_rd) = std::thread::scope(|s| {
            let both = !describe_rd.is_empty() && !fetch_rd.is_empty();
            let describing = both.then(|| s.spawn(|| self.describe_groups_rd(&describe_rd, deadline)));
            let committed_rd =
                if fetch_rd.is_empty() { Vec::new() } else { self.committed_offsets_rd(&fetch_rd, None, deadline) };
            let described_rd = match describing {
                Some(handle) => handle.join().ok(),
                None if !describe_rd.is_empty() => Some(self.describe_groups_rd(&describe_rd, deadline)),
                None => None,
            };
            (described_rd, committed_rd)
        });
        committed.extend(committed_rd);
        let described = match described_rd {
            // librdkafka failed as a whole while serving every group: so does the call.
            Some(Err(e)) if describe_rd.len() == describe.len() => Err(e),
            Some(Err(e)) => {
                let e = e.to_string();
                described.extend(describe_rd.into_iter().map(|id| (id, Err(e.clone()))));
                Ok(described)
            }
            Some(Ok(d)) => {
                described.extend(d);
                Ok(described)
            }
            None if !describe_rd.is_empty() => {
                let e = "describing groups failed".to_string();
                described.extend(describe_rd.into_iter().map(|id| (id, Err(e.clone()))));
                Ok(described)
            }
            None => Ok(described),
        };
        let described = described.map(|mut map| {
            describe
                .into_iter()
                .map(|id| {
                    let r =
                        map.remove(&id).unwrap_or_else(|| Err("no description returned for this group".to_string()));
                    (id, r)
                })
                .collect()
        });
        let timeout = || self.timeout("OffsetFetch", start, deadline, None).to_string();
        let committed = fetch
            .into_iter()
            .map(|id| {
                let r = committed.remove(&id).unwrap_or_else(|| Err(timeout()));
                (id, r)
            })
            .collect();
        (described, committed)
    }

    /// A group's failure in klag's client, as a message naming the cluster.
    fn wire_error(&self, fail: wire::Fail, start: Instant, deadline: Instant) -> String {
        let bootstrap = self.bootstrap.clone();
        let e = match fail {
            wire::Fail::Broker { request, detail } | wire::Fail::Failed { request, detail } => {
                KafkaError::Request { request, bootstrap, detail }
            }
            wire::Fail::Timeout { request, detail } => {
                KafkaError::Timeout { request, bootstrap, elapsed: deadline.saturating_duration_since(start), detail }
            }
        };
        e.to_string()
    }

    /// No bootstrap broker answered klag's client in time: a timeout of
    /// `request`, or "no broker answered" when librdkafka never had an answer either.
    fn no_answer_error(&self, request: &'static str, start: Instant, deadline: Instant, detail: &str) -> KafkaError {
        let (bootstrap, elapsed, detail) =
            (self.bootstrap.clone(), deadline.saturating_duration_since(start), detail.to_string());
        if self.has_metadata() {
            KafkaError::Timeout { request, bootstrap, elapsed, detail }
        } else {
            KafkaError::NoAnswer { bootstrap, elapsed, detail }
        }
    }

    /// DescribeConsumerGroups through librdkafka, one call for `ids`.
    fn describe_groups_rd(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Vec<PerGroup<GroupDescription>>, KafkaError> {
        const REQ: &str = "DescribeConsumerGroups";
        let start = Instant::now();
        let ids = dedupe(ids);
        let mut results: HashMap<String, Result<GroupDescription, String>> = HashMap::new();
        let mut send = Vec::new();
        for id in &ids {
            match CString::new(id.as_str()) {
                Ok(c) => send.push(c),
                Err(_) => {
                    results.insert(id.clone(), Err("group id contains a NUL byte".to_string()));
                }
            }
        }
        if !send.is_empty() {
            let queue = self.queue(REQ)?;
            let opts = self.options(REQ, AdminOp::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, deadline)?;
            admin::describe_groups(self.rd()?, &queue, &opts, &send);
            let ev = self.expect_event(REQ, queue.next(deadline), start, deadline)?;
            let descs = ev.group_descriptions().ok_or_else(|| self.unexpected(REQ, &ev))?;
            for (id, d) in descs {
                let d = d.map_err(|(code, text)| match code {
                    admin::ERR_TIMED_OUT => self.timeout(REQ, start, deadline, Some(text)).to_string(),
                    _ => text,
                });
                results.insert(id, d);
            }
        }
        Ok(ids
            .into_iter()
            .map(|id| {
                let r =
                    results.remove(&id).unwrap_or_else(|| Err("no description returned for this group".to_string()));
                (id, r)
            })
            .collect())
    }

    /// Committed offsets of every partition of each group: one OffsetFetch per
    /// group, all in flight at once. One entry per distinct id, in input order.
    /// Only partitions with a commit are returned by the broker.
    pub fn committed_offsets(&self, ids: &[String], deadline: Instant) -> Vec<PerGroup<Vec<CommittedOffset>>> {
        self.committed_offsets_of(ids, None, deadline)
    }

    /// Like [`Kafka::committed_offsets`] but asks each group only about
    /// `partitions` (when `Some`; duplicates ignored). Every partition asked
    /// about is returned, with `offset: None` when it has no commit. An empty
    /// list asks nothing and returns empty results.
    pub fn committed_offsets_of(
        &self,
        ids: &[String],
        partitions: Option<&[(String, i32)]>,
        deadline: Instant,
    ) -> Vec<PerGroup<Vec<CommittedOffset>>> {
        match partitions {
            None => self.describe_and_fetch(&[], ids, deadline).1,
            Some(_) => self.committed_offsets_rd(ids, partitions, deadline),
        }
    }

    /// ListConsumerGroupOffsets through librdkafka, one call per group.
    fn committed_offsets_rd(
        &self,
        ids: &[String],
        partitions: Option<&[(String, i32)]>,
        deadline: Instant,
    ) -> Vec<PerGroup<Vec<CommittedOffset>>> {
        const REQ: &str = "ListConsumerGroupOffsets";
        let start = Instant::now();
        let ids = dedupe(ids);
        if partitions.is_some_and(|p| p.is_empty()) {
            return ids.into_iter().map(|id| (id, Ok(Vec::new()))).collect();
        }
        let list = match partitions.map(partition_list).transpose() {
            Ok(l) => l,
            Err(e) => return ids.into_iter().map(|id| (id, Err(e.clone()))).collect(),
        };
        let mut results: Vec<Option<Result<Vec<CommittedOffset>, String>>> = vec![None; ids.len()];
        let (client, queue) = match self.rd().and_then(|c| Ok((c, self.queue(REQ)?))) {
            Ok(cq) => cq,
            Err(e) => return ids.into_iter().map(|id| (id, Err(e.to_string()))).collect(),
        };
        let mut pending = 0usize;
        for (i, id) in ids.iter().enumerate() {
            let sent =
                CString::new(id.as_str()).map_err(|_| "group id contains a NUL byte".to_string()).and_then(|c| {
                    let op = AdminOp::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS;
                    let mut opts = Options::new(client, op, admin_timeout(deadline))?;
                    opts.set_tag(i + 1);
                    admin::list_group_offsets(client, &queue, &opts, &c, list.as_ref())
                });
            match sent {
                Ok(()) => pending += 1,
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        while pending > 0 {
            let Some(ev) = queue.next(deadline) else {
                break;
            };
            let Some(i) = ev.tag().checked_sub(1).filter(|&i| i < ids.len() && results[i].is_none()) else {
                continue;
            };
            pending -= 1;
            let id = &ids[i];
            let r = match ev.error() {
                Some((code, text)) => Err(self.failure(REQ, code, text, start, deadline).to_string()),
                None => match ev.group_offsets() {
                    None => Err(self.unexpected(REQ, &ev).to_string()),
                    Some(groups) => groups
                        .into_iter()
                        .find(|(name, _)| name == id)
                        .map_or_else(|| Err("no offsets returned for this group".to_string()), |(_, r)| r),
                },
            };
            results[i] = Some(r);
        }
        let timeout = || self.timeout(REQ, start, deadline, None).to_string();
        ids.into_iter().zip(results).map(|(id, r)| (id, r.unwrap_or_else(|| Err(timeout())))).collect()
    }

    /// Log start and end offsets of `partitions` (duplicates ignored).
    ///
    /// Per-partition problems (unknown topic or partition, no leader, a leader
    /// that did not answer) become per-partition errors and every other
    /// partition is still exact. The call fails only when nothing at all was
    /// learned and the reason is a timeout.
    pub fn log_offsets(
        &self,
        partitions: &[(String, i32)],
        isolation: Isolation,
        deadline: Instant,
    ) -> Result<OffsetTable, KafkaError> {
        let start = Instant::now();
        let mut table = OffsetTable::new();
        let mut seen = HashSet::new();
        // Valid partitions grouped by topic, in order of first appearance.
        let mut topics: Vec<Vec<(CString, i32)>> = Vec::new();
        let mut topic_index: HashMap<&str, usize> = HashMap::new();
        for (topic, partition) in partitions {
            if !seen.insert((topic.as_str(), *partition)) {
                continue;
            }
            let bad = match CString::new(topic.as_str()) {
                _ if topic.is_empty() => "empty topic name",
                _ if *partition < 0 => "negative partition",
                Err(_) => "topic name contains a NUL byte",
                Ok(c) => {
                    let k = *topic_index.entry(topic.as_str()).or_insert_with(|| {
                        topics.push(Vec::new());
                        topics.len() - 1
                    });
                    topics[k].push((c, *partition));
                    continue;
                }
            };
            table.insert(
                (topic.clone(), *partition),
                LogOffsets { start: None, end: None, error: Some(bad.to_string()) },
            );
        }
        if topics.is_empty() {
            return Ok(table);
        }
        let all: Vec<(CString, i32)> = topics.iter().flatten().cloned().collect();
        let read_committed = isolation == Isolation::ReadCommitted;
        let mut per_spec: [HashMap<(String, i32), Result<i64, Fail>>; 2] = [HashMap::new(), HashMap::new()];
        match self.wire.as_ref().map(|w| w.list_offsets(&by_topic(&topics), read_committed, deadline)) {
            Some(Ok(found)) => {
                for (key, [s, e]) in found {
                    per_spec[0].insert(key.clone(), s.map_err(|f| self.offset_fail(f, start, deadline)));
                    per_spec[1].insert(key, e.map_err(|f| self.offset_fail(f, start, deadline)));
                }
            }
            Some(Err(wire::Unusable::Timeout(detail))) => {
                return Err(self.no_answer_error(LIST_OFFSETS, start, deadline, &detail));
            }
            Some(Err(wire::Unusable::Fallback(_))) | None => {
                per_spec = self.list_offsets_rd(&topics, &all, read_committed, start, deadline)?;
            }
        }

        let mut learned = false;
        let mut timeout: Option<String> = None;
        for (topic, partition) in &all {
            let key = (lossy(topic), *partition);
            let get = |i: usize| {
                per_spec[i].get(&key).cloned().unwrap_or_else(|| Err(Fail::other("no offset returned".to_string())))
            };
            let (s, e) = (get(0), get(1));
            for r in [&s, &e] {
                match r {
                    Ok(_) => learned = true,
                    Err(f) if f.timeout => timeout = Some(f.text.clone()),
                    Err(_) => learned = true, // an answer, even if an error
                }
            }
            let error = match (&s, &e) {
                (Err(a), Err(b)) if a.text == b.text => Some(a.text.clone()),
                (Err(a), Err(b)) => Some(format!("log start offset: {}; log end offset: {}", a.text, b.text)),
                (Err(a), Ok(_)) => Some(format!("log start offset: {}", a.text)),
                (Ok(_), Err(b)) => Some(format!("log end offset: {}", b.text)),
                (Ok(_), Ok(_)) => None,
            };
            table.insert(key, LogOffsets { start: s.ok(), end: e.ok(), error });
        }
        match timeout {
            Some(_) if !learned => Err(self.timeout(LIST_OFFSETS, start, deadline, None)),
            _ => Ok(table),
        }
    }

    /// Log start and end offsets through librdkafka.
    fn list_offsets_rd(
        &self,
        topics: &[Vec<(CString, i32)>],
        all: &[(CString, i32)],
        read_committed: bool,
        start: Instant,
        deadline: Instant,
    ) -> Result<PerSpec, KafkaError> {
        let specs = [Spec::Earliest, Spec::Latest];
        let mut per_spec: [HashMap<(String, i32), Result<i64, Fail>>; 2] = [HashMap::new(), HashMap::new()];
        // Both specs for all partitions at once. librdkafka fails a whole
        // ListOffsets when no partition has a leader ("No leaders found"),
        // and waits until its timeout when a topic's metadata stays in a
        // transient error (e.g. LEADER_NOT_AVAILABLE while being created),
        // failing every partition. So with several topics the first attempt
        // gets half the time, and a failed spec is asked again per topic.
        let first_deadline =
            if topics.len() > 1 { start + deadline.saturating_duration_since(start) / 2 } else { deadline };
        let mut retry: Vec<usize> = Vec::new();
        {
            let queue = self.queue(LIST_OFFSETS)?;
            for (i, spec) in specs.iter().enumerate() {
                self.send_list_offsets(&queue, all, *spec, read_committed, i + 1, first_deadline)?;
            }
            for (i, outcome) in self.collect(&queue, specs.len(), first_deadline).into_iter().enumerate() {
                match self.list_offsets_result(outcome, start, deadline) {
                    Ok(entries) => absorb(&mut per_spec[i], entries, &self.no_answer()),
                    Err((fail, answered)) => {
                        if answered && topics.len() > 1 {
                            retry.push(i);
                        }
                        for (t, p) in all {
                            per_spec[i].insert((lossy(t), *p), Err(fail.clone()));
                        }
                    }
                }
            }
        }
        if !retry.is_empty() && Instant::now() < deadline {
            let queue = self.queue(LIST_OFFSETS)?;
            let mut jobs = Vec::new();
            for &s in &retry {
                for (k, parts) in topics.iter().enumerate() {
                    jobs.push((s, k));
                    self.send_list_offsets(&queue, parts, specs[s], read_committed, jobs.len(), deadline)?;
                }
            }
            let outcomes = self.collect(&queue, jobs.len(), deadline);
            for ((s, k), outcome) in jobs.into_iter().zip(outcomes) {
                match self.list_offsets_result(outcome, start, deadline) {
                    Ok(entries) => absorb(&mut per_spec[s], entries, &self.no_answer()),
                    Err((fail, _)) => {
                        for (t, p) in &topics[k] {
                            per_spec[s].insert((lossy(t), *p), Err(fail.clone()));
                        }
                    }
                }
            }
        }

        Ok(per_spec)
    }

    /// A wire failure of one offset in the terms of librdkafka's path.
    fn offset_fail(&self, f: wire::OffsetFail, start: Instant, deadline: Instant) -> Fail {
        match f {
            wire::OffsetFail::Broker(text) => Fail::other(text),
            wire::OffsetFail::NoAnswer(detail) => {
                Fail { text: format!("no answer from the partition leader ({detail})"), timeout: true }
            }
            wire::OffsetFail::Timeout(detail) => Fail::timeout(KafkaError::Timeout {
                request: LIST_OFFSETS,
                bootstrap: self.bootstrap.clone(),
                elapsed: deadline.saturating_duration_since(start),
                detail,
            }),
        }
    }

    fn send_list_offsets(
        &self,
        queue: &Queue<'_>,
        parts: &[(CString, i32)],
        spec: Spec,
        read_committed: bool,
        tag: usize,
        deadline: Instant,
    ) -> Result<(), KafkaError> {
        let mut opts = self.options(LIST_OFFSETS, AdminOp::RD_KAFKA_ADMIN_OP_LISTOFFSETS, deadline)?;
        opts.set_tag(tag);
        opts.set_read_committed(read_committed).map_err(|e| self.request_error(LIST_OFFSETS, e))?;
        admin::list_offsets(self.rd()?, queue, &opts, parts, spec).map_err(|e| self.request_error(LIST_OFFSETS, e))
    }

    /// Waits for the events tagged `1..=n` on `queue`; index `i` holds tag `i + 1`.
    fn collect<'c>(&'c self, queue: &Queue<'c>, n: usize, deadline: Instant) -> Vec<Option<Event<'c>>> {
        let mut out: Vec<Option<Event<'c>>> = (0..n).map(|_| None).collect();
        let mut pending = n;
        while pending > 0 {
            let Some(ev) = queue.next(deadline) else {
                break;
            };
            if let Some(slot) = ev.tag().checked_sub(1).and_then(|i| out.get_mut(i)) {
                if slot.is_none() {
                    *slot = Some(ev);
                    pending -= 1;
                }
            }
        }
        out
    }

    /// Entries of one ListOffsets result, or why the whole call failed and
    /// whether librdkafka answered at all (as opposed to our deadline passing).
    fn list_offsets_result(
        &self,
        outcome: Option<Event<'_>>,
        start: Instant,
        deadline: Instant,
    ) -> Result<Vec<PartEntry>, (Fail, bool)> {
        let Some(ev) = outcome else {
            return Err((Fail::timeout(self.timeout(LIST_OFFSETS, start, deadline, None)), false));
        };
        if let Some((code, text)) = ev.error() {
            let fail = match code {
                admin::ERR_TIMED_OUT => Fail::timeout(self.timeout(LIST_OFFSETS, start, deadline, Some(text))),
                admin::ERR_NOENT => Fail::other(format!(
                    "no leader found: unknown topic or partition, or leader not available ({text})"
                )),
                _ => Fail::other(text),
            };
            return Err((fail, true));
        }
        let entries =
            ev.list_offsets().ok_or_else(|| (Fail::other(self.unexpected(LIST_OFFSETS, &ev).to_string()), true))?;
        Ok(entries)
    }

    fn queue(&self, req: &'static str) -> Result<Queue<'_>, KafkaError> {
        Queue::new(self.rd()?).map_err(|e| self.request_error(req, e))
    }

    fn options(&self, req: &'static str, op: AdminOp, deadline: Instant) -> Result<Options<'_>, KafkaError> {
        Options::new(self.rd()?, op, admin_timeout(deadline)).map_err(|e| self.request_error(req, e))
    }

    fn expect_event<'c>(
        &self,
        req: &'static str,
        ev: Option<Event<'c>>,
        start: Instant,
        deadline: Instant,
    ) -> Result<Event<'c>, KafkaError> {
        let ev = ev.ok_or_else(|| self.timeout(req, start, deadline, None))?;
        if let Some((code, text)) = ev.error() {
            return Err(self.failure(req, code, text, start, deadline));
        }
        Ok(ev)
    }

    fn failure(&self, req: &'static str, code: i32, text: String, start: Instant, deadline: Instant) -> KafkaError {
        if code == admin::ERR_TIMED_OUT {
            self.timeout(req, start, deadline, Some(text))
        } else {
            self.request_error(req, text)
        }
    }

    /// A timeout of a call that started at `start` and had until `deadline`,
    /// explained by librdkafka's message and the client's latest errors.
    fn timeout(&self, req: &'static str, start: Instant, deadline: Instant, detail: Option<String>) -> KafkaError {
        if let Some(detail) = self.client.get().and_then(|c| c.as_ref().ok()).and_then(Client::auth_failure) {
            return KafkaError::Auth { bootstrap: self.bootstrap.clone(), detail };
        }
        let detail = detail.unwrap_or_else(|| "Local: Timed out".to_string()) + &self.client_hint();
        let bootstrap = self.bootstrap.clone();
        let elapsed = deadline.saturating_duration_since(start);
        if self.has_metadata() {
            KafkaError::Timeout { request: req, bootstrap, elapsed, detail }
        } else {
            KafkaError::NoAnswer { bootstrap, elapsed, detail }
        }
    }

    /// Why a ListOffsets result has a partition without offset or error.
    fn no_answer(&self) -> String {
        format!("no answer from the partition leader{}", self.client_hint())
    }

    /// "; last client error: ..." (naming the broker that failed), or "".
    fn client_hint(&self) -> String {
        let Some(Ok(client)) = self.client.get() else { return String::new() };
        client.serve();
        let recent = client.recent_errors();
        // "N/M brokers are down" only adds something when nothing else was said.
        let telling = recent.iter().rfind(|e| !e.ends_with("brokers are down"));
        match telling.or(recent.last()) {
            Some(last) => format!("; last client error: {last}"),
            None => String::new(),
        }
    }

    fn request_error(&self, req: &'static str, detail: String) -> KafkaError {
        KafkaError::Request { request: req, bootstrap: self.bootstrap.clone(), detail }
    }

    fn unexpected(&self, req: &'static str, ev: &Event<'_>) -> KafkaError {
        self.request_error(req, format!("unexpected librdkafka event type {}", ev.kind()))
    }
}

/// Why one offset of one partition is unknown.
#[derive(Debug, Clone)]
struct Fail {
    text: String,
    /// Nothing answered in time (as opposed to an answer that is an error).
    timeout: bool,
}

impl Fail {
    fn other(text: String) -> Fail {
        Fail { text, timeout: false }
    }

    fn timeout(err: KafkaError) -> Fail {
        Fail { text: err.to_string(), timeout: true }
    }
}

/// Adds ListOffsets entries to a per-spec map. `no_answer` explains entries
/// librdkafka left without offset or error.
fn absorb(map: &mut HashMap<(String, i32), Result<i64, Fail>>, entries: Vec<PartEntry>, no_answer: &str) {
    for e in entries {
        let r = if e.err != 0 {
            Err(Fail::other(admin::err_text(e.err)))
        } else if e.offset < 0 {
            // librdkafka leaves a partition at -1001 without an error when the
            // request to its leader failed or timed out.
            Err(Fail { text: no_answer.to_string(), timeout: true })
        } else {
            Ok(e.offset)
        };
        map.insert((e.topic, e.partition), r);
    }
}

/// Partitions by topic name, for klag's client.
fn by_topic(topics: &[Vec<(CString, i32)>]) -> Vec<(String, Vec<i32>)> {
    topics
        .iter()
        .filter_map(|parts| {
            let (first, _) = parts.first()?;
            Some((lossy(first), parts.iter().map(|(_, p)| *p).collect()))
        })
        .collect()
}

fn lossy(s: &CString) -> String {
    s.to_string_lossy().into_owned()
}

/// A librdkafka partition list of `partitions` without duplicates.
fn partition_list(partitions: &[(String, i32)]) -> Result<admin::PartitionList, String> {
    let mut seen = HashSet::new();
    let mut list = admin::PartitionList::new(partitions.len())?;
    for (topic, partition) in partitions {
        if seen.insert((topic.as_str(), *partition)) {
            let t = CString::new(topic.as_str()).map_err(|_| format!("topic name {topic:?} contains a NUL byte"))?;
            list.add(&t, *partition, admin::OFFSET_INVALID);
        }
    }
    Ok(list)
}

/// Joins error texts, counting repeats: "a (3 times); b".
fn summarize(texts: impl IntoIterator<Item = String>) -> String {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for t in texts {
        match counted.iter_mut().find(|(s, _)| *s == t) {
            Some((_, n)) => *n += 1,
            None => counted.push((t, 1)),
        }
    }
    let parts: Vec<String> =
        counted.into_iter().map(|(t, n)| if n > 1 { format!("{t} ({n} times)") } else { t }).collect();
    parts.join("; ")
}

fn dedupe(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(props: &[(&str, &str)]) -> KafkaSettings {
        KafkaSettings {
            bootstrap: "127.0.0.1:1".into(),
            timeout: Duration::from_secs(2),
            security: Security::default(),
            properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn secs_formats_tenths() {
        assert_eq!(secs(Duration::from_secs(10)), "10s");
        assert_eq!(secs(Duration::from_millis(10_020)), "10s");
        assert_eq!(secs(Duration::from_millis(2_460)), "2.5s");
        assert_eq!(secs(Duration::from_millis(40)), "0s");
    }

    #[test]
    fn secret_properties() {
        assert!(is_secret_property("sasl.password"));
        assert!(is_secret_property("ssl.key.password"));
        assert!(is_secret_property("sasl.oauthbearer.client.secret"));
        assert!(is_secret_property("ssl.key.pem"));
        assert!(is_secret_property("ssl.keystore.password"));
        assert!(is_secret_property("sasl.oauthbearer.client.credentials.client.secret"));
        assert!(is_secret_property("sasl.oauthbearer.assertion.private.key.passphrase"));
        assert!(is_secret_property("sasl.oauthbearer.assertion.private.key.pem"));
        assert!(is_secret_property("SASL.PASSWORD"));
        assert!(!is_secret_property("sasl.oauthbearer.token.endpoint.url"));
        assert!(!is_secret_property("ssl.key.location"));
        assert!(!is_secret_property("sasl.username"));
        assert!(!is_secret_property("debug"));
        assert!(!is_secret_property("security.protocol"));
    }

    #[test]
    fn connect_needs_no_network() {
        let k = Kafka::connect(&settings(&[]));
        assert!(k.is_ok(), "{k:?}");
    }

    #[test]
    fn bad_property_names_key_and_address() {
        let e = Kafka::connect(&settings(&[("no.such.property", "1")])).map(|_| ()).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("no.such.property") && e.contains("127.0.0.1:1"), "{e}");
    }

    #[test]
    fn secret_value_is_never_printed() {
        // An invalid value for a secret-looking property must not be echoed.
        let e = Kafka::connect(&settings(&[("ssl.key.password", "hunter2\0x")])).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("ssl.key.password") && !e.contains("hunter2"), "{e}");
        let e = Kafka::connect(&settings(&[("sasl.oauthbearer.client.secret", "s3cr3t"), ("sasl.mechanism", "BOGUS")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn empty_requests_need_no_network() {
        let Ok(k) = Kafka::connect(&settings(&[])) else { panic!("connect") };
        let deadline = Instant::now() + Duration::from_secs(1);
        let t = k.log_offsets(&[], Isolation::ReadUncommitted, deadline);
        assert!(t.map(|t| t.is_empty()).unwrap_or(false));
        assert!(k.committed_offsets(&[], deadline).is_empty());
        assert!(k.describe_groups(&[], deadline).map(|d| d.is_empty()).unwrap_or(false));
    }

    #[test]
    fn invalid_partitions_are_reported_without_network() {
        let Ok(k) = Kafka::connect(&settings(&[])) else { panic!("connect") };
        let deadline = Instant::now() + Duration::from_secs(1);
        let parts = vec![("".to_string(), 0), ("t".to_string(), -1), ("a\0b".to_string(), 0), ("t".to_string(), -1)];
        let t = k.log_offsets(&parts, Isolation::ReadUncommitted, deadline).unwrap_or_default();
        assert_eq!(t.len(), 3);
        assert!(t.values().all(|l| l.error.is_some() && l.start.is_none()));
    }

    #[test]
    fn dedupe_keeps_first_order() {
        let ids: Vec<String> = ["b", "a", "b", "c", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(dedupe(&ids), vec!["b", "a", "c"]);
    }
}
