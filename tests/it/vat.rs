//! VAT of supplier invoices through the daemon and the shipped accounts-payable job on SKR03:
//! a domestic invoice at 19 % and 7 %, an EU reverse-charge service (both VAT sides posted,
//! the supplier owed the net), an exempt seminar, an invoice list showing its VAT, and a
//! payment that takes the 2 % cash discount within its period (the VAT corrected, § 17 UStG).

use crate::support::desk::Desk;
use crate::support::install::Install;

const DOMESTIC: &[u8] = include_bytes!("../fixtures/payables/schmidt-RE-2026-0815.xml");
const REVERSE_CHARGE: &[u8] = include_bytes!("../fixtures/payables/wien-2026-0093-cii.xml");
const EXEMPT: &[u8] = include_bytes!("../fixtures/payables/akademie-SEM-2026-311.xml");

const ORDERS: &str = "order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
                      PO-2001,1,Büro Schmidt GmbH,CH-1,4,50.00,EUR,\n\
                      PO-2001,2,Büro Schmidt GmbH,BK-7,10,10.00,EUR,\n\
                      PO-2002,1,Wien Consulting GmbH,CONS,1,1000.00,EUR,\n\
                      PO-2003,1,Akademie Weiterbildung e.V.,SEM,1,500.00,EUR,\n\
                      PO-2004,1,Papier Meyer KG,P-1,1,10.03,EUR,\n\
                      PO-2004,2,Papier Meyer KG,P-2,1,10.03,EUR,\n\
                      PO-2005,1,Papier Meyer KG,P-3,1,100.00,EUR,\n";

const RECEIPTS: &str = "receipt_id,order,line,received,received_on\n\
                        GR-21,PO-2001,1,4,2026-11-18\n\
                        GR-21,PO-2001,2,10,2026-11-18\n\
                        GR-22,PO-2002,1,1,2026-11-19\n\
                        GR-23,PO-2003,1,1,2026-11-19\n\
                        GR-24,PO-2004,1,1,2026-11-19\n\
                        GR-24,PO-2004,2,1,2026-11-19\n\
                        GR-25,PO-2005,1,1,2026-11-19\n";

const PAYABLES: &str = "1600 Verbindlichkeiten aus Lieferungen und Leistungen";
/// The goods receipt posted the goods against GR/IR; the invoice clears it at the net.
const GRIR: &str = "1605 WE/RE-Verrechnungskonto";

