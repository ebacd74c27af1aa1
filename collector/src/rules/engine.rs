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
//! At start the engine replays the whole WAL: events rebuild the rules' view of the world (what
//! each health record last said, windows, heartbeats) *without* acting on it, and the
//! `AlertState` records rebuild the alert table and the notification log. Then it reconciles:
//! a verdict that disagrees with the table (the collector died between an event and the
//! decision) is acted on now. Notifications are decided from the log, so an alert already sent
//! is not sent again and its resolve still goes out. `AlertState` records after the start LSN
//! are this engine's own (it is their only writer) and were applied when written.
//!
//! # Lifecycle
//!
//! A firing verdict fires at once (or changes the severity); a clear verdict starts the
//! `resolve_hold` timer, and the alert resolves only if no firing verdict came back meanwhile:
//! an input that flaps gives one firing and, at the end, one resolved notification.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use logwarden_core::Event;
use logwarden_core::wire::{Ack, AckRequest, AlertStatus, AlertView, Silence, SilenceRequest};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::alert::Signal;
use super::builtin::{BuiltinSettings, Builtins};
use super::silence::{self, SilenceError};
use super::state::{self, AlertRecord, AlertTable, StateChange};
use super::user::UserRules;
use crate::ingest::Committer;
use crate::notify::{self, Receiver, RetryPolicy, dispatch};
use crate::wal::{Record, RecordKind, WalReader};

