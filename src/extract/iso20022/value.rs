//! The small value types of ISO 20022 messages, read strictly from element text: amounts with
//! their currency, credit/debit marks, booleans, dates and date-times. Every failure is a
//! [`Problem`] naming the element's line and locator and saying what was expected and found.

use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::extract::Problem;
use crate::extract::xml::Element;
use crate::model::Currency;
use crate::model::statement::StatementProblem;

/// Most significant digits accepted in one amount or quantity (`Decimal` holds 28).
const MAX_DIGITS: usize = 28;

/// A problem at an element: its line, its locator as the "column", and what is wrong.
pub(super) fn problem(at: &Element, message: impl Into<String>) -> Problem {
    Problem {
        sheet: None,
        row: Some(at.line),
        column: Some(at.locator.clone()),
        message: message.into(),
    }
}

/// Something read one way and noted at an element, without refusing the file.
pub(super) fn noted(at: &Element, message: impl Into<String>) -> StatementProblem {
    StatementProblem {
        line: at.line,
        element: Some(at.locator.clone()),
        message: message.into(),
    }
}

/// The child that the message definition requires.
pub(super) fn required<'a>(parent: &'a Element, name: &str) -> Result<&'a Element, Problem> {
    parent.child(name).ok_or_else(|| {
        problem(
            parent,
            format!("expected <{name}> in <{}>, found none", parent.name),
        )
    })
}

/// Parses an XML Schema `decimal` as ISO 20022 writes amounts and quantities: digits with an
/// optional `.` and fraction (`1234.56`, `8.850`, `200000`, `.5`). A sign is accepted only when
/// `signed` (rates); no exponent, no digit grouping, no comma. Never through `f64`.
pub(super) fn decimal(text: &str, signed: bool) -> Option<Decimal> {
    let t = text.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') if signed => (true, &t[1..]),
        Some(b'+') if signed => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Leading zeros of the integer part and trailing zeros of the fraction do not count
    // against the digit limit (`0000000001.50000`).
    let int = int.trim_start_matches('0');
    let frac_significant = frac.trim_end_matches('0');
    if int.len() + frac_significant.len() > MAX_DIGITS {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in int.bytes().chain(frac_significant.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    let mut d = Decimal::try_from_i128_with_scale(mantissa, frac_significant.len() as u32).ok()?;
    // Keep the scale the bank wrote (`8.850` stays three places), within Decimal's limit.
    if frac.len() > frac_significant.len() && frac.len() <= MAX_DIGITS {
        d.rescale(frac.len() as u32);
    }
    Some(if negative { -d } else { d })
}

/// An amount element such as `<Amt Ccy="EUR">1234.56</Amt>`: the value and its currency.
pub(super) fn money(at: &Element) -> Result<(Decimal, Currency), Problem> {
    let ccy = at.attr("Ccy").ok_or_else(|| {
        problem(
            at,
            format!(
                "expected a currency attribute on <{}> such as Ccy=\"EUR\", found none",
                at.name
            ),
        )
    })?;
    let currency =
        Currency::from_str(ccy).map_err(|m| problem(at, format!("Ccy of <{}>: {m}", at.name)))?;
    let amount = decimal(&at.text, false).ok_or_else(|| {
        problem(
            at,
            format!(
                "expected an amount such as 1234.56 in <{}>, found {:?}",
                at.name,
                at.text.trim()
            ),
        )
    })?;
    Ok((within_magnitude(at, amount)?, currency))
}

/// The number itself when clerk can compute with it (see [`crate::model::MAX_INTEGER_DIGITS`]).
pub(super) fn within_magnitude(at: &Element, d: Decimal) -> Result<Decimal, Problem> {
    crate::model::checked_magnitude(d).map_err(|m| problem(at, format!("<{}>: {m}", at.name)))
}

/// A quantity (`Unit`, `FaceAmt`, `AmtsdVal`): a plain non-negative decimal.
pub(super) fn quantity(at: &Element) -> Result<Decimal, Problem> {
    let q = decimal(&at.text, false).ok_or_else(|| {
        problem(
            at,
            format!(
                "expected a quantity such as 1000 or 35732656.00 in <{}>, found {:?}",
                at.name,
                at.text.trim()
            ),
        )
    })?;
    within_magnitude(at, q)
}

/// `CdtDbtInd`: `true` for a credit (`CRDT`), `false` for a debit (`DBIT`).
pub(super) fn is_credit(at: &Element) -> Result<bool, Problem> {
    match at.text.trim() {
        "CRDT" => Ok(true),
        "DBIT" => Ok(false),
        other => Err(problem(
            at,
            format!("expected CRDT or DBIT, found {other:?}"),
        )),
    }
}

/// An XML Schema boolean (`true`, `false`, `1`, `0`).
pub(super) fn boolean(at: &Element) -> Result<bool, Problem> {
    match at.text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(problem(
            at,
            format!("expected true or false in <{}>, found {other:?}", at.name),
        )),
    }
}

/// `YYYY-MM-DD`, optionally followed by a time zone (`Z`, `+01:00`) as XML Schema allows.
pub(super) fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let (d, rest) = (t.get(..10)?, &t[10..]);
    if !(rest.is_empty() || is_zone(rest)) {
        return None;
    }
    NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
}

