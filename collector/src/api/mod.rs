//! The HTTP API (PRODUCT.md, "HTTP API"): routes and handlers. The router is built by [`app`]
//! apart from any socket, so that tests can call it directly.

mod alerts;
mod cluster;
mod context;
pub mod error;
mod fields;
mod fleet;
pub mod listener;
mod replication;
mod trace;
mod write_timeout;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use logwarden_core::wire::{
    ALERTS_PATH, COUNT_PATH, CountParams, CountResponse, FLEET_PATH, FleetResponse, INGEST_PATH,
    IndexStatus, IngestResponse, PROMOTE_PATH, PartitionStatus, Rejected, SEARCH_PATH,
    SILENCES_PATH, STATUS_PATH, SearchParams, SearchResponse, StatusResponse, TAIL_PATH,
    TailParams, WalStatus,
};
use tokio::sync::watch;

pub use error::ApiError;

use crate::auth::{Auth, Role};
use crate::ingest::{self, IngestError, Limits};
use crate::rules::AlertsHandle;
use crate::search::Searcher;
use crate::wal::{Committer, WalStats};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub committer: Committer,
    /// The rules engine: alerts, acks, silences.
    pub alerts: AlertsHandle,
    /// Who may call what (tokens by role, re-read from the tokens file).
    pub auth: Arc<Auth>,
    pub searcher: Searcher,
    pub index_stats: Arc<crate::index::IndexStats>,
    pub limits: Limits,
    /// How long the body of a request may take to arrive once its headers have.
    pub body_timeout: std::time::Duration,
    pub site: String,
    pub durable: watch::Receiver<u64>,
    pub indexed: watch::Receiver<u64>,
    pub wal_stats: Arc<WalStats>,
    pub corrupt_records: u64,
    pub fleet: crate::fleet::SharedFleet,
    /// Fires when the collector stops: long-lived responses (live tail) end with it, so that
    /// the graceful shutdown does not wait for them forever.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub space: crate::ingest::SpaceLimits,
    pub data_dir: std::path::PathBuf,
    pub counters: Arc<crate::metrics::Counters>,
    /// Role, epoch and the state of replication with the peer collector.
    pub replication: Arc<crate::replication::Replication>,
    /// The memory all ingest bodies may hold at once (`[limits] max_memory_bytes`).
    pub memory: crate::ingest::budget::MemoryBudget,
    /// Live tails open at once, apart from the connection slots (`[limits] max_tail_streams`).
    pub tails: Arc<tokio::sync::Semaphore>,
    /// Cluster mode: ingest is published to JetStream (crate::cluster).
    pub cluster: Option<Arc<crate::cluster::member::Member>>,
}

impl AppState {
    /// The last durable LSN. Read through here, never as `*state.durable.borrow()` inside a
    /// larger expression: the borrow holds the channel's read lock to the end of the statement,
    /// and a second borrow in the same statement waits behind the committer's next update,
    /// which waits for the first: `GET /metrics` read it twice in one statement, and in a
    /// syslog burst polled every 20 ms it hung both tokio workers for good (session 11).
    pub fn durable_lsn(&self) -> u64 {
        *self.durable.borrow()
    }

    /// The LSN through which the index is committed (read as [`AppState::durable_lsn`] is).
    pub fn indexed_lsn(&self) -> u64 {
        *self.indexed.borrow()
    }
}

