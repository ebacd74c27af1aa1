//! Site failover: a standby collector copies the primary's WAL, and the two swap roles on
//! `logwarden promote` (docs/failover.md has the whole design).
//!
//! ```text
//! primary:  ingest -> committer -> WAL --POST /replication/wal?from=LSN (long poll)--> standby
//!           ack to the agent once the standby asked past the batch's LSN (sync mode)
//! standby:  follow -> committer (same LSNs) -> WAL -> index, fleet (as on a primary)
//! ```
//!
//! The role and epoch live in [`state::FailoverState`]; a role change saves it and then restarts
//! every part of the collector in the new role (see `server::serve`), which keeps each part as
//! simple as it was: the alert engine only ever runs on a primary and rebuilds its state from the
//! (replicated) WAL when it starts, the committer never mixes local and copied records.

pub mod follow;
pub mod handover;
pub mod source;
pub mod state;
pub mod witness;
pub mod witness_tokens;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::wal::EpochHistory;
use state::FailoverState;

/// How long a primary keeps what its standby has not copied yet while the standby is away, by
/// default (`[replication] standby_wal_hold_s`; `retention.rs` holds the WAL for it).
pub const STANDBY_HOLD: Duration = Duration::from_secs(24 * 3600);

/// The HTTP headers by which a collector names the primary and its epoch (ingest answers of a
/// standby, replication answers).
pub const PRIMARY_HEADER: &str = "x-logwarden-primary";
pub const EPOCH_HEADER: &str = "x-logwarden-epoch";
pub const DURABLE_HEADER: &str = "x-logwarden-durable-lsn";
/// The standby's site, sent with every pull of the WAL (a header a browser cannot send to
/// another origin unasked: see `api::replication::wal_stream`).
pub const STANDBY_HEADER: &str = "x-logwarden-standby";

/// Epochs heard of are believed only within reach of this collector's own (agents apply the same
/// bound; see `logwarden_core::epoch`).
pub use logwarden_core::epoch::{MAX_EPOCH_STEP, epoch_within_reach, next_epoch};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Standby,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An agent's batch is acknowledged once the standby holds it durably.
    Sync,
    /// Acknowledged after the primary's own fsync; the standby follows as it can.
    Async,
}

/// `[replication]`, validated.
#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    /// The role at the very first start; afterwards `failover.json` rules.
    pub role: Role,
    /// The other collector's base URL; `None`: no replication.
    pub peer: Option<reqwest::Url>,
    pub mode: Mode,
    /// How long a sync primary waits for an absent standby before it goes on alone.
    pub sync_timeout: Duration,
    /// Bearer token this collector sends to its peer.
    pub token: Option<String>,
    /// The witness's URL: with one, the standby promotes itself when the primary has been
    /// unreachable for `failover_timeout` and the witness agrees; without, failover is manual.
    pub witness: Option<reqwest::Url>,
    /// Bearer token sent to the witness (`[replication] witness_token`); `None`: `token`.
    pub witness_token: Option<String>,
    pub failover_timeout: Duration,
    /// A primary keeps the WAL its standby has not copied while the standby asked within this
    /// long (`[replication] standby_wal_hold_s`; see `retention.rs`).
    pub standby_wal_hold: Duration,
}

impl Default for ReplicationSettings {
    fn default() -> ReplicationSettings {
        ReplicationSettings {
            role: Role::Primary,
            peer: None,
            mode: Mode::Sync,
            sync_timeout: Duration::from_secs(5),
            token: None,
            witness: None,
            witness_token: None,
            failover_timeout: Duration::from_secs(10),
            standby_wal_hold: STANDBY_HOLD,
        }
    }
}

/// What the server does once this round of serving ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Serve again in the role now saved in `failover.json`.
    Serve,
    /// This collector's log diverged from the primary's: move the data aside, copy afresh.
    Rebuild,
    /// The primary no longer holds the records this log needs next (WAL retention): remove the
    /// WAL (every record of it is the primary's) and copy afresh what the primary holds. The index and the fleet view stay: they
    /// are of the same history, and only miss what was trimmed meanwhile.
    Reseed,
}

