//! Supplier invoices as sent: UBL 2.1 (Peppol BIS Billing 3.0 / EN 16931), UN/CEFACT CII, and
//! Factur-X/ZUGFeRD (CII inside a PDF).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Currency, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    /// Amounts are as stated in the document (positive); `kind` says they reduce what is owed.
    CreditNote,
}

/// A seller or buyer as EN 16931 names and identifies it; UBL and CII fill the same fields from
/// the equivalent elements, so an invoice and its twin in the other syntax read alike. Fields
/// added after the first release default to absent in documents stored before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Legal name (BT-27 seller, BT-44 buyer: UBL `PartyLegalEntity/RegistrationName`, CII
    /// `Name`); the trading name when the document gives no legal name (UBL 2.0 has none).
    pub name: Option<String>,
    /// Name the party trades under, when it gives one besides its legal name (BT-28, BT-45: UBL
    /// `PartyName/Name`, CII `SpecifiedLegalOrganization/TradingBusinessName`).
    #[serde(default)]
    pub trading_name: Option<String>,
    /// VAT identifier (BT-31, BT-48: `cbc:CompanyID` of `PartyTaxScheme`, CII
    /// `SpecifiedTaxRegistration` VA); the tax registration (BT-32, FC) when there is no VAT one.
    pub vat_id: Option<String>,
    /// Party identifier (BT-29, BT-46: UBL `PartyIdentification/ID` other than a SEPA creditor
    /// identifier, CII `ID` or `GlobalID`), e.g. a GLN.
    pub id: Option<String>,
    /// The scheme of `id` (ISO 6523 ICD such as `0088` for a GLN), when given.
    #[serde(default)]
    pub id_scheme: Option<String>,
    /// Legal registration identifier (BT-30, BT-47: UBL `PartyLegalEntity/CompanyID`, CII
    /// `SpecifiedLegalOrganization/ID`), e.g. a company register number.
    #[serde(default)]
    pub legal_id: Option<String>,
    /// The scheme of `legal_id`, when given.
    #[serde(default)]
    pub legal_id_scheme: Option<String>,
    /// Where to pay the supplier (`PaymentMeans/PayeeFinancialAccount/ID`,
    /// `PayeePartyCreditorFinancialAccount/IBANID`).
    pub iban: Option<String>,
    pub country: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub id: Option<String>,
    pub description: Option<String>,
    /// Invoiced quantity; UBL lets an invoice line leave it out.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub quantity: Option<Decimal>,
    pub unit_code: Option<String>,
    /// Net price per `base_quantity` units (usually 1).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub unit_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub base_quantity: Option<Decimal>,
    /// Line net amount (`LineExtensionAmount`, `LineTotalAmount`).
    #[serde(with = "rust_decimal::serde::str")]
    pub net_amount: Decimal,
    pub tax_category: Option<String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub tax_rate: Option<Decimal>,
    /// The buyer's order line this line refers to, when given.
    pub order_line: Option<String>,
    /// The item's identifiers (BT-155, BT-156, BT-157): what pairs the line with an order
    /// line before its free-text name does. Absent in documents stored before clerk read them.
    #[serde(default)]
    pub item_ids: ItemIds,
    pub source: Source,
}

/// An invoice line's item as the seller, the buyer and a standard scheme identify it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemIds {
    /// BT-155: UBL `Item/SellersItemIdentification/ID`, CII `SpecifiedTradeProduct/SellerAssignedID`.
    pub seller: Option<String>,
    /// BT-156: UBL `Item/BuyersItemIdentification/ID`, CII `SpecifiedTradeProduct/BuyerAssignedID`.
    pub buyer: Option<String>,
    /// BT-157, e.g. a GTIN: UBL `Item/StandardItemIdentification/ID`, CII `SpecifiedTradeProduct/GlobalID`.
    pub standard: Option<String>,
}

impl ItemIds {
    pub fn is_empty(&self) -> bool {
        self.seller.is_none() && self.buyer.is_none() && self.standard.is_none()
    }
}

