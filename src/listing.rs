//! `klag groups`: everything that can be monitored, from every configured source.

use std::io::{self, Write};
use std::time::Instant;

use serde::Serialize;

use crate::config::Config;
use crate::ensembles::{run_bounded, Ensembles};
use crate::kafka::{Kafka, KafkaSettings};
use crate::lag::Source;
use crate::sources::{storm, trident, zk_consumers};

/// One monitorable thing: a group, a spout or a Trident stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub source: Source,
    pub group: String,
    pub state: Option<String>,
    pub members: Option<u32>,
    pub topologies: Vec<String>,
    pub topics: Vec<String>,
    pub partitions: Option<usize>,
}

/// The listing and the problems met while making it.
#[derive(Debug, Default, Serialize)]
pub struct Listing {
    pub groups: Vec<Listed>,
    pub errors: Vec<String>,
}

/// Lists every source the configuration names.
pub fn list(config: &Config) -> Listing {
    let deadline = Instant::now() + config.timeout;
    let mut out = Listing::default();
    let mut brokers = config.kafka.clone();
    if let Some(sources) = &config.zookeeper {
        match run_bounded(sources, deadline, list_zookeeper(config, sources)) {
            Ok((listing, servers)) => {
                out.groups.extend(listing.groups);
                out.errors.extend(listing.errors);
                if brokers.is_none() {
                    brokers = servers.map(|s| config.discovered_brokers(s));
                }
            }
            Err(e) => out.errors.push(e),
        }
    }
    if let (Some(settings), true) = (&brokers, config.kafka_groups) {
        list_kafka(settings, config, deadline, &mut out);
    }
    out.groups.sort_by(|a, b| (a.source, &a.group).cmp(&(b.source, &b.group)));
    out
}

fn list_kafka(settings: &KafkaSettings, config: &Config, deadline: Instant, out: &mut Listing) {
    let kafka = match Kafka::connect(settings) {
        Ok(k) => k,
        Err(e) => return out.errors.push(e.to_string()),
    };
    kafka.warm_up(deadline);
    let listings = match kafka.list_groups(deadline) {
        Ok((l, partial)) => {
            out.errors.extend(partial);
            l
        }
        Err(e) => return out.errors.push(e.to_string()),
    };
    let ids: Vec<String> =
        listings.iter().map(|l| l.group_id.clone()).filter(|g| config.filter.wants_group(g)).collect();
    let described = if ids.is_empty() { Ok(Vec::new()) } else { kafka.describe_groups(&ids, deadline) };
    let described = described.unwrap_or_else(|e| {
        out.errors.push(e.to_string());
        Vec::new()
    });
    for l in listings.into_iter().filter(|l| config.filter.wants_group(&l.group_id)) {
        let d = described.iter().find(|(id, _)| *id == l.group_id).and_then(|(_, d)| d.as_ref().ok());
        let mut topics: Vec<String> = d
            .map(|d| d.members.iter().flat_map(|m| m.assignment.iter().map(|(t, _)| t.clone())).collect())
            .unwrap_or_default();
        topics.sort();
        topics.dedup();
        out.groups.push(Listed {
            source: Source::Kafka,
            state: Some(d.map_or(l.state.clone(), |d| d.state.clone())),
            members: d.and_then(|d| u32::try_from(d.members.len()).ok()),
            group: l.group_id,
            topologies: Vec::new(),
            topics,
            partitions: None,
        });
    }
}

async fn list_zookeeper(config: &Config, sources: &crate::config::ZkSources) -> (Listing, Option<String>) {
    let mut out = Listing::default();
    let ensembles = Ensembles::connect(sources, &mut out.errors).await;
    let (kafka_zk, storm_zk) = (&ensembles.kafka, &ensembles.storm);
    let filter = &config.filter;
    if let (Some(z), true) = (kafka_zk, sources.classic) {
        let (groups, errors) = zk_consumers::list(z, &|g| filter.wants_group(g)).await;
        out.errors.extend(errors);
        out.groups.extend(groups.into_iter().map(|g| Listed {
            source: Source::Zookeeper,
            group: g.group,
            state: None,
            members: Some(g.members),
            topologies: Vec::new(),
            topics: g.topics,
            partitions: None,
        }));
    }
    if let Some(z) = storm_zk {
        if !sources.storm_roots.is_empty() {
            let (spouts, errors) = storm::list(z, &sources.storm_roots).await;
            out.errors.extend(errors);
            out.groups.extend(spouts.into_iter().filter(|s| wanted(filter, &s.group, &s.topologies)).map(|s| Listed {
                source: Source::Storm,
                group: s.group,
                state: None,
                members: None,
                topologies: s.topologies,
                topics: s.topics,
                partitions: Some(s.partitions),
            }));
        }
        if let Some(root) = &sources.trident_root {
            let (streams, errors) = trident::list(z, root).await;
            out.errors.extend(errors);
            out.groups.extend(streams.into_iter().filter(|s| wanted(filter, &s.stream_id, &s.topologies)).map(|s| {
                Listed {
                    source: Source::Trident,
                    group: s.stream_id,
                    state: None,
                    members: None,
                    topologies: s.topologies,
                    topics: s.topics,
                    partitions: Some(s.partitions),
                }
            }));
        }
    }
    let servers = match ensembles.brokers(sources.listener.as_deref()).await {
        Some(Ok(b)) => Some(b.servers),
        Some(Err(e)) => {
            out.errors.push(format!("broker discovery through ZooKeeper failed: {e}"));
            None
        }
        None => None,
    };
    (out, servers)
}

fn wanted(filter: &crate::sources::Filter, group: &str, topologies: &[String]) -> bool {
    filter.wants_group(group) && (filter.topology.is_none() || topologies.iter().any(|t| filter.wants_topology(t)))
}

/// Renders the listing as an aligned table.
pub fn render_table(listing: &Listing, out: &mut dyn Write) -> io::Result<()> {
    if listing.groups.is_empty() {
        return writeln!(out, "Nothing to monitor found.");
    }
    let rows: Vec<[String; 7]> = listing
        .groups
        .iter()
        .map(|g| {
            [
                g.source.as_str().to_string(),
                g.group.clone(),
                g.state.clone().unwrap_or_else(|| "-".into()),
                g.members.map_or_else(|| "-".into(), |m| m.to_string()),
                g.partitions.map_or_else(|| "-".into(), |p| p.to_string()),
                if g.topologies.is_empty() { "-".into() } else { g.topologies.join(",") },
                if g.topics.is_empty() { "-".into() } else { g.topics.join(",") },
            ]
        })
        .collect();
    let header = ["SOURCE", "GROUP", "STATE", "MEMBERS", "PARTITIONS", "TOPOLOGY", "TOPICS"];
    let body = rows.into_iter().map(|r| r.into_iter().map(|c| crate::output::printable(&c)).collect()).collect();
    out.write_all(crate::output::layout(&header, body, &[3, 4]).as_bytes())
}
