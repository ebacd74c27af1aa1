//! `GET /api/v1/cluster`: this collector's place in the cluster (its id, the partitions it
//! owns, and how far behind the stream its reading of each is). The cluster-wide view in `logwarden status` is not built yet (docs/scale.md).

use serde_json::{Value, json};

use super::member::Member;

/// The path of the cluster status.
pub const CLUSTER_PATH: &str = "/api/v1/cluster";

/// What the endpoint answers; `{"enabled": false}` outside cluster mode.
pub fn report(cluster: Option<&Member>) -> Value {
    match cluster {
        None => json!({ "enabled": false }),
        Some(c) => json!({
            "enabled": true,
            "id": c.settings.id,
            "partitions": c.settings.partitions,
            "owned": c.owned(),
            // Per partition owned: events in the stream not yet delivered to this collector.
            "pending": c.pending(),
        }),
    }
}
