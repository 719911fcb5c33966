//! GR/IR clearing (goods received / invoice received): goods are in the books when they
//! arrive, not when the supplier's invoice does. A goods receipt posts the order's value of
//! what arrived (order price x quantity received) to stock or expense against the GR/IR
//! clearing account; the approved invoice then debits GR/IR by the same value
//! ([`super::payables::invoice_entry`], [`super::payables::LineCost::Received`]) and what
//! the invoice charges beyond it to price variance, so GR/IR nets to zero per order line
//! once receipt and invoice agree, and what is left open is goods not yet invoiced.
//!
//! Same discipline as every posting: pure, balanced, keyed by the job and the receipt line
//! (receipt id, order, line), so the same receipt sent again posts nothing.

use rust_decimal::Decimal;

use super::PostingRefused;
use super::payables::{ApAccounts, add, fill, key};
use crate::model::payables::{GoodsReceipt, PurchaseOrderLine, compact};
use crate::model::{EntryLine, JournalEntry};

/// The entry of one goods receipt line against its order line: stock or expense (the order
/// line's account, else the job's default) debited and GR/IR credited at the order price x
/// the quantity received. Goods sent back (a negative quantity) post the reverse. Refused
/// when the job clears no GR/IR, or nothing was received.
pub fn receipt_entry(
    job: &str,
    receipt: &GoodsReceipt,
    order: &PurchaseOrderLine,
    accounts: &ApAccounts,
) -> Result<JournalEntry, PostingRefused> {
    let Some((grir, _)) = &accounts.grir else {
        return Err(PostingRefused::Empty);
    };
    let value = order.unit_price * receipt.quantity_received;
    if value.is_zero() {
        return Err(PostingRefused::Empty);
    }
    let ccy = order.currency;
    let stock = order
        .expense_account
        .as_deref()
        .unwrap_or(&accounts.default_expense);
    let mut lines: Vec<EntryLine> = Vec::new();
    add(
        &mut lines,
        &accounts.resolve(fill(stock, ccy, &[]), ccy)?,
        ccy,
        value,
    );
    add(
        &mut lines,
        &accounts.resolve(fill(grir, ccy, &[]), ccy)?,
        ccy,
        -value,
    );
    super::check_balanced(&lines)?;
    Ok(JournalEntry {
        idempotency_key: {
            let id = receipt_line_identity(receipt, order);
            key(job, "receipt", &[&id[0], &id[1], &id[2]])
        },
        posting_date: receipt.received_on,
        narrative: format!(
            "{} {} of purchase order {} line {}{}: {} x {} {ccy}",
            if receipt.quantity_received < Decimal::ZERO {
                "Goods returned,"
            } else {
                "Goods receipt"
            },
            receipt.receipt_id,
            order.po_number,
            order.line.as_deref().unwrap_or("-"),
            order
                .item
                .as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default(),
            receipt.quantity_received,
            order.unit_price,
        ),
        lines,
    })
}

