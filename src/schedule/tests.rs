//! Schedule-level tests: crontab meaning, DST, calendars, catch-up.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::*;

const BERLIN: Tz = Tz::Europe__Berlin;
const NEW_YORK: Tz = Tz::America__New_York;

/// `"2026-03-29 01:00"` as a UTC instant.
fn utc(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
        .and_utc()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn schedule(expr: &str, tz: Tz) -> Schedule {
    Schedule::parse(expr, tz).unwrap_or_else(|e| panic!("{e}"))
}

/// Every fire time in `(from, to]`, by repeated `next_after`.
fn fires(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = from;
    while let Some(next) = s.next_after(t) {
        assert!(next > t, "{s}: next_after({t}) went backwards to {next}");
        if next > to {
            break;
        }
        out.push(next);
        t = next;
    }
    out
}

fn fmt_all(ts: &[DateTime<Utc>]) -> Vec<String> {
    ts.iter()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .collect()
}

#[test]
fn crontab_expressions_fire_when_crontab_says() {
    // Over the week Sun 2026-01-04 .. Sun 2026-01-11 in UTC (no DST to think about).
    let from = utc("2026-01-04 00:00") - Duration::seconds(1);
    let to = utc("2026-01-11 23:59");
    let cases: &[(&str, &[&str])] = &[
        (
            "0 7 * * 1-5",
            &[
                "2026-01-05 07:00",
                "2026-01-06 07:00",
                "2026-01-07 07:00",
                "2026-01-08 07:00",
                "2026-01-09 07:00",
            ],
        ),
        (
            "0 7 * * MON-FRI",
            &[
                "2026-01-05 07:00",
                "2026-01-06 07:00",
                "2026-01-07 07:00",
                "2026-01-08 07:00",
                "2026-01-09 07:00",
            ],
        ),
        ("0 7 * * 0", &["2026-01-04 07:00", "2026-01-11 07:00"]),
        ("0 7 * * 7", &["2026-01-04 07:00", "2026-01-11 07:00"]),
        ("0 7 * * sun", &["2026-01-04 07:00", "2026-01-11 07:00"]),
        ("0 7 * * 6", &["2026-01-10 07:00"]),
        (
            "30 8 * * 1,3,5",
            &["2026-01-05 08:30", "2026-01-07 08:30", "2026-01-09 08:30"],
        ),
        ("0 9,17 6 * *", &["2026-01-06 09:00", "2026-01-06 17:00"]),
        // Both day fields restricted: the 10th OR a Monday, as in cron.
        ("0 9 10 * MON", &["2026-01-05 09:00", "2026-01-10 09:00"]),
        // A day field starting with `*` counts as unrestricted for that rule, so here both must
        // match: odd days (1, 3, 5, …) that are Mondays or Wednesdays.
        (
            "0 9 */2 * MON,WED",
            &["2026-01-05 09:00", "2026-01-07 09:00"],
        ),
        ("@weekly", &["2026-01-04 00:00", "2026-01-11 00:00"]),
        ("@monthly", &[]),
        ("0 0 1 JAN-MAR *", &[]),
        ("0 0 5-6 JAN *", &["2026-01-05 00:00", "2026-01-06 00:00"]),
    ];
    for &(expr, expected) in cases {
        let s = schedule(expr, Tz::UTC);
        assert_eq!(fmt_all(&fires(&s, from, to)), expected, "{expr}");
    }
}

#[test]
fn steps_lists_and_shorthands() {
    let from = utc("2026-01-05 10:00");
    let cases: &[(&str, Duration, usize, &str)] = &[
        // (expression, window, number of fires in (from, from + window], first fire)
        ("*/15 * * * *", Duration::hours(1), 4, "2026-01-05 10:15"),
        ("5/20 * * * *", Duration::hours(1), 3, "2026-01-05 10:05"),
        ("0,30 9-11 * * *", Duration::days(1), 6, "2026-01-05 10:30"),
        ("* * * * *", Duration::hours(1), 60, "2026-01-05 10:01"),
        ("@hourly", Duration::days(1), 24, "2026-01-05 11:00"),
        ("@daily", Duration::days(7), 7, "2026-01-06 00:00"),
        ("@midnight", Duration::days(7), 7, "2026-01-06 00:00"),
        ("@monthly", Duration::days(365), 12, "2026-02-01 00:00"),
        ("@yearly", Duration::days(800), 2, "2027-01-01 00:00"),
        ("@ANNUALLY", Duration::days(800), 2, "2027-01-01 00:00"),
    ];
    for &(expr, window, count, first) in cases {
        let s = schedule(expr, Tz::UTC);
        let got = fires(&s, from, from + window);
        assert_eq!(got.len(), count, "{expr}: {:?}", fmt_all(&got));
        assert_eq!(fmt_all(&got[..1]), [first], "{expr}");
    }
}

#[test]
fn parse_keeps_expression_and_zone_and_reports_errors() {
    let s = schedule("  0 7 * * 1-5 ", BERLIN);
    assert_eq!(s.expression(), "0 7 * * 1-5");
    assert_eq!(s.timezone(), BERLIN);
    assert_eq!(s.to_string(), "0 7 * * 1-5 (Europe/Berlin)");

    let err = Schedule::parse("0 7 * * 1-8", BERLIN).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#""0 7 * * 1-8": day of week 8 is out of range 0–7 (0 and 7 are Sunday)"#
    );
    assert!(matches!(
        err,
        ScheduleError::Field {
            error: FieldError {
                field: CronField::DayOfWeek,
                ..
            },
            ..
        }
    ));
    let err = Schedule::parse("0 0 7 * * 1-5", BERLIN).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        "{err}"
    );
}

