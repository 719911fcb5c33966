//! The expected-arrivals task: at each deadline of a job's `[[expect]]`, looks whether what
//! was expected arrived; if not, a `file_missing` break opens and an alert is queued, in one
//! unit of work (`jobs::expect`). It sleeps until the next deadline, as the scheduler does.
//!
//! Each expectation remembers the last deadline it checked (in the store): a first start
//! checks nothing before it (nothing is owed from before clerk watched), a restart after
//! missed deadlines checks the latest one only (one break, one alert, however many passed),
//! and a slot never opens a second break (its subject is kept).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{Shared, pipeline, stopped};
use crate::config::Job;
use crate::config::expect::Expect;
use crate::jobs::{self, WorkError};
use crate::store;

/// Longest sleep between looks, so a changed wall clock (NTP, suspend) is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

struct Watched {
    job: Job,
    expect: Expect,
    /// The last deadline checked: only later ones are looked at.
    last: DateTime<Utc>,
}

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = shared.config();
    let start = Utc::now();
    let mut watched = Vec::new();
    for job in config.jobs.iter().filter(|j| !j.expect.is_empty()) {
        for e in &job.expect {
            let store = shared.store.clone();
            let (name, key) = (job.name.clone(), e.key());
            let last = tokio::task::spawn_blocking(move || {
                let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                let s = guard.as_mut();
                match store::in_read(s, |u| u.last_deadline_checked(&name, &key))? {
                    Some(t) => Ok(t),
                    None => {
                        // First start: armed now; no deadline before it is owed.
                        store::in_unit(s, |u| u.set_last_deadline_checked(&name, &key, start))?;
                        Ok::<_, store::StoreError>(start)
                    }
                }
            })
            .await;
            let last = match last {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    error!(job = %job.name, error = %e, "cannot read when expected arrivals were last checked; starting from now");
                    start
                }
                Err(e) => {
                    error!(job = %job.name, error = %e, "expected arrivals' state panicked");
                    start
                }
            };
            watched.push(Watched {
                job: job.clone(),
                expect: e.clone(),
                last,
            });
        }
    }
    if watched.is_empty() {
        return;
    }
    loop {
        let now = Utc::now();
        let mut failed = false;
        for w in &mut watched {
            let Some(deadline) = w.expect.latest_at_or_before(now).filter(|&d| d > w.last) else {
                continue;
            };
            match check(&shared, &w.job, &w.expect, deadline).await {
                Ok(()) => w.last = deadline,
                Err(e) => {
                    // Tried again after a pause; the slot's subject keeps it from doubling.
                    error!(job = %w.job.name, at = %deadline, error = %e, "cannot check an expected arrival; will retry");
                    failed = true;
                }
            }
        }
        let next = watched
            .iter()
            .filter_map(|w| w.expect.next_after(w.last.max(now)))
            .min();
        let wait = match (failed, next) {
            (true, _) => MAX_SLEEP,
            (false, Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP),
            (false, None) => return,
        };
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Checks one deadline in a unit of work on the work thread (the one writer).
async fn check(
    shared: &Arc<Shared>,
    job: &Job,
    expect: &Expect,
    deadline: DateTime<Utc>,
) -> Result<(), String> {
    let config = shared.config();
    let store = shared.store.clone();
    let (job, expect) = (job.clone(), expect.clone());
    let name = job.name.clone();
    let missing = shared
        .work_thread
        .run(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            store::in_unit_as(guard.as_mut(), |u| -> Result<_, WorkError> {
                let now = Utc::now();
                let missing =
                    jobs::expect::check_deadline(u, &config, &job, &expect, deadline, now)?;
                if let Some(m) = &missing {
                    pipeline::queue_alert(u, &config, &job.name, Some(m.run_id), &m.text, now)?;
                }
                Ok(missing)
            })
        })
        .await?
        .map_err(|e| e.to_string())?;
    match missing {
        Some(m) => {
            warn!(job = %name, at = %deadline, exception = m.break_id, "expected arrival missing; exception opened, alert queued");
            shared.mail_queued.notify_one();
        }
        None => info!(job = %name, at = %deadline, "expected arrival checked"),
    }
    Ok(())
}
