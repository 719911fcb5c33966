//! Dates: configured strftime formats tried in order (with a hand-written path for ISO
//! `%Y-%m-%d`, the common case), and spreadsheet serial numbers in the 1900 and 1904 epochs.

use std::fmt::Write as _;

use calamine::{ExcelDateTime, ExcelDateTimeType};
use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDate, NaiveDateTime};

const ISO: &str = "%Y-%m-%d";

/// The date formats of a job, checked.
#[derive(Debug, Clone)]
pub(crate) struct DateFormats {
    formats: Vec<String>,
    /// "expected a date in the format %Y-%m-%d (e.g. 2025-12-31)": the start of every error.
    expected: String,
}

impl Default for DateFormats {
    fn default() -> Self {
        // The ISO format always checks.
        DateFormats::new(&[]).unwrap_or_else(|_| DateFormats {
            formats: vec![ISO.to_owned()],
            expected: String::new(),
        })
    }
}

impl DateFormats {
    /// Checks the formats; an error names the index of the bad one. Empty means ISO only.
    pub(crate) fn new(formats: &[String]) -> Result<Self, (usize, String)> {
        let formats: Vec<String> = if formats.is_empty() {
            vec![ISO.to_owned()]
        } else {
            formats.to_vec()
        };
        // A date whose day, month and year are all different, with a time of day, so a
        // format that drops or confuses a field cannot round-trip it.
        let probe = NaiveDate::from_ymd_opt(2025, 12, 31)
            .and_then(|d| d.and_hms_opt(13, 45, 56))
            .unwrap_or_default();
        let mut examples = Vec::with_capacity(formats.len());
        for (i, f) in formats.iter().enumerate() {
            if f.trim().is_empty() {
                return Err((i, "is empty".into()));
            }
            if StrftimeItems::new(f).any(|it| matches!(it, Item::Error)) {
                return Err((i, format!("{f:?} is not a valid strftime format")));
            }
            let mut shown = String::new();
            if write!(shown, "{}", probe.format(f)).is_err() {
                return Err((i, format!("{f:?} cannot format a date")));
            }
            if NaiveDate::parse_from_str(&shown, f).ok() != Some(probe.date()) {
                return Err((
                    i,
                    format!("{f:?} must give the day, the month and the year (e.g. \"%d.%m.%Y\")"),
                ));
            }
            examples.push(format!("{f} (e.g. {shown})"));
        }
        let expected = if examples.len() == 1 {
            format!("expected a date in the format {}", examples[0])
        } else {
            format!(
                "expected a date in one of the formats {}",
                examples.join(", ")
            )
        };
        Ok(DateFormats { formats, expected })
    }

    /// Parses a date written as text. `Ok(None)` for an empty (or blank) field.
    pub(crate) fn parse(&self, text: &str) -> Result<Option<NaiveDate>, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        for f in &self.formats {
            if f == ISO
                && let Some(d) = parse_iso(t.as_bytes())
            {
                return Ok(Some(d));
            }
            if let Ok(d) = NaiveDate::parse_from_str(t, f) {
                return Ok(Some(d));
            }
        }
        Err(format!("{}, found {:?}", self.expected, text))
    }
}

/// `YYYY-MM-DD` exactly, by hand: the common case, without chrono's format interpreter.
pub(crate) fn parse_iso(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let y = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(y, num(5..7)?, num(8..10)?)
}

/// The date of an ISO 8601 date or date-time as ODS stores it (`2021-01-01T10:10:10`).
pub(crate) fn parse_iso_datetime(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    parse_iso(t.as_bytes().get(..10)?)
        .filter(|_| t.len() == 10 || matches!(t.as_bytes().get(10), Some(b'T' | b't' | b' ')))
}

/// Largest serial Excel shows as a date: 9999-12-31.
const MAX_SERIAL: f64 = 2_958_465.0;

/// A spreadsheet serial date number (days since the workbook's epoch, time of day as the
/// fraction) as a date. `None` for numbers that are no plausible date.
pub(crate) fn from_serial(serial: f64, is_1904: bool) -> Option<NaiveDate> {
    if !serial.is_finite() || !(1.0..=MAX_SERIAL).contains(&serial) {
        return None;
    }
    from_excel(ExcelDateTime::new(
        serial,
        ExcelDateTimeType::DateTime,
        is_1904,
    ))
}

