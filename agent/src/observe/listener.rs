//! The optional loopback HTTP listener (`[metrics] listen`): `GET /metrics` (Prometheus text)
//! and `GET /status` (JSON, what `logwarden-agent status` reads). Read-only, no token: bind
//! it to loopback unless the network in between is trusted.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

use super::{AgentStatus, Observed};

pub const STATUS_PATH: &str = "/status";

pub fn app(state: Observed) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(STATUS_PATH, get(status))
        .with_state(state)
}

async fn metrics(State(state): State<Observed>) -> impl IntoResponse {
    let text = super::exposition::render(&state.status().await);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

async fn status(State(state): State<Observed>) -> Json<AgentStatus> {
    Json(state.status().await)
}

/// Serves until `stop` fires.
pub async fn serve(listener: tokio::net::TcpListener, state: Observed, stop: CancellationToken) {
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "metrics listener stopped");
    }
}
