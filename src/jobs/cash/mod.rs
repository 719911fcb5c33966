//! A cash reconciliation: bank statement lines against the open items of a book. Here: what
//! it takes from a file, how long it holds unmatched items back ([`Hold`]), its run (by key
//! over what changed, [`by_key`], or over all open items) and the look at held-back items
//! falling due. What the matcher's matches call for is decided as plain data in [`decide`]
//! (entries, in the words of [`words`]) and written to the store in [`apply`]: matches
//! posted, breaks of matched records closed, breaks opened for what is left and due.

mod apply;
mod by_key;
mod decide;
mod parts;
mod words;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use self::apply::apply;
use self::by_key::Prepared;
use super::{Holds, Room};
use crate::config::{Job, JobKind};
use crate::extract::Layout;
use crate::jobs::WorkError;
use std::collections::HashSet;

use crate::model::{Side, StoredRecord};
use crate::post::PostingTemplate;
use crate::reconcile::backlog::{GraceEnd, Kept};
use crate::reconcile::cash::Sides;
use crate::reconcile::{CashRules, reconcile_cash};
use crate::schedule::Calendar;
use crate::store::{self, JobSides, RunOutcome, RunStatus, Store, StoreError, Trigger, Unit};

pub static ROOM: Room = Room {
    takes: &[Holds::Rows, Holds::Nothing, Holds::BankStatements],
    wants: "bank statements (MT940/942/950, camt.052/053/054, or CSV/spreadsheet rows)",
};

/// How long a run holds unmatched items back from being breaks: while their counterpart can
/// still come in the same batch (a ledger export and the statement that pays it, dropped
/// seconds apart), an item younger than the job's grace period, counted from when its record
/// was recorded ([`crate::store::Files::file_recorded_at`]), is pending: no break, not in `clerk exceptions`,
/// not in the KPIs. A later run (the next file, or the daemon waking when the grace ends:
/// [`reconcile_due`]) makes it a break if it is still unmatched. Pending items are what the
/// store shows (open, no break), so a restart finds them again.
#[derive(Clone, Copy, Debug)]
pub struct Hold {
    pub grace: chrono::Duration,
    /// Items recorded at or after this have no grace period: their batch is complete (the
    /// end of a `clerk job run`, after which nothing of the batch comes).
    pub complete_from: Option<DateTime<Utc>>,
}

impl Hold {
    /// The job's grace period, as configured.
    pub fn of(job: &Job) -> Hold {
        Hold {
            grace: chrono::Duration::from_std(job.break_grace()).unwrap_or(chrono::Duration::MAX),
            complete_from: None,
        }
    }

    /// Until when an item recorded at `recorded` is held back at `at`; `None` once it is not.
    fn until(&self, recorded: Option<DateTime<Utc>>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let recorded = recorded?;
        if self.complete_from.is_some_and(|t| recorded >= t) {
            return None;
        }
        // A grace period beyond the calendar holds the item back for good.
        let until = recorded
            .checked_add_signed(self.grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (until > at).then_some(until)
    }

    /// Whether an item held back until `until` is no longer held back at `at`.
    fn ended(&self, until: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        until <= at
            || self
                .complete_from
                .is_some_and(|t| until.checked_sub_signed(self.grace).is_none_or(|r| r >= t))
    }

    /// When the break of an item recorded at `recorded` and opened at `at` dates from: when it
    /// would have opened without the grace period, as far as that can be told. Clerk holds an
    /// item back at most the grace period, so its break is never older than `at` minus that,
    /// nor older than its record; a held-back item's break then dates from when its record
    /// came, and its age and the KPIs count the time it was really unmatched.
    fn opened_at(&self, recorded: Option<DateTime<Utc>>, at: DateTime<Utc>) -> DateTime<Utc> {
        let earliest = at
            .checked_sub_signed(self.grace)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        recorded.map_or(at, |r| r.max(earliest)).min(at)
    }
}

/// Matches the open statement lines of a cash reconciliation job against the open ledger items
/// of its book, posts every match, closes the breaks of matched records and opens breaks for
/// what is still unmatched and due, holding back what is younger than `hold` allows.
///
/// A run goes over the items that what changed since the last run touches (new records,
/// matches made elsewhere, breaks worked, items falling due), found by key in the job's
/// backlog, when the rules allow it and the backlog is known to be up to date; otherwise,
/// and then the backlog is built again, over all open items (see [`by_key`]).
/// Both give the same matches, entries and breaks.
pub fn reconcile_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    now: &dyn Fn() -> DateTime<Utc>,
    hold: Hold,
) -> Result<RunOutcome, StoreError> {
    let Some(Settings {
        book,
        account,
        rules,
        calendar,
        ..
    }) = settings_of(job)
    else {
        return Ok(RunOutcome::default());
    };
    let sides = JobSides {
        book,
        account,
        job: &job.name,
    };
    let mut kept = rules.backlog.lock();
    let backlog = kept.take();
    // Until the run is done: a unit that fails leaves it so.
    kept.grace_end = GraceEnd::Unknown;
    let at = now();
    let full_only = rules.blocking.full_runs_only();
    if let Some(why) = full_only {
        tracing::debug!(job = %job.name, why, "matching over all open items");
    } else if backlog.is_none() {
        tracing::debug!(job = %job.name, "matching over all open items: filing them by key");
    }
    if let Some(backlog) = backlog.filter(|_| full_only.is_none()) {
        let grace_ended = |until| hold.ended(until, at);
        match by_key::prepare(u, sides, rules, calendar, backlog, &grace_ended)? {
            Prepared::Nothing(backlog) => {
                kept.grace_end = GraceEnd::of(backlog.next_grace_end());
                kept.keep(*backlog);
                kept.runs.by_key += 1;
                kept.runs.last_items = 0;
                return Ok(RunOutcome::default());
            }
            Prepared::Run(run) => {
                kept.runs.by_key += 1;
                kept.runs.last_items = run.ledger.len() + run.statement.len();
                let ran = Ran {
                    ledger: &run.ledger,
                    statement: &run.statement,
                    outcome: &run.result,
                    with_break: &run.with_break,
                    // Runs by key never have a pass looking for parts (they go over
                    // everything).
                    parts: &parts::Posted::new(),
                };
                let (out, applied) = apply(u, job, run_id, at, hold, &ran)?;
                match run.finish(u, rules, &applied)? {
                    Some(backlog) => {
                        kept.grace_end = GraceEnd::of(backlog.next_grace_end());
                        kept.keep(backlog);
                    }
                    // The next run goes over everything and finds what is held back; the
                    // daemon looks at once.
                    None => kept.grace_end = GraceEnd::Unknown,
                }
                return Ok(out);
            }
            Prepared::Full(why) => {
                tracing::debug!(job = %job.name, why, "matching over all open items");
            }
        }
    }
    over_everything(u, job, run_id, at, hold, &mut kept, full_only.is_none())
}

