//! `klag demo`: a self-contained showcase on librdkafka's in-process mock
//! cluster. One group keeps up, one falls behind, one has stopped.
//!
//! The mock cluster cannot list or describe groups, so the demo describes its
//! own consumers and measures them through the same code path as a real run.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{Config, Format};
use crate::exit::ExitCode;
use crate::kafka::{GroupDescription, Kafka, KafkaSettings, Member, Security};
use crate::output;
use crate::run;
use crate::sources::kafka_groups;

/// Topics and how many records per second are produced to each.
const TOPICS: &[(&str, i32, u32)] = &[("orders", 3, 30), ("payments", 2, 10), ("clicks", 4, 60)];

/// What a live consumer thread reports about itself.
#[derive(Default)]
struct Live {
    assignment: Vec<(String, i32)>,
    consumed: u64,
}

struct DemoConsumer {
    group: &'static str,
    client_id: &'static str,
    live: Arc<Mutex<Live>>,
    handle: JoinHandle<()>,
}

/// Runs the demo until Ctrl-C, or prints one snapshot with `once`.
pub fn run(config: &Config, once: bool, interval: Duration) -> anyhow::Result<ExitCode> {
    let cluster = MockCluster::new(3).context("starting the mock cluster")?;
    for &(topic, partitions, _) in TOPICS {
        cluster.create_topic(topic, partitions, 1).with_context(|| format!("creating topic {topic}"))?;
    }
    let bootstrap = cluster.bootstrap_servers();
    let stop = Arc::new(AtomicBool::new(false));

    let producer = spawn_producer(&bootstrap, stop.clone())?;
    let consumers = vec![
        // Keeps up: reads as fast as records arrive.
        spawn_consumer(&bootstrap, "billing", "billing-1", &["orders", "payments"], None, stop.clone())?,
        // Falls behind: reads 25 records a second from a topic that gets 60.
        spawn_consumer(&bootstrap, "analytics", "analytics-1", &["clicks"], Some(25), stop.clone())?,
    ];
    // Stopped: committed once, then went away.
    commit_stalled(&bootstrap, "archiver", &[("orders", 0, 5), ("orders", 1, 3), ("orders", 2, 0)])?;

    let settings = KafkaSettings {
        bootstrap: bootstrap.clone(),
        timeout: config.timeout,
        security: Security::default(),
        properties: vec![],
    };
    let kafka = Kafka::connect(&settings).context("connecting to the mock cluster")?;
    warm_up(&consumers);

    let result = loop {
        let snapshot = measure(&kafka, &settings, &consumers, config);
        if once {
            let mut out = std::io::stdout().lock();
            output::exporter(config.format).render(&snapshot, &mut out).context("writing output")?;
            break Ok(snapshot.coverage().into());
        }
        let mut out = std::io::stdout().lock();
        if out.is_terminal() {
            // Home the cursor and clear, so the table refreshes in place.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        writeln!(out, "klag demo: mock cluster at {bootstrap}; Ctrl-C to stop\n")?;
        let format = if config.format == Format::Json { Format::Json } else { Format::Table };
        output::exporter(format).render(&snapshot, &mut out)?;
        out.flush()?;
        drop(out);
        thread::sleep(interval);
    };

    stop.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = c.handle.join();
    }
    let _ = producer.join();
    drop(kafka);
    drop(cluster);
    result
}