/// The routes, grouped by the role they need (crate::auth): a new route goes into the group of
/// its role, and the check comes with it.
pub fn app(state: AppState) -> Router {
    let ingest = Router::new()
        .route(INGEST_PATH, post(ingest_handler))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        ));
    // The peer collector's calls: the standby's pull of the log (a POST: it reports the
    // standby's progress, which releases acks) and the primary's part of a switchover.
    let peer_calls = Router::new()
        .route(
            crate::replication::follow::WAL_STREAM_PATH,
            post(replication::wal_stream),
        )
        .route(
            crate::replication::handover::HANDOVER_PATH,
            post(replication::handover),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_replication,
        ));
    // The status: for readers, and for the peer collector's watch of the epoch.
    let status = Router::new()
        .route(STATUS_PATH, get(status_handler))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_status,
        ));
    let read = Router::new()
        .route(SEARCH_PATH, get(search_handler))
        .route(FLEET_PATH, get(fleet_handler))
        .route(COUNT_PATH, get(count_handler))
        .route(logwarden_core::wire::CONTEXT_PATH, get(context::context))
        .route(logwarden_core::wire::FIELDS_PATH, get(fields::fields))
        .route(TAIL_PATH, get(cluster::any_tail))
        .route(crate::cluster::status::CLUSTER_PATH, get(cluster_handler))
        .route(crate::cluster::owner::SEARCH_PATH, get(cluster::search))
        .route(crate::cluster::owner::COUNT_PATH, get(cluster::count))
        .route(
            crate::cluster::owner::COUNT_VALUES_PATH,
            get(cluster::count_values),
        )
        .route(crate::cluster::fleet::FLEET_PATH, get(cluster::fleet))
        .route(crate::cluster::tail::TAIL_PATH, get(cluster::tail))
        .route(crate::cluster::owner::CONTEXT_PATH, get(cluster::context))
        .route(crate::cluster::owner::FIELDS_PATH, get(cluster::fields))
        .route("/metrics", get(metrics_handler))
        .route(ALERTS_PATH, get(alerts::list))
        .route(SILENCES_PATH, get(alerts::silences))
        .route(logwarden_core::trace::TRACE_PATH, get(trace::trace))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read));
    let admin = Router::new()
        .route(PROMOTE_PATH, post(replication::promote))
        .route("/api/v1/alerts/{id}/ack", post(alerts::ack))
        .route("/api/v1/fleet/{host}/forget", post(fleet::forget))
        .route(logwarden_core::wire::ALERTS_TEST_PATH, post(alerts::test))
        .route(SILENCES_PATH, post(alerts::add_silence))
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(alerts::expire_silence),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    // The page itself holds no data (it fetches it with the read API), so it is served to all.
    Router::new()
        .route("/", get(index_page))
        .merge(ingest)
        .merge(peer_calls)
        .merge(status)
        .merge(read)
        .merge(admin)
        .with_state(state)
}

/// Middleware: the call needs the ingest role.
pub async fn require_ingest(state: State<AppState>, req: Request, next: Next) -> Response {
    authorize(&[Role::Ingest], state, req, next).await
}

/// Middleware: the call needs the read role (or admin).
pub async fn require_read(state: State<AppState>, req: Request, next: Next) -> Response {
    authorize(&[Role::Read], state, req, next).await
}

/// Middleware: the call is the peer collector's (or admin's).
pub async fn require_replication(state: State<AppState>, req: Request, next: Next) -> Response {
    authorize(&[Role::Replication], state, req, next).await
}

/// Middleware: the status, for readers and the peer collector.
pub async fn require_status(state: State<AppState>, req: Request, next: Next) -> Response {
    authorize(&[Role::Read, Role::Replication], state, req, next).await
}

/// Middleware: the call changes state and needs the admin role (ack, silence, promote).
pub async fn require_admin(state: State<AppState>, req: Request, next: Next) -> Response {
    authorize(&[Role::Admin], state, req, next).await
}

async fn authorize(
    roles: &[Role],
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    // Set by the listener; a router called without one (no socket) counts as remote.
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match state.auth.check_any(roles, peer, bearer(req.headers())) {
        Ok(grant) => {
            // The ingest handler checks the ids of a bound token (crate::auth::binding).
            let mut req = req;
            if let Some(g) = grant {
                req.extensions_mut().insert(g);
            }
            next.run(req).await
        }
        Err(denied) => {
            state.counters.auth_refused.fetch_add(1, Relaxed);
            if roles[0] == Role::Ingest {
                state.counters.ingest_refused.fetch_add(1, Relaxed);
            }
            ApiError::new(denied.status, denied.message).into_response()
        }
    }
}

async fn index_page() -> impl IntoResponse {
    Html(include_str!("../web/index.html"))
}

/// The token of an `Authorization: Bearer ...` header, if there is one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn ingest_handler(
    State(state): State<AppState>,
    grant: Option<axum::Extension<crate::auth::Grant>>,
    headers: HeaderMap,
    body: Body,
) -> axum::response::Response {
    let counters = state.counters.clone();
    let repl = state.replication.clone();
    // Counted from before the role check, so that a handover that starts draining after the
    // check still waits for this request.
    let _in_flight = repl.ingest_guard();
    if let Err(why) = repl.takes_ingest() {
        counters.ingest_refused.fetch_add(1, Relaxed);
        return replication::not_now(why);
    }
    let answer = ingest(state, grant.map(|g| g.0), headers, body).await;
    match &answer {
        Ok(Json(r)) => {
            counters.ingest_accepted.fetch_add(r.accepted, Relaxed);
            counters
                .ingest_duplicates
                .fetch_add(r.duplicates.len() as u64, Relaxed);
            counters
                .ingest_rejected
                .fetch_add(r.rejected.len() as u64, Relaxed);
        }
        Err(_) => {
            counters.ingest_refused.fetch_add(1, Relaxed);
        }
    }
    answer.into_response()
}