/// What one matching run worked on and found: the open items it read, the matcher's outcome,
/// and which of those items have an unresolved break of the job already. What is posted and
/// opened from it ([`apply`]) and the backlog filed from it ([`by_key::build`]) read the same.
#[derive(Clone, Copy)]
pub(super) struct Ran<'r> {
    pub ledger: &'r [StoredRecord],
    pub statement: &'r [StoredRecord],
    pub outcome: &'r crate::reconcile::Outcome,
    pub with_break: &'r HashSet<i64>,
    /// The parts already posted against open ledger items (see [`parts`]); their amounts
    /// are the items' open remainders.
    pub parts: &'r parts::Posted,
}

/// A run over all open items of the job and its book; the job's backlog is built again from
/// it when `by_key_next` (the rules allow runs by key) and the run was not cut short.
fn over_everything(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    at: DateTime<Utc>,
    hold: Hold,
    kept: &mut Kept,
    by_key_next: bool,
) -> Result<RunOutcome, StoreError> {
    let Some(Settings {
        book,
        account,
        rules,
        ..
    }) = settings_of(job)
    else {
        return Ok(RunOutcome::default());
    };
    let mut ledger = u.open_records(book, Side::Ledger, account)?;
    // An item paid in part is matched for its open remainder.
    let posted_parts = parts::posted(u, &job.name, rules, &mut ledger)?;
    let statement = u.open_records(&job.name, Side::Statement, None)?;
    kept.runs.full += 1;
    kept.runs.last_items = ledger.len() + statement.len();
    let tables = Sides::of(&ledger, &statement, (0, 0));
    let result = match &tables {
        Ok(t) => t.reconcile(rules),
        // Says why, with every item left open.
        Err(_) => reconcile_cash(&ledger, &statement, rules),
    };
    let with_break = u.records_with_open_breaks(&job.name)?;
    let ran = Ran {
        ledger: &ledger,
        statement: &statement,
        outcome: &result,
        with_break: &with_break,
        parts: &posted_parts,
    };
    let (out, applied) = apply(u, job, run_id, at, hold, &ran)?;
    // A run over everything saw every held-back item.
    kept.grace_end = GraceEnd::of(applied.pending.values().min().copied());
    if let Ok(tables) = &tables
        && by_key_next
        && !result.cut_short
    {
        let backlog = by_key::build(u, rules, &ran, tables, &applied)?;
        kept.keep(backlog);
    }
    Ok(out)
}

