//! Zimbra's own messages inside syslog (`/var/log/zimbra.log`): the lines that say a service
//! stopped, the mail system is down, LDAP cannot be reached, a disk is filling or a login
//! failed. Each gets fields the alert rules match on (`ZimbraServiceDown`, `MailQueueDown`,
//! `LdapUnreachable`, `FilesystemFull`, `AuthBruteForce`):
//!
//! | line (app: message) | fields |
//! |---|---|
//! | `zimbramon: 27690:info: 2019-09-05 08:34:01, STATUS: mail.example.com: mta: Running` | `service`, `status` (`running`/`stopped`), `server` |
//! | `zimbramon: 12877:info: 2015-03-16 12:00:02, QUEUE: 0 0` | `service: mta`, `queue_kbytes`, `queue_requests` |
//! | `zimbramon: 123:crit: Disk warning: host: /opt on device /dev/sda3 at 95%` (also `/opt (/dev/sda3) at 95 percent capacity`) | `mount`, `device`, `used_percent` |
//! | `postfix/postqueue: fatal: Queue report unavailable - mail system is down` | `service: mta`, `status: down` |
//! | `zimbramon: 31338:info: zmmtaconfig: gacf ERROR: service.FAILURE (... ZimbraLdapContext) (cause: javax.naming.CommunicationException gauss.domain.com:389)` | `service: ldap`, `status: unreachable`, `ldap_server`, `component` |
//! | `slapd: daemon: bind(8) failed errno=98 ...`, `slapd stopped.`, `slapd starting` | `service: ldap`, `status` (`error`/`stopped`/`starting`) |
//! | `saslauthd: auth_zimbra: alice@example.com auth failed: ...` | `auth: failed`, `account` |
//! | `postfix/smtpd: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: ...` | `auth: failed`, `ip`, `mechanism`, `protocol: smtp` |
//!
//! zimbramon prefixes its messages with `PID:LEVEL:`: that level becomes the severity, and a
//! stopped service, a down MTA or an unreachable LDAP is at least `err` whatever the prefix says.
//! Matching is by app first, then by a fixed string: one comparison for the lines that are none
//! of these.

use serde_json::Value;

use logwarden_core::Draft;
use logwarden_core::Severity;

/// Adds what the message says to a syslog draft.
pub fn enrich(draft: &mut Draft) {
    match draft.app.as_str() {
        "zimbramon" => zimbramon(draft),
        "saslauthd" => saslauthd(draft),
        "slapd" => slapd(draft),
        a if a.starts_with("postfix") => postfix_line(draft),
        "amavis" | "amavisd" | "amavisd-new" => {
            super::amavis::enrich(draft);
        }
        _ => {}
    }
}

/// The delivery path first (docs/trace.md); warnings and fatal lines when it is not.
fn postfix_line(draft: &mut Draft) {
    if !super::postfix::enrich(draft) {
        postfix(draft)
    }
}

fn worsen(draft: &mut Draft, s: Severity) {
    draft.severity = draft.severity.min(s);
}

fn set(draft: &mut Draft, k: &str, v: impl Into<Value>) {
    draft.fields.insert(k.into(), v.into());
}

fn zimbramon(draft: &mut Draft) {
    let msg = std::mem::take(&mut draft.message);
    let mut rest = msg.as_str();
    // `27690:info: `
    if let Some((pid, after)) = rest.split_once(':')
        && !pid.is_empty()
        && pid.bytes().all(|c| c.is_ascii_digit())
        && let Some((level, after)) = after.split_once(": ")
        && let Some(sev) = super::time::level(level)
    {
        draft.severity = sev;
        rest = after;
    }
    // `2019-09-05 08:34:01, `
    if rest.len() > 21
        && rest.as_bytes()[19] == b','
        && super::time::ymd_hms(rest.as_bytes()).is_some()
    {
        rest = rest[20..].trim_start();
    }
    if let Some(s) = rest.strip_prefix("STATUS: ") {
        // `host: service: Running`; a service name may hold spaces (`zimbra webapp`).
        if let Some((left, status)) = s.trim_end().rsplit_once(": ")
            && let Some((server, service)) = left.split_once(": ")
        {
            let status = status.trim().to_ascii_lowercase();
            if status != "running" {
                worsen(draft, Severity::Err);
            }
            set(draft, "server", server);
            set(draft, "service", service);
            set(draft, "status", status);
        }
    } else if let Some(s) = rest.strip_prefix("QUEUE: ") {
        let mut n = s.split_whitespace().map(str::parse::<u64>);
        if let (Some(Ok(kbytes)), Some(Ok(requests))) = (n.next(), n.next()) {
            set(draft, "service", "mta");
            set(draft, "queue_kbytes", kbytes);
            set(draft, "queue_requests", requests);
        }
    } else if let Some(s) = rest.strip_prefix("Disk warning: ") {
        disk_warning(s, draft);
    } else if let Some(s) = rest.strip_prefix("zmmtaconfig: ") {
        set(draft, "component", "zmmtaconfig");
        ldap_failure(s, draft);
    }
    draft.message = msg;
}

