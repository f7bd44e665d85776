use super::*;

#[test]
fn bootstrap_lists_parse() {
    let p = |s: &str| parse_bootstrap(s);
    assert_eq!(p("a:1,b:2"), Some(vec![("a".into(), 1), ("b".into(), 2)]));
    assert_eq!(p(" PLAINTEXT://a:1 , b "), Some(vec![("a".into(), 1), ("b".into(), 9092)]));
    assert_eq!(p("[::1]:9093,[fe80::1]"), Some(vec![("::1".into(), 9093), ("fe80::1".into(), 9092)]));
    assert_eq!(p("SSL://a:1"), None);
    assert_eq!(p("a:x"), None);
    assert_eq!(p("a:0"), None);
    assert_eq!(p(""), None);
    assert_eq!(p("::1"), None);
}

#[test]
fn only_plain_connections_use_the_client() {
    let props = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    assert!(Settings::plain("a:1", &[]).is_some());
    assert!(Settings::plain("a:1", &props(&[("debug", "protocol"), ("security.protocol", "PLAINTEXT")])).is_some());
    assert!(Settings::plain("a:1", &props(&[("security.protocol", "ssl")])).is_none());
    assert!(Settings::plain("a:1", &props(&[("sasl.mechanism", "PLAIN")])).is_none());
    assert!(Settings::plain("a:1", &props(&[("broker.address.family", "v4")])).is_none());
    assert!(Settings::plain("SASL_SSL://a:1", &[]).is_none());
    let s = Settings::plain("a:1", &props(&[("debug", "broker,protocol"), ("client.id", "me")])).unwrap();
    assert!(s.protocol_debug && s.client_id == "me");
    assert!(!Settings::plain("a:1", &props(&[("debug", "broker")])).unwrap().protocol_debug);
}

#[test]
fn states_are_named_as_librdkafka_names_them() {
    assert_eq!(state_name("Stable"), "Stable");
    assert_eq!(state_name("stable"), "Stable");
    assert_eq!(state_name("CompletingRebalance"), "CompletingRebalance");
    assert_eq!(state_name("Assigning"), "Unknown");
    assert_eq!(state_name(""), "Unknown");
}

// ---------------------------------------------------------------------------
// A fake one-broker cluster on loopback: it answers ApiVersions with the
// given ranges and every other request through a handler, and records what
// it was sent. The orchestration (batching, retries, fallbacks) is tested
// against it; the encodings are tested in messages.rs.

mod fake {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    use crate::kafka::wire::codec::{Reader, Writer};
    use crate::kafka::wire::messages::{self, tests::Resp};

    /// Answers `(its own port, api key, request body, how many requests of
    /// this key came before)`; `None` leaves the request unanswered.
    pub type Handler = dyn Fn(u16, i16, &[u8], usize) -> Option<Vec<u8>> + Send + Sync;

    pub struct Fake {
        pub port: u16,
        pub sent: Arc<Mutex<Vec<i16>>>,
    }

    impl Fake {
        pub fn count(&self, key: i16) -> usize {
            self.sent.lock().unwrap().iter().filter(|k| **k == key).count()
        }

        pub fn bootstrap(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }
    }

    /// Every API klag uses, at versions it speaks.
    pub fn modern() -> Vec<(i16, i16, i16)> {
        vec![
            (messages::API_VERSIONS, 0, 3),
            (messages::METADATA, 0, 12),
            (messages::LIST_GROUPS, 0, 5),
            (messages::FIND_COORDINATOR, 0, 4),
            (messages::OFFSET_FETCH, 0, 9),
            (messages::DESCRIBE_GROUPS, 0, 5),
            (messages::LIST_OFFSETS, 0, 7),
        ]
    }

