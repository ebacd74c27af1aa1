//! The whole cluster as JetStream holds it, for `logwarden status` on any collector: the
//! running collectors (their membership entries), the owner of each partition (its lease), how
//! far behind each owner's consumer is (JetStream's count of what it has not delivered or not
//! had acknowledged), the event stream's state, and who leads alerting.
//!
//! Read at each request: about `partitions * 2 + 3` JetStream requests, all at once, within
//! [`WITHIN`]; nothing is cached.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::future::join_all;
use logwarden_core::wire::{ClusterView, PartitionView, PeerView, StreamView};

use super::lease;
use super::member::Member;
use super::names::{ALERT_LEADER, STREAM};

/// How long a view may take.
pub const WITHIN: Duration = Duration::from_secs(3);

/// Reads the view (or says why it could not).
pub async fn gather(member: &Member) -> Result<ClusterView, String> {
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
