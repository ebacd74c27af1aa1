//! `GET /api/v1/context`: the events around one hit (`search::context`).

use axum::Json;
use axum::extract::{Query, State};
use logwarden_core::wire::{ContextParams, ContextResponse};

use super::AppState;
use super::error::ApiError;

pub async fn context(
    State(state): State<AppState>,
    Query(params): Query<ContextParams>,
) -> Result<Json<ContextResponse>, ApiError> {
    if let Some(cluster) = &state.cluster {
        return crate::cluster::fanout::context(cluster, params)
            .await
            .map(Json);
    }
    let searcher = state.searcher.clone();
    let resp = tokio::task::spawn_blocking(move || searcher.context(&params))
        .await
        .map_err(|e| ApiError::internal("context worker failed", e))??;
    Ok(Json(resp))
}
