//! An event's JSON line, written directly: the same bytes as `serde_json::to_writer(event)`.
//!
//! The collector writes every syslog message's event as JSON on its intake task, and the agent
//! writes every line it reads. Through serde that was 0.42-0.45 us per syslog event, nearly as
//! much as parsing the message (`collector/examples/syslog_path.rs`): a call per field through
//! serde's map machinery, a `String` for the id, and an escape check byte by byte. This writes
//! the same event in about half of that: each string is checked for characters JSON must escape
//! in one pass the compiler vectorizes, and copied whole when it has none (nearly always); a
//! string that needs escaping, and every field value but a plain string, still goes through
//! serde_json, so escapes and numbers are exactly serde_json's.
//!
//! The serde derive on [`Event`] stays the definition of the format (and reads it back): the
//! tests check, for arbitrary events, that this writes the very bytes serde does.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::event::Event;

impl Event {
    /// Appends this event's JSON (no newline) to `out`, exactly as serde_json writes it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        if clean(&self.id.agent_id) {
            out.push(b'"');
            out.extend_from_slice(self.id.agent_id.as_bytes());
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(self.id.seq).as_bytes());
            out.push(b'"');
        } else {
            serde(out, &self.id);
        }
        out.extend_from_slice(b",\"ts\":");
        time(out, &self.ts);
        if let Some(received) = &self.received {
            out.extend_from_slice(b",\"received\":");
            time(out, received);
        }
        for (name, value) in [
            (&b",\"host\":"[..], &self.host),
            (b",\"site\":", &self.site),
            (b",\"source\":", &self.source),
            (b",\"app\":", &self.app),
        ] {
            out.extend_from_slice(name);
            string(out, value);
        }
        out.extend_from_slice(b",\"severity\":\"");
        out.extend_from_slice(self.severity.as_str().as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(self.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        string(out, &self.message);
        if !self.fields.is_empty() {
            out.extend_from_slice(b",\"fields\":{");
            for (i, (key, value)) in self.fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, key);
                out.push(b':');
                match value {
                    Value::String(s) => string(out, s),
                    other => serde(out, other),
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// Whether `s` holds nothing JSON escapes (control characters, `"` and `\`; serde_json escapes
/// nothing else). No early exit, so that the loop is vectorized.
fn clean(s: &str) -> bool {
    !s.bytes().fold(false, |dirty, b| {
        dirty | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

fn string(out: &mut Vec<u8>, s: &str) {
    if clean(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde(out, s);
    }
}

fn time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    let mut buf = [0u8; 30];
    match crate::timestamp::format(t, &mut buf) {
        Some(n) => {
            out.push(b'"');
            out.extend_from_slice(&buf[..n]);
            out.push(b'"');
        }
        None => serde(out, t), // as timestamp::serialize does: chrono writes these
    }
}

fn serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("a Vec takes any JSON, and these types always serialize");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventId, Kind, Severity};
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn text() -> impl Strategy<Value = String> {
        // Mostly plain text, sometimes with quotes, backslashes, control characters, non-ASCII.
        prop_oneof![
            "[a-z0-9 ./@:-]{0,40}",
            "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é漢😀 ]{0,20}",
            any::<String>(),
        ]
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        // Whole seconds, milli-, micro- and nanoseconds, and years chrono writes itself.
        (
            -70_000_000_000i64..300_000_000_000,
            prop_oneof![Just(0u32), 0..1_000_000_000u32],
        )
            .prop_map(|(s, ns)| Utc.timestamp_opt(s, ns).single().unwrap_or_default())
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn event() -> impl Strategy<Value = Event> {
        (
            (text(), any::<u64>(), time(), prop::option::of(time())),
            (text(), text(), text(), text(), text()),
            (0..8usize, 0..3usize),
            prop::collection::btree_map(text(), value(), 0..5),
        )
            .prop_map(
                |(
                    (agent, seq, ts, received),
                    (host, site, source, app, message),
                    (sev, kind),
                    fields,
                )| {
                    Event {
                        id: EventId::new(agent, seq),
                        ts,
                        received,
                        host: host.into(),
                        site: site.into(),
                        source: source.into(),
                        app: app.into(),
                        severity: Severity::ALL[sev],
                        kind: [Kind::Log, Kind::Health, Kind::Heartbeat][kind],
                        message,
                        fields: fields.into_iter().collect(),
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn writes_the_bytes_serde_writes(e in event()) {
            let mut out = Vec::new();
            e.write_json(&mut out);
            let serde = serde_json::to_vec(&e).unwrap();
            prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&serde));
        }
    }

    #[test]
    fn a_syslog_event_and_the_escapes_serde_makes() {
        let mut e = Event::log(
            EventId::new("syslog@lab", 42),
            Utc.timestamp_opt(1_764_400_000, 500_000_000).unwrap(),
            "mbox1",
            "lab",
            "syslog",
            "say \"hi\"\n\tC:\\ \u{1}".into(),
        );
        e.fields.insert("pid".into(), json!(2231));
        e.fields.insert("sender".into(), json!("127.0.0.1:5555"));
        let mut out = Vec::new();
        e.write_json(&mut out);
        assert_eq!(out, serde_json::to_vec(&e).unwrap());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(r#""message":"say \"hi\"\n\tC:\\ \u0001""#)
        );
    }
}
