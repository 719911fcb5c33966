//! Standard 5-field crontab expressions, checked here and matched by the `cron` crate.
//!
//! Users write what a sysadmin writes in a crontab: `minute hour day-of-month month
//! day-of-week`, with `*`, numbers, names (`JAN`, `MON`), ranges, lists and steps, 0 and 7 both
//! Sunday, or one of the `@` shorthands. The `cron` crate wants a seconds field, numbers Sunday
//! as 1 (Quartz) and reads its own range/step dialect, so we never hand it the user's text: we
//! expand every field into the explicit set of values it selects, with our own error messages,
//! and give the crate a plain list per field (`0 0,15,30,45 7 * * 2,3,4,5,6`).
//!
//! **Invariant:** this module works on the wall-clock timeline only (`NaiveDateTime`, run through
//! the crate as if it were UTC, so the crate never sees a DST change). Mapping wall times to
//! instants is [`super::zone`]'s job.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;

use super::ScheduleError;

/// One of the five fields of a crontab expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CronField {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl CronField {
    const ALL: [CronField; 5] = [
        CronField::Minute,
        CronField::Hour,
        CronField::DayOfMonth,
        CronField::Month,
        CronField::DayOfWeek,
    ];

    /// Allowed values, inclusive.
    fn bounds(self) -> (u32, u32) {
        match self {
            CronField::Minute => (0, 59),
            CronField::Hour => (0, 23),
            CronField::DayOfMonth => (1, 31),
            CronField::Month => (1, 12),
            CronField::DayOfWeek => (0, 7),
        }
    }

    /// Names accepted in place of numbers, and the number of the first name.
    fn names(self) -> Option<(&'static [&'static str], u32)> {
        match self {
            CronField::Month => Some((&MONTH_NAMES, 1)),
            CronField::DayOfWeek => Some((&DAY_NAMES, 0)),
            _ => None,
        }
    }

    /// Extra words after an out-of-range message.
    fn range_note(self) -> &'static str {
        match self {
            CronField::DayOfWeek => " (0 and 7 are Sunday)",
            _ => "",
        }
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day of month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day of week",
        })
    }
}

/// What is wrong with one field of an expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// A number outside the field's range (kept as text: it may not even fit a `u32`).
    OutOfRange { value: String },
    /// A word that is not one of the field's names (or the field takes no names).
    UnknownName { name: String },
    /// `a-b` with `a > b`; crontab ranges do not wrap around.
    Backwards { item: String },
    /// `/0`, or a step that is not a number.
    BadStep { item: String },
    /// `1,,2` or a trailing comma.
    EmptyItem,
    /// Anything else that cannot be read.
    Syntax { item: String },
}

/// A [`FieldProblem`] in a named field, displayed as e.g.
/// `day of week 8 is out of range 0–7 (0 and 7 are Sunday)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: CronField,
    pub problem: FieldProblem,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field;
        let (min, max) = field.bounds();
        match &self.problem {
            FieldProblem::OutOfRange { value } => write!(
                f,
                "{field} {value} is out of range {min}–{max}{}",
                field.range_note()
            ),
            FieldProblem::UnknownName { name } => match field.names() {
                Some((names, _)) => write!(
                    f,
                    "{field} {name:?} is not a name this field knows; expected a number \
                     {min}–{max} or one of {}",
                    names.join(" ")
                ),
                None => write!(
                    f,
                    "{field} {name:?} is not a number; the {field} field takes numbers \
                     {min}–{max}"
                ),
            },
            FieldProblem::Backwards { item } => write!(
                f,
                "{field} range {item:?} runs backwards; ranges do not wrap around, \
                 so split it into a list (e.g. 5-6,0)"
            ),
            FieldProblem::BadStep { item } => write!(
                f,
                "{field} step in {item:?} must be a whole number of at least 1"
            ),
            FieldProblem::EmptyItem => write!(f, "{field} has an empty list item"),
            FieldProblem::Syntax { item } => write!(
                f,
                "{field} {item:?} cannot be read; expected *, a number, a range like 1-5, \
                 a list like 1,15 or a step like */15"
            ),
        }
    }
}

