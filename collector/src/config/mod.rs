//! The collector's configuration: the TOML file (every key in docs/configuration.md), the
//! flags that override it, and their validation into [`Settings`].
//!
//! One file per section of the file (`[limits]`, `[wal]`, `[index]`, `[tls]`, `[syslog]`,
//! `[alerts]` with its receivers and routes, `[replication]`), each turning its part of the file
//! into the settings type of the part it configures; this file reads the text and assembles the
//! sections into [`Settings`]. The section files never name this one (the flags are in
//! `overrides.rs`, shared helpers in `listen.rs` and `tokens.rs`), so the folder has no import
//! circle. Durations (`group_wait = "30s"`, with the old `group_wait_s = 30` as a deprecated
//! alias) go through `logwarden_core::config_duration`: each section lists its duration keys
//! once, for its checks and for [`FileConfig::deprecations`].

mod alerts;
mod index;
mod limits;
mod listen;
mod overrides;
mod receivers;
mod replication;
mod routes;
mod syslog;
mod tls;
mod tokens;
mod user_rules;
mod wal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::config_text;
use serde::Deserialize;

pub use alerts::AlertsConfig;
pub use index::IndexConfig;
pub use limits::LimitsConfig;
pub use listen::DEFAULT_LISTEN;
pub use overrides::Overrides;
pub use receivers::ReceiverConfig;
pub use replication::ReplicationConfig;
pub use syslog::{DEFAULT_SYSLOG, DEFAULT_SYSLOG_TLS, SyslogConfig};
pub use tls::TlsConfig;
pub use user_rules::RuleConfig;
pub use wal::WalConfig;

use crate::api::listener::HttpLimits;
use crate::auth::ConfigTokens;
use crate::ingest::Limits;
use crate::notify::route_config;
use crate::replication::ReplicationSettings;
use crate::rules::EngineSettings;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP API address (`127.0.0.1:7070`).
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// This collector's site name, shown in status.
    pub site: Option<String>,
    /// Bearer tokens accepted for ingest, in plain text (kept for existing configs; the
    /// tokens file stores them hashed). None and none in the tokens file: loopback only.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Bearer tokens for the read calls (search, count, tail, status, fleet, alerts list).
    #[serde(default)]
    pub read_tokens: Vec<String>,
    /// Named, hashed tokens edited by `logwarden-collector token` (default `<data_dir>/tokens`).
    pub tokens_file: Option<PathBuf>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub index: IndexConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub syslog: SyslogConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub replication: ReplicationConfig,
    /// `[cluster]`: cluster mode on NATS JetStream (absent: a single collector or a pair).
    #[serde(default)]
    pub cluster: Option<crate::cluster::config::ClusterConfig>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub site: String,
    /// The plain tokens of the config and flags, by role.
    pub tokens: ConfigTokens,
    /// Hashed, named tokens, re-read while running.
    pub tokens_file: PathBuf,
    pub limits: Limits,
    pub http: HttpLimits,
    /// How long an ingest body may take to arrive.
    pub body_timeout: Duration,
    pub wal: crate::wal::WalOptions,
    /// `[wal] keep_bytes`: what WAL retention trims down to (0: never).
    pub wal_keep_bytes: u64,
    pub space: crate::ingest::SpaceLimits,
    pub index: crate::index::IndexSettings,
    /// The certificate and key when TLS is on.
    pub tls: Option<crate::tls::TlsFiles>,
    pub syslog: crate::syslog::SyslogSettings,
    pub alerts: EngineSettings,
    pub replication: ReplicationSettings,
    pub cluster: Option<crate::cluster::config::ClusterSettings>,
}

pub const DEFAULT_DATA_DIR: &str = "./logwarden-data";

pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    parse(path, &text)
}

/// Parses the text of a config file; `path` only names it in errors. (The fuzz target
/// `collector_config` feeds it arbitrary text.)
pub fn parse(path: &Path, text: &str) -> anyhow::Result<FileConfig> {
    let file: FileConfig = toml::from_str(text)
        .map_err(|e| anyhow::anyhow!(config_text::describe(path, text, e.message(), e.span())))?;
    // What serde cannot see: the routes' receivers and matchers, queries and templates of user
    // rules, named by file and line.
    if let Some(route) = &file.alerts.route {
        let names: Vec<&str> = file
            .alerts
            .receivers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        route_config::check(route, &names, path, text).map_err(|e| anyhow::anyhow!(e))?;
    }
    let mut file = file;
    file.alerts.inhibit_checked = file
        .alerts
        .inhibit_rules
        .iter()
        .map(|r| r.to_rule(path, text))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    user_rules::check_texts(&file.alerts.rules, path, text)?;
    receivers::check_tls(&file.alerts.receivers, path, text)?;
    Ok(file)
}

