//! Breaks: the exceptions clerk opens, restates and closes, and the workflow people follow
//! on them (assign, note, investigate, resolve, reopen).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::Result;
use crate::model::{Break, BreakEvent, BreakReason, BreakStatus, Currency};

/// What a unit of work keeps and reads of breaks.
pub trait Breaks {
    /// Opens a break; `None` if the record already has an open one.
    fn open_break(&mut self, b: &NewBreak<'_>) -> Result<Option<i64>>;
    /// The records of a job that have an unresolved break: a run restates nothing for them,
    /// so it need not build their words again.
    fn records_with_open_breaks(&mut self, job: &str) -> Result<std::collections::HashSet<i64>>;
    /// Closes the open breaks of these records, saying how; returns how many closed.
    fn close_breaks_of_records(
        &mut self,
        record_ids: &[i64],
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// The unresolved breaks of a job that are about a subject (a position, a trade), with
    /// their subjects.
    fn open_subjects(&mut self, job: &str) -> Result<Vec<(i64, String)>>;
    /// Whether a break about this subject was ever opened for the job, resolved or not: what
    /// is reported once and for all (a file clerk ignores) is not reported again.
    fn break_about(&mut self, job: &str, subject: &str) -> Result<bool>;
    /// Restates an unresolved break whose difference changed (a position still off, by
    /// another quantity); `false` when nothing changed. The break keeps its age.
    fn update_break(
        &mut self,
        id: i64,
        reason: BreakReason,
        detail: &str,
        difference: Option<Decimal>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Closes one break because its subject now agrees, saying how.
    fn close_break(
        &mut self,
        id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    fn breaks(&mut self, filter: &BreakFilter<'_>) -> Result<Vec<Break>>;
    fn break_by_id(&mut self, id: i64) -> Result<Option<Break>>;
    /// Everything that happened to a break, oldest first.
    fn break_history(&mut self, id: i64) -> Result<Vec<BreakEvent>>;
    /// A person works a break: assigns it, notes something, investigates, reopens.
    fn work_break(
        &mut self,
        id: i64,
        action: &BreakAction<'_>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// A person resolves a break, saying why.
    fn resolve_break(
        &mut self,
        id: i64,
        resolution: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

pub struct NewBreak<'a> {
    pub job: &'a str,
    pub run_id: i64,
    pub reason: BreakReason,
    pub detail: &'a str,
    pub amount: Option<Decimal>,
    pub currency: Option<Currency>,
    /// The difference behind an amount or quantity break.
    pub difference: Option<Decimal>,
    pub since: NaiveDate,
    pub owner: Option<&'a str>,
    pub record_id: Option<i64>,
    pub source: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// What the break is about when it is not one record (`position|SAFE-1|DE000…`); one
    /// unresolved break per job and subject.
    pub subject: Option<&'a str>,
}

#[derive(Clone, Debug, Default)]
pub struct BreakFilter<'a> {
    pub job: Option<&'a str>,
    pub status: StatusFilter,
    pub reason: Option<BreakReason>,
    pub owner: Option<&'a str>,
    pub limit: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusFilter {
    /// Open or being investigated: what still needs someone.
    #[default]
    Unresolved,
    Is(BreakStatus),
    Any,
}

/// What a person does to a break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakAction<'a> {
    Assign(&'a str),
    Note(&'a str),
    Investigate,
    Reopen,
}
