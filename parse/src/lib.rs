//! Turning a line (or a multi-line record) of a log file into a [`Draft`]: the formats the
//! agent understands, one file each.
//!
//! - [`zimbra`]: Zimbra's log4j files (`mailbox.log`, `audit.log`, `sync.log`, ...).
//! - [`jetty`]: `zmmailboxd.out`, Jetty's own lines.
//! - [`nginx`]: nginx access logs (combined and Zimbra's proxy format).
//! - [`syslog`]: RFC 3164 and RFC 5424 files and lines, with [`zimbra_messages`] reading
//!   Zimbra's own messages inside them (service status, queue, disk, LDAP, auth failures),
//!   [`storage_events`] the storage events of ESXi hosts and ONTAP filers (health records), and
//!   [`postfix`] and [`amavis`] the delivery path of a message (queue ids, message-ids,
//!   recipients, statuses) for `logwarden trace`.
//! - [`zimbra_delivery`]: the LMTP delivery and `Adding Message` lines of `mailbox.log`.
//! - `plain`: anything else, kept whole as the message.
//! - [`detect`]: `auto`, the file name's guess and a per-line sniff.
//! - [`time`]: timestamps, the zone of lines that have none, the year of BSD stamps.
//! - [`join`]: joining continuation lines (stack traces) into one record.
//!
//! The contract the rest of the agent relies on: [`LineParser::new`] once per file, then
//! [`LineParser::parse`] per record, which never fails. A line that no parser takes is a plain
//! message; invalid UTF-8 is kept (lossy) and flagged with `fields.invalid_utf8 = true`. Field
//! names are PRODUCT.md's (`account`, `ip`, `oip`, `ua`, `mid`, `thread`, `category`, `pid`,
//! `msgid`); docs/parsers.md lists what each format yields.
//!
//! Multi-line records: a caller that reads lines asks [`LineParser::starts_record`] whether a
//! line begins a new record, and gives [`join::RecordJoiner`] the answer; the joiner hands back
//! whole records to parse. `logwarden-agent parse` does this; the tailer can do the same.

pub mod amavis;
pub mod detect;
pub mod jetty;
pub mod join;
pub mod nginx;
pub mod postfix;
pub mod storage_events;
pub mod syslog;
pub mod time;
pub mod zimbra;
pub mod zimbra_delivery;
pub mod zimbra_messages;

use std::cell::Cell;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use detect::Flavor;
use logwarden_core::{CompactString, Draft};
pub use time::{Zone, ZoneError};

/// How the lines of a file are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Chosen from the file name and each line's first bytes.
    #[default]
    Auto,
    /// Zimbra's log4j files and `zmmailboxd.out`; syslog lines in them are read as syslog.
    Zimbra,
    Syslog,
    Nginx,
    Plain,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "zimbra" => Format::Zimbra,
            "syslog" => Format::Syslog,
            "nginx" => Format::Nginx,
            "plain" => Format::Plain,
            other => {
                return Err(format!(
                    "format {other:?} is not one of auto, zimbra, syslog, nginx, plain"
                ));
            }
        })
    }
}

/// What the parser is told besides the format.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// The zone of times written without one (log4j, BSD syslog). Default: the machine's.
    pub zone: Zone,
    /// "Now" for the year of BSD syslog stamps: the latest year that does not put a line more
    /// than two days after it. Default: the file's modification time (now when it has none),
    /// moving on with the clock while the parser lives.
    pub reference: Option<DateTime<Utc>>,
    /// Whether a line's own host name (syslog's HOSTNAME) becomes the event's `host`. Only for
    /// a syslog receiver, whose senders name themselves; a file's lines cannot (an application
    /// could write any name into its log): their host name goes to `fields.hostname`, and the
    /// event's `host` is the agent's (issue 26 §7).
    pub host_from_line: bool,
}

