//! A collector's view of its cluster as the cluster-mode tests read it (`GET /api/v1/cluster`):
//! the partitions it owns, whether a set of collectors shares them out, who leads alerting.

use std::time::Duration;

use crate::Collector;

/// `GET /api/v1/cluster` as JSON (`Null` when the collector does not answer within 2 s).
pub fn view(c: &Collector) -> serde_json::Value {
    reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/cluster", c.url))
        .timeout(Duration::from_secs(2))
        .send()
        .and_then(|r| r.json::<serde_json::Value>())
        .unwrap_or_default()
}

/// The partitions `c` says it owns (empty when it does not answer).
pub fn owned(c: &Collector) -> Vec<u32> {
    view(c)["owned"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_u64())
                .map(|p| p as u32)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `collectors` own every one of `partitions` partitions, each exactly once, and each
/// collector some.
pub fn balanced(collectors: &[&Collector], partitions: u32) -> bool {
    let mut all = Vec::new();
    for c in collectors {
        let o = owned(c);
        if o.is_empty() {
            return false;
        }
        all.extend(o);
    }
    all.sort_unstable();
    all == (0..partitions).collect::<Vec<_>>()
}

/// Who leads alerting, as `c` says.
pub fn alert_leader(c: &Collector) -> Option<String> {
    view(c)["alert_leader"].as_str().map(str::to_owned)
}

/// The partition of an agent, as docs/scale.md gives it.
pub fn partition_of(agent: &str, partitions: u32) -> u32 {
    crc32fast::hash(agent.as_bytes()) % partitions
}
