//! The scanner task: lists watched folders on every tick and file event, claims settled files
//! as the worker has room for them (never waiting for it), reports files it will never take.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use super::{Shared, Work, folders, now_millis, stopped};
use crate::config::Watch;
use crate::ingest::{self, FolderEvents, Settler};

/// How many files the worker is handed ahead of what it is doing. The scanner takes more from
/// the inboxes only as the worker gets through these, so it never waits for the worker (nor
/// does start-up, or a signal), and a backlog waits in its folders, where `clerk status` shows
/// it, rather than in memory.
pub(super) const FILES_AHEAD: usize = 16;

/// Ignored files reported per scan at most: a folder of thousands of stray files does not
/// crowd the work queue; the rest are reported at the next scans.
const IGNORED_PER_SCAN: usize = 64;

pub(super) async fn run(
    shared: Arc<Shared>,
    work: mpsc::Sender<Work>,
    mut stop: watch::Receiver<bool>,
) {
    let config = shared.config();
    let watched: Vec<(String, Watch)> = config
        .jobs
        .iter()
        .filter_map(|j| j.watch.clone().map(|w| (j.name.clone(), w)))
        .collect();
    if watched.is_empty() {
        shared.scanner_alive.store(i64::MAX, Ordering::Relaxed);
    }
    let folders: Vec<PathBuf> = watched.iter().map(|(_, w)| w.folder.clone()).collect();
    let (_events, mut events) = FolderEvents::start(&folders);
    let mut settlers: HashMap<String, Settler> = HashMap::new();
    // Files no job takes are reported once they have settled too: one still being copied
    // in would otherwise look like a new file at every scan.
    let mut ignored_settlers: HashMap<String, Settler> = HashMap::new();
    let mut unreachable: HashMap<String, bool> = HashMap::new();
    // Files that could not be taken (a read-only inbox): one ERROR each, not one per scan.
    let mut untakeable: HashSet<(String, String)> = Default::default();
    // Ignored files handed to the worker to report (it reports each once, across restarts).
    let mut reported: HashSet<(String, String)> = Default::default();
    // Settled files not taken yet, in the order they are to be taken.
    let mut due: VecDeque<(ingest::Ready, usize)> = VecDeque::new();
    let mut tick = tokio::time::interval(config.settings.rescan_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let list = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            _ = tick.tick() => true,
            Some(_) = events.recv() => {
                while events.try_recv().is_ok() {}
                true
            }
            // The worker finished a file: hand it the next ones already found.
            _ = shared.progress.notified() => false,
        };
        if list && !watched.is_empty() {
            due = scan(
                &watched,
                &work,
                &mut settlers,
                &mut ignored_settlers,
                &mut unreachable,
                &mut reported,
            )
            .await;
        }
        if !feed(
            &shared,
            &work,
            &watched,
            &mut due,
            &mut settlers,
            &mut untakeable,
            &stop,
        )
        .await
        {
            return;
        }
        if !watched.is_empty() {
            shared.scanner_alive.store(now_millis(), Ordering::Relaxed);
        }
    }
}