    pub fn start(
        versions: Vec<(i16, i16, i16)>,
        handler: impl Fn(u16, i16, &[u8], usize) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (versions, log) = (Arc::new(versions), sent.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (handler, versions, log) = (handler.clone(), versions.clone(), log.clone());
                std::thread::spawn(move || serve(port, stream, &versions, &*handler, &log));
            }
        });
        Fake { port, sent }
    }

    fn serve(port: u16, mut s: TcpStream, versions: &[(i16, i16, i16)], handler: &Handler, log: &Mutex<Vec<i16>>) {
        loop {
            let mut size = [0u8; 4];
            if s.read_exact(&mut size).is_err() {
                return;
            }
            let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
            if s.read_exact(&mut frame).is_err() {
                return;
            }
            let mut r = Reader::new(&frame);
            let key = r.i16("key").unwrap();
            r.i16("version").unwrap();
            let corr = r.i32("corr").unwrap();
            r.string("client id").unwrap();
            let mut w = Writer::default();
            w.i32(corr);
            let body = if key == messages::API_VERSIONS {
                w.i16(0);
                w.i32(versions.len() as i32);
                for (k, lo, hi) in versions {
                    w.i16(*k);
                    w.i16(*lo);
                    w.i16(*hi);
                }
                Some(Vec::new())
            } else {
                r.skip_tags("header").unwrap();
                let before = {
                    let mut l = log.lock().unwrap();
                    let n = l.iter().filter(|k| **k == key).count();
                    l.push(key);
                    n
                };
                w.no_tags();
                handler(port, key, r.take(r.remaining(), "body").unwrap(), before)
            };
            let Some(body) = body else { continue };
            w.buf.extend_from_slice(&body);
            let mut out = (w.buf.len() as i32).to_be_bytes().to_vec();
            out.extend_from_slice(&w.buf);
            if s.write_all(&out).is_err() {
                return;
            }
        }
    }

    /// Metadata: this broker as node 1, and `topics` (with a topic error
    /// code) with partitions `(index, leader)`; leader -1 has no leader.
    /// `(name, error code, [(partition, leader)])`
    pub type TopicMeta<'a> = (&'a str, i16, &'a [(i32, i32)]);

    pub fn metadata(port: u16, topics: &[TopicMeta<'_>]) -> Vec<u8> {
        let mut r = Resp::default().i32(0).n(1).i32(1).s("127.0.0.1").i32(i32::from(port)).null().tags().null().i32(1);
        r = r.n(topics.len());
        for (name, err, parts) in topics {
            r = r.i16(*err).s(name).raw(&[0]).n(parts.len());
            for (p, leader) in *parts {
                let code = if *leader < 0 { 5 } else { 0 };
                r = r.i16(code).i32(*p).i32(*leader).i32(0).n(1).i32(1).n(1).i32(1).n(0).tags();
            }
            r = r.i32(i32::MIN).tags();
        }
        r.i32(i32::MIN).tags().done()
    }

    /// ListGroups: `(group, protocol type, state)`.
    pub fn list_groups(groups: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut r = Resp::default().i32(0).i16(0).n(groups.len());
        for (g, p, s) in groups {
            r = r.s(g).s(p).s(s).tags();
        }
        r.tags().done()
    }

    /// FindCoordinator: every key of the request at this broker.
    pub fn find_coordinator(port: u16, request: &[u8]) -> Vec<u8> {
        let mut q = Reader::new(request);
        q.take(1, "key type").unwrap();
        let n = q.compact_count(1, "keys").unwrap().unwrap();
        let mut r = Resp::default().i32(0).n(n);
        for _ in 0..n {
            let key = q.compact_string("key").unwrap();
            r = r.s(&key).i32(1).s("127.0.0.1").i32(i32::from(port)).i16(0).null().tags();
        }
        r.tags().done()
    }

    /// ListOffsets: `answer(timestamp)` = `(error, offset)` for every partition asked.
    pub fn list_offsets(request: &[u8], answer: impl Fn(i64) -> (i16, i64)) -> Vec<u8> {
        let mut q = Reader::new(request);
        q.i32("replica").unwrap();
        q.take(1, "isolation").unwrap();
        let topics = q.compact_count(1, "topics").unwrap().unwrap();
        let mut r = Resp::default().i32(0).n(topics);
        for _ in 0..topics {
            let name = q.compact_string("topic").unwrap();
            let parts = q.compact_count(1, "partitions").unwrap().unwrap();
            r = r.s(&name).n(parts);
            for _ in 0..parts {
                let p = q.i32("partition").unwrap();
                q.i32("epoch").unwrap();
                let ts = q.i64("timestamp").unwrap();
                q.skip_tags("partition").unwrap();
                let (err, offset) = answer(ts);
                r = r.i32(p).i16(err).i64(-1).i64(offset).i32(0).tags();
            }
            q.skip_tags("topic").unwrap();
            r = r.tags();
        }
        r.tags().done()
    }
}

use std::time::{Duration, Instant};

use fake::Fake;
use messages::errors;
use messages::tests::{assignment, offset_fetch_body, Resp};

