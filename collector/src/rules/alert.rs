//! What a rule says about one alert at one moment ([`Signal`]), and the alert's identity: its
//! dedup key, a hash of the name and the identifying labels, the same on every collector and
//! after every restart (it is what PagerDuty gets as `dedup_key` and `logwarden ack` takes).

use std::collections::BTreeMap;

use logwarden_core::wire::AlertSeverity;
use serde::{Deserialize, Serialize};

/// A rule's verdict on one alert: firing with this severity, or clear.
///
/// Its serde form is part of the rules snapshot (`snapshot.rs`, the engine's verdicts and the
/// quiet log alerts): a change of these fields is a change of that format and of its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub name: String,
    /// Identifying labels: the same condition always has the same labels.
    pub labels: BTreeMap<String, String>,
    /// `None` when the condition does not hold (any more).
    pub firing: Option<Firing>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub severity: AlertSeverity,
    /// `summary` (one line, fit for a page), `description`, details.
    pub annotations: BTreeMap<String, String>,
}

impl Signal {
    pub fn key(&self) -> String {
        alert_key(&self.name, &self.labels)
    }

    pub fn clear(name: &str, labels: BTreeMap<String, String>) -> Signal {
        Signal {
            name: name.to_owned(),
            labels,
            firing: None,
        }
    }

    pub fn fire(
        name: &str,
        labels: BTreeMap<String, String>,
        severity: AlertSeverity,
        summary: String,
    ) -> Signal {
        Signal {
            name: name.to_owned(),
            labels,
            firing: Some(Firing {
                severity,
                annotations: BTreeMap::from([("summary".to_owned(), summary)]),
            }),
        }
    }

    /// `fire` when `cond` holds, else `clear`.
    pub fn when(
        cond: Option<(AlertSeverity, String)>,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Signal {
        match cond {
            Some((sev, summary)) => Signal::fire(name, labels, sev, summary),
            None => Signal::clear(name, labels),
        }
    }
}

/// The dedup key of an alert: 16 hex digits of FNV-1a over the name and sorted labels.
pub fn alert_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut s = String::with_capacity(64);
    s.push_str(name);
    for (k, v) in labels {
        s.push('\0');
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    short_hash(&s)
}

/// FNV-1a 64 in hex: stable across builds and platforms (unlike `std`'s hasher).
pub fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Builds a label map from pairs.
pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_name_and_labels_not_their_order() {
        let a = alert_key("X", &labels([("host", "a"), ("array", "md0")]));
        let b = alert_key("X", &labels([("array", "md0"), ("host", "a")]));
        assert_eq!(a, b);
        assert_ne!(
            a,
            alert_key("Y", &labels([("host", "a"), ("array", "md0")]))
        );
        assert_ne!(
            a,
            alert_key("X", &labels([("host", "a"), ("array", "md1")]))
        );
        // Pinned: the key is a contract (PagerDuty dedup keys, acks by id) and must not drift.
        assert_eq!(short_hash(""), "cbf29ce484222325");
        assert_eq!(a.len(), 16);
    }
}
