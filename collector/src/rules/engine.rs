//! The rules engine: one task that follows the WAL (like the indexer), turns events into alert
//! verdicts, keeps the alert lifecycle, and sends notifications.
//!
//! ```text
//! WAL (durable LSN) --> rules (builtin, user) --> Signal --> lifecycle --> StateChange --> committer (WAL)
//!                                                               |                  \--> AlertTable
//!                                         group timers --> dispatch::decide --> delivery tasks
//!                                                                          done --> Notified --> WAL
//! ```
//!
//! # Restart
//!
//! At start the engine restores the newest rules snapshot (`RecordKind::RulesSnapshot`, see
//! [`super::snapshot`]) the WAL holds, and replays the WAL from the record after it (from its
//! oldest record when there is no usable snapshot): events rebuild the rules' view of the world
//! (what each health record last said, windows, heartbeats) *without* acting on it, and the
//! `AlertState` records rebuild the alert table and the notification log. Then it reconciles:
//! a verdict that disagrees with the table (the collector died between an event and the
//! decision) is acted on now. Notifications are decided from the log, so an alert already sent
//! is not sent again and its resolve still goes out. `AlertState` records after the start LSN
//! are this engine's own (it is their only writer) and were applied when written.
//!
//! # Snapshots
//!
//! The committer writes a `Checkpoint` record about twice per WAL segment; when the engine,
//! following live, reads one, it writes a snapshot of its state as of that record, so that the
//! WAL can be trimmed up to it. It writes one after the start replay too when that replay had no
//! snapshot to start from or was long (see `run`).
//!
//! # Lifecycle
//!
//! A firing verdict fires at once (or changes the severity); a clear verdict starts the
//! `resolve_hold` timer, and the alert resolves only if no firing verdict came back meanwhile:
//! an input that flaps gives one firing and, at the end, one resolved notification.
//!
//! # Reload
//!
//! A config reload (crate::reload) reaches the engine between two batches of work; see
//! [`reload`] for what it keeps and what it changes.

mod reload;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use logwarden_core::Event;
use logwarden_core::wire::{
    Ack, AckRequest, AlertStatus, AlertView, ForgetResponse, Silence, SilenceRequest,
    TestAlertRequest, TestAlertResponse,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod forget;

use super::alert::Signal;
use super::builtin::{BuiltinSettings, Builtins};
use super::silence::{self, SilenceError};
use super::snapshot::{self, Snapshot};
use super::state::{self, AlertRecord, AlertTable, StateChange};
use super::user::UserRules;
use crate::notify::route::{RouteTree, Timing};
use crate::notify::{self, Receiver, RetryPolicy, dispatch};
use crate::wal::{Committer, Read, Record, RecordKind, WalReader};

/// Everything the engine is configured with (`[alerts]`).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub builtin: BuiltinSettings,
    pub user_rules: Vec<super::user::UserRule>,
    /// `[[alerts.inhibit_rules]]`, beside the built-in ones.
    pub inhibit_rules: Vec<super::inhibit::InhibitRule>,
    /// `[[alerts.maintenance]]`: weekly windows that silence what they match.
    pub maintenance: Vec<super::maintenance::Window>,
    /// Where docs/alerts.md is served: built-in alerts link to their section (rules::runbook).
    pub runbook_base_url: Option<String>,
    pub receivers: Vec<Receiver>,
    /// Which receivers an alert reaches (`[alerts.route]`); `None`: the flat form over
    /// `receivers` with the timers below (notify::route).
    pub routes: Option<RouteTree>,
    /// Defaults of the routes' grouping and timers.
    pub group_by: Vec<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub resolve_hold: Duration,
    /// How often time-based rules (windows, silence of agents, holds) are looked at.
    pub tick: Duration,
    pub external_url: String,
    pub retry: RetryPolicy,
    /// Where reloaded settings come from (crate::reload; set by the binary, `None` in tests):
    /// the engine takes the newest at start and each one that follows.
    pub reloads: Option<watch::Receiver<Option<Arc<EngineSettings>>>>,
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            builtin: BuiltinSettings::default(),
            user_rules: Vec::new(),
            inhibit_rules: Vec::new(),
            maintenance: Vec::new(),
            runbook_base_url: None,
            receivers: Vec::new(),
            routes: None,
            group_by: vec!["alertname".into(), "host".into()],
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            resolve_hold: Duration::from_secs(120),
            tick: Duration::from_secs(1),
            external_url: "http://127.0.0.1:7070/".into(),
            retry: RetryPolicy::default(),
            reloads: None,
        }
    }
}

/// Errors the API can get back from the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No alert has this id (or it is not firing, for an ack).
    #[error("no firing alert with id {0}")]
    NoSuchAlert(String),
    #[error("no silence with id {0}")]
    NoSuchSilence(String),
    #[error(transparent)]
    Silence(#[from] SilenceError),
    /// The WAL refused the change.
    #[error("alert state not written: {0}")]
    Wal(String),
    /// The engine has stopped (shutdown).
    #[error("the alert engine has stopped")]
    Stopped,
}

/// Requests from the API to the engine; each carries its reply channel.
enum Command {
    List {
        all: bool,
        reply: oneshot::Sender<Vec<AlertView>>,
    },
    Ack {
        id: String,
        req: AckRequest,
        reply: oneshot::Sender<Result<AlertView, EngineError>>,
    },
    AddSilence {
        req: SilenceRequest,
        reply: oneshot::Sender<Result<Silence, EngineError>>,
    },
    ExpireSilence {
        id: String,
        reply: oneshot::Sender<Result<Silence, EngineError>>,
    },
    Silences {
        reply: oneshot::Sender<Vec<Silence>>,
    },
    /// A verdict on the collector itself (e.g. `ReplicationDegraded`), from outside the WAL.
    Signal(Signal),
    /// `logwarden fleet forget HOST` (`forget.rs`).
    Forget {
        host: String,
        author: String,
        reply: oneshot::Sender<Result<ForgetResponse, EngineError>>,
    },
    /// `logwarden alerts test`: answered by a task of its own (notify::test_send).
    Test {
        req: TestAlertRequest,
        reply: oneshot::Sender<Result<TestAlertResponse, notify::test_send::TestError>>,
    },
}

/// The API's handle on the engine. Cheap to clone.
#[derive(Clone)]
pub struct AlertsHandle {
    /// Commands to the engine task; it stops reading them at shutdown.
    tx: mpsc::Sender<Command>,
}

