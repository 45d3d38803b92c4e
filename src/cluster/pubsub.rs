//! A subscription to one channel of the shared Redis, kept open: on every (re)connection the
//! caller's `resync` runs first (messages published while the subscription was down are lost,
//! so the state they carried is read again), then each message goes to `on_message`. Ends when
//! the cluster is dropped.

use std::future::Future;
use std::sync::{Arc, Weak};

use futures_util::StreamExt;

use super::conn::Cluster;
use super::stats::Fallback;
use crate::limits;

/// Keeps a subscription to `channel` for as long as the cluster lives.
pub fn subscribe<R, RF, M>(cluster: &Arc<Cluster>, channel: String, resync: R, on_message: M)
where
    R: Fn(Arc<Cluster>) -> RF + Send + 'static,
    RF: Future<Output = ()> + Send + 'static,
    M: Fn(&[u8]) + Send + 'static,
{
    let weak = Arc::downgrade(cluster);
    tokio::spawn(listen(weak, channel, resync, on_message));
}

async fn listen<R, RF, M>(cluster: Weak<Cluster>, channel: String, resync: R, on_message: M)
where
    R: Fn(Arc<Cluster>) -> RF + Send + 'static,
    RF: Future<Output = ()> + Send + 'static,
    M: Fn(&[u8]) + Send + 'static,
{
    loop {
        let Some(c) = cluster.upgrade() else { return };
        let pubsub = match c.dedicated_pubsub().await {
            Ok(mut p) => match p.subscribe(&channel).await {
                Ok(()) => Some(p),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let Some(pubsub) = pubsub else {
            c.stats.fell_back(Fallback::Coordination);
            drop(c);
            tokio::time::sleep(limits::CLUSTER_PROBE_INTERVAL).await;
            continue;
        };
        resync(c.clone()).await;
        drop(c);
        let mut messages = pubsub.into_on_message();
        // Holds only the stream: the cluster may be dropped meanwhile, and then the connection
        // goes with this task at the next message or check.
        loop {
            let next = tokio::time::timeout(limits::CLUSTER_HEARTBEAT_INTERVAL, messages.next());
            match next.await {
                Ok(Some(msg)) => on_message(msg.get_payload_bytes()),
                Ok(None) => break,
                Err(_) => {
                    if cluster.upgrade().is_none() {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(limits::CLUSTER_PROBE_INTERVAL).await;
    }
}