/// Reads, parses and checks a config file with the flags over it: every error names the file,
/// and the line and key where the check can tell (`run` and a reload use this). Each deprecated
/// key the file uses is logged as a warning.
pub fn load_settings(path: &Path, flags: Overrides) -> anyhow::Result<Settings> {
    let checked = check(path, flags)?;
    for note in &checked.deprecations {
        tracing::warn!("{note}");
    }
    Ok(checked.settings)
}

pub type Checked = config_text::Checked<Settings>;

/// As [`load_settings`], with the deprecated keys returned instead of logged (`config check`
/// prints them).
pub fn check(path: &Path, flags: Overrides) -> anyhow::Result<Checked> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file = parse(path, &text)?;
    let deprecations = file.deprecations();
    config_text::checked(path, &text, file, &deprecations, |f| {
        Settings::build(f, flags)
    })
    .map_err(anyhow::Error::msg)
}

impl FileConfig {
    /// For each duration key written the old way (`group_wait_s = 30`), a line saying so with
    /// its new spelling (`group_wait = "30s"`).
    pub fn deprecations(&self) -> Vec<String> {
        let a = &self.alerts;
        let sections = [
            self.limits.duration_keys().to_vec(),
            self.syslog.duration_keys().to_vec(),
            self.index.duration_keys().to_vec(),
            a.duration_keys().to_vec(),
            self.replication.duration_keys().to_vec(),
        ];
        let receivers = a.receivers.iter().flat_map(|r| r.duration_keys());
        let rules = a.rules.iter().flat_map(|r| r.duration_keys());
        let routes = a.route.iter().flat_map(|r| r.all_duration_keys());
        sections
            .into_iter()
            .flatten()
            .chain(receivers)
            .chain(rules)
            .chain(routes)
            .filter_map(|k| k.deprecation())
            .collect()
    }
}

impl Settings {
    pub fn build(file: FileConfig, flags: Overrides) -> anyhow::Result<Settings> {
        let replication = file.replication.build(&flags)?;
        if replication.peer.is_some() && flags.site.is_none() && file.site.is_none() {
            // The witness tells the two collectors apart by their site names.
            bail!(
                "a collector with a peer needs its own site name: set `site` or --site (a different one on each collector)"
            );
        }
        let listen = flags
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("listen address {listen:?} is not IP:PORT"))?;
        let ingest_tokens = tokens::ingest(file.tokens, &flags)?;
        let limits = file.limits.build()?;
        let tls = file.tls.build(&flags)?;
        let syslog = file.syslog.build(&flags, tls.as_ref())?;
        file.wal.check()?;
        let tokens = tokens::config_tokens(
            ingest_tokens,
            file.read_tokens,
            file.alerts.admin_tokens.clone(),
            &replication,
            &flags,
        )?;
        let alerts = alerts::build(file.alerts, flags.webhooks, listen)?;
        let mut index_config = file.index;
        if let Some(days) = flags.retention_days {
            index_config.retention_days = days;
        }
        let index = index_config.settings()?;
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let site = flags.site.or(file.site).unwrap_or_else(|| "default".into());
        let cluster = file.cluster.map(|c| c.build(&site)).transpose()?;
        if cluster.is_some() && replication.peer.is_some() {
            bail!(
                "[cluster] and a [replication] peer exclude each other: a cluster keeps its copies in JetStream"
            );
        }
        Ok(Settings {
            cluster,
            index,
            tls,
            replication,
            alerts,
            listen,
            tokens_file: flags
                .tokens_file
                .or(file.tokens_file)
                .unwrap_or_else(|| data_dir.join("tokens")),
            data_dir,
            site,
            tokens,
            http: limits.http,
            body_timeout: limits.body_timeout,
            limits: limits.ingest,
            wal: crate::wal::WalOptions {
                segment_bytes: file.wal.segment_bytes,
            },
            wal_keep_bytes: file.wal.keep_bytes(),
            space: crate::ingest::SpaceLimits {
                max_wal_bytes: file.wal.max_bytes,
                min_free_bytes: file.wal.min_free_bytes,
                max_index_backlog_bytes: index_config.max_backlog_bytes()?,
            },
            syslog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::Mode;

    #[test]
    fn unknown_key_is_refused_with_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\n[limits]\nmax_bodybytes = 1\n",
        )
        .unwrap();
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(
            err.contains("collector.toml")
                && err.contains("line 3")
                && err.contains("max_bodybytes"),
            "{err}"
        );
    }

