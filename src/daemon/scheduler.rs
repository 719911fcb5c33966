//! The scheduler task: fires scheduled jobs at their time; after a restart, a pause or a clock
//! step, once for the slots missed, never twice (`schedule::Timetable`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use super::{Shared, Work, now_millis, stopped};
use crate::config::Job;
use crate::schedule;
use crate::store::{self, StoreError};

pub(super) async fn run(
    shared: Arc<Shared>,
    work: mpsc::Sender<Work>,
    mut stop: watch::Receiver<bool>,
) {
    let scheduled: Vec<Job> = shared
        .config()
        .jobs
        .iter()
        .filter(|j| j.schedule.is_some())
        .cloned()
        .collect();
    // Each job with the last slot it fired, as the store has it (the store is the truth: a
    // restart, even after the clock went back, fires nothing the store says was fired).
    let mut table = schedule::Timetable::default();
    let start = Utc::now();
    for job in &scheduled {
        let schedule = job.schedule.clone().expect("filtered above");
        let name = job.name.clone();
        let store = shared.store.clone();
        let last = tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            let s = guard.as_mut();
            match store::in_read(s, |u| u.last_fired(&name))? {
                Some(t) => Ok(t),
                None => {
                    // First start: arm the schedule now; nothing before today is owed.
                    store::in_unit(s, |u| u.set_last_fired(&name, start))?;
                    Ok(start)
                }
            }
        })
        .await;
        let last = match last {
            Ok(Ok(t)) => t,
            Ok(Err::<_, StoreError>(e)) => {
                error!(job = %job.name, error = %e, "cannot read the schedule's state; starting from now");
                start
            }
            Err(e) => {
                error!(job = %job.name, error = %e, "schedule state panicked");
                start
            }
        };
        table.add(job.name.clone(), schedule, last);
    }
    if table.is_empty() {
        return;
    }
    // The hour the escalation check last ran (a break's age changes only with the date; the
    // hour also catches breaks that came in already old).
    let mut escalation_checked: Option<i64> = None;
    loop {
        shared
            .scheduler_alive
            .store(now_millis(), std::sync::atomic::Ordering::Relaxed);
        let hour = Utc::now().timestamp() / 3600;
        if escalation_checked != Some(hour) {
            escalation_checked = Some(hour);
            if work.send(Work::Escalate).await.is_err() {
                return;
            }
        }
        // Whatever happened since the last turn (a restart, a suspend, a clock step), each
        // job fires at most once: for the latest slot it missed.
        let now = Utc::now();
        for due in table.due(now) {
            if due.coalesced {
                info!(job = %due.job, at = %due.slot, "schedule fired once for the slots missed while stopped or paused");
            } else {
                info!(job = %due.job, at = %due.slot, "schedule fired");
            }
            let fire = Work::Fire {
                job: due.job,
                at: due.slot,
                alerted: false,
            };
            if work.send(fire).await.is_err() {
                return;
            }
        }
        let Some(next) = table.next_slot(now) else {
            return;
        };
        // Sleep in bounded steps so a changed wall clock (NTP, suspend) is noticed.
        let wait = (next - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(30));
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
