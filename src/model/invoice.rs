//! Supplier invoices as sent: UBL 2.1 (Peppol BIS Billing 3.0 / EN 16931), UN/CEFACT CII, and
//! Factur-X/ZUGFeRD (CII inside a PDF).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{Currency, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    /// Amounts are as stated in the document (positive); `kind` says they reduce what is owed.
    CreditNote,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    pub name: Option<String>,
    /// VAT identifier (`cbc:CompanyID` of `PartyTaxScheme`, CII `SpecifiedTaxRegistration` VA).
    pub vat_id: Option<String>,
    /// Legal or other identifier (`PartyLegalEntity/CompanyID`, GLN, ...).
    pub id: Option<String>,
    /// Where to pay the supplier (`PaymentMeans/PayeeFinancialAccount/ID`,
    /// `PayeePartyCreditorFinancialAccount/IBANID`).
    pub iban: Option<String>,
    pub country: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    pub id: Option<String>,
    pub description: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
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
    pub source: Source,
}

/// One VAT category and rate of the invoice (BG-23).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaxBreakdown {
    pub category: Option<String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub taxable_amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub tax_amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
    pub lines: Vec<InvoiceLine>,
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
    pub source: Source,
}

impl Invoice {
    /// What does not add up, in words (EN 16931 business rules BR-CO-10, -13, -15, -16 and
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
        let base = self.line_total.unwrap_or(lines);
        let expected_exclusive =
            base - self.allowance_total.unwrap_or_default() + self.charge_total.unwrap_or_default();
        if let Some(excl) = self.tax_exclusive
            && excl != expected_exclusive
        {
            out.push(format!(
                "line total {base} less allowances plus charges is {expected_exclusive}, the invoice states {excl} without VAT"
            ));
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
