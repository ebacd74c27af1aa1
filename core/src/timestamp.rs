//! Reading and writing event timestamps fast.
//!
//! Every event's `ts` (and, in the WAL, `received`) is read again by each part of the collector
//! that follows the WAL. chrono's serde reads them through its general format parser, about
//! 0.3-0.4 us each, which under log load was a tenth of the fleet thread's time and a visible
//! part of ingest and of the rules engine. [`parse`] reads the one shape the agent and the
//! collector write (`2026-11-29T01:21:38.500Z`, RFC 3339 with `Z` or a numeric offset and 0-9
//! fraction digits) directly, and hands anything else to chrono, so what is accepted and what
//! it means are exactly chrono's.
//!
//! Writing is the same story the other way: chrono's serde writes through `fmt`, which was a
//! quarter of the cost of serializing a syslog event on the collector's WAL thread. [`serialize`]
//! writes the same text chrono does (`2026-11-29T01:21:38.500Z`: 0, 3, 6 or 9 fraction digits,
//! as few as hold the value) from a stack buffer, and leaves leap seconds and years outside
//! 0-9999 to chrono.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use serde::de::Visitor;
use serde::{Deserializer, Serialize, Serializer};

/// Reads an RFC 3339 timestamp as chrono's `DateTime<FixedOffset>` parser would, in UTC.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match fast(s.as_bytes()) {
        Some(t) => Ok(t),
        None => s
            .parse::<DateTime<FixedOffset>>()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)`, or `None` for anything else (then chrono
/// decides, so a `None` here is never a wrong answer, only a slower one).
fn fast(b: &[u8]) -> Option<DateTime<Utc>> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let (h, m, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(&frac[..digits])? * 10u32.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), hh, hh2, b':', mm, mm2] => {
            let secs = (num(&[*hh, *hh2])? * 60 + num(&[*mm, *mm2])?) as i32 * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    // Leap seconds (`:60`) and the like go to chrono.
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let local = NaiveDateTime::new(date, NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?);
    FixedOffset::east_opt(offset)?
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// `t` as chrono's serde writes it, or `None` where chrono must (leap seconds, years outside
/// 0-9999).
pub(crate) fn format(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    fn put(buf: &mut [u8], mut v: u32) {
        for b in buf.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    // From the naive UTC value: each accessor of a `DateTime` (year, month, ..., second)
    // converts it to local time again, adding the zero offset, six times per timestamp.
    let utc = t.naive_utc();
    let (date, time) = (utc.date(), utc.time());
    let (year, nanos) = (date.year(), time.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let secs = time.num_seconds_from_midnight();
    buf[..20].copy_from_slice(b"0000-00-00T00:00:00.");
    put(&mut buf[0..4], year as u32);
    put(&mut buf[5..7], date.month());
    put(&mut buf[8..10], date.day());
    put(&mut buf[11..13], secs / 3600);
    put(&mut buf[14..16], secs / 60 % 60);
    put(&mut buf[17..19], secs % 60);
    let mut end = 19;
    if nanos != 0 {
        let (digits, v) = if nanos % 1_000_000 == 0 {
            (3, nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            (6, nanos / 1_000)
        } else {
            (9, nanos)
        };
        put(&mut buf[20..20 + digits], v);
        end = 20 + digits;
    }
    buf[end] = b'Z';
    Some(end + 1)
}

/// `#[serde(serialize_with = "timestamp::serialize")]` for a `DateTime<Utc>`.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match format(t, &mut buf) {
        // Only ASCII digits and punctuation were written.
        Some(n) => s.serialize_str(std::str::from_utf8(&buf[..n]).expect("ASCII")),
        None => t.serialize(s),
    }
}

/// The same for an `Option<DateTime<Utc>>`.
pub fn serialize_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

/// `#[serde(deserialize_with = "timestamp::deserialize")]` for a `DateTime<Utc>`. The text is
/// read where it lies: through serde's `Cow<str>` it was copied into a `String` for every event
/// (serde makes a `Cow` owned unless a derive borrows it).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(Timestamp)
}

