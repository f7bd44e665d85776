//! Parses every fixture under `fixtures/` with the pure parsing layer of the
//! ZooKeeper sources and asserts every field, and the precise error of every
//! malformed variant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use klag::brokers_zk::{
    bootstrap_from, parse_broker, parse_partition_state, parse_topic, BrokerRegistration, Endpoint, PartitionState,
    TopicRegistration,
};
use klag::lag::Owner;
use klag::sources::storm::{parse_spout_node, SpoutNode};
use klag::sources::trident::{
    latest_txid, parse_node, parse_partition_id, parse_wildcard_partition_id, PartitionId, TridentNode, Writer,
};
use klag::sources::zk_consumers::{parse_member, parse_offset, parse_owner, Member};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

static USED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn fixture(name: &str) -> Vec<u8> {
    USED.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string());
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

// ---------- storm-kafka KafkaSpout ----------

fn spout(name: &str, path: &str, partition: i32, dir_topic: Option<&str>) -> SpoutNode {
    parse_spout_node(path, partition, dir_topic, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn storm_0_9_payloads() {
    let n = spout("storm/spout-0.9-partition_0.json", "/kafkastorm/clicks-spout/partition_0", 0, None);
    assert_eq!(
        n,
        SpoutNode {
            topic: "clicks".into(),
            partition: 0,
            offset: 4222,
            topology_name: s("clickstream"),
            topology_id: s("3f7b1c2e-9a4d-4e8f-b1c6-2d5e8f0a7b13"),
            broker: s("kafka1.example.com:9092"),
        }
    );
    let n = spout("storm/spout-0.9-partition_1.json", "/kafkastorm/clicks-spout/partition_1", 1, None);
    assert_eq!(
        n,
        SpoutNode {
            topic: "clicks".into(),
            partition: 1,
            offset: 0,
            topology_name: s("clickstream"),
            topology_id: s("3f7b1c2e-9a4d-4e8f-b1c6-2d5e8f0a7b13"),
            broker: s("kafka2.example.com:9092"),
        }
    );
}

#[test]
fn storm_1_x_payload() {
    let n = spout("storm/spout-1.x-partition_7.json", "/storm-offsets/orders-spout/partition_7", 7, None);
    assert_eq!(
        n,
        SpoutNode {
            topic: "orders.v2".into(),
            partition: 7,
            offset: 918_273_645,
            topology_name: s("order-enricher"),
            topology_id: s("order-enricher-12-1700000000"),
            broker: s("10.1.2.3:6667"),
        }
    );
}

#[test]
fn storm_wildcard_payload_takes_topic_from_path() {
    let path = "/kafkastorm/logs-spout/access_log/partition_2";
    let n = spout("storm/spout-wildcard-access_log-partition_2.json", path, 2, Some("access_log"));
    assert_eq!(
        n,
        SpoutNode {
            topic: "access_log".into(),
            partition: 2,
            offset: 77,
            topology_name: s("log-shipper"),
            topology_id: s("log-shipper-3-1699999999"),
            broker: s("kafka3.example.com:9092"),
        }
    );
    let wrong_dir =
        parse_spout_node(path, 2, Some("error_log"), &fixture("storm/spout-wildcard-access_log-partition_2.json"));
    assert_eq!(
        wrong_dir.unwrap_err().to_string(),
        format!("{path}: topic in payload (\"access_log\") does not match the path (\"error_log\")")
    );
}

#[test]
fn storm_malformed_nodes_give_precise_errors() {
    let path = "/kafkastorm/clicks-spout/partition_2";
    let cases = [
        ("malformed/storm-invalid-json.json", "invalid JSON: EOF while parsing a value at line 1 column 56"),
        ("malformed/storm-empty.json", "empty node"),
        ("malformed/storm-missing-offset.json", "missing field \"offset\""),
        ("malformed/storm-offset-string.json", "field \"offset\" is a string, expected an integer"),
        ("malformed/storm-negative-offset.json", "field \"offset\" is negative (-5)"),
        (
            "malformed/storm-partition-mismatch.json",
            "partition in payload (9) does not match the node name (partition_2)",
        ),
        ("malformed/storm-broker-port-string.json", "field \"broker.port\" is a string, expected an integer"),
        ("malformed/storm-not-object.json", "payload is an array, expected a JSON object"),
    ];
    for (name, expected) in cases {
        let err = parse_spout_node(path, 2, None, &fixture(name)).expect_err(name);
        assert_eq!(err.to_string(), format!("{path}: {expected}"), "{name}");
        assert_eq!(err.path, path);
    }
}

// ---------- Trident ----------

fn trident(name: &str, path: &str, id: &PartitionId) -> TridentNode {
    parse_node(path, id, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn trident_storm_kafka_payloads() {
    let id = parse_partition_id("partition_0").unwrap();
    let n = trident("trident/storm-kafka.json", "/transactional/clicks-stream/user/partition_0/1207", &id);
    assert_eq!(
        n,
        TridentNode {
            writer: Writer::StormKafka,
            topic: s("clicks"),
            partition: 0,
            position: Some(48213),
            topology_name: s("clicks-trident"),
            topology_id: s("clicks-trident-5-1700000100"),
            broker: s("kafka1.example.com:9092"),
            fallback: false,
        }
    );

    let id = parse_partition_id("partition_1").unwrap();
    let n = trident("trident/storm-kafka-fallback.json", "/transactional/clicks-stream/user/partition_1/1207", &id);
    assert_eq!(
        n,
        TridentNode {
            writer: Writer::StormKafka,
            topic: s("clicks"),
            partition: 1,
            position: Some(9000),
            topology_name: s("clicks-trident"),
            topology_id: s("clicks-trident-5-1700000100"),
            broker: s("kafka2.example.com:9092"),
            fallback: true,
        }
    );

    let id = parse_partition_id("partition_3").unwrap();
    let n = trident("trident/storm-kafka-0.9.json", "/transactional/legacy-stream/user/partition_3/88", &id);
    assert_eq!(
        n,
        TridentNode {
            writer: Writer::StormKafka,
            topic: s("events"),
            partition: 3,
            position: Some(25),
            topology_name: s("legacy-trident"),
            topology_id: s("8d2e4f60-1b3a-4c5d-9e7f-0a1b2c3d4e5f"),
            broker: s("kafka1:9092"),
            fallback: false,
        }
    );

    let id = parse_wildcard_partition_id("metrics.cpu", "partition_4").unwrap();
    let n = trident(
        "trident/storm-kafka-wildcard.json",
        "/transactional/multi-stream/user/metrics.cpu/partition_4/31",
        &id,
    );
    assert_eq!(
        n,
        TridentNode {
            writer: Writer::StormKafka,
            topic: s("metrics.cpu"),
            partition: 4,
            position: Some(512),
            topology_name: s("multi"),
            topology_id: s("multi-2-1700000200"),
            broker: s("kafka2.example.com:9092"),
            fallback: false,
        }
    );

    let id = parse_partition_id("partition_2").unwrap();
    let n = trident("trident/storm-kafka-null.json", "/transactional/clicks-stream/user/partition_2/1207", &id);
    assert_eq!(
        n,
        TridentNode {
            writer: Writer::StormKafka,
            topic: None,
            partition: 2,
            position: None,
            topology_name: None,
            topology_id: None,
            broker: None,
            fallback: false,
        }
    );
}

#[test]
fn trident_storm_kafka_client_payload() {
    let id = parse_partition_id("orders@3").unwrap();
    assert_eq!(id, PartitionId { writer: Writer::KafkaClient, topic: s("orders"), partition: 3 });
    let n = trident("trident/storm-kafka-client.json", "/transactional/orders-stream/user/orders@3/1042", &id);
    assert_eq!(
        n,
        TridentNode {
            writer: Writer::KafkaClient,
            topic: s("orders"),
            partition: 3,
            position: Some(1042),
            topology_name: s("orders-trident"),
            topology_id: s("orders-trident-7-1700000300"),
            broker: None,
            fallback: false,
        }
    );
}

#[test]
fn trident_txids_pick_the_numeric_maximum() {
    let children: Vec<String> = ["998", "1000", "999"].iter().map(|s| s.to_string()).collect();
    assert_eq!(latest_txid(&children), Some("1000"));
}

#[test]
fn trident_malformed_nodes_give_precise_errors() {
    let path = "/transactional/clicks-stream/user/partition_0/1207";
    let id = parse_partition_id("partition_0").unwrap();
    let err = parse_node(path, &id, &fixture("malformed/trident-missing-nextOffset.json")).unwrap_err();
    assert_eq!(err.to_string(), format!("{path}: missing field \"nextOffset\""));

    let path = "/transactional/orders-stream/user/orders@3/1042";
    let id = parse_partition_id("orders@3").unwrap();
    let err = parse_node(path, &id, &fixture("malformed/trident-client-lastOffset-string.json")).unwrap_err();
    assert_eq!(err.to_string(), format!("{path}: field \"lastOffset\" is a string, expected an integer"));

    let err = parse_node(path, &id, &fixture("malformed/storm-empty.json")).unwrap_err();
    assert_eq!(err.to_string(), format!("{path}: empty node"));
}

// ---------- classic consumers ----------

#[test]
fn classic_offsets() {
    assert_eq!(parse_offset("/consumers/clicks-etl/offsets/clicks/0", &fixture("consumers/offset.txt")), Ok(4222));
    assert_eq!(
        parse_offset("/consumers/clicks-etl/offsets/clicks/1", &fixture("consumers/offset-newline.txt")),
        Ok(15)
    );
}

#[test]
fn classic_malformed_offsets() {
    let path = "/consumers/clicks-etl/offsets/clicks/2";
    let cases = [
        ("malformed/consumer-offset-not-a-number.txt", "offset \"42abc\" is not a decimal number"),
        ("malformed/consumer-offset-negative.txt", "offset is negative (-1)"),
        ("malformed/consumer-offset-empty.txt", "empty node"),
    ];
    for (name, expected) in cases {
        let err = parse_offset(path, &fixture(name)).expect_err(name);
        assert_eq!(err.to_string(), format!("{path}: {expected}"), "{name}");
    }
}

#[test]
fn classic_owners() {
    let o =
        parse_owner("/consumers/clicks-etl/owners/clicks/0", "clicks-etl", &fixture("consumers/owner.txt")).unwrap();
    assert_eq!(
        o,
        Owner {
            consumer_id: s("clicks-etl_worker3.example.com-1400000000000-1a2b3c4d-0"),
            host: s("worker3.example.com"),
            client_id: None,
        }
    );
    let o =
        parse_owner("/consumers/clicks-etl/owners/clicks/1", "clicks-etl", &fixture("consumers/owner-custom-id.txt"))
            .unwrap();
    assert_eq!(o, Owner { consumer_id: s("etl-consumer-a-2"), host: None, client_id: None });
}

#[test]
fn classic_member_registrations() {
    let m = parse_member("/consumers/clicks-etl/ids/a", &fixture("consumers/ids-static.json")).unwrap();
    assert_eq!(
        m,
        Member {
            version: Some(1),
            subscription: BTreeMap::from([("clicks".to_string(), 2)]),
            pattern: s("static"),
            timestamp: s("1400000000000"),
        }
    );
    let m = parse_member("/consumers/clicks-etl/ids/b", &fixture("consumers/ids-white-list.json")).unwrap();
    assert_eq!(
        m,
        Member {
            version: Some(1),
            subscription: BTreeMap::from([("clicks|orders.*".to_string(), 1)]),
            pattern: s("white_list"),
            timestamp: s("1400000000123"),
        }
    );
}

// ---------- brokers ----------

fn broker(name: &str, id: i32) -> BrokerRegistration {
    parse_broker(&format!("/brokers/ids/{id}"), id, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ep(listener: &str, protocol: &str, host: &str, port: u16) -> Endpoint {
    Endpoint { listener: listener.into(), protocol: protocol.into(), host: host.into(), port }
}

#[test]
fn broker_registrations_v1_to_v3() {
    let b = broker("brokers/v1.json", 1);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 1,
            version: 1,
            host: s("kafka1.example.com"),
            port: Some(9092),
            endpoints: vec![],
            rack: None,
            jmx_port: Some(-1),
        }
    );
    assert_eq!(b.choose(None).unwrap(), ep("PLAINTEXT", "PLAINTEXT", "kafka1.example.com", 9092));

    let b = broker("brokers/v2.json", 2);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 2,
            version: 2,
            host: s("kafka2.example.com"),
            port: Some(9092),
            endpoints: vec![ep("PLAINTEXT", "PLAINTEXT", "kafka2.example.com", 9092)],
            rack: None,
            jmx_port: Some(9999),
        }
    );

    let b = broker("brokers/v3.json", 3);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 3,
            version: 3,
            host: s("kafka3.example.com"),
            port: Some(9092),
            endpoints: vec![
                ep("PLAINTEXT", "PLAINTEXT", "kafka3.example.com", 9092),
                ep("SSL", "SSL", "kafka3.example.com", 9093),
            ],
            rack: s("us-east-1a"),
            jmx_port: Some(-1),
        }
    );
    assert_eq!(b.choose(None).unwrap().address(), "kafka3.example.com:9092");
    assert_eq!(b.choose(Some("ssl")).unwrap().address(), "kafka3.example.com:9093");
}

