//! From a wall-clock time in a zone to the instant a job fires.
//!
//! The map is monotonic (a later wall time never fires earlier), which is what lets
//! [`super::Schedule`] search the wall-clock timeline and still get instants in order:
//! - a wall time that exists once fires then;
//! - a wall time that exists twice (clocks go back) fires at its first occurrence;
//! - a wall time that does not exist (clocks go forward) fires at the first instant after the
//!   gap, i.e. the moment the clocks jump.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant at which the wall time `wall` in `tz` fires.
pub fn fire_instant(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => gap_end(tz, wall),
    }
}

/// The wall time of `instant` in `tz`.
pub fn wall_time(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&tz).naive_local()
}

/// The instant the clocks jump over `wall`, which lies in a gap.
///
/// Finds, by bisection on whole seconds, the instant `t` with wall(t - 1s) < `wall` < wall(t).
/// Every UTC offset in the tz database is well within ±27 hours, so the wall time 27 hours
/// before `wall`-read-as-UTC is earlier than `wall` and 27 hours after is later.
fn gap_end(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    const REACH: i64 = 27 * 3600;
    let at = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0).expect("wall times from cron are within 1970–2100")
    };
    let as_utc = wall.and_utc().timestamp();
    let mut before = as_utc - REACH; // wall(before) < wall
    let mut after = as_utc + REACH; // wall(after) > wall
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if wall_time(tz, at(mid)) < wall {
            before = mid;
        } else {
            // `wall` does not exist, so here wall(mid) > wall.
            after = mid;
        }
    }
    at(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        wall(s).and_utc()
    }

    #[test]
    fn wall_times_map_to_instants() {
        let cases = [
            // (zone, wall time, fires at UTC)
            (Tz::Europe__Berlin, "2026-01-15 07:00", "2026-01-15 06:00"),
            (Tz::Europe__Berlin, "2026-07-15 07:00", "2026-07-15 05:00"),
            // Spring forward: 02:00–02:59 does not exist; clocks jump at 01:00Z to 03:00.
            (Tz::Europe__Berlin, "2026-03-29 02:00", "2026-03-29 01:00"),
            (Tz::Europe__Berlin, "2026-03-29 02:30", "2026-03-29 01:00"),
            (Tz::Europe__Berlin, "2026-03-29 02:59", "2026-03-29 01:00"),
            (Tz::Europe__Berlin, "2026-03-29 03:00", "2026-03-29 01:00"),
            (Tz::Europe__Berlin, "2026-03-29 01:59", "2026-03-29 00:59"),
            // Fall back: 02:00–02:59 happens twice (00:xxZ CEST, then 01:xxZ CET): the first.
            (Tz::Europe__Berlin, "2026-10-25 02:30", "2026-10-25 00:30"),
            (Tz::Europe__Berlin, "2026-10-25 03:00", "2026-10-25 02:00"),
            (
                Tz::America__New_York,
                "2026-03-08 02:30",
                "2026-03-08 07:00",
            ),
            (
                Tz::America__New_York,
                "2026-11-01 01:30",
                "2026-11-01 05:30",
            ),
            // Lord Howe Island moves by 30 minutes: 02:00 → 02:30 on 2026-10-04.
            (
                Tz::Australia__Lord_Howe,
                "2026-10-04 02:15",
                "2026-10-03 15:30",
            ),
            // Samoa skipped 2011-12-30 entirely.
            (Tz::Pacific__Apia, "2011-12-30 09:00", "2011-12-30 10:00"),
        ];
        for (tz, w, expected) in cases {
            assert_eq!(fire_instant(tz, wall(w)), utc(expected), "{tz} {w}");
        }
    }

    #[test]
    fn map_is_monotonic_over_change_days() {
        for (tz, day) in [
            (Tz::Europe__Berlin, "2026-03-29"),
            (Tz::Europe__Berlin, "2026-10-25"),
            (Tz::America__New_York, "2026-03-08"),
            (Tz::America__New_York, "2026-11-01"),
        ] {
            let start = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            let mut last = fire_instant(tz, start);
            for minute in 1..24 * 60 {
                let t = fire_instant(tz, start + Duration::minutes(minute));
                assert!(t >= last, "{tz} {day} +{minute}min");
                last = t;
            }
        }
    }
}
