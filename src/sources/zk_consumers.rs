//! Classic (0.8-era) consumer groups that store offsets in ZooKeeper:
//! - `/consumers/<group>/offsets/<topic>/<partition>`: decimal text, the next offset;
//! - `/consumers/<group>/owners/<topic>/<partition>`: `<consumerId>-<threadId>` (ephemeral);
//! - `/consumers/<group>/ids/<consumerId>`: member registration JSON (ephemeral).
//!
//! A partition with an owner but no offset node is reported with no commit.

use std::collections::{BTreeMap, BTreeSet};

use crate::lag::{Committed, GroupInfo, Owner, Source};
use crate::sources::SourceResult;
use crate::zk::{self, parse_json, Fields, NodeError, Problem, Zk};

/// Where classic consumers live.
pub const CONSUMERS: &str = "/consumers";

/// Parses an offset node: decimal text, surrounding whitespace allowed.
pub fn parse_offset(path: &str, data: &[u8]) -> Result<i64, NodeError> {
    let text = std::str::from_utf8(data).map_err(|_| NodeError::new(path, Problem::NotUtf8))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(NodeError::new(path, Problem::Empty));
    }
    let value: i64 = text.parse().map_err(|_| NodeError::new(path, Problem::NotDecimal(shorten(text))))?;
    if value < 0 {
        return Err(NodeError::new(path, Problem::NegativeOffset(value)));
    }
    Ok(value)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// A partition node name under `offsets/<topic>` or `owners/<topic>`.
pub fn parse_partition_name(name: &str) -> Option<i32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Parses an owner node `<consumerId>-<threadId>`. The host is recovered from
/// the generated consumer id `<group>_<host>-<millis>-<uuid8>`; a consumer id
/// set in the consumer's config gives no host.
pub fn parse_owner(path: &str, group: &str, data: &[u8]) -> Result<Owner, NodeError> {
    let text = std::str::from_utf8(data).map_err(|_| NodeError::new(path, Problem::NotUtf8))?;
    let owner = text.trim();
    if owner.is_empty() {
        return Err(NodeError::new(path, Problem::Empty));
    }
    Ok(Owner { consumer_id: Some(owner.to_string()), host: owner_host(group, owner), client_id: None })
}

fn owner_host(group: &str, owner: &str) -> Option<String> {
    let rest = owner.strip_prefix(group)?.strip_prefix('_')?;
    let mut parts = rest.rsplitn(4, '-');
    let thread = parts.next()?;
    let uuid = parts.next()?;
    let millis = parts.next()?;
    let host = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let hex8 = uuid.len() == 8 && uuid.bytes().all(|b| b.is_ascii_hexdigit());
    (digits(thread) && digits(millis) && hex8 && !host.is_empty()).then(|| host.to_string())
}

/// A member registration under `ids/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub version: Option<i64>,
    /// Topic to stream count (static) or pattern to count (white/black list).
    pub subscription: BTreeMap<String, i64>,
    /// `static`, `white_list` or `black_list`.
    pub pattern: Option<String>,
    pub timestamp: Option<String>,
}

/// Parses `{"version":1,"subscription":{"t":1},"pattern":"static","timestamp":"..."}`.
pub fn parse_member(path: &str, data: &[u8]) -> Result<Member, NodeError> {
    let value = parse_json(path, data)?;
    let fields = Fields::of(path, &value)?;
    let mut subscription = BTreeMap::new();
    if let Some(sub) = fields.opt_object("subscription", "subscription")? {
        for key in sub.map().keys() {
            if let Some(count) = sub.opt_i64(key)? {
                subscription.insert(key.clone(), count);
            }
        }
    }
    // Kafka writes the timestamp as a string; accept a number too.
    let timestamp = match fields.get("timestamp") {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => fields.opt_str("timestamp")?.map(str::to_string),
    };
    Ok(Member {
        version: fields.opt_i64("version")?,
        subscription,
        pattern: fields.opt_str("pattern")?.map(str::to_string),
        timestamp,
    })
}

/// A classic group, for discovery listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkGroup {
    pub group: String,
    /// Registered members (`ids/` children).
    pub members: u32,
    /// Topics with offset or owner nodes.
    pub topics: Vec<String>,
}