/// Fires over 48 hours centred on each DST change, checked instant by instant.
#[test]
fn dst_changes_fire_every_wall_time_exactly_once() {
    let cases: &[(Tz, &str, &str, &[&str])] = &[
        // Europe/Berlin springs forward at 01:00Z on 2026-03-29 (02:00 CET → 03:00 CEST).
        // 02:30 does not exist that day: it fires once, when the clocks jump.
        (
            BERLIN,
            "30 2 * * *",
            "2026-03-29 01:00",
            &["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"],
        ),
        // Berlin falls back at 01:00Z on 2026-10-25 (03:00 CEST → 02:00 CET): 02:30 happens
        // at 00:30Z and again at 01:30Z, and fires only the first time.
        (
            BERLIN,
            "30 2 * * *",
            "2026-10-25 01:00",
            &["2026-10-25 00:30"],
        ),
        // 07:00 every day: 06:00Z in winter, 05:00Z in summer.
        (
            BERLIN,
            "0 7 * * *",
            "2026-03-29 01:00",
            &["2026-03-28 06:00", "2026-03-29 05:00"],
        ),
        (
            BERLIN,
            "0 7 * * *",
            "2026-10-25 01:00",
            &["2026-10-24 05:00", "2026-10-25 06:00"],
        ),
        // New York springs forward at 07:00Z on 2026-03-08 (02:00 EST → 03:00 EDT).
        (
            NEW_YORK,
            "30 2 * * *",
            "2026-03-08 07:00",
            &["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"],
        ),
        // New York falls back at 06:00Z on 2026-11-01 (02:00 EDT → 01:00 EST): 01:30 happens
        // at 05:30Z and 06:30Z; it fires once.
        (
            NEW_YORK,
            "30 1 * * *",
            "2026-11-01 06:00",
            &["2026-11-01 05:30"],
        ),
        (
            NEW_YORK,
            "0 7 * * *",
            "2026-11-01 06:00",
            &["2026-10-31 11:00", "2026-11-01 12:00"],
        ),
        (
            NEW_YORK,
            "0 7 * * *",
            "2026-03-08 07:00",
            &["2026-03-07 12:00", "2026-03-08 11:00"],
        ),
    ];
    for &(tz, expr, change, expected) in cases {
        let s = schedule(expr, tz);
        let change = utc(change);
        let got = fires(
            &s,
            change - Duration::hours(24),
            change + Duration::hours(24),
        );
        assert_eq!(fmt_all(&got), expected, "{expr} in {tz} around {change}");
    }
}

#[test]
fn weekday_mornings_across_dst_changes() {
    // Mon–Fri 07:00 local through both Berlin changes and both New York changes.
    let cases: &[(Tz, &str, &str, &[&str])] = &[
        (
            BERLIN,
            "2026-03-26 12:00",
            "2026-03-31 12:00",
            &["2026-03-27 06:00", "2026-03-30 05:00", "2026-03-31 05:00"],
        ),
        (
            BERLIN,
            "2026-10-22 12:00",
            "2026-10-27 12:00",
            &["2026-10-23 05:00", "2026-10-26 06:00", "2026-10-27 06:00"],
        ),
        (
            NEW_YORK,
            "2026-03-05 18:00",
            "2026-03-10 18:00",
            &["2026-03-06 12:00", "2026-03-09 11:00", "2026-03-10 11:00"],
        ),
        (
            NEW_YORK,
            "2026-10-29 18:00",
            "2026-11-03 18:00",
            &["2026-10-30 11:00", "2026-11-02 12:00", "2026-11-03 12:00"],
        ),
    ];
    for &(tz, from, to, expected) in cases {
        let s = schedule("0 7 * * 1-5", tz);
        assert_eq!(fmt_all(&fires(&s, utc(from), utc(to))), expected, "{tz}");
    }
}

