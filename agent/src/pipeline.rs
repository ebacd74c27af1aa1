//! The agent's main job: wires the sources to the shipper and runs until told to stop.
//!
//! ```text
//! tailer thread --Item--> batcher task --Batch--> shipper task --acked origins--> checkpoints
//!  (blocking reads)   (gives agent_id:seq,      (POST /api/v1/ingest,
//!                      groups by size/time)       retries until acked)
//! ```
//! Both channels are bounded: when the collector is away the batch queue fills, the batcher
//! waits, the tailer waits, and unread data stays in the files. Nothing read is dropped.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::draft::Draft;
use crate::identity;
use crate::ship::{Batcher, Shipper};
use crate::tail::{FileKey, Tailer, checkpoint::Checkpoints};

/// What a source hands to the pipeline.
#[derive(Debug)]
pub struct Item {
    pub draft: Draft,
    /// For a file line: where it ends, so that its checkpoint can move once it is acked.
    pub origin: Option<Origin>,
}

#[derive(Debug, Clone)]
pub struct Origin {
    pub file: FileKey,
    pub path: PathBuf,
    pub end: u64,
}

/// Runs the agent until `shutdown` fires, then drains what it can within `drain` and saves
/// checkpoints.
pub async fn run(
    settings: Settings,
    shutdown: CancellationToken,
    drain: std::time::Duration,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let agent_id = identity::agent_id(&settings.data_dir, &settings.host)?;
    let seqs = identity::seq_allocator(&settings.data_dir)?;
    let checkpoints = Checkpoints::load(&settings.data_dir)?;
    tracing::info!(agent_id, host = settings.host, site = settings.site,
        collectors = ?settings.collectors.iter().map(|u| u.as_str()).collect::<Vec<_>>(), "agent starting");

    // Lines from the tailer; closed when the tailer thread returns.
    let (item_tx, item_rx) = mpsc::channel::<Item>(8192);
    // Finished batches waiting to be shipped: the bounded in-memory queue.
    let (batch_tx, batch_rx) = mpsc::channel(settings.queue_batches);

    // The tailer stops on `stop_reading`; the batcher and shipper stop when their input closes,
    // or on `give_up` once the drain time has passed.
    let stop_reading = CancellationToken::new();
    let give_up = CancellationToken::new();

    let item_tx_heartbeat = item_tx.clone();
    let item_tx_probes = item_tx.clone();
    let tailer = Tailer::new(&settings.files, Checkpoints::load(&settings.data_dir)?);
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

    let probes = if settings.health.enabled {
        Some(
            crate::health::spawn_probes(&settings.health, item_tx_probes, stop_reading.clone())
                .context("starting the health probes")?,
        )
    } else {
        drop(item_tx_probes);
        None
    };

    let batcher = Batcher::new(&settings, agent_id, seqs);
    let mut batch_task = tokio::spawn(batcher.run(item_rx, batch_tx));

    let checkpoints = Arc::new(Mutex::new(checkpoints));
    let shipper = Shipper::new(&settings)?;
    let ship_task = tokio::spawn(shipper.run(batch_rx, checkpoints.clone(), give_up.clone()));

    tokio::select! {
        _ = shutdown.cancelled() => {}
        // The batcher only ends early when it can no longer number events safely.
        res = &mut batch_task => {
            stop_reading.cancel();
            give_up.cancel();
            checkpoints.lock().await.save()?;
            return match res {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(anyhow::anyhow!("batcher stopped unexpectedly")),
                Err(e) => Err(anyhow::anyhow!("batcher task failed: {e}")),
            };
        }
    }
    tracing::info!("stopping: no more reading; shipping what was read");
    stop_reading.cancel();
    let drained = async {
        let _ = tokio::task::spawn_blocking(move || {
            let _ = tail_thread.join();
            if let Some(p) = probes {
                p.join();
            }
        })
        .await;
        let batched = batch_task.await;
        let shipped = ship_task.await;
        (batched, shipped)
    };
    let mut drained = std::pin::pin!(drained);
    let results = tokio::select! {
        r = &mut drained => Some(r),
        _ = tokio::time::sleep(drain) => None,
    };
    if results.is_none() {
        tracing::warn!(
            ?drain,
            "collector did not take everything in time; the rest is re-read from the files at next start"
        );
        give_up.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drained).await;
    } else if let Some((batched, _)) = results
        && let Ok(Err(e)) = batched
    {
        tracing::error!(error = %format!("{e:#}"), "batcher failed");
    }
    checkpoints.lock().await.save()?;
    tracing::info!("agent stopped");
    Ok(())
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
