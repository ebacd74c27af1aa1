//! The owner's side of fanned-out reads in cluster mode (`cluster/owner.rs`): the search and
//! count over the partitions asked that this collector owns. Outside cluster mode: 404.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use logwarden_core::wire::{
    CountParams, CountResponse, FleetResponse, SearchParams, SearchResponse,
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

pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
    Query(asked): Query<Asked>,
) -> Result<Json<SearchResponse>, ApiError> {
    let member = member(&state)?;
    let searcher = state.searcher.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let holding = owner::Holding::of(&member);
        owner::search(&searcher, &params, &asked, &holding, chrono::Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal("search worker failed", e))??;
    Ok(Json(answer))
}

pub async fn count(
    State(state): State<AppState>,
    Query(params): Query<CountParams>,
    Query(asked): Query<Asked>,
) -> Result<Json<CountResponse>, ApiError> {
    let member = member(&state)?;
    let searcher = state.searcher.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let holding = owner::Holding::of(&member);
        owner::count(&searcher, &params, &asked, &holding, chrono::Utc::now())
    })
    .await
    .map_err(|e| ApiError::internal("count worker failed", e))??;
    Ok(Json(answer))
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
