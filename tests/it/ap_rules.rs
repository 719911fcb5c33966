//! Accounts payable's rules through the daemon: price limits that both apply, charges on the
//! invoice against the order's, lines paired by item ids, and a person approving or rejecting
//! a held invoice (four eyes above the limit).

use std::time::Duration;

use crate::support::install::{Daemon, Install, wait_until};

const FOLDER: &str = "var/inbox/payables";

/// Drops a file into the accounts-payable folder and waits until its run has finished.
fn drop_and_wait(i: &Install, d: &Daemon, runs: &mut usize, name: &str, bytes: &[u8]) {
    i.drop_file(FOLDER, name, bytes);
    *runs += 1;
    let want = *runs;
    assert!(
        wait_until(Duration::from_secs(20), || i.runs_ok("accounts-payable")
            == want),
        "{name}: {}",
        d.log()
    );
}

fn held(i: &Install) -> Vec<serde_json::Value> {
    i.json(&["exceptions", "--job", "accounts-payable"])
        .as_array()
        .unwrap()
        .clone()
}

fn entry_lines(i: &Install) -> i64 {
    i.count("SELECT COUNT(*) FROM entry_lines")
}

/// The press ordered at 250,000.00, received, and invoiced at 252,500.00.
const PRESS_ORDER: &str = "order,line,supplier,item,quantity,unit_price,currency\n\
                           PO-9,1,ACME GmbH,PRESS-1,1,250000.00,EUR\n";
const PRESS_RECEIPT: &str =
    "receipt_id,order,line,received,received_on\nGR-9,PO-9,1,1,2026-11-18\n";
const PRESS_INVOICE: &str = "invoice,issue_date,supplier,supplier_vat_id,currency,order,line,quantity,unit_price,vat_rate,total\n\
     INV-1,2026-11-20,ACME GmbH,DE123456789,EUR,PO-9,1,1,252500.00,19,300475.00\n";

#[test]
fn a_price_within_the_percentage_but_beyond_the_absolute_limit_is_held() {
    // The shipped job: 0.05 per unit and 1 % of the ordered price. 1 % of 250,000.00 is
    // 2,500.00; both limits apply, so the invoice is held, not approved.
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut runs = 0;
    let mut drop = |name: &str, bytes: &[u8]| drop_and_wait(&i, &d, &mut runs, name, bytes);
    drop("po-9.csv", PRESS_ORDER.as_bytes());
    drop("grn-9.csv", PRESS_RECEIPT.as_bytes());
    drop("invoices-1.csv", PRESS_INVOICE.as_bytes());
    let held = held(&i);
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["reason"], "price_difference");
    assert_eq!(held[0]["difference"], "2500.00");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("invoice INV-1 from ACME GmbH")
            && detail.contains("2500.00 above the order per unit")
            && detail.contains("the stricter applies"),
        "{detail}"
    );
    assert_eq!(entry_lines(&i), 0, "nothing posted while held");
    d.stop();
}

#[test]
fn a_supplier_agreed_either_limit_is_approved_at_its_percentage() {
    let i = Install::with_shipped_chart("");
    i.edit_job(
        "accounts-payable",
        "[payables.accounts]",
        "[payables.suppliers.\"DE 123456789\"]\nprice_tolerance_rule = \"either\"\n\n[payables.accounts]",
    );
    let d = i.start_daemon();
    let mut runs = 0;
    let mut drop = |name: &str, bytes: &[u8]| drop_and_wait(&i, &d, &mut runs, name, bytes);
    drop("po-9.csv", PRESS_ORDER.as_bytes());
    drop("grn-9.csv", PRESS_RECEIPT.as_bytes());
    drop("invoices-1.csv", PRESS_INVOICE.as_bytes());
    assert!(held(&i).is_empty(), "{:#?}", held(&i));
    assert!(entry_lines(&i) > 0);
    d.stop();
}

#[test]
fn a_bad_tolerance_rule_names_file_line_and_what_was_expected() {
    let i = Install::with_shipped_chart("");
    i.edit_job(
        "accounts-payable",
        "price_tolerance = \"0.05\"",
        "price_tolerance = \"0.05\"\nprice_tolerance_rule = \"max\"",
    );
    let o = i.clerk(&["check"]);
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("accounts-payable.toml")
            && err.contains("price_tolerance_rule")
            && err.contains("\"stricter\""),
        "{err}"
    );
}

#[test]
fn an_invoice_line_pairs_with_the_order_line_its_item_id_names_not_one_at_the_same_price() {
    // PO-2002 orders 2 widgets and 2 gadgets at the same price; only the widgets arrived. The
    // invoice bills 2 "Gadget" (item id G-2) quoting no order line: it is the gadgets' line,
    // not yet received, so it is held; paired by price and quantity it was the widgets'.
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut runs = 0;
    let mut drop = |name: &str, bytes: &[u8]| drop_and_wait(&i, &d, &mut runs, name, bytes);
    drop(
        "po-2002.csv",
        b"order,line,supplier,item,quantity,unit_price,currency\n\
          PO-2002,1,ACME GmbH,W-1,2,10.00,EUR\n\
          PO-2002,2,ACME GmbH,G-2,2,10.00,EUR\n",
    );
    drop(
        "grn-2002.csv",
        b"receipt_id,order,line,received,received_on\nGR-20,PO-2002,1,2,2026-11-24\n",
    );
    drop(
        "acme-INV-2026-0050.xml",
        include_bytes!("../fixtures/payables/acme-INV-2026-0050.xml"),
    );
    let held = held(&i);
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["reason"], "quantity_difference");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("line 1: invoiced 2 at 10.00, nothing received yet: 2 not received"),
        "{detail}"
    );
    assert_eq!(entry_lines(&i), 0);
    d.stop();
}
