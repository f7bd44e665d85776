//! storm-kafka KafkaSpout partition nodes: `parse_spout_node` with the raw
//! node payload as input, in both layouts (topic from the payload, or from the
//! wildcard topic directory), with the node name's partition matching the
//! payload's and not.
#![no_main]

use klag::sources::storm::{parse_partition_node_name, parse_spout_node};
use klag::zk::topology_name_from_storm_id;
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/kafkastorm/spout/partition_0";

fuzz_target!(|data: &[u8]| {
    // What the payload claims, to reach the success paths as well as the mismatches.
    let claimed = serde_json::from_slice::<serde_json::Value>(data).ok();
    let claimed_partition = claimed
        .as_ref()
        .and_then(|v| v.get("partition"))
        .and_then(serde_json::Value::as_i64)
        .and_then(|p| i32::try_from(p).ok());
    let claimed_topic = claimed.as_ref().and_then(|v| v.get("topic")).and_then(|t| t.as_str()).map(str::to_string);

    let mut partitions = vec![0, -1, i32::MAX];
    partitions.extend(claimed_partition);
    let mut dirs: Vec<Option<&str>> = vec![None, Some("other-topic")];
    if let Some(t) = claimed_topic.as_deref() {
        dirs.push(Some(t));
    }
    for &partition in &partitions {
        for &dir in &dirs {
            match parse_spout_node(PATH, partition, dir, data) {
                Ok(node) => {
                    assert!(node.offset >= 0, "negative offset accepted: {node:?}");
                    assert_eq!(node.partition, partition);
                    if let Some(dir) = dir {
                        assert_eq!(node.topic, dir, "wildcard layout must keep the directory's topic");
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with(PATH), "error does not name the path: {msg}");
                }
            }
        }
    }

    // The node-name and storm-id helpers see the same bytes as names.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(n) = parse_partition_node_name(text) {
            assert!(n >= 0 && text.starts_with("partition_"));
        }
        if let Some(name) = topology_name_from_storm_id(text) {
            assert!(!name.is_empty() && text.starts_with(name));
        }
    }
});
