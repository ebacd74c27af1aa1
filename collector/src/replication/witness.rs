//! The witness: a small third process (`logwarden-collector witness`) at a third site that
//! decides which collector may be primary when the two cannot see each other.
//!
//! It keeps one *lease*: the epoch, the site that holds it, and until when. The primary renews
//! it every second; the standby may *claim* the next epoch only once the lease has run out, and
//! the witness grants each epoch to one claimant only. A primary that cannot renew stops
//! acknowledging before its lease can have run out at the witness (it counts from the moment it
//! *sent* the renewal, and only to 80 % of the lease), so once the standby holds the new epoch
//! the old primary has stopped acknowledging: no split brain, without synchronised clocks.
//!
//! State file `<data_dir>/witness.json`, saved atomically before any answer that grants:
//! `{"version":1,"epoch":2,"holder":"site-b"}`. The lease's end is not saved: after a restart
//! the witness waits 60 s, longer than any lease (`failover_timeout_s` is at most 60), before it
//! grants a claim.
//!
//! Only collectors vote: a renewal or a claim needs a token of the `replication` role
//! (`witness_tokens.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::witness_tokens::Refused;

pub const RENEW_PATH: &str = "/api/v1/witness/renew";
pub const CLAIM_PATH: &str = "/api/v1/witness/claim";

const VERSION: u32 = 1;

/// A renewal or a claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub site: String,
    pub epoch: u64,
    /// How long the lease lasts from now.
    pub lease_ms: u64,
}

/// The witness's answer, granted or not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseAnswer {
    pub granted: bool,
    /// The epoch the witness holds now, and its holder.
    pub epoch: u64,
    pub holder: String,
    /// Why not, when not granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    version: u32,
    epoch: u64,
    holder: String,
}

struct Lease {
    saved: Saved,
    until: Instant,
}

#[derive(Clone)]
struct Witness {
    path: PathBuf,
    lease: Arc<Mutex<Lease>>,
}

impl Witness {
    fn open(data_dir: &Path) -> anyhow::Result<Witness> {
        use anyhow::Context;
        let path = data_dir.join("witness.json");
        let saved = match std::fs::read(&path) {
            Ok(b) => {
                let s: Saved = serde_json::from_slice(&b)
                    .with_context(|| format!("witness state {} is unreadable", path.display()))?;
                if s.version != VERSION {
                    anyhow::bail!("witness state {} has version {}", path.display(), s.version);
                }
                s
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved {
                version: VERSION,
                epoch: 0,
                holder: String::new(),
            },
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        // Unknown lease end after a restart: assume the longest a primary would ask for.
        let until = Instant::now() + Duration::from_secs(60);
        Ok(Witness {
            path,
            lease: Arc::new(Mutex::new(Lease { saved, until })),
        })
    }

    fn answer(l: &Lease, granted: bool, reason: Option<String>) -> LeaseAnswer {
        LeaseAnswer {
            granted,
            epoch: l.saved.epoch,
            holder: l.saved.holder.clone(),
            reason,
        }
    }

    fn save(&self, s: &Saved) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(s).map_err(std::io::Error::other)?;
        logwarden_core::durable::save_atomically(&self.path, &bytes)
    }

    /// The primary keeps its lease: granted for the holder of the current epoch, or for a
    /// higher epoch (a switchover the witness did not take part in).
    fn renew(&self, r: &LeaseRequest) -> Result<LeaseAnswer, std::io::Error> {
        let mut l = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(why) = Self::out_of_reach(&l, r) {
            return Ok(Self::answer(&l, false, Some(why)));
        }
        if r.epoch < l.saved.epoch || (r.epoch == l.saved.epoch && r.site != l.saved.holder) {
            let why = format!("epoch {} belongs to {}", l.saved.epoch, l.saved.holder);
            return Ok(Self::answer(&l, false, Some(why)));
        }
        if r.epoch > l.saved.epoch {
            self.grant(&mut l, r)?;
        }
        l.until = now + Duration::from_millis(r.lease_ms);
        Ok(Self::answer(&l, true, None))
    }

    /// Why an epoch far past the one held is refused (`super::MAX_EPOCH_STEP`): granted, it
    /// would be the epoch every collector then believes, up to a wrap at `u64::MAX`.
    fn out_of_reach(l: &Lease, r: &LeaseRequest) -> Option<String> {
        (!super::epoch_within_reach(l.saved.epoch, r.epoch)).then(|| {
            format!(
                "epoch {} is more than {} past the epoch held ({})",
                r.epoch,
                super::MAX_EPOCH_STEP,
                l.saved.epoch
            )
        })
    }

    /// Gives `r.epoch` to `r.site`, durably before anyone hears of it.
    fn grant(&self, l: &mut Lease, r: &LeaseRequest) -> std::io::Result<()> {
        let s = Saved {
            version: VERSION,
            epoch: r.epoch,
            holder: r.site.clone(),
        };
        self.save(&s)?;
        l.saved = s;
        Ok(())
    }

    /// A standby asks for a new epoch: granted once, and only after the lease ran out.
    fn claim(&self, r: &LeaseRequest) -> Result<LeaseAnswer, std::io::Error> {
        let mut l = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(why) = Self::out_of_reach(&l, r) {
            return Ok(Self::answer(&l, false, Some(why)));
        }
        if r.epoch <= l.saved.epoch {
            let why = format!(
                "epoch {} is already granted to {}",
                l.saved.epoch, l.saved.holder
            );
            return Ok(Self::answer(&l, false, Some(why)));
        }
        if now < l.until && l.saved.holder != r.site {
            let why = format!(
                "{} renewed its lease; it runs {} ms more",
                l.saved.holder,
                (l.until - now).as_millis()
            );
            return Ok(Self::answer(&l, false, Some(why)));
        }
        self.grant(&mut l, r)?;
        l.until = now + Duration::from_millis(r.lease_ms);
        tracing::warn!(
            epoch = r.epoch,
            site = r.site,
            "witness granted a new epoch"
        );
        Ok(Self::answer(&l, true, None))
    }
}

type Answer = Result<Json<LeaseAnswer>, (StatusCode, String)>;

fn io_failed(e: std::io::Error) -> (StatusCode, String) {
    tracing::error!(error = %e, "witness cannot save its state");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the witness cannot save its state".into(),
    )
}