/// The same for an `Option<DateTime<Utc>>` (with `#[serde(default)]`).
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    d.deserialize_option(MaybeTimestamp)
}

struct Timestamp;

impl<'de> Visitor<'de> for Timestamp {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateTime<Utc>, E> {
        parse(s).map_err(|e| E::custom(format!("timestamp {s:?}: {e}")))
    }
}

struct MaybeTimestamp;

impl<'de> Visitor<'de> for MaybeTimestamp {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_chrono_and_leaves_the_rest_to_it() {
        let cases = [
            "2026-11-29T01:21:38Z",
            "2026-11-29T01:21:38.5Z",
            "2026-11-29T01:21:38.500Z",
            "2026-11-29T01:21:38.123456789Z",
            "2026-11-29T02:21:38.5+01:00",
            "2026-11-28T20:21:38-05:30",
            "2024-02-29T23:59:59.999999Z",
            "1970-01-01T00:00:00Z",
            // Not the fast shape: chrono's answer, whatever it is.
            "2026-11-29 01:21:38Z",
            "2026-11-29t01:21:38z",
            "2016-12-31T23:59:60Z",
            "2026-11-29T01:21:38.1234567891Z",
            "2026-11-29T01:21:38+0100",
        ];
        for c in cases {
            let chrono = c
                .parse::<DateTime<FixedOffset>>()
                .map(|t| t.with_timezone(&Utc));
            assert_eq!(parse(c).ok(), chrono.ok(), "{c}");
        }
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T01:21:38",
            "2026-11-29T01:21:38.Z",
            "2026-11-29T01:21:38+01:00x",
            "２026-11-29T01:21:38Z",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
            assert!(fast(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct Fast(#[serde(serialize_with = "serialize")] DateTime<Utc>);
        let base = Utc.with_ymd_and_hms(2026, 11, 29, 1, 2, 3).unwrap();
        let mut times = vec![
            base,
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            // A leap second: chrono's own text (`:60`).
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        ];
        for nanos in [
            1,
            10,
            999,
            1_000,
            123_456_000,
            500_000_000,
            999_999_999,
            120_000,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for t in times {
            let want = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::to_string(&Fast(t)).unwrap(), want);
            assert_eq!(
                parse(want.trim_matches('"')).unwrap(),
                t,
                "{want} reads back"
            );
        }
    }

    #[test]
    fn fields_read_in_place_escaped_null_absent_and_wrong() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[serde(deserialize_with = "deserialize")]
            ts: DateTime<Utc>,
            #[serde(default, deserialize_with = "deserialize_opt")]
            received: Option<DateTime<Utc>>,
        }
        let want = Utc.with_ymd_and_hms(2026, 11, 29, 1, 2, 3).unwrap();
        let t: T =
            serde_json::from_str(r#"{"ts":"2026-11-29T01:02:03Z","received":null}"#).unwrap();
        assert_eq!((t.ts, t.received), (want, None));
        // An escaped character: serde_json hands over a decoded copy, not the input.
        let t: T = serde_json::from_str(
            r#"{"ts":"2026-11-29T01:02:0\u0033Z","received":"2026-11-29T01:02:03Z"}"#,
        )
        .unwrap();
        assert_eq!((t.ts, t.received), (want, Some(want)));
        let t: T = serde_json::from_str(r#"{"ts":"2026-11-29T01:02:03+00:00"}"#).unwrap();
        assert_eq!((t.ts, t.received), (want, None));
        let e = serde_json::from_str::<T>(r#"{"ts":"yesterday"}"#).unwrap_err();
        assert!(e.to_string().contains(r#"timestamp "yesterday""#), "{e}");
        let e =
            serde_json::from_str::<T>(r#"{"ts":"2026-11-29T01:02:03Z","received":7}"#).unwrap_err();
        assert!(e.to_string().contains("an RFC 3339 timestamp"), "{e}");
    }
}
