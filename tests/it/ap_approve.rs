//! A person approving or rejecting a held invoice (`clerk exception approve|reject E-n`):
//! approved, it posts once as it stands (GR/IR at the order's value, the price difference to
//! price variance); rejected, nothing posts; either way its break closes naming who and why,
//! and neither a later run nor the same invoice sent again holds or posts it again. Above
//! `[http.approval]` the approval waits for a second person.

use crate::support::desk::Desk;
use crate::support::install::{Daemon, Install, ok, refused};

/// The press ordered at 250,000.00, received, and invoiced at 252,500.00: beyond the price
/// tolerance, so held.
const PRESS_ORDER: &str = "order,line,supplier,item,quantity,unit_price,currency\n\
                           PO-9,1,ACME GmbH,PRESS-1,1,250000.00,EUR\n";
const PRESS_RECEIPT: &str =
    "receipt_id,order,line,received,received_on\nGR-9,PO-9,1,1,2026-11-18\n";
const PRESS_INVOICE: &str = "invoice,issue_date,supplier,supplier_vat_id,currency,order,line,quantity,unit_price,vat_rate,total\n\
     INV-1,2026-11-20,ACME GmbH,DE123456789,EUR,PO-9,1,1,252500.00,19,300475.00\n";
/// The same invoice sent again in another file (a second line of another, unknown invoice
/// makes the file differ; it is held on its own).
const PRESS_INVOICE_AGAIN: &str = "invoice,issue_date,supplier,supplier_vat_id,currency,order,line,quantity,unit_price,vat_rate,total\n\
     INV-1,2026-11-20,ACME GmbH,DE123456789,EUR,PO-9,1,1,252500.00,19,300475.00\n\
     INV-2,2026-11-21,ACME GmbH,DE123456789,EUR,PO-99,1,1,10.00,19,11.90\n";

/// The held press invoice: an install with its order, receipt and invoice read.
fn held_press(extra: &str) -> (Install, Daemon) {
    let i = Install::with_shipped_chart(extra);
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    desk.payables("po-9.csv", PRESS_ORDER.as_bytes());
    desk.payables("grn-9.csv", PRESS_RECEIPT.as_bytes());
    desk.payables("invoices-1.csv", PRESS_INVOICE.as_bytes());
    (i, d)
}

fn open_breaks(i: &Install) -> Vec<serde_json::Value> {
    i.json(&["exceptions", "--job", "accounts-payable"])
        .as_array()
        .unwrap()
        .clone()
}

