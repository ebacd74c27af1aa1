//! This collector as a member of the cluster: its connection to NATS, the stream and lease
//! bucket once found or created, and the partitions it owns (`shard.rs` keeps them up to date).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream;

use logwarden_core::Event;

use super::config::ClusterSettings;
use super::{lease, stream};
use crate::wal::Committed;

/// A collector's connection to the cluster. Cheap to share.
pub struct Member {
    pub settings: ClusterSettings,
    js: jetstream::Context,
    /// The stream and the lease bucket, once created or found.
    ready: tokio::sync::OnceCell<jetstream::kv::Store>,
    /// The partitions this collector owns now (for status).
    owned: RwLock<BTreeSet<u32>>,
    /// Per partition read here: events in the stream not yet delivered to this collector, as
    /// its consumer last said (for status).
    pending: RwLock<BTreeMap<u32, u64>>,
    /// Room for events awaiting JetStream's ack (`stream.rs`).
    inflight: tokio::sync::Semaphore,
    /// Who leads alerting, as the lease bucket last said (`leader.rs`).
    alert_leader: RwLock<Option<String>>,
}

impl Member {
    /// Connects in the background: a NATS cluster that is down does not stop the collector
    /// from starting; ingest answers 503 until it is reachable.
    pub async fn connect(settings: ClusterSettings) -> anyhow::Result<Arc<Member>> {
        let addrs = settings
            .nats
            .iter()
            .map(|u| u.parse())
            .collect::<Result<Vec<async_nats::ServerAddr>, _>>()?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("logwarden-collector {}", settings.id))
            .connection_timeout(Duration::from_secs(3))
            .retry_on_initial_connect()
            .connect(addrs)
            .await?;
        let mut js = jetstream::new(client);
        js.set_timeout(Duration::from_secs(5));
        Ok(Arc::new(Member {
            settings,
            js,
            ready: tokio::sync::OnceCell::new(),
            owned: RwLock::new(BTreeSet::new()),
            pending: RwLock::new(BTreeMap::new()),
            inflight: tokio::sync::Semaphore::new(stream::MAX_IN_FLIGHT),
            alert_leader: RwLock::new(None),
        }))
    }

    /// The lease bucket, creating the stream and the bucket on first use.
    pub async fn leases(&self) -> Result<&jetstream::kv::Store, String> {
        self.ready
            .get_or_try_init(|| async {
                stream::ensure(&self.js, &self.settings).await?;
                lease::ensure_bucket(&self.js, &self.settings).await
            })
            .await
    }

    /// Publishes an accepted batch (`stream.rs`), once the stream is there.
    pub async fn publish(&self, events: &[Event]) -> Result<Committed, String> {
        self.leases().await?;
        stream::publish(&self.js, self.settings.partitions, &self.inflight, events).await
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The partitions this collector owns now.
    pub fn owned(&self) -> BTreeSet<u32> {
        self.owned.read().map(|o| o.clone()).unwrap_or_default()
    }

    pub(super) fn set_owned(&self, owned: BTreeSet<u32>) {
        if let Ok(mut pending) = self.pending.write() {
            pending.retain(|p, _| owned.contains(p));
        }
        if let Ok(mut o) = self.owned.write() {
            *o = owned;
        }
    }

    /// Events of the partitions owned not yet delivered here, by partition (those whose
    /// consumer has not reported yet are missing).
    pub fn pending(&self) -> BTreeMap<u32, u64> {
        let owned = self.owned();
        self.pending
            .read()
            .map(|p| {
                p.iter()
                    .filter(|(k, _)| owned.contains(k))
                    .map(|(&k, &v)| (k, v))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn set_pending(&self, partition: u32, n: u64) {
        if let Ok(mut p) = self.pending.write() {
            p.insert(partition, n);
        }
    }

    /// Who leads alerting (`leader.rs`), as last seen.
    pub fn alert_leader(&self) -> Option<String> {
        self.alert_leader.read().ok().and_then(|l| l.clone())
    }

    pub(super) fn set_alert_leader(&self, leader: Option<String>) {
        if let Ok(mut l) = self.alert_leader.write() {
            *l = leader;
        }
    }
}
