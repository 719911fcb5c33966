//! What the engine returns: matches with their reasons, and unmatched items with theirs.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::model::Currency;

/// Row indexes into one side's table (the order is the table's for ungrouped sides, and
/// amount then identity within a group). One row is held inline.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Rows(RowsRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum RowsRepr {
    One(u32),
    Many(Box<[u32]>),
}

impl Rows {
    pub fn one(row: u32) -> Rows {
        Rows(RowsRepr::One(row))
    }

    pub fn many(rows: &[u32]) -> Rows {
        match rows {
            [r] => Rows::one(*r),
            _ => Rows(RowsRepr::Many(rows.into())),
        }
    }
}

impl Deref for Rows {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match &self.0 {
            RowsRepr::One(r) => std::slice::from_ref(r),
            RowsRepr::Many(b) => b,
        }
    }
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// How good a match is, from 0 (worst) to 1 (exact amount, same day), in millionths:
/// `1 − A/2 − D/2` with `A = |amount difference| / allowed difference` (0 when nothing is
/// allowed, or without an amount rule) and `D = gap / (window + 1)` in business days
/// (`gap / (gap + 1)` without a window, 0 without a date rule). Each term is rounded down to
/// a millionth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Score(pub u32);

impl Score {
    pub const MAX: Score = Score(1_000_000);

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 1e6
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}", self.as_f64())
    }
}

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// Why a candidate lost to the match that took one of its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostBecause {
    /// The winner scored higher.
    LowerScore,
    /// Same score; the winner's items come first by identity.
    TieBrokenByIdentity,
    /// It scored higher, but taking it would have left more items unmatched (or a lower
    /// total score): the pass takes the best combination of its candidates, not the best one
    /// first.
    BetterCombination,
}

/// A candidate a match beat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunnerUp {
    pub ours: Rows,
    pub theirs: Rows,
    pub score: Score,
    pub lost_because: LostBecause,
}

/// One decision: these items of ours and these of theirs belong together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchDecision {
    /// The pass's name.
    pub pass: Arc<str>,
    /// The pass's index in the rules.
    pub rule: u32,
    pub score: Score,
    pub ours: Rows,
    pub theirs: Rows,
    /// Ours minus theirs (negated with `opposite_sign`, converted with fx), in our currency,
    /// over the whole of each side. `None` when the pass has no amount rule.
    pub amount_difference: Option<Decimal>,
    /// The largest gap in business days between a date of ours and one of theirs in the
    /// match. `None` when the pass has no date rule.
    pub date_gap_days: Option<i32>,
    /// Up to 3 candidates that shared an item with this match and lost to it; empty when no
    /// other candidate wanted these items.
    pub runners_up: Box<[RunnerUp]>,
    /// The compared values, tolerances and differences; present when the run was asked to
    /// explain (`RunOptions::explain`), else [`super::Plan::explain`] builds it.
    pub explanation: Option<Box<Explanation>>,
}

