//! The search index: a tantivy index fed from the WAL.
//!
//! The indexer thread follows the WAL up to its durable LSN, adds each event as a document and
//! commits at most every [`COMMIT_EVERY`] while there is something new, so that an acknowledged
//! event is searchable well within a second. Each commit carries, in its payload, the schema
//! version and the last LSN it holds; the commit and that LSN are atomic, so after a crash the
//! indexer replays exactly the WAL records after it: no event is indexed twice or missed.

pub mod schema;

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logwarden_core::Event;
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::wal::{RecordKind, WalReader};
pub use schema::Fields;

/// The longest an indexed event waits for its commit (searchable within 1 s of the ack).
pub const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// Memory for the tantivy writer: bounds indexing memory whatever the load.
const WRITER_MEMORY: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index at {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("index at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What each commit records (as JSON in tantivy's commit payload).
#[derive(Debug, Serialize, Deserialize)]
struct CommitPayload {
    schema: u32,
    lsn: u64,
}

/// An open index, its reader, and the WAL position it holds.
pub struct OpenIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    pub dir: PathBuf,
    /// The last WAL LSN whose events are in the index.
    pub lsn: u64,
}

/// Opens the index in `dir`, or makes a new one; an index of another schema version (or one
/// that cannot be opened) is set aside and rebuilt from the WAL.
pub fn open(dir: &Path) -> Result<OpenIndex, IndexError> {
    let (schema, fields) = schema::build();
    let tantivy_err = |source| IndexError::Tantivy {
        path: dir.to_owned(),
        source,
    };
    let io_err = |source| IndexError::Io {
        path: dir.to_owned(),
        source,
    };
    let existing = if dir.join("meta.json").exists() {
        match Index::open_in_dir(dir) {
            Ok(index) => {
                let payload = index.load_metas().ok().and_then(|m| m.payload);
                let parsed = payload
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<CommitPayload>(p).ok());
                match parsed {
                    Some(p) if p.schema == schema::SCHEMA_VERSION && index.schema() == schema => {
                        Some((index, p.lsn))
                    }
                    Some(p) if p.schema != schema::SCHEMA_VERSION => {
                        tracing::warn!(
                            found = p.schema,
                            want = schema::SCHEMA_VERSION,
                            "index has another schema version; rebuilding it from the WAL"
                        );
                        None
                    }
                    // An index created but never committed holds nothing.
                    None if payload.is_none() => Some((index, 0)),
                    _ => {
                        tracing::warn!("index commit payload unreadable; rebuilding from the WAL");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "index cannot be opened; rebuilding it from the WAL");
                None
            }
        }
    } else {
        None
    };
    let (index, lsn) = match existing {
        Some(found) => found,
        None => {
            if dir.exists() {
                let aside = dir.with_extension(format!("old-{}", std::process::id()));
                std::fs::rename(dir, &aside).map_err(io_err)?;
                std::fs::remove_dir_all(&aside).map_err(io_err)?;
            }
            std::fs::create_dir_all(dir).map_err(io_err)?;
            (Index::create_in_dir(dir, schema).map_err(tantivy_err)?, 0)
        }
    };
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(tantivy_err)?;
    Ok(OpenIndex {
        index,
        reader,
        fields,
        dir: dir.to_owned(),
        lsn,
    })
}

/// Starts the indexer thread. It reads the WAL in `wal_dir` after `open.lsn`, up to the LSN that
/// `durable` says is fsynced, publishes each committed LSN on `indexed`, and stops (after a last
/// commit) when `shutdown` fires.
pub fn start(
    open: &OpenIndex,
    wal_dir: PathBuf,
    durable: watch::Receiver<u64>,
    indexed: watch::Sender<u64>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, IndexError> {
    let path = open.dir.clone();
    let writer: IndexWriter<TantivyDocument> = open
        .index
        .writer_with_num_threads(1, WRITER_MEMORY)
        .map_err(|source| IndexError::Tantivy {
            path: path.clone(),
            source,
        })?;
    let mut indexer = Indexer {
        writer,
        reader: open.reader.clone(),
        fields: open.fields.clone(),
        wal: WalReader::new(wal_dir, open.lsn + 1),
        committed_lsn: open.lsn,
        pending_lsn: open.lsn,
        indexed,
    };
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("indexer".into())
        .spawn(move || indexer.run(durable, shutdown, rt))
        .map_err(|source| IndexError::Io { path, source })
}

struct Indexer {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    fields: Fields,
    wal: WalReader,
    /// The LSN held by the last commit.
    committed_lsn: u64,
    /// The LSN of the last record added (committed or not).
    pending_lsn: u64,
    /// Where searchers and status learn the committed LSN.
    indexed: watch::Sender<u64>,
}

impl Indexer {
    fn run(
        &mut self,
        mut durable: watch::Receiver<u64>,
        shutdown: CancellationToken,
        rt: tokio::runtime::Handle,
    ) {
        let mut last_commit = Instant::now();
        loop {
            let upto = *durable.borrow_and_update();
            if let Err(e) = self.add_upto(upto) {
                tracing::error!(error = %e, "indexer cannot read the WAL; retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            let stopping = shutdown.is_cancelled();
            if self.pending_lsn > self.committed_lsn
                && (stopping || last_commit.elapsed() >= COMMIT_EVERY)
            {
                if let Err(e) = self.commit() {
                    tracing::error!(error = %e, "index commit failed; retrying");
                }
                last_commit = Instant::now();
            }
            if stopping {
                break;
            }
            let wait = if self.pending_lsn > self.committed_lsn {
                COMMIT_EVERY.saturating_sub(last_commit.elapsed())
            } else {
                Duration::from_secs(1)
            };
            crate::wal::wait_for_durable(&rt, &mut durable, &shutdown, wait);
        }
        tracing::info!(lsn = self.committed_lsn, "indexer stopped");
    }

    /// Adds every WAL record up to `upto`.
    fn add_upto(&mut self, upto: u64) -> Result<(), crate::wal::WalError> {
        while let Some(rec) = self.wal.next(upto)? {
            if rec.kind == RecordKind::Events {
                for line in rec.payload.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let Ok(json) = std::str::from_utf8(line) else {
                        tracing::error!(lsn = rec.lsn, "WAL event is not UTF-8; not indexed");
                        continue;
                    };
                    match serde_json::from_str::<Event>(json) {
                        Ok(event) => {
                            let doc = schema::document(&self.fields, &event, json, rec.lsn);
                            if let Err(e) = self.writer.add_document(doc) {
                                tracing::error!(lsn = rec.lsn, error = %e, "event not indexed");
                            }
                        }
                        Err(e) => {
                            tracing::error!(lsn = rec.lsn, error = %e, "unreadable event in the WAL; not indexed")
                        }
                    }
                }
            }
            self.pending_lsn = rec.lsn;
        }
        Ok(())
    }

    fn commit(&mut self) -> tantivy::Result<()> {
        let payload = serde_json::to_string(&CommitPayload {
            schema: schema::SCHEMA_VERSION,
            lsn: self.pending_lsn,
        })
        .expect("payload serializes");
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        self.committed_lsn = self.pending_lsn;
        self.indexed.send_replace(self.committed_lsn);
        Ok(())
    }
}
