//! Check digits of the identifiers back offices live by. A wrong one is a typo or a corrupted
//! file: clerk reports it as a break, it does not guess.

/// Whether `iban` (spaces allowed) has a valid ISO 13616 check (mod 97 = 1).
pub fn iban_is_valid(iban: &str) -> bool {
    let s: Vec<u8> = iban
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&s.len())
        || !s[..2].iter().all(u8::is_ascii_uppercase)
        || !s[2..4].iter().all(u8::is_ascii_digit)
        || !s.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    // Move the first four characters to the end, letters to 10..35, then mod 97 piecewise.
    let mut rem: u32 = 0;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = if b.is_ascii_digit() {
            (b - b'0') as u32
        } else {
            (b - b'A') as u32 + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Whether `s` has the form of an IBAN in its electronic form, whatever its check digits: two
/// letters (the country), two digits (the check), 11 to 30 letters or digits (the account), all
/// upper case. What looks like an IBAN but fails [`iban_is_valid`] is a wrong check digit.
pub fn iban_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether `isin` is 12 characters (country, 9 alphanumerics, check digit) with a valid
/// ISO 6166 (Luhn over the letter-expanded digits) check digit.
pub fn isin_is_valid(isin: &str) -> bool {
    let s = isin.trim().as_bytes();
    if s.len() != 12
        || !s[..2].iter().all(u8::is_ascii_uppercase)
        || !s[2..11]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || !s[11].is_ascii_digit()
    {
        return false;
    }
    let mut digits = Vec::with_capacity(24);
    for &b in s {
        if b.is_ascii_digit() {
            digits.push(b - b'0');
        } else {
            let v = b - b'A' + 10;
            digits.push(v / 10);
            digits.push(v % 10);
        }
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if !i.is_multiple_of(2) {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_shapes() {
        assert!(iban_shaped("DE89370400440532013000"));
        assert!(
            iban_shaped("DE00370400440532013000"),
            "wrong check, right shape"
        );
        for not in [
            "DE8937040044",
            "de89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "1234567890123456",
        ] {
            assert!(!iban_shaped(not), "{not}");
        }
    }

    #[test]
    fn ibans() {
        for ok in [
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "NL91ABNA0417164300",
            "CH9300762011623852957",
        ] {
            assert!(iban_is_valid(ok), "{ok}");
        }
        for bad in [
            "DE89370400440532013001",
            "GB82WEST1234569876543",
            "XX00",
            "DE8937040044053201300!",
        ] {
            assert!(!iban_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn isins() {
        for ok in [
            "US0378331005",
            "DE0005140008",
            "GB0002634946",
            "US38259P5089",
        ] {
            assert!(isin_is_valid(ok), "{ok}");
        }
        for bad in [
            "US0378331006",
            "DE000514000",
            "us0378331005",
            "US03783310X5",
        ] {
            assert!(!isin_is_valid(bad), "{bad}");
        }
    }
}
