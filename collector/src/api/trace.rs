//! `GET /api/v1/trace`: one message followed across the fleet (crate::trace). A read call.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use logwarden_core::trace::{TraceParams, TraceResponse};

use super::{ApiError, AppState};
use crate::trace::TraceError;

impl From<TraceError> for ApiError {
    fn from(e: TraceError) -> ApiError {
        match e {
            TraceError::BadParam(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
            TraceError::Search(s) => s.into(),
        }
    }
}

pub async fn trace(
    State(state): State<AppState>,
    Query(params): Query<TraceParams>,
) -> Result<Json<TraceResponse>, ApiError> {
    let catalog = state.searcher.catalog().clone();
    let resp = tokio::task::spawn_blocking(move || {
        crate::trace::trace(catalog, &params, chrono::Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal("trace worker failed", e))??;
    Ok(Json(resp))
}
