//! The purchasing, custody and invoice-list readers (CSV, or XLSX when the bytes are a ZIP)
//! on any bytes, through a fixed column mapping as the daemon reads them, and what the daemon
//! then computes from what was read: invoice arithmetic, the three-way match and the invoice
//! posting, the position comparison and the settlement of trades. Any bytes must give records
//! or a clear error, never a panic (an arithmetic overflow included), a hang or unbounded
//! memory.
//!
//! Every field is mapped to a header of its own name, so one file can be an order list, a
//! receipt list and an invoice list at once (or a blotter and a custodian's confirmations):
//! the seeds in `corpus/documents/` are such files, and the match and settlement passes then
//! see both sides from one input. The `edge-*` seeds hold quantities and amounts near
//! rust_decimal's limit (2^96 - 1), a digit away from an overflow. The seeds are tracked
//! although `corpus/` is ignored (`git add -f`), so what a run adds stays out of git.
//!
//! ```sh
//! RUSTC_BOOTSTRAP=1 cargo fuzz run -O documents -- -dict=documents.dict \
//!     -max_total_time=720 -rss_limit_mb=2048 -timeout=10
//! ```
//!
//! A panic that escapes is printed (message, place and, with `RUST_BACKTRACE=1`, backtrace)
//! before libfuzzer-sys aborts: rerun an artifact with
//! `RUST_BACKTRACE=1 RUSTC_BOOTSTRAP=1 cargo fuzz run -O documents <artifact>`.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use clerk::extract::Input;
use clerk::extract::rows::{CellStyle, Wanted};
use clerk::extract::{invoice_csv, payables_csv, securities_csv};
use clerk::model::payables::OpenPayable;
use clerk::model::securities::SecuritiesTransaction;
use clerk::post::payables::{ApAccounts, invoice_entry};
use clerk::reconcile::payables::{
    ApDecision, ApRules, expense_accounts, orders_of_credited_invoices, three_way_match_after,
};
use clerk::reconcile::positions::{PositionRules, reconcile_positions, side_quantity};
use clerk::reconcile::settlement::{SettlementRules, TradeStatus, reconcile_settlements};
use clerk::schedule::Calendar;
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

struct Setup {
    orders: Vec<Wanted>,
    receipts: Vec<Wanted>,
    invoices: Vec<Wanted>,
    positions: Vec<Wanted>,
    trades: Vec<Wanted>,
    confirmations: Vec<Wanted>,
    /// The daemon's default (`.` decimal, `,` thousands, ISO dates) and the continental one a
    /// job sets with `decimal = ","` and a day-first date format.
    styles: [CellStyle; 2],
    ap_rules: ApRules,
    ap_accounts: ApAccounts,
    position_rules: PositionRules,
    settlement_rules: SettlementRules,
    today: NaiveDate,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        Setup {
            orders: securities_csv::wanted(payables_csv::ORDER_FIELDS, &[]),
            receipts: securities_csv::wanted(payables_csv::RECEIPT_FIELDS, &[]),
            invoices: securities_csv::wanted(invoice_csv::INVOICE_FIELDS, &[]),
            positions: securities_csv::wanted(securities_csv::POSITION_FIELDS, &[]),
            trades: securities_csv::wanted(securities_csv::TRADE_FIELDS, &[]),
            confirmations: securities_csv::wanted(securities_csv::CONFIRMATION_FIELDS, &[]),
            styles: [
                CellStyle::new('.', Some(','), &[]).expect("style"),
                CellStyle::new(',', Some('.'), &["%d.%m.%Y".to_string()]).expect("style"),
            ],
            ap_rules: ApRules {
                quantity_tolerance: d("0.5"),
                price_tolerance_abs: d("0.01"),
                price_tolerance_rel: d("0.02"),
                require_receipt: true,
            },
            ap_accounts: ApAccounts {
                payables: "1600 Payables {supplier}".into(),
                input_vat: "1576 Input VAT {rate}% {currency}".into(),
                default_expense: "6000 Expenses".into(),
                bank: "1010 Bank {currency}".into(),
            },
            position_rules: PositionRules {
                quantity_tolerance: d("0.001"),
                accounts: BTreeMap::from([("PF-1".to_string(), "SAFE-1".to_string())]),
            },
            settlement_rules: SettlementRules {
                window_business_days: 2,
                amount_tolerance: d("0.01"),
                quantity_tolerance: d("0"),
                calendar: Calendar::weekends_only()
                    .with_holidays([NaiveDate::from_ymd_opt(2026, 12, 25).expect("date")]),
            },
            today: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
        }
    })
}

