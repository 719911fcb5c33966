//! The summary's proof of each bank account: book balance against the statement's closing
//! balance, and what makes up a difference (the table `clerk bank` prints).

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{H3, TEXT_WIDTH, esc, grouped, html_table, text_table, wrap};
use crate::model::Currency;

/// One bank account and currency: its books against its latest statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankLine {
    /// The account as the bank names it (IBAN).
    pub account: String,
    pub currency: String,
    pub statement_date: NaiveDate,
    pub statement_balance: Decimal,
    pub book_balance: Decimal,
    /// Statement minus book: zero when the books agree with the bank.
    pub difference: Decimal,
    /// What makes up a difference, one line each (an open statement line and its break).
    pub made_up_of: Vec<String>,
}

const HEAD: [&str; 6] = [
    "Bank account",
    "Currency",
    "Statement of",
    "Closing balance",
    "Book balance",
    "Difference",
];
const RIGHT: [usize; 3] = [3, 4, 5];

fn rows(lines: &[BankLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            let c = l.currency.parse::<Currency>().ok();
            vec![
                l.account.clone(),
                l.currency.clone(),
                l.statement_date.format("%Y-%m-%d").to_string(),
                grouped(l.statement_balance, c),
                grouped(l.book_balance, c),
                grouped(l.difference, c),
            ]
        })
        .collect()
}

fn made_up(l: &BankLine) -> String {
    format!("{} {}: made up of", l.account, l.currency)
}

/// The section in the text body; empty when no bank account has a statement.
pub(super) fn text(lines: &[BankLine]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut t = String::from("\nBank accounts: book balance against the statement\n\n");
    t.push_str(&text_table(&HEAD, &rows(lines), &RIGHT));
    for l in lines.iter().filter(|l| !l.difference.is_zero()) {
        let _ = writeln!(t, "\n{}", made_up(l));
        for m in &l.made_up_of {
            t.push_str(&wrap(m, TEXT_WIDTH, "  - ", "    "));
        }
    }
    t
}

/// The section in the HTML body.
pub(super) fn html(h: &mut String, lines: &[BankLine]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h3 style=\"{H3}\">Bank accounts: book balance against the statement</h3>"
    );
    html_table(h, &HEAD, &rows(lines), &RIGHT);
    for l in lines.iter().filter(|l| !l.difference.is_zero()) {
        let _ = write!(
            h,
            "<p style=\"margin:6px 0 0 0\">{}</p><ul>",
            esc(&made_up(l))
        );
        for m in &l.made_up_of {
            let _ = write!(h, "<li>{}</li>", esc(m));
        }
        h.push_str("</ul>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_lists_what_makes_it_up_and_agreement_lists_nothing() {
        let line = |difference: &str, made_up_of: Vec<String>| BankLine {
            account: "DE89370400440532013000".into(),
            currency: "EUR".into(),
            statement_date: "2026-03-02".parse().unwrap(),
            statement_balance: "1277.40".parse().unwrap(),
            book_balance: "1491.60".parse().unwrap(),
            difference: difference.parse().unwrap(),
            made_up_of,
        };
        let off = line(
            "-214.20",
            vec!["-214.20 BK4 break B-7 (missing in ledger)".into()],
        );
        let t = text(std::slice::from_ref(&off));
        assert!(t.contains("1,277.40") && t.contains("-214.20"), "{t}");
        assert!(
            t.contains("made up of") && t.contains("BK4 break B-7"),
            "{t}"
        );
        let mut h = String::new();
        html(&mut h, &[off]);
        assert!(h.contains("<li>-214.20 BK4 break B-7"), "{h}");

        let agrees = text(&[line("0", Vec::new())]);
        assert!(!agrees.contains("made up of"), "{agrees}");
        assert!(text(&[]).is_empty());
    }
}