impl AlertsHandle {
    /// A handle with no engine behind it (a standby runs none): every call answers
    /// [`EngineError::Stopped`].
    pub fn none() -> AlertsHandle {
        let (tx, _) = mpsc::channel(1);
        AlertsHandle { tx }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn list(&self, all: bool) -> Result<Vec<AlertView>, EngineError> {
        self.ask(|reply| Command::List { all, reply }).await
    }

    pub async fn ack(&self, id: String, req: AckRequest) -> Result<AlertView, EngineError> {
        self.ask(|reply| Command::Ack { id, req, reply }).await?
    }

    pub async fn add_silence(&self, req: SilenceRequest) -> Result<Silence, EngineError> {
        self.ask(|reply| Command::AddSilence { req, reply }).await?
    }

    pub async fn expire_silence(&self, id: String) -> Result<Silence, EngineError> {
        self.ask(|reply| Command::ExpireSilence { id, reply })
            .await?
    }

    /// Retires a host: a `HostForgotten` record, its alerts resolved (see `forget.rs`).
    pub async fn forget(
        &self,
        host: String,
        author: String,
    ) -> Result<ForgetResponse, EngineError> {
        self.ask(|reply| Command::Forget {
            host,
            author,
            reply,
        })
        .await?
    }

    pub async fn silences(&self) -> Result<Vec<Silence>, EngineError> {
        self.ask(|reply| Command::Silences { reply }).await
    }

    /// Sends a synthetic alert through the routes and receivers now in force; the engine's
    /// state is not touched (notify::test_send).
    pub async fn test(
        &self,
        req: TestAlertRequest,
    ) -> Result<Result<TestAlertResponse, notify::test_send::TestError>, EngineError> {
        self.ask(|reply| Command::Test { req, reply }).await
    }

    /// Hands the engine a verdict about the collector itself (it is not in the WAL, so the
    /// sender repeats its current verdict after every start).
    pub async fn signal(&self, s: Signal) -> Result<(), EngineError> {
        self.tx
            .send(Command::Signal(s))
            .await
            .map_err(|_| EngineError::Stopped)
    }
}

/// A start replay that read more records than this is followed by a snapshot even when it began
/// at one (so that the next start is short without waiting for the committer's next checkpoint).
const START_SNAPSHOT_AFTER: u64 = 100_000;

impl EngineSettings {
    /// The routing tree: the configured one, or the flat form.
    pub fn route_tree(&self) -> RouteTree {
        self.routes.clone().unwrap_or_else(|| {
            let defaults = Timing {
                group_by: self.group_by.clone(),
                group_wait: self.group_wait,
                group_interval: self.group_interval,
                repeat_interval: self.repeat_interval,
            };
            RouteTree::flat(&self.receivers, &defaults)
        })
    }
}

/// A delivery task's report.
struct Delivered {
    /// The route endpoint (index into the tree's endpoints of `generation`).
    endpoint: usize,
    /// The routing tree it was sent under (a reload makes a new one).
    generation: u64,
    receiver_name: String,
    group: String,
    firing: std::collections::BTreeSet<String>,
    resolved: std::collections::BTreeSet<String>,
    result: Result<(), String>,
}

/// The flush timer of one (receiver, group).
#[derive(Default)]
struct GroupTimer {
    next: Option<Instant>,
    last_flush: Option<Instant>,
    in_flight: bool,
}

pub struct Engine {
    settings: Arc<EngineSettings>,
    committer: Committer,
    wal_dir: std::path::PathBuf,
    builtins: Builtins,
    user: UserRules,
    table: AlertTable,
    /// The latest verdict per alert key.
    desired: HashMap<String, Signal>,
    /// Alerts whose verdict is clear, and when they resolve if it stays so.
    holds: HashMap<String, Instant>,
    /// Per (route endpoint, group).
    groups: HashMap<(usize, String), GroupTimer>,
    routes: Arc<RouteTree>,
    /// Bumped by each reload: deliveries of an older tree only update the log.
    generation: u64,
    /// (receiver, group key) being delivered, whatever the tree: never twice at once.
    in_flight: std::collections::HashSet<(String, String)>,
    /// Changes made but not yet written (one WAL record per batch of work).
    pending: Vec<StateChange>,
    /// The LSN of the last WAL record handled (applied, or a checkpoint acted on): every record
    /// at or below it has been, so it is what a snapshot may say it reflects.
    applied_lsn: u64,
    /// The LSN of the newest `AlertState` record this engine wrote: the table holds it and
    /// every change before it (a snapshot's `alert_state_lsn`).
    written_lsn: u64,
    /// `AlertState` records at or below this LSN are already in the restored snapshot's table:
    /// the start replay skips them (0: no snapshot, apply all).
    restored_alert_state_lsn: u64,
    /// Snapshots that could not be written since start (also logged).
    snapshot_failures: u64,
    http: reqwest::Client,
    done_tx: mpsc::UnboundedSender<Delivered>,
    done_rx: mpsc::UnboundedReceiver<Delivered>,
    /// Where notification outcomes are counted for `/metrics`.
    counters: Arc<crate::metrics::Counters>,
    /// Forgets written and not yet answered (`forget.rs`).
    forgets: Vec<forget::Forgotten>,
}

/// Starts the engine task. It replays the WAL up to the current durable LSN, then follows it.
/// Returns the API's handle and the task, which ends when `shutdown` fires (drop the handle's
/// clones first is not needed: the task stops on the token).
pub fn start(
    settings: EngineSettings,
    committer: Committer,
    wal_dir: std::path::PathBuf,
    durable: watch::Receiver<u64>,
    shutdown: CancellationToken,
    counters: Arc<crate::metrics::Counters>,
) -> (AlertsHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    // Settings reloaded since the process started win over those it started with.
    let latest = settings.reloads.as_ref().and_then(|r| r.borrow().clone());
    let settings = match latest {
        Some(new) => EngineSettings {
            reloads: settings.reloads.clone(),
            ..(*new).clone()
        },
        None => settings,
    };
    let engine = Engine::new(settings, committer, wal_dir, counters);
    let task = tokio::spawn(engine.run(durable, rx, shutdown));
    (AlertsHandle { tx }, task)
}

impl Engine {
    /// An engine that knows nothing yet: `run` fills it from the WAL.
    fn new(
        settings: EngineSettings,
        committer: Committer,
        wal_dir: std::path::PathBuf,
        counters: Arc<crate::metrics::Counters>,
    ) -> Engine {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let inhibit_rules = super::inhibit::InhibitRules::with(settings.inhibit_rules.clone());
        let maintenance = super::maintenance::Windows(Arc::new(settings.maintenance.clone()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Engine {
            builtins: Builtins::new(settings.builtin.clone(), Utc::now()),
            user: UserRules::new(settings.user_rules.clone()),
            routes: Arc::new(settings.route_tree()),
            generation: 0,
            in_flight: Default::default(),
            settings: Arc::new(settings),
            committer,
            wal_dir,
            table: AlertTable {
                inhibit_rules,
                maintenance,
                ..AlertTable::default()
            },
            desired: HashMap::new(),
            holds: HashMap::new(),
            groups: HashMap::new(),
            pending: Vec::new(),
            applied_lsn: 0,
            written_lsn: 0,
            restored_alert_state_lsn: 0,
            snapshot_failures: 0,
            http,
            done_tx,
            done_rx,
            counters,
            forgets: Vec::new(),
        }
    }

    async fn run(
        mut self,
        mut durable: watch::Receiver<u64>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let start_lsn = *durable.borrow_and_update();
        let snapshot_lsn = self.restore_snapshot(start_lsn).await;
        // `WalReader` starts at the oldest record held when the log was trimmed before LSN 1.
        let from = snapshot_lsn.map_or(1, |lsn| lsn + 1);
        let mut reader = Some(WalReader::new(self.wal_dir.clone(), from));
        // Replay: rebuild, act on nothing.
        let replayed = self.follow(&mut reader, start_lsn, start_lsn).await;
        let start = match snapshot_lsn {
            Some(lsn) => format!("snapshot of LSN {lsn}"),
            None => "the oldest record (no usable snapshot)".to_owned(),
        };
        tracing::info!(
            from = %start,
            records = replayed,
            alerts = self.table.alerts.len(),
            silences = self.table.silences.len(),
            "alert state rebuilt from the WAL"
        );
        self.reconcile();
        self.commit_pending().await;
        let now = Instant::now();
        for key in self.firing_keys() {
            self.schedule_groups(&key, now);
        }
        // A start without a snapshot (a collector upgraded from a version without them, or
        // whose snapshot was unreadable) writes one now rather than at the committer's next
        // checkpoint, up to half a segment away: until then the trimmer could not trim, and a
        // crash would mean a whole replay again. A start from a snapshot only does when its
        // replay was long. Only once the replay got to `start_lsn` (a read error can stop it
        // short): the snapshot would otherwise claim records it has not applied.
        let long = replayed > START_SNAPSHOT_AFTER;
        if ((snapshot_lsn.is_none() && replayed > 0) || long) && self.applied_lsn == start_lsn {
            self.write_snapshot(start_lsn).await;
        }
        let mut next_tick = Instant::now() + self.settings.tick;
        let mut reloads = self.settings.reloads.clone();
        if let Some(r) = &mut reloads {
            r.borrow_and_update();
        }
        loop {
            let deadline = self.next_deadline().map_or(next_tick, |d| d.min(next_tick));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = durable.changed() => {
                    if changed.is_err() {
                        break; // the committer is gone
                    }
                    let upto = *durable.borrow_and_update();
                    self.follow(&mut reader, upto, start_lsn).await;
                }
                Some(cmd) = commands.recv() => self.command(cmd).await,
                Some(done) = self.done_rx.recv() => self.delivered(done),
                Some(new) = reload::next(&mut reloads) => self.reload(new),
                _ = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    if now >= next_tick {
                        self.tick(now);
                        next_tick = now + self.settings.tick;
                    }
                    self.expire_holds(now);
                    self.flush_due(now);
                }
            }
            let written = self.commit_pending().await;
            self.answer_forgets(written);
        }
        tracing::info!("alert engine stopped");
    }

