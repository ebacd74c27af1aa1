//! The alert endpoints: list alerts, acknowledge one, add, list and expire silences. Changes
//! go to the rules engine, which writes them to the WAL before answering. Who may call which
//! is decided by the router's role groups (`api::app`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use logwarden_core::wire::{
    AckRequest, AlertView, AlertsParams, AlertsResponse, Silence, SilenceRequest, SilencesResponse,
    TestAlertRequest, TestAlertResponse,
};

use super::{ApiError, AppState};
use crate::rules::EngineError;

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::NoSuchAlert(_) | EngineError::NoSuchSilence(_) => {
                ApiError::new(StatusCode::NOT_FOUND, e.to_string())
            }
            EngineError::Silence(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
            EngineError::Wal(_) | EngineError::Stopped => ApiError::internal("alert engine", e),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<AlertsParams>,
) -> Result<Json<AlertsResponse>, ApiError> {
    Ok(Json(AlertsResponse {
        alerts: state.alerts.list(params.all).await?,
    }))
}

pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<AckRequest>>,
) -> Result<Json<AlertView>, ApiError> {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    Ok(Json(state.alerts.ack(id, req).await?))
}

pub async fn silences(State(state): State<AppState>) -> Result<Json<SilencesResponse>, ApiError> {
    Ok(Json(SilencesResponse {
        silences: state.alerts.silences().await?,
    }))
}

pub async fn add_silence(
    State(state): State<AppState>,
    Json(req): Json<SilenceRequest>,
) -> Result<Json<Silence>, ApiError> {
    Ok(Json(state.alerts.add_silence(req).await?))
}

pub async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Silence>, ApiError> {
    Ok(Json(state.alerts.expire_silence(id).await?))
}

/// `logwarden alerts test`: a synthetic alert through the routes to the receivers (admin role).
pub async fn test(
    State(state): State<AppState>,
    body: Option<Json<TestAlertRequest>>,
) -> Result<Json<TestAlertResponse>, ApiError> {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    state
        .alerts
        .test(req)
        .await?
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}
