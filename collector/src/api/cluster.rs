//! The owner's side of fanned-out reads in cluster mode (`cluster/owner.rs`): the search and
//! count over the partitions asked that this collector owns. Outside cluster mode: 404.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use logwarden_core::wire::{
    ContextParams, ContextResponse, CountParams, CountResponse, FieldsParams, FieldsResponse,
    FleetResponse, SearchParams, SearchResponse, TailParams,
};

use super::{ApiError, AppState};
use crate::cluster::member::Member;
use crate::cluster::owner::{self, Asked};

fn member(state: &AppState) -> Result<std::sync::Arc<Member>, ApiError> {
    state.cluster.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this collector is not in cluster mode ([cluster] is not set)",
        )
    })
}

/// `read` over what this collector holds now, on a blocking thread (a search is CPU work).
async fn on_held<T: Send + 'static>(
    state: &AppState,
    what: &'static str,
    read: impl FnOnce(
        &crate::search::Searcher,
        &owner::Holding,
    ) -> Result<T, crate::search::SearchError>
    + Send
    + 'static,
) -> Result<Json<T>, ApiError> {
    let member = member(state)?;
    let searcher = state.searcher.clone();
    let answer = tokio::task::spawn_blocking(move || read(&searcher, &owner::Holding::of(&member)))
        .await
        .map_err(|e| ApiError::internal(&format!("{what} worker failed"), e))??;
    Ok(Json(answer))
}

pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
    Query(asked): Query<Asked>,
) -> Result<Json<SearchResponse>, ApiError> {
    on_held(&state, "search", move |searcher, holding| {
        owner::search(searcher, &params, &asked, holding, chrono::Utc::now())
    })
    .await
}

pub async fn count(
    State(state): State<AppState>,
    Query(params): Query<CountParams>,
    Query(asked): Query<Asked>,
) -> Result<Json<CountResponse>, ApiError> {
    on_held(&state, "count", move |searcher, holding| {
        owner::count(searcher, &params, &asked, holding, chrono::Utc::now())
    })
    .await
}

/// The second round of a fanned-out count by value: the exact counts of given values.
pub async fn count_values(
    State(state): State<AppState>,
    Query(params): Query<CountParams>,
    Query(values): Query<owner::Values>,
    Query(asked): Query<Asked>,
) -> Result<Json<CountResponse>, ApiError> {
    on_held(&state, "count", move |searcher, holding| {
        owner::count_values(
            searcher,
            &params,
            &values,
            &asked,
            holding,
            chrono::Utc::now(),
        )
    })
    .await
}

/// This collector's own fleet view, for the fan-out (`cluster/fleet.rs`); partitions asked for
/// and not owned are named missing.
pub async fn fleet(
    State(state): State<AppState>,
    Query(asked): Query<Asked>,
) -> Result<Json<FleetResponse>, ApiError> {
    let member = member(&state)?;
    let mut answer = state
        .fleet
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .response();
    let holding = owner::Holding::of(&member);
    (answer.missing_partitions, answer.missing_reasons) = owner::not_answered(&asked, &holding)?;
    Ok(Json(answer))
}

/// An owner's part of the cluster's live tail (`cluster/tail.rs`): this collector's own tail
/// over the partitions asked while it owns them, from now; refused (503) while one of them is
/// not owned or not read yet.
pub async fn tail(
    State(state): State<AppState>,
    conn: Option<axum::Extension<super::listener::ConnSlot>>,
    Query(params): Query<TailParams>,
    Query(asked): Query<Asked>,
) -> Result<axum::response::Response, ApiError> {
    let member = member(&state)?;
    // A partition still being rebuilt would stream its old events as new ones.
    let (missing, reasons) = owner::not_answered(&asked, &owner::Holding::of(&member))?;
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cluster: partitions {missing:?}: {}", reasons.join("; ")),
        ));
    }
    let asked = asked.read()?;
    let mut own = state.clone();
    own.searcher = state
        .searcher
        .scoped(crate::cluster::scope::asked_and_owned(member, asked));
    // This collector's own tail, not the merged one.
    own.cluster = None;
    let params = TailParams {
        q: params.q,
        after: None,
    };
    super::tail_handler(State(own), conn, Query(params)).await
}

/// `GET /api/v1/tail`: in cluster mode every owner's tail merged, else this collector's.
pub async fn any_tail(
    State(state): State<AppState>,
    conn: Option<axum::Extension<super::listener::ConnSlot>>,
    Query(params): Query<TailParams>,
) -> Result<axum::response::Response, ApiError> {
    match state.cluster.clone() {
        Some(member) => merged_tail(state, member, params).await,
        None => super::tail_handler(State(state), conn, Query(params)).await,
    }
}

/// The live tail in cluster mode: every owner's, merged (`cluster/tail.rs`), holding one of
/// this collector's tail slots.
async fn merged_tail(
    state: AppState,
    member: std::sync::Arc<Member>,
    params: TailParams,
) -> Result<axum::response::Response, ApiError> {
    state.searcher.check_query(&params.q)?;
    let Ok(slot) = state.tails.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "the collector has as many live tails open as it allows ([limits] max_tail_streams); retry later",
        ));
    };
    let rx = crate::cluster::tail::open(member, params, state.shutdown.clone()).await?;
    let stream = futures_util::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        let b = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(b), (rx, slot)))
    });
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
            (axum::http::header::CONNECTION, "close"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// The owner's side of the context of a fanned-out hit: this collector's own context, while
/// it owns the hit's partition and has read it.
pub async fn context(
    State(state): State<AppState>,
    Query(params): Query<ContextParams>,
    Query(asked): Query<Asked>,
) -> Result<Json<ContextResponse>, ApiError> {
    let member = member(&state)?;
    let (missing, reasons) = owner::not_answered(&asked, &owner::Holding::of(&member))?;
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cluster: partitions {missing:?}: {}", reasons.join("; ")),
        ));
    }
    let searcher = state.searcher.clone();
    let resp = tokio::task::spawn_blocking(move || searcher.context(&params))
        .await
        .map_err(|e| ApiError::internal("context worker failed", e))??;
    Ok(Json(resp))
}

pub async fn fields(
    State(state): State<AppState>,
    Query(params): Query<FieldsParams>,
    Query(asked): Query<Asked>,
) -> Result<Json<FieldsResponse>, ApiError> {
    on_held(&state, "fields", move |searcher, holding| {
        owner::fields(searcher, &params, &asked, holding, chrono::Utc::now())
    })
    .await
}
