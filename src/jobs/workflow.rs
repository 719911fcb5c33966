//! People working breaks: the one action that touches the books is a forced match, which
//! posts what the job's rule would have posted (plus, when the amounts differ, the difference
//! to an account the person names), closes the breaks, and records who did it and why, all in
//! one transaction.
//!
//! Four eyes (maker–checker): a forced match or a write-off above `[http.approval]` is only
//! proposed; another person approves it ([`approve`], which does it in the same transaction)
//! or rejects it ([`reject`]); its maker may withdraw it ([`withdraw`]). Nobody approves their
//! own. The console and the command line both call these, so the rule is the same in both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::{Config, JobKind};
use crate::model::{
    BreakStatus, Currency, EntryLine, JournalEntry, MatchPass, Record, Side, StoredRecord,
    break_label,
};
use crate::post::{PostingTemplate, build_entry, build_entry_without_difference, check_balanced};
use crate::store::{
    self, Approval, ApprovalKind, ApprovalStatus, Decision, NewApproval, NewMatch, Posted,
    RunOutcome, RunStatus, Store, StoreError, Trigger, Unit, approval_label,
};

pub mod correction;
pub mod invoice;
pub mod reversal;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a forced match did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forced {
    pub run_id: i64,
    pub entry_id: i64,
    pub closed: Vec<i64>,
}

/// What a person's action did, or that it only became a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// Above the approval limit (four eyes): kept as proposal `A-<id>`, done only when
    /// another person approves it ([`approve`]).
    Proposed(i64),
}

/// What approving a proposal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    pub approval_id: i64,
    pub kind: ApprovalKind,
    /// The forced match's run and entry (a reversal's: the reversing entry); `None` for a
    /// write-off.
    pub forced: Option<Forced>,
    /// The breaks it closed.
    pub closed: Vec<i64>,
}

/// Matches the records behind `break_ids` by hand. They must be open breaks of one cash
/// reconciliation job, with at least one ledger item and one statement line among them.
///
/// Four eyes: when the match moves more than `[http.approval]` allows in one of its
/// currencies it is only proposed ([`Outcome::Proposed`]). What a match moves, per currency,
/// is the larger of its two sides: the absolute amounts of its ledger items (what is left of
/// an item paid in part) added up, against those of its statement lines. Everything is
/// checked (and the entry built) before it is proposed, so a proposal can be posted as it is.
pub fn force_match(
    config: &Config,
    store: &mut dyn Store,
    break_ids: &[i64],
    reason: &str,
    actor: &str,
    difference_account: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Outcome<Forced>, WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a forced match is kept with its reason".into(),
        ));
    }
    // A refusal rolls the unit back whole: nothing of a refused match stays.
    store::in_unit_as(store, |u| {
        refuse_if_pending(u, break_ids)?;
        let plan = plan_match(u, config, break_ids, difference_account)?;
        if let Some((currency, amount, limit)) = match_above_limit(config, &plan) {
            let history = format!(
                "awaits approval: {} matched by hand, {amount} {currency} (above the limit of \
                 {limit} {currency}); reason: {reason}",
                labels(break_ids)
            );
            let id = u.propose(&NewApproval {
                kind: ApprovalKind::ForceMatch,
                job: &plan.job,
                break_ids,
                reason,
                difference_account,
                currency,
                amount,
                proposed_by: actor,
                at,
                history: &history,
            })?;
            return Ok(Outcome::Proposed(id));
        }
        post_match_by_hand(u, plan, break_ids, reason, actor, None, at).map(Outcome::Done)
    })
}

