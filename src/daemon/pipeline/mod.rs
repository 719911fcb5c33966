//! One unit of work: a file through extract → reconcile → post, written to the store in one
//! transaction. Synchronous on purpose: it runs on a blocking thread, one at a time, and a
//! crash anywhere inside leaves the store as it was before (the transaction rolls back) and the
//! file in the processing folder, where start-up finds it again.
//!
//! A file's unit ([`file`]) and its run in the store ([`file_run`]), which hands the job's
//! reconciliation to the jobs layer ([`crate::jobs::reconcile_after_file`]); the limits a
//! file is read within ([`limits`]); a file that could not be read, and alerts ([`failure`]).

#[cfg(test)]
mod bank_tests;
#[cfg(test)]
mod by_key_tests;
mod failure;
mod file;
mod file_run;
mod limits;
#[cfg(test)]
mod statement_props;
#[cfg(test)]
mod test_install;

pub(super) use failure::{FailedFile, record_failed_file};
pub use failure::{alert_links, mail_domain, queue_alert, queue_alert_linked, record_failure};
pub use file::process_file;
pub use limits::{MEMORY_PER_FILE, WHOLE_READ_DIVISOR, WHOLE_READ_FACTOR};

use chrono::{DateTime, Utc};

use crate::config::{Config, Job};
use crate::ingest::Claimed;
use crate::store::{FileStatus, Trigger};

/// A file's unit of work as it goes from step to step: the configuration, the job, the file
/// taken, what set the run off, and the clock every step dates what it records by.
pub struct FileWork<'a> {
    pub config: &'a Config,
    pub job: &'a Job,
    pub claimed: &'a Claimed,
    pub trigger: Trigger,
    pub now: &'a dyn Fn() -> DateTime<Utc>,
}

/// What happened to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Read, stored, reconciled and posted. `replaced`: failed files of the same name that
    /// this one replaced (their breaks closed); their copies are put away next.
    Processed {
        run_id: i64,
        summary: String,
        replaced: u64,
    },
    /// The same content was processed before; nothing posted.
    Duplicate { run_id: i64, original: i64 },
    /// Could not be read; the message says what and where (it goes into `.error.txt`).
    Failed { run_id: i64, message: String },
    /// Found in the processing folder at start-up, but its outcome was already committed
    /// before the stop: only the move to archive/failed was left to do.
    AlreadyRecorded {
        status: FileStatus,
        error: Option<String>,
    },
}
