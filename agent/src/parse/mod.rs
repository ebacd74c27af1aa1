//! Turning a line of a log file into a [`Draft`]: the formats the agent understands.
//!
//! The walking skeleton only has `plain` (the whole line is the message); the Zimbra, syslog and
//! nginx parsers and `auto` detection come with the parsers issue and plug in here.

use std::path::Path;
use std::str::FromStr;

use crate::draft::Draft;

/// How the lines of a file are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Chosen from the file name and its first lines.
    #[default]
    Auto,
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

/// Parses the lines of one file. Made once per file, so that it can keep what it learned
/// (the detected format, the year of BSD syslog timestamps).
#[derive(Debug, Clone)]
pub struct LineParser {
    source: String,
    #[allow(dead_code)] // read once the format-specific parsers land
    format: Format,
}

impl LineParser {
    pub fn new(path: &Path, format: Format) -> LineParser {
        LineParser {
            source: path.display().to_string(),
            format,
        }
    }

    /// One line (without its newline) into a draft. Never fails: what no parser understands is
    /// kept whole as a plain message. Invalid UTF-8 is kept (lossy) and flagged.
    pub fn parse(&mut self, line: &[u8]) -> Draft {
        let (text, lossy) = match std::str::from_utf8(line) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (String::from_utf8_lossy(line).into_owned(), true),
        };
        let mut draft = Draft::plain(&self.source, text);
        if lossy {
            draft.fields.insert("invalid_utf8".into(), true.into());
        }
        draft
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_kept_and_flagged() {
        let mut p = LineParser::new(Path::new("/var/log/x.log"), Format::Plain);
        let d = p.parse(b"caf\xe9 ok");
        assert_eq!(d.message, "caf\u{fffd} ok");
        assert_eq!(d.fields["invalid_utf8"], true);
        assert_eq!(d.source, "/var/log/x.log");
    }
}
