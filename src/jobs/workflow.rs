//! People working breaks: the one action that touches the books is a forced match, which
//! posts what the job's rule would have posted (plus, when the amounts differ, the difference
//! to an account the person names), closes the breaks, and records who did it and why, all in
//! one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::{Config, JobKind};
use crate::model::{
    BreakStatus, Currency, EntryLine, JournalEntry, MatchPass, Record, Side, StoredRecord,
};
use crate::post::{PostingTemplate, build_entry, build_entry_without_difference, check_balanced};
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
    let mut entry = entry_by_hand(&job.name, &file, posting, &l, &s, difference_account)?;
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
