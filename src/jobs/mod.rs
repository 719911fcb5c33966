//! The jobs, one module per kind of job. Each says what it takes from a file (its
//! [`Room`]): the one table the daemon asks when it refuses a file with advice (`accepts`,
//! `rows_refused` in `documents`) and when it routes a mailed attachment that two jobs'
//! rules want (`daemon::mailbox`). `workflow` is people's actions on breaks (assign, note,
//! investigate, reopen, force a match): the one API the `clerk exceptions` command calls.

use crate::config::{Job, JobKind};
use crate::extract::{ExtractError, Extracted, Format, Input};

pub use error::WorkError;

pub mod cash;
pub mod custody;
pub mod documents;
mod error;
pub mod invoices;
pub mod ledger_import;
pub mod payables;
pub mod positions;
pub mod settlement;
pub(crate) mod subjects;
pub mod summary;
pub(crate) mod versions;
pub mod workflow;

/// What a file holds, by what was read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Rows read by the job's column mapping: ledger items or statement lines.
    Rows,
    /// Nothing was read at all (a table without rows, say).
    Nothing,
    BankStatements,
    /// A custodian's statement of holdings (MT535, semt.002, or the custodian's CSV).
    Holdings,
    /// A custodian's statement of transactions (MT536, MT537).
    Transactions,
    Invoices,
    /// The books' positions, from the portfolio system's CSV.
    BookPositions,
    /// The front office's trade blotter.
    Trades,
    PurchaseOrders,
    GoodsReceipts,
}

impl Holds {
    /// What `x` holds; a file of several kinds is named by the first of them in this order.
    pub fn of(x: &Extracted) -> Holds {
        if !x.statements.is_empty() {
            Holds::BankStatements
        } else if !x.holdings.is_empty() {
            Holds::Holdings
        } else if !x.transactions.is_empty() {
            Holds::Transactions
        } else if !x.invoices.is_empty() {
            Holds::Invoices
        } else if !x.book_positions.is_empty() {
            Holds::BookPositions
        } else if !x.trades.is_empty() {
            Holds::Trades
        } else if !x.purchase_orders.is_empty() {
            Holds::PurchaseOrders
        } else if !x.goods_receipts.is_empty() {
            Holds::GoodsReceipts
        } else if !x.records.is_empty() {
            Holds::Rows
        } else {
            Holds::Nothing
        }
    }

    /// In words, for refusals ("is csv holding …"). A file that gave nothing is named as
    /// rows, as a table with none is what it mostly is.
    pub fn words(self) -> &'static str {
        match self {
            Holds::Rows | Holds::Nothing => "rows",
            Holds::BankStatements => "bank statements",
            Holds::Holdings => "a custodian's statement of holdings",
            Holds::Transactions => "a custodian's statement of transactions",
            Holds::Invoices => "invoices",
            Holds::BookPositions => "the books' positions",
            Holds::Trades => "a trade blotter",
            Holds::PurchaseOrders => "purchase orders",
            Holds::GoodsReceipts => "goods receipts",
        }
    }

    /// Whether a file of format `f` may hold this, judged before reading by the format's
    /// family alone: a table (CSV, spreadsheet) holds the firm's own rows, a custody format
    /// (MT535/536/537, semt.002) a custodian's statement of either kind.
    fn may_come_in(self, f: Format) -> bool {
        match self {
            Holds::Nothing => false,
            Holds::Rows
            | Holds::BookPositions
            | Holds::Trades
            | Holds::PurchaseOrders
            | Holds::GoodsReceipts => f.is_tabular(),
            Holds::BankStatements => f.is_bank_statement(),
            Holds::Holdings | Holds::Transactions => f.is_custody(),
            Holds::Invoices => f.is_invoice(),
        }
    }
}

/// What a kind of job takes from a file.
#[derive(Debug)]
pub struct Room {
    /// The contents the job takes; any other file is refused.
    takes: &'static [Holds],
    /// What it takes, in words, for refusals ("but job X takes …").
    wants: &'static str,
}

impl Room {
    pub fn takes(&self, holds: Holds) -> bool {
        self.takes.contains(&holds)
    }

    /// Whether a file of format `f` may be one this job takes, before it is read.
    pub fn fits(&self, f: Format) -> bool {
        self.takes.iter().any(|h| h.may_come_in(f))
    }

    pub fn wants(&self) -> &'static str {
        self.wants
    }
}

/// The room of a kind of job.
pub fn room(kind: &JobKind) -> &'static Room {
    match kind {
        JobKind::LedgerImport { .. } => &ledger_import::ROOM,
        JobKind::CashReconciliation { .. } => &cash::ROOM,
        JobKind::CustodyImport { .. } => &custody::ROOM,
        JobKind::InvoiceImport { .. } => &invoices::ROOM,
        JobKind::PositionReconciliation { .. } => &positions::ROOM,
        JobKind::TradeSettlement { .. } => &settlement::ROOM,
        JobKind::AccountsPayable { .. } => &payables::ROOM,
        JobKind::Summary { .. } => &summary::ROOM,
    }
}

/// Reads a file the job reads by rules of its own rather than its layout: a securities
/// job's CSV sides (book positions, the trade blotter, a custodian's CSV), accounts
/// payable's purchase orders, goods receipts and invoice lists. `None` for every other file
/// and every other kind of job.
pub fn read_own_side(job: &Job, input: &Input) -> Option<Result<Extracted, ExtractError>> {
    match &job.kind {
        JobKind::PositionReconciliation { .. } => positions::read(job, input),
        JobKind::TradeSettlement { .. } => settlement::read(job, input),
        JobKind::AccountsPayable { .. } => payables::read(job, input),
        JobKind::LedgerImport { .. }
        | JobKind::CashReconciliation { .. }
        | JobKind::CustodyImport { .. }
        | JobKind::InvoiceImport { .. }
        | JobKind::Summary { .. } => None,
    }
}

/// Where a securities reconciliation keeps the firm's own side (book positions, trades).
pub fn book_scope(job: &str) -> String {
    format!("{job}:book")
}
