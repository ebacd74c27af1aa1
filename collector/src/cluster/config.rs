//! `[cluster]`: cluster mode on NATS JetStream (docs/scale.md). Absent, the collector runs as
//! before (alone or as one of a pair) and none of this is used.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The section as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS servers to connect to (any of them; the client fails over between them).
    pub nats: Vec<String>,
    /// This collector's name in the cluster: unique per collector (default: the site name; one
    /// of the two must be set).
    #[serde(default)]
    pub id: Option<String>,
    /// Partitions of the event stream: agents are spread over them, one agent on one partition.
    /// Every collector of a cluster must use the same number.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Copies JetStream keeps of the stream and of the lease bucket (1, 3 or 5).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// How long JetStream keeps events (`"7d"`): a new owner of a partition rebuilds its index
    /// from what the stream still holds.
    #[serde(default = "default_stream_max_age")]
    pub stream_max_age: String,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a batch sent again.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window: String,
    /// A partition whose owner stops renewing its lease for this long passes to another
    /// collector.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl: String,
    /// How often, with changes or events, the alert leader stores a snapshot of the alert
    /// state in place of what came before it (`leader.rs`): a new leader starts from it.
    #[serde(default = "default_alert_snapshot_every")]
    pub alert_snapshot_every: String,
    /// The URL other collectors reach this one's API at, for fanned-out searches (default: the
    /// address it listens on, which must then not be 0.0.0.0 or ::).
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the read token this collector sends when it asks the others (the same
    /// token must be a read token on every collector; absent: no token is sent, which only
    /// collectors without read tokens on loopback accept).
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
}

fn default_alert_snapshot_every() -> String {
    "30s".into()
}

fn default_partitions() -> u32 {
    16
}
fn default_replicas() -> usize {
    3
}
fn default_stream_max_age() -> String {
    "7d".into()
}
fn default_duplicate_window() -> String {
    "10m".into()
}
fn default_lease_ttl() -> String {
    "6s".into()
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub nats: Vec<String>,
    pub id: String,
    pub partitions: u32,
    pub replicas: usize,
    pub stream_max_age: Duration,
    pub duplicate_window: Duration,
    pub lease_ttl: Duration,
    pub alert_snapshot_every: Duration,
    /// Where the others reach this collector (set from the listening address when not given:
    /// [`ClusterSettings::reachable_at`]).
    pub url: Option<String>,
    pub token_file: Option<std::path::PathBuf>,
}

impl ClusterSettings {
    /// Sets the URL the others reach this collector at from the address it listens on, unless
    /// the config gave one; an unspecified address (0.0.0.0, ::) cannot be reached.
    pub fn reachable_at(&mut self, scheme: &str, addr: std::net::SocketAddr) -> anyhow::Result<()> {
        if self.url.is_some() {
            return Ok(());
        }
        if addr.ip().is_unspecified() {
            bail!(
                "[cluster] url is not set and the collector listens on {addr}: set url to the address the other collectors reach this one at"
            );
        }
        self.url = Some(format!("{scheme}://{addr}"));
        Ok(())
    }
}

