//! The shipper: delivers batches to the collector, in order, until each is acknowledged.
//!
//! A batch is only done when a collector answered 200 with an [`IngestResponse`] from an epoch
//! no lower than any this agent has seen. Everything else (refused connection, timeout, 429,
//! 5xx, a wrong token) is retried with jittered exponential backoff, moving to the next
//! collector URL on connection failures; nothing is dropped. A 413 splits the batch in two.
//!
//! Failover (docs/failover.md): a standby answers `421` naming the primary and its epoch in
//! headers; the shipper moves to that URL at once (adding it to its list if it was not given)
//! and raises the epoch it trusts, so that a stale primary's ack is never counted (within reach
//! only: see [`super::epoch`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use logwarden_core::wire::{ErrorBody, INGEST_PATH, IngestResponse};
use reqwest::StatusCode;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::epoch::{Heard, KnownEpoch};
use super::settings::Compression;
use crate::config::Settings;
use crate::observe::metrics::{AgentMetrics, ShipError};
use crate::spool::{Limits, SpoolReader};
use crate::tail::checkpoint::Checkpoints;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// With several collectors, one of them may become primary at any moment (failover): the
/// agent keeps asking often enough to follow within a couple of seconds.
const BACKOFF_MAX_FAILOVER: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// While full batches follow each other, checkpoints are saved at most this often.
const SAVE_EVERY: Duration = Duration::from_millis(500);

pub struct Shipper {
    http: reqwest::Client,
    collectors: Vec<reqwest::Url>,
    /// Index into `collectors` of the one we send to.
    current: usize,
    token: Option<String>,
    compression: Compression,
    /// The highest collector epoch believed: an ack from a lower one is not trusted.
    epoch: KnownEpoch,
    /// Counts acks and failed attempts for `/metrics`.
    metrics: Arc<AgentMetrics>,
}

/// Why one attempt failed; all are retried.
#[derive(Debug)]
enum Attempt {
    /// Could not talk to this collector: try the next URL.
    Unreachable(String),
    /// The collector answered but did not take the batch now.
    Refused(String),
    /// The batch is over the collector's body limit.
    TooLarge,
    /// 503: this collector cannot take batches now (fenced, switching over, WAL failure).
    Unavailable(String),
    /// A standby: the primary is elsewhere (already switched to, when it was named).
    Redirected(String),
}

/// Headers by which a standby names the primary and its epoch (collector's `replication`).
const PRIMARY_HEADER: &str = "x-logwarden-primary";
const EPOCH_HEADER: &str = "x-logwarden-epoch";