#[test]
fn dense_schedules_across_dst_changes() {
    // Every 30 minutes over 48 real hours centred on the change. Spring: 98 wall times, of
    // which 02:00 and 02:30 fall into the gap and share the 03:00 run → 96 runs, one every 30
    // real minutes. Autumn: 47 wall hours → 94 runs; the repeated hour runs once.
    let cases = [
        (BERLIN, "2026-03-29 01:00", 96),
        (BERLIN, "2026-10-25 01:00", 94),
        (NEW_YORK, "2026-03-08 07:00", 96),
        (NEW_YORK, "2026-11-01 06:00", 94),
    ];
    for (tz, change, expected) in cases {
        let s = schedule("*/30 * * * *", tz);
        let change = utc(change);
        let from = change - Duration::hours(24) - Duration::seconds(1);
        let got = fires(
            &s,
            from,
            change + Duration::hours(24) - Duration::seconds(1),
        );
        assert_eq!(got.len(), expected, "{tz} {change}");
        // Every run is at a distinct local wall time: none repeats.
        let mut walls: Vec<NaiveDateTime> = got
            .iter()
            .map(|t| t.with_timezone(&tz).naive_local())
            .collect();
        walls.dedup();
        assert_eq!(
            walls.len(),
            expected,
            "{tz} {change}: a wall time fired twice"
        );
    }
}

#[test]
fn holidays_are_skipped() {
    // Good Friday 2026-04-03 and Easter Monday 2026-04-06.
    let cal = CalendarSpec {
        weekend: vec!["Sat".into(), "Sun".into()],
        holidays: vec!["2026-04-03".into(), "2026-04-06".into()],
    }
    .check()
    .unwrap();
    let weekdays = schedule("0 7 * * 1-5", BERLIN).skipping(cal.clone());
    assert_eq!(
        fmt_all(&fires(
            &weekdays,
            utc("2026-04-01 12:00"),
            utc("2026-04-08 12:00")
        )),
        ["2026-04-02 05:00", "2026-04-07 05:00", "2026-04-08 05:00"]
    );
    // A daily schedule skips the weekend too, per the calendar.
    let daily = schedule("0 7 * * *", BERLIN).skipping(cal);
    assert_eq!(
        fmt_all(&fires(
            &daily,
            utc("2026-04-01 12:00"),
            utc("2026-04-08 12:00")
        )),
        ["2026-04-02 05:00", "2026-04-07 05:00", "2026-04-08 05:00"]
    );
    // A Friday–Saturday weekend.
    let gulf = CalendarSpec {
        weekend: vec!["friday".into(), "saturday".into()],
        holidays: vec![],
    }
    .check()
    .unwrap();
    let daily = schedule("0 9 * * *", Tz::Asia__Dubai).skipping(gulf);
    let got = fires(&daily, utc("2026-01-04 00:00"), utc("2026-01-11 00:00"));
    let days: Vec<Weekday> = got
        .iter()
        .map(|t| t.with_timezone(&Tz::Asia__Dubai).weekday())
        .collect();
    use Weekday::*;
    assert_eq!(days, [Sun, Mon, Tue, Wed, Thu]);
}