/// The date of a spreadsheet date cell (which knows its own epoch).
pub(crate) fn from_excel(dt: ExcelDateTime) -> Option<NaiveDate> {
    // Out-of-range serials would overflow chrono inside calamine.
    let v = dt.as_f64();
    if dt.is_duration() || !v.is_finite() || !(0.0..=MAX_SERIAL).contains(&v) {
        return None;
    }
    dt.as_datetime().as_ref().map(NaiveDateTime::date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn formats(f: &[&str]) -> DateFormats {
        let v: Vec<String> = f.iter().map(|s| (*s).to_owned()).collect();
        DateFormats::new(&v).unwrap()
    }

    #[test]
    fn formats_are_tried_in_order() {
        let cases: &[(&[&str], &str, Option<NaiveDate>)] = &[
            (&[], "2025-01-31", Some(ymd(2025, 1, 31))),
            (&[], " 2025-01-31 ", Some(ymd(2025, 1, 31))),
            (&[], "", None),
            (&[], "  ", None),
            (&["%Y-%m-%d"], "2024-02-29", Some(ymd(2024, 2, 29))),
            (&["%d.%m.%Y"], "31.01.2025", Some(ymd(2025, 1, 31))),
            (
                &["%d.%m.%Y", "%Y-%m-%d"],
                "2025-01-31",
                Some(ymd(2025, 1, 31)),
            ),
            (&["%d.%m.%Y", "%Y-%m-%d"], "1.2.2025", Some(ymd(2025, 2, 1))),
            (&["%m/%d/%Y"], "12/31/2025", Some(ymd(2025, 12, 31))),
            (
                &["%d/%m/%Y", "%m/%d/%Y"],
                "12/31/2025",
                Some(ymd(2025, 12, 31)),
            ),
            (
                &["%d/%m/%Y", "%m/%d/%Y"],
                "01/02/2025",
                Some(ymd(2025, 2, 1)),
            ),
            (&["%d.%m.%y"], "31.12.25", Some(ymd(2025, 12, 31))),
            (&["%Y%m%d"], "20250131", Some(ymd(2025, 1, 31))),
            (&["%d-%b-%Y"], "05-Mar-2025", Some(ymd(2025, 3, 5))),
            (
                &["%Y-%m-%d %H:%M:%S"],
                "2025-03-05 10:11:12",
                Some(ymd(2025, 3, 5)),
            ),
        ];
        for (f, text, want) in cases {
            assert_eq!(formats(f).parse(text).unwrap(), *want, "{f:?} {text:?}");
        }
    }

    #[test]
    fn errors_name_the_formats_expected() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "31.01.2025"),
            (&[], "2025-02-30"),
            (&[], "2025-13-01"),
            (&[], "2025-1-1x"),
            (&["%d.%m.%Y"], "2025-01-31"),
            (&["%d.%m.%Y", "%Y-%m-%d"], "31/01/2025"),
        ];
        for (f, text) in cases {
            let e = formats(f).parse(text).unwrap_err();
            assert!(e.starts_with("expected a date in"), "{e}");
            assert!(e.ends_with(&format!("found {text:?}")), "{e}");
            for fmt in f.iter() {
                assert!(e.contains(fmt), "{e} names {fmt}");
            }
        }
        let e = formats(&["%d.%m.%Y", "%Y-%m-%d"]).parse("x").unwrap_err();
        assert_eq!(
            e,
            "expected a date in one of the formats %d.%m.%Y (e.g. 31.12.2025), \
             %Y-%m-%d (e.g. 2025-12-31), found \"x\""
        );
    }

    #[test]
    fn bad_formats_are_refused_with_their_index() {
        let v = |f: &[&str]| -> Vec<String> { f.iter().map(|s| (*s).to_owned()).collect() };
        assert_eq!(
            DateFormats::new(&v(&["%Y-%m-%d", "%d.%m"])).unwrap_err().0,
            1
        );
        assert_eq!(DateFormats::new(&v(&["%Q"])).unwrap_err().0, 0);
        assert_eq!(DateFormats::new(&v(&[""])).unwrap_err().0, 0);
        assert_eq!(DateFormats::new(&v(&["%m/%Y"])).unwrap_err().0, 0);
        assert_eq!(DateFormats::new(&v(&["%H:%M"])).unwrap_err().0, 0);
    }

    #[test]
    fn iso_fast_path_is_strict_and_agrees_with_chrono() {
        for s in ["2025-01-31", "1999-12-31", "2024-02-29", "0001-01-01"] {
            assert_eq!(
                parse_iso(s.as_bytes()),
                NaiveDate::parse_from_str(s, ISO).ok(),
                "{s}"
            );
        }
        for s in [
            "2025-02-29",
            "2025-00-10",
            "2025-01-32",
            "2025/01/31",
            "25-01-31",
            "2025-01-3 ",
            "+025-01-31",
        ] {
            assert_eq!(parse_iso(s.as_bytes()), None, "{s}");
        }
        assert_eq!(
            parse_iso_datetime("2021-01-01T10:10:10"),
            Some(ymd(2021, 1, 1))
        );
        assert_eq!(parse_iso_datetime("2021-01-01"), Some(ymd(2021, 1, 1)));
        assert_eq!(parse_iso_datetime("2021-01-0123"), None);
        assert_eq!(parse_iso_datetime("10:10:10"), None);
    }

    #[test]
    fn serial_numbers_in_both_epochs() {
        let cases: &[(f64, bool, Option<NaiveDate>)] = &[
            (44197.0, false, Some(ymd(2021, 1, 1))),
            (44197.75, false, Some(ymd(2021, 1, 1))),
            (45658.0, false, Some(ymd(2025, 1, 1))),
            (61.0, false, Some(ymd(1900, 3, 1))),
            (1.0, false, Some(ymd(1900, 1, 1))),
            (42735.0, true, Some(ymd(2021, 1, 1))),
            (0.0, true, None),
            (0.5, false, None),
            (-3.0, false, None),
            (3e9, false, None),
            (f64::NAN, false, None),
        ];
        for (serial, is_1904, want) in cases {
            assert_eq!(
                from_serial(*serial, *is_1904),
                *want,
                "{serial} 1904={is_1904}"
            );
        }
        let dur = ExcelDateTime::new(10.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(from_excel(dur), None);
        for v in [-1e300, 1e300, f64::NAN, -1.0] {
            let dt = ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false);
            assert_eq!(from_excel(dt), None, "{v}");
        }
    }
}
