//! The collector epoch this agent trusts (docs/failover.md), kept in
//! `<data_dir>/collector-epoch` (one decimal number and a newline, saved by temp file, fsync,
//! rename; a missing file is epoch 0: nothing heard yet).
//!
//! Every ingest answer carries its collector's epoch, and a standby's `421` names the primary's.
//! An ack from an epoch lower than the one kept is not counted (a deposed primary's), so the
//! kept epoch only ever rises, and only to an epoch within reach of it
//! ([`logwarden_core::epoch::MAX_EPOCH_STEP`], the bound the collectors apply): one far beyond
//! (up to `u64::MAX`) is a bug or a forgery, and keeping it would make the agent refuse every
//! real ack from then on. Such an epoch is not kept and is logged once per collector; shipping
//! goes on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use logwarden_core::epoch::{MAX_EPOCH_STEP, epoch_within_reach};

const EPOCH_FILE: &str = "collector-epoch";

/// Where an epoch was heard of, for the log.
#[derive(Debug, Clone, Copy)]
pub(super) enum Heard {
    /// In a 200 ingest answer.
    Ack,
    /// In a standby's `421` (`x-logwarden-epoch`).
    Redirect,
}

pub(super) struct KnownEpoch {
    epoch: u64,
    path: PathBuf,
    /// Collectors already logged for naming an epoch out of reach (each once).
    warned: HashSet<String>,
}

impl KnownEpoch {
    /// The epoch kept by an earlier run in `data_dir`; 0 when there is none, or it is unreadable
    /// or `u64::MAX` (kept by agents before the bound; no collector ever reaches it): logged.
    pub fn load(data_dir: &Path) -> KnownEpoch {
        let path = data_dir.join(EPOCH_FILE);
        let epoch = match std::fs::read_to_string(&path) {
            Ok(s) => match s.trim().parse::<u64>() {
                Ok(u64::MAX) => {
                    tracing::warn!(path = %path.display(), "collector epoch file holds an impossible epoch (u64::MAX); starting from 0");
                    0
                }
                Ok(e) => e,
                Err(_) => {
                    tracing::warn!(path = %path.display(), "unreadable collector epoch file; starting from 0");
                    0
                }
            },
            Err(_) => 0,
        };
        KnownEpoch {
            epoch,
            path,
            warned: HashSet::new(),
        }
    }

    /// The highest epoch believed so far.
    pub fn get(&self) -> u64 {
        self.epoch
    }

    /// `collector` named `epoch`: raised to it and kept (so that a restarted agent still refuses
    /// a stale primary's ack) when it is higher and within reach; otherwise unchanged. Returns
    /// whether the epoch was believed (a lower or equal one is, and changes nothing).
    pub fn hear(&mut self, epoch: u64, collector: &reqwest::Url, how: Heard) -> bool {
        if epoch <= self.epoch {
            return true;
        }
        if !epoch_within_reach(self.epoch, epoch) {
            if self.warned.insert(collector.as_str().to_owned()) {
                tracing::warn!(
                    collector = %collector,
                    epoch,
                    known = self.epoch,
                    heard_in = ?how,
                    "collector named an epoch more than {MAX_EPOCH_STEP} past the one this agent knows; not believed (a bug or a forgery, not a failover); logged once per collector"
                );
            }
            return false;
        }
        self.epoch = epoch;
        if let Err(e) = crate::durable::save_atomically(&self.path, format!("{epoch}\n").as_bytes())
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot keep the collector epoch; it is kept in memory");
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> reqwest::Url {
        "http://127.0.0.1:9/".parse().unwrap()
    }

    #[test]
    fn an_epoch_within_reach_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = KnownEpoch::load(dir.path());
        assert_eq!(k.get(), 0);
        assert!(k.hear(3, &url(), Heard::Ack));
        assert!(k.hear(2, &url(), Heard::Ack));
        assert_eq!(KnownEpoch::load(dir.path()).get(), 3);
        assert!(k.hear(3 + MAX_EPOCH_STEP, &url(), Heard::Redirect));
        assert_eq!(KnownEpoch::load(dir.path()).get(), 3 + MAX_EPOCH_STEP);
    }

    #[test]
    fn an_epoch_out_of_reach_is_neither_believed_nor_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = KnownEpoch::load(dir.path());
        assert!(k.hear(1, &url(), Heard::Ack));
        for far in [2 + MAX_EPOCH_STEP, 999_999, u64::MAX - 1, u64::MAX] {
            for how in [Heard::Ack, Heard::Redirect] {
                assert!(!k.hear(far, &url(), how), "{far} believed");
            }
            assert_eq!(k.get(), 1);
            assert_eq!(KnownEpoch::load(dir.path()).get(), 1);
        }
        // A real failover after it is still followed.
        assert!(k.hear(2, &url(), Heard::Redirect));
        assert_eq!(KnownEpoch::load(dir.path()).get(), 2);
    }

    #[test]
    fn a_kept_u64_max_from_an_older_agent_starts_from_0() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(EPOCH_FILE), format!("{}\n", u64::MAX)).unwrap();
        assert_eq!(KnownEpoch::load(dir.path()).get(), 0);
        std::fs::write(dir.path().join(EPOCH_FILE), "7\n").unwrap();
        assert_eq!(KnownEpoch::load(dir.path()).get(), 7);
    }
}
