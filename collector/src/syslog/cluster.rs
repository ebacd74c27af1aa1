//! Syslog in cluster mode (docs/scale.md): messages received by any collector go through the
//! JetStream stream like agents' events, so that they are sharded, searchable from every
//! collector exactly once, and judged by the alert leader.
//!
//! Identity and partition. Plain syslog has no sender-side ids, and the stream is partitioned
//! by agent id (`cluster/names.rs`), which is also what every collector's reads are scoped by
//! (`cluster/scope.rs`). So each collector numbers syslog with one *source* per partition:
//! - a message goes to the partition of its host (`partition_of(host)`: one host's lines stay
//!   in order on one partition, and a relay's hosts spread over all of them);
//! - the source of partition `p` is the agent id `syslog@<collector id>/<k>`, `k` the smallest
//!   number that puts that id on partition `p` (found once, the same on every start);
//! - each source numbers its messages from its own seq lease, `syslog-sources/<k>.seq` in the
//!   data directory, which never hands out a seq twice across crashes (`core/src/seq.rs`), so
//!   a restarted collector never reuses an id and JetStream's `Nats-Msg-Id` de-duplication
//!   never drops a new message as an old one. Per source the seqs run on without gaps between
//!   restarts, which keeps the owners' de-duplication sets to a range per source and restart.
//!
//! The collector id (unique in a cluster) is in the source, not the site: two collectors of
//! one site numbering `syslog@<site>` would give different messages the same id.
//!
//! Publishing ([`Publisher`]): a batch is handed on only once JetStream acknowledged every
//! message in it. While the stream cannot take it (NATS down, no quorum), the batch is tried
//! again and nothing more is read: TCP senders wait (their kernel buffers and their own queue
//! fill: back-pressure), UDP datagrams past the intake's queue are dropped and counted
//! (`logwarden_syslog_dropped_messages_total`). A collector stopped while the stream refuses loses the
//! batches it had read and not published (logged with their count).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logwarden_core::seq::SeqAllocator;
use logwarden_core::{Draft, Event, EventId};
use tokio_util::sync::CancellationToken;

use crate::cluster::member::Member;
use crate::cluster::names::partition_of;

const SEQ_HEADER: &str = "logwarden-collector syslog source seq v1";
/// The folder, in the data directory, of the sources' seq leases.
const SEQ_DIR: &str = "syslog-sources";

/// The agent id of the syslog source of partition `p` of collector `id`, and its salt `k`.
pub fn source_of(id: &str, p: u32, partitions: u32) -> (String, u64) {
    (0u64..)
        .map(|k| (format!("syslog@{id}/{k}"), k))
        .find(|(agent, _)| partition_of(agent, partitions) == p % partitions.max(1))
        .expect("some salt reaches every partition")
}

/// A collector's syslog sources, opened as messages for their partition come.
pub struct Sources {
    id: String,
    partitions: u32,
    dir: PathBuf,
    open: HashMap<u32, (String, SeqAllocator)>,
}

impl Sources {
    pub fn new(data_dir: &Path, id: &str, partitions: u32) -> Sources {
        Sources {
            id: id.to_owned(),
            partitions: partitions.max(1),
            dir: data_dir.join(SEQ_DIR),
            open: HashMap::new(),
        }
    }

    /// The id of the next message of `host`. Errors name the seq file.
    pub fn next(&mut self, host: &str) -> io::Result<EventId> {
        let p = partition_of(host, self.partitions);
        let (agent, seqs) = match self.open.get_mut(&p) {
            Some(s) => s,
            None => {
                let (agent, k) = source_of(&self.id, p, self.partitions);
                std::fs::create_dir_all(&self.dir).map_err(|e| {
                    io::Error::new(e.kind(), format!("creating {}: {e}", self.dir.display()))
                })?;
                let seqs = SeqAllocator::open(&self.dir.join(format!("{k}.seq")), SEQ_HEADER)?;
                self.open.entry(p).or_insert((agent, seqs))
            }
        };
        Ok(EventId::new(agent.as_str(), seqs.allocate()?))
    }
}

/// How the intake numbers messages: one source per collector (`syslog@<site>`, alone or in a
/// pair), or one per partition (cluster mode).
pub enum Ids {
    Site { agent: String, seqs: SeqAllocator },
    Cluster(Sources),
}

