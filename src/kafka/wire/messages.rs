//! The requests klag sends itself and their responses, written from Apache
//! Kafka's message schemas (clients/src/main/resources/common/message/*.json):
//!
//! - ApiVersions v0 (classic encoding, answered by every broker version);
//! - FindCoordinator v4: many group keys in one request (KIP-699, Kafka 3.0);
//! - OffsetFetch v8: many groups in one request (KIP-709, Kafka 3.0), every
//!   committed partition (a null topic list);
//! - DescribeGroups v5 (classic groups) and ConsumerGroupDescribe v0 (KIP-848
//!   groups, Kafka 4.0): many groups in one request.
//!
//! All but ApiVersions use the flexible encoding (compact strings and arrays,
//! tagged fields). Decoders return owned values and fail with [`Malformed`]
//! on anything that does not parse; unknown tagged fields are skipped.

use super::codec::{Parsed, Reader, Writer};

pub(crate) const LIST_OFFSETS: i16 = 2;
pub(crate) const METADATA: i16 = 3;
pub(crate) const OFFSET_FETCH: i16 = 9;
pub(crate) const FIND_COORDINATOR: i16 = 10;
pub(crate) const DESCRIBE_GROUPS: i16 = 15;
pub(crate) const LIST_GROUPS: i16 = 16;
pub(crate) const API_VERSIONS: i16 = 18;
pub(crate) const CONSUMER_GROUP_DESCRIBE: i16 = 69;

/// The versions klag speaks.
pub(crate) const LIST_OFFSETS_VERSION: i16 = 6;
pub(crate) const METADATA_VERSION: i16 = 9;
pub(crate) const LIST_GROUPS_VERSION: i16 = 4;
pub(crate) const FIND_COORDINATOR_VERSION: i16 = 4;
pub(crate) const OFFSET_FETCH_VERSION: i16 = 8;
pub(crate) const DESCRIBE_GROUPS_VERSION: i16 = 5;
pub(crate) const CONSUMER_GROUP_DESCRIBE_VERSION: i16 = 0;

/// Request names as librdkafka's protocol debug log spells them.
pub(crate) fn api_name(key: i16) -> &'static str {
    match key {
        LIST_OFFSETS => "ListOffsets",
        METADATA => "Metadata",
        LIST_GROUPS => "ListGroups",
        OFFSET_FETCH => "OffsetFetch",
        FIND_COORDINATOR => "FindCoordinator",
        DESCRIBE_GROUPS => "DescribeGroups",
        API_VERSIONS => "ApiVersion",
        CONSUMER_GROUP_DESCRIBE => "ConsumerGroupDescribe",
        _ => "Unknown",
    }
}

/// Broker error codes klag acts on.
pub(crate) mod errors {
    pub(crate) const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub(crate) const LEADER_NOT_AVAILABLE: i16 = 5;
    pub(crate) const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub(crate) const OFFSET_NOT_AVAILABLE: i16 = 78;
    pub(crate) const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub(crate) const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub(crate) const NOT_COORDINATOR: i16 = 16;
    pub(crate) const UNSUPPORTED_VERSION: i16 = 35;
    pub(crate) const GROUP_ID_NOT_FOUND: i16 = 69;

    /// Errors that mean "ask again, maybe elsewhere": the coordinator moved,
    /// is loading its partition, or none is elected yet.
    pub(crate) fn is_coordinator_retry(code: i16) -> bool {
        matches!(code, COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR)
    }

    /// Partition errors of a leadership change: the leader moved, none is
    /// elected yet, or a new one has not caught up its high watermark.
    pub(crate) fn is_leader_retry(code: i16) -> bool {
        matches!(code, LEADER_NOT_AVAILABLE | NOT_LEADER_OR_FOLLOWER | OFFSET_NOT_AVAILABLE)
    }
}

// ---------------------------------------------------------------------------
// ApiVersions