fn wire(f: &Fake) -> Wire {
    Wire::new(Settings::plain(&f.bootstrap(), &[]).unwrap())
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

#[test]
fn a_run_asks_once_per_broker_whatever_the_groups() {
    let f = fake::start(fake::modern(), |port, key, _, _| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[("t", 0, &[(0, 1), (1, 1)])]),
            messages::LIST_GROUPS => fake::list_groups(&[
                ("g1", "consumer", "Empty"),
                ("g2", "", "Empty"),
                ("connect-x", "connect", "Stable"),
            ]),
            messages::OFFSET_FETCH => {
                offset_fetch_body(&[("g1", &[("t", &[(1, 7, 0), (0, 5, 0)])], 0), ("g2", &[("t", &[(0, -1, 0)])], 0)])
            }
            _ => return None,
        })
    });
    let w = wire(&f);
    let listing = w.list_groups(soon(2000)).unwrap();
    let ids: Vec<String> = listing.groups.iter().map(|g| g.group_id.clone()).collect();
    assert_eq!(ids, ["g1", "g2"], "connect groups are not consumer groups");
    assert!(listing.groups[1].is_simple && listing.groups[0].state == "Empty");
    let out = w.read(&[], &ids, soon(2000)).unwrap();
    let g1 = out.committed.iter().find(|(g, _)| g == "g1").unwrap().1.clone().unwrap();
    let got: Vec<(i32, Option<i64>)> = g1.iter().map(|c| (c.partition, c.offset)).collect();
    assert_eq!(got, [(0, Some(5)), (1, Some(7))], "sorted by partition");
    let g2 = out.committed.iter().find(|(g, _)| g == "g2").unwrap().1.clone().unwrap();
    assert_eq!(g2[0].offset, None);
    // One Metadata, one ListGroups, one OffsetFetch for both groups; the
    // listing told the coordinator: no FindCoordinator.
    assert_eq!((f.count(messages::METADATA), f.count(messages::LIST_GROUPS)), (1, 1));
    assert_eq!((f.count(messages::OFFSET_FETCH), f.count(messages::FIND_COORDINATOR)), (1, 0));
}

#[test]
fn a_coordinator_that_moved_is_found_again() {
    let f = fake::start(fake::modern(), |port, key, req, before| {
        Some(match key {
            messages::FIND_COORDINATOR => fake::find_coordinator(port, req),
            // The first OffsetFetch: g1 is not (or no longer) here.
            messages::OFFSET_FETCH if before == 0 => {
                offset_fetch_body(&[("g1", &[], 16), ("g2", &[("t", &[(0, 2, 0)])], 0)])
            }
            messages::OFFSET_FETCH => offset_fetch_body(&[("g1", &[("t", &[(0, 9, 0)])], 0)]),
            _ => return None,
        })
    });
    let w = wire(&f);
    let out = w.read(&[], &["g1".to_string(), "g2".to_string()], soon(3000)).unwrap();
    for (g, want) in [("g1", 9), ("g2", 2)] {
        let r = out.committed.iter().find(|(id, _)| id == g).unwrap().1.clone().unwrap();
        assert_eq!(r[0].offset, Some(want), "{g}");
    }
    // Both groups in the first requests; only g1 again.
    assert_eq!((f.count(messages::FIND_COORDINATOR), f.count(messages::OFFSET_FETCH)), (2, 2));
}

