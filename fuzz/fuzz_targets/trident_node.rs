//! Trident partition ids, txid listings and batch metadata.
//!
//! Input: `<partition id>\n<txid>,<txid>,...\n<payload>`; an input without two
//! line feeds is all payload, read as both writers' metadata.
#![no_main]

use klag::sources::trident::{
    latest_txid, parse_node, parse_partition_id, parse_wildcard_partition_id, PartitionId, Writer,
};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/transactional/stream/user/partition_0/7";

fn check(id: &PartitionId, payload: &[u8]) {
    match parse_node(PATH, id, payload) {
        Ok(n) => {
            assert_eq!(n.writer, id.writer);
            assert_eq!(n.partition, id.partition);
            if let Some(p) = n.position {
                assert!(p >= 0, "negative position {p}");
                if id.writer == Writer::KafkaClient {
                    assert!(p >= 1, "lastOffset + 1 must be at least 1, got {p}");
                }
            }
            if let Some(t) = &id.topic {
                assert_eq!(n.topic.as_deref(), Some(t.as_str()));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(PATH), "error does not name the path: {msg}");
        }
    }
}

/// The reference order for decimal strings: by value, whatever the length.
fn numeric_le(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    (a.len(), a) <= (b.len(), b)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (id_bytes, txid_bytes, payload) = match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(txids), Some(payload)) => (id, txids, payload),
        _ => (&b""[..], &b""[..], data),
    };
    let name = String::from_utf8_lossy(id_bytes);

    if let Some(id) = parse_partition_id(&name) {
        assert!(id.partition >= 0);
        match id.writer {
            Writer::StormKafka => assert!(name.starts_with("partition_") && id.topic.is_none()),
            Writer::KafkaClient => {
                let topic = id.topic.as_deref().unwrap_or_default();
                assert!(!topic.is_empty() && name.starts_with(topic));
            }
        }
        check(&id, payload);
    }
    if let Some(id) = parse_wildcard_partition_id("some.topic", &name) {
        assert_eq!(id.topic.as_deref(), Some("some.topic"));
        check(&id, payload);
    }
    // Both writers, plain and with a known topic, whatever the id said.
    for id in [
        PartitionId { writer: Writer::StormKafka, topic: None, partition: 0 },
        PartitionId { writer: Writer::StormKafka, topic: Some("t".into()), partition: 3 },
        PartitionId { writer: Writer::KafkaClient, topic: Some("t".into()), partition: 0 },
    ] {
        check(&id, payload);
    }

    let txids: Vec<String> = String::from_utf8_lossy(txid_bytes).split(',').map(str::to_string).collect();
    let numeric: Vec<&str> =
        txids.iter().map(String::as_str).filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())).collect();
    match latest_txid(&txids) {
        Some(latest) => {
            assert!(numeric.contains(&latest), "{latest:?} is not one of the numeric txids");
            assert!(numeric.iter().all(|c| numeric_le(c, latest)), "{latest:?} is not the largest of {numeric:?}");
        }
        None => assert!(numeric.is_empty(), "numeric txids {numeric:?} but no latest"),
    }
});
