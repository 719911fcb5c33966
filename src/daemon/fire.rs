//! Scheduled runs: `fire` runs a job at its slot (the summary, the securities
//! reconciliations), by the worker when the scheduler fires it, or by hand (`clerk job run`);
//! a scheduled run that fails is mailed about at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{error, info, info_span, warn};

use super::worker::Work;
use super::{Shared, alert, summary};
use crate::config::{Config, Job};
use crate::jobs::{self, Runs, WorkError};
use crate::store::{self, Store, StoreError, Trigger};

/// Runs the scheduled run of `job` for slot `at` as the worker's unit of work: on a transient
/// store error hands it back for a retry (people are told once, `alerted`).
pub(super) async fn run_scheduled(
    shared: &Arc<Shared>,
    config: Arc<Config>,
    job: String,
    at: DateTime<Utc>,
    alerted: bool,
) -> Result<(), (Work, StoreError)> {
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
        Ok(Err(WorkError::Store(e))) if e.is_transient() => {
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

/// What to do about a store error, for an alert: a damaged store needs its backup.
fn store_advice(e: &WorkError) -> String {
    match e {
        WorkError::Store(StoreError::Corrupt(_)) => format!("\n\n{RESTORE_ADVICE}"),
        _ => String::new(),
    }
}

/// What an operator does about a damaged store.
pub const RESTORE_ADVICE: &str = "The store is damaged. Stop clerk, restore the last backup of \
    the store and start clerk again: README, Operations, \"Store integrity\" and \"Back up and \
    restore\".";

/// Runs a job that fires on a schedule (the summary, the securities reconciliations).
pub fn fire(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    at: DateTime<Utc>,
    trigger: Trigger,
) -> Result<(), WorkError> {
    match jobs::runs(&job.kind) {
        Runs::Mail => fire_summary(config, store, job, at, trigger),
        Runs::FilesAndKept => fire_reconciliation(config, store, job, at, trigger),
        Runs::Files => {
            // File jobs on a schedule: take what is in the inbox now.
            warn!(job = %job.name, "scheduled file jobs run when files arrive; nothing to do");
            Ok(())
        }
    }
}

/// Whether slot `at` of `job` was fired before. A slot fires once: one already recorded as
/// fired (a fire queued twice across a reload, a clock stepped back) is passed over. Checked
/// in the transaction that does the work and advances the job's last fired slot.
fn fired_before(
    u: &mut dyn store::Unit,
    job: &Job,
    at: DateTime<Utc>,
    trigger: Trigger,
) -> Result<bool, StoreError> {
    Ok(trigger == Trigger::Schedule && u.last_fired(&job.name)?.is_some_and(|last| last >= at))
}

/// Queues the summary mail of `job` for slot `at`.
fn fire_summary(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    at: DateTime<Utc>,
    trigger: Trigger,
) -> Result<(), WorkError> {
    let q = store::in_unit_as(store, |u| -> Result<_, WorkError> {
        if fired_before(u, job, at, trigger)? {
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
    Ok(())
}

/// Reconciles what `job` keeps, for slot `at`: a trade becomes a failed settlement when its
/// day passes, file or no file.
fn fire_reconciliation(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    at: DateTime<Utc>,
    trigger: Trigger,
) -> Result<(), WorkError> {
    let today = at.with_timezone(&config.settings.timezone).date_naive();
    let done = store::in_unit_as(store, |u| -> Result<_, WorkError> {
        if fired_before(u, job, at, trigger)? {
            return Ok(None);
        }
        if trigger == Trigger::Schedule {
            u.set_last_fired(&job.name, at)?;
        }
        let run_id = u.start_run(&job.name, trigger, None, Utc::now())?;
        let mut out = jobs::reconcile_kept(u, job, run_id, today, &Utc::now)?;
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
    Ok(())
}
