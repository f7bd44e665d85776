//! Group descriptions and committed offsets: per coordinator, one
//! DescribeGroups (and one ConsumerGroupDescribe where the broker has it) and
//! one OffsetFetch for all its groups, pipelined on one connection, all
//! coordinators at once.
//!
//! A group's coordinator is the broker that listed it, else FindCoordinator
//! (one request for every group). Groups whose coordinator moved, is loading
//! or is not elected yet are asked again, FindCoordinator first, until the
//! deadline.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::conn::{Conn, ConnError};
use super::messages::{self, errors};
use super::{codec, concurrently, lock, state_name, Node, Unusable, Wire};
use crate::kafka::admin::err_text;
use crate::kafka::{CommittedOffset, GroupDescription, Member};

/// Why a group could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fail {
    /// The broker answered with an error.
    Broker { request: &'static str, detail: String },
    /// The connection failed or the answer did not parse.
    Failed { request: &'static str, detail: String },
    /// Nothing answered by the deadline; `detail` says what was last tried.
    Timeout { request: &'static str, detail: String },
}

pub(crate) type Described = (String, Result<GroupDescription, Fail>);
pub(crate) type Fetched = (String, Result<Vec<CommittedOffset>, Fail>);

/// What one call learned. Groups this client could not serve (their
/// coordinator is too old) are listed for librdkafka's path.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub described: Vec<Described>,
    pub committed: Vec<Fetched>,
    pub describe_elsewhere: Vec<String>,
    pub fetch_elsewhere: Vec<String>,
}

/// What a group still needs, and why the last try failed.
#[derive(Debug, Default)]
struct Want {
    describe: bool,
    fetch: bool,
    reason: Option<String>,
}

/// One coordinator's answer for one group.
#[derive(Debug)]
enum Answer {
    Described(String, Result<GroupDescription, Fail>),
    Fetched(String, Result<Vec<CommittedOffset>, Fail>),
    /// Ask again (coordinator moved, loading, unreachable): `describe` says which.
    Retry {
        group: String,
        describe: bool,
        reason: String,
    },
    /// Not for this client (coordinator too old).
    Elsewhere {
        group: String,
        describe: bool,
    },
}

/// `(group, describe?, fetch?)` for one coordinator.
type Job = (Node, Vec<(String, bool, bool)>);

const DESCRIBE: &str = "DescribeGroups";
const FETCH: &str = "OffsetFetch";
const FIND: &str = "FindCoordinator";

impl Wire {
    /// Describes `describe` and fetches the committed offsets of `fetch`
    /// (ids without duplicates), by `deadline`.
    pub(crate) fn read(&self, describe: &[String], fetch: &[String], deadline: Instant) -> Result<Outcome, Unusable> {
        let mut wants: BTreeMap<String, Want> = BTreeMap::new();
        for g in describe {
            wants.entry(g.clone()).or_default().describe = true;
        }
        for g in fetch {
            wants.entry(g.clone()).or_default().fetch = true;
        }
        // Coordinators the listing found; the others are looked up.
        let mut known: BTreeMap<Node, Vec<String>> = BTreeMap::new();
        {
            let coordinators = lock(&self.coordinators);
            for g in wants.keys() {
                if let Some(node) = coordinators.get(g) {
                    known.entry(node.clone()).or_default().push(g.clone());
                }
            }
        }
        if known.values().map(Vec::len).sum::<usize>() < wants.len() {
            // Someone must answer FindCoordinator: a broker that cannot is
            // left to librdkafka, as is a cluster whose bootstrap brokers all
            // refuse (librdkafka retries and explains).
            let conn = self.any_conn(deadline)?;
            let supported = conn.versions.supports(messages::FIND_COORDINATOR, messages::FIND_COORDINATOR_VERSION);
            let label = conn.label.clone();
            self.give_back(conn);
            if !supported {
                return Err(Unusable::Fallback(format!("{label} has no FindCoordinator v4")));
            }
        }
        let mut out = Outcome::default();
        let mut backoff = Duration::from_millis(20);
        let mut first = true;
        while !wants.is_empty() {
            let hints = if first { std::mem::take(&mut known) } else { BTreeMap::new() };
            first = false;
            self.round(&mut wants, hints, &mut out, deadline);
            if wants.is_empty() || Instant::now() + backoff >= deadline {
                break;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        for (group, want) in wants {
            let detail = want.reason.unwrap_or_else(|| "no answer".to_string());
            if want.describe {
                out.described.push((group.clone(), Err(Fail::Timeout { request: DESCRIBE, detail: detail.clone() })));
            }
            if want.fetch {
                out.committed.push((group, Err(Fail::Timeout { request: FETCH, detail })));
            }
        }
        Ok(out)
    }

    /// One FindCoordinator for every group still wanted whose coordinator
    /// `hints` do not give, then every coordinator's requests at once.
    fn round(
        &self,
        wants: &mut BTreeMap<String, Want>,
        hints: BTreeMap<Node, Vec<String>>,
        out: &mut Outcome,
        deadline: Instant,
    ) {
        let mut jobs: BTreeMap<Node, Vec<(String, bool, bool)>> = BTreeMap::new();
        for (node, groups) in hints {
            for g in groups {
                if let Some(w) = wants.get(&g) {
                    jobs.entry(node.clone()).or_default().push((g, w.describe, w.fetch));
                }
            }
        }
        let hinted: usize = jobs.values().map(Vec::len).sum();
        if hinted < wants.len() {
            let unknown: Vec<String> = {
                let known: std::collections::HashSet<&str> =
                    jobs.values().flatten().map(|(g, _, _)| g.as_str()).collect();
                wants.keys().filter(|g| !known.contains(g.as_str())).cloned().collect()
            };
            self.find(wants, &unknown, &mut jobs, out, deadline);
        }
        let work: Vec<Job> = jobs.into_iter().collect();
        for (job, answers) in work.iter().zip(concurrently(&work, |job| self.serve(job, deadline))) {
            let answers = answers.unwrap_or_else(|| {
                let reason = "internal error: a coordinator's thread failed".to_string();
                let mut v = Vec::new();
                for (g, d, f) in &job.1 {
                    for (want, describe) in [(*d, true), (*f, false)] {
                        if want {
                            v.push(Answer::Retry { group: g.clone(), describe, reason: reason.clone() });
                        }
                    }
                }
                v
            });
            for a in answers {
                absorb(wants, out, a);
            }
        }
    }

    /// FindCoordinator for `groups`; adds them to the jobs of their coordinators.
    fn find(
        &self,
        wants: &mut BTreeMap<String, Want>,
        groups: &[String],
        jobs: &mut BTreeMap<Node, Vec<(String, bool, bool)>>,
        out: &mut Outcome,
        deadline: Instant,
    ) {
        let coordinators = match self.find_coordinators(groups, deadline) {
            Ok(c) => c,
            Err(e) => {
                let reason = e.to_string();
                if let ConnError::Malformed(_) = e {
                    for g in groups {
                        if let Some(w) = wants.remove(g) {
                            fail_group(out, g, &w, Fail::Failed { request: FIND, detail: reason.clone() });
                        }
                    }
                }
                for g in groups {
                    if let Some(w) = wants.get_mut(g) {
                        w.reason = Some(reason.clone());
                    }
                }
                return;
            }
        };
        for g in groups {
            if let Some(w) = wants.get_mut(g) {
                w.reason = Some(format!("{FIND}: no coordinator returned for this group"));
            }
        }
        for c in coordinators {
            let Some(want) = wants.get_mut(&c.key) else { continue };
            if c.error_code != 0 {
                let detail = c.error_message.filter(|m| !m.is_empty()).unwrap_or_else(|| err_text(c.error_code.into()));
                if errors::is_coordinator_retry(c.error_code) {
                    want.reason = Some(format!("{FIND}: {detail}"));
                } else if let Some(w) = wants.remove(&c.key) {
                    fail_group(out, &c.key, &w, Fail::Broker { request: FIND, detail });
                }
                continue;
            }
            let Ok(port) = u16::try_from(c.port) else {
                want.reason = Some(format!("{FIND}: coordinator {} has port {}", c.node_id, c.port));
                continue;
            };
            want.reason = None;
            let node = Node { id: c.node_id, host: c.host, port };
            jobs.entry(node).or_default().push((c.key, want.describe, want.fetch));
        }
    }

    /// FindCoordinator for `groups` on any connection.
    fn find_coordinators(&self, groups: &[String], deadline: Instant) -> Result<Vec<messages::Coordinator>, ConnError> {
        let mut conn = self.any_conn(deadline).map_err(|e| match e {
            Unusable::Timeout(t) => ConnError::Timeout(t),
            Unusable::Fallback(t) => ConnError::Io(t),
        })?;
        let keys: Vec<&str> = groups.iter().map(String::as_str).collect();
        let body = messages::find_coordinator_request(&keys);
        let key = (messages::FIND_COORDINATOR, messages::FIND_COORDINATOR_VERSION);
        let response = Wire::ask(&mut conn, key.0, key.1, &body, deadline)?;
        let parsed = messages::parse_find_coordinator(response.body())
            .map_err(|e| ConnError::Malformed(format!("{}: {e}", conn.label)))?;
        self.give_back(conn);
        Ok(parsed)
    }

    /// Everything one coordinator is asked, pipelined on one connection:
    /// ConsumerGroupDescribe (when the broker has it) and DescribeGroups for
    /// the groups to describe, OffsetFetch for the groups to fetch.
    fn serve(&self, (node, groups): &Job, deadline: Instant) -> Vec<Answer> {
        let mut answers = Vec::new();
        let mut describe: Vec<&str> = groups.iter().filter(|g| g.1).map(|g| g.0.as_str()).collect();
        let mut fetch: Vec<&str> = groups.iter().filter(|g| g.2).map(|g| g.0.as_str()).collect();
        let mut conn = match self.conn_to(node, deadline) {
            Ok(c) => c,
            Err(e) => {
                retry_all(&mut answers, &describe, &fetch, &e);
                return answers;
            }
        };
        if !describe.is_empty() && !conn.versions.supports(messages::DESCRIBE_GROUPS, messages::DESCRIBE_GROUPS_VERSION)
        {
            answers.extend(describe.drain(..).map(|g| Answer::Elsewhere { group: g.to_string(), describe: true }));
        }
        if !fetch.is_empty() && !conn.versions.supports(messages::OFFSET_FETCH, messages::OFFSET_FETCH_VERSION) {
            answers.extend(fetch.drain(..).map(|g| Answer::Elsewhere { group: g.to_string(), describe: false }));
        }
        let use_cgd = !describe.is_empty()
            && conn.versions.supports(messages::CONSUMER_GROUP_DESCRIBE, messages::CONSUMER_GROUP_DESCRIBE_VERSION);
        let mut requests: Vec<(i16, i16, Vec<u8>)> = Vec::new();
        if use_cgd {
            let body = messages::consumer_group_describe_request(&describe);
            requests.push((messages::CONSUMER_GROUP_DESCRIBE, messages::CONSUMER_GROUP_DESCRIBE_VERSION, body));
        }
        if !describe.is_empty() {
            let body = messages::describe_groups_request(&describe);
            requests.push((messages::DESCRIBE_GROUPS, messages::DESCRIBE_GROUPS_VERSION, body));
        }
        if !fetch.is_empty() {
            requests.push((
                messages::OFFSET_FETCH,
                messages::OFFSET_FETCH_VERSION,
                messages::offset_fetch_request(&fetch),
            ));
        }
        for (key, version, body) in &requests {
            if let Err(e) = conn.send(*key, *version, body, deadline) {
                retry_all(&mut answers, &describe, &fetch, &e);
                return answers;
            }
        }
        let mut cgd: Option<Vec<messages::DescribedGroup>> = None;
        let mut dg: Vec<messages::DescribedGroup> = Vec::new();
        for (key, _, _) in &requests {
            if let Err(e) = receive(&mut conn, *key, deadline, &mut cgd, &mut dg, &mut fetch, &mut answers) {
                retry_all(&mut answers, &describe, &fetch, &e);
                return answers;
            }
        }
        if !describe.is_empty() {
            answers.extend(described(&describe, cgd, dg));
        }
        self.give_back(conn);
        answers
    }
}

/// Reads one of [`Wire::serve`]'s responses into its slot; an OffsetFetch
/// answers (and clears) `fetch`.
fn receive(
    conn: &mut Conn,
    key: i16,
    deadline: Instant,
    cgd: &mut Option<Vec<messages::DescribedGroup>>,
    dg: &mut Vec<messages::DescribedGroup>,
    fetch: &mut Vec<&str>,
    answers: &mut Vec<Answer>,
) -> Result<(), ConnError> {
    let r = conn.recv(deadline)?;
    let malformed = |e: codec::Malformed| ConnError::Malformed(format!("{}: {e}", conn.label));
    match key {
        messages::CONSUMER_GROUP_DESCRIBE => {
            *cgd = Some(messages::parse_consumer_group_describe(r.body()).map_err(malformed)?)
        }
        messages::DESCRIBE_GROUPS => *dg = messages::parse_describe_groups(r.body()).map_err(malformed)?,
        _ => {
            let groups = messages::parse_offset_fetch(r.body()).map_err(malformed)?;
            answers.extend(fetched(fetch, groups));
            fetch.clear();
        }
    }
    Ok(())
}

/// Every group still unanswered after `e`: asked again, unless the answer
/// did not parse (asking again would not help).
fn retry_all(answers: &mut Vec<Answer>, describe: &[&str], fetch: &[&str], e: &ConnError) {
    let answered: std::collections::HashSet<(String, bool)> = answers
        .iter()
        .map(|a| match a {
            Answer::Described(g, _) => (g.clone(), true),
            Answer::Fetched(g, _) => (g.clone(), false),
            Answer::Retry { group, describe, .. } | Answer::Elsewhere { group, describe } => (group.clone(), *describe),
        })
        .collect();
    for (list, is_describe, request) in [(describe, true, DESCRIBE), (fetch, false, FETCH)] {
        for g in list.iter().filter(|g| !answered.contains(&(g.to_string(), is_describe))) {
            answers.push(match e {
                ConnError::Malformed(t) => {
                    let fail = Fail::Failed { request, detail: t.clone() };
                    if is_describe {
                        Answer::Described(g.to_string(), Err(fail))
                    } else {
                        Answer::Fetched(g.to_string(), Err(fail))
                    }
                }
                _ => Answer::Retry { group: g.to_string(), describe: is_describe, reason: e.to_string() },
            });
        }
    }
}

/// Records a final failure for everything `want` still needs of `group`.
fn fail_group(out: &mut Outcome, group: &str, want: &Want, fail: Fail) {
    if want.describe {
        out.described.push((group.to_string(), Err(fail.clone())));
    }
    if want.fetch {
        out.committed.push((group.to_string(), Err(fail)));
    }
}

/// Applies one answer to what is still wanted.
fn absorb(wants: &mut BTreeMap<String, Want>, out: &mut Outcome, answer: Answer) {
    let (group, describe) = match &answer {
        Answer::Described(g, _) => (g.clone(), true),
        Answer::Fetched(g, _) => (g.clone(), false),
        Answer::Retry { group, describe, .. } | Answer::Elsewhere { group, describe } => (group.clone(), *describe),
    };
    let Some(want) = wants.get_mut(&group) else { return };
    if (describe && !want.describe) || (!describe && !want.fetch) {
        return; // already settled
    }
    match answer {
        Answer::Described(g, r) => {
            want.describe = false;
            out.described.push((g, r));
        }
        Answer::Fetched(g, r) => {
            want.fetch = false;
            out.committed.push((g, r));
        }
        Answer::Retry { reason, .. } => {
            want.reason = Some(reason);
            return;
        }
        Answer::Elsewhere { group, describe: true } => {
            want.describe = false;
            out.describe_elsewhere.push(group);
        }
        Answer::Elsewhere { group, describe: false } => {
            want.fetch = false;
            out.fetch_elsewhere.push(group);
        }
    }
    if !want.describe && !want.fetch {
        wants.remove(&group);
    }
}

/// OffsetFetch results in klag's terms, one answer per group asked.
fn fetched(asked: &[&str], groups: Vec<messages::FetchedGroup>) -> Vec<Answer> {
    let mut by_id: HashMap<String, messages::FetchedGroup> =
        groups.into_iter().map(|g| (g.group_id.clone(), g)).collect();
    asked
        .iter()
        .map(|&id| {
            let Some(g) = by_id.remove(id) else {
                let fail = Fail::Failed { request: FETCH, detail: "no offsets returned for this group".to_string() };
                return Answer::Fetched(id.to_string(), Err(fail));
            };
            if errors::is_coordinator_retry(g.error_code) {
                let reason = format!("{FETCH}: {}", err_text(g.error_code.into()));
                return Answer::Retry { group: g.group_id, describe: false, reason };
            }
            if g.error_code != 0 {
                let fail = Fail::Broker { request: FETCH, detail: err_text(g.error_code.into()) };
                return Answer::Fetched(g.group_id, Err(fail));
            }
            // Sorted by topic and partition (the broker's order is its map's):
            // integer sorts here spare the join string comparisons.
            let mut topics = g.topics;
            topics.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut offsets = Vec::with_capacity(topics.iter().map(|(_, p)| p.len()).sum());
            for (topic, mut partitions) in topics {
                partitions.sort_unstable_by_key(|p| p.partition);
                for p in partitions {
                    offsets.push(CommittedOffset {
                        topic: topic.clone(),
                        partition: p.partition,
                        // The broker's -1 (or any negative): nothing committed.
                        offset: (p.offset >= 0).then_some(p.offset),
                        error: (p.error_code != 0).then(|| err_text(p.error_code.into())),
                    });
                }
            }
            Answer::Fetched(g.group_id, Ok(offsets))
        })
        .collect()
}

/// Descriptions in klag's terms, choosing as librdkafka does: the
/// ConsumerGroupDescribe answer (KIP-848 groups), unless it says the group is
/// not one (GROUP_ID_NOT_FOUND) or the version is unsupported, then the
/// DescribeGroups answer.
fn described(
    asked: &[&str],
    cgd: Option<Vec<messages::DescribedGroup>>,
    dg: Vec<messages::DescribedGroup>,
) -> Vec<Answer> {
    let mut cgd: HashMap<String, messages::DescribedGroup> =
        cgd.unwrap_or_default().into_iter().map(|g| (g.group_id.clone(), g)).collect();
    let mut dg: HashMap<String, messages::DescribedGroup> = dg.into_iter().map(|g| (g.group_id.clone(), g)).collect();
    asked
        .iter()
        .map(|&id| {
            let (g, request) = match cgd.remove(id) {
                Some(g) if !matches!(g.error_code, errors::GROUP_ID_NOT_FOUND | errors::UNSUPPORTED_VERSION) => {
                    (Some(g), "ConsumerGroupDescribe")
                }
                _ => (dg.remove(id), DESCRIBE),
            };
            let Some(g) = g else {
                let fail = Fail::Failed { request, detail: "no description returned for this group".to_string() };
                return Answer::Described(id.to_string(), Err(fail));
            };
            if errors::is_coordinator_retry(g.error_code) {
                let reason = format!("{request}: {}", err_text(g.error_code.into()));
                return Answer::Retry { group: g.group_id, describe: true, reason };
            }
            Answer::Described(id.to_string(), description(g, request))
        })
        .collect()
}

fn description(g: messages::DescribedGroup, request: &'static str) -> Result<GroupDescription, Fail> {
    if g.error_code != 0 {
        let detail = g.error_message.filter(|m| !m.is_empty()).unwrap_or_else(|| err_text(g.error_code.into()));
        return Err(Fail::Broker { request, detail });
    }
    if !g.protocol_type.is_empty() && g.protocol_type != "consumer" {
        let detail = format!("GroupId {} is not a consumer group ({}).", g.group_id, g.protocol_type);
        return Err(Fail::Broker { request, detail });
    }
    let mut members = Vec::with_capacity(g.members.len());
    for m in g.members {
        let assignment = m
            .assignment
            .map_err(|e| Fail::Failed { request, detail: format!("assignment of member {}: {e}", m.member_id) })?;
        members.push(Member { consumer_id: m.member_id, client_id: m.client_id, host: m.client_host, assignment });
    }
    Ok(GroupDescription { group_id: g.group_id, state: state_name(&g.state), members })
}