/// Resolves (writes off) one break, saying why; nothing is posted. Four eyes: a break whose
/// amount is above `[http.approval]` in its currency is only proposed.
pub fn resolve(
    config: &Config,
    store: &mut dyn Store,
    id: i64,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Outcome<()>, WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a resolution is kept with its reason".into(),
        ));
    }
    store::in_unit_as(store, |u| {
        let b = open_break(u, id)?;
        refuse_if_pending(u, &[id])?;
        if let (Some(amount), Some(currency)) = (b.amount, b.currency)
            && let Some(limit) = config.http.approval.limit(currency)
            && amount.abs() > limit
        {
            let amount = amount.abs();
            let history = format!(
                "awaits approval: {} written off, {amount} {currency} (above the limit of \
                 {limit} {currency}); reason: {reason}",
                break_label(id)
            );
            let approval = u.propose(&NewApproval {
                kind: ApprovalKind::Resolve,
                job: &b.job,
                break_ids: &[id],
                reason,
                difference_account: None,
                currency,
                amount,
                proposed_by: actor,
                at,
                history: &history,
            })?;
            return Ok(Outcome::Proposed(approval));
        }
        u.resolve_break(id, reason, actor, at)
            .map_err(refused_on_conflict)?;
        Ok(Outcome::Done(()))
    })
}

/// Approves a pending proposal and does it, in the transaction that marks it approved:
/// posted once, whoever approves it twice. Refused to the person who proposed it (nobody
/// approves their own), and when what it names changed since: a break closed or matched
/// meanwhile, or an amount above the limit that is more than what was proposed.
pub fn approve(
    config: &Config,
    store: &mut dyn Store,
    approval_id: i64,
    approver: &str,
    at: DateTime<Utc>,
) -> Result<Approved, WorkflowError> {
    let label = approval_label(approval_id);
    store::in_unit_as(store, |u| {
        let a = pending(u, approval_id)?;
        if same_person(&a.proposed_by, approver) {
            return Err(WorkflowError::Refused(format!(
                "nobody approves their own: {label} was proposed by {}; another person must \
                 approve it (or {} may withdraw it)",
                a.proposed_by, a.proposed_by
            )));
        }
        let changed = |m: String| {
            WorkflowError::Refused(format!(
                "{label} cannot be approved: {m}; reject it, and propose again if still needed"
            ))
        };
        let (forced, closed) = match a.kind {
            ApprovalKind::ForceMatch => {
                let plan = plan_match(u, config, &a.break_ids, a.difference_account.as_deref())
                    .map_err(|e| match e {
                        WorkflowError::Refused(m) => changed(m),
                        other => other,
                    })?;
                if let Some((currency, amount, _)) = match_above_limit(config, &plan)
                    && (currency != a.currency || amount > a.amount)
                {
                    return Err(changed(format!(
                        "it now moves {amount} {currency}, more than the {} {} proposed",
                        a.amount, a.currency
                    )));
                }
                let f = post_match_by_hand(
                    u,
                    plan,
                    &a.break_ids,
                    &a.reason,
                    &a.proposed_by,
                    Some((approver, approval_id)),
                    at,
                )?;
                let closed = f.closed.clone();
                (Some(f), closed)
            }
            ApprovalKind::Resolve => {
                let id = a.break_ids.first().copied().unwrap_or_default();
                let b = open_break(u, id).map_err(|e| match e {
                    WorkflowError::Refused(m) => changed(m),
                    other => other,
                })?;
                if let (Some(amount), Some(currency)) = (b.amount, b.currency)
                    && config.http.approval.needs_approval(currency, amount)
                    && (currency != a.currency || amount.abs() > a.amount)
                {
                    return Err(changed(format!(
                        "{} is now {} {currency}, more than the {} {} proposed",
                        break_label(id),
                        amount.abs(),
                        a.amount,
                        a.currency
                    )));
                }
                let resolution = format!(
                    "{} (proposed by {}, approved by {approver}, {label})",
                    a.reason, a.proposed_by
                );
                u.resolve_break(id, &resolution, approver, at)
                    .map_err(refused_on_conflict)?;
                (None, vec![id])
            }
            ApprovalKind::CorrectPosition => {
                let f = correction::approved(u, config, &a, approver, at)?;
                let closed = f.closed.clone();
                (Some(f), closed)
            }
            ApprovalKind::ApproveInvoice => {
                let f = invoice::approved(u, config, &a, approver, at)?;
                let closed = f.closed.clone();
                (Some(f), closed)
            }
            ApprovalKind::Reverse => {
                let r = reversal::approved(u, config, &a, approver, at)?;
                let forced = Forced {
                    run_id: r.run_id,
                    entry_id: r.entry_id,
                    closed: Vec::new(),
                };
                (Some(forced), Vec::new())
            }
        };
        let entry_id = forced.as_ref().map(|f| f.entry_id);
        let history = match entry_id {
            Some(e) => format!("approved: entry {e} posted"),
            None => "approved".to_string(),
        };
        let decided = u.decide_approval(
            approval_id,
            &Decision {
                status: ApprovalStatus::Approved,
                by: approver,
                at,
                note: None,
                entry_id,
                history: &history,
            },
        )?;
        if !decided {
            return Err(WorkflowError::Refused(format!(
                "{label} is no longer pending"
            )));
        }
        Ok(Approved {
            approval_id,
            kind: a.kind,
            forced,
            closed,
        })
    })
}

