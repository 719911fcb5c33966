//! What the operations console reads: the exception queue a page at a time (filtered, sorted,
//! paged by key so the hundredth page costs what the first does), files and runs a page at a
//! time, open breaks grouped for ageing, the mail queue and a job's days for its charts.
//! Nothing here writes: people's actions go through `jobs::workflow`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{FileStatus, Result, RunRow, StatusFilter};
use crate::model::{Break, BreakReason};

/// The console's reads (nothing here writes).
pub trait ConsoleReads {
    /// One page of the exception queue: at most `q.limit` breaks after `q.after`, in `q.sort`
    /// order.
    fn queue(&mut self, q: &QueueQuery<'_>) -> Result<Vec<Break>>;
    /// Unresolved breaks counted per job, reason and the day they date from: what the
    /// overview ages by each job's calendar (a few hundred rows for 100,000 breaks).
    fn open_break_days(&mut self) -> Result<Vec<OpenBreakDay>>;
    /// Mail not yet delivered, and of it the mail whose last try failed.
    fn mail_queue(&mut self) -> Result<MailQueue>;
    /// One page of files, newest first.
    fn files_page(&mut self, q: &FileQuery<'_>) -> Result<Vec<FileRow>>;
    fn file_row(&mut self, id: i64) -> Result<Option<FileRow>>;
    /// The runs of a file, oldest first.
    fn runs_of_file(&mut self, file_id: i64) -> Result<Vec<RunRow>>;
    /// One page of runs, newest first: those with an id below `before`, of `job` if given.
    fn runs_page(
        &mut self,
        job: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RunRow>>;
    fn run_row(&mut self, id: i64) -> Result<Option<RunRow>>;
    /// Each job's latest run.
    fn last_runs(&mut self) -> Result<Vec<RunRow>>;
    /// Where a break's record came from: the file, its sheet and line.
    fn record_origin(&mut self, record_id: i64) -> Result<Option<RecordOrigin>>;
    /// Per UTC day since `from`, what `job`'s runs did (records, matches, breaks opened and
    /// closed): the job page's charts.
    fn job_days(&mut self, job: &str, from: NaiveDate) -> Result<Vec<JobDay>>;
}

/// Which breaks, in which order, from where.
#[derive(Clone, Debug, Default)]
pub struct QueueQuery<'a> {
    pub job: Option<&'a str>,
    pub reason: Option<BreakReason>,
    pub status: StatusFilter,
    pub owner: OwnerFilter<'a>,
    /// Only breaks dating from this day or before, by job (each job ages by its own
    /// calendar), and `other` for breaks of jobs not named.
    pub dated_by: Option<AgeCutoff>,
    /// The break's amount without its sign, at least / at most.
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    /// Words in the break's text or its source, or in its record's reference, counterparty,
    /// remittance text or id (case-insensitive for ASCII).
    pub text: Option<&'a str>,
    pub sort: QueueSort,
    /// The last break of the previous page.
    pub after: Option<QueueCursor>,
    pub limit: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OwnerFilter<'a> {
    #[default]
    Anyone,
    Nobody,
    Is(&'a str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeCutoff {
    pub per_job: Vec<(String, NaiveDate)>,
    pub other: NaiveDate,
}

/// The queue's orders. Each ends with the break's id, so the order is total and a page
/// boundary is never ambiguous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueSort {
    /// Oldest first (the day it dates from, then id).
    #[default]
    Age,
    /// Largest amount (without sign) first; breaks without an amount last.
    Amount,
    /// By job, then oldest first.
    Job,
}

impl QueueSort {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueSort::Age => "age",
            QueueSort::Amount => "amount",
            QueueSort::Job => "job",
        }
    }

    /// The cursor that continues after `b` in this order.
    pub fn cursor_after(self, b: &Break) -> QueueCursor {
        match self {
            QueueSort::Age => QueueCursor::Age(b.since, b.id),
            QueueSort::Amount => QueueCursor::Amount(b.amount.map(|a| a.abs()), b.id),
            QueueSort::Job => QueueCursor::Job(b.job.clone(), b.since, b.id),
        }
    }
}

/// Where a page ends, in the terms of its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueCursor {
    Age(NaiveDate, i64),
    Amount(Option<Decimal>, i64),
    Job(String, NaiveDate, i64),
}

impl QueueCursor {
    /// The cursor as the page's `after=` parameter: `<sort key>,<id>`.
    pub fn to_param(&self) -> String {
        match self {
            QueueCursor::Age(d, id) => format!("{d},{id}"),
            QueueCursor::Amount(Some(a), id) => format!("{a},{id}"),
            QueueCursor::Amount(None, id) => format!("none,{id}"),
            QueueCursor::Job(job, d, id) => format!("{job},{d},{id}"),
        }
    }

    /// Reads an `after=` parameter for `sort`; `None` when it does not fit.
    pub fn from_param(sort: QueueSort, s: &str) -> Option<QueueCursor> {
        let (key, id) = s.rsplit_once(',')?;
        let id: i64 = id.parse().ok()?;
        Some(match sort {
            QueueSort::Age => QueueCursor::Age(key.parse().ok()?, id),
            QueueSort::Amount if key == "none" => QueueCursor::Amount(None, id),
            QueueSort::Amount => QueueCursor::Amount(Some(key.parse().ok()?), id),
            QueueSort::Job => {
                let (job, day) = key.rsplit_once(',')?;
                QueueCursor::Job(job.to_string(), day.parse().ok()?, id)
            }
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenBreakDay {
    pub job: String,
    pub reason: BreakReason,
    pub since: NaiveDate,
    pub count: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MailQueue {
    pub queued: u64,
    pub failing: u64,
}

#[derive(Clone, Debug, Default)]
pub struct FileQuery<'a> {
    pub job: Option<&'a str>,
    pub status: Option<FileStatus>,
    /// Files with an id below this one (the last of the previous page).
    pub before: Option<i64>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRow {
    pub id: i64,
    pub job: String,
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub arrived_at: DateTime<Utc>,
    pub status: FileStatus,
    pub error: Option<String>,
    pub duplicate_of: Option<i64>,
    /// A later file of the same name that was processed (this one had failed).
    pub replaced_by: Option<i64>,
    /// When its last run finished: the day it went to the archive (or to failed/).
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordOrigin {
    pub file_id: i64,
    pub file_name: String,
    pub sheet: Option<String>,
    pub row: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobDay {
    pub day: NaiveDate,
    pub records: u64,
    pub matched: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
}