/// The label of the one open break about invoice `number`.
fn break_of(i: &Install, number: &str) -> String {
    let open = open_breaks(i);
    let about: Vec<_> = open
        .iter()
        .filter(|b| {
            b["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("invoice {number} "))
        })
        .collect();
    assert_eq!(about.len(), 1, "{open:#?}");
    about[0]["label"].as_str().unwrap().to_string()
}

/// The lines of the entries posted for invoices (not goods receipts), account and amount,
/// in posting order.
fn invoice_lines(i: &Install) -> Vec<(String, String)> {
    let db = i.db();
    let mut q = db
        .prepare(
            "SELECT l.account, l.amount FROM entry_lines l JOIN entries e ON e.id = l.entry_id
             WHERE e.narrative NOT LIKE 'Goods %' ORDER BY e.id, l.line_no",
        )
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn account(lines: &[(String, String)], number: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|(a, _)| a.starts_with(number))
        .map(|(_, amount)| amount.clone())
        .collect()
}

fn resolution(i: &Install, label: &str) -> String {
    i.json(&["exception", "show", label])["resolution"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_held_invoice_approved_by_a_person_posts_once_at_the_order_value_and_its_variance() {
    let (i, d) = held_press("");
    let e = break_of(&i, "INV-1");
    assert!(invoice_lines(&i).is_empty(), "nothing posted while held");
    refused(
        &i.clerk(&["exception", "approve", &e, "--by", "anna"]),
        "--reason",
    );
    let out = ok(&i.clerk(&[
        "exception",
        "approve",
        &e,
        "--reason",
        "price increase agreed by phone",
        "--by",
        "anna",
    ]));
    assert!(
        out.contains("invoice approved") && out.contains("by anna"),
        "{out}"
    );
    let lines = invoice_lines(&i);
    assert_eq!(
        account(&lines, "1605"),
        ["250000.00"],
        "GR/IR at order value: {lines:?}"
    );
    assert_eq!(
        account(&lines, "3250"),
        ["2500.00"],
        "price variance: {lines:?}"
    );
    assert_eq!(
        account(&lines, "1576"),
        ["47975.00"],
        "input VAT: {lines:?}"
    );
    assert_eq!(
        account(&lines, "1600"),
        ["-300475.00"],
        "payable: {lines:?}"
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    let r = resolution(&i, &e);
    assert!(
        r.contains("approved by anna") && r.contains("price increase agreed by phone"),
        "{r}"
    );
    assert!(open_breaks(&i).is_empty(), "{:#?}", open_breaks(&i));
    // Approved once: a second approval is refused, and a later run with the same invoice sent
    // again neither holds nor posts it.
    refused(
        &i.clerk(&[
            "exception",
            "approve",
            &e,
            "--reason",
            "again",
            "--by",
            "marc",
        ]),
        "already resolved",
    );
    // A desk of its own: the approval's manual run counted as one of the job's runs.
    Desk::new(&i, &d).payables("invoices-1-again.csv", PRESS_INVOICE_AGAIN.as_bytes());
    assert_eq!(invoice_lines(&i), lines, "posted once");
    let open = open_breaks(&i);
    assert!(
        open.iter()
            .all(|b| !b["detail"].as_str().unwrap().contains("invoice INV-1 ")),
        "{open:#?}"
    );
    d.stop();
}

#[test]
fn a_rejected_invoice_posts_nothing_and_is_not_held_again_when_sent_again() {
    let (i, d) = held_press("");
    let e = break_of(&i, "INV-1");
    let out = ok(&i.clerk(&[
        "exception",
        "reject",
        &e,
        "--reason",
        "price not agreed; supplier asked for a credit note",
        "--by",
        "anna",
    ]));
    assert!(out.contains("nothing posted"), "{out}");
    assert!(invoice_lines(&i).is_empty());
    let r = resolution(&i, &e);
    assert!(
        r.contains("rejected by anna") && r.contains("price not agreed"),
        "{r}"
    );
    assert!(open_breaks(&i).is_empty(), "{:#?}", open_breaks(&i));
    // A desk of its own: the approval's manual run counted as one of the job's runs.
    Desk::new(&i, &d).payables("invoices-1-again.csv", PRESS_INVOICE_AGAIN.as_bytes());
    assert!(invoice_lines(&i).is_empty(), "{:?}", invoice_lines(&i));
    let open = open_breaks(&i);
    assert!(
        open.iter()
            .all(|b| !b["detail"].as_str().unwrap().contains("invoice INV-1 ")),
        "the rejected invoice is not held again: {open:#?}"
    );
    // The other invoice of the file is held as any other.
    break_of(&i, "INV-2");
    d.stop();
}

#[test]
fn above_the_approval_limit_a_held_invoice_waits_for_a_second_person() {
    let (i, d) = held_press("[http.approval]\nabove = \"100000.00\"\n");
    let e = break_of(&i, "INV-1");
    let out = ok(&i.clerk(&[
        "exception",
        "approve",
        &e,
        "--reason",
        "price increase agreed",
        "--by",
        "anna",
    ]));
    assert!(out.contains("needs approval by another person"), "{out}");
    let a = out
        .split("proposed as ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    assert!(
        invoice_lines(&i).is_empty(),
        "nothing posted while proposed"
    );
    let pending = i.json(&["exception", "proposals"]);
    assert_eq!(pending[0]["kind"], "approve_invoice", "{pending:#}");
    refused(
        &i.clerk(&["exception", "approve", &a, "--by", "anna"]),
        "nobody approves their own",
    );
    refused(
        &i.clerk(&["exception", "reject", &e, "--reason", "no", "--by", "marc"]),
        "awaits approval",
    );
    refused(
        &i.clerk(&["exception", "approve", &a, "--reason", "ok", "--by", "marc"]),
        "leave out --reason",
    );
    ok(&i.clerk(&["exception", "approve", &a, "--by", "marc"]));
    let lines = invoice_lines(&i);
    assert_eq!(account(&lines, "1600"), ["-300475.00"], "{lines:?}");
    assert_eq!(account(&lines, "3250"), ["2500.00"], "{lines:?}");
    let r = resolution(&i, &e);
    assert!(r.contains("approved by anna") && r.contains("marc"), "{r}");
    refused(
        &i.clerk(&["exception", "approve", &a, "--by", "olga"]),
        "approved already",
    );
    assert_eq!(invoice_lines(&i), lines, "posted once");
    d.stop();
}
