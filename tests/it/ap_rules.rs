//! Accounts payable's rules through the daemon: price limits that both apply, charges on the
//! invoice against the order's, lines paired by item ids. A person deciding a held invoice:
//! `ap_approve.rs`.

use crate::support::desk::Desk;
use crate::support::install::Install;

fn held(i: &Install) -> Vec<serde_json::Value> {
    i.json(&["exceptions", "--job", "accounts-payable"])
        .as_array()
        .unwrap()
        .clone()
}

/// The entry lines of invoices posted (goods received post to GR/IR at their receipt).
fn entry_lines(i: &Install) -> i64 {
    i.count(
        "SELECT COUNT(*) FROM entry_lines l JOIN entries e ON e.id = l.entry_id
         WHERE e.narrative NOT LIKE 'Goods %'",
    )
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
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
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
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
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
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
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

/// INV-2026-0050 (2 gadgets at 10.00 against PO-2002) with a 500.00 freight charge (BG-21).
fn with_freight() -> Vec<u8> {
    let xml =
        String::from_utf8(include_bytes!("../fixtures/payables/acme-INV-2026-0050.xml").to_vec())
            .unwrap();
    let charge = "<cac:AllowanceCharge><cbc:ChargeIndicator>true</cbc:ChargeIndicator>\
        <cbc:AllowanceChargeReasonCode>FC</cbc:AllowanceChargeReasonCode>\
        <cbc:AllowanceChargeReason>Freight</cbc:AllowanceChargeReason>\
        <cbc:Amount currencyID=\"EUR\">500.00</cbc:Amount>\
        <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>19</cbc:Percent>\
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:AllowanceCharge>\n <cac:TaxTotal>";
    xml.replacen(" <cac:TaxTotal>", charge, 1)
        .replace(">3.80<", ">98.80<")
        .replace(
            "<cbc:TaxableAmount currencyID=\"EUR\">20.00",
            "<cbc:TaxableAmount currencyID=\"EUR\">520.00",
        )
        .replace(
            "<cbc:TaxExclusiveAmount currencyID=\"EUR\">20.00</cbc:TaxExclusiveAmount>",
            "<cbc:ChargeTotalAmount currencyID=\"EUR\">500.00</cbc:ChargeTotalAmount><cbc:TaxExclusiveAmount currencyID=\"EUR\">520.00</cbc:TaxExclusiveAmount>",
        )
        .replace(">23.80<", ">618.80<")
        .into_bytes()
}

const GADGETS_RECEIVED: &[u8] =
    b"receipt_id,order,line,received,received_on\nGR-21,PO-2002,2,2,2026-11-24\n";

#[test]
fn a_freight_charge_the_order_does_not_agree_to_is_held_as_an_unexpected_charge() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop(
        "po-2002.csv",
        b"order,line,supplier,item,quantity,unit_price,currency\n\
          PO-2002,2,ACME GmbH,G-2,2,10.00,EUR\n",
    );
    drop("grn-2002.csv", GADGETS_RECEIVED);
    drop("acme-INV-2026-0050.xml", &with_freight());
    let held = held(&i);
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["reason"], "unexpected_charge");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail
            .contains("charge 1 (Freight) 500.00 EUR: purchase order PO-2002 agrees to no charge"),
        "{detail}"
    );
    assert_eq!(entry_lines(&i), 0);
    d.stop();
}

#[test]
fn a_freight_charge_on_the_order_passes() {
    let i = Install::with_shipped_chart("");
    i.edit_job(
        "accounts-payable",
        "po_number = \"order\"",
        "po_number = \"order\"\ncharge = \"kind\"",
    );
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    // The freight is a row of the order whose `kind` column says so: 1 × 500.00.
    drop(
        "po-2002.csv",
        b"order,line,supplier,item,quantity,unit_price,currency,kind\n\
          PO-2002,2,ACME GmbH,G-2,2,10.00,EUR,\n\
          PO-2002,9,ACME GmbH,,1,500.00,EUR,freight\n",
    );
    drop("grn-2002.csv", GADGETS_RECEIVED);
    drop("acme-INV-2026-0050.xml", &with_freight());
    assert!(held(&i).is_empty(), "{:#?}", held(&i));
    assert!(entry_lines(&i) > 0);
    d.stop();
}
