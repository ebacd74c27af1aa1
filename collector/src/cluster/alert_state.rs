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
//! A write larger than the server's `max_payload` is stored in consecutive parts
//! (`alert_parts.rs`: headers `Logwarden-Part` and `Logwarden-Whole`); a snapshot in parts is
//! not a rollup (it would drop its own first parts): once its last part is stored, the
//! messages before its first part are purged. Until then, and when a leader is killed in the
//! middle, the stream holds the older snapshot as well, and the newest whole one counts.
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

use super::alert_parts::{self, Assembler, Fed};
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
    let mut parts = Assembler::default();
    for seq in first..=last {
        let m = match stream.get_raw_message(seq).await {
            Ok(m) => m,
            // Rolled up or removed since the listing: not part of the state any more.
            Err(e) if e.to_string().contains("no message found") => continue,
            Err(e) => return Err(failed(&format!("message {seq}: {e}"))),
        };
        let kind = m.headers.get(KIND_HEADER).map(|v| v.as_str().to_owned());
        let Some(kind) = kind else {
            tracing::warn!(
                seq,
                "cluster: a message of the alert state stream that logwarden did not write; skipped"
            );
            continue;
        };
        let (kind, payload) = match parts.feed(seq, &kind, &m.headers, &m.payload) {
            Ok(Fed::Whole(kind, payload)) => (kind, payload),
            Ok(Fed::More) => continue,
            Err(e) => return Err(failed(&e)),
        };
        take(&mut start, seq, &kind, &payload).map_err(|e| failed(&e))?;
    }
    parts.finish(last);
    Ok((start, last))
}

/// Adds the whole write `payload` of kind `kind` (ending at `seq`) to `start`.
fn take(start: &mut SharedStart, seq: u64, kind: &str, payload: &[u8]) -> Result<(), String> {
    match kind {
        "snapshot" => match Snapshot::decode(payload) {
            Ok(snap) => {
                start.snapshot = Some(snap);
                start.changes.clear();
            }
            // A snapshot that cannot be read loses what it summed up: refuse to lead
            // on a guess (the operator sees why in the log).
            Err(e) => return Err(format!("snapshot at {seq}: {e}")),
        },
        "changes" => match state::decode(payload) {
            Ok(changes) => start.changes.extend(changes),
            Err(e) => return Err(format!("changes at {seq}: {e}")),
        },
        other => tracing::warn!(
            seq,
            kind = other,
            "cluster: a message of the alert state stream that logwarden did not write; skipped"
        ),
    }
    Ok(())
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
        let answer = match write(&js, &mut last, &w.kind, &w.payload).await {
            Ok(()) => Ok(()),
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

/// Stores one write after `last`, which moves on past each message stored: in one message
/// when it fits (a snapshot then with `Nats-Rollup: sub`), else in parts (`alert_parts.rs`),
/// after which a snapshot's older messages are purged.
async fn write(
    js: &jetstream::Context,
    last: &mut u64,
    kind: &StateKind,
    payload: &[u8],
) -> Result<(), (PublishErrorKind, String)> {
    let parts = messages(kind, payload, js.client().max_payload());
    let whole = parts.len() == 1;
    let first = publish_in_order(js, last, parts).await?;
    if let (StateKind::Snapshot, false, Some(first)) = (kind, whole, first) {
        purge_before(js, first).await;
    }
    Ok(())
}

/// The messages of one write, with their headers but `Nats-Expected-Last-Sequence`.
fn messages<'a>(
    kind: &StateKind,
    payload: &'a [u8],
    max_payload: usize,
) -> Vec<(async_nats::HeaderMap, &'a [u8])> {
    let (name, snapshot) = match kind {
        StateKind::Changes => ("changes", false),
        StateKind::Snapshot => ("snapshot", true),
    };
    let mut parts = alert_parts::split(payload, alert_parts::part_size(max_payload));
    let whole = parts.len() == 1;
    for (headers, _) in &mut parts {
        headers.insert(KIND_HEADER, name);
        if snapshot && whole {
            headers.insert(async_nats::header::NATS_ROLLUP, "sub");
        }
    }
    parts
}

/// Publishes `messages` one after the other, each fenced on the one before (from `last`);
/// the sequence of the first.
async fn publish_in_order(
    js: &jetstream::Context,
    last: &mut u64,
    messages: Vec<(async_nats::HeaderMap, &[u8])>,
) -> Result<Option<u64>, (PublishErrorKind, String)> {
    let mut first = None;
    for (mut headers, bytes) in messages {
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
            last.to_string().as_str(),
        );
        let seq = publish(js, headers, bytes.to_vec()).await?;
        first.get_or_insert(seq);
        *last = seq;
    }
    Ok(first)
}

/// Removes what a snapshot stored in parts from `first` on sums up. A failure leaves more to
/// read at the next leader's start (the newest snapshot still replaces it); the next
/// snapshot purges it.
async fn purge_before(js: &jetstream::Context, first: u64) {
    // Nothing before the first message; and JetStream reads a purge up to 1 as a purge of all.
    if first <= 1 {
        return;
    }
    let purged = match js.get_stream(ALERT_STATE).await {
        Ok(stream) => stream
            .purge()
            .sequence(first)
            .await
            .map(|r| r.purged)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match purged {
        Ok(n) => tracing::debug!(n, first, "cluster: alert state before the snapshot purged"),
        Err(e) => tracing::warn!(error = %e, first,
            "cluster: the alert state before the snapshot was not purged; the next snapshot will"),
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

#[cfg(test)]
#[path = "alert_state_tests.rs"]
mod tests;