/// Rejects a pending proposal, saying why: nothing is posted, its breaks stay as they are
/// (open) and may be proposed again. The person who proposed it withdraws it instead.
pub fn reject(
    _config: &Config,
    store: &mut dyn Store,
    approval_id: i64,
    approver: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<(), WorkflowError> {
    if note.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a rejection is kept with its reason".into(),
        ));
    }
    let label = approval_label(approval_id);
    store::in_unit_as(store, |u| {
        let a = pending(u, approval_id)?;
        if same_person(&a.proposed_by, approver) {
            return Err(WorkflowError::Refused(format!(
                "you proposed {label}: withdraw it instead (clerk exception withdraw {label})"
            )));
        }
        decide(
            u,
            approval_id,
            ApprovalStatus::Rejected,
            approver,
            Some(note),
            at,
            &format!("rejected: {note}"),
        )
    })
}

/// Takes back one's own pending proposal: nothing is posted, its breaks stay open.
pub fn withdraw(
    _config: &Config,
    store: &mut dyn Store,
    approval_id: i64,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), WorkflowError> {
    let label = approval_label(approval_id);
    store::in_unit_as(store, |u| {
        let a = pending(u, approval_id)?;
        if !same_person(&a.proposed_by, actor) {
            return Err(WorkflowError::Refused(format!(
                "{label} was proposed by {}: only they may withdraw it; approve or reject it",
                a.proposed_by
            )));
        }
        decide(
            u,
            approval_id,
            ApprovalStatus::Withdrawn,
            actor,
            None,
            at,
            "withdrawn by its maker",
        )
    })
}

fn decide(
    u: &mut dyn Unit,
    approval_id: i64,
    status: ApprovalStatus,
    by: &str,
    note: Option<&str>,
    at: DateTime<Utc>,
    history: &str,
) -> Result<(), WorkflowError> {
    let decision = Decision {
        status,
        by,
        at,
        note,
        entry_id: None,
        history,
    };
    if u.decide_approval(approval_id, &decision)? {
        Ok(())
    } else {
        Err(WorkflowError::Refused(format!(
            "{} is no longer pending",
            approval_label(approval_id)
        )))
    }
}

/// The proposal, when it still waits for a decision.
fn pending(u: &mut dyn Unit, approval_id: i64) -> Result<Approval, WorkflowError> {
    let label = approval_label(approval_id);
    let Some(a) = u.approval(approval_id)? else {
        return Err(WorkflowError::Refused(format!(
            "there is no proposal {label}"
        )));
    };
    if a.status != ApprovalStatus::Pending {
        return Err(WorkflowError::Refused(format!(
            "{label} was {} already{}",
            a.status.as_str(),
            a.decided_by
                .as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        )));
    }
    Ok(a)
}

