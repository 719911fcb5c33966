//! Business-day calendars: which dates are working days, and arithmetic over them.
//!
//! A date is a business day when its weekday is not a weekend day and it is not a holiday.
//! All arithmetic is closed-form over whole weeks plus a binary search in the sorted holiday
//! list, because the matcher asks "how many business days between these dates" millions of times.
//!
//! **Invariant:** a [`Calendar`] always has at least one business weekday, so "the next business
//! day" always exists (holidays are finite).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// A `[calendars.NAME]` table of `clerk.toml`: the days on which scheduled jobs run and against
/// which ages of breaks are counted.
///
/// ```toml
/// [calendars.de]
/// weekend = ["Sat", "Sun"]
/// holidays = ["2026-01-01", "2026-04-03", "2026-04-06", "2026-12-25"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Days of the week that are never business days. Default: `["Sat", "Sun"]`.
    /// Write `Mon` … `Sun` or `Monday` … `Sunday`, in any case. `[]` makes every weekday a
    /// business day; listing all seven days is an error.
    #[serde(default = "default_weekend")]
    pub weekend: Vec<String>,
    /// Dates that are not business days, each written `YYYY-MM-DD`. Order does not matter and
    /// duplicates are harmless. A holiday that falls on a weekend day changes nothing.
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn default_weekend() -> Vec<String> {
    vec!["Sat".to_owned(), "Sun".to_owned()]
}

impl Default for CalendarSpec {
    fn default() -> Self {
        CalendarSpec {
            weekend: default_weekend(),
            holidays: Vec::new(),
        }
    }
}

impl CalendarSpec {
    /// Checks every entry and builds the calendar. The error names the offending entry, e.g.
    /// `holidays[2]: expected a date YYYY-MM-DD, found "2026-13-01"`.
    pub fn check(&self) -> Result<Calendar, String> {
        let mut weekend = [false; 7];
        for (i, day) in self.weekend.iter().enumerate() {
            let weekday = parse_weekday(day).ok_or_else(|| {
                format!(
                    "weekend[{i}]: expected a day of the week (Mon … Sun or Monday … Sunday), \
                     found {day:?}"
                )
            })?;
            weekend[weekday.num_days_from_monday() as usize] = true;
        }
        if weekend.iter().all(|&w| w) {
            return Err(
                "weekend: lists all seven days, so no day would be a business day; \
                 a calendar needs at least one business weekday"
                    .to_owned(),
            );
        }
        let mut holidays = Vec::with_capacity(self.holidays.len());
        for (i, text) in self.holidays.iter().enumerate() {
            let date = parse_iso_date(text).ok_or_else(|| {
                format!("holidays[{i}]: expected a date YYYY-MM-DD, found {text:?}")
            })?;
            holidays.push(date);
        }
        Ok(Calendar::build(weekend, holidays))
    }
}

/// Parses `Mon` … `Sun` or `Monday` … `Sunday`, case-insensitively. Nothing else: not numbers
/// (is 0 Sunday or Monday?) and not other abbreviations.
fn parse_weekday(text: &str) -> Option<Weekday> {
    const NAMES: [(&str, &str, Weekday); 7] = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    let lower = text.trim().to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|&(_, _, weekday)| weekday)
}

/// Parses exactly `YYYY-MM-DD` (four, two and two digits) into a real date.
fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year = text[0..4].parse().ok()?;
    let month = text[5..7].parse().ok()?;
    let day = text[8..10].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Which dates are business days. Cheap to clone (the holiday list is shared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// `weekend[i]`: weekday `i` (0 = Monday) is never a business day.
    weekend: [bool; 7],
    /// `week_prefix[r]`: business weekdays among the first `r` days of a Monday-started week.
    /// `week_prefix[7]` is the number of business weekdays per week (at least 1).
    week_prefix: [i64; 8],
    /// Every holiday as declared, sorted and without duplicates (for [`Calendar::holidays`]).
    holidays: Arc<[NaiveDate]>,
    /// The holidays that fall on business weekdays, as day numbers, sorted. Only these change
    /// the arithmetic; a holiday on a Saturday is already not a business day.
    effective: Arc<[i64]>,
}

