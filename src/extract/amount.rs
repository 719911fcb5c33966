//! clerk's own amount parser: text as people and banks write it, into an exact `Decimal`.
//!
//! Never through `f64`, and never `Decimal::from_str` on raw text (it refuses `1,234.56` and
//! knows nothing of `(1.00)` or `1.00-`). Ambiguous text is an error, not a guess: a separator
//! the job did not configure, two decimal marks, or digit groups that are not of three.

use std::fmt::Write as _;

use rust_decimal::{Decimal, RoundingStrategy};

use super::{ExtractError, MAX_PROBLEMS, Problem};
use crate::model::statement::{Balance, BankStatement};
use crate::model::{check_minor_unit, checked_magnitude};

/// Most digits read into the `i128` mantissa; `Decimal` itself then refuses anything beyond
/// its 96-bit mantissa or 28 decimal places.
const MAX_DIGITS: u32 = 30;

/// How a job writes amounts as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AmountStyle {
    decimal: char,
    /// `None`: digit grouping is refused.
    thousands: Option<char>,
}

impl Default for AmountStyle {
    fn default() -> Self {
        AmountStyle::new('.', None)
    }
}

impl AmountStyle {
    pub(crate) fn new(decimal: char, thousands: Option<char>) -> Self {
        AmountStyle { decimal, thousands }
    }

    fn is_thousands(&self, c: char) -> bool {
        match self.thousands {
            None => false,
            // A space-grouped file may use any of the spaces a spreadsheet puts there.
            Some(' ' | '\u{a0}' | '\u{202f}') => matches!(c, ' ' | '\u{a0}' | '\u{202f}'),
            Some('\'' | '’') => matches!(c, '\'' | '’'),
            Some(t) => c == t,
        }
    }

    /// "expected an amount such as 1234.56 or (1,234.56)", in this job's separators.
    fn expected(&self) -> String {
        let d = self.decimal;
        match self.thousands {
            Some(t) => format!("expected an amount such as 1234{d}56 or (1{t}234{d}56)"),
            None => format!("expected an amount such as -1234{d}56 or (1234{d}56)"),
        }
    }

    /// Parses an amount written as text. `Ok(None)` for an empty (or blank) field.
    pub(crate) fn parse(&self, text: &str) -> Result<Option<Decimal>, String> {
        let read = match self.fast(text.as_bytes()) {
            Some(d) => Some(d),
            None => self.general(text).map_err(|why| {
                let mut m = format!("{}, found {:?}", self.expected(), text);
                if !why.is_empty() {
                    let _ = write!(m, " ({why})");
                }
                m
            })?,
        };
        read.map(checked_magnitude).transpose()
    }