/// One login however it is typed: `Anna` and `anna ` are the same person, so no one
/// approves their own proposal by changing a letter's case.
fn same_person(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn labels(ids: &[i64]) -> String {
    ids.iter()
        .map(|&i| break_label(i))
        .collect::<Vec<_>>()
        .join(", ")
}

fn refused_on_conflict(e: StoreError) -> WorkflowError {
    match e {
        StoreError::Conflict(m) => WorkflowError::Refused(m),
        other => WorkflowError::Store(other),
    }
}

/// The break, when it exists and is not resolved.
fn open_break(u: &mut dyn Unit, id: i64) -> Result<crate::model::Break, WorkflowError> {
    let Some(b) = u.break_by_id(id)? else {
        return Err(WorkflowError::Refused(format!(
            "there is no exception {}",
            break_label(id)
        )));
    };
    if b.status == BreakStatus::Resolved {
        return Err(WorkflowError::Refused(format!(
            "exception {} is already resolved",
            break_label(id)
        )));
    }
    Ok(b)
}

/// A break waiting for a second person is not worked a second way meanwhile.
fn refuse_if_pending(u: &mut dyn Unit, break_ids: &[i64]) -> Result<(), WorkflowError> {
    for &id in break_ids {
        if let Some(a) = u
            .approvals_for_break(id)?
            .into_iter()
            .find(|a| a.status == ApprovalStatus::Pending)
        {
            return Err(WorkflowError::Refused(format!(
                "exception {} awaits approval of {} ({} proposed by {}); approve, reject or \
                 withdraw that first",
                break_label(id),
                approval_label(a.id),
                a.kind.words(),
                a.proposed_by
            )));
        }
    }
    Ok(())
}

/// A match by hand, checked and its entry built, not yet posted.
struct PlannedMatch {
    job: String,
    ledger: Vec<StoredRecord>,
    statement: Vec<StoredRecord>,
    entry: JournalEntry,
}

/// The first currency in which the match moves more than the approval limit: (currency,
/// amount, limit). Per currency, the larger of the sides' absolute totals.
fn match_above_limit(config: &Config, plan: &PlannedMatch) -> Option<(Currency, Decimal, Decimal)> {
    let mut sides: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
    for r in &plan.ledger {
        sides.entry(r.record.currency).or_default().0 += r.record.amount.abs();
    }
    for r in &plan.statement {
        sides.entry(r.record.currency).or_default().1 += r.record.amount.abs();
    }
    sides.into_iter().find_map(|(currency, (l, s))| {
        let amount = l.max(s);
        let limit = config.http.approval.limit(currency)?;
        (amount > limit).then_some((currency, amount, limit))
    })
}

fn plan_match(
    u: &mut dyn Unit,
    config: &Config,
    break_ids: &[i64],
    difference_account: Option<&str>,
) -> Result<PlannedMatch, WorkflowError> {
    let refuse = |m: String| Err(WorkflowError::Refused(m));
    if break_ids.len() < 2 {
        return refuse("name at least two exceptions to match with each other".into());
    }
    let mut job_name: Option<String> = None;
    let mut ledger: Vec<StoredRecord> = Vec::new();
    let mut statement: Vec<StoredRecord> = Vec::new();
    for &id in break_ids {
        let Some(b) = u.break_by_id(id)? else {
            return refuse(format!("there is no exception E-{id}"));
        };
        if b.status == BreakStatus::Resolved {
            return refuse(format!("exception E-{id} is already resolved"));
        }
        let Some(record_id) = b.record_id else {
            return refuse(format!(
                "exception E-{id} ({}) is not about a record; resolve it instead",
                b.reason.as_str()
            ));
        };
        match &job_name {
            None => job_name = Some(b.job.clone()),
            Some(j) if *j != b.job => {
                return refuse(format!(
                    "exception E-{id} belongs to job {}, the others to {j}",
                    b.job
                ));
            }
            Some(_) => {}
        }
        let Some((_, rec, matched)) = u.record_by_id(record_id)? else {
            return refuse(format!("the record of exception E-{id} is gone"));
        };
        if matched {
            return refuse(format!("the record of exception E-{id} is matched already"));
        }
        match rec.record.side {
            Side::Ledger => ledger.push(rec),
            Side::Statement => statement.push(rec),
        }
    }
    let job_name = job_name.unwrap_or_default();
    let Some(job) = config.job(&job_name) else {
        return refuse(format!("job {job_name} is no longer configured"));
    };
    let JobKind::CashReconciliation { posting, .. } = &job.kind else {
        return refuse(format!(
            "job {job_name} is a {}; only reconciliation breaks can be matched",
            job.kind.name()
        ));
    };
    if ledger.is_empty() || statement.is_empty() {
        return refuse(
            "a match needs at least one ledger item and one statement line among the exceptions"
                .into(),
        );
    }
    // An item paid in part has its parts posted already: a match by hand settles what is
    // left of it, never the parts a second time.
    let parts = u.parts_of_open_items(&job.name)?;
    for item in &mut ledger {
        let paid: Decimal = parts
            .iter()
            .filter(|(id, _)| *id == item.id)
            .map(|(_, part)| part.record.amount)
            .sum();
        item.record.amount -= paid;
    }
    let l: Vec<&Record> = ledger.iter().map(|r| &r.record).collect();
    let s: Vec<&Record> = statement.iter().map(|r| &r.record).collect();
    // The job file by its name, as staff know it (`bank-reconciliation.toml` in the jobs
    // folder): the same words whatever the install's path.
    let file = job.file.file_name().map_or_else(
        || job.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let entry = entry_by_hand(&job.name, &file, posting, &l, &s, difference_account)?;
    Ok(PlannedMatch {
        job: job.name.clone(),
        ledger,
        statement,
        entry,
    })
}

/// Posts a planned match and closes its breaks. `approved` names the second person and the
/// proposal when the match waited for one; the match is kept as its maker's.
fn post_match_by_hand(
    u: &mut dyn Unit,
    plan: PlannedMatch,
    break_ids: &[i64],
    reason: &str,
    maker: &str,
    approved: Option<(&str, i64)>,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    let signed = match approved {
        None => format!("matched by hand by {maker}"),
        Some((checker, id)) => format!(
            "matched by hand by {maker}, approved by {checker} ({})",
            approval_label(id)
        ),
    };
    let mut entry = plan.entry;
    entry.narrative = format!("{} ({signed}: {reason})", entry.narrative);
    let run_id = u.start_run(&plan.job, Trigger::Manual, None, at)?;
    let ids: Vec<i64> = plan
        .ledger
        .iter()
        .chain(&plan.statement)
        .map(|r| r.id)
        .collect();
    let posted = u.post_match(&NewMatch {
        job: &plan.job,
        run_id,
        pass: MatchPass::Manual,
        record_ids: &ids,
        entry: &entry,
        at,
        explanation: None,
        actor: Some(maker),
        reason: Some(reason),
    })?;
    let Posted::Posted { entry_id, .. } = posted else {
        return Err(WorkflowError::Refused(
            "these records were posted together before".into(),
        ));
    };
    // The person whose action closes the breaks now: the maker, or the approver.
    let actor = approved.map_or(maker, |(checker, _)| checker);
    close_with_entry(
        u,
        run_id,
        entry_id,
        break_ids,
        &format!("{signed}: {reason}"),
        actor,
        at,
    )
}

/// Closes the breaks a person's entry settled, with `resolution` (who, why), and finishes the
/// manual run that posted it: how every action that posts ends (a forced match, a position
/// corrected, a held invoice approved).
fn close_with_entry(
    u: &mut dyn Unit,
    run_id: i64,
    entry_id: i64,
    break_ids: &[i64],
    resolution: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    for &id in break_ids {
        u.resolve_break(id, resolution, actor, at)
            .map_err(refused_on_conflict)?;
    }
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Ok),
            finished_at: Some(at),
            entries_posted: 1,
            breaks_closed: break_ids.len() as u64,
            ..Default::default()
        },
    )?;
    Ok(Forced {
        run_id,
        entry_id,
        closed: break_ids.to_vec(),
    })
}

