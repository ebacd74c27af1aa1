//! `logwarden fleet forget HOST`: a host retired on purpose (decommissioned, renamed, moved to
//! another collector). Without it a stopped host stays on a critical `AgentSilent` forever.
//!
//! The forget is a WAL record of its own kind (`RecordKind::HostForgotten`), written by the
//! rules engine through the committer, so that everything that follows the WAL sees it in log
//! order, on this collector after any restart and on a standby that copies the log:
//! - the fleet view drops the host (`Fleet::forget`);
//! - the rules engine drops what it keeps of the host (heartbeats, quiet log alerts), clears
//!   every verdict that names it and resolves its firing alerts at once
//!   (`rules/engine/forget.rs`).
//!
//! An event of the host after the record (a heartbeat: the agent still runs) brings it back, as
//! new. Payload, version 1, JSON:
//! `{"version": 1, "host": "mbox3", "author": "alice", "at": "2026-12-05T15:00:00Z"}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// The payload of a `HostForgotten` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forget {
    pub version: u32,
    pub host: String,
    pub author: String,
    pub at: DateTime<Utc>,
}

impl Forget {
    pub fn new(host: String, author: String, at: DateTime<Utc>) -> Forget {
        Forget {
            version: VERSION,
            host,
            author,
            at,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a forget record serializes")
    }

    /// The refusal of a forget of `host`, which is not among `hosts` (the fleet view's): with
    /// the spelling that is there, if one differs only in case.
    pub fn unknown_host<'a>(host: &str, hosts: impl Iterator<Item = &'a str>) -> String {
        let alike: Vec<&str> = hosts.filter(|h| h.eq_ignore_ascii_case(host)).collect();
        let hint = if alike.is_empty() {
            "`logwarden fleet` lists them".to_owned()
        } else {
            format!("did you mean {}?", alike.join(" or "))
        };
        format!("no host {host:?} in the fleet view: {hint}")
    }

    /// Reads a payload; a version this build does not know is refused (and skipped by the
    /// caller), never half understood.
    pub fn decode(payload: &[u8]) -> Result<Forget, String> {
        let f: Forget = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if f.version != VERSION {
            return Err(format!("forget record of version {}", f.version));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forget_record_reads_back_and_another_version_is_refused() {
        let f = Forget::new("mbox3".into(), "alice".into(), Utc::now());
        assert_eq!(Forget::decode(&f.encode()).unwrap(), f);
        let mut v2 = f.clone();
        v2.version = 2;
        assert!(Forget::decode(&v2.encode()).is_err());
        assert!(Forget::decode(b"{").is_err());
    }
}
