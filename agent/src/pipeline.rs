//! The agent's main job: wires the sources to the spool and the spool to the shipper, and
//! runs until told to stop.
//!
//! ```text
//! tailer thread --Item--> feed thread ---------> disk spool ---------> shipper task --acks--> checkpoints
//! health probes           (agent_id:seq,          (segments,           (POST /api/v1/ingest,     + spool
//! heartbeats               encode, fsync a group)  CRC per record)      retries until acked)      release
//! ```
//! The item channel is bounded: when the spool is full (`block`) or its disk is, the feed
//! thread waits, the tailer waits, and unread data stays in the files. Nothing read is dropped:
//! what was spooled survives any crash with its seq, what was not is read again.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::draft::Draft;
use crate::identity;
use crate::ship::Shipper;
use crate::source::fingerprint::Fingerprint;
use crate::source::{FileKey, Item};
use crate::spool::feed::Feed;
use crate::spool::{Limits, Spool};
use crate::tail::{Known, Tailer, checkpoint::Checkpoints};

/// Records queued between the sources and the spool writer. The queue is full whenever the
/// tailer is ahead of the spool, and a queued record holds its parsed draft (about 650 bytes
/// for a 128-byte line): 4,096 is 2.6 MiB less peak memory than 8,192, and still far more than
/// the tailer reads while one fsync group is written (issue 25).
const ITEM_QUEUE: usize = 4096;

/// Runs the agent until `shutdown` fires, then ships what it can within `drain` (the rest
/// stays in the spool for the next start) and saves checkpoints.
/// New file lists from config reloads come on `file_lists` (`reload.rs`).
pub async fn run(
    settings: Settings,
    shutdown: CancellationToken,
    drain: std::time::Duration,
    file_lists: std::sync::mpsc::Receiver<Vec<crate::tail::settings::FileRule>>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let agent_id = identity::agent_id(&settings.data_dir, &settings.host)?;
    let seqs = identity::seq_allocator(&settings.data_dir)?;
    let checkpoints = Checkpoints::load(&settings.data_dir)?;
    let spool = Spool::open(&settings.spool, checkpoints.spool_position())
        .with_context(|| format!("opening the spool in {}", settings.spool.dir.display()))?;
    tracing::info!(agent_id, host = settings.host, site = settings.site,
        collectors = ?settings.collectors.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        spooled = spool.pending, torn = spool.stats.torn, damaged = spool.stats.damaged,
        "agent starting");
    let (journal_cursors, known): (Vec<Known>, Vec<Known>) =
        resume_points(&checkpoints, &spool.resume)
            .into_iter()
            .partition(|k| k.key.dev == crate::source::JOURNAL_DEV);
    let metrics = Arc::new(crate::observe::metrics::AgentMetrics::default());
    metrics
        .recovered
        .store(spool.pending, std::sync::atomic::Ordering::Relaxed);
    metrics.set_spool(spool.reader.usage_handle());
    let Spool { writer, reader, .. } = spool;

    // Records from the sources; closed when the tailer, the heartbeats and the probes are done.
    let (item_tx, item_rx) = mpsc::channel::<Item>(ITEM_QUEUE);

    // The sources stop on `stop_reading`; the feed stops when its input closes; the shipper
    // when the spool is read, or on `give_up` once the drain time has passed.
    let stop_reading = CancellationToken::new();
    let give_up = CancellationToken::new();

    spawn_journals(
        &settings.journald,
        &journal_cursors,
        &item_tx,
        &stop_reading,
    );
    let item_tx_heartbeat = item_tx.clone();
    let item_tx_probes = item_tx.clone();
    let checkpoints = Arc::new(Mutex::new(checkpoints));
    let tailer = Tailer::new(settings.tail.clone(), known)
        .with_metrics(metrics.clone())
        .with_checkpoints(checkpoints.clone())
        .with_reloads(file_lists);
    let tail_cancel = stop_reading.clone();
    let tail_thread = std::thread::Builder::new()
        .name("tailer".into())
        .spawn(move || tailer.run(item_tx, tail_cancel))
        .context("starting the tailer thread")?;

    tokio::spawn(heartbeats(
        item_tx_heartbeat,
        settings.heartbeat,
        agent_id.clone(),
        settings.files.len(),
        stop_reading.clone(),
    ));

    let probes = start_probes(&settings.health, item_tx_probes, &stop_reading, &metrics)?;

    let who = crate::observe::Identity {
        agent_id: agent_id.clone(),
        host: settings.host.clone(),
        site: settings.site.clone(),
        spool_max_bytes: settings.spool.max_bytes,
    };
    let feed = Feed {
        metrics: metrics.clone(),
        agent_id,
        host: settings.host.clone(),
        site: settings.site.clone(),
        seqs,
        writer,
    };
    let feed_cancel = stop_reading.clone();
    let feed_thread = std::thread::Builder::new()
        .name("spool-writer".into())
        .spawn(move || feed.run(item_rx, feed_cancel))
        .context("starting the spool writer thread")?;

    let shipper = Shipper::new(&settings)?.with_metrics(metrics.clone());
    // The listener is bound before shipping starts, so a wrong address stops the start.
    let stop_listener = CancellationToken::new();
    let observed = crate::observe::Observed {
        metrics: metrics.clone(),
        who: Arc::new(who),
        checkpoints: checkpoints.clone(),
    };
    let listener_task = serve_observed(settings.metrics_listen, observed, &stop_listener).await?;
    let limits = Limits {
        max_events: settings.max_events,
        max_bytes: settings.max_bytes,
        max_wait: settings.max_wait,
    };
    let ship_task = tokio::spawn(shipper.run(
        reader,
        limits,
        checkpoints.clone(),
        stop_reading.clone(),
        give_up.clone(),
    ));

    shutdown.cancelled().await;
    tracing::info!("stopping: no more reading; shipping what was spooled");
    stop_reading.cancel();
    drain_within(drain, tail_thread, probes, feed_thread, ship_task, &give_up).await;
    stop_listener.cancel();
    if let Some(t) = listener_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), t).await;
    }
    checkpoints.lock().await.save()?;
    tracing::info!("agent stopped");
    Ok(())
}

