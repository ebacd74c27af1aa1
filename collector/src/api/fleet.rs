//! `POST /api/v1/fleet/{host}/forget` (admin): retire a host (`fleet/forget.rs`). The rules
//! engine writes the record and resolves the host's alerts; the answer also waits (briefly)
//! for the fleet view, which follows the WAL on its own thread, so that a `logwarden fleet`
//! right after no longer lists the host.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use logwarden_core::wire::{ForgetRequest, ForgetResponse};

use super::{ApiError, AppState};
use crate::fleet::forget::Forget;

/// How long the answer waits for the fleet view to apply the record.
const FLEET_CATCH_UP: Duration = Duration::from_secs(10);

pub async fn forget(
    State(state): State<AppState>,
    Path(host): Path<String>,
    body: Option<Json<ForgetRequest>>,
) -> Result<Json<ForgetResponse>, ApiError> {
    let author = body.map(|Json(b)| b.author).unwrap_or_default();
    let author = if author.is_empty() {
        "unknown".to_owned()
    } else {
        author
    };
    if let Some(member) = &state.cluster {
        // The merged view, the alert leader and a bucket (`cluster/fleet.rs`).
        return crate::cluster::fleet::forget(member, &state.alerts, host, author)
            .await
            .map(Json);
    }
    {
        let fleet = state.fleet.read().unwrap_or_else(|p| p.into_inner());
        if !fleet.has_host(&host) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Forget::unknown_host(&host, fleet.host_names()),
            ));
        }
    }
    let done = state.alerts.forget(host, author).await?;
    let deadline = tokio::time::Instant::now() + FLEET_CATCH_UP;
    while tokio::time::Instant::now() < deadline {
        let applied = state
            .fleet
            .read()
            .map(|f| f.lsn() >= done.lsn)
            .unwrap_or(true);
        if applied {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Json(done))
}
