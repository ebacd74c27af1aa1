//! Timestamps as log lines write them: fixed-width digits read by hand (no `strptime` on the hot
//! path), the time zone of lines that carry none ([`Zone`]), and the year of BSD syslog stamps,
//! which carry none either ([`YearGuess`]).
//!
//! Zimbra's log4j files, `zmmailboxd.out`, nginx's `$time_local` without zone... most log lines
//! are written in the server's local time without saying so. The parser reads them in the zone it
//! is given (the machine's own by default) and the event carries UTC.

use std::str::FromStr;
use std::time::{Instant, SystemTime};

use logwarden_core::Severity;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset,
    TimeZone, Utc,
};

/// The zone in which a line's time is read when the line does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The agent machine's own zone (DST changes included), as the logs on it are written.
    #[default]
    Local,
    Utc,
    /// A fixed offset from UTC (no DST).
    Fixed(FixedOffset),
}

/// A time zone setting that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Not `local`, `utc`, `Z` or an offset such as `+02:00`, `-0530`.
    #[error("time zone {0:?} is not `local`, `utc` or an offset like +02:00")]
    Unknown(String),
    /// An offset over 23:59 hours.
    #[error("time zone offset {0:?} is out of range")]
    OutOfRange(String),
}

impl FromStr for Zone {
    type Err = ZoneError;

    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "local" => return Ok(Zone::Local),
            "utc" | "z" | "gmt" => return Ok(Zone::Utc),
            _ => {}
        }
        let b = t.as_bytes();
        let sign = match b.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(ZoneError::Unknown(s.to_owned())),
        };
        let digits: Vec<u8> = b[1..].iter().copied().filter(|c| *c != b':').collect();
        if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(ZoneError::Unknown(s.to_owned()));
        }
        let h = i32::from(digits[0] - b'0') * 10 + i32::from(digits[1] - b'0');
        let m = i32::from(digits[2] - b'0') * 10 + i32::from(digits[3] - b'0');
        if h > 23 || m > 59 {
            return Err(ZoneError::OutOfRange(s.to_owned()));
        }
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(Zone::Fixed)
            .ok_or_else(|| ZoneError::OutOfRange(s.to_owned()))
    }
}

/// Turns wall-clock times of one zone into UTC. Keeps the offset of the last hour it converted:
/// consecutive lines nearly always fall in the same hour, and asking the system zone database for
/// every line would cost more than parsing the line.
#[derive(Debug, Clone)]
pub struct Clock {
    zone: Zone,
    /// `(local time truncated to the hour, offset in seconds east of UTC)` of the last lookup.
    last_hour: Option<(NaiveDateTime, i32)>,
}

impl Clock {
    pub fn new(zone: Zone) -> Clock {
        Clock {
            zone,
            last_hour: None,
        }
    }

    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The UTC time of a wall-clock time in this zone. In a DST overlap the earlier reading wins;
    /// a time that does not exist (skipped by a DST jump) is read with the offset before the jump.
    pub fn to_utc(&mut self, local: NaiveDateTime) -> DateTime<Utc> {
        let offset = match self.zone {
            Zone::Utc => 0,
            Zone::Fixed(f) => f.local_minus_utc(),
            Zone::Local => {
                let key = truncate_to_hour(local);
                match self.last_hour {
                    Some((h, off)) if h == key => off,
                    _ => {
                        let off = local_offset(local);
                        self.last_hour = Some((key, off));
                        off
                    }
                }
            }
        };
        DateTime::from_naive_utc_and_offset(local - Duration::seconds(i64::from(offset)), Utc)
    }
}

fn truncate_to_hour(t: NaiveDateTime) -> NaiveDateTime {
    let secs = t.and_utc().timestamp();
    let floored = secs - secs.rem_euclid(3600);
    DateTime::from_timestamp(floored, 0)
        .map(|d| d.naive_utc())
        .unwrap_or(t)
}

fn local_offset(local: NaiveDateTime) -> i32 {
    match chrono::Local.offset_from_local_datetime(&local) {
        LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => o.fix().local_minus_utc(),
        LocalResult::None => chrono::Local
            .offset_from_utc_datetime(&local)
            .fix()
            .local_minus_utc(),
    }
}

