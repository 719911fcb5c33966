//! The worker task, the one writer: runs each unit of work (a file, a fire, a mail, items
//! held back for their grace period, an ignored file's report) on the work thread, one at a
//! time, retrying while the store is unavailable; when idle, sleeps until the next item held
//! back for its grace period comes to the end of it, and looks at those items again
//! (`jobs::cash::reconcile_due`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, info_span, warn};

use super::task::Backoff;
use super::{
    Shared, file_unit, finish_file, fire, folders, mail_unit, mailbox, now_millis, stopped,
};
use crate::config::Config;
use crate::ingest::Claimed;
use crate::jobs::{self, WorkError};
use crate::reconcile::backlog::GraceEnd;
use crate::store::{StoreError, Trigger};

/// One thing for the worker to do.
#[derive(Debug)]
pub(super) enum Work {
    File {
        job: String,
        claimed: Claimed,
        recovered: bool,
    },
    Fire {
        job: String,
        at: DateTime<Utc>,
        /// People were told this fire failed (it is being retried): not again.
        alerted: bool,
    },
    /// A file in a watched folder that its job will never take as it is: reported once (a
    /// break about `subject`, a log line).
    Ignored {
        job: String,
        name: String,
        subject: String,
        detail: String,
    },
    /// The items of a cash reconciliation held back for their grace period, some of which
    /// came to its end (or none is known yet: after a start, a reload, a failed unit).
    Due { job: String },
    /// Breaks left open too long, escalated (`escalation.rs`).
    Escalate,
    /// One message of a mailbox; the outcome goes back to the mailbox task, which then moves
    /// or flags the message.
    Mail {
        mailbox: String,
        key: String,
        cursor: Option<(u32, u32)>,
        /// The message, or why it was not downloaded.
        raw: Result<Vec<u8>, String>,
        reply: tokio::sync::oneshot::Sender<mailbox::MailOutcome>,
    },
}

impl Work {
    /// What this is about, for a log line: the job and file, the mailbox and message.
    fn describe(&self) -> String {
        match self {
            Work::File { job, claimed, .. } => format!("file {} of job {job}", claimed.name),
            Work::Fire { job, at, .. } => format!("scheduled run of job {job} at {at}"),
            Work::Ignored { job, name, .. } => format!("ignored file {name} of job {job}"),
            Work::Due { job } => format!("held-back items of job {job}"),
            Work::Escalate => "escalation check".to_string(),
            Work::Mail { mailbox, key, .. } => format!("message {key} of mailbox {mailbox}"),
        }
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut work: mpsc::Receiver<Work>,
    mut stop: watch::Receiver<bool>,
) {
    // Files processed but not archived yet, and files to read again (see `folders`).
    let mut held = folders::Held::default();
    // Failed copies replaced by a file processed before the last stop, not put away then.
    let (config, store) = (shared.config(), shared.store.clone());
    let repaired = shared
        .work_thread
        .run(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            config
                .jobs
                .iter()
                .map(|j| {
                    folders::put_away_replaced(
                        &config.settings.failed_dir,
                        guard.as_mut(),
                        &j.name,
                        None,
                    )
                })
                .sum::<usize>()
        })
        .await;
    if let Ok(n @ 1..) = repaired {
        info!(
            files = n,
            "failed files replaced before the last stop are put away now"
        );
    }
    loop {
        let unfinished = !shared
            .unfinished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty();
        let due = held.next_due();
        let grace = next_grace_end(&shared.config());
        let item = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            // Held files come before new work: archiving one frees its name and its folder.
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                for looked in folders::look_at_due(&shared, &mut held).await {
                    match looked {
                        folders::Looked::Reread { job, claimed, recovered } => {
                            let again = Work::File { job, claimed, recovered };
                            if !run_unit(&shared, &mut held, again, &mut stop).await {
                                return;
                            }
                        }
                        // Its alert is queued.
                        folders::Looked::SetAside => shared.mail_queued.notify_one(),
                        folders::Looked::Gone { waiting: true } => file_done(&shared),
                        folders::Looked::Done | folders::Looked::Gone { .. } => {}
                    }
                }
                continue;
            }
            item = work.recv() => match item {
                Some(i) => i,
                None => break,
            },
            // Nothing else to do, and an item held back for its grace period is due: looked
            // at again (a file's run would have covered it too).
            _ = tokio::time::sleep_until(grace.unwrap_or_else(tokio::time::Instant::now)), if grace.is_some() => {
                for job in grace_ended(&shared.config(), Utc::now()) {
                    if !run_unit(&shared, &mut held, Work::Due { job }, &mut stop).await {
                        return;
                    }
                }
                continue;
            }
            _ = tokio::time::sleep(FINISH_RETRY), if unfinished => {
                retry_unfinished(&shared).await;
                continue;
            }
        };
        if !run_unit(&shared, &mut held, item, &mut stop).await {
            return;
        }
        shared.mail_queued.notify_one();
    }
    // Stopping: what was processed is checked and archived now rather than read again at the
    // next start; files waiting to be read again stay in processing for it.
    folders::finish_on_stop(&shared, &mut held).await;
}

