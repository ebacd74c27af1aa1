//! From received syslog messages to durable events: each message becomes a draft (parsed where
//! it was read, on the connection's own task), and the intake task numbers the drafts and hands
//! them to the WAL committer in batches.
//!
//! Identity: plain syslog has no sender-side ids, so the collector gives each message the id
//! `syslog@<site>:<seq>` from its own seq lease (`syslog.seq` in the data directory), which
//! never reuses a seq across crashes; in cluster mode, one source per partition instead
//! (`cluster.rs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use chrono::Utc;
use logwarden_core::seq::SeqAllocator;
use logwarden_core::{Draft, Event};
use logwarden_parse::{Format, LineParser, ParseOptions};
use tokio::sync::mpsc;

use super::cluster::Ids;
use super::forward::{Sink, Written};
use super::framing::Frame;
use crate::ingest::SpaceLimits;
use crate::wal::{Originals, WalStats};

/// Messages committed together: a batch is closed once it holds this many (or after
/// [`BATCH_WAIT`]).
const BATCH: usize = 2000;
/// Batches handed to the WAL and not yet durable, at most.
const IN_FLIGHT: usize = 4;
/// The longest a message waits for its batch to fill.
const BATCH_WAIT: Duration = Duration::from_millis(20);
/// How often a paused intake looks for room again.
const ROOM_POLL: Duration = Duration::from_millis(20);
/// At most one "paused" warning this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
const SEQ_HEADER: &str = "logwarden-collector syslog seq v1";

/// Turns frames from one sender into drafts. One per TCP connection, one per UDP socket.
pub struct Parser {
    lines: LineParser,
    transport: &'static str,
    /// The last sender and its `fields.sender` value (a TCP connection has one sender).
    sender: Option<(SocketAddr, serde_json::Value)>,
}

impl Parser {
    pub fn new(transport: &'static str) -> Parser {
        Parser {
            // Senders name themselves: the line's host name is the event's host.
            lines: LineParser::with_options(
                Path::new("syslog"),
                Format::Syslog,
                &ParseOptions {
                    host_from_line: true,
                    ..ParseOptions::default()
                },
            ),
            transport,
            sender: None,
        }
    }

    pub fn parse(&mut self, frame: Frame<'_>, peer: SocketAddr) -> Draft {
        // Every draft's source is already `syslog`: the line parser's path.
        let mut draft = self.lines.parse(frame.bytes);
        // A message without a host name is filed under its sender's address.
        if draft
            .host
            .as_deref()
            .is_none_or(|h| h.is_empty() || h == "-")
        {
            draft.host = Some(peer.ip().to_string().into());
        }
        if self.sender.as_ref().is_none_or(|(addr, _)| *addr != peer) {
            self.sender = Some((peer, peer.to_string().into()));
        }
        if let Some((_, sender)) = &self.sender {
            draft.fields.insert("sender".into(), sender.clone());
        }
        draft
            .fields
            .insert("transport".into(), self.transport.into());
        if frame.truncated {
            draft.fields.insert("truncated".into(), true.into());
        }
        draft
    }
}

/// How messages are numbered: per partition when `sink` publishes to a cluster, else from the
/// collector's seq lease (`syslog@<site>`).
pub fn ids(data_dir: &Path, sink: &Sink, site: &str) -> std::io::Result<Ids> {
    Ok(match sink {
        Sink::Cluster(p) => {
            let s = &p.member().settings;
            Ids::Cluster(super::cluster::Sources::new(data_dir, &s.id, s.partitions))
        }
        _ => Ids::Site {
            agent: format!("syslog@{site}"),
            seqs: SeqAllocator::open(&data_dir.join("syslog.seq"), SEQ_HEADER)?,
        },
    })
}

/// What the intake must respect before writing: the same space limits as ingest.
pub struct Room {
    pub limits: SpaceLimits,
    pub wal_stats: Arc<WalStats>,
    pub data_dir: PathBuf,
    pub counters: Arc<crate::metrics::Counters>,
}

