//! Putting the collector together: open the WAL and the index, start the committer and the
//! indexer, serve the API until shutdown, then stop each part in order so that nothing accepted
//! is left unwritten.
//!
//! Serving goes in rounds, one per role (docs/failover.md): a promotion or a step-down saves the
//! new role, ends the round like a shutdown (every part stops in order), and the next round
//! starts every part again in the new role on the same listening socket. A primary runs the
//! alert engine; a standby runs the replication follower instead and forwards what its syslog
//! listeners receive to the primary.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::config::Settings;
use crate::fleet::{self, Fleet};
use crate::index;
use crate::replication::state::FailoverState;
use crate::replication::{Next, Replication, Role};
use crate::rules::AlertsHandle;
use crate::wal::{Committer, EpochRecord, RecordKind, Wal, WalStats};

/// Runs the collector on an already-bound listener until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Each round gets its own handle on the one socket, so agents never meet a closed port.
    let listener = listener.into_std().context("taking the listening socket")?;
    // One set of counters for the process: a role change does not reset them.
    let counters = Arc::new(crate::metrics::Counters::default());
    // Every receiver's series exist from the start, at zero, so that rate() sees the first.
    for r in &settings.alerts.receivers {
        counters.notified_none(&r.name, r.kind_name());
    }
    loop {
        let round = TcpListener::from_std(listener.try_clone().context("sharing the socket")?)
            .context("listening socket")?;
        match serve_round(round, &settings, &shutdown, counters.clone()).await? {
            None => return Ok(()),
            Some(Next::Serve) => {}
            Some(Next::Rebuild) => move_aside(&settings.data_dir)?,
            Some(Next::Reseed) => {
                // Not diverged (the primary checks that first), so every record of this WAL is
                // one the primary holds or held: nothing in it is this collector's alone.
                let wal = settings.data_dir.join("wal");
                std::fs::remove_dir_all(&wal)
                    .with_context(|| format!("removing {}", wal.display()))?;
                tracing::warn!(dir = %wal.display(), "WAL removed (the primary trimmed what it needed next); the index and fleet view are kept; copying afresh from the primary");
            }
        }
    }
}

/// A diverged log is kept, not deleted: it may hold batches only that collector acknowledged.
fn move_aside(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let aside = data_dir.join(format!(
        "diverged-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S")
    ));
    std::fs::create_dir_all(&aside).with_context(|| format!("creating {}", aside.display()))?;
    for name in ["wal", "index", "fleet.json"] {
        let from = data_dir.join(name);
        if from.exists() {
            std::fs::rename(&from, aside.join(name))
                .with_context(|| format!("moving {} to {}", from.display(), aside.display()))?;
        }
    }
    tracing::warn!(dir = %aside.display(), "diverged WAL, index and fleet view moved aside; copying afresh from the primary");
    Ok(())
}

/// One round of serving in one role. `None` when `shutdown` fired, else what comes next.
async fn serve_round(
    listener: TcpListener,
    settings: &Settings,
    shutdown: &CancellationToken,
    counters: Arc<crate::metrics::Counters>,
) -> anyhow::Result<Option<Next>> {
    let failover = decide_role(settings).await?;
    tracing::info!(
        role = failover.role.as_str(),
        epoch = failover.epoch,
        "starting"
    );
    let (round, state) = Round::start(settings, failover, shutdown, counters).await?;
    round.announce(settings, &state);
    round.serve_http(listener, settings, state).await?;
    let repl = round.stop().await;
    if shutdown.is_cancelled() {
        tracing::info!("collector stopped");
        return Ok(None);
    }
    Ok(repl.next())
}

/// The role and epoch this round serves in: the saved ones (the configured role at the very
/// first start), unless a primary finds its peer at a higher epoch.
async fn decide_role(settings: &Settings) -> anyhow::Result<FailoverState> {
    let mut failover = match FailoverState::load(&settings.data_dir)? {
        Some(s) => s,
        None => {
            let s = FailoverState::new(settings.replication.role, 1);
            s.save(&settings.data_dir)?;
            s
        }
    };
    if failover.role == Role::Primary
        && let Some(epoch) = crate::replication::handover::peer_epoch(&settings.replication).await
        && epoch > failover.epoch
    {
        // Back after the standby took over: never serve a moment as a stale primary.
        tracing::warn!(
            epoch,
            ours = failover.epoch,
            "the peer is at a higher epoch: starting as standby"
        );
        failover = FailoverState::new(Role::Standby, epoch);
        failover.save(&settings.data_dir)?;
    }
    Ok(failover)
}

