//! `[[expect]]` in a job file: what must have arrived by when (expected arrivals).
//!
//! ```toml
//! [[expect]]
//! what = "statement"
//! account = "DE89370400440532013000"   # a statement of this account, taken by any job
//! by = "08:30"                         # or "08:30:15"
//! timezone = "Europe/Berlin"           # default: clerk.toml's time zone
//! calendar = "default"                 # the business days, from clerk.toml's [calendars]
//! days = "business"                    # each business day of the calendar; "every": each day
//!
//! [[expect]]
//! what = "file"
//! file = "camt053-*.xml"               # a file of this name processed by this job
//! by = "09:00"
//! ```
//!
//! Each deadline is one slot. A slot is met by what arrived after the previous slot's
//! deadline and by its own (`arrived_at` of the file, as `clerk status` shows it): for a
//! statement, a file holding a statement of the account (spaces and case aside), whichever job
//! took it; for a file, a file of the job whose name matches the pattern (case-insensitive).
//! Only files that were read count: one that could not be read has its own break.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use super::error::{ConfigError, Locator};
use crate::schedule::Calendar;

/// One `[[expect]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    /// `statement` or `file`.
    what: String,
    account: Option<String>,
    file: Option<String>,
    by: String,
    timezone: Option<String>,
    calendar: Option<String>,
    days: Option<String>,
}

/// What is expected.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A statement of this account (as written, compared without spaces and case).
    Statement { account: String },
    /// A file of the job whose name matches the pattern.
    File {
        pattern: String,
        matcher: GlobMatcher,
    },
}

/// One expected arrival, checked.
#[derive(Debug, Clone)]
pub struct Expect {
    pub what: Expected,
    /// The wall time of each deadline.
    pub by: NaiveTime,
    pub timezone: Tz,
    pub calendar_name: String,
    pub calendar: Calendar,
    /// Every day, not only the calendar's business days.
    pub every_day: bool,
}

/// How far back or ahead a deadline is looked for: a calendar has at least one business day in
/// any year, so a year and a few days always find one.
const SEARCH_DAYS: i64 = 400;

impl Expect {
    /// The key of what is expected, the same across restarts and reloads: it names the slot's
    /// break (`expect|<key>|<deadline>`) so that a slot opens at most one.
    pub fn key(&self) -> String {
        match &self.what {
            Expected::Statement { account } => format!("statement:{}", normalized(account)),
            Expected::File { pattern, .. } => format!("file:{pattern}"),
        }
    }

    /// What is expected, in words: "a statement of account DE89…", "a file matching \"x*\"".
    pub fn describe(&self) -> String {
        match &self.what {
            Expected::Statement { account } => format!("a statement of account {account}"),
            Expected::File { pattern, .. } => format!("a file matching {pattern:?}"),
        }
    }

    /// The deadline on local date `day`, if `day` has one.
    pub fn deadline_on(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        if !self.every_day && !self.calendar.is_business_day(day) {
            return None;
        }
        let wall = day.and_time(self.by);
        let local = match self.timezone.from_local_datetime(&wall) {
            chrono::LocalResult::Single(t) => t,
            // Clocks went back: the first time the wall clock shows it.
            chrono::LocalResult::Ambiguous(first, _) => first,
            // Clocks went forward over it: the first instant after the gap.
            chrono::LocalResult::None => {
                return (1..=4).find_map(|h| {
                    self.timezone
                        .from_local_datetime(&(wall + Duration::minutes(30 * h)))
                        .earliest()
                        .map(|t| t.with_timezone(&Utc))
                });
            }
        };
        Some(local.with_timezone(&Utc))
    }

    /// The latest deadline at or before `now`.
    pub fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&self.timezone).date_naive();
        (0..SEARCH_DAYS)
            .filter_map(|back| self.deadline_on(today - Duration::days(back)))
            .find(|&d| d <= now)
    }

    /// The first deadline strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = after.with_timezone(&self.timezone).date_naive();
        (-1..SEARCH_DAYS)
            .filter_map(|ahead| self.deadline_on(today + Duration::days(ahead)))
            .find(|&d| d > after)
    }

    /// The deadline before `deadline`: where its slot's window opens.
    pub fn previous(&self, deadline: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.latest_at_or_before(deadline - Duration::microseconds(1))
    }

    /// Whether a file of this name, taken by the job, is what is expected.
    pub fn file_matches(&self, name: &str) -> bool {
        match &self.what {
            Expected::File { matcher, .. } => matcher.is_match(name),
            Expected::Statement { .. } => false,
        }
    }
}