impl ClusterConfig {
    /// Checks the section; `site` names the collector when `id` is not set.
    pub fn build(self, site: &str) -> anyhow::Result<ClusterSettings> {
        if self.nats.is_empty() {
            bail!("[cluster] nats is empty: list at least one nats://HOST:PORT");
        }
        for url in &self.nats {
            url.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("[cluster] nats: {url:?} is not a NATS server address"))?;
        }
        if self.id.is_none() && site == "default" {
            // Two collectors both called "default" would share their consumers and leases.
            bail!(
                "[cluster] id is not set, nor is `site`: give each collector of the cluster its own id"
            );
        }
        let id = self.id.unwrap_or_else(|| site.to_owned());
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!(
                "[cluster] id {id:?} must be letters, digits, '-' or '_' (it names NATS consumers)"
            );
        }
        if let Some(url) = &self.url
            && reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
        {
            bail!("[cluster] url = {url:?} is not an http:// or https:// URL");
        }
        if !(1..=1024).contains(&self.partitions) {
            bail!(
                "[cluster] partitions = {} must be from 1 to 1024",
                self.partitions
            );
        }
        if ![1, 3, 5].contains(&self.replicas) {
            bail!("[cluster] replicas = {} must be 1, 3 or 5", self.replicas);
        }
        let duration = |key: &str, v: &str| {
            logwarden_core::duration::parse_duration(v)
                .map_err(|e| anyhow::anyhow!("[cluster] {key} = {v:?}: {e}"))
        };
        let lease_ttl = duration("lease_ttl", &self.lease_ttl)?;
        if lease_ttl < Duration::from_secs(2) {
            bail!(
                "[cluster] lease_ttl = {:?} is under the least of 2s",
                self.lease_ttl
            );
        }
        Ok(ClusterSettings {
            nats: self.nats,
            id,
            partitions: self.partitions,
            replicas: self.replicas,
            stream_max_age: duration("stream_max_age", &self.stream_max_age)?,
            duplicate_window: duration("duplicate_window", &self.duplicate_window)?,
            lease_ttl,
            alert_snapshot_every: duration("alert_snapshot_every", &self.alert_snapshot_every)?,
            url: self.url.map(|u| u.trim_end_matches('/').to_owned()),
            token_file: self.token_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<ClusterSettings> {
        let c: ClusterConfig = toml::from_str(text)?;
        c.build("site-a")
    }

    #[test]
    fn defaults_and_id_from_site() {
        let s = parse(r#"nats = ["nats://127.0.0.1:4222"]"#).unwrap();
        assert_eq!(s.id, "site-a");
        assert_eq!(s.partitions, 16);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.lease_ttl, Duration::from_secs(6));
        assert_eq!(s.alert_snapshot_every, Duration::from_secs(30));
    }

    /// The whole config file: `[cluster]` absent is today's collector; set, it is checked, and
    /// it excludes a replication peer.
    #[test]
    fn in_the_config_file() {
        use crate::config::{Overrides, Settings, parse};
        let build = |text: &str| {
            let file = parse(std::path::Path::new("c.toml"), text)?;
            Settings::build(file, Overrides::default())
        };
        assert!(build("").unwrap().cluster.is_none());
        let e = format!(
            "{:#}",
            build("[cluster]\nnats = [\"nats://a:1\"]\n").unwrap_err()
        );
        assert!(e.contains("[cluster] id is not set"), "{e}");
        let s = build("site = \"a\"\n[cluster]\nnats = [\"nats://127.0.0.1:4222\"]\n").unwrap();
        assert_eq!(s.cluster.map(|c| c.id), Some("a".to_owned()));
        let both = "site = \"a\"\n[replication]\npeer = \"http://127.0.0.1:1\"\n\
                    [cluster]\nnats = [\"nats://127.0.0.1:4222\"]\n";
        let e = format!("{:#}", build(both).unwrap_err());
        assert!(e.contains("exclude each other"), "{e}");
        let e = format!(
            "{:#}",
            build("[cluster]\nnats = [\"x\"]\nbogus = 1\n").unwrap_err()
        );
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, needle) in [
            ("nats = []", "nats is empty"),
            (
                r#"nats = ["nats://a:1"]
partitions = 0"#,
                "partitions = 0",
            ),
            (
                r#"nats = ["nats://a:1"]
replicas = 2"#,
                "replicas = 2",
            ),
            (
                r#"nats = ["nats://a:1"]
id = "a.b""#,
                "id \"a.b\"",
            ),
            (
                r#"nats = ["nats://a:1"]
lease_ttl = "1s""#,
                "lease_ttl",
            ),
            (
                r#"nats = ["nats://a:1"]
stream_max_age = "soon""#,
                "stream_max_age",
            ),
            (
                r#"nats = ["nats://a:1"]
alert_snapshot_every = "often""#,
                "alert_snapshot_every",
            ),
            (
                r#"nats = ["nats://a:1"]
url = "ftp://x""#,
                "url = \"ftp://x\"",
            ),
        ] {
            let e = format!("{:#}", parse(text).unwrap_err());
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