/// The year of a BSD syslog stamp (`Mar 16 19:21:04`), which has none: the latest year that
/// does not put the line more than two days after the reference time. The reference is the file's
/// modification time when the parser was made, moved on by the time since then, so that an old
/// file read today gets its own year and a file tailed for months follows the calendar (a line of
/// December 31 read on January 1 keeps last year).
#[derive(Debug, Clone)]
pub struct YearGuess {
    reference: DateTime<Utc>,
    made: Instant,
    /// The last minute [`YearGuess::resolve`] was asked for: consecutive syslog lines nearly always
    /// share their minute, and choosing the year for every line was about 0.04 of the 0.6 us
    /// that framing and parsing a syslog line take (`collector/examples/syslog_path.rs`).
    last: Option<Minute>,
}

/// Month, day, hour and minute of a stamp without year.
type Stamp = (u32, u32, u32, u32);

/// A year chosen for a minute, and for how long that choice stands.
#[derive(Debug, Clone, Copy)]
struct Minute {
    stamp: Stamp,
    /// The chosen year's UTC time for second 0 of the minute.
    start: DateTime<Utc>,
    /// The choice stands while the time since the guess was made ([`YearGuess::made`]) is below
    /// this: until New Year (UTC) of the reference time, the candidate years follow its year;
    /// and until every later candidate year is within two days, even at its second 0. The
    /// reference time only moves forward ([`YearGuess::now`] adds a monotonic clock's elapsed
    /// time), and the chosen year's second 59 was within two days when the choice was made, so
    /// it stays within. Held as elapsed monotonic time so that a line of the same minute costs a
    /// clock read and a comparison, not date arithmetic.
    until: std::time::Duration,
}

impl YearGuess {
    pub fn new(reference: DateTime<Utc>) -> YearGuess {
        YearGuess {
            reference,
            made: Instant::now(),
            last: None,
        }
    }

    /// For a file: its modification time, or now when it has none.
    pub fn for_mtime(mtime: Option<SystemTime>) -> YearGuess {
        YearGuess::new(mtime.map(DateTime::<Utc>::from).unwrap_or_else(Utc::now))
    }

    fn now(&self) -> DateTime<Utc> {
        self.at(self.made.elapsed())
    }

    /// The reference time once `elapsed` has passed since the guess was made.
    fn at(&self, elapsed: std::time::Duration) -> DateTime<Utc> {
        self.reference + Duration::from_std(elapsed).unwrap_or_default()
    }

    /// The year for a month and day alone, by the same rule as [`YearGuess::resolve`] but on
    /// dates only (what syslog_loose's year callback is given).
    pub fn year_for(&self, month: u32, day: u32) -> i32 {
        let now = self.now();
        let limit = (now + Duration::days(2)).date_naive();
        let year = now.year();
        (0..=8)
            .map(|back| year - back)
            .find(|&y| NaiveDate::from_ymd_opt(y, month, day).is_some_and(|d| d <= limit))
            .unwrap_or(year)
    }

    /// The time of a stamp without year, read in `clock`'s zone.
    pub fn resolve(
        &mut self,
        clock: &mut Clock,
        month: u32,
        day: u32,
        h: u32,
        m: u32,
        s: u32,
    ) -> Option<DateTime<Utc>> {
        let elapsed = self.made.elapsed();
        self.resolve_at(elapsed, clock, (month, day, h, m), s)
    }

    /// [`YearGuess::resolve`] once `elapsed` has passed since the guess was made (never less
    /// than at the last call): the same answer as [`YearGuess::choose`], from the minute's choice
    /// while it stands.
    fn resolve_at(
        &mut self,
        elapsed: std::time::Duration,
        clock: &mut Clock,
        stamp: Stamp,
        s: u32,
    ) -> Option<DateTime<Utc>> {
        let stands = |last: &Minute| last.stamp == stamp && elapsed < last.until;
        if !self.last.as_ref().is_some_and(stands) {
            self.last = self.minute(elapsed, clock, stamp);
        }
        match self.last {
            // Within a minute the clock's offset is the same (it goes by the hour), so second
            // `s` is second 0 plus `s`.
            Some(last) if s < 60 => Some(last.start + Duration::seconds(i64::from(s))),
            // A second over 59 is no time at all, and a minute whose seconds fall in different
            // years has no one choice: from scratch.
            _ => Self::choose(self.at(elapsed), clock, stamp, s),
        }
    }

    /// The year for a stamp, from scratch: the latest candidate year that does not put it more
    /// than two days after `now`.
    fn choose(
        now: DateTime<Utc>,
        clock: &mut Clock,
        stamp: Stamp,
        s: u32,
    ) -> Option<DateTime<Utc>> {
        let limit = now + Duration::days(2);
        Self::times(now, clock, stamp, s).find(|&t| t <= limit)
    }

