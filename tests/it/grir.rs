//! GR/IR through the daemon with the shipped accounts-payable job and SKR03 chart: goods are
//! in the books when they arrive (1605 WE/RE-Verrechnungskonto credited at the order's price),
//! the invoice clears them and books a price difference to 3250, `clerk payables grir` lists
//! what is received and not invoiced; goods credited without a return are not invoiced twice;
//! every entry names the invoice, order and receipt lines it came from.

use crate::payables::balances;
use crate::support::desk::Desk;
use crate::support::install::Install;

pub(crate) const GRIR: &str = "1605 WE/RE-Verrechnungskonto";
pub(crate) const PAYABLES: &str = "1600 Verbindlichkeiten aus Lieferungen und Leistungen";
pub(crate) const VARIANCE: &str = "3250 Preisdifferenzen Wareneingang";
pub(crate) const GOODS: &str = "3200 Wareneingang";
pub(crate) const VAT: &str = "1576 Abziehbare Vorsteuer 19 %";
pub(crate) const RECEIPTS: &str = "receipt_id,order,line,received,received_on\n";

fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect()
}

/// A UBL invoice or credit note (`credit`) of Stuhlwerk GmbH against `po`: one line per
/// (order line, quantity, unit price), all at 19 % VAT.
pub(crate) fn ubl(
    credit: bool,
    number: &str,
    date: &str,
    po: &str,
    lines: &[(&str, &str, &str)],
) -> String {
    let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    let (root, line_tag, qty_tag, type_tag, code) = if credit {
        (
            "CreditNote",
            "CreditNoteLine",
            "CreditedQuantity",
            "CreditNoteTypeCode",
            "381",
        )
    } else {
        (
            "Invoice",
            "InvoiceLine",
            "InvoicedQuantity",
            "InvoiceTypeCode",
            "380",
        )
    };
    let mut net = rust_decimal::Decimal::ZERO;
    let mut body = String::new();
    for (n, (order_line, qty, price)) in lines.iter().enumerate() {
        let amount = (d(qty) * d(price)).round_dp(2);
        net += amount;
        body.push_str(&format!(
            " <cac:{line_tag}><cbc:ID>{}</cbc:ID><cbc:{qty_tag} unitCode=\"C62\">{qty}</cbc:{qty_tag}>\n\
              <cbc:LineExtensionAmount currencyID=\"EUR\">{amount:.2}</cbc:LineExtensionAmount>\n\
              <cac:OrderLineReference><cbc:LineID>{order_line}</cbc:LineID></cac:OrderLineReference>\n\
              <cac:Item><cbc:Name>Item</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>19</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>\n\
              <cac:Price><cbc:PriceAmount currencyID=\"EUR\">{price}</cbc:PriceAmount></cac:Price></cac:{line_tag}>\n",
            n + 1
        ));
    }
    let vat = (net * d("0.19")).round_dp(2);
    let total = net + vat;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<{root} xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:{root}-2\"\n\
 xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\"\n\
 xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">\n\
 <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>\n\
 <cbc:ID>{number}</cbc:ID>\n <cbc:IssueDate>{date}</cbc:IssueDate>\n\
 <cbc:{type_tag}>{code}</cbc:{type_tag}>\n <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>\n\
 <cac:OrderReference><cbc:ID>{po}</cbc:ID></cac:OrderReference>\n\
 <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Stuhlwerk GmbH</cbc:Name></cac:PartyName>\n\
  <cac:PartyTaxScheme><cbc:CompanyID>DE811111111</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>\n\
 </cac:Party></cac:AccountingSupplierParty>\n\
 <cac:AccountingCustomerParty><cac:Party><cac:PartyName><cbc:Name>Example Bank AG</cbc:Name></cac:PartyName></cac:Party></cac:AccountingCustomerParty>\n\
 <cac:TaxTotal><cbc:TaxAmount currencyID=\"EUR\">{vat:.2}</cbc:TaxAmount>\n\
  <cac:TaxSubtotal><cbc:TaxableAmount currencyID=\"EUR\">{net:.2}</cbc:TaxableAmount><cbc:TaxAmount currencyID=\"EUR\">{vat:.2}</cbc:TaxAmount>\n\
   <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>19</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>\n\
 <cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID=\"EUR\">{net:.2}</cbc:LineExtensionAmount>\n\
  <cbc:TaxExclusiveAmount currencyID=\"EUR\">{net:.2}</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID=\"EUR\">{total:.2}</cbc:TaxInclusiveAmount>\n\
  <cbc:PayableAmount currencyID=\"EUR\">{total:.2}</cbc:PayableAmount></cac:LegalMonetaryTotal>\n\
{body}</{root}>\n"
    )
}