struct GroupDir {
    group: String,
    members: Option<u32>,
    error: Option<String>,
    offset_topics: Vec<String>,
    owner_topics: Vec<String>,
}

/// Lists the classic groups that `group_filter` accepts (listings only, no payloads).
pub async fn list(zk: &Zk, group_filter: &dyn Fn(&str) -> bool) -> (Vec<ZkGroup>, Vec<String>) {
    let (groups, errors) = list_dirs(zk, group_filter).await;
    let listing = groups
        .into_iter()
        .map(|g| {
            let topics: BTreeSet<String> = g.offset_topics.into_iter().chain(g.owner_topics).collect();
            ZkGroup { group: g.group, members: g.members.unwrap_or(0), topics: topics.into_iter().collect() }
        })
        .collect();
    (listing, errors)
}

async fn list_dirs(zk: &Zk, group_filter: &dyn Fn(&str) -> bool) -> (Vec<GroupDir>, Vec<String>) {
    let mut errors = Vec::new();
    let names = match zk.children(CONSUMERS).await {
        Ok(Some(names)) => names,
        Ok(None) => return (Vec::new(), errors), // no classic consumer ever ran here
        Err(e) => {
            errors.push(e.to_string());
            return (Vec::new(), errors);
        }
    };
    let mut groups: Vec<GroupDir> = names
        .into_iter()
        .filter(|g| group_filter(g))
        .map(|group| GroupDir {
            group,
            members: None,
            error: None,
            offset_topics: Vec::new(),
            owner_topics: Vec::new(),
        })
        .collect();
    let mut paths = Vec::with_capacity(groups.len() * 3);
    for g in &groups {
        let base = zk::join(CONSUMERS, &g.group);
        paths.push(zk::join(&base, "offsets"));
        paths.push(zk::join(&base, "owners"));
        paths.push(zk::join(&base, "ids"));
    }
    let listed = zk.children_many(paths).await;
    for (g, chunk) in groups.iter_mut().zip(listed.chunks(3)) {
        for (k, (_, children)) in chunk.iter().enumerate() {
            match children {
                Ok(children) => {
                    let children = children.clone().unwrap_or_default();
                    match k {
                        0 => g.offset_topics = children,
                        1 => g.owner_topics = children,
                        _ => g.members = Some(u32::try_from(children.len()).unwrap_or(u32::MAX)),
                    }
                }
                Err(e) if k < 2 => g.error = Some(e.to_string()),
                Err(_) => {} // members unknown
            }
        }
    }
    (groups, errors)
}

#[derive(Default)]
struct Slot {
    offset: Option<Result<i64, String>>,
    owner: Option<Result<Owner, String>>,
}

