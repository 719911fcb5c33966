//! What each match of a cash run calls for, as plain data: the entry to post with the words
//! that close its records' breaks, or, when the posting template cannot balance it, the
//! `unbalanced` break on its bank line. Pure: [`super::apply`] writes the decisions, one at a
//! time as they come, so a run of many matches never holds all its entries at once.

use super::words::{describe_match, matched_how};
use crate::model::{JournalEntry, MatchPass, Record, StoredRecord};
use crate::post::returns::entry_for_return;
use crate::post::{PostingRefused, PostingTemplate, entry_for_rule};
use crate::reconcile::Outcome;

/// What one match calls for.
pub(super) enum MatchDecision<'r> {
    /// Post `entry` for the records `ids` (ledger items, then bank lines) and close their
    /// breaks saying `how` they were matched.
    Post {
        ids: Vec<i64>,
        pass: MatchPass,
        explanation: Option<&'r str>,
        entry: JournalEntry,
        how: String,
    },
    /// The entry does not balance: a break on the match's first bank line, saying why.
    Unbalanced {
        line: &'r StoredRecord,
        detail: String,
    },
}

/// The decisions for the matches of `result` over `ledger` and `statement`, in match order.
pub(super) fn match_decisions<'r>(
    job: &'r str,
    posting: &'r PostingTemplate,
    run_id: i64,
    ledger: &'r [StoredRecord],
    statement: &'r [StoredRecord],
    result: &'r Outcome,
) -> impl Iterator<Item = MatchDecision<'r>> + 'r {
    result.matches.iter().map(move |m| {
        let l: Vec<&Record> = m.ledger.iter().map(|&i| &ledger[i].record).collect();
        let s: Vec<&Record> = m.statement.iter().map(|&i| &statement[i].record).collect();
        // The job's pass that made the match picks its `[posting.pass.<name>]` template, if
        // any; the statement lines' direction picks receipt or payment.
        let rule = m.rule.as_deref().unwrap_or(m.pass.as_str());
        let entry = match (&l[..], &s[..]) {
            // A payment and its return, paired within the statement.
            ([], [paid, returned]) => entry_for_return(job, posting, m.pass, rule, paid, returned),
            _ => entry_for_rule(job, posting, m.pass, rule, &l, &s),
        };
        match entry {
            Ok(entry) => MatchDecision::Post {
                ids: m
                    .ledger
                    .iter()
                    .map(|&i| ledger[i].id)
                    .chain(m.statement.iter().map(|&i| statement[i].id))
                    .collect(),
                pass: m.pass,
                explanation: m.explanation.as_deref(),
                entry,
                how: matched_how(m.pass, run_id, &l, &s),
            },
            Err(refused) => MatchDecision::Unbalanced {
                line: &statement[m.statement[0]],
                detail: format!(
                    "{}: {refused}{}",
                    describe_match(&l, &s),
                    where_differences_go(&refused, rule)
                ),
            },
        }
    })
}

/// What a posting rule calls for on a bank line no pass matched.
pub(super) enum RuleDecision {
    /// Post `entry` for the line, kept with `why` (the explanation) and closing its break
    /// saying `how`.
    Post {
        entry: JournalEntry,
        why: String,
        how: String,
    },
    /// The rule took the line but its entry does not balance.
    Refused { detail: String },
}

/// The first of `rules` that takes bank line `line` and what it posts; `None` when no rule
/// takes it (the line stays unmatched, and is a break).
pub(super) fn rule_decision(
    job: &str,
    run_id: i64,
    line: &StoredRecord,
    posting: &PostingTemplate,
) -> Option<RuleDecision> {
    let (rule, agreed) = posting.rules().take(&line.record)?;
    let shown = super::words::display_id(&line.record);
    // A rule's accounts are the chart's too, when the job posts to one.
    let entry = rule.entry(job, &line.record).and_then(|mut e| {
        if let Some(chart) = posting.chart() {
            chart.resolve_lines(&mut e.lines)?;
        }
        Ok(e)
    });
    Some(match entry {
        Ok(entry) => RuleDecision::Post {
            entry,
            why: serde_json::json!({
                "pass": rule.name,
                "grouping": "posting rule",
                "theirs": shown,
                "agreed_on": agreed,
            })
            .to_string(),
            how: format!(
                "posted by rule {:?} on its {agreed} in run {run_id}",
                rule.name
            ),
        },
        Err(refused) => RuleDecision::Refused {
            detail: format!(
                "bank {shown}: rule {:?} took it on its {agreed}, but {refused}",
                rule.name
            ),
        },
    })
}

/// Where a difference the rules accepted (a bank charge, a tolerance) would be booked: the
/// job file's key to configure, for the break's reader.
fn where_differences_go(refused: &PostingRefused, rule: &str) -> String {
    match refused {
        PostingRefused::Unbalanced { .. } => format!(
            "; to book such differences give the template a line {{ account = \"...\", amount = \"difference\" }} in [posting.pass.{rule}] (or [posting.receipt] / [posting.payment]); across currencies, [posting.fx]"
        ),
        _ => String::new(),
    }
}