/// `YYYY-MM-DDThh:mm:ss[.fraction][zone]`: a date-time as the bank wrote it, in the account's time zone when clerk knows it (the
/// job's, see [`crate::extract::Layout`]): a time written with its zone (`Z`, `+02:00`) is an
/// instant, and `2026-03-31T23:30:00Z` is already 1 April in Berlin, the day the account
/// holder's books and the bank's own day-end count it on. Cutting the time off would book it
/// a day early. A time written without a zone, or any time when clerk knows no zone, is read
/// as written: with an offset that is the bank's own local day.
pub(super) fn parse_local_date_time(text: &str, zone: Option<Tz>) -> Option<NaiveDateTime> {
    let (t, offset) = parse_date_time_with_zone(text)?;
    Some(match (offset, zone) {
        (Some(offset), Some(zone)) => (t - offset).and_utc().with_timezone(&zone).naive_local(),
        _ => t,
    })
}

/// The local time as written and the zone it was written in, if any.
fn parse_date_time_with_zone(text: &str) -> Option<(NaiveDateTime, Option<TimeDelta>)> {
    let t = text.trim();
    let date = NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()?;
    if t.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let time = NaiveTime::parse_from_str(t.get(11..19)?, "%H:%M:%S").ok()?;
    let mut rest = &t[19..];
    // A fraction of a second; some banks separate it with `:` (`11:17:11:735`), which is
    // not XML Schema but unambiguous, and read as such.
    if let Some(f) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(':')) {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &f[n..];
    }
    let offset = match rest {
        "" => None,
        zone => Some(zone_offset(zone)?),
    };
    Some((date.and_time(time), offset))
}

/// `Z` or `±hh:mm` as the time to add to UTC.
fn zone_offset(s: &str) -> Option<TimeDelta> {
    if s == "Z" {
        return Some(TimeDelta::zero());
    }
    if !is_zone(s) {
        return None;
    }
    let b = s.as_bytes();
    let digits = |i: usize| i64::from(b[i] - b'0') * 10 + i64::from(b[i + 1] - b'0');
    let minutes = digits(1) * 60 + digits(4);
    Some(TimeDelta::minutes(if b[0] == b'-' {
        -minutes
    } else {
        minutes
    }))
}

fn is_zone(s: &str) -> bool {
    let b = s.as_bytes();
    s == "Z"
        || (b.len() == 6
            && matches!(b[0], b'+' | b'-')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b[3] == b':'
            && b[4].is_ascii_digit()
            && b[5].is_ascii_digit())
}

/// A `Dt` element's date.
pub(super) fn date(at: &Element) -> Result<NaiveDate, Problem> {
    parse_date(&at.text).ok_or_else(|| {
        problem(
            at,
            format!(
                "expected a date such as 2024-03-31 in <{}>, found {:?}",
                at.name,
                at.text.trim()
            ),
        )
    })
}

/// A `DtTm` (or `CreDtTm`, `FrDtTm`) element's date and time, in the account's time zone
/// when known (see [`parse_local_date_time`]).
pub(super) fn date_time(at: &Element, zone: Option<Tz>) -> Result<NaiveDateTime, Problem> {
    parse_local_date_time(&at.text, zone).ok_or_else(|| {
        problem(
            at,
            format!(
                "expected a date and time such as 2024-03-31T18:30:00+01:00 in <{}>, found {:?}",
                at.name,
                at.text.trim()
            ),
        )
    })
}

