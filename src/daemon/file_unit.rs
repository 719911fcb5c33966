//! One file's unit of work, as the worker runs it: counted, read and recorded on the work
//! thread; then held for its settle time, or moved to the archive or failed folder
//! (`finish_file`) once its outcome is recorded.

use std::sync::Arc;

use chrono::Utc;
use tracing::{error, info, info_span, warn};

use super::pipeline::{self, FileOutcome};
use super::worker::{Work, file_done};
use super::{Shared, attempts, folders};
use crate::config::{Config, Job};
use crate::ingest::{self, Claimed};
use crate::jobs::WorkError;
use crate::store::{FileStatus, Store, StoreError, Trigger};

/// What the work thread made of a file.
enum Processed {
    /// An outcome, recorded; with the file as it was just before it was read.
    Outcome(FileOutcome, Option<ingest::Fingerprint>),
    /// The file changed while it was read: nothing was kept. As it looked then.
    Changed(ingest::Fingerprint),
}

/// Runs one file: on a transient store error hands it back for a retry.
pub(super) async fn run(
    shared: &Arc<Shared>,
    held: &mut folders::Held,
    config: Arc<Config>,
    job: String,
    claimed: Claimed,
    recovered: bool,
) -> Result<(), (Work, StoreError)> {
    let span = info_span!("file", job = %job, file = %claimed.name, run = tracing::field::Empty);
    let Some(j) = config.job(&job).cloned() else {
        error!(parent: &span, "job no longer configured; file left in processing");
        file_done(shared);
        return Ok(());
    };
    let store = shared.store.clone();
    let c = claimed.clone();
    let cfg = config.clone();
    let inner = span.clone();
    let result = shared
        .work_thread
        .run(move || {
            // The blocking thread does the work: log lines there carry job, file and run.
            let _entered = inner.enter();
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            read_and_record(&cfg, guard.as_mut(), &j, &c, recovered)
        })
        .await;
    let (outcome, before) = match result {
        Ok(Ok(Processed::Outcome(o, before))) => (o, before),
        Ok(Ok(Processed::Changed(now))) => {
            let settle = folders::settle_of(&config, &job);
            warn!(parent: &span, settle = ?settle, "the file changed while it was being read; nothing of it was kept; it is read again once it has not changed for the settle time");
            held.hold(folders::HeldFile {
                job,
                claimed,
                seen: now,
                due: tokio::time::Instant::now() + settle,
                what: folders::HeldFor::Reread { recovered },
            });
            return Ok(());
        }
        Ok(Err(WorkError::Store(e))) if e.is_transient() => {
            return Err((
                Work::File {
                    job,
                    claimed,
                    recovered,
                },
                e,
            ));
        }
        Ok(Err(e)) => (
            FileOutcome::Failed {
                run_id: 0,
                message: format!("clerk could not process this file: {e}"),
            },
            None,
        ),
        Err(join) => {
            error!(parent: &span, error = %join, "processing panicked; the file is kept in failed/");
            (
                FileOutcome::Failed {
                    run_id: 0,
                    message: format!("clerk crashed while processing this file: {join}"),
                },
                None,
            )
        }
    };
    let done = Done {
        job,
        claimed,
        outcome,
        before,
    };
    put_away(shared, held, &config, span, done).await;
    Ok(())
}

/// Reads and records one file on the work thread: counted first (a file clerk keeps dying on
/// is set aside), read under a guard that notices a writer still adding to it.
fn read_and_record(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    claimed: &Claimed,
    recovered: bool,
) -> Result<Processed, WorkError> {
    // As the file is before it is read: a writer still adding to it is caught
    // before the commit (nothing kept) and after it (see `folders`).
    let before = ingest::fingerprint(&claimed.path).ok();
    // Counted before the work starts: a file clerk keeps dying on is set aside.
    let state = &config.settings.state_dir;
    let earlier = attempts::begin(state, &job.name, &claimed.name);
    if earlier >= attempts::SET_ASIDE_AFTER {
        let outcome = attempts::set_aside(config, store, job, claimed, earlier);
        // A busy store: set aside at the retry, which must still see the count.
        if !matches!(&outcome, Err(e) if e.is_transient()) {
            attempts::done(state, &job.name, &claimed.name);
        }
        return outcome.map(|o| Processed::Outcome(o, None));
    }
    let mut guarded = folders::ChangeGuard::new(store, &claimed.path, before);
    let outcome = pipeline::process_file(
        config,
        &mut guarded,
        job,
        claimed,
        Trigger::File,
        recovered,
        Utc::now,
    );
    attempts::done(state, &job.name, &claimed.name);
    if let Some(now) = guarded.changed() {
        return Ok(Processed::Changed(now));
    }
    let outcome = match outcome {
        // Not the file's fault and not going away by itself (a bug, a damaged
        // store): the file goes to failed/ for a human, and the failure is recorded
        // like any other so it raises an alert and shows in the summary.
        Err(e) if !e.is_transient() => {
            let message = format!("clerk could not process this file: {e}");
            error!(error = %e, "processing failed; the file goes to failed/ for a human");
            let work = pipeline::FileWork {
                config,
                job,
                claimed,
                trigger: Trigger::File,
                now: &Utc::now,
            };
            pipeline::record_failure(store, &work, "", 0, &message)
                .or(Ok(FileOutcome::Failed { run_id: 0, message }))
        }
        other => other,
    };
    // The failed files this one replaced: their breaks are closed, their copies go.
    if let Ok(FileOutcome::Processed { replaced: 1.., .. }) = &outcome {
        folders::put_away_replaced(
            &config.settings.failed_dir,
            store,
            &job.name,
            Some(&claimed.name),
        );
    }
    outcome.map(|o| Processed::Outcome(o, before))
}

