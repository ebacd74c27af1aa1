//! `[[journald]]` as written in the config file, and its check into a [`JournalSource`]
//! (`config.rs` assembles it with the other sections).

use std::path::PathBuf;

use anyhow::bail;
use serde::Deserialize;

use super::JournalSource;

/// One `[[journald]]` table, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldConfig {
    /// A journal directory (`journalctl --directory`); the system journal when absent.
    pub directory: Option<PathBuf>,
    /// journalctl matches (`FIELD=value`), e.g. `["_SYSTEMD_UNIT=postfix.service"]`.
    #[serde(default)]
    pub matches: Vec<String>,
    /// `beginning` (default) or `end`: where the very first start reads from.
    pub read_from: Option<String>,
}

impl JournaldConfig {
    /// Checks `read_from` and the matches.
    pub fn source(&self) -> anyhow::Result<JournalSource> {
        let read_from_end = match self.read_from.as_deref() {
            None | Some("beginning") => false,
            Some("end") => true,
            Some(other) => {
                bail!("[[journald]] read_from {other:?}: must be \"beginning\" or \"end\"")
            }
        };
        for m in &self.matches {
            if !m.contains('=') && m != "+" {
                bail!("[[journald]] match {m:?}: must be FIELD=value (or \"+\" between groups)");
            }
        }
        Ok(JournalSource {
            directory: self.directory.clone(),
            matches: self.matches.clone(),
            read_from_end,
        })
    }
}