#[test]
fn broker_registrations_v4_v5() {
    let b = broker("brokers/v4.json", 4);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 4,
            version: 4,
            host: s("kafka4.example.com"),
            port: Some(9092),
            endpoints: vec![
                ep("PLAINTEXT", "PLAINTEXT", "kafka4.example.com", 9092),
                ep("INTERNAL", "SASL_PLAINTEXT", "10.0.0.4", 9094),
            ],
            rack: None,
            jmx_port: Some(-1),
        }
    );
    assert_eq!(b.choose(Some("INTERNAL")).unwrap().address(), "10.0.0.4:9094");
    assert_eq!(
        b.choose(Some("CLIENT")).unwrap_err(),
        "broker 4 has no listener CLIENT (listeners: PLAINTEXT, INTERNAL)"
    );

    let b = broker("brokers/v5.json", 7);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 7,
            version: 5,
            host: s("kafka6.example.com"),
            port: Some(9092),
            endpoints: vec![
                ep("PLAINTEXT", "PLAINTEXT", "kafka6.example.com", 9092),
                ep("EXTERNAL", "SASL_SSL", "kafka6.public.example.com", 9096),
            ],
            rack: s("rack-b"),
            jmx_port: Some(-1),
        }
    );
    assert_eq!(b.choose(None).unwrap().address(), "kafka6.example.com:9092");
    assert_eq!(b.choose(Some("external")).unwrap(), ep("EXTERNAL", "SASL_SSL", "kafka6.public.example.com", 9096));
}

