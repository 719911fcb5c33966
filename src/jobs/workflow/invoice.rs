//! A held invoice decided by a person: `clerk exception approve E-7 --reason ...` posts it as
//! it stands (the entry the three-way match would have posted, a price beyond tolerance to
//! price variance) and keeps it approved; `clerk exception reject E-7 --reason ...` posts
//! nothing and keeps it rejected. Either way the break closes naming who and why, and no later
//! run holds the invoice again. Four eyes: an approval of an invoice whose amount payable is
//! above `[http.approval]` is only proposed (kind `approve_invoice`, the invoice's identity
//! as its payload) and posts when another person approves it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Forced, Outcome, WorkflowError, close_with_entry, open_break, refuse_if_pending,
    refused_on_conflict,
};
use crate::config::{Config, JobKind};
use crate::jobs::WorkError;
use crate::jobs::payables::held::{self, HeldInvoice};
use crate::model::{Break, MatchPass, break_label};
use crate::store::{
    self, Approval, ApprovalKind, NewApproval, NewMatch, Posted, Store, Trigger, Unit,
    approval_label,
};

/// What an invoice approval proposal keeps: which invoice its break was about.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Proposed {
    invoice: String,
}

/// Approves the held invoice of break `id`, saying why; above the approval limit only
/// proposed.
pub fn approve_invoice(
    config: &Config,
    store: &mut dyn Store,
    id: i64,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Outcome<Forced>, WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): an invoice approved by hand is kept with its reason".into(),
        ));
    }
    store::in_unit_as(store, |u| {
        let b = open_break(u, id)?;
        refuse_if_pending(u, &[id])?;
        let h = held_invoice_of(u, config, &b)?;
        let (amount, currency) = (h.invoice.payable.abs(), h.invoice.currency);
        if let Some(limit) = config.http.approval.limit(currency)
            && amount > limit
        {
            let history = format!(
                "awaits approval: {} approved, {amount} {currency} (above the limit of {limit} \
                 {currency}); reason: {reason}",
                h.words
            );
            let approval = u.propose(&NewApproval {
                kind: ApprovalKind::ApproveInvoice,
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
            let json = serde_json::to_string(&Proposed {
                invoice: h.identity.clone(),
            })
            .map_err(|e| WorkflowError::Refused(format!("proposal not kept: {e}")))?;
            u.set_approval_payload(approval, &json)?;
            return Ok(Outcome::Proposed(approval));
        }
        post(u, &b, h, reason, actor, None, at).map(Outcome::Done)
    })
}

/// Rejects the held invoice of break `id`, saying why: nothing is posted, the break closes
/// as rejected and the invoice (and any copy of it sent again) is never held again.
pub fn reject_invoice(
    config: &Config,
    store: &mut dyn Store,
    id: i64,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<(), WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a rejected invoice is kept with its reason".into(),
        ));
    }
    store::in_unit_as(store, |u| {
        let b = open_break(u, id)?;
        refuse_if_pending(u, &[id])?;
        let h = held_invoice_of(u, config, &b)?;
        held::keep_rejected(u, &b.job, &h)?;
        u.resolve_break(
            id,
            &format!("rejected by {actor}: {reason}; nothing posted"),
            actor,
            at,
        )
        .map_err(refused_on_conflict)?;
        Ok(())
    })
}

