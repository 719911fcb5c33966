//! What a cash run's outcome does to the store: the decisions of [`super::decide`] written
//! (matches posted, their breaks closed), and breaks opened for what is left and due, in the
//! words of [`super::words`].

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::by_key::Applied;
use super::decide::{MatchDecision, match_decisions};
use super::words::{display_id, ledger_item_detail, statement_line_detail, unmatched_why};
use super::{Hold, Ran, Settings, settings_of};
use crate::config::Job;
use crate::model::{BreakReason, Record, Side, StoredRecord};
use crate::post::PostingTemplate;
use crate::reconcile::CashRules;
use crate::schedule::Calendar;
use crate::store::{NewBreak, NewMatch, Posted, RunOutcome, StoreError, Unit};

/// Posts a run's matches over `ledger` and `statement`, closes the breaks of what matched,
/// opens breaks for what is left and due unless `hold` holds it back; `with_break` are the
/// records among them that have an unresolved break of the job already.
pub(super) fn apply(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    at: DateTime<Utc>,
    hold: Hold,
    ran: &Ran<'_>,
) -> Result<(RunOutcome, Applied), StoreError> {
    let Ran {
        ledger,
        statement,
        outcome: result,
        with_break,
    } = *ran;
    let Some(Settings {
        rules,
        posting,
        calendar,
        ..
    }) = settings_of(job)
    else {
        return Ok((RunOutcome::default(), Applied::default()));
    };
    for w in &result.warnings {
        tracing::warn!(job = %job.name, "{w}");
    }
    let mut run = Applying {
        job,
        run_id,
        at,
        hold,
        ledger,
        statement,
        result,
        with_break,
        names: FileNames::default(),
        out: RunOutcome::default(),
        applied: Applied::default(),
    };
    run.post_matches(u, posting)?;
    run.statement_lines_left(u)?;
    run.ledger_items_left(u, rules, calendar)?;
    Ok((run.out, run.applied))
}

/// A run's outcome being applied: what every step reads, and what they add up.
struct Applying<'a> {
    job: &'a Job,
    run_id: i64,
    at: DateTime<Utc>,
    hold: Hold,
    ledger: &'a [StoredRecord],
    statement: &'a [StoredRecord],
    result: &'a crate::reconcile::Outcome,
    with_break: &'a HashSet<i64>,
    names: FileNames,
    out: RunOutcome,
    applied: Applied,
}