/// Supported version ranges by API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApiVersions {
    ranges: Vec<(i16, i16, i16)>,
}

impl ApiVersions {
    /// Whether the broker accepts `version` of `key`.
    pub(crate) fn supports(&self, key: i16, version: i16) -> bool {
        self.ranges.iter().any(|&(k, lo, hi)| k == key && lo <= version && version <= hi)
    }
}

/// ApiVersions v0 has an empty body.
pub(crate) fn api_versions_request() -> Vec<u8> {
    Vec::new()
}

/// The top-level error code and the ranges.
pub(crate) fn parse_api_versions(body: &[u8]) -> Parsed<(i16, ApiVersions)> {
    let mut r = Reader::new(body);
    let error = r.i16("ApiVersions error code")?;
    let n = r.count(6, "ApiVersions keys")?.unwrap_or(0);
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        ranges.push((r.i16("api key")?, r.i16("min version")?, r.i16("max version")?));
    }
    Ok((error, ApiVersions { ranges }))
}

// ---------------------------------------------------------------------------
// Metadata v9

/// Metadata for `topics` (none: brokers only), never creating topics.
pub(crate) fn metadata_request(topics: &[&str]) -> Vec<u8> {
    let mut w = Writer::default();
    w.compact_len(topics.len());
    for t in topics {
        w.compact_string(t);
        w.no_tags();
    }
    w.bool(false); // allow auto topic creation
    w.bool(false); // cluster authorized operations
    w.bool(false); // topic authorized operations
    w.no_tags();
    w.buf
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetadataBroker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetadataPartition {
    pub error_code: i16,
    pub partition: i32,
    pub leader: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetadataTopic {
    pub error_code: i16,
    pub name: String,
    pub partitions: Vec<MetadataPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Metadata {
    pub brokers: Vec<MetadataBroker>,
    pub topics: Vec<MetadataTopic>,
}

fn skip_i32_array(r: &mut Reader<'_>, what: &'static str) -> Parsed<()> {
    let n = r.compact_count(4, what)?.unwrap_or(0);
    r.take(n * 4, what)?;
    Ok(())
}

pub(crate) fn parse_metadata(body: &[u8]) -> Parsed<Metadata> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let n = r.compact_count(11, "brokers")?.unwrap_or(0);
    let mut brokers = Vec::with_capacity(n);
    for _ in 0..n {
        let node_id = r.i32("node id")?;
        let host = r.compact_string("host")?;
        let port = r.i32("port")?;
        r.skip_compact_string("rack")?;
        r.skip_tags("broker")?;
        brokers.push(MetadataBroker { node_id, host, port });
    }
    r.skip_compact_string("cluster id")?;
    r.i32("controller id")?;
    let n = r.compact_count(10, "topics")?.unwrap_or(0);
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        let error_code = r.i16("topic error code")?;
        let name = r.compact_string("topic name")?;
        r.take(1, "is internal")?;
        let parts = r.compact_count(20, "partitions")?.unwrap_or(0);
        let mut partitions = Vec::with_capacity(parts);
        for _ in 0..parts {
            let error_code = r.i16("partition error code")?;
            let partition = r.i32("partition index")?;
            let leader = r.i32("leader id")?;
            r.i32("leader epoch")?;
            skip_i32_array(&mut r, "replica nodes")?;
            skip_i32_array(&mut r, "isr nodes")?;
            skip_i32_array(&mut r, "offline replicas")?;
            r.skip_tags("partition")?;
            partitions.push(MetadataPartition { error_code, partition, leader });
        }
        r.i32("topic authorized operations")?;
        r.skip_tags("topic")?;
        topics.push(MetadataTopic { error_code, name, partitions });
    }
    r.i32("cluster authorized operations")?;
    r.skip_tags("Metadata response")?;
    Ok(Metadata { brokers, topics })
}

// ---------------------------------------------------------------------------
// ListGroups v4

/// Every group of the broker, whatever its state.
pub(crate) fn list_groups_request() -> Vec<u8> {
    let mut w = Writer::default();
    w.compact_len(0); // no states filter
    w.no_tags();
    w.buf
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

/// The broker's error code and its groups.
pub(crate) fn parse_list_groups(body: &[u8]) -> Parsed<(i16, Vec<ListedGroup>)> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let error_code = r.i16("error code")?;
    let n = r.compact_count(4, "groups")?.unwrap_or(0);
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        let group_id = r.compact_string("group id")?;
        let protocol_type = r.compact_string("protocol type")?;
        let state = r.compact_string("group state")?;
        r.skip_tags("group")?;
        groups.push(ListedGroup { group_id, protocol_type, state });
    }
    r.skip_tags("ListGroups response")?;
    Ok((error_code, groups))
}

