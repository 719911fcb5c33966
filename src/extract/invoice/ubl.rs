//! UBL 2.1 `Invoice` and `CreditNote` (Peppol BIS Billing 3.0 / EN 16931; UBL 2.0 reads the
//! same) → [`Invoice`]. Elements are found by local name, so prefixes do not matter.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Cx, compact, identifier, is_credit_note_code, placeholder_currency};
use crate::extract::xml::{Document, Element};
use crate::model::Currency;
use crate::model::invoice::{
    AllowanceCharge, Invoice, InvoiceKind, InvoiceLine, ItemIds, Party, TaxBreakdown,
};

/// Maps a UBL document (root `Invoice` or `CreditNote`, checked by the caller) to an invoice.
/// Problems go to `cx`; the invoice returned is then incomplete and must not be used.
pub(super) fn read(doc: &Document, cx: &mut Cx<'_>) -> Invoice {
    let root = &doc.root;
    let credit_note = root.name == "CreditNote";
    let type_code =
        Cx::text(root, "InvoiceTypeCode").or_else(|| Cx::text(root, "CreditNoteTypeCode"));
    let kind = if credit_note || type_code.as_deref().is_some_and(is_credit_note_code) {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };

    let number = cx.required_text(root, "ID", "the invoice number, BT-1");
    let issue_date = match cx.iso_date(root, "IssueDate", "the issue date") {
        Some(d) => d,
        None => {
            if root.find("IssueDate").and_then(Element::value).is_none() {
                cx.missing(root, "IssueDate", "the issue date, BT-2");
            }
            NaiveDate::MIN
        }
    };
    let due_date = due_date(root, cx);

    let totals = root.child("LegalMonetaryTotal");
    let currency = currency(root, totals, cx);

    let (supplier, customer) = parties(root);

    let order_reference = Cx::text(root, "OrderReference/ID");
    let preceding_invoice = Cx::text(root, "BillingReference/InvoiceDocumentReference/ID");
    let payment_reference = root
        .children("PaymentMeans")
        .find_map(|m| Cx::text(m, "PaymentID"));

    let line_name = if credit_note {
        "CreditNoteLine"
    } else {
        "InvoiceLine"
    };
    let lines = root
        .children(line_name)
        .map(|l| line(l, credit_note, cx))
        .collect();

    let (allowances, charges) = document_allowances_and_charges(root, cx);

    let (tax_total, tax) = taxes(root, currency, cx);

    let mut amount = |path: &str, what: &str| match totals {
        Some(t) => cx.amount(t, path, what),
        None => None,
    };
    let line_total = amount("LineExtensionAmount", "the sum of line amounts");
    let tax_exclusive = amount("TaxExclusiveAmount", "the total without VAT");
    let tax_inclusive = amount("TaxInclusiveAmount", "the total with VAT");
    let allowance_total = amount("AllowanceTotalAmount", "the total of allowances");
    let charge_total = amount("ChargeTotalAmount", "the total of charges");
    let prepaid = amount("PrepaidAmount", "the amount paid in advance");
    let rounding = amount("PayableRoundingAmount", "the rounding amount");
    let payable = match totals {
        Some(t) => cx.required_amount(t, "PayableAmount", "the amount due, BT-115"),
        None => {
            cx.missing(
                root,
                "LegalMonetaryTotal/PayableAmount",
                "the amount due, BT-115",
            );
            Decimal::ZERO
        }
    };

    Invoice {
        kind,
        number,
        issue_date,
        due_date,
        currency: currency.unwrap_or_else(placeholder_currency),
        supplier,
        customer,
        order_reference,
        payment_reference,
        preceding_invoice,
        lines,
        allowances,
        charges,
        tax,
        line_total,
        allowance_total,
        charge_total,
        tax_exclusive,
        tax_total,
        tax_inclusive,
        prepaid,
        rounding,
        payable,
        cash_discount: super::terms::ubl(root, cx),
        source: cx.source(root),
    }
}

/// Seller and buyer, each with the account the payment means name for them: the seller's
/// to be paid into, the buyer's to be debited (a direct debit mandate).
fn parties(root: &Element) -> (Party, Party) {
    let mut supplier = root
        .find("AccountingSupplierParty/Party")
        .map(party)
        .unwrap_or_default();
    supplier.iban = root
        .children("PaymentMeans")
        .find_map(|m| Cx::text(m, "PayeeFinancialAccount/ID"))
        .map(compact);
    let mut customer = root
        .find("AccountingCustomerParty/Party")
        .map(party)
        .unwrap_or_default();
    customer.iban = root
        .children("PaymentMeans")
        .find_map(|m| Cx::text(m, "PaymentMandate/PayerFinancialAccount/ID"))
        .map(compact);
    (supplier, customer)
}

