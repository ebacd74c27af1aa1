//! The alert state of a cluster, in JetStream: the stream `LOGWARDEN_ALERTS` (replicated as the
//! event stream is), written only by the alert leader (`leader.rs`), read whole by the next one.
//!
//! # Layout
//!
//! One subject, `logwarden.alerts.state`; each message has the header `Logwarden-State`:
//!
//! - `changes`: a batch of the engine's changes, the payload of a WAL `AlertState` record
//!   (`rules::state`, versioned there): alerts fired, changed or resolved, acks, silences, the
//!   notification log;
//! - `snapshot`: the engine's whole state (`rules::snapshot`, versioned there), whose `lsn` is
//!   the sequence of the last message of the event stream it reflects. It is published with
//!   `Nats-Rollup: sub`, so JetStream drops every message before it: the stream holds the
//!   newest snapshot and the changes after it.
//!
//! A new leader reads the stream from its first message to its last ([`load`]) and goes on
//! from there. Every write carries `Nats-Expected-Last-Sequence` (the last message this leader
//! read or wrote): a collector that lost the leadership without knowing it yet (paused, cut
//! off) cannot write over its successor's state; its write is refused and it stops leading
//! ([`serve_writes`]).

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::ClusterSettings;
use super::names::{ALERT_STATE, ALERT_STATE_SUBJECT};
use crate::rules::engine::{SharedStart, StateKind, StateWrite};
use crate::rules::snapshot::Snapshot;
use crate::rules::state;

/// The header naming what a message holds.
const KIND_HEADER: &str = "Logwarden-State";

/// Creates the stream, or finds it.
pub async fn ensure(js: &jetstream::Context, s: &ClusterSettings) -> Result<(), String> {
    let config = Config {
        name: ALERT_STATE.into(),
        subjects: vec![ALERT_STATE_SUBJECT.into()],
        retention: RetentionPolicy::Limits,
        discard: DiscardPolicy::Old,
        storage: StorageType::File,
        num_replicas: s.replicas,
        allow_rollup: true,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map(|_| ())
        .map_err(|e| format!("cluster: the alert state stream {ALERT_STATE} is not available: {e}"))
}

/// Reads the whole alert state: the newest snapshot and the changes after it, and the
/// sequence of the last message (where this leader's writes go on from).
pub async fn load(js: &jetstream::Context) -> Result<(SharedStart, u64), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cluster: reading the alert state: {e}");
    let mut stream = js.get_stream(ALERT_STATE).await.map_err(|e| failed(&e))?;
    let info = stream.info().await.map_err(|e| failed(&e))?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut start = SharedStart::default();
    if info.state.messages == 0 {
        return Ok((start, last));
    }
    for seq in first..=last {
        let m = match stream.get_raw_message(seq).await {
            Ok(m) => m,
            // Rolled up or removed since the listing: not part of the state any more.
            Err(e) if e.to_string().contains("no message found") => continue,
            Err(e) => return Err(failed(&format!("message {seq}: {e}"))),
        };
        let kind = m.headers.get(KIND_HEADER).map(|v| v.as_str().to_owned());
        match kind.as_deref() {
            Some("snapshot") => match Snapshot::decode(&m.payload) {
                Ok(snap) => {
                    start.snapshot = Some(snap);
                    start.changes.clear();
                }
                // A snapshot that cannot be read loses what it summed up: refuse to lead
                // on a guess (the operator sees why in the log).
                Err(e) => return Err(failed(&format!("snapshot at {seq}: {e}"))),
            },
            Some("changes") => match state::decode(&m.payload) {
                Ok(changes) => start.changes.extend(changes),
                Err(e) => return Err(failed(&format!("changes at {seq}: {e}"))),
            },
            other => tracing::warn!(
                seq,
                kind = ?other,
                "cluster: a message of the alert state stream that logwarden did not write; skipped"
            ),
        }
    }
    Ok((start, last))
}

/// The leader's writer: stores each write after `last`, until `writes` ends. A write refused
/// because another collector wrote meanwhile cancels `deposed` (this collector no longer
/// leads) and ends the writer.
pub async fn serve_writes(
    js: jetstream::Context,
    mut last: u64,
    mut writes: mpsc::Receiver<StateWrite>,
    deposed: CancellationToken,
) {
    while let Some(w) = writes.recv().await {
        let (kind, rollup) = match w.kind {
            StateKind::Changes => ("changes", false),
            StateKind::Snapshot => ("snapshot", true),
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(KIND_HEADER, kind);
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
            last.to_string().as_str(),
        );
        if rollup {
            headers.insert(async_nats::header::NATS_ROLLUP, "sub");
        }
        let result = publish(&js, headers, w.payload).await;
        let answer = match result {
            Ok(seq) => {
                last = seq;
                Ok(())
            }
            Err((PublishErrorKind::WrongLastSequence, e)) => {
                let _ = w.done.send(Err(format!(
                    "another collector wrote the alert state ({e}): this one no longer leads"
                )));
                tracing::warn!(
                    "cluster: the alert state was written by another collector; stepping down"
                );
                deposed.cancel();
                return;
            }
            Err((_, e)) => Err(format!("storing the alert state failed: {e}")),
        };
        let _ = w.done.send(answer);
    }
}

async fn publish(
    js: &jetstream::Context,
    headers: async_nats::HeaderMap,
    payload: Vec<u8>,
) -> Result<u64, (PublishErrorKind, String)> {
    let other = |e: &dyn std::fmt::Display| (PublishErrorKind::Other, e.to_string());
    let ack = js
        .publish_with_headers(ALERT_STATE_SUBJECT, headers, payload.into())
        .await
        .map_err(|e| (e.kind(), e.to_string()))?;
    let ack = tokio::time::timeout(Duration::from_secs(10), ack)
        .await
        .map_err(|_| other(&"no acknowledgement within 10 s (no quorum?)"))?
        .map_err(|e| (e.kind(), e.to_string()))?;
    Ok(ack.sequence)
}