    /// Reads and handles WAL records up to `upto`; records at or below `start_lsn` are replay.
    /// Returns how many records were read.
    async fn follow(&mut self, reader: &mut Option<WalReader>, upto: u64, start_lsn: u64) -> u64 {
        let mut count = 0;
        loop {
            let Some(r) = reader.take() else { return count };
            let recent = self.committer.recent();
            let read = tokio::task::spawn_blocking(move || {
                let mut r = r;
                let mut batch = Vec::new();
                let mut bytes = 0;
                while bytes < (32 << 20) {
                    // Events the committer still holds are taken as it had them: their
                    // payload is not even read.
                    match r.next_unless_known(upto, |head| recent.events_for(head)) {
                        Ok(Some(read)) => {
                            bytes += match &read {
                                Read::Record(rec) => rec.payload.len(),
                                Read::Known(head, _) => head.len,
                            };
                            batch.push(read);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "alert engine cannot read the WAL");
                            break;
                        }
                    }
                }
                (r, batch)
            })
            .await;
            let Ok((r, batch)) = read else {
                tracing::error!("WAL reading task of the alert engine failed");
                return count;
            };
            *reader = Some(r);
            if batch.is_empty() {
                return count;
            }
            for read in batch {
                count += 1;
                match read {
                    Read::Known(head, events) => {
                        self.events(events.iter(), head.lsn <= start_lsn);
                        self.applied_lsn = head.lsn;
                    }
                    Read::Record(rec)
                        if rec.kind == RecordKind::Checkpoint && rec.lsn > start_lsn =>
                    {
                        // The committer's cue (its payload is its own business). Not during the
                        // start replay: those checkpoints are old and the state is not settled.
                        self.applied_lsn = rec.lsn;
                        self.write_snapshot(rec.lsn).await;
                    }
                    Read::Record(rec) => {
                        let lsn = rec.lsn;
                        self.record(rec, start_lsn);
                        self.applied_lsn = lsn;
                    }
                }
            }
        }
    }