fn payables(s: &Setup, input: &Input, style: &CellStyle) {
    let orders = payables_csv::orders(input, &s.orders, style).unwrap_or_default();
    let receipts = payables_csv::receipts(input, &s.receipts, style).unwrap_or_default();
    let invoices = invoice_csv::invoices(input, &s.invoices, style).unwrap_or_default();
    // What jobs::documents does with each invoice read, and what the payables job does
    // with them (daemon::payables::reconcile_payables_job).
    for inv in &invoices {
        let _ = inv.arithmetic_problems();
    }
    let mut pending = invoices.clone();
    orders_of_credited_invoices(&mut pending, &invoices);
    let decided = three_way_match_after(&pending, &orders, &receipts, &[], &s.ap_rules);
    for decision in &decided.decisions {
        if let ApDecision::Approved { lines, .. } = decision {
            let inv = &pending[decision.invoice()];
            let expense = expense_accounts(inv, lines, &orders);
            if invoice_entry("fuzz", inv, &s.ap_accounts, &expense).is_ok() {
                let _ = OpenPayable::from_invoice(inv);
            }
        }
    }
}

fn securities(s: &Setup, input: &Input, style: &CellStyle) {
    // Positions: a file is the book side or a custodian's holdings; one input gives both, the
    // lines taken alternately, and each also against itself.
    if let Ok(positions) = securities_csv::positions(input, &s.positions, style) {
        let (book, custodian): (Vec<_>, Vec<_>) = positions
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        let book: Vec<_> = book.into_iter().map(|(_, p)| p).collect();
        let custodian: Vec<_> = custodian.into_iter().map(|(_, p)| p).collect();
        for (b, c) in [(&book, &custodian), (&positions, &positions)] {
            for r in reconcile_positions(b, c, &s.position_rules) {
                // As daemon::securities::reconcile_positions_job words each finding.
                let _ = side_quantity(b, &r.account, &r.isin, &s.position_rules.accounts);
                let _ = side_quantity(c, &r.account, &r.isin, &Default::default());
            }
        }
    }
    let trades = securities_csv::trades(input, &s.trades, style).unwrap_or_default();
    let confirmations: Vec<SecuritiesTransaction> =
        securities_csv::confirmations(input, &s.confirmations, style)
            .map(|st| st.into_iter().flat_map(|st| st.transactions).collect())
            .unwrap_or_default();
    let outcome = reconcile_settlements(&trades, &confirmations, &s.settlement_rules, s.today);
    // The arithmetic of daemon::securities::reconcile_settlement_job's break messages.
    for (t, status) in trades.iter().zip(&outcome.trades) {
        match status {
            TradeStatus::QuantityDifference { difference, .. } => {
                let _ = t.quantity - difference;
            }
            TradeStatus::AmountDifference { difference, .. } => {
                let _ = t.net_amount.unwrap_or_default() - difference;
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    clerk_fuzz_support::quiet_panics();
    let s = setup();
    let input = Input {
        name: "fuzz.csv",
        bytes: data,
        file_hash: Arc::from("fuzz"),
    };
    clerk_fuzz_support::report_escaped(|| {
        for style in &s.styles {
            payables(s, &input, style);
            securities(s, &input, style);
        }
    });
});
