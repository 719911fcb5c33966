//! Returned payments (issue 15, item 9): a customer pays, the bank returns the payment two
//! days later as its negative (`RETURN AC04 ... INV-x`), the customer pays again. A pass within
//! the statement pairs the payment with its return before the passes against the books: one
//! entry books both bank lines, the invoice matches the payment that stayed, nothing is a
//! break.

use std::collections::BTreeSet;
use std::fs;

use crate::support::books::{entries, lines};
use crate::support::install::Install;

/// The pass as the issue gives it, before the shipped passes against the books.
const RETURNS: &str = r#"
# Returns:
[[match.passes]]
name = "returns"
within = "statement"
keys = [
  { ours = "remittance", theirs = "remittance", ours_pattern = 'INV-\d{9}', theirs_pattern = 'INV-\d{9}' },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount", opposite_sign = true }
date = { ours = "value_date", theirs = "value_date", window_business_days = 10 }

# Pass 1:"#;

/// Where the returns pass's entries go: a clearing account of their own.
const RETURNS_POSTING: &str = r#"
[posting.pass.returns]
narrative = "Returned {bank_reference}"
lines = [
  { account = "{bank_account}", amount = "statement" },
  { account = "1360 Geldtransit", amount = "-statement" },
]
"#;

const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,500.00,EUR,INV-000000001,ACME GMBH
";

/// Paid Monday, returned Wednesday (account closed), paid again Thursday from another account:
/// the re-payment is closer to the return than the first payment, and still the return takes
/// the payment before it.
const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,500.00,EUR,BK1,PAYMENT INV-000000001 ACME
2026-03-04,2026-03-04,-500.00,EUR,BK2,RETURN AC04 CLOSED ACCOUNT INV-000000001 ACME
2026-03-05,2026-03-05,500.00,EUR,BK3,PAYMENT INV-000000001 ACME NEW ACCOUNT
";

/// (ledger_id, bank_reference, match_pass) rows of a dry run's results.
fn dry_run(i: &Install) -> BTreeSet<(String, String, String)> {
    let ledger = i.path("ledger.csv");
    let statement = i.path("statement.csv");
    fs::write(&ledger, LEDGER).unwrap();
    fs::write(&statement, STATEMENT).unwrap();
    let out = i.path("results.csv");
    let o = i.clerk(&[
        "reconcile",
        "bank-reconciliation",
        "--ledger",
        ledger.to_str().unwrap(),
        "--statement",
        statement.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(&out).unwrap();
    r.records()
        .map(|row| {
            let row = row.unwrap();
            (row[0].to_string(), row[1].to_string(), row[2].to_string())
        })
        .collect()
}

fn row(l: &str, b: &str, p: &str) -> (String, String, String) {
    (l.to_string(), b.to_string(), p.to_string())
}

#[test]
fn a_dry_run_pairs_a_payment_with_its_return_and_the_invoice_with_the_payment_that_stayed() {
    let i = Install::with_shipped_chart("");
    // Without the pass the invoice takes the first payment; the return and the re-payment
    // are false breaks.
    let before = dry_run(&i);
    assert!(before.contains(&row("1", "BK1", "reference")), "{before:?}");
    assert!(
        before.contains(&row("", "BK2", "statement_only")),
        "{before:?}"
    );
    assert!(
        before.contains(&row("", "BK3", "statement_only")),
        "{before:?}"
    );

    i.edit_job("bank-reconciliation", "\n# Pass 1:", RETURNS);
    let o = i.clerk(&["check"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let after = dry_run(&i);
    assert_eq!(
        after,
        BTreeSet::from([
            row("", "BK1", "returns"),
            row("", "BK2", "returns"),
            row("1", "BK3", "reference"),
        ]),
    );
}

#[test]
fn the_daemon_books_a_payment_and_its_return_in_one_entry_and_the_invoice_against_the_repayment() {
    let i = Install::with_shipped_chart("");
    i.edit_job("bank-reconciliation", "\n# Pass 1:", RETURNS);
    let job = i.path("jobs/bank-reconciliation.toml");
    let text = fs::read_to_string(&job).unwrap();
    fs::write(&job, format!("{text}\n{RETURNS_POSTING}")).unwrap();

    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);

    let mut posted = entries(&i);
    posted.sort();
    assert_eq!(posted.len(), 2, "{posted:?}\n{}", d.log());
    let (returned, receipt) = (&posted[1], &posted[0]);
    // Both bank lines in the books, netting to zero, through the returns clearing account;
    // the bank's reason kept.
    assert_eq!(
        returned,
        &(
            "Returned BK1,BK2, return reason AC04".to_string(),
            lines(&[
                ("1200 Bank", "500.00"),
                ("1360 Geldtransit", "-500.00"),
                ("1200 Bank", "-500.00"),
                ("1360 Geldtransit", "500.00"),
            ])
        ),
        "{}",
        d.log()
    );
    // The invoice is paid by the payment that stayed.
    assert!(
        receipt
            .0
            .starts_with("Receipt BK3: reference match of ledger 1"),
        "{receipt:?}"
    );
    assert_eq!(
        receipt.1,
        lines(&[
            ("1200 Bank", "500.00"),
            ("1400 Forderungen aus Lieferungen und Leistungen", "-500.00"),
        ])
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM breaks"), 0, "{}", d.log());
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records WHERE match_id IS NULL"),
        0,
        "every line and the invoice matched\n{}",
        d.log()
    );
    // `clerk explain` shows what the pass compared: the reference both quote, the amounts.
    let why: String = i
        .db()
        .query_row(
            "SELECT explanation FROM matches WHERE explanation LIKE '%\"pass\":\"returns\"%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        why.contains("INV-000000001") && why.contains("\"opposite_sign\":true"),
        "{why}"
    );
    d.stop();
}

#[test]
fn a_pass_within_the_statement_after_a_pass_against_the_books_is_refused_naming_it() {
    let i = Install::with_shipped_chart("");
    let after_reference = RETURNS.replace("# Returns:", "").replace("\n# Pass 1:", "");
    i.edit_job(
        "bank-reconciliation",
        "\n# Pass 2:",
        &format!("{after_reference}\n# Pass 2:"),
    );
    let o = i.clerk(&["check"]);
    assert!(!o.status.success());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("bank-reconciliation.toml") && out.contains("match.passes[1].within"),
        "{out}"
    );
}

/// The shipped job with the commented example block that follows the line starting with
/// `marker` made active (its `#   ` lines uncommented).
fn with_example(job: &str, marker: &str) -> String {
    let mut out = Vec::new();
    let mut state = 0; // 0 before the marker, 1 in its comment, 2 in its example, 3 after
    for line in job.lines() {
        match state {
            0 if line.starts_with(marker) => state = 1,
            1 | 2 if line.starts_with("#   ") => {
                state = 2;
                out.push(line["#   ".len()..].to_string());
                continue;
            }
            2 => state = 3,
            _ => {}
        }
        out.push(line.to_string());
    }
    assert_eq!(state, 3, "no example after {marker:?}");
    out.join("\n") + "\n"
}

#[test]
fn the_shipped_returns_and_instalments_examples_load_and_work_as_written() {
    let i = Install::with_shipped_chart("");
    let path = i.path("jobs/bank-reconciliation.toml");
    let mut job = fs::read_to_string(&path).unwrap();
    for marker in [
        "# Returned payments (example",
        "# Instalments (example",
        "# A payment and its return",
    ] {
        job = with_example(&job, marker);
    }
    fs::write(&path, job).unwrap();
    let o = i.clerk(&["check"]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        dry_run(&i),
        BTreeSet::from([
            row("", "BK1", "returns"),
            row("", "BK2", "returns"),
            row("1", "BK3", "reference"),
        ]),
    );
}

/// The same day by day, one statement a day: the invoice takes the first payment the day it
/// comes; the return is a break until the re-payment comes, which it cancels out.
#[test]
fn a_return_in_a_later_statement_is_a_break_until_the_repayment_it_cancels_out_comes() {
    let i = Install::with_shipped_chart("");
    i.edit_job("bank-reconciliation", "\n# Pass 1:", RETURNS);
    let d = i.start_daemon();
    let mut day = STATEMENT.lines();
    let header = day.next().unwrap();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    for (n, line) in day.enumerate() {
        let name = format!("var/inbox/bank/day{n}.csv");
        i.drop_until_processed(&d, &name, format!("{header}\n{line}\n"), n as u64 + 2);
        let open: i64 = i.count("SELECT COUNT(*) FROM breaks WHERE status = 'open'");
        let expected = match n {
            // The return: nothing left to pair it with yet.
            1 => 1,
            _ => 0,
        };
        assert_eq!(open, expected, "after day {n}\n{}", d.log());
    }
    let detail: String = i
        .db()
        .query_row(
            "SELECT resolution FROM breaks WHERE status = 'resolved'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        detail.contains("BK2") && detail.contains("BK3") && detail.contains("AC04"),
        "{detail}"
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM entries"), 2, "{}", d.log());
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records WHERE match_id IS NULL"),
        0,
        "{}",
        d.log()
    );
    // The bank account in the books moved as the bank did: +500, −500, +500.
    let bank: Vec<String> = i
        .db()
        .prepare(
            "SELECT amount FROM entry_lines WHERE account LIKE '1200%' ORDER BY entry_id, line_no",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut bank_sorted = bank.clone();
    bank_sorted.sort();
    assert_eq!(bank_sorted, ["-500.00", "500.00", "500.00"], "{bank:?}");
    d.stop();
}
