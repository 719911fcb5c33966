//! Statements and documents: bank statements kept for the checks across files, and the
//! positions, securities transactions and invoices the jobs compare.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{AddedRecords, Result, StoreError};
use crate::model::invoice::Invoice;
use crate::model::payables::{GoodsReceipt, InvoicedQuantity, PurchaseOrderLine};
use crate::model::securities::{Position, SecuritiesTransaction, Trade};

/// What a unit of work keeps and reads of statements and documents.
pub trait Documents {
    /// Whether `job` holds a statement with this identity already, and how it came.
    fn statement_seen(&mut self, job: &str, identity: &str) -> Result<StatementSeen>;
    /// The jobs that hold a statement of this account and currency: those that read it, to
    /// whom each new statement of the account is offered.
    fn jobs_reading_account(&mut self, account: &str, currency: &str) -> Result<Vec<String>>;
    /// The stored end-of-day statement of the account and currency with the latest closing
    /// date on or before `on_or_before`: what a new statement's opening balance must follow.
    fn previous_statement(
        &mut self,
        account: &str,
        currency: &str,
        on_or_before: NaiveDate,
    ) -> Result<Option<StoredStatement>>;
    /// A stored end-of-day statement of the job, account and currency that covers part of the
    /// days from `opening_date` to `closing_date` (it opens before the other closes and closes
    /// after the other opens), or covers exactly those days under the same `number`: the same
    /// statement sent again (under a new reference) or one that overlaps it. The earliest one,
    /// with the name of the file it came in.
    fn overlapping_statement(
        &mut self,
        period: &StatementPeriod<'_>,
    ) -> Result<Option<OverlappedStatement>>;
    /// Stores the statement, with its lines the bank has not booked (pending, information):
    /// kept for staff to see, never records.
    fn add_statement(&mut self, s: &NewStatement<'_>) -> Result<i64>;
    /// Stores positions, securities transactions or invoices under `scope`; one per identity.
    /// Each body is written as the JSON of its model type ([`Document::to_json`]).
    fn add_documents(
        &mut self,
        scope: &str,
        file_id: i64,
        docs: &[NewDocument],
    ) -> Result<AddedRecords>;
    /// Documents of a scope and kind, in arrival order, their bodies read back as `kind`
    /// says ([`Document::from_json`]).
    fn documents(&mut self, scope: &str, kind: DocumentKind) -> Result<Vec<NewDocument>>;
}

/// A statement as stored for the checks across files.
pub struct NewStatement<'a> {
    pub job: &'a str,
    pub file_id: i64,
    /// Set when the statement came in another job's file (`file_id`) and was offered to this
    /// one, which reads the same account.
    pub offered: bool,
    pub identity: &'a str,
    pub format: &'a str,
    pub statement: &'a crate::model::statement::BankStatement,
}

/// Whether a job holds a statement already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementSeen {
    /// Not yet: it is new to the job.
    No,
    /// The job received it itself before: sent twice.
    Received,
    /// Another job received it and offered it to this one: the job has its lines already.
    Offered,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStatement {
    pub number: Option<String>,
    pub closing_amount: Decimal,
    pub closing_date: NaiveDate,
}

/// The days a new end-of-day statement covers, for [`Documents::overlapping_statement`].
#[derive(Clone, Copy, Debug)]
pub struct StatementPeriod<'a> {
    /// Only the statements this job holds: another job's copy of the same statement is not
    /// an overlap.
    pub job: &'a str,
    pub account: &'a str,
    pub currency: &'a str,
    pub number: Option<&'a str>,
    pub opening_date: NaiveDate,
    pub closing_date: NaiveDate,
}

/// A stored statement another one overlaps, as a break names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlappedStatement {
    pub number: Option<String>,
    pub opening_date: NaiveDate,
    pub closing_date: NaiveDate,
    /// The name the file arrived under.
    pub file: String,
}

/// What a kept document is. Also what it is read back as: the custodian's transactions and
/// the firm's own trades are stored under one name, told apart by the scope they are kept in
/// (the job's, the book's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Position,
    /// A custodian's settled or pending transaction.
    SecuritiesTransaction,
    /// The firm's own trade (a blotter line), kept in the book's scope.
    Trade,
    Invoice,
    PurchaseOrderLine,
    GoodsReceipt,
    /// An invoice accounts payable approved and posted, with the quantities it used.
    ApprovedInvoice,
    /// A payable settled by a payment on the bank statement.
    PaidInvoice,
}

impl DocumentKind {
    /// The name the store keeps the kind under.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Position => "position",
            DocumentKind::SecuritiesTransaction | DocumentKind::Trade => "securities_transaction",
            DocumentKind::Invoice => "invoice",
            DocumentKind::PurchaseOrderLine => "purchase_order_line",
            DocumentKind::GoodsReceipt => "goods_receipt",
            DocumentKind::ApprovedInvoice => "approved_invoice",
            DocumentKind::PaidInvoice => "paid_invoice",
        }
    }
}

