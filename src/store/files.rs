//! Files and runs: each file a job took (its content hash, name and outcome) and each run of
//! a job (what started it, what it did).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Result;

/// What a unit of work keeps and reads of files and runs.
pub trait Files {
    /// The id of an already processed file of `job` with this content, if any.
    fn processed_file(&mut self, job: &str, sha256: &str) -> Result<Option<i64>>;
    fn add_file(&mut self, file: &NewFile<'_>) -> Result<i64>;
    fn start_run(
        &mut self,
        job: &str,
        trigger: Trigger,
        file_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<i64>;
    fn finish_run(&mut self, run_id: i64, outcome: &RunOutcome) -> Result<()>;
    /// The latest outcome recorded for a file of `job` with this content and this name, with
    /// its error. The name matters: a copy of a processed file under another name, found in
    /// processing after a crash, has no outcome of its own yet (it is a duplicate to record).
    fn last_file_outcome(
        &mut self,
        job: &str,
        sha256: &str,
        name: &str,
    ) -> Result<Option<(FileStatus, Option<String>)>>;
    /// The name a file with this content arrived under (the first, if several).
    fn file_name(&mut self, sha256: &str) -> Result<Option<String>>;
    /// A file of `job` named `name` was processed (`file_id`, run `run_id`): it replaces the
    /// failed files of that job and name (a file fixed and dropped again). Marks them replaced
    /// and closes their unresolved breaks (`unreadable`, `file_changed`) with `resolution`.
    fn replace_failed_files(
        &mut self,
        job: &str,
        name: &str,
        file_id: i64,
        resolution: &str,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<ReplacedFiles>;
    /// The failed files of `job` named `name`, oldest first: each one's content hash (empty
    /// when it was refused unread) and whether a file processed since replaced it.
    fn failed_files_named(&mut self, job: &str, name: &str) -> Result<Vec<(String, bool)>>;
    /// When the records of the processed file with this content were recorded: the start of
    /// the first run of that file (the unit of work that stored them). What an unmatched
    /// item's grace period counts from (see `jobs::cash::Hold`).
    fn file_recorded_at(&mut self, sha256: &str) -> Result<Option<DateTime<Utc>>>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A file arrived in a watched folder.
    File,
    /// A schedule fired.
    Schedule,
    /// Someone ran `clerk job run`.
    Manual,
    /// Another job's file brought records this job reconciles against: a ledger import's
    /// items, or a bank statement this job reads too.
    Rematch,
    /// A mail brought the file (an attachment).
    Mail,
    /// Unmatched items came to the end of their grace period: the daemon woke for them, no
    /// file came.
    Due,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::File => "file",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Rematch => "rematch",
            Trigger::Mail => "mail",
            Trigger::Due => "due",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Processed,
    Failed,
    Duplicate,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Processed => "processed",
            FileStatus::Failed => "failed",
            FileStatus::Duplicate => "duplicate",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewFile<'a> {
    pub job: &'a str,
    pub sha256: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub arrived_at: DateTime<Utc>,
    pub status: FileStatus,
    pub error: Option<&'a str>,
    pub duplicate_of: Option<i64>,
}

/// What a processed file replaced of the failed files of its name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplacedFiles {
    pub files: u64,
    pub breaks_closed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Failed,
    Duplicate,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Duplicate => "duplicate",
        }
    }
}

/// What a run did, written when it ends (in the same transaction as the work).
#[derive(Clone, Debug, Default)]
pub struct RunOutcome {
    pub status: Option<RunStatus>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Format the file was read as (`csv`, `xlsx`, ...).
    pub format: Option<String>,
    /// Records read from the file.
    pub records_in: u64,
    /// Records read before but seen again (same identity and content): not stored twice.
    pub records_known: u64,
    /// Ledger items read before with other content, stored as new versions.
    pub records_changed: u64,
    /// Of those, the ones whose earlier version was open and is withdrawn (the others changed
    /// after their match).
    pub records_withdrawn: u64,
    /// Records matched without a human in this run (both sides).
    pub matched: u64,
    pub entries_posted: u64,
    pub breaks_opened: u64,
    pub breaks_closed: u64,
    /// Time from the file's arrival in the folder to the end of the run.
    pub arrival_to_done_ms: Option<u64>,
    /// Time spent reading the file (extract).
    pub extract_ms: Option<u64>,
    /// Time spent matching and posting (reconcile, post).
    pub match_ms: Option<u64>,
    pub error: Option<String>,
}
