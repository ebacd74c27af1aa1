//! Who may call what. Every HTTP call needs one of four roles (docs/security.md):
//!
//! | role | calls | tokens |
//! |---|---|---|
//! | ingest | `POST /api/v1/ingest` | `tokens` (config, plain), tokens file entries `ingest`, admin and replication tokens |
//! | read | search, count, tail, status, fleet, alerts and silences lists, `/metrics` | `read_tokens` (config), tokens file entries `read`, admin tokens |
//! | replication | the standby's pull of the WAL, the handover (and status, forwarded syslog ingest) | `[replication] token` (config), tokens file entries `replication`, admin tokens |
//! | admin | ack, silence, expire, promote | `[alerts] admin_tokens` (config), tokens file entries `admin` |
//!
//! A role with no token configured for it is *open*, but to loopback clients only: a
//! collector with no tokens at all can be tried on one machine and refuses the network. The
//! admin role is open only while no token of any role exists (a collector that asks agents for
//! tokens does not let anyone ack).
//!
//! Tokens are compared by their SHA-256, looked up in a map: the presented token is hashed
//! whatever it is, so the time taken does not depend on how much of it matched.

pub mod binding;
pub mod tokens_file;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sending events (agents).
    Ingest,
    /// Searching and looking (on-call engineers, dashboards).
    Read,
    /// The peer collector: pulls the WAL, hands over, reads the status, forwards syslog.
    Replication,
    /// Everything, including the calls that change state (ack, silence, promote).
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Replication => "replication",
            Role::Admin => "admin",
        }
    }

    /// Whether a token of role `self` may make a call that needs `need`. A replication token
    /// also ingests: a standby forwards the syslog it receives to the primary's ingest API.
    fn grants(self, need: Role) -> bool {
        self == need || self == Role::Admin || (self == Role::Replication && need == Role::Ingest)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "ingest" => Ok(Role::Ingest),
            "read" => Ok(Role::Read),
            "replication" => Ok(Role::Replication),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "role {other:?} is not one of ingest, read, replication or admin"
            )),
        }
    }
}

/// Who a call was allowed for: the token's name and role, and the agent its ids are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    pub role: Role,
    /// An ingest token's agent (tokens file `agent=`): only ids of that agent may be sent.
    pub agent: Option<String>,
}

/// A set of tokens by hash, with their names and roles.
#[derive(Debug, Default, Clone)]
struct TokenSet {
    by_hash: HashMap<String, Grant>,
}

impl TokenSet {
    fn insert(&mut self, hash: String, name: String, role: Role, agent: Option<String>) {
        self.by_hash.insert(hash, Grant { name, role, agent });
    }

    fn has_role(&self, role: Role) -> bool {
        self.by_hash.values().any(|g| g.role == role)
    }
}

/// Why a call is refused: the status and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub status: StatusCode,
    pub message: String,
}

/// The tokens of the config file (fixed) and of the tokens file (re-read when it changes).
#[derive(Debug)]
pub struct Auth {
    fixed: TokenSet,
    file: Option<PathBuf>,
    /// The tokens file as last read, and the stamp (mtime, length, inode) it had.
    loaded: RwLock<(Option<FileStamp>, Arc<TokenSet>)>,
}

/// Enough of a file's metadata to notice a change, including a rename over it.
type FileStamp = (SystemTime, u64, u64);

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// The plain tokens of the config, by role.
#[derive(Debug, Default, Clone)]
pub struct ConfigTokens {
    pub ingest: Vec<String>,
    pub read: Vec<String>,
    pub admin: Vec<String>,
    /// `[replication] token`: what this collector sends to its peer is also what it accepts
    /// from it (a pair configured alike shares one secret).
    pub replication: Vec<String>,
}

impl Auth {
    /// Config tokens and, when given, the tokens file (which need not exist yet).
    pub fn new(
        config: &ConfigTokens,
        file: Option<PathBuf>,
    ) -> Result<Auth, tokens_file::TokensFileError> {
        let mut fixed = TokenSet::default();
        for (list, role, what) in [
            (&config.ingest, Role::Ingest, "tokens"),
            (&config.read, Role::Read, "read_tokens"),
            (&config.admin, Role::Admin, "admin_tokens"),
            // Last: the pair's shared secret may also be listed as an ingest token (the way
            // older versions accepted it); the replication role, which also ingests, wins.
            (
                &config.replication,
                Role::Replication,
                "[replication] token",
            ),
        ] {
            for (i, t) in list.iter().enumerate() {
                fixed.insert(tokens_file::hash(t), format!("{what}[{i}]"), role, None);
            }
        }
        let auth = Auth {
            fixed,
            file,
            loaded: RwLock::new((None, Arc::new(TokenSet::default()))),
        };
        auth.reload()?;
        Ok(auth)
    }

