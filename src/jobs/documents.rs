//! What a job takes from a structured document, and the checks on what was read: statements
//! that do not add up or do not follow the previous one, statements sent twice, invoices whose
//! totals are wrong, bad IBAN and ISIN check digits, a file whose last message is cut short.
//! Each finding is a break, never a refusal: published statements often do not balance, and
//! they must still be read.

mod checks;

use chrono::{DateTime, NaiveDate, Utc};

pub use checks::statement_identity;
use checks::{check_holdings, check_invoice, check_isin, isin_shaped, take_statement};

use crate::config::{Job, JobKind};
use crate::extract::Extracted;
use crate::jobs::Holds;
use crate::model::invoice::Invoice;
use crate::model::payables::{GoodsReceipt, PurchaseOrderLine};
use crate::model::securities::{
    HoldingStatement, Position, SecuritiesTransaction, Trade, TransactionStatement,
};
use crate::model::{BreakReason, Currency, Record};
use crate::store::{AddedRecords, Document, NewBreak, NewDocument, StoreError, Unit};

/// Whether `job` takes what `extracted` holds; the refusal says what the file is, what the
/// job expects and which job (and folder) does take it, for `failed/<name>.error.txt`.
pub fn accepts(job: &Job, jobs: &[Job], x: &Extracted, file: &str) -> Result<(), String> {
    let holds = Holds::of(x);
    let room = crate::jobs::room(&job.kind);
    if room.takes(holds) {
        return Ok(());
    }
    Err(format!(
        "{file}: is {} holding {}, but job {} takes {}; {}",
        x.format.as_str(),
        holds.words(),
        job.name,
        room.wants(),
        where_to_drop(jobs, job, |k| crate::jobs::room(k).takes(holds))
    ))
}

/// The advice at the end of a refusal: the other jobs that take the file, with their folders,
/// or that none does. Staff who dropped a file in the wrong folder need the right one.
pub fn where_to_drop(jobs: &[Job], refusing: &Job, takes: impl Fn(&JobKind) -> bool) -> String {
    let takers: Vec<String> = jobs
        .iter()
        .filter(|j| j.name != refusing.name && takes(&j.kind))
        .map(|j| match &j.watch {
            Some(w) => format!("job {} (folder {})", j.name, w.folder.display()),
            None => format!("job {} (`clerk job run {} FILE`)", j.name, j.name),
        })
        .collect();
    if takers.is_empty() {
        "no job of this installation takes it: add one in jobs/ (README, Configuration)".to_owned()
    } else {
        format!("drop it into the folder of {}", takers.join(" or "))
    }
}

/// The refusal for a CSV or spreadsheet sent to a job that maps no columns: which job's
/// folder takes rows instead.
pub fn rows_refused(job: &Job, jobs: &[Job], file: &str, format: &str) -> String {
    format!(
        "{file}: is {format}, but job {} maps no columns ([extract.columns] in {}): it reads only \
         statements and documents with their own structure; {}",
        job.name,
        job.file.display(),
        where_to_drop(jobs, job, |k| {
            k.layout().is_some_and(|l| l.tabular) && crate::jobs::room(k).takes(Holds::Rows)
        })
    )
}

/// What a file gave the job, after the checks.
#[derive(Debug, Default)]
pub struct Taken {
    /// Records to store and reconcile: the rows of a tabular file, or the entries of every
    /// statement not received before.
    pub records: Vec<Record>,
    /// Positions, custody transactions, invoices stored (or already known).
    pub documents: AddedRecords,
    pub breaks_opened: u64,
    /// Bank statements taken from the file, and how many of them overlap an earlier one:
    /// what [`lines_seen_before`] needs to tell a statement sent again from a line repeated.
    pub statements: u64,
    pub overlaps: u64,
    /// The bank statements taken, offered next to the other jobs that read their accounts
    /// ([`crate::jobs::statements::offer`]).
    pub bank_statements: Vec<crate::model::statement::BankStatement>,
}

