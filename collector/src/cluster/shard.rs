//! Which partitions this collector indexes: a fair share of them, held by leases
//! (`lease.rs`), each read by a consumer task (`consumer.rs`).
//!
//! Every tick (a sixth of the lease TTL) a collector renews its leases and its membership,
//! counts the running collectors, and, when it saw the same count on the tick before, moves
//! toward `ceil(partitions / collectors)`: it gives up partitions above that share and takes
//! free ones below it. The leases of a collector that died expire after the TTL and the others
//! take them within two ticks, so its partitions move within TTL + two ticks (6 s + 2 s by
//! default). The consumer of a partition given up or lost is deleted (`given_up.rs`).
//!
//! A tick must stay well under the TTL: the leases it keeps and the membership entry are
//! written at its start, and a tick longer than the TTL lets them expire, which the others
//! see as a collector gone (the count changes, and nothing moves until a count is seen twice)
//! and as free partitions to take (which move, their index rebuilt from the stream: more load
//! on a loaded machine, slower JetStream answers, longer ticks). So a tick waits at most
//! [`STOP_WAIT`] for the reader of a partition it gives up (a reader creating its consumer on
//! a loaded JetStream waits up to 5 s for the answer; it stops by itself afterwards), waits
//! for each answer of the bucket at most a quarter of the TTL ([`request_wait`]; the client's
//! own limit is 5 s, and a bucket electing a new leader answers nothing for seconds), stops
//! taking partitions at the first request the bucket does not answer, and logs a warning when
//! it took over half the TTL all the same. A write that lands after its wait ended leaves an
//! entry of this collector's own, which its next renewal or take adopts (`lease.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::given_up::GivenUp;
use super::lease::{self, Lease};
use super::member::Member;
use crate::wal::Committer;
use async_nats::jetstream::kv::Store;

/// How long giving a partition up waits for its reader to stop before going on without it.
const STOP_WAIT: Duration = Duration::from_millis(500);

/// How long a tick waits for one answer of the lease bucket.
fn request_wait(ttl: Duration) -> Duration {
    ttl / 4
}

/// `request`, or an error naming `what` when the bucket has not answered within `wait`.
async fn within<T>(
    wait: Duration,
    what: &str,
    request: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(wait, request)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "cluster: {what}: the lease bucket did not answer within {} ms",
                wait.as_millis()
            ))
        })
}

/// A partition held: its lease and the task reading it.
struct Held {
    lease: Lease,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Held {
    /// Tells the reader to stop and waits for it at most [`STOP_WAIT`]; one still busy then
    /// (inside a JetStream request, a WAL write) stops by itself once that is done: what it
    /// writes meanwhile is hidden from answers once the partition is not owned here
    /// (`scope.rs`), and what it fails to acknowledge comes again to this collector's consumer,
    /// to be dropped by the WAL's de-duplication.
    async fn stop(mut self) -> Lease {
        self.stop.cancel();
        if tokio::time::timeout(STOP_WAIT, &mut self.task)
            .await
            .is_err()
        {
            tracing::info!(
                partition = self.lease.partition,
                "cluster: the reader of a partition given up is busy; it stops by itself"
            );
        }
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
        let started = tokio::time::Instant::now();
        let state = (&mut held, &mut counted, &mut given_up);
        if let Err(e) = step(&cluster, &committer, state).await {
            counted = None;
            tracing::warn!(error = %e, "cluster: partition ownership not updated");
        }
        let took = started.elapsed();
        if took > cluster.settings.lease_ttl / 2 {
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                lease_ttl_ms = cluster.settings.lease_ttl.as_millis() as u64,
                "cluster: an ownership tick took over half the lease TTL (JetStream slow to answer?)"
            );
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
    let wait = request_wait(s.lease_ttl);
    // All renewals at once: one slow round trip must not make the others late. One without
    // an answer keeps its lease until the next tick (as `lease::renew` does).
    let kv_ref = &kv;
    let renewals = held.iter_mut().map(|(&p, h)| async move {
        let renewed = lease::renew(kv_ref, &s.id, &mut h.lease, s.lease_ttl);
        match tokio::time::timeout(wait, renewed).await {
            Ok(r) => (p, r),
            Err(_) => {
                tracing::warn!(
                    partition = p,
                    "cluster: lease renewal got no answer in time; retrying"
                );
                (p, Ok(()))
            }
        }
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
    let url = s.url.as_deref().unwrap_or_default();
    within(
        wait,
        "membership heartbeat",
        lease::heartbeat(&kv, &s.id, s.partitions, url),
    )
    .await?;
    let members = within(wait, "listing members", lease::members(&kv)).await?;
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
    // A release without an answer expires by itself.
    let released = stopped
        .into_iter()
        .map(|l| tokio::time::timeout(wait, lease::release(kv_ref, l)));
    futures_util::future::join_all(released).await;
    take_share(cluster, committer, &kv, held, share, members).await;
    Ok(())
}

/// Takes free partitions until this collector holds `share` of them.
async fn take_share(
    cluster: &Arc<Member>,
    committer: &Committer,
    kv: &Store,
    held: &mut BTreeMap<u32, Held>,
    share: usize,
    members: u32,
) {
    let s = &cluster.settings;
    let wait = request_wait(s.lease_ttl);
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
        // Another collector's: try the next. No answer: the next tick tries again, rather than
        // spend up to 5 s on each free partition while the leases held here go unrenewed.
        let take = lease::take(kv, &s.id, p, s.lease_ttl);
        let taken = match within(wait, "taking a partition", take).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: no more partitions taken this tick");
                break;
            }
        };
        if let Some(lease) = taken {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A reader still inside a JetStream request when its partition is given up (a consumer
    /// being created on a loaded cluster answers after up to 5 s) does not hold up the tick,
    /// whose other leases would go unrenewed meanwhile; it is not cut short either, and stops
    /// by itself.
    #[tokio::test(start_paused = true)]
    async fn giving_up_does_not_wait_for_a_busy_reader() {
        let stop = CancellationToken::new();
        let told = stop.clone();
        let ended = Arc::new(AtomicBool::new(false));
        let end = ended.clone();
        let task = tokio::spawn(async move {
            told.cancelled().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            end.store(true, Ordering::SeqCst);
        });
        let held = vec![Held {
            lease: Lease::for_test(3),
            stop,
            task,
        }];
        let started = tokio::time::Instant::now();
        let leases = stop_all(held).await;
        let took = started.elapsed();
        assert_eq!(leases.iter().map(|l| l.partition).collect::<Vec<_>>(), [3]);
        assert!(took <= STOP_WAIT, "the tick waited {took:?} for the reader");
        assert!(!ended.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(ended.load(Ordering::SeqCst), "the reader was cut short");
    }
}
