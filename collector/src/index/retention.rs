//! Retention: which day partitions to drop, by age and by the total size of the index. Whole
//! partitions go, oldest first; deciding is kept apart from deleting so that it can be tested
//! without a clock or a disk.

use chrono::{DateTime, NaiveDate, Utc};

/// `[index] retention_days` and `max_bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Days are dropped once all of their events are older than this (`None`: kept by age).
    pub max_age: Option<chrono::Duration>,
    /// The partitions together may hold at most this many bytes (0: no limit). Only days
    /// before today are dropped for size, oldest first: today's partition is where new events
    /// go, and a day after today (an event from a clock ahead) is no reason to drop today.
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            max_age: Some(chrono::Duration::days(30)),
            max_bytes: 0,
        }
    }
}

impl Retention {
    /// The newest day whose every instant is older than the maximum age at `now`.
    pub fn expired_through(&self, now: DateTime<Utc>) -> Option<NaiveDate> {
        let cutoff = now.checked_sub_signed(self.max_age?)?;
        // Day d is over once d+1 starts, which is at or before the cutoff.
        cutoff.date_naive().pred_opt()
    }

    /// Given each partition's day and size, oldest first, the newest day to drop so that the
    /// rest fits in `max_bytes`: never `today` or a later day (by the events' own time), even
    /// if the rest does not fit without them.
    pub fn over_size_through(
        &self,
        sizes: &[(NaiveDate, u64)],
        today: NaiveDate,
    ) -> Option<NaiveDate> {
        if self.max_bytes == 0 {
            return None;
        }
        let mut total: u64 = sizes.iter().map(|(_, b)| b).sum();
        let mut through = None;
        for (day, bytes) in sizes.iter().take_while(|(day, _)| *day < today) {
            if total <= self.max_bytes {
                break;
            }
            total -= bytes;
            through = Some(*day);
        }
        through
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_day_expires_only_when_all_of_it_is_older_than_the_maximum_age() {
        let r = Retention {
            max_age: Some(chrono::Duration::days(2)),
            max_bytes: 0,
        };
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // Cutoff 2026-11-27T10:00: the 26th ended before it, the 27th did not.
        assert_eq!(r.expired_through(now), Some(day("2026-11-26")));
        let keep_all = Retention {
            max_age: None,
            max_bytes: 0,
        };
        assert_eq!(keep_all.expired_through(now), None);
    }

    #[test]
    fn size_drops_the_oldest_days_until_the_rest_fits_but_never_today_or_later() {
        let sizes = [
            (day("2026-11-26"), 100),
            (day("2026-11-27"), 100),
            (day("2026-11-28"), 100),
            (day("2026-11-29"), 100),
        ];
        let today = day("2026-11-29");
        let r = |max_bytes| Retention {
            max_age: None,
            max_bytes,
        };
        assert_eq!(r(0).over_size_through(&sizes, today), None);
        assert_eq!(r(400).over_size_through(&sizes, today), None);
        assert_eq!(
            r(399).over_size_through(&sizes, today),
            Some(day("2026-11-26"))
        );
        assert_eq!(
            r(200).over_size_through(&sizes, today),
            Some(day("2026-11-27"))
        );
        assert_eq!(
            r(1).over_size_through(&sizes, today),
            Some(day("2026-11-28"))
        );
        // An event from a clock a year ahead made a partition after today: today stays, and
        // so does the future day; only the days before today go.
        let ahead = [
            (day("2026-11-28"), 100),
            (day("2026-11-29"), 100),
            (day("2027-11-29"), 10),
        ];
        assert_eq!(
            r(150).over_size_through(&ahead, today),
            Some(day("2026-11-28"))
        );
        assert_eq!(r(1).over_size_through(&ahead[1..], today), None);
    }
}