/// The five fields with `@` shorthands expanded.
fn expand_shorthand(expr: &str) -> Result<&str, ScheduleError> {
    let expanded = match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            return Err(ScheduleError::UnknownShorthand {
                expr: expr.to_owned(),
            });
        }
    };
    Ok(expanded)
}

/// The values one field selects, as a bit set (bit n = value n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ValueSet(u64);

impl ValueSet {
    fn contains(self, v: u32) -> bool {
        self.0 & (1 << v) != 0
    }

    fn values(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |&v| self.contains(v))
    }
}

/// Reads a single value: a number in range or, where the field has them, a three-letter name.
fn parse_value(field: CronField, text: &str) -> Result<u32, FieldProblem> {
    let (min, max) = field.bounds();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(FieldProblem::OutOfRange {
                value: text.to_owned(),
            }),
        };
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        let upper = text.to_ascii_uppercase();
        return field
            .names()
            .and_then(|(names, first)| {
                names
                    .iter()
                    .position(|n| *n == upper)
                    .map(|i| first + i as u32)
            })
            .ok_or_else(|| FieldProblem::UnknownName {
                name: text.to_owned(),
            });
    }
    Err(FieldProblem::Syntax {
        item: text.to_owned(),
    })
}

/// Expands one field (`*/15`, `1-5`, `MON-FRI`, `1,15`, `5/10`) into the set of values it
/// selects. Day-of-week 7 is folded into 0 (both Sunday).
fn parse_field(field: CronField, text: &str) -> Result<ValueSet, FieldError> {
    let err = |problem| FieldError { field, problem };
    let (min, max) = field.bounds();
    let mut set = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(err(FieldProblem::EmptyItem));
        }
        let (base, step) = match item.split_once('/') {
            None => (item, None),
            Some((base, step)) => match step.parse::<u32>() {
                Ok(s) if s >= 1 && step.bytes().all(|b| b.is_ascii_digit()) => (base, Some(s)),
                _ => {
                    return Err(err(FieldProblem::BadStep {
                        item: item.to_owned(),
                    }));
                }
            },
        };
        let (lo, hi) = if base == "*" {
            (min, max)
        } else if let Some((a, b)) = base.split_once('-') {
            let a = parse_value(field, a).map_err(err)?;
            let b = parse_value(field, b).map_err(err)?;
            if a > b {
                return Err(err(FieldProblem::Backwards {
                    item: item.to_owned(),
                }));
            }
            (a, b)
        } else {
            let a = parse_value(field, base).map_err(err)?;
            // `5/15` means 5, 20, 35, 50: from the value to the end of the range.
            (a, if step.is_some() { max } else { a })
        };
        let step = step.unwrap_or(1) as usize;
        for v in (lo..=hi).step_by(step) {
            set |= 1 << v;
        }
    }
    if field == CronField::DayOfWeek && set & (1 << 7) != 0 {
        set = (set & !(1 << 7)) | 1;
    }
    Ok(ValueSet(set))
}

/// A checked expression on the wall-clock timeline.
#[derive(Clone, Debug)]
pub struct WallSchedule {
    /// The expression as the `cron` crate reads it; a wall time matches if any part does. Two
    /// parts when both day fields are restricted: crontab then fires when *either* matches
    /// (`0 9 1 * MON` is "the 1st, and every Monday"), while the crate requires both.
    parts: Vec<cron::Schedule>,
}