/// An account as compared: without spaces, upper case.
pub fn normalized(account: &str) -> String {
    account
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks each `[[expect]]` table; errors name `expect[i].<key>`.
pub(super) fn check_expect(
    raw: &[RawExpect],
    default_tz: Tz,
    calendars: &std::collections::BTreeMap<String, Calendar>,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Expect> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = |k: &str| format!("expect[{i}].{k}");
        let before = errors.len();
        let what = match r.what.as_str() {
            "statement" => {
                if r.file.is_some() {
                    errors.push(loc.error(
                        &key("file"),
                        "a statement is expected by account; `file` is for what = \"file\"",
                    ));
                }
                match r.account.as_deref().map(str::trim) {
                    Some(a) if !a.is_empty() => Some(Expected::Statement {
                        account: a.to_string(),
                    }),
                    _ => {
                        errors.push(loc.error(
                            &key("what"),
                            "name the account whose statement is expected: account = \"DE89...\"",
                        ));
                        None
                    }
                }
            }
            "file" => {
                if r.account.is_some() {
                    errors.push(loc.error(
                        &key("account"),
                        "a file is expected by name; `account` is for what = \"statement\"",
                    ));
                }
                match r.file.as_deref().map(str::trim) {
                    Some(p) if !p.is_empty() => match GlobBuilder::new(p)
                        .case_insensitive(true)
                        .literal_separator(true)
                        .build()
                    {
                        Ok(g) => Some(Expected::File {
                            pattern: p.to_string(),
                            matcher: g.compile_matcher(),
                        }),
                        Err(e) => {
                            errors.push(loc.error(&key("file"), e.to_string()));
                            None
                        }
                    },
                    _ => {
                        errors.push(loc.error(
                            &key("what"),
                            "name the file expected, a pattern such as file = \"camt053-*.xml\"",
                        ));
                        None
                    }
                }
            }
            other => {
                errors.push(loc.error(
                    &key("what"),
                    format!("expected \"statement\" or \"file\", found {other:?}"),
                ));
                None
            }
        };
        let by = NaiveTime::parse_from_str(r.by.trim(), "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(r.by.trim(), "%H:%M"))
            .map_err(|_| {
                errors.push(loc.error(
                    &key("by"),
                    format!(
                        "expected a time of day such as \"08:30\" (or \"08:30:15\"), found {:?}",
                        r.by
                    ),
                ))
            })
            .ok();
        let timezone = match r.timezone.as_deref() {
            None => Some(default_tz),
            Some(t) => t
                .parse::<Tz>()
                .map_err(|_| {
                    errors.push(loc.error(
                        &key("timezone"),
                        format!("unknown time zone {t:?}; use an IANA name such as Europe/Berlin"),
                    ))
                })
                .ok(),
        };
        let calendar_name = r.calendar.clone().unwrap_or_else(|| "default".into());
        let calendar = match calendars.get(&calendar_name) {
            Some(c) => Some(c.clone()),
            None => {
                errors.push(loc.error(
                    &key("calendar"),
                    format!(
                        "no calendar {calendar_name:?} in clerk.toml; known: {}",
                        calendars.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
                None
            }
        };
        let every_day = match r.days.as_deref() {
            None | Some("business") => false,
            Some("every") => true,
            Some(other) => {
                errors.push(loc.error(
                    &key("days"),
                    format!(
                        "expected \"business\" (each business day of the calendar) or \"every\" \
                         (each day), found {other:?}"
                    ),
                ));
                false
            }
        };
        if errors.len() > before {
            continue;
        }
        if let (Some(what), Some(by), Some(timezone), Some(calendar)) =
            (what, by, timezone, calendar)
        {
            out.push(Expect {
                what,
                by,
                timezone,
                calendar_name,
                calendar,
                every_day,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(by: &str, every_day: bool) -> Expect {
        Expect {
            what: Expected::Statement {
                account: "DE89 3704".into(),
            },
            by: NaiveTime::parse_from_str(by, "%H:%M").unwrap(),
            timezone: "Europe/Berlin".parse().unwrap(),
            calendar_name: "default".into(),
            calendar: Calendar::weekends_only(),
            every_day,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn deadlines_fall_on_business_days_at_the_local_time() {
        let e = expect("08:30", false);
        // Friday 2026-03-06 10:00 Berlin (09:00 UTC): today's deadline passed at 07:30 UTC.
        assert_eq!(
            e.latest_at_or_before(utc("2026-03-06T09:00:00Z")),
            Some(utc("2026-03-06T07:30:00Z"))
        );
        // The next one is Monday's: the weekend has none.
        assert_eq!(
            e.next_after(utc("2026-03-06T07:30:00Z")),
            Some(utc("2026-03-09T07:30:00Z"))
        );
        // Monday's window opens at Friday's deadline.
        assert_eq!(
            e.previous(utc("2026-03-09T07:30:00Z")),
            Some(utc("2026-03-06T07:30:00Z"))
        );
        // After the clocks go forward (2026-03-29), 08:30 Berlin is 06:30 UTC.
        assert_eq!(
            e.next_after(utc("2026-03-28T00:00:00Z")),
            Some(utc("2026-03-30T06:30:00Z"))
        );
        let every = expect("08:30", true);
        assert_eq!(
            every.next_after(utc("2026-03-06T07:30:00Z")),
            Some(utc("2026-03-07T07:30:00Z"))
        );
        assert_eq!(e.key(), "statement:DE893704");
    }

    #[test]
    fn mistakes_name_their_key() {
        let text = "[[expect]]\nwhat = \"statement\"\nby = \"8.30\"\n\n[[expect]]\nwhat = \"fax\"\n\
                    by = \"08:30\"\ntimezone = \"Mars/Olympus\"\ncalendar = \"moon\"\ndays = \"some\"\n";
        #[derive(Deserialize)]
        struct Wrap {
            expect: Vec<RawExpect>,
        }
        let raw: Wrap = toml::from_str(text).unwrap();
        let file = std::path::PathBuf::from("/etc/clerk/jobs/bank.toml");
        let loc = Locator::new(&file, text);
        let mut calendars = std::collections::BTreeMap::new();
        calendars.insert("default".to_string(), Calendar::weekends_only());
        let mut errors = Vec::new();
        let out = check_expect(
            &raw.expect,
            "Europe/Berlin".parse().unwrap(),
            &calendars,
            &loc,
            &mut errors,
        );
        assert!(out.is_empty());
        let keys: Vec<_> = errors.iter().filter_map(|e| e.key.clone()).collect();
        assert_eq!(
            keys,
            [
                "expect[0].what",
                "expect[0].by",
                "expect[1].what",
                "expect[1].timezone",
                "expect[1].calendar",
                "expect[1].days"
            ]
        );
        assert!(errors.iter().all(|e| e.line.is_some()), "{errors:?}");
    }
}