/// Captured from Apache Kafka 3.9 in ZooKeeper mode (`scripts/services up kafka39`).
#[test]
fn broker_registration_from_kafka_3_9() {
    let b = broker("brokers/v5-kafka-3.9.json", 1);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 1,
            version: 5,
            host: s("127.0.0.1"),
            port: Some(19092),
            endpoints: vec![ep("PLAINTEXT", "PLAINTEXT", "127.0.0.1", 19092)],
            rack: None,
            jmx_port: Some(-1),
        }
    );
    assert_eq!(b.choose(None).unwrap().address(), "127.0.0.1:19092");
}

#[test]
fn broker_without_plaintext_listener() {
    let b = broker("brokers/v4-ssl-only.json", 5);
    assert_eq!(
        b,
        BrokerRegistration {
            id: 5,
            version: 4,
            host: None,
            port: Some(-1),
            endpoints: vec![
                ep("CLIENT", "SSL", "kafka5.example.com", 9093),
                ep("REPLICATION", "SSL", "10.0.0.5", 9094),
            ],
            rack: None,
            jmx_port: Some(-1),
        }
    );
    // No PLAINTEXT listener and no legacy host: the first endpoint, whose protocol is reported.
    assert_eq!(b.choose(None).unwrap(), ep("CLIENT", "SSL", "kafka5.example.com", 9093));
    assert_eq!(b.choose(Some("REPLICATION")).unwrap().address(), "10.0.0.5:9094");
}

