//! `[replication]`: the standby site and automatic failover (docs/failover.md), checked into
//! [`ReplicationSettings`].

use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use super::overrides::Overrides;
use crate::replication::{Mode, ReplicationSettings, Role};

const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// How long a sync write waits for the standby's acknowledgement (`"5s"`).
    pub sync_timeout: Option<ConfigDuration>,
    /// Deprecated: `sync_timeout` in seconds.
    pub sync_timeout_s: Option<f64>,
    /// Bearer token sent to the peer (one of its tokens).
    pub token: Option<String>,
    /// The witness's URL (`logwarden-collector witness`): turns on automatic failover.
    pub witness: Option<String>,
    /// Bearer token sent to the witness (one it accepts); default: `token`.
    pub witness_token: Option<String>,
    /// How long the primary must be unreachable before the standby takes over.
    pub failover_timeout: Option<ConfigDuration>,
    /// Deprecated: `failover_timeout` in seconds.
    pub failover_timeout_s: Option<f64>,
    /// How long a primary keeps the WAL its standby has not copied while the standby is away.
    pub standby_wal_hold: Option<ConfigDuration>,
    /// Deprecated: `standby_wal_hold` in seconds.
    pub standby_wal_hold_s: Option<f64>,
}

impl Default for ReplicationConfig {
    fn default() -> ReplicationConfig {
        ReplicationConfig {
            role: "primary".into(),
            peer: None,
            mode: "sync".into(),
            sync_timeout: None,
            sync_timeout_s: None,
            token: None,
            witness: None,
            witness_token: None,
            failover_timeout: None,
            failover_timeout_s: None,
            standby_wal_hold: None,
            standby_wal_hold_s: None,
        }
    }
}

impl ReplicationConfig {
    /// The duration keys, each with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 3] {
        let s = "[replication]";
        [
            DurationKey::new(
                s,
                "sync_timeout",
                self.sync_timeout,
                "sync_timeout_s",
                self.sync_timeout_s,
            ),
            DurationKey::new(
                s,
                "failover_timeout",
                self.failover_timeout,
                "failover_timeout_s",
                self.failover_timeout_s,
            ),
            DurationKey::new(
                s,
                "standby_wal_hold",
                self.standby_wal_hold,
                "standby_wal_hold_s",
                self.standby_wal_hold_s,
            ),
        ]
    }

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
        let [sync_timeout, failover_timeout, standby_wal_hold] = self.duration_keys();
        let failover = failover_timeout.or(DEFAULT_FAILOVER_TIMEOUT)?;
        // The witness, after a restart, waits 60 s (longer than any lease) before it grants.
        if !(1.0..=60.0).contains(&failover.as_secs_f64()) {
            bail!(
                "{} must be from 1 to 60 seconds",
                failover_timeout.written()
            );
        }
        if role == Role::Standby && peer.is_none() {
            bail!("a standby needs the primary's URL: [replication] peer or --peer");
        }
        let sync = sync_timeout.or(DEFAULT_SYNC_TIMEOUT)?;
        if sync.is_zero() {
            bail!("{} must be above 0", sync_timeout.written());
        }
        let standby_wal_hold = standby_wal_hold.or(crate::replication::STANDBY_HOLD)?;
        Ok(ReplicationSettings {
            role,
            peer,
            mode,
            sync_timeout: sync,
            token: self.token,
            witness,
            witness_token: self.witness_token,
            failover_timeout: failover,
            standby_wal_hold,
        })
    }
}
