//! Classic (0.8-era) consumer nodes under `/consumers/<group>`: offsets
//! (decimal text), owners (`<consumerId>-<threadId>`, host recovered from the
//! generated consumer id) and member registrations under `ids/`.
#![no_main]

use klag::sources::zk_consumers::{parse_member, parse_offset, parse_owner, parse_partition_name};
use libfuzzer_sys::fuzz_target;

const OFFSETS: &str = "/consumers/g/offsets/t/0";
const OWNERS: &str = "/consumers/g/owners/t/0";
const IDS: &str = "/consumers/g/ids/c";

fuzz_target!(|data: &[u8]| {
    match parse_offset(OFFSETS, data) {
        Ok(v) => {
            assert!(v >= 0);
            let text = std::str::from_utf8(data).unwrap_or_default().trim();
            assert_eq!(text.parse::<i64>().ok(), Some(v));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(OFFSETS), "{msg}");
            // Shortened: a huge bad offset never makes a huge message.
            assert!(msg.chars().count() <= OFFSETS.len() + 200, "message too long: {} chars", msg.len());
        }
    }

    // The owner's group: the part before the first '_' (so generated ids
    // match), and a group that matches nothing.
    let text = String::from_utf8_lossy(data);
    let group = text.trim().split('_').next().unwrap_or_default().to_string();
    for g in [group.as_str(), "", "unrelated-group"] {
        match parse_owner(OWNERS, g, data) {
            Ok(owner) => {
                let id = owner.consumer_id.as_deref().unwrap_or_default();
                assert!(!id.is_empty() && id == id.trim());
                if let Some(host) = owner.host.as_deref() {
                    assert!(!host.is_empty());
                    assert!(id.starts_with(&format!("{g}_{host}-")), "host {host:?} not from {id:?}");
                }
            }
            Err(e) => assert!(e.to_string().starts_with(OWNERS)),
        }
    }

    match parse_member(IDS, data) {
        Ok(_) => {}
        Err(e) => assert!(e.to_string().starts_with(IDS)),
    }

    if let Some(p) = parse_partition_name(&text) {
        assert!(p >= 0);
    }
});