fn measure(
    kafka: &Kafka,
    settings: &KafkaSettings,
    consumers: &[DemoConsumer],
    config: &Config,
) -> crate::lag::Snapshot {
    let deadline = Instant::now() + config.timeout;
    let mut descriptions: Vec<(String, Result<GroupDescription, String>)> = consumers
        .iter()
        .map(|c| {
            let live = c.live.lock().map(|l| l.assignment.clone()).unwrap_or_default();
            let member = Member {
                consumer_id: format!("{}-member", c.client_id),
                client_id: c.client_id.to_string(),
                host: "/127.0.0.1".to_string(),
                assignment: live,
            };
            let state = if member.assignment.is_empty() { "PreparingRebalance" } else { "Stable" };
            (
                c.group.to_string(),
                Ok(GroupDescription { group_id: c.group.to_string(), state: state.to_string(), members: vec![member] }),
            )
        })
        .collect();
    descriptions.push((
        "archiver".to_string(),
        Ok(GroupDescription { group_id: "archiver".to_string(), state: "Empty".to_string(), members: vec![] }),
    ));
    descriptions.retain(|(g, _)| config.filter.wants_group(g));
    let all: Vec<(String, i32)> =
        TOPICS.iter().flat_map(|&(t, n, _)| (0..n).map(move |p| (t.to_string(), p))).collect();
    let mut read = kafka_groups::read_described(kafka, descriptions, &config.filter, Some(&all), deadline);
    // Asking for named partitions returns every one; keep those the group reads.
    read.rows.retain(|r| r.offset.is_some() || r.owner.client_id.is_some());
    let mut errors = Vec::new();
    let offsets = match kafka.log_offsets(&run::partitions_of(&read), config.isolation, deadline) {
        Ok(t) => t,
        Err(e) => {
            errors.push(e.to_string());
            Default::default()
        }
    };
    let mut snapshot = run::finish(read, &offsets);
    snapshot.errors.extend(errors);
    if config.time_lag {
        run::add_time_lag(&mut snapshot, Some(settings), config.isolation, deadline);
    }
    snapshot
}

/// Waits (bounded) until every live consumer has its assignment and has read
/// something, so the first snapshot already tells the three stories apart.
fn warm_up(consumers: &[DemoConsumer]) {
    let limit = Instant::now() + Duration::from_secs(20);
    while Instant::now() < limit {
        let ready = consumers
            .iter()
            .all(|c| c.live.lock().map(|l| !l.assignment.is_empty() && l.consumed > 0).unwrap_or(false));
        if ready {
            // Let the consumers commit a position or two.
            thread::sleep(Duration::from_millis(2500));
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_producer(bootstrap: &str, stop: Arc<AtomicBool>) -> anyhow::Result<JoinHandle<()>> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .context("creating the demo producer")?;
    Ok(thread::spawn(move || {
        let tick = Duration::from_millis(100);
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            for &(topic, _, per_second) in TOPICS {
                for _ in 0..per_second / 10 {
                    n += 1;
                    let key = n.to_string();
                    let _ = producer.send(BaseRecord::to(topic).key(&key).payload("demo"));
                }
            }
            thread::sleep(tick);
        }
        let _ = producer.flush(Duration::from_secs(1));
    }))
}

fn spawn_consumer(
    bootstrap: &str,
    group: &'static str,
    client_id: &'static str,
    topics: &[&str],
    per_second: Option<u32>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<DemoConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", client_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .with_context(|| format!("creating demo consumer {client_id}"))?;
    consumer.subscribe(topics).with_context(|| format!("subscribing {client_id}"))?;
    let live = Arc::new(Mutex::new(Live::default()));
    let shared = live.clone();
    let handle = thread::spawn(move || {
        let pause = per_second.map(|n| Duration::from_secs_f64(1.0 / f64::from(n.max(1))));
        while !stop.load(Ordering::Relaxed) {
            let got = matches!(consumer.poll(Duration::from_millis(100)), Some(Ok(_)));
            if let Ok(mut l) = shared.lock() {
                if got {
                    l.consumed += 1;
                }
                if let Ok(a) = consumer.assignment() {
                    l.assignment = a.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
                }
            }
            if got {
                // Commit what was read right away, so a caught-up group shows ~0.
                let _ = consumer.commit_consumer_state(CommitMode::Async);
                if let Some(p) = pause {
                    thread::sleep(p);
                }
            }
        }
        consumer.unsubscribe();
    });
    Ok(DemoConsumer { group, client_id, live, handle })
}

fn commit_stalled(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the stalled group's client")?;
    let mut tpl = TopicPartitionList::new();
    for &(t, p, o) in offsets {
        tpl.add_partition_offset(t, p, Offset::Offset(o)).context("building the stalled group's offsets")?;
    }
    consumer.commit(&tpl, CommitMode::Sync).context("committing the stalled group's offsets")?;
    Ok(())
}