/// The replication state one round of serving shares between handlers and tasks.
pub struct Replication {
    pub settings: ReplicationSettings,
    pub site: String,
    data_dir: std::path::PathBuf,
    /// Role and epoch as saved; changed only by saving first.
    state: Mutex<FailoverState>,
    /// Where each epoch begins in this collector's WAL (kept by the committer).
    pub epochs: EpochHistory,
    /// Primary: the LSN up to which the standby has said it is durable.
    standby_acked: watch::Sender<u64>,
    /// Primary: when the standby last asked for records.
    standby_seen: Mutex<Option<Instant>>,
    /// Primary (sync): going on alone because the standby was away too long.
    degraded: AtomicBool,
    /// Primary: handing over; ingest answers 503 until the role changes.
    draining: AtomicBool,
    /// Primary: ingest requests between their check and their answer.
    in_flight: AtomicU64,
    in_flight_done: Notify,
    /// Standby: the primary's durable LSN as last heard, and when.
    primary_durable: AtomicU64,
    primary_seen: Mutex<Option<Instant>>,
    /// Standby: why the records copied last could not be written here (`None`: they were).
    write_failure: Mutex<Option<String>>,
    /// Primary with a witness: acknowledgements stop at this instant unless the lease is
    /// renewed (`None`: not confirmed yet).
    lease_until: Mutex<Option<Instant>>,
    /// When this round started (a standby that never heard the primary counts from here).
    started: Instant,
    /// Fired to end this round; `next` says what comes after.
    pub restart: CancellationToken,
    next: Mutex<Option<Next>>,
}

impl Replication {
    pub fn new(
        settings: ReplicationSettings,
        site: String,
        data_dir: std::path::PathBuf,
        state: FailoverState,
        epochs: EpochHistory,
    ) -> Replication {
        Replication {
            settings,
            site,
            data_dir,
            state: Mutex::new(state),
            epochs,
            standby_acked: watch::Sender::new(0),
            standby_seen: Mutex::new(None),
            degraded: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            in_flight_done: Notify::new(),
            primary_durable: AtomicU64::new(0),
            primary_seen: Mutex::new(None),
            write_failure: Mutex::new(None),
            lease_until: Mutex::new(None),
            started: Instant::now(),
            restart: CancellationToken::new(),
            next: Mutex::new(None),
        }
    }

    fn state(&self) -> FailoverState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn role(&self) -> Role {
        self.state().role
    }

    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// The epoch of this collector's newest WAL record.
    pub fn log_epoch(&self) -> u64 {
        let h = self.epochs.read().unwrap_or_else(|p| p.into_inner());
        h.last().map_or(1, |&(e, _)| e)
    }

    /// The primary's URL as far as this collector knows: its peer while it is a standby.
    pub fn primary_url(&self) -> Option<String> {
        match self.role() {
            Role::Primary => None,
            Role::Standby => self.settings.peer.as_ref().map(|u| u.to_string()),
        }
    }

    /// Whether this collector may take agents' batches now.
    pub fn takes_ingest(&self) -> Result<(), NotNow> {
        if self.role() == Role::Standby {
            return Err(NotNow::Standby {
                primary: self.primary_url(),
                epoch: self.epoch(),
            });
        }
        if self.draining.load(Relaxed) || self.restart.is_cancelled() {
            return Err(NotNow::Switching);
        }
        if !self.lease_valid() {
            return Err(NotNow::Fenced);
        }
        Ok(())
    }