/// The longest the worker sleeps towards an item's grace end in one go: the wall clock the
/// grace is measured on may be stepped (NTP) or jump (a suspend) meanwhile.
const GRACE_CHECK: Duration = Duration::from_secs(30);

/// How long after a failed look at held-back items the worker looks again.
const GRACE_RETRY: chrono::Duration = chrono::Duration::minutes(1);

/// When the worker is next to look at items held back for their grace period: at once for a
/// job whose held-back items are not known (no run since the start or the reload, a failed
/// unit), else when the first grace ends; `None` when nothing is held back, and then the
/// worker sleeps until there is work.
fn next_grace_end(config: &Config) -> Option<tokio::time::Instant> {
    let first = config
        .jobs
        .iter()
        .filter_map(jobs::cash::next_grace_end)
        .min()?;
    let wait = (first - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(tokio::time::Instant::now() + wait.min(GRACE_CHECK))
}

/// The cash reconciliations with held-back items due at `now` (or not known).
fn grace_ended(config: &Config, now: DateTime<Utc>) -> Vec<String> {
    config
        .jobs
        .iter()
        .filter(|j| jobs::cash::next_grace_end(j).is_some_and(|t| t <= now))
        .map(|j| j.name.clone())
        .collect()
}

/// Runs one unit of work, retrying it while the store is unavailable. `false` when the daemon
/// stopped meanwhile.
async fn run_unit(
    shared: &Arc<Shared>,
    held: &mut folders::Held,
    item: Work,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = Backoff::up_to(Duration::from_secs(60));
    let mut item = item;
    loop {
        match do_work(shared, held, item).await {
            Ok(()) => break,
            Err((again, e)) => {
                // The store is unavailable (locked, full, read-only): the file stays in
                // processing and the same work is tried again.
                error!(work = %again.describe(), error = %e, retry_in = ?backoff.delay(), "unit of work failed; will retry");
                item = again;
                if !backoff.wait(stop).await {
                    return false;
                }
            }
        }
    }
    shared.worker_done.store(now_millis(), Ordering::Relaxed);
    // What the unit posted goes to the export targets (`exports.rs` looks whether it did).
    shared.export_due.notify_one();
    true
}

/// The worker is done with a file it was handed: the scanner may take another.
pub(super) fn file_done(shared: &Shared) {
    let _ = shared
        .files_queued
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    shared.progress.notify_one();
}

/// How often the worker, when idle, tries again to move files it could not archive.
const FINISH_RETRY: Duration = Duration::from_secs(2);

/// Tries again to move the processed files that could not be archived (or failed) before.
async fn retry_unfinished(shared: &Arc<Shared>) {
    let pending = std::mem::take(&mut *shared.unfinished.lock().unwrap_or_else(|p| p.into_inner()));
    let config = shared.config();
    let left = tokio::task::spawn_blocking(move || {
        pending
            .into_iter()
            .filter(|(job, claimed, outcome)| {
                let _entered = info_span!("file", job = %job, file = %claimed.name).entered();
                !finish_file(&config, job, claimed, outcome)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    shared
        .unfinished
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(left);
}

/// Runs one unit of work. On a transient store error hands the work back for a retry.
async fn do_work(
    shared: &Arc<Shared>,
    held: &mut folders::Held,
    item: Work,
) -> Result<(), (Work, StoreError)> {
    let config = shared.config();
    match item {
        Work::File {
            job,
            claimed,
            recovered,
        } => file_unit::run(shared, held, config, job, claimed, recovered).await,
        Work::Ignored {
            job,
            name,
            subject,
            detail,
        } => report_ignored(shared, config, job, name, subject, detail).await,
        Work::Due { job } => look_at_held_back(shared, config, job).await,
        Work::Escalate => super::escalation::run(shared, config).await,
        Work::Mail {
            mailbox,
            key,
            cursor,
            raw,
            reply,
        } => mail_unit::run(shared, config, mailbox, key, cursor, raw, reply).await,
        Work::Fire { job, at, alerted } => {
            fire::run_scheduled(shared, config, job, at, alerted).await
        }
    }
}

/// Records the break about a file its job will never take as it is (once: `folders`).
async fn report_ignored(
    shared: &Arc<Shared>,
    config: Arc<Config>,
    job: String,
    name: String,
    subject: String,
    detail: String,
) -> Result<(), (Work, StoreError)> {
    let Some(j) = config.job(&job).cloned() else {
        return Ok(());
    };
    let store = shared.store.clone();
    let cfg = config.clone();
    let (n, sub, det) = (name.clone(), subject.clone(), detail.clone());
    let result = shared
        .work_thread
        .run(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            folders::report_ignored(&cfg, guard.as_mut(), &j, &n, &sub, &det)
        })
        .await;
    match result {
        Ok(Ok(true)) => warn!(job = %job, file = %name, "{detail}"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) if e.is_transient() => {
            return Err((
                Work::Ignored {
                    job,
                    name,
                    subject,
                    detail,
                },
                e,
            ));
        }
        Ok(Err(e)) => {
            error!(job = %job, file = %name, error = %e, "could not record the break about an ignored file")
        }
        Err(e) => {
            error!(job = %job, file = %name, error = %e, "recording an ignored file panicked")
        }
    }
    Ok(())
}

/// Looks again at a cash reconciliation's items held back for their grace period.
async fn look_at_held_back(
    shared: &Arc<Shared>,
    config: Arc<Config>,
    job: String,
) -> Result<(), (Work, StoreError)> {
    let Some(j) = config.job(&job).cloned() else {
        return Ok(());
    };
    let store = shared.store.clone();
    let looked = j.clone();
    let result = shared
        .work_thread
        .run(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            let hold = jobs::cash::Hold::of(&looked);
            jobs::cash::reconcile_due(guard.as_mut(), &looked, hold, Trigger::Due, &Utc::now)
        })
        .await;
    let failed = match result {
        Ok(Ok(Some((run, out)))) => {
            info!(job = %job, run, matched = out.matched, breaks_opened = out.breaks_opened, breaks_closed = out.breaks_closed, "items held back for their grace period looked at again");
            false
        }
        Ok(Ok(None)) => false,
        Ok(Err(WorkError::Store(e))) if e.is_transient() => return Err((Work::Due { job }, e)),
        Ok(Err(e)) => {
            error!(job = %job, error = %e, retry_in = ?GRACE_RETRY, "could not look at the items held back for their grace period");
            true
        }
        Err(e) => {
            error!(job = %job, error = %e, retry_in = ?GRACE_RETRY, "looking at the items held back for their grace period panicked");
            true
        }
    };
    if failed && let Some(rules) = jobs::cash::rules_of(&j) {
        rules
            .backlog
            .set_grace_end(GraceEnd::At(Utc::now() + GRACE_RETRY));
    }
    Ok(())
}
