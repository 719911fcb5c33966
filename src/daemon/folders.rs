//! The worker's side of watched folders: a file written to while or after clerk reads it, the
//! files held back before they are archived, and the reports about files clerk never takes.
//!
//! A file is taken once it has not changed for the settle time, but a writer that keeps its
//! handle open and pauses longer than that can go on writing into the file clerk has taken.
//! So the file's size and modification time are noted before it is read and checked again
//! last thing before the unit of work commits: a file that changed is rolled back whole and read
//! again once it is quiet ([`ChangeGuard`]). After the commit the file is held in processing
//! for its settle time more and checked once again, by content too, before it is archived; a
//! file that changed by then is set aside to `failed/` with a break, because what was read is
//! committed and the rest is not ([`Held`]).

mod change_guard;
mod replaced;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;
use tracing::{info_span, warn};

pub(super) use change_guard::ChangeGuard;
pub(crate) use replaced::put_away_replaced;

use super::Shared;
use super::pipeline::{self, FileOutcome};
use crate::config::{Config, Job};
use crate::ingest::{self, Claimed, Fingerprint};
use crate::jobs::WorkError;
use crate::model::BreakReason;
use crate::store::{self, NewBreak, RunOutcome, RunStatus, Store, StoreError, Trigger};

/// Files the worker holds in processing for a while, each until it has stayed unchanged for
/// its job's settle time.
#[derive(Default)]
pub(super) struct Held {
    files: Vec<HeldFile>,
}

pub(super) struct HeldFile {
    pub job: String,
    pub claimed: Claimed,
    /// The file as it was when last looked at (for a processed file: just before it was read).
    pub seen: Fingerprint,
    pub due: Instant,
    pub what: HeldFor,
}

pub(super) enum HeldFor {
    /// Processed and committed; archived once it is seen unchanged, content and all, at `due`.
    Archive(FileOutcome),
    /// Changed while it was read, nothing kept; read again once it has stopped changing.
    Reread { recovered: bool },
}

impl Held {
    pub(super) fn hold(&mut self, file: HeldFile) {
        self.files.push(file);
    }

    /// When the next held file is due to be looked at.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.files.iter().map(|f| f.due).min()
    }

    /// The held files due by `now`, taken out.
    fn take_due(&mut self, now: Instant) -> Vec<HeldFile> {
        let (due, rest) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| f.due <= now);
        self.files = rest;
        due
    }

    /// The files held for archiving, taken out (at shutdown: checked and archived now rather
    /// than read again at the next start).
    fn take_archivable(&mut self) -> Vec<HeldFile> {
        let (archive, rest) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| matches!(f.what, HeldFor::Archive(_)));
        self.files = rest;
        archive
    }
}

/// How long a file of `job` must stay unchanged: its folder's settle time.
pub(super) fn settle_of(config: &Config, job: &str) -> Duration {
    config
        .job(job)
        .and_then(|j| j.watch.as_ref())
        .map_or(config.settings.settle_time, |w| w.settle_time)
}

/// The longest a processed file is held before it is archived, whatever the settle time: a
/// settle time of an hour would otherwise keep an hour of a backlog's files in processing
/// (and in memory).
const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// How long a processed file of `job` is held before it is checked and archived: its settle
/// time, at most a minute.
pub(super) fn hold_of(config: &Config, job: &str) -> Duration {
    settle_of(config, job).min(HOLD_AT_MOST)
}

/// What became of a held file that was looked at.
pub(super) enum Looked {
    /// Quiet again after changing while read: to be processed again, whole.
    Reread {
        job: String,
        claimed: Claimed,
        recovered: bool,
    },
    /// Archived, or (when that could not be done yet) left to the retries of unfinished
    /// moves; either way the worker is done with it.
    Done,
    /// Changed after its work was committed: recorded as such (a break, an alert) and moved
    /// to `failed/` (or left to the retries of unfinished moves).
    SetAside,
    /// Gone from the processing folder (someone removed it); the worker is done with it too.
    /// `waiting`: it was waiting to be read again (it still counted as handed to the worker).
    Gone { waiting: bool },
}

/// Looks at the held files that are due: re-holds those still changing, archives those that
/// stayed as they were read, sets aside those that changed after their work was committed.
pub(super) async fn look_at_due(shared: &Arc<Shared>, held: &mut Held) -> Vec<Looked> {
    let due = held.take_due(Instant::now());
    if due.is_empty() {
        return Vec::new();
    }
    look_at(shared, held, due, false).await
}

