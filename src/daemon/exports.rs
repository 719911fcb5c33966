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

use std::collections::BTreeMap;
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

/// How often a target exporting after every unit looks for entries posted outside the worker
/// (`clerk exception match`, `clerk journal reverse`, the console's actions): an accountant
/// who reverses an entry sees the reversal in the books within seconds. A look with nothing
/// new is a few reads of the store's indexes, nothing written.
const LOOK: Duration = Duration::from_secs(5);

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = shared.config();
    if config.exports.is_empty() {
        return;
    }
    let targets: Vec<ExportTarget> = config.exports.clone();
    let mut slots = Slots::new(&targets, Utc::now());
    // Targets failing now, and whether people were told (once per failure, not for a store
    // that is only busy).
    let mut failing: BTreeMap<String, bool> = BTreeMap::new();
    // At the start every target: a scheduled one only has its unwritten batches written.
    let mut due: Vec<(&ExportTarget, bool)> =
        targets.iter().map(|t| (t, t.schedule.is_some())).collect();
    loop {
        // A backlog is written a batch per turn: a target with more goes again at once, after
        // whatever the worker queued on the work thread meanwhile.
        let mut again = Vec::new();
        for (target, recover_only) in due.drain(..) {
            if export_one(&shared, target, recover_only, &mut failing).await {
                again.push((target, false));
            }
        }
        if !again.is_empty() {
            if *stop.borrow() {
                return;
            }
            due = again;
            continue;
        }
        let now = Utc::now();
        let mut wait = MAX_SLEEP;
        if targets.iter().any(|t| t.schedule.is_none()) {
            wait = wait.min(LOOK);
        }
        if let Some(next) = slots.next() {
            wait = wait.min((next - now).to_std().unwrap_or(Duration::ZERO));
        }
        if !failing.is_empty() {
            wait = wait.min(RETRY);
        }
        let poked = tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = shared.export_due.notified() => true,
            _ = tokio::time::sleep(wait) => false,
        };
        for i in slots.due(&targets, &failing, poked, Utc::now()) {
            due.push((&targets[i], false));
        }
    }
}

/// The next slot of each scheduled target. Slots missed while clerk was stopped are not owed
/// one by one: the next export takes everything after the cursor anyway.
struct Slots(BTreeMap<String, DateTime<Utc>>);

impl Slots {
    fn new(targets: &[ExportTarget], now: DateTime<Utc>) -> Slots {
        Slots(
            targets
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.schedule.as_ref()?.next_after(now)?)))
                .collect(),
        )
    }

    fn next(&self) -> Option<DateTime<Utc>> {
        self.0.values().min().copied()
    }

    /// Which targets (by index) export now, after a wake at `now` (`poked`: by a unit of
    /// work, else by the timer). A scheduled target whose slot came, once per slot; an
    /// unscheduled one at every wake: after every unit, and entries posted outside the worker
    /// (`clerk job run`, the console's actions) are found within [`LOOK`] (the look is
    /// one read; nothing is written when nothing was posted); a failing one at the timer's
    /// wakes, every [`RETRY`].
    fn due(
        &mut self,
        targets: &[ExportTarget],
        failing: &BTreeMap<String, bool>,
        poked: bool,
        now: DateTime<Utc>,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let slot_due = self.0.get(&t.name).is_some_and(|s| *s <= now);
            if slot_due {
                match t.schedule.as_ref().and_then(|s| s.next_after(now)) {
                    Some(next) => self.0.insert(t.name.clone(), next),
                    None => self.0.remove(&t.name),
                };
                info!(export = %t.name, "export schedule fired");
            }
            let unscheduled = t.schedule.is_none();
            let retry = failing.contains_key(&t.name) && !poked;
            if slot_due || unscheduled || retry {
                out.push(i);
            }
        }
        out
    }
}

/// One export of `target` on the work thread, a batch at most; a failure is alerted once.
/// Whether entries are left for another turn.
async fn export_one(
    shared: &Arc<Shared>,
    target: &ExportTarget,
    recover_only: bool,
    failing: &mut BTreeMap<String, bool>,
) -> bool {
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
                exports::export_target(s, &t, &Utc::now, 1)
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
            if failing.remove(&target.name).is_some() {
                info!(export = %target.name, "export works again");
            }
            done.more
        }
        Ok(Err(e)) => {
            let alerted = failing.entry(target.name.clone()).or_insert(false);
            if !*alerted && !e.is_transient_store() {
                *alerted = true;
                error!(export = %target.name, error = %e, "export failed; will retry");
                let what = format!(
                    "{e}. Nothing was exported past the last file written; clerk tries again \
                     every {}s and after each unit of work that posts.",
                    RETRY.as_secs()
                );
                alert::raise(&config, &shared.mailer(), &subject, &what, Utc::now()).await;
            } else {
                warn!(export = %target.name, error = %e, "export still failing; will retry");
            }
            false
        }
        Err(e) => {
            error!(export = %target.name, error = %e, "the export panicked; will retry");
            failing.entry(target.name.clone()).or_insert(false);
            false
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::export::Accounts;
    use crate::schedule::Schedule;

    fn target(name: &str, cron: Option<&str>) -> ExportTarget {
        ExportTarget {
            name: name.into(),
            format: "csv".into(),
            folder: "/srv/clerk/exports".into(),
            schedule: cron.map(|c| Schedule::parse(c, chrono_tz::UTC).unwrap()),
            accounts: Accounts::default(),
            options: toml::Table::new(),
            extension: "csv",
        }
    }

    #[test]
    fn a_scheduled_target_exports_at_its_slot_once_and_an_unscheduled_one_after_each_unit() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 12, 7, h, m, s).unwrap();
        let targets = [target("erp", None), target("datev", Some("0 6 * * *"))];
        let mut slots = Slots::new(&targets, at(5, 0, 0));
        assert_eq!(slots.next(), Some(at(6, 0, 0)));
        let none = BTreeMap::new();
        // A unit posted before six: the unscheduled target only.
        assert_eq!(slots.due(&targets, &none, true, at(5, 30, 0)), [0]);
        // Six o'clock: the scheduled one too, once.
        assert_eq!(slots.due(&targets, &none, false, at(6, 0, 0)), [0, 1]);
        assert_eq!(slots.due(&targets, &none, true, at(6, 0, 10)), [0]);
        assert_eq!(
            slots.next(),
            Some(Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 0).unwrap())
        );
        // Failing: tried again at the timer's wakes, not at every unit.
        let failing = BTreeMap::from([("datev".to_string(), true)]);
        assert_eq!(slots.due(&targets, &failing, true, at(7, 0, 0)), [0]);
        assert_eq!(slots.due(&targets, &failing, false, at(7, 0, 5)), [0, 1]);
    }
}
