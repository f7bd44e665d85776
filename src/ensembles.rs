//! The ZooKeeper side of a run: sessions to Kafka's and Storm's ensembles,
//! driven on a small runtime that the run's deadline bounds as a whole.

use std::future::Future;
use std::time::Instant;

use crate::brokers_zk::{self, Bootstrap, BrokersError};
use crate::config::ZkSources;
use crate::zk::{self, Zk, ZkSettings};

/// The sessions of one run. Storm's is Kafka's unless --storm-zookeeper names another.
pub struct Ensembles {
    pub kafka: Option<Zk>,
    pub storm: Option<Zk>,
}

impl Ensembles {
    /// Connects to every named ensemble; failures are recorded, not returned.
    pub async fn connect(sources: &ZkSources, errors: &mut Vec<String>) -> Ensembles {
        let kafka = session(sources.kafka_zk.as_ref(), errors).await;
        let storm = match &sources.storm_zk {
            Some(s) => session(Some(s), errors).await,
            None => kafka.clone(),
        };
        Ensembles { kafka, storm }
    }

    /// Brokers registered in Kafka's ensemble, when there is one.
    pub async fn brokers(&self, listener: Option<&str>) -> Option<Result<Bootstrap, BrokersError>> {
        Some(brokers_zk::bootstrap(self.kafka.as_ref()?, listener).await)
    }
}

async fn session(settings: Option<&ZkSettings>, errors: &mut Vec<String>) -> Option<Zk> {
    match zk::connect(settings?).await {
        Ok(z) => Some(z),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    }
}

/// Runs ZooKeeper work to completion or until `deadline`; the error names the
/// ensembles that did not answer in time.
pub fn run_bounded<T>(sources: &ZkSources, deadline: Instant, work: impl Future<Output = T>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start I/O runtime: {e}"))?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    // The timer must be created inside the runtime: hence the async block.
    runtime.block_on(async { tokio::time::timeout(remaining, work).await }).map_err(|_| {
        let names: Vec<&str> = [sources.kafka_zk.as_ref(), sources.storm_zk.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.connect.as_str())
            .collect();
        format!("ZooKeeper at {} did not answer within {remaining:.1?}", names.join(" and "))
    })
}
