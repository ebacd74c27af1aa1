//! Reading the times a user types: `15m`, `2h`, `7d`, `1h30m` back from now, or an RFC 3339 time.

use chrono::{DateTime, Utc};

/// Parses `s` as a duration back from `now` (`30s`, `15m`, `2h`, `7d`, `1w`, or several units
/// run together like `1h30m`) or as an RFC 3339 time.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = parse_duration(s)
        .map_err(|why| format!("time {s:?} is neither a duration nor an RFC 3339 time: {why}"))?;
    now.checked_sub_signed(d)
        .ok_or_else(|| format!("time {s:?} reaches before the start of the calendar"))
}

/// `1h30m` -> 90 minutes: the one duration parser (`logwarden_core::duration`).
pub use logwarden_core::duration::parse_chrono as parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rfc3339_times_are_read_and_garbage_is_named() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("15m", now).unwrap().to_rfc3339(),
            "2026-11-29T11:45:00+00:00"
        );
        assert_eq!(
            parse_time("1h30m", now).unwrap().to_rfc3339(),
            "2026-11-29T10:30:00+00:00"
        );
        assert_eq!(
            parse_time("7d", now).unwrap().to_rfc3339(),
            "2026-11-22T12:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-01T00:00:00+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-10-31T23:00:00+00:00"
        );
        for bad in ["", "15", "m", "15x", "yesterday", "99999999999999999999d"] {
            let err = parse_time(bad, now).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