    /// Second `s` of the stamp in each candidate year that has its date, latest first, in UTC.
    /// Feb 29 needs a leap year: the candidates go up to 8 years back.
    fn times(
        now: DateTime<Utc>,
        clock: &mut Clock,
        (month, day, h, m): Stamp,
        s: u32,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let year = now.year();
        [0, 1, 2, 3, 4, 5, 8]
            .into_iter()
            .filter_map(move |back| {
                NaiveDate::from_ymd_opt(year - back, month, day)?.and_hms_opt(h, m, s)
            })
            .map(|naive| clock.to_utc(naive))
    }

    /// The choice for second 0 of a minute, `elapsed` after the guess was made, and how long it
    /// stands (see [`Minute`]).
    fn minute(
        &self,
        elapsed: std::time::Duration,
        clock: &mut Clock,
        stamp: Stamp,
    ) -> Option<Minute> {
        let now = self.at(elapsed);
        let limit = now + Duration::days(2);
        // The nearest later candidate passed over (too far ahead), if any.
        let mut later = None;
        for start in Self::times(now, clock, stamp, 0) {
            if start + Duration::seconds(59) <= limit {
                let new_year = NaiveDate::from_ymd_opt(now.year() + 1, 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc());
                let until = [
                    later.map(|t: DateTime<Utc>| t - Duration::days(2)),
                    new_year,
                ]
                .into_iter()
                .flatten()
                .min()
                // Past the end of chrono's calendar: choose again for every line.
                .unwrap_or(now);
                return Some(Minute {
                    stamp,
                    start,
                    // Past `now` by construction; were it not, zero: choose again next time.
                    until: elapsed + (until - now).to_std().unwrap_or_default(),
                });
            }
            if start <= limit {
                // Seconds 0 and 59 of this year fall on either side of the limit: not a
                // choice that stands for the whole minute.
                return None;
            }
            later = Some(start);
        }
        None
    }
}

/// `n` ASCII digits at the start of `b` as a number; `None` if any is not a digit.
#[inline]
pub fn digits(b: &[u8], n: usize) -> Option<u32> {
    let d = b.get(..n)?;
    let mut v = 0u32;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// `YYYY-MM-DD HH:MM:SS` at the start of `b` (the `T` of ISO 8601 accepted in place of the space).
#[inline]
pub fn ymd_hms(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b' ' && b[10] != b'T' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        digits(b, 4)? as i32,
        digits(&b[5..], 2)?,
        digits(&b[8..], 2)?,
    )?;
    date.and_hms_opt(
        digits(&b[11..], 2)?,
        digits(&b[14..], 2)?,
        digits(&b[17..], 2)?,
    )
}

/// Three fraction digits (milliseconds) at the start of `b`.
#[inline]
pub fn millis(b: &[u8]) -> Option<u32> {
    digits(b, 3)
}