#[test]
fn schedule_that_only_hits_non_business_days_never_fires() {
    let s = schedule("0 7 * * SAT", BERLIN).skipping(Calendar::weekends_only());
    let started = Instant::now();
    assert_eq!(s.next_after(utc("2026-01-01 00:00")), None);
    assert_eq!(
        s.latest_due(utc("2026-01-01 00:00"), utc("2026-06-01 00:00")),
        None
    );
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn latest_due_catches_up_once() {
    let weekdays = schedule("0 7 * * 1-5", BERLIN);
    let every_minute = schedule("* * * * *", BERLIN);
    let cases: &[(&Schedule, &str, &str, Option<&str>)] = &[
        // Down from Friday's run until Wednesday 10:00 local: three runs missed, one due.
        (
            &weekdays,
            "2026-01-09 06:00",
            "2026-01-14 09:00",
            Some("2026-01-14 06:00"),
        ),
        // Up since Monday's run, nothing new yet.
        (&weekdays, "2026-01-12 06:00", "2026-01-12 11:00", None),
        // `now` exactly at a fire time counts.
        (
            &weekdays,
            "2026-01-12 06:00",
            "2026-01-13 06:00",
            Some("2026-01-13 06:00"),
        ),
        // `last` exactly at a fire time does not.
        (&weekdays, "2026-01-13 06:00", "2026-01-13 06:00", None),
        (&weekdays, "2026-01-13 06:00", "2026-01-13 05:00", None),
        // A year of every-minute runs missed.
        (
            &every_minute,
            "2025-01-13 10:17",
            "2026-01-13 10:42",
            Some("2026-01-13 10:42"),
        ),
        // Berlin fall-back, `now` in the second pass of 02:xx (01:20Z = 02:20 CET): the runs for
        // 02:00–02:59 happened in the first pass (00:00Z–00:59Z).
        (
            &every_minute,
            "2026-10-25 00:30",
            "2026-10-25 01:20",
            Some("2026-10-25 00:59"),
        ),
        (&every_minute, "2026-10-25 00:59", "2026-10-25 01:20", None),
        // Spring gap: the 02:xx runs are all the 03:00 run at 01:00Z.
        (
            &every_minute,
            "2026-03-29 00:59",
            "2026-03-29 01:00",
            Some("2026-03-29 01:00"),
        ),
    ];
    for &(s, last, now, expected) in cases {
        assert_eq!(
            s.latest_due(utc(last), utc(now)),
            expected.map(utc),
            "{s}: last {last}, now {now}"
        );
    }
}

#[test]
fn latest_due_is_fast_after_long_outages() {
    let s = schedule("* * * * *", BERLIN);
    let holidays = Calendar::weekends_only()
        .with_holidays((0..40).map(|i| date("2025-01-01") + chrono::Days::new(i * 9)));
    let business = schedule("*/5 * * * *", BERLIN).skipping(holidays);
    let now = utc("2026-01-13 10:42") + Duration::seconds(17);
    let last = now - Duration::days(365);
    let started = Instant::now();
    for i in 0..1_000 {
        let now = now + Duration::minutes(i);
        assert!(s.latest_due(last, now).is_some());
        assert!(business.latest_due(last, now).is_some());
    }
    // A naive minute-by-minute walk over a year would take ~500k steps per call.
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A deterministic linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n) as i64
    }
}

/// `latest_due` agrees with walking `next_after` from `last`, and never returns a time at or
/// before `last` (nor after `now`), for random windows around DST changes and holidays.
#[test]
fn latest_due_agrees_with_next_after() {
    let cal = Calendar::weekends_only().with_holidays([date("2026-03-30"), date("2026-10-26")]);
    let schedules = [
        schedule("*/15 * * * *", BERLIN),
        schedule("30 2 * * *", BERLIN),
        schedule("0 7 * * 1-5", BERLIN).skipping(cal.clone()),
        schedule("*/20 1-3 * * *", BERLIN).skipping(cal),
        schedule("30 1 * * *", NEW_YORK),
        schedule("0,30 * * * *", NEW_YORK),
    ];
    let anchors = [
        utc("2026-03-29 01:00"),
        utc("2026-10-25 01:00"),
        utc("2026-03-08 07:00"),
        utc("2026-11-01 06:00"),
    ];
    let mut rng = Lcg(42);
    for s in &schedules {
        for anchor in anchors {
            for _ in 0..150 {
                // Random instants within ±36 hours, on odd seconds as well as whole minutes.
                let last = anchor + Duration::seconds(rng.below(72 * 3600) - 36 * 3600);
                let now = last + Duration::seconds(rng.below(30 * 3600));
                let last = if rng.below(2) == 0 {
                    last.with_second(0).unwrap()
                } else {
                    last
                };
                let mut expected = None;
                let mut t = last;
                while let Some(next) = s.next_after(t) {
                    if next > now {
                        break;
                    }
                    expected = Some(next);
                    t = next;
                }
                let got = s.latest_due(last, now);
                assert_eq!(got, expected, "{s}: last {last}, now {now}");
                if let Some(got) = got {
                    assert!(
                        last < got && got <= now,
                        "{s}: {got} not in ({last}, {now}]"
                    );
                }
            }
        }
    }
}