impl Shipper {
    pub fn new(settings: &Settings) -> anyhow::Result<Shipper> {
        let mut http = reqwest::Client::builder();
        if let Some(path) = &settings.ca_file {
            let certs = logwarden_core::tls::read_ca_file(path)?
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("CA file {}", path.display()))?;
            http = http.tls_certs_merge(certs);
        }
        if let Some(id) = &settings.client_identity {
            http = http.identity(id.load()?);
        }
        let http = http
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Shipper {
            http,
            collectors: settings.collectors.clone(),
            current: 0,
            token: settings.token.clone(),
            compression: settings.compression,
            epoch: KnownEpoch::load(&settings.data_dir),
            metrics: Arc::default(),
        })
    }

    /// Counts into `metrics` (by default into a private set nobody reads).
    pub fn with_metrics(mut self, metrics: Arc<AgentMetrics>) -> Shipper {
        self.metrics = metrics;
        self
    }

    /// Ships batches from the spool, in order, until the spool is closed and read, or
    /// `give_up` fires, or (once `stopping` has fired) a delivery fails: at shutdown what the
    /// collector does not take at once waits in the spool for the next start, rather than
    /// holding up the stop. After each ack the files' checkpoints and the spool position move
    /// and are saved; only then may the spool delete what was acknowledged.
    pub async fn run(
        mut self,
        mut spool: SpoolReader,
        limits: Limits,
        checkpoints: Arc<Mutex<Checkpoints>>,
        stopping: CancellationToken,
        give_up: CancellationToken,
    ) {
        // Checkpoints are saved (two fsyncs) after an ack that leaves the spool with nothing
        // more to send at once, and otherwise at most every SAVE_EVERY while full batches
        // follow each other: they were 2 of the 3 fsyncs per batch (issue 25). A save is put
        // off only while the next batch is already durable (`ready`): a writer waiting for
        // room would otherwise wait for a release that only a save brings. An ack not yet
        // saved when the agent dies is only sent again from the spool (the collector drops
        // what it holds); the spool deletes nothing before the save says it may.
        let mut saved = std::time::Instant::now();
        loop {
            let batch = tokio::select! {
                b = spool.next_batch(limits) => b,
                _ = give_up.cancelled() => return,
            };
            let Some(mut batch) = batch else { return };
            // Full: it ended on a limit, not because the spool had nothing more.
            let full = batch.events >= limits.max_events || batch.body.len() >= limits.max_bytes;
            let body = std::mem::take(&mut batch.body);
            let delivered = tokio::select! {
                d = self.deliver(body, &stopping) => d,
                _ = give_up.cancelled() => false,
            };
            if !delivered {
                return;
            }
            self.metrics.acked(
                batch.events,
                batch
                    .origins
                    .iter()
                    .map(|(k, o)| (&*o.path, batch.lines.get(k).copied().unwrap_or_default())),
            );
            let mut cp = checkpoints.lock().await;
            for o in batch.origins.values() {
                cp.ack(o.file, o.fp, &o.path, o.end);
            }
            cp.ack_spool(batch.end);
            if full && spool.ready() && saved.elapsed() < SAVE_EVERY && !stopping.is_cancelled() {
                continue;
            }
            saved = std::time::Instant::now();
            match cp.save() {
                Ok(()) => spool.release(batch.end),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "saving checkpoints failed; the spool keeps acknowledged events until it works")
                }
            }
        }
    }

    /// Delivers one NDJSON body, splitting it on 413, retrying until acknowledged (true), or
    /// until an attempt fails once `stopping` has fired (false: the body stays in the spool;
    /// a part of it already taken is sent again at the next start and dropped by the
    /// collector's deduplication on `(agent_id, seq)`).
    pub async fn deliver(&mut self, body: Vec<u8>, stopping: &CancellationToken) -> bool {
        // Bodies still to send, in order (a split pushes its two halves back on). Held as
        // `Bytes`, so that an attempt hands reqwest the body without copying it (two copies of
        // each batch were a twentieth of the agent's instructions, issue 25).
        let mut todo = vec![bytes::Bytes::from(body)];
        let mut backoff = BACKOFF_MIN;
        while let Some(part) = todo.pop() {
            loop {
                match self.attempt(&part).await {
                    Ok(resp) => {
                        report(&resp, &part);
                        backoff = BACKOFF_MIN;
                        break;
                    }
                    Err(Attempt::TooLarge) => match split_ndjson(&part) {
                        Some((a, b)) => {
                            todo.push(b.into());
                            todo.push(a.into());
                            break;
                        }
                        None => {
                            self.metrics.ship_error(ShipError::TooLarge);
                            tracing::error!(
                                bytes = part.len(),
                                "one event is over the collector's body limit; it cannot be delivered and is dropped"
                            );
                            break;
                        }
                    },
                    Err(Attempt::Unreachable(why)) => {
                        self.metrics.ship_error(ShipError::Unreachable);
                        tracing::warn!(collector = %self.collectors[self.current], reason = why, retry_in = ?backoff, "collector unreachable");
                        self.current = (self.current + 1) % self.collectors.len();
                        match pause(backoff, self.backoff_max(), stopping).await {
                            Some(next) => backoff = next,
                            None => return false,
                        }
                    }
                    Err(Attempt::Redirected(why)) => {
                        tracing::info!(collector = %self.collectors[self.current], reason = why, "following the primary");
                        // No backoff: the primary was named and is tried at once; a second
                        // redirect in a row (both standbys during a switchover) waits.
                        if backoff > BACKOFF_MIN {
                            match pause(backoff, self.backoff_max(), stopping).await {
                                Some(next) => backoff = next,
                                None => return false,
                            }
                        } else {
                            backoff = BACKOFF_MIN * 2;
                        }
                    }
                    Err(Attempt::Refused(why)) => {
                        self.metrics.ship_error(ShipError::Refused);
                        tracing::warn!(collector = %self.collectors[self.current], reason = why, retry_in = ?backoff, "batch not taken; will retry");
                        match pause(backoff, self.backoff_max(), stopping).await {
                            Some(next) => backoff = next,
                            None => return false,
                        }
                    }
                    Err(Attempt::Unavailable(why)) => {
                        // A fenced primary, a switchover, a failed WAL write: another collector
                        // may take the batch now.
                        self.metrics.ship_error(ShipError::Refused);
                        tracing::warn!(collector = %self.collectors[self.current], reason = why, retry_in = ?backoff, "collector unavailable; trying the next");
                        self.current = (self.current + 1) % self.collectors.len();
                        match pause(backoff, self.backoff_max(), stopping).await {
                            Some(next) => backoff = next,
                            None => return false,
                        }
                    }
                }
            }
        }
        true
    }

    async fn attempt(&mut self, body: &bytes::Bytes) -> Result<IngestResponse, Attempt> {
        let url = self.collectors[self.current]
            .join(INGEST_PATH)
            .map_err(|e| Attempt::Unreachable(e.to_string()))?;
        let (payload, encoding) = match self.compression {
            Compression::Zstd => (
                zstd::bulk::compress(body, 1).map_err(io_refused)?.into(),
                Some("zstd"),
            ),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut enc, body).map_err(io_refused)?;
                (enc.finish().map_err(io_refused)?.into(), Some("gzip"))
            }
            Compression::None => (body.clone(), None),
        };
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/x-ndjson")
            .body(payload);
        if let Some(enc) = encoding {
            req = req.header("content-encoding", enc);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Attempt::Unreachable(error_chain(&e)))?;
        let status = resp.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Err(Attempt::TooLarge);
        }
        if status == StatusCode::MISDIRECTED_REQUEST {
            return Err(self.follow_primary(resp.headers()));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Attempt::Unreachable(error_chain(&e)))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return Err(Attempt::Unavailable(msg));
            }
            return Err(Attempt::Refused(format!("{status}: {msg}")));
        }
        let ack: IngestResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Attempt::Refused(format!("unreadable answer: {e}")))?;
        if ack.cluster {
            // No epochs in a cluster: the epoch kept from a pair shipped to before is neither
            // compared nor changed (docs/scale.md, "Moving from a pair to a cluster").
            return Ok(ack);
        }
        if ack.epoch < self.epoch.get() {
            // A collector from an older epoch: it may have been replaced by the standby, and
            // its ack means nothing. Look for the current primary.
            self.current = (self.current + 1) % self.collectors.len();
            return Err(Attempt::Refused(format!(
                "ack from epoch {} after epoch {} was seen; not trusted",
                ack.epoch,
                self.epoch.get()
            )));
        }
        // An ack from far beyond the known epoch is still an ack (not a stale primary's); the
        // epoch is just not believed.
        self.epoch
            .hear(ack.epoch, &self.collectors[self.current], Heard::Ack);
        Ok(ack)
    }
}

