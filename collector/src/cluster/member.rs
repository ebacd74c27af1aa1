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

/// A partition taken over counts as read (its answers complete, `owner.rs`) once its consumer
/// has come this close to the end of the stream: within one fetch, as close as indexing ever is
/// under steady load (an exact 0 might never come while agents keep sending).
const CAUGHT_UP_WITHIN: u64 = 1000;

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
    /// The partitions owned whose consumer has come within [`CAUGHT_UP_WITHIN`] events of the
    /// end of the stream once since they were taken: before, their index is being rebuilt and
    /// answers for them would lack events (`owner.rs` names them missing).
    caught_up: RwLock<BTreeSet<u32>>,
    /// Room for events awaiting JetStream's ack (`stream.rs`).
    inflight: tokio::sync::Semaphore,
    /// Who leads alerting, as the lease bucket last said (`leader.rs`).
    alert_leader: RwLock<Option<String>>,
    /// The last view of the whole cluster (`view.rs`), shared by the callers of status.
    pub view_cache: super::view::Cached<Result<logwarden_core::wire::ClusterView, String>>,
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
            caught_up: RwLock::new(BTreeSet::new()),
            inflight: tokio::sync::Semaphore::new(stream::MAX_IN_FLIGHT),
            alert_leader: RwLock::new(None),
            view_cache: Default::default(),
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

    /// The partitions owned whose index has caught up with the stream once since taken.
    pub fn caught_up(&self) -> BTreeSet<u32> {
        self.caught_up.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Whether this collector owns partition `p` now.
    pub fn owns(&self, p: u32) -> bool {
        self.owned.read().is_ok_and(|o| o.contains(&p))
    }

    pub(super) fn set_owned(&self, owned: BTreeSet<u32>) {
        if let Ok(mut pending) = self.pending.write() {
            pending.retain(|p, _| owned.contains(p));
        }
        if let Ok(mut caught_up) = self.caught_up.write() {
            caught_up.retain(|p| owned.contains(p));
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
        if n < CAUGHT_UP_WITHIN
            && self.owns(partition)
            && let Ok(mut c) = self.caught_up.write()
        {
            c.insert(partition);
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
