//! The whole cluster as JetStream holds it, for `logwarden status` on any collector: the
//! running collectors (their membership entries), the owner of each partition (its lease), how
//! far behind each owner's consumer is (JetStream's count of what it has not delivered or not
//! had acknowledged), the event stream's state, and who leads alerting.
//!
//! A read takes about `partitions * 2 + 3` JetStream requests, all at once, within [`WITHIN`].
//! It is made at most once per [`FRESH_FOR`] on each collector ([`Cached`]): callers at the
//! same moment share one read, and callers within [`FRESH_FOR`] of its start get its answer
//! (an error too: a NATS cluster that does not answer is not asked again by every caller).
//! So what the view shows is at most [`FRESH_FOR`] older than the call, however many
//! dashboards, scrapers and `logwarden status` ask.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use async_nats::jetstream;
use futures_util::future::join_all;
use logwarden_core::wire::{ClusterView, PartitionView, PeerView, StreamView};

use super::lease;
use super::member::Member;
use super::names::{ALERT_LEADER, STREAM};

/// How long a view may take.
pub const WITHIN: Duration = Duration::from_secs(3);

/// How long a read of the view is answered to later callers.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

/// The last read of a value and when it started, shared by the callers of one collector.
pub struct Cached<T> {
    last: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Cached {
            last: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> Cached<T> {
    /// The value read by a call that started less than `fresh_for` ago, or else `read`'s.
    /// Callers that come while a read is under way wait for it and take its answer.
    pub async fn get<F, Fut>(&self, fresh_for: Duration, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, v)) = last.as_ref()
            && at.elapsed() < fresh_for
        {
            return v.clone();
        }
        let started = Instant::now();
        let v = read().await;
        *last = Some((started, v.clone()));
        v
    }
}

/// The view (or why it could not be read), at most [`FRESH_FOR`] old.
pub async fn gather(member: &Member) -> Result<ClusterView, String> {
    member
        .view_cache
        .get(FRESH_FOR, || read_within(member))
        .await
}

/// Reads the view now.
async fn read_within(member: &Member) -> Result<ClusterView, String> {
    tokio::time::timeout(WITHIN, read(member))
        .await
        .map_err(|_| {
            format!(
                "cluster: JetStream did not answer within {} s",
                WITHIN.as_secs()
            )
        })?
}

async fn read(member: &Member) -> Result<ClusterView, String> {
    let kv = member.leases().await?;
    let js = member.jetstream();
    let failed = |e: &dyn std::fmt::Display| format!("cluster: stream {STREAM}: {e}");
    let events = js.get_stream(STREAM).await.map_err(|e| failed(&e))?;
    let info = events.get_info().await.map_err(|e| failed(&e))?;
    let members = lease::members(kv).await?;
    let owners = join_all(
        (0..member.settings.partitions)
            .map(|p| async move { lease::holder(kv, &lease::key(p)).await.ok().flatten() }),
    )
    .await;
    let partitions = join_all(owners.into_iter().enumerate().map(|(p, owner)| {
        let events = &events;
        async move {
            let lag = match &owner {
                Some(id) => lag(events, &format!("{id}-p{p}")).await,
                None => None,
            };
            PartitionView {
                partition: p as u32,
                owner,
                lag,
            }
        }
    }))
    .await;
    Ok(ClusterView {
        members: members.into_iter().map(|(id, _)| id).collect(),
        partitions,
        stream: stream_view(&info),
        alert_leader: lease::holder(kv, ALERT_LEADER).await.ok().flatten(),
    })
}

/// What consumer `name` has not delivered, or delivered and not had acknowledged.
async fn lag(stream: &jetstream::stream::Stream, name: &str) -> Option<u64> {
    let info = stream.consumer_info(name).await.ok()?;
    Some(info.num_pending + info.num_ack_pending as u64)
}

fn stream_view(info: &jetstream::stream::Info) -> StreamView {
    let cluster = info.cluster.as_ref();
    StreamView {
        name: info.config.name.clone(),
        messages: info.state.messages,
        bytes: info.state.bytes,
        first_seq: info.state.first_sequence,
        last_seq: info.state.last_sequence,
        replicas: info.config.num_replicas,
        leader: cluster.and_then(|c| c.leader.clone()),
        peers: cluster
            .map(|c| {
                c.replicas
                    .iter()
                    .map(|r| PeerView {
                        name: r.name.clone(),
                        current: r.current,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Many callers at once share one read; a change is seen by the first call after
    /// [`FRESH_FOR`] since the read started, and never later.
    #[tokio::test(start_paused = true)]
    async fn callers_share_one_read_and_see_a_change_within_the_cache_time() {
        let cache = Arc::new(Cached::<u64>::default());
        let reads = Arc::new(AtomicU64::new(0));
        // The value changes whenever `truth` does; a read takes 500 ms.
        let truth = Arc::new(AtomicU64::new(1));
        let call = |cache: Arc<Cached<u64>>| {
            let (reads, truth) = (reads.clone(), truth.clone());
            async move {
                cache
                    .get(FRESH_FOR, || async move {
                        reads.fetch_add(1, Ordering::SeqCst);
                        let v = truth.load(Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        v
                    })
                    .await
            }
        };
        let answers =
            futures_util::future::join_all((0..50).map(|_| tokio::spawn(call(cache.clone()))))
                .await;
        assert!(answers.into_iter().all(|a| a.ok() == Some(1)));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "50 callers at once, one read"
        );

        // A change right after the read: answered from the cache until FRESH_FOR after the
        // read's start, then read again.
        truth.store(2, Ordering::SeqCst);
        let started = Instant::now() - Duration::from_millis(500);
        let mut seen_at = None;
        for _ in 0..40 {
            if call(cache.clone()).await == 2 {
                seen_at = Some(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen_at = seen_at.expect("the change was never seen");
        assert!(
            seen_at <= FRESH_FOR + Duration::from_millis(600),
            "seen {seen_at:?} after the read started"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