/// `host: /opt on device /dev/sda3 at 95%` or `/opt (/dev/sda3) at 95 percent capacity`.
fn disk_warning(s: &str, draft: &mut Draft) {
    let s = s.trim();
    // An optional `host: ` first (a mount point starts with `/`).
    let s = match s.split_once(": ") {
        Some((host, rest)) if !host.starts_with('/') => {
            set(draft, "server", host);
            rest
        }
        _ => s,
    };
    let Some((what, pct)) = s.rsplit_once(" at ") else {
        return;
    };
    let digits: String = pct.chars().take_while(char::is_ascii_digit).collect();
    let Ok(used) = digits.parse::<u64>() else {
        return;
    };
    let (mount, device) = if let Some((m, d)) = what.split_once(" on device ") {
        (m, Some(d))
    } else if let Some((m, d)) = what.split_once(" (") {
        (m, d.strip_suffix(')'))
    } else {
        (what, None)
    };
    set(draft, "mount", mount.trim());
    if let Some(d) = device {
        set(draft, "device", d.trim());
    }
    set(draft, "used_percent", used);
    worsen(draft, Severity::Warning);
}

/// zmmtaconfig's `... ERROR: service.FAILURE (system failure: ZimbraLdapContext) (cause:
/// javax.naming.CommunicationException host:389)`.
fn ldap_failure(s: &str, draft: &mut Draft) {
    if !(s.contains("ZimbraLdapContext") || s.contains("javax.naming.")) {
        return;
    }
    set(draft, "service", "ldap");
    set(draft, "status", "unreachable");
    if let Some(i) = s.find("Exception ") {
        let server = s[i + "Exception ".len()..]
            .split([')', ' '])
            .next()
            .unwrap_or_default();
        if !server.is_empty() {
            set(draft, "ldap_server", server);
        }
    }
    worsen(draft, Severity::Err);
}

fn postfix(draft: &mut Draft) {
    let msg = std::mem::take(&mut draft.message);
    if msg.contains("mail system is down") {
        set(draft, "service", "mta");
        set(draft, "status", "down");
        worsen(draft, Severity::Err);
    } else if let Some(i) = msg.find(" authentication failed") {
        // `warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: ...`
        let head = &msg[..i];
        if let Some(mech) = head.rsplit(' ').next()
            && head.contains("SASL ")
        {
            set(draft, "mechanism", mech);
        }
        if let Some(open) = head.find('[')
            && let Some(close) = head[open..].find(']')
        {
            set(draft, "ip", &head[open + 1..open + close]);
        }
        set(draft, "auth", "failed");
        set(draft, "protocol", "smtp");
        if let Some(user) = msg
            .split("sasl_username=")
            .nth(1)
            .and_then(|u| u.split([',', ' ']).next())
        {
            set(draft, "account", user);
        }
    }
    draft.message = msg;
}

fn saslauthd(draft: &mut Draft) {
    let msg = std::mem::take(&mut draft.message);
    // `auth_zimbra: alice@example.com auth failed: ...`
    if let Some(i) = msg.find(" auth failed") {
        let account = msg[..i].rsplit(' ').next().unwrap_or_default();
        if !account.is_empty() && !account.ends_with(':') {
            set(draft, "account", account);
        }
        set(draft, "auth", "failed");
        worsen(draft, Severity::Warning);
    } else if msg.contains("auth failure") {
        // `do_auth: auth failure: [user=alice] [service=smtp] [realm=] [mech=zimbra] [reason=...]`
        if let Some(u) = msg.split("[user=").nth(1).and_then(|u| u.split(']').next()) {
            set(draft, "account", u);
        }
        set(draft, "auth", "failed");
        worsen(draft, Severity::Warning);
    }
    draft.message = msg;
}