struct Ctx<'a> {
    job: &'a Job,
    run_id: i64,
    file: &'a str,
    at: DateTime<Utc>,
    today: NaiveDate,
    breaks: u64,
    /// Statements of the file that cover days an earlier one covered (each is a break).
    overlaps: u64,
}

/// A break about something in the file: what is wrong, where (`source`: the file and line),
/// and the amount, currency and day it is about, when it is about one (else the day read).
struct FileBreak {
    reason: BreakReason,
    detail: String,
    amount: Option<rust_decimal::Decimal>,
    currency: Option<Currency>,
    since: Option<NaiveDate>,
    source: String,
}

impl<'a> Ctx<'a> {
    /// Nothing opened yet, for the file of `run`.
    fn of(run: &FileRun<'a>) -> Ctx<'a> {
        Ctx {
            job: run.job,
            run_id: run.run_id,
            file: run.file,
            at: run.at,
            today: run.today,
            breaks: 0,
            overlaps: 0,
        }
    }

    fn open(&mut self, u: &mut dyn Unit, found: FileBreak) -> Result<(), StoreError> {
        let FileBreak {
            reason,
            detail,
            amount,
            currency,
            since,
            source,
        } = found;
        if u.open_break(&NewBreak {
            job: &self.job.name,
            run_id: self.run_id,
            reason,
            detail: &detail,
            amount,
            currency,
            difference: None,
            since: since.unwrap_or(self.today),
            owner: self.job.owner.as_deref(),
            record_id: None,
            source: Some(&source),
            at: self.at,
            subject: None,
        })?
        .is_some()
        {
            self.breaks += 1;
        }
        Ok(())
    }

    fn line(&self, row: u32) -> String {
        format!("{} line {row}", self.file)
    }
}

/// The run a file's documents are taken in: the job, the run, the file (its row, and its
/// name as it arrived, for the breaks' sources), the business day and the time.
pub struct FileRun<'a> {
    pub job: &'a Job,
    pub run_id: i64,
    pub file_id: i64,
    pub file: &'a str,
    pub today: NaiveDate,
    pub at: DateTime<Utc>,
}

/// Runs the checks and stores the structured documents of a file; returns the records the
/// job takes. Call inside the file's unit of work, after the file row exists.
pub fn take(u: &mut dyn Unit, run: &FileRun<'_>, x: Extracted) -> Result<Taken, StoreError> {
    let (job, file_id) = (run.job, run.file_id);
    let mut ctx = Ctx::of(run);
    let mut taken = Taken {
        records: x.records,
        ..Default::default()
    };
    note_unread(u, &mut ctx, &x.unread)?;
    let format = x.format.as_str();
    for s in x.statements {
        if take_statement(u, &mut ctx, file_id, format, &s)? {
            taken.statements += 1;
            // A pending line (an MT942 interim report's, camt `PDNG`) is not booked yet: the
            // end-of-day statement brings it again, booked, and only that one reconciles.
            // `records` yields the booked lines only.
            taken.records.extend(s.records());
            taken.bank_statements.push(s);
        }
    }
    let scope = crate::jobs::documents_scope(job);
    let mut docs = holding_documents(u, &mut ctx, &x.holdings)?;
    docs.extend(transaction_documents(u, &mut ctx, &x.transactions)?);
    docs.extend(invoice_documents(u, &mut ctx, &x.invoices)?);
    if !docs.is_empty() {
        taken.documents = u.add_documents(scope, file_id, &docs)?;
    }
    // The firm's own side of a securities reconciliation is kept apart from the custodian's,
    // in a scope of its own; a corrected file for the same day is a new document (identity
    // by file), and the reconciliation reads the latest file per account and day.
    let own = book_position_documents(u, &mut ctx, &x.book_positions)?;
    if !own.is_empty() {
        add(
            &mut taken.documents,
            u.add_documents(&crate::jobs::book_scope(&job.name), file_id, &own)?,
        );
    }
    let own = trade_documents(u, &mut ctx, &x.trades)?;
    if !own.is_empty() {
        add(
            &mut taken.documents,
            u.add_documents(&crate::jobs::book_scope(&job.name), file_id, &own)?,
        );
    }
    let purchasing = purchasing_documents(&x.purchase_orders, &x.goods_receipts)?;
    if !purchasing.is_empty() {
        add(
            &mut taken.documents,
            u.add_documents(scope, file_id, &purchasing)?,
        );
    }
    taken.breaks_opened = ctx.breaks;
    taken.overlaps = ctx.overlaps;
    Ok(taken)
}