/// At shutdown: checks and archives (or sets aside) every file held for archiving, without
/// waiting for its settle time to end; files waiting to be read again stay for the next start.
pub(super) async fn finish_on_stop(shared: &Arc<Shared>, held: &mut Held) {
    let files = held.take_archivable();
    if !files.is_empty() {
        look_at(shared, held, files, true).await;
    }
}

async fn look_at(
    shared: &Arc<Shared>,
    held: &mut Held,
    files: Vec<HeldFile>,
    stopping: bool,
) -> Vec<Looked> {
    let config = shared.config();
    let store = shared.store.clone();
    let looked = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for f in files {
            let _entered = info_span!("file", job = %f.job, file = %f.claimed.name).entered();
            out.push(look_at_one(&config, &store, f, stopping));
        }
        out
    })
    .await
    .unwrap_or_default();
    let mut done = Vec::new();
    for (looked, unfinished) in looked {
        match looked {
            Ok(l) => done.push(l),
            Err(again) => held.hold(again),
        }
        if let Some(u) = unfinished {
            shared
                .unfinished
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(u);
        }
    }
    done
}

type Unfinished = (String, Claimed, FileOutcome);

/// One held file: `Err` to hold it again; with it, a move to retry later, if one failed.
fn look_at_one(
    config: &Arc<Config>,
    store: &Arc<std::sync::Mutex<Box<dyn Store>>>,
    f: HeldFile,
    stopping: bool,
) -> (Result<Looked, HeldFile>, Option<Unfinished>) {
    let now = match ingest::fingerprint(&f.claimed.path) {
        Ok(now) => now,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warn!(path = %f.claimed.path.display(), "the file was removed from the processing folder by someone else");
            let waiting = matches!(f.what, HeldFor::Reread { .. });
            return (Ok(Looked::Gone { waiting }), None);
        }
        Err(e) => {
            warn!(error = %e, "cannot look at the file; will try again");
            let due = Instant::now() + settle_of(config, &f.job);
            return (Err(HeldFile { due, ..f }), None);
        }
    };
    let settle = match f.what {
        HeldFor::Reread { .. } => settle_of(config, &f.job),
        HeldFor::Archive(_) => hold_of(config, &f.job),
    };
    match f.what {
        HeldFor::Reread { recovered } => {
            if now == f.seen {
                (
                    Ok(Looked::Reread {
                        job: f.job,
                        claimed: f.claimed,
                        recovered,
                    }),
                    None,
                )
            } else {
                // Still being written: wait until it has been quiet for the settle time.
                let due = Instant::now() + settle;
                (
                    Err(HeldFile {
                        seen: now,
                        due,
                        ..f
                    }),
                    None,
                )
            }
        }
        HeldFor::Archive(ref outcome) => {
            let unchanged = if now != f.seen {
                false
            } else {
                match same_content_as_read(store, &f) {
                    Ok(same) => same,
                    Err(e) if !stopping => {
                        warn!(error = %e, "cannot compare the file with what was read; will try again");
                        let due = Instant::now() + settle;
                        return (Err(HeldFile { due, ..f }), None);
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot compare the file with what was read; it stays in processing for the next start");
                        return (Ok(Looked::Done), None);
                    }
                }
            };
            let (outcome, looked) = if unchanged {
                (outcome.clone(), Looked::Done)
            } else {
                match set_aside(config, store, &f, outcome, now).map(|o| (o, Looked::SetAside)) {
                    Ok(o) => o,
                    Err(e) if !stopping => {
                        warn!(error = %e, "could not record that the file changed; will try again");
                        let due = Instant::now() + settle;
                        return (Err(HeldFile { due, ..f }), None);
                    }
                    Err(e) => {
                        warn!(error = %e, "could not record that the file changed; it stays in processing for the next start");
                        return (Ok(Looked::Done), None);
                    }
                }
            };
            let moved = super::finish_file(config, &f.job, &f.claimed, &outcome);
            let left = (!moved).then_some((f.job, f.claimed, outcome));
            (Ok(looked), left)
        }
    }
}

/// Whether the file's content now is what was read: its hash is recorded for it under its
/// name. `Err` when that cannot be told (the file or the store unreadable): not archived yet.
fn same_content_as_read(
    store: &Arc<std::sync::Mutex<Box<dyn Store>>>,
    f: &HeldFile,
) -> Result<bool, String> {
    let sha = ingest::content_sha256(&f.claimed.path).map_err(|e| e.to_string())?;
    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
    store::in_read(guard.as_mut(), |u| {
        u.last_file_outcome(&f.job, &sha, &f.claimed.name)
    })
    .map(|o| o.is_some())
    .map_err(|e| e.to_string())
}

