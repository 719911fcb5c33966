//! UN/CEFACT CII `CrossIndustryInvoice` (EN 16931 CII syntax; ZUGFeRD 2 / Factur-X profiles
//! MINIMUM, BASIC WL, BASIC, EN 16931, EXTENDED, and XRechnung) → [`Invoice`]. MINIMUM and
//! BASIC WL carry no lines: the invoice then has none.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Cx, compact, identifier, is_credit_note_code, placeholder_currency};
use crate::extract::xml::{Document, Element};
use crate::model::Currency;
use crate::model::invoice::{
    AllowanceCharge, Invoice, InvoiceKind, InvoiceLine, ItemIds, Party, TaxBreakdown,
};

const DOCUMENT: &str = "ExchangedDocument";
const TRANSACTION: &str = "SupplyChainTradeTransaction";

/// Maps a CII document (root `CrossIndustryInvoice`, checked by the caller) to an invoice.
/// Problems go to `cx`; the invoice returned is then incomplete and must not be used.
pub(super) fn read(doc: &Document, cx: &mut Cx<'_>) -> Invoice {
    let root = &doc.root;
    let (kind, number, issue_date) = document_header(root, cx);

    let empty = Element::default();
    let transaction = root.child(TRANSACTION).unwrap_or(&empty);
    let agreement = transaction
        .child("ApplicableHeaderTradeAgreement")
        .unwrap_or(&empty);
    let settlement = transaction.child("ApplicableHeaderTradeSettlement");
    let currency = invoice_currency(settlement, transaction, root, cx);
    let settlement = settlement.unwrap_or(&empty);

    let (supplier, customer) = parties(agreement, settlement);
    let order_reference = Cx::text(agreement, "BuyerOrderReferencedDocument/IssuerAssignedID");
    let payment_reference = Cx::text(settlement, "PaymentReference");
    let preceding_invoice = Cx::text(settlement, "InvoiceReferencedDocument/IssuerAssignedID");

    let due_date = settlement
        .children("SpecifiedTradePaymentTerms")
        .filter(|t| t.child("DueDateDateTime").is_some())
        .find_map(|t| cx.cii_date(t, "DueDateDateTime", "the due date"));

    let lines = transaction
        .children("IncludedSupplyChainTradeLineItem")
        .map(|l| line(l, cx))
        .collect();
    let (allowances, charges) = header_allowances_and_charges(settlement, cx);
    let tax = vat_breakdown(settlement, cx);
    let totals = Totals::read(settlement, transaction, root, currency, cx);

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
        line_total: totals.line_total,
        allowance_total: totals.allowance_total,
        charge_total: totals.charge_total,
        tax_exclusive: totals.tax_exclusive,
        tax_total: totals.tax_total,
        tax_inclusive: totals.tax_inclusive,
        prepaid: totals.prepaid,
        rounding: totals.rounding,
        payable: totals.payable,
        cash_discount: super::terms::cii(settlement, cx),
        source: cx.source(root),
    }
}

/// The document header: credit note or invoice, its number (BT-1) and issue date (BT-2).
fn document_header(root: &Element, cx: &mut Cx<'_>) -> (InvoiceKind, String, NaiveDate) {
    let header = root.child(DOCUMENT);
    let number = match header {
        Some(h) => cx.required_text(h, "ID", "the invoice number, BT-1"),
        None => {
            cx.missing(root, "ExchangedDocument/ID", "the invoice number, BT-1");
            String::new()
        }
    };
    let kind = match header.and_then(|h| h.text_at("TypeCode")) {
        Some(code) if is_credit_note_code(code) => InvoiceKind::CreditNote,
        _ => InvoiceKind::Invoice,
    };
    let issue_date = header
        .and_then(|h| cx.cii_date(h, "IssueDateTime", "the issue date"))
        .unwrap_or_else(|| {
            // A date given but unreadable is already a problem; only a missing one is told here.
            let given = header
                .and_then(|h| h.find("IssueDateTime/DateTimeString"))
                .and_then(Element::value);
            if given.is_none() {
                cx.missing(
                    header.unwrap_or(root),
                    "IssueDateTime/DateTimeString",
                    "the issue date, BT-2",
                );
            }
            NaiveDate::MIN
        });
    (kind, number, issue_date)
}