/// The parts of one round, each with what stops it, in the order they start. Each part is
/// started on the parts before it, and stopped only once no part after it uses it, so
/// [`Round::stop`] goes the other way:
///
/// 1. the log: the committer (the WAL's only writer) and its readers, the indexer and the
///    fleet view. Everything else writes through the committer or reads what it made durable.
/// 2. the alert engine (a primary only): follows the log and writes alert state through the
///    committer.
/// 3. the role's tasks (replication, the witness, WAL retention): read the log's positions and
///    the engine's alerts, and write through the committer.
/// 4. the tokens file watcher: HTTP checks each call's token against what it reads.
/// 5. the syslog listeners: commit what they receive through the committer (or forward it to
///    the primary).
/// 6. HTTP (not held here: [`Round::serve_http`] runs it until the round ends), last, once
///    everything it serves exists.
///
/// The committer ties the stop order together: it drains and stops only once every handle to
/// it is dropped, so every part that holds one (HTTP's handlers, the syslog intake, the role's
/// tasks, the engine) must be gone first. Parts 3 to 5 do not use one another: they start
/// inside out and stop outside in, so the doors that take input from outside (HTTP, then
/// syslog) close first. Inside the log, the readers start after the committer (they take its
/// cache of recent events) and stop after it (they follow it to its last record).
struct Round {
    /// The role and epoch of this round.
    failover: FailoverState,
    /// Role, epoch and peer; what comes after this round ([`Replication::next`]).
    repl: Arc<Replication>,
    /// Fires on shutdown or on a role change (see [`round_stop`]): HTTP, the role's tasks and
    /// a standby's syslog forwarder end on it.
    end: CancellationToken,
    log: Log,
    engine: Engine,
    /// Replication, the witness and WAL retention: they end on `end`.
    role_tasks: JoinSet<()>,
    /// Stops the tokens file watcher.
    stop_auth: CancellationToken,
    syslog: Syslog,
}

/// The WAL's writer and the two threads that follow what it makes durable.
struct Log {
    /// Ends once every `Committer` handle is dropped, after writing what it was handed.
    committer_thread: std::thread::JoinHandle<()>,
    stop_indexer: CancellationToken,
    indexer_thread: std::thread::JoinHandle<()>,
    stop_fleet: CancellationToken,
    fleet_thread: std::thread::JoinHandle<()>,
}