// ---------------------------------------------------------------------------
// ListOffsets v6

/// ListOffsets timestamps: the log start and the log end.
pub(crate) const EARLIEST: i64 = -2;
pub(crate) const LATEST: i64 = -1;

/// One `timestamp` for every partition of `topics`, as a consumer (replica -1).
pub(crate) fn list_offsets_request(read_committed: bool, topics: &[(&str, Vec<i32>)], timestamp: i64) -> Vec<u8> {
    let mut w = Writer::default();
    w.i32(-1);
    w.i8(i8::from(read_committed));
    w.compact_len(topics.len());
    for (topic, partitions) in topics {
        w.compact_string(topic);
        w.compact_len(partitions.len());
        for p in partitions {
            w.i32(*p);
            w.i32(-1); // current leader epoch: unknown, no fencing
            w.buf.extend_from_slice(&timestamp.to_be_bytes());
            w.no_tags();
        }
        w.no_tags();
    }
    w.no_tags();
    w.buf
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedOffset {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub offset: i64,
}

pub(crate) fn parse_list_offsets(body: &[u8]) -> Parsed<Vec<ListedOffset>> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let n = r.compact_count(3, "topics")?.unwrap_or(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let topic = r.compact_string("topic name")?;
        let parts = r.compact_count(27, "partitions")?.unwrap_or(0);
        out.reserve(parts);
        for _ in 0..parts {
            let partition = r.i32("partition index")?;
            let error_code = r.i16("error code")?;
            r.i64("timestamp")?;
            let offset = r.i64("offset")?;
            r.i32("leader epoch")?;
            r.skip_tags("partition")?;
            out.push(ListedOffset { topic: topic.clone(), partition, error_code, offset });
        }
        r.skip_tags("topic")?;
    }
    r.skip_tags("ListOffsets response")?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// FindCoordinator v4

/// FindCoordinator for consumer groups (key type 0).
pub(crate) fn find_coordinator_request(groups: &[&str]) -> Vec<u8> {
    let mut w = Writer::default();
    w.i8(0);
    w.compact_strings(groups.iter().copied());
    w.no_tags();
    w.buf
}

/// One key's coordinator, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Coordinator {
    pub key: String,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub error_code: i16,
    pub error_message: Option<String>,
}

pub(crate) fn parse_find_coordinator(body: &[u8]) -> Parsed<Vec<Coordinator>> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let n = r.compact_count(14, "coordinators")?.unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let c = Coordinator {
            key: r.compact_string("coordinator key")?,
            node_id: r.i32("node id")?,
            host: r.compact_string("host")?,
            port: r.i32("port")?,
            error_code: r.i16("error code")?,
            error_message: r.compact_nullable_string("error message")?,
        };
        r.skip_tags("coordinator")?;
        out.push(c);
    }
    r.skip_tags("FindCoordinator response")?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// OffsetFetch v8

/// Every committed partition of each group, without waiting for pending
/// transactional commits (require_stable false, as librdkafka's default).
pub(crate) fn offset_fetch_request(groups: &[&str]) -> Vec<u8> {
    let mut w = Writer::default();
    w.compact_len(groups.len());
    for g in groups {
        w.compact_string(g);
        w.compact_null_array();
        w.no_tags();
    }
    w.bool(false);
    w.no_tags();
    w.buf
}

