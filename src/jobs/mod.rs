//! The jobs, one module per kind of job. Each says what it takes from a file (its
//! [`Room`]): the one table the daemon asks when it refuses a file with advice (`accepts`,
//! `rows_refused` in `documents`) and when it routes a mailed attachment that two jobs'
//! rules want (`daemon::mailbox`). `workflow` is people's actions on breaks (assign, note,
//! investigate, reopen, force a match): the one API the `clerk exceptions` command calls.
//!
//! The kinds of job are told apart here, once: where a job keeps what it reads, what it does
//! after a file and when its schedule fires ([`reconcile_after_file`], [`runs`],
//! [`reconcile_kept`]); the daemon and the CLI ask these rather than match on kinds.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Job, JobKind};
use crate::extract::{ExtractError, Extracted, Format, Input, Layout};
use crate::schedule::Calendar;
use crate::store::{RunOutcome, Unit};

pub use error::WorkError;

pub mod bank;
pub mod cash;
pub mod custody;
pub mod documents;
mod error;
pub mod escalation;
pub mod expect;
pub mod explain;
pub mod exports;
pub mod folders;
pub mod grir;
pub mod invoices;
pub mod ledger_import;
pub mod payables;
pub mod periods;
pub mod positions;
pub mod settlement;
pub mod statements;
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

/// Where a job's records (ledger items, statement lines) are stored: a ledger import's book,
/// else the job itself.
pub fn records_scope(job: &Job) -> &str {
    match &job.kind {
        JobKind::LedgerImport { book, .. } => book.as_str(),
        _ => job.name.as_str(),
    }
}

/// Where a job's documents (custodians' statements, invoices) are kept: a custody or invoice
/// import's book, else the job itself.
pub fn documents_scope(job: &Job) -> &str {
    match &job.kind {
        JobKind::CustodyImport { book, .. } | JobKind::InvoiceImport { book, .. } => book.as_str(),
        _ => job.name.as_str(),
    }
}

/// The layout of the ledger import that loads `book`: how its ledger export is read.
pub fn ledger_layout(jobs: &[Job], book: &str) -> Option<Arc<Layout>> {
    jobs.iter().find_map(|j| match &j.kind {
        JobKind::LedgerImport { book: b, layout } if b == book => Some(layout.clone()),
        _ => None,
    })
}

/// The calendar a job's breaks age by, when it has one of its own (a cash reconciliation's).
pub fn ageing_calendar(job: &Job) -> Option<&Calendar> {
    match &job.kind {
        JobKind::CashReconciliation { calendar, .. } => Some(calendar),
        _ => None,
    }
}

/// How a kind of job is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// By its schedule (or by hand) only, reading no files: the summary mail.
    Mail,
    /// By files, and by its schedule or by hand over what is kept, with no new file (a
    /// securities reconciliation: trades fall due without one).
    FilesAndKept,
    /// By files only; a schedule has nothing to do for it.
    Files,
}

/// How `kind` is run.
pub fn runs(kind: &JobKind) -> Runs {
    match kind {
        JobKind::Summary { .. } => Runs::Mail,
        JobKind::PositionReconciliation { .. } | JobKind::TradeSettlement { .. } => {
            Runs::FilesAndKept
        }
        JobKind::LedgerImport { .. }
        | JobKind::CashReconciliation { .. }
        | JobKind::CustodyImport { .. }
        | JobKind::InvoiceImport { .. }
        | JobKind::AccountsPayable { .. } => Runs::Files,
    }
}

/// What a file's run gives the job's reconciliation, from the file's unit of work.
pub struct FileRun<'a> {
    /// Every job of the install (a ledger import feeds the reconciliations of its book).
    pub jobs: &'a [Job],
    pub file_id: i64,
    pub run_id: i64,
    /// The business day, in the install's time zone.
    pub today: NaiveDate,
    pub now: &'a dyn Fn() -> DateTime<Utc>,
    /// The breaks opened and closed, per job, about the file's corrected ledger items.
    pub corrections: &'a dyn Fn(&str) -> cash::Corrections,
    /// The other jobs the file's bank statements were offered to ([`statements::offer`]):
    /// each reconciles after the job, in a run of its own.
    pub offered: &'a [String],
}

/// The job's reconciliation after a file of it is stored, in the file's unit of work: what it
/// matched, posted, opened and closed, counted for the file's run. A ledger import reconciles
/// the cash jobs of its book in runs of their own, which count for them instead.
pub fn reconcile_after_file(
    u: &mut dyn Unit,
    job: &Job,
    file: &FileRun,
) -> Result<RunOutcome, WorkError> {
    let own = reconcile_own(u, job, file)?;
    for other in file
        .offered
        .iter()
        .filter_map(|name| file.jobs.iter().find(|j| &j.name == name))
    {
        // The lines offered count for the other job's run, not this file's.
        let now = file.now;
        let rerun = u.start_run(
            &other.name,
            crate::store::Trigger::Rematch,
            Some(file.file_id),
            now(),
        )?;
        let mut out = reconcile_own(
            u,
            other,
            &FileRun {
                run_id: rerun,
                offered: &[],
                ..*file
            },
        )?;
        out.status = Some(crate::store::RunStatus::Ok);
        out.finished_at = Some(now());
        u.finish_run(rerun, &out)?;
    }
    Ok(own)
}

/// The job's own reconciliation after a file (its own, or one whose statements it was
/// offered).
fn reconcile_own(u: &mut dyn Unit, job: &Job, file: &FileRun) -> Result<RunOutcome, WorkError> {
    let (run_id, now) = (file.run_id, file.now);
    match &job.kind {
        JobKind::CashReconciliation { .. } => Ok(cash::reconcile_job(
            u,
            job,
            run_id,
            now,
            cash::Hold::of(job),
        )?),
        JobKind::LedgerImport { .. } => {
            cash::rematch_after_import(u, job, file)?;
            Ok(RunOutcome::default())
        }
        JobKind::PositionReconciliation { .. } => {
            positions::reconcile_positions_job(u, job, run_id, now())
        }
        JobKind::TradeSettlement { .. } => {
            settlement::reconcile_settlement_job(u, job, run_id, file.today, now())
        }
        JobKind::AccountsPayable { .. } => {
            payables::reconcile_payables_job(u, job, run_id, file.file_id, now())
        }
        JobKind::CustodyImport { .. } | JobKind::InvoiceImport { .. } | JobKind::Summary { .. } => {
            Ok(RunOutcome::default())
        }
    }
}

/// Reconciles what a job keeps, with no new file (its schedule fired, or `clerk job run`
/// found nothing new): a trade settlement's trades fall due, a position reconciliation
/// compares the latest day again. Nothing for a job that is not [`Runs::FilesAndKept`].
pub fn reconcile_kept(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    today: NaiveDate,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<RunOutcome, WorkError> {
    match &job.kind {
        JobKind::TradeSettlement { .. } => {
            settlement::reconcile_settlement_job(u, job, run_id, today, now())
        }
        JobKind::PositionReconciliation { .. } => {
            positions::reconcile_positions_job(u, job, run_id, now())
        }
        _ => Ok(RunOutcome::default()),
    }
}
