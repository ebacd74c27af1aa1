//! Durations in the config files of the agent and the collector, as people type them:
//! `sync_timeout = "5s"`, `group_wait = "30s"`, `idle_timeout = "10m"` (the units of
//! [`parse_duration`]). Each such key had an older spelling in seconds (`sync_timeout_s = 5` in
//! the collector, `heartbeat_secs = 30` in the agent) that keeps working as a deprecated alias:
//!
//! - a section's struct holds both keys, the new one as [`ConfigDuration`] and the old one as a
//!   number of seconds, so that serde still refuses unknown keys and names the line of a bad
//!   value;
//! - [`DurationKey`] pairs them: [`DurationKey::value`] is the duration the file gives (an error
//!   naming both keys when both are there; fractional seconds keep their meaning), and
//!   [`DurationKey::deprecation`] is the line `config check` prints for the old spelling, with
//!   the value written the new way.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

use crate::duration::parse_duration;

/// A duration key's value as written, `"30s"`; a bare number is refused (it has no unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> serde::Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ConfigDuration, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"30s\", \"10m\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ConfigDuration, E> {
                parse_duration(s).map(ConfigDuration).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigDuration, E> {
                Err(E::custom(format!(
                    "a duration needs its unit: write \"{v}s\" (or m, h, d)"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigDuration, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConfigDuration, E> {
                Err(E::custom(format!(
                    "a duration needs its unit: write \"{v}s\" or in ms (or m, h, d)"
                )))
            }
        }
        d.deserialize_any(Text)
    }
}

/// A duration key the file gives wrong: both spellings at once, or an old value that is not a
/// number of seconds. The message names the keys with their section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationKeyError(pub String);

/// One duration key of a section with its deprecated alias in seconds, as the file gave them.
#[derive(Debug, Clone)]
pub struct DurationKey<'a> {
    /// How messages name the section: `[alerts]`, `[[alerts.receivers]]`, or `""` at the top.
    pub section: Cow<'a, str>,
    /// The key as it is written now (`group_wait`).
    pub key: &'a str,
    pub value: Option<ConfigDuration>,
    /// The deprecated key in seconds (`group_wait_s`).
    pub old_key: &'a str,
    pub old_secs: Option<f64>,
}

impl<'a> DurationKey<'a> {
    pub fn new(
        section: impl Into<Cow<'a, str>>,
        key: &'a str,
        value: Option<ConfigDuration>,
        old_key: &'a str,
        old_secs: Option<f64>,
    ) -> DurationKey<'a> {
        DurationKey {
            section: section.into(),
            key,
            value,
            old_key,
            old_secs,
        }
    }

    /// The duration the file gives (`None`: neither key is there). Both keys at once, or an old
    /// value that is not a number of seconds (negative, not finite), is an error naming them.
    pub fn value(&self) -> Result<Option<Duration>, DurationKeyError> {
        match (self.value, self.old_secs) {
            (Some(_), Some(_)) => Err(DurationKeyError(format!(
                "{} and {} are both given: keep only {}",
                self.name(self.old_key),
                self.key,
                self.key
            ))),
            (Some(d), None) => Ok(Some(d.0)),
            (None, Some(v)) => Duration::try_from_secs_f64(v).map(Some).map_err(|_| {
                DurationKeyError(format!(
                    "{} = {v} is not a number of seconds (0 or more)",
                    self.name(self.old_key)
                ))
            }),
            (None, None) => Ok(None),
        }
    }

    /// The duration the file gives, or `default` when it gives none.
    pub fn or(&self, default: Duration) -> Result<Duration, DurationKeyError> {
        Ok(self.value()?.unwrap_or(default))
    }

    /// The same as the `chrono::Duration` that time arithmetic on event stamps takes.
    pub fn chrono_or(
        &self,
        default: chrono::Duration,
    ) -> Result<chrono::Duration, DurationKeyError> {
        match self.value()? {
            None => Ok(default),
            Some(d) => chrono::Duration::from_std(d)
                .map_err(|_| DurationKeyError(format!("{} is too long", self.written()))),
        }
    }

    /// The key the file uses, with its section, for messages about its value
    /// (`[alerts] group_wait_s` when the old spelling is used, else `[alerts] group_wait`).
    pub fn written(&self) -> String {
        match (self.value, self.old_secs) {
            (None, Some(_)) => self.name(self.old_key),
            _ => self.name(self.key),
        }
    }

    /// For the old spelling: `[alerts] group_wait_s = 30 is deprecated: write group_wait = "30s"`.
    pub fn deprecation(&self) -> Option<String> {
        let v = self.old_secs?;
        let now = match Duration::try_from_secs_f64(v) {
            Ok(d) => format!("\"{}\"", humantime::format_duration(d)),
            Err(_) => "\"...\" (with a unit: s, m, h, d)".to_owned(),
        };
        Some(format!(
            "{} = {v} is deprecated: write {} = {now}",
            self.name(self.old_key),
            self.key
        ))
    }

    fn name(&self, key: &str) -> String {
        if self.section.is_empty() {
            key.to_owned()
        } else {
            format!("{} {key}", self.section)
        }
    }
}

/// A duration as the new spelling writes it (`"30s"`, `"10m"`, `"1h 30m"`, `"500ms"`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Section {
        wait: Option<ConfigDuration>,
        wait_s: Option<f64>,
    }

    fn key(text: &str) -> (Result<Option<Duration>, String>, Option<String>) {
        let s: Section = toml::from_str(text).unwrap();
        let k = DurationKey::new("[alerts]", "wait", s.wait, "wait_s", s.wait_s);
        (k.value().map_err(|e| e.to_string()), k.deprecation())
    }

    #[test]
    fn the_new_spelling_and_the_old_seconds_give_the_same_duration_and_only_the_old_is_deprecated()
    {
        assert_eq!(
            key("wait = \"30s\"\n"),
            (Ok(Some(Duration::from_secs(30))), None)
        );
        assert_eq!(
            key("wait_s = 30\n"),
            (
                Ok(Some(Duration::from_secs(30))),
                Some("[alerts] wait_s = 30 is deprecated: write wait = \"30s\"".into())
            )
        );
        let (v, note) = key("wait_s = 0.5\n");
        assert_eq!(v, Ok(Some(Duration::from_millis(500))));
        assert_eq!(
            note.unwrap(),
            "[alerts] wait_s = 0.5 is deprecated: write wait = \"500ms\""
        );
        assert_eq!(
            key("wait_s = 600\n").1.unwrap().rsplit_once(' ').unwrap().1,
            "\"10m\""
        );
        assert_eq!(key(""), (Ok(None), None));
    }

    #[test]
    fn both_spellings_at_once_and_bad_values_are_named() {
        let err = key("wait = \"30s\"\nwait_s = 30\n").0.unwrap_err();
        assert!(
            err.contains("[alerts] wait_s") && err.contains("wait"),
            "{err}"
        );
        let err = key("wait_s = -1\n").0.unwrap_err();
        assert!(err.contains("[alerts] wait_s = -1"), "{err}");
        for bad in ["wait = 30\n", "wait = \"soon\"\n", "wait = 0.5\n"] {
            let err = toml::from_str::<Section>(bad).err().unwrap().to_string();
            assert!(err.contains("line 1"), "{err}");
        }
        let err = toml::from_str::<Section>("wait = 30\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("write \"30s\""), "{err}");
    }
}