/// One committed position as the broker gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchedPartition {
    pub partition: i32,
    pub offset: i64,
    pub error_code: i16,
}

/// One group's committed offsets: `(topic, partitions)` in response order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchedGroup {
    pub group_id: String,
    pub topics: Vec<(String, Vec<FetchedPartition>)>,
    pub error_code: i16,
}

pub(crate) fn parse_offset_fetch(body: &[u8]) -> Parsed<Vec<FetchedGroup>> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let groups = r.compact_count(5, "groups")?.unwrap_or(0);
    let mut out = Vec::with_capacity(groups);
    for _ in 0..groups {
        let group_id = r.compact_string("group id")?;
        let n_topics = r.compact_count(3, "topics")?.unwrap_or(0);
        let mut topics = Vec::with_capacity(n_topics);
        for _ in 0..n_topics {
            let name = r.compact_string("topic name")?;
            let n = r.compact_count(20, "partitions")?.unwrap_or(0);
            let mut partitions = Vec::with_capacity(n);
            for _ in 0..n {
                let partition = r.i32("partition")?;
                let offset = r.i64("committed offset")?;
                r.i32("leader epoch")?;
                r.skip_compact_string("metadata")?;
                let error_code = r.i16("partition error code")?;
                r.skip_tags("partition")?;
                partitions.push(FetchedPartition { partition, offset, error_code });
            }
            r.skip_tags("topic")?;
            topics.push((name, partitions));
        }
        let error_code = r.i16("group error code")?;
        r.skip_tags("group")?;
        out.push(FetchedGroup { group_id, topics, error_code });
    }
    r.skip_tags("OffsetFetch response")?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// DescribeGroups v5 and ConsumerGroupDescribe v0

/// DescribeGroups without authorized operations.
pub(crate) fn describe_groups_request(groups: &[&str]) -> Vec<u8> {
    let mut w = Writer::default();
    w.compact_strings(groups.iter().copied());
    w.bool(false);
    w.no_tags();
    w.buf
}

/// ConsumerGroupDescribe has the same body.
pub(crate) fn consumer_group_describe_request(groups: &[&str]) -> Vec<u8> {
    describe_groups_request(groups)
}

/// A member: its ids and its assigned partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribedMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// `Err` when a classic member's assignment bytes do not parse.
    pub assignment: Result<Vec<(String, i32)>, super::codec::Malformed>,
}

/// A described group, from either API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DescribedGroup {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub group_id: String,
    pub state: String,
    /// DescribeGroups only ("" for simple groups, "consumer" for consumers).
    pub protocol_type: String,
    pub members: Vec<DescribedMember>,
}

pub(crate) fn parse_describe_groups(body: &[u8]) -> Parsed<Vec<DescribedGroup>> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let n = r.compact_count(11, "groups")?.unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let error_code = r.i16("error code")?;
        let group_id = r.compact_string("group id")?;
        let state = r.compact_string("group state")?;
        let protocol_type = r.compact_string("protocol type")?;
        r.skip_compact_string("protocol data")?;
        let n_members = r.compact_count(7, "members")?.unwrap_or(0);
        let mut members = Vec::with_capacity(n_members);
        for _ in 0..n_members {
            let member_id = r.compact_string("member id")?;
            r.skip_compact_string("group instance id")?;
            let client_id = r.compact_string("client id")?;
            let client_host = r.compact_string("client host")?;
            r.compact_bytes("member metadata")?;
            let assignment = r.compact_bytes("member assignment")?;
            r.skip_tags("member")?;
            // librdkafka reads an assignment only when there is one.
            let assignment = if assignment.is_empty() { Ok(Vec::new()) } else { parse_assignment(assignment) };
            members.push(DescribedMember { member_id, client_id, client_host, assignment });
        }
        r.i32("authorized operations")?;
        r.skip_tags("group")?;
        out.push(DescribedGroup { error_code, error_message: None, group_id, state, protocol_type, members });
    }
    r.skip_tags("DescribeGroups response")?;
    Ok(out)
}