/// A document-level allowance (BG-20) or charge (BG-21): what changes the total without VAT
/// besides the lines. Amounts as stated (positive); which list holds it says which it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowanceCharge {
    /// BT-92 / BT-99.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// What the percentage is taken of (BT-93 / BT-100).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub base_amount: Option<Decimal>,
    /// BT-94 / BT-101, `5` for 5 %.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub percentage: Option<Decimal>,
    /// VAT category code (BT-95 / BT-102) and rate (BT-96 / BT-103).
    pub tax_category: Option<String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub tax_rate: Option<Decimal>,
    /// Reason in words (BT-97 / BT-104) and as a code (BT-98 / BT-105: UNTDID 5189 for
    /// allowances, 7161 for charges).
    pub reason: Option<String>,
    pub reason_code: Option<String>,
    pub source: Source,
}

/// One VAT category and rate of the invoice (BG-23).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxBreakdown {
    pub category: Option<String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub taxable_amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub tax_amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub kind: InvoiceKind,
    pub number: String,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub currency: Currency,
    pub supplier: Party,
    pub customer: Party,
    /// The buyer's purchase order (`OrderReference/ID`, `BuyerOrderReferencedDocument`).
    pub order_reference: Option<String>,
    /// Payment reference the supplier asks for (`PaymentID`, `PaymentReference`).
    pub payment_reference: Option<String>,
    /// The invoice a credit note corrects (BT-25: `BillingReference/InvoiceDocumentReference/ID`,
    /// CII `InvoiceReferencedDocument/IssuerAssignedID`). Absent in documents stored before
    /// clerk read it.
    #[serde(default)]
    pub preceding_invoice: Option<String>,
    pub lines: Vec<InvoiceLine>,
    /// Document-level allowances (BG-20) and charges (BG-21): the sum of the lines' net
    /// amounts less the allowances plus the charges is the total without VAT. Absent in
    /// documents stored before clerk read them.
    #[serde(default)]
    pub allowances: Vec<AllowanceCharge>,
    #[serde(default)]
    pub charges: Vec<AllowanceCharge>,
    pub tax: Vec<TaxBreakdown>,
    /// Sum of line net amounts (BT-106).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub line_total: Option<Decimal>,
    /// Document-level allowances and charges (BT-107, BT-108), when given.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub allowance_total: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub charge_total: Option<Decimal>,
    /// Total without VAT (BT-109).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub tax_exclusive: Option<Decimal>,
    /// VAT total in the invoice currency (BT-110).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub tax_total: Option<Decimal>,
    /// Total with VAT (BT-112).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub tax_inclusive: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub prepaid: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rounding: Option<Decimal>,
    /// Amount due (BT-115).
    #[serde(with = "rust_decimal::serde::str")]
    pub payable: Decimal,
    /// The cash discount (Skonto) the supplier grants for early payment, when the payment
    /// terms give one. Absent in documents stored before clerk read it.
    #[serde(default)]
    pub cash_discount: Option<CashDiscount>,
    pub source: Source,
}

/// Cash discount terms (Skonto): `percent` off the amount due when paid by `until`, or
/// within `days` of the issue date (UBL `PaymentTerms/SettlementDiscountPercent` and
/// `SettlementPeriod`, CII `ApplicableTradePaymentDiscountTerms`, XRechnung's `#SKONTO#`
/// note, an invoice list's `discount_percent` and `discount_days`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashDiscount {
    /// `2` for 2 %.
    #[serde(with = "rust_decimal::serde::str")]
    pub percent: Decimal,
    pub days: Option<u32>,
    pub until: Option<NaiveDate>,
}

impl CashDiscount {
    /// The last day a payment may take the discount: `until`, else `days` after `issued`.
    pub fn last_day(&self, issued: NaiveDate) -> Option<NaiveDate> {
        self.until.or_else(|| {
            self.days
                .and_then(|d| issued.checked_add_days(chrono::Days::new(u64::from(d))))
        })
    }
}

