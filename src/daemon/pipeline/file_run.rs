//! A file's run in the store: the file recorded and its run started, the run finished with
//! its reconciliation and counts, or recorded as a duplicate.

use super::{FileOutcome, FileWork};
use crate::config::Job;
use crate::jobs;
use crate::jobs::WorkError;
use crate::store::{FileStatus, NewFile, RunOutcome, RunStatus, StoreError, Unit};

/// What the start of a file's unit of work found.
pub(super) enum Started {
    /// The same content was taken meanwhile (another process): recorded as a duplicate.
    Duplicate(FileOutcome),
    New {
        file_id: i64,
        run_id: i64,
    },
}

/// Records the file and starts its run, inside the file's unit of work.
pub(super) fn start_file(
    u: &mut dyn Unit,
    work: &FileWork<'_>,
    sha: &str,
    size: u64,
) -> Result<Started, StoreError> {
    let FileWork {
        job,
        claimed,
        trigger,
        now,
        ..
    } = *work;
    if let Some(original) = u.processed_file(&job.name, sha)? {
        // Another process (a `clerk job run` beside the daemon) took the same content
        // while this one was reading it.
        let run_id = record_duplicate(u, work, sha, size, original)?;
        return Ok(Started::Duplicate(FileOutcome::Duplicate {
            run_id,
            original,
        }));
    }
    let file_id = u.add_file(&NewFile {
        job: &job.name,
        sha256: sha,
        name: &claimed.name,
        size,
        arrived_at: claimed.arrived_at,
        status: FileStatus::Processed,
        error: None,
        duplicate_of: None,
    })?;
    if let Some(o) = &claimed.origin {
        u.add_mail_attachment(o, sha, &job.name, Some(file_id))?;
    }
    let run_id = u.start_run(&job.name, trigger, Some(file_id), now())?;
    tracing::Span::current().record("run", run_id);
    Ok(Started::New { file_id, run_id })
}

/// Where a job's records are stored (see [`jobs::records_scope`]).
pub(super) fn scope_of(job: &Job) -> &str {
    jobs::records_scope(job)
}

/// What storing a file's records did that its reconciliation needs: the ledger items it
/// corrected, and the jobs its bank statements were offered to.
pub(super) struct Ran<'a> {
    pub versions: &'a crate::jobs::versions::Versions,
    pub offered: &'a [String],
}

/// The rest of a file's unit once its records are stored: the job's reconciliation (and that
/// of the jobs its statements were offered to), and the run finished with its counts.
pub(super) fn finish_file_run(
    u: &mut dyn Unit,
    work: &FileWork<'_>,
    (file_id, run_id): (i64, i64),
    mut outcome: RunOutcome,
    Ran { versions, offered }: Ran<'_>,
    today: chrono::NaiveDate,
) -> Result<FileOutcome, WorkError> {
    let FileWork {
        config,
        job,
        claimed,
        now,
        ..
    } = *work;
    let match_started = std::time::Instant::now();
    let corrections = |job: &str| {
        let c = versions.of(job);
        jobs::cash::Corrections {
            opened: c.opened,
            closed: c.closed,
        }
    };
    let reconciled = jobs::reconcile_after_file(
        u,
        job,
        &jobs::FileRun {
            jobs: &config.jobs,
            file_id,
            run_id,
            today,
            now,
            corrections: &corrections,
            offered,
        },
    )?;
    outcome.add(&reconciled);
    outcome.match_ms = Some(match_started.elapsed().as_millis() as u64);
    // A file that could not be read, fixed and dropped again under its name: this replaces it.
    let at = now();
    let resolution = format!(
        "replaced by {} processed at {} (run {run_id})",
        claimed.name,
        at.with_timezone(&config.settings.timezone)
            .format("%Y-%m-%d %H:%M:%S %Z")
    );
    let replaced =
        u.replace_failed_files(&job.name, &claimed.name, file_id, &resolution, run_id, at)?;
    outcome.breaks_closed += replaced.breaks_closed;
    // What a job expected by a deadline that passed ([[expect]]): its break closes.
    outcome.breaks_closed += jobs::expect::arrived(
        u,
        config,
        job,
        file_id,
        &claimed.name,
        claimed.arrived_at,
        run_id,
        at,
    )?;
    outcome.status = Some(RunStatus::Ok);
    let done = now();
    outcome.finished_at = Some(done);
    outcome.arrival_to_done_ms = Some((done - claimed.arrived_at).num_milliseconds().max(0) as u64);
    u.finish_run(run_id, &outcome)?;
    let changed = if outcome.records_changed > 0 {
        format!(
            ", {} changed: {} replaced, {} after their match",
            outcome.records_changed,
            outcome.records_withdrawn,
            outcome.records_changed - outcome.records_withdrawn
        )
    } else {
        String::new()
    };
    let summary = format!(
        "{} records ({} already known{changed}), {} matched, {} entries posted, {} breaks opened, {} closed",
        outcome.records_in,
        outcome.records_known,
        outcome.matched,
        outcome.entries_posted,
        outcome.breaks_opened,
        outcome.breaks_closed
    );
    Ok(FileOutcome::Processed {
        run_id,
        summary,
        replaced: replaced.files,
    })
}

pub(super) fn record_duplicate(
    u: &mut dyn Unit,
    work: &FileWork<'_>,
    sha: &str,
    size: u64,
    original: i64,
) -> Result<i64, StoreError> {
    let FileWork {
        job,
        claimed,
        trigger,
        now,
        ..
    } = *work;
    let file_id = u.add_file(&NewFile {
        job: &job.name,
        sha256: sha,
        name: &claimed.name,
        size,
        arrived_at: claimed.arrived_at,
        status: FileStatus::Duplicate,
        error: None,
        duplicate_of: Some(original),
    })?;
    if let Some(o) = &claimed.origin {
        u.add_mail_attachment(o, sha, &job.name, Some(file_id))?;
    }
    let run_id = u.start_run(&job.name, trigger, Some(file_id), now())?;
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Duplicate),
            finished_at: Some(now()),
            ..Default::default()
        },
    )?;
    Ok(run_id)
}

impl RunOutcome {
    fn add(&mut self, other: &RunOutcome) {
        self.matched += other.matched;
        self.entries_posted += other.entries_posted;
        self.breaks_opened += other.breaks_opened;
        self.breaks_closed += other.breaks_closed;
    }
}
