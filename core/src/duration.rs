//! Durations as people type them: `30s`, `15m`, `2h`, `7d`, `1w`, `1h30m`, `2h 30min`. The one
//! parser behind every `--since`, `--until`, `--every` and `--duration` of the collector and the
//! CLI (humantime's: `s`, `m`/`min`, `h`, `d`, `w`, and longer names; `M` is a month of 30.44
//! days, `y` a year of 365.25). A bare number has no unit and is refused, as is anything else
//! that is not a duration; the error names the input.

use std::time::Duration;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    humantime::parse_duration(s)
        .map_err(|e| format!("duration {s:?} is not like 30s, 15m, 2h, 7d, 1w or 1h30m ({e})"))
}

/// The same, as the `chrono::Duration` that time arithmetic on event stamps takes.
pub fn parse_chrono(s: &str) -> Result<chrono::Duration, String> {
    let d = parse_duration(s)?;
    chrono::Duration::from_std(d).map_err(|_| format!("duration {:?} is too long", s.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_units_people_type_and_garbage_named() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("15m"), Ok(900));
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("7d"), Ok(7 * 86400));
        assert_eq!(secs("1w"), Ok(7 * 86400));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs(" 2h 30min "), Ok(9000));
        for bad in [
            "",
            "15",
            "m",
            "15x",
            "yesterday",
            "99999999999999999999d",
            "-5m",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("{:?}", bad.trim())), "{err}");
        }
    }
}
