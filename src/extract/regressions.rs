//! Inputs the fuzzers found (`tests/fixtures/fuzz/<target>/`): each once made a reader panic,
//! hang or blow memory. Every one must now give records or a clear error.

use std::sync::Arc;

use super::rows::{CellStyle, Wanted};
use super::securities_csv::{self, wanted};
use super::{ExtractError, ExtractSpec, Input, extract, invoice_csv, payables_csv};
use crate::model::Side;

#[test]
fn every_input_the_fuzzers_found_is_read_or_refused_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let tabular: ExtractSpec = toml::from_str(
        r#"
        [columns]
        id = "id"
        value_date = "value_date"
        amount = "amount"
        currency = "currency"
        "#,
    )
    .unwrap();
    let layouts = [
        tabular.check(Side::Ledger).unwrap(),
        ExtractSpec::default().check(Side::Statement).unwrap(),
    ];
    let mut seen = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.ends_with("documents") {
            continue; // purchasing, custody and invoice lists: below
        }
        for file in std::fs::read_dir(dir).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for layout in &layouts {
                let input = Input {
                    name: "fuzz",
                    bytes: &bytes,
                    file_hash: Arc::from("fuzz"),
                };
                if let Err(e) = extract(layout, &input) {
                    assert!(!e.problems.is_empty(), "{}: empty error", path.display());
                }
            }
            seen += 1;
        }
    }
    assert!(
        seen > 0,
        "no fuzz regressions found under {}",
        root.display()
    );
}

/// Files of the `documents` fuzz target: each held a number near `Decimal`'s limit (2^96) in a
/// purchasing, custody or invoice-list file, and a sum, difference or product of such numbers
/// panicked, in the reader or in the matching after it. Every one is now refused where the
/// number stands, by a reader that says so.
#[test]
fn numbers_that_once_overflowed_are_refused_by_the_readers() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/documents");
    type Reader = fn(&Input, &[Wanted], &CellStyle) -> Result<usize, ExtractError>;
    let readers: [(&[(&str, bool)], Reader); 6] = [
        (payables_csv::ORDER_FIELDS, |i, w, s| {
            payables_csv::orders(i, w, s).map(|v| v.len())
        }),
        (payables_csv::RECEIPT_FIELDS, |i, w, s| {
            payables_csv::receipts(i, w, s).map(|v| v.len())
        }),
        (invoice_csv::INVOICE_FIELDS, |i, w, s| {
            invoice_csv::invoices(i, w, s).map(|v| v.len())
        }),
        (securities_csv::POSITION_FIELDS, |i, w, s| {
            securities_csv::positions(i, w, s).map(|v| v.len())
        }),
        (securities_csv::TRADE_FIELDS, |i, w, s| {
            securities_csv::trades(i, w, s).map(|v| v.len())
        }),
        (securities_csv::CONFIRMATION_FIELDS, |i, w, s| {
            securities_csv::confirmations(i, w, s).map(|v| v.len())
        }),
    ];
    let mut seen = 0;
    for file in std::fs::read_dir(&root).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let input = Input {
            name: "fuzz.csv",
            bytes: &bytes,
            file_hash: Arc::from("fuzz"),
        };
        let mut too_large = false;
        for (fields, read) in &readers {
            if let Err(e) = read(&input, &wanted(fields, &[]), &CellStyle::default()) {
                assert!(!e.problems.is_empty(), "{}: empty error", path.display());
                too_large |= e.to_string().contains("is too large");
            }
        }
        assert!(
            too_large,
            "{}: no reader refused its number",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 14, "{seen} inputs under {}", root.display());
}
