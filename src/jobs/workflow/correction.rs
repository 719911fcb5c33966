//! A position difference corrected by a person: a position reconciliation never posts by
//! itself (a difference may be the custodian's to fix), but once a person knows the books are
//! wrong they write the correcting entry (`clerk exception correct E-7 --debit 1510 --credit
//! 2650 --amount 12.50 --reason ...`). It posts once, balanced, to the accounts of the chart,
//! and closes the break with its history. Four eyes: above `[http.approval]` it is only
//! proposed (kind `correct_position`, its accounts kept as the proposal's payload) and posts
//! when another person approves it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Forced, Outcome, WorkflowError, close_with_entry, open_break, refuse_if_pending};
use crate::config::{Config, JobKind};
use crate::model::{Break, Currency, EntryLine, JournalEntry, MatchPass, break_label};
use crate::post::check_balanced;
use crate::store::{
    self, Approval, ApprovalKind, NewApproval, NewMatch, Posted, Store, Trigger, Unit,
    approval_label,
};

/// The entry a person writes to correct a position: `amount` from `credit` to `debit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub debit: String,
    pub credit: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The currency, where the break has none (a quantity difference); else the break's.
    pub currency: Option<Currency>,
}

/// Corrects the position break `id` with the entry `c`, saying why; above the approval limit
/// only proposed. Everything is checked (the accounts are in the chart, the entry balances)
/// before it is proposed, so an approved proposal posts as it stands.
pub fn correct_position(
    config: &Config,
    store: &mut dyn Store,
    id: i64,
    c: &Correction,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Outcome<Forced>, WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a correction is kept with its reason".into(),
        ));
    }
    store::in_unit_as(store, |u| {
        let b = open_break(u, id)?;
        refuse_if_pending(u, &[id])?;
        let (entry, currency) = plan(config, &b, c, reason, at)?;
        if let Some(limit) = config.http.approval.limit(currency)
            && c.amount > limit
        {
            let history = format!(
                "awaits approval: {} corrected, {} {currency} from {} to {} (above the limit \
                 of {limit} {currency}); reason: {reason}",
                break_label(id),
                c.amount,
                c.credit,
                c.debit
            );
            let approval = u.propose(&NewApproval {
                kind: ApprovalKind::CorrectPosition,
                job: &b.job,
                break_ids: &[id],
                reason,
                difference_account: None,
                currency,
                amount: c.amount,
                proposed_by: actor,
                at,
                history: &history,
            })?;
            let payload = Correction {
                currency: Some(currency),
                ..c.clone()
            };
            let json = serde_json::to_string(&payload)
                .map_err(|e| WorkflowError::Refused(format!("correction not kept: {e}")))?;
            u.set_approval_payload(approval, &json)?;
            return Ok(Outcome::Proposed(approval));
        }
        post(u, &b, entry, reason, actor, None, at).map(Outcome::Done)
    })
}

/// Posts an approved proposal's correction, in the approver's unit. Refused when its break
/// was closed meanwhile, or its kept correction is missing.
pub(super) fn approved(
    u: &mut dyn Unit,
    config: &Config,
    a: &Approval,
    approver: &str,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    let label = approval_label(a.id);
    let id = a.break_ids.first().copied().unwrap_or_default();
    let b = open_break(u, id).map_err(|e| match e {
        WorkflowError::Refused(m) => WorkflowError::Refused(format!(
            "{label} cannot be approved: {m}; reject it, and propose again if still needed"
        )),
        other => other,
    })?;
    let c: Correction = u
        .approval_payload(a.id)?
        .and_then(|p| serde_json::from_str(&p).ok())
        .ok_or_else(|| {
            WorkflowError::Refused(format!(
                "{label} keeps no correction to post; reject it and propose it again"
            ))
        })?;
    let (entry, _) = plan(config, &b, &c, &a.reason, at)?;
    post(
        u,
        &b,
        entry,
        &a.reason,
        &a.proposed_by,
        Some((approver, a.id)),
        at,
    )
}

