//! Creates the benchmark's data on a real cluster: one topic of P partitions
//! with a few records each, and G groups that each commit every partition.
//! Used by scripts/bench; not part of klag.
//!
//! Usage: bench_setup BOOTSTRAP PREFIX GROUPS PARTITIONS
//!        bench_setup storm ZOOKEEPER ROOT TOPIC SPOUTS PARTITIONS
//!        (spout nodes as storm-kafka 1.x writes them, SPOUTS x PARTITIONS of them)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, zk, root, topic, spouts, partitions] = &args[..] {
        if mode == "storm" {
            return storm(zk, root, topic, spouts.parse().expect("SPOUTS"), partitions.parse().expect("PARTITIONS"));
        }
    }
    let [_, bootstrap, prefix, groups, partitions] = &args[..] else {
        eprintln!("usage: bench_setup BOOTSTRAP PREFIX GROUPS PARTITIONS");
        std::process::exit(2);
    };
    let groups: usize = groups.parse().expect("GROUPS");
    let partitions: i32 = partitions.parse().expect("PARTITIONS");
    let topic = format!("{prefix}-topic");

    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let replication = TopicReplication::Fixed(1);
    for r in block_on(admin.create_topics(&[NewTopic::new(&topic, partitions, replication)], &opts)).expect("create") {
        if let Err((t, e)) = r {
            eprintln!("create {t}: {e} (continuing)");
        }
    }
    std::thread::sleep(Duration::from_secs(2));

    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("linger.ms", "20").create().expect("producer");
    for p in 0..partitions {
        for i in 0..10 {
            let key = i.to_string();
            let _ = producer.send(BaseRecord::to(&topic).partition(p).key(&key).payload("bench"));
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");

    for g in 0..groups {
        let group = format!("{prefix}-group-{g:05}");
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            // Different lag per group and partition, 0..=9.
            let offset = ((g as i64) + i64::from(p)) % 10;
            tpl.add_partition_offset(&topic, p, Offset::Offset(offset)).unwrap();
        }
        c.commit(&tpl, CommitMode::Sync).expect("commit");
    }
    println!("{groups} groups x {partitions} partitions on {topic}");
}

fn storm(zk: &str, root: &str, topic: &str, spouts: usize, partitions: i32) {
    use futures::stream::{self, StreamExt};
    use zookeeper_client::{Acls, Client, CreateMode};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = Client::connector().with_server_version(3, 4, 0).connect(zk).await.expect("connect");
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let mut paths = Vec::new();
        for s in 0..spouts {
            let spout = format!("{root}/spout-{s:03}");
            c.mkdir(&spout, &options).await.expect("mkdir");
            for p in 0..partitions {
                paths.push((format!("{spout}/partition_{p}"), s, p));
            }
        }
        let total = paths.len();
        stream::iter(paths)
            .for_each_concurrent(256, |(path, s, p)| {
                let c = &c;
                let options = &options;
                async move {
                    let data = format!(
                        r#"{{"topology":{{"id":"topo-{s}-1-1700000000","name":"topo-{s}"}},"offset":{},"partition":{p},"broker":{{"host":"kafka1","port":9092}},"topic":"{topic}"}}"#,
                        p % 10
                    );
                    let _ = c.create(&path, data.as_bytes(), options).await;
                }
            })
            .await;
        println!("{total} spout partition nodes under {root}");
    });
}
