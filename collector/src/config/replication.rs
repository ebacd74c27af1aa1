//! `[replication]`: the standby site and automatic failover (docs/failover.md), checked into
//! [`ReplicationSettings`].

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::overrides::Overrides;
use crate::replication::{Mode, ReplicationSettings, Role};

/// `[replication]`: the standby site (docs/failover.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// `primary` or `standby`: the role at the first start (later, `failover.json` rules).
    pub role: String,
    /// The other collector's base URL.
    pub peer: Option<String>,
    /// `sync` or `async`.
    pub mode: String,
    pub sync_timeout_s: f64,
    /// Bearer token sent to the peer (one of its tokens).
    pub token: Option<String>,
    /// The witness's URL (`logwarden-collector witness`): turns on automatic failover.
    pub witness: Option<String>,
    /// How long the primary must be unreachable before the standby takes over.
    pub failover_timeout_s: f64,
    /// How long a primary keeps the WAL its standby has not copied while the standby is away.
    pub standby_wal_hold_s: f64,
}

impl Default for ReplicationConfig {
    fn default() -> ReplicationConfig {
        ReplicationConfig {
            role: "primary".into(),
            peer: None,
            mode: "sync".into(),
            sync_timeout_s: 5.0,
            token: None,
            witness: None,
            failover_timeout_s: 10.0,
            standby_wal_hold_s: crate::ingest::retention::STANDBY_HOLD.as_secs_f64(),
        }
    }
}

impl ReplicationConfig {
    pub(super) fn build(self, flags: &Overrides) -> anyhow::Result<ReplicationSettings> {
        let role = match flags.role.as_deref().unwrap_or(&self.role) {
            "primary" => Role::Primary,
            "standby" => Role::Standby,
            other => bail!("[replication] role {other:?} is not \"primary\" or \"standby\""),
        };
        let mode = match flags.replication.as_deref().unwrap_or(&self.mode) {
            "sync" => Mode::Sync,
            "async" => Mode::Async,
            other => bail!("[replication] mode {other:?} is not \"sync\" or \"async\""),
        };
        let url = |what: &str, v: Option<&str>| -> anyhow::Result<Option<reqwest::Url>> {
            let Some(p) = v else { return Ok(None) };
            let url: reqwest::Url = p
                .parse()
                .with_context(|| format!("[replication] {what} {p:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("[replication] {what} {p:?} must be an http:// or https:// URL");
            }
            Ok(Some(url))
        };
        let peer = url("peer", flags.peer.as_deref().or(self.peer.as_deref()))?;
        let witness = url(
            "witness",
            flags.witness.as_deref().or(self.witness.as_deref()),
        )?;
        if witness.is_some() && peer.is_none() {
            bail!("[replication] witness is set but peer is not: a witness needs two collectors");
        }
        // The witness, after a restart, waits 60 s (longer than any lease) before it grants.
        if !self.failover_timeout_s.is_finite() || !(1.0..=60.0).contains(&self.failover_timeout_s)
        {
            bail!("[replication] failover_timeout_s must be a number of seconds from 1 to 60");
        }
        if role == Role::Standby && peer.is_none() {
            bail!("a standby needs the primary's URL: [replication] peer or --peer");
        }
        if !self.sync_timeout_s.is_finite() || self.sync_timeout_s <= 0.0 {
            bail!("[replication] sync_timeout_s must be a number of seconds above 0");
        }
        let standby_wal_hold =
            Duration::try_from_secs_f64(self.standby_wal_hold_s).map_err(|_| {
                anyhow::anyhow!(
                    "[replication] standby_wal_hold_s = {} is not a number of seconds (0 or more)",
                    self.standby_wal_hold_s
                )
            })?;
        Ok(ReplicationSettings {
            role,
            peer,
            mode,
            sync_timeout: Duration::from_secs_f64(self.sync_timeout_s),
            token: self.token,
            witness,
            failover_timeout: Duration::from_secs_f64(self.failover_timeout_s),
            standby_wal_hold,
        })
    }
}