    /// Re-reads the tokens file if it changed since the last read. A file that fails to parse
    /// keeps the tokens of the last good read (an operator's typo must not lock every agent
    /// out) and returns the error to be logged.
    pub fn reload(&self) -> Result<bool, tokens_file::TokensFileError> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let now = stamp(path);
        // Unchanged, or still missing: nothing to do.
        if self.loaded.read().unwrap_or_else(|p| p.into_inner()).0 == now {
            return Ok(false);
        }
        let entries = tokens_file::read(path)?;
        let mut set = TokenSet::default();
        for (name, e) in entries {
            set.insert(e.hash, name, e.role, e.agent);
        }
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = (now, Arc::new(set));
        Ok(true)
    }

    /// Re-reads the tokens file every `every` until `stop` fires; logs what changed.
    pub fn watch(self: Arc<Self>, every: Duration, stop: tokio_util::sync::CancellationToken) {
        if self.file.is_none() {
            return;
        }
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match self.reload() {
                    Ok(true) => tracing::info!(
                        file = %self.file.as_deref().unwrap_or(Path::new("")).display(),
                        tokens = self.file_set().by_hash.len(),
                        "tokens file re-read"
                    ),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "tokens file not re-read; keeping the tokens read before")
                    }
                }
            }
        });
    }

    fn file_set(&self) -> Arc<TokenSet> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Whether any token of `role` exists.
    fn configured(&self, file: &TokenSet, role: Role) -> bool {
        self.fixed.has_role(role) || file.has_role(role)
    }

    /// Whether no token at all is configured (then every call is open to loopback clients).
    pub fn is_open(&self) -> bool {
        self.fixed.by_hash.is_empty() && self.file_set().by_hash.is_empty()
    }

    /// Decides a call that needs `need`, from a client at `peer` (None: unknown) presenting
    /// `bearer`. Ok holds the token used (None for an open role).
    pub fn check(
        &self,
        need: Role,
        peer: Option<IpAddr>,
        bearer: Option<&str>,
    ) -> Result<Option<Grant>, Denied> {
        self.check_any(&[need], peer, bearer)
    }

    /// As [`Auth::check`], for a call that any of `needs` opens (the first one decides a call
    /// without a token: `GET /api/v1/status` needs read, or replication for the peer's watch).
    pub fn check_any(
        &self,
        needs: &[Role],
        peer: Option<IpAddr>,
        bearer: Option<&str>,
    ) -> Result<Option<Grant>, Denied> {
        let need = needs[0];
        let file = self.file_set();
        if let Some(t) = bearer {
            let h = tokens_file::hash(t);
            if let Some(grant) = file.by_hash.get(&h).or_else(|| self.fixed.by_hash.get(&h)) {
                let (name, role) = (&grant.name, grant.role);
                return if needs.iter().any(|&n| role.grants(n)) {
                    Ok(Some(grant.clone()))
                } else {
                    Err(Denied {
                        status: StatusCode::FORBIDDEN,
                        message: format!(
                            "token {name:?} has the {role} role; this call needs the {need} role"
                        ),
                    })
                };
            }
            // A token that is not (or no longer) known is refused even where the call would be
            // open without one: a revoked token must stop working, not fall back to "open".
            return Err(Denied {
                status: StatusCode::UNAUTHORIZED,
                message: "bearer token not accepted (unknown or revoked)".into(),
            });
        }
        let open = match need {
            Role::Admin => self.fixed.by_hash.is_empty() && file.by_hash.is_empty(),
            r => !self.configured(&file, r),
        };
        let loopback = peer.is_some_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        });
        if open && loopback {
            return Ok(None);
        }
        if open {
            return Err(Denied {
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "no {need} token is configured on this collector, so only loopback clients may make {need} calls; add one (logwarden-collector token add NAME --role {need})"
                ),
            });
        }
        if need == Role::Admin && !self.configured(&file, Role::Admin) {
            return Err(Denied {
                status: StatusCode::FORBIDDEN,
                message: "this call needs an admin token and this collector has none configured ([alerts] admin_tokens, or logwarden-collector token add NAME --role admin)".into(),
            });
        }
        Err(Denied {
            status: StatusCode::UNAUTHORIZED,
            message: format!(
                "this call needs a bearer token with the {need} role (Authorization: Bearer ...; logwarden --token)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const FAR: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    fn status(r: Result<Option<Grant>, Denied>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(d) => d.status.as_u16(),
        }
    }

    #[test]
    fn without_tokens_only_loopback_clients_are_served() {
        let a = Auth::new(&ConfigTokens::default(), None).unwrap();
        assert!(a.is_open());
        for role in [Role::Ingest, Role::Read, Role::Admin] {
            assert_eq!(status(a.check(role, LOOP, None)), 200);
            assert_eq!(status(a.check(role, FAR, None)), 403);
            assert_eq!(status(a.check(role, None, None)), 403);
        }
        let msg = a.check(Role::Read, FAR, None).unwrap_err().message;
        assert!(msg.contains("only loopback clients"), "{msg}");
    }

    #[test]
    fn each_role_needs_its_token_once_one_exists() {
        let a = Auth::new(
            &ConfigTokens {
                ingest: vec!["agent".into()],
                read: vec![],
                admin: vec!["boss".into()],
                replication: vec![],
            },
            None,
        )
        .unwrap();
        assert_eq!(status(a.check(Role::Ingest, LOOP, None)), 401);
        assert_eq!(status(a.check(Role::Ingest, LOOP, Some("nope"))), 401);
        assert_eq!(status(a.check(Role::Ingest, FAR, Some("agent"))), 200);
        assert_eq!(status(a.check(Role::Ingest, FAR, Some("boss"))), 200);
        // No read token: reads stay open to loopback only; an admin token reads from anywhere.
        assert_eq!(status(a.check(Role::Read, LOOP, None)), 200);
        assert_eq!(status(a.check(Role::Read, FAR, None)), 403);
        assert_eq!(status(a.check(Role::Read, LOOP, Some("stale"))), 401);
        assert_eq!(status(a.check(Role::Read, FAR, Some("boss"))), 200);
        // An agent's token cannot read or ack.
        assert_eq!(status(a.check(Role::Read, FAR, Some("agent"))), 403);
        assert_eq!(status(a.check(Role::Admin, LOOP, Some("agent"))), 403);
        assert_eq!(status(a.check(Role::Admin, LOOP, None)), 401);
        assert_eq!(status(a.check(Role::Admin, LOOP, Some("boss"))), 200);
    }

    #[test]
    fn the_replication_role_opens_the_peer_calls_and_ingest_never_replication() {
        let a = Auth::new(
            &ConfigTokens {
                ingest: vec!["agent".into(), "pair".into()],
                replication: vec!["pair".into()],
                ..ConfigTokens::default()
            },
            None,
        )
        .unwrap();
        // The pair's shared secret, once listed as an ingest token, is the replication role.
        assert_eq!(status(a.check(Role::Replication, FAR, Some("pair"))), 200);
        assert_eq!(status(a.check(Role::Ingest, FAR, Some("pair"))), 200);
        assert_eq!(status(a.check(Role::Read, FAR, Some("pair"))), 403);
        assert_eq!(status(a.check(Role::Admin, FAR, Some("pair"))), 403);
        let d = a.check(Role::Replication, FAR, Some("agent")).unwrap_err();
        assert_eq!(d.status, StatusCode::FORBIDDEN);
        assert!(
            d.message.contains("needs the replication role"),
            "{}",
            d.message
        );
        assert_eq!(status(a.check(Role::Replication, LOOP, None)), 401);
        // The status: read or replication.
        let status_roles = [Role::Read, Role::Replication];
        assert_eq!(status(a.check_any(&status_roles, FAR, Some("pair"))), 200);
        assert_eq!(status(a.check_any(&status_roles, FAR, Some("agent"))), 403);
        assert_eq!(status(a.check_any(&status_roles, LOOP, None)), 200);
        assert_eq!(status(a.check_any(&status_roles, FAR, None)), 403);
    }

    #[test]
    fn admin_calls_are_refused_when_only_ingest_tokens_exist() {
        let a = Auth::new(
            &ConfigTokens {
                ingest: vec!["agent".into()],
                ..ConfigTokens::default()
            },
            None,
        )
        .unwrap();
        let d = a.check(Role::Admin, LOOP, None).unwrap_err();
        assert_eq!(d.status, StatusCode::FORBIDDEN);
        assert!(d.message.contains("none configured"), "{}", d.message);
    }

    #[test]
    fn a_revoked_file_token_stops_working_on_reload_and_a_broken_file_keeps_the_old_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let t = tokens_file::add(&path, "mbox1", Role::Ingest, Some("mbox1")).unwrap();
        let a = Auth::new(&ConfigTokens::default(), Some(path.clone())).unwrap();
        assert_eq!(status(a.check(Role::Ingest, FAR, Some(&t))), 200);
        assert_eq!(
            a.check(Role::Ingest, FAR, Some(&t)).unwrap(),
            Some(Grant {
                name: "mbox1".into(),
                role: Role::Ingest,
                agent: Some("mbox1".into())
            })
        );
        let other = tokens_file::add(&path, "mbox2", Role::Ingest, None).unwrap();
        tokens_file::revoke(&path, "mbox1").unwrap();
        assert!(a.reload().unwrap());
        assert_eq!(status(a.check(Role::Ingest, FAR, Some(&t))), 401);
        assert_eq!(status(a.check(Role::Ingest, FAR, Some(&other))), 200);
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(a.reload().is_err());
        assert_eq!(status(a.check(Role::Ingest, FAR, Some(&other))), 200);
    }
}
