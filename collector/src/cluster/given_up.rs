//! The durable consumers this collector no longer reads through, to delete (`consumer.rs`),
//! so that a stream holds one consumer per partition, its owner's, and not one more for every
//! collector that ever read it (each a replicated Raft group on the NATS servers).
//!
//! - A partition given up (to balance, at shutdown) or lost: its consumer is deleted once its
//!   reading stopped, before its lease is released ([`GivenUp::settle`] in `shard.rs`). Its name
//!   is this collector's alone (`<id>-p<N>`), and only this collector's own later take could
//!   open it again, which comes after, in the same task: no new reading races the deletion.
//! - One whose deletion failed (NATS unreachable) is tried again each tick, until it is done
//!   or this collector took the partition again (then the consumer is in use: kept).
//! - The consumers a collector killed with SIGKILL left behind are found at its next start and
//!   deleted once another collector holds their partition; one whose partition this collector
//!   takes back is kept, and its reading goes on from where it stopped rather than rebuild.
//!
//! Lookups and deletions get at most 2 s a tick ([`WITHIN`]). A delete that timed out here
//! may still be carried out by the server later, on a consumer
//! taken again meanwhile: its reading then fails, opens the consumer anew from the start of
//! the stream, and the WAL's de-duplication drops what it holds already.

use std::collections::BTreeSet;

use async_nats::jetstream::kv::Store;

use super::consumer;
use super::lease;
use super::member::Member;

/// The most a tick waits for the lookups and deletions (NATS slow or electing a leader): the
/// ownership of partitions must not wait for them. What did not finish is tried again.
const WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct GivenUp {
    /// Partitions given up or lost whose consumer is still to delete.
    owed: BTreeSet<u32>,
    /// Consumers found at start, of partitions not held here: deleted once another collector
    /// holds the partition.
    found: BTreeSet<u32>,
    /// Whether the consumers left from before this start were listed.
    listed: bool,
}

impl GivenUp {
    /// Partitions no longer read here: their consumers go on the next [`GivenUp::settle`].
    pub fn add(&mut self, partitions: impl IntoIterator<Item = u32>) {
        self.owed.extend(partitions);
    }

    /// Deletes the consumers owed, except those of partitions `held` again; at the first call
    /// also lists those left from before this start. Failures are logged and tried again on
    /// the next call.
    pub async fn settle(&mut self, cluster: &Member, kv: &Store, held: &BTreeSet<u32>) {
        if !self.listed {
            match consumer::left_behind(cluster).await {
                Ok(found) => {
                    self.found = found.difference(held).copied().collect();
                    self.listed = true;
                }
                Err(e) => {
                    tracing::info!(error = %e, "cluster: consumers left from before not listed yet")
                }
            }
        }
        self.owed.retain(|p| !held.contains(p));
        self.found
            .retain(|p| !held.contains(p) && !self.owed.contains(p));
        let id = &cluster.settings.id;
        let owners = self.found.iter().map(|&p| async move {
            let owner = lease::holder(kv, &lease::key(p)).await;
            (p, owner)
        });
        let owners = tokio::time::timeout(WITHIN, futures_util::future::join_all(owners)).await;
        for (p, owner) in owners.unwrap_or_default() {
            match owner {
                Ok(Some(other)) if other != *id => {
                    self.found.remove(&p);
                    self.owed.insert(p);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(partition = p, error = %e, "cluster: owner not known"),
            }
        }
        if self.owed.is_empty() {
            return;
        }
        let deletions = self
            .owed
            .iter()
            .map(|&p| async move { (p, consumer::delete(cluster, p).await) });
        let Ok(deleted) =
            tokio::time::timeout(WITHIN, futures_util::future::join_all(deletions)).await
        else {
            tracing::warn!(partitions = ?self.owed, "cluster: consumers of partitions no longer read not deleted within 2 s; trying again");
            return;
        };
        for (p, done) in deleted {
            match done {
                Ok(()) => {
                    self.owed.remove(&p);
                }
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "cluster: consumer of a partition no longer read not deleted yet; trying again")
                }
            }
        }
    }
}
