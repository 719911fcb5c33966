//! One bank statement read by two jobs, through the daemon: the bank reconciliation and
//! accounts payable both read the house bank's account. Whichever job's folder the statement
//! reaches first, the other job gets its lines (no `duplicate_statement`), and each bank line
//! is posted once.

use std::time::Duration;

use crate::support::books::open_breaks;
use crate::support::install::{Daemon, Install, wait_until};

const INVOICE: &[u8] = include_bytes!("../fixtures/payables/acme-INV-2026-0042.xml");
const ORDERS: &str = "order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
                      PO-1001,1,ACME GmbH,W-1,10,10.00,EUR,4930 Buerobedarf\n\
                      PO-1001,2,ACME GmbH,G-2,5,20.00,EUR,\n";
const RECEIPTS: &[u8] = b"receipt_id,order,line,received,received_on\n\
    GR-1,PO-1001,1,10,2026-11-18\nGR-1,PO-1001,2,5,2026-11-18\n";

/// The supplier's invoice (238.00) paid; the same day a 12.50 card payment nobody booked.
const STATEMENT: &str = ":20:STMT-2026-1125\n\
:25:DE02120300000000202051\n\
:28C:101/1\n\
:60F:C261124EUR10000,00\n\
:61:2611251125D238,00NTRFNONREF//B1125-77\n\
:86:166?00SEPA UEBERWEISUNG?20INV-2026-0042?32ACME GMBH\n\
:61:2611251125D12,50NMSCNONREF//B1125-78\n\
:86:106?00KARTENZAHLUNG?20OFFICE SUPPLIES\n\
:62F:C261125EUR9749,50\n\
-\n";

/// The same statement re-sent under a new reference (`:20:`).
fn resent() -> String {
    STATEMENT.replace(":20:STMT-2026-1125", ":20:RESENT-1125")
}

fn ap_runs(i: &Install) -> usize {
    i.runs_ok("accounts-payable")
}

/// Drops the purchase order, the full goods receipt and the invoice: the invoice is approved
/// and posted, and waits for its payment.
fn approved_invoice(i: &Install, d: &Daemon) {
    for (k, (name, bytes)) in [
        ("po-1001.csv", ORDERS.as_bytes()),
        ("grn-0001.csv", RECEIPTS),
        ("acme-INV-2026-0042.xml", INVOICE),
    ]
    .into_iter()
    .enumerate()
    {
        i.drop_file("var/inbox/payables", name, bytes);
        assert!(
            wait_until(Duration::from_secs(20), || ap_runs(i) > k),
            "{name}: {}",
            d.log()
        );
    }
    assert_eq!(
        i.count(
            "SELECT COUNT(*) FROM entries e JOIN matches m ON m.id = e.match_id
             WHERE e.job = 'accounts-payable' AND m.pass = 'three_way'"
        ),
        1,
        "the invoice is posted (its goods were posted to GR/IR at receipt)"
    );
}

/// The bank account's movements in the books: every entry line on its chart account (1210,
/// by the shipped `[chart.bank_accounts]`).
fn bank_lines(i: &Install) -> Vec<String> {
    let db = i.db();
    let mut s = db
        .prepare("SELECT amount FROM entry_lines WHERE account LIKE '1210 %' ORDER BY amount")
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn processed(i: &Install) -> u64 {
    i.files_processed()
}

#[test]
fn a_statement_reaching_the_bank_reconciliation_first_still_pays_the_approved_invoice() {
    let i = Install::with_shipped_chart("");
    // Accounts payable reads the house bank's account from the start.
    i.edit_job(
        "accounts-payable",
        "owner = \"ap-team@example.com\"",
        "owner = \"ap-team@example.com\"\nstatement_accounts = [\"DE02120300000000202051\"]",
    );
    let d = i.start_daemon();
    approved_invoice(&i, &d);
    let before = processed(&i);

    // The bank's statement reaches the bank reconciliation's folder only.
    i.drop_file("var/inbox/bank", "stmt-1125.sta", STATEMENT.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || processed(&i) > before
            && ap_runs(&i) == 4),
        "{}",
        d.log()
    );
    // Accounts payable was offered its lines and paid the invoice: once.
    assert_eq!(
        bank_lines(&i),
        vec!["-238.00".to_string()],
        "the payment is posted once, by accounts payable"
    );
    assert!(open_breaks(&i, Some("accounts-payable")).is_empty());
    // The bank reconciliation's copy of the payment is settled with it: no break about it;
    // the card payment nobody booked is its break.
    let bank = open_breaks(&i, Some("bank-reconciliation"));
    assert_eq!(bank.len(), 1, "{bank:#?}");
    assert!(bank[0].1.contains("12.50"), "{bank:#?}");
    assert!(
        bank.iter()
            .all(|(reason, _)| reason != "duplicate_statement"),
        "{bank:#?}"
    );
    let closed = i.json(&["exceptions", "--job", "bank-reconciliation", "--all"]);
    let settled = closed
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["detail"].as_str().unwrap().contains("238.00"))
        .expect("the payment's break of the bank reconciliation");
    assert!(
        settled["resolution"]
            .as_str()
            .unwrap()
            .contains("posted by job accounts-payable"),
        "{settled:#}"
    );

    // The bank mails the statement to accounts payable as well, and re-sends it: nothing is
    // posted again, and accounts payable is not told it received its own statement twice.
    let before = processed(&i);
    i.drop_file("var/inbox/payables", "stmt-1125.sta", STATEMENT.as_bytes());
    i.drop_file(
        "var/inbox/bank",
        "stmt-1125-resent.sta",
        resent().as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || processed(&i) >= before + 2),
        "{}",
        d.log()
    );
    assert_eq!(bank_lines(&i), vec!["-238.00".to_string()]);
    assert!(
        open_breaks(&i, Some("accounts-payable")).is_empty(),
        "{:#?}",
        open_breaks(&i, Some("accounts-payable"))
    );
    d.stop();
}