/// The invoice currency (BT-5), stated in the header settlement.
fn invoice_currency(
    settlement: Option<&Element>,
    transaction: &Element,
    root: &Element,
    cx: &mut Cx<'_>,
) -> Option<Currency> {
    match settlement {
        Some(s) => match s.child("InvoiceCurrencyCode") {
            Some(e) if e.value().is_some() => {
                let code = e.value().unwrap_or_default();
                cx.currency_of(e, code, "the invoice currency")
            }
            _ => {
                cx.missing(s, "InvoiceCurrencyCode", "the invoice currency, BT-5");
                None
            }
        },
        None => {
            cx.missing(
                transaction_or_root(transaction, root),
                "ApplicableHeaderTradeSettlement/InvoiceCurrencyCode",
                "the invoice currency, BT-5",
            );
            None
        }
    }
}

/// Seller and buyer, each with the account the payment means name for them: the seller's
/// to be paid into, the buyer's to be debited.
fn parties(agreement: &Element, settlement: &Element) -> (Party, Party) {
    let mut supplier = agreement
        .child("SellerTradeParty")
        .map(party)
        .unwrap_or_default();
    let means: Vec<&Element> = settlement
        .children("SpecifiedTradeSettlementPaymentMeans")
        .collect();
    supplier.iban = means
        .iter()
        .find_map(|m| {
            Cx::text(m, "PayeePartyCreditorFinancialAccount/IBANID")
                .or_else(|| Cx::text(m, "PayeePartyCreditorFinancialAccount/ProprietaryID"))
        })
        .map(compact);
    let mut customer = agreement
        .child("BuyerTradeParty")
        .map(party)
        .unwrap_or_default();
    customer.iban = means
        .iter()
        .find_map(|m| Cx::text(m, "PayerPartyDebtorFinancialAccount/IBANID"))
        .map(compact);
    (supplier, customer)
}

/// The document-level allowances and charges, in that order.
fn header_allowances_and_charges(
    settlement: &Element,
    cx: &mut Cx<'_>,
) -> (Vec<AllowanceCharge>, Vec<AllowanceCharge>) {
    let (mut allowances, mut charges) = (Vec::new(), Vec::new());
    // Only the header's own: those of a line are in its SpecifiedLineTradeSettlement.
    for a in settlement.children("SpecifiedTradeAllowanceCharge") {
        match allowance_charge(a, cx) {
            Some((true, charge)) => charges.push(charge),
            Some((false, allowance)) => allowances.push(allowance),
            None => {}
        }
    }
    // EXTENDED states freight and other logistics charges apart; they count among the charges
    // (ChargeTotalAmount includes them).
    charges.extend(
        settlement
            .children("SpecifiedLogisticsServiceCharge")
            .map(|c| logistics_charge(c, cx)),
    );
    (allowances, charges)
}

/// The VAT breakdown: one entry per category and rate.
fn vat_breakdown(settlement: &Element, cx: &mut Cx<'_>) -> Vec<TaxBreakdown> {
    settlement
        .children("ApplicableTradeTax")
        .map(|t| TaxBreakdown {
            category: Cx::text(t, "CategoryCode"),
            rate: cx.amount(t, "RateApplicablePercent", "the VAT rate"),
            taxable_amount: cx.required_amount(
                t,
                "BasisAmount",
                "the amount VAT is charged on, BT-116",
            ),
            tax_amount: cx.required_amount(t, "CalculatedAmount", "the VAT amount, BT-117"),
        })
        .collect()
}

/// The document totals; only the amount due is required.
struct Totals {
    line_total: Option<Decimal>,
    charge_total: Option<Decimal>,
    allowance_total: Option<Decimal>,
    tax_exclusive: Option<Decimal>,
    tax_total: Option<Decimal>,
    tax_inclusive: Option<Decimal>,
    prepaid: Option<Decimal>,
    rounding: Option<Decimal>,
    payable: Decimal,
}