async fn renew(State(w): State<Witness>, Json(r): Json<LeaseRequest>) -> Answer {
    w.renew(&r).map(Json).map_err(io_failed)
}

async fn claim(State(w): State<Witness>, Json(r): Json<LeaseRequest>) -> Answer {
    w.claim(&r).map(Json).map_err(io_failed)
}

/// Serves the witness on `listener` until `shutdown` fires; votes need a token `auth` accepts.
pub async fn serve(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    auth: Arc<crate::auth::Auth>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let w = Witness::open(data_dir)?;
    super::witness_tokens::watch(&auth, shutdown.clone());
    let app = Router::new()
        .route(RENEW_PATH, post(renew))
        .route(CLAIM_PATH, post(claim))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            super::witness_tokens::require_vote,
        ))
        .with_state(w);
    println!("logwarden-collector ready");
    std::io::Write::flush(&mut std::io::stdout()).ok();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await?;
    Ok(())
}

/// Why a vote got no answer.
#[derive(Debug)]
pub enum NoAnswer {
    /// The witness cannot be reached (or answered something else than a lease).
    Unreachable,
    /// The witness refused this collector's token (401, 403).
    Refused(Refused),
}

/// Asks the witness at `base` (a renewal or a claim), presenting `token`.
pub async fn ask(
    http: &reqwest::Client,
    base: &reqwest::Url,
    path: &str,
    req: &LeaseRequest,
    token: Option<&str>,
) -> Result<LeaseAnswer, NoAnswer> {
    let url = base.join(path).map_err(|_| NoAnswer::Unreachable)?;
    let mut call = http.post(url).json(req);
    if let Some(t) = token {
        call = call.bearer_auth(t);
    }
    let resp = call.send().await.map_err(|_| NoAnswer::Unreachable)?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let message = resp.text().await.unwrap_or_default();
        return Err(NoAnswer::Refused(Refused { status, message }));
    }
    if !status.is_success() {
        return Err(NoAnswer::Unreachable);
    }
    resp.json().await.map_err(|_| NoAnswer::Unreachable)
}

/// The token a collector presents to the witness: `[replication] witness_token`, or else its
/// `[replication] token`.
fn vote_token(repl: &super::Replication) -> Option<&str> {
    let s = &repl.settings;
    s.witness_token.as_deref().or(s.token.as_deref())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(900))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap_or_default()
}

