//! The batcher: gives every draft its identity and groups events into batches by count, bytes
//! and time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use logwarden_core::EventId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Settings;
use crate::identity::SeqAllocator;
use crate::pipeline::Item;
use crate::tail::FileKey;

/// Events ready to ship, and what acknowledging them means for the checkpoints.
#[derive(Debug, Default)]
pub struct Batch {
    /// NDJSON, one event per line, uncompressed.
    pub body: Vec<u8>,
    pub events: usize,
    /// For each file with lines in the batch: its path and the offset after the last one.
    pub origins: HashMap<FileKey, (PathBuf, u64)>,
}

pub struct Batcher {
    agent_id: String,
    host: String,
    site: String,
    seqs: SeqAllocator,
    max_events: usize,
    max_bytes: usize,
    max_wait: Duration,
}

impl Batcher {
    pub fn new(settings: &Settings, agent_id: String, seqs: SeqAllocator) -> Batcher {
        Batcher {
            agent_id,
            host: settings.host.clone(),
            site: settings.site.clone(),
            seqs,
            max_events: settings.max_events,
            max_bytes: settings.max_bytes,
            max_wait: settings.max_wait,
        }
    }

    /// Runs until `items` closes, then sends the last partial batch. Fails only if the seq
    /// lease cannot be saved (the agent cannot number events safely any more).
    pub async fn run(
        mut self,
        mut items: mpsc::Receiver<Item>,
        batches: mpsc::Sender<Batch>,
    ) -> anyhow::Result<()> {
        let mut batch = Batch::default();
        let mut deadline: Option<Instant> = None;
        loop {
            let item = match deadline {
                None => items.recv().await,
                Some(d) => match tokio::time::timeout_at(d, items.recv()).await {
                    Ok(item) => item,
                    Err(_) => {
                        // The oldest event has waited long enough.
                        deadline = None;
                        if batches.send(std::mem::take(&mut batch)).await.is_err() {
                            return Ok(());
                        }
                        continue;
                    }
                },
            };
            let Some(item) = item else { break };
            self.add(&mut batch, item)?;
            if batch.events == 1 {
                deadline = Some(Instant::now() + self.max_wait);
            }
            if batch.events >= self.max_events || batch.body.len() >= self.max_bytes {
                deadline = None;
                if batches.send(std::mem::take(&mut batch)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if batch.events > 0 {
            let _ = batches.send(batch).await;
        }
        Ok(())
    }

    fn add(&mut self, batch: &mut Batch, item: Item) -> anyhow::Result<()> {
        let id = EventId::new(self.agent_id.as_str(), self.seqs.allocate()?);
        let event = item
            .draft
            .into_event(id, &self.host, &self.site, Utc::now());
        serde_json::to_writer(&mut batch.body, &event).expect("an event always serializes");
        batch.body.push(b'\n');
        batch.events += 1;
        if let Some(o) = item.origin {
            batch.origins.insert(o.file, (o.path, o.end));
        }
        Ok(())
    }
}
