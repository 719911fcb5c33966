//! What each match of a cash run calls for, as plain data: the entry to post with the words
//! that close its records' breaks, or, when the posting template cannot balance it, the
//! `unbalanced` break on its bank line. Pure: [`super::apply`] writes the decisions, one at a
//! time as they come, so a run of many matches never holds all its entries at once.

use super::words::{describe_match, matched_how};
use crate::model::{JournalEntry, MatchPass, Record, StoredRecord};
use crate::post::returns::entry_for_return;
use crate::post::{PostingTemplate, entry_for_rule};
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
                detail: format!("{}: {refused}", describe_match(&l, &s)),
            },
        }
    })
}