impl Invoice {
    /// What does not add up, in words (EN 16931 business rules BR-CO-10 to -13, -15, -16 and
    /// the VAT breakdown). Empty when everything does. Reported as a break, never a refusal.
    pub fn arithmetic_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let lines: Decimal = self.lines.iter().map(|l| l.net_amount).sum();
        if let Some(total) = self.line_total
            && !self.lines.is_empty()
            && lines != total
        {
            out.push(format!(
                "the lines add up to {lines}, the invoice states a line total of {total}"
            ));
        }
        // BR-CO-11, -12: the document-level allowances and charges listed add up to their
        // totals. A total without a list (an older stored document) has nothing to check; a
        // list without a total stands in for it below.
        let [allowances, charges] = [
            ("allowances", &self.allowances, self.allowance_total),
            ("charges", &self.charges, self.charge_total),
        ]
        .map(|(what, listed, total)| {
            let sum: Decimal = listed.iter().map(|a| a.amount).sum();
            if let Some(total) = total
                && !listed.is_empty()
                && sum != total
            {
                out.push(format!(
                    "the document's {what} add up to {sum}, the invoice states {what} of {total}"
                ));
            }
            total.unwrap_or(sum)
        });
        // Profiles without lines (Factur-X MINIMUM, BASIC WL) have no line total either:
        // nothing to check the total without VAT against.
        let base = self
            .line_total
            .or((!self.lines.is_empty()).then_some(lines));
        if let (Some(base), Some(excl)) = (base, self.tax_exclusive) {
            let expected_exclusive = base - allowances + charges;
            if excl != expected_exclusive {
                out.push(format!(
                    "line total {base} less allowances plus charges is {expected_exclusive}, the invoice states {excl} without VAT"
                ));
            }
        }
        let vat: Decimal = self.tax.iter().map(|t| t.tax_amount).sum();
        if let Some(tax_total) = self.tax_total
            && !self.tax.is_empty()
            && vat != tax_total
        {
            out.push(format!(
                "the VAT breakdown adds up to {vat}, the invoice states VAT of {tax_total}"
            ));
        }
        if let (Some(excl), Some(tax_total), Some(incl)) =
            (self.tax_exclusive, self.tax_total, self.tax_inclusive)
            && excl + tax_total != incl
        {
            out.push(format!(
                "{excl} without VAT plus {tax_total} VAT is {}, the invoice states {incl} with VAT",
                excl + tax_total
            ));
        }
        if let Some(incl) = self.tax_inclusive {
            let expected =
                incl - self.prepaid.unwrap_or_default() + self.rounding.unwrap_or_default();
            if expected != self.payable {
                out.push(format!(
                    "{incl} with VAT less {} prepaid is {expected}, the invoice asks for {}",
                    self.prepaid.unwrap_or_default(),
                    self.payable
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn invoice(lines: &[&str]) -> Invoice {
        let src = Source::at(Arc::from("f"), None, 1);
        Invoice {
            kind: InvoiceKind::Invoice,
            number: "INV-1".into(),
            issue_date: "2026-03-02".parse().unwrap(),
            due_date: None,
            currency: "EUR".parse().unwrap(),
            supplier: Party::default(),
            customer: Party::default(),
            order_reference: None,
            payment_reference: None,
            preceding_invoice: None,
            lines: lines
                .iter()
                .map(|n| InvoiceLine {
                    id: None,
                    description: None,
                    quantity: Some(d("1")),
                    unit_code: None,
                    unit_price: Some(d(n)),
                    base_quantity: None,
                    net_amount: d(n),
                    tax_category: Some("S".into()),
                    tax_rate: Some(d("19")),
                    order_line: None,
                    item_ids: Default::default(),
                    source: src.clone(),
                })
                .collect(),
            allowances: Vec::new(),
            charges: Vec::new(),
            tax: vec![TaxBreakdown {
                category: Some("S".into()),
                rate: Some(d("19")),
                taxable_amount: d("100.00"),
                tax_amount: d("19.00"),
            }],
            line_total: Some(d("100.00")),
            allowance_total: None,
            charge_total: None,
            tax_exclusive: Some(d("100.00")),
            tax_total: Some(d("19.00")),
            tax_inclusive: Some(d("119.00")),
            prepaid: None,
            rounding: None,
            payable: d("119.00"),
            cash_discount: None,
            source: src,
        }
    }

    #[test]
    fn a_consistent_invoice_has_no_problems() {
        assert!(
            invoice(&["60.00", "40.00"])
                .arithmetic_problems()
                .is_empty()
        );
    }

    #[test]
    fn each_rule_that_does_not_add_up_is_named() {
        let mut i = invoice(&["60.00", "40.01"]);
        assert_eq!(
            i.arithmetic_problems().len(),
            1,
            "{:?}",
            i.arithmetic_problems()
        );
        i = invoice(&["60.00", "40.00"]);
        i.payable = d("118.99");
        let p = i.arithmetic_problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("asks for 118.99"), "{p:?}");
        i = invoice(&["60.00", "40.00"]);
        i.tax[0].tax_amount = d("18.00");
        assert!(i.arithmetic_problems()[0].contains("VAT breakdown adds up to 18.00"));
    }

    fn allowance_or_charge(amount: &str) -> AllowanceCharge {
        AllowanceCharge {
            amount: d(amount),
            base_amount: None,
            percentage: None,
            tax_category: Some("S".into()),
            tax_rate: Some(d("19")),
            reason: None,
            reason_code: None,
            source: Source::at(Arc::from("f"), None, 1),
        }
    }

    #[test]
    fn document_allowances_and_charges_must_add_up_to_their_totals() {
        // 100.00 of lines, 10.00 off, 5.00 freight: 95.00 without VAT.
        let mut i = invoice(&["60.00", "40.00"]);
        i.allowances = vec![allowance_or_charge("6.00"), allowance_or_charge("4.00")];
        i.charges = vec![allowance_or_charge("5.00")];
        i.allowance_total = Some(d("10.00"));
        i.charge_total = Some(d("5.00"));
        i.tax_exclusive = Some(d("95.00"));
        i.tax[0].taxable_amount = d("95.00");
        i.tax[0].tax_amount = d("18.05");
        i.tax_total = Some(d("18.05"));
        i.tax_inclusive = Some(d("113.05"));
        i.payable = d("113.05");
        assert_eq!(i.arithmetic_problems(), Vec::<String>::new());

        // Listed without their totals (not allowed, but the lists say it all): still 95.00.
        let (mut untotalled, mut mistotalled) = (i.clone(), i.clone());
        untotalled.allowance_total = None;
        untotalled.charge_total = None;
        assert_eq!(untotalled.arithmetic_problems(), Vec::<String>::new());

        mistotalled.allowance_total = Some(d("9.00"));
        assert_eq!(
            mistotalled.arithmetic_problems(),
            [
                "the document's allowances add up to 10.00, the invoice states allowances of 9.00",
                "line total 100.00 less allowances plus charges is 96.00, the invoice states 95.00 without VAT"
            ]
        );
    }

    #[test]
    fn an_invoice_stored_before_allowances_and_trading_names_reads_back() {
        let mut stored = serde_json::to_value(invoice(&["60.00", "40.00"])).unwrap();
        let body = stored.as_object_mut().unwrap();
        body.remove("allowances");
        body.remove("charges");
        let supplier = body["supplier"].as_object_mut().unwrap();
        for new in ["trading_name", "id_scheme", "legal_id", "legal_id_scheme"] {
            assert!(supplier.remove(new).is_some(), "{new}");
        }
        let read: Invoice = serde_json::from_value(stored).unwrap();
        assert!(read.allowances.is_empty() && read.charges.is_empty());
        assert_eq!(read.supplier, Party::default());
    }

    #[test]
    fn an_invoice_without_lines_or_line_total_is_not_checked_against_them() {
        let mut i = invoice(&[]);
        i.line_total = None;
        assert!(
            i.arithmetic_problems().is_empty(),
            "{:?}",
            i.arithmetic_problems()
        );
    }
}
