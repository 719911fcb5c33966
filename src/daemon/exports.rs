//! The exports task: brings each `[[exports]]` target up to date (`jobs::exports`) after every
//! unit of work that posted (the worker wakes it), or at the target's schedule, and once at
//! the start (which also writes again a batch a crash left recorded but not written).
//!
//! Where it runs, and why: each export runs on the work thread, as the worker's units do, so
//! the store keeps one writer and a batch is planned on entries no unit is writing. Writing the
//! file there holds the worker up while a batch is rendered; a batch is at most
//! `jobs::exports::BATCH_LIMIT` entries (about a second per 100,000 entries in release), and a
//! backlog is written a batch per turn, with the worker's units in between.
//!
//! Entries posted outside the worker (`clerk job run`, an action in the console) are found at
//! the task's next wake, within [`MAX_SLEEP`].
//!
//! A target that fails (its folder is not writable, the format refuses an entry) raises one
//! alert, keeps its cursor, and is tried again every [`RETRY`] and after each unit that
//! posted; when it succeeds again, that is logged. Each task generation (a reload) starts
//! afresh with the targets of its configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{Shared, alert, stopped};
use crate::config::ExportTarget;
use crate::jobs::exports::{self, ExportFailure, Exported};
use crate::store;

/// How soon a failed export is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Longest sleep between looks, so a changed wall clock (NTP, suspend) is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = shared.config();
    if config.exports.is_empty() {
        return;
    }
    let targets: Vec<ExportTarget> = config.exports.clone();
    // The next slot of each scheduled target; missed slots while clerk was stopped are not
    // owed one by one: the next export takes everything after the cursor anyway.
    let mut slots: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let now = Utc::now();
    for t in &targets {
        if let Some(s) = &t.schedule
            && let Some(next) = s.next_after(now)
        {
            slots.insert(t.name.clone(), next);
        }
    }
    // Targets failing now (alerted once).
    let mut failing: BTreeSet<String> = BTreeSet::new();
    // At the start every target: a scheduled one only has its unwritten batches written.
    let mut due: Vec<(&ExportTarget, bool)> =
        targets.iter().map(|t| (t, t.schedule.is_some())).collect();
    loop {
        for (target, recover_only) in due.drain(..) {
            export_one(&shared, target, recover_only, &mut failing).await;
        }
        let now = Utc::now();
        let mut wait = MAX_SLEEP;
        if let Some(next) = slots.values().min() {
            wait = wait.min((*next - now).to_std().unwrap_or(Duration::ZERO));
        }
        if !failing.is_empty() {
            wait = wait.min(RETRY);
        }
        let poked = tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = shared.export_due.notified() => true,
            _ = tokio::time::sleep(wait) => false,
        };
        let now = Utc::now();
        for t in &targets {
            let slot_due = slots.get(&t.name).is_some_and(|s| *s <= now);
            if slot_due {
                if let Some(next) = t.schedule.as_ref().and_then(|s| s.next_after(now)) {
                    slots.insert(t.name.clone(), next);
                }
                info!(export = %t.name, "export schedule fired");
            }
            // An unscheduled target looks after every unit, and at every wake: entries posted
            // outside the worker (`clerk job run`, the console's actions) are found within
            // [`MAX_SLEEP`]. The look is one read; nothing is written when nothing was posted.
            let unscheduled = t.schedule.is_none();
            let retry = failing.contains(&t.name) && !poked;
            if slot_due || unscheduled || retry {
                due.push((t, false));
            }
        }
    }
}

/// One export of `target` on the work thread; a failure is alerted once.
async fn export_one(
    shared: &Arc<Shared>,
    target: &ExportTarget,
    recover_only: bool,
    failing: &mut BTreeSet<String>,
) {
    let store = shared.store.clone();
    let t = target.clone();
    let result = shared
        .work_thread
        .run(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            let s = guard.as_mut();
            if recover_only {
                let mut done = Exported::default();
                exports::recover(s, &t, &Utc::now, &mut done).map(|()| done)
            } else if has_work(s, &t.name)? {
                exports::export_target(s, &t, &Utc::now)
            } else {
                Ok(Exported::default())
            }
        })
        .await;
    let config = shared.config();
    let subject = format!("export {}", target.name);
    match result {
        Ok(Ok(done)) => {
            for b in &done.recovered {
                info!(export = %target.name, file = %b.file_name, entries = b.entries, "export batch recorded before a stop written now");
            }
            for b in &done.written {
                info!(export = %target.name, file = %b.file_name, entries = b.entries, first_entry = b.first_entry, last_entry = b.last_entry, "entries exported");
            }
            for w in &done.warnings {
                warn!(export = %target.name, "{w}");
                alert::raise(&config, &shared.mailer(), &subject, w, Utc::now()).await;
            }
            if failing.remove(&target.name) {
                info!(export = %target.name, "export works again");
            }
        }
        Ok(Err(e)) => {
            let what = match &e {
                ExportFailure::Store(se) if se.is_transient() => format!(
                    "{e}; the store is unavailable, the export is tried again in {}s",
                    RETRY.as_secs()
                ),
                _ => format!(
                    "{e}. Nothing was exported past the last file written; clerk tries again \
                     every {}s and after each unit of work that posts.",
                    RETRY.as_secs()
                ),
            };
            if failing.insert(target.name.clone()) && !e.is_transient_store() {
                error!(export = %target.name, error = %e, "export failed; will retry");
                alert::raise(&config, &shared.mailer(), &subject, &what, Utc::now()).await;
            } else {
                warn!(export = %target.name, error = %e, "export still failing; will retry");
            }
        }
        Err(e) => {
            error!(export = %target.name, error = %e, "the export panicked; will retry");
            failing.insert(target.name.clone());
        }
    }
}

/// Whether `target` has anything to do: entries past its cursor, or a batch to write again.
fn has_work(s: &mut dyn store::Store, target: &str) -> Result<bool, ExportFailure> {
    Ok(store::in_read(s, |u| {
        Ok(u.last_entry_id()? > u.export_cursor(target)?
            || !u.unwritten_export_batches(Some(target))?.is_empty())
    })?)
}
