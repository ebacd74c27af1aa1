//! How text answers look on this terminal: the zone times are shown in (`--tz`), colour
//! (`--color`, `NO_COLOR`), and the columns of `-o csv` (`--fields`).
//!
//! Set once in `main` before anything is printed and read by the printers in `output`, `trace`
//! and `context`: a process-wide setting, as a terminal's look is, rather than a parameter
//! threaded through every printer. Unit tests use `Zone` and `Column` directly.

use std::io::IsTerminal;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use logwarden_core::{Event, Severity};

/// The zone times are shown in: UTC by default, the machine's (`local`), or a named zone of
/// the tz database with its daylight-saving rules (`Europe/Berlin`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Utc,
    Local,
    Named(chrono_tz::Tz),
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Zone, String> {
        match s.trim() {
            "" | "UTC" | "utc" | "Z" => Ok(Zone::Utc),
            "local" => Ok(Zone::Local),
            name => name.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
                format!(
                    "time zone {name:?} is not UTC, local or a tz database name like Europe/Berlin"
                )
            }),
        }
    }
}

impl Zone {
    /// `t` in this zone, RFC 3339 with the zone's offset (`Z` for UTC).
    pub fn show(self, t: DateTime<Utc>, precision: SecondsFormat) -> String {
        match self {
            Zone::Utc => t.to_rfc3339_opts(precision, true),
            Zone::Local => t
                .with_timezone(&chrono::Local)
                .to_rfc3339_opts(precision, false),
            Zone::Named(tz) => t.with_timezone(&tz).to_rfc3339_opts(precision, false),
        }
    }
}

/// `--color`: `auto` colours when stdout is a terminal and `NO_COLOR` is unset or empty
/// (no-color.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

/// One column of `-o csv`: an event's own field or one of its extracted `fields.NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Ts,
    Received,
    Id,
    Host,
    Site,
    Source,
    App,
    Severity,
    Kind,
    Message,
    Field(String),
}

/// The columns of `-o csv` without `--fields`.
pub const DEFAULT_COLUMNS: &str = "ts,host,app,severity,message";

impl Column {
    /// `ts,host,fields.ip`: the names in order; an unknown one is named in the error.
    pub fn parse_list(s: &str) -> Result<Vec<Column>, String> {
        let columns = s
            .split(',')
            .map(|name| match name.trim() {
                "ts" => Ok(Column::Ts),
                "received" => Ok(Column::Received),
                "id" => Ok(Column::Id),
                "host" => Ok(Column::Host),
                "site" => Ok(Column::Site),
                "source" => Ok(Column::Source),
                "app" => Ok(Column::App),
                "severity" => Ok(Column::Severity),
                "kind" => Ok(Column::Kind),
                "message" => Ok(Column::Message),
                other => match other.strip_prefix("fields.") {
                    Some(f) if !f.is_empty() => Ok(Column::Field(f.to_owned())),
                    _ => Err(format!(
                        "--fields: {other:?} is not a column: use ts, received, id, host, site, \
                         source, app, severity, kind, message or fields.NAME"
                    )),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(columns)
    }

    pub fn name(&self) -> String {
        match self {
            Column::Ts => "ts".into(),
            Column::Received => "received".into(),
            Column::Id => "id".into(),
            Column::Host => "host".into(),
            Column::Site => "site".into(),
            Column::Source => "source".into(),
            Column::App => "app".into(),
            Column::Severity => "severity".into(),
            Column::Kind => "kind".into(),
            Column::Message => "message".into(),
            Column::Field(f) => format!("fields.{f}"),
        }
    }

    /// The cell of `e` (empty when the event has no such field; a structured value as JSON).
    pub fn cell(&self, e: &Event, zone: Zone) -> String {
        let ts = |t: DateTime<Utc>| zone.show(t, SecondsFormat::AutoSi);
        match self {
            Column::Ts => ts(e.ts),
            Column::Received => e.received.map(ts).unwrap_or_default(),
            Column::Id => e.id.to_string(),
            Column::Host => e.host.to_string(),
            Column::Site => e.site.to_string(),
            Column::Source => e.source.to_string(),
            Column::App => e.app.to_string(),
            Column::Severity => e.severity.as_str().to_owned(),
            Column::Kind => e.kind.as_str().to_owned(),
            Column::Message => e.message.clone(),
            Column::Field(f) => match e.fields.get(f) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            },
        }
    }
}

/// One CSV record (RFC 4180): a cell is quoted when it holds a comma, a quote or a line break,
/// its quotes doubled; records end in CRLF as the RFC says, which spreadsheets and Python's
/// csv module read.
pub fn csv_record<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        if i > 0 {
            line.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&cell.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(cell);
        }
    }
    line.push_str("\r\n");
    line
}