/// After a file's records are stored: `known` of its statement lines were taken before
/// (a line without a bank reference is known by account, value date, amount and text). When
/// the file's statements overlap an earlier one, that is the statement sent again, and the
/// overlap is already a break. When they do not, the bank may have booked the same line twice
/// (two card payments of the same amount, the same day and text, in two statements): it was
/// not taken again, so it must not go unseen. Returns the breaks opened (0 or 1).
pub fn lines_seen_before(
    u: &mut dyn Unit,
    run: &FileRun<'_>,
    taken: &Taken,
    known: u64,
) -> Result<u64, StoreError> {
    if taken.statements == 0 || taken.overlaps > 0 || known == 0 {
        return Ok(0);
    }
    let mut ctx = Ctx::of(run);
    ctx.open(
        u,
        FileBreak {
            reason: BreakReason::DuplicateStatement,
            detail: format!(
                "{known} line(s) of {} were taken before from another statement (same account, value date, amount and text, no bank reference), and the statements do not overlap: if the bank booked them twice, post the second by hand; otherwise resolve this",
                run.file
            ),
            amount: None,
            currency: None,
            since: None,
            source: run.file.to_string(),
        },
    )?;
    Ok(ctx.breaks)
}

/// A break for each part of the file that could not be read (a last message cut short).
fn note_unread(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    unread: &[crate::extract::Problem],
) -> Result<(), StoreError> {
    for p in unread {
        let source = match p.row {
            Some(row) => ctx.line(row),
            None => ctx.file.to_owned(),
        };
        ctx.open(
            u,
            FileBreak {
                reason: BreakReason::IncompleteFile,
                detail: p.message.clone(),
                amount: None,
                currency: None,
                since: None,
                source,
            },
        )?;
    }
    Ok(())
}

/// The custodian's positions, each holding statement checked first.
fn holding_documents(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    holdings: &[HoldingStatement],
) -> Result<Vec<NewDocument>, StoreError> {
    let mut docs = Vec::new();
    for h in holdings {
        check_holdings(u, ctx, h)?;
        for p in &h.positions {
            docs.push(NewDocument {
                identity: format!(
                    "{}|{}|{}|{:?}",
                    p.account,
                    p.isin.as_deref().or(p.security_id.as_deref()).unwrap_or(""),
                    p.as_of,
                    p.quantity_kind
                ),
                account: Some(p.account.clone()),
                key: p.isin.clone().or_else(|| p.security_id.clone()),
                as_of: Some(p.as_of),
                body: Document::Position(p.clone()),
            });
        }
    }
    Ok(docs)
}

/// The custodian's transactions, settled or pending, their ISINs checked.
fn transaction_documents(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    statements: &[TransactionStatement],
) -> Result<Vec<NewDocument>, StoreError> {
    let mut docs = Vec::new();
    for t in statements {
        for tx in &t.transactions {
            check_isin(
                u,
                ctx,
                tx.isin
                    .as_deref()
                    .or(tx.security_id.as_deref().filter(|s| isin_shaped(s))),
                tx.source.row,
            )?;
            docs.push(NewDocument {
                identity: transaction_identity(tx, t.pending),
                account: Some(tx.account.clone()),
                key: tx.reference.clone(),
                as_of: tx.settlement_date,
                body: Document::SecuritiesTransaction(tx.clone()),
            });
        }
    }
    Ok(docs)
}

