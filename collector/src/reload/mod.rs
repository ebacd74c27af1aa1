//! Hot reload of the config: on SIGHUP (`systemctl reload`) the config file is read again and
//! checked whole (the same `config::load_settings` as a start: rules and their queries, routes,
//! receivers, regexes, timers) with the same command-line flags over it. A file that does not
//! pass is refused and logged with its file and line, and the running config is kept; one that
//! passes has its `[alerts]` part handed to the rules engine, which takes it between two events
//! (rules::engine, "Reload"). Everything else in the file (listeners, WAL, index, replication,
//! tokens) is read at start only: a change there is logged as needing a restart.
//!
//! `/metrics` has Prometheus' own pair: `logwarden_config_last_reload_successful` (1 or 0) and
//! `logwarden_config_last_reload_success_timestamp_seconds` (the start counts as a reload), read
//! from `status`, a leaf the metrics read without depending on the config.
//!
//! The newest accepted `[alerts]` settings are kept process-wide (a `watch` channel), so that an
//! engine started later (a standby promoted) starts from them, not from the start's config.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use tokio::sync::watch;

use crate::config::{self, Overrides, Settings};
use crate::rules::EngineSettings;

mod status;

pub use status::{started, status};

/// The newest accepted `[alerts]` settings.
static LATEST: LazyLock<watch::Sender<Option<Arc<EngineSettings>>>> =
    LazyLock::new(|| watch::Sender::new(None));

/// The engine's view: the newest accepted settings (`None` until a reload).
pub fn subscribe() -> watch::Receiver<Option<Arc<EngineSettings>>> {
    LATEST.subscribe()
}

/// Reads and checks the file again; on success hands its `[alerts]` to the engine.
pub fn reload(path: &std::path::Path, flags: Overrides, running: &Settings) -> anyhow::Result<()> {
    let result = config::load_settings(path, flags);
    match result {
        Err(e) => {
            status::failed();
            Err(e)
        }
        Ok(new) => {
            let restart_needed = restart_only_changes(running, &new);
            if !restart_needed.is_empty() {
                tracing::warn!(
                    changed = %restart_needed.join(", "),
                    "config reload: these settings take effect at the next restart only"
                );
            }
            LATEST.send_replace(Some(Arc::new(new.alerts)));
            status::succeeded();
            Ok(())
        }
    }
}

/// The parts of the config a reload does not apply that differ.
fn restart_only_changes(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut v = Vec::new();
    if old.listen != new.listen {
        v.push("listen");
    }
    if old.data_dir != new.data_dir {
        v.push("data_dir");
    }
    if old.site != new.site {
        v.push("site");
    }
    if format!("{:?}", old.syslog) != format!("{:?}", new.syslog) {
        v.push("[syslog]");
    }
    if format!("{:?}", old.replication) != format!("{:?}", new.replication) {
        v.push("[replication]");
    }
    if format!("{:?}", old.index) != format!("{:?}", new.index) {
        v.push("[index]");
    }
    v
}

/// Reloads on every SIGHUP until the process ends. Without a config file there is nothing to
/// read again: SIGHUP is logged and ignored (never the default action, which would end the
/// collector).
pub async fn on_sighup(path: Option<PathBuf>, flags: Overrides, running: Settings) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: no config reload");
            return;
        }
    };
    while hup.recv().await.is_some() {
        let Some(path) = &path else {
            tracing::warn!("SIGHUP: the collector runs without --config; nothing to reload");
            continue;
        };
        let (p, f) = (path.clone(), flags.clone());
        let running = running.clone();
        let result = tokio::task::spawn_blocking(move || {
            reload(&p, f, &running).map_err(|e| format!("{e:#}"))
        })
        .await;
        match result {
            Ok(Ok(())) => tracing::info!(file = %path.display(), "config reloaded"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "config reload refused; the running config is kept")
            }
            Err(e) => tracing::error!(error = %e, "config reload task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_file_is_refused_with_its_line_and_a_good_one_is_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let good = "[[alerts.receivers]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n";
        std::fs::write(&path, good).unwrap();
        let running = config::load_settings(&path, Overrides::default()).unwrap();
        started();
        let (_, at_start) = status();
        let mut seen = subscribe();
        seen.borrow_and_update();

        std::fs::write(&path, format!("{good}[alerts.route]\nreceiver = \"b\"\n")).unwrap();
        let e = format!(
            "{:#}",
            reload(&path, Overrides::default(), &running).unwrap_err()
        );
        assert!(e.contains("c.toml, line 6") && e.contains("\"b\""), "{e}");
        assert_eq!(status(), (false, at_start));
        assert!(!seen.has_changed().unwrap(), "nothing handed to the engine");

        std::fs::write(&path, format!("{good}[alerts]\nrepeat_interval_s = 60\n")).unwrap();
        reload(&path, Overrides::default(), &running).unwrap();
        assert!(status().0);
        assert!(seen.has_changed().unwrap());
        let new = seen.borrow_and_update().clone().unwrap();
        assert_eq!(new.repeat_interval, std::time::Duration::from_secs(60));
    }
}