    /// The common case, `-1234.56`: optional minus, digits, at most one decimal mark.
    /// `None` sends the text to the general path (which also produces the error message).
    fn fast(&self, b: &[u8]) -> Option<Decimal> {
        let (neg, digits) = match b.first()? {
            b'-' => (true, &b[1..]),
            _ => (false, b),
        };
        if digits.is_empty() || digits.len() > MAX_DIGITS as usize + 1 {
            return None;
        }
        let mark = self.decimal as u8; // '.' or ',', checked by the spec
        let mut mantissa: i128 = 0;
        let mut scale: Option<u32> = None;
        for &c in digits {
            match c {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10 + i128::from(c - b'0');
                    if let Some(s) = scale.as_mut() {
                        *s += 1;
                    }
                }
                _ if c == mark && scale.is_none() => scale = Some(0),
                _ => return None,
            }
        }
        // "1." and "." go the long way (and "." is refused there).
        let scale = match scale {
            Some(0) => return None,
            s => s.unwrap_or(0),
        };
        let m = if neg { -mantissa } else { mantissa };
        Decimal::try_from_i128_with_scale(m, scale).ok()
    }

    /// Everything else: signs in all their forms, currency marks, digit groups.
    /// The error is the reason, or "" when the expected form says it all.
    fn general(&self, text: &str) -> Result<Option<Decimal>, String> {
        let mut s = strip_affixes(text);
        if s.is_empty() {
            return Ok(None);
        }
        let mut signs = 0;
        let mut neg = false;
        loop {
            if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
                neg = true;
                s = inner;
            } else if let Some((rest, minus)) =
                strip_sign_prefix(s).or_else(|| strip_sign_suffix(s))
            {
                neg |= minus;
                s = rest;
            } else {
                break;
            }
            signs += 1;
            s = strip_affixes(s);
        }
        if signs > 1 {
            return Err("more than one sign".into());
        }
        if s.is_empty() {
            return Err("no digits".into());
        }
        let (mantissa, scale) = self.digits(s)?;
        let m = if neg { -mantissa } else { mantissa };
        Decimal::try_from_i128_with_scale(m, scale)
            .map(Some)
            .map_err(|_| "too many digits".into())
    }

    /// The number part: digits, at most one decimal mark, digit groups of three.
    fn digits(&self, s: &str) -> Result<(i128, u32), String> {
        let mut mantissa: i128 = 0;
        let mut n_digits = 0u32;
        let mut scale: Option<u32> = None;
        let mut grouped = false;
        // Digits since the start or the last group separator.
        let mut group = 0u32;
        for c in s.chars() {
            if let Some(v) = c.to_digit(10).filter(|_| c.is_ascii_digit()) {
                n_digits += 1;
                if n_digits > MAX_DIGITS {
                    return Err("too many digits".into());
                }
                mantissa = mantissa * 10 + i128::from(v);
                if let Some(sc) = scale.as_mut() {
                    *sc += 1;
                }
                group += 1;
            } else if c == self.decimal {
                if scale.is_some() {
                    return Err("two decimal marks".into());
                }
                if grouped && group != 3 {
                    return Err("digit groups must be of three".into());
                }
                scale = Some(0);
            } else if self.is_thousands(c) {
                if scale.is_some() {
                    return Err(format!("{c:?} after the decimal mark"));
                }
                if group == 0 || (grouped && group != 3) || group > 3 {
                    return Err("digit groups must be of three".into());
                }
                grouped = true;
                group = 0;
            } else if matches!(c, '.' | ',' | '\'' | ' ' | '\u{a0}' | '\u{202f}' | '’') {
                return Err(match self.thousands {
                    None => format!(
                        "{c:?} is not the decimal separator {:?}, and no thousands_separator is set",
                        self.decimal
                    ),
                    Some(t) => format!(
                        "{c:?} is neither the decimal separator {:?} nor the thousands separator {t:?}",
                        self.decimal
                    ),
                });
            } else {
                return Err(String::new());
            }
        }
        if n_digits == 0 {
            return Err("no digits".into());
        }
        if grouped && scale.is_none() && group != 3 {
            return Err("digit groups must be of three".into());
        }
        Ok((mantissa, scale.unwrap_or(0)))
    }
}

fn strip_sign_prefix(s: &str) -> Option<(&str, bool)> {
    if let Some(r) = s.strip_prefix('-').or_else(|| s.strip_prefix('−')) {
        Some((r, true))
    } else {
        s.strip_prefix('+').map(|r| (r, false))
    }
}

fn strip_sign_suffix(s: &str) -> Option<(&str, bool)> {
    if let Some(r) = s.strip_suffix('-').or_else(|| s.strip_suffix('−')) {
        Some((r, true))
    } else {
        s.strip_suffix('+').map(|r| (r, false))
    }
}

/// Currency symbols clerk ignores around an amount (the currency comes from its own column).
const SYMBOLS: &[char] = &[
    '€', '$', '£', '¥', '₹', '₽', '₺', '₩', '₪', '₫', '₴', '₦', '₱', '฿', '¢', '₣', '₡', '₲',
];

/// Removes spaces, currency symbols and three-letter currency codes from both ends.
fn strip_affixes(mut s: &str) -> &str {
    loop {
        let before = s.len();
        s = s.trim();
        s = s.trim_start_matches(SYMBOLS).trim_end_matches(SYMBOLS);
        let b = s.as_bytes();
        if b.len() > 3 && b[..3].iter().all(u8::is_ascii_alphabetic) && !b[3].is_ascii_alphabetic()
        {
            s = &s[3..];
        }
        let b = s.as_bytes();
        let n = b.len();
        if n > 3
            && b[n - 3..].iter().all(u8::is_ascii_alphabetic)
            && !b[n - 4].is_ascii_alphabetic()
        {
            s = &s[..n - 3];
        }
        if s.len() == before {
            return s;
        }
    }
}

