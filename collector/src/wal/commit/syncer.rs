//! The syncer: the second thread of the committer, which fsyncs the groups the committer wrote
//! and only then answers their requests, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::error::CommitError;
use super::request::{CommitRequest, Committed};
use super::snapshots::Snapshots;
use crate::wal::stats::WalStats;
use crate::wal::{Trimmed, WalError, Written};

/// The answer owed to one request of a group, in request order.
pub(super) enum Answer {
    Events(Result<Committed, CommitError>),
    Record(Result<u64, CommitError>),
    Trim(Result<Trimmed, CommitError>),
}

/// A group written and not yet fsynced: its requests, answered once it is.
pub(super) struct Unsynced {
    pub(super) written: Written,
    pub(super) group: Vec<CommitRequest>,
    pub(super) answers: Vec<Answer>,
    pub(super) snapshots: Snapshots,
}

/// The committer's side of the syncer.
pub(super) struct Syncing {
    pub(super) written: std::sync::mpsc::SyncSender<Unsynced>,
    /// Set by the syncer when an fsync failed: the committer then poisons the log.
    pub(super) poisoned: Arc<AtomicBool>,
    pub(super) thread: JoinHandle<()>,
}

/// The syncer thread: fsyncs each group the committer wrote (one fsync for all the groups that
/// were written meanwhile), publishes the durable LSN and answers the groups' requests, in
/// order. Once an fsync fails, every group after it fails too, without another fsync: the
/// kernel may have dropped what it held, and a later fsync could succeed without it.
pub(super) fn sync_and_answer(
    unsynced: std::sync::mpsc::Receiver<Unsynced>,
    durable: watch::Sender<u64>,
    stats: &WalStats,
    poisoned: &AtomicBool,
) {
    while let Ok(first) = unsynced.recv() {
        let mut groups = vec![first];
        groups.extend(unsynced.try_iter());
        let mut failed = poisoned
            .load(Relaxed)
            .then(|| CommitError::from(WalError::Poisoned));
        let mut synced: Option<&Written> = None;
        for g in &groups {
            if failed.is_some() || synced.is_some_and(|s| s.same_segment(&g.written)) {
                continue;
            }
            match g.written.sync() {
                Ok(()) => synced = Some(&g.written),
                Err(e) => {
                    tracing::error!(error = %e, "WAL fsync failed: nothing written since the last one is acknowledged");
                    poisoned.store(true, Relaxed);
                    failed = Some(CommitError::from(e));
                }
            }
        }
        for mut g in groups {
            match &failed {
                None => {
                    g.snapshots.publish(stats);
                    durable.send_replace(g.written.lsn);
                }
                Some(msg) => fail(&mut g.answers, msg),
            }
            answer(g.group, g.answers);
        }
    }
}

/// Turns a group's answers into `error` (nothing of it is durable).
pub(super) fn fail(answers: &mut [Answer], error: &CommitError) {
    for a in answers.iter_mut() {
        match a {
            Answer::Events(r) => *r = Err(error.clone()),
            Answer::Record(r) => *r = Err(error.clone()),
            // Deleting old segments does not depend on the fsync.
            Answer::Trim(_) => {}
        }
    }
}

/// Sends each request its answer.
pub(super) fn answer(group: Vec<CommitRequest>, answers: Vec<Answer>) {
    for (req, answer) in group.into_iter().zip(answers) {
        match (req, answer) {
            (CommitRequest::Events { reply, .. }, Answer::Events(a)) => {
                let _ = reply.send(a);
            }
            (CommitRequest::Record { reply, .. }, Answer::Record(a))
            | (CommitRequest::Replicated { reply, .. }, Answer::Record(a)) => {
                let _ = reply.send(a);
            }
            (CommitRequest::Trim { reply, .. }, Answer::Trim(a)) => {
                let _ = reply.send(a);
            }
            _ => unreachable!("answers are pushed in request order, one per request"),
        }
    }
}