    /// Whether this primary may acknowledge: always without a witness, else while the lease
    /// it last renewed runs *or* its standby has asked for records within 80 % of the failover
    /// timeout. The second keeps a witness outage from stopping ingest, and is as safe: the
    /// standby claims an epoch only after it has not reached this primary for the whole
    /// timeout, counted from a later instant (its answer) than the one counted here (its ask).
    pub fn lease_valid(&self) -> bool {
        if self.settings.witness.is_none() {
            return true;
        }
        let until = *self.lease_until.lock().unwrap_or_else(|p| p.into_inner());
        let standby_near = self
            .standby_seen()
            .is_some_and(|d| d < self.settings.failover_timeout.mul_f64(0.8));
        standby_near || until.is_some_and(|u| Instant::now() < u)
    }

    /// The witness renewed the lease asked for at `sent`: acknowledgements may go on until 80 %
    /// of the lease from then (the witness counts from a later instant, so it runs out there
    /// after it ran out here).
    pub fn lease_renewed(&self, sent: Instant) {
        let until = sent + self.settings.failover_timeout.mul_f64(0.8);
        *self.lease_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(until);
    }

    /// How long the primary has not been heard from (since this round began, if never).
    pub fn primary_silent_for(&self) -> Duration {
        self.primary_seen()
            .unwrap_or_else(|| self.started.elapsed())
    }

