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
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::config::Settings;
use crate::fleet::{self, Fleet};
use crate::index;
use crate::ingest::Committer;
use crate::ingest::commit::WalStats;
use crate::replication::state::FailoverState;
use crate::replication::{EpochRecord, Next, Replication, Role};
use crate::rules::AlertsHandle;
use crate::search::Searcher;
use crate::wal::{RecordKind, Wal};

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
    tracing::info!(
        role = failover.role.as_str(),
        epoch = failover.epoch,
        "starting"
    );
    let wal_dir = settings.data_dir.join("wal");
    let (wal, recovery) = Wal::open(&wal_dir, settings.wal.clone())
        .with_context(|| format!("opening the WAL in {}", wal_dir.display()))?;
    tracing::info!(
        last_lsn = recovery.last_lsn,
        corrupt = recovery.corrupt.len(),
        torn_tail = recovery.truncated_tail.is_some(),
        "WAL opened"
    );
    let (durable_lsn, first_lsn) = (wal.durable_lsn(), wal.first_lsn());

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

    // The last fsynced LSN: set by the committer, followed by the indexer and status.
    let (durable_tx, durable_rx) = watch::channel(durable_lsn);
    // The last LSN searchable: set by the indexer after each commit.
    let (indexed_tx, indexed_rx) = watch::channel(index_lsn);
    let wal_stats = Arc::new(WalStats::default());
    let epochs = crate::ingest::commit::EpochHistory::default();
    let (committer, committer_thread) = Committer::start_with(
        wal,
        durable_tx,
        wal_stats.clone(),
        epochs.clone(),
        settings.index.max_future,
    )?;
    let repl = Arc::new(Replication::new(
        settings.replication.clone(),
        settings.site.clone(),
        settings.data_dir.clone(),
        failover,
        epochs,
    ));
    let primary = failover.role == Role::Primary;
    if primary && failover.epoch > repl.log_epoch() {
        // A promotion: the new epoch begins here in the log, and the standby learns it from it.
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
    }
    // This round ends on shutdown or on a role change.
    let round_stop = CancellationToken::new();
    {
        let (round_stop, shutdown, restart) =
            (round_stop.clone(), shutdown.clone(), repl.restart.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => restart.cancel(),
                _ = restart.cancelled() => {}
            }
            round_stop.cancel();
        });
    }

    let stop_indexer = CancellationToken::new();
    let index_stats = Arc::new(index::IndexStats::default());
    let indexer_thread = index::start(
        catalog.clone(),
        index_lsn,
        settings.index.clone(),
        index_stats.clone(),
        wal_dir.clone(),
        durable_rx.clone(),
        indexed_tx,
        (committer.recent(), wal_stats.clone()),
        stop_indexer.clone(),
    )?;

    let fleet_path = settings.data_dir.join("fleet.json");
    let fleet = Arc::new(std::sync::RwLock::new(Fleet::load(&fleet_path)));
    let stop_fleet = CancellationToken::new();
    let fleet_saved = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let fleet_thread = fleet::start(
        fleet.clone(),
        fleet_path,
        settings.data_dir.join("wal"),
        durable_rx.clone(),
        committer.recent(),
        fleet_saved.clone(),
        stop_fleet.clone(),
    )
    .context("starting the fleet view")?;
    // The rules engine follows the WAL like the indexer and writes alert state through the
    // committer; it holds a committer handle, so it must stop before the committer can drain.
    // Only a primary runs it: a standby's alert state is the primary's, copied with the WAL.
    let stop_engine = CancellationToken::new();
    let (alerts, engine_task) = if primary {
        let (h, t) = crate::rules::engine::start(
            settings.alerts.clone(),
            committer.clone(),
            settings.data_dir.join("wal"),
            durable_rx.clone(),
            stop_engine.clone(),
            counters.clone(),
        );
        (h, Some(t))
    } else {
        (AlertsHandle::none(), None)
    };
    let mut role_tasks = tokio::task::JoinSet::new();
    if primary {
        role_tasks.spawn(crate::replication::report_degraded(
            repl.clone(),
            alerts.clone(),
        ));
        role_tasks.spawn(crate::replication::handover::watch_peer(repl.clone()));
        role_tasks.spawn(crate::replication::witness::keep_lease(repl.clone()));
    } else {
        role_tasks.spawn(crate::replication::follow::run(
            repl.clone(),
            committer.clone(),
            durable_rx.clone(),
        ));
        role_tasks.spawn(crate::replication::witness::take_over_when_primary_gone(
            repl.clone(),
        ));
    }
    role_tasks.spawn(crate::ingest::retention::run(
        committer.clone(),
        crate::ingest::retention::Sources {
            stats: wal_stats.clone(),
            indexed: indexed_rx.clone(),
            fleet_saved,
            replication: (primary && repl.settings.peer.is_some()).then(|| repl.clone()),
            data_dir: settings.data_dir.clone(),
            min_free_bytes: settings.space.min_free_bytes,
        },
        settings.wal_keep_bytes,
        round_stop.clone(),
    ));

    // Cluster mode (docs/scale.md): ingest published to JetStream, the partitions held indexed.
    let cluster =
        crate::cluster::start(&settings.cluster, &committer, &mut role_tasks, &round_stop).await?;
    let auth = Arc::new(
        Auth::new(&settings.tokens, Some(settings.tokens_file.clone())).with_context(|| {
            format!("reading the tokens file {}", settings.tokens_file.display())
        })?,
    );
    // A revoked token stops working within this long, without a restart.
    let stop_auth = CancellationToken::new();
    auth.clone()
        .watch(std::time::Duration::from_secs(1), stop_auth.clone());
    let state = AppState {
        alerts,
        auth: auth.clone(),
        committer,
        searcher: Searcher::new(catalog),
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
        shutdown: round_stop.clone(),
        space: settings.space.clone(),
        data_dir: settings.data_dir.clone(),
        counters,
        replication: repl.clone(),
        cluster,
    };
    let stop_syslog = CancellationToken::new();
    let room = crate::syslog::intake::Room {
        limits: settings.space.clone(),
        wal_stats: state.wal_stats.clone(),
        data_dir: settings.data_dir.clone(),
        counters: state.counters.clone(),
    };
    // Syslog senders cannot be redirected: a standby takes their messages and passes them on
    // to the primary (docs/failover.md).
    let sink = match (primary, repl.settings.peer.as_ref()) {
        (false, Some(peer)) => crate::syslog::forward::Sink::Primary(
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
    let (bound, mut syslog_tasks) = crate::syslog::start(
        &settings.syslog,
        sink,
        room,
        &settings.site,
        stop_syslog.clone(),
    )
    .await?;
    // Scripts and tests read these lines to find the ports and to know the collector is up.
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
        failover.role.as_str(),
        failover.epoch
    );
    std::io::Write::flush(&mut std::io::stdout()).ok();

    if auth.is_open() {
        tracing::warn!(
            tokens_file = %settings.tokens_file.display(),
            "no tokens configured: only clients on this machine (loopback) are served; add one with `logwarden-collector token add NAME`"
        );
    }
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
        round_stop.clone(),
    )
    .await;
    stop_auth.cancel();

    while role_tasks.join_next().await.is_some() {}
    // Syslog listeners stop, and the intake commits what it holds and lets go of the committer.
    stop_syslog.cancel();
    while syslog_tasks.join_next().await.is_some() {}
    // The engine drops its committer handle (deliveries in flight are abandoned: their
    // notification log entry was not written, so the restarted collector sends them again).
    stop_engine.cancel();
    if let Some(t) = engine_task {
        let _ = t.await;
    }
    // Every handler (and so every committer handle) is gone: the committer drains and stops.
    tokio::task::spawn_blocking(move || committer_thread.join())
        .await
        .ok();
    stop_indexer.cancel();
    stop_fleet.cancel();
    tokio::task::spawn_blocking(move || {
        let _ = indexer_thread.join();
        let _ = fleet_thread.join();
    })
    .await
    .ok();
    if shutdown.is_cancelled() {
        tracing::info!("collector stopped");
        return Ok(None);
    }
    Ok(repl.next())
}
