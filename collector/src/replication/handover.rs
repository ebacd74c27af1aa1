//! Role changes: the planned switchover (`logwarden promote`), a forced promotion, and the
//! primary's watch on its peer that makes it step down when the peer holds a higher epoch.
//!
//! A planned switchover, asked of the standby:
//! 1. the standby asks the primary to hand over at epoch E+1 (`POST .../handover?epoch=E+1`);
//! 2. the primary stops taking batches (503), waits for the requests in flight, waits until the
//!    standby has asked past its last durable LSN, saves `standby` at E+1 and answers;
//! 3. the standby checks it holds that LSN, saves `primary` at E+1 and restarts as primary.
//!
//! Batches refused meanwhile stay in the agents' spools and are sent again.

use std::sync::Arc;
use std::time::Duration;

use logwarden_core::wire::{PromoteResponse, STATUS_PATH, StatusResponse};
use tokio::sync::watch;

use super::{Replication, Role};

pub const HANDOVER_PATH: &str = "/api/v1/replication/handover";

/// How long a handover waits for the requests in flight and for the standby to catch up.
const CATCH_UP: Duration = Duration::from_secs(10);

/// Why a role change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The request came to a collector in the wrong role or with a stale epoch.
    #[error("{0}")]
    Refused(String),
    /// The peer could not be reached or did not agree.
    #[error("{0}")]
    Peer(String),
    /// The standby did not catch up (or requests did not finish) in time: nothing changed.
    #[error("{0}")]
    Timeout(String),
    /// The new role could not be saved.
    #[error(transparent)]
    State(#[from] super::state::StateError),
}

/// Primary side of step 2: hand over to the standby at `epoch`. Returns the last durable LSN.
pub async fn hand_over(
    repl: &Replication,
    durable: &watch::Receiver<u64>,
    epoch: u64,
) -> Result<u64, HandoverError> {
    if repl.role() != Role::Primary {
        return Err(HandoverError::Refused(
            "this collector is not the primary".into(),
        ));
    }
    // The standby asks for the epoch after the one both hold: anything else is a confusion
    // or a forgery, and a far epoch, once saved, would fence this collector for good.
    if Some(epoch) != super::next_epoch(repl.epoch()) {
        return Err(HandoverError::Refused(format!(
            "a handover is to the next epoch ({}), not to epoch {epoch}",
            repl.epoch().saturating_add(1)
        )));
    }
    let started = std::time::Instant::now();
    if !repl.drain(CATCH_UP).await {
        repl.undrain();
        return Err(HandoverError::Timeout(
            "ingest requests did not finish in time; the primary carries on".into(),
        ));
    }
    // The alert engine may still write a record meanwhile (a notification sent): wait until
    // the standby holds the log as it is when we step down.
    let mut last = *durable.borrow();
    loop {
        if !repl.wait_standby(last, CATCH_UP).await {
            repl.undrain();
            return Err(HandoverError::Timeout(format!(
                "the standby did not copy up to LSN {last} within {CATCH_UP:?}; the primary carries on"
            )));
        }
        let now = *durable.borrow();
        if now == last {
            break;
        }
        last = now;
    }
    repl.step_down(epoch)?;
    tracing::info!(epoch, lsn = last, took = ?started.elapsed(), "handed over to the standby");
    Ok(last)
}

/// Standby side: a planned switchover (or, with `force`, a promotion without the primary).
pub async fn promote(
    repl: &Replication,
    durable: &watch::Receiver<u64>,
    force: bool,
    token: Option<&str>,
) -> Result<PromoteResponse, HandoverError> {
    if repl.role() != Role::Standby {
        return Err(HandoverError::Refused(
            "this collector is already the primary".into(),
        ));
    }
    let epoch = super::next_epoch(repl.epoch()).ok_or_else(|| {
        HandoverError::Refused(format!(
            "epoch {} is the last one; it cannot be raised (fix failover.json by hand)",
            repl.epoch()
        ))
    })?;
    let mut handed_over_at = None;
    if !force {
        let peer = repl
            .settings
            .peer
            .clone()
            .ok_or_else(|| HandoverError::Refused("no peer configured".into()))?;
        let url = peer
            .join(HANDOVER_PATH)
            .map_err(|e| HandoverError::Peer(e.to_string()))?;
        let mut req = reqwest::Client::new()
            .post(url)
            .query(&[("epoch", epoch)])
            .timeout(CATCH_UP * 3);
        // The pair's own token first: it has the replication role on the primary, where the
        // caller's admin token may not exist.
        if let Some(t) = repl.settings.token.as_deref().or(token) {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| {
            HandoverError::Peer(format!(
                "the primary at {peer} cannot be reached ({e}); if it is down for good, promote with --force"
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(HandoverError::Peer(format!(
                "the primary refused the handover: {status}: {text}"
            )));
        }
        let answer: PromoteResponse = serde_json::from_str(&text)
            .map_err(|e| HandoverError::Peer(format!("unreadable handover answer: {e}")))?;
        // The primary waited for this collector to ask past its last LSN, so this holds at once.
        let mut d = durable.clone();
        let lsn = answer.durable_lsn;
        if tokio::time::timeout(CATCH_UP, d.wait_for(|&x| x >= lsn))
            .await
            .is_err()
        {
            return Err(HandoverError::Timeout(format!(
                "the primary handed over at LSN {lsn} but this collector holds only {}",
                *durable.borrow()
            )));
        }
        handed_over_at = Some(lsn);
    }
    repl.become_primary(epoch)?;
    Ok(PromoteResponse {
        epoch,
        durable_lsn: handed_over_at.unwrap_or(*durable.borrow()),
        site: repl.site.clone(),
    })
}

/// The peer's epoch, if it answers within a second.
pub async fn peer_epoch(settings: &super::ReplicationSettings) -> Option<u64> {
    let url = settings.peer.as_ref()?.join(STATUS_PATH).ok()?;
    let mut req = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(1));
    if let Some(t) = &settings.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.ok()?;
    resp.json::<StatusResponse>().await.ok().map(|s| s.epoch)
}

/// Primary side: asks the peer's status every second; a peer at a higher epoch means this
/// collector was replaced, and it steps down at once.
pub async fn watch_peer(repl: Arc<Replication>) {
    let Some(peer) = repl.settings.peer.clone() else {
        return;
    };
    let Ok(url) = peer.join(STATUS_PATH) else {
        return;
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = repl.restart.cancelled() => return,
        }
        let mut req = http.get(url.clone());
        if let Some(t) = &repl.settings.token {
            req = req.bearer_auth(t);
        }
        let Ok(resp) = req.send().await else {
            continue;
        };
        let Ok(status) = resp.json::<StatusResponse>().await else {
            continue;
        };
        if status.epoch > repl.epoch() {
            if let Err(e) = repl.step_down(status.epoch) {
                tracing::error!(error = %e, "cannot save the step-down; refusing ingest until restarted");
            }
            return;
        }
        if status.site == repl.site {
            tracing::error!(peer = %peer, site = status.site, "the peer has this collector's site name: give each collector its own `site`");
        }
        if status.role == "primary" && status.epoch == repl.epoch() {
            tracing::error!(peer = %peer, epoch = status.epoch, "the peer is also primary at the same epoch: check the configuration of both collectors");
        }
    }
}