/// What makes a receipt line the same when it is exported again: its receipt id and the
/// order line it was booked against (order number, line number, else item).
fn receipt_line_identity<'a>(
    receipt: &'a GoodsReceipt,
    order: &'a PurchaseOrderLine,
) -> [String; 3] {
    [
        compact(&receipt.receipt_id),
        compact(&order.po_number),
        order
            .line
            .as_deref()
            .or(order.item.as_deref())
            .map(compact)
            .unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::post::payables::{LineCost, invoice_entry};
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn accounts() -> ApAccounts {
        ApAccounts {
            payables: "1600".into(),
            input_vat: "1576".into(),
            default_expense: "3200".into(),
            bank: "1200".into(),
            grir: Some(("1605".into(), "3250".into())),
            input_vat_rates: Default::default(),
            chart: None,
            vat: Default::default(),
        }
    }

    fn order() -> PurchaseOrderLine {
        PurchaseOrderLine {
            po_number: "PO-7".into(),
            line: Some("1".into()),
            supplier: None,
            item: Some("CHAIR".into()),
            quantity: d("6"),
            unit_price: d("149.00"),
            currency: "EUR".parse().unwrap(),
            expense_account: None,
            supplier_item: None,
            charge: None,
            source: Source::at(Arc::from("po"), None, 2),
        }
    }

    fn receipt(qty: &str) -> GoodsReceipt {
        GoodsReceipt {
            receipt_id: "GR-9".into(),
            po_number: "PO-7".into(),
            line: Some("1".into()),
            item: None,
            quantity_received: d(qty),
            received_on: "2026-11-20".parse().unwrap(),
            source: Source::at(Arc::from("grn"), None, 2),
        }
    }

    fn lines(e: &JournalEntry) -> Vec<(&str, Decimal)> {
        e.lines
            .iter()
            .map(|l| (l.account.as_str(), l.amount))
            .collect()
    }

    #[test]
    fn a_receipt_credits_grir_at_the_order_price_and_a_return_posts_the_reverse() {
        let e = receipt_entry("ap", &receipt("6"), &order(), &accounts()).unwrap();
        assert_eq!(
            lines(&e),
            vec![("3200", d("894.00")), ("1605", d("-894.00"))]
        );
        assert_eq!(e.posting_date, "2026-11-20".parse().unwrap());
        let back = receipt_entry("ap", &receipt("-2"), &order(), &accounts()).unwrap();
        assert_eq!(
            lines(&back),
            vec![("3200", d("-298.00")), ("1605", d("298.00"))]
        );
        // The same receipt line, re-sent from another file, has the same key.
        let mut again = receipt("-2");
        again.source = Source::at(Arc::from("other"), None, 9);
        assert_eq!(
            receipt_entry("ap", &again, &order(), &accounts())
                .unwrap()
                .idempotency_key,
            back.idempotency_key
        );
        let mut no_grir = accounts();
        no_grir.grir = None;
        assert_eq!(
            receipt_entry("ap", &receipt("6"), &order(), &no_grir),
            Err(PostingRefused::Empty)
        );
    }

    #[test]
    fn an_invoice_line_against_receipts_clears_grir_and_books_the_difference_as_variance() {
        use crate::model::invoice::{Invoice, InvoiceKind, InvoiceLine, Party, TaxBreakdown};
        let line = InvoiceLine {
            id: None,
            description: None,
            quantity: Some(d("6")),
            unit_code: None,
            unit_price: Some(d("150.00")),
            base_quantity: None,
            net_amount: d("900.00"),
            tax_category: Some("S".into()),
            tax_rate: Some(d("19")),
            order_line: None,
            item_ids: Default::default(),
            source: Source::at(Arc::from("inv"), None, 1),
        };
        let mut inv = Invoice {
            kind: InvoiceKind::Invoice,
            number: "INV-1".into(),
            issue_date: "2026-11-25".parse().unwrap(),
            due_date: None,
            currency: "EUR".parse().unwrap(),
            supplier: Party {
                name: Some("Stuhl AG".into()),
                ..Party::default()
            },
            customer: Party::default(),
            order_reference: Some("PO-7".into()),
            payment_reference: None,
            preceding_invoice: None,
            lines: vec![line],
            allowances: Vec::new(),
            charges: Vec::new(),
            tax: vec![TaxBreakdown {
                category: Some("S".into()),
                rate: Some(d("19")),
                taxable_amount: d("900.00"),
                tax_amount: d("171.00"),
            }],
            line_total: None,
            allowance_total: None,
            charge_total: None,
            tax_exclusive: None,
            tax_total: None,
            tax_inclusive: None,
            prepaid: None,
            rounding: None,
            payable: d("1071.00"),
            cash_discount: None,
            source: Source::at(Arc::from("inv"), None, 1),
        };
        let cleared = [LineCost::Received {
            order_value: d("894.00"),
        }];
        let e = invoice_entry("ap", &inv, &accounts(), &cleared).unwrap();
        assert_eq!(
            lines(&e),
            vec![
                ("1605", d("894.00")),
                ("3250", d("6.00")),
                ("1576", d("171.00")),
                ("1600", d("-1071.00")),
            ]
        );
        // A credit note that sends nothing back (a price reduction): all to price variance.
        inv.kind = InvoiceKind::CreditNote;
        let price_only = [LineCost::Received {
            order_value: Decimal::ZERO,
        }];
        let e = invoice_entry("ap", &inv, &accounts(), &price_only).unwrap();
        assert_eq!(
            e.lines[0],
            EntryLine {
                account: "3250".into(),
                currency: inv.currency,
                amount: d("-900.00"),
                fx: None
            }
        );
        assert!(!lines(&e).iter().any(|(a, _)| *a == "1605"));
    }
}