/// The alert engine's task (a primary's only) and what stops it.
struct Engine {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The syslog listeners and the intake behind them.
struct Syslog {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// The addresses they listen on, for the lines scripts and tests read.
    bound: crate::syslog::Bound,
}

impl Round {
    /// Opens the WAL and the index and starts every part but HTTP, in order; returns the state
    /// HTTP serves from.
    async fn start(
        settings: &Settings,
        failover: FailoverState,
        shutdown: &CancellationToken,
        counters: Arc<crate::metrics::Counters>,
    ) -> anyhow::Result<(Round, AppState)> {
        let wal_dir = settings.data_dir.join("wal");
        let (wal, recovery) = open_wal(&wal_dir, settings)?;
        let (durable_lsn, first_lsn) = (wal.durable_lsn(), wal.first_lsn());
        let (catalog, index_lsn) = open_index(settings, durable_lsn, first_lsn)?;

        // The last fsynced LSN: set by the committer, followed by the indexer and status.
        let (durable_tx, durable_rx) = watch::channel(durable_lsn);
        // The last LSN searchable: set by the indexer after each commit.
        let (indexed_tx, indexed_rx) = watch::channel(index_lsn);
        let wal_stats = Arc::new(WalStats::default());
        let epochs = crate::wal::EpochHistory::default();
        let (committer, committer_thread) = Committer::start_with(
            wal,
            durable_tx,
            wal_stats.clone(),
            epochs.clone(),
            crate::wal::CommitterOptions {
                max_future: settings.index.max_future,
                rules_snapshot_lsn: crate::rules::snapshot::Snapshot::payload_lsn,
            },
        )?;
        let repl = Arc::new(Replication::new(
            settings.replication.clone(),
            settings.site.clone(),
            settings.data_dir.clone(),
            failover,
            epochs,
        ));
        // Written before anything reads the log or takes a request, so that the new epoch's
        // first record is its epoch record.
        begin_epoch(settings, failover, &repl, &committer).await?;
        let end = round_stop(shutdown, &repl);

        let (index_stats, stop_indexer, indexer_thread) = start_indexer(
            settings,
            catalog.clone(),
            index_lsn,
            &committer,
            (&wal_stats, &durable_rx, indexed_tx),
        )?;
        let fleet_saved = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (fleet, stop_fleet, fleet_thread) =
            start_fleet(settings, &committer, &durable_rx, fleet_saved.clone())?;
        let log = Log {
            committer_thread,
            stop_indexer,
            indexer_thread,
            stop_fleet,
            fleet_thread,
        };

        let primary = failover.role == Role::Primary;
        let (alerts, engine) =
            start_engine(settings, primary, &committer, &durable_rx, counters.clone());
        let mut role_tasks = start_role_tasks(
            settings,
            primary,
            &repl,
            &alerts,
            &committer,
            &durable_rx,
            retention_sources(
                settings,
                primary,
                &repl,
                &wal_stats,
                &indexed_rx,
                fleet_saved,
            ),
            &end,
        );
        let tasks = &mut role_tasks;
        let (cluster, alerts) =
            start_cluster(settings, &committer, alerts, &counters, tasks, &end).await?;

        let (auth, stop_auth) = start_auth(settings)?;
        let state = AppState {
            alerts,
            auth,
            committer,
            searcher: crate::cluster::scope::searcher(catalog, cluster.as_ref()),
            index_stats,
            limits: settings.limits.clone(),
            memory: crate::ingest::budget::MemoryBudget::new(settings.http.max_memory_bytes),
            tails: Arc::new(tokio::sync::Semaphore::new(settings.http.max_tail_streams)),
            body_timeout: settings.body_timeout,
            site: settings.site.clone(),
            durable: durable_rx,
            indexed: indexed_rx,
            wal_stats,
            corrupt_records: recovery.corrupt.len() as u64,
            fleet,
            shutdown: end.clone(),
            space: settings.space.clone(),
            data_dir: settings.data_dir.clone(),
            counters,
            replication: repl.clone(),
            cluster,
        };
        let syslog = start_syslog(settings, primary, &repl, &state, &end).await?;
        let round = Round {
            failover,
            repl,
            end,
            log,
            engine,
            role_tasks,
            stop_auth,
            syslog,
        };
        Ok((round, state))
    }

    /// The lines scripts and tests read to find the syslog ports and to know the collector is
    /// up, and the warning an open collector deserves.
    fn announce(&self, settings: &Settings, state: &AppState) {
        let bound = &self.syslog.bound;
        if let Some(a) = bound.udp {
            println!("logwarden-collector syslog udp on {a}");
        }
        if let Some(a) = bound.tcp {
            println!("logwarden-collector syslog tcp on {a}");
        }
        if let Some(a) = bound.tls {
            println!("logwarden-collector syslog tls on {a}");
        }
        println!("logwarden-collector ready");
        println!(
            "logwarden-collector role {} epoch {}",
            self.failover.role.as_str(),
            self.failover.epoch
        );
        std::io::Write::flush(&mut std::io::stdout()).ok();

        if state.auth.is_open() {
            tracing::warn!(
                tokens_file = %settings.tokens_file.display(),
                "no tokens configured: only clients on this machine (loopback) are served; add one with `logwarden-collector token add NAME`"
            );
        }
    }

    /// HTTP, the last part to start and the first to stop: until the round ends.
    async fn serve_http(
        &self,
        listener: TcpListener,
        settings: &Settings,
        state: AppState,
    ) -> anyhow::Result<()> {
        let tls = match &settings.tls {
            Some(files) => Some(files.acceptor(&[b"http/1.1"])?),
            None => None,
        };
        let counters = state.counters.clone();
        api::listener::serve(
            listener,
            api::app(state),
            tls,
            settings.http.clone(),
            counters,
            self.end.clone(),
        )
        .await;
        Ok(())
    }