impl Shipper {
    fn backoff_max(&self) -> Duration {
        if self.collectors.len() > 1 {
            BACKOFF_MAX_FAILOVER
        } else {
            BACKOFF_MAX
        }
    }

    /// A standby answered: raise the epoch it names and move to the primary it names (or else
    /// to the next URL).
    fn follow_primary(&mut self, headers: &reqwest::header::HeaderMap) -> Attempt {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(e) = get(EPOCH_HEADER).and_then(|v| v.parse::<u64>().ok()) {
            self.epoch
                .hear(e, &self.collectors[self.current], Heard::Redirect);
        }
        let named = get(PRIMARY_HEADER).and_then(|v| v.parse::<reqwest::Url>().ok());
        match named {
            Some(url) => {
                let at = match self.collectors.iter().position(|c| same_base(c, &url)) {
                    Some(i) => i,
                    None => {
                        self.collectors.push(url.clone());
                        self.collectors.len() - 1
                    }
                };
                self.current = at;
                Attempt::Redirected(format!("standby; the primary is {url}"))
            }
            None => {
                self.current = (self.current + 1) % self.collectors.len();
                Attempt::Redirected("standby that does not know the primary".into())
            }
        }
    }
}

/// Whether two collector URLs name the same server (a trailing slash or not).
fn same_base(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn io_refused(e: std::io::Error) -> Attempt {
    Attempt::Refused(format!("compressing: {e}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Logs what the collector refused: those lines will never be accepted as they are.
fn report(resp: &IngestResponse, body: &[u8]) {
    if resp.rejected.is_empty() {
        return;
    }
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for r in &resp.rejected {
        let line = lines
            .get(r.index)
            .map(|l| String::from_utf8_lossy(&l[..l.len().min(200)]));
        tracing::error!(index = r.index, reason = r.reason, line = ?line, "collector rejected an event");
    }
}

/// The wait before a retry: the next backoff, or `None` when the agent is stopping (now or
/// during the wait), so that a stop never waits on a collector that is not answering.
async fn pause(backoff: Duration, max: Duration, stopping: &CancellationToken) -> Option<Duration> {
    if stopping.is_cancelled() {
        tracing::info!(
            "stopping: the collector is not taking batches; the rest stays in the spool"
        );
        return None;
    }
    tokio::select! {
        next = sleep_jittered(backoff, max) => Some(next),
        _ = stopping.cancelled() => None,
    }
}

/// Sleeps a random time up to `backoff` (full jitter) and returns the next backoff.
async fn sleep_jittered(backoff: Duration, max: Duration) -> Duration {
    let ms = rand::random_range(backoff.as_millis() as u64 / 2..=backoff.as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    (backoff * 2).min(max)
}

/// Splits NDJSON into two halves at a line boundary; `None` for a single line.
pub fn split_ndjson(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let ends: Vec<usize> = body
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .filter(|&i| i < body.len())
        .collect();
    let cut = *ends.get(ends.len().checked_sub(1)? / 2)?;
    Some((body[..cut].to_vec(), body[cut..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_splits_at_a_line_boundary_and_not_below_one_line() {
        let (a, b) = split_ndjson(b"1\n2\n3\n4\n").unwrap();
        assert_eq!(
            (a.as_slice(), b.as_slice()),
            (&b"1\n2\n"[..], &b"3\n4\n"[..])
        );
        let (a, b) = split_ndjson(b"1\n2\n3\n").unwrap();
        assert_eq!((a.as_slice(), b.as_slice()), (&b"1\n"[..], &b"2\n3\n"[..]));
        assert_eq!(split_ndjson(b"1\n"), None);
        assert_eq!(split_ndjson(b"1"), None);
    }
}