#[test]
fn a_coordinator_loading_until_the_deadline_times_out_naming_why() {
    let f = fake::start(fake::modern(), |port, key, req, _| {
        Some(match key {
            messages::FIND_COORDINATOR => fake::find_coordinator(port, req),
            messages::OFFSET_FETCH => offset_fetch_body(&[("g1", &[], 14)]),
            _ => return None,
        })
    });
    let started = Instant::now();
    let out = wire(&f).read(&[], &["g1".to_string()], soon(600)).unwrap();
    assert!(started.elapsed() < Duration::from_millis(900));
    match &out.committed[0].1 {
        Err(Fail::Timeout { request: "OffsetFetch", detail }) => {
            assert!(detail.contains("Coordinator load in progress"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn brokers_without_the_batched_versions_are_left_to_librdkafka() {
    let mut old = fake::modern();
    old.retain(|(k, _, _)| *k != messages::FIND_COORDINATOR);
    old.push((messages::FIND_COORDINATOR, 0, 3));
    let f = fake::start(old, |_, _, _, _| None);
    let r = wire(&f).read(&[], &["g1".to_string()], soon(2000));
    assert!(matches!(r, Err(Unusable::Fallback(_))), "{r:?}");
    assert_eq!(f.count(messages::OFFSET_FETCH), 0);
}

#[test]
fn consumer_protocol_groups_are_described_by_consumer_group_describe() {
    let mut versions = fake::modern();
    versions.push((messages::CONSUMER_GROUP_DESCRIBE, 0, 1));
    let f = fake::start(versions, |port, key, req, _| {
        Some(match key {
            messages::FIND_COORDINATOR => fake::find_coordinator(port, req),
            // "new" is a KIP-848 group; "old" is classic (GROUP_ID_NOT_FOUND here).
            messages::CONSUMER_GROUP_DESCRIBE => Resp::default()
                .i32(0)
                .n(2)
                .i16(0)
                .null()
                .s("new")
                .s("Stable")
                .i32(1)
                .i32(1)
                .s("uniform")
                .n(1)
                .s("m1")
                .null()
                .null()
                .i32(1)
                .s("c1")
                .s("/10.0.0.1")
                .n(0)
                .null()
                .n(1)
                .raw(&[7; 16])
                .s("t")
                .n(1)
                .i32(3)
                .tags()
                .tags()
                .n(0)
                .tags()
                .tags()
                .i32(i32::MIN)
                .tags()
                .i16(69)
                .s("not a consumer group")
                .s("old")
                .s("")
                .i32(0)
                .i32(0)
                .s("")
                .n(0)
                .i32(i32::MIN)
                .tags()
                .tags()
                .done(),
            messages::DESCRIBE_GROUPS => Resp::default()
                .i32(0)
                .n(2)
                .i16(0)
                .s("new")
                .s("Dead")
                .s("")
                .s("")
                .n(0)
                .i32(i32::MIN)
                .tags()
                .i16(0)
                .s("old")
                .s("Stable")
                .s("consumer")
                .s("range")
                .n(1)
                .s("m2")
                .null()
                .s("c2")
                .s("/10.0.0.2")
                .bytes(&[])
                .bytes(&assignment("u", &[0, 1]))
                .tags()
                .i32(i32::MIN)
                .tags()
                .tags()
                .done(),
            _ => return None,
        })
    });
    let out = wire(&f).read(&["new".to_string(), "old".to_string()], &[], soon(2000)).unwrap();
    let get = |g: &str| out.described.iter().find(|(id, _)| id == g).unwrap().1.clone().unwrap();
    let new = get("new");
    assert_eq!((new.state.as_str(), new.members[0].assignment.clone()), ("Stable", vec![("t".to_string(), 3)]));
    let old = get("old");
    assert_eq!(old.members[0].client_id, "c2");
    assert_eq!(old.members[0].assignment, vec![("u".to_string(), 0), ("u".to_string(), 1)]);
    assert_eq!((f.count(messages::CONSUMER_GROUP_DESCRIBE), f.count(messages::DESCRIBE_GROUPS)), (1, 1));
}

#[test]
fn log_offsets_ask_again_through_a_leadership_change() {
    let f = fake::start(fake::modern(), |port, key, req, before| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[("t", 0, &[(0, 1)]), ("gone", 3, &[])]),
            // The first end offset: a new leader not caught up yet.
            messages::LIST_OFFSETS => fake::list_offsets(req, |ts| match ts {
                messages::EARLIEST => (0, 4),
                _ if before < 2 => (errors::OFFSET_NOT_AVAILABLE, -1),
                _ => (0, 40),
            }),
            _ => return None,
        })
    });
    let topics = vec![("t".to_string(), vec![0]), ("gone".to_string(), vec![0])];
    let found = wire(&f).list_offsets(&topics, false, soon(3000)).unwrap();
    let [start, end] = &found[&("t".to_string(), 0)];
    assert_eq!((start.clone(), end.clone()), (Ok(4), Ok(40)));
    let [start, _] = &found[&("gone".to_string(), 0)];
    assert_eq!(start.clone(), Err(OffsetFail::Broker("Broker: Unknown topic or partition".into())));
    assert_eq!(f.count(messages::LIST_OFFSETS), 4, "two per round, two rounds");
}

#[test]
fn a_partition_without_leader_times_out_saying_so() {
    let f = fake::start(fake::modern(), |port, key, req, _| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[("t", 0, &[(0, -1), (1, 1)])]),
            messages::LIST_OFFSETS => fake::list_offsets(req, |_| (0, 8)),
            _ => return None,
        })
    });
    let started = Instant::now();
    let found = wire(&f).list_offsets(&[("t".to_string(), vec![0, 1])], true, soon(500)).unwrap();
    assert!(started.elapsed() < Duration::from_millis(800));
    assert_eq!(found[&("t".to_string(), 1)].clone(), [Ok(8), Ok(8)]);
    match &found[&("t".to_string(), 0)][1] {
        Err(OffsetFail::Timeout(why)) => assert!(why.contains("Leader not available"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_silent_cluster_is_a_timeout_and_a_closed_one_falls_back() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let w = Wire::new(Settings::plain(&silent.local_addr().unwrap().to_string(), &[]).unwrap());
    assert!(matches!(w.list_groups(soon(300)), Err(Unusable::Timeout(_))));
    assert!(!w.answered());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let w = Wire::new(Settings::plain(&format!("127.0.0.1:{port}"), &[]).unwrap());
    assert!(matches!(w.list_groups(soon(2000)), Err(Unusable::Fallback(_))));
}

#[test]
fn a_broker_still_loading_lists_what_it_has_after_a_while() {
    let f = fake::start(fake::modern(), |port, key, _, _| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[]),
            // COORDINATOR_LOAD_IN_PROGRESS, with the groups loaded so far.
            messages::LIST_GROUPS => {
                Resp::default().i32(0).i16(14).n(1).s("g1").s("consumer").s("Empty").tags().tags().done()
            }
            _ => return None,
        })
    });
    let started = Instant::now();
    let listing = wire(&f).list_groups(soon(5000)).unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500) && took < Duration::from_millis(2500), "{took:?}");
    assert_eq!(listing.groups.len(), 1);
    assert_eq!(listing.failures.len(), 1);
    let (how, text) = &listing.failures[0];
    assert!(*how == ListFailure::Error && text.contains("Coordinator load in progress"), "{text}");
    assert!(f.count(messages::LIST_GROUPS) > 2, "asked again while loading");
}

