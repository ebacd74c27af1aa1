//! Where the engine's input comes from and where a cluster leader's engine keeps its state. A
//! leaf, so that the engine's value and its main loop can name them.
//!
//! - [`Feed::Wal`]: a single collector or a pair: the engine follows the local WAL (the durable
//!   LSN) and writes its state there (`replay.rs`, `lifecycle.rs`).
//! - [`Feed::Shared`]: the alert leader of a cluster (`crate::cluster::leader`): events of every
//!   partition come in stream order as [`FeedBatch`]es, and the alert state goes to a shared
//!   store through [`StateWrite`]s (`shared.rs`), so that the next leader continues it.

use logwarden_core::Event;
use tokio::sync::{mpsc, oneshot, watch};

use crate::rules::snapshot::Snapshot;
use crate::rules::state::StateChange;

/// The engine's input.
pub(super) enum Feed {
    Wal(watch::Receiver<u64>),
    Shared(mpsc::Receiver<FeedBatch>),
}

/// What the feed says next.
pub(super) enum Work {
    /// The WAL is durable up to this LSN.
    Upto(u64),
    /// Events of the shared stream.
    Events(FeedBatch),
}

impl Feed {
    /// The next piece of work; `None` when the source is gone.
    pub(super) async fn next(&mut self) -> Option<Work> {
        match self {
            Feed::Wal(durable) => {
                durable.changed().await.ok()?;
                Some(Work::Upto(*durable.borrow_and_update()))
            }
            Feed::Shared(rx) => rx.recv().await.map(Work::Events),
        }
    }
}

/// Events of the shared stream, in its order.
#[derive(Debug, Default)]
pub struct FeedBatch {
    pub events: Vec<Event>,
    /// The stream sequence of the last message this batch covers (a snapshot says it reflects
    /// every event up to it).
    pub last_seq: u64,
    /// Before the point where this engine started: rebuild the rules' view, act on nothing.
    /// The first batch that is not a replay (it may be empty) ends the start.
    pub replay: bool,
}

/// The alert state the shared store held when this leader started.
#[derive(Debug, Default)]
pub struct SharedStart {
    /// The newest snapshot (the rules' view and the table as of its `lsn`, a stream sequence
    /// of the events); the feed starts after it.
    pub snapshot: Option<Snapshot>,
    /// The changes written after the snapshot, in order.
    pub changes: Vec<StateChange>,
}

/// What a write to the shared store holds.
#[derive(Debug)]
pub enum StateKind {
    /// A batch of changes (`rules::state` payload).
    Changes,
    /// A whole snapshot (`rules::snapshot` payload): it replaces everything written before.
    Snapshot,
}

/// A write to the shared store, answered once stored (or refused: another leader wrote
/// meanwhile, or the store has no quorum).
#[derive(Debug)]
pub struct StateWrite {
    pub kind: StateKind,
    pub payload: Vec<u8>,
    pub done: oneshot::Sender<Result<(), String>>,
}

/// What a cluster leader hands its engine.
pub struct Shared {
    pub start: SharedStart,
    pub events: mpsc::Receiver<FeedBatch>,
    pub writes: mpsc::Sender<StateWrite>,
    /// How often, with changes, a snapshot replaces the changes stored before it.
    pub snapshot_every: std::time::Duration,
    /// Whether this collector surely still leads (its lease renewed recently enough): no
    /// notification goes out otherwise (a leader paused, then resumed after another took
    /// over, must not page what its successor pages).
    pub leading: Leading,
}

/// See [`Shared::leading`].
pub type Leading = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// The engine's side of the shared store: where writes go and when the next snapshot is due.
pub(super) struct SharedSink {
    pub(super) writes: mpsc::Sender<StateWrite>,
    /// Events handled since the last snapshot.
    pub(super) events_since: u64,
    /// Changes written since the last snapshot.
    pub(super) changes_since: u64,
    pub(super) last_snapshot: tokio::time::Instant,
    pub(super) snapshot_every: std::time::Duration,
    pub(super) leading: Leading,
}
