//! Putting the collector together: open the WAL and the index, start the committer and the
//! indexer, serve the API until shutdown, then stop each part in order so that nothing accepted
//! is left unwritten.

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
use crate::search::Searcher;
use crate::wal::Wal;

/// Runs the collector on an already-bound listener until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let wal_dir = settings.data_dir.join("wal");
    let (wal, recovery) = Wal::open(&wal_dir, settings.wal.clone())
        .with_context(|| format!("opening the WAL in {}", wal_dir.display()))?;
    tracing::info!(
        last_lsn = recovery.last_lsn,
        corrupt = recovery.corrupt.len(),
        torn_tail = recovery.truncated_tail.is_some(),
        "WAL opened"
    );
    let durable_lsn = wal.durable_lsn();

    let index_dir = settings.data_dir.join("index");
    let opened = index::open(&index_dir)?;
    if opened.lsn > durable_lsn {
        tracing::warn!(
            index_lsn = opened.lsn,
            wal_lsn = durable_lsn,
            "the index holds more than the WAL (WAL removed or damaged?): new events will be indexed once the WAL passes it"
        );
    }
    tracing::info!(
        index_lsn = opened.lsn,
        replay = durable_lsn.saturating_sub(opened.lsn),
        "index opened"
    );

    // The last fsynced LSN: set by the committer, followed by the indexer and status.
    let (durable_tx, durable_rx) = watch::channel(durable_lsn);
    // The last LSN searchable: set by the indexer after each commit.
    let (indexed_tx, indexed_rx) = watch::channel(opened.lsn);
    let wal_stats = Arc::new(WalStats::default());
    let (committer, committer_thread) = Committer::start(wal, durable_tx, wal_stats.clone())?;

    let stop_indexer = CancellationToken::new();
    let indexer_thread = index::start(
        &opened,
        wal_dir.clone(),
        durable_rx.clone(),
        indexed_tx,
        stop_indexer.clone(),
    )?;

    let fleet_path = settings.data_dir.join("fleet.json");
    let fleet = Arc::new(std::sync::RwLock::new(Fleet::load(&fleet_path)));
    let stop_fleet = CancellationToken::new();
    let fleet_thread = fleet::start(
        fleet.clone(),
        fleet_path,
        settings.data_dir.join("wal"),
        durable_rx.clone(),
        stop_fleet.clone(),
    )
    .context("starting the fleet view")?;
    // The rules engine follows the WAL like the indexer and writes alert state through the
    // committer; it holds a committer handle, so it must stop before the committer can drain.
    let stop_engine = CancellationToken::new();
    let (alerts, engine_task) = crate::rules::engine::start(
        settings.alerts.clone(),
        committer.clone(),
        settings.data_dir.join("wal"),
        durable_rx.clone(),
        stop_engine.clone(),
    );

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
        searcher: Searcher::new(&opened.index, opened.reader.clone(), opened.fields.clone()),
        limits: settings.limits.clone(),
        body_timeout: settings.body_timeout,
        site: settings.site.clone(),
        durable: durable_rx,
        indexed: indexed_rx,
        wal_stats,
        corrupt_records: recovery.corrupt.len() as u64,
        fleet,
        shutdown: shutdown.clone(),
        space: settings.space.clone(),
        data_dir: settings.data_dir.clone(),
        counters: Arc::new(crate::metrics::Counters::default()),
    };
    let stop_syslog = CancellationToken::new();
    let room = crate::syslog::intake::Room {
        limits: settings.space.clone(),
        wal_stats: state.wal_stats.clone(),
        data_dir: settings.data_dir.clone(),
        counters: state.counters.clone(),
    };
    let (bound, mut syslog_tasks) = crate::syslog::start(
        &settings.syslog,
        state.committer.clone(),
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
    println!("logwarden-collector ready");
    std::io::Write::flush(&mut std::io::stdout()).ok();

    if auth.is_open() {
        tracing::warn!(
            tokens_file = %settings.tokens_file.display(),
            "no tokens configured: only clients on this machine (loopback) are served; add one with `logwarden-collector token add NAME`"
        );
    }
    let counters = state.counters.clone();
    api::listener::serve(
        listener,
        api::app(state),
        settings.http.clone(),
        counters,
        shutdown,
    )
    .await;
    stop_auth.cancel();

    // Syslog listeners stop, and the intake commits what it holds and lets go of the committer.
    stop_syslog.cancel();
    while syslog_tasks.join_next().await.is_some() {}
    // The engine drops its committer handle (deliveries in flight are abandoned: their
    // notification log entry was not written, so the restarted collector sends them again).
    stop_engine.cancel();
    let _ = engine_task.await;
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
    tracing::info!("collector stopped");
    Ok(())
}
