//! Publishing accepted agent batches to the JetStream stream.
//!
//! One message per event on `logwarden.events.<partition>` (the partition of its agent, so one
//! agent's events keep their order), its payload the event's JSON, with the header
//! `Nats-Msg-Id: <agent_id>:<seq>`: an event sent again within the stream's duplicate window
//! is acknowledged as a duplicate and not stored twice. Publishes go out in windows of 256
//! events whose acks are awaited together; the batch is acknowledged to the agent only when
//! JetStream has acknowledged every event (stored on a quorum of the stream's replicas). A
//! batch refused half-way is sent again whole by the agent: what was stored comes back as
//! duplicates, and an event that failed between two stored ones lands after them in the
//! stream (the WAL and index do not need an agent's events in order).

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};

use logwarden_core::Event;

use super::config::ClusterSettings;
use super::names::{STREAM, partition_of, subject};
use crate::wal::Committed;

/// Events published before their acks are awaited.
const WINDOW: usize = 256;
/// Events awaiting their acks in all requests at once: under async-nats' own limit (5,000),
/// which makes a publish wait for room.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Creates the stream, or checks the one there.
pub async fn ensure(js: &jetstream::Context, s: &ClusterSettings) -> Result<(), String> {
    let config = Config {
        name: STREAM.into(),
        subjects: vec!["logwarden.events.*".into()],
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::Old,
        storage: StorageType::File,
        num_replicas: s.replicas,
        max_age: s.stream_max_age,
        duplicate_window: s.duplicate_window,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map(|_| ())
        .map_err(|e| format!("cluster: the JetStream stream {STREAM} is not available: {e}"))
}

/// Publishes `events` and waits for JetStream's acks, holding room in `inflight` for each
/// window. `Err` (answered 503: the agent keeps the batch and sends it again) when any event
/// is not acknowledged.
pub async fn publish(
    js: &jetstream::Context,
    partitions: u32,
    inflight: &tokio::sync::Semaphore,
    events: &[Event],
) -> Result<Committed, String> {
    let mut committed = Committed::default();
    for (w, window) in events.chunks(WINDOW).enumerate() {
        // Room for the whole window at once, or concurrent requests could each hold part
        // of async-nats' pending-ack limit and wait for the rest for ever.
        let _room = inflight
            .acquire_many(window.len() as u32)
            .await
            .map_err(|e| format!("cluster: {e}"))?;
        publish_window(js, partitions, window, w * WINDOW, &mut committed).await?;
    }
    Ok(committed)
}

/// Publishes `events` (from position `first` of the batch) and awaits their acks.
async fn publish_window(
    js: &jetstream::Context,
    partitions: u32,
    events: &[Event],
    first: usize,
    committed: &mut Committed,
) -> Result<(), String> {
    let mut acks = Vec::with_capacity(events.len());
    for event in events {
        let payload = serde_json::to_vec(event)
            .map_err(|e| format!("cluster: event {} does not encode: {e}", event.id))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            event.id.to_string().as_str(),
        );
        let p = partition_of(&event.id.agent_id, partitions);
        let ack = js
            .publish_with_headers(subject(p), headers, payload.into())
            .await
            .map_err(|e| format!("cluster: publishing to JetStream failed: {e}"))?;
        acks.push(ack);
    }
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .map_err(|_| {
                "cluster: JetStream did not acknowledge within 10 s (no quorum?)".to_owned()
            })?
            .map_err(|e| format!("cluster: JetStream did not acknowledge: {e}"))?;
        if ack.duplicate {
            committed.duplicates.push(first + i);
        } else {
            committed.accepted += 1;
        }
    }
    Ok(())
}
