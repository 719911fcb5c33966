//! A file's unit of work: the file read (whole, or in batches for a large CSV), checked,
//! stored and reconciled, and what a unit that failed leaves for the next one to trust.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::failure::{record_failure, refusal_text};
use super::file_run::{Ran, Started, finish_file_run, record_duplicate, scope_of, start_file};
use super::limits::{ReadError, WHOLE_READ_DIVISOR, read_limited};
use super::{FileOutcome, FileWork};
use crate::config::{Config, Job};
use crate::extract::{self, Extracted, Input};
use crate::ingest::Claimed;
use crate::jobs::WorkError;
use crate::reconcile::backlog::{BacklogSlot, GraceEnd};
use crate::store::{self, RunOutcome, Store, StoreError, Trigger, Unit};

/// Processes one claimed file for `job`. A failure of the store or of the work (the file's
/// bytes unreadable: not its content, which is refused) comes back as `Err` and leaves no
/// trace: the caller retries later, the file stays where it is. `recovered` marks a file found in the
/// processing folder at start-up, which may have been finished already.
pub fn process_file(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    claimed: &Claimed,
    trigger: Trigger,
    recovered: bool,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<FileOutcome, WorkError> {
    let work = FileWork {
        config,
        job,
        claimed,
        trigger,
        now: &now,
    };
    let Some(layout) = job.kind.layout() else {
        return Err(WorkError::ReadsNoFiles(job.name.clone()));
    };
    let (bytes, sha) = match read_limited(&claimed.path, config.settings.max_file_bytes) {
        Ok(b) => b,
        Err(e) => return not_read(store, &work, e),
    };
    let size = bytes.len() as u64;

    if recovered
        && let Some((status, error)) = store::in_read(store, |u| {
            u.last_file_outcome(&job.name, &sha, &claimed.name)
        })?
    {
        return Ok(FileOutcome::AlreadyRecorded { status, error });
    }

    // A quick look first, to skip reading a duplicate; the unit below checks again inside its
    // write transaction, where the answer cannot change underneath us.
    if let Some(original) = store::in_read(store, |u| u.processed_file(&job.name, &sha))? {
        let run_id = store::in_unit(store, |u| record_duplicate(u, &work, &sha, size, original))?;
        return Ok(FileOutcome::Duplicate { run_id, original });
    }

    // Ledger items and statement lines in a CSV: the jobs that take rows.
    let in_batches = crate::jobs::room(&job.kind).takes(crate::jobs::Holds::Rows)
        && extract::reads_in_batches(layout, &bytes);
    if let Some(message) = too_large_to_read_whole(config, claimed, &bytes, in_batches) {
        return record_failure(store, &work, &sha, size, &message);
    }

    let file_hash: Arc<str> = Arc::from(sha.as_str());
    let read_started = std::time::Instant::now();
    let input = Input {
        name: &claimed.name,
        bytes: &bytes,
        file_hash,
    };
    // A securities job reads its own side (book positions, the trade blotter) from CSV by
    // its own columns; everything else goes through the job's layout.
    let own = crate::jobs::read_own_side(job, &input);
    if own.is_none() && in_batches {
        let done = process_in_batches(store, &work, layout, &input, size);
        return after_commit(config, job, done);
    }
    let extracted = match read_whole(&work, layout, &input, own) {
        Ok(x) => x,
        Err(refusal) => return record_failure(store, &work, &sha, size, &refusal),
    };
    drop(bytes);
    let extract_ms = read_started.elapsed().as_millis() as u64;
    if let Err(refusal) =
        crate::jobs::documents::accepts(job, &config.jobs, &extracted, &claimed.name)
    {
        return record_failure(store, &work, &sha, size, &refusal);
    }

    let done = store::in_unit_as(store, |u| {
        store_file_read_whole(u, &work, &sha, size, extracted, extract_ms)
    });
    after_commit(config, job, done)
}

/// A file whose bytes could not be read: one over the file limit is set aside with its
/// failure recorded; an I/O error leaves it where it is, for the caller to retry.
fn not_read(
    store: &mut dyn Store,
    work: &FileWork<'_>,
    e: ReadError,
) -> Result<FileOutcome, WorkError> {
    let FileWork {
        config, claimed, ..
    } = work;
    match e {
        ReadError::TooLarge(size) => {
            let message = format!(
                "{}: the file is {} MB, more than the limit of {} MB (daemon.max_file_size_mb)",
                claimed.name,
                size / (1024 * 1024),
                config.settings.max_file_bytes / (1024 * 1024)
            );
            record_failure(store, work, "", 0, &message)
        }
        ReadError::Io(e) => Err(WorkError::Unreadable {
            file: claimed.path.clone(),
            message: e.to_string(),
        }),
    }
}

/// Why a file that is not read in batches is refused for its size: it is held whole in
/// memory, so it may be at most the file limit divided by [`WHOLE_READ_DIVISOR`].
fn too_large_to_read_whole(
    config: &Config,
    claimed: &Claimed,
    bytes: &[u8],
    in_batches: bool,
) -> Option<String> {
    let size = bytes.len() as u64;
    let whole_limit = config.settings.max_file_bytes / WHOLE_READ_DIVISOR;
    if in_batches || size <= whole_limit {
        return None;
    }
    let what = extract::recognise(bytes).map_or("a file", |f| f.describe());
    Some(format!(
        "{}: is {what} of {} MB; clerk reads such a file whole, which takes up to {WHOLE_READ_DIVISOR} times its size in memory, \
         so it takes them up to {} MB (daemon.max_file_size_mb / {WHOLE_READ_DIVISOR}); split it into smaller files, \
         or raise daemon.max_file_size_mb together with the service's MemoryMax (README, Operations, \"Large files and set-aside files\")",
        claimed.name,
        size.div_ceil(1024 * 1024),
        whole_limit / (1024 * 1024),
    ))
}

/// Reads a file held whole in memory, by the job's own reader (`own`, when it has one) or
/// its layout; a file it cannot read gives the refusal that sets it aside.
fn read_whole(
    work: &FileWork<'_>,
    layout: &extract::Layout,
    input: &Input,
    own: Option<Result<Extracted, extract::ExtractError>>,
) -> Result<Extracted, String> {
    // Rows sent to a job that maps no columns: say which jobs read rows. A job that reads its
    // own CSV side (securities, payables) gave its own error.
    let read_by_layout = own.is_none();
    match own.unwrap_or_else(|| extract::extract(layout, input)) {
        Ok(x) => Ok(x),
        Err(_)
            if read_by_layout
                && !layout.tabular
                && extract::recognise(input.bytes).is_some_and(|f| f.is_tabular()) =>
        {
            let format = extract::recognise(input.bytes).map_or("rows", |f| f.describe());
            Err(crate::jobs::documents::rows_refused(
                work.job,
                &work.config.jobs,
                &work.claimed.name,
                format,
            ))
        }
        Err(e) => Err(refusal_text(work.job, &e)),
    }
}

/// The unit of work of a file read whole: the file and its run recorded, what the job takes
/// from it stored (records, documents, the versions of records exported again), and the run
/// finished.
fn store_file_read_whole(
    u: &mut dyn Unit,
    work: &FileWork<'_>,
    sha: &str,
    size: u64,
    extracted: Extracted,
    extract_ms: u64,
) -> Result<FileOutcome, WorkError> {
    let FileWork {
        config,
        job,
        claimed,
        now,
        ..
    } = *work;
    let (file_id, run_id) = match start_file(u, work, sha, size)? {
        Started::Duplicate(d) => return Ok(d),
        Started::New { file_id, run_id } => (file_id, run_id),
    };
    let format = extracted.format;
    let today = now().with_timezone(&config.settings.timezone).date_naive();
    let run = crate::jobs::documents::FileRun {
        job,
        run_id,
        file_id,
        file: &claimed.name,
        today,
        at: now(),
    };
    let taken = crate::jobs::documents::take(u, &run, extracted)?;
    let added = u.add_records(scope_of(job), file_id, &taken.records)?;
    let repeated = crate::jobs::documents::lines_seen_before(u, &run, &taken, added.known)?;
    let offered = crate::jobs::statements::offer(u, &run, &config.jobs, format.as_str(), &taken)?;
    let versions = crate::jobs::versions::take(u, config, job, run_id, &added.changed, now())?;
    let outcome = RunOutcome {
        format: Some(format.as_str().to_string()),
        records_in: taken.records.len() as u64 + taken.documents.inserted + taken.documents.known,
        records_known: added.known + taken.documents.known,
        records_changed: versions.changed,
        records_withdrawn: versions.withdrawn,
        breaks_opened: taken.breaks_opened + repeated + versions.of(&job.name).opened,
        breaks_closed: versions.of(&job.name).closed,
        extract_ms: Some(extract_ms),
        ..Default::default()
    };
    drop(taken);
    let ran = Ran {
        versions: &versions,
        offered: &offered,
    };
    finish_file_run(u, work, (file_id, run_id), outcome, ran, today)
}

/// A processed file's unit ran the reconciliations; a duplicate's did not. One that failed
/// may have left what its runs held back unknown: the daemon looks again.
fn after_commit(
    config: &Config,
    job: &Job,
    done: Result<FileOutcome, WorkError>,
) -> Result<FileOutcome, WorkError> {
    match &done {
        Ok(FileOutcome::Processed { .. }) => backlogs_committed(config, job),
        Ok(_) => {}
        Err(_) => {
            for slot in backlogs_of(config, job) {
                slot.set_grace_end(GraceEnd::Unknown);
            }
        }
    }
    done
}

/// The unit of work of a file of `job` committed: the backlogs of the reconciliations it ran
/// (the job's own, or those of the book a ledger import fed) may be trusted by the next one
/// (see [`crate::reconcile::backlog::BacklogSlot`]). Only those: another job's backlog may
/// be left over from a unit that failed.
fn backlogs_committed(config: &Config, job: &Job) {
    for slot in backlogs_of(config, job) {
        slot.committed();
    }
}

/// The backlogs of the reconciliations a file of `job` runs: the job's own, or those of the
/// book a ledger import feeds.
fn backlogs_of<'c>(config: &'c Config, job: &'c Job) -> Vec<&'c BacklogSlot> {
    crate::jobs::cash::fed_by(&config.jobs, job)
        .into_iter()
        .filter_map(|j| crate::jobs::cash::rules_of(j).map(|r| &r.backlog))
        .collect()
}

/// A CSV file of a ledger import or a cash reconciliation, read and stored in batches inside
/// one unit of work: memory holds the file's bytes and one batch of records, not every record
/// (a 500 MB ledger is six million records). A bad row found after batches were stored gives
/// the unit up (it rolls back: nothing half-imported, [`WorkError::Refused`]) and the
/// failure is recorded on its own.
fn process_in_batches(
    store: &mut dyn Store,
    work: &FileWork<'_>,
    layout: &extract::Layout,
    input: &Input,
    size: u64,
) -> Result<FileOutcome, WorkError> {
    let FileWork {
        config, job, now, ..
    } = *work;
    let sha = input.file_hash.to_string();
    let done = store::in_unit_as(store, |u| {
        let (file_id, run_id) = match start_file(u, work, &sha, size)? {
            Started::Duplicate(d) => return Ok(d),
            Started::New { file_id, run_id } => (file_id, run_id),
        };
        let started = std::time::Instant::now();
        let scope = scope_of(job);
        let mut known = 0;
        let mut versions = crate::jobs::versions::Versions::default();
        let read = extract::read_in_batches(layout, input, &|_, _| {}, |batch| {
            let added = u.add_records(scope, file_id, batch)?;
            known += added.known;
            versions.add(crate::jobs::versions::take(
                u,
                config,
                job,
                run_id,
                &added.changed,
                now(),
            )?);
            Ok::<(), StoreError>(())
        })?;
        let read = match read {
            Ok(r) => r,
            Err(e) => return Err(WorkError::Refused(refusal_text(job, &e))),
        };
        let outcome = RunOutcome {
            format: Some(read.format.as_str().to_string()),
            records_in: read.records,
            records_known: known,
            records_changed: versions.changed,
            records_withdrawn: versions.withdrawn,
            breaks_opened: versions.of(&job.name).opened,
            breaks_closed: versions.of(&job.name).closed,
            // Reading and storing are one step here.
            extract_ms: Some(started.elapsed().as_millis() as u64),
            ..Default::default()
        };
        let today = now().with_timezone(&config.settings.timezone).date_naive();
        let ran = Ran {
            versions: &versions,
            offered: &[],
        };
        finish_file_run(u, work, (file_id, run_id), outcome, ran, today)
    });
    match done {
        Err(WorkError::Refused(message)) => record_failure(store, work, &sha, size, &message),
        done => done,
    }
}