fn slapd(draft: &mut Draft) {
    let m = draft.message.as_str();
    let status = if m.starts_with("slapd starting") {
        "starting"
    } else if m.starts_with("slapd stopped") || m.starts_with("slapd shutdown") {
        "stopped"
    } else if m.contains(" failed") || m.contains("error") || m.contains("cannot") {
        "error"
    } else {
        return;
    };
    if status != "starting" {
        worsen(draft, Severity::Err);
    }
    set(draft, "service", "ldap");
    set(draft, "status", status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(app: &str, message: &str) -> Draft {
        let mut d = Draft::plain("/var/log/zimbra.log", message.to_owned());
        d.app = app.into();
        enrich(&mut d);
        d
    }

    #[test]
    fn zimbramon_status_names_service_status_and_server() {
        let d = draft(
            "zimbramon",
            "27690:info: 2019-09-05 08:34:01, STATUS: mail.example.com: memcached: Running",
        );
        assert_eq!(d.fields["service"], "memcached");
        assert_eq!(d.fields["status"], "running");
        assert_eq!(d.fields["server"], "mail.example.com");
        assert_eq!(d.severity, Severity::Info);
        // The message is kept whole.
        assert!(d.message.starts_with("27690:info: 2019-09-05"));
    }

    #[test]
    fn stopped_service_is_an_error_even_when_logged_as_info() {
        let d = draft(
            "zimbramon",
            "4242:info: 2024-01-01 00:00:01, STATUS: mbox3.example.com: zimbra webapp: Stopped",
        );
        assert_eq!(d.fields["service"], "zimbra webapp");
        assert_eq!(d.fields["status"], "stopped");
        assert_eq!(d.severity, Severity::Err);
    }

    #[test]
    fn queue_line_gives_queue_numbers() {
        let d = draft("zimbramon", "12877:info: 2015-03-16 12:00:02, QUEUE: 0 0");
        assert_eq!(d.fields["service"], "mta");
        assert_eq!(d.fields["queue_kbytes"], 0);
        assert_eq!(d.fields["queue_requests"], 0);
    }

    #[test]
    fn mail_system_down_is_mta_down() {
        let d = draft(
            "postfix/postqueue",
            "fatal: Queue report unavailable - mail system is down",
        );
        assert_eq!(d.fields["service"], "mta");
        assert_eq!(d.fields["status"], "down");
        assert_eq!(d.severity, Severity::Err);
    }

    #[test]
    fn zmmtaconfig_ldap_failure_names_the_ldap_server() {
        let d = draft(
            "zimbramon",
            "31338:info: zmmtaconfig: gacf ERROR: service.FAILURE (system failure: ZimbraLdapContext) (cause: javax.naming.CommunicationException gauss.domain.com:389)  ",
        );
        assert_eq!(d.fields["service"], "ldap");
        assert_eq!(d.fields["status"], "unreachable");
        assert_eq!(d.fields["ldap_server"], "gauss.domain.com:389");
        assert_eq!(d.fields["component"], "zmmtaconfig");
        assert_eq!(d.severity, Severity::Err);
        let d = draft(
            "zimbramon",
            "31338:info: zmmtaconfig: Skipping Global system configuration update. ",
        );
        assert!(!d.fields.contains_key("service"));
        assert_eq!(d.severity, Severity::Info);
    }

    #[test]
    fn disk_warning_gives_mount_device_and_percent_in_both_spellings() {
        let d = draft(
            "zimbramon",
            "5555:crit: Disk warning: mbox3.example.com: /opt/zimbra on device /dev/md2 at 96%",
        );
        assert_eq!(d.fields["mount"], "/opt/zimbra");
        assert_eq!(d.fields["device"], "/dev/md2");
        assert_eq!(d.fields["used_percent"], 96);
        assert_eq!(d.fields["server"], "mbox3.example.com");
        assert_eq!(d.severity, Severity::Crit);
        let d = draft(
            "zimbramon",
            "5555:err: Disk warning: /backup (/dev/sdb1) at 91 percent capacity",
        );
        assert_eq!(d.fields["mount"], "/backup");
        assert_eq!(d.fields["device"], "/dev/sdb1");
        assert_eq!(d.fields["used_percent"], 91);
        assert_eq!(d.severity, Severity::Err);
    }

    #[test]
    fn saslauthd_failure_names_the_account() {
        let d = draft(
            "saslauthd",
            "auth_zimbra: contabilidad@example.com auth failed: authentication failed for [contabilidad@maquinet.cl]",
        );
        assert_eq!(d.fields["account"], "contabilidad@example.com");
        assert_eq!(d.fields["auth"], "failed");
        assert_eq!(d.severity, Severity::Warning);
    }

    #[test]
    fn postfix_sasl_failure_names_ip_and_mechanism() {
        let d = draft(
            "postfix/smtpd",
            "warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        );
        assert_eq!(d.fields["ip"], "203.0.113.9");
        assert_eq!(d.fields["mechanism"], "LOGIN");
        assert_eq!(d.fields["auth"], "failed");
    }

    #[test]
    fn slapd_start_stop_and_errors_are_ldap_statuses() {
        assert_eq!(
            draft("slapd", "slapd starting ").fields["status"],
            "starting"
        );
        let d = draft(
            "slapd",
            "daemon: bind(8) failed errno=98 (Address already in use)",
        );
        assert_eq!(d.fields["status"], "error");
        assert_eq!(d.severity, Severity::Err);
        let d = draft(
            "slapd",
            "@(#) $OpenLDAP: slapd 2.3.42 (May 29 2008 13:41:01) $",
        );
        assert!(!d.fields.contains_key("service"));
    }
}