/// A position, securities transaction or invoice as kept: its identity, the keys it is found
/// by, and the whole document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDocument {
    pub identity: String,
    pub account: Option<String>,
    /// ISIN, invoice number, ...
    pub key: Option<String>,
    pub as_of: Option<NaiveDate>,
    pub body: Document,
}

impl NewDocument {
    pub fn kind(&self) -> DocumentKind {
        self.body.kind()
    }
}

/// The body of a kept document: one of the model's documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Document {
    Position(Position),
    SecuritiesTransaction(SecuritiesTransaction),
    Trade(Trade),
    /// Boxed: an invoice is several times the size of the other documents.
    Invoice(Box<Invoice>),
    PurchaseOrderLine(PurchaseOrderLine),
    GoodsReceipt(GoodsReceipt),
    /// The quantities an approved invoice used of its order lines and receipts.
    ApprovedInvoice(Vec<InvoicedQuantity>),
    /// The explanation (JSON) of the match that paid the invoice, as the match keeps it.
    PaidInvoice(String),
}

impl Document {
    pub fn kind(&self) -> DocumentKind {
        match self {
            Document::Position(_) => DocumentKind::Position,
            Document::SecuritiesTransaction(_) => DocumentKind::SecuritiesTransaction,
            Document::Trade(_) => DocumentKind::Trade,
            Document::Invoice(_) => DocumentKind::Invoice,
            Document::PurchaseOrderLine(_) => DocumentKind::PurchaseOrderLine,
            Document::GoodsReceipt(_) => DocumentKind::GoodsReceipt,
            Document::ApprovedInvoice(_) => DocumentKind::ApprovedInvoice,
            Document::PaidInvoice(_) => DocumentKind::PaidInvoice,
        }
    }

    /// The body as every backend stores it: the model type's JSON (exact decimals as
    /// strings). What an earlier clerk wrote reads back the same way, so it must not change.
    pub fn to_json(&self) -> Result<String> {
        let json = match self {
            Document::Position(d) => serde_json::to_string(d),
            Document::SecuritiesTransaction(d) => serde_json::to_string(d),
            Document::Trade(d) => serde_json::to_string(d),
            Document::Invoice(d) => serde_json::to_string(d),
            Document::PurchaseOrderLine(d) => serde_json::to_string(d),
            Document::GoodsReceipt(d) => serde_json::to_string(d),
            Document::ApprovedInvoice(d) => serde_json::to_string(d),
            Document::PaidInvoice(explanation) => return Ok(explanation.clone()),
        };
        json.map_err(|e| StoreError::Other(format!("cannot encode document: {e}")))
    }

    /// A stored body read back as `kind`; `identity` names it when it cannot be.
    pub fn from_json(kind: DocumentKind, identity: &str, json: String) -> Result<Document> {
        let read = match kind {
            DocumentKind::Position => serde_json::from_str(&json).map(Document::Position),
            DocumentKind::SecuritiesTransaction => {
                serde_json::from_str(&json).map(Document::SecuritiesTransaction)
            }
            DocumentKind::Trade => serde_json::from_str(&json).map(Document::Trade),
            DocumentKind::Invoice => serde_json::from_str(&json).map(Document::Invoice),
            DocumentKind::PurchaseOrderLine => {
                serde_json::from_str(&json).map(Document::PurchaseOrderLine)
            }
            DocumentKind::GoodsReceipt => serde_json::from_str(&json).map(Document::GoodsReceipt),
            DocumentKind::ApprovedInvoice => {
                serde_json::from_str(&json).map(Document::ApprovedInvoice)
            }
            DocumentKind::PaidInvoice => return Ok(Document::PaidInvoice(json)),
        };
        read.map_err(|e| {
            StoreError::Other(format!(
                "stored document {identity} cannot be read back: {e}"
            ))
        })
    }
}

/// Takes a model document out of a [`Document`] of its kind; hands back any other.
macro_rules! kept_as {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Document {
            fn from(d: $variant) -> Document {
                Document::$variant(d)
            }
        }

        impl TryFrom<Document> for $variant {
            type Error = Document;

            fn try_from(d: Document) -> std::result::Result<$variant, Document> {
                match d {
                    Document::$variant(d) => Ok(d),
                    other => Err(other),
                }
            }
        }
    )*};
}

kept_as!(
    Position,
    SecuritiesTransaction,
    Trade,
    PurchaseOrderLine,
    GoodsReceipt
);

impl From<Invoice> for Document {
    fn from(d: Invoice) -> Document {
        Document::Invoice(Box::new(d))
    }
}

impl TryFrom<Document> for Invoice {
    type Error = Document;

    fn try_from(d: Document) -> std::result::Result<Invoice, Document> {
        match d {
            Document::Invoice(d) => Ok(*d),
            other => Err(other),
        }
    }
}
