//! When jobs fire: crontab expressions read on a time zone's wall clock, business-day calendars.
//!
//! A [`Schedule`] is a standard 5-field crontab expression (`0 7 * * 1-5`) in a time zone,
//! optionally [skipping](Schedule::skipping) the non-business days of a [`Calendar`]. It answers
//! two questions, with the time passed in so that nothing here waits or reads a clock:
//! [`Schedule::next_after`] (when to wake up) and [`Schedule::latest_due`] (after downtime, the
//! one run to catch up on).
//!
//! Code map:
//! - `crontab`: checks the user's expression and translates it for the `cron` crate, which
//!   matches fields on the wall-clock timeline (it never sees a time zone).
//! - `zone`: maps a wall time to the instant it fires, across DST gaps and overlaps.
//! - `calendar`: business days and arithmetic over them.
//! - `timetable`: which slot each job fires next across restarts, pauses and clock steps (at
//!   most one for any number missed; nothing twice).
//!
//! **Invariant:** no I/O and no clock reads in this module.
//!
//! # Daylight saving time
//! Schedules are evaluated on the local wall clock, and every scheduled wall time fires exactly
//! once. When clocks go back, a wall time that happens twice (02:30 on 2026-10-25 in
//! Europe/Berlin) fires at its first occurrence only. When clocks go forward, a wall time that
//! does not exist (02:30 on 2026-03-29 in Europe/Berlin) fires at the first instant after the
//! gap (03:00 local), like cronie does; several wall times in the same gap, and the wall time
//! the clocks jump to, are all served by that single run.

mod calendar;
mod crontab;
mod timetable;
mod zone;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

pub use calendar::{Calendar, CalendarSpec};
pub use crontab::{CronField, FieldError, FieldProblem};
pub use timetable::{Due, Timetable};

use crontab::WallSchedule;

/// Why a schedule expression was rejected. Every message starts with the expression, quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not five whitespace-separated fields (a seconds field is the usual cause).
    #[error(
        "{expr:?}: expected 5 fields (minute hour day-of-month month day-of-week), found {found}{}",
        if matches!(found, 6 | 7) { "; clerk schedules have no seconds field" } else { "" }
    )]
    FieldCount { expr: String, found: usize },
    /// One field is wrong; the error names it.
    #[error("{expr:?}: {error}")]
    Field { expr: String, error: FieldError },
    /// `@reboot` or an unknown `@` word.
    #[error("{expr:?}: unknown shorthand; expected @hourly, @daily, @weekly, @monthly or @yearly")]
    UnknownShorthand { expr: String },
    /// Well-formed but selects no real date, e.g. `0 0 30 2 *`.
    #[error("{expr:?}: never fires: none of the selected months has any of the selected days")]
    NeverFires { expr: String },
    /// The `cron` crate refused our translation: a bug in clerk, not in the expression.
    #[error(
        "{expr:?}: internal error: the cron crate rejected the translation {translated:?}: \
         {message}"
    )]
    Translation {
        expr: String,
        translated: String,
        message: String,
    },
}

/// A crontab expression in a time zone, optionally skipping non-business days.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The expression as the user wrote it (trimmed), for messages and `clerk check`.
    expr: String,
    /// The zone whose wall clock the expression is read on.
    tz: Tz,
    /// The expression on the wall-clock timeline.
    wall: WallSchedule,
    /// Set by [`Schedule::skipping`]: fire times on this calendar's non-business days (by the
    /// local date of the scheduled wall time) are dropped.
    calendar: Option<Calendar>,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expr, self.tz)
    }
}

impl Schedule {
    /// Parses a standard 5-field crontab expression (`minute hour day-of-month month
    /// day-of-week`; names like `MON-FRI` and `JAN`; lists, ranges, steps; 0 and 7 are Sunday)
    /// or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`, read on `tz`'s wall clock.
    ///
    /// As in cron, when both day fields are restricted a day matches if *either* does:
    /// `0 9 1 * MON` fires on the 1st and on every Monday.
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, ScheduleError> {
        let expr = expr.trim();
        let wall = WallSchedule::parse(expr)?;
        Ok(Schedule {
            expr: expr.to_owned(),
            tz,
            wall,
            calendar: None,
        })
    }

    /// Fire times that fall on a non-business day of `calendar` are skipped (holidays, weekends
    /// per calendar). The day is the local date of the scheduled wall time.
    pub fn skipping(self, calendar: Calendar) -> Schedule {
        Schedule {
            calendar: Some(calendar),
            ..self
        }
    }

    /// The expression as written (trimmed).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// The zone whose wall clock the expression is read on.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `after`; `None` if there is none before the `cron`
    /// crate's horizon (the year 2100).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut wall = zone::wall_time(self.tz, after);
        loop {
            let candidate = self.next_wall(wall)?;
            let fires = zone::fire_instant(self.tz, candidate);
            if fires > after {
                return Some(fires);
            }
            // Only while the clocks repeat an hour and `after` is in the second pass: the wall
            // times left in that hour already fired during the first pass.
            wall = candidate;
        }
    }

    /// Catch-up after downtime: the latest fire time `t` with `last < t <= now`, if any — one
    /// run however many were missed. Searches backwards from `now`, so its cost does not
    /// depend on how long ago `last` was.
    pub fn latest_due(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if now <= last {
            return None;
        }
        self.latest_at_or_before(now).filter(|&t| t > last)
    }

    /// The latest fire time at or before `now`.
    fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now_wall = zone::wall_time(self.tz, now);
        // Wall times after `now_wall` fire after `now`, except in the second pass through a
        // repeated hour: the rest of that hour fired during the first pass, before `now`.
        let mut latest = None;
        // `now` is in that second pass exactly when its wall time also occurred earlier.
        if zone::fire_instant(self.tz, now_wall) < now {
            let mut wall = now_wall;
            while let Some(candidate) = self.next_wall(wall) {
                let fires = zone::fire_instant(self.tz, candidate);
                if fires > now {
                    break;
                }
                latest = Some(fires);
                wall = candidate;
            }
        }
        // The map from wall time to instant is monotonic, so the last matching wall time at or
        // before `now_wall` fires at or before `now`, and after any earlier wall time.
        latest.or_else(|| {
            self.wall_at_or_before(now_wall)
                .map(|w| zone::fire_instant(self.tz, w))
        })
    }

    /// The first matching wall time strictly after `wall` on a business day.
    fn next_wall(&self, mut wall: NaiveDateTime) -> Option<NaiveDateTime> {
        loop {
            let candidate = self.wall.next_after(wall)?;
            match &self.calendar {
                Some(cal) if !cal.is_business_day(candidate.date()) => {
                    // Resume just before the next business day starts.
                    let next = cal.next_business_day(candidate.date());
                    wall = next.and_time(NaiveTime::MIN) - chrono::Duration::seconds(1);
                }
                _ => return Some(candidate),
            }
        }
    }

    /// The last matching wall time at or before `wall` on a business day.
    fn wall_at_or_before(&self, mut wall: NaiveDateTime) -> Option<NaiveDateTime> {
        loop {
            let candidate = self.wall.at_or_before(wall)?;
            match &self.calendar {
                Some(cal) if !cal.is_business_day(candidate.date()) => {
                    // Resume at the last second of the previous business day.
                    let previous = cal.previous_business_day(candidate.date());
                    wall = previous.and_hms_opt(23, 59, 59).expect("valid time");
                }
                _ => return Some(candidate),
            }
        }
    }
}