/// The job's entries as `clerk journal --json` shows them.
fn entries(i: &Install) -> Vec<serde_json::Value> {
    let j = i.json(&["journal", "--job", "accounts-payable"]);
    j.as_array()
        .or_else(|| j["entries"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("{j:#}"))
}

/// The entry whose narrative contains `what`.
fn entry(i: &Install, what: &str) -> serde_json::Value {
    let all = entries(i);
    all.iter()
        .find(|e| e["narrative"].as_str().unwrap_or("").contains(what))
        .cloned()
        .unwrap_or_else(|| panic!("no entry {what}: {all:#?}"))
}

fn sources(e: &serde_json::Value) -> String {
    e["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn received_chairs_are_in_the_books_until_invoiced_and_a_price_difference_is_a_variance() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop(
        "po-2001.csv",
        b"order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
          PO-2001,1,Stuhlwerk GmbH,CHAIR-6,6,149.00,EUR,\n",
    );
    let receipt = format!("{RECEIPTS}GR-20,PO-2001,1,6,2026-11-20\n");
    drop("grn-2001.csv", receipt.as_bytes());

    // 6 chairs received on 20 Nov, not invoiced: in the books at the order's price.
    assert_eq!(
        balances(&i),
        owned(&[(GRIR, "-894"), (GOODS, "894")]),
        "{}",
        d.log()
    );
    let received = entry(&i, "Goods receipt GR-20");
    let from = sources(&received);
    assert!(
        from.contains("grn-2001.csv line 2 (goods receipt GR-20)")
            && from.contains("po-2001.csv line 2 (purchase order PO-2001 line 1)"),
        "{from}"
    );
    let open = i.json(&["payables", "grir"]);
    let lines = open["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{open:#}");
    assert_eq!(lines[0]["po_number"], "PO-2001");
    assert_eq!(lines[0]["line"], "1");
    assert_eq!(lines[0]["item"], "CHAIR-6");
    assert_eq!(lines[0]["supplier"], "Stuhlwerk GmbH");
    assert_eq!(lines[0]["received_quantity"], "6");
    assert_eq!(lines[0]["received_value"], "894.00");
    assert_eq!(lines[0]["invoiced_quantity"], "0");
    assert_eq!(lines[0]["open"], "894.00");
    assert_eq!(lines[0]["received_on"], "2026-11-20");
    assert_eq!(open["totals"][0]["currency"], "EUR");
    assert_eq!(open["totals"][0]["open"], "894.00");

    // The warehouse exports the receipt again (another file, its lines ending otherwise):
    // nothing is posted twice.
    drop(
        "grn-2001-again.csv",
        receipt.replace('\n', "\r\n").as_bytes(),
    );
    assert_eq!(entries(&i).len(), 1);
    assert_eq!(balances(&i), owned(&[(GRIR, "-894"), (GOODS, "894")]));

    // The invoice charges 149.05 a chair (within both the shipped limits, 0.05 and 1 %): GR/IR
    // is cleared at the order's 894.00, the 0.30 more is a price variance, never more stock.
    let invoice = ubl(
        false,
        "SW-500",
        "2026-11-25",
        "PO-2001",
        &[("1", "6", "149.05")],
    );
    drop("stuhlwerk-SW-500.xml", invoice.as_bytes());
    assert_eq!(
        balances(&i),
        owned(&[
            (VAT, "169.92"),
            (PAYABLES, "-1064.22"),
            (GRIR, "0"),
            (GOODS, "894"),
            (VARIANCE, "0.3"),
        ]),
        "{}",
        d.log()
    );
    let open = i.json(&["payables", "grir"]);
    assert!(open["lines"].as_array().unwrap().is_empty(), "{open:#}");
    assert!(open["totals"].as_array().unwrap().is_empty(), "{open:#}");

    // The invoice's entry names its invoice, order and receipt lines, and explains itself.
    let posted = entry(&i, "Invoice SW-500");
    let from = sources(&posted);
    assert!(
        from.contains("stuhlwerk-SW-500.xml")
            && from.contains("(invoice SW-500")
            && from.contains("po-2001.csv line 2 (purchase order PO-2001 line 1)")
            && from.contains("grn-2001.csv line 2 (goods receipt GR-20)"),
        "{from}"
    );
    let id = posted["match_id"].to_string();
    let out = i.clerk(&["explain", "match", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("rule three_way")
            && text.contains("invoice SW-500 from Stuhlwerk GmbH")
            && text.contains("line 1 -> order PO-2001 line 1 (CHAIR-6): 6 at 149.05 (ordered at 149.00), receipts GR-20 of 6 on 2026-11-20; 6 cleared against GR/IR")
            && text.contains("from grn-2001.csv line 2 (goods receipt GR-20)")
            && !text.contains("ours"),
        "{text}"
    );
    d.stop();
}

#[test]
fn goods_credited_without_a_return_are_not_invoiced_again_until_sent_back_and_delivered() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop(
        "po-3001.csv",
        b"order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
          PO-3001,1,Stuhlwerk GmbH,W-1,10,10.00,EUR,\n",
    );
    drop(
        "grn-3001.csv",
        format!("{RECEIPTS}GR-30,PO-3001,1,10,2026-11-18\n").as_bytes(),
    );
    let inv =
        |n: &str, date: &str, qty: &str| ubl(false, n, date, "PO-3001", &[("1", qty, "10.00")]);
    let cn = |n: &str, date: &str, qty: &str| ubl(true, n, date, "PO-3001", &[("1", qty, "10.00")]);
    drop("sw-601.xml", inv("SW-601", "2026-11-19", "10").as_bytes());
    // 2 widgets credited, none sent back: a price reduction after the fact. GR/IR stays at
    // zero, the credit goes to price variance.
    drop(
        "sw-cn-601.xml",
        cn("SW-CN-601", "2026-11-20", "2").as_bytes(),
    );
    assert_eq!(
        balances(&i),
        owned(&[
            (VAT, "15.2"),
            (PAYABLES, "-95.2"),
            (GRIR, "0"),
            (GOODS, "100"),
            (VARIANCE, "-20"),
        ]),
        "{}",
        d.log()
    );
    // A new invoice for the same 2 widgets: the 10 received are invoiced already. Held.
    drop("sw-602.xml", inv("SW-602", "2026-11-21", "2").as_bytes());
    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["reason"], "quantity_difference");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("SW-602") && detail.contains("already invoiced"),
        "{detail}"
    );
    assert_eq!(entries(&i).len(), 3, "nothing posted for SW-602");

    // 2 sent back (a return receipt) and their credit note: the return debits GR/IR, the
    // credit note credits it again; SW-602 is still held, nothing came to replace them.
    drop(
        "grn-3002.csv",
        format!("{RECEIPTS}GR-31,PO-3001,1,-2,2026-11-22\n").as_bytes(),
    );
    drop(
        "sw-cn-602.xml",
        cn("SW-CN-602", "2026-11-23", "2").as_bytes(),
    );
    assert_eq!(
        balances(&i),
        owned(&[
            (VAT, "11.4"),
            (PAYABLES, "-71.4"),
            (GRIR, "0"),
            (GOODS, "80"),
            (VARIANCE, "-20"),
        ]),
        "{}",
        d.log()
    );
    assert_eq!(
        i.json(&["exceptions", "--job", "accounts-payable"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The 2 delivered anew: SW-602 invoices them and is posted against their receipt.
    drop(
        "grn-3003.csv",
        format!("{RECEIPTS}GR-32,PO-3001,1,2,2026-11-24\n").as_bytes(),
    );
    assert!(
        i.json(&["exceptions", "--job", "accounts-payable"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        balances(&i),
        owned(&[
            (VAT, "15.2"),
            (PAYABLES, "-95.2"),
            (GRIR, "0"),
            (GOODS, "100"),
            (VARIANCE, "-20"),
        ]),
    );
    // Approved in the run of the receipt that arrived last, its entry still names the
    // invoice's file.
    let posted = entry(&i, "Invoice SW-602");
    let from = sources(&posted);
    assert!(
        from.contains("sw-602.xml") && from.contains("grn-3003.csv line 2 (goods receipt GR-32)"),
        "{from}"
    );
    let receipt_run = entry(&i, "Goods receipt GR-32")["run_id"].clone();
    assert_eq!(posted["run_id"], receipt_run, "posted by the receipt's run");
    // The credit note that sent goods back names the return it credits.
    let from = sources(&entry(&i, "Credit note SW-CN-602"));
    assert!(
        from.contains("sw-cn-602.xml")
            && from.contains("grn-3002.csv line 2 (goods receipt GR-31)"),
        "{from}"
    );
    d.stop();
}

#[test]
fn the_summary_lists_goods_received_and_not_invoiced() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop(
        "po-2001.csv",
        b"order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
          PO-2001,1,Stuhlwerk GmbH,CHAIR-6,6,149.00,EUR,\n",
    );
    drop(
        "grn-2001.csv",
        format!("{RECEIPTS}GR-20,PO-2001,1,6,2026-11-20\n").as_bytes(),
    );
    d.stop();

    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts = crate::bank::summary_texts(&i);
    let summary = texts
        .iter()
        .find(|t| t.contains("Goods received, not yet invoiced (open GR/IR)"))
        .unwrap_or_else(|| panic!("no GR/IR section in {texts:#?}"));
    assert!(
        summary.contains("894.00")
            && summary.contains("2026-11-20")
            && summary.contains("Stuhlwerk GmbH PO-2001 line 1"),
        "{summary}"
    );
}

/// An install that ran without GR/IR (invoices debited expense) switches it on: the goods
/// its invoices already expensed are not booked again when the next run posts receipts; only
/// what was received and not yet invoiced goes to GR/IR.
#[test]
fn switching_grir_on_books_no_goods_twice() {
    let i = Install::with_shipped_chart("");
    let grir_lines = "grir = \"1605 WE/RE-Verrechnungskonto\"\nprice_variance = \"3250 Preisdifferenzen Wareneingang\"\n";
    i.edit_job("accounts-payable", grir_lines, "");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    desk.payables(
        "po-5001.csv",
        b"order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
          PO-5001,1,Stuhlwerk GmbH,W-1,10,10.00,EUR,\n",
    );
    desk.payables(
        "grn-5001.csv",
        format!("{RECEIPTS}GR-50,PO-5001,1,6,2026-11-18\nGR-51,PO-5001,1,4,2026-11-19\n")
            .as_bytes(),
    );
    // 6 of the 10 invoiced before the switch: 60.00 to expense.
    desk.payables(
        "sw-501.xml",
        ubl(
            false,
            "SW-501",
            "2026-11-20",
            "PO-5001",
            &[("1", "6", "10.00")],
        )
        .as_bytes(),
    );
    assert_eq!(
        balances(&i),
        owned(&[(VAT, "11.4"), (PAYABLES, "-71.4"), (GOODS, "60")])
    );
    d.stop();

    // GR/IR on; the next file's run posts the receipts: only the 4 not yet invoiced.
    i.edit_job(
        "accounts-payable",
        "[payables.accounts]\n",
        &format!("[payables.accounts]\n{grir_lines}"),
    );
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    desk.payables(
        "sw-502.xml",
        ubl(
            false,
            "SW-502",
            "2026-11-21",
            "PO-5001",
            &[("1", "4", "10.00")],
        )
        .as_bytes(),
    );
    assert_eq!(
        balances(&i),
        owned(&[(VAT, "19"), (PAYABLES, "-119"), (GRIR, "0"), (GOODS, "100"),]),
        "{}",
        d.log()
    );
    d.stop();
}