/// A float from a spreadsheet cell, as the amount it shows: through the float's shortest
/// decimal representation (what Excel displays), rounded half away from zero to the
/// currency's minor units. `Decimal::from_f64` would keep the binary noise (2.675 is
/// 2.67499999…), and `round_dp` rounds half to even.
pub(crate) fn from_float(f: f64, minor_units: u32) -> Result<Decimal, String> {
    if !f.is_finite() {
        return Err(format!("expected an amount, found the number {f}"));
    }
    if f.abs() < 1e-12 {
        return Ok(Decimal::ZERO);
    }
    let mut buf = StackStr::default();
    if write!(buf, "{f}").is_err() {
        return Err(format!("the number {f} is too large for an amount"));
    }
    let d = AmountStyle::default()
        .fast(buf.as_bytes())
        .ok_or_else(|| format!("the number {f} is too large for an amount"))?;
    checked_magnitude(d).map(|d| round_half_away(d, minor_units))
}

/// Rounds to `dp` decimal places, half away from zero.
pub(crate) fn round_half_away(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Bank statements (MT940/942/950, camt.052/053/054) by the rule of [`check_minor_unit`]:
/// each line's amount and each balance must be a whole number of its currency's minor unit.
/// SWIFT and ISO 20022 write amounts as text, so the rule is the same as for a CSV file: a
/// statement with `100,005` EUR is refused whole, naming the line and the field or element,
/// never rounded into the books. Zeros beyond the unit (`8.850`) are the same amount and pass.
pub(crate) fn check_statements(
    file: &str,
    statements: &[BankStatement],
) -> Result<(), ExtractError> {
    let mut problems = Vec::new();
    for s in statements {
        problems.extend(balance_problem(s, "opening balance", &s.opening));
        for e in &s.entries {
            if let Err(m) = check_minor_unit(e.amount, e.currency) {
                let at = e.source.locator.as_deref().unwrap_or("statement line");
                problems.push(Problem {
                    sheet: None,
                    row: Some(e.source.row),
                    column: None,
                    message: format!("{at}: {m}"),
                });
            }
        }
        problems.extend(balance_problem(s, "closing balance", &s.closing));
        problems.extend(balance_problem(
            s,
            "closing available balance",
            &s.closing_available,
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.truncate(MAX_PROBLEMS);
    Err(ExtractError::new(file, problems))
}

/// A statement's balance beyond its currency's minor unit. A balance has no line of its own
/// in the model: it is named by its statement's first line and the account.
fn balance_problem(s: &BankStatement, name: &str, b: &Option<Balance>) -> Option<Problem> {
    let b = b.as_ref()?;
    let m = check_minor_unit(b.amount, b.currency).err()?;
    let at = s
        .source
        .locator
        .as_deref()
        .map_or_else(String::new, |l| format!("{l}, "));
    Some(Problem {
        sheet: None,
        row: Some(s.source.row),
        column: None,
        message: format!("{at}{name} of account {}: {m}", s.account),
    })
}

/// A small fixed buffer, so formatting a float allocates nothing.
struct StackStr {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackStr {
    fn default() -> Self {
        StackStr {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackStr {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn plain_and_signed_amounts() {
        let style = AmountStyle::default();
        let cases = [
            ("-1234.56", "-1234.56"),
            ("1234.56", "1234.56"),
            ("0", "0"),
            ("-0.00", "0.00"),
            ("+1.00", "1.00"),
            ("-1.00", "-1.00"),
            ("(1.00)", "-1.00"),
            ("1.00-", "-1.00"),
            ("1.00+", "1.00"),
            ("  42.10  ", "42.10"),
            ("\u{a0}7\u{a0}", "7"),
            ("−3.5", "-3.5"),
            ("€ 1.00", "1.00"),
            ("€1.00", "1.00"),
            ("1.00 EUR", "1.00"),
            ("EUR 1.00", "1.00"),
            ("USD-12.00", "-12.00"),
            ("-€12.00", "-12.00"),
            ("(€ 12.00)", "-12.00"),
            ("$ (12.00)", "-12.00"),
            ("12.00 EUR-", "-12.00"),
            (".50", "0.50"),
            ("5.", "5"),
            ("999999999999999999.99", "999999999999999999.99"),
            (
                "0.1234567890123456789012345678",
                "0.1234567890123456789012345678",
            ),
        ];
        for (text, want) in cases {
            let got = style
                .parse(text)
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(got, Some(dec(want)), "{text:?}");
            assert_eq!(got.unwrap().scale(), dec(want).scale(), "{text:?} scale");
        }
    }

    #[test]
    fn separators_follow_the_job() {
        let cases: &[(char, Option<char>, &str, &str)] = &[
            ('.', Some(','), "1,234.56", "1234.56"),
            ('.', Some(','), "(1,234.56)", "-1234.56"),
            ('.', Some(','), "1,234,567", "1234567"),
            ('.', Some(','), "-12,345,678.9", "-12345678.9"),
            ('.', Some(','), "999.5", "999.5"),
            (',', Some('.'), "1.234,56", "1234.56"),
            (',', Some('.'), "1.234,56-", "-1234.56"),
            (',', None, "1234,56", "1234.56"),
            (',', None, "-0,5", "-0.5"),
            (',', Some(' '), " 1 234,56", "1234.56"),
            (',', Some(' '), "1\u{a0}234,56", "1234.56"),
            (',', Some(' '), "1\u{202f}234\u{202f}567,00 €", "1234567.00"),
            ('.', Some('\''), "1'234.56", "1234.56"),
            ('.', Some('\''), "1’234.56", "1234.56"),
            ('.', Some('\''), "CHF 1'234'567.50", "1234567.50"),
        ];
        for (d, t, text, want) in cases {
            let style = AmountStyle::new(*d, *t);
            let got = style
                .parse(text)
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(got, Some(dec(want)), "{text:?} with {d:?}/{t:?}");
        }
    }

    #[test]
    fn ambiguous_or_malformed_text_is_refused() {
        let cases: &[(char, Option<char>, &str, &str)] = &[
            ('.', None, "1,234.56", "no thousands_separator"),
            ('.', None, "12,3x", ""),
            ('.', None, "1.234.56", "two decimal marks"),
            (',', Some('.'), "1.234.567,8,9", "two decimal marks"),
            ('.', Some(','), "1,23.45", "groups"),
            ('.', Some(','), "1234,567.00", "groups"),
            ('.', Some(','), "1,2345", "groups"),
            ('.', Some(','), ",123", "groups"),
            ('.', Some(','), "1,,234", "groups"),
            ('.', Some(','), "1.234,5", "after the decimal mark"),
            (',', Some('.'), "1,234.56", "after the decimal mark"),
            (',', None, "1.5", "not the decimal separator"),
            ('.', None, "--1", "more than one sign"),
            ('.', None, "(-1.00)", "more than one sign"),
            ('.', None, "-1.00-", "more than one sign"),
            ('.', None, "-", "no digits"),
            ('.', None, "EUR", ""),
            ('.', None, "1e5", ""),
            ('.', None, "1 2", "no thousands_separator"),
            (
                '.',
                None,
                "99999999999999999999999999999",
                "too many digits",
            ),
            (
                '.',
                None,
                "1234567890123456789012345678901",
                "too many digits",
            ),
            (
                '.',
                None,
                "0.00000000000000000000000000001",
                "too many digits",
            ),
            ('.', None, "1.00 CR", ""),
            ('.', None, "abc", ""),
        ];
        for (d, t, text, why) in cases {
            let style = AmountStyle::new(*d, *t);
            let e = style
                .parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} was accepted"));
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(e.contains(&format!("found {text:?}")), "{e}");
        }
    }

    #[test]
    fn error_message_shows_the_expected_form() {
        let e = AmountStyle::new('.', Some(',')).parse("12,3x").unwrap_err();
        assert_eq!(
            e,
            "expected an amount such as 1234.56 or (1,234.56), found \"12,3x\""
        );
        let e = AmountStyle::new(',', Some('.')).parse("x").unwrap_err();
        assert!(e.starts_with("expected an amount such as 1234,56 or (1.234,56)"));
    }

    #[test]
    fn amounts_of_more_than_18_integer_digits_are_refused() {
        let style = AmountStyle::new('.', Some(','));
        // Both paths: the plain fast one and the general one (grouping, parentheses).
        for text in [
            "1000000000000000000",
            "-1000000000000000000.00",
            "(1,000,000,000,000,000,000.00)",
        ] {
            let e = style.parse(text).unwrap_err();
            assert!(
                e.contains("is too large") && e.contains("at most 18 digits"),
                "{text}: {e}"
            );
        }
        let most = style.parse("999,999,999,999,999,999.99").unwrap().unwrap();
        assert_eq!(most, dec("999999999999999999.99"));
        assert!(
            from_float(1e18, 2)
                .unwrap_err()
                .contains("at most 18 digits")
        );
        assert!(from_float(9.99e17, 2).is_ok());
    }

    #[test]
    fn empty_is_none_not_zero() {
        let style = AmountStyle::default();
        assert_eq!(style.parse("").unwrap(), None);
        assert_eq!(style.parse("   ").unwrap(), None);
        assert_eq!(style.parse("€").unwrap(), None);
    }

    #[test]
    fn fast_path_agrees_with_general_path() {
        let style = AmountStyle::default();
        for text in ["0", "-0", "7", "-7.5", "123.456", "-99999999.99", "0.001"] {
            let fast = style.fast(text.as_bytes()).unwrap();
            let general = style.general(text).unwrap().unwrap();
            assert_eq!(fast, general, "{text}");
            assert_eq!(fast.scale(), general.scale(), "{text}");
        }
        for text in ["1.", ".", "-", "", "1,0", "1.2.3", "+1"] {
            assert!(style.fast(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn floats_round_half_away_from_zero_through_their_shortest_repr() {
        let cases: &[(f64, u32, &str)] = &[
            (1234.56, 2, "1234.56"),
            (0.125, 2, "0.13"),   // banker's rounding would give 0.12
            (-0.125, 2, "-0.13"), // away from zero on the negative side too
            (2.675, 2, "2.68"),   // the binary value is 2.67499999...; Excel shows 2.675
            (1.005, 2, "1.01"),   // 1.00499999... in binary
            (0.1 + 0.2, 2, "0.30"),
            (100.0, 2, "100"),
            (1234.5, 0, "1235"),
            (1.0005, 3, "1.001"),
            (-7.0, 2, "-7"),
            (1e-20, 2, "0"),
            (123456789012.345, 2, "123456789012.35"),
        ];
        for (f, mu, want) in cases {
            let got = from_float(*f, *mu).unwrap();
            assert_eq!(got, dec(want), "{f} at {mu} places");
        }
        assert!(from_float(f64::NAN, 2).is_err());
        assert!(from_float(f64::INFINITY, 2).is_err());
        assert!(from_float(1e30, 2).is_err());
    }

    fn input(name: &'static str, bytes: &'static [u8]) -> crate::extract::Input<'static> {
        crate::extract::Input {
            name,
            bytes,
            file_hash: "hash".into(),
        }
    }

    fn mt940(line61: &str, closing: &str) -> String {
        format!(
            ":20:REF\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C251230EUR100,\n\
             :61:{line61}\n:86:Invoice 42\n:62F:{closing}\n-\n"
        )
    }

    fn mt940_statements(text: String) -> Vec<BankStatement> {
        let bytes: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        match crate::extract::swift::parse(&input("stmt.sta", bytes), None) {
            Ok(f) => match f.doc {
                crate::extract::swift::MtDocument::Statements(s) => s,
                other => panic!("not statements: {other:?}"),
            },
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_statement_line_or_balance_beyond_its_currencys_minor_unit_is_refused_naming_the_line() {
        // Three euro decimals on a :61: line: refused, naming the line and the field.
        let s = mt940_statements(mt940("251230C100,005NTRFNONREF", "C251231EUR200,005"));
        let e = check_statements("stmt.sta", &s).unwrap_err();
        let lines: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
        assert!(
            lines[0].starts_with(
                "stmt.sta line 5: message 1, :61: #1: EUR has 2 decimals; 100.005 has 3"
            ),
            "{e}"
        );
        assert!(
            lines.iter().any(|l| l.contains(
                "closing balance of account DE89370400440532013000: EUR has 2 decimals; 200.005 has 3"
            )),
            "{e}"
        );
        // Two decimals, or zeros beyond them, pass.
        let s = mt940_statements(mt940("251230C100,00NTRFNONREF", "C251231EUR200,000"));
        check_statements("stmt.sta", &s).unwrap_or_else(|e| panic!("{e}"));

        // camt: an entry's <Amt> is checked the same way; 8.850 (a trailing zero) passes.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/iso20022/genkgo-camt/camt053.v2.five.decimals.xml");
        let xml = std::fs::read_to_string(path).unwrap();
        let read = |xml: String| {
            let bytes: &'static [u8] = Box::leak(xml.into_bytes().into_boxed_slice());
            match crate::extract::iso20022::parse(&input("camt.xml", bytes), None, None) {
                Ok((_, crate::extract::iso20022::IsoDocument::Statements(s))) => s,
                Ok((k, d)) => panic!("{k}: {d:?}"),
                Err(e) => panic!("{e}"),
            }
        };
        check_statements("camt.xml", &read(xml.clone())).unwrap_or_else(|e| panic!("{e}"));
        let bad = xml.replace(">8.850<", ">8.855<");
        assert_ne!(bad, xml);
        let e = check_statements("camt.xml", &read(bad)).unwrap_err();
        assert!(
            e.to_string().contains("EUR has 2 decimals; 8.855 has 3"),
            "{e}"
        );
        assert!(e.problems[0].row.is_some(), "{e}");
    }
}
