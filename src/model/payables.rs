//! Accounts payable: what the buyer ordered (purchase order lines), what arrived (goods
//! receipts), what is still owed to suppliers (open payables). Supplier invoices themselves are
//! in [`super::invoice`].

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::invoice::{Invoice, InvoiceKind};
use super::{Currency, Source};

/// One line of a purchase order, as exported by the purchasing system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderLine {
    /// The order's number: what a supplier quotes as its order reference.
    pub po_number: String,
    /// The line's number within the order, when the export gives one.
    pub line: Option<String>,
    /// Supplier name or VAT id; `None` when the export does not say.
    pub supplier: Option<String>,
    /// Item code or description.
    pub item: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Net price per unit.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    pub currency: Currency,
    /// Where the cost is booked, when purchasing decided it on the order.
    pub expense_account: Option<String>,
    /// The supplier's item number for `item`, when the export gives one: what the supplier's
    /// invoice names as its item id (BT-155).
    /// Left out of the stored body when absent, so orders kept before read back and are
    /// written again byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_item: Option<String>,
    /// Set when the row is not goods but a charge the order agrees to (freight, packing): the
    /// kind as the export writes it (`freight`, or a UNTDID 7161 code such as `FC`). Its
    /// amount is quantity × unit price; it is matched against the invoice's document-level
    /// charges (BG-21), never against its lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<String>,
    pub source: Source,
}

/// Goods (or a service) received against a purchase order line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsReceipt {
    pub receipt_id: String,
    pub po_number: String,
    /// The order line received against, when the warehouse recorded it.
    pub line: Option<String>,
    /// Item code or description, to find the order line when `line` is absent.
    pub item: Option<String>,
    /// Negative for goods sent back.
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity_received: Decimal,
    pub received_on: NaiveDate,
    pub source: Source,
}

/// A quantity of an order line invoiced by invoices approved before (in an earlier run), so a
/// later invoice is checked against what is still received and not yet invoiced.
/// Negative for credit notes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicedQuantity {
    pub po_number: String,
    /// The order line's number as on the order; `None` when the order line has none (it is
    /// then identified by its item).
    pub line: Option<String>,
    /// The order line's item, to tell apart order lines without numbers.
    pub item: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// How much of `quantity` cleared goods received against GR/IR (a credit note: goods
    /// sent back), signed like it; `None` where the line was not matched against receipts
    /// (a two-way match), and in what was kept before GR/IR was cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub cleared: Option<Decimal>,
    /// The invoice debited expense for these goods: its job booked no GR/IR then. Kept so a
    /// job that switches GR/IR on later does not post those goods' receipts a second time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expensed: bool,
}

/// An approved supplier invoice not yet (fully) paid: what a payment on the bank statement is
/// matched against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPayable {
    /// [`invoice_identity`] of the invoice: the key of its posting and of its payment's.
    pub invoice_identity: String,
    pub number: String,
    pub payment_reference: Option<String>,
    /// The supplier's name, or its VAT id when the invoice gives no name: the value of the
    /// `{supplier}` placeholder of the payables account, at invoice and at payment.
    pub supplier_name: Option<String>,
    pub supplier_iban: Option<String>,
    pub currency: Currency,
    /// What is still owed: positive for an invoice, negative for a credit note (the supplier
    /// owes us).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount_open: Decimal,
    pub due_date: Option<NaiveDate>,
    /// The cash discount a payment may take, when the invoice grants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash_discount: Option<DiscountOffer>,
}

/// A cash discount (Skonto) on offer: `amount` off what is open for a payment made by
/// `last_day`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountOffer {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub last_day: NaiveDate,
}

impl OpenPayable {
    /// The payable an invoice opens, for its full payable amount.
    pub fn from_invoice(invoice: &Invoice) -> OpenPayable {
        let sign = match invoice.kind {
            InvoiceKind::Invoice => Decimal::ONE,
            InvoiceKind::CreditNote => Decimal::NEGATIVE_ONE,
        };
        OpenPayable {
            invoice_identity: invoice_identity(invoice),
            number: invoice.number.clone(),
            payment_reference: invoice.payment_reference.clone(),
            supplier_name: supplier_label(invoice),
            supplier_iban: invoice.supplier.iban.clone(),
            currency: invoice.currency,
            amount_open: sign * invoice.payable,
            due_date: invoice.due_date,
            // Granted on the amount due, to the cent; a credit note grants none.
            cash_discount: match invoice.kind {
                InvoiceKind::Invoice => invoice.cash_discount.as_ref().and_then(|d| {
                    Some(DiscountOffer {
                        amount: (invoice.payable * d.percent / Decimal::ONE_HUNDRED)
                            .round_dp_with_strategy(
                                2,
                                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                            ),
                        last_day: d.last_day(invoice.issue_date)?,
                    })
                    .filter(|o| o.amount > Decimal::ZERO)
                }),
                InvoiceKind::CreditNote => None,
            },
        }
    }
}