/// Why a match was made, for people: the values compared on both sides and the margins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub pass: String,
    pub grouping: super::Grouping,
    pub score: Score,
    /// Identities of our items and of theirs.
    pub ours: Vec<String>,
    pub theirs: Vec<String>,
    pub keys: Vec<KeyExplained>,
    pub amount: Option<AmountExplained>,
    pub date: Option<DateExplained>,
    pub runners_up: Vec<RunnerUpExplained>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyExplained {
    pub ours_field: String,
    pub theirs_field: String,
    /// `exact`, or the steps applied: `pattern`, `map`, `normalise` joined by `+`.
    pub method: String,
    /// The values as stored (of the first item, for a group: they share it).
    pub ours: Option<String>,
    pub theirs: Option<String>,
    /// The compared form both sides agreed on (extracted, mapped, normalised).
    pub agreed_on: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AmountExplained {
    pub ours_field: String,
    pub theirs_field: String,
    /// Our total, in our currency.
    pub ours: Decimal,
    /// Their total as booked.
    pub theirs: Decimal,
    pub ours_currency: Option<Currency>,
    pub theirs_currency: Option<Currency>,
    /// Their total in our currency, when converted.
    pub theirs_converted: Option<Decimal>,
    pub rate: Option<Decimal>,
    pub opposite_sign: bool,
    /// Ours minus theirs (after sign and conversion).
    pub difference: Decimal,
    /// The absolute tolerance that applied (per currency, or the general one).
    pub tolerance: Decimal,
    pub relative: Decimal,
    /// The difference allowed: the largest of the tolerances for these amounts.
    pub allowed: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DateExplained {
    pub ours_field: String,
    pub theirs_field: String,
    /// The dates with the largest gap (for a group: its member furthest away).
    pub ours: Option<NaiveDate>,
    pub theirs: Option<NaiveDate>,
    pub gap_business_days: i32,
    pub window_business_days: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunnerUpExplained {
    pub ours: Vec<String>,
    pub theirs: Vec<String>,
    pub score: Score,
    pub lost_because: LostBecause,
}

/// Why an item has no match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmatchedReason {
    /// Nothing on the other side came close.
    MissingCounterpart,
    /// An unmatched item of the other side agreed on every key and the date, and was the only
    /// one to; only the amount was outside the tolerance (see `nearest`).
    AmountDifference,
    /// An unmatched item of the other side agreed on every key and the amount; only the date
    /// was outside the window (see `nearest`).
    DateOutsideWindow,
    /// Another item of the same side has the same identity (`duplicates` > 0): the same record
    /// twice, neither matched; or (`duplicates` = 0) a *possible duplicate*: an item with the
    /// same values took the counterpart on a tie, and this one may be the same record twice or
    /// a genuinely different item with the same amount and date. A person decides.
    Duplicate,
}

impl UnmatchedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedReason::MissingCounterpart => "missing_counterpart",
            UnmatchedReason::AmountDifference => "amount_difference",
            UnmatchedReason::DateOutsideWindow => "date_outside_window",
            UnmatchedReason::Duplicate => "duplicate",
        }
    }
}

/// The closest item of the other side, for `amount_difference` and `date_outside_window`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NearMiss {
    pub pass: Arc<str>,
    pub rule: u32,
    /// The other side's row.
    pub row: u32,
    /// Ours minus theirs, in our currency; `None` without an amount rule.
    pub amount_difference: Option<Decimal>,
    pub allowed_difference: Option<Decimal>,
    pub date_gap_days: Option<i32>,
    pub window_business_days: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    pub row: u32,
    pub reason: UnmatchedReason,
    pub nearest: Option<NearMiss>,
    /// For `duplicate`: how many items share the identity (this one included); else 0.
    pub duplicates: u32,
}

/// The engine's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// By pass, then by our first row.
    pub matches: Vec<MatchDecision>,
    /// By row.
    pub unmatched_ours: Vec<Unmatched>,
    pub unmatched_theirs: Vec<Unmatched>,
    /// Limits that were hit (a search cut short by its work budget, candidates beyond the cap
    /// per item): the outcome is still valid, but some pairing may have been missed.
    pub warnings: Vec<String>,
    /// A search bound (candidates kept per item, subsets tried per group) cut a pass short:
    /// items left open may still pair when run again with fewer others around. A run that
    /// only revisits what changed relies on what is left open not pairing again, so after
    /// such a run the next one goes over everything.
    pub cut_short: bool,
    /// Items of ours paid in part by open items of theirs quoting them (passes with
    /// `partial`), by our row. Both sides are also among the unmatched.
    pub part_paid: Vec<PartPaid>,
}

/// An item of ours paid in part: open items of theirs quote it and agree on every key of an
/// instalments pass, but add up to less than it. Both stay open (and keep their reasons); the
/// caller decides when the rest is overdue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartPaid {
    pub pass: Arc<str>,
    pub rule: u32,
    /// Our row.
    pub row: u32,
    /// Their rows, the parts paid so far.
    pub parts: Box<[u32]>,
    /// What the parts add up to (with the pass's sign), in our currency.
    pub paid: Decimal,
    /// Our amount minus what is paid: the remainder still to come.
    pub open: Decimal,
    /// Business days from the first part during which the rest may still come.
    pub window_business_days: i32,
}
