//! Instalments: one invoice paid by several bank lines, each quoting the invoice and its part
//! (`INV-123456789/1`, `/2`), weeks apart, through `clerk reconcile` (issue 15).

use std::collections::BTreeSet;
use std::fs;

use crate::support::install::Install;

/// The pass as the issue gives it: no group_by, the lines grouped by the invoice number their
/// remittance quotes. After the reference pass, which takes an invoice paid in one line.
const INSTALMENTS: &str = r#"
[[match.passes]]
name = "instalments"
grouping = "one_to_many"
keys = [
  { ours = "reference", theirs = "remittance", ours_pattern = 'INV-(\d{9})', theirs_pattern = 'INV-(\d{9})/\d' },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount" }
max_group_size = 4
subsets = true

# Pass 2:"#;

const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,1000.00,EUR,INV-123456789,ACME TRADING GMBH
2,CASH-EUR-01,2026-03-02,500.00,EUR,INV-222222222,GLOBEX SA
";

const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,400.00,EUR,BK-1,ACME TRADING REF INV-123456789/1
2026-03-23,2026-03-23,600.00,EUR,BK-2,ACME TRADING REF INV-123456789/2
2026-03-23,2026-03-23,250.00,EUR,BK-3,GLOBEX REF INV-222222222/1
";

/// (ledger_id, bank_reference, match_pass) rows of a dry run's results.
fn results(i: &Install) -> BTreeSet<(String, String, String)> {
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

#[test]
fn a_dry_run_matches_an_invoice_with_the_instalments_that_pay_it() {
    let i = Install::with_shipped_chart("");
    // The shipped rules know no instalments: both parts and the invoice stay open.
    let before = results(&i);
    assert!(
        before
            .iter()
            .all(|(_, _, pass)| pass == "ledger_only" || pass == "statement_only"),
        "{before:?}"
    );

    i.edit_job("bank-reconciliation", "\n# Pass 2:", INSTALMENTS);
    let o = i.clerk(&["check"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let after = results(&i);
    let row = |l: &str, b: &str, p: &str| (l.to_string(), b.to_string(), p.to_string());
    assert!(
        after.contains(&row("1", "BK-1", "instalments")),
        "{after:?}"
    );
    assert!(
        after.contains(&row("1", "BK-2", "instalments")),
        "{after:?}"
    );
    // Half of another invoice, the rest not yet come: both stay open.
    assert!(after.contains(&row("2", "", "ledger_only")), "{after:?}");
    assert!(
        after.contains(&row("", "BK-3", "statement_only")),
        "{after:?}"
    );
    assert_eq!(after.len(), 4, "{after:?}");
}

/// The instalments pass holding a part-paid invoice: the rest may take 20 business days from
/// the first part.
const INSTALMENTS_PARTIAL: &str = r#"
[[match.passes]]
name = "instalments"
grouping = "one_to_many"
keys = [
  { ours = "reference", theirs = "remittance", ours_pattern = 'INV-(\d{9})', theirs_pattern = 'INV-(\d{9})/\d' },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount" }
max_group_size = 4
subsets = true
partial = { window_business_days = 20 }

# Pass 2:"#;

const PART_LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,1000.00,EUR,INV-123456789,ACME TRADING GMBH
2,CASH-EUR-01,2026-04-10,500.00,EUR,INV-222222222,GLOBEX SA
";

/// The first part, on the invoice's day.
const FIRST_PART: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,400.00,EUR,BK-1,ACME TRADING REF INV-123456789/1
";

/// Another customer pays six weeks later: the bank has reported 29 business days past the
/// first part, and the rest of the first invoice has not come.
const LATER: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-04-10,2026-04-10,500.00,EUR,BK-5,GLOBEX REF INV-222222222
";

/// The rest, three weeks after the first part (15 business days: inside the window).
const REST: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-23,2026-03-23,600.00,EUR,BK-2,ACME TRADING REF INV-123456789/2
";

/// A second part of 200.00, six weeks late.
const MORE: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-04-13,2026-04-13,200.00,EUR,BK-3,ACME TRADING REF INV-123456789/2
";

/// The rest, 400.00, later still.
const REST_LATE: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-04-20,2026-04-20,400.00,EUR,BK-4,ACME TRADING REF INV-123456789/3
";

/// (account, amount) of every entry line posted, in posting order.
fn booked(i: &Install) -> Vec<(String, String)> {
    let db = i.db();
    let mut s = db
        .prepare("SELECT account, amount FROM entry_lines ORDER BY entry_id, line_no")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// (reason, amount, ledger or bank id) of the open breaks.
fn open_breaks(i: &Install) -> Vec<(String, String, String)> {
    let db = i.db();
    let mut s = db
        .prepare(
            "SELECT b.reason, b.amount, r.external_id FROM breaks b JOIN records r \
             ON r.id = b.record_id WHERE b.status = 'open' ORDER BY b.id",
        )
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_part_paid_invoice_waits_for_the_rest_then_is_partially_paid_for_the_open_remainder() {
    let i = Install::with_shipped_chart("");
    i.edit_job("bank-reconciliation", "\n# Pass 2:", INSTALMENTS_PARTIAL);
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", PART_LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/first.csv", FIRST_PART, 2);
    // One part paid, the rest may still come: neither the invoice nor the part is a break.
    // Cash received is cash: the part is posted at once against the invoice, which stays
    // open for the rest.
    assert_eq!(open_breaks(&i), [], "{}", d.log());
    assert_eq!(
        booked(&i),
        [
            ("1200 Bank".to_string(), "400.00".to_string()),
            (
                "1400 Forderungen aus Lieferungen und Leistungen".to_string(),
                "-400.00".to_string()
            ),
        ],
        "{}",
        d.log()
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records WHERE external_id = '1' AND match_id IS NULL"),
        1,
        "the invoice stays open for the rest"
    );
    assert_eq!(
        i.count(
            "SELECT COUNT(*) FROM matches WHERE explanation LIKE '%\"grouping\":\"part payment\"%' \
             AND explanation LIKE '%\"open\":\"600.00\"%'"
        ),
        1,
        "the part's match says what is still open"
    );

    i.drop_until_processed(&d, "var/inbox/bank/later.csv", LATER, 3);
    // The window has passed: the invoice is partially paid, for what is still open; the
    // part is named in its break, not a break of its own.
    let row = |r: &str, a: &str, id: &str| (r.to_string(), a.to_string(), id.to_string());
    assert_eq!(
        open_breaks(&i),
        [row("partially_paid", "600.00", "1")],
        "{}",
        d.log()
    );
    let detail: String = i
        .db()
        .query_row(
            "SELECT detail FROM breaks WHERE reason = 'partially_paid'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        detail.contains("BK-1")
            && detail.contains("400.00")
            && detail.contains("of 1000.00 EUR")
            && detail.contains("20 business days"),
        "{detail}"
    );

    // Another part, still short: posted, and the break is for what is open now.
    i.drop_until_processed(&d, "var/inbox/bank/more.csv", MORE, 4);
    assert_eq!(
        open_breaks(&i),
        [row("partially_paid", "400.00", "1")],
        "{}",
        d.log()
    );

    // The rest comes late after all: it pays the open remainder, the break closes.
    i.drop_until_processed(&d, "var/inbox/bank/rest.csv", REST_LATE, 5);
    assert_eq!(open_breaks(&i), [], "{}", d.log());
    assert_eq!(
        i.count(
            "SELECT COUNT(*) FROM breaks WHERE reason = 'partially_paid' AND status = 'resolved'"
        ),
        2
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records WHERE match_id IS NULL"),
        0,
        "{}",
        d.log()
    );
    // The invoice's 1,000.00 cleared in three entries as the cash came: 400, 200, 400.
    let clearing: Vec<String> = booked(&i)
        .into_iter()
        .filter(|(a, _)| a.starts_with("1400"))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        clearing,
        ["-400.00", "-500.00", "-200.00", "-400.00"],
        "{}",
        d.log()
    );
    d.stop();
}

#[test]
fn each_instalment_inside_the_window_posts_as_it_comes_and_the_rest_settles_the_invoice() {
    let i = Install::with_shipped_chart("");
    i.edit_job("bank-reconciliation", "\n# Pass 2:", INSTALMENTS_PARTIAL);
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", PART_LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/first.csv", FIRST_PART, 2);
    i.drop_until_processed(&d, "var/inbox/bank/rest.csv", REST, 3);
    assert_eq!(open_breaks(&i), [], "{}", d.log());
    assert_eq!(
        i.count("SELECT COUNT(*) FROM breaks"),
        0,
        "no break was ever opened\n{}",
        d.log()
    );
    // Each part posted as it came, against the invoice: 400.00, then the remainder 600.00.
    assert_eq!(i.count("SELECT COUNT(*) FROM entries"), 2, "{}", d.log());
    let mut lines = booked(&i);
    lines.sort();
    let line = |a: &str, m: &str| (a.to_string(), m.to_string());
    assert_eq!(
        lines,
        [
            line("1200 Bank", "400.00"),
            line("1200 Bank", "600.00"),
            line("1400 Forderungen aus Lieferungen und Leistungen", "-400.00"),
            line("1400 Forderungen aus Lieferungen und Leistungen", "-600.00"),
        ],
        "{}",
        d.log()
    );
    // Only the other customer's invoice, not due, is open.
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records WHERE match_id IS NULL AND external_id <> '2'"),
        0,
        "{}",
        d.log()
    );
    d.stop();
}

#[test]
fn partial_outside_an_instalments_pass_is_refused_naming_the_pass() {
    let i = Install::with_shipped_chart("");
    i.edit_job(
        "bank-reconciliation",
        "max_group_size = 64\nsubsets = false",
        "max_group_size = 64\nsubsets = false\npartial = { window_business_days = 20 }",
    );
    let o = i.clerk(&["check"]);
    assert!(!o.status.success());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("bank-reconciliation.toml") && out.contains("match.passes[2].partial"),
        "{out}"
    );
}

/// A bank line paying short without a reference: 590.00 of the 600.00 still open.
const SHORT_REST: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-04-14,2026-04-14,590.00,EUR,BK-9,ACME TRADING
";

#[test]
fn a_match_by_hand_on_a_part_paid_invoice_settles_only_what_is_still_open() {
    let i = Install::with_shipped_chart("");
    i.edit_job("bank-reconciliation", "\n# Pass 2:", INSTALMENTS_PARTIAL);
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", PART_LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/first.csv", FIRST_PART, 2);
    i.drop_until_processed(&d, "var/inbox/bank/later.csv", LATER, 3);
    i.drop_until_processed(&d, "var/inbox/bank/short.csv", SHORT_REST, 4);
    let id_of = |reason: &str| -> String {
        i.db()
            .query_row(
                "SELECT id FROM breaks WHERE reason = ?1 AND status = 'open'",
                [reason],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or_else(|e| panic!("{reason}: {e}\n{}", d.log()))
            .to_string()
    };
    let (invoice, line) = (id_of("partially_paid"), id_of("missing_in_ledger"));
    let o = i.clerk(&[
        "exception",
        "match",
        &invoice,
        &line,
        "--reason",
        "customer paid the rest short",
        "--difference-account",
        "4970",
        "--by",
        "anna",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The 400.00 part was posted against the invoice when it came: the match by hand settles
    // the 600.00 left, 10.00 of it a difference, and never the whole 1,000.00 again.
    let manual: Vec<String> = {
        let db = i.db();
        let mut s = db
            .prepare(
                "SELECT l.amount FROM entry_lines l JOIN entries e ON e.id = l.entry_id
                 JOIN matches m ON m.id = e.match_id WHERE m.pass = 'manual' ORDER BY l.line_no",
            )
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(manual, ["590.00", "-600.00", "10.00"], "{}", d.log());
    d.stop();
}