/// The whole request body, or 408 when it does not arrive within `[limits] body_timeout`: a
/// body that trickles in (slow-loris) holds a connection. The inner error is a body over
/// `max_body_bytes`.
async fn body_in_time(
    state: &AppState,
    body: Body,
) -> Result<Result<bytes::Bytes, axum::Error>, ApiError> {
    tokio::time::timeout(
        state.body_timeout,
        axum::body::to_bytes(body, state.limits.max_body_bytes),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s ([limits] body_timeout)",
                state.body_timeout.as_secs_f64()
            ),
        )
    })
}

async fn ingest(
    state: AppState,
    grant: Option<crate::auth::Grant>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    state
        .space
        .check(&state.wal_stats, &state.data_dir)
        .map_err(|why| ApiError::new(StatusCode::TOO_MANY_REQUESTS, why))?;
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
    // Room in the memory budget for the body before a byte of it is read; the decompressed
    // form reserves more as it grows. Held until the answer.
    let mut reservation = state
        .memory
        .reserve(
            declared.unwrap_or(state.limits.max_body_bytes),
            crate::ingest::budget::WAIT,
        )
        .await
        .map_err(|spent| {
            state.counters.memory_refused.fetch_add(1, Relaxed);
            ApiError::from(IngestError::Busy(spent))
        })?;
    let body = body_in_time(&state, body).await?.map_err(|_| too_large())?;
    state
        .counters
        .ingest_bytes
        .fetch_add(body.len() as u64, Relaxed);
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limits = state.limits.clone();
    // Decompressing and parsing is CPU work: keep it off the async workers. The reservation
    // comes back to be held until the answer.
    let (result, _reservation) = tokio::task::spawn_blocking(move || {
        let result =
            ingest::decode_body_within(encoding.as_deref(), body, &limits, Some(&mut reservation))
                .and_then(|decoded| Ok((ingest::check_lines(&decoded, &limits)?, decoded)));
        (result, reservation)
    })
    .await
    .map_err(|e| ApiError::internal("ingest worker failed", e))?;
    if let Err(IngestError::Busy(_)) = &result {
        state.counters.memory_refused.fetch_add(1, Relaxed);
    }
    let (checked, decoded) = result?;
    if let Some(g) = &grant
        && let Some(bound) = &g.agent
        && let Err(why) =
            crate::auth::binding::check(&g.name, bound, &checked.events, &checked.lines)
    {
        state.counters.ingest_id_refused.fetch_add(1, Relaxed);
        return Err(ApiError::new(StatusCode::FORBIDDEN, why));
    }
    let lines = checked.lines;
    let rejected: Vec<Rejected> = checked.rejected;
    let committed = if checked.events.is_empty() {
        crate::wal::Committed::default()
    } else if let Some(cluster) = &state.cluster {
        let published = cluster.publish(&checked.events).await;
        published.map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why))?
    } else {
        let originals = crate::wal::Originals {
            body: decoded,
            spans: checked.spans,
        };
        state
            .committer
            .commit(checked.events, originals)
            .await
            .map_err(|e| ApiError::internal("write-ahead log write failed", e))?
    };
    // Duplicates may sit in a record the standby does not hold yet: wait for the whole log.
    let wait_for = committed.lsn.unwrap_or(state.durable_lsn());
    let replicated = state.replication.wait_replicated(wait_for).await;
    if !replicated && state.replication.takes_ingest().is_err() {
        // Stepped down meanwhile and the standby may not hold this batch: an ack now could
        // be a lie. The agent sends it again to the new primary.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this collector stepped down before the batch was replicated; send it again",
        ));
    }
    Ok(Json(IngestResponse {
        accepted: committed.accepted,
        duplicates: committed.duplicates.iter().map(|&i| lines[i]).collect(),
        rejected,
        lsn: committed.lsn,
        epoch: state.replication.epoch(),
        cluster: state.cluster.is_some(),
    }))
}

#[derive(serde::Deserialize)]
struct ClusterParams {
    /// The whole cluster too (cluster::view).
    #[serde(default)]
    view: bool,
}

