//! The live tail of a cluster: `GET /api/v1/tail` asked of any collector in cluster mode opens
//! the tail of every partition owner (`GET /api/v1/cluster/tail?partitions=..`, each its own
//! tail over the partitions asked that it owns) and forwards their lines as one NDJSON stream,
//! in the order they arrive.
//!
//! It never lacks partitions silently: it is refused (503, naming them) when a partition has
//! no reachable owner at the start, and it ends (the client sees the stream end, as when a
//! collector stops) as soon as an owner's stream ends or the owner of any partition changes;
//! `logwarden search -f` can then be run again. It starts from now on every owner: `after` is
//! a position in one collector's WAL and is not passed on.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use logwarden_core::wire::TailParams;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::fanout::{self, Owners};
use super::member::Member;
use super::owner::Asked;
use crate::api::error::ApiError;

pub const TAIL_PATH: &str = "/api/v1/cluster/tail";

/// How often the owners are read again to notice a partition that moved.
const RECHECK: Duration = Duration::from_secs(2);
/// A blank line to the client when nothing came for this long.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The client of the streams: no overall timeout (a tail never ends by itself).
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

/// Opens every owner's tail; the merged lines come out of the receiver, which closes when the
/// tail ends (an owner's stream ended, a partition moved, `stop` fired).
pub async fn open(
    member: std::sync::Arc<Member>,
    params: TailParams,
    stop: CancellationToken,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let owners = fanout::owners(&member).await?;
    if !owners.missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "cluster: no live tail now: partitions {:?} cannot be followed ({}); try again",
                owners.missing,
                owners.reasons.join("; ")
            ),
        ));
    }
    let token = fanout::token(&member)?;
    let mut streams = Vec::new();
    for (url, (id, parts)) in &owners.by_url {
        let mut req = client()
            .get(format!("{url}{TAIL_PATH}"))
            .query(&[("q", params.q.as_str())])
            .query(&[("partitions", Asked::of(parts))]);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cluster: no live tail now: {id} ({parts:?}) did not answer: {e}"),
                )
            })?;
        streams.push(resp);
    }
    let (tx, rx) = mpsc::channel(64);
    let end = stop.child_token();
    for resp in streams {
        tokio::spawn(forward(resp, tx.clone(), end.clone()));
    }
    tokio::spawn(watch(member, owners.by_url, tx, end));
    Ok(rx)
}

/// Forwards one owner's whole lines (not its keep-alives); ends the tail when its stream ends.
async fn forward(mut resp: reqwest::Response, tx: mpsc::Sender<Bytes>, end: CancellationToken) {
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            _ = end.cancelled() => return,
            c = resp.chunk() => c,
        };
        let Ok(Some(chunk)) = chunk else { break };
        partial.extend_from_slice(&chunk);
        let Some(cut) = partial.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let rest = partial.split_off(cut + 1);
        let lines: Vec<u8> = partial
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        partial = rest;
        if !lines.is_empty() && tx.send(Bytes::from(lines)).await.is_err() {
            break;
        }
    }
    end.cancel();
}

/// Ends the tail when the owners differ from those it opened, and sends keep-alives.
async fn watch(
    member: std::sync::Arc<Member>,
    opened: BTreeMap<String, (String, Vec<u32>)>,
    tx: mpsc::Sender<Bytes>,
    end: CancellationToken,
) {
    let mut quiet = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = end.cancelled() => return,
            _ = tx.closed() => break,
            _ = tokio::time::sleep(RECHECK) => {}
        }
        let now: Option<Owners> = fanout::owners(&member).await.ok();
        if now.is_none_or(|o| !o.missing.is_empty() || o.by_url != opened) {
            tracing::info!("cluster: a partition moved; the live tail ends");
            break;
        }
        if quiet.elapsed() >= KEEPALIVE {
            quiet = tokio::time::Instant::now();
            if tx.send(Bytes::from_static(b"\n")).await.is_err() {
                break;
            }
        }
    }
    end.cancel();
}
