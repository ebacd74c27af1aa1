//! Runbook links of the built-in alerts: each one's section of docs/alerts.md, under the
//! `[alerts] runbook_base_url` the operator gives (where their copy of the docs is served: a
//! wiki, a Git web view of `docs/alerts.md`). The anchors are read from the docs themselves at
//! build time, slugged as GitHub, GitLab and Gitea write them, so a renamed heading moves the
//! link with it.

/// The section anchor of a built-in alert in docs/alerts.md (`RaidArrayDegraded` ->
/// `raidarraydegraded-host-array`), if it has one.
pub fn anchor(alert: &str) -> Option<String> {
    const DOC: &str = include_str!("../../../docs/alerts.md");
    DOC.lines()
        .filter_map(|l| l.strip_prefix("### "))
        // `Name [labels]`, or several of those joined by ` / `.
        .find(|h| {
            h.split(" / ")
                .any(|part| part.split_whitespace().next() == Some(alert))
        })
        .map(slug)
}

/// GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The link for `alert` under `base`, if the docs have a section for it.
pub fn url(base: &str, alert: &str) -> Option<String> {
    anchor(alert).map(|a| format!("{}#{a}", base.trim_end_matches('#')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_alert_has_its_section() {
        assert_eq!(
            anchor("RaidArrayDegraded").as_deref(),
            Some("raidarraydegraded-host-array")
        );
        assert_eq!(
            anchor("SmartDiskWarning").as_deref(),
            Some("smartdiskfailing-host-device--smartdiskwarning-host-device")
        );
        for name in [
            "RaidArrayFailed",
            "RaidRebuilding",
            "RaidNoSpare",
            "HwRaidDegraded",
            "SmartDiskFailing",
            "BackupMisplaced",
            "BackupStale",
            "FilesystemFull",
            "AgentSilent",
            "ReplicationDegraded",
            "ZimbraServiceDown",
            "MailQueueDown",
            "LdapUnreachable",
            "AuthBruteForce",
            "MassMailboxDelete",
            "MailDeferred",
            "MailRelayDeferring",
        ] {
            assert!(
                anchor(name).is_some(),
                "{name} has no section in docs/alerts.md"
            );
        }
        assert_eq!(anchor("NoSuchAlert"), None);
        assert_eq!(anchor("host"), None, "a label is not an alert");
        assert_eq!(
            url("https://wiki.example/alerts.md", "AgentSilent").as_deref(),
            Some("https://wiki.example/alerts.md#agentsilent-host")
        );
    }
}