impl Totals {
    fn read(
        settlement: &Element,
        transaction: &Element,
        root: &Element,
        currency: Option<Currency>,
        cx: &mut Cx<'_>,
    ) -> Totals {
        match settlement.child("SpecifiedTradeSettlementHeaderMonetarySummation") {
            Some(sum) => Totals {
                line_total: cx.amount(sum, "LineTotalAmount", "the sum of line amounts"),
                charge_total: cx.amount(sum, "ChargeTotalAmount", "the total of charges"),
                allowance_total: cx.amount(sum, "AllowanceTotalAmount", "the total of allowances"),
                tax_exclusive: cx.amount(sum, "TaxBasisTotalAmount", "the total without VAT"),
                tax_total: vat_total(sum, currency, cx),
                tax_inclusive: cx.amount(sum, "GrandTotalAmount", "the total with VAT"),
                prepaid: cx.amount(sum, "TotalPrepaidAmount", "the amount paid in advance"),
                rounding: cx.amount(sum, "RoundingAmount", "the rounding amount"),
                payable: cx.required_amount(sum, "DuePayableAmount", "the amount due, BT-115"),
            },
            None => {
                cx.missing(
                    if settlement.name.is_empty() {
                        transaction_or_root(transaction, root)
                    } else {
                        settlement
                    },
                    "SpecifiedTradeSettlementHeaderMonetarySummation/DuePayableAmount",
                    "the amount due, BT-115",
                );
                Totals {
                    line_total: None,
                    charge_total: None,
                    allowance_total: None,
                    tax_exclusive: None,
                    tax_total: None,
                    tax_inclusive: None,
                    prepaid: None,
                    rounding: None,
                    payable: Decimal::ZERO,
                }
            }
        }
    }
}

/// Where to report something missing below the transaction, when even that is missing.
fn transaction_or_root<'e>(transaction: &'e Element, root: &'e Element) -> &'e Element {
    if transaction.name.is_empty() {
        root
    } else {
        transaction
    }
}

/// `TaxTotalAmount` in the invoice currency: with VAT accounted in another currency there is
/// a second one in that currency (BT-111), which is not the invoice's VAT total.
fn vat_total(sum: &Element, currency: Option<Currency>, cx: &mut Cx<'_>) -> Option<Decimal> {
    let amounts: Vec<&Element> = sum.children("TaxTotalAmount").collect();
    let chosen = amounts
        .iter()
        .find(|a| match (a.attr("currencyID"), currency) {
            (Some(code), Some(c)) => code.trim().eq_ignore_ascii_case(c.as_str()),
            _ => false,
        })
        .or_else(|| amounts.iter().find(|a| a.attr("currencyID").is_none()))
        .or(amounts.first())?;
    cx.amount_of(chosen, "the VAT total")
}

/// A header `SpecifiedTradeAllowanceCharge` (BG-20 or BG-21) and whether it is a charge;
/// `None` when its indicator is missing or not a boolean (recorded).
fn allowance_charge(a: &Element, cx: &mut Cx<'_>) -> Option<(bool, AllowanceCharge)> {
    let is_charge = cx.indicator(a, "ChargeIndicator/Indicator");
    let tax = a.child("CategoryTradeTax");
    let read = AllowanceCharge {
        amount: cx.required_amount(
            a,
            "ActualAmount",
            "the allowance or charge amount, BT-92/BT-99",
        ),
        base_amount: cx.amount(a, "BasisAmount", "the allowance or charge base amount"),
        percentage: cx.amount(
            a,
            "CalculationPercent",
            "the allowance or charge percentage",
        ),
        tax_category: tax.and_then(|t| Cx::text(t, "CategoryCode")),
        tax_rate: match tax {
            Some(t) => cx.amount(t, "RateApplicablePercent", "the VAT rate"),
            None => None,
        },
        reason: Cx::text(a, "Reason"),
        reason_code: Cx::text(a, "ReasonCode"),
        source: cx.source(a),
    };
    Some((is_charge?, read))
}

/// An EXTENDED `SpecifiedLogisticsServiceCharge`: a charge with a description.
fn logistics_charge(c: &Element, cx: &mut Cx<'_>) -> AllowanceCharge {
    let tax = c.child("AppliedTradeTax");
    AllowanceCharge {
        amount: cx.required_amount(c, "AppliedAmount", "the logistics charge amount"),
        base_amount: None,
        percentage: None,
        tax_category: tax.and_then(|t| Cx::text(t, "CategoryCode")),
        tax_rate: match tax {
            Some(t) => cx.amount(t, "RateApplicablePercent", "the VAT rate"),
            None => None,
        },
        reason: Cx::text(c, "Description"),
        reason_code: None,
        source: cx.source(c),
    }
}

