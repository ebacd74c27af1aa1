//! Leases in the JetStream key-value bucket `logwarden_leases` (replicated as the stream is).
//!
//! - `part.<p>` = the id of the collector that owns partition `p`. Taken with `create` (fails
//!   when someone holds it), renewed with `update` at the revision last written (fails when
//!   someone else took it), given up with a delete at that revision.
//! - `member.<id>.<partitions>` for every running collector, written every tick: the key
//!   carries the collector's count of partitions, so that one listing finds a collector that
//!   disagrees; the value is the URL the others reach its API at (fanned-out searches).
//!
//! The bucket's `max_age` is the lease TTL: an entry not written again within it disappears,
//! so the leases of a collector that died (kill -9, lost machine) free themselves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::kv::{Store, UpdateErrorKind};
use async_nats::jetstream::stream;
use futures_util::StreamExt;

use super::config::ClusterSettings;
use super::names::LEASES;

/// Finds the bucket, or creates it.
///
/// Created as the stream a bucket is (`KV_<bucket>`, the settings async-nats gives one)
/// rather than with `create_key_value`, which first reads the account info in a form that
/// nats-server 2.9 (Debian's) does not answer.
pub async fn ensure_bucket(js: &jetstream::Context, s: &ClusterSettings) -> Result<Store, String> {
    let failed = |e: &dyn std::fmt::Display| {
        format!("cluster: the lease bucket {LEASES} is not available: {e}")
    };
    if let Ok(kv) = js.get_key_value(LEASES).await {
        return Ok(kv);
    }
    let config = stream::Config {
        name: format!("KV_{LEASES}"),
        subjects: vec![format!("$KV.{LEASES}.>")],
        max_messages_per_subject: 1,
        max_age: s.lease_ttl,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: s.replicas,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| failed(&e))?;
    js.get_key_value(LEASES).await.map_err(|e| failed(&e))
}

fn key(p: u32) -> String {
    format!("part.{p}")
}

/// A partition this collector holds.
#[derive(Debug)]
pub struct Lease {
    pub partition: u32,
    revision: u64,
    fresh: Fresh,
}

/// Whether a lease is still surely held: shared with the task reading the partition, which
/// indexes nothing once it is not (another collector may have taken the partition).
/// JetStream counts the TTL from the moment it stored the write, after the moment the write
/// was sent, which is what this counts from.
#[derive(Debug, Clone)]
pub struct Fresh(Arc<Mutex<Instant>>);

impl Fresh {
    /// True until 3/4 of the TTL after the last renewal was sent.
    pub fn holds(&self) -> bool {
        self.0
            .lock()
            .map(|until| Instant::now() < *until)
            .unwrap_or(false)
    }

    fn renewed(&self, sent: Instant, ttl: Duration) {
        if let Ok(mut until) = self.0.lock() {
            *until = sent + ttl * 3 / 4;
        }
    }
}

impl Lease {
    pub fn fresh(&self) -> Fresh {
        self.fresh.clone()
    }
}

/// Takes partition `p` when nobody holds it.
pub async fn take(kv: &Store, id: &str, p: u32, ttl: Duration) -> Option<Lease> {
    let sent = Instant::now();
    let revision = kv.create(key(p), id.to_owned().into()).await.ok()?;
    let fresh = Fresh(Arc::new(Mutex::new(sent)));
    fresh.renewed(sent, ttl);
    Some(Lease {
        partition: p,
        revision,
        fresh,
    })
}

/// The lease was lost: another collector holds the partition now.
#[derive(Debug, PartialEq, Eq)]
pub struct Lost;

/// Renews `lease`.
///
/// - A write that fails for another reason than a conflict (a NATS node restarting, the
///   bucket's stream electing a new leader: several seconds) keeps the lease here, to be
///   renewed on the next tick; meanwhile [`Fresh`] turns false after 3/4 of the TTL and the
///   partition's reader indexes nothing.
/// - A conflict is either another owner, or our entry expired during such an outage with
///   nobody taking it: then it is taken again, and the partition does not move.
pub async fn renew(kv: &Store, id: &str, lease: &mut Lease, ttl: Duration) -> Result<(), Lost> {
    let sent = Instant::now();
    match kv
        .update(key(lease.partition), id.to_owned().into(), lease.revision)
        .await
    {
        Ok(revision) => {
            lease.revision = revision;
            lease.fresh.renewed(sent, ttl);
            Ok(())
        }
        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
            let again = take(kv, id, lease.partition, ttl).await.ok_or(Lost)?;
            tracing::info!(
                partition = lease.partition,
                "cluster: lease had expired, nobody had taken it: taken again"
            );
            lease.revision = again.revision;
            lease.fresh.renewed(sent, ttl);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(partition = lease.partition, error = %e, "cluster: lease renewal failed; retrying");
            Ok(())
        }
    }
}

/// Gives `lease` up (when it is still ours) so that another collector takes it at once.
pub async fn release(kv: &Store, lease: Lease) {
    if let Err(e) = kv
        .delete_expect_revision(key(lease.partition), Some(lease.revision))
        .await
    {
        tracing::info!(partition = lease.partition, error = %e, "cluster: lease not released (it expires by itself)");
    }
}

/// Says that collector `id` is running, with its count of partitions; the entry's value is
/// the URL the others reach it at (`fanout.rs`).
pub async fn heartbeat(kv: &Store, id: &str, partitions: u32, url: &str) -> Result<(), String> {
    kv.put(
        format!("member.{id}.{partitions}"),
        bytes::Bytes::copy_from_slice(url.as_bytes()),
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("cluster: membership heartbeat failed: {e}"))
}

/// The running collectors, as (id, count of partitions): the member subjects the bucket's
/// stream holds (one request; listing keys would start a consumer every tick).
pub async fn members(kv: &Store) -> Result<Vec<(String, u32)>, String> {
    let prefix = format!("$KV.{LEASES}.member.");
    let mut subjects = kv
        .stream
        .info_with_subjects(format!("{prefix}*.*"))
        .await
        .map_err(|e| format!("cluster: listing members failed: {e}"))?;
    let mut out = Vec::new();
    while let Some(s) = subjects.next().await {
        let (subject, _) = s.map_err(|e| format!("cluster: listing members failed: {e}"))?;
        if let Some((id, n)) = subject
            .strip_prefix(&prefix)
            .and_then(|rest| rest.rsplit_once('.'))
            .and_then(|(id, n)| Some((id.to_owned(), n.parse().ok()?)))
        {
            out.push((id, n));
        }
    }
    out.sort();
    Ok(out)
}

/// The owner of partition `p` as the bucket says now (`None`: nobody holds it).
pub async fn owner(kv: &Store, p: u32) -> Result<Option<String>, String> {
    let entry = kv
        .get(key(p))
        .await
        .map_err(|e| format!("cluster: reading the lease of partition {p} failed: {e}"))?;
    Ok(entry
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// The URL collector `id` (with `partitions`) publishes in its membership (`None`: not a
/// running member, or one that publishes none).
pub async fn url_of(kv: &Store, id: &str, partitions: u32) -> Result<Option<String>, String> {
    let entry = kv
        .get(format!("member.{id}.{partitions}"))
        .await
        .map_err(|e| format!("cluster: reading the membership of {id} failed: {e}"))?;
    Ok(entry
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}
