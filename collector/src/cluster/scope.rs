//! Which events of its index a collector in cluster mode answers for: those of the agents of
//! the partitions it owns now (an agent's partition: `names::partition_of`). Events of a
//! partition it gave up stay in its index, hidden (docs/scale.md): the partition's new owner
//! answers for them, and should the partition come back, its consumer continues where it
//! stopped and they are visible again.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::member::Member;
use super::names::partition_of;
use crate::search::{AgentScope, Searcher};

/// The searcher of the API: in cluster mode, one that sees the partitions owned now only.
pub fn searcher(catalog: Arc<crate::index::Catalog>, cluster: Option<&Arc<Member>>) -> Searcher {
    let all = Searcher::new(catalog);
    match cluster {
        Some(member) => all.scoped(owned_now(member.clone())),
        None => all,
    }
}

/// The agents of the partitions `member` owns at the time of each query: every read of a
/// collector in cluster mode sees only them.
pub fn owned_now(member: Arc<Member>) -> AgentScope {
    let n = member.settings.partitions;
    Arc::new(move |agent: &str| member.owns(partition_of(agent, n)))
}

/// The agents of the partitions of `asked` that `member` owns at the time of each query (an
/// owner's part of the cluster's live tail).
pub fn asked_and_owned(member: Arc<Member>, asked: BTreeSet<u32>) -> AgentScope {
    let n = member.settings.partitions;
    Arc::new(move |agent: &str| {
        let p = partition_of(agent, n);
        asked.contains(&p) && member.owns(p)
    })
}

/// The agents of `wanted` among `partitions` partitions.
pub fn agents_of(partitions: u32, wanted: BTreeSet<u32>) -> AgentScope {
    Arc::new(move |agent: &str| wanted.contains(&partition_of(agent, partitions)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::tests::{event, searcher_with};
    use logwarden_core::Severity;
    use logwarden_core::wire::{CountParams, SearchParams};

    /// A searcher scoped to some partitions finds, counts and pages through exactly the events
    /// of their agents; scoped to none, nothing.
    #[test]
    fn a_scoped_searcher_sees_only_the_agents_of_its_partitions() {
        let mut events = Vec::new();
        for (i, agent) in ["agent-0", "agent-1", "mail-vm-042", "a:b:c"]
            .iter()
            .enumerate()
        {
            for seq in 1..=5u64 {
                let mut e = event(
                    seq,
                    "2026-11-29T10:00:00Z",
                    "x",
                    Severity::Info,
                    "scoped word",
                    None,
                );
                e.id = logwarden_core::EventId::new(*agent, seq + 10 * i as u64);
                events.push(e);
            }
        }
        let (_dir, s) = searcher_with(&events);
        let now = chrono::Utc::now();
        let q = SearchParams {
            q: "word".into(),
            ..SearchParams::default()
        };
        let count = |s: &crate::search::Searcher| {
            s.count(
                &CountParams {
                    q: "word".into(),
                    ..CountParams::default()
                },
                now,
            )
            .unwrap()
            .total
        };
        assert_eq!(count(&s), 20);
        // agent-0 is partition 15 of 16, agent-1 partition 9 (names.rs).
        let p15 = s.scoped(agents_of(16, [15].into()));
        let hits = p15.search(&q, now).unwrap();
        assert_eq!(hits.total, 5);
        assert!(hits.hits.iter().all(|h| h.id.agent_id == "agent-0"));
        let both = s.scoped(agents_of(16, [15, 9].into()));
        assert_eq!(count(&both), 10);
        let colons = partition_of("a:b:c", 16);
        let found = s
            .scoped(agents_of(16, [colons].into()))
            .search(&q, now)
            .unwrap();
        assert!(
            found.hits.iter().any(|h| h.id.agent_id == "a:b:c"),
            "an agent id with colons is cut at its last colon: {:?}",
            found
                .hits
                .iter()
                .map(|h| h.id.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(count(&s.scoped(agents_of(16, BTreeSet::new()))), 0);
        let all = s.scoped(agents_of(1, [0].into()));
        assert_eq!(count(&all), 20);
    }
}