/// The entry of a match made by hand: the job's template (`[posting.pass.manual]`, else by
/// direction) and, when the amounts differ, the difference: to the account the person names
/// (`--difference-account`), else to the template's `difference` line, within the limits of
/// `[posting.manual]` (`max_difference` in each currency, `difference_accounts`). A match across
/// currencies under `[posting.fx]` books its exchange difference as an automatic one does.
fn entry_by_hand(
    job: &str,
    job_file: &str,
    posting: &PostingTemplate,
    l: &[&Record],
    s: &[&Record],
    difference_account: Option<&str>,
) -> Result<JournalEntry, WorkflowError> {
    let refuse = |m: String| WorkflowError::Refused(m);
    let bare = build_entry_without_difference(job, posting, MatchPass::Manual, l, s)
        .map_err(|e| refuse(e.to_string()))?;
    let mut left: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for line in &bare.lines {
        *left.entry(line.currency).or_default() += line.amount;
    }
    left.retain(|_, d| !d.is_zero());
    if left.is_empty() {
        return Ok(bare);
    }
    let first = s[0].currency;
    let across = l.iter().chain(s).any(|r| r.currency != first);
    if across && !bare.lines.iter().any(|line| line.fx.is_some()) {
        // Without a conversion, each currency's whole amount would be booked as a difference.
        return Err(refuse(format!(
            "these records are in {}: add [posting.fx] (functional_currency, rates, \
             difference_account) to {job_file} to book a match across currencies",
            l.iter()
                .chain(s)
                .map(|r| r.currency.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(" and ")
        )));
    }
    let limits = posting.manual_limits();
    let shown = |left: &BTreeMap<Currency, Decimal>| {
        left.iter()
            .map(|(c, d)| format!("{} {c}", d.abs()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(max) = limits.max_difference
        && let Some((c, d)) = left.iter().find(|(_, d)| d.abs() > max)
    {
        return Err(refuse(format!(
            "the amounts differ by {} {c}, more than a match by hand may book: {job_file} \
             [posting.manual] max_difference = \"{max}\"; match other records, or correct the \
             books first",
            d.abs()
        )));
    }
    let Some(account) = difference_account else {
        // The template's `difference` line, if it has one, books it.
        let e = build_entry(job, posting, MatchPass::Manual, l, s)
            .map_err(|e| refuse(e.to_string()))?;
        if check_balanced(&e.lines).is_ok() {
            return Ok(e);
        }
        return Err(refuse(format!(
            "the amounts differ by {}: name an account for the difference (--difference-account{}), or match other records",
            shown(&left),
            match limits.accounts.as_slice() {
                [] => String::new(),
                accounts => format!(", one of: {}", accounts.join(", ")),
            }
        )));
    };
    if !limits.accounts.is_empty() && !limits.accounts.iter().any(|a| a.trim() == account.trim()) {
        return Err(refuse(format!(
            "{account:?} is not an account for differences booked by hand; {job_file} \
             [posting.manual] difference_accounts allows: {}",
            limits.accounts.join(", ")
        )));
    }
    let mut e = bare;
    // In an entry booked in the functional currency every line says what it was in its own.
    let converted = e.lines.iter().any(|line| line.fx.is_some());
    for (currency, d) in left {
        e.lines.push(EntryLine {
            account: account.to_string(),
            currency,
            amount: -d,
            fx: converted.then_some(crate::model::fx::LineFx {
                amount: -d,
                currency,
                rate: Decimal::ONE,
            }),
        });
    }
    // The person's account is the chart's too, when the job posts to one.
    if let Some(chart) = posting.chart() {
        chart
            .resolve_lines(&mut e.lines)
            .map_err(|e| refuse(e.to_string()))?;
    }
    check_balanced(&e.lines).map_err(|e| refuse(e.to_string()))?;
    Ok(e)
}

/// Runs a person's action on a break in its own transaction.
pub fn work(
    store: &mut dyn Store,
    id: i64,
    action: &store::BreakAction<'_>,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    store::in_unit(store, |u| u.work_break(id, action, actor, at))
}
