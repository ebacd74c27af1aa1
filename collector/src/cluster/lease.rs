//! Leases in the JetStream key-value bucket `logwarden_leases` (replicated as the stream is).
//!
//! - `part.<p>` = the id of the collector that owns partition `p`. Taken with `create` (fails
//!   when someone holds it), renewed with `update` at the revision last written (fails when
//!   someone else took it), given up with a delete at that revision.
//! - `alerts.leader` = the id of the collector that runs the cluster's alert engine
//!   (`leader.rs`), held as a partition's lease.
//! - `member.<id>.<partitions>` for every running collector, written every tick: the key
//!   carries the collector's count of partitions, so that one listing finds a collector that
//!   disagrees; the value is the URL the others reach its API at (fanned-out searches).
//!
//! The bucket's `max_age` is the lease TTL: an entry not written again within it disappears,
//! so the leases of a collector that died (kill -9, lost machine) free themselves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store, UpdateErrorKind};
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

pub(super) fn key(p: u32) -> String {
    format!("part.{p}")
}

/// A partition (or the alert leadership, [`take_named`]) this collector holds.
#[derive(Debug)]
pub struct Lease {
    pub partition: u32,
    /// Its key in the bucket.
    key: String,
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

/// Takes partition `p` when nobody holds it (`Ok(None)`: another collector does; `Err`: the
/// bucket did not answer, [`take_key`]).
pub async fn take(kv: &Store, id: &str, p: u32, ttl: Duration) -> Result<Option<Lease>, String> {
    take_key(kv, id, key(p), p, ttl).await
}

/// Takes the lease `key` that is not a partition's (the alert leader's, `leader.rs`) when
/// nobody holds it; renewed and released as a partition's.
pub async fn take_named(kv: &Store, id: &str, key: &str, ttl: Duration) -> Option<Lease> {
    match take_key(kv, id, key.to_owned(), u32::MAX, ttl).await {
        Ok(lease) => lease,
        Err(e) => {
            tracing::debug!(error = %e, "cluster: lease not taken");
            None
        }
    }
}

/// Creates the entry `key` = `id`. An entry that already holds `id` is this collector's own:
/// a write of ours that landed after its answer was lost (a timeout while the bucket's stream
/// changed leader), or one written before a restart of this collector. It is adopted (written
/// again at its revision) rather than left to expire, which would leave the partition without
/// an owner for a whole TTL and then perhaps move it (its index rebuilt elsewhere).
///
/// `Ok(None)` when another collector holds the key; `Err` when the bucket did not answer (a
/// request timed out: up to 5 s each).
async fn take_key(
    kv: &Store,
    id: &str,
    key: String,
    p: u32,
    ttl: Duration,
) -> Result<Option<Lease>, String> {
    let sent = Instant::now();
    let failed = |e: &dyn std::fmt::Display| format!("cluster: taking {key} failed: {e}");
    let revision = match kv.create(&key, id.to_owned().into()).await {
        Ok(revision) => revision,
        Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
            let Some(entry) = kv.entry(&key).await.map_err(|e| failed(&e))? else {
                return Ok(None);
            };
            if entry.operation != Operation::Put || entry.value != id.as_bytes() {
                return Ok(None);
            }
            match kv.update(&key, id.to_owned().into(), entry.revision).await {
                Ok(revision) => {
                    tracing::info!(lease = %key, "cluster: an entry of this collector's own adopted");
                    revision
                }
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => return Ok(None),
                Err(e) => return Err(failed(&e)),
            }
        }
        Err(e) => return Err(failed(&e)),
    };
    let fresh = Fresh(Arc::new(Mutex::new(sent)));
    fresh.renewed(sent, ttl);
    Ok(Some(Lease {
        partition: p,
        key,
        revision,
        fresh,
    }))
}

/// Who holds the lease `key` now, if anyone.
pub async fn holder(kv: &Store, key: &str) -> Result<Option<String>, String> {
    kv.get(key)
        .await
        .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .map_err(|e| format!("cluster: reading {key} failed: {e}"))
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
///   nobody taking it, or a renewal of ours landed whose answer was lost: in the last two
///   cases it is taken again ([`take_key`]), and the partition does not move. When that
///   attempt gets no answer either, the lease is kept until the next tick, as above.
pub async fn renew(kv: &Store, id: &str, lease: &mut Lease, ttl: Duration) -> Result<(), Lost> {
    let sent = Instant::now();
    match kv
        .update(&lease.key, id.to_owned().into(), lease.revision)
        .await
    {
        Ok(revision) => {
            lease.revision = revision;
            lease.fresh.renewed(sent, ttl);
            Ok(())
        }
        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
            match take_key(kv, id, lease.key.clone(), lease.partition, ttl).await {
                Ok(Some(again)) => {
                    tracing::info!(
                        lease = %lease.key,
                        "cluster: lease had expired or our renewal's answer was lost: taken again"
                    );
                    lease.revision = again.revision;
                    lease.fresh.renewed(sent, ttl);
                    Ok(())
                }
                Ok(None) => Err(Lost),
                Err(e) => {
                    tracing::warn!(lease = %lease.key, error = %e, "cluster: lease renewal failed; retrying");
                    Ok(())
                }
            }
        }
        Err(e) => {
            tracing::warn!(lease = %lease.key, error = %e, "cluster: lease renewal failed; retrying");
            Ok(())
        }
    }
}

