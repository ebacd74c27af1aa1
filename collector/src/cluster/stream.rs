//! Publishing accepted agent batches to the JetStream stream.
//!
//! One message per event on `logwarden.events.<partition>` (the partition of its agent, so one
//! agent's events keep their order), its payload the event's JSON, with the header
//! `Nats-Msg-Id: <agent_id>:<seq>`: an event sent again within the stream's duplicate window
//! is acknowledged as a duplicate and not stored twice. All publishes of a batch go out
//! before their acks are awaited; the batch is acknowledged to the agent only when JetStream
//! has acknowledged every event (stored on a quorum of the stream's replicas).

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};

use logwarden_core::Event;

use super::{Cluster, ClusterSettings, STREAM, subject};
use crate::ingest::Committed;

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

impl Cluster {
    /// Publishes `events` and waits for JetStream's acks. `Err` (answered 503: the agent keeps
    /// the batch and sends it again) when any event is not acknowledged.
    pub async fn publish(&self, events: &[Event]) -> Result<Committed, String> {
        self.leases().await?;
        let partitions = self.settings.partitions;
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event)
                .map_err(|e| format!("cluster: event {} does not encode: {e}", event.id))?;
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                event.id.to_string().as_str(),
            );
            let p = super::partition_of(&event.id.agent_id, partitions);
            let ack = self
                .js
                .publish_with_headers(subject(p), headers, payload.into())
                .await
                .map_err(|e| format!("cluster: publishing to JetStream failed: {e}"))?;
            acks.push(ack);
        }
        let mut committed = Committed::default();
        for (i, ack) in acks.into_iter().enumerate() {
            let ack = tokio::time::timeout(Duration::from_secs(10), ack)
                .await
                .map_err(|_| {
                    "cluster: JetStream did not acknowledge within 10 s (no quorum?)".to_owned()
                })?
                .map_err(|e| format!("cluster: JetStream did not acknowledge: {e}"))?;
            if ack.duplicate {
                committed.duplicates.push(i);
            } else {
                committed.accepted += 1;
            }
        }
        Ok(committed)
    }
}