#[test]
fn broker_ipv6_and_empty_hosts() {
    let b = broker("brokers/v5-ipv6.json", 8);
    assert_eq!(b.endpoints, vec![ep("PLAINTEXT", "PLAINTEXT", "2001:db8::7", 9092)]);
    assert_eq!((b.host.as_deref(), b.port, b.version), (Some("2001:db8::7"), Some(9092), 5));
    assert_eq!(b.choose(None).unwrap().address(), "[2001:db8::7]:9092");

    let b = broker("brokers/v4-empty-host.json", 6);
    assert_eq!(b.endpoints, vec![ep("PLAINTEXT", "PLAINTEXT", "", 9092)]);
    assert_eq!(b.host, None);
    assert_eq!(b.choose(None).unwrap_err(), "broker 6 registers an empty host for listener PLAINTEXT");
}

#[test]
fn bootstrap_lists_every_usable_broker() {
    let brokers = vec![
        broker("brokers/v1.json", 1),
        broker("brokers/v4.json", 4),
        broker("brokers/v4-empty-host.json", 6),
        broker("brokers/v5-ipv6.json", 8),
    ];
    let b = bootstrap_from(&brokers, vec![], None, "zk:2181").unwrap();
    assert_eq!(b.servers, "kafka1.example.com:9092,kafka4.example.com:9092,[2001:db8::7]:9092");
    assert_eq!(b.protocol, "PLAINTEXT");
    assert_eq!(b.warnings, vec!["broker 6 registers an empty host for listener PLAINTEXT".to_string()]);
    assert_eq!(b.to_string(), b.servers);

    let ssl = vec![broker("brokers/v4-ssl-only.json", 5)];
    let b = bootstrap_from(&ssl, vec![], None, "zk:2181").unwrap();
    assert_eq!((b.servers.as_str(), b.protocol.as_str()), ("kafka5.example.com:9093", "SSL"));
}