/// Starts a reader for each `[[journald]]` source, from its saved cursor.
fn spawn_journals(
    sources: &[crate::journald::JournalSource],
    journal_cursors: &[Known],
    item_tx: &mpsc::Sender<Item>,
    stop_reading: &CancellationToken,
) {
    for src in sources {
        let key = crate::journald::source_key(src);
        let cursor = journal_cursors
            .iter()
            .find(|k| k.key == key)
            .map(|k| k.path.to_string_lossy().into_owned());
        tokio::spawn(crate::journald::run(
            src.clone(),
            cursor,
            item_tx.clone(),
            stop_reading.clone(),
        ));
    }
}

/// Starts the health probes when `[health]` is enabled (else lets their sender go, so that the
/// item channel can close).
fn start_probes(
    health: &crate::health::HealthConfig,
    item_tx_probes: mpsc::Sender<Item>,
    stop_reading: &CancellationToken,
    metrics: &Arc<crate::observe::metrics::AgentMetrics>,
) -> anyhow::Result<Option<crate::health::Probes>> {
    Ok(if health.enabled {
        Some(
            crate::health::spawn_counted_probes(
                health,
                item_tx_probes,
                stop_reading.clone(),
                metrics.clone(),
            )
            .context("starting the health probes")?,
        )
    } else {
        drop(item_tx_probes);
        None
    })
}

/// Binds `[metrics] listen` (when set) and serves `/metrics` and `/status` on it until
/// `stop_listener`.
async fn serve_observed(
    listen: Option<std::net::SocketAddr>,
    observed: crate::observe::Observed,
    stop_listener: &CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    Ok(match listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener on {addr}"))?;
            let bound = listener.local_addr().context("metrics listener address")?;
            tracing::info!(%bound, "serving /metrics and /status");
            // Scripts and tests read this line to find the port.
            println!("logwarden-agent metrics on {bound}");
            Some(tokio::spawn(crate::observe::listener::serve(
                listener,
                observed,
                stop_listener.clone(),
            )))
        }
        None => None,
    })
}

/// Once reading has stopped: waits up to `drain` for the tailer, the probes and the feed to
/// finish and the shipper to ship what was spooled; past it, tells the shipper to give up (the
/// rest is sent from the spool at the next start).
async fn drain_within(
    drain: std::time::Duration,
    tail_thread: std::thread::JoinHandle<()>,
    probes: Option<crate::health::Probes>,
    feed_thread: std::thread::JoinHandle<()>,
    ship_task: tokio::task::JoinHandle<()>,
    give_up: &CancellationToken,
) {
    let drained = async {
        let _ = tokio::task::spawn_blocking(move || {
            let _ = tail_thread.join();
            if let Some(p) = probes {
                p.join();
            }
            let _ = feed_thread.join();
        })
        .await;
        ship_task.await
    };
    let mut drained = std::pin::pin!(drained);
    let results = tokio::select! {
        r = &mut drained => Some(r),
        _ = tokio::time::sleep(drain) => None,
    };
    if results.is_none() {
        tracing::warn!(
            ?drain,
            "collector did not take everything in time; the rest is sent from the spool at next start"
        );
        give_up.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drained).await;
    }
}

/// Where each known content resumes: the later of its acknowledged offset and the end of its
/// last spooled line, per inode and content.
pub fn resume_points(
    checkpoints: &Checkpoints,
    spooled: &HashMap<(FileKey, Fingerprint), crate::spool::Spooled>,
) -> Vec<Known> {
    let mut known: HashMap<(FileKey, Fingerprint), Known> = checkpoints
        .entries()
        .map(|(k, a)| {
            (
                (*k, a.fp),
                Known {
                    key: *k,
                    fp: a.fp,
                    offset: a.offset,
                    path: a.path.clone(),
                },
            )
        })
        .collect();
    for (&(k, fp), s) in spooled {
        let e = known.entry((k, fp)).or_insert_with(|| Known {
            key: k,
            fp,
            offset: 0,
            path: s.path.clone(),
        });
        e.offset = e.offset.max(s.end);
        // The spool's last record is newer than the acknowledged one: its path (a journal
        // source's cursor) is where reading resumes.
        e.path.clone_from(&s.path);
    }
    known.into_values().collect()
}

/// Sends a heartbeat at start and every `every` until `stop`: the collector's proof that this
/// agent is alive (and the `AgentSilent` alert's input).
async fn heartbeats(
    tx: mpsc::Sender<Item>,
    every: std::time::Duration,
    agent_id: String,
    globs: usize,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let mut draft = Draft::plain("agent", format!("agent {agent_id} alive"));
        draft.kind = logwarden_core::Kind::Heartbeat;
        draft.app = "logwarden-agent".into();
        draft
            .fields
            .insert("version".into(), env!("CARGO_PKG_VERSION").into());
        draft
            .fields
            .insert("interval_s".into(), every.as_secs().into());
        draft.fields.insert("file_globs".into(), globs.into());
        if tx
            .send(Item {
                draft,
                origin: None,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}
