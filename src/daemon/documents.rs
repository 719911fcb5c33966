//! What a job takes from a structured document, and the checks on what was read: statements
//! that do not add up or do not follow the previous one, statements sent twice, invoices whose
//! totals are wrong, bad IBAN and ISIN check digits, a file whose last message is cut short.
//! Each finding is a break, never a refusal: published statements often do not balance, and
//! they must still be read.

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Job, JobKind};
use crate::extract::Extracted;
use crate::jobs::Holds;
use crate::model::ids::{iban_is_valid, isin_is_valid};
use crate::model::invoice::Invoice;
use crate::model::securities::{HoldingStatement, SecuritiesTransaction};
use crate::model::statement::BankStatement;
use crate::model::{BreakReason, Currency, Record};
use crate::store::{
    AddedRecords, DocumentKind, NewBreak, NewDocument, NewStatement, StoreError, Unit,
};

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
}

struct Ctx<'a> {
    job: &'a Job,
    run_id: i64,
    file: &'a str,
    at: DateTime<Utc>,
    today: NaiveDate,
    breaks: u64,
}

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        u: &mut dyn Unit,
        reason: BreakReason,
        detail: String,
        amount: Option<rust_decimal::Decimal>,
        currency: Option<Currency>,
        since: Option<NaiveDate>,
        source: String,
    ) -> Result<(), StoreError> {
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

/// Runs the checks and stores the structured documents of a file; returns the records the
/// job takes. Call inside the file's unit of work, after the file row exists.
#[allow(clippy::too_many_arguments)]
pub fn take(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    file_id: i64,
    file: &str,
    x: Extracted,
    today: NaiveDate,
    at: DateTime<Utc>,
) -> Result<Taken, StoreError> {
    let mut ctx = Ctx {
        job,
        run_id,
        file,
        at,
        today,
        breaks: 0,
    };
    let mut taken = Taken {
        records: x.records,
        ..Default::default()
    };
    let format = x.format.as_str();
    for p in &x.unread {
        let source = match p.row {
            Some(row) => ctx.line(row),
            None => file.to_owned(),
        };
        ctx.open(
            u,
            BreakReason::IncompleteFile,
            p.message.clone(),
            None,
            None,
            None,
            source,
        )?;
    }
    for s in &x.statements {
        if take_statement(u, &mut ctx, file_id, format, s)? {
            // A pending line (an MT942 interim report's, camt `PDNG`) is not booked yet: the
            // end-of-day statement brings it again, booked, and only that one reconciles.
            // `records` yields the booked lines only.
            taken.records.extend(s.records());
        }
    }
    let scope = match &job.kind {
        JobKind::CustodyImport { book, .. } | JobKind::InvoiceImport { book, .. } => book.as_str(),
        _ => job.name.as_str(),
    };
    let mut docs = Vec::new();
    for h in &x.holdings {
        check_holdings(u, &mut ctx, h)?;
        for p in &h.positions {
            docs.push(NewDocument {
                kind: DocumentKind::Position,
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
                body: json(p)?,
            });
        }
    }
    for t in &x.transactions {
        for tx in &t.transactions {
            check_isin(
                u,
                &mut ctx,
                tx.isin
                    .as_deref()
                    .or(tx.security_id.as_deref().filter(|s| isin_shaped(s))),
                tx.source.row,
            )?;
            docs.push(NewDocument {
                kind: DocumentKind::SecuritiesTransaction,
                identity: transaction_identity(tx, t.pending),
                account: Some(tx.account.clone()),
                key: tx.reference.clone(),
                as_of: tx.settlement_date,
                body: json(tx)?,
            });
        }
    }
    for inv in &x.invoices {
        check_invoice(u, &mut ctx, inv)?;
        docs.push(NewDocument {
            kind: DocumentKind::Invoice,
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
            body: json(inv)?,
        });
    }
    if !docs.is_empty() {
        taken.documents = u.add_documents(scope, file_id, &docs)?;
    }
    // The firm's own side of a securities reconciliation is kept apart from the custodian's,
    // in a scope of its own; a corrected file for the same day is a new document (identity
    // by file), and the reconciliation reads the latest file per account and day.
    let mut own = Vec::new();
    for p in &x.book_positions {
        check_isin(u, &mut ctx, p.isin.as_deref(), p.source.row)?;
        own.push(NewDocument {
            kind: DocumentKind::Position,
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
            body: json(p)?,
        });
    }
    if !own.is_empty() {
        add(
            &mut taken.documents,
            u.add_documents(&book_scope(&job.name), file_id, &own)?,
        );
    }
    let mut own = Vec::new();
    for t in &x.trades {
        check_isin(u, &mut ctx, Some(&t.isin), t.source.row)?;
        // A trade is its id: a blotter re-sent with yesterday's trades adds nothing.
        own.push(NewDocument {
            kind: DocumentKind::SecuritiesTransaction,
            identity: format!("trade|{}", t.trade_id),
            account: Some(t.account.clone()),
            key: Some(t.trade_id.clone()),
            as_of: Some(t.settlement_date),
            body: json(t)?,
        });
    }
    if !own.is_empty() {
        add(
            &mut taken.documents,
            u.add_documents(&book_scope(&job.name), file_id, &own)?,
        );
    }
    let mut purchasing = Vec::new();
    for o in &x.purchase_orders {
        purchasing.push(NewDocument {
            kind: DocumentKind::PurchaseOrderLine,
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
            body: json(o)?,
        });
    }
    for g in &x.goods_receipts {
        purchasing.push(NewDocument {
            kind: DocumentKind::GoodsReceipt,
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
            body: json(g)?,
        });
    }
    if !purchasing.is_empty() {
        add(
            &mut taken.documents,
            u.add_documents(scope, file_id, &purchasing)?,
        );
    }
    taken.breaks_opened = ctx.breaks;
    Ok(taken)
}

/// Where a securities reconciliation keeps the firm's own side (book positions, trades).
pub fn book_scope(job: &str) -> String {
    format!("{job}:book")
}

fn add(total: &mut AddedRecords, more: AddedRecords) {
    total.inserted += more.inserted;
    total.known += more.known;
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(format!("cannot encode document: {e}")))
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

/// A statement is the same statement when account, currency, number and its balances' dates
/// (or, without a number, its balances) are the same.
pub fn statement_identity(s: &BankStatement) -> String {
    let bal = |b: &Option<crate::model::statement::Balance>| {
        b.as_ref()
            .map(|b| format!("{}@{}", b.amount, b.date))
            .unwrap_or_default()
    };
    format!(
        "{:?}|{}|{}|{}|{}|{}|{}",
        s.kind,
        s.account,
        s.currency.map(|c| c.to_string()).unwrap_or_default(),
        s.number.as_deref().unwrap_or(""),
        s.statement_id.as_deref().unwrap_or(""),
        bal(&s.opening),
        bal(&s.closing),
    )
}

/// Checks one statement and stores it; `false` when it was received before (its lines are not
/// taken again).
fn take_statement(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    file_id: i64,
    format: &str,
    s: &BankStatement,
) -> Result<bool, StoreError> {
    let identity = statement_identity(s);
    let name = match &s.number {
        Some(n) => format!("statement {n} of account {}", s.account),
        None => format!("statement of account {}", s.account),
    };
    let since = s.closing.as_ref().map(|b| b.date).or(s.to_date);
    if u.statement_seen(&identity)? {
        ctx.open(
            u,
            BreakReason::DuplicateStatement,
            format!(
                "{name}{} was received before; its {} lines were not taken again",
                since.map(|d| format!(" for {d}")).unwrap_or_default(),
                s.entries.len()
            ),
            None,
            s.currency,
            since,
            ctx.line(s.source.row),
        )?;
        return Ok(false);
    }
    if let (Some(diff), Some(open), Some(close)) = (
        s.balance_difference(),
        s.opening.as_ref(),
        s.closing.as_ref(),
    ) && !diff.is_zero()
    {
        let reached = close.amount + diff;
        ctx.open(
            u,
            BreakReason::StatementUnbalanced,
            format!(
                "{name}: opening balance {} plus the movements is {reached}, but the closing balance is {} (difference {diff})",
                open.amount, close.amount
            ),
            Some(diff),
            s.currency,
            since,
            ctx.line(s.source.row),
        )?;
    }
    if let (Some(open), Some(ccy)) = (&s.opening, s.currency)
        && s.kind == crate::model::statement::StatementKind::EndOfDay
        && let Some(prev) = u.previous_statement(&s.account, ccy.as_str(), open.date)?
        && prev.closing_amount != open.amount
    {
        ctx.open(
            u,
            BreakReason::StatementGap,
            format!(
                "{name}: opening balance {} on {} does not follow the closing balance {} of {} on {}: a statement is missing in between, or two overlap",
                open.amount,
                open.date,
                prev.closing_amount,
                prev.number
                    .map(|n| format!("statement {n}"))
                    .unwrap_or_else(|| "the previous statement".into()),
                prev.closing_date
            ),
            Some(open.amount - prev.closing_amount),
            Some(ccy),
            Some(open.date),
            ctx.line(s.source.row),
        )?;
    }
    if looks_like_iban(&s.account) && !iban_is_valid(&s.account) {
        ctx.open(
            u,
            BreakReason::BadCheckDigit,
            format!(
                "{name}: the account {} is not a valid IBAN (wrong check digits)",
                s.account
            ),
            None,
            s.currency,
            since,
            ctx.line(s.source.row),
        )?;
    }
    for e in &s.entries {
        if let Some(iban) = &e.details.counterparty_iban
            && looks_like_iban(iban)
            && !iban_is_valid(iban)
        {
            ctx.open(
                u,
                BreakReason::BadCheckDigit,
                format!(
                    "{name}: the counterparty's IBAN {iban} of the {} {} line of {} has wrong check digits; check it before paying to it or matching by it",
                    e.amount,
                    e.currency,
                    e.value_date
                ),
                Some(e.amount),
                Some(e.currency),
                Some(e.value_date),
                ctx.line(e.source.row),
            )?;
        }
    }
    u.add_statement(&NewStatement {
        job: &ctx.job.name,
        file_id,
        identity: &identity,
        format,
        statement: s,
    })?;
    Ok(true)
}

fn looks_like_iban(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 15
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
}

fn check_holdings(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    h: &HoldingStatement,
) -> Result<(), StoreError> {
    for p in &h.positions {
        // A reader keeps an ISIN-shaped code whose check digit fails as `security_id`.
        check_isin(
            u,
            ctx,
            p.isin
                .as_deref()
                .or(p.security_id.as_deref().filter(|s| isin_shaped(s))),
            p.source.row,
        )?;
    }
    Ok(())
}

/// Two letters, nine letters or digits, a digit: what an ISIN looks like, right or wrong.
fn isin_shaped(s: &str) -> bool {
    let b = s.trim().as_bytes();
    b.len() == 12
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..11].iter().all(u8::is_ascii_alphanumeric)
        && b[11].is_ascii_digit()
}

