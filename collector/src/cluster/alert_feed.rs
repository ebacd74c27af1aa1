//! The alert leader's reading of the whole event stream (every partition, in stream order):
//! what the one alert engine judges (`leader.rs`, `rules/engine/shared.rs`).
//!
//! An ephemeral pull consumer of its own (no acks: the leader's position is what its snapshot
//! says) starts after the newest snapshot of the alert state, or, without one, at the events
//! stored since the rules' lookback before now ([`Start`]). The events up to the stream's
//! last message when the leader started are a replay: they rebuild the rules' view and act on
//! nothing; the first batch after them (possibly empty) says the engine is caught up.
//!
//! An event's `received` time, when it has none (the WAL gives it on a single collector), is
//! when JetStream stored it: the same on every leader.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures_util::StreamExt;
use logwarden_core::Event;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::member::Member;
use super::names::STREAM;
use crate::rules::engine::FeedBatch;

/// Most messages taken in one fetch.
const BATCH: usize = 1000;

/// Where the leader's reading of the stream starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// After this stream sequence: what the newest snapshot reflects.
    After(u64),
    /// No snapshot: at the first event stored this long before now
    /// (`rules::engine::lookback`), or the stream's first if it holds nothing older.
    Since(Duration),
}

/// Feeds `tx` from `from` until `stop` or an error; dropping `tx` then ends the engine, and
/// with it the leader's session (which starts again from the shared state).
pub async fn run(
    member: Arc<Member>,
    from: Start,
    tx: mpsc::Sender<FeedBatch>,
    stop: CancellationToken,
) {
    if let Err(e) = read(&member, from, &tx, &stop).await {
        tracing::warn!(error = %e, "cluster: the alert leader's reading of the stream failed");
    }
}

async fn open(member: &Member, from: Start) -> Result<(PullConsumer, u64), String> {
    let failed = |e: &dyn std::fmt::Display| format!("stream {STREAM}: {e}");
    let stream = member
        .jetstream()
        .get_stream(STREAM)
        .await
        .map_err(|e| failed(&e))?;
    let until = stream
        .get_info()
        .await
        .map_err(|e| failed(&e))?
        .state
        .last_sequence;
    let deliver_policy = match from {
        Start::After(0) => DeliverPolicy::All,
        Start::After(seq) => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
        Start::Since(lookback) => {
            let since =
                chrono::Utc::now() - chrono::Duration::from_std(lookback).unwrap_or_default();
            let nanos = since.timestamp_nanos_opt().unwrap_or_default();
            DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(i128::from(nanos))
                    .map_err(|e| failed(&format!("start time {since}: {e}")))?,
            }
        }
    };
    let consumer = stream
        .create_consumer(pull::Config {
            description: Some(format!("alert leader {}", member.settings.id)),
            deliver_policy,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| failed(&format!("alert leader's consumer: {e}")))?;
    Ok((consumer, until))
}

