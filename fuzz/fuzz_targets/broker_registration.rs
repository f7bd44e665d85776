//! Kafka's own ZooKeeper registrations: `/brokers/ids/<id>` (then the
//! listener choice and the bootstrap list built from it),
//! `/brokers/topics/<t>` and `.../partitions/<p>/state`, and the
//! `LISTENER://host:port` endpoint strings. Every parser sees every input.
#![no_main]

use std::collections::BTreeMap;

use klag::brokers_zk::{bootstrap_from, parse_broker, parse_endpoint, parse_partition_state, parse_topic};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/brokers/ids/1";

fuzz_target!(|data: &[u8]| {
    match parse_broker(PATH, 1, data) {
        Ok(b) => {
            assert_eq!(b.id, 1);
            let mut listeners: Vec<Option<&str>> = vec![None, Some("PLAINTEXT"), Some("plaintext"), Some("NOPE")];
            listeners.extend(b.endpoints.iter().map(|e| Some(e.listener.as_str())));
            for listener in listeners {
                if let Ok(e) = b.choose(listener) {
                    assert!(!e.host.is_empty(), "chose an empty host: {e:?}");
                    if let Some(name) = listener {
                        assert!(e.listener.eq_ignore_ascii_case(name));
                    }
                    let address = e.address();
                    assert!(address.ends_with(&format!(":{}", e.port)), "{address}");
                }
                match bootstrap_from(std::slice::from_ref(&b), Vec::new(), listener, "zk:2181") {
                    Ok(boot) => assert!(!boot.servers.is_empty() && !boot.protocol.is_empty()),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
        }
        Err(e) => assert!(e.to_string().starts_with(PATH)),
    }

    match parse_topic("/brokers/topics/t", data) {
        Ok(t) => assert!(t.partitions.keys().all(|p| *p >= 0)),
        Err(e) => assert!(e.to_string().starts_with("/brokers/topics/t")),
    }

    match parse_partition_state("/brokers/topics/t/partitions/0/state", data) {
        Ok(s) => assert!(s.leader.is_none_or(|l| l >= 0)),
        Err(e) => assert!(e.to_string().starts_with("/brokers/topics/t/partitions/0/state")),
    }

    let text = String::from_utf8_lossy(data);
    let mut protocols = BTreeMap::new();
    protocols.insert("CLIENT".to_string(), "SASL_SSL".to_string());
    for map in [BTreeMap::new(), protocols] {
        for candidate in std::iter::once(text.as_ref()).chain(text.lines()) {
            if let Ok(e) = parse_endpoint(candidate, &map) {
                assert!(!e.listener.is_empty());
                assert_eq!(e.listener, e.listener.to_ascii_uppercase());
                assert!(!e.protocol.is_empty());
                assert!(candidate.contains("://"));
            }
        }
    }
});