/// The consumer protocol's assignment (ConsumerProtocolAssignment, classic
/// encoding whatever its version): `(topic, partition)` pairs.
pub(crate) fn parse_assignment(bytes: &[u8]) -> Parsed<Vec<(String, i32)>> {
    let mut r = Reader::new(bytes);
    r.i16("assignment version")?;
    let n = r.count(6, "assigned topics")?.unwrap_or(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let topic = r.string("assigned topic")?;
        let parts = r.count(4, "assigned partitions")?.unwrap_or(0);
        out.reserve(parts);
        for _ in 0..parts {
            out.push((topic.clone(), r.i32("assigned partition")?));
        }
    }
    // User data follows; klag has no use for it.
    Ok(out)
}

pub(crate) fn parse_consumer_group_describe(body: &[u8]) -> Parsed<Vec<DescribedGroup>> {
    let mut r = Reader::new(body);
    r.i32("throttle time")?;
    let n = r.compact_count(20, "groups")?.unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let error_code = r.i16("error code")?;
        let error_message = r.compact_nullable_string("error message")?;
        let group_id = r.compact_string("group id")?;
        let state = r.compact_string("group state")?;
        r.i32("group epoch")?;
        r.i32("assignment epoch")?;
        r.skip_compact_string("assignor name")?;
        let n_members = r.compact_count(17, "members")?.unwrap_or(0);
        let mut members = Vec::with_capacity(n_members);
        for _ in 0..n_members {
            let member_id = r.compact_string("member id")?;
            r.skip_compact_string("instance id")?;
            r.skip_compact_string("rack id")?;
            r.i32("member epoch")?;
            let client_id = r.compact_string("client id")?;
            let client_host = r.compact_string("client host")?;
            let subscribed = r.compact_count(1, "subscribed topics")?.unwrap_or(0);
            for _ in 0..subscribed {
                r.skip_compact_string("subscribed topic")?;
            }
            r.skip_compact_string("subscribed topic regex")?;
            let assignment = topic_partitions(&mut r)?;
            topic_partitions(&mut r)?; // the target assignment
            r.skip_tags("member")?;
            members.push(DescribedMember { member_id, client_id, client_host, assignment: Ok(assignment) });
        }
        r.i32("authorized operations")?;
        r.skip_tags("group")?;
        out.push(DescribedGroup {
            error_code,
            error_message,
            group_id,
            state,
            protocol_type: "consumer".to_string(),
            members,
        });
    }
    r.skip_tags("ConsumerGroupDescribe response")?;
    Ok(out)
}