/// Looks again at the items of cash reconciliation `job` held back from being breaks whose
/// grace period has ended by now (a run by key covers them as items falling due; a run over
/// everything, when the job's backlog is not trusted, finds them all): those still unmatched
/// become breaks. In a unit of work of its own, with no file. A look that changes nothing
/// (the daemon's first look after a start or reload, or a counterpart that came meanwhile)
/// leaves no run behind: its unit rolls back, and since it wrote nothing a run depends on,
/// the job's backlog and the time of its next grace end stay trusted.
///
/// The run and what it did, or `None` when it changed nothing.
pub fn reconcile_due(
    store: &mut dyn Store,
    job: &Job,
    hold: Hold,
    trigger: Trigger,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Option<(i64, RunOutcome)>, WorkError> {
    let Some(rules) = rules_of(job) else {
        return Ok(None);
    };
    let done = store::in_unit_as(store, |u| {
        let run_id = u.start_run(&job.name, trigger, None, now())?;
        let mut out = reconcile_job(u, job, run_id, now, hold)?;
        if out.matched + out.entries_posted + out.breaks_opened + out.breaks_closed == 0 {
            // Rolled back: a look that changed nothing leaves no run.
            return Err(WorkError::NothingDue);
        }
        out.status = Some(RunStatus::Ok);
        out.finished_at = Some(now());
        u.finish_run(run_id, &out)?;
        Ok((run_id, out))
    });
    match done {
        Ok(ran) => {
            rules.backlog.committed();
            Ok(Some(ran))
        }
        Err(WorkError::NothingDue) => {
            rules.backlog.committed();
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The cash reconciliations a file of `job` feeds: the job itself, or those of the book a
/// ledger import loads (whose open statement lines may be waiting for its items).
pub fn fed_by<'c>(jobs: &'c [Job], job: &'c Job) -> Vec<&'c Job> {
    match &job.kind {
        JobKind::CashReconciliation { .. } => vec![job],
        JobKind::LedgerImport { book, .. } => jobs
            .iter()
            .filter(|j| matches!(&j.kind, JobKind::CashReconciliation { book: b, .. } if b == book))
            .collect(),
        _ => Vec::new(),
    }
}

/// The breaks a ledger import's corrected items opened and closed for one reconciliation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Corrections {
    pub opened: u64,
    pub closed: u64,
}

/// After ledger import `import` stored a file: each cash reconciliation of its book matches
/// again in a run of its own (the new items may be what yesterday's statement lines were
/// waiting for), which also counts the breaks about the import's corrected items.
pub(super) fn rematch_after_import(
    u: &mut dyn Unit,
    import: &Job,
    file: &super::FileRun,
) -> Result<(), StoreError> {
    let now = file.now;
    for other in fed_by(file.jobs, import) {
        let rerun = u.start_run(&other.name, Trigger::Rematch, Some(file.file_id), now())?;
        // The matches count for the reconciliation job's run, not the import's.
        let mut own = reconcile_job(u, other, rerun, now, Hold::of(other))?;
        // Breaks about the import's corrected items are the reconciliation's.
        let corrections = (file.corrections)(&other.name);
        own.breaks_opened += corrections.opened;
        own.breaks_closed += corrections.closed;
        own.status = Some(RunStatus::Ok);
        own.finished_at = Some(now());
        u.finish_run(rerun, &own)?;
    }
    Ok(())
}

/// A cash reconciliation's settings, from its job.
pub struct Settings<'j> {
    pub book: &'j str,
    pub account: Option<&'j str>,
    /// How its statement files are read.
    pub layout: &'j Arc<Layout>,
    pub rules: &'j CashRules,
    pub posting: &'j PostingTemplate,
    pub calendar: &'j Calendar,
}

/// The settings of `job`, if it is a cash reconciliation.
pub fn settings_of(job: &Job) -> Option<Settings<'_>> {
    match &job.kind {
        JobKind::CashReconciliation {
            book,
            account,
            layout,
            rules,
            posting,
            calendar,
            ..
        } => Some(Settings {
            book,
            account: account.as_deref(),
            layout,
            rules,
            posting,
            calendar,
        }),
        _ => None,
    }
}

/// The matching rules of `job`, if it is a cash reconciliation (with its backlog).
pub fn rules_of(job: &Job) -> Option<&CashRules> {
    settings_of(job).map(|s| s.rules)
}

/// When the items of `job` held back for their grace period are next to be looked at
/// (`MIN_UTC`: at once, as they are not known), if ever. A job without a grace period holds
/// nothing back and is never looked at for it (what an earlier configuration held back, its
/// next file's run takes in).
pub fn next_grace_end(job: &Job) -> Option<DateTime<Utc>> {
    let rules = rules_of(job).filter(|_| !job.break_grace().is_zero())?;
    match rules.backlog.grace_end() {
        GraceEnd::Unknown => Some(DateTime::<Utc>::MIN_UTC),
        GraceEnd::Nothing => None,
        GraceEnd::At(t) => Some(t),
    }
}