/// The document-level allowances and charges, in that order.
fn document_allowances_and_charges(
    root: &Element,
    cx: &mut Cx<'_>,
) -> (Vec<AllowanceCharge>, Vec<AllowanceCharge>) {
    let (mut allowances, mut charges) = (Vec::new(), Vec::new());
    // Only the document's own: those of a line or of a price are inside them.
    for a in root.children("AllowanceCharge") {
        match allowance_charge(a, cx) {
            Some((true, charge)) => charges.push(charge),
            Some((false, allowance)) => allowances.push(allowance),
            None => {}
        }
    }
    (allowances, charges)
}

/// `DueDate` (Invoice), else `PaymentMeans/PaymentDueDate` (CreditNote in Peppol BIS 3), else
/// `PaymentTerms/PaymentDueDate`.
fn due_date(root: &Element, cx: &mut Cx<'_>) -> Option<NaiveDate> {
    if root.child("DueDate").is_some() {
        return cx.iso_date(root, "DueDate", "the due date");
    }
    for m in root.children("PaymentMeans") {
        if m.child("PaymentDueDate").is_some() {
            return cx.iso_date(m, "PaymentDueDate", "the due date");
        }
    }
    for t in root.children("PaymentTerms") {
        if t.child("PaymentDueDate").is_some() {
            return cx.iso_date(t, "PaymentDueDate", "the due date");
        }
    }
    None
}

/// `DocumentCurrencyCode`; UBL 2.0/2.1 documents may leave it out, and then the currency of
/// the amount due is the document's.
fn currency(root: &Element, totals: Option<&Element>, cx: &mut Cx<'_>) -> Option<Currency> {
    if let Some(e) = root.child("DocumentCurrencyCode")
        && let Some(code) = e.value()
    {
        return cx.currency_of(e, code, "the document currency");
    }
    let payable = totals.and_then(|t| t.child("PayableAmount"));
    if let Some(p) = payable
        && let Some(code) = p.attr("currencyID")
    {
        return cx.currency_of(p, code, "the currency of the amount due");
    }
    cx.missing(root, "DocumentCurrencyCode", "the invoice currency, BT-5");
    None
}

/// A `cac:Party`: names, identifiers and country. The IBAN is set by the caller.
fn party(p: &Element) -> Party {
    let trading_name = Cx::text(p, "PartyName/Name");
    let name = Cx::text(p, "PartyLegalEntity/RegistrationName").or_else(|| trading_name.clone());
    // The VAT registration is the PartyTaxScheme whose scheme is VAT; others (a national tax
    // number) only when there is no VAT one.
    let schemes: Vec<&Element> = p.children("PartyTaxScheme").collect();
    let vat_id = schemes
        .iter()
        .find(|s| {
            s.text_at("TaxScheme/ID")
                .is_some_and(|id| id.eq_ignore_ascii_case("VAT"))
        })
        .or(schemes.first())
        .and_then(|s| Cx::text(s, "CompanyID"));
    // A seller's or payee's PartyIdentification with scheme SEPA is its SEPA creditor
    // identifier (BT-90), not a party identifier.
    let (id, id_scheme) = p
        .children("PartyIdentification")
        .filter_map(|i| i.child("ID"))
        .find(|i| i.value().is_some() && !scheme_is(i, "SEPA"))
        .map(identifier)
        .unwrap_or_default();
    let (legal_id, legal_id_scheme) = p
        .find("PartyLegalEntity/CompanyID")
        .filter(|c| c.value().is_some())
        .map(identifier)
        .unwrap_or_default();
    let country = Cx::text(p, "PostalAddress/Country/IdentificationCode");
    Party {
        name,
        trading_name,
        vat_id,
        id,
        id_scheme,
        legal_id,
        legal_id_scheme,
        iban: None,
        country,
    }
}

/// Whether an identifier's `schemeID` is `scheme`.
fn scheme_is(e: &Element, scheme: &str) -> bool {
    e.attr("schemeID")
        .is_some_and(|s| s.trim().eq_ignore_ascii_case(scheme))
}