/// Invoices, their totals checked; one per supplier, number and kind.
fn invoice_documents(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    invoices: &[Invoice],
) -> Result<Vec<NewDocument>, StoreError> {
    let mut docs = Vec::new();
    for inv in invoices {
        check_invoice(u, ctx, inv)?;
        docs.push(NewDocument {
            identity: format!(
                "{}|{}|{:?}",
                inv.supplier
                    .vat_id
                    .as_deref()
                    .or(inv.supplier.name.as_deref())
                    .unwrap_or(""),
                inv.number,
                inv.kind
            ),
            account: inv.supplier.vat_id.clone(),
            key: Some(inv.number.clone()),
            as_of: Some(inv.issue_date),
            body: Document::Invoice(Box::new(inv.clone())),
        });
    }
    Ok(docs)
}

/// The firm's own positions, their ISINs checked; one per file, account, security, day and row.
fn book_position_documents(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    positions: &[Position],
) -> Result<Vec<NewDocument>, StoreError> {
    let mut own = Vec::new();
    for p in positions {
        check_isin(u, ctx, p.isin.as_deref(), p.source.row)?;
        own.push(NewDocument {
            identity: format!(
                "{}|{}|{}|{}|{}",
                p.source.file,
                p.account,
                p.isin.as_deref().unwrap_or(""),
                p.as_of,
                p.source.row
            ),
            account: Some(p.account.clone()),
            key: p.isin.clone(),
            as_of: Some(p.as_of),
            body: Document::Position(p.clone()),
        });
    }
    Ok(own)
}

/// The firm's own trades, their ISINs checked.
fn trade_documents(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    trades: &[Trade],
) -> Result<Vec<NewDocument>, StoreError> {
    let mut own = Vec::new();
    for t in trades {
        check_isin(u, ctx, Some(&t.isin), t.source.row)?;
        // A trade is its id: a blotter re-sent with yesterday's trades adds nothing.
        own.push(NewDocument {
            identity: format!("trade|{}", t.trade_id),
            account: Some(t.account.clone()),
            key: Some(t.trade_id.clone()),
            as_of: Some(t.settlement_date),
            body: Document::Trade(t.clone()),
        });
    }
    Ok(own)
}

/// Purchase order lines and goods receipts, for the three-way match.
fn purchasing_documents(
    orders: &[PurchaseOrderLine],
    receipts: &[GoodsReceipt],
) -> Result<Vec<NewDocument>, StoreError> {
    let mut purchasing = Vec::new();
    for o in orders {
        purchasing.push(NewDocument {
            // One line per order and line: an order sent again adds nothing.
            identity: format!(
                "{}|{}",
                o.po_number,
                o.line
                    .as_deref()
                    .or(o.item.as_deref())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("row {}", o.source.row))
            ),
            account: o.supplier.clone(),
            key: Some(o.po_number.clone()),
            as_of: None,
            body: Document::PurchaseOrderLine(o.clone()),
        });
    }
    for g in receipts {
        purchasing.push(NewDocument {
            identity: format!(
                "{}|{}|{}",
                g.receipt_id,
                g.po_number,
                g.line
                    .as_deref()
                    .or(g.item.as_deref())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("row {}", g.source.row))
            ),
            account: None,
            key: Some(g.po_number.clone()),
            as_of: Some(g.received_on),
            body: Document::GoodsReceipt(g.clone()),
        });
    }
    Ok(purchasing)
}

fn add(total: &mut AddedRecords, more: AddedRecords) {
    total.inserted += more.inserted;
    total.known += more.known;
}

fn transaction_identity(tx: &SecuritiesTransaction, pending: bool) -> String {
    format!(
        "{}|{}|{}|{}|{:?}|{}|{}|{}",
        if pending { "pending" } else { "settled" },
        tx.account,
        tx.custodian_reference
            .as_deref()
            .or(tx.reference.as_deref())
            .unwrap_or(""),
        tx.isin
            .as_deref()
            .or(tx.security_id.as_deref())
            .unwrap_or(""),
        tx.direction,
        tx.quantity,
        tx.settlement_date
            .map(|d| d.to_string())
            .unwrap_or_default(),
        tx.source.row
    )
}
