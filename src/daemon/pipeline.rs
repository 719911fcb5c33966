//! One unit of work: a file through extract → reconcile → post, written to the store in one
//! transaction. Synchronous on purpose: it runs on a blocking thread, one at a time, and a
//! crash anywhere inside leaves the store as it was before (the transaction rolls back) and the
//! file in the processing folder, where start-up finds it again.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::incremental::{Applied, Prepared};
use crate::config::{Config, Job, JobKind};
use crate::digest::to_hex;
use crate::extract::{self, Input};
use crate::ingest::Claimed;
use crate::model::{BreakReason, MatchPass, Record, Side, StoredRecord};
use crate::notify;
use crate::post::entry_for_match;
use crate::reconcile::backlog::{BacklogSlot, GraceEnd};
use crate::reconcile::cash::Sides;
use crate::reconcile::reconcile_cash;
use crate::store::{
    self, FileStatus, JobSides, NewBreak, NewFile, NewMail, NewMatch, Posted, RunOutcome,
    RunStatus, Store, StoreError, Trigger, Unit,
};
use std::collections::HashSet;

/// A file that is not read in batches (every format but the CSV of a ledger import or a cash
/// reconciliation: spreadsheets, XML and SWIFT statements, invoices, the CSVs of securities
/// and payables) is held whole in memory with everything read from it, which takes up to
/// about this many times its size (README, Operations, "Large files and set-aside files").
/// Such files are limited to `daemon.max_file_size_mb` divided by this, so the largest of
/// them needs no more memory than the largest CSV.
pub const WHOLE_READ_DIVISOR: u64 = 16;

/// The most one file costs in memory, as a multiple of its size plus a constant, measured by
/// `cargo bench --bench memory` (README, Measuring): a CSV read in batches holds its bytes and
/// one batch of records; a file read whole (at most a [`WHOLE_READ_DIVISOR`]th of the file
/// limit) up to [`WHOLE_READ_FACTOR`] times its size.
pub const MEMORY_PER_FILE: (u64, u64) = (2, 256 * 1024 * 1024);

/// Memory of a file read whole, as a multiple of its size: measured up to about 17 for a
/// camt.053 of small entries (README, Operations).
pub const WHOLE_READ_FACTOR: u64 = 20;

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