/// A date-or-date-time choice (`BookgDt`, `ValDt`, `Bal/Dt`, `StmtDtTm`): its `Dt`, or the
/// day of its `DtTm` in the account's time zone when known (see [`parse_local_date_time`]).
pub(super) fn date_choice(at: &Element, zone: Option<Tz>) -> Result<NaiveDate, Problem> {
    if let Some(d) = at.child("Dt") {
        return date(d);
    }
    if let Some(dt) = at.child("DtTm") {
        return date_time(dt, zone).map(|t| t.date());
    }
    Err(problem(
        at,
        format!("expected <Dt> or <DtTm> in <{}>, found neither", at.name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_digit_and_refuse_what_iso_20022_does_not_write() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("1234.56", false, Some("1234.56")),
            ("8.850", false, Some("8.850")),
            ("5442.09000", false, Some("5442.09000")),
            ("200000", false, Some("200000")),
            (" 0 ", false, Some("0")),
            (".5", false, Some("0.5")),
            ("7.", false, Some("7")),
            ("0000000001.50", false, Some("1.50")),
            ("0.9253030601", false, Some("0.9253030601")),
            ("-1.5", true, Some("-1.5")),
            ("-1.5", false, None),
            ("1,50", false, None),
            ("1 000", false, None),
            ("1e3", false, None),
            ("", false, None),
            (".", false, None),
            ("1.2.3", false, None),
            ("12345678901234567890123456789", false, None),
        ];
        for (text, signed, want) in cases {
            let got = decimal(text, *signed).map(|d| d.to_string());
            assert_eq!(got.as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn dates_and_times_are_read_as_written() {
        assert_eq!(
            parse_date("2014-12-31"),
            NaiveDate::from_ymd_opt(2014, 12, 31)
        );
        assert_eq!(
            parse_date("2014-12-31+01:00"),
            NaiveDate::from_ymd_opt(2014, 12, 31)
        );
        assert_eq!(parse_date("2014-12-31T10:00:00"), None);
        assert_eq!(parse_date("31.12.2014"), None);
        let t = |s| parse_local_date_time(s, None).map(|d| d.to_string());
        assert_eq!(
            t("2007-10-18T13:15:00+01:00").as_deref(),
            Some("2007-10-18 13:15:00")
        );
        assert_eq!(
            t("2025-07-24T06:10:29.000000000").as_deref(),
            Some("2025-07-24 06:10:29")
        );
        assert_eq!(
            t("2013-12-27T22:04:52.0+01:00").as_deref(),
            Some("2013-12-27 22:04:52")
        );
        assert_eq!(
            t("2015-03-10T18:43:50Z").as_deref(),
            Some("2015-03-10 18:43:50")
        );
        assert_eq!(
            t("2019-08-09T11:17:11:735").as_deref(),
            Some("2019-08-09 11:17:11")
        );
        assert_eq!(t("2015-03-10 18:43:50"), None);
        assert_eq!(t("2015-03-10T18:43"), None);
        assert_eq!(t("2015-03-10T18:43:50+1"), None);
    }

    #[test]
    fn date_times_with_a_zone_fall_on_the_accounts_day() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        let t = |s, zone| parse_local_date_time(s, zone).map(|d| d.to_string());
        // Half past eleven at night UTC is half past one the next morning in Berlin (summer).
        assert_eq!(
            t("2026-03-31T23:30:00Z", Some(berlin)).as_deref(),
            Some("2026-04-01 01:30:00")
        );
        assert_eq!(
            t("2026-03-31T23:30:00+00:00", Some(berlin)).as_deref(),
            Some("2026-04-01 01:30:00")
        );
        // An offset is an instant too: 20:30 in New York is the next day in Berlin.
        assert_eq!(
            t("2026-03-31T20:30:00-04:00", Some(berlin)).as_deref(),
            Some("2026-04-01 02:30:00")
        );
        assert_eq!(
            t("2026-04-01T00:30:00.5+02:00", Some(new_york)).as_deref(),
            Some("2026-03-31 18:30:00")
        );
        // Without a zone in the value, or without the account's, the time as written.
        assert_eq!(
            t("2026-03-31T23:30:00", Some(berlin)).as_deref(),
            Some("2026-03-31 23:30:00")
        );
        assert_eq!(
            t("2026-03-31T23:30:00Z", None).as_deref(),
            Some("2026-03-31 23:30:00")
        );
        assert_eq!(t("2026-03-31T23:30:00+2:00", Some(berlin)), None);
    }
}
