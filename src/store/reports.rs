//! Reporting: activity per job, totals, recent runs and the entries a run posted, for the
//! summary, `clerk status` and `clerk explain`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::Result;

/// What a unit of work reads for reporting (nothing here writes).
pub trait Reports {
    /// Per-job activity of the runs started at or after `since`. Breaks about a record that
    /// were open less than their job's grace period (see [`BreakCounting`]) are neither
    /// opened nor closed in it.
    fn activity_since(
        &mut self,
        since: DateTime<Utc>,
        counting: &BreakCounting,
    ) -> Result<Vec<JobActivity>>;
    fn totals(&mut self) -> Result<Totals>;
    fn recent_runs(&mut self, limit: usize) -> Result<Vec<RunRow>>;
    fn entries_of_run(&mut self, run_id: i64) -> Result<Vec<PostedEntry>>;
}

/// Which breaks the KPIs count as opened (and closed): a break about a record counts only
/// once it has been open at least its job's grace period, `(closed_at or now) - opened_at >=
/// grace`. A break opened and closed by a match within the grace was an item waiting for its
/// counterpart, not an exception: the daemon no longer opens such breaks, but stores from
/// before it did hold them (and `clerk job run` ends a batch by opening every break).
#[derive(Clone, Debug, Default)]
pub struct BreakCounting {
    pub now: DateTime<Utc>,
    /// Each job's grace period; a job not named has none.
    pub grace: std::collections::BTreeMap<String, std::time::Duration>,
}

/// A job's runs over a period, for the summary and `clerk status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobActivity {
    pub job: String,
    pub runs: u64,
    pub runs_failed: u64,
    pub files_processed: u64,
    pub files_failed: u64,
    pub files_duplicate: u64,
    pub records: u64,
    pub matched: u64,
    pub entries_posted: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    pub processing_ms: u64,
    pub last_run_at: Option<DateTime<Utc>>,
    /// Of the processing time: reading files, and matching with posting.
    pub extract_ms: u64,
    pub match_ms: u64,
    /// From a file's arrival in its folder to the end of its run (posting done).
    pub arrival_to_done_avg_ms: Option<u64>,
    pub arrival_to_done_max_ms: Option<u64>,
    /// Records matched without a human, by the pass that matched them.
    pub matched_by_pass: std::collections::BTreeMap<String, u64>,
    /// Ledger items that arrived again with other content (new versions), and of them those
    /// whose earlier, open version was withdrawn; the rest changed after their match.
    pub records_changed: u64,
    pub records_withdrawn: u64,
}

impl JobActivity {
    /// What the cost model prices.
    pub fn workload(&self) -> crate::model::costs::Workload {
        crate::model::costs::Workload {
            records: self.records,
            processing_ms: self.processing_ms,
            breaks_opened: self.breaks_opened,
            files_failed: self.files_failed,
        }
    }
}

/// Totals across jobs since the store was created.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub files_processed: u64,
    pub files_failed: u64,
    pub files_duplicate: u64,
    pub records: u64,
    pub records_open: u64,
    pub entries_posted: u64,
    pub open_exceptions: u64,
    pub mail_queued: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub job: String,
    pub trigger: String,
    pub status: String,
    pub file: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<u64>,
    pub records_in: u64,
    pub matched: u64,
    pub entries_posted: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PostedEntry {
    pub id: i64,
    pub idempotency_key: String,
    pub posting_date: NaiveDate,
    pub narrative: String,
    pub lines: Vec<crate::model::EntryLine>,
}