impl WallSchedule {
    /// Checks a 5-field crontab expression or `@` shorthand (already trimmed) and translates it.
    pub fn parse(expr: &str) -> Result<WallSchedule, ScheduleError> {
        let five = if expr.starts_with('@') {
            expand_shorthand(expr)?
        } else {
            expr
        };
        let texts: Vec<&str> = five.split_whitespace().collect();
        if texts.len() != 5 {
            return Err(ScheduleError::FieldCount {
                expr: expr.to_owned(),
                found: texts.len(),
            });
        }
        let mut sets = [ValueSet(0); 5];
        for ((set, field), text) in sets.iter_mut().zip(CronField::ALL).zip(&texts) {
            *set = parse_field(field, text).map_err(|error| ScheduleError::Field {
                expr: expr.to_owned(),
                error,
            })?;
        }
        let [minutes, hours, days, months, weekdays] = sets;

        // cron's rule (as in Vixie cron and cronie): a day field "is *" if its text starts
        // with `*`, so `*/2` counts as unrestricted. When neither is, a day matches if either
        // field matches; otherwise both must.
        let days_restricted = !texts[2].starts_with('*');
        let weekdays_restricted = !texts[4].starts_with('*');
        let all = ValueSet(u64::MAX);
        let day_pairs = if days_restricted && weekdays_restricted {
            // The day-of-month part alone may never fire (`0 9 31 2 MON`): leave it out.
            let mut pairs = vec![(all, weekdays)];
            if day_exists(days, months) {
                pairs.push((days, all));
            }
            pairs
        } else if day_exists(days, months) {
            vec![(days, weekdays)]
        } else {
            return Err(ScheduleError::NeverFires {
                expr: expr.to_owned(),
            });
        };
        let parts = day_pairs
            .into_iter()
            .map(|(days, weekdays)| {
                let translated = format!(
                    "0 {} {} {} {} {}",
                    crate_list(CronField::Minute, minutes),
                    crate_list(CronField::Hour, hours),
                    crate_list(CronField::DayOfMonth, days),
                    crate_list(CronField::Month, months),
                    crate_list(CronField::DayOfWeek, weekdays),
                );
                cron::Schedule::from_str(&translated).map_err(|e| ScheduleError::Translation {
                    expr: expr.to_owned(),
                    translated: translated.clone(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(WallSchedule { parts })
    }

    /// The first matching wall time strictly after `after`.
    pub fn next_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let after = after.and_utc();
        self.parts
            .iter()
            .filter_map(|p| p.after(&after).next())
            .min()
            .map(|t| t.naive_utc())
    }

    /// The last matching wall time at or before `at`.
    pub fn at_or_before(&self, at: NaiveDateTime) -> Option<NaiveDateTime> {
        // The crate looks strictly before; every match is on a whole minute, so looking before
        // the next whole second includes `at` itself.
        let bound = at.and_utc() + chrono::Duration::nanoseconds(1);
        self.parts
            .iter()
            .filter_map(|p| p.after(&bound).next_back())
            .max()
            .map(|t| t.naive_utc())
    }
}

/// Renders a value set as the `cron` crate's field: `*` when everything is selected, otherwise an
/// explicit list; weekdays renumbered to Quartz (1 = Sunday … 7 = Saturday).
fn crate_list(field: CronField, set: ValueSet) -> String {
    let (min, max) = match field {
        CronField::DayOfWeek => (0, 6),
        other => other.bounds(),
    };
    if (min..=max).all(|v| set.contains(v)) {
        return "*".to_owned();
    }
    let offset = if field == CronField::DayOfWeek { 1 } else { 0 };
    set.values()
        .filter(|v| (min..=max).contains(v))
        .map(|v| (v + offset).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether some selected month has some selected day (`30 2` never happens; `31 4,5` does).
fn day_exists(days: ValueSet, months: ValueSet) -> bool {
    const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    months
        .values()
        .any(|m| days.values().any(|d| d <= LONGEST[m as usize - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(field: CronField, text: &str) -> Vec<u32> {
        parse_field(field, text).unwrap().values().collect()
    }

    #[test]
    fn fields_expand_to_value_sets() {
        use CronField::*;
        let cases: &[(CronField, &str, &[u32])] = &[
            (Minute, "*/15", &[0, 15, 30, 45]),
            (Minute, "5/20", &[5, 25, 45]),
            (Minute, "10-20/5", &[10, 15, 20]),
            (Minute, "1,2,59", &[1, 2, 59]),
            (Hour, "9-17/4,23", &[9, 13, 17, 23]),
            (DayOfMonth, "*/10", &[1, 11, 21, 31]),
            (Month, "JAN,jul,Dec", &[1, 7, 12]),
            (Month, "MAR-MAY", &[3, 4, 5]),
            (DayOfWeek, "MON-FRI", &[1, 2, 3, 4, 5]),
            (DayOfWeek, "1-5", &[1, 2, 3, 4, 5]),
            (DayOfWeek, "7", &[0]),
            (DayOfWeek, "0", &[0]),
            (DayOfWeek, "5-7", &[0, 5, 6]),
            (DayOfWeek, "sun,sat", &[0, 6]),
            (DayOfWeek, "MON-5/2", &[1, 3, 5]),
        ];
        for &(field, text, expected) in cases {
            assert_eq!(set(field, text), expected, "{field} {text}");
        }
    }

    #[test]
    fn weekdays_are_renumbered_for_the_crate() {
        let weekdays = parse_field(CronField::DayOfWeek, "1-5").unwrap();
        assert_eq!(crate_list(CronField::DayOfWeek, weekdays), "2,3,4,5,6");
        let sunday = parse_field(CronField::DayOfWeek, "7").unwrap();
        assert_eq!(crate_list(CronField::DayOfWeek, sunday), "1");
        let all = parse_field(CronField::DayOfWeek, "0-7").unwrap();
        assert_eq!(crate_list(CronField::DayOfWeek, all), "*");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "0 7 * * 1-8",
                r#""0 7 * * 1-8": day of week 8 is out of range 0–7 (0 and 7 are Sunday)"#,
            ),
            (
                "0 7 * * * *",
                r#""0 7 * * * *": expected 5 fields (minute hour day-of-month month day-of-week), found 6; clerk schedules have no seconds field"#,
            ),
            (
                "0 7 * *",
                r#""0 7 * *": expected 5 fields (minute hour day-of-month month day-of-week), found 4"#,
            ),
            (
                "",
                r#""": expected 5 fields (minute hour day-of-month month day-of-week), found 0"#,
            ),
            (
                "60 * * * *",
                r#""60 * * * *": minute 60 is out of range 0–59"#,
            ),
            (
                "0 24 * * *",
                r#""0 24 * * *": hour 24 is out of range 0–23"#,
            ),
            (
                "0 0 0 * *",
                r#""0 0 0 * *": day of month 0 is out of range 1–31"#,
            ),
            (
                "0 0 1 13 *",
                r#""0 0 1 13 *": month 13 is out of range 1–12"#,
            ),
            (
                "0 0 * * 99999999999",
                r#""0 0 * * 99999999999": day of week 99999999999 is out of range 0–7 (0 and 7 are Sunday)"#,
            ),
            (
                "0 7 * * MON-SUN",
                r#""0 7 * * MON-SUN": day of week range "MON-SUN" runs backwards; ranges do not wrap around, so split it into a list (e.g. 5-6,0)"#,
            ),
            (
                "0 7 * * MONDAY",
                r#""0 7 * * MONDAY": day of week "MONDAY" is not a name this field knows; expected a number 0–7 or one of SUN MON TUE WED THU FRI SAT"#,
            ),
            (
                "0 7 * JANUARY *",
                r#""0 7 * JANUARY *": month "JANUARY" is not a name this field knows; expected a number 1–12 or one of JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC"#,
            ),
            (
                "0 seven * * *",
                r#""0 seven * * *": hour "seven" is not a number; the hour field takes numbers 0–23"#,
            ),
            (
                "*/0 * * * *",
                r#""*/0 * * * *": minute step in "*/0" must be a whole number of at least 1"#,
            ),
            (
                "1,,2 * * * *",
                r#""1,,2 * * * *": minute has an empty list item"#,
            ),
            (
                "0 7 ? * *",
                r#""0 7 ? * *": day of month "?" cannot be read; expected *, a number, a range like 1-5, a list like 1,15 or a step like */15"#,
            ),
            (
                "0 7 L * *",
                r#""0 7 L * *": day of month "L" is not a number; the day of month field takes numbers 1–31"#,
            ),
            (
                "@reboot",
                r#""@reboot": unknown shorthand; expected @hourly, @daily, @weekly, @monthly or @yearly"#,
            ),
            (
                "0 0 30 2 *",
                r#""0 0 30 2 *": never fires: none of the selected months has any of the selected days"#,
            ),
        ];
        for (expr, expected) in cases {
            let err = WallSchedule::parse(expr).unwrap_err();
            assert_eq!(err.to_string(), expected, "{expr}");
        }
    }
}
