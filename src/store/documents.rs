//! Statements and documents: bank statements kept for the checks across files, and the
//! positions, securities transactions and invoices the jobs compare.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{AddedRecords, Result};

/// What a unit of work keeps and reads of statements and documents.
pub trait Documents {
    /// Whether a statement with this identity was stored before (by any job).
    fn statement_seen(&mut self, identity: &str) -> Result<bool>;
    /// The stored end-of-day statement of the account and currency with the latest closing
    /// date on or before `on_or_before`: what a new statement's opening balance must follow.
    fn previous_statement(
        &mut self,
        account: &str,
        currency: &str,
        on_or_before: NaiveDate,
    ) -> Result<Option<StoredStatement>>;
    fn add_statement(&mut self, s: &NewStatement<'_>) -> Result<i64>;
    /// Stores positions, securities transactions or invoices under `scope`; one per identity.
    fn add_documents(
        &mut self,
        scope: &str,
        file_id: i64,
        docs: &[NewDocument],
    ) -> Result<AddedRecords>;
    /// Documents of a scope and kind, in arrival order (bodies as stored JSON).
    fn documents(&mut self, scope: &str, kind: DocumentKind) -> Result<Vec<NewDocument>>;
}

/// A statement as stored for the checks across files.
pub struct NewStatement<'a> {
    pub job: &'a str,
    pub file_id: i64,
    pub identity: &'a str,
    pub format: &'a str,
    pub statement: &'a crate::model::statement::BankStatement,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStatement {
    pub number: Option<String>,
    pub closing_amount: Decimal,
    pub closing_date: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Position,
    SecuritiesTransaction,
    Invoice,
    PurchaseOrderLine,
    GoodsReceipt,
    /// An invoice accounts payable approved and posted, with the quantities it used.
    ApprovedInvoice,
    /// A payable settled by a payment on the bank statement.
    PaidInvoice,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Position => "position",
            DocumentKind::SecuritiesTransaction => "securities_transaction",
            DocumentKind::Invoice => "invoice",
            DocumentKind::PurchaseOrderLine => "purchase_order_line",
            DocumentKind::GoodsReceipt => "goods_receipt",
            DocumentKind::ApprovedInvoice => "approved_invoice",
            DocumentKind::PaidInvoice => "paid_invoice",
        }
    }
}

/// A position, securities transaction or invoice as kept: its identity, the keys it is found
/// by, and the whole document as JSON (exact decimals as strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDocument {
    pub kind: DocumentKind,
    pub identity: String,
    pub account: Option<String>,
    /// ISIN, invoice number, ...
    pub key: Option<String>,
    pub as_of: Option<NaiveDate>,
    pub body: String,
}
