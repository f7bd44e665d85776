//! Writing ZooKeeper nodes the way Storm, Trident and 0.8 consumers write them.

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode};

/// A session for creating test nodes. It speaks the ZooKeeper 3.4 protocol
/// (plain `create`), so the tests also run against 3.4 servers.
pub async fn writer(addr: &str, digest: Option<&str>) -> Client {
    let mut connector = Client::connector().with_session_timeout(Duration::from_secs(10)).with_server_version(3, 4, 0);
    if let Some(digest) = digest {
        connector = connector.with_auth("digest", digest.as_bytes());
    }
    connector.connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// Creates `path` (and missing parents, with empty data as Curator's
/// `creatingParentsIfNeeded` does) holding `data`.
pub async fn put(client: &Client, path: &str, data: &[u8]) {
    put_with(client, path, data, CreateMode::Persistent, Acls::anyone_all()).await;
}

pub async fn put_with(client: &Client, path: &str, data: &[u8], mode: CreateMode, acls: Acls<'_>) {
    if let Some((parent, _)) = path.rsplit_once('/') {
        if !parent.is_empty() {
            client.mkdir(parent, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await.unwrap();
        }
    }
    client.create(path, data, &mode.with_acls(acls)).await.unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Deletes `path` and everything below it.
pub async fn delete_tree(client: &Client, path: &str) {
    let mut order = vec![path.to_string()];
    let mut i = 0;
    while i < order.len() {
        let children = client.list_children(&order[i]).await.unwrap_or_default();
        let base = order[i].clone();
        order.extend(children.into_iter().map(|c| format!("{}/{c}", base.trim_end_matches('/'))));
        i += 1;
    }
    for path in order.iter().rev() {
        let _ = client.delete(path, None).await;
    }
}

/// Runs an async test body on a current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}