/// Primary side: renews the lease every 250 ms; a witness that names a higher epoch makes
/// this collector step down. Runs until the round ends.
pub async fn keep_lease(repl: Arc<super::Replication>) {
    let Some(base) = repl.settings.witness.clone() else {
        return;
    };
    let http = client();
    let mut unreachable = 0u32;
    loop {
        let sent = Instant::now();
        let req = LeaseRequest {
            site: repl.site.clone(),
            epoch: repl.epoch(),
            lease_ms: repl.settings.failover_timeout.as_millis() as u64,
        };
        match ask(&http, &base, RENEW_PATH, &req, vote_token(&repl)).await {
            Ok(a) if a.granted => {
                if unreachable > 0 {
                    tracing::info!(witness = %base, "witness reachable again; lease renewed");
                }
                unreachable = 0;
                repl.lease_renewed(sent);
            }
            Ok(a) if a.epoch > repl.epoch() => {
                tracing::warn!(
                    epoch = a.epoch,
                    holder = a.holder,
                    "the witness granted a higher epoch: stepping down"
                );
                if let Err(e) = repl.step_down(a.epoch) {
                    tracing::error!(error = %e, "cannot save the step-down");
                }
                return;
            }
            Ok(a) => {
                tracing::error!(reason = ?a.reason, "the witness refused this primary's lease; acknowledging nothing until it agrees");
            }
            Err(no) => {
                unreachable += 1;
                if unreachable == 1 {
                    match no {
                        NoAnswer::Refused(r) => {
                            tracing::error!(witness = %base, "{r}; this primary fences itself when its lease runs out")
                        }
                        NoAnswer::Unreachable => {
                            tracing::warn!(witness = %base, "cannot reach the witness; this primary fences itself when its lease runs out")
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = repl.restart.cancelled() => return,
        }
    }
}

/// Standby side: once the primary has been unreachable for the failover timeout, claims the
/// next epoch at the witness and, when granted, becomes primary.
pub async fn take_over_when_primary_gone(repl: Arc<super::Replication>) {
    let Some(base) = repl.settings.witness.clone() else {
        return;
    };
    let http = client();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = repl.restart.cancelled() => return,
        }
        let silent = repl.primary_silent_for();
        if silent < repl.settings.failover_timeout {
            continue;
        }
        let Some(epoch) = super::next_epoch(repl.epoch()) else {
            tracing::error!(
                epoch = repl.epoch(),
                "epochs are used up: no takeover (fix failover.json by hand)"
            );
            return;
        };
        let req = LeaseRequest {
            site: repl.site.clone(),
            epoch,
            lease_ms: repl.settings.failover_timeout.as_millis() as u64,
        };
        match ask(&http, &base, CLAIM_PATH, &req, vote_token(&repl)).await {
            Ok(a) if a.granted => {
                tracing::warn!(epoch = req.epoch, silent = ?silent, "the primary is unreachable and the witness agrees: taking over");
                if let Err(e) = repl.become_primary(req.epoch) {
                    tracing::error!(error = %e, "cannot save the promotion");
                }
                return;
            }
            Ok(a) => {
                if a.epoch > repl.epoch() {
                    // Someone else holds a newer epoch: remember it, so as to claim past it.
                    let _ = repl.step_down(a.epoch);
                }
                tracing::debug!(reason = ?a.reason, "the witness does not agree to a takeover");
            }
            Err(NoAnswer::Refused(r)) => {
                tracing::error!(witness = %base, "the primary is unreachable but {r}: no takeover")
            }
            Err(NoAnswer::Unreachable) => {
                tracing::warn!(witness = %base, "the primary and the witness are both unreachable: no takeover")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(site: &str, epoch: u64) -> LeaseRequest {
        LeaseRequest {
            site: site.into(),
            epoch,
            lease_ms: 100,
        }
    }

    #[test]
    fn an_epoch_far_past_the_one_held_is_neither_claimed_nor_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        assert!(w.renew(&req("a", 1)).unwrap().granted);
        for far in [2 + crate::replication::MAX_EPOCH_STEP, u64::MAX] {
            let c = w.claim(&req("b", far)).unwrap();
            assert!(!c.granted && c.epoch == 1, "{c:?}");
            assert!(c.reason.unwrap().contains("past the epoch held"));
            assert!(!w.renew(&req("b", far)).unwrap().granted);
        }
    }

    #[test]
    fn each_epoch_goes_to_one_claimant_and_only_after_the_lease_ran_out() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        w.lease.lock().unwrap().until = Instant::now();
        assert!(w.renew(&req("a", 1)).unwrap().granted);
        let refused = w.claim(&req("b", 2)).unwrap();
        assert!(!refused.granted, "the lease still runs: {refused:?}");
        std::thread::sleep(Duration::from_millis(120));
        assert!(w.claim(&req("b", 2)).unwrap().granted);
        assert!(!w.claim(&req("c", 2)).unwrap().granted, "epoch 2 is taken");
        let back = w.renew(&req("a", 1)).unwrap();
        assert_eq!(
            (back.granted, back.epoch, back.holder.as_str()),
            (false, 2, "b")
        );
        // The grant survives a restart of the witness.
        let w2 = Witness::open(dir.path()).unwrap();
        assert!(!w2.renew(&req("a", 1)).unwrap().granted);
        assert!(w2.renew(&req("b", 2)).unwrap().granted);
    }
}