/// ConsumerGroupDescribe's Assignment struct: topic partitions by topic id
/// and name, then the struct's tagged fields.
fn topic_partitions(r: &mut Reader<'_>) -> Parsed<Vec<(String, i32)>> {
    let n = r.compact_count(19, "assignment topics")?.unwrap_or(0);
    let mut out = Vec::new();
    for _ in 0..n {
        r.take(16, "topic id")?;
        let topic = r.compact_string("topic name")?;
        let parts = r.compact_count(4, "assignment partitions")?.unwrap_or(0);
        out.reserve(parts);
        for _ in 0..parts {
            out.push((topic.clone(), r.i32("assignment partition")?));
        }
        r.skip_tags("assignment topic")?;
    }
    r.skip_tags("assignment")?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Responses built here field by field, as a broker would send them.

    use super::*;

    /// Encodes test responses.
    #[derive(Default)]
    pub(crate) struct Resp(pub Writer);

    impl Resp {
        pub(crate) fn i16(mut self, v: i16) -> Self {
            self.0.i16(v);
            self
        }
        pub(crate) fn i32(mut self, v: i32) -> Self {
            self.0.i32(v);
            self
        }
        pub(crate) fn i64(mut self, v: i64) -> Self {
            self.0.buf.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub(crate) fn s(mut self, v: &str) -> Self {
            self.0.compact_string(v);
            self
        }
        pub(crate) fn null(mut self) -> Self {
            self.0.uvarint(0);
            self
        }
        pub(crate) fn n(mut self, len: usize) -> Self {
            self.0.compact_len(len);
            self
        }
        pub(crate) fn bytes(mut self, v: &[u8]) -> Self {
            self.0.compact_len(v.len());
            self.0.buf.extend_from_slice(v);
            self
        }
        pub(crate) fn raw(mut self, v: &[u8]) -> Self {
            self.0.buf.extend_from_slice(v);
            self
        }
        pub(crate) fn tags(self) -> Self {
            self.null()
        }
        pub(crate) fn done(self) -> Vec<u8> {
            self.0.buf
        }
    }

    /// A classic assignment of `topic` partitions.
    pub(crate) fn assignment(topic: &str, partitions: &[i32]) -> Vec<u8> {
        let mut w = Writer::default();
        w.i16(1);
        w.i32(1);
        w.nullable_string(Some(topic));
        w.i32(partitions.len() as i32);
        for p in partitions {
            w.i32(*p);
        }
        w.i32(-1); // null user data
        w.buf
    }

    #[test]
    fn find_coordinator_request_layout() {
        let body = find_coordinator_request(&["g1", "g2"]);
        assert_eq!(body, vec![0, 3, 3, b'g', b'1', 3, b'g', b'2', 0]);
    }

    #[test]
    fn offset_fetch_request_layout() {
        let body = offset_fetch_request(&["g"]);
        // groups [g, topics null, no tags], require_stable false, no tags
        assert_eq!(body, vec![2, 2, b'g', 0, 0, 0, 0]);
    }

    #[test]
    fn api_versions_response() {
        let mut w = Writer::default();
        w.i16(0);
        w.i32(2);
        for (k, lo, hi) in [(9i16, 1i16, 9i16), (10, 0, 4)] {
            w.i16(k);
            w.i16(lo);
            w.i16(hi);
        }
        w.i32(0);
        let (err, v) = parse_api_versions(&w.buf).unwrap();
        assert_eq!(err, 0);
        assert!(v.supports(OFFSET_FETCH, 8) && v.supports(FIND_COORDINATOR, 4));
        assert!(!v.supports(FIND_COORDINATOR, 5) && !v.supports(DESCRIBE_GROUPS, 5));
    }

    #[test]
    fn find_coordinator_response() {
        let body = Resp::default()
            .i32(0)
            .n(2)
            .s("g1")
            .i32(2)
            .s("127.0.0.1")
            .i32(9093)
            .i16(0)
            .null()
            .tags()
            .s("g2")
            .i32(-1)
            .s("")
            .i32(-1)
            .i16(15)
            .s("not available")
            .tags()
            .tags()
            .done();
        let c = parse_find_coordinator(&body).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].key.as_str(), c[0].node_id, c[0].host.as_str(), c[0].port), ("g1", 2, "127.0.0.1", 9093));
        assert_eq!((c[1].error_code, c[1].error_message.as_deref()), (15, Some("not available")));
        assert!(parse_find_coordinator(&body[..body.len() - 1]).is_err());
    }

    /// `(topic, [(partition, offset, error)])`
    pub(crate) type TopicOffsets<'a> = (&'a str, &'a [(i32, i64, i16)]);

    pub(crate) fn offset_fetch_body(groups: &[(&str, &[TopicOffsets<'_>], i16)]) -> Vec<u8> {
        let mut r = Resp::default().i32(0).n(groups.len());
        for (g, topics, err) in groups {
            r = r.s(g).n(topics.len());
            for (t, parts) in *topics {
                r = r.s(t).n(parts.len());
                for (p, o, e) in *parts {
                    r = r.i32(*p).i64(*o).i32(-1).s("").i16(*e).tags();
                }
                r = r.tags();
            }
            r = r.i16(*err).tags();
        }
        r.tags().done()
    }

    #[test]
    fn offset_fetch_response() {
        let body =
            offset_fetch_body(&[("g1", &[("t", &[(0, 5, 0), (1, -1, 0)]), ("u", &[(0, 7, 3)])], 0), ("g2", &[], 30)]);
        let g = parse_offset_fetch(&body).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].group_id, "g1");
        assert_eq!(g[0].topics[0].0, "t");
        assert_eq!(g[0].topics[0].1[1], FetchedPartition { partition: 1, offset: -1, error_code: 0 });
        assert_eq!(g[0].topics[1].1[0].error_code, 3);
        assert_eq!((g[1].group_id.as_str(), g[1].error_code, g[1].topics.len()), ("g2", 30, 0));
        for cut in 0..body.len() {
            assert!(parse_offset_fetch(&body[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn describe_groups_response_with_an_assignment() {
        let body = Resp::default()
            .i32(0)
            .n(1)
            .i16(0)
            .s("g")
            .s("Stable")
            .s("consumer")
            .s("range")
            .n(1)
            .s("m-1")
            .null()
            .s("client")
            .s("/127.0.0.1")
            .bytes(&[0, 1])
            .bytes(&assignment("t", &[0, 2]))
            .tags()
            .i32(i32::MIN)
            .tags()
            .tags()
            .done();
        let g = parse_describe_groups(&body).unwrap();
        assert_eq!(g[0].state, "Stable");
        assert_eq!(g[0].protocol_type, "consumer");
        let m = &g[0].members[0];
        assert_eq!(
            (m.member_id.as_str(), m.client_id.as_str(), m.client_host.as_str()),
            ("m-1", "client", "/127.0.0.1")
        );
        assert_eq!(m.assignment, Ok(vec![("t".to_string(), 0), ("t".to_string(), 2)]));
    }

    #[test]
    fn a_bad_assignment_is_an_error_of_its_member_only() {
        assert!(parse_assignment(&[0, 1, 0, 0, 0, 9]).is_err());
        assert_eq!(parse_assignment(&[0, 1, 0, 0, 0, 0]), Ok(vec![]));
    }

    #[test]
    fn consumer_group_describe_response() {
        let topic_id = [7u8; 16];
        let body = Resp::default()
            .i32(0)
            .n(1)
            .i16(0)
            .null()
            .s("g")
            .s("Reconciling")
            .i32(3)
            .i32(3)
            .s("uniform")
            .n(1)
            .s("m")
            .null()
            .null()
            .i32(3)
            .s("c")
            .s("/10.0.0.1")
            .n(1)
            .s("t")
            .null()
            // assignment: one topic, partitions 1 and 4
            .n(1)
            .raw(&topic_id)
            .s("t")
            .n(2)
            .i32(1)
            .i32(4)
            .tags()
            .tags()
            // target assignment: none
            .n(0)
            .tags()
            .tags()
            .i32(i32::MIN)
            .tags()
            .tags()
            .done();
        let g = parse_consumer_group_describe(&body).unwrap();
        assert_eq!(g[0].state, "Reconciling");
        assert_eq!(g[0].members[0].assignment, Ok(vec![("t".to_string(), 1), ("t".to_string(), 4)]));
        for cut in 0..body.len() {
            assert!(parse_consumer_group_describe(&body[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse_api_versions(&bytes);
            let _ = parse_find_coordinator(&bytes);
            let _ = parse_offset_fetch(&bytes);
            let _ = parse_describe_groups(&bytes);
            let _ = parse_consumer_group_describe(&bytes);
            let _ = parse_assignment(&bytes);
        }
    }
}
