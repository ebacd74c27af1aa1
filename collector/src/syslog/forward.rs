//! Where the syslog intake puts numbered events: the local WAL on a primary, or, on a standby,
//! the primary's ingest API (syslog senders cannot follow a redirect, so a standby takes their
//! messages and passes them on; docs/failover.md), or, in cluster mode, the JetStream stream
//! (`cluster.rs`).
//!
//! Forwarded events keep the ids the standby gave them (`syslog@<standby site>:<seq>`), so a
//! batch sent again after a lost answer is caught by the primary's deduplication.

use std::time::Duration;

use logwarden_core::Event;
use logwarden_core::wire::INGEST_PATH;
use tokio_util::sync::CancellationToken;

use crate::wal::{Committer, Originals, Pending};

/// The intake's destination.
pub enum Sink {
    Wal(Committer),
    Primary(Forwarder),
    Cluster(super::cluster::Publisher),
}

impl Sink {
    /// Starts making `events` durable (locally, or at the primary); `lines` are their JSON
    /// lines, without `received`. [`Written::done`] says when they are. Batches started one
    /// after the other are written in that order.
    pub async fn start_write(&self, events: Vec<Event>, lines: Originals) -> Written {
        match self {
            Sink::Wal(c) => match c.submit(events, lines).await {
                Ok(pending) => Written::Wal(pending),
                Err(e) => Written::Done(Err(e.to_string())),
            },
            // The primary is written one batch at a time: each is retried until it is taken.
            Sink::Primary(f) => Written::Done(f.send(lines.body, events.len()).await),
            // Published one batch at a time too (in order), each until the stream took it.
            Sink::Cluster(p) => Written::Done(p.send(&events).await),
        }
    }

    /// Whether [`Sink::start_write`] uses the events' JSON lines (the stream is sent the
    /// events themselves).
    pub fn wants_lines(&self) -> bool {
        !matches!(self, Sink::Cluster(_))
    }
}

/// A batch on its way; an error means its events were not made durable.
pub enum Written {
    Wal(Pending),
    Done(Result<(), String>),
}

impl Written {
    pub async fn done(self) -> Result<(), String> {
        match self {
            Written::Wal(pending) => pending.await.map(|_| ()).map_err(|e| e.to_string()),
            Written::Done(r) => r,
        }
    }
}

/// Sends batches to the primary's ingest API until each is acknowledged.
pub struct Forwarder {
    http: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    /// Ends the retries when the collector stops or changes role.
    stop: CancellationToken,
}

impl Forwarder {
    pub fn new(
        primary: &reqwest::Url,
        token: Option<String>,
        stop: CancellationToken,
    ) -> Result<Forwarder, String> {
        let url = primary.join(INGEST_PATH).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Forwarder {
            http,
            url,
            token,
            stop,
        })
    }

    /// Sends `body`, the NDJSON lines of `messages` events.
    async fn send(&self, body: bytes::Bytes, messages: usize) -> Result<(), String> {
        let mut failures = 0u32;
        loop {
            let mut req = self
                .http
                .post(self.url.clone())
                .header("content-type", "application/x-ndjson")
                .body(body.clone());
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let why = match req.send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => format!("{}", r.status()),
                Err(e) => e.to_string(),
            };
            failures += 1;
            if failures == 1 || failures.is_multiple_of(50) {
                tracing::warn!(primary = %self.url, reason = why, messages, "cannot forward syslog messages to the primary; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = self.stop.cancelled() => return Err(format!("stopping before the primary took them ({why})")),
            }
        }
    }
}