#[test]
fn broker_malformed_registrations() {
    let err = parse_broker("/brokers/ids/1", 1, &fixture("malformed/broker-missing-version.json")).unwrap_err();
    assert_eq!(err.to_string(), "/brokers/ids/1: missing field \"version\"");
    let err = parse_broker("/brokers/ids/1", 1, &fixture("malformed/broker-bad-endpoint.json")).unwrap_err();
    assert_eq!(err.to_string(), "/brokers/ids/1: endpoint \"kafka1:9092\" is not LISTENER://host:port");
}

// ---------- topics ----------

#[test]
fn topic_registrations() {
    let t = parse_topic("/brokers/topics/clicks", &fixture("topics/v1.json")).unwrap();
    assert_eq!(
        t,
        TopicRegistration {
            version: Some(1),
            partitions: BTreeMap::from([(0, vec![1, 0]), (1, vec![0, 1]), (2, vec![1, 0])]),
            topic_id: None,
        }
    );
    let t = parse_topic("/brokers/topics/clicks", &fixture("topics/v2.json")).unwrap();
    assert_eq!(
        t,
        TopicRegistration { version: Some(2), partitions: BTreeMap::from([(0, vec![1, 0])]), topic_id: None }
    );
    let t = parse_topic("/brokers/topics/clicks", &fixture("topics/v3.json")).unwrap();
    assert_eq!(
        t,
        TopicRegistration {
            version: Some(3),
            partitions: BTreeMap::from([(0, vec![0, 2]), (1, vec![2, 0])]),
            topic_id: s("a2ZK3fL9TnGq0cJ3bVj4_w"),
        }
    );
    let err = parse_topic("/brokers/topics/clicks", &fixture("malformed/topic-no-partitions.json")).unwrap_err();
    assert_eq!(err.to_string(), "/brokers/topics/clicks: missing field \"partitions\"");
}

#[test]
fn partition_states() {
    let p = parse_partition_state("/s", &fixture("topics/partition-state.json")).unwrap();
    assert_eq!(p, PartitionState { leader: Some(1), leader_epoch: Some(1), isr: vec![1, 0] });
    let p = parse_partition_state("/s", &fixture("topics/partition-state-no-leader.json")).unwrap();
    assert_eq!(p, PartitionState { leader: None, leader_epoch: Some(7), isr: vec![] });
}

// ---------- coverage of the fixture directory ----------

fn all_fixtures(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if entry.file_type().unwrap().is_dir() {
            all_fixtures(&entry.path(), &rel, out);
        } else if name != "README.md" {
            out.insert(rel);
        }
    }
}

/// Runs the other tests' parsing again in one thread and checks that every
/// fixture file was used by at least one of them.
#[test]
fn every_fixture_is_covered() {
    storm_0_9_payloads();
    storm_1_x_payload();
    storm_wildcard_payload_takes_topic_from_path();
    storm_malformed_nodes_give_precise_errors();
    trident_storm_kafka_payloads();
    trident_storm_kafka_client_payload();
    trident_malformed_nodes_give_precise_errors();
    classic_offsets();
    classic_malformed_offsets();
    classic_owners();
    classic_member_registrations();
    broker_registrations_v1_to_v3();
    broker_registrations_v4_v5();
    broker_registration_from_kafka_3_9();
    broker_without_plaintext_listener();
    broker_ipv6_and_empty_hosts();
    broker_malformed_registrations();
    topic_registrations();
    partition_states();
    let mut present = BTreeSet::new();
    all_fixtures(Path::new(FIXTURES), "", &mut present);
    let used = USED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let uncovered: Vec<&String> = present.difference(&used).collect();
    assert!(uncovered.is_empty(), "fixtures not covered by tests/zk_parsing.rs: {uncovered:?}");
}