    /// Once HTTP has stopped: the other parts in the reverse of their start, so that nothing
    /// accepted is left unwritten. Returns the replication state, which says what comes next.
    async fn stop(self) -> Arc<Replication> {
        // Syslog listeners stop, and the intake commits what it holds and lets go of the
        // committer.
        let mut syslog = self.syslog;
        syslog.stop.cancel();
        while syslog.tasks.join_next().await.is_some() {}
        self.stop_auth.cancel();
        // They end on `end`, which fired before HTTP ended; retention and a standby's
        // follower let go of their committer handles.
        let mut role_tasks = self.role_tasks;
        while role_tasks.join_next().await.is_some() {}
        // The engine drops its committer handle (deliveries in flight are abandoned: their
        // notification log entry was not written, so the restarted collector sends them again).
        self.engine.stop.cancel();
        if let Some(t) = self.engine.task {
            let _ = t.await;
        }
        self.log.stop().await;
        self.repl
    }
}

impl Log {
    /// Every handler (and so every committer handle) is gone: the committer drains and stops;
    /// then the indexer and the fleet view, which follow what it made durable up to its last
    /// record, save what they have. The readers start after the committer (they read its cache
    /// of recent events) and stop after it (nothing comes after its last record).
    async fn stop(self) {
        let committer_thread = self.committer_thread;
        tokio::task::spawn_blocking(move || committer_thread.join())
            .await
            .ok();
        self.stop_indexer.cancel();
        self.stop_fleet.cancel();
        let (indexer_thread, fleet_thread) = (self.indexer_thread, self.fleet_thread);
        tokio::task::spawn_blocking(move || {
            let _ = indexer_thread.join();
            let _ = fleet_thread.join();
        })
        .await
        .ok();
    }
}

fn open_wal(
    wal_dir: &std::path::Path,
    settings: &Settings,
) -> anyhow::Result<(Wal, crate::wal::Recovery)> {
    let (wal, recovery) = Wal::open(wal_dir, settings.wal.clone())
        .with_context(|| format!("opening the WAL in {}", wal_dir.display()))?;
    tracing::info!(
        last_lsn = recovery.last_lsn,
        corrupt = recovery.corrupt.len(),
        torn_tail = recovery.truncated_tail.is_some(),
        "WAL opened"
    );
    Ok((wal, recovery))
}

/// Opens the index, with what the WAL can still rebuild, and says how it stands against the
/// WAL. Returns the catalog and the LSN the index is complete through.
fn open_index(
    settings: &Settings,
    durable_lsn: u64,
    first_lsn: u64,
) -> anyhow::Result<(Arc<index::Catalog>, u64)> {
    let index_dir = settings.data_dir.join("index");
    // Once the WAL was trimmed (or while it is empty), it cannot rebuild a whole partition.
    let unusable = index::Unusable::for_wal(first_lsn, durable_lsn);
    let (catalog, index_lsn) = index::Catalog::open(&index_dir, unusable)
        .with_context(|| format!("opening the index in {}", index_dir.display()))?;
    if index_lsn > durable_lsn {
        tracing::warn!(
            index_lsn,
            wal_lsn = durable_lsn,
            "the index holds more than the WAL (WAL removed or damaged?): new events will be indexed once the WAL passes it"
        );
    }
    tracing::info!(
        index_lsn,
        partitions = catalog.all().len(),
        replay = durable_lsn.saturating_sub(index_lsn),
        "index opened"
    );
    if index_lsn + 1 < first_lsn {
        // Retention never trims what the index has not committed, so this is an index that was
        // removed, damaged or rebuilt for a new schema after the WAL was trimmed.
        tracing::warn!(
            index_lsn,
            wal_first_lsn = first_lsn,
            "the index needs the WAL from LSN {} but it starts at {first_lsn} (trimmed by [wal] keep_bytes): events of the records before are not indexed again",
            index_lsn + 1
        );
    }
    Ok((catalog, index_lsn))
}

/// The indexer thread, from where the index is complete through. Returns its counters, what
/// stops it and its thread.
fn start_indexer(
    settings: &Settings,
    catalog: Arc<index::Catalog>,
    index_lsn: u64,
    committer: &Committer,
    (wal_stats, durable, indexed): (&Arc<WalStats>, &watch::Receiver<u64>, watch::Sender<u64>),
) -> anyhow::Result<(
    Arc<index::IndexStats>,
    CancellationToken,
    std::thread::JoinHandle<()>,
)> {
    let stop = CancellationToken::new();
    let index_stats = Arc::new(index::IndexStats::default());
    let thread = index::start(
        catalog,
        index_lsn,
        settings.index.clone(),
        index_stats.clone(),
        settings.data_dir.join("wal"),
        durable.clone(),
        indexed,
        (committer.recent(), wal_stats.clone()),
        stop.clone(),
    )?;
    Ok((index_stats, stop, thread))
}

/// The fleet view, loaded from its last snapshot, and the thread that follows the WAL for it
/// and saves it (its saved LSN in `saved`, for retention).
fn start_fleet(
    settings: &Settings,
    committer: &Committer,
    durable: &watch::Receiver<u64>,
    saved: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<(
    fleet::SharedFleet,
    CancellationToken,
    std::thread::JoinHandle<()>,
)> {
    let fleet_path = settings.data_dir.join("fleet.json");
    let fleet = Arc::new(std::sync::RwLock::new(Fleet::load(&fleet_path)));
    let stop = CancellationToken::new();
    let thread = fleet::start(
        fleet.clone(),
        fleet_path,
        settings.data_dir.join("wal"),
        durable.clone(),
        committer.recent(),
        saved,
        stop.clone(),
    )
    .context("starting the fleet view")?;
    Ok((fleet, stop, thread))
}

/// A promotion: the new epoch begins here in the log, and the standby learns it from it.
async fn begin_epoch(
    settings: &Settings,
    failover: FailoverState,
    repl: &Replication,
    committer: &Committer,
) -> anyhow::Result<()> {
    if failover.role != Role::Primary || failover.epoch <= repl.log_epoch() {
        return Ok(());
    }
    let record = EpochRecord {
        epoch: failover.epoch,
        site: settings.site.clone(),
    };
    let lsn = committer
        .commit_record(RecordKind::Epoch, record.encode())
        .await
        .map_err(anyhow::Error::msg)
        .context("writing the epoch record")?;
    tracing::info!(epoch = failover.epoch, lsn, "epoch record written");
    Ok(())
}

/// The token that ends this round: on shutdown or on a role change.
fn round_stop(shutdown: &CancellationToken, repl: &Replication) -> CancellationToken {
    let round_stop = CancellationToken::new();
    let (stop, shutdown, restart) = (round_stop.clone(), shutdown.clone(), repl.restart.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => restart.cancel(),
            _ = restart.cancelled() => {}
        }
        stop.cancel();
    });
    round_stop
}