fn check_isin(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    isin: Option<&str>,
    row: u32,
) -> Result<(), StoreError> {
    if let Some(isin) = isin
        && !isin_is_valid(isin)
    {
        ctx.open(
            u,
            BreakReason::BadCheckDigit,
            format!("{isin} is not a valid ISIN (wrong check digit or form)"),
            None,
            None,
            None,
            ctx.line(row),
        )?;
    }
    Ok(())
}

fn check_invoice(u: &mut dyn Unit, ctx: &mut Ctx<'_>, inv: &Invoice) -> Result<(), StoreError> {
    let who = inv
        .supplier
        .name
        .as_deref()
        .or(inv.supplier.vat_id.as_deref())
        .unwrap_or("the supplier");
    let problems = inv.arithmetic_problems();
    if !problems.is_empty() {
        ctx.open(
            u,
            BreakReason::InvoiceArithmetic,
            format!("invoice {} from {who}: {}", inv.number, problems.join("; ")),
            Some(inv.payable),
            Some(inv.currency),
            Some(inv.issue_date),
            ctx.line(inv.source.row),
        )?;
    }
    if let Some(iban) = &inv.supplier.iban
        && looks_like_iban(iban)
        && !iban_is_valid(iban)
    {
        ctx.open(
            u,
            BreakReason::BadCheckDigit,
            format!(
                "invoice {} from {who}: the supplier's IBAN {iban} has wrong check digits; do not pay before checking it",
                inv.number
            ),
            Some(inv.payable),
            Some(inv.currency),
            Some(inv.issue_date),
            ctx.line(inv.source.row),
        )?;
    }
    Ok(())
}