    /// Saves the new state, then ends this round so that every part restarts in it.
    fn switch(&self, new: FailoverState, next: Next) -> Result<(), state::StateError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        new.save(&self.data_dir)?;
        *st = new;
        drop(st);
        self.end_round(next);
        Ok(())
    }

    /// Ends this round of serving (the first reason given wins).
    pub fn end_round(&self, next: Next) {
        let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
        n.get_or_insert(next);
        self.restart.cancel();
    }

    pub fn next(&self) -> Option<Next> {
        *self.next.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A higher epoch exists elsewhere: stop taking batches at once and follow as a standby.
    pub fn step_down(&self, epoch: u64) -> Result<(), state::StateError> {
        let st = self.state();
        if epoch <= st.epoch {
            return Ok(());
        }
        if !epoch_within_reach(st.epoch, epoch) {
            return Err(state::StateError::EpochOutOfReach {
                epoch,
                ours: st.epoch,
            });
        }
        // Nothing acknowledged from here on: fencing must not wait for the restart.
        self.draining.store(true, Relaxed);
        if st.role == Role::Primary {
            tracing::warn!(
                epoch,
                ours = st.epoch,
                "a higher epoch exists: stepping down to standby"
            );
            self.switch(FailoverState::new(Role::Standby, epoch), Next::Serve)
        } else {
            // Already a standby: only remember the epoch.
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let new = FailoverState::new(Role::Standby, epoch);
            new.save(&self.data_dir)?;
            *s = new;
            self.draining.store(false, Relaxed);
            Ok(())
        }
    }

    /// Becomes primary at `epoch` (a promotion). The next round writes the `Epoch` record.
    pub fn become_primary(&self, epoch: u64) -> Result<(), state::StateError> {
        tracing::info!(epoch, "promoted: restarting as primary");
        self.switch(FailoverState::new(Role::Primary, epoch), Next::Serve)
    }

    // --- primary side -----------------------------------------------------------------------

    /// Counts an ingest request until the guard drops, so that a handover can wait for it.
    pub fn ingest_guard(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self)
    }

    /// The standby asked for records from `from`: everything before is durable there.
    pub fn standby_asked(&self, from: u64, durable: u64) {
        // Taken as said, even when lower than before: a standby that moved a diverged log aside
        // starts again from 1 and holds nothing of what it had.
        let acked = from.saturating_sub(1);
        self.standby_acked.send_if_modified(|v| {
            let changed = acked != *v;
            *v = acked;
            changed
        });
        *self.standby_seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        if acked >= durable && self.degraded.swap(false, Relaxed) {
            tracing::info!(
                lsn = acked,
                "standby caught up: replication is synchronous again"
            );
        }
    }

    /// In sync mode, waits until the standby holds `lsn`; after `sync_timeout` without it,
    /// goes on alone (degraded) until the standby catches up. Returns whether the standby is
    /// known to hold `lsn`.
    pub async fn wait_replicated(&self, lsn: u64) -> bool {
        if self.standby_acked() >= lsn {
            return true;
        }
        if self.settings.mode != Mode::Sync
            || self.settings.peer.is_none()
            || self.degraded.load(Relaxed)
        {
            return false;
        }
        let mut acked = self.standby_acked.subscribe();
        let caught_up = acked.wait_for(|&a| a >= lsn);
        if tokio::time::timeout(self.settings.sync_timeout, caught_up)
            .await
            .is_ok()
        {
            return true;
        }
        if !self.degraded.swap(true, Relaxed) {
            tracing::error!(
                timeout = ?self.settings.sync_timeout,
                "ReplicationDegraded: the standby did not confirm in time; acknowledging without it until it catches up"
            );
        }
        false
    }

    pub fn degraded(&self) -> bool {
        self.degraded.load(Relaxed)
    }

    pub fn standby_acked(&self) -> u64 {
        *self.standby_acked.borrow()
    }

    /// Primary: the LSN up to which the standby holds the log, if it asked for records within
    /// `standby_wal_hold` (WAL retention keeps what it still has to copy; a standby away for
    /// longer is not waited for and copies afresh when it is back). Until the standby first
    /// asks after a start, its position is unknown: 0 (keep everything) for as long after the
    /// start.
    pub fn standby_position(&self) -> Option<u64> {
        let within = self.settings.standby_wal_hold;
        let seen = *self.standby_seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen {
            Some(t) => (t.elapsed() <= within).then(|| self.standby_acked()),
            None => (self.started.elapsed() <= within).then_some(0),
        }
    }

    /// Waits until the standby holds `lsn`, at most `timeout`.
    pub async fn wait_standby(&self, lsn: u64, timeout: Duration) -> bool {
        let mut acked = self.standby_acked.subscribe();
        tokio::time::timeout(timeout, acked.wait_for(|&a| a >= lsn))
            .await
            .is_ok()
    }

    /// Stops taking batches and waits for the ones in flight (a handover's first step).
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.draining.store(true, Relaxed);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let done = self.in_flight_done.notified();
            if self.in_flight.load(Relaxed) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return false;
            }
        }
    }

    pub fn undrain(&self) {
        self.draining.store(false, Relaxed);
    }

    pub fn standby_seen(&self) -> Option<Duration> {
        self.standby_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    // --- standby side -----------------------------------------------------------------------

    pub fn primary_heard(&self, durable: u64) {
        self.primary_durable.store(durable, Relaxed);
        *self.primary_seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Standby: the copied records cannot be written here (`Some(why)`), or can again.
    pub fn set_write_failure(&self, why: Option<String>) {
        *self.write_failure.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Standby: why copied records cannot be written here now, if they cannot.
    pub fn write_failure(&self) -> Option<String> {
        self.write_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn primary_seen(&self) -> Option<Duration> {
        self.primary_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// Records the standby is behind, from this side's point of view (`None`: no replication).
    pub fn lag(&self, durable: u64) -> Option<u64> {
        self.settings.peer.as_ref()?;
        Some(match self.role() {
            Role::Primary => durable.saturating_sub(self.standby_acked()),
            Role::Standby => self.primary_durable.load(Relaxed).saturating_sub(durable),
        })
    }

    /// The replication part of `GET /api/v1/status` (`None` without a peer).
    pub fn status(&self, durable: u64) -> Option<logwarden_core::wire::ReplicationStatus> {
        let peer = self.settings.peer.as_ref()?;
        let role = self.role();
        let contact = match role {
            Role::Primary => self.standby_seen(),
            Role::Standby => self.primary_seen(),
        };
        let advice = match (role, &self.settings.witness) {
            (Role::Standby, _) if let Some(why) = self.write_failure() => Some(format!(
                "cannot write the records copied from the primary here ({why}); it copies them again as soon as there is room (free disk space; no restart needed)"
            )),
            (Role::Standby, None) => Some(format!(
                "automatic failover is off (no witness); to switch over: logwarden --server <this collector> promote (add --force only if the primary at {peer} is down for good)"
            )),
            (Role::Standby, Some(w)) => Some(format!(
                "takes over by itself once the primary is unreachable for {:?} and the witness at {w} agrees; planned switchover: logwarden --server <this collector> promote",
                self.settings.failover_timeout
            )),
            (Role::Primary, _) if !self.lease_valid() => Some(
                "fenced: the witness has not confirmed this primary's lease; it acknowledges nothing until it does".into(),
            ),
            (Role::Primary, _) => None,
        };
        Some(logwarden_core::wire::ReplicationStatus {
            mode: match self.settings.mode {
                Mode::Sync => "sync".into(),
                Mode::Async => "async".into(),
            },
            peer: peer.to_string(),
            state: self.health().into(),
            lag_records: self.lag(durable).unwrap_or(0),
            last_contact_ms: contact.map(|d| d.as_millis() as u64),
            advice,
        })
    }

    /// A one-word state for status and metrics.
    pub fn health(&self) -> &'static str {
        match self.role() {
            Role::Primary if self.degraded() => "degraded",
            Role::Primary => match self.standby_seen() {
                Some(d) if d < self.settings.sync_timeout => "streaming",
                _ => "disconnected",
            },
            Role::Standby if self.write_failure().is_some() => "write_failing",
            Role::Standby => match self.primary_seen() {
                Some(d) if d < Duration::from_secs(3) => "streaming",
                _ => "disconnected",
            },
        }
    }
}

/// Primary side: tells the alert engine whether replication is degraded (`ReplicationDegraded`,
/// warning), at start and on every change, until the round ends.
pub async fn report_degraded(
    repl: std::sync::Arc<Replication>,
    alerts: crate::rules::AlertsHandle,
) {
    if repl.settings.peer.is_none() || repl.settings.mode != Mode::Sync {
        return;
    }
    let mut last = None;
    loop {
        let now = repl.degraded();
        if last != Some(now) {
            let labels = [("site".to_owned(), repl.site.clone())]
                .into_iter()
                .collect();
            let cond = now.then(|| {
                (
                    logwarden_core::wire::AlertSeverity::Warning,
                    format!(
                        "the standby at {} has not confirmed batches for {:?}: the primary at {} acknowledges alone",
                        repl.settings.peer.as_ref().map_or(String::new(), |p| p.to_string()),
                        repl.settings.sync_timeout,
                        repl.site
                    ),
                )
            });
            let sig = crate::rules::Signal::when(cond, "ReplicationDegraded", labels);
            if alerts.signal(sig).await.is_ok() {
                last = Some(now);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = repl.restart.cancelled() => return,
        }
    }
}

/// Counts one ingest request in flight (see [`Replication::ingest_guard`]).
pub struct InFlight<'a>(&'a Replication);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.0.in_flight_done.notify_waiters();
        }
    }
}

