//! Who may vote at the witness (docs/security.md, docs/failover.md): a renewal or a claim needs a
//! token of the `replication` role (or `admin`), checked by the collector's own rules
//! ([`crate::auth`]): a known token of another role gets 403, an unknown one 401, none 401 once
//! any token exists; with no token at all, only loopback clients may vote.
//!
//! The tokens: `--token-file FILE` (one a line, repeat) and `LOGWARDEN_WITNESS_TOKEN`, or
//! entries of the tokens file (`--tokens-file`, default `<data dir>/tokens`, made with
//! `logwarden-collector token add NAME --role replication --data-dir DIR`; only hashes are kept,
//! re-read within a second of a change). The collectors send `[replication] witness_token`, or
//! else their `[replication] token`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, ConfigTokens, Role};

/// The environment variable holding a witness token (kept out of `ps`).
pub const TOKEN_ENV: &str = "LOGWARDEN_WITNESS_TOKEN";

/// The token flags of `logwarden-collector witness`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct WitnessTokens {
    /// A file of tokens that may vote, one a line (repeat); also `LOGWARDEN_WITNESS_TOKEN`.
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_files: Vec<PathBuf>,
    /// The tokens file of `logwarden-collector token` (default: `<data dir>/tokens`); its
    /// `replication` and `admin` entries may vote.
    #[arg(long, value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
}

impl WitnessTokens {
    /// The witness's tokens, from the flags, the environment and the tokens file.
    pub fn auth(&self, data_dir: &Path) -> anyhow::Result<Auth> {
        let mut replication = Vec::new();
        for f in &self.token_files {
            replication.extend(logwarden_core::token_file::read_tokens(f)?);
        }
        if let Ok(t) = std::env::var(TOKEN_ENV)
            && !t.trim().is_empty()
        {
            replication.push(t.trim().to_owned());
        }
        let file = self
            .tokens_file
            .clone()
            .unwrap_or_else(|| data_dir.join("tokens"));
        let config = ConfigTokens {
            replication,
            ..ConfigTokens::default()
        };
        Ok(Auth::new(&config, Some(file))?)
    }
}

/// Logs how the witness is guarded and keeps the tokens file re-read until `stop`.
pub fn watch(auth: &Arc<Auth>, stop: tokio_util::sync::CancellationToken) {
    if auth.is_open() {
        tracing::warn!(
            "no witness tokens configured: only collectors on this machine (loopback) may vote; give the witness --token-file or {TOKEN_ENV}"
        );
    }
    auth.clone().watch(Duration::from_secs(1), stop);
}

/// Middleware: a renewal or a claim needs a token that may vote.
pub async fn require_vote(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match auth.check(Role::Replication, peer, crate::api::bearer(req.headers())) {
        Ok(_) => next.run(req).await,
        Err(denied) => {
            log_refused(peer, &denied);
            (denied.status, denied.message).into_response()
        }
    }
}

/// Logs a refused vote, at most once a minute with the count since (a collector with the wrong
/// token asks four times a second).
fn log_refused(peer: Option<std::net::IpAddr>, denied: &crate::auth::Denied) {
    static LAST: std::sync::Mutex<(Option<std::time::Instant>, u64)> =
        std::sync::Mutex::new((None, 0));
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    last.1 += 1;
    if last
        .0
        .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
    {
        return;
    }
    tracing::warn!(peer = ?peer, status = denied.status.as_u16(), reason = denied.message, refused = last.1, "witness vote refused (logged at most once a minute)");
    *last = (Some(std::time::Instant::now()), 0);
}

/// A vote the witness refused for its token: the status and the witness's words.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the witness refused this collector's token ({}: {}); set [replication] witness_token (or token) to one the witness accepts",
            self.status.as_u16(),
            self.message
        )
    }
}