    /// Restores the newest usable rules snapshot at or below `start_lsn`; returns the LSN it
    /// reflects (the replay goes on after it), or `None` for a replay of the whole WAL. Never
    /// fails: a snapshot that cannot be read costs a long start, not the alerts.
    async fn restore_snapshot(&mut self, start_lsn: u64) -> Option<u64> {
        let dir = self.wal_dir.clone();
        let found = tokio::task::spawn_blocking(move || {
            let first = crate::wal::first_lsn(&dir).ok().flatten().unwrap_or(1);
            let snap = crate::wal::newest_of_kind(&dir, RecordKind::RulesSnapshot, start_lsn);
            (first, snap)
        })
        .await;
        let (first, found) = match found {
            Ok((first, Ok(found))) => (first, found),
            Ok((_, Err(e))) => {
                tracing::warn!(error = %e, "cannot look for a rules snapshot in the WAL; replaying all of it");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "looking for a rules snapshot failed; replaying the whole WAL");
                return None;
            }
        };
        let snap = match found.as_ref().map(Snapshot::from_record) {
            Some(Ok(snap)) => snap,
            Some(Err(e)) => {
                let at = found.as_ref().map_or(0, |r| r.lsn);
                tracing::warn!(record_lsn = at, error = %e, "rules snapshot not used; replaying the whole WAL");
                if first > 1 {
                    tracing::error!(
                        first_lsn = first,
                        "the WAL was trimmed: alert rules rebuilt from its oldest record only"
                    );
                }
                return None;
            }
            None => {
                if first > 1 {
                    tracing::error!(
                        first_lsn = first,
                        "the WAL was trimmed and holds no rules snapshot: alert rules rebuilt from its oldest record only"
                    );
                }
                return None;
            }
        };
        let (lsn, alert_state_lsn) = (snap.lsn, snap.alert_state_lsn);
        if first > lsn + 1 {
            tracing::error!(
                snapshot_lsn = lsn,
                first_lsn = first,
                "the WAL was trimmed past the rules snapshot: records between are missing from the alert state"
            );
        }
        let restored = snap.restore(
            &mut self.table,
            &mut self.desired,
            &mut self.builtins,
            &mut self.user,
        );
        if restored.dropped_user_windows > 0 {
            tracing::info!(
                windows = restored.dropped_user_windows,
                "rule windows from the snapshot dropped: their rules are no longer configured"
            );
        }
        self.restored_alert_state_lsn = alert_state_lsn;
        self.applied_lsn = lsn;
        Some(lsn)
    }

    /// Writes a snapshot of the state as of `lsn`, the last record applied (logged and
    /// counted when it fails: the WAL then keeps everything after the previous snapshot).
    async fn write_snapshot(&mut self, lsn: u64) {
        // The table already holds the changes in `pending`, which are not in the WAL yet. They
        // are written first, so that every change in the snapshot is in an `AlertState` record
        // at or below `written_lsn`, which the snapshot names (`alert_state_lsn`) and a replay
        // from it skips, so nothing is applied twice. (Applying twice would be harmless too,
        // `AlertTable::apply` is idempotent, but skipping needs no argument.) If that write
        // fails (the WAL is poisoned), a snapshot would hold changes the log lacks: none is
        // taken. Nothing else runs meanwhile (the engine is one task), so no change slips in
        // between these writes.
        if !self.commit_pending().await {
            self.snapshot_failures += 1;
            tracing::error!(
                lsn,
                failures = self.snapshot_failures,
                "rules snapshot not taken: alert state could not be written first"
            );
            return;
        }
        let snap = snapshot::capture(
            lsn,
            self.written_lsn,
            &self.table,
            &self.desired,
            &self.builtins,
            &self.user,
        );
        let payload = snap.encode();
        let bytes = payload.len();
        match self.committer.commit_rules_snapshot(lsn, payload).await {
            Ok(at) => tracing::info!(lsn, record_lsn = at, bytes, "rules snapshot written"),
            Err(e) => {
                self.snapshot_failures += 1;
                tracing::error!(lsn, bytes, error = %e, failures = self.snapshot_failures,
                    "rules snapshot not written; the WAL keeps what follows the previous one");
            }
        }
    }

    /// Handles a record read whole (the events of an `Events` record parsed from its payload).
    fn record(&mut self, rec: Record, start_lsn: u64) {
        let replaying = rec.lsn <= start_lsn;
        match rec.kind {
            RecordKind::Events => {
                let lsn = rec.lsn;
                let events = crate::wal::event_lines(&rec.payload).filter_map(|line| {
                    serde_json::from_slice::<Event>(line)
                        .inspect_err(|e| {
                            tracing::error!(lsn, error = %e, "unreadable event in the WAL; no rule sees it")
                        })
                        .ok()
                });
                self.events(events, replaying);
            }
            // Up to `restored_alert_state_lsn` they are in the restored table already.
            RecordKind::AlertState if replaying && rec.lsn > self.restored_alert_state_lsn => {
                match state::decode(&rec.payload) {
                    Ok(changes) => changes.iter().for_each(|c| self.table.apply(c)),
                    Err(e) => {
                        tracing::error!(lsn = rec.lsn, error = %e, "alert state record skipped")
                    }
                }
            }
            RecordKind::HostForgotten => self.host_forgotten(&rec, replaying),
            // Snapshots (this engine's, or the old primary's on a promoted standby) are read at
            // start only; checkpoints are handled in `follow`.
            _ => {}
        }
    }

    /// Shows the events of one record to every rule; their signals act unless `replaying`.
    fn events<E: std::borrow::Borrow<Event>>(
        &mut self,
        events: impl Iterator<Item = E>,
        replaying: bool,
    ) {
        let mut signals = Vec::new();
        for ev in events {
            self.builtins.on_event(ev.borrow(), &mut signals);
            self.user.on_event(ev.borrow(), &mut signals);
        }
        for s in signals {
            self.signal(s, !replaying);
        }
    }

    fn signal(&mut self, mut s: Signal, act: bool) {
        if let (Some(base), Some(f)) = (&self.settings.runbook_base_url, &mut s.firing)
            && !f.annotations.contains_key("runbook_url")
            && let Some(url) = super::runbook::url(base, &s.name)
        {
            f.annotations.insert("runbook_url".into(), url);
        }
        let key = s.key();
        self.desired.insert(key.clone(), s);
        if act {
            self.evaluate(&key, Instant::now());
        }
    }

    /// After replay: act on every verdict that disagrees with the table.
    fn reconcile(&mut self) {
        let now = Instant::now();
        let keys: Vec<String> = self.desired.keys().cloned().collect();
        for key in keys {
            self.evaluate(&key, now);
        }
    }

    fn firing_keys(&self) -> Vec<String> {
        self.table
            .alerts
            .values()
            .filter(|e| e.record.status == AlertStatus::Firing)
            .map(|e| e.record.key.clone())
            .collect()
    }

    /// Brings alert `key` in line with its verdict.
    fn evaluate(&mut self, key: &str, now: Instant) {
        let Some(sig) = self.desired.get(key) else {
            return;
        };
        let have = self.table.alerts.get(key).map(|e| &e.record);
        let wall = Utc::now();
        match (&sig.firing, have) {
            (Some(f), Some(rec)) if rec.status == AlertStatus::Firing => {
                self.holds.remove(key);
                if rec.severity != f.severity || rec.annotations != f.annotations {
                    let mut next = rec.clone();
                    next.severity = f.severity;
                    next.annotations = f.annotations.clone();
                    next.updated_at = wall;
                    let escalated = rec.severity != f.severity;
                    self.change(StateChange::Alert(next));
                    if escalated {
                        self.schedule_groups(key, now);
                    }
                }
            }
            (Some(f), _) => {
                self.holds.remove(key);
                let rec = AlertRecord {
                    key: key.to_owned(),
                    name: sig.name.clone(),
                    severity: f.severity,
                    status: AlertStatus::Firing,
                    labels: sig.labels.clone(),
                    annotations: f.annotations.clone(),
                    starts_at: wall,
                    ends_at: None,
                    updated_at: wall,
                };
                tracing::info!(alert = %rec.name, id = key, severity = %rec.severity, "alert firing");
                self.change(StateChange::Alert(rec));
                self.schedule_groups(key, now);
            }
            (None, Some(rec)) if rec.status == AlertStatus::Firing => {
                let hold = self.settings.resolve_hold;
                self.holds.entry(key.to_owned()).or_insert(now + hold);
            }
            (None, _) => {}
        }
    }

    fn expire_holds(&mut self, now: Instant) {
        let due: Vec<String> = self
            .holds
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.holds.remove(&key);
            let still_clear = self.desired.get(&key).is_none_or(|s| s.firing.is_none());
            let Some(rec) = self.table.alerts.get(&key).map(|e| e.record.clone()) else {
                continue;
            };
            if still_clear && rec.status == AlertStatus::Firing {
                let wall = Utc::now();
                let mut next = rec;
                next.status = AlertStatus::Resolved;
                next.ends_at = Some(wall);
                next.updated_at = wall;
                tracing::info!(alert = %next.name, id = key, "alert resolved");
                self.change(StateChange::Alert(next));
                self.schedule_groups(&key, now);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        let wall = Utc::now();
        let mut signals = Vec::new();
        self.builtins.on_tick(wall, &mut signals);
        self.user.on_tick(wall, &mut signals);
        for s in signals {
            self.signal(s, true);
        }
        // Silences that ended since the last tick let their alerts through: look again.
        let tick = chrono::Duration::from_std(self.settings.tick).unwrap_or_default();
        let ended =
            self.table.silences.values().any(|s| {
                s.ends_at <= wall && s.ends_at > wall - tick - chrono::Duration::seconds(1)
            }) || self
                .table
                .maintenance
                .any_closed(wall - tick - chrono::Duration::seconds(1), wall);
        if ended {
            for key in self.firing_keys() {
                self.schedule_groups(&key, now);
            }
        }
    }

    /// Applies a change now and queues it for the WAL.
    fn change(&mut self, c: StateChange) {
        self.table.apply(&c);
        let inhibits = matches!(&c, StateChange::Alert(r) if self.table.inhibit_rules.is_source(r));
        self.pending.push(c);
        if inhibits {
            // What it holds back may have to be sent (or not) now.
            let now = Instant::now();
            for key in self.firing_keys() {
                self.schedule_groups(&key, now);
            }
        }
    }

    /// Writes the pending changes; says whether they (and so the whole table) are in the WAL.
    async fn commit_pending(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let payload = state::encode(&std::mem::take(&mut self.pending));
        match self.committer.commit_alert_state(payload).await {
            Ok(lsn) => {
                self.written_lsn = self.written_lsn.max(lsn);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "alert state not written to the WAL; it will not survive a restart");
                false
            }
        }
    }

    /// Makes sure each group holding alert `key` (per receiver that wants it) gets a flush.
    fn schedule_groups(&mut self, key: &str, now: Instant) {
        let Some(entry) = self.table.alerts.get(key) else {
            return;
        };
        let rec = &entry.record;
        for i in self.routes.matching(&|l| silence::label(rec, l)) {
            let ep = &self.routes.endpoints()[i];
            let (group, _) = dispatch::group_of(ep, rec);
            let t = self.groups.entry((i, group)).or_default();
            let at = match t.last_flush {
                None => now + ep.timing.group_wait,
                Some(last) => (last + ep.timing.group_interval).max(now),
            };
            t.next = Some(t.next.map_or(at, |n| n.min(at)));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let holds = self.holds.values().min().copied();
        let groups = self
            .groups
            .values()
            .filter(|t| !t.in_flight)
            .filter_map(|t| t.next)
            .min();
        match (holds, groups) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn flush_due(&mut self, now: Instant) {
        let due: Vec<(usize, String)> = self
            .groups
            .iter()
            .filter(|(_, t)| !t.in_flight && t.next.is_some_and(|n| n <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for (i, group) in due {
            self.flush(i, group, now);
        }
    }

    fn flush(&mut self, i: usize, group: String, now: Instant) {
        let settings = self.settings.clone();
        let routes = self.routes.clone();
        let ep = &routes.endpoints()[i];
        let receiver = &settings.receivers[ep.receiver];
        if self
            .in_flight
            .contains(&(receiver.name.clone(), group.clone()))
        {
            // A delivery of the same group from before a reload: look again once it is done.
            let t = self.groups.entry((i, group)).or_default();
            t.next = Some(now + Duration::from_millis(200));
            return;
        }
        let wall = Utc::now();
        let wants = |rec: &AlertRecord| routes.reaches(i, &|l| silence::label(rec, l));
        let decision = dispatch::decide(
            &self.table,
            receiver,
            ep,
            &wants,
            &group,
            wall,
            &settings.external_url,
        );
        let t = self.groups.entry((i, group.clone())).or_default();
        t.next = None;
        t.last_flush = Some(now);
        // A repeat is due one interval after this flush while something unacked fires.
        let unacked_firing = self.table.alerts.values().any(|e| {
            e.record.status == AlertStatus::Firing
                && e.ack.is_none()
                && wants(&e.record)
                && dispatch::group_of(ep, &e.record).0 == group
        });
        if unacked_firing {
            t.next = Some(now + ep.timing.repeat_interval);
        }
        let Some(d) = decision else { return };
        if !d.send {
            self.change(StateChange::Notified {
                receiver: receiver.name.clone(),
                group,
                firing: d.firing,
                resolved: d.resolved,
                at: wall,
            });
            return;
        }
        t.in_flight = true;
        self.in_flight
            .insert((receiver.name.clone(), d.notification.group_key.clone()));
        let generation = self.generation;
        let http = self.http.clone();
        let done = self.done_tx.clone();
        let counters = self.counters.clone();
        let r = ep.receiver;
        tokio::spawn(async move {
            let receiver = &settings.receivers[r];
            let result = notify::deliver(receiver, &http, &d.notification, &settings.retry)
                .await
                .map_err(|e| e.to_string());
            counters.notified(&receiver.name, receiver.kind_name(), result.is_ok());
            match &result {
                Ok(()) => tracing::info!(receiver = %receiver.name, kind = receiver.kind_name(),
                    group = %d.notification.group_key, status = d.notification.status(),
                    alerts = d.notification.alerts.len(), "notification sent"),
                Err(e) => tracing::error!(receiver = %receiver.name, error = %e,
                    "notification not delivered; the group will be tried again"),
            }
            let _ = done.send(Delivered {
                endpoint: i,
                generation,
                receiver_name: receiver.name.clone(),
                group: d.notification.group_key.clone(),
                firing: d.firing,
                resolved: d.resolved,
                result,
            });
        });
    }

    fn delivered(&mut self, done: Delivered) {
        self.in_flight
            .remove(&(done.receiver_name.clone(), done.group.clone()));
        if done.generation != self.generation {
            // Sent under the routes before a reload: the log learns of it; the new routes'
            // timers decide what comes next.
            if done.result.is_ok() {
                self.change(StateChange::Notified {
                    receiver: done.receiver_name,
                    group: done.group,
                    firing: done.firing,
                    resolved: done.resolved,
                    at: Utc::now(),
                });
            }
            return;
        }
        let now = Instant::now();
        let ep = &self.routes.endpoints()[done.endpoint];
        let interval = ep.timing.group_interval;
        let receiver = ep.receiver;
        let t = self
            .groups
            .entry((done.endpoint, done.group.clone()))
            .or_default();
        t.in_flight = false;
        match done.result {
            Ok(()) => {
                // Whatever changed while it was in flight is looked at on the next flush.
                t.next = Some(t.next.map_or(now, |n| n.min(now)));
                let name = self.settings.receivers[receiver].name.clone();
                self.change(StateChange::Notified {
                    receiver: name,
                    group: done.group,
                    firing: done.firing,
                    resolved: done.resolved,
                    at: Utc::now(),
                });
            }
            Err(_) => t.next = Some(now + interval),
        }
    }

    async fn command(&mut self, cmd: Command) {
        let wall = Utc::now();
        match cmd {
            Command::List { all, reply } => {
                let mut v: Vec<AlertView> = self
                    .table
                    .alerts
                    .values()
                    .filter(|e| all || e.record.status == AlertStatus::Firing)
                    .map(|e| self.table.view(e, wall))
                    .collect();
                v.sort_by(|a, b| {
                    (
                        a.status != AlertStatus::Firing,
                        std::cmp::Reverse(a.severity),
                        std::cmp::Reverse(a.starts_at),
                    )
                        .cmp(&(
                            b.status != AlertStatus::Firing,
                            std::cmp::Reverse(b.severity),
                            std::cmp::Reverse(b.starts_at),
                        ))
                });
                let _ = reply.send(v);
            }
            Command::Ack { id, req, reply } => {
                let found = self
                    .table
                    .alerts
                    .get(&id)
                    .filter(|e| e.record.status == AlertStatus::Firing)
                    .map(|e| e.record.severity);
                let Some(severity) = found else {
                    let _ = reply.send(Err(EngineError::NoSuchAlert(id)));
                    return;
                };
                let ack = Ack {
                    author: if req.author.is_empty() {
                        "unknown".into()
                    } else {
                        req.author
                    },
                    comment: req.comment,
                    at: wall,
                    severity,
                };
                self.change(StateChange::Ack {
                    key: id.clone(),
                    ack,
                });
                let res = self.write_now().await.map(|()| {
                    let e = &self.table.alerts[&id];
                    self.table.view(e, wall)
                });
                self.schedule_groups(&id, Instant::now());
                let _ = reply.send(res);
            }
            Command::AddSilence { req, reply } => {
                let res = match silence::build(req, wall) {
                    Ok(s) => {
                        self.change(StateChange::Silence(s.clone()));
                        self.write_now().await.map(|()| s)
                    }
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(res);
            }
            Command::ExpireSilence { id, reply } => {
                if !self.table.silences.contains_key(&id) {
                    let _ = reply.send(Err(EngineError::NoSuchSilence(id)));
                    return;
                }
                self.change(StateChange::SilenceExpired {
                    id: id.clone(),
                    at: wall,
                });
                let res = self
                    .write_now()
                    .await
                    .map(|()| self.table.silences[&id].clone());
                let now = Instant::now();
                for key in self.firing_keys() {
                    self.schedule_groups(&key, now);
                }
                let _ = reply.send(res);
            }
            Command::Signal(sig) => self.signal(sig, true),
            Command::Forget {
                host,
                author,
                reply,
            } => self.write_forget(host, author, wall, reply).await,
            Command::Silences { reply } => {
                let windows = self.table.maintenance.0.iter();
                let _ = reply.send(
                    self.table
                        .silences
                        .values()
                        .cloned()
                        .chain(windows.filter_map(|w| w.as_silence(wall)))
                        .collect(),
                );
            }
            Command::Test { req, reply } => {
                // Off the engine's loop: a slow receiver must not hold up alerting.
                let (settings, routes, http) = (
                    self.settings.clone(),
                    self.routes.clone(),
                    self.http.clone(),
                );
                tokio::spawn(async move {
                    let r = notify::test_send::run(
                        req,
                        &settings.receivers,
                        &routes,
                        &http,
                        &settings.external_url,
                    )
                    .await;
                    let _ = reply.send(r);
                });
            }
        }
    }

    /// Writes the pending changes and says whether they are durable (for the API's answer).
    async fn write_now(&mut self) -> Result<(), EngineError> {
        let payload = state::encode(&std::mem::take(&mut self.pending));
        let lsn = self
            .committer
            .commit_alert_state(payload)
            .await
            .map_err(|e| EngineError::Wal(e.to_string()))?;
        self.written_lsn = self.written_lsn.max(lsn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::{DateTime, Duration as Span};
    use logwarden_core::wire::{AlertSeverity, Matcher};
    use logwarden_core::{EventId, Kind};
    use serde_json::json;

    use super::*;
    use crate::rules::alert::{alert_key, labels};
    use crate::rules::user::{Query, UserRule};
    use crate::wal::{Originals, Wal, WalOptions};

    fn settings() -> EngineSettings {
        EngineSettings {
            user_rules: vec![UserRule {
                name: "Oom".into(),
                query: Query::parse("oom").unwrap(),
                threshold: 3,
                window: Span::seconds(60),
                group_by: vec!["host".into()],
                severity: AlertSeverity::Warning,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            }],
            ..EngineSettings::default()
        }
    }

    /// A WAL in `dir` and its committer; the receiver follows the durable LSN.
    fn committer(dir: &std::path::Path) -> (Committer, watch::Receiver<u64>) {
        let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
        let (tx, rx) = watch::channel(wal.durable_lsn());
        let (c, _thread) =
            Committer::start(wal, tx, Default::default(), Default::default()).unwrap();
        (c, rx)
    }

    fn event(seq: u64, kind: Kind, host: &str, msg: &str, at: DateTime<Utc>) -> Event {
        let mut e = Event::log(EventId::new("ag", seq), at, host, "phx", "/x", msg.into());
        e.kind = kind;
        e.received = Some(at);
        e
    }

    fn failed_login(seq: u64, at: DateTime<Utc>) -> Event {
        let mut e = event(
            seq,
            Kind::Log,
            "mta1",
            "SASL LOGIN authentication failed",
            at,
        );
        e.fields = json!({"auth": "failed", "ip": "203.0.113.9"})
            .as_object()
            .cloned()
            .unwrap()
            .into();
        e
    }

    fn degraded(seq: u64, at: DateTime<Utc>) -> Event {
        let mut e = event(seq, Kind::Health, "mbox3", "", at);
        e.fields = json!({"check": "raid", "array": "md2", "level": "raid6", "state": "degraded",
            "disks_total": 8, "disks_working": 7, "disks_spare": 1, "redundancy_left": 1})
        .as_object()
        .cloned()
        .unwrap()
        .into();
        e
    }

    fn events_record(lsn: u64, events: &[Event]) -> Record {
        let mut payload = Vec::new();
        for e in events {
            payload.extend(serde_json::to_vec(e).unwrap());
            payload.push(b'\n');
        }
        Record {
            lsn,
            kind: RecordKind::Events,
            payload,
        }
    }

    fn state_record(lsn: u64, changes: &[StateChange]) -> Record {
        Record {
            lsn,
            kind: RecordKind::AlertState,
            payload: state::encode(changes),
        }
    }

    /// The alerts without the times the lifecycle stamps on them (two engines differ there).
    fn alerts(e: &Engine) -> BTreeMap<String, (String, AlertStatus, AlertSeverity, Option<Ack>)> {
        e.table
            .alerts
            .iter()
            .map(|(k, a)| {
                let r = &a.record;
                (
                    k.clone(),
                    (r.name.clone(), r.status, r.severity, a.ack.clone()),
                )
            })
            .collect()
    }

    fn fired(e: &Engine) -> BTreeSet<String> {
        e.pending
            .iter()
            .filter_map(|c| match c {
                StateChange::Alert(r) if r.status == AlertStatus::Firing => Some(r.name.clone()),
                _ => None,
            })
            .collect()
    }

    fn sorted(mut v: Vec<Signal>) -> Vec<Signal> {
        v.sort_by_key(Signal::key);
        v
    }

    #[tokio::test]
    async fn a_replay_from_a_snapshot_ends_in_the_same_state_as_a_replay_of_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = committer(dir.path());
        let t0 = Utc::now() - Span::seconds(60);
        let at = |s: i64| t0 + Span::seconds(s);
        let raid_key = alert_key(
            "RaidArrayDegraded",
            &labels([("host", "mbox3"), ("array", "md2")]),
        );

        // A: a heartbeat (the only one), 15 of the 20 failed logins that make AuthBruteForce,
        // 2 of the 3 OOM lines that make the user rule fire, a degraded array; then its alert,
        // acked, a silence and a notification.
        let mut a = vec![
            event(1, Kind::Heartbeat, "mbox1", "", at(0)),
            degraded(2, at(0)),
        ];
        a.extend((0..15).map(|i| failed_login(10 + i, at(i as i64))));
        a.extend((0..2).map(|i| event(30 + i, Kind::Log, "mbox3", "OOM killer", at(1))));
        let rec = AlertRecord {
            key: raid_key.clone(),
            name: "RaidArrayDegraded".into(),
            severity: AlertSeverity::Warning,
            status: AlertStatus::Firing,
            labels: labels([("host", "mbox3"), ("array", "md2")]),
            annotations: BTreeMap::new(),
            starts_at: at(0),
            ends_at: None,
            updated_at: at(0),
        };
        let silence = Silence {
            id: "s1".into(),
            matchers: vec![Matcher {
                name: "host".into(),
                value: "mbox9".into(),
                negative: false,
                regex: false,
            }],
            starts_at: at(0),
            ends_at: at(7200),
            author: "me".into(),
            comment: String::new(),
            created_at: at(0),
        };
        let part_a = vec![
            events_record(1, &a),
            state_record(
                2,
                &[
                    StateChange::Alert(rec),
                    StateChange::Ack {
                        key: raid_key.clone(),
                        ack: Ack {
                            author: "me".into(),
                            comment: String::new(),
                            at: at(2),
                            severity: AlertSeverity::Warning,
                        },
                    },
                    StateChange::Silence(silence),
                    StateChange::Notified {
                        receiver: "ops".into(),
                        group: "g".into(),
                        firing: BTreeSet::from([raid_key.clone()]),
                        resolved: BTreeSet::new(),
                        at: at(3),
                    },
                ],
            ),
        ];
        // B: the last 5 failed logins (inside the window that began in A) and the third OOM.
        let mut b: Vec<Event> = (0..5)
            .map(|i| failed_login(40 + i, at(20 + i as i64)))
            .collect();
        b.push(event(50, Kind::Log, "mbox3", "OOM killer", at(21)));
        let part_b = vec![
            events_record(3, &b),
            state_record(
                4,
                &[StateChange::SilenceExpired {
                    id: "s1".into(),
                    at: at(30),
                }],
            ),
        ];
        let start_lsn = 4;

        let mut all = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
        for r in part_a.iter().chain(&part_b) {
            all.record(r.clone(), start_lsn);
        }
        all.reconcile();

        let mut first = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
        for r in &part_a {
            first.record(r.clone(), start_lsn);
        }
        let payload = snapshot::capture(
            2,
            first.written_lsn,
            &first.table,
            &first.desired,
            &first.builtins,
            &first.user,
        )
        .encode();
        drop(first);
        let mut second = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
        let restored = Snapshot::decode(&payload).unwrap().restore(
            &mut second.table,
            &mut second.desired,
            &mut second.builtins,
            &mut second.user,
        );
        assert_eq!(restored.dropped_user_windows, 0);
        for r in &part_b {
            second.record(r.clone(), start_lsn);
        }
        second.reconcile();

        // AuthBruteForce and the user rule fire thanks to the counts from A alone: B by itself
        // does not make them. (The array's alert is updated too: its record here lacks the
        // summary the rule gives.)
        assert_eq!(fired(&second), fired(&all));
        for name in ["AuthBruteForce", "Oom"] {
            assert!(fired(&second).contains(name), "{:?}", fired(&second));
        }
        let mut only_b = Engine::new(settings(), c.clone(), dir.path().into(), Default::default());
        for r in &part_b {
            only_b.record(r.clone(), start_lsn);
        }
        only_b.reconcile();
        assert!(fired(&only_b).is_empty(), "{:?}", fired(&only_b));

        assert_eq!(second.desired, all.desired);
        assert_eq!(alerts(&second), alerts(&all));
        assert!(
            alerts(&second)[&raid_key].3.is_some(),
            "the ack came through"
        );
        assert_eq!(second.table.silences, all.table.silences);
        assert_eq!(second.table.silences["s1"].ends_at, at(30), "expired in B");
        assert_eq!(second.table.nflog, all.table.nflog);
        assert_eq!(second.table.nflog.len(), 1);
        assert_eq!(second.builtins.save(), all.builtins.save());
        assert_eq!(second.user.save(), all.user.save());

        // Later, the agent whose heartbeat came in A only is silent in both.
        let later = Utc::now() + Span::minutes(10);
        let tick = |e: &mut Engine| {
            let mut out = Vec::new();
            e.builtins.on_tick(later, &mut out);
            e.user.on_tick(later, &mut out);
            sorted(out)
        };
        let (from_all, from_second) = (tick(&mut all), tick(&mut second));
        assert_eq!(from_second, from_all);
        assert!(
            from_second
                .iter()
                .any(|s| s.name == "AgentSilent" && s.firing.is_some()),
            "{from_second:?}"
        );
    }

    async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(v) = probe().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn summary(list: &[AlertView]) -> BTreeSet<(String, String, &'static str, bool)> {
        list.iter()
            .map(|a| {
                (
                    a.id.clone(),
                    a.name.clone(),
                    a.status.as_str(),
                    a.ack.is_some(),
                )
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_makes_a_snapshot_and_the_next_start_begins_there_with_the_same_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().to_owned();
        let (c, durable) = committer(&wal_dir);
        let stop = CancellationToken::new();
        let (alerts, task) = start(
            settings(),
            c.clone(),
            wal_dir.clone(),
            durable.clone(),
            stop.clone(),
            Default::default(),
        );
        let now = Utc::now();
        let mut events: Vec<Event> = (0..20).map(|i| failed_login(i, now)).collect();
        events.push(degraded(100, now));
        events.push(event(101, Kind::Heartbeat, "mbox1", "", now));
        c.commit(events, Originals::default()).await.unwrap();
        let raid = eventually("the alerts to fire", async || {
            let list = alerts.list(false).await.unwrap();
            let raid = list
                .iter()
                .find(|a| a.name == "RaidArrayDegraded")?
                .id
                .clone();
            list.iter()
                .any(|a| a.name == "AuthBruteForce")
                .then_some(raid)
        })
        .await;
        alerts
            .ack(
                raid.clone(),
                AckRequest {
                    author: "me".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        let checkpoint = c
            .commit_record(RecordKind::Checkpoint, b"{}".to_vec())
            .await
            .unwrap();
        let snap = eventually("a rules snapshot", async || {
            crate::wal::newest_of_kind(&wal_dir, RecordKind::RulesSnapshot, u64::MAX).unwrap()
        })
        .await;
        let decoded = Snapshot::from_record(&snap).unwrap();
        assert_eq!(decoded.lsn, checkpoint, "as of the checkpoint record");
        assert!(
            decoded
                .table
                .alerts
                .iter()
                .any(|a| a.record.key == raid && a.ack.is_some())
        );

        // After the snapshot: the user rule fires.
        let oom = (0..3)
            .map(|i| event(200 + i, Kind::Log, "mbox3", "OOM killer", now))
            .collect();
        c.commit(oom, Originals::default()).await.unwrap();
        let before = eventually("the user rule to fire", async || {
            let list = alerts.list(true).await.unwrap();
            list.iter().any(|a| a.name == "Oom").then_some(list)
        })
        .await;
        assert_eq!(before.len(), 3, "{before:?}");
        stop.cancel();
        task.await.unwrap();
        drop(alerts);

        // The next start restores that snapshot (the probe runs the start's first step) ...
        let start_lsn = *durable.borrow();
        let mut probe = Engine::new(settings(), c.clone(), wal_dir.clone(), Default::default());
        assert_eq!(probe.restore_snapshot(start_lsn).await, Some(checkpoint));
        assert_eq!(probe.restored_alert_state_lsn, decoded.alert_state_lsn);
        assert!(
            probe.table.alerts.values().all(|a| a.record.name != "Oom"),
            "not yet"
        );

        // ... and, replaying what followed, has the same alerts as before.
        let stop = CancellationToken::new();
        let (alerts, task) = start(
            settings(),
            c.clone(),
            wal_dir.clone(),
            durable.clone(),
            stop.clone(),
            Default::default(),
        );
        let after = alerts.list(true).await.unwrap();
        assert_eq!(summary(&after), summary(&before));
        assert!(summary(&after).contains(&(raid, "RaidArrayDegraded".into(), "firing", true)));
        stop.cancel();
        task.await.unwrap();
    }
}