#[test]
fn a_statement_dropped_into_both_folders_is_taken_by_each_job_and_each_line_posted_once() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    approved_invoice(&i, &d);

    // Accounts payable receives it first and pays the invoice.
    i.drop_file("var/inbox/payables", "stmt-1125.sta", STATEMENT.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || ap_runs(&i) == 4),
        "{}",
        d.log()
    );
    assert_eq!(bank_lines(&i), vec!["-238.00".to_string()]);

    // Then the bank reconciliation: it takes the statement (it never had it), its copy of
    // the payment is already posted, and only the card payment is a break.
    let before = processed(&i);
    i.drop_file("var/inbox/bank", "stmt-1125.sta", STATEMENT.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || processed(&i) > before),
        "{}",
        d.log()
    );
    let bank = open_breaks(&i, Some("bank-reconciliation"));
    assert_eq!(bank.len(), 1, "{bank:#?}");
    assert_eq!(bank[0].0, "missing_in_ledger", "{bank:#?}");
    assert!(bank[0].1.contains("12.50"), "{bank:#?}");
    assert_eq!(bank_lines(&i), vec!["-238.00".to_string()], "posted once");

    // From now on the bank reconciliation reads this account: the next day's statement, sent
    // to accounts payable only, reaches it too.
    let next = ":20:STMT-2026-1126\n\
:25:DE02120300000000202051\n\
:28C:102/1\n\
:60F:C261125EUR9749,50\n\
:61:2611261126C500,00NTRFNONREF//B1126-01\n\
:86:166?00GUTSCHRIFT?20CUSTOMER PAYMENT\n\
:62F:C261126EUR10249,50\n\
-\n";
    let runs = i.runs_ok("bank-reconciliation");
    i.drop_file("var/inbox/payables", "stmt-1126.sta", next.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok("bank-reconciliation")
            > runs),
        "{}",
        d.log()
    );
    let bank = open_breaks(&i, Some("bank-reconciliation"));
    assert!(
        bank.iter().any(|(_, detail)| detail.contains("500.00")),
        "the receipt offered to the bank reconciliation is its to match: {bank:#?}"
    );
    // The card payment was accounts payable's break while only it had the statement; now the
    // bank reconciliation reports it, once.
    let card = |job: &str| {
        open_breaks(&i, Some(job))
            .into_iter()
            .filter(|(_, detail)| detail.contains("12.50"))
            .count()
    };
    assert_eq!(
        (card("bank-reconciliation"), card("accounts-payable")),
        (1, 0),
        "{}",
        d.log()
    );
    d.stop();
}

#[test]
fn a_payment_from_a_bank_account_the_chart_does_not_map_is_a_break_and_the_run_goes_on() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    approved_invoice(&i, &d);
    // The same payment from a bank account clerk.toml's [chart.bank_accounts] does not name.
    let unmapped = STATEMENT.replace("DE02120300000000202051", "DE75512108001245126199");
    i.drop_file("var/inbox/payables", "stmt-1125.sta", unmapped.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || ap_runs(&i) == 4),
        "the file is taken, not failed: {}",
        d.log()
    );
    assert_eq!(
        i.count(
            "SELECT COUNT(*) FROM entries e JOIN matches m ON m.id = e.match_id
             WHERE e.job = 'accounts-payable' AND m.pass <> 'goods_receipt'"
        ),
        1,
        "only the invoice is posted (and its goods at receipt)"
    );
    let breaks = open_breaks(&i, Some("accounts-payable"));
    assert!(
        breaks.iter().any(|(reason, detail)| reason == "unbalanced"
            && detail.contains("payment of INV-2026-0042")
            && detail.contains("[chart.bank_accounts]")),
        "{breaks:#?}"
    );
    d.stop();
}