/// What every parser needs to know about the file: where the lines come from, the zone their
/// times are in, the year of BSD stamps.
#[derive(Debug, Clone)]
pub struct Origin {
    source: CompactString,
    /// The app of a Zimbra log4j file (`mailbox`, `audit`, ...), from its name; empty otherwise.
    app: CompactString,
    pub(crate) clock: time::Clock,
    pub(crate) years: time::YearGuess,
}

impl Origin {
    fn new(path: &Path, options: &ParseOptions) -> Origin {
        let years = match options.reference {
            Some(t) => time::YearGuess::new(t),
            None => {
                time::YearGuess::for_mtime(std::fs::metadata(path).and_then(|m| m.modified()).ok())
            }
        };
        let app = match detect::from_path(path) {
            Some(Flavor::Log4j) => path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .unwrap_or_default()
                .into(),
            Some(Flavor::Jetty) => "mailboxd".into(),
            _ => CompactString::default(),
        };
        Origin {
            source: path.display().to_string().into(),
            app,
            clock: time::Clock::new(options.zone),
            years,
        }
    }

    /// A draft from this file with the given message, to be filled in by a parser.
    pub(crate) fn draft(&self, message: String) -> Draft {
        let mut d = Draft::plain(&self.source, message);
        d.app.clone_from(&self.app);
        if d.app.is_empty() {
            d.app.push_str("zimbra");
        }
        d
    }

    /// A draft whose app the line itself names (a syslog tag) rather than the file. Not
    /// [`Origin::draft`] and then the app replaced: that allocates the file's app only to free
    /// it, twice per syslog line.
    pub(crate) fn draft_with_app(&self, app: &str, message: String) -> Draft {
        let mut d = Draft::plain(&self.source, message);
        d.app.push_str(app);
        d
    }

    #[cfg(test)]
    pub(crate) fn for_test(path: &str, zone: Zone) -> Origin {
        Origin::new(
            Path::new(path),
            &ParseOptions {
                zone,
                reference: Some(Utc::now()),
                ..ParseOptions::default()
            },
        )
    }
}

/// Parses the records of one file. Made once per file, so that it can keep what it learned
/// (the parser that read the last line, the year of BSD syslog stamps).
#[derive(Debug, Clone)]
pub struct LineParser {
    format: Format,
    origin: Origin,
    /// The parser tried first: the file name's guess, then whichever read the last record.
    hint: Flavor,
    /// The flavor of the last line [`LineParser::starts_record`] saw start a record: under
    /// `auto`, lines of no known format continue a record only after a log4j or Jetty one.
    last_start: Cell<Flavor>,
    /// See [`ParseOptions::host_from_line`].
    host_from_line: bool,
}

impl LineParser {
    /// A parser for the file at `path`, in the machine's zone, BSD years from the file's mtime.
    pub fn new(path: &Path, format: Format) -> LineParser {
        LineParser::with_options(path, format, &ParseOptions::default())
    }

    pub fn with_options(path: &Path, format: Format, options: &ParseOptions) -> LineParser {
        let guess = detect::from_path(path);
        let hint = match format {
            Format::Auto => guess.unwrap_or(Flavor::Plain),
            Format::Zimbra => match guess {
                Some(Flavor::Jetty) => Flavor::Jetty,
                _ => Flavor::Log4j,
            },
            Format::Syslog => Flavor::Syslog,
            Format::Nginx => Flavor::Nginx,
            Format::Plain => Flavor::Plain,
        };
        LineParser {
            format,
            origin: Origin::new(path, options),
            hint,
            last_start: Cell::new(hint),
            host_from_line: options.host_from_line,
        }
    }

    /// Whether `line` begins a new record, rather than continuing the one before it (a stack
    /// trace under a log4j line). Syslog, nginx and plain lines are always records of their own;
    /// in Zimbra's log4j and Jetty files (by `--format zimbra`, or under `auto` once the file
    /// name or a line showed it is one) a line is one only when it starts with a stamp of a
    /// known format.
    pub fn starts_record(&self, line: &[u8]) -> bool {
        match self.format {
            Format::Syslog | Format::Nginx | Format::Plain => true,
            Format::Zimbra => detect::sniff(line) != Flavor::Plain,
            Format::Auto => match detect::sniff(line) {
                Flavor::Plain => !self.last_start.get().multiline(),
                f => {
                    self.last_start.set(f);
                    true
                }
            },
        }
    }

