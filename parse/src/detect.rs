//! `auto`: which parser reads a line. The file name gives a first guess (Zimbra's file names are
//! fixed: `mailbox.log`, `zmmailboxd.out`, `nginx.access.log`, `/var/log/zimbra.log`), and each
//! line is then sniffed by its first bytes — a few comparisons, no parsing — so that a file of
//! mixed lines (a syslog file with a pasted log4j line, a log4j file's stack traces) is still
//! read line by line with the right parser. The parser of the last line that parsed is tried
//! first on the next one.

use std::path::Path;

use super::{jetty, nginx, syslog, zimbra};

/// The parsers, finer than [`super::Format`]: `zimbra` files hold log4j or Jetty lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Log4j,
    Jetty,
    Syslog,
    Nginx,
    Plain,
}

impl Flavor {
    /// Whether records of this flavor run over several lines (stack traces).
    pub fn multiline(self) -> bool {
        matches!(self, Flavor::Log4j | Flavor::Jetty)
    }
}

/// The guess from the file name alone.
pub fn from_path(path: &Path) -> Option<Flavor> {
    let name = path.file_name()?.to_str()?;
    // Rotated files keep their stem: `mailbox.log.1`, `zimbra.log-20240101.gz`.
    let stem = name.split_once(".log").map_or(name, |(s, _)| s);
    match stem {
        "mailbox" | "audit" | "sync" | "ews" | "activity" | "milter" | "convertd" | "synctrace"
        | "syncstate" | "soap" | "imapd" | "zmconfigd" | "searchstat" | "zimbrastats" => {
            Some(Flavor::Log4j)
        }
        _ if name.starts_with("zmmailboxd.out") => Some(Flavor::Jetty),
        _ if name.starts_with("nginx") && name.contains("access") => Some(Flavor::Nginx),
        "access" if path.to_string_lossy().contains("nginx") => Some(Flavor::Nginx),
        "zimbra" | "zimbra-stats" | "syslog" | "messages" | "maillog" | "mail" | "auth"
        | "secure" | "kern" | "daemon" | "user" | "cron" => Some(Flavor::Syslog),
        _ => None,
    }
}

/// The parser a line's first bytes call for.
pub fn sniff(line: &[u8]) -> Flavor {
    match line.first() {
        Some(c) if c.is_ascii_digit() => {
            if zimbra::starts_record(line) {
                Flavor::Log4j
            } else if jetty::starts_record(line) {
                Flavor::Jetty
            } else if syslog::looks_like(line) {
                Flavor::Syslog
            } else if nginx::looks_like(line) {
                Flavor::Nginx
            } else {
                Flavor::Plain
            }
        }
        Some(_) if syslog::looks_like(line) => Flavor::Syslog,
        Some(_) if nginx::looks_like(line) => Flavor::Nginx,
        _ => Flavor::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zimbra_file_names_give_their_parser() {
        let f = |p: &str| from_path(Path::new(p));
        assert_eq!(f("/opt/zimbra/log/mailbox.log"), Some(Flavor::Log4j));
        assert_eq!(
            f("/opt/zimbra/log/audit.log.2024-01-01.gz"),
            Some(Flavor::Log4j)
        );
        assert_eq!(f("/opt/zimbra/log/sync.log"), Some(Flavor::Log4j));
        assert_eq!(f("/opt/zimbra/log/zmmailboxd.out"), Some(Flavor::Jetty));
        assert_eq!(f("/opt/zimbra/log/nginx.access.log"), Some(Flavor::Nginx));
        assert_eq!(f("/var/log/nginx/access.log"), Some(Flavor::Nginx));
        assert_eq!(f("/var/log/zimbra.log"), Some(Flavor::Syslog));
        assert_eq!(f("/var/log/messages"), Some(Flavor::Syslog));
        assert_eq!(f("/tmp/whatever.txt"), None);
    }

    #[test]
    fn lines_are_sniffed_by_their_first_bytes() {
        assert_eq!(
            sniff(b"2015-12-05 18:47:36,435 INFO  [x] [] a - b"),
            Flavor::Log4j
        );
        assert_eq!(
            sniff(b"2021-01-15 15:57:32.537:WARN:oejs.DoSFilter:x"),
            Flavor::Jetty
        );
        assert_eq!(sniff(b"Mar 16 12:00:02 h app: x"), Flavor::Syslog);
        assert_eq!(sniff(b"<34>Oct 11 22:14:15 h su: x"), Flavor::Syslog);
        assert_eq!(sniff(b"2024-05-01T10:00:00+02:00 h app: x"), Flavor::Syslog);
        assert_eq!(
            sniff(br#"10.0.0.1:5 - - [15/Jan/2021:15:57:32 +0100] "GET / HTTP/1.1" 200 1"#),
            Flavor::Nginx
        );
        assert_eq!(sniff(b"\tat com.zimbra.cs.Foo(Foo.java:1)"), Flavor::Plain);
        assert_eq!(sniff(b"Host mail.domain.co.id"), Flavor::Plain);
        assert_eq!(sniff(b""), Flavor::Plain);
    }
}