/// Lists every watched folder and returns the settled files, to be taken oldest arrival first
/// across all of them; reports the files no job will take.
async fn scan(
    watched: &[(String, Watch)],
    work: &mpsc::Sender<Work>,
    settlers: &mut HashMap<String, Settler>,
    ignored_settlers: &mut HashMap<String, Settler>,
    unreachable: &mut HashMap<String, bool>,
    reported: &mut HashSet<(String, String)>,
) -> VecDeque<(ingest::Ready, usize)> {
    // Every folder is listed first and the settled files are taken oldest arrival first
    // across all of them: a ledger and the statement that pays it, dropped together,
    // are worked together, so one busy folder cannot run ahead of the others and leave
    // thousands of items waiting for their counterparts.
    let mut due: Vec<(ingest::Ready, usize)> = Vec::new();
    // One arrival time for everything first seen in this scan, whatever folder: files
    // that arrived while the worker was busy are then ordered by when they were written.
    let (scan_now, scan_wall) = (Instant::now(), SystemTime::now());
    let mut still_ignored = HashSet::new();
    let mut reports = 0;
    for (k, (job, w)) in watched.iter().enumerate() {
        let w2 = w.clone();
        let listing = tokio::task::spawn_blocking(move || ingest::list_folder(&w2)).await;
        let listing = match listing {
            Ok(Ok(l)) => {
                if unreachable.insert(job.clone(), false) == Some(true) {
                    info!(job = %job, folder = %w.folder.display(), "folder reachable again");
                }
                l
            }
            Ok(Err(e)) => {
                if unreachable.insert(job.clone(), true) != Some(true) {
                    error!(job = %job, folder = %w.folder.display(), error = %e, "cannot list the watched folder; will keep trying");
                }
                continue;
            }
            Err(e) => {
                error!(job = %job, error = %e, "listing panicked");
                continue;
            }
        };
        let seen: Vec<ingest::Seen> = listing
            .ignored
            .iter()
            .map(|i| ingest::Seen {
                name: i.name.clone(),
                size: i.size,
                modified: i.modified,
            })
            .collect();
        let settled: HashSet<String> = ignored_settlers
            .entry(job.clone())
            .or_default()
            .observe(&seen, scan_now, scan_wall, w.settle_time)
            .into_iter()
            .map(|r| r.name)
            .collect();
        for ignored in listing.ignored.iter().filter(|i| settled.contains(&i.name)) {
            let key = (job.clone(), folders::ignored_subject(ignored));
            still_ignored.insert(key.clone());
            if reported.contains(&key) || reports >= IGNORED_PER_SCAN {
                continue;
            }
            let notice = Work::Ignored {
                job: job.clone(),
                name: ignored.name.clone(),
                subject: key.1.clone(),
                detail: ignored.explain(w),
            };
            // Never waits: with the queue full it is reported at a later scan.
            if work.try_send(notice).is_ok() {
                reported.insert(key);
                reports += 1;
            }
        }
        let settler = settlers.entry(job.clone()).or_default();
        let ready = settler.observe(&listing.candidates, scan_now, scan_wall, w.settle_time);
        due.extend(ready.into_iter().map(|r| (r, k)));
    }
    // Forgotten once gone, so a new file under the same name is looked at again.
    reported.retain(|key| still_ignored.contains(key));
    due.sort();
    due.into()
}

/// Hands the worker files while it has room: first those a previous run left in processing,
/// then settled files, taken from their inbox one by one. Never waits for the worker. `false`
/// when the worker is gone.
async fn feed(
    shared: &Arc<Shared>,
    work: &mpsc::Sender<Work>,
    watched: &[(String, Watch)],
    due: &mut VecDeque<(ingest::Ready, usize)>,
    settlers: &mut HashMap<String, Settler>,
    untakeable: &mut HashSet<(String, String)>,
    stop: &watch::Receiver<bool>,
) -> bool {
    loop {
        if *stop.borrow() || shared.files_queued.load(Ordering::Acquire) >= FILES_AHEAD {
            return true;
        }
        let permit = match work.try_reserve() {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Full(())) => return true,
            Err(mpsc::error::TrySendError::Closed(())) => return false,
        };
        {
            // Popped and sent under the lock: a mailbox reader that finds the queue empty
            // knows every resumed file is ahead of its mail in the work queue.
            let mut resume = shared.resume.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((job, claimed)) = resume.pop_front() {
                info!(job = %job, file = %claimed.name, "resuming a file taken before the last stop");
                shared.files_queued.fetch_add(1, Ordering::AcqRel);
                permit.send(Work::File {
                    job,
                    claimed,
                    recovered: true,
                });
                continue;
            }
        }
        let Some((ready, k)) = due.pop_front() else {
            return true;
        };
        let (job, w) = &watched[k];
        let name = ready.name;
        let w2 = w.clone();
        let n2 = name.clone();
        let first_seen = ready.first_seen;
        match tokio::task::spawn_blocking(move || ingest::claim(&w2, &n2, first_seen)).await {
            Ok(Ok(Some(claimed))) => {
                if let Some(settler) = settlers.get_mut(job) {
                    settler.taken(&name);
                }
                untakeable.remove(&(job.clone(), name.clone()));
                info!(job = %job, file = %claimed.name, "file taken");
                shared.files_queued.fetch_add(1, Ordering::AcqRel);
                permit.send(Work::File {
                    job: job.clone(),
                    claimed,
                    recovered: false,
                });
            }
            Ok(Ok(None)) => {
                // Gone (removed by staff, or taken by another clerk).
                if let Some(settler) = settlers.get_mut(job) {
                    settler.taken(&name);
                }
            }
            Ok(Err(e)) => {
                let file = ingest::safe_name(&name);
                if untakeable.insert((job.clone(), name.clone())) {
                    error!(job = %job, file = %file, error = %e, "cannot take the file; will try again");
                } else {
                    tracing::debug!(job = %job, file = %file, error = %e, "still cannot take the file");
                }
            }
            Err(e) => error!(error = %e, "claim panicked"),
        }
    }
}
