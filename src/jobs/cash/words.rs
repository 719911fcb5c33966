//! The words of a cash run, for staff: how a match was made, why a record is left unmatched
//! (the break reason the matcher's verdict calls for, with the counterpart it nearly took),
//! and the detail line of each break. Pure: nothing is read or written.

use crate::model::{BreakReason, MatchPass, Record};

/// How a match was made, for the breaks of its records it closes.
pub(super) fn matched_how(pass: MatchPass, run_id: i64, l: &[&Record], s: &[&Record]) -> String {
    if let ([], [paid, returned]) = (l, s) {
        return format!(
            "matched automatically in run {run_id}: bank {} and bank {} cancel out (a payment \
             and its return){}",
            display_id(paid),
            display_id(returned),
            crate::post::returns::return_reason(returned)
                .or_else(|| crate::post::returns::return_reason(paid))
                .map(|c| format!(", return reason {c}"))
                .unwrap_or_default()
        );
    }
    format!(
        "matched automatically ({}) in run {run_id}: {}",
        pass_words(pass),
        describe_match(l, s)
    )
}

/// The detail of the break about an unmatched bank line, `why` it is unmatched.
pub(super) fn statement_line_detail(r: &Record, why: &str) -> String {
    format!(
        "bank line {} of {} {} value {}{}: {why}",
        display_id(r),
        r.amount,
        r.currency,
        r.value_date,
        r.remittance
            .as_deref()
            .map(|t| format!(" \"{}\"", truncate(t, 80)))
            .unwrap_or_default()
    )
}

/// The detail of the break about an unmatched ledger item, `why` it is unmatched.
pub(super) fn ledger_item_detail(r: &Record, why: &str) -> String {
    format!(
        "ledger item {} {}of {} {} value {}{}: {why}",
        display_id(r),
        r.reference
            .as_deref()
            .map(|x| format!("({x}) "))
            .unwrap_or_default(),
        r.amount,
        r.currency,
        r.value_date,
        r.counterparty
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default()
    )
}

/// The break reason and the words for an unmatched record, from the matcher's reason: a
/// counterpart that agreed on all but the amount or the date is named, with the difference.
pub(super) fn unmatched_why(
    why: Option<&crate::reconcile::engine::Unmatched>,
    missing: BreakReason,
    missing_words: &str,
    other: impl Fn(usize) -> String,
) -> (BreakReason, String) {
    use crate::reconcile::engine::UnmatchedReason as U;
    let Some(why) = why else {
        return (missing, missing_words.to_owned());
    };
    let near = why.nearest.as_ref();
    match why.reason {
        U::MissingCounterpart => (missing, missing_words.to_owned()),
        U::Duplicate if why.duplicates > 0 => (
            BreakReason::Duplicate,
            format!(
                "the same record is here {} times (same identity); the other one was matched or is open too",
                why.duplicates
            ),
        ),
        // Tied with an item of its side that has the same amount, date and keys: often the
        // same record twice, but it can be two genuinely different items.
        U::Duplicate => (
            BreakReason::Duplicate,
            "possible duplicate: another item with the same amount, date and keys took the counterpart (a tie); \
             it may be the same record twice or two different items"
                .to_owned(),
        ),
        U::AmountDifference => (
            BreakReason::AmountDifference,
            format!(
                "{} agrees on the keys (pass {}) but differs by {} (allowed {})",
                near.map_or_else(String::new, |n| other(n.row as usize)),
                near.map_or("", |n| &n.pass),
                near.and_then(|n| n.amount_difference)
                    .map_or_else(|| "?".into(), |d| d.to_string()),
                near.and_then(|n| n.allowed_difference)
                    .map_or_else(|| "0".into(), |d| d.to_string()),
            ),
        ),
        U::DateOutsideWindow => (
            BreakReason::DateOutsideWindow,
            format!(
                "{} agrees (pass {}) but is {} business days away (window {})",
                near.map_or_else(String::new, |n| other(n.row as usize)),
                near.map_or("", |n| &n.pass),
                near.and_then(|n| n.date_gap_days).unwrap_or(0),
                near.and_then(|n| n.window_business_days).unwrap_or(0),
            ),
        ),
    }
}

pub(super) fn display_id(r: &Record) -> String {
    if r.external_id.is_empty() {
        format!("(line {})", r.source.row)
    } else {
        r.external_id.clone()
    }
}

pub(super) fn describe_match(l: &[&Record], s: &[&Record]) -> String {
    let ids = |rs: &[&Record]| {
        rs.iter()
            .map(|r| display_id(r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("bank {} with ledger {}", ids(s), ids(l))
}

fn pass_words(p: MatchPass) -> &'static str {
    match p {
        MatchPass::Reference => "by reference",
        MatchPass::AmountDate => "by amount and date",
        MatchPass::Batch => "as a batch payment",
        MatchPass::Manual => "by hand",
        MatchPass::ThreeWay => "three-way with its purchase order and receipts",
        MatchPass::Payment => "as the payment of a payable",
        MatchPass::Rule => "by a posting rule",
        MatchPass::GoodsReceipt => "as goods received against GR/IR",
        MatchPass::Trade => "as a trade at its trade date",
        MatchPass::Settlement => "as a trade's settlement",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}