/// Records that a file changed after its work was committed (a failed file, a break, an alert)
/// and returns the outcome that sends it to `failed/` with a note saying so.
fn set_aside(
    config: &Arc<Config>,
    store: &Arc<std::sync::Mutex<Box<dyn Store>>>,
    f: &HeldFile,
    read: &FileOutcome,
    now: Fingerprint,
) -> Result<FileOutcome, WorkError> {
    let Some(job) = config.job(&f.job).cloned() else {
        return Err(WorkError::NoLongerConfigured(f.job.clone()));
    };
    let kept = match read {
        FileOutcome::Processed {
            run_id, summary, ..
        } => {
            format!("clerk kept what it had read (run {run_id}: {summary})")
        }
        FileOutcome::Duplicate { original, .. } => format!(
            "what clerk had read was the same as file {original}, processed before, so nothing \
             was posted from it"
        ),
        FileOutcome::AlreadyRecorded { .. } | FileOutcome::Failed { .. } => {
            "clerk kept what it had read before the last stop".to_string()
        }
    };
    let message = format!(
        "{} was written to after clerk had read it: it had {} bytes when read and has {} now. \
         {kept}; nothing of what was written afterwards. The file is set aside: make sure it is \
         complete, then drop it into the folder again; records clerk already has are recognised \
         by their identity and not posted twice.",
        f.claimed.name, f.seen.size, now.size
    );
    let sha = ingest::content_sha256(&f.claimed.path).unwrap_or_default();
    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
    let at = Utc::now();
    // The changed content as a failed file: found in processing after a crash, it goes to
    // failed/ with this message instead of being read as a new file.
    let changed = pipeline::FailedFile {
        job: &job,
        claimed: &f.claimed,
        sha: &sha,
        size: now.size,
        message: &message,
        reason: BreakReason::FileChanged,
        trigger: Trigger::File,
        // A mailed file's attachment was recorded when it was processed.
        records_attachment: false,
    };
    let run_id = store::in_unit_as(guard.as_mut(), |u| {
        pipeline::record_failed_file(u, config, &changed, at)
    })?;
    warn!(
        run = run_id,
        "the file changed after it was read; it is set aside"
    );
    Ok(FileOutcome::Failed { run_id, message })
}

/// What a break about an ignored file is about: its name and modification time, so that the
/// same file is reported once, across restarts, and a new file dropped under that name again.
pub(super) fn ignored_subject(ignored: &ingest::Ignored) -> String {
    let mtime = ignored
        .modified
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(|| "-".to_string(), |d| d.as_nanos().to_string());
    format!("ignored|{}|{mtime}", ignored.name)
}

/// Opens the break about a file clerk ignores, unless one was ever opened about it (resolved
/// or not). `true` when it was opened now.
pub(super) fn report_ignored(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    name: &str,
    subject: &str,
    detail: &str,
) -> Result<bool, StoreError> {
    let at = Utc::now();
    store::in_unit(store, |u| {
        if u.break_about(&job.name, subject)? {
            return Ok(false);
        }
        let run_id = u.start_run(&job.name, Trigger::File, None, at)?;
        u.open_break(&NewBreak {
            job: &job.name,
            run_id,
            reason: BreakReason::IgnoredFile,
            detail,
            amount: None,
            currency: None,
            difference: None,
            since: at.with_timezone(&config.settings.timezone).date_naive(),
            owner: job.owner.as_deref(),
            record_id: None,
            source: Some(name),
            at,
            subject: Some(subject),
        })?;
        u.finish_run(
            run_id,
            &RunOutcome {
                status: Some(RunStatus::Ok),
                finished_at: Some(at),
                ..Default::default()
            },
        )?;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_files_come_due_in_their_time() {
        let mut held = Held::default();
        let t0 = Instant::now();
        let file = |due| HeldFile {
            job: "j".into(),
            claimed: Claimed {
                path: "/nowhere".into(),
                name: "a.csv".into(),
                arrived_at: Utc::now(),
                origin: None,
            },
            seen: Fingerprint {
                size: 1,
                modified: None,
            },
            due,
            what: HeldFor::Reread { recovered: false },
        };
        held.hold(file(t0 + Duration::from_secs(3)));
        held.hold(file(t0 + Duration::from_secs(1)));
        assert_eq!(held.next_due(), Some(t0 + Duration::from_secs(1)));
        assert!(held.take_due(t0).is_empty());
        assert_eq!(held.take_due(t0 + Duration::from_secs(2)).len(), 1);
        assert_eq!(held.next_due(), Some(t0 + Duration::from_secs(3)));
    }
}
