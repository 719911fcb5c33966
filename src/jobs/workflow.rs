//! People working breaks: the one action that touches the books is a forced match, which
//! posts what the job's rule would have posted (plus, when the amounts differ, the difference
//! to an account the person names), closes the breaks, and records who did it and why, all in
//! one transaction.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::{Config, JobKind};
use crate::model::{BreakStatus, EntryLine, MatchPass, Record, Side, StoredRecord};
use crate::post::{PostingRefused, entry_for_match};
use crate::store::{
    self, NewMatch, Posted, RunOutcome, RunStatus, Store, StoreError, Trigger, Unit,
};

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

/// Matches the records behind `break_ids` by hand. They must be open breaks of one cash
/// reconciliation job, with at least one ledger item and one statement line among them.
pub fn force_match(
    config: &Config,
    store: &mut dyn Store,
    break_ids: &[i64],
    reason: &str,
    actor: &str,
    difference_account: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::Refused(
            "say why (--reason): a forced match is kept with its reason".into(),
        ));
    }
    let mut out = None;
    let mut refusal = None;
    store.unit(&mut |u| {
        match force_in(u, config, break_ids, reason, actor, difference_account, at) {
            Ok(f) => out = Some(f),
            // Nothing was written: let the transaction end cleanly, report the refusal.
            Err(WorkflowError::Refused(m)) => refusal = Some(m),
            Err(WorkflowError::Store(e)) => return Err(e),
        }
        Ok(())
    })?;
    match (out, refusal) {
        (Some(f), _) => Ok(f),
        (None, Some(m)) => Err(WorkflowError::Refused(m)),
        (None, None) => Err(WorkflowError::Refused("nothing was done".into())),
    }
}

fn force_in(
    u: &mut dyn Unit,
    config: &Config,
    break_ids: &[i64],
    reason: &str,
    actor: &str,
    difference_account: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Forced, WorkflowError> {
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
    let l: Vec<&Record> = ledger.iter().map(|r| &r.record).collect();
    let s: Vec<&Record> = statement.iter().map(|r| &r.record).collect();
    let mut entry = match entry_for_match(&job.name, posting, MatchPass::Manual, &l, &s) {
        Ok(e) => e,
        Err(PostingRefused::Unbalanced {
            currency,
            difference,
        }) => {
            let Some(account) = difference_account else {
                return refuse(format!(
                    "the amounts differ by {difference} {currency}: name an account for the difference (--difference-account), or match other records"
                ));
            };
            // Build the entry as the rule would, then book the difference so it balances.
            let mut e = entry_for_match_unchecked(&job.name, posting, &l, &s)?;
            let mut totals: std::collections::BTreeMap<_, Decimal> = Default::default();
            for line in &e.lines {
                *totals.entry(line.currency).or_default() += line.amount;
            }
            for (ccy, total) in totals.into_iter().filter(|(_, t)| !t.is_zero()) {
                e.lines.push(EntryLine {
                    account: account.to_string(),
                    currency: ccy,
                    amount: -total,
                });
            }
            // The person's account is the chart's too, when the job posts to one.
            if let Some(chart) = posting.chart()
                && let Err(refused) = chart.resolve_lines(&mut e.lines)
            {
                return refuse(refused.to_string());
            }
            e
        }
        Err(other) => return refuse(other.to_string()),
    };
    entry.narrative = format!("{} (matched by hand by {actor}: {reason})", entry.narrative);
    let run_id = u.start_run(&job.name, Trigger::Manual, None, at)?;
    let ids: Vec<i64> = ledger.iter().chain(&statement).map(|r| r.id).collect();
    let posted = u.post_match(&NewMatch {
        job: &job.name,
        run_id,
        pass: MatchPass::Manual,
        record_ids: &ids,
        entry: &entry,
        at,
        explanation: None,
        actor: Some(actor),
        reason: Some(reason),
    })?;
    let Posted::Posted { entry_id, .. } = posted else {
        return refuse("these records were posted together before".into());
    };
    let mut closed = Vec::new();
    for &id in break_ids {
        u.resolve_break(
            id,
            &format!("matched by hand by {actor}: {reason}"),
            actor,
            at,
        )?;
        closed.push(id);
    }
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Ok),
            finished_at: Some(at),
            entries_posted: 1,
            breaks_closed: closed.len() as u64,
            ..Default::default()
        },
    )?;
    Ok(Forced {
        run_id,
        entry_id,
        closed,
    })
}

/// The entry the template gives, before the balance check (for booking a difference).
fn entry_for_match_unchecked(
    job: &str,
    posting: &crate::post::PostingTemplate,
    l: &[&Record],
    s: &[&Record],
) -> Result<crate::model::JournalEntry, WorkflowError> {
    crate::post::build_entry(job, posting, MatchPass::Manual, l, s)
        .map_err(|e| WorkflowError::Refused(e.to_string()))
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