/// The lines of the entries whose narrative contains `what`, as (account, amount), sorted.
fn entry_lines(i: &Install, what: &str) -> Vec<(String, String)> {
    let db = i.db();
    let mut s = db
        .prepare(
            "SELECT l.account, l.amount FROM entry_lines l JOIN entries e ON e.id = l.entry_id \
             WHERE instr(e.narrative, ?1) > 0 ORDER BY l.account, l.amount",
        )
        .unwrap();
    s.query_map([what], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn owned(lines: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = lines
        .iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn domestic_reverse_charge_and_exempt_invoices_post_the_vat_their_tax_category_says() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop("po-2001.csv", ORDERS.as_bytes());
    drop("grn-0021.csv", RECEIPTS.as_bytes());
    drop("schmidt-RE-2026-0815.xml", DOMESTIC);
    drop("wien-2026-0093.xml", REVERSE_CHARGE);
    drop("akademie-SEM-2026-311.xml", EXEMPT);
    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    assert!(held.as_array().unwrap().is_empty(), "{held:#?}");

    // Domestic: each rate's VAT as shown, to its own input VAT account.
    assert_eq!(
        entry_lines(&i, "Invoice RE-2026-0815"),
        owned(&[
            (GRIR, "300.00"),
            ("1576 Abziehbare Vorsteuer 19 %", "38.00"),
            ("1571 Abziehbare Vorsteuer 7 %", "7.00"),
            (PAYABLES, "-345.00"),
        ])
    );
    // Reverse charge from Austria: 19 % owed by us, deducted and owed, both posted; the
    // supplier is owed the net.
    assert_eq!(
        entry_lines(&i, "Invoice 2026-0093"),
        owned(&[
            (GRIR, "1000.00"),
            ("1577 Abziehbare Vorsteuer nach § 13b UStG 19 %", "190.00"),
            ("1787 Umsatzsteuer nach § 13b UStG 19 %", "-190.00"),
            (PAYABLES, "-1000.00"),
        ])
    );
    // Exempt: no VAT line at all.
    assert_eq!(
        entry_lines(&i, "Invoice SEM-2026-311"),
        owned(&[(GRIR, "500.00"), (PAYABLES, "-500.00")])
    );
    d.stop();
}

#[test]
fn a_reverse_charge_invoice_without_a_tax_code_is_held_not_booked_without_its_vat() {
    let i = Install::with_shipped_chart("");
    // The job as before tax codes: a reverse-charge invoice must not post as if it had no VAT.
    let job = std::fs::read_to_string(i.path("jobs/accounts-payable.toml")).unwrap();
    let at = job.find("[[payables.tax_codes]]").unwrap();
    let end = job[at..]
        .find("\n# The ERP's headers")
        .map_or(job.len(), |e| at + e);
    std::fs::write(
        i.path("jobs/accounts-payable.toml"),
        format!("{}{}", &job[..at], &job[end..]),
    )
    .unwrap();
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop("po-2001.csv", ORDERS.as_bytes());
    drop("grn-0021.csv", RECEIPTS.as_bytes());
    drop("wien-2026-0093.xml", REVERSE_CHARGE);
    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:#?}");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("invoice 2026-0093 from Wien Consulting GmbH")
            && detail.contains("tax category AE")
            && detail.contains("[[payables.tax_codes]]"),
        "{detail}"
    );
    assert!(entry_lines(&i, "Invoice 2026-0093").is_empty());
    d.stop();
}

#[test]
fn an_invoice_list_deducts_the_vat_it_shows_and_holds_vat_more_than_a_cent_off() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop("po-2001.csv", ORDERS.as_bytes());
    drop("grn-0021.csv", RECEIPTS.as_bytes());
    // M-1: two lines of 10.03 at 19 %, each showing 1.91 VAT: 3.82, a cent more than 19 % of
    // 20.06 (3.81). M-2: 100.00 at 19 % showing 17.00 VAT instead of 19.00.
    drop(
        "invoices-2026-11.csv",
        "invoice,issue_date,supplier,supplier_vat_id,currency,order,line,quantity,unit_price,vat_rate,vat_amount,total\n\
         M-1,2026-11-20,Papier Meyer KG,DE456789123,EUR,PO-2004,1,1,10.03,19,1.91,23.88\n\
         M-1,2026-11-20,Papier Meyer KG,DE456789123,EUR,PO-2004,2,1,10.03,19,1.91,23.88\n\
         M-2,2026-11-21,Papier Meyer KG,DE456789123,EUR,PO-2005,1,1,100.00,19,17.00,117.00\n"
            .as_bytes(),
    );
    // What the invoice shows is what is deducted.
    assert_eq!(
        entry_lines(&i, "Invoice M-1 "),
        owned(&[
            (GRIR, "20.06"),
            ("1576 Abziehbare Vorsteuer 19 %", "3.82"),
            (PAYABLES, "-23.88"),
        ])
    );
    // More than a cent off is held, naming the invoice and both amounts; nothing posted.
    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:#?}");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("invoice M-2 from Papier Meyer KG")
            && detail.contains("the VAT shown at 19 % is 17.00, but 19 % of 100.00 is 19.00"),
        "{detail}"
    );
    assert!(entry_lines(&i, "Invoice M-2 ").is_empty());
    d.stop();
}

#[test]
fn a_payment_within_the_discount_period_takes_the_discount_and_corrects_the_vat() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop("po-2001.csv", ORDERS.as_bytes());
    drop("grn-0021.csv", RECEIPTS.as_bytes());
    drop("schmidt-RE-2026-0815.xml", DOMESTIC);
    // 2 % of 345.00 is 6.90: 338.10 paid on 30 November, within 14 days of 20 November.
    drop(
        "statement-1130.sta",
        b":20:STMT-2026-1130\n\
:25:DE02120300000000202051\n\
:28C:102/1\n\
:60F:C261129EUR10000,00\n\
:61:2611301130D338,10NTRFNONREF//B1130-01\n\
:86:166?00SEPA UEBERWEISUNG?20RE-2026-0815?32BUERO SCHMIDT GMBH\n\
:62F:C261130EUR9661,90\n\
-\n",
    );
    // The payable cleared in full; of the 6.90 discount, 19 % of 238/345 (0.76) and 7 % of
    // 107/345 (0.14) is VAT no longer deductible, 6.00 the discount received.
    assert_eq!(
        entry_lines(&i, "Payment of invoice RE-2026-0815"),
        owned(&[
            (PAYABLES, "345.00"),
            ("1210 Bank 2", "-338.10"),
            ("3730 Erhaltene Skonti", "-6.00"),
            ("1576 Abziehbare Vorsteuer 19 %", "-0.76"),
            ("1571 Abziehbare Vorsteuer 7 %", "-0.14"),
        ]),
        "{}",
        d.log()
    );
    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    assert!(held.as_array().unwrap().is_empty(), "{held:#?}");
    d.stop();
}
