//! The HTTP API (PRODUCT.md, "HTTP API"): routes and handlers. The router is built by [`app`]
//! apart from any socket, so that tests can call it directly.

mod alerts;
mod error;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use logwarden_core::wire::{
    ALERTS_PATH, INGEST_PATH, IndexStatus, IngestResponse, Rejected, SEARCH_PATH, SILENCES_PATH,
    STATUS_PATH, SearchParams, SearchResponse, StatusResponse, WalStatus,
};
use tokio::sync::watch;

pub use error::ApiError;

use crate::ingest::commit::WalStats;
use crate::ingest::{self, Committer, IngestError, Limits};
use crate::rules::AlertsHandle;
use crate::search::Searcher;

/// Epoch of a collector that has never been promoted (the failover work raises it).
pub const INITIAL_EPOCH: u64 = 1;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub committer: Committer,
    /// The rules engine: alerts, acks, silences.
    pub alerts: AlertsHandle,
    /// Bearer tokens for acks and silences.
    pub admin_tokens: Arc<Vec<String>>,
    pub searcher: Searcher,
    pub limits: Limits,
    pub tokens: Arc<Vec<String>>,
    pub site: String,
    pub durable: watch::Receiver<u64>,
    pub indexed: watch::Receiver<u64>,
    pub wal_stats: Arc<WalStats>,
    pub corrupt_records: u64,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index_page))
        .route(INGEST_PATH, post(ingest_handler))
        .route(SEARCH_PATH, get(search_handler))
        .route(STATUS_PATH, get(status_handler))
        .route(ALERTS_PATH, get(alerts::list))
        .route("/api/v1/alerts/{id}/ack", post(alerts::ack))
        .route(
            SILENCES_PATH,
            get(alerts::silences).post(alerts::add_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(alerts::expire_silence),
        )
        .with_state(state)
}

async fn index_page() -> impl IntoResponse {
    Html(include_str!("../web/index.html"))
}

fn check_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.tokens.is_empty() {
        return Ok(());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if state.tokens.iter().any(|k| k == t) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bearer token not accepted",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this collector requires a bearer token (Authorization: Bearer ...)",
        )),
    }
}

async fn ingest_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    check_token(&state, &headers)?;
    let too_large = || {
        ApiError::from(IngestError::TooLarge {
            what: "request body",
            limit: state.limits.max_body_bytes,
        })
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.limits.max_body_bytes) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, state.limits.max_body_bytes)
        .await
        .map_err(|_| too_large())?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limits = state.limits.clone();
    // Decompressing and parsing is CPU work: keep it off the async workers.
    let checked = tokio::task::spawn_blocking(move || {
        let decoded = ingest::decode_body(encoding.as_deref(), &body, &limits)?;
        ingest::check_lines(&decoded, &limits)
    })
    .await
    .map_err(|e| ApiError::internal("ingest worker failed", e))??;
    let lines = checked.lines;
    let rejected: Vec<Rejected> = checked.rejected;
    let committed = if checked.events.is_empty() {
        ingest::Committed::default()
    } else {
        state
            .committer
            .commit(checked.events)
            .await
            .map_err(|e| ApiError::internal("write-ahead log write failed", e))?
    };
    Ok(Json(IngestResponse {
        accepted: committed.accepted,
        duplicates: committed.duplicates.iter().map(|&i| lines[i]).collect(),
        rejected,
        lsn: committed.lsn,
        epoch: INITIAL_EPOCH,
    }))
}

async fn search_handler(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let searcher = state.searcher.clone();
    let resp = tokio::task::spawn_blocking(move || searcher.search(&params, chrono::Utc::now()))
        .await
        .map_err(|e| ApiError::internal("search worker failed", e))??;
    Ok(Json(resp))
}

async fn status_handler(State(state): State<AppState>) -> Json<StatusResponse> {
    let durable = *state.durable.borrow();
    let indexed = *state.indexed.borrow();
    Json(StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        role: "primary".into(),
        site: state.site.clone(),
        epoch: INITIAL_EPOCH,
        wal: WalStatus {
            durable_lsn: durable,
            segments: state.wal_stats.segments.load(Relaxed),
            bytes: state.wal_stats.bytes.load(Relaxed),
            corrupt_records: state.corrupt_records,
        },
        index: IndexStatus {
            indexed_lsn: indexed,
            lag_records: durable.saturating_sub(indexed),
            docs: state.searcher.docs(),
        },
        replication_lag: None,
    })
}