/// The rules engine follows the WAL like the indexer and writes alert state through the
/// committer; it holds a committer handle, so it must stop before the committer can drain.
/// Only a primary runs it: a standby's alert state is the primary's, copied with the WAL. In
/// cluster mode none does: the cluster's engine runs on its alert leader (cluster::leader).
fn start_engine(
    settings: &Settings,
    primary: bool,
    committer: &Committer,
    durable: &watch::Receiver<u64>,
    counters: Arc<crate::metrics::Counters>,
) -> (AlertsHandle, Engine) {
    let stop = CancellationToken::new();
    if !primary || settings.cluster.is_some() {
        return (AlertsHandle::none(), Engine { stop, task: None });
    }
    let (alerts, task) = crate::rules::engine::start(
        settings.alerts.clone(),
        committer.clone(),
        settings.data_dir.join("wal"),
        durable.clone(),
        stop.clone(),
        counters,
    );
    let engine = Engine {
        stop,
        task: Some(task),
    };
    (alerts, engine)
}

/// Cluster mode (docs/scale.md): ingest published to JetStream, partitions held indexed, and
/// the cluster's one alert engine on its alert leader, whose handle replaces `alerts`.
async fn start_cluster(
    settings: &Settings,
    committer: &Committer,
    alerts: AlertsHandle,
    counters: &Arc<crate::metrics::Counters>,
    tasks: &mut JoinSet<()>,
    end: &CancellationToken,
) -> anyhow::Result<(Option<Arc<crate::cluster::member::Member>>, AlertsHandle)> {
    let cluster = crate::cluster::start(&settings.cluster, committer, tasks, end).await?;
    let alerts = match &cluster {
        Some(member) => {
            let parts = (settings.alerts.clone(), counters.clone());
            crate::cluster::start_alerts(member, parts, committer, tasks, end)
        }
        None => alerts,
    };
    Ok((cluster, alerts))
}

