//! The two entries every format's unit tests write (README's samples are these): a match of a
//! receivable against a bank line, and a bank fee with input tax whose expense line came from a
//! foreign amount.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;

use super::{AccountClass, Accounts, Batch, ExportError, Format};
use crate::model::fx::LineFx;
use crate::model::journal::PostedEntry;
use crate::model::{Currency, EntryLine};

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn line(account: &str, amount: &str) -> EntryLine {
    EntryLine {
        account: account.into(),
        currency: Currency::from_str("EUR").unwrap(),
        amount: dec(amount),
        fx: None,
    }
}

/// The batch the samples are written in.
pub fn batch() -> Batch<'static> {
    Batch {
        target: "books",
        number: 3,
        created_at: DateTime::parse_from_rfc3339("2026-12-06T18:00:00.250Z")
            .unwrap()
            .into(),
        first_date: NaiveDate::from_ymd_opt(2025, 1, 2).unwrap(),
        last_date: NaiveDate::from_ymd_opt(2025, 1, 3).unwrap(),
        reexport: false,
    }
}

/// Entry 17 (two lines) and entry 18 (three lines, one with a foreign amount), and the chart's
/// classes for their accounts.
pub fn two_entries() -> (Vec<PostedEntry>, Accounts) {
    let posted_at = DateTime::parse_from_rfc3339("2026-12-06T07:00:00Z")
        .unwrap()
        .into();
    let mut fee = line("4970 Nebenkosten des Geldverkehrs", "10.50");
    fee.fx = Some(LineFx {
        amount: dec("11.09"),
        currency: Currency::from_str("USD").unwrap(),
        rate: dec("0.9468"),
    });
    let entries = vec![
        PostedEntry {
            id: 17,
            job: "bank-reconciliation".into(),
            posting_date: NaiveDate::from_ymd_opt(2025, 1, 2).unwrap(),
            narrative: "NORTHWIND SUPPLIES GMBH; INV-296741093".into(),
            posted_at,
            run_id: 4,
            match_id: 5,
            pass: "reference".into(),
            lines: vec![
                line("1200 Bank", "1789.03"),
                line("1400 Forderungen aus LuL", "-1789.03"),
            ],
            sources: vec!["ledger.csv line 3".into(), "statement.csv line 2".into()],
            reverses: None,
            reversed_by: None,
            value_date: None,
        },
        PostedEntry {
            id: 18,
            job: "bank-reconciliation".into(),
            posting_date: NaiveDate::from_ymd_opt(2025, 1, 3).unwrap(),
            narrative: "Kontoführung Dezember \"Premium\"".into(),
            posted_at,
            run_id: 4,
            match_id: 6,
            pass: "fees".into(),
            lines: vec![
                fee,
                line("1576 Vorsteuer 19%", "2.00"),
                line("1200 Bank", "-12.50"),
            ],
            sources: vec!["statement.csv line 4".into()],
            reverses: None,
            reversed_by: None,
            value_date: None,
        },
    ];
    let mut accounts = Accounts::default();
    for (account, class) in [
        ("1200 Bank", AccountClass::Asset),
        ("1400 Forderungen aus LuL", AccountClass::Asset),
        ("1576 Vorsteuer 19%", AccountClass::Asset),
        ("4970 Nebenkosten des Geldverkehrs", AccountClass::Expense),
    ] {
        accounts.classes.insert(account.into(), class);
    }
    (entries, accounts)
}

/// What `format` writes for `entries` in [`batch`].
pub fn render(
    format: &mut dyn Format,
    entries: &[PostedEntry],
    accounts: &Accounts,
) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    format.begin(&mut out, &batch())?;
    for e in entries {
        format.entry(&mut out, e, accounts)?;
    }
    format.finish(&mut out)?;
    Ok(out)
}