impl Default for Calendar {
    /// Same as [`Calendar::weekends_only`].
    fn default() -> Self {
        Calendar::weekends_only()
    }
}

impl Calendar {
    /// Saturday and Sunday are the weekend; there are no holidays.
    pub fn weekends_only() -> Calendar {
        let mut weekend = [false; 7];
        weekend[Weekday::Sat.num_days_from_monday() as usize] = true;
        weekend[Weekday::Sun.num_days_from_monday() as usize] = true;
        Calendar::build(weekend, Vec::new())
    }

    /// The same weekend with `holidays` added to this calendar's holidays.
    pub fn with_holidays(self, holidays: impl IntoIterator<Item = NaiveDate>) -> Calendar {
        let mut all: Vec<NaiveDate> = self.holidays.to_vec();
        all.extend(holidays);
        Calendar::build(self.weekend, all)
    }

    fn build(weekend: [bool; 7], mut holidays: Vec<NaiveDate>) -> Calendar {
        let mut week_prefix = [0i64; 8];
        for i in 0..7 {
            week_prefix[i + 1] = week_prefix[i] + i64::from(!weekend[i]);
        }
        assert!(
            week_prefix[7] > 0,
            "a calendar needs at least one business weekday"
        );
        holidays.sort_unstable();
        holidays.dedup();
        let effective: Vec<i64> = holidays
            .iter()
            .filter(|d| !weekend[d.weekday().num_days_from_monday() as usize])
            .map(|&d| day_number(d))
            .collect();
        Calendar {
            weekend,
            week_prefix,
            holidays: holidays.into(),
            effective: effective.into(),
        }
    }

