//! A message's fields (`:TAG:value` plus continuation lines) and the value types they share:
//! dates, amounts with a decimal comma, balances.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::split::tag_of;
use crate::model::Currency;

/// One field of a message: its tag without colons (`61`, `60F`, `93B`), the line it starts on
/// and its value (continuation lines joined with `\n`, trailing blank lines dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field<'a> {
    pub tag: &'a str,
    pub line: u32,
    pub value: &'a str,
}

/// Cuts a message's text into fields. A line that looks like a field but names a tag that
/// `known` rejects, right after a free-text field (`is_free_text`), is a continuation line: a
/// bank wrapped `…T13` / `:12:11` at the line end. Non-empty lines before the first field are
/// returned apart.
pub(super) fn split_fields<'a>(
    text: &'a str,
    first_line: u32,
    known: impl Fn(&str) -> bool,
    is_free_text: impl Fn(&str) -> bool,
) -> (Vec<Field<'a>>, Option<u32>) {
    let mut fields: Vec<Field<'a>> = Vec::new();
    // (tag, line, value start offset, value end offset)
    let mut open: Option<(&'a str, u32, usize, usize)> = None;
    let mut stray = None;
    let mut offset = 0;
    for (i, line) in text.split('\n').enumerate() {
        let n = first_line + i as u32;
        let start = offset;
        offset += line.len() + 1;
        let lead = line.len() - line.trim_ascii_start().len();
        let tagged = tag_of(&line.as_bytes()[lead..]).and_then(|(tag, v)| {
            let tag = std::str::from_utf8(tag).ok()?;
            let continues = open.is_some_and(|(prev, ..)| is_free_text(prev)) && !known(tag);
            (!continues).then_some((tag, start + lead + v))
        });
        match tagged {
            Some((tag, value_start)) => {
                if let Some((t, l, s, e)) = open.take() {
                    fields.push(field(text, t, l, s, e));
                }
                open = Some((tag, n, value_start, start + line.len()));
            }
            None => match &mut open {
                Some((.., e)) => *e = start + line.len(),
                None if !line.trim().is_empty() => {
                    stray.get_or_insert(n);
                }
                None => {}
            },
        }
    }
    if let Some((t, l, s, e)) = open {
        fields.push(field(text, t, l, s, e));
    }
    (fields, stray)
}

fn field<'a>(text: &'a str, tag: &'a str, line: u32, start: usize, end: usize) -> Field<'a> {
    let value = text.get(start..end.max(start)).unwrap_or("");
    Field {
        tag,
        line,
        value: value.trim_end(),
    }
}

/// Quotes a found value for an error message, shortened to something readable.
pub(super) fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    let s = s.split('\n').next().unwrap_or("");
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{:?}…", cut)
    } else {
        format!("{s:?}")
    }
}

/// Two-digit years: 80–99 are 1980–1999, 00–79 are 2000–2079.
fn century(yy: i32) -> i32 {
    if yy >= 80 { 1900 + yy } else { 2000 + yy }
}

