//! Accounts payable through the daemon: an invoice held because goods are missing, approved
//! and posted when the receipt arrives, then paid from the bank statement.

use std::time::Duration;

use crate::support::desk::Desk;
use crate::support::install::{Install, wait_until};

const INVOICE: &[u8] = include_bytes!("../fixtures/payables/acme-INV-2026-0042.xml");

const ORDERS: &str = "order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
                      PO-1001,1,ACME GmbH,W-1,10,10.00,EUR,4930 Buerobedarf\n\
                      PO-1001,2,ACME GmbH,G-2,5,20.00,EUR,\n";

const STATEMENT: &str = ":20:STMT-2026-1125\n\
:25:DE02120300000000202051\n\
:28C:101/1\n\
:60F:C261124EUR10000,00\n\
:61:2611251125D238,00NTRFNONREF//B1125-77\n\
:86:166?00SEPA UEBERWEISUNG?20INV-2026-0042?32ACME GMBH\n\
:62F:C261125EUR9762,00\n\
-\n";

fn lines(i: &Install) -> Vec<(String, String)> {
    let db = i.db();
    let mut s = db
        .prepare("SELECT account, amount FROM entry_lines ORDER BY account, amount")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What each account holds, summed over every entry line (accounts at zero included).
pub(crate) fn balances(i: &Install) -> Vec<(String, String)> {
    let mut by: std::collections::BTreeMap<String, rust_decimal::Decimal> = Default::default();
    for (account, amount) in lines(i) {
        *by.entry(account).or_default() += amount.parse::<rust_decimal::Decimal>().unwrap();
    }
    by.into_iter()
        .map(|(a, m)| (a, m.normalize().to_string()))
        .collect()
}

fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect()
}

const GRIR: &str = "1605 WE/RE-Verrechnungskonto";
const PAYABLES: &str = "1600 Verbindlichkeiten aus Lieferungen und Leistungen";

/// The books once the approved INV-…-0042/INV-77 is posted against its goods: 10 widgets at
/// 10.00 received to the office supplies the order names (spelled otherwise than the chart),
/// 5 gadgets at 20.00 to the default account, both credited to GR/IR at receipt; the invoice
/// debits GR/IR by the same 200.00 (it nets to zero), 19 % VAT, and owes the supplier 238.00.
fn invoice_posted() -> Vec<(String, String)> {
    owned(&[
        ("1576 Abziehbare Vorsteuer 19 %", "38"),
        (PAYABLES, "-238"),
        (GRIR, "0"),
        ("3200 Wareneingang", "100"),
        ("4930 Bürobedarf", "100"),
    ])
}

#[test]
fn an_invoice_is_held_until_its_goods_arrive_then_posted_and_paid() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop("po-1001.csv", ORDERS.as_bytes());
    // Only 3 of the 5 gadgets have arrived.
    drop(
        "grn-0001.csv",
        b"receipt_id,order,line,received,received_on\nGR-1,PO-1001,1,10,2026-11-18\nGR-1,PO-1001,2,3,2026-11-18\n",
    );
    drop("acme-INV-2026-0042.xml", INVOICE);

    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["reason"], "quantity_difference");
    let detail = held[0]["detail"].as_str().unwrap();
    assert!(
        detail
            .contains("invoice INV-2026-0042 from ACME GmbH of 238.00 EUR (order PO-1001) on hold")
            && detail.contains("line 2")
            && detail.contains("2 not received"),
        "{detail}"
    );
    assert_eq!(held[0]["amount"], "238.00");
    // The goods that arrived are in the books at the order's price, the held invoice is not.
    assert_eq!(
        balances(&i),
        owned(&[
            (GRIR, "-160"),
            ("3200 Wareneingang", "60"),
            ("4930 Bürobedarf", "100")
        ]),
        "receipts posted, nothing of the invoice while held"
    );

    // The rest of the delivery: the invoice agrees, is posted, and its break closes.
    drop(
        "grn-0002.csv",
        b"receipt_id,order,line,received,received_on\nGR-2,PO-1001,2,2,2026-11-24\n",
    );
    assert!(
        i.json(&["exceptions", "--job", "accounts-payable"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let closed = i.json(&["exceptions", "--job", "accounts-payable", "--all"]);
    assert_eq!(
        closed[0]["resolution"],
        "approved: agrees with its purchase order and goods receipts; posted"
    );
    assert_eq!(balances(&i), invoice_posted());
    let entries = i.count("SELECT COUNT(*) FROM entries");
    assert_eq!(entries, 4, "three receipt lines and the invoice");

    // The ERP exports the same receipt again in another file: it is known, counted once, and
    // nothing more is posted.
    drop(
        "grn-0002-resent.csv",
        b"receipt_id,order,line,received,received_on\r\nGR-2,PO-1001,2,2,2026-11-24\r\n",
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM entries"), entries);

    // The bank statement pays it: debit the payable, credit the bank.
    drop("statement-1125.sta", STATEMENT.as_bytes());
    assert_eq!(i.count("SELECT COUNT(*) FROM entries"), entries + 1);
    let posted = lines(&i);
    // The statement's account (DE02…2051) is 1210 in clerk.toml's [chart.bank_accounts].
    assert!(
        posted.contains(&("1210 Bank 2".to_string(), "-238.00".to_string())),
        "{posted:#?}"
    );
    // The payment's entry names the bank line it settles and the invoice it pays.
    let journal = i.json(&["journal", "--job", "accounts-payable"]);
    let paid = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["narrative"]
                .as_str()
                .unwrap()
                .starts_with("Payment of invoice")
        })
        .unwrap_or_else(|| panic!("{journal:#}"));
    let from = paid["sources"].to_string();
    assert!(
        from.contains("statement-1125.sta") && from.contains("acme-INV-2026-0042.xml"),
        "{from}"
    );
    assert!(
        posted.contains(&(
            "1600 Verbindlichkeiten aus Lieferungen und Leistungen".to_string(),
            "238.00".to_string()
        )),
        "{posted:#?}"
    );
    let status = i.status();
    let ap = status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "accounts-payable")
        .unwrap();
    assert_eq!(ap["entries_posted"], 5, "{ap}");
    assert_eq!(ap["breaks_opened"], 1, "{ap}");
    assert_eq!(ap["breaks_closed"], 1, "{ap}");
    d.stop();
}

