//! The worker task, the one writer: runs each unit of work (a file, a fire, a mail, items
//! held back for their grace period, an ignored file's report) on the work thread, one at a
//! time, retrying while the store is unavailable; when idle, sleeps until the next item held
//! back for its grace period comes to the end of it, and looks at those items again
//! (`pipeline::reconcile_due`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, info_span, warn};

use super::pipeline::{self, FileOutcome};
use super::{Shared, alert, attempts, folders, mailbox, now_millis, securities, stopped, summary};
use crate::config::{Config, Job, JobKind};
use crate::ingest::{self, Claimed};
use crate::reconcile::backlog::GraceEnd;
use crate::store::{self, FileStatus, Store, StoreError, Trigger};

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
            Work::Mail { mailbox, key, .. } => format!("message {key} of mailbox {mailbox}"),
        }
    }
}

/// What the work thread made of a file.
enum Processed {
    /// An outcome, recorded; with the file as it was just before it was read.
    Outcome(FileOutcome, Option<ingest::Fingerprint>),
    /// The file changed while it was read: nothing was kept. As it looked then.
    Changed(ingest::Fingerprint),
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

/// When a job's held-back items are next to be looked at (`MIN_UTC`: at once), if ever. A job
/// without a grace period holds nothing back and is never looked at for it (what an earlier
/// configuration held back, its next file's run takes in).
fn grace_end_of(job: &Job) -> Option<DateTime<Utc>> {
    match &job.kind {
        JobKind::CashReconciliation { rules, .. } if !job.break_grace().is_zero() => {
            match rules.backlog.grace_end() {
                GraceEnd::Unknown => Some(DateTime::<Utc>::MIN_UTC),
                GraceEnd::Nothing => None,
                GraceEnd::At(t) => Some(t),
            }
        }
        _ => None,
    }
}

/// When the worker is next to look at items held back for their grace period: at once for a
/// job whose held-back items are not known (no run since the start or the reload, a failed
/// unit), else when the first grace ends; `None` when nothing is held back, and then the
/// worker sleeps until there is work.
fn next_grace_end(config: &Config) -> Option<tokio::time::Instant> {
    let first = config.jobs.iter().filter_map(grace_end_of).min()?;
    let wait = (first - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(tokio::time::Instant::now() + wait.min(GRACE_CHECK))
}

/// The cash reconciliations with held-back items due at `now` (or not known).
fn grace_ended(config: &Config, now: DateTime<Utc>) -> Vec<String> {
    config
        .jobs
        .iter()
        .filter(|j| grace_end_of(j).is_some_and(|t| t <= now))
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
    let mut backoff = Duration::from_secs(1);
    let mut item = item;
    loop {
        match do_work(shared, held, item).await {
            Ok(()) => break,
            Err((again, e)) => {
                // The store is unavailable (locked, full, read-only): the file stays in
                // processing and the same work is tried again.
                error!(work = %again.describe(), error = %e, retry_in = ?backoff, "unit of work failed; will retry");
                item = again;
                tokio::select! {
                    _ = stopped(stop) => return false,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
    shared.worker_done.store(now_millis(), Ordering::Relaxed);
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
        } => {
            let span =
                info_span!("file", job = %job, file = %claimed.name, run = tracing::field::Empty);
            let Some(j) = config.job(&job).cloned() else {
                error!(parent: &span, "job no longer configured; file left in processing");
                file_done(shared);
                return Ok(());
            };
            let store = shared.store.clone();
            let c = claimed.clone();
            let cfg = config.clone();
            let inner = span.clone();
            let result = shared.work_thread.run(move || {
                // The blocking thread does the work: log lines there carry job, file and run.
                let _entered = inner.enter();
                let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                // As the file is before it is read: a writer still adding to it is caught
                // before the commit (nothing kept) and after it (see `folders`).
                let before = ingest::fingerprint(&c.path).ok();
                // Counted before the work starts: a file clerk keeps dying on is set aside.
                let state = &cfg.settings.state_dir;
                let earlier = attempts::begin(state, &j.name, &c.name);
                if earlier >= attempts::SET_ASIDE_AFTER {
                    let outcome = attempts::set_aside(&cfg, guard.as_mut(), &j, &c, earlier);
                    // A busy store: set aside at the retry, which must still see the count.
                    if !matches!(&outcome, Err(e) if e.is_transient()) {
                        attempts::done(state, &j.name, &c.name);
                    }
                    return outcome.map(|o| Processed::Outcome(o, None));
                }
                let mut guarded = folders::ChangeGuard::new(guard.as_mut(), &c.path, before);
                let outcome = pipeline::process_file(
                    &cfg,
                    &mut guarded,
                    &j,
                    &c,
                    Trigger::File,
                    recovered,
                    Utc::now,
                );
                attempts::done(state, &j.name, &c.name);
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
                        pipeline::record_failure(&cfg, guard.as_mut(), &j, &c, "", 0, &message, Trigger::File, &Utc::now)
                            .or(Ok(FileOutcome::Failed { run_id: 0, message }))
                    }
                    other => other,
                };
                // The failed files this one replaced: their breaks are closed, their copies go.
                if let Ok(FileOutcome::Processed { replaced: 1.., .. }) = &outcome {
                    folders::put_away_replaced(
                        &cfg.settings.failed_dir,
                        guard.as_mut(),
                        &j.name,
                        Some(&c.name),
                    );
                }
                outcome.map(|o| Processed::Outcome(o, before))
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
                Ok(Err(e)) if e.is_transient() => {
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
                let hold = folders::hold_of(&config, &job);
                held.hold(folders::HeldFile {
                    job,
                    claimed,
                    seen,
                    due: tokio::time::Instant::now() + hold,
                    what: folders::HeldFor::Archive(outcome),
                });
                file_done(shared);
                return Ok(());
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
            Ok(())
        }
        Work::Ignored {
            job,
            name,
            subject,
            detail,
        } => {
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
        Work::Due { job } => {
            let Some(j) = config.job(&job).cloned() else {
                return Ok(());
            };
            let store = shared.store.clone();
            let looked = j.clone();
            let result = shared
                .work_thread
                .run(move || {
                    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                    let hold = pipeline::Hold::of(&looked);
                    pipeline::reconcile_due(guard.as_mut(), &looked, hold, Trigger::Due, &Utc::now)
                })
                .await;
            let failed = match result {
                Ok(Ok(Some((run, out)))) => {
                    info!(job = %job, run, matched = out.matched, breaks_opened = out.breaks_opened, breaks_closed = out.breaks_closed, "items held back for their grace period looked at again");
                    false
                }
                Ok(Ok(None)) => false,
                Ok(Err(e)) if e.is_transient() => return Err((Work::Due { job }, e)),
                Ok(Err(e)) => {
                    error!(job = %job, error = %e, retry_in = ?GRACE_RETRY, "could not look at the items held back for their grace period");
                    true
                }
                Err(e) => {
                    error!(job = %job, error = %e, retry_in = ?GRACE_RETRY, "looking at the items held back for their grace period panicked");
                    true
                }
            };
            if failed && let JobKind::CashReconciliation { rules, .. } = &j.kind {
                rules
                    .backlog
                    .set_grace_end(GraceEnd::At(Utc::now() + GRACE_RETRY));
            }
            Ok(())
        }
        Work::Mail {
            mailbox,
            key,
            cursor,
            raw,
            reply,
        } => {
            let span = info_span!("mail", mailbox = %mailbox, message = %key);
            let Some(mb) = config.mailboxes.get(&mailbox).cloned() else {
                return Ok(());
            };
            let store = shared.store.clone();
            let cfg = config.clone();
            let inner = span.clone();
            let (k, r) = (key.clone(), raw.clone());
            let result = shared
                .work_thread
                .run(move || {
                    let _entered = inner.enter();
                    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                    mailbox::handle(&cfg, guard.as_mut(), &mb, &k, cursor, &r, &Utc::now)
                })
                .await;
            match result {
                Ok(Ok(mut outcome)) => {
                    info!(parent: &span, "{}", outcome.summary);
                    let left = std::mem::take(&mut outcome.unfinished);
                    if !left.is_empty() {
                        shared
                            .unfinished
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend(left);
                    }
                    let _ = reply.send(outcome);
                    Ok(())
                }
                Ok(Err(e)) if e.is_transient() => Err((
                    Work::Mail {
                        mailbox,
                        key,
                        cursor,
                        raw,
                        reply,
                    },
                    e,
                )),
                Ok(Err(e)) => {
                    // Not going away by itself: the message is refused (moved to the failed
                    // folder) with a break and an alert, so it neither blocks the mailbox nor
                    // sits there unnoticed.
                    error!(parent: &span, error = %e, "the message could not be handled; refusing it");
                    let store = shared.store.clone();
                    let cfg = config.clone();
                    let detail =
                        format!("clerk could not handle a message of mailbox {mailbox}: {e}");
                    let refused = tokio::task::spawn_blocking(move || {
                        let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                        let mb = cfg.mailboxes.get(&mailbox).cloned();
                        mb.map(|mb| {
                            mailbox::refuse_unread(
                                &cfg,
                                guard.as_mut(),
                                &mb,
                                &key,
                                cursor,
                                &detail,
                                &Utc::now,
                            )
                        })
                    })
                    .await;
                    match refused {
                        Ok(Some(Ok(outcome))) => {
                            let _ = reply.send(outcome);
                        }
                        other => {
                            error!(parent: &span, outcome = ?other.map(|o| o.map(|r| r.map(|m| m.summary))), "could not even refuse the message; it stays in the mailbox");
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    // Tried again a few times (the mailbox reconnects), then set aside.
                    error!(parent: &span, error = %e, "handling the message panicked");
                    let (store, cfg) = (shared.store.clone(), config.clone());
                    let mb = cfg.mailboxes.get(&mailbox).cloned();
                    let aside = shared
                        .work_thread
                        .run(move || {
                            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                            mb.map(|mb| {
                                mailbox::after_panic(
                                    &cfg,
                                    guard.as_mut(),
                                    &mb,
                                    &key,
                                    cursor,
                                    &raw,
                                    &e,
                                    &Utc::now,
                                )
                            })
                        })
                        .await;
                    match aside {
                        Ok(Some(Ok(Some(outcome)))) => {
                            warn!(parent: &span, "{}", outcome.summary);
                            let _ = reply.send(outcome);
                        }
                        Ok(Some(Ok(None))) => {
                            info!(parent: &span, "the message stays in the mailbox for another try")
                        }
                        other => {
                            error!(parent: &span, outcome = ?other.map(|o| o.map(|r| r.map(|m| m.map(|m| m.summary)))), "could not record the failed try; the message stays in the mailbox")
                        }
                    }
                    Ok(())
                }
            }
        }
        Work::Fire { job, at, alerted } => {
            let span = info_span!("schedule", job = %job, at = %at);
            let Some(j) = config.job(&job).cloned() else {
                return Ok(());
            };
            let store = shared.store.clone();
            let cfg = config.clone();
            let inner = span.clone();
            let result = shared
                .work_thread
                .run(move || {
                    let _entered = inner.enter();
                    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                    fire(&cfg, guard.as_mut(), &j, at, Trigger::Schedule)
                })
                .await;
            // A scheduled job that fails is mailed about at once (not through the store, which
            // may be what failed), into the outbox folder when mail fails too.
            let tz = config.settings.timezone;
            let when = at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
            match result {
                Ok(Ok(())) => {
                    if alerted {
                        info!(parent: &span, "scheduled run done after all");
                    }
                    Ok(())
                }
                Ok(Err(e)) if e.is_transient() => {
                    if !alerted {
                        error!(parent: &span, error = %e, "scheduled run failed; will retry");
                        let what = format!(
                            "The run of job {job} scheduled for {when} failed: {e}\n\n\
                             clerk keeps trying it with back-off; it runs once the cause is gone. \
                             See README, Operations, \"Schedules after a pause\"."
                        );
                        alert::raise(&config, &shared.mailer(), &job, &what, Utc::now()).await;
                    }
                    Err((
                        Work::Fire {
                            job,
                            at,
                            alerted: true,
                        },
                        e,
                    ))
                }
                Ok(Err(e)) => {
                    error!(parent: &span, error = %e, "scheduled run failed");
                    let what = format!(
                        "The run of job {job} scheduled for {when} failed: {e}\n\n\
                         It is not tried again before its next scheduled time. Once the cause \
                         is fixed, run it by hand: clerk job run {job}{}",
                        store_advice(&e)
                    );
                    alert::raise(&config, &shared.mailer(), &job, &what, Utc::now()).await;
                    Ok(())
                }
                Err(e) => {
                    error!(parent: &span, error = %e, "scheduled run panicked");
                    let what = format!(
                        "The run of job {job} scheduled for {when} crashed: {e}\n\n\
                         It is not tried again before its next scheduled time. Run it by hand \
                         with: clerk job run {job}"
                    );
                    alert::raise(&config, &shared.mailer(), &job, &what, Utc::now()).await;
                    Ok(())
                }
            }
        }
    }
}

/// What to do about a store error, for an alert: a damaged store needs its backup.
fn store_advice(e: &StoreError) -> String {
    match e {
        StoreError::Corrupt(_) => format!("\n\n{RESTORE_ADVICE}"),
        _ => String::new(),
    }
}

/// What an operator does about a damaged store.
pub const RESTORE_ADVICE: &str = "The store is damaged. Stop clerk, restore the last backup of \
    the store and start clerk again: README, Operations, \"Store integrity\" and \"Back up and \
    restore\".";

/// Runs a job that fires on a schedule (today: the summary).
pub fn fire(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    at: DateTime<Utc>,
    trigger: Trigger,
) -> Result<(), StoreError> {
    // A slot fires once: one already recorded as fired (a fire queued twice across a reload,
    // a clock stepped back) is passed over. Checked in the transaction that does the work and
    // advances the job's last fired slot.
    let scheduled = trigger == Trigger::Schedule;
    let fired_before = |u: &mut dyn store::Unit| -> Result<bool, StoreError> {
        Ok(scheduled && u.last_fired(&job.name)?.is_some_and(|last| last >= at))
    };
    match &job.kind {
        JobKind::Summary { .. } => {
            let q = store::in_unit(store, |u| {
                if fired_before(u)? {
                    return Ok(None);
                }
                summary::queue_summary(u, config, job, at, trigger, Utc::now()).map(Some)
            })?;
            match q {
                Some(q) => {
                    info!(run = q.run_id, open_breaks = q.open_breaks, message_id = %q.message_id, queued = q.queued, "summary queued")
                }
                None => info!("this slot was fired before; nothing to do"),
            }
        }
        JobKind::PositionReconciliation { .. } | JobKind::TradeSettlement { .. } => {
            // A trade becomes a failed settlement when its day passes, file or no file.
            let today = at.with_timezone(&config.settings.timezone).date_naive();
            let done = store::in_unit(store, |u| {
                if fired_before(u)? {
                    return Ok(None);
                }
                if scheduled {
                    u.set_last_fired(&job.name, at)?;
                }
                let run_id = u.start_run(&job.name, trigger, None, Utc::now())?;
                let mut out = match &job.kind {
                    JobKind::TradeSettlement { .. } => {
                        securities::reconcile_settlement_job(u, job, run_id, today, Utc::now())?
                    }
                    _ => securities::reconcile_positions_job(u, job, run_id, Utc::now())?,
                };
                out.status = Some(store::RunStatus::Ok);
                out.finished_at = Some(Utc::now());
                u.finish_run(run_id, &out)?;
                Ok(Some((run_id, out)))
            })?;
            let Some((run_id, out)) = done else {
                info!("this slot was fired before; nothing to do");
                return Ok(());
            };
            info!(
                run = run_id,
                matched = out.matched,
                breaks_opened = out.breaks_opened,
                breaks_closed = out.breaks_closed,
                "scheduled reconciliation done"
            );
        }
        _ => {
            // File jobs on a schedule: take what is in the inbox now.
            warn!(job = %job.name, "scheduled file jobs run when files arrive; nothing to do");
        }
    }
    Ok(())
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
