//! The systemd journal as a source (`[[journald]]`, `--journald`): for hosts with no syslog
//! file (Debian 12 and RHEL 9 installs without rsyslog).
//!
//! Each source runs `journalctl --output=export --follow` (on the system journal, or on a
//! journal directory with `directory`), reads its entries (`export.rs`) and maps them to events:
//!
//! | journal field | event |
//! |---|---|
//! | `MESSAGE` | `message` |
//! | `__REALTIME_TIMESTAMP` | `ts` |
//! | `_HOSTNAME` | `host` |
//! | `SYSLOG_IDENTIFIER` (else `_COMM`) | `app` |
//! | `PRIORITY` (0-7) | `severity` (info when absent) |
//! | `_PID` | `fields.pid` |
//! | `_SYSTEMD_UNIT` | `fields.unit` |
//! | `__CURSOR` | where reading resumes |
//!
//! Exactly once, as for files: each event is spooled with an origin whose key is the source's
//! ([`source_key`]: a reserved device number and a hash of the source's settings) and whose
//! path holds the entry's cursor. The checkpoint (`checkpoints.json`) takes that cursor only once
//! the collector has acknowledged the event; a start resumes after the later of the acknowledged
//! cursor and the last one spooled (`--cursor`, the cursor's own entry passed over), the spooled
//! events being resent from the spool. All boots are read (`--merge`), so a reboot before
//! everything was read loses nothing. `journalctl` follows journal rotation itself. When the
//! entry of the cursor was vacuumed away (the first entry shown is not the cursor's), the agent
//! says so in one warning and reads on from the oldest entry left: nothing acknowledged is read
//! again, and only entries that were removed unread are lost. When `journalctl` ends (a journal directory that
//! does not exist yet, `journalctl` missing), the problem is logged and it is started again
//! after a pause, from the last cursor handed out.

pub mod export;
pub mod settings;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::draft::Draft;
use crate::source::Item;
use crate::source::Origin;
use crate::source::fingerprint::Fingerprint;
use crate::source::{FileKey, JOURNAL_DEV};
use logwarden_core::Severity;

/// Pause before `journalctl` is started again after it ended.
const RESTART_PAUSE: Duration = Duration::from_secs(5);

/// One journal to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSource {
    /// A journal directory (`journalctl --directory`); the system journal when `None`.
    pub directory: Option<PathBuf>,
    /// journalctl matches, e.g. `_SYSTEMD_UNIT=postfix.service`.
    pub matches: Vec<String>,
    /// At the very first start (no cursor yet): from the journal's end instead of its start.
    pub read_from_end: bool,
}

impl JournalSource {
    /// How it is named in logs and in events' `source`.
    pub fn name(&self) -> String {
        match &self.directory {
            Some(d) => format!("journald:{}", d.display()),
            None => "journald".into(),
        }
    }
}

/// The key of a source's checkpoint: [`JOURNAL_DEV`] and a CRC of its directory and matches, so
/// that reordering the sources in the config keeps each one's place.
pub fn source_key(src: &JournalSource) -> FileKey {
    let mut h = crc32fast::Hasher::new();
    if let Some(d) = &src.directory {
        h.update(d.as_os_str().as_encoded_bytes());
    }
    for m in &src.matches {
        h.update(b"\0");
        h.update(m.as_bytes());
    }
    FileKey {
        dev: JOURNAL_DEV,
        ino: u64::from(h.finalize()),
    }
}

/// Maps one entry to a draft; `None` for an entry without a message.
pub fn draft(entry: &export::Entry, source: &str) -> Option<Draft> {
    let message = entry.text("MESSAGE")?;
    let mut d = Draft::plain(source, message);
    d.ts = entry
        .text("__REALTIME_TIMESTAMP")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_micros);
    d.host = entry.text("_HOSTNAME").map(Into::into);
    if let Some(app) = entry
        .text("SYSLOG_IDENTIFIER")
        .or_else(|| entry.text("_COMM"))
    {
        d.app = app.into();
    }
    if let Some(s) = entry
        .text("PRIORITY")
        .and_then(|p| p.parse::<u8>().ok())
        .and_then(Severity::from_level)
    {
        d.severity = s;
    }
    if let Some(pid) = entry.text("_PID").and_then(|p| p.parse::<u64>().ok()) {
        d.fields.insert("pid".into(), pid.into());
    }
    if let Some(unit) = entry.text("_SYSTEMD_UNIT") {
        d.fields.insert("unit".into(), unit.into());
    }
    Some(d)
}

