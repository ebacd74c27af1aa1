//! This collector's place in the cluster (its id, the partitions it owns, and how far behind
//! the stream its reading of each is, who leads alerting), in `GET /api/v1/cluster` and in
//! the status (`logwarden status`), with the view of the whole cluster (`view.rs`) in the
//! status and in `GET /api/v1/cluster?view=true`.

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
        view: None,
        view_error: None,
    }
}

/// [`of`] with the view of the whole cluster, or why it could not be read.
pub async fn with_view(member: &Member) -> ClusterStatus {
    let mut status = of(member);
    match super::view::gather(member).await {
        Ok(v) => status.view = Some(v),
        Err(e) => status.view_error = Some(e),
    }
    status
}

/// What the endpoint answers: [`ClusterStatus`] with `"enabled": true` (and the whole
/// cluster's view when asked: it takes JetStream requests), or `{"enabled": false}` outside
/// cluster mode.
pub async fn report(member: Option<&Member>, view: bool) -> Value {
    match member {
        None => json!({ "enabled": false }),
        Some(m) => {
            let status = if view { with_view(m).await } else { of(m) };
            let mut v = serde_json::to_value(status).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("enabled".into(), true.into());
            }
            v
        }
    }
}

/// This collector's part, for `/metrics`.
pub fn gauges(member: &Member) -> crate::metrics::ClusterGauges {
    let owned = member.owned();
    crate::metrics::ClusterGauges {
        partitions: u64::from(member.settings.partitions),
        owned: owned.len() as u64,
        lag: member.pending(),
        alert_leader: member.alert_leader().as_deref() == Some(member.settings.id.as_str()),
    }
}