    /// Whether `d` is neither a weekend day nor a holiday.
    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !self.weekend[d.weekday().num_days_from_monday() as usize]
            && self.effective.binary_search(&day_number(d)).is_err()
    }

    /// The number of business days `d` with `from < d <= to`; negated when `to < from`, 0 when
    /// they are equal. Fri→Mon is 1, Fri→Sat is 0, Thu→Tue over a Monday holiday is 2,
    /// Mon→Fri of the week before is -5 (from a business day, `-n` means "n business days back").
    pub fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        self.business_prefix(day_number(to)) - self.business_prefix(day_number(from))
    }

    /// The `n`-th business day after `d` (`n > 0`) or before it (`n < 0`); `d` itself when
    /// `n == 0`, even if `d` is not a business day. For a business day `d`,
    /// `business_days_between(d, add_business_days(d, n)) == n`.
    ///
    /// # Panics
    /// If the result is outside chrono's date range (hundreds of thousands of years away).
    pub fn add_business_days(&self, d: NaiveDate, n: i64) -> NaiveDate {
        let day = day_number(d);
        // The answer is the smallest day r with business_prefix(r) >= target: the day on which
        // the count of business days reaches `target` is itself a business day.
        let target = match n {
            0 => return d,
            n if n > 0 => self.business_prefix(day) + n,
            n => self.business_prefix(day - 1) + n + 1,
        };
        let r = self.smallest_day_reaching(target);
        i32::try_from(r)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .expect("add_business_days: result outside chrono's date range")
    }

    /// Every declared holiday in date order (including any that fall on a weekend day).
    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    /// The first business day after `d`.
    pub(crate) fn next_business_day(&self, d: NaiveDate) -> NaiveDate {
        self.add_business_days(d, 1)
    }

    /// The last business day before `d`.
    pub(crate) fn previous_business_day(&self, d: NaiveDate) -> NaiveDate {
        self.add_business_days(d, -1)
    }

    /// Business weekdays among day numbers `1..=n` (a difference of two values counts the days
    /// in between; for `n < 1` the value is negative but differences stay right).
    fn weekday_prefix(&self, n: i64) -> i64 {
        // Day number 1 (0001-01-01) is a Monday, so day n has weekday (n - 1) mod 7.
        n.div_euclid(7) * self.week_prefix[7] + self.week_prefix[n.rem_euclid(7) as usize]
    }

    /// Effective holidays with day number <= n.
    fn holiday_prefix(&self, n: i64) -> i64 {
        self.effective.partition_point(|&h| h <= n) as i64
    }

    /// Business days among day numbers `1..=n`, in the same relative sense as `weekday_prefix`.
    fn business_prefix(&self, n: i64) -> i64 {
        self.weekday_prefix(n) - self.holiday_prefix(n)
    }

    /// The smallest day number r with `weekday_prefix(r) >= target` (a business weekday).
    fn smallest_weekday_reaching(&self, target: i64) -> i64 {
        let per_week = self.week_prefix[7];
        let week = (target - 1).div_euclid(per_week);
        let index = (target - 1).rem_euclid(per_week); // 0-based among the week's business days
        let weekday = (0..7)
            .find(|&i| self.week_prefix[i + 1] == index + 1 && !self.weekend[i])
            .expect("index < business weekdays per week");
        7 * week + weekday as i64 + 1
    }

    /// The smallest day number r with `business_prefix(r) >= target`.
    fn smallest_day_reaching(&self, target: i64) -> i64 {
        // business_prefix(r) >= target  ⇔  weekday_prefix(r) >= target + holiday_prefix(r).
        // Start by ignoring holidays and move forward by the holidays found so far until no
        // further holiday is crossed; each round crosses at least one more holiday, so this
        // takes at most (number of holidays + 1) rounds, usually one or two.
        let mut crossed = 0;
        loop {
            let r = self.smallest_weekday_reaching(target + crossed);
            let now_crossed = self.holiday_prefix(r);
            if now_crossed == crossed {
                return r;
            }
            crossed = now_crossed;
        }
    }
}