/// DescribeGroups of probe groups: each id answered with `code(id)` and
/// state Dead.
fn probe_answer(request: &[u8], code: impl Fn(&str) -> i16) -> Vec<u8> {
    let mut q = crate::kafka::wire::codec::Reader::new(request);
    let n = q.compact_count(1, "groups").unwrap().unwrap();
    let mut r = Resp::default().i32(0).n(n);
    for _ in 0..n {
        let id = q.compact_string("group").unwrap();
        r = r.i16(code(&id)).s(&id).s("Dead").s("").s("").n(0).i32(i32::MIN).tags();
    }
    r.tags().done()
}

/// A fake whose `__consumer_offsets` has two partitions; the probes of
/// partition 1 answer `moving(how many DescribeGroups came before)`, and
/// ListGroups lists `g2` (stored in partition 1) only once they say ready.
fn coordinator_moving(moving: impl Fn(usize) -> i16 + Send + Sync + 'static) -> Fake {
    let p1 = listing::tests::probe_of(2, 1);
    let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    fake::start(fake::modern(), move |port, key, req, before| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[("__consumer_offsets", 0, &[(0, 1), (1, 1)])]),
            messages::DESCRIBE_GROUPS => {
                let code = moving(before);
                ready.store(code == 0, std::sync::atomic::Ordering::SeqCst);
                probe_answer(req, |id| if id == p1 { code } else { 0 })
            }
            messages::LIST_GROUPS if ready.load(std::sync::atomic::Ordering::SeqCst) => {
                fake::list_groups(&[("g1", "consumer", "Empty"), ("g2", "consumer", "Empty")])
            }
            messages::LIST_GROUPS => fake::list_groups(&[("g1", "consumer", "Empty")]),
            _ => return None,
        })
    })
}

#[test]
fn a_listing_is_taken_again_while_a_coordinator_moves() {
    // Not yet the coordinator of partition 1 for the first listing's probes.
    let f = coordinator_moving(|before| if before < 2 { errors::NOT_COORDINATOR } else { 0 });
    let listing = wire(&f).list_groups(soon(5000)).unwrap();
    let ids: Vec<&str> = listing.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, ["g1", "g2"]);
    assert!(listing.failures.is_empty(), "{:?}", listing.failures);
    assert_eq!((f.count(messages::LIST_GROUPS), f.count(messages::DESCRIBE_GROUPS)), (2, 4));
}