/// Reads the offsets and owners of every classic group that `group_filter` accepts.
pub async fn read(zk: &Zk, group_filter: &dyn Fn(&str) -> bool) -> SourceResult {
    let (groups, errors) = list_dirs(zk, group_filter).await;
    let mut result = SourceResult { errors, ..SourceResult::default() };

    // (group index, kind 0 = offsets / 1 = owners, topic) directories.
    let mut dirs: Vec<(usize, usize, String, String)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let base = zk::join(CONSUMERS, &g.group);
        for topic in &g.offset_topics {
            dirs.push((i, 0, topic.clone(), zk::join(&zk::join(&base, "offsets"), topic)));
        }
        for topic in &g.owner_topics {
            dirs.push((i, 1, topic.clone(), zk::join(&zk::join(&base, "owners"), topic)));
        }
    }
    let dir_paths = dirs.iter().map(|d| d.3.clone()).collect();
    let mut group_errors: Vec<Option<String>> = groups.iter().map(|g| g.error.clone()).collect();
    let mut nodes: Vec<(usize, usize, String, i32, String)> = Vec::new();
    for ((i, kind, topic, _), (path, listed)) in dirs.into_iter().zip(zk.children_many(dir_paths).await) {
        match listed {
            Ok(children) => {
                for child in children.unwrap_or_default() {
                    let node = zk::join(&path, &child);
                    match parse_partition_name(&child) {
                        Some(p) => nodes.push((i, kind, topic.clone(), p, node)),
                        None if kind == 0 => result.errors.push(format!(
                            "{node}: partition node name is not a number (Kafka 0.7 <broker>-<partition> offsets are not supported)"
                        )),
                        None => {}
                    }
                }
            }
            Err(e) if kind == 0 => {
                if let Some(slot) = group_errors.get_mut(i) {
                    slot.get_or_insert_with(|| e.to_string());
                }
            }
            Err(_) => {} // owners are informational
        }
    }

    let paths = nodes.iter().map(|n| n.4.clone()).collect();
    let mut slots: BTreeMap<(usize, String, i32), Slot> = BTreeMap::new();
    for ((i, kind, topic, partition, path), (_, data)) in nodes.into_iter().zip(zk.data_many(paths).await) {
        let Some(g) = groups.get(i) else { continue };
        let slot = slots.entry((i, topic, partition)).or_default();
        match (kind, data) {
            (_, Ok(None)) => {} // deleted since it was listed
            (0, Ok(Some(bytes))) => slot.offset = Some(parse_offset(&path, &bytes).map_err(|e| e.to_string())),
            (0, Err(e)) => slot.offset = Some(Err(e.to_string())),
            (_, Ok(Some(bytes))) => slot.owner = Some(parse_owner(&path, &g.group, &bytes).map_err(|e| e.to_string())),
            (_, Err(e)) => slot.owner = Some(Err(e.to_string())),
        }
    }

    for (i, g) in groups.iter().enumerate() {
        result.groups.push(GroupInfo {
            source: Source::Zookeeper,
            group: g.group.clone(),
            state: None,
            members: g.members,
            error: group_errors.get_mut(i).and_then(Option::take),
        });
    }
    for ((i, topic, partition), slot) in slots {
        let Some(g) = groups.get(i) else { continue };
        if slot.offset.is_none() && slot.owner.is_none() {
            continue;
        }
        let mut row = Committed::new(Source::Zookeeper, &g.group, &topic, partition, None);
        match slot.offset {
            Some(Ok(offset)) => row.offset = Some(offset),
            Some(Err(e)) => row.error = Some(e),
            None => {}
        }
        match slot.owner {
            Some(Ok(owner)) => row.owner = owner,
            Some(Err(e)) if row.error.is_none() => row.error = Some(e),
            _ => {}
        }
        result.rows.push(row);
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("/o", b"42"), Ok(42));
        assert_eq!(parse_offset("/o", b"42\n"), Ok(42));
        assert_eq!(parse_offset("/o", b" 0 "), Ok(0));
        assert_eq!(parse_offset("/o", b"").unwrap_err().to_string(), "/o: empty node");
        assert_eq!(parse_offset("/o", b"4x2").unwrap_err().to_string(), "/o: offset \"4x2\" is not a decimal number");
        assert_eq!(parse_offset("/o", b"-3").unwrap_err().to_string(), "/o: offset is negative (-3)");
        assert_eq!(
            parse_offset("/o", b"99999999999999999999").unwrap_err().to_string(),
            "/o: offset \"99999999999999999999\" is not a decimal number"
        );
    }

    #[test]
    fn owners() {
        let o = parse_owner("/w", "g1", b"g1_host-a.example.com-1400000000000-1a2b3c4d-0").unwrap();
        assert_eq!(o.consumer_id.as_deref(), Some("g1_host-a.example.com-1400000000000-1a2b3c4d-0"));
        assert_eq!(o.host.as_deref(), Some("host-a.example.com"));
        let custom = parse_owner("/w", "g1", b"my-consumer-3").unwrap();
        assert_eq!((custom.consumer_id.as_deref(), custom.host), (Some("my-consumer-3"), None));
        assert_eq!(parse_owner("/w", "g1", b"").unwrap_err().to_string(), "/w: empty node");
    }

    #[test]
    fn partition_names() {
        assert_eq!(parse_partition_name("0"), Some(0));
        assert_eq!(parse_partition_name("12"), Some(12));
        assert_eq!(parse_partition_name("1-0"), None);
        assert_eq!(parse_partition_name(""), None);
    }
}
