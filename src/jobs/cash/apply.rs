//! What a cash run's outcome does to the store: the decisions of [`super::decide`] written
//! (matches posted, their breaks closed), and breaks opened for what is left and due, in the
//! words of [`super::words`].

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::by_key::Applied;
use super::decide::{MatchDecision, RuleDecision, match_decisions, rule_decision};
use super::words::{display_id, ledger_item_detail, statement_line_detail, unmatched_why};
use super::{Hold, Ran, Settings, settings_of};
use crate::config::Job;
use crate::model::{BreakReason, MatchPass, Record, Side, StoredRecord};
use crate::post::{PostingTemplate, entry_for_rule};
use crate::reconcile::CashRules;
use crate::reconcile::engine::PartPaid;
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
        parts,
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
        parts,
        names: FileNames::default(),
        out: RunOutcome::default(),
        applied: Applied::default(),
    };
    run.post_matches(u, posting)?;
    run.statement_lines_left(u, posting)?;
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
    parts: &'a super::parts::Posted,
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

    /// Bank lines left unmatched: posted by the job's posting rules when one takes them (a
    /// fee, interest: at once, no ledger item is coming for them), else held back while their
    /// grace period runs, else a break.
    fn statement_lines_left(
        &mut self,
        u: &mut dyn Unit,
        posting: &PostingTemplate,
    ) -> Result<(), StoreError> {
        let (ledger, statement, result) = (self.ledger, self.statement, self.result);
        let rules = posting.rules();
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
            if parts.contains(&i) {
                continue;
            }
            if !rules.is_empty() && self.post_by_rule(u, r, posting)? {
                continue;
            }
            if self.with_break.contains(&r.id) {
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

    /// Posts bank line `r` by the first of `rules` that takes it, closing its break if it had
    /// one; `false` when no rule takes it.
    fn post_by_rule(
        &mut self,
        u: &mut dyn Unit,
        r: &StoredRecord,
        posting: &PostingTemplate,
    ) -> Result<bool, StoreError> {
        let Some(decision) = rule_decision(&self.job.name, self.run_id, r, posting) else {
            return Ok(false);
        };
        let (job, run_id, at) = (self.job, self.run_id, self.at);
        match decision {
            RuleDecision::Post { entry, why, how } => {
                let ids = [r.id];
                match u.post_match(&NewMatch {
                    job: &job.name,
                    run_id,
                    pass: MatchPass::Rule,
                    record_ids: &ids,
                    entry: &entry,
                    at,
                    explanation: Some(&why),
                    actor: None,
                    reason: None,
                })? {
                    Posted::Posted { .. } => {
                        self.applied.posted.insert(r.id);
                        self.out.matched += 1;
                        self.out.entries_posted += 1;
                        self.out.breaks_closed +=
                            u.close_breaks_of_records(&ids, &how, run_id, at)?;
                    }
                    Posted::AlreadyPosted => {
                        tracing::error!(job = %job.name, key = %entry.idempotency_key,
                            "rule entry already posted while its line was open; not posting again");
                    }
                }
                Ok(true)
            }
            // The rule's entry cannot balance (a configuration the check lets through cannot
            // do this, but a break says so rather than a line silently left).
            RuleDecision::Refused { detail } => {
                if self.with_break.contains(&r.id) {
                    return Ok(true);
                }
                let recorded = self.names.recorded_at(u, &r.record)?;
                self.open_record_break(u, r, recorded, BreakReason::Unbalanced, &detail)?;
                Ok(true)
            }
        }
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
            // Parts that came are posted even when the item has its break already.
            let pp = result.part_paid.iter().find(|pp| pp.row as usize == i);
            if pp.is_some() || self.parts.contains_key(&r.id) {
                self.part_paid(u, r, pp, calendar, latest)?;
                continue;
            }
            if self.with_break.contains(&r.id) {
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

    /// A ledger item paid in part ([`super::parts`]): the parts that came in this run posted
    /// at once against it, the item left open for the rest; held without a break while the
    /// bank has not reported past the pass's window, counted in business days from the first
    /// part; then a `partially_paid` break for the open remainder, naming the parts.
    fn part_paid(
        &mut self,
        u: &mut dyn Unit,
        r: &StoredRecord,
        pp: Option<&PartPaid>,
        calendar: &Calendar,
        latest: chrono::NaiveDate,
    ) -> Result<(), StoreError> {
        let Some(Settings { rules, posting, .. }) = settings_of(self.job) else {
            return Ok(());
        };
        let Some((pass, window, opposite)) = rules.plan.partial_pass() else {
            return Ok(());
        };
        let (mut pass, mut window) = (pass.to_owned(), window);
        let parts = self.parts;
        let mut received: Vec<&Record> = parts
            .get(&r.id)
            .map(|v| v.iter().map(|p| &p.record).collect())
            .unwrap_or_default();
        // The item as invoiced: its open remainder plus the parts posted before this run.
        let posted_before: rust_decimal::Decimal = received.iter().map(|p| p.amount).sum();
        let invoiced = Record {
            amount: if opposite {
                r.record.amount - posted_before
            } else {
                r.record.amount + posted_before
            },
            ..r.record.clone()
        };
        // Without new parts the item's amount is its remainder already.
        let mut open = r.record.amount;
        if let Some(pp) = pp {
            (pass, window) = (pp.pass.to_string(), pp.window_business_days);
            let statement = self.statement;
            let new: Vec<&StoredRecord> =
                pp.parts.iter().map(|&t| &statement[t as usize]).collect();
            // Parts not posted (their entry refused: the log says why) stay open and are held
            // with the item, without a break of their own.
            received.extend(new.iter().map(|s| &s.record));
            if self.post_parts(u, rules, posting, r, pp, &new)? {
                // A break for an earlier remainder is out of date: closed, and opened again
                // below for the new remainder if the rest is still overdue.
                if self.with_break.contains(&r.id) {
                    let how = format!(
                        "paid in part again in run {}: {} {} still open",
                        self.run_id, pp.open, r.record.currency
                    );
                    self.out.breaks_closed +=
                        u.close_breaks_of_records(&[r.id], &how, self.run_id, self.at)?;
                }
            }
            open = pp.open;
        }
        let Some(first) = received.iter().map(|p| p.value_date).min() else {
            return Ok(());
        };
        if calendar.business_days_between(first, latest) <= i64::from(window) {
            return Ok(());
        }
        let named: Vec<String> = received
            .iter()
            .map(|p| format!("bank {} of {} on {}", display_id(p), p.amount, p.value_date))
            .collect();
        let why = format!(
            "paid in part ({}); {open} {} still open, the rest not come within {window} \
             business days of the first part (pass {pass}; the bank has reported up to {latest})",
            named.join(", "),
            r.record.currency,
        );
        let detail = ledger_item_detail(&invoiced, &why);
        let recorded = self.names.recorded_at(u, &r.record)?;
        self.applied.due_tried.insert(r.id);
        // The break is about what is still open, not the invoiced amount.
        let why = (BreakReason::PartiallyPaid, detail.as_str());
        self.open_break_for(u, r, recorded, why, open)
    }

    /// Posts bank lines `new`, parts of ledger item `r`, at once: the entry of the pass for
    /// the item as far as they pay it; the item stays open. Whether they were posted.
    fn post_parts(
        &mut self,
        u: &mut dyn Unit,
        rules: &CashRules,
        posting: &PostingTemplate,
        r: &StoredRecord,
        pp: &PartPaid,
        new: &[&StoredRecord],
    ) -> Result<bool, StoreError> {
        let job = self.job;
        let item = super::parts::paid_part(&r.record, pp.paid);
        let lines: Vec<&Record> = new.iter().map(|s| &s.record).collect();
        let category = crate::reconcile::cash::pass_category(&rules.plan, pp.rule);
        let mut entry =
            match entry_for_rule(&job.name, posting, category, &pp.pass, &[&item], &lines) {
                Ok(e) => e,
                Err(refused) => {
                    tracing::warn!(job = %job.name, item = %r.record.external_id,
                    "parts paid not posted: {refused}");
                    return Ok(false);
                }
            };
        entry.narrative = format!(
            "{} (paid in part: {} {} still open)",
            entry.narrative, pp.open, r.record.currency
        );
        let ids: Vec<i64> = new.iter().map(|s| s.id).collect();
        // For `clerk explain`: what the parts paid of which item, and what is still open.
        let why = serde_json::json!({
            "pass": &*pp.pass,
            "grouping": "part payment",
            "ours": [r.record.identity()],
            "theirs": lines.iter().map(|l| l.identity()).collect::<Vec<_>>(),
            "paid": pp.paid,
            "open": pp.open,
        })
        .to_string();
        let posted = u.post_match(&NewMatch {
            job: &job.name,
            run_id: self.run_id,
            pass: category,
            record_ids: &ids,
            entry: &entry,
            at: self.at,
            explanation: Some(&why),
            actor: None,
            reason: None,
        })?;
        if posted == Posted::AlreadyPosted {
            return Ok(false);
        }
        u.link_parts(&job.name, r.id, &ids)?;
        let how = format!(
            "posted as part of ledger item {} in run {} ({} {} still open)",
            display_id(&r.record),
            self.run_id,
            pp.open,
            r.record.currency
        );
        self.applied.posted.extend(ids.iter().copied());
        self.out.matched += ids.len() as u64;
        self.out.entries_posted += 1;
        self.out.breaks_closed += u.close_breaks_of_records(&ids, &how, self.run_id, self.at)?;
        Ok(true)
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
        self.open_break_for(u, r, recorded, (reason, detail), r.record.amount)
    }

    /// As [`Self::open_record_break`], for `amount` of the record (what is still open of it).
    fn open_break_for(
        &mut self,
        u: &mut dyn Unit,
        r: &StoredRecord,
        recorded: Option<DateTime<Utc>>,
        (reason, detail): (BreakReason, &str),
        amount: rust_decimal::Decimal,
    ) -> Result<(), StoreError> {
        let source = self.names.source_of(u, &r.record)?;
        let opened = u.open_break(&NewBreak {
            job: &self.job.name,
            run_id: self.run_id,
            reason,
            detail,
            amount: Some(amount),
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
