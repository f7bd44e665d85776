//! Listing the groups: one Metadata for the brokers, then one ListGroups to
//! every broker at once. Each broker lists the groups it coordinates, which
//! spares the group phase its FindCoordinator.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::conn::ConnError;
use super::messages::{self, errors};
use super::{concurrently, lock, state_name, Node, Unusable, Wire};
use crate::kafka::admin::err_text;
use crate::kafka::GroupListing;

/// The groups of the cluster, and the brokers that could not list theirs.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub groups: Vec<GroupListing>,
    /// What happened to each broker that failed.
    pub failures: Vec<(ListFailure, String)>,
}

/// How a broker failed to list its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListFailure {
    /// No answer by the deadline.
    Timeout,
    /// Unreachable: refused, reset, closed.
    NoAnswer,
    /// It answered with an error.
    Error,
}

/// One broker's answer: the groups it listed (kept alongside an error, as
/// librdkafka keeps them: a broker still loading some groups lists the
/// others), and what went wrong.
enum Listed {
    Answer(Vec<messages::ListedGroup>, Option<(ListFailure, String)>),
    /// The broker has no ListGroups v4.
    Unsupported,
}

/// How long a broker still loading its groups is asked again.
const LOADING_RETRY: Duration = Duration::from_secs(1);

impl Wire {
    /// Every consumer group (and simple group) of the cluster, by `deadline`.
    pub(crate) fn list_groups(&self, deadline: Instant) -> Result<Listing, Unusable> {
        let brokers = self.brokers(deadline)?;
        let answers = concurrently(&brokers, |node| self.list_one(node, deadline));
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        let mut coordinators = lock(&self.coordinators);
        for (node, answer) in brokers.iter().zip(answers) {
            let failed = (ListFailure::Error, format!("{}: internal error", node.label()));
            match answer.unwrap_or(Listed::Answer(Vec::new(), Some(failed))) {
                Listed::Unsupported => {
                    return Err(Unusable::Fallback(format!("{} has no ListGroups v4", node.label())))
                }
                Listed::Answer(groups, failure) => {
                    listing.failures.extend(failure);
                    for g in groups {
                        // librdkafka lists consumer groups and simple (protocol-less) ones.
                        let is_simple = g.protocol_type.is_empty();
                        if !is_simple && g.protocol_type != "consumer" {
                            continue;
                        }
                        coordinators.insert(g.group_id.clone(), node.clone());
                        if seen.insert(g.group_id.clone()) {
                            let state = state_name(&g.state);
                            listing.groups.push(GroupListing { group_id: g.group_id, state, is_simple });
                        }
                    }
                }
            }
        }
        Ok(listing)
    }

    /// The cluster's brokers, from Metadata on any connection.
    fn brokers(&self, deadline: Instant) -> Result<Vec<Node>, Unusable> {
        let metadata = self.metadata(&[], deadline)?;
        let nodes: Vec<Node> = metadata
            .brokers
            .into_iter()
            .filter_map(|b| Some(Node { id: b.node_id, host: b.host, port: u16::try_from(b.port).ok()? }))
            .collect();
        if nodes.is_empty() {
            return Err(Unusable::Fallback("Metadata named no broker".to_string()));
        }
        Ok(nodes)
    }

    /// ListGroups on one broker. A broker still loading groups is asked
    /// again for a while, a connection that breaks is opened once more.
    fn list_one(&self, node: &Node, deadline: Instant) -> Listed {
        let failed = |e: ConnError| {
            let how = if let ConnError::Timeout(_) = e { ListFailure::Timeout } else { ListFailure::NoAnswer };
            Some((how, e.to_string()))
        };
        let body = messages::list_groups_request();
        let retry_until = deadline.min(Instant::now() + LOADING_RETRY);
        let mut backoff = Duration::from_millis(20);
        let mut reopened = false;
        let mut last: Vec<messages::ListedGroup> = Vec::new();
        loop {
            let mut conn = match self.conn_to(node, deadline) {
                Ok(c) => c,
                Err(e) => return Listed::Answer(last, failed(e)),
            };
            if !conn.versions.supports(messages::LIST_GROUPS, messages::LIST_GROUPS_VERSION) {
                self.give_back(conn);
                return Listed::Unsupported;
            }
            let answer = Wire::ask(&mut conn, messages::LIST_GROUPS, messages::LIST_GROUPS_VERSION, &body, deadline)
                .and_then(|r| {
                    messages::parse_list_groups(r.body())
                        .map_err(|e| ConnError::Malformed(format!("{}: {e}", conn.label)))
                });
            let (code, groups) = match answer {
                Ok(a) => a,
                Err(ConnError::Io(_)) if !reopened => {
                    reopened = true;
                    continue;
                }
                Err(e) => return Listed::Answer(last, failed(e)),
            };
            let label = conn.label.clone();
            self.give_back(conn);
            if errors::is_coordinator_retry(code) && Instant::now() + backoff < retry_until {
                last = groups;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
            let failure = match code {
                0 => None,
                code => Some((ListFailure::Error, format!("{label}: {}", err_text(code.into())))),
            };
            return Listed::Answer(groups, failure);
        }
    }
}
