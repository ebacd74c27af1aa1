//! The fleet view of a cluster: every owner's view (`GET /api/v1/cluster/fleet`, its own
//! fleet) merged host by host. A host's events are on the partition of its agent, so its
//! newest view is its owner's; a former owner may still hold an older view of it (the fleet,
//! like the index, is a view of the local WAL), which the merge drops: per host the latest
//! `last_seen` (and that view's site), per check and subject the newest record.
//!
//! `logwarden fleet forget HOST` in cluster mode ([`forget`]): a host's views are on every
//! collector that ever read its partition, and a former owner keeps its old one, so the forget
//! is not a record in each WAL but an entry in the key-value bucket `logwarden_forgotten`
//! (host -> who and when, replicated as the stream is). The merged view leaves out every host
//! whose newest `last_seen` is not after its forget ([`hide`]): it is gone from `logwarden
//! fleet` on every collector, after restarts and leader changes, and comes back once it
//! reports again. Its alerts are resolved, and it is no longer watched for heartbeats, by the
//! alert leader's engine (`rules/engine/forget.rs`), which is asked first: a forget that
//! failed half-way is simply made again.

use std::collections::BTreeMap;

use async_nats::jetstream::{self, kv::Store};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use logwarden_core::Event;
use logwarden_core::wire::{FleetResponse, ForgetResponse, HostHealth};

use super::member::Member;
use crate::api::error::ApiError;
use crate::fleet::forget::Forget;
use crate::rules::AlertsHandle;

pub const FLEET_PATH: &str = "/api/v1/cluster/fleet";

/// The bucket of forgotten hosts.
pub const FORGOTTEN: &str = "logwarden_forgotten";

/// The merged fleet view of the cluster, without the hosts forgotten since they last reported.
pub async fn view(member: &Member) -> Result<FleetResponse, ApiError> {
    let mut merged = super::fanout::fleet(member).await?;
    let forgotten = forgotten(member).await.map_err(unavailable)?;
    hide(&mut merged, &forgotten);
    Ok(merged)
}

/// `POST /api/v1/fleet/{host}/forget` in cluster mode: the host must be in the merged view;
/// the alert leader forgets it, then the bucket does.
pub async fn forget(
    member: &Member,
    alerts: &AlertsHandle,
    host: String,
    author: String,
) -> Result<ForgetResponse, ApiError> {
    let merged = view(member).await?;
    if !merged.hosts.iter().any(|h| h.host == host) {
        let mut why = Forget::unknown_host(&host, merged.hosts.iter().map(|h| h.host.as_str()));
        if !merged.missing_partitions.is_empty() {
            why.push_str(&format!(
                " (partitions {:?} did not answer: {})",
                merged.missing_partitions,
                merged.missing_reasons.join("; ")
            ));
        }
        return Err(ApiError::new(StatusCode::NOT_FOUND, why));
    }
    let done = alerts.forget(host.clone(), author.clone()).await?;
    let record = Forget::new(host, author, Utc::now());
    let kv = bucket(member).await.map_err(unavailable)?;
    kv.put(key(&record.host), record.encode().into())
        .await
        .map_err(|e| {
            unavailable(format!(
                "cluster: the forget was not stored in {FORGOTTEN}: {e}"
            ))
        })?;
    Ok(done)
}

fn unavailable(why: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)
}

/// The bucket's key of a host: `h.` and the host name's bytes in hex (keys allow only a few
/// characters; host names are what senders say).
fn key(host: &str) -> String {
    let mut k = String::with_capacity(2 + host.len() * 2);
    k.push_str("h.");
    for b in host.bytes() {
        k.push_str(&format!("{b:02x}"));
    }
    k
}

/// Finds the bucket, or creates it (as `lease.rs` does its own: nats-server 2.9 does not
/// answer `create_key_value`'s first request).
async fn bucket(member: &Member) -> Result<Store, String> {
    let js = member.jetstream();
    if let Ok(kv) = js.get_key_value(FORGOTTEN).await {
        return Ok(kv);
    }
    let failed = |e: &dyn std::fmt::Display| {
        format!("cluster: the bucket {FORGOTTEN} of forgotten hosts is not available: {e}")
    };
    let config = jetstream::stream::Config {
        name: format!("KV_{FORGOTTEN}"),
        subjects: vec![format!("$KV.{FORGOTTEN}.>")],
        max_messages_per_subject: 1,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: member.settings.replicas,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| failed(&e))?;
    js.get_key_value(FORGOTTEN).await.map_err(|e| failed(&e))
}

/// The hosts forgotten, and when.
async fn forgotten(member: &Member) -> Result<BTreeMap<String, DateTime<Utc>>, String> {
    let kv = bucket(member).await?;
    let failed = |e: &dyn std::fmt::Display| format!("cluster: reading {FORGOTTEN}: {e}");
    let mut keys = kv.keys().await.map_err(|e| failed(&e))?;
    let mut names = Vec::new();
    while let Some(k) = keys.next().await {
        names.push(k.map_err(|e| failed(&e))?);
    }
    let entries = futures_util::future::join_all(names.iter().map(|k| kv.get(k))).await;
    let mut out = BTreeMap::new();
    for (k, entry) in names.iter().zip(entries) {
        let Some(bytes) = entry.map_err(|e| failed(&e))? else {
            continue;
        };
        match Forget::decode(&bytes) {
            Ok(f) => {
                out.insert(f.host, f.at);
            }
            Err(e) => {
                tracing::warn!(key = %k, error = %e, "cluster: a forgotten host's entry is unreadable; skipped")
            }
        }
    }
    Ok(out)
}

