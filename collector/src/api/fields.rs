//! `GET /api/v1/fields`: the extracted fields the matching events have (`search::fields`).

use axum::Json;
use axum::extract::{Query, State};
use logwarden_core::wire::{FieldsParams, FieldsResponse};

use super::AppState;
use super::error::ApiError;

pub async fn fields(
    State(state): State<AppState>,
    Query(p): Query<FieldsParams>,
) -> Result<Json<FieldsResponse>, ApiError> {
    if let Some(cluster) = &state.cluster {
        return crate::cluster::fanout::fields(cluster, p).await.map(Json);
    }
    let searcher = state.searcher.clone();
    let resp = tokio::task::spawn_blocking(move || {
        searcher.fields(&p.q, &p.since, &p.until, chrono::Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal("fields worker failed", e))??;
    Ok(Json(resp))
}