/// What makes a supplier invoice the same invoice when it arrives again (another file, another
/// format): the supplier (VAT id, else name), the kind, the number and the issue date. Case and
/// spaces in the supplier and number do not count, because suppliers' systems and people's
/// retyping differ in them.
pub fn invoice_identity(invoice: &Invoice) -> String {
    let supplier = supplier_key(invoice);
    let kind = match invoice.kind {
        InvoiceKind::Invoice => "invoice",
        InvoiceKind::CreditNote => "credit_note",
    };
    format!(
        "AP|{supplier}|{kind}|{}|{}",
        compact(&invoice.number),
        invoice.issue_date
    )
}

/// Who sent an invoice, as invoices are compared: the VAT id, else the name (case and spaces
/// not counting); empty when it names neither.
pub fn supplier_key(invoice: &Invoice) -> String {
    let s = &invoice.supplier;
    s.vat_id
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(|v| format!("vat:{}", compact(v)))
        .or_else(|| {
            s.name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .map(|n| format!("name:{}", compact(n)))
        })
        .unwrap_or_default()
}

/// The supplier as a person reads it: name, else VAT id.
pub fn supplier_label(invoice: &Invoice) -> Option<String> {
    let s = &invoice.supplier;
    s.name
        .as_deref()
        .or(s.vat_id.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// Upper case without white space: how identifiers (VAT ids, IBANs, invoice numbers) compare.
pub(crate) fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::Party;
    use std::sync::Arc;

    fn invoice(vat: Option<&str>, name: Option<&str>, number: &str) -> Invoice {
        Invoice {
            kind: InvoiceKind::Invoice,
            number: number.into(),
            issue_date: "2026-03-02".parse().unwrap(),
            due_date: None,
            currency: "EUR".parse().unwrap(),
            supplier: Party {
                name: name.map(Into::into),
                vat_id: vat.map(Into::into),
                ..Party::default()
            },
            customer: Party::default(),
            order_reference: None,
            payment_reference: None,
            preceding_invoice: None,
            lines: vec![],
            allowances: Vec::new(),
            charges: Vec::new(),
            tax: vec![],
            line_total: None,
            allowance_total: None,
            charge_total: None,
            tax_exclusive: None,
            tax_total: None,
            tax_inclusive: None,
            prepaid: None,
            rounding: None,
            payable: "119.00".parse().unwrap(),
            cash_discount: None,
            source: Source::at(Arc::from("f"), None, 1),
        }
    }

    #[test]
    fn identity_prefers_the_vat_id_and_ignores_case_and_spaces() {
        let a = invoice(Some("DE 123456789"), Some("Acme GmbH"), "inv-1");
        let b = invoice(Some("de123456789"), Some("ACME"), "INV-1");
        assert_eq!(invoice_identity(&a), invoice_identity(&b));
        let c = invoice(None, Some("Acme GmbH"), "INV-1");
        assert_ne!(invoice_identity(&a), invoice_identity(&c));
        let d = invoice(Some("DE123456789"), None, "INV-2");
        assert_ne!(invoice_identity(&a), invoice_identity(&d));
        let mut e = a.clone();
        e.kind = InvoiceKind::CreditNote;
        assert_ne!(invoice_identity(&a), invoice_identity(&e));
    }

    #[test]
    fn an_open_payable_of_a_credit_note_is_negative() {
        let mut i = invoice(Some("DE1"), None, "CN-1");
        i.kind = InvoiceKind::CreditNote;
        let p = OpenPayable::from_invoice(&i);
        assert_eq!(p.amount_open, "-119.00".parse::<Decimal>().unwrap());
        assert_eq!(p.supplier_name.as_deref(), Some("DE1"));
        assert_eq!(p.invoice_identity, invoice_identity(&i));
    }

    #[test]
    fn decimals_serialise_as_strings() {
        let line = PurchaseOrderLine {
            po_number: "PO-1".into(),
            line: Some("1".into()),
            supplier: None,
            item: None,
            quantity: "10".parse().unwrap(),
            unit_price: "2.50".parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            expense_account: None,
            supplier_item: None,
            charge: None,
            source: Source::at(Arc::from("f"), None, 2),
        };
        let v = serde_json::to_value(&line).unwrap();
        assert_eq!(v["unit_price"], "2.50");
        assert_eq!(v["quantity"], "10");
    }
}
