//! Amounts in whole minor units of their currency, through the real daemon: a ledger file
//! with `100.005` EUR is refused whole to failed/ with the line, column and rule, and nothing
//! of it reaches the store; the same file corrected is read.

use std::fs;
use std::time::Duration;

use crate::support::install::{Install, wait_until};

/// Item 301 carries a third euro decimal; 302 is right. The whole file is refused.
const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
301,CASH-EUR-01,2026-03-02,100.005,EUR,INV-000000301,ACME GMBH
302,CASH-EUR-01,2026-03-02,75.00,EUR,INV-000000302,BETA SA
";

#[test]
fn a_ledger_amount_beyond_its_currencys_minor_unit_is_refused_and_nothing_is_posted() {
    let i = Install::new();
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    let note = i.path("var/failed/ledger-import/ledger.csv.error.txt");
    assert!(
        wait_until(Duration::from_secs(30), || note.exists()),
        "no note in failed/: {:?}\n{}",
        i.files_under("var/failed"),
        d.log()
    );
    let note = fs::read_to_string(note).unwrap();
    assert!(
        note.contains("line 2, column \"amount\": EUR has 2 decimals; 100.005 has 3"),
        "{note}"
    );
    assert!(
        i.path("var/failed/ledger-import/ledger.csv").exists(),
        "{:?}",
        i.files_under("var/failed")
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 0, "nothing read");
    assert_eq!(i.count("SELECT COUNT(*) FROM entries"), 0, "nothing posted");

    // Corrected at its source, the same export is read.
    i.drop_until_processed(
        &d,
        "var/inbox/ledger/ledger-corrected.csv",
        LEDGER.replace("100.005", "100.01"),
        1,
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 2, "{}", d.log());
    assert!(d.stop().success());
}