async fn cluster_handler(
    State(state): State<AppState>,
    Query(params): Query<ClusterParams>,
) -> Json<serde_json::Value> {
    Json(crate::cluster::status::report(state.cluster.as_deref(), params.view).await)
}

async fn search_handler(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    if let Some(cluster) = &state.cluster {
        // `search -f` goes on with this collector's own tail (docs/scale.md).
        let indexed_lsn = state.indexed_lsn();
        let mut resp = crate::cluster::fanout::search(cluster, params).await?;
        resp.indexed_lsn = indexed_lsn;
        return Ok(Json(resp));
    }
    let searcher = state.searcher.clone();
    // Read before searching: everything up to it is in the results, so a tail from here
    // misses nothing (it may repeat a few events committed meanwhile; clients skip known ids).
    let indexed_lsn = state.indexed_lsn();
    let mut resp =
        tokio::task::spawn_blocking(move || searcher.search(&params, chrono::Utc::now()))
            .await
            .map_err(|e| ApiError::internal("search worker failed", e))??;
    resp.indexed_lsn = indexed_lsn;
    Ok(Json(resp))
}

async fn status_handler(State(state): State<AppState>) -> Json<StatusResponse> {
    let durable = state.durable_lsn();
    let indexed = state.indexed_lsn();
    let repl = &state.replication;
    let lag = repl.lag(durable);
    let replication = repl.status(durable);
    Json(StatusResponse {
        cluster: match state.cluster.as_deref() {
            Some(m) => Some(crate::cluster::status::with_view(m).await),
            None => None,
        },
        version: env!("CARGO_PKG_VERSION").to_owned(),
        role: repl.role().as_str().into(),
        site: state.site.clone(),
        epoch: repl.epoch(),
        wal: WalStatus {
            durable_lsn: durable,
            first_lsn: state.wal_stats.first_lsn.load(Relaxed),
            held_by: state
                .wal_stats
                .held_by
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .map(str::to_owned),
            segments: state.wal_stats.segments.load(Relaxed),
            bytes: state.wal_stats.bytes.load(Relaxed),
            corrupt_records: state.corrupt_records,
        },
        index: IndexStatus {
            indexed_lsn: indexed,
            lag_records: durable.saturating_sub(indexed),
            docs: state.searcher.docs(),
            partitions: state
                .searcher
                .catalog()
                .all()
                .iter()
                .map(|p| PartitionStatus {
                    day: p.day,
                    docs: p.docs(),
                    bytes: p.bytes(),
                    lsn: p.lsn(),
                })
                .collect(),
            dropped_through: state.searcher.catalog().dropped_through(),
            expired_events: state.index_stats.expired_events.load(Relaxed),
        },
        replication_lag: lag,
        primary: repl.primary_url(),
        replication,
    })
}

async fn fleet_handler(State(state): State<AppState>) -> Result<Json<FleetResponse>, ApiError> {
    if let Some(cluster) = &state.cluster {
        return crate::cluster::fleet::view(cluster).await.map(Json);
    }
    let fleet = state.fleet.read().unwrap_or_else(|p| p.into_inner());
    Ok(Json(fleet.response()))
}

async fn count_handler(
    State(state): State<AppState>,
    Query(params): Query<CountParams>,
) -> Result<Json<CountResponse>, ApiError> {
    if let Some(cluster) = &state.cluster {
        return crate::cluster::fanout::count(cluster, params)
            .await
            .map(Json);
    }
    let searcher = state.searcher.clone();
    let resp = tokio::task::spawn_blocking(move || searcher.count(&params, chrono::Utc::now()))
        .await
        .map_err(|e| ApiError::internal("count worker failed", e))??;
    Ok(Json(resp))
}

/// How often a silent tail sends a blank line, which also notices a client that went away.
const TAIL_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// What a live tail may hold for a reader that has not taken it yet; past it the reader is
/// too slow and the tail ends (the reader sees the stream end and can resume with `after`).
const TAIL_BUFFER_BYTES: usize = 4 << 20;