#[derive(Debug)]
pub struct Display {
    pub zone: Zone,
    pub color: bool,
    pub columns: Vec<Column>,
}

static DISPLAY: OnceLock<Display> = OnceLock::new();

/// Sets the look for this process (first call wins; `main` calls it once).
pub fn init(display: Display) {
    let _ = DISPLAY.set(display);
}

fn get() -> &'static Display {
    DISPLAY.get_or_init(|| Display {
        zone: Zone::Utc,
        color: false,
        columns: Column::parse_list(DEFAULT_COLUMNS).unwrap_or_default(),
    })
}

/// `t` in the chosen zone.
pub fn time(t: DateTime<Utc>, precision: SecondsFormat) -> String {
    get().zone.show(t, precision)
}

/// The `-o csv` columns.
pub fn columns() -> &'static [Column] {
    &get().columns
}

pub fn zone() -> Zone {
    get().zone
}

/// `text` in the colour of `severity` when colour is on: red for err and worse, yellow for
/// warning, dim for debug.
pub fn severity(text: &str, severity: Severity) -> String {
    let code = match severity {
        Severity::Emerg | Severity::Alert | Severity::Crit => "1;31",
        Severity::Err => "31",
        Severity::Warning => "33",
        Severity::Debug => "2",
        Severity::Notice | Severity::Info => return text.to_owned(),
    };
    paint(text, code)
}

/// `text` dimmed (times) when colour is on.
pub fn dim(text: &str) -> String {
    paint(text, "2")
}

/// `text` in bold (the hit among its context) when colour is on.
pub fn bold(text: &str) -> String {
    paint(text, "1")
}

fn paint(text: &str, code: &str) -> String {
    if get().color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_show_the_offset_of_the_day_dst_included() {
        let winter: DateTime<Utc> = "2026-01-15T12:00:00Z".parse().unwrap();
        let summer: DateTime<Utc> = "2026-07-15T12:00:00Z".parse().unwrap();
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            berlin.show(winter, SecondsFormat::Secs),
            "2026-01-15T13:00:00+01:00"
        );
        assert_eq!(
            berlin.show(summer, SecondsFormat::Secs),
            "2026-07-15T14:00:00+02:00"
        );
        let utc: Zone = "UTC".parse().unwrap();
        assert_eq!(
            utc.show(summer, SecondsFormat::Millis),
            "2026-07-15T12:00:00.000Z"
        );
        assert_eq!("local".parse::<Zone>(), Ok(Zone::Local));
        let err = "Mars/Olympus".parse::<Zone>().unwrap_err();
        assert!(err.contains("\"Mars/Olympus\""), "{err}");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_record(&["a", "b c"]), "a,b c\r\n");
        assert_eq!(
            csv_record(&["x,y", "say \"hi\"", "two\nlines", ""]),
            "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n"
        );
    }

    #[test]
    fn columns_are_named_and_unknown_ones_refused() {
        let cols = Column::parse_list("ts, host,fields.ip").unwrap();
        assert_eq!(
            cols,
            vec![Column::Ts, Column::Host, Column::Field("ip".into())]
        );
        let names: Vec<String> = cols.iter().map(Column::name).collect();
        assert_eq!(names, ["ts", "host", "fields.ip"]);
        for bad in ["hostname", "fields.", ""] {
            let err = Column::parse_list(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
