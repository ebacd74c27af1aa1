//! The alert endpoints: list alerts, acknowledge one, add, list and expire silences. Changes
//! go to the rules engine, which writes them to the WAL before answering.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use logwarden_core::wire::{
    AckRequest, AlertView, AlertsParams, AlertsResponse, Silence, SilenceRequest, SilencesResponse,
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

/// Acks and silences need an admin token once any token is configured.
pub(super) fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.tokens.is_empty() && state.admin_tokens.is_empty() {
        return Ok(());
    }
    match super::bearer(headers) {
        Some(t) if state.admin_tokens.iter().any(|k| k == t) => Ok(()),
        _ if state.admin_tokens.is_empty() => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "acks and silences need an admin token and this collector has none configured ([alerts] admin_tokens)",
        )),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "not an admin token")),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "acks and silences need the admin token (Authorization: Bearer ...; logwarden --token)",
        )),
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
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<AckRequest>>,
) -> Result<Json<AlertView>, ApiError> {
    check_admin(&state, &headers)?;
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
    headers: HeaderMap,
    Json(req): Json<SilenceRequest>,
) -> Result<Json<Silence>, ApiError> {
    check_admin(&state, &headers)?;
    Ok(Json(state.alerts.add_silence(req).await?))
}

pub async fn expire_silence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Silence>, ApiError> {
    check_admin(&state, &headers)?;
    Ok(Json(state.alerts.expire_silence(id).await?))
}
