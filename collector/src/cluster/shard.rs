//! Which partitions this collector indexes: a fair share of them, held by leases
//! (`lease.rs`), each read by a consumer task (`consumer.rs`).
//!
//! Every tick (a sixth of the lease TTL) a collector renews its leases and its membership,
//! counts the running collectors, and, when it saw the same count on the tick before, moves
//! toward `ceil(partitions / collectors)`: it gives up partitions above that share and takes
//! free ones below it. The leases of a collector that died expire after the TTL and the others
//! take them within two ticks, so its partitions move within TTL + two ticks (6 s + 2 s by
//! default). The consumer of a partition given up or lost is deleted (`given_up.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::given_up::GivenUp;
use super::lease::{self, Lease};
use super::member::Member;
use crate::wal::Committer;

/// A partition held: its lease and the task reading it.
struct Held {
    lease: Lease,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Held {
    async fn stop(self) -> Lease {
        self.stop.cancel();
        let _ = self.task.await;
        self.lease
    }
}

/// Stops the reading of `held` partitions, all at once (one at a time, a tick that gave up
/// ten partitions took ten seconds, and the leases it kept expired meanwhile).
async fn stop_all(held: Vec<Held>) -> Vec<Lease> {
    futures_util::future::join_all(held.into_iter().map(Held::stop)).await
}

/// Holds this collector's share of the partitions until `stop` fires, then gives them up.
pub async fn run(cluster: Arc<Member>, committer: Committer, stop: CancellationToken) {
    let tick = (cluster.settings.lease_ttl / 6).max(Duration::from_millis(300));
    let mut held: BTreeMap<u32, Held> = BTreeMap::new();
    // The count of members the last tick saw (None after a tick that failed).
    let mut counted = None;
    let mut given_up = GivenUp::default();
    loop {
        let state = (&mut held, &mut counted, &mut given_up);
        if let Err(e) = step(&cluster, &committer, state).await {
            counted = None;
            tracing::warn!(error = %e, "cluster: partition ownership not updated");
        }
        cluster.set_owned(held.keys().copied().collect());
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    let leases = stop_all(std::mem::take(&mut held).into_values().collect()).await;
    if let Ok(kv) = cluster.leases().await {
        given_up.add(leases.iter().map(|l| l.partition));
        given_up.settle(&cluster, kv, &BTreeSet::new()).await;
        futures_util::future::join_all(leases.into_iter().map(|l| lease::release(kv, l))).await;
    }
    cluster.set_owned(BTreeSet::new());
}

/// One tick: renew, count, give up or take.
async fn step(
    cluster: &Arc<Member>,
    committer: &Committer,
    (held, counted, given_up): (&mut BTreeMap<u32, Held>, &mut Option<u32>, &mut GivenUp),
) -> Result<(), String> {
    let kv = cluster.leases().await?.clone();
    let s = &cluster.settings;
    // All renewals at once: one slow round trip must not make the others late.
    let kv_ref = &kv;
    let renewals = held.iter_mut().map(|(&p, h)| async move {
        (
            p,
            lease::renew(kv_ref, &s.id, &mut h.lease, s.lease_ttl).await,
        )
    });
    let lost: Vec<u32> = futures_util::future::join_all(renewals)
        .await
        .into_iter()
        .filter_map(|(p, r)| r.is_err().then_some(p))
        .collect();
    let lost: Vec<Held> = lost
        .into_iter()
        .filter_map(|p| {
            tracing::warn!(
                partition = p,
                "cluster: partition lost to another collector"
            );
            held.remove(&p)
        })
        .collect();
    given_up.add(lost.iter().map(|h| h.lease.partition));
    stop_all(lost).await;
    given_up
        .settle(cluster, &kv, &held.keys().copied().collect())
        .await;
    lease::heartbeat(
        &kv,
        &s.id,
        s.partitions,
        s.url.as_deref().unwrap_or_default(),
    )
    .await?;
    let members = lease::members(&kv).await?;
    if let Some((other, n)) = members.iter().find(|(_, n)| *n != s.partitions) {
        // Two ways of cutting the stream would index agents twice or not at all: hold what
        // is held, take nothing, until the configurations agree.
        return Err(format!(
            "collector {other} has {n} partitions and this one {}: every collector of a cluster needs the same [cluster] partitions; none taken meanwhile",
            s.partitions
        ));
    }
    let members = members.len().max(1) as u32;
    // Partitions move only on a count seen twice in a row: after an outage of the bucket,
    // every member's entry may have expired, and the first to come back would otherwise take
    // everything from collectors that have not written theirs again yet.
    if counted.replace(members) != Some(members) {
        return Ok(());
    }
    let share = s.partitions.div_ceil(members) as usize;
    let mut extra = Vec::new();
    while held.len() > share {
        let Some((p, h)) = held.pop_last() else { break };
        tracing::info!(
            partition = p,
            members,
            "cluster: partition given up to balance"
        );
        extra.push(h);
    }
    let stopped = stop_all(extra).await;
    // Deleted before the lease is released: nobody reads the partition meanwhile.
    if !stopped.is_empty() {
        given_up.add(stopped.iter().map(|l| l.partition));
        given_up
            .settle(cluster, &kv, &held.keys().copied().collect())
            .await;
    }
    let released = stopped.into_iter().map(|l| lease::release(kv_ref, l));
    futures_util::future::join_all(released).await;
    // Each collector starts looking at its own place, so that they do not all race for the
    // same free partition.
    let start = super::names::partition_of(&s.id, s.partitions);
    for i in 0..s.partitions {
        if held.len() >= share {
            break;
        }
        let p = (start + i) % s.partitions;
        if held.contains_key(&p) {
            continue;
        }
        if let Some(lease) = lease::take(&kv, &s.id, p, s.lease_ttl).await {
            tracing::info!(partition = p, members, "cluster: partition taken");
            let stop = CancellationToken::new();
            let task = tokio::spawn(super::consumer::run(
                cluster.clone(),
                p,
                committer.clone(),
                lease.fresh(),
                stop.clone(),
            ));
            held.insert(p, Held { lease, stop, task });
        }
    }
    Ok(())
}