    /// One record (a line without its newline, or lines joined by `\n`) into a draft. Never
    /// fails: what no parser understands is kept whole as a plain message. Invalid UTF-8 is kept
    /// (lossy) and flagged.
    pub fn parse(&mut self, line: &[u8]) -> Draft {
        let (text, lossy) = match std::str::from_utf8(line) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(line), true),
        };
        let mut draft = self.parse_text(&text);
        if !self.host_from_line
            && let Some(host) = draft.host.take()
        {
            storage_events::under_reader_host(&mut draft, &host);
            draft.fields.insert("hostname".into(), host.as_str().into());
        }
        if lossy {
            draft.fields.insert("invalid_utf8".into(), true.into());
        }
        draft
    }

    fn parse_text(&mut self, text: &str) -> Draft {
        let parsed = match self.format {
            Format::Plain => None,
            Format::Syslog => self.try_flavor(Flavor::Syslog, text),
            Format::Nginx => self.try_flavor(Flavor::Nginx, text),
            Format::Zimbra => {
                self.try_flavor(self.hint, text)
                    .or_else(|| match detect::sniff(text.as_bytes()) {
                        Flavor::Nginx | Flavor::Plain => None,
                        f => self.try_flavor(f, text),
                    })
            }
            Format::Auto => self.try_flavor(self.hint, text).or_else(|| {
                let f = detect::sniff(text.as_bytes());
                let d = self.try_flavor(f, text)?;
                self.hint = f;
                Some(d)
            }),
        };
        parsed.unwrap_or_else(|| {
            let mut d = Draft::plain(&self.origin.source, text.to_owned());
            d.app.clone_from(&self.origin.app);
            d
        })
    }

    fn try_flavor(&mut self, flavor: Flavor, text: &str) -> Option<Draft> {
        let o = &mut self.origin;
        match flavor {
            Flavor::Log4j => zimbra::parse(text, o),
            Flavor::Jetty => jetty::parse(text, o),
            Flavor::Nginx => nginx::parse(text, o),
            Flavor::Syslog => {
                let mut d = syslog::parse(text, o)?;
                zimbra_messages::enrich(&mut d);
                storage_events::enrich(&mut d);
                Some(d)
            }
            Flavor::Plain => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::Severity;

    fn utc_parser(path: &str, format: Format) -> LineParser {
        LineParser::with_options(
            Path::new(path),
            format,
            &ParseOptions {
                zone: Zone::Utc,
                reference: Some(
                    DateTime::parse_from_rfc3339("2015-03-20T00:00:00Z")
                        .unwrap()
                        .with_timezone(&Utc),
                ),
                ..ParseOptions::default()
            },
        )
    }

    #[test]
    fn a_line_in_a_file_cannot_set_its_events_host_only_a_syslog_receivers_can() {
        use logwarden_core::EventId;
        let line = b"2026-12-05T10:00:00Z victim sshd[1]: Accepted password for root";
        for format in [Format::Auto, Format::Syslog] {
            let mut p = utc_parser("/var/log/app.log", format);
            let d = p.parse(line);
            assert_eq!((d.app.as_str(), d.host.as_deref()), ("sshd", None));
            assert_eq!(d.fields["hostname"], "victim");
            let e = d.into_event(EventId::new("a", 1), "mbox1.phx", "phx", Utc::now());
            assert_eq!(e.host, "mbox1.phx", "{format:?}");
        }
        let mut receiver = LineParser::with_options(
            Path::new("syslog"),
            Format::Syslog,
            &ParseOptions {
                host_from_line: true,
                ..ParseOptions::default()
            },
        );
        let d = receiver.parse(line);
        assert_eq!(d.host.as_deref(), Some("victim"));
        assert!(!d.fields.contains_key("hostname"));
    }

    #[test]
    fn invalid_utf8_is_kept_and_flagged() {
        let mut p = LineParser::new(Path::new("/var/log/x.log"), Format::Plain);
        let d = p.parse(b"caf\xe9 ok");
        assert_eq!(d.message, "caf\u{fffd} ok");
        assert_eq!(d.fields["invalid_utf8"], true);
        assert_eq!(d.source, "/var/log/x.log");
    }

    #[test]
    fn invalid_utf8_in_a_syslog_line_still_parses_the_header() {
        let mut p = utc_parser("/var/log/zimbra.log", Format::Auto);
        let d = p.parse(b"Mar 16 12:00:02 h app[1]: caf\xe9");
        assert_eq!(d.app, "app");
        assert_eq!(d.message, "caf\u{fffd}");
        assert_eq!(d.fields["invalid_utf8"], true);
    }

    #[test]
    fn auto_reads_a_mixed_file_line_by_line() {
        let mut p = utc_parser("/tmp/mixed.txt", Format::Auto);
        let d = p.parse(b"2015-12-05 18:47:36,435 INFO  [main] [] soap - up");
        assert_eq!(d.fields["category"], "soap");
        let d = p.parse(b"Mar 16 12:00:02 SRV03-BF65 zimbramon[12877]: 12877:info: 2015-03-16 12:00:02, QUEUE: 0 0");
        assert_eq!(d.app, "zimbramon");
        assert_eq!(d.fields["queue_requests"], 0);
        let d = p.parse(b"# a comment");
        assert_eq!(d.message, "# a comment");
        assert_eq!(d.app, "");
        assert!(d.ts.is_none());
    }

    #[test]
    fn explicit_format_does_not_fall_into_another() {
        let mut p = utc_parser("/tmp/x", Format::Nginx);
        let d = p.parse(b"Mar 16 12:00:02 h app[1]: x");
        assert_eq!(d.app, "");
        assert_eq!(d.message, "Mar 16 12:00:02 h app[1]: x");
        let mut p = utc_parser("/tmp/x", Format::Plain);
        assert_eq!(p.parse(b"Mar 16 12:00:02 h app[1]: x").app, "");
    }

    #[test]
    fn zimbra_format_reads_log4j_jetty_and_syslog_lines() {
        let mut p = utc_parser("/opt/zimbra/log/mailbox.log", Format::Zimbra);
        assert_eq!(
            p.parse(b"2021-06-25 01:56:18,725 INFO [main] [] soap - x")
                .app,
            "mailbox"
        );
        let d = p.parse(b"2021-01-15 15:57:32.537:WARN:oejs.DoSFilter:DOS ALERT:ip=127.0.1.1");
        assert_eq!(d.app, "mailboxd");
        assert_eq!(d.severity, Severity::Warning);
        // A stack trace line read alone is plain, and keeps the file's app.
        let d = p.parse(b"\tat com.zimbra.cs.Foo(Foo.java:1)");
        assert_eq!(d.app, "mailbox");
        assert!(d.ts.is_none());
    }

    #[test]
    fn continuation_lines_do_not_start_records_in_log4j_files() {
        let p = utc_parser("/opt/zimbra/log/mailbox.log", Format::Auto);
        assert!(p.starts_record(b"2021-06-25 01:56:18,725 INFO [main] [] soap - x"));
        assert!(!p.starts_record(b"java.lang.OutOfMemoryError: PermGen space"));
        assert!(!p.starts_record(b"\tat com.zimbra.cs.Foo(Foo.java:1)"));
        // Files of unknown or single-line formats are never joined.
        let p = utc_parser("/tmp/notes.txt", Format::Auto);
        assert!(p.starts_record(b"\tat com.zimbra.cs.Foo(Foo.java:1)"));
        let p = utc_parser("/var/log/messages", Format::Syslog);
        assert!(p.starts_record(b"\tat com.zimbra.cs.Foo(Foo.java:1)"));
    }
}