/// Gives `lease` up (when it is still ours) so that another collector takes it at once.
pub async fn release(kv: &Store, lease: Lease) {
    if let Err(e) = kv
        .delete_expect_revision(&lease.key, Some(lease.revision))
        .await
    {
        tracing::info!(lease = %lease.key, error = %e, "cluster: lease not released (it expires by itself)");
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

#[cfg(test)]
impl Lease {
    /// A lease of partition `p` as if taken, for tests of what holds leases.
    pub(super) fn for_test(p: u32) -> Lease {
        Lease {
            partition: p,
            key: key(p),
            revision: 0,
            fresh: Fresh(Arc::new(Mutex::new(Instant::now()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `nats-server` with JetStream on a free loopback port (Debian's package, which
    /// scripts/test installs), its store in a temporary folder; killed when dropped.
    struct Nats {
        child: std::process::Child,
        url: String,
        _store: tempfile::TempDir,
    }

    impl Nats {
        fn start() -> Nats {
            let server = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
                .expect("nats-server is not installed: scripts/test installs Debian's package");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let store = tempfile::tempdir().expect("temp dir");
            let child = std::process::Command::new(server)
                .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(store.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("starting nats-server");
            Nats {
                child,
                url: format!("nats://127.0.0.1:{port}"),
                _store: store,
            }
        }

        /// The lease bucket on this server (one replica, a TTL of 6 s).
        async fn bucket(&self) -> Store {
            let settings = crate::cluster::config::ClusterConfig {
                nats: vec![self.url.clone()],
                id: Some("c1".into()),
                partitions: 16,
                replicas: 1,
                stream_max_age: "1h".into(),
                duplicate_window: "1m".into(),
                lease_ttl: "6s".into(),
                alert_snapshot_every: "30s".into(),
                url: None,
                token_file: None,
            }
            .build("site")
            .expect("settings");
            let client = async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .connect(self.url.as_str())
                .await
                .expect("connecting to nats-server");
            let mut js = jetstream::new(client);
            js.set_timeout(Duration::from_secs(1));
            for _ in 0..100 {
                if let Ok(kv) = ensure_bucket(&js, &settings).await {
                    return kv;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the lease bucket was not created within 10 s");
        }
    }

    impl Drop for Nats {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    const TTL: Duration = Duration::from_secs(6);

    /// A renewal of ours that landed while its answer was lost (a timeout as the bucket's
    /// stream changed leader) left the entry at a revision this collector does not know: the
    /// next renewal conflicts with its own write. The lease is kept, not given up as lost
    /// (which left the partition without an owner for a whole TTL, then perhaps moved it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_renewal_whose_answer_was_lost_keeps_the_lease() {
        let nats = Nats::start();
        let kv = nats.bucket().await;
        let mut lease = take(&kv, "c1", 3, TTL)
            .await
            .expect("the bucket answers")
            .expect("partition 3 is free");
        // The write that landed, its answer lost.
        kv.update(key(3), "c1".into(), lease.revision)
            .await
            .expect("a write of c1");
        assert_eq!(renew(&kv, "c1", &mut lease, TTL).await, Ok(()));
        assert_eq!(owner(&kv, 3).await, Ok(Some("c1".into())));
        // And the lease goes on being renewed at the right revision.
        let before = lease.revision;
        assert_eq!(renew(&kv, "c1", &mut lease, TTL).await, Ok(()));
        assert!(lease.revision > before);
        assert!(lease.fresh().holds());

        // Another collector's write is a loss.
        kv.put(key(3), "c2".into()).await.expect("a write of c2");
        assert_eq!(renew(&kv, "c1", &mut lease, TTL).await, Err(Lost));
        assert_eq!(owner(&kv, 3).await, Ok(Some("c2".into())));
    }

    /// A collector restarted before its leases expired takes its own entries back at once;
    /// another collector's entry is not taken; a bucket that does not answer is an error, not
    /// "held by another" (the caller stops trying the other partitions).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn take_adopts_its_own_entry_only_and_names_a_silent_bucket() {
        let mut nats = Nats::start();
        let kv = nats.bucket().await;
        let old = take(&kv, "c1", 5, TTL)
            .await
            .expect("answer")
            .expect("free");
        // c1 restarted: it knows nothing of `old`.
        let again = take(&kv, "c1", 5, TTL).await.expect("answer");
        let again = again.expect("its own entry is adopted");
        assert!(again.revision > old.revision);
        assert_eq!(
            take(&kv, "c2", 5, TTL)
                .await
                .expect("answer")
                .map(|l| l.revision),
            None
        );
        // A released entry (a delete marker) is free again, for anyone.
        release(&kv, again).await;
        assert!(take(&kv, "c2", 5, TTL).await.expect("answer").is_some());

        let _ = nats.child.kill();
        let _ = nats.child.wait();
        let silent = take(&kv, "c1", 6, TTL).await;
        assert!(silent.is_err(), "{silent:?}");
    }
}