/// Posts an approved proposal's invoice, in the approver's unit. Refused when its break was
/// closed meanwhile, or the invoice now asks for more than was proposed.
pub(super) fn approved(
    u: &mut dyn Unit,
    config: &Config,
    a: &Approval,
    approver: &str,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    let label = approval_label(a.id);
    let changed = |m: String| {
        WorkflowError::Refused(format!(
            "{label} cannot be approved: {m}; reject it, and propose again if still needed"
        ))
    };
    let id = a.break_ids.first().copied().unwrap_or_default();
    let b = open_break(u, id).map_err(|e| match e {
        WorkflowError::Refused(m) => changed(m),
        other => other,
    })?;
    let kept: Proposed = u
        .approval_payload(a.id)?
        .and_then(|p| serde_json::from_str(&p).ok())
        .ok_or_else(|| changed("it keeps no invoice to approve".into()))?;
    let h = held_invoice_of(u, config, &b).map_err(|e| match e {
        WorkflowError::Refused(m) => changed(m),
        other => other,
    })?;
    if h.identity != kept.invoice {
        return Err(changed(format!(
            "{} is now about another invoice",
            break_label(id)
        )));
    }
    if h.invoice.currency != a.currency || h.invoice.payable.abs() > a.amount {
        return Err(changed(format!(
            "the invoice now asks for {} {}, more than the {} {} proposed",
            h.invoice.payable, h.invoice.currency, a.amount, a.currency
        )));
    }
    post(
        u,
        &b,
        h,
        &a.reason,
        &a.proposed_by,
        Some((approver, a.id)),
        at,
    )
}

/// The held invoice a break of an accounts-payable job is about, as its job's books hold it.
fn held_invoice_of(
    u: &mut dyn Unit,
    config: &Config,
    b: &Break,
) -> Result<HeldInvoice, WorkflowError> {
    let label = break_label(b.id);
    let refuse = |m: String| WorkflowError::Refused(m);
    let Some(job) = config
        .job(&b.job)
        .filter(|j| matches!(j.kind, JobKind::AccountsPayable { .. }))
    else {
        return Err(refuse(format!(
            "exception {label} is of job {:?}, not of an accounts-payable job; only a held \
             invoice is approved or rejected this way (a proposal is named A-<n>)",
            b.job
        )));
    };
    let identity = u
        .open_subjects(&b.job)?
        .into_iter()
        .find(|(id, _)| *id == b.id)
        .and_then(|(_, s)| s.strip_prefix("invoice|").map(str::to_owned))
        .ok_or_else(|| {
            refuse(format!(
                "exception {label} ({}) is not about a held invoice",
                b.reason.as_str()
            ))
        })?;
    match held::held_invoice(u, job, &identity) {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(m)) => Err(refuse(format!("exception {label}: {m}"))),
        Err(WorkError::Store(e)) => Err(WorkflowError::Store(e)),
        Err(other) => Err(refuse(format!("exception {label}: {other}"))),
    }
}

/// Posts the invoice in a manual run of its job, keeps it approved and closes the break,
/// saying who approved it (and who checked) and by which entry.
fn post(
    u: &mut dyn Unit,
    b: &Break,
    mut h: HeldInvoice,
    reason: &str,
    maker: &str,
    checked: Option<(&str, i64)>,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    let signed = match checked {
        None => format!("approved by {maker}"),
        Some((checker, id)) => format!(
            "approved by {maker}, checked by {checker} ({})",
            approval_label(id)
        ),
    };
    h.entry.narrative = format!("{} ({signed}: {reason})", h.entry.narrative);
    let run_id = u.start_run(&b.job, Trigger::Manual, None, at)?;
    let posted = u.post_match(&NewMatch {
        job: &b.job,
        run_id,
        pass: MatchPass::Manual,
        record_ids: &[],
        entry: &h.entry,
        at,
        explanation: Some(&h.explanation),
        actor: Some(maker),
        reason: Some(reason),
    })?;
    let Posted::Posted { match_id, entry_id } = posted else {
        return Err(WorkflowError::Refused(format!(
            "{} was posted before",
            h.words
        )));
    };
    u.add_match_sources(match_id, &h.sources)?;
    held::keep_approved(u, &b.job, &h)?;
    let actor = checked.map_or(maker, |(checker, _)| checker);
    close_with_entry(
        u,
        run_id,
        entry_id,
        &[b.id],
        &format!("{signed}, entry {entry_id}: {reason}"),
        actor,
        at,
    )
}