impl Ids {
    pub fn next(&mut self, draft: &Draft) -> io::Result<EventId> {
        match self {
            Ids::Site { agent, seqs } => Ok(EventId::new(agent.as_str(), seqs.allocate()?)),
            // Every draft has a host: the line's, or its sender's address (`intake.rs`).
            Ids::Cluster(s) => s.next(draft.host.as_deref().unwrap_or_default()),
        }
    }
}

/// Publishes the intake's batches to the stream.
pub struct Publisher {
    member: Arc<Member>,
    /// Ends the retries when the collector stops or changes role.
    stop: CancellationToken,
    /// A batch failed after `stop`: the next ones are not tried (each could wait out the
    /// ack timeout and hold the shutdown for minutes).
    given_up: AtomicBool,
}

/// Pause between two attempts at a refused batch.
const RETRY: Duration = Duration::from_millis(500);

impl Publisher {
    pub fn new(member: Arc<Member>, stop: CancellationToken) -> Publisher {
        Publisher {
            member,
            stop,
            given_up: AtomicBool::new(false),
        }
    }

    pub fn member(&self) -> &Arc<Member> {
        &self.member
    }

    /// Publishes `events` until JetStream acknowledged them all; `Err` only once the
    /// collector is stopping.
    pub async fn send(&self, events: &[Event]) -> Result<(), String> {
        let mut failures = 0u32;
        loop {
            if self.given_up.load(Ordering::Relaxed) {
                return Err("the collector stopped while the stream refused syslog".into());
            }
            let why = match self.member.publish(events).await {
                Ok(_) => return Ok(()),
                Err(why) => why,
            };
            failures += 1;
            if failures == 1 || failures.is_multiple_of(20) {
                tracing::warn!(
                    reason = why,
                    messages = events.len(),
                    failures,
                    "syslog messages not taken by the stream; holding them and their senders (TCP) until it does"
                );
            }
            if self.stop.is_cancelled() {
                self.given_up.store(true, Ordering::Relaxed);
                return Err(format!("stopping before the stream took them ({why})"));
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = self.stop.cancelled() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_its_own_source_and_a_host_keeps_one() {
        for partitions in [1, 7, 16, 64] {
            for p in 0..partitions {
                let (agent, k) = source_of("c1", p, partitions);
                assert_eq!(partition_of(&agent, partitions), p, "{agent}");
                assert_eq!(agent, format!("syslog@c1/{k}"));
                assert_eq!(source_of("c1", p, partitions), (agent, k), "stable");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sources::new(dir.path(), "c1", 16);
        let hosts = ["mx1", "mx2", "10.0.0.7", "mbox-042"];
        let mut ids = Vec::new();
        for round in 0..3u64 {
            for h in hosts {
                let id = s.next(h).unwrap();
                assert_eq!(partition_of(&id.agent_id, 16), partition_of(h, 16));
                ids.push((h, round, id));
            }
        }
        // Within a source, seqs run on one by one.
        for h in hosts {
            let seqs: Vec<u64> = ids
                .iter()
                .filter(|(x, _, _)| *x == h)
                .map(|(_, _, id)| id.seq)
                .collect();
            assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{h}: {seqs:?}");
        }
    }

    /// A restart (the sources opened again on the same data directory) never gives an id
    /// that was given before.
    #[test]
    fn a_restart_never_reuses_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let mut s = Sources::new(dir.path(), "c1", 16);
            for i in 0..50 {
                let id = s.next(&format!("host{}", i % 5)).unwrap();
                assert!(seen.insert(id.to_string()), "{id} given twice");
            }
        }
        assert!(dir.path().join(SEQ_DIR).read_dir().unwrap().count() >= 1);
        // A damaged lease is an error that names it, not a restart from 1.
        let f = dir.path().join(SEQ_DIR).read_dir().unwrap().next().unwrap();
        let f = f.unwrap().path();
        std::fs::write(&f, "junk").unwrap();
        let mut s = Sources::new(dir.path(), "c1", 16);
        let mut errors = 0;
        for i in 0..5 {
            if let Err(e) = s.next(&format!("host{i}")) {
                assert!(e.to_string().contains(&f.display().to_string()), "{e}");
                errors += 1;
            }
        }
        assert!(errors >= 1);
    }
}
