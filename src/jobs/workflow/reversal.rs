//! Reversal, never edit: a person undoes a match by posting its entry's reversal (every line
//! negated, linked to it), which opens the match's records again, reopens the breaks it closed
//! and opens a `reversed` break for a record that had none, so nothing is silently lost.
//!
//! **Invariant:** all of that is one unit; an entry is reversed once, a reversal never.
//! Four eyes as for a forced match: above `[http.approval]` it is only proposed, and done
//! when another person approves it (re-checked then). The reopened records are held for a
//! person (the store does not offer them to the matcher again): the same rule on the same two
//! records would make the same wrong match at the next run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{Outcome, WorkflowError};
use crate::config::Config;
use crate::model::{Currency, JournalEntry, Side, break_label};
use crate::store::reversals::{EntryToReverse, NewReversal};
use crate::store::{
    self, Approval, ApprovalKind, NewApproval, RunOutcome, RunStatus, Store, StoreError, Trigger,
    Unit, approval_label,
};

/// What a reversal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    pub run_id: i64,
    /// The reversing entry.
    pub entry_id: i64,
    /// The entry reversed and its match.
    pub reversed: i64,
    pub match_id: i64,
    pub records: Vec<i64>,
    pub reopened: Vec<i64>,
    pub opened: Vec<i64>,
}

/// Reverses entry `entry_id`, saying why (`clerk journal reverse`).
pub fn reverse_entry(
    config: &Config,
    store: &mut dyn Store,
    entry_id: i64,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Outcome<Reversal>, WorkflowError> {
    need_reason(reason)?;
    store::in_unit_as(store, |u| {
        reverse_in(u, config, entry_id, reason, actor, at)
    })
}

/// Undoes match `match_id` by reversing the entry it posted (`clerk exception unmatch`).
pub fn unmatch(
    config: &Config,
    store: &mut dyn Store,
    match_id: i64,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Outcome<Reversal>, WorkflowError> {
    need_reason(reason)?;
    store::in_unit_as(store, |u| {
        let Some(entry) = u.entry_of_match(match_id)? else {
            return Err(WorkflowError::Refused(format!(
                "there is no match {match_id} with a posted entry (clerk journal shows each \
                 entry's match)"
            )));
        };
        reverse_in(u, config, entry, reason, actor, at)
    })
}

/// The match that closed break `break_id` (`clerk exception unmatch E-12`): its record's
/// match.
pub fn match_of_break(store: &mut dyn Store, break_id: i64) -> Result<i64, WorkflowError> {
    store::in_read_as(store, |u| {
        let label = break_label(break_id);
        let Some(b) = u.break_by_id(break_id)? else {
            return Err(WorkflowError::Refused(format!(
                "there is no exception {label}"
            )));
        };
        let matched = match b.record_id {
            Some(r) => u.match_of_record(r)?,
            None => None,
        };
        matched.ok_or_else(|| {
            WorkflowError::Refused(format!(
                "exception {label} was not closed by a match (its record is not matched); \
                 there is nothing to unmatch"
            ))
        })
    })
}

fn need_reason(reason: &str) -> Result<(), WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a reversal is kept with its reason".into(),
        ));
    }
    Ok(())
}