/// A document-level `cac:AllowanceCharge` (BG-20 or BG-21) and whether it is a charge;
/// `None` when its indicator is missing or not a boolean (recorded).
fn allowance_charge(a: &Element, cx: &mut Cx<'_>) -> Option<(bool, AllowanceCharge)> {
    let is_charge = cx.indicator(a, "ChargeIndicator");
    let category = a.child("TaxCategory");
    let read = AllowanceCharge {
        amount: cx.required_amount(a, "Amount", "the allowance or charge amount, BT-92/BT-99"),
        base_amount: cx.amount(a, "BaseAmount", "the allowance or charge base amount"),
        // EN 16931 writes the percentage here (20 for 20 %), not UBL's factor (0.2).
        percentage: cx.amount(
            a,
            "MultiplierFactorNumeric",
            "the allowance or charge percentage",
        ),
        tax_category: category.and_then(|c| Cx::text(c, "ID")),
        tax_rate: match category {
            Some(c) => cx.amount(c, "Percent", "the VAT rate"),
            None => None,
        },
        reason: Cx::text(a, "AllowanceChargeReason"),
        reason_code: Cx::text(a, "AllowanceChargeReasonCode"),
        source: cx.source(a),
    };
    Some((is_charge?, read))
}

fn line(l: &Element, credit_note: bool, cx: &mut Cx<'_>) -> InvoiceLine {
    let quantity_name = if credit_note {
        "CreditedQuantity"
    } else {
        "InvoicedQuantity"
    };
    let (quantity, unit_code) = cx.quantity(l.child(quantity_name));
    let net_amount = cx.required_amount(l, "LineExtensionAmount", "the line's net amount, BT-131");
    let description = Cx::text(l, "Item/Name").or_else(|| Cx::text(l, "Item/Description"));
    let unit_price = cx.amount(l, "Price/PriceAmount", "the net unit price");
    let base_quantity = cx.amount(l, "Price/BaseQuantity", "the price base quantity");
    let category = l.find("Item/ClassifiedTaxCategory");
    let tax_category = category.and_then(|c| Cx::text(c, "ID"));
    let tax_rate = match category {
        Some(c) => cx.amount(c, "Percent", "the VAT rate"),
        None => None,
    };
    InvoiceLine {
        id: Cx::text(l, "ID"),
        description,
        quantity,
        unit_code,
        unit_price,
        base_quantity,
        net_amount,
        tax_category,
        tax_rate,
        order_line: Cx::text(l, "OrderLineReference/LineID"),
        item_ids: ItemIds {
            seller: Cx::text(l, "Item/SellersItemIdentification/ID"),
            buyer: Cx::text(l, "Item/BuyersItemIdentification/ID"),
            standard: Cx::text(l, "Item/StandardItemIdentification/ID"),
        },
        source: cx.source(l),
    }
}

/// The VAT total in the document currency and its breakdown. A document whose VAT is
/// accounted in another currency carries a second `TaxTotal` with only the amount in that
/// currency (BR-53): it is neither the total nor part of the breakdown.
fn taxes(
    root: &Element,
    currency: Option<Currency>,
    cx: &mut Cx<'_>,
) -> (Option<Decimal>, Vec<TaxBreakdown>) {
    let totals: Vec<&Element> = root.children("TaxTotal").collect();
    let in_document_currency = |t: &&Element| {
        let code = t.find("TaxAmount").and_then(|a| a.attr("currencyID"));
        match (code, currency) {
            (Some(code), Some(c)) => code.trim().eq_ignore_ascii_case(c.as_str()),
            // Without a currency on the amount, it is the document's.
            _ => true,
        }
    };
    let chosen = totals
        .iter()
        .copied()
        .find(|t| in_document_currency(t) && t.child("TaxSubtotal").is_some())
        .or_else(|| totals.iter().copied().find(in_document_currency));
    let Some(total) = chosen else {
        return (None, Vec::new());
    };
    let tax_total = cx.amount(total, "TaxAmount", "the VAT total");
    let breakdown = total
        .children("TaxSubtotal")
        .map(|s| {
            let category = s.child("TaxCategory");
            let rate = match category {
                Some(c) if c.child("Percent").is_some() => cx.amount(c, "Percent", "the VAT rate"),
                // UBL 2.0 puts the rate on the subtotal.
                _ => cx.amount(s, "Percent", "the VAT rate"),
            };
            TaxBreakdown {
                category: category.and_then(|c| Cx::text(c, "ID")),
                rate,
                taxable_amount: cx.required_amount(
                    s,
                    "TaxableAmount",
                    "the amount VAT is charged on, BT-116",
                ),
                tax_amount: cx.required_amount(s, "TaxAmount", "the VAT amount, BT-117"),
            }
        })
        .collect();
    (tax_total, breakdown)
}
