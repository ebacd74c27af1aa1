//! The writer thread: gives every item from the sources its identity (`agent_id:seq`) and
//! writes it to the spool, committing in groups.
//!
//! A group is whatever queued while the last fsync ran (at most [`GROUP_EVENTS`] events or
//! [`GROUP_BYTES`]), so the fsync rate adapts to the disk. When the spool is full (`block`) or
//! the disk under it is, this thread waits, the item channel fills, and the tailer stops
//! reading: unread lines stay in the files. A full disk is logged once per episode and retried
//! every second; the agent keeps running and shipping.

use std::time::Duration;

use chrono::Utc;
use logwarden_core::EventId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SpoolWriter;
use super::writer::AppendError;
use crate::identity::SeqAllocator;
use crate::source::Item;

const GROUP_EVENTS: usize = 8192;
const GROUP_BYTES: usize = 4 << 20;
const RETRY: Duration = Duration::from_secs(1);

pub struct Feed {
    pub agent_id: String,
    pub host: String,
    pub site: String,
    pub seqs: SeqAllocator,
    pub writer: SpoolWriter,
    /// Counts events spooled and failed writes.
    pub metrics: std::sync::Arc<crate::observe::metrics::AgentMetrics>,
}

impl Feed {
    /// Runs until `items` closes (every source stopped), then commits and closes the writer.
    /// `cancel` ends waits for room or disk space (what was not spooled is read again at the
    /// next start).
    pub fn run(mut self, mut items: mpsc::Receiver<Item>, cancel: CancellationToken) {
        let mut event = Vec::with_capacity(1024);
        'outer: while let Some(first) = items.blocking_recv() {
            let mut next = Some(first);
            let mut n = 0;
            while let Some(item) = next.take() {
                if !self.add(item, &mut event, &cancel) {
                    break 'outer;
                }
                n += 1;
                if n < GROUP_EVENTS && self.writer.buffered() < GROUP_BYTES {
                    next = items.try_recv().ok();
                }
            }
            if !self.commit(&cancel) {
                break;
            }
        }
        self.commit(&cancel);
        self.writer.close();
    }

    fn add(&mut self, item: Item, event: &mut Vec<u8>, cancel: &CancellationToken) -> bool {
        let seq = loop {
            match self.seqs.allocate() {
                Ok(s) => break s,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot save the seq lease (disk full?); reading paused, retrying");
                    if cancel.is_cancelled() {
                        return false;
                    }
                    std::thread::sleep(RETRY);
                }
            }
        };
        // The clock only for drafts without a time of their own (a syslog line has one): it
        // was 2 % of the agent's instructions per line (issue 25).
        let now = item.draft.ts.unwrap_or_else(Utc::now);
        let ev = item.draft.into_event(
            EventId::new(self.agent_id.as_str(), seq),
            &self.host,
            &self.site,
            now,
        );
        event.clear();
        ev.write_json(event);
        let mut warned = false;
        loop {
            match self.writer.append(seq, item.origin.as_ref(), event, cancel) {
                Ok(()) => {
                    if warned {
                        tracing::info!("spool writable again; reading resumed");
                    }
                    self.metrics
                        .spooled
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return true;
                }
                Err(AppendError::Cancelled) => return false,
                Err(AppendError::Io(e)) => {
                    if !self.wait_after_write_error(&e, &mut warned, cancel) {
                        return false;
                    }
                }
            }
        }
    }

    fn commit(&mut self, cancel: &CancellationToken) -> bool {
        let mut warned = false;
        loop {
            match self.writer.commit() {
                Ok(()) => {
                    if warned {
                        tracing::info!("spool writable again; reading resumed");
                    }
                    return true;
                }
                Err(e) => {
                    if !self.wait_after_write_error(&e, &mut warned, cancel) {
                        return false;
                    }
                }
            }
        }
    }

    /// After a failed spool write: counts it, warns once per stall, and waits a second before
    /// the retry; false when the agent is stopping instead.
    fn wait_after_write_error(
        &self,
        e: &std::io::Error,
        warned: &mut bool,
        cancel: &CancellationToken,
    ) -> bool {
        self.metrics
            .spool_write_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !*warned {
            tracing::error!(error = %e, "cannot write the spool (disk full?); reading paused, shipping goes on; retrying every second");
            *warned = true;
        }
        if cancel.is_cancelled() {
            return false;
        }
        std::thread::sleep(RETRY);
        true
    }
}
