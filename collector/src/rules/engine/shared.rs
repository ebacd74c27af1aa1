//! The engine of a cluster's alert leader (`crate::cluster::leader`): one engine for the whole
//! cluster, fed with the events of every partition in stream order, its state in a shared
//! store (`crate::cluster::alert_state`) instead of the local WAL.
//!
//! - **Start.** The newest snapshot in the store is restored (table, verdicts, the rules'
//!   view), the changes written after it are applied, and the events after the snapshot are
//!   replayed up to where the stream was when this leader started, acting on nothing (as a
//!   single collector replays its WAL). Then the engine reconciles: a verdict that disagrees
//!   with the table is acted on now. Notifications are decided from the notification log,
//!   which the store holds: what the previous leader sent is not sent again.
//! - **Live.** Changes go to the store once per batch of work (and before the API's answer),
//!   as on a single collector to the WAL. A write the store refused goes back to `pending`
//!   and is tried again with the next batch.
//! - **Fenced.** No group is flushed (nothing is sent) while the leader does not surely hold
//!   its lease (`Shared::leading`): a leader resumed after a pause longer than the lease sends
//!   nothing before it learns that it was replaced; its writes are refused by the store.
//! - **Snapshots.** After [`SNAPSHOT_EVENTS`] events, or `[cluster] alert_snapshot_every`
//!   (30 s) with changes, a snapshot replaces what the store held (a rollup): the next
//!   leader's start is short and the store does not grow.

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Engine;
use super::feed::{FeedBatch, SharedStart, StateKind, StateWrite};
use crate::rules::snapshot;
use crate::rules::state;

/// Events handled before a snapshot is due (else `[cluster] alert_snapshot_every` with
/// changes).
const SNAPSHOT_EVENTS: u64 = 50_000;

impl Engine {
    /// The start of a leader: restore, replay up to the feed's first live batch, reconcile,
    /// then handle that batch. False when the feed ended first (the leader stepped down).
    pub(super) async fn start_shared(
        &mut self,
        start: SharedStart,
        events: &mut mpsc::Receiver<FeedBatch>,
    ) -> bool {
        if let Some(snap) = start.snapshot {
            self.applied_lsn = snap.lsn;
            self.take_snapshot(snap, "the cluster's shared state");
        }
        let changes = start.changes.len();
        start.changes.iter().for_each(|c| self.table.apply(c));
        let mut replayed = 0;
        let first_live = loop {
            let Some(batch) = events.recv().await else {
                return false;
            };
            if !batch.replay {
                break batch;
            }
            replayed += batch.events.len();
            self.events(batch.events.iter(), true);
            self.applied_lsn = self.applied_lsn.max(batch.last_seq);
        };
        tracing::info!(
            seq = self.applied_lsn,
            changes,
            events = replayed,
            alerts = self.table.alerts.len(),
            silences = self.table.silences.len(),
            "cluster: alert state taken over from the shared store"
        );
        self.reconcile();
        self.commit_pending().await;
        self.schedule_all_firing(Instant::now());
        self.shared_events(first_live).await;
        true
    }

    /// Live events of the stream: judged and acted on.
    pub(super) async fn shared_events(&mut self, batch: FeedBatch) {
        self.events(batch.events.iter(), batch.replay);
        self.applied_lsn = self.applied_lsn.max(batch.last_seq);
        if let Some(sink) = &mut self.shared {
            sink.events_since += batch.events.len() as u64;
        }
    }

    /// Whether notifications may go out: always on a single collector or a pair; on a
    /// cluster's leader only while it surely leads.
    pub(super) fn may_notify(&self) -> bool {
        self.shared.as_ref().is_none_or(|sink| (sink.leading)())
    }

    /// After each batch of work of a leader: a snapshot when one is due.
    pub(super) async fn shared_snapshot_if_due(&mut self) {
        let Some(sink) = &self.shared else { return };
        let due = sink.events_since >= SNAPSHOT_EVENTS
            || (sink.changes_since > 0 && sink.last_snapshot.elapsed() >= sink.snapshot_every);
        if due {
            self.shared_snapshot().await;
        }
    }

    /// Writes the pending changes to the shared store; on failure they go back to `pending`,
    /// to be tried again with the next batch of work.
    pub(super) async fn write_shared(&mut self) -> Result<(), String> {
        let changes = std::mem::take(&mut self.pending);
        let n = changes.len() as u64;
        match self
            .store(StateKind::Changes, state::encode(&changes))
            .await
        {
            Ok(()) => {
                if let Some(sink) = &mut self.shared {
                    sink.changes_since += n;
                }
                Ok(())
            }
            Err(e) => {
                self.pending.splice(0..0, changes);
                Err(e)
            }
        }
    }

    /// Replaces the store's content with a snapshot of the state as of the last event handled;
    /// whether it was stored.
    pub(super) async fn shared_snapshot(&mut self) -> bool {
        // Every change in the snapshot must be in the store before it, as for the WAL
        // (`write_snapshot`): a snapshot is only taken when they are.
        if !self.commit_pending().await {
            return false;
        }
        let snap = snapshot::capture(
            self.applied_lsn,
            0,
            &self.table,
            &self.desired,
            &self.builtins,
            &self.user,
        );
        let payload = snap.encode();
        let bytes = payload.len();
        match self.store(StateKind::Snapshot, payload).await {
            Ok(()) => {
                tracing::info!(
                    seq = self.applied_lsn,
                    bytes,
                    "cluster: alert state snapshot stored"
                );
                if let Some(sink) = &mut self.shared {
                    sink.events_since = 0;
                    sink.changes_since = 0;
                    sink.last_snapshot = Instant::now();
                }
                true
            }
            Err(e) => {
                self.snapshot_failures += 1;
                tracing::error!(seq = self.applied_lsn, bytes, error = %e,
                    "cluster: alert state snapshot not stored; the store keeps every change since the previous one");
                if let Some(sink) = &mut self.shared {
                    // Not again at once: after as long again.
                    sink.last_snapshot = Instant::now();
                    sink.events_since = 0;
                }
                false
            }
        }
    }

    /// One write to the shared store, answered once stored.
    async fn store(&self, kind: StateKind, payload: Vec<u8>) -> Result<(), String> {
        let Some(sink) = &self.shared else {
            return Err("no shared alert state".into());
        };
        let (done, answer) = oneshot::channel();
        sink.writes
            .send(StateWrite {
                kind,
                payload,
                done,
            })
            .await
            .map_err(|_| "the shared alert state has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the shared alert state has stopped".to_owned())?
    }
}