/// Runs until every sender of `rx` is gone, committing (or forwarding) what it receives.
pub async fn run(
    mut rx: mpsc::Receiver<Vec<Draft>>,
    sink: Sink,
    mut ids: Ids,
    site: String,
    room: Room,
) {
    let mut in_flight = std::collections::VecDeque::new();
    let mut last_warned = None;
    loop {
        let first = match rx.try_recv() {
            Ok(r) => r,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Nothing waiting: see the batches in flight through (counted, or their failure
                // logged) now rather than when the next message comes.
                while let Some(w) = in_flight.pop_front() {
                    finish(w, &room.counters).await;
                }
                match rx.recv().await {
                    Some(r) => r,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        // Each draft becomes its event as it arrives, straight into the batch.
        let mut events = Vec::with_capacity(BATCH + first.len());
        number(first, &mut events, &mut ids, &site);
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while events.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => number(r, &mut events, &mut ids, &site),
                _ => break,
            }
        }
        // Out of room: hold this batch (TCP senders wait, UDP overflows and is counted) until
        // there is room again, rather than fail a WAL write. Looked at often: the index makes
        // room a batch at a time, and a second's sleep left the intake idle long after there
        // was room (a burst past `[index] max_backlog_mb` went in at a pause and a rush).
        let mut paused = None;
        while let Err(why) = room.limits.check(&room.wal_stats, &room.data_dir) {
            let now = std::time::Instant::now();
            paused.get_or_insert(now);
            if last_warned.is_none_or(|t: std::time::Instant| now - t >= WARN_EVERY) {
                tracing::warn!(reason = why, "syslog intake paused");
                last_warned = Some(now);
            }
            tokio::time::sleep(ROOM_POLL).await;
        }
        if let Some(since) = paused {
            let ms = since.elapsed().as_millis() as u64;
            room.counters.syslog_paused_ms.fetch_add(ms, Relaxed);
        }
        let n = events.len();
        let lines = if sink.wants_lines() {
            lines_of(&events)
        } else {
            Originals::default()
        };
        in_flight.push_back((n, sink.start_write(events, lines).await));
        // The next batch fills while this one is written; past IN_FLIGHT batches, wait for the
        // oldest (and so, through the channel, slow the senders down).
        while in_flight.len() > IN_FLIGHT
            && let Some(w) = in_flight.pop_front()
        {
            finish(w, &room.counters).await;
        }
    }
    while let Some(w) = in_flight.pop_front() {
        finish(w, &room.counters).await;
    }
}

/// Gives each draft its identity and appends its event.
fn number(drafts: Vec<Draft>, events: &mut Vec<Event>, ids: &mut Ids, site: &str) {
    let now = Utc::now();
    for draft in drafts {
        match ids.next(&draft) {
            Ok(id) => events.push(draft.into_event(id, "", site, now)),
            Err(e) => {
                tracing::error!(error = %e, "cannot number syslog messages; dropping this one")
            }
        }
    }
}

/// The events' JSON lines, written here rather than on the WAL committer's thread, which all
/// intake shares: there, serializing syslog events was half of its time. The committer puts
/// `received` in front of each (as it does for agents' lines) without parsing them again.
fn lines_of(events: &[Event]) -> Originals {
    let mut body = Vec::with_capacity(events.len() * 384);
    let mut spans = Vec::with_capacity(events.len());
    for e in events {
        let start = body.len();
        e.write_json(&mut body);
        spans.push(Some(start..body.len()));
        body.push(b'\n');
    }
    Originals {
        body: body.into(),
        spans,
    }
}

/// Waits until a batch is durable; counts it (`logwarden_syslog_messages_total`) or logs why not.
async fn finish((n, w): (usize, Written), counters: &crate::metrics::Counters) {
    match w.done().await {
        Ok(()) => {
            counters.syslog_messages.fetch_add(n as u64, Relaxed);
        }
        Err(e) => {
            tracing::error!(error = %e, messages = n, "syslog messages could not be written")
        }
    }
}