/// Reads `src` until `stop`, handing each entry to `tx`, starting after `cursor` (the later of
/// the acknowledged and the spooled one) when there is one.
pub async fn run(
    src: JournalSource,
    mut cursor: Option<String>,
    tx: mpsc::Sender<Item>,
    stop: CancellationToken,
) {
    let key = source_key(&src);
    let name = src.name();
    loop {
        let mut cmd = tokio::process::Command::new("journalctl");
        // `--merge`: `--follow` alone reads only the current boot, which would skip what an
        // earlier boot wrote after the cursor (a reboot before everything was read).
        cmd.args(["--output=export", "--follow", "--merge", "--no-pager"]);
        if let Some(d) = &src.directory {
            cmd.arg("--directory").arg(d);
        }
        // `--follow` shows only the last 10 entries unless told otherwise, a cursor or not.
        // From the cursor's own entry (`--cursor`), not after it: `--after-cursor` skips one
        // entry whether or not the cursor's is still there, so once the file holding it was
        // vacuumed it skipped the oldest entry left (systemd 252). The entry of the cursor,
        // already read, is recognised below and passed over.
        let mut resume = cursor.clone();
        match &cursor {
            Some(c) => {
                cmd.arg(format!("--cursor={c}")).arg("--no-tail");
            }
            None if src.read_from_end => {
                cmd.arg("--lines=0");
            }
            None => {
                cmd.arg("--no-tail");
            }
        }
        cmd.args(&src.matches)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::info!(
            source = name,
            after_cursor = cursor.as_deref().unwrap_or("(none)"),
            "reading the journal"
        );
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source = name, error = %e, "cannot run journalctl; trying again in 5 s");
                tokio::select! {
                    _ = tokio::time::sleep(RESTART_PAUSE) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let mut r = tokio::io::BufReader::with_capacity(256 << 10, stdout);
        loop {
            let next = tokio::select! {
                n = export::next_entry(&mut r) => n,
                _ = stop.cancelled() => {
                    let _ = child.kill().await;
                    return;
                }
            };
            let entry = match next {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(source = name, error = %e, "reading journalctl's output failed");
                    break;
                }
            };
            let Some(c) = entry.text("__CURSOR") else {
                continue;
            };
            if let Some(saved) = resume.take() {
                if c == saved {
                    continue;
                }
                tracing::warn!(
                    source = name,
                    cursor = saved,
                    oldest = c,
                    "the journal entry of the saved cursor is gone (its file was rotated away and vacuumed); reading on from the oldest entry left, entries between the two may be lost"
                );
            }
            if let Some(d) = draft(&entry, &name) {
                let origin = Origin {
                    file: key,
                    fp: Fingerprint::default(),
                    path: std::path::Path::new(&c).into(),
                    end: entry
                        .text("__REALTIME_TIMESTAMP")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                };
                let item = Item {
                    draft: d,
                    origin: Some(origin),
                };
                tokio::select! {
                    sent = tx.send(item) => if sent.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
            cursor = Some(c);
        }
        let _ = child.kill().await;
        let status = child.wait().await;
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err).await;
        tracing::warn!(source = name, status = ?status.ok(), stderr = err.trim(),
            "journalctl ended; starting it again in 5 s from the last entry read");
        tokio::select! {
            _ = tokio::time::sleep(RESTART_PAUSE) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_fields_map_to_the_event() {
        let entry = export::Entry {
            fields: [
                ("__CURSOR", "s=a;i=1"),
                ("__REALTIME_TIMESTAMP", "1733400000000000"),
                ("_HOSTNAME", "mbox1"),
                ("SYSLOG_IDENTIFIER", "postfix/smtpd"),
                ("PRIORITY", "3"),
                ("_PID", "1234"),
                ("_SYSTEMD_UNIT", "postfix.service"),
                ("MESSAGE", "connect from unknown"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
            .collect(),
        };
        let d = draft(&entry, "journald").unwrap();
        assert_eq!(d.message, "connect from unknown");
        assert_eq!(d.host.as_deref(), Some("mbox1"));
        assert_eq!(d.app, "postfix/smtpd");
        assert_eq!(d.severity, Severity::Err);
        assert_eq!(d.ts.unwrap().timestamp(), 1_733_400_000);
        assert_eq!(d.fields.get("pid"), Some(&1234u64.into()));
        assert_eq!(d.fields.get("unit"), Some(&"postfix.service".into()));
        assert_ne!(
            source_key(&JournalSource {
                directory: None,
                matches: vec![],
                read_from_end: false
            }),
            source_key(&JournalSource {
                directory: Some("/j".into()),
                matches: vec![],
                read_from_end: false
            })
        );
    }
}