#[test]
fn a_coordinator_ready_only_after_the_listing_is_not_trusted() {
    // Loading at the first probe, ready at the one after the ListGroups.
    let f = coordinator_moving(|before| if before == 0 { errors::COORDINATOR_LOAD_IN_PROGRESS } else { 0 });
    let listing = wire(&f).list_groups(soon(5000)).unwrap();
    assert_eq!(listing.groups.len(), 2, "listed again");
    assert_eq!(f.count(messages::LIST_GROUPS), 2);
}

#[test]
fn a_partition_no_broker_coordinates_is_reported_by_the_deadline() {
    let f = coordinator_moving(|_| errors::NOT_COORDINATOR);
    let started = Instant::now();
    let listing = wire(&f).list_groups(soon(800)).unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert_eq!(listing.groups.len(), 1);
    // A last attempt cut by the deadline may add its own failure; the
    // partition missing is reported either way.
    let (_, text) = listing.failures.iter().find(|(how, _)| *how == ListFailure::Unowned).expect("reported");
    assert!(text.contains("__consumer_offsets partitions 1 "), "{text}");
    assert!(f.count(messages::LIST_GROUPS) > 2, "asked again");
}

#[test]
fn a_failed_retry_keeps_what_the_listing_before_it_found() {
    // Partition 1 is never ready; the second listing goes unanswered.
    let p1 = listing::tests::probe_of(2, 1);
    let f = fake::start(fake::modern(), move |port, key, req, before| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[("__consumer_offsets", 0, &[(0, 1), (1, 1)])]),
            messages::DESCRIBE_GROUPS if before < 2 => {
                probe_answer(req, |id| if id == p1 { errors::NOT_COORDINATOR } else { 0 })
            }
            messages::LIST_GROUPS if before == 0 => fake::list_groups(&[("g1", "consumer", "Empty")]),
            _ => return None,
        })
    });
    let listing = wire(&f).list_groups(soon(1500)).unwrap();
    let ids: Vec<&str> = listing.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, ["g1"]);
    let mut hows: Vec<ListFailure> = listing.failures.iter().map(|(how, _)| *how).collect();
    hows.sort_by_key(|h| format!("{h:?}"));
    assert_eq!(hows, [ListFailure::Timeout, ListFailure::Unowned], "{:?}", listing.failures);
}

#[test]
fn probes_that_cannot_tell_do_not_hold_the_listing() {
    // Describe denied: the listing stands as it is.
    let f = coordinator_moving(|_| 30);
    let listing = wire(&f).list_groups(soon(5000)).unwrap();
    assert!(listing.failures.is_empty(), "{:?}", listing.failures);
    assert_eq!(f.count(messages::LIST_GROUPS), 1);
}

#[test]
fn a_probe_not_ready_before_and_unknown_after_is_not_trusted() {
    let f = coordinator_moving(|before| match before {
        0 => errors::NOT_COORDINATOR,
        1 => 30, // group authorization failed: no telling
        _ => 0,
    });
    let listing = wire(&f).list_groups(soon(5000)).unwrap();
    assert_eq!(listing.groups.len(), 2, "listed again");
    assert!(listing.failures.is_empty(), "{:?}", listing.failures);
    assert_eq!(f.count(messages::LIST_GROUPS), 2);
}

#[test]
fn partitions_ready_in_different_attempts_add_up() {
    // Attempt 1: partition 0 moving, partition 1 ready; attempt 2 the
    // other way round. Each partition was ready once: nothing is missing.
    let (p0, p1) = (listing::tests::probe_of(2, 0), listing::tests::probe_of(2, 1));
    let f = fake::start(fake::modern(), move |port, key, req, before| {
        Some(match key {
            messages::METADATA => fake::metadata(port, &[("__consumer_offsets", 0, &[(0, 1), (1, 1)])]),
            messages::DESCRIBE_GROUPS => {
                let moving = if before < 2 { &p0 } else { &p1 };
                probe_answer(req, |id| if id == moving { errors::NOT_COORDINATOR } else { 0 })
            }
            messages::LIST_GROUPS if before == 0 => fake::list_groups(&[("in-p1", "consumer", "Empty")]),
            messages::LIST_GROUPS => fake::list_groups(&[("in-p0", "consumer", "Stable")]),
            _ => return None,
        })
    });
    let listing = wire(&f).list_groups(soon(5000)).unwrap();
    let mut ids: Vec<&str> = listing.groups.iter().map(|g| g.group_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["in-p0", "in-p1"]);
    assert!(listing.failures.is_empty(), "{:?}", listing.failures);
    assert_eq!(f.count(messages::LIST_GROUPS), 2);
}