/// Why this collector does not take a batch now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotNow {
    /// It is the standby; the primary (when known) is named.
    Standby { primary: Option<String>, epoch: u64 },
    /// A switchover is under way: retry in a moment.
    Switching,
    /// A primary whose witness lease ran out: it may have been replaced, so it acknowledges
    /// nothing until the witness confirms it again.
    Fenced,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repl(dir: &std::path::Path, mode: Mode) -> Replication {
        let settings = ReplicationSettings {
            peer: Some("http://127.0.0.1:1".parse().unwrap()),
            mode,
            sync_timeout: Duration::from_millis(200),
            ..ReplicationSettings::default()
        };
        Replication::new(
            settings,
            "a".into(),
            dir.to_owned(),
            FailoverState::new(Role::Primary, 1),
            Default::default(),
        )
    }

    #[tokio::test]
    async fn a_sync_ack_waits_for_the_standby_and_goes_on_alone_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let r = std::sync::Arc::new(repl(dir.path(), Mode::Sync));
        let r2 = r.clone();
        let waiter = tokio::spawn(async move { assert!(r2.wait_replicated(5).await) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "answered before the standby had LSN 5"
        );
        r.standby_asked(6, 5);
        waiter.await.unwrap();
        assert!(!r.degraded());

        let t = Instant::now();
        r.wait_replicated(7).await;
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(r.degraded(), "the timeout makes the primary go on alone");
        let t = Instant::now();
        r.wait_replicated(8).await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "degraded: no wait"
        );
        r.standby_asked(9, 8);
        assert!(!r.degraded(), "caught up: sync again");
    }

    #[test]
    fn with_a_witness_a_primary_acknowledges_while_the_witness_or_the_standby_vouches() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = repl(dir.path(), Mode::Sync);
        r.settings.witness = Some("http://127.0.0.1:2".parse().unwrap());
        r.settings.failover_timeout = Duration::from_millis(200);
        assert_eq!(r.takes_ingest(), Err(NotNow::Fenced), "nobody vouched yet");
        r.lease_renewed(Instant::now());
        assert_eq!(r.takes_ingest(), Ok(()));
        std::thread::sleep(Duration::from_millis(170));
        assert_eq!(
            r.takes_ingest(),
            Err(NotNow::Fenced),
            "80 % of the lease passed"
        );
        r.standby_asked(1, 0);
        assert_eq!(
            r.takes_ingest(),
            Ok(()),
            "the standby reaches us: it will not claim"
        );
        std::thread::sleep(Duration::from_millis(170));
        assert_eq!(r.takes_ingest(), Err(NotNow::Fenced));
    }

    #[tokio::test]
    async fn an_async_primary_never_waits_for_the_standby() {
        let dir = tempfile::tempdir().unwrap();
        let r = repl(dir.path(), Mode::Async);
        let t = Instant::now();
        assert!(!r.wait_replicated(5).await, "the standby does not hold 5");
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(!r.degraded(), "async is not degraded sync");
        r.standby_asked(6, 5);
        assert!(r.wait_replicated(5).await);
        assert_eq!(r.lag(7), Some(2));
    }

    #[tokio::test]
    async fn stepping_down_saves_the_epoch_stops_ingest_and_ends_the_round() {
        let dir = tempfile::tempdir().unwrap();
        let r = repl(dir.path(), Mode::Async);
        assert_eq!(r.takes_ingest(), Ok(()));
        r.step_down(1).unwrap();
        assert_eq!(r.takes_ingest(), Ok(()), "the same epoch is not a reason");
        r.step_down(3).unwrap();
        assert_eq!(
            r.takes_ingest(),
            Err(NotNow::Standby {
                primary: Some("http://127.0.0.1:1/".into()),
                epoch: 3
            }),
            "at once a standby naming its peer"
        );
        assert_eq!(r.next(), Some(Next::Serve));
        assert_eq!(
            FailoverState::load(dir.path()).unwrap(),
            Some(FailoverState::new(Role::Standby, 3))
        );
    }

    #[tokio::test]
    async fn an_epoch_far_beyond_is_refused_and_epochs_never_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let r = repl(dir.path(), Mode::Async);
        for far in [1 + MAX_EPOCH_STEP + 1, 999_999, u64::MAX] {
            let err = r.step_down(far).unwrap_err().to_string();
            assert!(err.contains("refused"), "{err}");
        }
        assert_eq!(r.takes_ingest(), Ok(()), "still the primary");
        assert_eq!(r.next(), None);
        assert_eq!(
            FailoverState::load(dir.path()).unwrap(),
            None,
            "nothing saved"
        );
        r.step_down(1 + MAX_EPOCH_STEP).unwrap();
        assert_eq!(r.epoch(), 1 + MAX_EPOCH_STEP);
        assert_eq!(next_epoch(7), Some(8));
        assert_eq!(next_epoch(u64::MAX - 1), None);
        assert_eq!(next_epoch(u64::MAX), None);
        assert!(!epoch_within_reach(u64::MAX - 1, u64::MAX));
    }
}