/// Checks a correction against its break and builds its entry: a position break of a
/// position reconciliation job, a positive amount, two different accounts of the chart.
fn plan(
    config: &Config,
    b: &Break,
    c: &Correction,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(JournalEntry, Currency), WorkflowError> {
    let refuse = |m: String| Err(WorkflowError::Refused(m));
    let label = break_label(b.id);
    if !config
        .job(&b.job)
        .is_some_and(|j| matches!(j.kind, JobKind::PositionReconciliation { .. }))
    {
        return refuse(format!(
            "exception {label} is of job {:?}, not of a position reconciliation; only a \
             position difference is corrected by an entry",
            b.job
        ));
    }
    if c.amount <= Decimal::ZERO {
        return refuse(format!(
            "expected a positive amount (--amount), found {}; --debit and --credit say which \
             way",
            c.amount
        ));
    }
    let currency = match (c.currency, b.currency) {
        (Some(given), Some(own)) if given != own => {
            return refuse(format!(
                "exception {label} is in {own}, not {given}: leave out --currency"
            ));
        }
        (Some(cur), _) | (None, Some(cur)) => cur,
        (None, None) => {
            return refuse(format!(
                "exception {label} has no currency (a quantity difference): name it \
                 (--currency EUR)"
            ));
        }
    };
    let resolve = |text: &str| -> Result<String, WorkflowError> {
        match &config.chart.chart {
            Some(chart) => chart
                .resolve(text, currency)
                .map_err(|e| WorkflowError::Refused(e.to_string())),
            None if text.trim().is_empty() => Err(WorkflowError::Refused(
                "name both accounts (--debit, --credit)".into(),
            )),
            None => Ok(text.trim().to_string()),
        }
    };
    let (debit, credit) = (resolve(&c.debit)?, resolve(&c.credit)?);
    if debit == credit {
        return refuse(format!(
            "--debit and --credit are the same account ({debit}): nothing would change"
        ));
    }
    let lines = vec![
        EntryLine {
            account: debit,
            currency,
            amount: c.amount,
            fx: None,
        },
        EntryLine {
            account: credit,
            currency,
            amount: -c.amount,
            fx: None,
        },
    ];
    check_balanced(&lines).map_err(|e| WorkflowError::Refused(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(b.job.as_bytes());
    h.update(b"\nposition-correction\n");
    h.update(b.id.to_string().as_bytes());
    let key = h.finalize().iter().map(|x| format!("{x:02x}")).collect();
    let entry = JournalEntry {
        idempotency_key: key,
        // Booked the day it is done: the books were wrong until now.
        posting_date: at.date_naive(),
        narrative: format!("Correction of position {label}: {reason}"),
        lines,
    };
    Ok((entry, currency))
}

/// Posts the correction in a manual run of the break's job and closes the break, saying who
/// corrected it (and who approved it) and by which entry.
fn post(
    u: &mut dyn Unit,
    b: &Break,
    mut entry: JournalEntry,
    reason: &str,
    maker: &str,
    approved: Option<(&str, i64)>,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    let signed = match approved {
        None => format!("corrected by {maker}"),
        Some((checker, id)) => format!(
            "corrected by {maker}, approved by {checker} ({})",
            approval_label(id)
        ),
    };
    entry.narrative = format!("{} ({signed})", entry.narrative);
    let run_id = u.start_run(&b.job, Trigger::Manual, None, at)?;
    let posted = u.post_match(&NewMatch {
        job: &b.job,
        run_id,
        pass: MatchPass::Manual,
        record_ids: &[],
        entry: &entry,
        at,
        explanation: Some(
            &serde_json::json!({ "correction": break_label(b.id), "detail": b.detail }).to_string(),
        ),
        actor: Some(maker),
        reason: Some(reason),
    })?;
    let Posted::Posted { entry_id, .. } = posted else {
        return Err(WorkflowError::Refused(format!(
            "exception {} was corrected before",
            break_label(b.id)
        )));
    };
    let actor = approved.map_or(maker, |(checker, _)| checker);
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
