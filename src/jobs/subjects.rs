//! Breaks about a subject rather than a record — a position (`position|account|ISIN`), a
//! trade (`trade|id`), a held invoice (`invoice|identity`) — and the kept documents the
//! reconciliations of balances and lifecycles read. Such a reconciliation compares whole
//! pictures, so each run restates every finding: a break is opened the first time, restated
//! while its difference changes (keeping its age), and closed, saying how, the first run its
//! subject agrees. Used by the securities and accounts-payable runs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::WorkError;
use crate::config::Job;
use crate::model::{BreakReason, Currency, Source};
use crate::store::{Document, DocumentKind, NewBreak, RunOutcome, StoreError, Unit};

/// One thing a run found about a subject.
pub(crate) struct Finding {
    pub(crate) subject: String,
    pub(crate) reason: BreakReason,
    pub(crate) detail: String,
    pub(crate) difference: Option<Decimal>,
    pub(crate) amount: Option<Decimal>,
    pub(crate) currency: Option<Currency>,
    pub(crate) since: NaiveDate,
    /// Where the finding comes from; named as staff know it ("po-1001.csv line 3") when the
    /// break is opened.
    pub(crate) source: Option<Source>,
}

/// A place in a file as staff know it: the file's name as it arrived and the line, or the
/// sheet and row of a workbook.
pub(crate) fn place(u: &mut dyn Unit, s: &Source) -> Result<String, StoreError> {
    let name = u
        .file_name(&s.file)?
        .unwrap_or_else(|| format!("file {}…", &s.file[..s.file.len().min(12)]));
    Ok(in_file(&name, s))
}

/// "ledger.csv line 12", or "book.xlsx, sheet Positions, row 4".
pub(crate) fn in_file(name: &str, s: &Source) -> String {
    match &s.sheet {
        Some(sheet) => format!("{name}, sheet {sheet}, row {}", s.row),
        None => format!("{name} line {}", s.row),
    }
}

/// The run whose findings restate a job's subject breaks: the job, the run, and when.
pub(crate) struct JobRun<'a> {
    pub(crate) job: &'a Job,
    pub(crate) run_id: i64,
    pub(crate) at: DateTime<Utc>,
}

/// Opens, restates and closes the job's subject breaks so they say what `findings` say.
/// Subjects for which `covered` is false were not looked at this run and stay as they are;
/// covered subjects without a finding agree now and close with `agreed(subject)`.
pub(crate) fn apply(
    u: &mut dyn Unit,
    run: &JobRun<'_>,
    findings: Vec<Finding>,
    covered: impl Fn(&str) -> bool,
    agreed: impl Fn(&str) -> String,
    out: &mut RunOutcome,
) -> Result<(), StoreError> {
    let JobRun { job, run_id, at } = *run;
    let open: BTreeMap<String, i64> = u
        .open_subjects(&job.name)?
        .into_iter()
        .map(|(id, s)| (s, id))
        .collect();
    let mut found = BTreeSet::new();
    for f in findings {
        found.insert(f.subject.clone());
        match open.get(&f.subject) {
            Some(&id) => {
                u.update_break(id, f.reason, &f.detail, f.difference, at)?;
            }
            None => {
                let source = f.source.as_ref().map(|s| place(u, s)).transpose()?;
                if u.open_break(&NewBreak {
                    job: &job.name,
                    run_id,
                    reason: f.reason,
                    detail: &f.detail,
                    amount: f.amount,
                    currency: f.currency,
                    difference: f.difference,
                    since: f.since,
                    owner: job.owner.as_deref(),
                    record_id: None,
                    source: source.as_deref(),
                    at,
                    subject: Some(&f.subject),
                })?
                .is_some()
                {
                    out.breaks_opened += 1;
                }
            }
        }
    }
    for (subject, id) in open {
        if !found.contains(&subject)
            && covered(&subject)
            && u.close_break(id, &agreed(&subject), run_id, at)?
        {
            out.breaks_closed += 1;
        }
    }
    Ok(())
}

pub(crate) fn bodies<T: TryFrom<Document>>(
    u: &mut dyn Unit,
    scope: &str,
    kind: DocumentKind,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<T>, WorkError> {
    u.documents(scope, kind)?
        .into_iter()
        .filter(|d| keep(&d.identity))
        .map(|d| {
            T::try_from(d.body).map_err(|_| WorkError::KeptUnreadable {
                what: "stored document",
                identity: d.identity,
                message: format!("not a {kind:?}"),
            })
        })
        .collect()
}
