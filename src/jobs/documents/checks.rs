//! The checks on what a file holds, each finding a break: a statement that does not add up
//! or does not follow the previous one, a statement received before, bad IBAN and ISIN check
//! digits, a holding statement's positions, an invoice whose totals are wrong.

use super::{Ctx, FileBreak};
use crate::model::BreakReason;
use crate::model::ids::{iban_is_valid, isin_is_valid};
use crate::model::invoice::Invoice;
use crate::model::securities::HoldingStatement;
use crate::model::statement::BankStatement;
use crate::store::{NewStatement, StatementPeriod, StatementSeen, StoreError, Unit};

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
pub(super) fn take_statement(
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
    match u.statement_seen(&ctx.job.name, &identity)? {
        StatementSeen::No => {}
        // Another job received it first and offered it to this one, which reads the same
        // account: its lines are here already, nothing was sent twice.
        StatementSeen::Offered => return Ok(false),
        StatementSeen::Received => {
            ctx.open(
                u,
                FileBreak {
                    reason: BreakReason::DuplicateStatement,
                    detail: format!(
                        "{name}{} was received before; its {} lines were not taken again",
                        since.map(|d| format!(" for {d}")).unwrap_or_default(),
                        s.entries.len()
                    ),
                    amount: None,
                    currency: s.currency,
                    since,
                    source: ctx.line(s.source.row),
                },
            )?;
            return Ok(false);
        }
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
            FileBreak {
                reason: BreakReason::StatementUnbalanced,
                detail: format!(
                    "{name}: opening balance {} plus the movements is {reached}, but the closing balance is {} (difference {diff})",
                    open.amount, close.amount
                ),
                amount: Some(diff),
                currency: s.currency,
                since,
                source: ctx.line(s.source.row),
            },
        )?;
    }
    let overlapped = check_overlap(u, ctx, s, &name)?;
    ctx.overlaps += u64::from(overlapped);
    if let (Some(open), Some(ccy)) = (&s.opening, s.currency)
        && !overlapped
        && s.kind == crate::model::statement::StatementKind::EndOfDay
        && let Some(prev) = u.previous_statement(&s.account, ccy.as_str(), open.date)?
        && prev.closing_amount != open.amount
    {
        ctx.open(
            u,
            FileBreak {
                reason: BreakReason::StatementGap,
                detail: format!(
                    "{name}: opening balance {} on {} does not follow the closing balance {} of {} on {}: a statement is missing in between, or two overlap",
                    open.amount,
                    open.date,
                    prev.closing_amount,
                    prev.number
                        .map(|n| format!("statement {n}"))
                        .unwrap_or_else(|| "the previous statement".into()),
                    prev.closing_date
                ),
                amount: Some(open.amount - prev.closing_amount),
                currency: Some(ccy),
                since: Some(open.date),
                source: ctx.line(s.source.row),
            },
        )?;
    }
    if looks_like_iban(&s.account) && !iban_is_valid(&s.account) {
        ctx.open(
            u,
            FileBreak {
                reason: BreakReason::BadCheckDigit,
                detail: format!(
                    "{name}: the account {} is not a valid IBAN (wrong check digits)",
                    s.account
                ),
                amount: None,
                currency: s.currency,
                since,
                source: ctx.line(s.source.row),
            },
        )?;
    }
    for e in &s.entries {
        if let Some(iban) = &e.details.counterparty_iban
            && looks_like_iban(iban)
            && !iban_is_valid(iban)
        {
            ctx.open(
                u,
                FileBreak {
                    reason: BreakReason::BadCheckDigit,
                    detail: format!(
                        "{name}: the counterparty's IBAN {iban} of the {} {} line of {} has wrong check digits; check it before paying to it or matching by it",
                        e.amount,
                        e.currency,
                        e.value_date
                    ),
                    amount: Some(e.amount),
                    currency: Some(e.currency),
                    since: Some(e.value_date),
                    source: ctx.line(e.source.row),
                },
            )?;
        }
    }
    u.add_statement(&NewStatement {
        job: &ctx.job.name,
        file_id,
        offered: false,
        identity: &identity,
        format,
        statement: s,
    })?;
    Ok(true)
}

