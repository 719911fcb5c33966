//! A day of the back office through one daemon, as a controller would check it at night:
//! purchase orders, goods receipts, a supplier invoice with a small price difference, a credit
//! note, the payment on the bank statement, three trades and the custodian's confirmations.
//! The books end where a table worked out by hand says: GR/IR, payables, the settlement
//! clearing and both cash accounts, to the cent.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::grir::{GOODS, GRIR, PAYABLES, RECEIPTS, VARIANCE, VAT, ubl};
use crate::support::books::{open_breaks, trial_balance};
use crate::support::desk::Desk;
use crate::support::install::Install;
use crate::trades::{ACCRUED, BLOTTER, CASH, CLEARING, SECURITIES, mt536};

const BANK: &str = "1210 Bank 2";

/// The house bank's statement of 25 November: the invoice SW-700 paid in full.
const STATEMENT: &str = ":20:STMT-2026-1125\n\
:25:DE02120300000000202051\n\
:28C:101/1\n\
:60F:C261124EUR10000,00\n\
:61:2611251125D2015,98NTRFNONREF//B1125-88\n\
:86:166?00SEPA UEBERWEISUNG?20SW-700?32STUHLWERK GMBH\n\
:62F:C261125EUR7984,02\n\
-\n";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn a_days_orders_receipts_invoices_payments_and_trades_leave_the_books_as_computed_by_hand() {
    let i = Install::with_shipped_chart("");
    let daemon = i.start_daemon();
    let mut desk = Desk::new(&i, &daemon);

    // Purchasing: six chairs and two desks from Stuhlwerk, ten widgets on another order.
    desk.payables(
        "po-4001.csv",
        b"order,line,supplier,item,quantity,unit_price,currency,expense_account\n\
          PO-4001,1,Stuhlwerk GmbH,CHAIR-6,6,149.00,EUR,\n\
          PO-4001,2,Stuhlwerk GmbH,DESK-2,2,400.00,EUR,\n\
          PO-4002,1,Stuhlwerk GmbH,W-1,10,10.00,EUR,\n",
    );
    // The warehouse receives all of it on 20 November: 1,794.00 at order prices.
    desk.payables(
        "grn-4001.csv",
        format!(
            "{RECEIPTS}GR-41,PO-4001,1,6,2026-11-20\nGR-41,PO-4001,2,2,2026-11-20\n\
             GR-42,PO-4002,1,10,2026-11-20\n"
        )
        .as_bytes(),
    );
    // Stuhlwerk invoices PO-4001: the chairs at the order price, the desks 0.05 dearer (within
    // both limits): 1,694.10 net, 321.88 VAT, 2,015.98 due.
    desk.payables(
        "stuhlwerk-SW-700.xml",
        ubl(
            false,
            "SW-700",
            "2026-11-21",
            "PO-4001",
            &[("1", "6", "149.00"), ("2", "2", "400.05")],
        )
        .as_bytes(),
    );
    // A scratched desk, kept: Stuhlwerk credits one desk (400.05 and its 76.01 VAT).
    desk.payables(
        "stuhlwerk-SW-CN-700.xml",
        ubl(
            true,
            "SW-CN-700",
            "2026-11-22",
            "PO-4001",
            &[("2", "1", "400.05")],
        )
        .as_bytes(),
    );
    // The bank pays SW-700 in full on 25 November.
    desk.payables("mt940-20261125.sta", STATEMENT.as_bytes());

    // The front office's blotter and the custodian's MT536: two trades settle, the bond fails.
    desk.drop(
        "trade-settlement",
        "var/inbox/settlements",
        "blotter-20260327.csv",
        BLOTTER.as_bytes(),
    );
    desk.drop(
        "trade-settlement",
        "var/inbox/settlements",
        "custody-20260331.fin",
        mt536().as_bytes(),
    );

    // By hand, every account the day moved (debit positive):
    let by_hand: BTreeMap<&str, &str> = [
        // 894.00 + 800.00 + 100.00 received at order prices.
        (GOODS, "1794.00"),
        // Received 1,794.00; invoiced at order prices 1,694.00: the ten widgets are open.
        (GRIR, "-100.00"),
        // The desks' 0.10 dearer, less the desk credited without being sent back (400.05).
        (VARIANCE, "-399.95"),
        // 321.88 on the invoice less 76.01 on the credit note.
        (VAT, "245.87"),
        // -2,015.98 invoiced, +2,015.98 paid, +476.06 credited: Stuhlwerk owes us 476.06.
        (PAYABLES, "476.06"),
        (BANK, "-2015.98"),
        // 12,345.00 bought - 4,990.00 sold + 50,250.00 bond, at trade amounts.
        (SECURITIES, "57605.00"),
        (ACCRUED, "520.00"),
        // The bond's 50,770.00 never settled.
        (CLEARING, "-50770.00"),
        // Paid 12,345.00 for the shares, received 4,990.00 for the sale.
        (CASH, "-7355.00"),
    ]
    .into_iter()
    .collect();
    let books: BTreeMap<String, Decimal> = trial_balance(&i)
        .into_iter()
        .filter(|((_, currency), balance)| currency == "EUR" && !balance.is_zero())
        .map(|((account, _), balance)| (account, balance))
        .collect();
    let want: BTreeMap<String, Decimal> =
        by_hand.iter().map(|(a, b)| (a.to_string(), d(b))).collect();
    assert_eq!(books, want, "{}", daemon.log());

    // The open GR/IR is the ten widgets, and the one open break of the day the failed bond.
    let grir = i.json(&["payables", "grir"]);
    let lines = grir["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{grir:#}");
    assert_eq!(lines[0]["po_number"], "PO-4002", "{grir:#}");
    let breaks = open_breaks(&i, None);
    assert_eq!(breaks.len(), 1, "{breaks:#?}");
    assert_eq!(breaks[0].0, "failed_settlement");
    assert!(breaks[0].1.contains("TRADE-0003"), "{}", breaks[0].1);
    daemon.stop();
}