/// What WAL retention asks before it trims: how far each reader of the log has got.
fn retention_sources(
    settings: &Settings,
    primary: bool,
    repl: &Arc<Replication>,
    wal_stats: &Arc<WalStats>,
    indexed: &watch::Receiver<u64>,
    fleet_saved: Arc<std::sync::atomic::AtomicU64>,
) -> crate::retention::Sources {
    crate::retention::Sources {
        stats: wal_stats.clone(),
        indexed: indexed.clone(),
        fleet_saved,
        replication: (primary && repl.settings.peer.is_some()).then(|| repl.clone()),
        data_dir: settings.data_dir.clone(),
        min_free_bytes: settings.space.min_free_bytes,
        rules_in_wal: settings.cluster.is_none(),
    }
}

/// A primary reports a degraded standby, watches its peer and keeps the witness's lease; a
/// standby follows the primary's WAL and takes over when the primary is gone. Both trim the
/// WAL. All of them end on `end` (retention) or on the replication restart that fires it.
#[allow(clippy::too_many_arguments)]
fn start_role_tasks(
    settings: &Settings,
    primary: bool,
    repl: &Arc<Replication>,
    alerts: &AlertsHandle,
    committer: &Committer,
    durable: &watch::Receiver<u64>,
    retention: crate::retention::Sources,
    end: &CancellationToken,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    if primary {
        tasks.spawn(crate::replication::report_degraded(
            repl.clone(),
            alerts.clone(),
        ));
        tasks.spawn(crate::replication::handover::watch_peer(repl.clone()));
        tasks.spawn(crate::replication::witness::keep_lease(repl.clone()));
    } else {
        tasks.spawn(crate::replication::follow::run(
            repl.clone(),
            committer.clone(),
            durable.clone(),
        ));
        tasks.spawn(crate::replication::witness::take_over_when_primary_gone(
            repl.clone(),
        ));
    }
    tasks.spawn(crate::retention::run(
        committer.clone(),
        retention,
        settings.wal_keep_bytes,
        end.clone(),
    ));
    tasks
}

/// The tokens, and a watcher that re-reads the tokens file: a revoked token stops working
/// within a second, without a restart.
fn start_auth(settings: &Settings) -> anyhow::Result<(Arc<Auth>, CancellationToken)> {
    let auth = Arc::new(
        Auth::new(&settings.tokens, Some(settings.tokens_file.clone())).with_context(|| {
            format!("reading the tokens file {}", settings.tokens_file.display())
        })?,
    );
    let stop = CancellationToken::new();
    auth.clone()
        .watch(std::time::Duration::from_secs(1), stop.clone());
    Ok((auth, stop))
}

/// The syslog listeners. Syslog senders cannot be redirected: a standby takes their messages
/// and passes them on to the primary (docs/failover.md). In cluster mode they go to the stream
/// (`syslog/cluster.rs`).
async fn start_syslog(
    settings: &Settings,
    primary: bool,
    repl: &Replication,
    state: &AppState,
    round_stop: &CancellationToken,
) -> anyhow::Result<Syslog> {
    let stop = CancellationToken::new();
    let room = crate::syslog::intake::Room {
        limits: settings.space.clone(),
        wal_stats: state.wal_stats.clone(),
        data_dir: settings.data_dir.clone(),
        counters: state.counters.clone(),
    };
    let sink = match (&state.cluster, primary, repl.settings.peer.as_ref()) {
        // Cluster mode (no peer there): into the stream, like agents' batches.
        (Some(member), _, _) => crate::syslog::forward::Sink::Cluster(
            crate::syslog::cluster::Publisher::new(member.clone(), round_stop.clone()),
        ),
        (None, false, Some(peer)) => crate::syslog::forward::Sink::Primary(
            crate::syslog::forward::Forwarder::new(
                peer,
                repl.settings.token.clone(),
                round_stop.clone(),
            )
            .map_err(anyhow::Error::msg)
            .context("syslog forwarding to the primary")?,
        ),
        _ => crate::syslog::forward::Sink::Wal(state.committer.clone()),
    };
    let (bound, tasks) =
        crate::syslog::start(&settings.syslog, sink, room, &settings.site, stop.clone()).await?;
    Ok(Syslog { stop, tasks, bound })
}