/// Whether an end-of-day statement covers days an earlier one of the account already
/// covered: the same statement sent again under a new reference (`:20:`, `Stmt/Id`), or one
/// whose period overlaps. Its lines are still read; those already taken (by bank reference,
/// or without one by account, value date, amount and text: `Record::identity`) are known to
/// the store and not taken again, and the overlap is a break naming both files. The overlap
/// explains an opening balance that does not follow, so no gap is reported beside it.
/// Continuation pages (`:60M:`/`:62M:`) share their day with the page before and are left
/// out; interim reports (MT942, camt.052) and notifications are not checked.
fn check_overlap(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    s: &BankStatement,
    name: &str,
) -> Result<bool, StoreError> {
    let (Some(open), Some(close), Some(ccy)) = (&s.opening, &s.closing, s.currency) else {
        return Ok(false);
    };
    if s.kind != crate::model::statement::StatementKind::EndOfDay
        || open.intermediate
        || close.intermediate
    {
        return Ok(false);
    }
    let Some(earlier) = u.overlapping_statement(&StatementPeriod {
        job: &ctx.job.name,
        account: &s.account,
        currency: ccy.as_str(),
        number: s.number.as_deref(),
        opening_date: open.date,
        closing_date: close.date,
    })?
    else {
        return Ok(false);
    };
    let earlier_name = earlier
        .number
        .as_deref()
        .map(|n| format!("statement {n}"))
        .unwrap_or_else(|| "a statement".into());
    ctx.open(
        u,
        FileBreak {
            reason: BreakReason::StatementOverlap,
            detail: format!(
                "{name} ({}, {} to {}) covers days of {earlier_name} ({}, {} to {}): the same statement sent again, or two that overlap; the lines already taken from {} were not taken again",
                ctx.file,
                open.date,
                close.date,
                earlier.file,
                earlier.opening_date,
                earlier.closing_date,
                earlier.file
            ),
            amount: None,
            currency: Some(ccy),
            since: Some(open.date),
            source: ctx.line(s.source.row),
        },
    )?;
    Ok(true)
}

pub(super) fn looks_like_iban(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 15
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
}

pub(super) fn check_holdings(
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
pub(super) fn isin_shaped(s: &str) -> bool {
    let b = s.trim().as_bytes();
    b.len() == 12
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..11].iter().all(u8::is_ascii_alphanumeric)
        && b[11].is_ascii_digit()
}

pub(super) fn check_isin(
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
            FileBreak {
                reason: BreakReason::BadCheckDigit,
                detail: format!("{isin} is not a valid ISIN (wrong check digit or form)"),
                amount: None,
                currency: None,
                since: None,
                source: ctx.line(row),
            },
        )?;
    }
    Ok(())
}

pub(super) fn check_invoice(
    u: &mut dyn Unit,
    ctx: &mut Ctx<'_>,
    inv: &Invoice,
) -> Result<(), StoreError> {
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
            FileBreak {
                reason: BreakReason::InvoiceArithmetic,
                detail: format!("invoice {} from {who}: {}", inv.number, problems.join("; ")),
                amount: Some(inv.payable),
                currency: Some(inv.currency),
                since: Some(inv.issue_date),
                source: ctx.line(inv.source.row),
            },
        )?;
    }
    if let Some(iban) = &inv.supplier.iban
        && looks_like_iban(iban)
        && !iban_is_valid(iban)
    {
        ctx.open(
            u,
            FileBreak {
                reason: BreakReason::BadCheckDigit,
                detail: format!(
                    "invoice {} from {who}: the supplier's IBAN {iban} has wrong check digits; do not pay before checking it",
                    inv.number
                ),
                amount: Some(inv.payable),
                currency: Some(inv.currency),
                since: Some(inv.issue_date),
                source: ctx.line(inv.source.row),
            },
        )?;
    }
    Ok(())
}
