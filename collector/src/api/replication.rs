//! The failover endpoints (docs/failover.md): the WAL stream a standby pulls, the primary's
//! handover, and `POST /api/v1/promote`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logwarden_core::wire::{PROMOTE_PATH, PromoteParams, PromoteResponse};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::replication::handover::{self, HandoverError};
use crate::replication::{
    DURABLE_HEADER, EPOCH_HEADER, NotNow, PRIMARY_HEADER, Role, STANDBY_HEADER, source,
};

impl From<HandoverError> for ApiError {
    fn from(e: HandoverError) -> ApiError {
        let status = match e {
            HandoverError::Refused(_) => StatusCode::CONFLICT,
            HandoverError::Peer(_) => StatusCode::BAD_GATEWAY,
            HandoverError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            HandoverError::State(_) => return ApiError::internal("saving the failover state", e),
        };
        ApiError::new(status, e.to_string())
    }
}

/// The answer of a collector that does not take batches now: a standby names the primary
/// (421 and headers, which agents follow); during a switchover, 503 (agents retry).
pub fn not_now(why: NotNow) -> Response {
    match why {
        NotNow::Standby { primary, epoch } => {
            let msg = match &primary {
                Some(p) => format!(
                    "this collector is the standby (epoch {epoch}); send to the primary at {p}"
                ),
                None => format!("this collector is the standby (epoch {epoch})"),
            };
            let mut resp = ApiError::new(StatusCode::MISDIRECTED_REQUEST, msg).into_response();
            let h = resp.headers_mut();
            if let Some(v) = primary.and_then(|p| HeaderValue::from_str(&p).ok()) {
                h.insert(PRIMARY_HEADER, v);
            }
            h.insert(EPOCH_HEADER, HeaderValue::from(epoch));
            resp
        }
        NotNow::Switching => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "a switchover is under way; retry in a moment",
        )
        .into_response(),
        NotNow::Fenced => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "fenced: this primary cannot confirm its lease with the witness, so the standby may have taken over; send to the other collector",
        )
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamParams {
    /// The first LSN wanted; everything before it is durable at the standby.
    from: u64,
    /// The standby's epoch.
    #[serde(default)]
    epoch: u64,
    /// The epoch of the standby's newest record.
    #[serde(default = "one")]
    log_epoch: u64,
    /// How long to hold the request when there is nothing new (at most 5 s).
    #[serde(default)]
    wait_ms: u64,
}

fn one() -> u64 {
    1
}