/// Processes one claimed file for `job`. Store errors come back as `Err` and leave no trace:
/// the caller retries later, the file stays where it is. `recovered` marks a file found in the
/// processing folder at start-up, which may have been finished already.
pub fn process_file(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    claimed: &Claimed,
    trigger: Trigger,
    recovered: bool,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<FileOutcome, StoreError> {
    let layout = match job.kind.layout() {
        Some(l) => l,
        None => {
            return Err(StoreError::Other(format!(
                "job {} does not read files",
                job.name
            )));
        }
    };
    let (bytes, sha) = match read_limited(&claimed.path, config.settings.max_file_bytes) {
        Ok(b) => b,
        Err(ReadError::TooLarge(size)) => {
            let message = format!(
                "{}: the file is {} MB, more than the limit of {} MB (daemon.max_file_size_mb)",
                claimed.name,
                size / (1024 * 1024),
                config.settings.max_file_bytes / (1024 * 1024)
            );
            return record_failure(config, store, job, claimed, "", 0, &message, trigger, &now);
        }
        Err(ReadError::Io(e)) => {
            return Err(StoreError::Other(format!(
                "cannot read {}: {e}",
                claimed.path.display()
            )));
        }
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
        let run_id = store::in_unit(store, |u| {
            record_duplicate(u, job, claimed, &sha, size, original, trigger, &now)
        })?;
        return Ok(FileOutcome::Duplicate { run_id, original });
    }

    // Ledger items and statement lines in a CSV: the jobs that take rows.
    let in_batches = crate::jobs::room(&job.kind).takes(crate::jobs::Holds::Rows)
        && extract::reads_in_batches(layout, &bytes);
    let whole_limit = config.settings.max_file_bytes / WHOLE_READ_DIVISOR;
    if !in_batches && size > whole_limit {
        let what = extract::recognise(&bytes).map_or("a file", |f| f.describe());
        let message = format!(
            "{}: is {what} of {} MB; clerk reads such a file whole, which takes up to {WHOLE_READ_DIVISOR} times its size in memory, \
             so it takes them up to {} MB (daemon.max_file_size_mb / {WHOLE_READ_DIVISOR}); split it into smaller files, \
             or raise daemon.max_file_size_mb together with the service's MemoryMax (README, Operations, \"Large files and set-aside files\")",
            claimed.name,
            size.div_ceil(1024 * 1024),
            whole_limit / (1024 * 1024),
        );
        return record_failure(
            config, store, job, claimed, &sha, size, &message, trigger, &now,
        );
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
        let done = process_in_batches(
            config, store, job, claimed, layout, &input, size, trigger, &now,
        );
        return after_commit(config, job, done);
    }
    // Rows sent to a job that maps no columns: say which jobs read rows. A job that reads its
    // own CSV side (securities, payables) gave its own error.
    let read_by_layout = own.is_none();
    let extracted = match own.unwrap_or_else(|| extract::extract(layout, &input)) {
        Ok(x) => x,
        Err(_)
            if read_by_layout
                && !layout.tabular
                && extract::recognise(&bytes).is_some_and(|f| f.is_tabular()) =>
        {
            let format = extract::recognise(&bytes).map_or("rows", |f| f.describe());
            let refusal = super::documents::rows_refused(job, &config.jobs, &claimed.name, format);
            return record_failure(
                config, store, job, claimed, &sha, size, &refusal, trigger, &now,
            );
        }
        Err(e) => {
            return record_failure(
                config,
                store,
                job,
                claimed,
                &sha,
                size,
                &refusal_text(job, &e),
                trigger,
                &now,
            );
        }
    };
    drop(bytes);
    let extract_ms = read_started.elapsed().as_millis() as u64;
    if let Err(refusal) = super::documents::accepts(job, &config.jobs, &extracted, &claimed.name) {
        return record_failure(
            config, store, job, claimed, &sha, size, &refusal, trigger, &now,
        );
    }

    let done = store::in_unit(store, |u| {
        let (file_id, run_id) = match start_file(u, job, claimed, &sha, size, trigger, &now)? {
            Started::Duplicate(d) => return Ok(d),
            Started::New { file_id, run_id } => (file_id, run_id),
        };
        let format = extracted.format;
        let today = now().with_timezone(&config.settings.timezone).date_naive();
        let taken = super::documents::take(
            u,
            job,
            run_id,
            file_id,
            &claimed.name,
            extracted,
            today,
            now(),
        )?;
        let added = u.add_records(scope_of(job), file_id, &taken.records)?;
        let versions = super::versions::take(u, config, job, run_id, &added.changed, now())?;
        let outcome = RunOutcome {
            format: Some(format.as_str().to_string()),
            records_in: taken.records.len() as u64
                + taken.documents.inserted
                + taken.documents.known,
            records_known: added.known + taken.documents.known,
            records_changed: versions.changed,
            records_withdrawn: versions.withdrawn,
            breaks_opened: taken.breaks_opened + versions.of(&job.name).opened,
            breaks_closed: versions.of(&job.name).closed,
            extract_ms: Some(extract_ms),
            ..Default::default()
        };
        drop(taken);
        finish_file_run(
            u, config, job, claimed, file_id, run_id, outcome, &versions, today, &now,
        )
    });
    after_commit(config, job, done)
}

/// A processed file's unit ran the reconciliations; a duplicate's did not. One that failed
/// may have left what its runs held back unknown: the daemon looks again.
fn after_commit(
    config: &Config,
    job: &Job,
    done: Result<FileOutcome, StoreError>,
) -> Result<FileOutcome, StoreError> {
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

/// What the start of a file's unit of work found.
enum Started {
    /// The same content was taken meanwhile (another process): recorded as a duplicate.
    Duplicate(FileOutcome),
    New {
        file_id: i64,
        run_id: i64,
    },
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
        .filter_map(|j| match &j.kind {
            JobKind::CashReconciliation { rules, .. } => Some(&rules.backlog),
            _ => None,
        })
        .collect()
}

/// Records the file and starts its run, inside the file's unit of work.
#[allow(clippy::too_many_arguments)]
fn start_file(
    u: &mut dyn Unit,
    job: &Job,
    claimed: &Claimed,
    sha: &str,
    size: u64,
    trigger: Trigger,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Started, StoreError> {
    if let Some(original) = u.processed_file(&job.name, sha)? {
        // Another process (a `clerk job run` beside the daemon) took the same content
        // while this one was reading it.
        let run_id = record_duplicate(u, job, claimed, sha, size, original, trigger, now)?;
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

/// Where a job's records are stored: a ledger import's book, else the job itself.
fn scope_of(job: &Job) -> &str {
    match &job.kind {
        JobKind::LedgerImport { book, .. } => book.as_str(),
        _ => job.name.as_str(),
    }
}

/// Why a unit of work read in batches was given up: the file has a problem. Never seen
/// outside [`process_in_batches`], which records the failure in a unit of its own.
const REFUSED_IN_BATCHES: &str = "the file was refused while it was read in batches";

/// A CSV file of a ledger import or a cash reconciliation, read and stored in batches inside
/// one unit of work: memory holds the file's bytes and one batch of records, not every record
/// (a 500 MB ledger is six million records). A bad row found after batches were stored gives
/// the unit up (it rolls back: nothing half-imported) and the failure is recorded on its own.
#[allow(clippy::too_many_arguments)]
fn process_in_batches(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    claimed: &Claimed,
    layout: &extract::Layout,
    input: &Input,
    size: u64,
    trigger: Trigger,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<FileOutcome, StoreError> {
    let sha = input.file_hash.to_string();
    let mut refused: Option<String> = None;
    let done = store::in_unit(store, |u| {
        let (file_id, run_id) = match start_file(u, job, claimed, &sha, size, trigger, now)? {
            Started::Duplicate(d) => return Ok(d),
            Started::New { file_id, run_id } => (file_id, run_id),
        };
        let started = std::time::Instant::now();
        let scope = scope_of(job);
        let mut known = 0;
        let mut versions = super::versions::Versions::default();
        let read = extract::read_in_batches(layout, input, &|_, _| {}, |batch| {
            let added = u.add_records(scope, file_id, batch)?;
            known += added.known;
            versions.add(super::versions::take(
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
            Err(e) => {
                refused = Some(refusal_text(job, &e));
                return Err(StoreError::Other(REFUSED_IN_BATCHES.into()));
            }
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
        finish_file_run(
            u, config, job, claimed, file_id, run_id, outcome, &versions, today, now,
        )
    });
    match (done, refused) {
        (Err(_), Some(message)) => record_failure(
            config, store, job, claimed, &sha, size, &message, trigger, now,
        ),
        (done, _) => done,
    }
}

/// The rest of a file's unit once its records are stored: the job's reconciliation, and the
/// run finished with its counts.
#[allow(clippy::too_many_arguments)]
fn finish_file_run(
    u: &mut dyn Unit,
    config: &Config,
    job: &Job,
    claimed: &Claimed,
    file_id: i64,
    run_id: i64,
    mut outcome: RunOutcome,
    versions: &super::versions::Versions,
    today: chrono::NaiveDate,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<FileOutcome, StoreError> {
    let match_started = std::time::Instant::now();
    match &job.kind {
        JobKind::CashReconciliation { .. } => {
            let r = reconcile_job(u, job, run_id, now, Hold::of(job))?;
            outcome.add(&r);
        }
        JobKind::LedgerImport { .. } => {
            // The new items may be what yesterday's statement lines were waiting for.
            for other in crate::jobs::cash::fed_by(&config.jobs, job) {
                let rerun = u.start_run(&other.name, Trigger::Rematch, Some(file_id), now())?;
                // The matches count for the reconciliation job's run, not the import's.
                let mut own = reconcile_job(u, other, rerun, now, Hold::of(other))?;
                // Breaks about the import's corrected items are the reconciliation's.
                let corrections = versions.of(&other.name);
                own.breaks_opened += corrections.opened;
                own.breaks_closed += corrections.closed;
                own.status = Some(RunStatus::Ok);
                own.finished_at = Some(now());
                u.finish_run(rerun, &own)?;
            }
        }
        JobKind::PositionReconciliation { .. } => {
            let r = crate::jobs::positions::reconcile_positions_job(u, job, run_id, now())?;
            outcome.add(&r);
        }
        JobKind::TradeSettlement { .. } => {
            let r =
                crate::jobs::settlement::reconcile_settlement_job(u, job, run_id, today, now())?;
            outcome.add(&r);
        }
        JobKind::AccountsPayable { .. } => {
            let r = crate::jobs::payables::reconcile_payables_job(u, job, run_id, file_id, now())?;
            outcome.add(&r);
        }
        JobKind::CustodyImport { .. } | JobKind::InvoiceImport { .. } | JobKind::Summary { .. } => {
        }
    }
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

#[allow(clippy::too_many_arguments)]
fn record_duplicate(
    u: &mut dyn Unit,
    job: &Job,
    claimed: &Claimed,
    sha: &str,
    size: u64,
    original: i64,
    trigger: Trigger,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<i64, StoreError> {
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

/// How long a run holds unmatched items back from being breaks: while their counterpart can
/// still come in the same batch (a ledger export and the statement that pays it, dropped
/// seconds apart), an item younger than the job's grace period, counted from when its record
/// was recorded ([`Unit::file_recorded_at`]), is pending: no break, not in `clerk exceptions`,
/// not in the KPIs. A later run (the next file, or the daemon waking when the grace ends:
/// [`reconcile_due`]) makes it a break if it is still unmatched. Pending items are what the
/// store shows (open, no break), so a restart finds them again.
#[derive(Clone, Copy, Debug)]
pub struct Hold {
    pub grace: chrono::Duration,
    /// Items recorded at or after this have no grace period: their batch is complete (the
    /// end of a `clerk job run`, after which nothing of the batch comes).
    pub complete_from: Option<DateTime<Utc>>,
}

impl Hold {
    /// The job's grace period, as configured.
    pub fn of(job: &Job) -> Hold {
        Hold {
            grace: chrono::Duration::from_std(job.break_grace()).unwrap_or(chrono::Duration::MAX),
            complete_from: None,
        }
    }

    /// Until when an item recorded at `recorded` is held back at `at`; `None` once it is not.
    fn until(&self, recorded: Option<DateTime<Utc>>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let recorded = recorded?;
        if self.complete_from.is_some_and(|t| recorded >= t) {
            return None;
        }
        // A grace period beyond the calendar holds the item back for good.
        let until = recorded
            .checked_add_signed(self.grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (until > at).then_some(until)
    }

    /// Whether an item held back until `until` is no longer held back at `at`.
    fn ended(&self, until: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        until <= at
            || self
                .complete_from
                .is_some_and(|t| until.checked_sub_signed(self.grace).is_none_or(|r| r >= t))
    }

    /// When the break of an item recorded at `recorded` and opened at `at` dates from: when it
    /// would have opened without the grace period, as far as that can be told. Clerk holds an
    /// item back at most the grace period, so its break is never older than `at` minus that,
    /// nor older than its record; a held-back item's break then dates from when its record
    /// came, and its age and the KPIs count the time it was really unmatched.
    fn opened_at(&self, recorded: Option<DateTime<Utc>>, at: DateTime<Utc>) -> DateTime<Utc> {
        let earliest = at
            .checked_sub_signed(self.grace)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        recorded.map_or(at, |r| r.max(earliest)).min(at)
    }
}

/// Matches the open statement lines of a cash reconciliation job against the open ledger items
/// of its book, posts every match, closes the breaks of matched records and opens breaks for
/// what is still unmatched and due, holding back what is younger than `hold` allows.
///
/// A run goes over the items that what changed since the last run touches (new records,
/// matches made elsewhere, breaks worked, items falling due), found by key in the job's
/// backlog, when the rules allow it and the backlog is known to be up to date; otherwise,
/// and then the backlog is built again, over all open items (see [`super::incremental`]).
/// Both give the same matches, entries and breaks.
pub fn reconcile_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    now: &dyn Fn() -> DateTime<Utc>,
    hold: Hold,
) -> Result<RunOutcome, StoreError> {
    let JobKind::CashReconciliation {
        book,
        account,
        rules,
        calendar,
        ..
    } = &job.kind
    else {
        return Ok(RunOutcome::default());
    };
    let sides = JobSides {
        book,
        account: account.as_deref(),
        job: &job.name,
    };
    let mut kept = rules.backlog.lock();
    let backlog = kept.take();
    // Until the run is done: a unit that fails leaves it so.
    kept.grace_end = GraceEnd::Unknown;
    let at = now();
    let full_only = rules.blocking.full_runs_only();
    if let Some(why) = full_only {
        tracing::debug!(job = %job.name, why, "matching over all open items");
    } else if backlog.is_none() {
        tracing::debug!(job = %job.name, "matching over all open items: filing them by key");
    }
    if let Some(backlog) = backlog.filter(|_| full_only.is_none()) {
        let grace_ended = |until| hold.ended(until, at);
        match super::incremental::prepare(u, sides, rules, calendar, backlog, &grace_ended)? {
            Prepared::Nothing(backlog) => {
                kept.grace_end = GraceEnd::of(backlog.next_grace_end());
                kept.keep(*backlog);
                kept.runs.by_key += 1;
                kept.runs.last_items = 0;
                return Ok(RunOutcome::default());
            }
            Prepared::Run(run) => {
                kept.runs.by_key += 1;
                kept.runs.last_items = run.ledger.len() + run.statement.len();
                let (out, applied) = apply(
                    u,
                    job,
                    run_id,
                    at,
                    hold,
                    &run.ledger,
                    &run.statement,
                    &run.result,
                    &run.with_break,
                )?;
                match run.finish(u, rules, &applied)? {
                    Some(backlog) => {
                        kept.grace_end = GraceEnd::of(backlog.next_grace_end());
                        kept.keep(backlog);
                    }
                    // The next run goes over everything and finds what is held back; the
                    // daemon looks at once.
                    None => kept.grace_end = GraceEnd::Unknown,
                }
                return Ok(out);
            }
            Prepared::Full(why) => {
                tracing::debug!(job = %job.name, why, "matching over all open items");
            }
        }
    }
    let ledger = u.open_records(book, Side::Ledger, account.as_deref())?;
    let statement = u.open_records(&job.name, Side::Statement, None)?;
    kept.runs.full += 1;
    kept.runs.last_items = ledger.len() + statement.len();
    let tables = Sides::of(&ledger, &statement, (0, 0));
    let result = match &tables {
        Ok(t) => t.reconcile(rules),
        // Says why, with every item left open.
        Err(_) => reconcile_cash(&ledger, &statement, rules),
    };
    let with_break = u.records_with_open_breaks(&job.name)?;
    let (out, applied) = apply(
        u,
        job,
        run_id,
        at,
        hold,
        &ledger,
        &statement,
        &result,
        &with_break,
    )?;
    // A run over everything saw every held-back item.
    kept.grace_end = GraceEnd::of(applied.pending.values().min().copied());
    if let Ok(tables) = &tables
        && full_only.is_none()
        && !result.cut_short
    {
        let backlog = super::incremental::build(
            u,
            rules,
            &ledger,
            &statement,
            tables,
            &result,
            &applied,
            &with_break,
        )?;
        kept.keep(backlog);
    }
    Ok(out)
}

/// Why a look at held-back items that changed nothing is rolled back; never seen outside
/// [`reconcile_due`].
const NOTHING_DUE: &str = "no held-back item came to the end of its grace period";

/// Looks again at the items of cash reconciliation `job` held back from being breaks whose
/// grace period has ended by now (a run by key covers them as items falling due; a run over
/// everything, when the job's backlog is not trusted, finds them all): those still unmatched
/// become breaks. In a unit of work of its own, with no file. A look that changes nothing
/// (the daemon's first look after a start or reload, or a counterpart that came meanwhile)
/// leaves no run behind: its unit rolls back, and since it wrote nothing a run depends on,
/// the job's backlog and the time of its next grace end stay trusted.
///
/// The run and what it did, or `None` when it changed nothing.
pub fn reconcile_due(
    store: &mut dyn Store,
    job: &Job,
    hold: Hold,
    trigger: Trigger,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Option<(i64, RunOutcome)>, StoreError> {
    let JobKind::CashReconciliation { rules, .. } = &job.kind else {
        return Ok(None);
    };
    let mut nothing = false;
    let done = store::in_unit(store, |u| {
        let run_id = u.start_run(&job.name, trigger, None, now())?;
        let mut out = reconcile_job(u, job, run_id, now, hold)?;
        if out.matched + out.entries_posted + out.breaks_opened + out.breaks_closed == 0 {
            nothing = true;
            return Err(StoreError::Other(NOTHING_DUE.into()));
        }
        out.status = Some(RunStatus::Ok);
        out.finished_at = Some(now());
        u.finish_run(run_id, &out)?;
        Ok((run_id, out))
    });
    match done {
        Ok(ran) => {
            rules.backlog.committed();
            Ok(Some(ran))
        }
        Err(_) if nothing => {
            rules.backlog.committed();
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Posts a run's matches over `ledger` and `statement`, closes the breaks of what matched,
/// opens breaks for what is left and due unless `hold` holds it back; `with_break` are the
/// records among them that have an unresolved break of the job already.
#[allow(clippy::too_many_arguments)]
fn apply(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    at: DateTime<Utc>,
    hold: Hold,
    ledger: &[StoredRecord],
    statement: &[StoredRecord],
    result: &crate::reconcile::Outcome,
    with_break: &HashSet<i64>,
) -> Result<(RunOutcome, Applied), StoreError> {
    let JobKind::CashReconciliation {
        rules,
        posting,
        calendar,
        ..
    } = &job.kind
    else {
        return Ok((RunOutcome::default(), Applied::default()));
    };
    let mut out = RunOutcome::default();
    let mut applied = Applied::default();
    for w in &result.warnings {
        tracing::warn!(job = %job.name, "{w}");
    }
    let mut names = FileNames::default();
    for m in &result.matches {
        let l: Vec<&Record> = m.ledger.iter().map(|&i| &ledger[i].record).collect();
        let s: Vec<&Record> = m.statement.iter().map(|&i| &statement[i].record).collect();
        let ids: Vec<i64> = m
            .ledger
            .iter()
            .map(|&i| ledger[i].id)
            .chain(m.statement.iter().map(|&i| statement[i].id))
            .collect();
        match entry_for_match(&job.name, posting, m.pass, &l, &s) {
            Ok(entry) => match u.post_match(&NewMatch {
                job: &job.name,
                run_id,
                pass: m.pass,
                record_ids: &ids,
                entry: &entry,
                at,
                explanation: m.explanation.as_deref(),
                actor: None,
                reason: None,
            })? {
                Posted::Posted { .. } => {
                    applied.posted.extend(ids.iter().copied());
                    out.matched += ids.len() as u64;
                    out.entries_posted += 1;
                    let how = format!(
                        "matched automatically ({}) in run {run_id}: {}",
                        pass_words(m.pass),
                        describe_match(&l, &s)
                    );
                    out.breaks_closed += u.close_breaks_of_records(&ids, &how, run_id, at)?;
                }
                Posted::AlreadyPosted => {
                    tracing::error!(job = %job.name, key = %entry.idempotency_key,
                        "entry already posted while its records were open; not posting again");
                }
            },
            Err(refused) => {
                let line = &statement[m.statement[0]];
                let detail = format!("{}: {refused}", describe_match(&l, &s));
                let source = names.source_of(u, &line.record)?;
                if u.open_break(&NewBreak {
                    job: &job.name,
                    run_id,
                    reason: BreakReason::Unbalanced,
                    detail: &detail,
                    amount: Some(line.record.amount),
                    currency: Some(line.record.currency),
                    difference: None,
                    since: line.record.value_date,
                    owner: job.owner.as_deref(),
                    record_id: Some(line.id),
                    source: Some(&source),
                    at,
                    subject: None,
                })?
                .is_some()
                {
                    out.breaks_opened += 1;
                }
            }
        }
    }

    // Items still open from earlier runs mostly have their break already; their words are
    // not built again (a backlog of thousands must not make every run slower).
    for (k, &i) in result.unmatched_statement.iter().enumerate() {
        let r = &statement[i];
        if with_break.contains(&r.id) {
            continue;
        }
        let recorded = names.recorded_at(u, &r.record)?;
        if let Some(until) = hold.until(recorded, at) {
            applied.pending.insert(r.id, until);
            continue;
        }
        let (reason, why) = unmatched_why(
            result.statement_why.get(k),
            BreakReason::MissingInLedger,
            "no open ledger item matches",
            |row| display_id(&ledger[row].record),
        );
        let detail = format!(
            "bank line {} of {} {} value {}{}: {why}",
            display_id(&r.record),
            r.record.amount,
            r.record.currency,
            r.record.value_date,
            r.record
                .remittance
                .as_deref()
                .map(|t| format!(" \"{}\"", truncate(t, 80)))
                .unwrap_or_default()
        );
        let source = names.source_of(u, &r.record)?;
        let opened = hold.opened_at(recorded, at);
        out.breaks_opened +=
            open_record_break(u, job, run_id, r, reason, &detail, &source, opened)?;
    }

    // A ledger item is missing from the bank only once the bank has reported days past its
    // value date plus the window; before that it is simply not due yet.
    if let Some(latest) = u.latest_value_date(&job.name, Side::Statement)? {
        for (k, &i) in result.unmatched_ledger.iter().enumerate() {
            let r = &ledger[i];
            if with_break.contains(&r.id)
                || calendar.business_days_between(r.record.value_date, latest) <= rules.window_days
            {
                continue;
            }
            let recorded = names.recorded_at(u, &r.record)?;
            if let Some(until) = hold.until(recorded, at) {
                applied.pending.insert(r.id, until);
                continue;
            }
            let (reason, why) = unmatched_why(
                result.ledger_why.get(k),
                BreakReason::MissingOnStatement,
                &format!("not on any bank statement up to {latest}"),
                |row| display_id(&statement[row].record),
            );
            let detail = format!(
                "ledger item {} {}of {} {} value {}{}: {why}",
                display_id(&r.record),
                r.record
                    .reference
                    .as_deref()
                    .map(|x| format!("({x}) "))
                    .unwrap_or_default(),
                r.record.amount,
                r.record.currency,
                r.record.value_date,
                r.record
                    .counterparty
                    .as_deref()
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default()
            );
            let source = names.source_of(u, &r.record)?;
            applied.due_tried.insert(r.id);
            let opened = hold.opened_at(recorded, at);
            out.breaks_opened +=
                open_record_break(u, job, run_id, r, reason, &detail, &source, opened)?;
        }
    }
    Ok((out, applied))
}

/// The break reason and the words for an unmatched record, from the matcher's reason: a
/// counterpart that agreed on all but the amount or the date is named, with the difference.
fn unmatched_why(
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

#[allow(clippy::too_many_arguments)]
fn open_record_break(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    r: &StoredRecord,
    reason: BreakReason,
    detail: &str,
    source: &str,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(u.open_break(&NewBreak {
        job: &job.name,
        run_id,
        reason,
        detail,
        amount: Some(r.record.amount),
        currency: Some(r.record.currency),
        difference: None,
        since: r.record.value_date,
        owner: job.owner.as_deref(),
        record_id: Some(r.id),
        source: Some(source),
        at,
        subject: None,
    })?
    .map_or(0, |_| 1))
}

/// Names records' files as staff know them ("ledger.csv line 12", not a hash), and when they
/// were recorded, asking the store once per file.
#[derive(Default)]
struct FileNames {
    names: std::collections::HashMap<Arc<str>, String>,
    recorded: std::collections::HashMap<Arc<str>, Option<DateTime<Utc>>>,
}

impl FileNames {
    fn recorded_at(
        &mut self,
        u: &mut dyn Unit,
        r: &Record,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if let Some(&at) = self.recorded.get(&r.source.file) {
            return Ok(at);
        }
        let at = u.file_recorded_at(&r.source.file)?;
        self.recorded.insert(r.source.file.clone(), at);
        Ok(at)
    }

    fn source_of(&mut self, u: &mut dyn Unit, r: &Record) -> Result<String, StoreError> {
        let name = match self.names.get(&r.source.file) {
            Some(n) => n.clone(),
            None => {
                let n = u.file_name(&r.source.file)?.unwrap_or_else(|| {
                    format!("file {}…", &r.source.file[..r.source.file.len().min(12)])
                });
                self.names.insert(r.source.file.clone(), n.clone());
                n
            }
        };
        Ok(super::subjects::in_file(&name, &r.source))
    }
}

fn display_id(r: &Record) -> String {
    if r.external_id.is_empty() {
        format!("(line {})", r.source.row)
    } else {
        r.external_id.clone()
    }
}

fn describe_match(l: &[&Record], s: &[&Record]) -> String {
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

/// Records a file that could not be read: the file row, a failed run, an `unreadable` break,
/// and an alert to the people named in `mail.alerts_to`, all in one transaction.
#[allow(clippy::too_many_arguments)]
pub fn record_failure(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    claimed: &Claimed,
    sha: &str,
    size: u64,
    message: &str,
    trigger: Trigger,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<FileOutcome, StoreError> {
    // A mailed file's break and alert say which mail it came with.
    let message = match &claimed.origin {
        Some(o) => format!("{message} (attachment of {})", o.describe()),
        None => message.to_string(),
    };
    store::in_unit(store, |u| {
        let failed = FailedFile {
            job,
            claimed,
            sha,
            size,
            message: &message,
            reason: BreakReason::Unreadable,
            trigger,
            records_attachment: true,
        };
        let run_id = record_failed_file(u, config, &failed, now())?;
        Ok(FileOutcome::Failed {
            run_id,
            message: message.clone(),
        })
    })
}

/// A file set aside to failed/, as the store records it.
pub(super) struct FailedFile<'a> {
    pub job: &'a Job,
    pub claimed: &'a Claimed,
    pub sha: &'a str,
    pub size: u64,
    /// What went wrong, as the break, the alert and the run's error say it.
    pub message: &'a str,
    pub reason: BreakReason,
    pub trigger: Trigger,
    /// Whether the mail attachment the file came as (if any) is recorded with it: not when
    /// an earlier unit of the same file did so already.
    pub records_attachment: bool,
}

/// Records `f` in the caller's transaction: the file row (and the mail attachment it came as),
/// a failed run, a break with `f.reason`, an alert. Returns the run.
pub(super) fn record_failed_file(
    u: &mut dyn Unit,
    config: &Config,
    f: &FailedFile<'_>,
    at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let job = f.job;
    let file_id = u.add_file(&NewFile {
        job: &job.name,
        sha256: f.sha,
        name: &f.claimed.name,
        size: f.size,
        arrived_at: f.claimed.arrived_at,
        status: FileStatus::Failed,
        error: Some(f.message),
        duplicate_of: None,
    })?;
    if let Some(o) = f.claimed.origin.as_ref().filter(|_| f.records_attachment) {
        u.add_mail_attachment(o, f.sha, &job.name, Some(file_id))?;
    }
    let run_id = u.start_run(&job.name, f.trigger, Some(file_id), at)?;
    tracing::Span::current().record("run", run_id);
    let detail = format!("moved to failed/{}: {}", job.name, f.message);
    u.open_break(&NewBreak {
        job: &job.name,
        run_id,
        reason: f.reason,
        detail: &detail,
        amount: None,
        currency: None,
        difference: None,
        since: at.with_timezone(&config.settings.timezone).date_naive(),
        owner: job.owner.as_deref(),
        record_id: None,
        source: Some(&f.claimed.name),
        at,
        subject: None,
    })?;
    queue_alert(u, config, &job.name, Some(run_id), f.message, at)?;
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Failed),
            finished_at: Some(at),
            // The file's break is not a record decided on: it shows as a failed file and
            // stays out of the STP and error rates.
            error: Some(f.message.to_string()),
            ..Default::default()
        },
    )?;
    Ok(run_id)
}

/// Queues an alert for `mail.alerts_to` in the caller's transaction. Nobody to alert: the log
/// and the next summary carry it.
pub fn queue_alert(
    u: &mut dyn Unit,
    config: &Config,
    job: &str,
    run_id: Option<i64>,
    what: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if config.mail.alerts_to.is_empty() {
        return Ok(());
    }
    let rendered = notify::render_alert(job, run_id, what, at, config.settings.timezone);
    // Job names may hold characters a Message-ID may not (`mailbox:name`).
    let job_part: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let message_id = format!(
        "<alert.{job_part}.{}.{}@{}>",
        run_id.map_or_else(|| "none".to_string(), |r| r.to_string()),
        at.format("%Y%m%dT%H%M%S%.3f"),
        mail_domain(&config.mail.from)
    );
    let raw = notify::build_message(
        &config.mail.from,
        &config.mail.alerts_to,
        &rendered,
        &message_id,
        at,
    )
    .map_err(|e| StoreError::Other(format!("cannot build the alert mail: {e}")))?;
    u.enqueue_mail(&NewMail {
        message_id: &message_id,
        purpose: "alert",
        from: &config.mail.from,
        recipients: &config.mail.alerts_to,
        subject: &rendered.subject,
        raw: &raw,
        at,
    })?;
    Ok(())
}

/// The domain part of the sender address, for Message-IDs.
pub fn mail_domain(from: &str) -> &str {
    from.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("clerk.localhost")
}

enum ReadError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// The file's bytes and their SHA-256, hashed as they are read (one pass over the file).
fn read_limited(path: &std::path::Path, limit: u64) -> Result<(Vec<u8>, String), ReadError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(ReadError::Io)?;
    let size = f.metadata().map_err(ReadError::Io)?.len();
    if size > limit {
        return Err(ReadError::TooLarge(size));
    }
    // Exactly the size: a vector that had to grow would hold up to twice the file.
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(size).unwrap_or(usize::MAX))
        .map_err(|e| ReadError::Io(std::io::Error::other(e)))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        // A file that grew after the size check is still refused past the limit.
        if (bytes.len() + n) as u64 > limit {
            return Err(ReadError::TooLarge((bytes.len() + n) as u64));
        }
        hasher.update(&chunk[..n]);
        bytes.extend_from_slice(&chunk[..n]);
    }
    Ok((bytes, to_hex(&hasher.finalize())))
}

/// What `failed/<name>.error.txt` says about a file the reader refused: its problems and,
/// when no header with the job's columns was found, which file to edit.
fn refusal_text(job: &Job, e: &extract::ExtractError) -> String {
    let mut text = e.to_string();
    if e.header_not_found() {
        text.push_str(&format!(
            "\nThe columns are named in {} under [extract.columns]: edit them to the headers the \
             file has (or [extract] header_row to the row that holds them), or ask the sender \
             for the layout agreed.",
            job.file.display()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_FILE_SIZE_MB;

    /// `MemoryMax` of the shipped unit, in bytes.
    fn memory_max() -> u64 {
        let unit = include_str!("../../config/clerk.service");
        let value = unit
            .lines()
            .find_map(|l| l.strip_prefix("MemoryMax="))
            .expect("MemoryMax in config/clerk.service");
        let (digits, unit) = value.split_at(value.trim_end_matches(char::is_alphabetic).len());
        let n: u64 = digits.parse().unwrap();
        n * match unit {
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "T" => 1 << 40,
            other => panic!("MemoryMax unit {other:?}"),
        }
    }

    #[test]
    fn the_shipped_limits_agree_the_largest_file_of_any_format_fits_memory_max() {
        let shipped: toml::Table = include_str!("../../config/clerk.toml").parse().unwrap();
        let shipped_mb = shipped["daemon"]["max_file_size_mb"].as_integer().unwrap() as u64;
        assert_eq!(
            shipped_mb, DEFAULT_MAX_FILE_SIZE_MB,
            "shipped and default agree"
        );
        let max = memory_max();
        let (factor, constant) = MEMORY_PER_FILE;
        let file = shipped_mb * 1024 * 1024;
        assert!(
            factor * file + constant <= max,
            "a CSV of {shipped_mb} MB needs {} MB, more than MemoryMax",
            (factor * file + constant) >> 20
        );
        let whole = file / WHOLE_READ_DIVISOR;
        assert!(
            WHOLE_READ_FACTOR * whole + constant <= max,
            "a file read whole of {} MB needs {} MB, more than MemoryMax",
            whole >> 20,
            (WHOLE_READ_FACTOR * whole + constant) >> 20
        );
    }
}