fn reverse_in(
    u: &mut dyn Unit,
    config: &Config,
    entry_id: i64,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Outcome<Reversal>, WorkflowError> {
    let original = reversible(u, entry_id)?;
    if let Some((currency, amount, limit)) = above_limit(u, config, &original)? {
        let breaks = closed_breaks(u, &original)?;
        let history = format!(
            "awaits approval: entry {entry_id} (match {}) reversed, {amount} {currency} (above \
             the limit of {limit} {currency}); reason: {reason}",
            original.match_id
        );
        let id = u
            .propose_reversal(
                &NewApproval {
                    kind: ApprovalKind::Reverse,
                    job: &original.job,
                    break_ids: &breaks,
                    reason,
                    difference_account: None,
                    currency,
                    amount,
                    proposed_by: actor,
                    at,
                    history: &history,
                },
                entry_id,
            )
            .map_err(refused_on_conflict)?;
        return Ok(Outcome::Proposed(id));
    }
    post(u, original, reason, actor, None, at).map(Outcome::Done)
}

/// Does an approved reversal proposal, re-checking it: the entry still reversible, and not
/// moving more than was proposed.
pub(super) fn approved(
    u: &mut dyn Unit,
    config: &Config,
    a: &Approval,
    approver: &str,
    at: DateTime<Utc>,
) -> Result<Reversal, WorkflowError> {
    let label = approval_label(a.id);
    let changed = |m: String| {
        WorkflowError::Refused(format!(
            "{label} cannot be approved: {m}; reject it, and propose again if still needed"
        ))
    };
    let Some(entry_id) = u.reversal_proposed(a.id)? else {
        return Err(changed("it names no entry".into()));
    };
    let original = reversible(u, entry_id).map_err(|e| match e {
        WorkflowError::Refused(m) => changed(m),
        other => other,
    })?;
    if let Some((currency, amount, _)) = above_limit(u, config, &original)?
        && (currency != a.currency || amount > a.amount)
    {
        return Err(changed(format!(
            "it now moves {amount} {currency}, more than the {} {} proposed",
            a.amount, a.currency
        )));
    }
    post(
        u,
        original,
        &a.reason,
        &a.proposed_by,
        Some((approver, a.id)),
        at,
    )
}

/// The entry, when it exists and may be reversed.
fn reversible(u: &mut dyn Unit, entry_id: i64) -> Result<EntryToReverse, WorkflowError> {
    let Some(e) = u.entry_to_reverse(entry_id)? else {
        return Err(WorkflowError::Refused(format!(
            "there is no entry {entry_id} (clerk journal lists the entries posted)"
        )));
    };
    if let Some(why) = e.why_not() {
        return Err(WorkflowError::Refused(why));
    }
    Ok(e)
}

/// The breaks the match closed: the latest of each of its records, when resolved.
fn closed_breaks(u: &mut dyn Unit, e: &EntryToReverse) -> Result<Vec<i64>, WorkflowError> {
    let mut out = Vec::new();
    for &r in &e.record_ids {
        if let Some((b, true)) = u.latest_break_of_record(r)? {
            out.push(b);
        }
    }
    Ok(out)
}

/// The first currency in which the reversal moves more than the approval limit, as a forced
/// match counts it: per currency, the larger of the sides' absolute totals over the match's
/// records.
fn above_limit(
    u: &mut dyn Unit,
    config: &Config,
    e: &EntryToReverse,
) -> Result<Option<(Currency, Decimal, Decimal)>, WorkflowError> {
    let mut sides: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
    for &id in &e.record_ids {
        if let Some((_, r, _)) = u.record_by_id(id)? {
            let slot = sides.entry(r.record.currency).or_default();
            match r.record.side {
                Side::Ledger => slot.0 += r.record.amount.abs(),
                Side::Statement => slot.1 += r.record.amount.abs(),
            }
        }
    }
    Ok(sides.into_iter().find_map(|(currency, (l, s))| {
        let amount = l.max(s);
        let limit = config.http.approval.limit(currency)?;
        (amount > limit).then_some((currency, amount, limit))
    }))
}

/// Posts the reversal: every line of the entry negated, dated today (the store moves it to
/// the first open day when today's period is closed), in a run of its own.
fn post(
    u: &mut dyn Unit,
    original: EntryToReverse,
    reason: &str,
    maker: &str,
    approved: Option<(&str, i64)>,
    at: DateTime<Utc>,
) -> Result<Reversal, WorkflowError> {
    let signed = match approved {
        None => format!("reversed by {maker}"),
        Some((checker, id)) => format!(
            "reversed by {maker}, approved by {checker} ({})",
            approval_label(id)
        ),
    };
    let lines = original
        .lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.amount = -l.amount;
            if let Some(fx) = l.fx.as_mut() {
                fx.amount = -fx.amount;
            }
            l
        })
        .collect();
    let entry = JournalEntry {
        // Its own key, derived from the original's: posted once, however often it is asked.
        idempotency_key: format!("reversal of {}", original.idempotency_key),
        posting_date: at.date_naive(),
        narrative: format!("Reversal of entry {}: {reason} ({signed})", original.id),
        lines,
    };
    let run_id = u.start_run(&original.job, Trigger::Manual, None, at)?;
    // The person whose action reopens the breaks now: the maker, or the approver (the
    // breaks' history then names the maker and the proposal).
    let (actor, why) = match approved {
        None => (maker, reason.to_string()),
        Some((checker, id)) => (
            checker,
            format!("{reason} (proposed by {maker}, {})", approval_label(id)),
        ),
    };
    let done = u
        .post_reversal(&NewReversal {
            reverses: original.id,
            entry: &entry,
            run_id,
            actor,
            reason: &why,
            at,
        })
        .map_err(refused_on_conflict)?;
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Ok),
            finished_at: Some(at),
            entries_posted: 1,
            breaks_opened: done.opened.len() as u64,
            ..Default::default()
        },
    )?;
    Ok(Reversal {
        run_id,
        entry_id: done.entry_id,
        reversed: original.id,
        match_id: done.match_id,
        records: done.records,
        reopened: done.reopened,
        opened: done.opened,
    })
}

fn refused_on_conflict(e: StoreError) -> WorkflowError {
    match e {
        StoreError::Conflict(m) => WorkflowError::Refused(m),
        other => WorkflowError::Store(other),
    }
}