/// Leaves out of `view` every host not heard from since it was forgotten.
pub fn hide(view: &mut FleetResponse, forgotten: &BTreeMap<String, DateTime<Utc>>) {
    view.hosts
        .retain(|h| forgotten.get(&h.host).is_none_or(|at| h.last_seen > *at));
}

/// The newest record per check and subject.
type Records = BTreeMap<(String, String), Event>;

/// The owners' fleet views as one.
pub fn merge(answers: Vec<FleetResponse>) -> FleetResponse {
    let mut hosts: BTreeMap<String, (HostHealth, Records)> = BTreeMap::new();
    let mut merged = FleetResponse::default();
    for answer in answers {
        merged.missing_partitions.extend(answer.missing_partitions);
        merged.missing_reasons.extend(answer.missing_reasons);
        for mut h in answer.hosts {
            let checks = std::mem::take(&mut h.checks);
            let (host, by_check) = hosts
                .entry(h.host.clone())
                .or_insert_with(|| (h.clone(), BTreeMap::new()));
            if h.last_seen > host.last_seen {
                *host = h;
            }
            for c in checks {
                let check = c
                    .fields
                    .get("check")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let key = (check, logwarden_core::health::subject(&c.fields));
                match by_check.get(&key) {
                    Some(old) if old.ts >= c.ts => {}
                    _ => {
                        by_check.insert(key, c);
                    }
                }
            }
        }
    }
    merged.hosts = hosts
        .into_values()
        .map(|(mut h, checks)| {
            h.checks = checks.into_values().collect();
            h
        })
        .collect();
    merged.missing_partitions.sort_unstable();
    merged.missing_partitions.dedup();
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use logwarden_core::EventId;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn raid(host: &str, array: &str, ts: &str, state: &str) -> Event {
        let mut e = Event::log(
            EventId::new(host, 1),
            at(ts),
            host,
            "lab",
            "health",
            state.into(),
        );
        e.kind = logwarden_core::Kind::Health;
        e.fields.insert("check".into(), "raid".into());
        e.fields.insert("array".into(), array.into());
        e
    }

    #[test]
    fn hosts_merge_to_the_newest_view_and_records_to_the_newest_per_subject() {
        let old_owner = FleetResponse {
            hosts: vec![HostHealth {
                host: "mbox1".into(),
                site: "old".into(),
                last_seen: at("2026-01-01T00:00:00Z"),
                checks: vec![
                    raid("mbox1", "md0", "2026-01-01T00:00:00Z", "degraded"),
                    raid("mbox1", "md1", "2026-01-01T00:00:00Z", "clean"),
                ],
            }],
            ..FleetResponse::default()
        };
        let new_owner = FleetResponse {
            hosts: vec![
                HostHealth {
                    host: "mbox1".into(),
                    site: "new".into(),
                    last_seen: at("2026-01-01T01:00:00Z"),
                    checks: vec![raid("mbox1", "md0", "2026-01-01T01:00:00Z", "clean")],
                },
                HostHealth {
                    host: "mbox2".into(),
                    site: "lab".into(),
                    last_seen: at("2026-01-01T00:30:00Z"),
                    checks: Vec::new(),
                },
            ],
            missing_partitions: vec![4],
            missing_reasons: vec!["c3 did not answer".into()],
        };
        let m = merge(vec![old_owner, new_owner]);
        assert_eq!(m.hosts.len(), 2);
        let h = &m.hosts[0];
        assert_eq!((h.host.as_str(), h.site.as_str()), ("mbox1", "new"));
        assert_eq!(h.last_seen, at("2026-01-01T01:00:00Z"));
        let states: Vec<&str> = h.checks.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(states, vec!["clean", "clean"], "md0 newest, md1 kept");
        assert_eq!(m.missing_partitions, vec![4]);
    }

    #[test]
    fn a_forgotten_host_is_hidden_until_it_reports_after_the_forget() {
        let host = |name: &str, seen: &str| HostHealth {
            host: name.into(),
            site: "lab".into(),
            last_seen: at(seen),
            checks: Vec::new(),
        };
        let mut view = FleetResponse {
            hosts: vec![
                host("gone", "2026-01-01T00:00:00Z"),
                host("back", "2026-01-01T02:00:00Z"),
                host("kept", "2026-01-01T00:00:00Z"),
            ],
            ..FleetResponse::default()
        };
        let forgotten = BTreeMap::from([
            ("gone".to_owned(), at("2026-01-01T01:00:00Z")),
            ("back".to_owned(), at("2026-01-01T01:00:00Z")),
            ("never-seen".to_owned(), at("2026-01-01T01:00:00Z")),
        ]);
        hide(&mut view, &forgotten);
        let names: Vec<&str> = view.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(names, vec!["back", "kept"]);
        assert_eq!(key("mbox1.example"), "h.6d626f78312e6578616d706c65");
        assert_ne!(key("a b"), key("a_b"));
    }
}