/// Everything the engine is configured with (`[alerts]`).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub builtin: BuiltinSettings,
    pub user_rules: Vec<super::user::UserRule>,
    pub receivers: Vec<Receiver>,
    pub group_by: Vec<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub resolve_hold: Duration,
    /// How often time-based rules (windows, silence of agents, holds) are looked at.
    pub tick: Duration,
    pub external_url: String,
    pub retry: RetryPolicy,
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            builtin: BuiltinSettings::default(),
            user_rules: Vec::new(),
            receivers: Vec::new(),
            group_by: vec!["alertname".into(), "host".into()],
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            resolve_hold: Duration::from_secs(120),
            tick: Duration::from_secs(1),
            external_url: "http://127.0.0.1:7070/".into(),
            retry: RetryPolicy::default(),
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

    pub async fn silences(&self) -> Result<Vec<Silence>, EngineError> {
        self.ask(|reply| Command::Silences { reply }).await
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

/// A delivery task's report.
struct Delivered {
    receiver: usize,
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
    groups: HashMap<(usize, String), GroupTimer>,
    /// Changes made but not yet written (one WAL record per batch of work).
    pending: Vec<StateChange>,
    http: reqwest::Client,
    done_tx: mpsc::UnboundedSender<Delivered>,
    done_rx: mpsc::UnboundedReceiver<Delivered>,
    /// Where notification outcomes are counted for `/metrics`.
    counters: Arc<crate::metrics::Counters>,
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
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let engine = Engine {
        builtins: Builtins::new(settings.builtin.clone(), Utc::now()),
        user: UserRules::new(settings.user_rules.clone()),
        settings: Arc::new(settings),
        committer,
        wal_dir,
        table: AlertTable::default(),
        desired: HashMap::new(),
        holds: HashMap::new(),
        groups: HashMap::new(),
        pending: Vec::new(),
        http,
        done_tx,
        done_rx,
        counters,
    };
    let task = tokio::spawn(engine.run(durable, rx, shutdown));
    (AlertsHandle { tx }, task)
}

impl Engine {
    async fn run(
        mut self,
        mut durable: watch::Receiver<u64>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let start_lsn = *durable.borrow_and_update();
        let mut reader = Some(WalReader::new(self.wal_dir.clone(), 1));
        // Replay: rebuild, act on nothing.
        let replayed = self.follow(&mut reader, start_lsn, start_lsn).await;
        tracing::info!(
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
        let mut next_tick = Instant::now() + self.settings.tick;
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
            self.commit_pending().await;
        }
        tracing::info!("alert engine stopped");
    }

    /// Reads and handles WAL records up to `upto`; records at or below `start_lsn` are replay.
    /// Returns how many records were read.
    async fn follow(&mut self, reader: &mut Option<WalReader>, upto: u64, start_lsn: u64) -> u64 {
        let mut count = 0;
        loop {
            let Some(r) = reader.take() else { return count };
            let read = tokio::task::spawn_blocking(move || {
                let mut r = r;
                let mut batch = Vec::new();
                let mut bytes = 0;
                while bytes < (32 << 20) {
                    match r.next(upto) {
                        Ok(Some(rec)) => {
                            bytes += rec.payload.len();
                            batch.push(rec);
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
            for rec in batch {
                count += 1;
                self.record(rec, start_lsn);
            }
        }
    }

    fn record(&mut self, rec: Record, start_lsn: u64) {
        let replaying = rec.lsn <= start_lsn;
        match rec.kind {
            RecordKind::Events => {
                let mut signals = Vec::new();
                let mut see = |ev: &Event| {
                    self.builtins.on_event(ev, &mut signals);
                    self.user.on_event(ev, &mut signals);
                };
                if let Some(events) = self.committer.recent().events_of(&rec) {
                    events.iter().for_each(&mut see);
                } else {
                    for line in crate::wal::event_lines(&rec.payload) {
                        match serde_json::from_slice::<Event>(line) {
                            Ok(ev) => see(&ev),
                            Err(e) => {
                                tracing::error!(lsn = rec.lsn, error = %e, "unreadable event in the WAL; no rule sees it")
                            }
                        }
                    }
                }
                for s in signals {
                    self.signal(s, !replaying);
                }
            }
            RecordKind::AlertState if replaying => match state::decode(&rec.payload) {
                Ok(changes) => changes.iter().for_each(|c| self.table.apply(c)),
                Err(e) => tracing::error!(lsn = rec.lsn, error = %e, "alert state record skipped"),
            },
            _ => {}
        }
    }

    fn signal(&mut self, s: Signal, act: bool) {
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
            });
        if ended {
            for key in self.firing_keys() {
                self.schedule_groups(&key, now);
            }
        }
    }

    /// Applies a change now and queues it for the WAL.
    fn change(&mut self, c: StateChange) {
        self.table.apply(&c);
        let inhibits = matches!(&c, StateChange::Alert(r) if r.name == "AgentSilent" || r.name == "RaidArrayFailed");
        self.pending.push(c);
        if inhibits {
            // What it holds back may have to be sent (or not) now.
            let now = Instant::now();
            for key in self.firing_keys() {
                self.schedule_groups(&key, now);
            }
        }
    }

    async fn commit_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let payload = state::encode(&std::mem::take(&mut self.pending));
        if let Err(e) = self.committer.commit_alert_state(payload).await {
            tracing::error!(error = %e, "alert state not written to the WAL; it will not survive a restart");
        }
    }

    /// Makes sure each group holding alert `key` (per receiver that wants it) gets a flush.
    fn schedule_groups(&mut self, key: &str, now: Instant) {
        let Some(entry) = self.table.alerts.get(key) else {
            return;
        };
        for (i, r) in self.settings.receivers.iter().enumerate() {
            if !r.wants(&entry.record) {
                continue;
            }
            let (group, _) = dispatch::group_of(&self.settings.group_by, &entry.record);
            let t = self.groups.entry((i, group)).or_default();
            let at = match t.last_flush {
                None => now + self.settings.group_wait,
                Some(last) => (last + self.settings.group_interval).max(now),
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
        let receiver = &settings.receivers[i];
        let wall = Utc::now();
        let repeat = chrono::Duration::from_std(settings.repeat_interval)
            .unwrap_or(chrono::Duration::hours(4));
        let decision = dispatch::decide(
            &self.table,
            receiver,
            &settings.group_by,
            &group,
            wall,
            repeat,
            &settings.external_url,
        );
        let t = self.groups.entry((i, group.clone())).or_default();
        t.next = None;
        t.last_flush = Some(now);
        // A repeat is due one interval after this flush while something unacked fires.
        let unacked_firing = self.table.alerts.values().any(|e| {
            e.record.status == AlertStatus::Firing
                && e.ack.is_none()
                && receiver.wants(&e.record)
                && dispatch::group_of(&settings.group_by, &e.record).0 == group
        });
        if unacked_firing {
            t.next = Some(now + settings.repeat_interval);
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
        let http = self.http.clone();
        let done = self.done_tx.clone();
        let counters = self.counters.clone();
        tokio::spawn(async move {
            let receiver = &settings.receivers[i];
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
                receiver: i,
                group: d.notification.group_key.clone(),
                firing: d.firing,
                resolved: d.resolved,
                result,
            });
        });
    }

    fn delivered(&mut self, done: Delivered) {
        let now = Instant::now();
        let interval = self.settings.group_interval;
        let t = self
            .groups
            .entry((done.receiver, done.group.clone()))
            .or_default();
        t.in_flight = false;
        match done.result {
            Ok(()) => {
                // Whatever changed while it was in flight is looked at on the next flush.
                t.next = Some(t.next.map_or(now, |n| n.min(now)));
                let name = self.settings.receivers[done.receiver].name.clone();
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
            Command::Silences { reply } => {
                let _ = reply.send(self.table.silences.values().cloned().collect());
            }
        }
    }

    /// Writes the pending changes and says whether they are durable (for the API's answer).
    async fn write_now(&mut self) -> Result<(), EngineError> {
        let payload = state::encode(&std::mem::take(&mut self.pending));
        self.committer
            .commit_alert_state(payload)
            .await
            .map(|_| ())
            .map_err(EngineError::Wal)
    }
}