async fn read(
    member: &Member,
    from: Start,
    tx: &mpsc::Sender<FeedBatch>,
    stop: &CancellationToken,
) -> Result<(), String> {
    // A NATS node lost with the stream's Raft leader on it: the request times out until a new
    // leader is elected (seconds); try again rather than end the leadership.
    let (consumer, until) = loop {
        match open(member, from).await {
            Ok(opened) => break opened,
            Err(e) => {
                tracing::info!(error = %e, "cluster: the alert leader's consumer not created yet; trying again");
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    let send = |b: FeedBatch| async move {
        tokio::select! {
            _ = stop.cancelled() => Ok(false),
            sent = tx.send(b) => sent.map(|_| true).map_err(|_| "the alert engine stopped".to_owned()),
        }
    };
    let mut last_seq = match from {
        Start::After(seq) => seq,
        Start::Since(_) => 0,
    };
    // Nothing to replay (the snapshot reflects the stream's end): caught up at once, rather
    // than after a first fetch that waits for its expiry (1 s) with nothing to give.
    let mut caught_up = last_seq >= until;
    if caught_up
        && !send(FeedBatch {
            last_seq,
            ..FeedBatch::default()
        })
        .await?
    {
        return Ok(());
    }
    while !stop.is_cancelled() {
        let mut fetched = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| format!("fetch: {e}"))?;
        let (mut replay, mut live) = (FeedBatch::default(), FeedBatch::default());
        let mut messages = 0;
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                next = fetched.next() => next,
            };
            let Some(m) = next else { break };
            let m = m.map_err(|e| format!("fetch: {e}"))?;
            messages += 1;
            let info = m.info().map_err(|e| format!("message info: {e}"))?;
            let (seq, published) = (info.stream_sequence, info.published);
            last_seq = last_seq.max(seq);
            let mut event = match serde_json::from_slice::<Event>(&m.payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(seq, error = %e, "cluster: a message of the stream is not an event; no rule sees it");
                    continue;
                }
            };
            if event.received.is_none() {
                event.received = Some(chrono::DateTime::from_timestamp_nanos(
                    published.unix_timestamp_nanos() as i64,
                ));
            }
            let to = if !caught_up && seq <= until {
                &mut replay
            } else {
                &mut live
            };
            to.events.push(event);
            to.last_seq = seq;
        }
        if !replay.events.is_empty() {
            replay.replay = true;
            if !send(replay).await? {
                return Ok(());
            }
        }
        // Caught up: past the stream's end at the start, or nothing more to read (what was
        // there at the start may have aged out meanwhile).
        let now_caught_up = !caught_up && (last_seq >= until || messages == 0);
        if now_caught_up || !live.events.is_empty() {
            caught_up = true;
            live.last_seq = live.last_seq.max(last_seq);
            if !send(live).await? {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::names::subject;
    use super::super::test_nats::{settings, start_server};
    use super::*;

    /// Publishes events `from..to` of agent `a` to partition 0; the stream sequence of the last.
    async fn publish(member: &Member, from: u64, to: u64) -> u64 {
        let mut last = 0;
        for seq in from..to {
            let event: Event = serde_json::from_value(serde_json::json!({
                "id": format!("a:{seq}"), "ts": "2026-11-29T10:00:00Z", "host": "h1",
                "source": "/var/log/test.log", "message": format!("line {seq}"),
            }))
            .expect("an event");
            let payload = serde_json::to_vec(&event).expect("JSON");
            let ack = member
                .jetstream()
                .publish(subject(0), payload.into())
                .await
                .expect("published");
            last = ack.await.expect("acknowledged").sequence;
        }
        last
    }

    /// What a leader starting at `from` replays: the messages of the events, until the first
    /// live batch.
    async fn replayed(member: &Arc<Member>, from: Start) -> Vec<String> {
        let (tx, mut rx) = mpsc::channel(4);
        let stop = CancellationToken::new();
        let feed = tokio::spawn(run(member.clone(), from, tx, stop.clone()));
        let mut seen = Vec::new();
        while let Some(b) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the feed catches up within 30 s")
        {
            if !b.replay {
                break;
            }
            seen.extend(b.events.into_iter().map(|e| e.message));
        }
        stop.cancel();
        let _ = feed.await;
        seen
    }

    /// A leader without a snapshot reads the events stored within its lookback, not the
    /// stream's first ones; with a snapshot, those after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_snapshot_the_feed_starts_at_the_lookback_not_the_first_event() {
        let server = start_server(1024 * 1024);
        let member = Member::connect(settings(&server.url))
            .await
            .expect("connected");
        member.leases().await.expect("the stream and the bucket");
        publish(&member, 1, 6).await;
        let old_stored = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let seq = publish(&member, 6, 11).await;
        let lines = |r: std::ops::Range<u64>| r.map(|s| format!("line {s}")).collect::<Vec<_>>();
        // From halfway between the two: only the newer five.
        let lookback = old_stored.elapsed() - Duration::from_millis(2500);
        assert_eq!(
            replayed(&member, Start::Since(lookback)).await,
            lines(6..11)
        );
        assert_eq!(
            replayed(&member, Start::Since(Duration::from_secs(3600))).await,
            lines(1..11)
        );
        assert_eq!(replayed(&member, Start::After(seq - 2)).await, lines(9..11));
        assert_eq!(replayed(&member, Start::After(0)).await, lines(1..11));
    }
}