/// A file of `job` whose outcome is recorded, to be put away; `before`: as it was just before
/// it was read, when that could be looked at.
struct Done {
    job: String,
    claimed: Claimed,
    outcome: FileOutcome,
    before: Option<ingest::Fingerprint>,
}

/// Puts a file away once its outcome is recorded: an imported file is held for its settle
/// time before it is archived; any other is moved now (and again later if that fails).
async fn put_away(
    shared: &Arc<Shared>,
    held: &mut folders::Held,
    config: &Arc<Config>,
    span: tracing::Span,
    done: Done,
) {
    let Done {
        job,
        claimed,
        outcome,
        before,
    } = done;
    let imported = !matches!(
        outcome,
        FileOutcome::Failed { .. }
            | FileOutcome::AlreadyRecorded {
                status: FileStatus::Failed,
                ..
            }
    );
    if let (true, Some(seen)) = (imported, before) {
        // Committed; archived once it has stayed as it was read for the settle time
        // (a writer that paused longer than that may still be adding to it).
        let hold = folders::hold_of(config, &job);
        held.hold(folders::HeldFile {
            job,
            claimed,
            seen,
            due: tokio::time::Instant::now() + hold,
            what: folders::HeldFor::Archive(outcome),
        });
        file_done(shared);
        return;
    }
    let cfg = config.clone();
    let moved = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let moved = finish_file(&cfg, &job, &claimed, &outcome);
        (moved, job, claimed, outcome)
    })
    .await;
    match moved {
        Ok((true, ..)) => {}
        // Recorded, but the archive or failed folder cannot be written (read-only,
        // full, a share gone): the move is tried again until it works.
        Ok((false, job, claimed, outcome)) => shared
            .unfinished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((job, claimed, outcome)),
        Err(e) => error!(error = %e, "moving the file panicked"),
    }
    file_done(shared);
}

/// Moves a file to where its outcome says, after the store has recorded that outcome. `false`
/// when it could not be moved: it stays in processing, its outcome recorded.
pub fn finish_file(config: &Config, job: &str, claimed: &Claimed, outcome: &FileOutcome) -> bool {
    let settings = &config.settings;
    let failed = |message: &str| match ingest::fail(claimed, &settings.failed_dir, job, message) {
        Ok(to) => {
            warn!(to = %to.display(), error = %message, "file could not be processed; moved to failed");
            true
        }
        Err(e) => {
            error!(folder = %settings.failed_dir.display(), error = %e, "could not move the file to failed/; it stays in processing for now");
            false
        }
    };
    let archived = |what: &str| match ingest::archive(
        claimed,
        &settings.archive_dir,
        job,
        Utc::now(),
    ) {
        Ok(to) => {
            info!(to = %to.display(), "{what}");
            true
        }
        Err(e) => {
            error!(folder = %settings.archive_dir.display(), error = %e, "could not archive the file; it stays in processing for now");
            false
        }
    };
    match outcome {
        FileOutcome::Processed {
            run_id, summary, ..
        } => archived(&format!("processed in run {run_id}: {summary}")),
        FileOutcome::Duplicate { run_id, original } => archived(&format!(
            "duplicate of file {original} (run {run_id}); nothing posted"
        )),
        FileOutcome::Failed { message, .. } => failed(message),
        FileOutcome::AlreadyRecorded { status, error } => match status {
            FileStatus::Failed => failed(error.as_deref().unwrap_or("see the store")),
            _ => archived("finished before the last stop; archived now"),
        },
    }
}
