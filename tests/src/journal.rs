//! Real journal files for the journald tests: `systemd-journal-remote` (Debian's package of that
//! name, which `scripts/test` installs) turns export-format text into a journal file in a folder
//! the test owns; the agent reads that folder with `--journald=DIR` (`journalctl --directory`).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Collector;

pub const REMOTE: &str = "/lib/systemd/systemd-journal-remote";
/// The time of entry 0: 2025-12-05T10:20:00Z; entry `i` is `i` seconds later.
pub const BASE_US: u64 = 1_764_930_000_000_000;

/// Why journal tests cannot run here (no `journalctl` or no `systemd-journal-remote`), if so.
pub fn tools_missing() -> Option<String> {
    let missing: Vec<&str> = [REMOTE, "/usr/bin/journalctl", "/bin/journalctl"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    (missing.contains(&REMOTE) || missing.len() == 3).then(|| {
        format!(
            "needs journalctl and {REMOTE} (Debian: systemd, systemd-journal-remote); missing: {missing:?}"
        )
    })
}

/// Appends entries `range` to the journal file `dir/file` (created when absent), as one boot,
/// one second apart, as journald would: a cursor is found again by boot and monotonic time.
/// Messages are `journaltest nNNNN connect from unknown`.
pub fn write_journal(dir: &Path, file: &str, range: std::ops::Range<u64>) {
    let mut text = String::new();
    for i in range {
        text.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mbox1\nSYSLOG_IDENTIFIER=postfix/smtpd\nPRIORITY={}\n_PID={}\n_SYSTEMD_UNIT=postfix.service\nMESSAGE=journaltest n{i:04} connect from unknown\n\n",
            BASE_US + i * 1_000_000,
            1 + i * 1_000_000,
            i % 8,
            1000 + i
        ));
    }
    let mut child = Command::new(REMOTE)
        .arg(format!("--output={}/{file}", dir.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running systemd-journal-remote");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("writing to systemd-journal-remote");
    assert!(
        child
            .wait()
            .expect("waiting for systemd-journal-remote")
            .success(),
        "systemd-journal-remote failed"
    );
}

/// Each entry number found at the collector, with how many times.
pub fn found(c: &Collector) -> HashMap<u64, u32> {
    let mut seen = HashMap::new();
    for hit in c.hits("journaltest", 10_000) {
        if let Some(i) = hit["message"]
            .as_str()
            .and_then(|m| m.split(' ').nth(1))
            .and_then(|t| t.strip_prefix('n'))
            .and_then(|t| t.parse().ok())
        {
            *seen.entry(i).or_default() += 1;
        }
    }
    seen
}

/// The journal place (the time in µs of the last acknowledged entry) in the agent's checkpoint.
pub fn acked(agent_dir: &Path) -> Option<u64> {
    let cp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(agent_dir.join("checkpoints.json")).ok()?).ok()?;
    cp["files"]
        .as_array()?
        .iter()
        .find(|f| f["dev"].as_u64() == Some(u64::MAX))?["offset"]
        .as_u64()
}