/// `POST /api/v1/replication/wal?from=LSN&epoch=E&log_epoch=L&wait_ms=MS`, with the
/// standby's site in `x-logwarden-standby`.
///
/// A POST, because `from` changes the primary's state: it says what the standby holds, which
/// releases sync acks and ends `ReplicationDegraded`. The header is one a browser cannot send
/// to another origin without a preflight (which the collector never grants), so a page open
/// on the collector's host cannot forge the standby's progress either. Nothing else changes
/// here: an asker at a higher epoch is refused, and the primary learns of that epoch from its
/// own watch of its configured peer (`handover::watch_peer`), never from whoever asks.
pub async fn wal_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
) -> Result<Response, ApiError> {
    let repl = state.replication.clone();
    if headers.get(STANDBY_HEADER).is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "a replication request names the standby's site in the {STANDBY_HEADER} header"
            ),
        ));
    }
    if p.epoch > repl.epoch() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "you are at epoch {}, past this collector's epoch {}: it is not the primary of your epoch (it steps down once its own peer or witness says so)",
                p.epoch,
                repl.epoch()
            ),
        ));
    }
    if repl.role() != Role::Primary {
        return Ok(not_now(NotNow::Standby {
            primary: repl.primary_url(),
            epoch: repl.epoch(),
        }));
    }
    {
        let history = repl
            .epochs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(at) = source::diverged_at(&history, p.log_epoch, p.from) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "diverged: epoch {} began here at LSN {at}, but you hold records up to LSN {} of epoch {}",
                    history
                        .iter()
                        .find(|&&(_, s)| s == at)
                        .map_or(0, |&(e, _)| e),
                    p.from - 1,
                    p.log_epoch
                ),
            ));
        }
    }
    let held = state.durable_lsn();
    if p.from.saturating_sub(1) > held {
        // Believed, this would end ReplicationDegraded and release acks for records the
        // standby cannot hold: a primary never takes progress past its own log.
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "from={} claims LSN {} is held, but this primary's log ends at LSN {held}",
                p.from,
                p.from - 1
            ),
        ));
    }
    let dir = state.data_dir.join("wal");
    let first = crate::wal::first_lsn(&dir)
        .map_err(|e| ApiError::internal("listing the WAL for the standby", e))?
        .unwrap_or(1);
    if p.from > 1 && p.from < first {
        // A standby that starts afresh (from 1) gets what the log holds; one that holds part of
        // the log would get a hole.
        return Err(ApiError::new(
            StatusCode::GONE,
            format!(
                "trimmed: this WAL starts at LSN {first} and you asked from LSN {}; the records between were deleted by WAL retention ([wal] keep_bytes), so copy afresh",
                p.from
            ),
        ));
    }
    let mut durable = state.durable.clone();
    // Read first, not inside the call: the borrow would hold the channel's lock through it.
    repl.standby_asked(p.from, state.durable_lsn());
    if p.from > *durable.borrow_and_update() {
        let wait = Duration::from_millis(p.wait_ms.min(5000));
        tokio::select! {
            _ = tokio::time::timeout(wait, durable.changed()) => {}
            _ = state.shutdown.cancelled() => {}
        }
    }
    let upto = *durable.borrow();
    let from = p.from;
    let body = tokio::task::spawn_blocking(move || source::read_records(dir, from, upto))
        .await
        .map_err(|e| ApiError::internal("replication reader failed", e))?
        .map_err(|e| ApiError::internal("reading the WAL for the standby", e))?;
    let mut resp = ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    let h = resp.headers_mut();
    h.insert(EPOCH_HEADER, HeaderValue::from(repl.epoch()));
    h.insert(DURABLE_HEADER, HeaderValue::from(upto));
    Ok(resp)
}

#[derive(Debug, Deserialize)]
pub struct HandoverParams {
    epoch: u64,
}

/// `POST /api/v1/replication/handover?epoch=E`: the primary's part of a planned switchover.
pub async fn handover(
    State(state): State<AppState>,
    Query(p): Query<HandoverParams>,
) -> Result<Json<PromoteResponse>, ApiError> {
    let lsn = handover::hand_over(&state.replication, &state.durable, p.epoch).await?;
    Ok(Json(PromoteResponse {
        epoch: p.epoch,
        durable_lsn: lsn,
        site: state.site.clone(),
    }))
}

/// `POST /api/v1/promote[?force=true]`: asked of the standby it promotes it; asked of the
/// primary it passes the request on to the standby.
pub async fn promote(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<PromoteParams>,
) -> Result<Json<PromoteResponse>, ApiError> {
    let token = super::bearer(&headers);
    let repl = &state.replication;
    if repl.role() == Role::Primary {
        let peer = repl.settings.peer.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "this collector is the primary and has no standby ([replication] peer)",
            )
        })?;
        let url = peer
            .join(PROMOTE_PATH)
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
        let mut req = reqwest::Client::new()
            .post(url)
            .query(&[("force", p.force)])
            .timeout(Duration::from_secs(60));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the standby at {peer} cannot be reached: {e}"),
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let msg = serde_json::from_str::<logwarden_core::wire::ErrorBody>(&text)
                .map(|b| b.error)
                .unwrap_or(text);
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the standby at {peer} answered {status}: {msg}"),
            ));
        }
        let answer = serde_json::from_str(&text).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("unreadable answer from the standby: {e}"),
            )
        })?;
        return Ok(Json(answer));
    }
    let answer = handover::promote(repl, &state.durable, p.force, token).await?;
    Ok(Json(answer))
}
