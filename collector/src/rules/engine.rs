//! The rules engine: one task that follows the WAL (like the indexer), turns events into alert
//! verdicts, keeps the alert lifecycle, and sends notifications.
//!
//! ```text
//! WAL (durable LSN) --> replay --> judge: rules (builtin, user) --> Signal
//!                                                                     |
//!                      commands (API) --> lifecycle --> StateChange --> committer (WAL)
//!                                             |                   \--> AlertTable
//!                       group timers <-- delivery --> dispatch::decide --> notify (transports)
//!                                             ^--------- Delivered <-----------/
//! ```
//!
//! One `Engine` value, one task; its work is split by job, one file each under `engine/`:
//!
//! - `replay.rs`: the start (restore the newest rules snapshot, replay the WAL after it without
//!   acting, reconcile), following the log live, writing snapshots at the committer's
//!   checkpoints (`Engine::write_snapshot`);
//! - `judge.rs`: events and ticks shown to the rules, the latest verdict per alert;
//! - `lifecycle.rs`: verdicts into firing/resolved alerts (with the resolve hold), every change
//!   applied to the table and written as `AlertState` records;
//! - `delivery.rs`: the group timers, `rules::dispatch` deciding what a flush sends, the tasks
//!   that hand it to `crate::notify`, and what they report;
//! - `commands.rs`: each command of the API (list, ack, silences, test), one step each;
//! - `forget.rs` (`logwarden fleet forget`) and `reload.rs` (a config reload);
//! - `shared.rs`: the engine of a cluster's alert leader (crate::cluster::leader), fed by the
//!   stream of every partition, its state in a shared store instead of the WAL.
//!
//! This file holds what they share: the settings, the `Engine` value and its main loop. Three
//! leaves hold the types the value and the API need: `handle.rs` (the API's [`AlertsHandle`],
//! its commands and errors), `group.rs` (a group's timer, a delivery's report) and `feed.rs`
//! (where the input comes from: the WAL, or a cluster leader's feed and store). The job
//! files use this file and the leaves; this file names none of them.
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
//! snapshot to start from or was long (see `replay.rs`).
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

mod commands;
mod delivery;
mod feed;
mod forget;
mod group;
mod handle;
mod judge;
mod lifecycle;
mod reload;
mod replay;
mod shared;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::alert::Signal;
use super::builtin::{BuiltinSettings, Builtins};
use super::state::{AlertTable, StateChange};
use super::user::UserRules;
use crate::notify::route::{RouteTree, Timing};
use crate::notify::{Receiver, RetryPolicy};
use crate::wal::Committer;
use feed::{Feed, SharedSink, Work};
pub use feed::{FeedBatch, Leading, Shared, SharedStart, StateKind, StateWrite};
use group::{Delivered, GroupTimer};
pub(crate) use handle::Command;
use handle::Forgotten;
pub use handle::{AlertsHandle, EngineError};
pub use shared::lookback;

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

/// The engine's state; each job's file (module doc) adds its part of the behaviour.
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
    forgets: Vec<Forgotten>,
    /// A cluster's alert leader: the shared store its state goes to instead of the WAL
    /// (`shared.rs`); `None` on a single collector or a pair.
    shared: Option<SharedSink>,
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
    let engine = Engine::new(latest(settings), committer, wal_dir, counters);
    spawn(engine, Feed::Wal(durable), None, shutdown)
}

/// Starts the engine of a cluster's alert leader (`shared.rs`): its events and its state are
/// the cluster's (`shared`), not the local WAL's; `committer` is only held, not written.
pub fn start_shared(
    settings: EngineSettings,
    committer: Committer,
    shared: Shared,
    shutdown: CancellationToken,
    counters: Arc<crate::metrics::Counters>,
) -> (AlertsHandle, tokio::task::JoinHandle<()>) {
    let wal_dir = std::path::PathBuf::new();
    let mut engine = Engine::new(latest(settings), committer, wal_dir, counters);
    engine.shared = Some(SharedSink {
        writes: shared.writes,
        events_since: 0,
        changes_since: 0,
        last_snapshot: Instant::now(),
        snapshot_every: shared.snapshot_every,
        leading: shared.leading,
    });
    spawn(
        engine,
        Feed::Shared(shared.events),
        Some(shared.start),
        shutdown,
    )
}

/// Settings reloaded since the process started win over those it started with.
fn latest(settings: EngineSettings) -> EngineSettings {
    let latest = settings.reloads.as_ref().and_then(|r| r.borrow().clone());
    match latest {
        Some(new) => EngineSettings {
            reloads: settings.reloads.clone(),
            ..(*new).clone()
        },
        None => settings,
    }
}

fn spawn(
    engine: Engine,
    feed: Feed,
    start: Option<SharedStart>,
    shutdown: CancellationToken,
) -> (AlertsHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(engine.run(feed, start, rx, shutdown));
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
            shared: None,
        }
    }

    /// The task: the start (the WAL's replay, or a leader's take-over of the shared state),
    /// then one batch of work per wake-up (new WAL records or stream events, a command, a
    /// delivery's report, a reload, a timer), its changes written after each.
    async fn run(
        mut self,
        mut feed: Feed,
        start: Option<SharedStart>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let mut start_lsn = 0;
        let mut reader = None;
        match (&mut feed, start) {
            (Feed::Wal(durable), _) => {
                start_lsn = *durable.borrow_and_update();
                reader = self.start_replay(start_lsn).await;
            }
            (Feed::Shared(events), start) => {
                let started = tokio::select! {
                    _ = shutdown.cancelled() => false,
                    started = self.start_shared(start.unwrap_or_default(), events) => started,
                };
                if !started {
                    tracing::info!("alert engine stopped before it took over");
                    return;
                }
            }
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
                work = feed.next() => match work {
                    // The committer, or the leader's feed, is gone.
                    None => break,
                    Some(Work::Upto(upto)) => {
                        self.follow(&mut reader, upto, start_lsn).await;
                    }
                    Some(Work::Events(batch)) => self.shared_events(batch).await,
                },
                Some(cmd) = commands.recv() => self.command(cmd).await,
                Some(done) = self.done_rx.recv() => self.delivered(done),
                Some(new) = next_reload(&mut reloads) => self.reload(new),
                _ = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    if now >= next_tick {
                        self.tick(now);
                        next_tick = now + self.settings.tick;
                    }
                    self.expire_holds(now);
                    // What fired or resolved just now is written before it is sent: a
                    // cluster's leader sends only what its shared store holds (`delivery.rs`).
                    self.commit_pending().await;
                    self.flush_due(now);
                }
            }
            let written = self.commit_pending().await;
            self.answer_forgets(written);
            self.shared_snapshot_if_due().await;
        }
        tracing::info!("alert engine stopped");
    }

    /// The next timer: a resolve hold ending or a group due.
    fn next_deadline(&self) -> Option<Instant> {
        let holds = self.holds.values().min().copied();
        match (holds, self.next_flush()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The next reloaded settings; never, without a source (or once it is gone).
async fn next_reload(
    reloads: &mut Option<watch::Receiver<Option<Arc<EngineSettings>>>>,
) -> Option<EngineSettings> {
    loop {
        let Some(r) = reloads else {
            return std::future::pending().await;
        };
        if r.changed().await.is_err() {
            *reloads = None;
            continue;
        }
        if let Some(new) = r.borrow_and_update().clone() {
            return Some((*new).clone());
        }
    }
}

#[cfg(test)]
mod tests;