/// A month's three-letter English abbreviation (any case) as 1..=12.
#[inline]
pub fn month(b: &[u8]) -> Option<u32> {
    let m = b.get(..3)?;
    let key = [
        m[0].to_ascii_lowercase(),
        m[1].to_ascii_lowercase(),
        m[2].to_ascii_lowercase(),
    ];
    Some(match &key {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// A level name as log4j, Jetty and zimbramon print them, without the allocation of
/// [`Severity::from_loose_name`] for the usual spellings (it still reads the rest).
#[inline]
pub fn level(name: &str) -> Option<Severity> {
    Some(match name {
        "INFO" | "info" => Severity::Info,
        "WARN" | "warn" | "WARNING" | "warning" => Severity::Warning,
        "ERROR" | "error" | "err" => Severity::Err,
        "DEBUG" | "debug" | "TRACE" => Severity::Debug,
        "FATAL" | "crit" => Severity::Crit,
        other => return Severity::from_loose_name(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn zones_are_read_from_names_and_offsets() {
        assert_eq!("local".parse::<Zone>(), Ok(Zone::Local));
        assert_eq!("UTC".parse::<Zone>(), Ok(Zone::Utc));
        assert_eq!(
            "+02:00".parse::<Zone>(),
            Ok(Zone::Fixed(FixedOffset::east_opt(7200).unwrap()))
        );
        assert_eq!(
            "-0530".parse::<Zone>(),
            Ok(Zone::Fixed(FixedOffset::west_opt(19800).unwrap()))
        );
        assert!(matches!(
            "Europe/Paris".parse::<Zone>(),
            Err(ZoneError::Unknown(_))
        ));
        assert!(matches!(
            "+25:00".parse::<Zone>(),
            Err(ZoneError::OutOfRange(_))
        ));
    }

    #[test]
    fn fixed_zone_moves_wall_clock_time_to_utc() {
        let mut c = Clock::new("+02:00".parse().unwrap());
        let t = ymd_hms(b"2015-12-05 18:47:36").unwrap();
        assert_eq!(c.to_utc(t), utc("2015-12-05T16:47:36Z"));
    }

    #[test]
    fn bsd_year_is_the_reference_year_unless_that_puts_the_line_in_the_future() {
        let mut c = Clock::new(Zone::Utc);
        let mut g = YearGuess::new(utc("2016-01-02T00:00:00Z"));
        assert_eq!(
            g.resolve(&mut c, 12, 31, 23, 59, 0),
            Some(utc("2015-12-31T23:59:00Z"))
        );
        assert_eq!(
            g.resolve(&mut c, 1, 1, 0, 0, 1),
            Some(utc("2016-01-01T00:00:01Z"))
        );
        // Two days of slack for hosts whose clocks run ahead.
        assert_eq!(
            g.resolve(&mut c, 1, 3, 12, 0, 0),
            Some(utc("2016-01-03T12:00:00Z"))
        );
        assert_eq!(
            g.resolve(&mut c, 2, 29, 1, 0, 0),
            Some(utc("2012-02-29T01:00:00Z"))
        );
        assert_eq!(g.resolve(&mut c, 2, 30, 1, 0, 0), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The remembered minute gives exactly what choosing afresh gives, for lines arriving
        /// while the reference time moves on across the points where the choice changes (a
        /// stamp coming within two days, New Year, Feb 29), and for seconds past 59.
        #[test]
        fn a_remembered_minute_answers_as_choosing_afresh_does(
            zone in 0..3usize,
            start in 0..4usize,
            lines in proptest::collection::vec((0..40_000i64, 0..5usize, 0..62u32), 1..200),
        ) {
            let zone = [Zone::Utc, "+05:30".parse().unwrap(), Zone::Local][zone];
            // Reference times just before the choice for one of the stamps below changes.
            let mut now = [
                utc("2016-12-29T23:58:40Z"),
                utc("2016-12-31T23:59:30Z"),
                utc("2015-02-26T23:59:30Z"),
                utc("2016-02-27T00:58:50Z"),
            ][start];
            let stamps = [(12, 31, 23, 59), (1, 1, 0, 0), (2, 29, 1, 0), (3, 1, 0, 59), (12, 31, 0, 0)];
            let mut guess = YearGuess::new(now);
            let (mut cached, mut fresh) = (Clock::new(zone), Clock::new(zone));
            for (step_ms, which, second) in lines {
                now += Duration::milliseconds(step_ms);
                let (month, day, h, m) = stamps[which];
                let elapsed = (now - guess.reference).to_std().unwrap();
                let got = guess.resolve_at(elapsed, &mut cached, (month, day, h, m), second);
                let want = YearGuess::choose(now, &mut fresh, (month, day, h, m), second);
                proptest::prop_assert_eq!(got, want, "at {} for {:?} second {}", now, stamps[which], second);
            }
        }
    }

    #[test]
    fn a_minute_is_remembered_until_the_year_choice_changes() {
        let mut c = Clock::new(Zone::Utc);
        let now = utc("2016-12-29T23:58:30Z");
        let mut g = YearGuess::new(now);
        // Dec 31 23:59 of 2016 is more than two days ahead: last year's.
        let secs = std::time::Duration::from_secs;
        let got = g.resolve_at(secs(0), &mut c, (12, 31, 23, 59), 10);
        assert_eq!(got, Some(utc("2015-12-31T23:59:10Z")));
        assert!(g.last.is_some(), "the minute is remembered");
        let got = g.resolve_at(secs(20), &mut c, (12, 31, 23, 59), 40);
        assert_eq!(got, Some(utc("2015-12-31T23:59:40Z")));
        // A minute later it is within two days: this year's, though the minute is the same.
        let got = g.resolve_at(secs(90), &mut c, (12, 31, 23, 59), 40);
        assert_eq!(got, Some(utc("2016-12-31T23:59:40Z")));
    }

    #[test]
    fn digits_and_months_reject_what_they_do_not_know() {
        assert_eq!(digits(b"2015", 4), Some(2015));
        assert_eq!(digits(b"20x5", 4), None);
        assert_eq!(digits(b"20", 4), None);
        assert_eq!(month(b"Dec 10"), Some(12));
        assert_eq!(month(b"Dex"), None);
        assert_eq!(month(b"De"), None);
        assert_eq!(ymd_hms(b"2021-13-01 00:00:00"), None);
    }
}
