//! The owner's reading of one partition: a durable pull consumer `<id>-p<partition>` of its
//! own, from the start of what the stream holds, into the local WAL. Messages are
//! acknowledged once the WAL has them durable; one delivered again (an ack lost with a
//! collector or a NATS node) is dropped by the WAL's `(agent_id, seq)` de-duplication.
//!
//! A collector that takes over a partition has no position in it yet: its consumer starts at
//! the oldest event the stream still holds, which rebuilds that partition's index on the new
//! owner.
//!
//! A partition given up (to balance, at shutdown) or lost to another collector has its
//! consumer deleted ([`delete`], by `shard.rs`): after its reading stopped and before its lease
//! is released, so that no new reading of it (the name is this collector's alone, and only
//! this collector's next take could reuse it) can start on the consumer being deleted. One
//! whose deletion failed (NATS unreachable) is tried again every tick until it is done or the
//! partition is taken again; the consumers a killed collector left behind are deleted by its
//! next start ([`left_behind`]). Taken again later, a partition is read from the stream's oldest
//! event once more; the WAL's de-duplication drops what this collector already holds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::stream::ConsumerErrorKind;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use logwarden_core::Event;

use super::lease::Fresh;
use super::member::Member;
use super::names::{STREAM, subject};
use crate::wal::Committer;
use crate::wal::Originals;

/// Most messages taken in one fetch (one WAL record).
const BATCH: usize = 1000;

/// Reads partition `p` into `committer` until `stop` fires, reconnecting after errors.
pub async fn run(
    cluster: Arc<Member>,
    p: u32,
    committer: Committer,
    fresh: Fresh,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        if let Err(e) = consume(&cluster, p, &committer, &fresh, &stop).await {
            tracing::warn!(partition = p, error = %e, "cluster: reading the partition failed; retrying");
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// The name of collector `id`'s consumer of partition `p`.
/// The event stream, for its consumers.
async fn events_stream(cluster: &Member) -> Result<async_nats::jetstream::stream::Stream, String> {
    cluster
        .jetstream()
        .get_stream(STREAM)
        .await
        .map_err(|e| format!("stream {STREAM}: {e}"))
}

fn name(id: &str, p: u32) -> String {
    format!("{id}-p{p}")
}

/// Deletes this collector's consumer of partition `p`; one already gone counts as deleted.
/// Only while this collector neither reads `p` nor can take it before this returns.
pub async fn delete(cluster: &Member, p: u32) -> Result<(), String> {
    let name = name(&cluster.settings.id, p);
    let stream = events_stream(cluster).await?;
    match stream.delete_consumer(&name).await {
        Ok(_) => {
            tracing::info!(partition = p, consumer = %name, "cluster: consumer of a partition given up deleted");
            Ok(())
        }
        Err(e)
            if matches!(e.kind(), ConsumerErrorKind::JetStream(j)
                if j.error_code() == ErrorCode::CONSUMER_NOT_FOUND) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("deleting consumer {name}: {e}")),
    }
}

/// The partitions this collector has a consumer of on the stream (`<id>-p<N>`).
pub async fn left_behind(cluster: &Member) -> Result<BTreeSet<u32>, String> {
    let id = &cluster.settings.id;
    let stream = events_stream(cluster).await?;
    let mut names = stream.consumer_names();
    let mut found = BTreeSet::new();
    while let Some(n) = names.next().await {
        let n = n.map_err(|e| format!("listing the consumers of {STREAM}: {e}"))?;
        let p = n
            .strip_prefix(id.as_str())
            .and_then(|r| r.strip_prefix("-p"));
        if let Some(p) = p.and_then(|p| p.parse::<u32>().ok())
            && name(id, p) == n
        {
            found.insert(p);
        }
    }
    Ok(found)
}

async fn open(cluster: &Member, p: u32) -> Result<PullConsumer, String> {
    let name = name(&cluster.settings.id, p);
    let stream = events_stream(cluster).await?;
    stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: subject(p),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: (BATCH * 4) as i64,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {name}: {e}"))
}

async fn consume(
    cluster: &Member,
    p: u32,
    committer: &Committer,
    fresh: &Fresh,
    stop: &CancellationToken,
) -> Result<(), String> {
    let consumer = open(cluster, p).await?;
    while !stop.is_cancelled() {
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| format!("fetch: {e}"))?;
        let mut messages = Vec::new();
        loop {
            let next = tokio::select! {
                // Given up or lost: what was fetched and not acknowledged comes again later.
                _ = stop.cancelled() => return Ok(()),
                next = batch.next() => next,
            };
            match next {
                Some(m) => messages.push(m.map_err(|e| format!("fetch: {e}"))?),
                None => break,
            }
        }
        // What the stream holds past the last message delivered (status).
        let pending = match messages.last() {
            None => 0,
            Some(m) => m.info().map(|i| i.pending).unwrap_or(0),
        };
        if messages.is_empty() {
            cluster.set_pending(p, pending);
            continue;
        }
        let mut events = Vec::with_capacity(messages.len());
        for m in &messages {
            match serde_json::from_slice::<Event>(&m.payload) {
                Ok(e) => events.push(e),
                // Published by a collector after it checked the line: only a foreign publisher
                // on our subjects gets here. Acknowledged, or it would come back for ever.
                Err(e) => {
                    tracing::error!(partition = p, subject = %m.subject, error = %e, "cluster: a message of the stream is not an event; skipped")
                }
            }
        }
        // The lease may have passed to another collector meanwhile: index nothing then (the
        // messages stay unacknowledged on this collector's own consumer).
        if !fresh.holds() {
            return Err("the lease was not renewed in time; not indexing".into());
        }
        if !events.is_empty() {
            let n = events.len();
            let originals = Originals {
                body: bytes::Bytes::new(),
                spans: vec![None; n],
            };
            committer
                .commit(events, originals)
                .await
                .map_err(|e| format!("write-ahead log write failed: {e}"))?;
        }
        for m in messages {
            m.ack().await.map_err(|e| format!("ack: {e}"))?;
        }
        cluster.set_pending(p, pending);
    }
    Ok(())
}