async fn tail_handler(
    State(state): State<AppState>,
    conn: Option<axum::Extension<listener::ConnSlot>>,
    Query(params): Query<TailParams>,
) -> Result<axum::response::Response, ApiError> {
    state.searcher.check_query(&params.q)?;
    // Tails have slots of their own: this one gives its connection's slot back, so that
    // readers can never take the slots agents need.
    let Ok(tail_slot) = state.tails.clone().try_acquire_owned() else {
        state
            .counters
            .client_connections_refused
            .fetch_add(1, Relaxed);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "the collector has as many live tails open as it allows ([limits] max_tail_streams); retry later",
        ));
    };
    if let Some(axum::Extension(slot)) = conn {
        slot.release();
    }
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counters = state.counters.clone();
    let mut indexed = state.indexed.clone();
    let mut last = params.after.unwrap_or(*indexed.borrow_and_update());
    // NDJSON chunks to the client; the task stops when the client is gone (a send fails) or
    // the collector stops (the index channel closes).
    // Each chunk carries its share of the memory budget until the reader takes it.
    type Chunk = (
        axum::body::Bytes,
        Option<crate::ingest::budget::Reservation>,
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(64);
    let memory = state.memory.clone();
    let searcher = state.searcher.clone();
    let shutdown = state.shutdown.clone();
    let held = queued.clone();
    tokio::spawn(async move {
        let _tail_slot = tail_slot;
        loop {
            let now = *indexed.borrow_and_update();
            if now > last {
                let (searcher, q) = (searcher.clone(), params.q.clone());
                let found =
                    tokio::task::spawn_blocking(move || searcher.after_lsn(&q, last, now)).await;
                let Ok(Ok((events, skipped))) = found else {
                    return;
                };
                let mut chunk = Vec::new();
                for e in &events {
                    serde_json::to_writer(&mut chunk, e).expect("an event always serializes");
                    chunk.push(b'\n');
                }
                if skipped > 0 {
                    tracing::warn!(
                        skipped,
                        "live tail skipped events over its per-commit limit"
                    );
                }
                if !chunk.is_empty() {
                    // Never waits for the reader: one that left more than the buffer untaken
                    // is dropped, not buffered without end.
                    let before = held.fetch_add(chunk.len(), Relaxed);
                    if before > 0 && before + chunk.len() > TAIL_BUFFER_BYTES {
                        counters.tail_dropped.fetch_add(1, Relaxed);
                        tracing::warn!(
                            untaken = before,
                            "live tail dropped: its reader takes events slower than they come"
                        );
                        return;
                    }
                    let Ok(share) = memory.try_reserve(chunk.len()) else {
                        counters.tail_dropped.fetch_add(1, Relaxed);
                        tracing::warn!(
                            "live tail dropped: the memory budget ([limits] max_memory_bytes) is spent"
                        );
                        return;
                    };
                    match tx.try_send((chunk.into(), Some(share))) {
                        Ok(()) => {}
                        Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                            counters.tail_dropped.fetch_add(1, Relaxed);
                            return;
                        }
                        Err(_) => return,
                    }
                }
                last = now;
            }
            tokio::select! {
                r = indexed.changed() => if r.is_err() { return },
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(TAIL_KEEPALIVE) => {
                    if tx.send((axum::body::Bytes::from_static(b"\n"), None)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let queued = queued.clone();
        async move {
            let (b, share) = rx.recv().await?;
            drop(share);
            queued.fetch_sub(b.len().min(queued.load(Relaxed)), Relaxed);
            Some((Ok::<_, std::convert::Infallible>(b), rx))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            // The connection gave its slot back: it ends with the tail.
            (header::CONNECTION, "close"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn metrics_handler(State(state): State<AppState>) -> impl IntoResponse {
    let alerts = state.alerts.list(true).await.unwrap_or_default();
    let fleet = state
        .fleet
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .response();
    let durable = state.durable_lsn();
    let positions = crate::metrics::Positions {
        wal_bytes: state.wal_stats.bytes.load(Relaxed),
        wal_segments: state.wal_stats.segments.load(Relaxed),
        wal_durable_lsn: durable,
        wal_first_lsn: state.wal_stats.first_lsn.load(Relaxed),
        wal_corrupt_records: state.corrupt_records,
        index_lsn: state.indexed_lsn(),
        index_docs: state.searcher.docs(),
        index_backlog_bytes: state.wal_stats.backlog.bytes(),
        index_yielded_seconds: state.wal_stats.backlog.yielded_seconds(),
        primary: u64::from(state.replication.role() == crate::replication::Role::Primary),
        epoch: state.replication.epoch(),
        replication_lag: state.replication.lag(durable),
        replication_degraded: u64::from(state.replication.degraded()),
        replication_write_failing: u64::from(state.replication.write_failure().is_some()),
        events_future_clamped: state.wal_stats.future_clamped.load(Relaxed),
        cluster: state.cluster.as_deref().map(crate::cluster::status::gauges),
    };
    let text = crate::metrics::render(&state.counters, &positions, &alerts, &fleet);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
