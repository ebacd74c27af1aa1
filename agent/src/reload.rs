//! SIGHUP (`systemctl reload logwarden-agent`): the config file is read again and checked
//! whole, as at start (with the same command-line flags over it); if it is good, its file list
//! (`[[files]]`, or `--file` when given) goes to the tailer (`tail/reload.rs`): new globs are
//! tailed, removed ones are not read any more. A file that does not pass is refused, logged
//! with its file and line, and the running list kept. The other sections take effect at the
//! next start (said in the log when they changed).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

use tokio_util::sync::CancellationToken;

use crate::config::{self, Overrides, Settings};
use crate::tail::settings::FileRule;

/// Listens for SIGHUP until `stop`; each good reload sends its file list on the receiver
/// returned (give it to the tailer). `config` is the file the agent started with, if any.
pub fn spawn(
    config: Option<PathBuf>,
    flags: Overrides,
    running: &Settings,
    stop: CancellationToken,
) -> Receiver<Vec<FileRule>> {
    let (tx, rx) = channel();
    let running = others(running);
    tokio::spawn(listen(config, flags, running, tx, stop));
    rx
}

async fn listen(
    config: Option<PathBuf>,
    flags: Overrides,
    mut running: String,
    tx: Sender<Vec<FileRule>>,
    stop: CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP: no config reload");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = hup.recv() => {}
        }
        let Some(path) = config.clone() else {
            tracing::warn!("SIGHUP: the agent runs without --config; nothing to reload");
            continue;
        };
        let flags = flags.clone();
        let loaded = tokio::task::spawn_blocking(move || config::load_settings(&path, flags)).await;
        match loaded {
            Ok(Ok(settings)) => {
                let now = others(&settings);
                if now != running {
                    tracing::warn!(
                        "config reloaded: sections other than [[files]] changed; they take effect at the next start"
                    );
                    running = now;
                }
                tracing::info!(
                    globs = settings.tail.rules.len(),
                    "config reloaded: new file list"
                );
                if tx.send(settings.tail.rules).is_err() {
                    return; // the tailer has stopped
                }
            }
            Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"),
                "config reload refused; the running file list is kept"),
            Err(e) => tracing::error!(error = %e, "config reload task failed"),
        }
    }
}

/// Everything of the settings but the file list, to tell whether a reload changed more.
fn others(s: &Settings) -> String {
    let mut s = s.clone();
    s.files.clear();
    s.tail.rules.clear();
    format!("{s:?}")
}
