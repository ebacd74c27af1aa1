//! The log's epochs: which collector was primary from which LSN on.
//!
//! Each promotion raises the epoch (`replication/state.rs`) and writes an `Epoch` record at the
//! head of the log; epoch 1 begins at LSN 1 without one. The committer keeps where each epoch
//! begins (the [`EpochHistory`], rebuilt from the log and kept in its checkpoints), and
//! replication compares histories to spot a peer whose log diverged.

use serde::{Deserialize, Serialize};

/// Where each epoch begins in the log: `(epoch, first LSN)`, oldest first. Epoch 1 begins at
/// LSN 1 without a record; every later one with its `Epoch` record.
pub type EpochHistory = std::sync::Arc<std::sync::RwLock<Vec<(u64, u64)>>>;

/// The payload of a WAL record of kind `Epoch` (3): JSON, so a later version can add fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    /// The site of the collector that became primary.
    pub site: String,
}

impl EpochRecord {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an epoch record always serializes")
    }

    pub fn decode(payload: &[u8]) -> Result<EpochRecord, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}