#[test]
fn an_invoice_list_in_csv_is_matched_three_ways_and_posted_like_a_ubl_invoice() {
    let i = Install::with_shipped_chart("");
    let d = i.start_daemon();
    let folder = "var/inbox/payables";
    let mut desk = Desk::new(&i, &d);
    let mut drop = |name: &str, bytes: &[u8]| desk.payables(name, bytes);
    drop("po-1001.csv", ORDERS.as_bytes());
    drop(
        "grn-0001.csv",
        b"receipt_id,order,line,received,received_on\nGR-1,PO-1001,1,10,2026-11-18\nGR-1,PO-1001,2,5,2026-11-18\n",
    );
    // Two invoices in one list: the first agrees with the order, the second (another order)
    // has no purchase order to match.
    drop(
        "invoices-2026-11.csv",
        b"invoice,issue_date,supplier,supplier_iban,currency,order,line,quantity,unit_price,vat_rate,total\n\
          INV-77,2026-11-20,ACME GmbH,DE89370400440532013000,EUR,PO-1001,1,10,10.00,19,238.00\n\
          INV-78,2026-11-21,ACME GmbH,DE89370400440532013000,EUR,PO-9999,1,1,50.00,19,59.50\n\
          INV-77,2026-11-20,ACME GmbH,DE89370400440532013000,EUR,PO-1001,2,5,20.00,19,238.00\n",
    );
    assert_eq!(balances(&i), invoice_posted(), "{}", d.log());
    let held = i.json(&["exceptions", "--job", "accounts-payable"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["reason"], "no_purchase_order");
    assert!(
        held[0]["detail"].as_str().unwrap().contains("INV-78"),
        "{held:#?}"
    );
    assert!(
        held[0]["source"]
            .as_str()
            .unwrap()
            .contains("invoices-2026-11.csv line 3"),
        "{held:#?}"
    );

    // A list with a bad row is refused whole, naming line and column, and kept in failed/.
    i.drop_file(
        folder,
        "invoices-2026-12.csv",
        b"invoice,issue_date,supplier,currency,order,line,quantity,unit_price,vat_rate\n\
          INV-80,2026-12-01,ACME GmbH,EUR,PO-1001,1,ten,10.00,19\n",
    );
    // The note is written first, then the file moved beside it: wait for both.
    let failed = "accounts-payable/invoices-2026-12.csv";
    let note = format!("{failed}.error.txt");
    assert!(
        wait_until(Duration::from_secs(120), || {
            let there = i.files_under("var/failed");
            there.iter().any(|f| f == failed) && there.contains(&note)
        }),
        "{:?}\n{}",
        i.files_under("var/failed"),
        d.log()
    );
    let text = std::fs::read_to_string(i.path("var/failed").join(note)).unwrap();
    assert!(
        text.contains("line 2") && text.contains("quantity"),
        "{text}"
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM entries"),
        3,
        "nothing more posted"
    );
    d.stop();
}
