//! This collector's place in the cluster (its id, the partitions it owns, and how far behind
//! the stream its reading of each is), in `GET /api/v1/cluster` and in the status
//! (`logwarden status`). A view of the whole cluster (every collector, the stream's state) is
//! not built yet (docs/scale.md).

use serde_json::{Value, json};

use logwarden_core::wire::ClusterStatus;

use super::member::Member;

/// The path of the cluster status.
pub const CLUSTER_PATH: &str = "/api/v1/cluster";

/// This collector's place in the cluster, for status.
pub fn of(member: &Member) -> ClusterStatus {
    ClusterStatus {
        id: member.settings.id.clone(),
        partitions: member.settings.partitions,
        owned: member.owned().into_iter().collect(),
        pending: member.pending(),
        alert_leader: member.alert_leader(),
    }
}

/// What the endpoint answers: [`ClusterStatus`] with `"enabled": true`, or
/// `{"enabled": false}` outside cluster mode.
pub fn report(member: Option<&Member>) -> Value {
    match member {
        None => json!({ "enabled": false }),
        Some(m) => {
            let mut v = serde_json::to_value(of(m)).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("enabled".into(), true.into());
            }
            v
        }
    }
}