    #[test]
    fn index_retention_comes_from_the_file_and_the_flag_overrides_it() {
        let file: FileConfig =
            toml::from_str("[index]\nretention_days = 5\nmax_bytes = 1000\n").unwrap();
        let s = Settings::build(file, Overrides::default()).unwrap();
        assert_eq!(s.index.retention.max_age, Some(chrono::Duration::days(5)));
        assert_eq!(s.index.retention.max_bytes, 1000);
        let file: FileConfig = toml::from_str("[index]\nretention_days = 5\n").unwrap();
        let flags = Overrides {
            retention_days: Some(0),
            ..Overrides::default()
        };
        assert_eq!(
            Settings::build(file, flags)
                .unwrap()
                .index
                .retention
                .max_age,
            None
        );
        let file: FileConfig = toml::from_str("[index]\nmemory_mb = 8\n").unwrap();
        let err = format!(
            "{:#}",
            Settings::build(file, Overrides::default()).unwrap_err()
        );
        assert!(err.contains("memory_mb"), "{err}");
    }

    #[test]
    fn the_index_backlog_and_priority_come_from_the_file_and_bad_ones_are_named() {
        let s = Settings::build(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(s.space.max_index_backlog_bytes, 256 << 20);
        assert_eq!(s.index.yield_below, 128 << 20);
        assert_eq!(s.index.nice, crate::index::DEFAULT_NICE);
        assert_eq!(s.index.commit_behind, crate::index::DEFAULT_COMMIT_BEHIND);
        let file: FileConfig =
            toml::from_str("[index]\nmax_backlog_mb = 0\nnice = 0\ncommit_behind_ms = 400\n")
                .unwrap();
        let s = Settings::build(file, Overrides::default()).unwrap();
        assert_eq!((s.space.max_index_backlog_bytes, s.index.nice), (0, 0));
        assert_eq!(s.index.yield_below, 0, "no bound: the indexer never yields");
        assert_eq!(s.index.commit_behind, std::time::Duration::from_millis(400));
        for (bad, key, range) in [
            (
                "commit_behind_ms = 100",
                "[index] commit_behind_ms",
                "250 to 60000",
            ),
            (
                "commit_behind_ms = 70000",
                "[index] commit_behind_ms",
                "250 to 60000",
            ),
            ("nice = 20", "[index] nice", "0 to 19"),
            ("nice = -1", "[index] nice", "0 to 19"),
        ] {
            let file: FileConfig = toml::from_str(&format!("[index]\n{bad}\n")).unwrap();
            let err = format!(
                "{:#}",
                Settings::build(file, Overrides::default()).unwrap_err()
            );
            assert!(err.contains(key) && err.contains(range), "{err}");
        }
        let file: FileConfig =
            toml::from_str(&format!("[index]\nmax_backlog_mb = {}\n", u64::MAX)).unwrap();
        let err = format!(
            "{:#}",
            Settings::build(file, Overrides::default()).unwrap_err()
        );
        assert!(err.contains("max_backlog_mb"), "{err}");
    }

    #[test]
    fn the_relay_deferral_rate_comes_from_the_file_and_zero_is_refused() {
        let build = |toml: &str| {
            let file: FileConfig = toml::from_str(toml).unwrap();
            Settings::build(file, Overrides::default()).map_err(|e| format!("{e:#}"))
        };
        let b = build("").unwrap().alerts.builtin;
        assert_eq!(
            (b.relay_deferrals, b.relay_deferral_window),
            (20, chrono::Duration::minutes(10))
        );
        let b = build("[alerts]\nrelay_deferrals = 5\nrelay_deferral_window = \"90s\"\n")
            .unwrap()
            .alerts
            .builtin;
        assert_eq!(
            (b.relay_deferrals, b.relay_deferral_window),
            (5, chrono::Duration::seconds(90))
        );
        let e = build("[alerts]\nrelay_deferrals = 0\n").unwrap_err();
        assert!(e.contains("relay_deferrals must be above zero"), "{e}");
        let e = build("[alerts]\nrelay_deferral_window = \"0s\"\n").unwrap_err();
        assert!(
            e.contains("relay_deferral_window must be above zero"),
            "{e}"
        );
    }

    #[test]
    fn wal_retention_defaults_follow_max_bytes_and_a_bad_hold_is_named() {
        let build = |toml: &str| {
            let file: FileConfig = toml::from_str(toml).unwrap();
            Settings::build(file, Overrides::default()).map_err(|e| format!("{e:#}"))
        };
        let s = build("").unwrap();
        assert_eq!(s.wal_keep_bytes, 4 << 30);
        assert_eq!(
            s.replication.standby_wal_hold,
            std::time::Duration::from_secs(86_400)
        );
        // Trimming must get well under the size at which ingest stops.
        assert_eq!(
            build("[wal]\nmax_bytes = 1000\n").unwrap().wal_keep_bytes,
            500
        );
        let s = build("[wal]\nkeep_bytes = 0\n[replication]\nstandby_wal_hold_s = 2.5\n").unwrap();
        assert_eq!(s.wal_keep_bytes, 0);
        assert_eq!(
            s.replication.standby_wal_hold,
            std::time::Duration::from_millis(2500)
        );
        let err = build("[replication]\nstandby_wal_hold_s = -1\n").unwrap_err();
        assert!(err.contains("standby_wal_hold_s"), "{err}");
    }

    #[test]
    fn a_bad_listen_address_is_named() {
        let flags = Overrides {
            listen: Some("localhost".into()),
            ..Overrides::default()
        };
        let err = format!(
            "{:#}",
            Settings::build(FileConfig::default(), flags).unwrap_err()
        );
        assert!(err.contains("\"localhost\""), "{err}");
    }

    #[test]
    fn replication_settings_are_checked_and_named() {
        let build = |flags: Overrides, toml: &str| {
            let file: FileConfig = toml::from_str(toml).unwrap();
            Settings::build(file, flags).map_err(|e| format!("{e:#}"))
        };
        let standby = Overrides {
            role: Some("standby".into()),
            ..Overrides::default()
        };
        let err = build(standby, "").unwrap_err();
        assert!(err.contains("needs the primary's URL"), "{err}");
        let peer = Overrides {
            peer: Some("http://127.0.0.1:7071".into()),
            ..Overrides::default()
        };
        let err = build(peer.clone(), "").unwrap_err();
        assert!(err.contains("own site name"), "{err}");
        let err = build(
            peer.clone(),
            "site = \"a\"\n[replication]\nmode = \"semi\"\n",
        )
        .unwrap_err();
        assert!(err.contains("\"semi\""), "{err}");
        let ok = build(peer, "site = \"a\"\n[replication]\nmode = \"async\"\n").unwrap();
        assert_eq!(ok.replication.mode, Mode::Async);
        assert_eq!(ok.replication.failover_timeout, Duration::from_secs(10));
    }

    #[test]
    fn old_duration_keys_in_seconds_give_the_same_settings_as_the_new_spelling_and_are_named() {
        let old = "[limits]\nheader_timeout_s = 5\nbody_timeout_s = 0.5\nwrite_timeout_s = 20\n\
            [syslog]\nidle_timeout_s = 600\n[index]\nmax_future_s = 3600\n\
            [alerts]\ngroup_wait_s = 30\ngroup_interval_s = 300\nrepeat_interval_s = 14400\n\
            resolve_hold_s = 90\nheartbeat_interval_s = 45\nauth_window_s = 120\nlog_quiet_s = 7200\n\
            deferred_after_s = 1800\n\
            [replication]\nsync_timeout_s = 2.5\nfailover_timeout_s = 15\nstandby_wal_hold_s = 86400\n\
            [[alerts.receivers]]\nname = \"run\"\ntype = \"command\"\ncommand = [\"true\"]\ntimeout_s = 10\n\
            [[alerts.rules]]\nname = \"r\"\nquery = \"app:postfix\"\nwindow_s = 60\n\
            [alerts.route]\nreceiver = \"run\"\nrepeat_interval_s = 3600\n\
            [[alerts.route.routes]]\nreceiver = \"run\"\ngroup_wait_s = 10\n";
        let new = "[limits]\nheader_timeout = \"5s\"\nbody_timeout = \"500ms\"\nwrite_timeout = \"20s\"\n\
            [syslog]\nidle_timeout = \"10m\"\n[index]\nmax_future = \"1h\"\n\
            [alerts]\ngroup_wait = \"30s\"\ngroup_interval = \"5m\"\nrepeat_interval = \"4h\"\n\
            resolve_hold = \"90s\"\nheartbeat_interval = \"45s\"\nauth_window = \"2m\"\nlog_quiet = \"2h\"\n\
            deferred_after = \"30m\"\n\
            [replication]\nsync_timeout = \"2500ms\"\nfailover_timeout = \"15s\"\nstandby_wal_hold = \"1d\"\n\
            [[alerts.receivers]]\nname = \"run\"\ntype = \"command\"\ncommand = [\"true\"]\ntimeout = \"10s\"\n\
            [[alerts.rules]]\nname = \"r\"\nquery = \"app:postfix\"\nwindow = \"1m\"\n\
            [alerts.route]\nreceiver = \"run\"\nrepeat_interval = \"1h\"\n\
            [[alerts.route.routes]]\nreceiver = \"run\"\ngroup_wait = \"10s\"\n";
        let settings = |text: &str| {
            let file = parse(Path::new("c.toml"), text).unwrap();
            let notes = file.deprecations();
            (Settings::build(file, Overrides::default()).unwrap(), notes)
        };
        let (from_old, notes) = settings(old);
        let (from_new, none) = settings(new);
        assert_eq!(format!("{from_old:?}"), format!("{from_new:?}"));
        assert_eq!(from_old.http.write_timeout, Duration::from_secs(20));
        assert_eq!(from_old.body_timeout, Duration::from_millis(500));
        assert_eq!(from_old.alerts.group_wait, Duration::from_secs(30));
        assert_eq!(
            from_old.replication.sync_timeout,
            Duration::from_millis(2500)
        );
        assert_ne!(
            format!("{from_new:?}"),
            format!("{:?}", settings("").0),
            "the values above are not all the defaults"
        );
        assert_eq!(notes.len(), 20, "{notes:#?}");
        assert!(none.is_empty(), "{none:?}");
        assert!(notes.contains(
            &"[alerts] group_wait_s = 30 is deprecated: write group_wait = \"30s\"".to_owned()
        ));
        assert!(
            notes.contains(
                &"[limits] body_timeout_s = 0.5 is deprecated: write body_timeout = \"500ms\""
                    .to_owned()
            )
        );

        let both = Settings::build(
            toml::from_str("[syslog]\nidle_timeout = \"1m\"\nidle_timeout_s = 60\n").unwrap(),
            Overrides::default(),
        );
        let err = format!("{:#}", both.unwrap_err());
        assert!(
            err.contains("idle_timeout_s") && err.contains("keep only idle_timeout"),
            "{err}"
        );
    }

    #[test]
    fn an_old_key_in_an_array_of_tables_is_named_with_the_line_of_its_own_element() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = "[[alerts.receivers]]\nname = \"run\"\ntype = \"command\"\ncommand = [\"true\"]\n\
            [[alerts.rules]]\nname = \"a\"\nquery = \"app:x\"\nwindow_s = 60\n\
            [[alerts.rules]]\nname = \"b\"\nquery = \"app:y\"\nwindow = \"1m\"\n\
            [[alerts.rules]]\nname = \"c\"\nquery = \"app:z\"\nwindow_s = 120\n\
            [alerts.route]\nreceiver = \"run\"\n\
            [[alerts.route.routes]]\nreceiver = \"run\"\ngroup_wait_s = 10\n\
            [[alerts.route.routes.routes]]\nreceiver = \"run\"\ngroup_wait_s = 20\n";
        std::fs::write(&path, text).unwrap();
        let checked = check(&path, Overrides::default()).unwrap();
        let file = path.display();
        assert_eq!(
            checked.deprecations,
            [
                format!(
                    "config file {file}, line 8: [[alerts.rules]] window_s = 60 is deprecated: write window = \"1m\""
                ),
                format!(
                    "config file {file}, line 16: [[alerts.rules]] window_s = 120 is deprecated: write window = \"2m\""
                ),
                format!(
                    "config file {file}, line 21: [[alerts.route.routes]] group_wait_s = 10 is deprecated: write group_wait = \"10s\""
                ),
                format!(
                    "config file {file}, line 24: [[alerts.route.routes.routes]] group_wait_s = 20 is deprecated: write group_wait = \"20s\""
                ),
            ]
        );
    }
}