fn digits(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// What to quote when a date is not valid: its run of digits when shorter than `len`, else
/// `len` characters.
pub(super) fn date_token(s: &str, len: usize) -> &str {
    let digits = s.bytes().take(len).take_while(u8::is_ascii_digit).count();
    let end = if digits > 0 && digits < len {
        digits
    } else {
        s.char_indices().nth(len).map_or(s.len(), |(i, _)| i)
    };
    &s[..end]
}

/// `YYMMDD`.
pub(super) fn date6(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.is_ascii() {
        return None;
    }
    let yy = digits(&s[..2])? as i32;
    NaiveDate::from_ymd_opt(century(yy), digits(&s[2..4])?, digits(&s[4..6])?)
}

/// `YYYYMMDD`.
pub(super) fn date8(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.is_ascii() {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(&s[..4])? as i32,
        digits(&s[4..6])?,
        digits(&s[6..8])?,
    )
}

/// A SWIFT amount: digits with a decimal comma (`1234,56`, `,5`, `1234,`). A dot is accepted
/// in place of the comma (Rabobank's pre-SEPA export writes `300.00`), and digits without
/// any mark are whole units (`500`: the standard wants the comma, some banks leave it out of
/// round amounts); a second mark, signs, spaces or more than 28 digits are refused.
pub(super) fn amount(s: &str) -> Result<Decimal, String> {
    let bad = || {
        format!(
            "expected an amount with a decimal comma such as 1234,56, found {}",
            quoted(s)
        )
    };
    let b = s.as_bytes();
    let mark = b
        .iter()
        .position(|&c| c == b',')
        .or_else(|| b.iter().position(|&c| c == b'.'))
        .unwrap_or(b.len());
    if b.is_empty() {
        return Err(bad());
    }
    let (int, frac) = (&b[..mark], b.get(mark + 1..).unwrap_or_default());
    if !int.iter().all(u8::is_ascii_digit)
        || !frac.iter().all(u8::is_ascii_digit)
        || (int.is_empty() && frac.is_empty())
    {
        return Err(bad());
    }
    let int = &int[int.iter().position(|&c| c != b'0').unwrap_or(int.len())..];
    if int.len() + frac.len() > 28 {
        return Err(format!("amount {} has more than 28 digits", quoted(s)));
    }
    let mut m: i128 = 0;
    for &c in int.iter().chain(frac) {
        m = m * 10 + i128::from(c - b'0');
    }
    let d = Decimal::try_from_i128_with_scale(m, frac.len() as u32).map_err(|_| bad())?;
    crate::model::checked_magnitude(d).map_err(|m| format!("amount {}: {m}", quoted(s)))
}

/// The end of the digits-and-decimal-mark run that starts an amount.
pub(super) fn amount_len(s: &str) -> usize {
    s.bytes()
        .position(|c| !(c.is_ascii_digit() || c == b',' || c == b'.'))
        .unwrap_or(s.len())
}

/// A three-letter currency code at the start of `s`.
pub(super) fn currency(s: &str) -> Option<Currency> {
    let c = s.get(..3)?;
    if c.bytes().all(|b| b.is_ascii_uppercase()) {
        c.parse().ok()
    } else {
        None
    }
}

/// A balance field (`:60F:`, `:62M:`, `:64:`, `:65:`): `C` or `D`, date `YYMMDD`, currency,
/// amount. Returns the signed amount (debit balances negative).
pub(super) fn balance(v: &str) -> Result<(Decimal, NaiveDate, Currency), String> {
    let v = v.trim();
    let sign = match v.as_bytes().first() {
        Some(b'C') => Decimal::ONE,
        Some(b'D') => Decimal::NEGATIVE_ONE,
        _ => {
            return Err(format!(
                "expected C or D (credit or debit balance), found {}",
                quoted(v)
            ));
        }
    };
    let date = v.get(1..7).and_then(date6).ok_or_else(|| {
        format!(
            "expected a date YYMMDD, found {}",
            quoted(date_token(&v[1..], 6))
        )
    })?;
    let rest = &v[7..];
    let ccy = currency(rest).ok_or_else(|| {
        format!(
            "expected a currency code such as EUR, found {}",
            quoted(rest.get(..3).unwrap_or(rest))
        )
    })?;
    let a = amount(&rest[3..])?;
    Ok((sign * a, date, ccy))
}

/// A qualified field of the securities messages: `:QUAL//value` or `:QUAL/ISSR/value`.
/// Returns the qualifier and the value after the data source scheme.
pub(super) fn qualified(v: &str) -> Option<(&str, &str)> {
    let v = v.strip_prefix(':')?;
    let (qual, rest) = v.split_at_checked(4)?;
    let rest = rest.strip_prefix('/')?;
    // `//value` or `/ISSR/value`
    let value = match rest.strip_prefix('/') {
        Some(v) => v,
        None => rest.split_once('/')?.1,
    };
    Some((qual, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_with_comma_dot_and_edge_forms() {
        for (s, want) in [
            ("1234,56", "1234.56"),
            (",5", "0.5"),
            ("1234,", "1234"),
            ("0,", "0"),
            ("000000000147,64", "147.64"),
            ("300.00", "300.00"),
            ("1560395.", "1560395"),
            // No decimal mark: whole units.
            ("500", "500"),
            ("0000500", "500"),
        ] {
            assert_eq!(amount(s).unwrap(), want.parse::<Decimal>().unwrap(), "{s}");
        }
        for s in [
            "", ",", "1,2,3", "1,2.3", "-5,00", "1 000,00", "12a,00", "5 00",
        ] {
            assert!(amount(s).is_err(), "{s:?} should be refused");
        }
        assert!(amount("12345678901234567890123456789,0").is_err());
        // Fits Decimal, but not what clerk computes with.
        let e = amount("1000000000000000000,00").unwrap_err();
        assert!(e.contains("at most 18 digits"), "{e}");
        assert!(amount("999999999999999999,99").is_ok());
    }

    #[test]
    fn two_digit_years_pivot_at_80() {
        assert_eq!(date6("980623"), NaiveDate::from_ymd_opt(1998, 6, 23));
        assert_eq!(date6("250101"), NaiveDate::from_ymd_opt(2025, 1, 1));
        assert_eq!(date6("160230"), None);
        assert_eq!(date6("2513"), None);
    }

    #[test]
    fn balances_are_signed() {
        let (a, d, c) = balance("D140829EUR000000000147,64").unwrap();
        assert_eq!(a, "-147.64".parse::<Decimal>().unwrap());
        assert_eq!(d, NaiveDate::from_ymd_opt(2014, 8, 29).unwrap());
        assert_eq!(c.as_str(), "EUR");
        assert!(
            balance("X140829EUR1,")
                .unwrap_err()
                .contains("expected C or D")
        );
        assert!(
            balance("C141387INR1,")
                .unwrap_err()
                .contains("expected a date YYMMDD")
        );
        assert!(balance("C140829EU11,").unwrap_err().contains("currency"));
    }

    #[test]
    fn fields_with_continuations_and_wrapped_tags() {
        let text = ":20:REF\n:86:?602017-01-01T13\n:12:11\n\n:62F:C1\n";
        let (f, stray) = split_fields(text, 5, |t| t != "12", |t| t == "86");
        assert_eq!(stray, None);
        let got: Vec<_> = f.iter().map(|f| (f.tag, f.line, f.value)).collect();
        assert_eq!(
            got,
            [
                ("20", 5, "REF"),
                ("86", 6, "?602017-01-01T13\n:12:11"),
                ("62F", 9, "C1")
            ]
        );
    }

    #[test]
    fn qualifiers() {
        assert_eq!(qualified(":SAFE//ABC"), Some(("SAFE", "ABC")));
        assert_eq!(qualified(":BDEV/T2S/IDVP"), Some(("BDEV", "IDVP")));
        assert_eq!(qualified("SAFE//ABC"), None);
    }
}