/// A `SellerTradeParty` or `BuyerTradeParty`. The IBAN is set by the caller.
fn party(p: &Element) -> Party {
    // VA is the VAT registration; FC (a national tax number) only when there is no VA.
    let registrations: Vec<&Element> = p
        .children("SpecifiedTaxRegistration")
        .filter_map(|r| r.child("ID"))
        .collect();
    let vat_id = registrations
        .iter()
        .find(|id| id.attr("schemeID").map(str::trim) == Some("VA"))
        .or(registrations.first())
        .and_then(|id| id.value())
        .map(str::to_string);
    // The party identifier (BT-29, BT-46): an `ID` as the buyer knows the party, or a
    // `GlobalID` under a scheme (a GLN): the one UBL writes as PartyIdentification/ID.
    let (id, id_scheme) = p
        .children("ID")
        .chain(p.children("GlobalID"))
        .find(|i| i.value().is_some())
        .map(identifier)
        .unwrap_or_default();
    let organization = p.child("SpecifiedLegalOrganization");
    let (legal_id, legal_id_scheme) = organization
        .and_then(|o| o.child("ID"))
        .filter(|i| i.value().is_some())
        .map(identifier)
        .unwrap_or_default();
    let trading_name = organization.and_then(|o| Cx::text(o, "TradingBusinessName"));
    Party {
        name: Cx::text(p, "Name").or_else(|| trading_name.clone()),
        trading_name,
        vat_id,
        id,
        id_scheme,
        legal_id,
        legal_id_scheme,
        iban: None,
        country: Cx::text(p, "PostalTradeAddress/CountryID"),
    }
}

fn line(l: &Element, cx: &mut Cx<'_>) -> InvoiceLine {
    let (quantity, unit_code) = cx.quantity(l.find("SpecifiedLineTradeDelivery/BilledQuantity"));
    let agreement = l.child("SpecifiedLineTradeAgreement");
    let price = agreement.and_then(|a| a.child("NetPriceProductTradePrice"));
    let unit_price = match price {
        Some(p) => cx.amount(p, "ChargeAmount", "the net unit price"),
        None => None,
    };
    // The price base quantity (BT-149) belongs to the net price; writers that give it only
    // with the gross price mean it for both (the net price is the gross one less its
    // allowance, per the same quantity).
    let base_quantity = [
        "NetPriceProductTradePrice/BasisQuantity",
        "GrossPriceProductTradePrice/BasisQuantity",
    ]
    .into_iter()
    .find_map(|path| {
        agreement
            .and_then(|a| a.find(path))
            .filter(|q| q.value().is_some())
    })
    .and_then(|q| cx.amount_of(q, "the price base quantity"));
    let settlement = l.child("SpecifiedLineTradeSettlement");
    let net_amount = match settlement {
        Some(s) => cx.required_amount(
            s,
            "SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount",
            "the line's net amount, BT-131",
        ),
        None => {
            cx.missing(
                l,
                "SpecifiedLineTradeSettlement/SpecifiedTradeSettlementLineMonetarySummation/LineTotalAmount",
                "the line's net amount, BT-131",
            );
            Decimal::ZERO
        }
    };
    let tax = settlement.and_then(|s| s.child("ApplicableTradeTax"));
    let tax_rate = match tax {
        Some(t) => cx.amount(t, "RateApplicablePercent", "the VAT rate"),
        None => None,
    };
    InvoiceLine {
        id: Cx::text(l, "AssociatedDocumentLineDocument/LineID"),
        description: Cx::text(l, "SpecifiedTradeProduct/Name"),
        quantity,
        unit_code,
        unit_price,
        base_quantity,
        net_amount,
        tax_category: tax.and_then(|t| Cx::text(t, "CategoryCode")),
        tax_rate,
        order_line: Cx::text(
            l,
            "SpecifiedLineTradeAgreement/BuyerOrderReferencedDocument/LineID",
        ),
        item_ids: ItemIds {
            seller: Cx::text(l, "SpecifiedTradeProduct/SellerAssignedID"),
            buyer: Cx::text(l, "SpecifiedTradeProduct/BuyerAssignedID"),
            standard: Cx::text(l, "SpecifiedTradeProduct/GlobalID"),
        },
        source: cx.source(l),
    }
}
