//! The fleet view of a cluster: every owner's view (`GET /api/v1/cluster/fleet`, its own
//! fleet) merged host by host. A host's events are on the partition of its agent, so its
//! newest view is its owner's; a former owner may still hold an older view of it (the fleet,
//! like the index, is a view of the local WAL), which the merge drops: per host the latest
//! `last_seen` (and that view's site), per check and subject the newest record.

use std::collections::BTreeMap;

use logwarden_core::Event;
use logwarden_core::wire::{FleetResponse, HostHealth};

pub const FLEET_PATH: &str = "/api/v1/cluster/fleet";

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
}
