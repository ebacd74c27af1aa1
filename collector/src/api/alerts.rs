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
            EngineError::Silence(_) | EngineError::Invalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            }
            EngineError::Cluster(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
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
    let id = unique_firing(&state, id).await?;
    Ok(Json(state.alerts.ack(id, req).await?))
}

/// An alert id, or a prefix of one (as `git` takes commits): the one firing alert whose id
/// starts with it. An ambiguous prefix is refused with the ids it matches; a prefix of no
/// firing alert is passed on whole, for the engine's "no firing alert" answer.
async fn unique_firing(state: &AppState, prefix: String) -> Result<String, ApiError> {
    if prefix.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty alert id"));
    }
    let firing = state.alerts.list(false).await?;
    let matches: Vec<&AlertView> = firing
        .iter()
        .filter(|a| a.id.starts_with(&prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Ok(prefix),
        many => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "alert id prefix {prefix:?} is ambiguous: {} firing alerts start with it ({}); give more digits",
                many.len(),
                many.iter()
                    .map(|a| format!("{} {}", a.id, a.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
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