impl Applying<'_> {
    /// Posts each match and closes the breaks of its records; a match the posting template
    /// cannot balance gets an `unbalanced` break on its bank line instead.
    fn post_matches(
        &mut self,
        u: &mut dyn Unit,
        posting: &PostingTemplate,
    ) -> Result<(), StoreError> {
        let (job, run_id, at) = (self.job, self.run_id, self.at);
        let decisions = match_decisions(
            &job.name,
            posting,
            run_id,
            self.ledger,
            self.statement,
            self.result,
        );
        for decision in decisions {
            match decision {
                MatchDecision::Post {
                    ids,
                    pass,
                    explanation,
                    entry,
                    how,
                } => match u.post_match(&NewMatch {
                    job: &job.name,
                    run_id,
                    pass,
                    record_ids: &ids,
                    entry: &entry,
                    at,
                    explanation,
                    actor: None,
                    reason: None,
                })? {
                    Posted::Posted { .. } => {
                        self.applied.posted.extend(ids.iter().copied());
                        self.out.matched += ids.len() as u64;
                        self.out.entries_posted += 1;
                        self.out.breaks_closed +=
                            u.close_breaks_of_records(&ids, &how, run_id, at)?;
                    }
                    Posted::AlreadyPosted => {
                        tracing::error!(job = %job.name, key = %entry.idempotency_key,
                            "entry already posted while its records were open; not posting again");
                    }
                },
                MatchDecision::Unbalanced { line, detail } => {
                    let source = self.names.source_of(u, &line.record)?;
                    if u.open_break(&NewBreak {
                        job: &job.name,
                        run_id,
                        reason: BreakReason::Unbalanced,
                        detail: &detail,
                        amount: Some(line.record.amount),
                        currency: Some(line.record.currency),
                        difference: None,
                        since: line.record.value_date,
                        owner: job.owner.as_deref(),
                        record_id: Some(line.id),
                        source: Some(&source),
                        at,
                        subject: None,
                    })?
                    .is_some()
                    {
                        self.out.breaks_opened += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Bank lines left unmatched: held back while their grace period runs, else a break.
    fn statement_lines_left(&mut self, u: &mut dyn Unit) -> Result<(), StoreError> {
        let (ledger, statement, result) = (self.ledger, self.statement, self.result);
        // Items still open from earlier runs mostly have their break already; their words are
        // not built again (a backlog of thousands must not make every run slower).
        // The parts of an item paid in part are the item's: its break, if it comes, names them.
        let parts: HashSet<usize> = result
            .part_paid
            .iter()
            .flat_map(|pp| pp.parts.iter().map(|&t| t as usize))
            .collect();
        for (k, &i) in result.unmatched_statement.iter().enumerate() {
            let r = &statement[i];
            if self.with_break.contains(&r.id) || parts.contains(&i) {
                continue;
            }
            let recorded = self.names.recorded_at(u, &r.record)?;
            if let Some(until) = self.hold.until(recorded, self.at) {
                self.applied.pending.insert(r.id, until);
                continue;
            }
            let (reason, why) = unmatched_why(
                result.statement_why.get(k),
                BreakReason::MissingInLedger,
                "no open ledger item matches",
                |row| display_id(&ledger[row].record),
            );
            let detail = statement_line_detail(&r.record, &why);
            self.open_record_break(u, r, recorded, reason, &detail)?;
        }
        Ok(())
    }

    /// Ledger items left unmatched and due: held back while their grace period runs, else a
    /// break.
    fn ledger_items_left(
        &mut self,
        u: &mut dyn Unit,
        rules: &CashRules,
        calendar: &Calendar,
    ) -> Result<(), StoreError> {
        let (ledger, statement, result) = (self.ledger, self.statement, self.result);
        // A ledger item is missing from the bank only once the bank has reported days past its
        // value date plus the window; before that it is simply not due yet.
        let Some(latest) = u.latest_value_date(&self.job.name, Side::Statement)? else {
            return Ok(());
        };
        for (k, &i) in result.unmatched_ledger.iter().enumerate() {
            let r = &ledger[i];
            if self.with_break.contains(&r.id) {
                continue;
            }
            if let Some(pp) = result.part_paid.iter().find(|pp| pp.row as usize == i) {
                self.part_paid(u, r, pp, calendar, latest)?;
                continue;
            }
            if calendar.business_days_between(r.record.value_date, latest) <= rules.window_days {
                continue;
            }
            let recorded = self.names.recorded_at(u, &r.record)?;
            if let Some(until) = self.hold.until(recorded, self.at) {
                self.applied.pending.insert(r.id, until);
                continue;
            }
            let (reason, why) = unmatched_why(
                result.ledger_why.get(k),
                BreakReason::MissingOnStatement,
                &format!("not on any bank statement up to {latest}"),
                |row| display_id(&statement[row].record),
            );
            let detail = ledger_item_detail(&r.record, &why);
            self.applied.due_tried.insert(r.id);
            self.open_record_break(u, r, recorded, reason, &detail)?;
        }
        Ok(())
    }

    /// A ledger item paid in part: held without a break while the bank has not reported past
    /// the pass's window, counted in business days from the first part; then a
    /// `partially_paid` break for the open remainder, naming the parts. Its parts are neither
    /// posted nor breaks meanwhile: the whole is posted when the rest comes (README).
    fn part_paid(
        &mut self,
        u: &mut dyn Unit,
        r: &StoredRecord,
        pp: &crate::reconcile::engine::PartPaid,
        calendar: &Calendar,
        latest: chrono::NaiveDate,
    ) -> Result<(), StoreError> {
        let parts: Vec<&Record> = pp
            .parts
            .iter()
            .map(|&t| &self.statement[t as usize].record)
            .collect();
        let Some(first) = parts.iter().map(|p| p.value_date).min() else {
            return Ok(());
        };
        let window = i64::from(pp.window_business_days);
        if calendar.business_days_between(first, latest) <= window {
            return Ok(());
        }
        let named: Vec<String> = parts
            .iter()
            .map(|p| format!("bank {} of {} on {}", display_id(p), p.amount, p.value_date))
            .collect();
        let why = format!(
            "paid in part ({} of {} {}: {}); {} {} still open, the rest not come within {} \
             business days of the first part (pass {}; the bank has reported up to {latest})",
            pp.paid,
            r.record.amount,
            r.record.currency,
            named.join(", "),
            pp.open,
            r.record.currency,
            pp.window_business_days,
            pp.pass,
        );
        let detail = ledger_item_detail(&r.record, &why);
        let recorded = self.names.recorded_at(u, &r.record)?;
        let source = self.names.source_of(u, &r.record)?;
        self.applied.due_tried.insert(r.id);
        let opened = u.open_break(&NewBreak {
            job: &self.job.name,
            run_id: self.run_id,
            reason: BreakReason::PartiallyPaid,
            detail: &detail,
            amount: Some(pp.open),
            currency: Some(r.record.currency),
            difference: None,
            since: r.record.value_date,
            owner: self.job.owner.as_deref(),
            record_id: Some(r.id),
            source: Some(&source),
            at: self.hold.opened_at(recorded, self.at),
            subject: None,
        })?;
        self.out.breaks_opened += u64::from(opened.is_some());
        Ok(())
    }

    /// The break about an unmatched record, named by its file and line, dated from when the
    /// record came (at most the grace period back).
    fn open_record_break(
        &mut self,
        u: &mut dyn Unit,
        r: &StoredRecord,
        recorded: Option<DateTime<Utc>>,
        reason: BreakReason,
        detail: &str,
    ) -> Result<(), StoreError> {
        let source = self.names.source_of(u, &r.record)?;
        let opened = u.open_break(&NewBreak {
            job: &self.job.name,
            run_id: self.run_id,
            reason,
            detail,
            amount: Some(r.record.amount),
            currency: Some(r.record.currency),
            difference: None,
            since: r.record.value_date,
            owner: self.job.owner.as_deref(),
            record_id: Some(r.id),
            source: Some(&source),
            at: self.hold.opened_at(recorded, self.at),
            subject: None,
        })?;
        self.out.breaks_opened += u64::from(opened.is_some());
        Ok(())
    }
}

/// Names records' files as staff know them ("ledger.csv line 12", not a hash), and when they
/// were recorded, asking the store once per file.
#[derive(Default)]
struct FileNames {
    names: std::collections::HashMap<Arc<str>, String>,
    recorded: std::collections::HashMap<Arc<str>, Option<DateTime<Utc>>>,
}

impl FileNames {
    fn recorded_at(
        &mut self,
        u: &mut dyn Unit,
        r: &Record,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(&at) = self.recorded.get(&r.source.file) {
            return Ok(at);
        }
        let at = u.file_recorded_at(&r.source.file)?;
        self.recorded.insert(r.source.file.clone(), at);
        Ok(at)
    }

    fn source_of(&mut self, u: &mut dyn Unit, r: &Record) -> Result<String, StoreError> {
        let name = match self.names.get(&r.source.file) {
            Some(n) => n.clone(),
            None => {
                let n = u.file_name(&r.source.file)?.unwrap_or_else(|| {
                    format!("file {}…", &r.source.file[..r.source.file.len().min(12)])
                });
                self.names.insert(r.source.file.clone(), n.clone());
                n
            }
        };
        Ok(crate::jobs::subjects::in_file(&name, &r.source))
    }
}