/// Days since the proleptic Gregorian epoch, with 0001-01-01 (a Monday) as day 1.
fn day_number(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        parse_iso_date(s).unwrap_or_else(|| panic!("bad test date {s}"))
    }

    fn spec(weekend: &[&str], holidays: &[&str]) -> CalendarSpec {
        CalendarSpec {
            weekend: weekend.iter().map(|s| s.to_string()).collect(),
            holidays: holidays.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Germany-ish 2026: Good Friday, Easter Monday, May Day (Fri), Christmas (Fri) and
    /// Boxing Day (Sat, so no effect), plus a Monday holiday on 2026-06-01.
    fn de_2026() -> Calendar {
        spec(
            &["Sat", "Sun"],
            &[
                "2026-04-03",
                "2026-04-06",
                "2026-05-01",
                "2026-06-01",
                "2026-12-25",
                "2026-12-26",
            ],
        )
        .check()
        .unwrap()
    }

    fn naive_between(cal: &Calendar, from: NaiveDate, to: NaiveDate) -> i64 {
        let (lo, hi, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut count = 0;
        let mut d = lo;
        while d < hi {
            d = d.succ_opt().unwrap();
            if cal.is_business_day(d) {
                count += 1;
            }
        }
        sign * count
    }

    fn naive_add(cal: &Calendar, d: NaiveDate, n: i64) -> NaiveDate {
        let mut left = n.abs();
        let mut r = d;
        while left > 0 {
            r = if n > 0 {
                r.succ_opt().unwrap()
            } else {
                r.pred_opt().unwrap()
            };
            if cal.is_business_day(r) {
                left -= 1;
            }
        }
        r
    }

    #[test]
    fn business_day_membership() {
        let cal = de_2026();
        let cases = [
            ("2026-04-02", true),  // Thursday
            ("2026-04-03", false), // Good Friday
            ("2026-04-04", false), // Saturday
            ("2026-04-05", false), // Sunday
            ("2026-04-06", false), // Easter Monday
            ("2026-04-07", true),  // Tuesday
            ("2026-12-26", false), // holiday on a Saturday
        ];
        for (d, expected) in cases {
            assert_eq!(cal.is_business_day(date(d)), expected, "{d}");
        }
    }

    #[test]
    fn business_days_between_cases() {
        let plain = Calendar::weekends_only();
        let de = de_2026();
        let cases: &[(&Calendar, &str, &str, i64)] = &[
            (&plain, "2026-01-09", "2026-01-12", 1),  // Fri → Mon
            (&plain, "2026-01-09", "2026-01-10", 0),  // Fri → Sat
            (&plain, "2026-01-10", "2026-01-11", 0),  // Sat → Sun
            (&plain, "2026-01-10", "2026-01-12", 1),  // Sat → Mon
            (&plain, "2026-01-12", "2026-01-12", 0),  // equal
            (&plain, "2026-01-12", "2026-01-16", 4),  // Mon → Fri
            (&plain, "2026-01-12", "2026-01-19", 5),  // Mon → Mon
            (&plain, "2026-01-12", "2026-01-09", -1), // Mon → Fri before
            (&plain, "2026-01-16", "2026-01-09", -5), // Fri → Fri before
            (&plain, "2026-01-11", "2026-01-10", 0),  // Sun → Sat
            (&plain, "2025-12-31", "2026-12-31", 261),
            (&de, "2026-05-28", "2026-06-02", 2), // Thu → Tue over a Monday holiday
            (&de, "2026-04-02", "2026-04-07", 1), // Thu → Tue over Easter
            (&de, "2026-04-07", "2026-04-02", -1),
            (&de, "2026-04-02", "2026-04-03", 0), // Thu → holiday Fri
            (&de, "2025-12-31", "2026-12-31", 261 - 5),
        ];
        for &(cal, from, to, expected) in cases {
            assert_eq!(
                cal.business_days_between(date(from), date(to)),
                expected,
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn add_business_days_cases() {
        let plain = Calendar::weekends_only();
        let de = de_2026();
        let cases: &[(&Calendar, &str, i64, &str)] = &[
            (&plain, "2026-01-09", 1, "2026-01-12"),  // Fri + 1 = Mon
            (&plain, "2026-01-12", -1, "2026-01-09"), // Mon - 1 = Fri
            (&plain, "2026-01-10", 1, "2026-01-12"),  // Sat + 1 = Mon
            (&plain, "2026-01-10", -1, "2026-01-09"), // Sat - 1 = Fri
            (&plain, "2026-01-10", 0, "2026-01-10"),  // 0 is the date itself
            (&plain, "2026-01-12", 5, "2026-01-19"),
            (&plain, "2026-01-12", -10, "2025-12-29"),
            (&de, "2026-04-02", 1, "2026-04-07"), // over Easter
            (&de, "2026-04-07", -1, "2026-04-02"),
            (&de, "2026-05-29", 1, "2026-06-02"), // over the Monday holiday
            (&de, "2026-04-30", 1, "2026-05-04"), // over May Day (Fri)
        ];
        for &(cal, d, n, expected) in cases {
            assert_eq!(
                cal.add_business_days(date(d), n),
                date(expected),
                "{d} + {n}"
            );
        }
    }

    /// A deterministic linear congruential generator (Knuth's MMIX constants).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> i64 {
            (self.next() % n) as i64
        }
    }

    #[test]
    fn arithmetic_agrees_with_counting_day_by_day() {
        let mut rng = Lcg(0x5eed);
        let base = date("2024-01-01");
        let calendars = [
            Calendar::weekends_only(),
            de_2026(),
            // Dense holidays, including runs of them and ones on weekends.
            Calendar::weekends_only()
                .with_holidays((0..200).map(|_| base + chrono::Days::new(rng.below(1100) as u64))),
            // Middle-east weekend, and a single business weekday.
            spec(&["Fri", "Saturday"], &["2025-03-31", "2025-04-01"])
                .check()
                .unwrap(),
            spec(&["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], &["2025-06-01"])
                .check()
                .unwrap(),
            spec(&[], &["2025-06-01"]).check().unwrap(),
        ];
        for cal in &calendars {
            for _ in 0..2_000 {
                let from = base + chrono::Days::new(rng.below(1200) as u64);
                let to = base + chrono::Days::new(rng.below(1200) as u64);
                let expected = naive_between(cal, from, to);
                assert_eq!(
                    cal.business_days_between(from, to),
                    expected,
                    "{from} → {to} in {cal:?}"
                );
                let n = rng.below(41) - 20;
                assert_eq!(
                    cal.add_business_days(from, n),
                    naive_add(cal, from, n),
                    "{from} + {n}"
                );
                if cal.is_business_day(from) {
                    let r = cal.add_business_days(from, n);
                    assert_eq!(cal.business_days_between(from, r), n, "{from} + {n}");
                }
            }
        }
    }

    #[test]
    fn business_days_between_is_cheap() {
        // The matcher calls this millions of times; a day-by-day loop over multi-year spans
        // would take minutes here, closed-form arithmetic takes milliseconds.
        let cal = de_2026()
            .with_holidays((0..300).map(|i| date("2020-01-01") + chrono::Days::new(i * 11)));
        let from = date("2020-01-01");
        let started = std::time::Instant::now();
        let mut total = 0;
        for i in 0..1_000_000u64 {
            total += cal.business_days_between(from, from + chrono::Days::new(i % 3_000));
        }
        assert!(total > 0);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn spec_defaults_and_names() {
        let cal: CalendarSpec = toml::from_str("holidays = [\"2026-01-01\"]").unwrap();
        assert_eq!(cal.weekend, ["Sat", "Sun"]);
        let cal = cal.check().unwrap();
        assert_eq!(cal.holidays().collect::<Vec<_>>(), [date("2026-01-01")]);
        assert!(!cal.is_business_day(date("2026-01-03")));

        let cal = spec(&["friday", "SAT"], &[]).check().unwrap();
        assert!(!cal.is_business_day(date("2026-01-09"))); // Friday
        assert!(cal.is_business_day(date("2026-01-11"))); // Sunday

        let cal = spec(&["Sun", "Sat"], &["2026-12-25", "2026-01-01", "2026-12-25"])
            .check()
            .unwrap();
        assert_eq!(
            cal.holidays().collect::<Vec<_>>(),
            [date("2026-01-01"), date("2026-12-25")]
        );
    }

    #[test]
    fn spec_errors_name_the_entry() {
        let cases = [
            (
                spec(&["Sat", "Sun"], &["2026-01-01", "2026-05-01", "2026-13-01"]),
                r#"holidays[2]: expected a date YYYY-MM-DD, found "2026-13-01""#,
            ),
            (
                spec(&["Sat", "Sun"], &["2026-2-1"]),
                r#"holidays[0]: expected a date YYYY-MM-DD, found "2026-2-1""#,
            ),
            (
                spec(&["Sat", "Sun"], &["2026-02-30"]),
                r#"holidays[0]: expected a date YYYY-MM-DD, found "2026-02-30""#,
            ),
            (
                spec(&["Sat", "Sonday"], &[]),
                r#"weekend[1]: expected a day of the week (Mon … Sun or Monday … Sunday), found "Sonday""#,
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(spec.check().unwrap_err(), expected);
        }
        let all = spec(&["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], &[]);
        assert!(
            all.check()
                .unwrap_err()
                .starts_with("weekend: lists all seven days")
        );
    }

    #[test]
    fn spec_rejects_unknown_keys() {
        let err = toml::from_str::<CalendarSpec>("weekends = [\"Sun\"]").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
