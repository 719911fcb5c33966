//! The daemon: wires the stages together and owns every long-lived task.
//!
//! Tasks (all started and joined here; nothing is spawned and forgotten):
//! - **scanner**: lists watched folders on every tick and file event, claims settled files as
//!   the worker has room for them (never waiting for it), reports files it will never take;
//! - **scheduler**: fires scheduled jobs at their time; after a restart, a pause or a clock
//!   step, once for the slots missed, never twice (`schedule::Timetable`);
//! - **worker**: the one writer: runs each unit of work (a file, a fire) on a blocking thread;
//!   when idle, sleeps until the next item held back for its grace period comes to the end of
//!   it, and looks at those items again (`pipeline::reconcile_due`);
//! - **mailer**: delivers queued mail with retries and back-off;
//! - **watchdog**: tells systemd the daemon is alive while work progresses (the scanner turns
//!   or the worker finishes units).
//!
//! Shutdown is one signal fanned out through a `watch` channel; the worker finishes (or, past
//! the drain deadline, abandons to the transaction's rollback) its current unit.

mod alert;
mod attempts;
pub mod documents;
mod folders;
mod incremental;
pub mod lock;
mod mail_sender;
pub mod mailbox;
mod mailboxes;
pub mod payables;
pub mod pipeline;
mod scanner;
mod scheduler;
pub mod securities;
mod store_thread;
mod subjects;
pub mod summary;
mod versions;
mod watchdog;
pub mod workflow;

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, info_span, warn};

use crate::config::{Config, Job, JobKind};
use crate::ingest::{self, Claimed};
use crate::notify::Mailer;
use crate::reconcile::backlog::GraceEnd;
use crate::store::{self, FileStatus, Store, StoreError, Trigger};
use pipeline::FileOutcome;

pub(crate) use folders::put_away_replaced;
use mail_sender::SENT_JOURNAL;
pub use mail_sender::{DeliveryRound, SentJournal, deliver_due};

/// One thing for the worker to do.
#[derive(Debug)]
enum Work {
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

/// What every task shares.
struct Shared {
    /// The configuration in use; SIGHUP swaps it whole. Each unit of work and each task
    /// generation takes one snapshot (`Shared::config`) and keeps it to its end.
    config: RwLock<Arc<Config>>,
    /// The one store connection; used on blocking threads only, never across an await.
    store: Arc<Mutex<Box<dyn Store>>>,
    /// Mail delivery as the configuration in use says; swapped with it.
    mailer: RwLock<Arc<Mailer>>,
    /// Wakes the mailer when new mail is queued.
    mail_queued: Notify,
    /// What the SMTP server accepted, written down before the store is told.
    sent: SentJournal,
    /// Files whose outcome is recorded but which could not be moved out of processing yet.
    unfinished: Mutex<Vec<(String, Claimed, FileOutcome)>>,
    /// Unix millis of the scanner's last completed pass: a sign of life for the watchdog.
    scanner_alive: AtomicI64,
    /// Unix millis of the worker's last finished unit of work: the other sign of life.
    worker_done: AtomicI64,
    /// Files handed to the worker and not yet done with. The scanner takes files from the
    /// inboxes only while this is below [`scanner::FILES_AHEAD`]; the rest wait in their folders.
    files_queued: AtomicUsize,
    /// Wakes the scanner when the worker has finished a file and has room for more.
    progress: Notify,
    /// Files a previous run left in processing, handed to the worker as it has room, before
    /// anything new is taken.
    resume: Mutex<VecDeque<(String, Claimed)>>,
    /// Where units of work run (see `store_thread`).
    work_thread: store_thread::StoreThread,
}

impl Shared {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn mailer(&self) -> Arc<Mailer> {
        self.mailer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // A closed channel: no reloads.
    let (_, reload) = mpsc::unbounded_channel();
    run_reloadable(config, shutdown, reload).await
}

/// Runs the daemon until `shutdown` completes, reloading the configuration and jobs from
/// `config.file` each time `reload` receives (SIGHUP). A new configuration that does not load
/// is refused: the one in use stays, the error is logged and mailed to `alerts_to`.
pub async fn run_reloadable(
    config: Config,
    shutdown: impl Future<Output = ()>,
    mut reload: mpsc::UnboundedReceiver<()>,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    info!(config = %config.file.display(), jobs = config.jobs.len(), "clerk starting");

    // One daemon per install: before anything is touched. Held until this function returns.
    let settings = config.settings.clone();
    let lock =
        tokio::task::spawn_blocking(move || lock::InstallLock::acquire(&settings, "clerk run"))
            .await??;
    info!(lock = %lock.path().display(), "install locked");

    prepare_folders(&config)?;
    if let crate::notify::Delivery::Outbox(dir) = &config.mail.delivery {
        // A message being written when the last run was killed; it is written again.
        crate::fsx::remove_stale_temps(dir);
    }
    info!("folders ready");

    let path = config.settings.store_path.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let mut store = store::open(&path)?;
        let found = store.damage(store::CheckDepth::Quick)?;
        Ok::<_, StoreError>((store, found))
    })
    .await?;
    // A damaged store is not worked on: what is written to it may be lost or wrong, and
    // every summary would fail. People are told, and the daemon stops (systemd does not
    // restart it: exit status `STORE_DAMAGED_EXIT`).
    let damaged = |found: Vec<String>| StoreDamaged {
        path: config.settings.store_path.clone(),
        found,
    };
    let store = match opened {
        Ok((store, found)) if found.is_empty() => store,
        Ok((_, found)) => return Err(refuse_damaged(&config, damaged(found)).await),
        Err(StoreError::Corrupt(why)) => {
            return Err(refuse_damaged(&config, damaged(vec![why])).await);
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "opening the store {}",
                config.settings.store_path.display()
            )));
        }
    };
    info!(store = %store.describe(), "store open and sound (quick integrity check)");
    // Mail the previous daemon handed over but did not get to record as sent: recorded now.
    let mut store = store;
    let sent = SentJournal::open(&config.settings.state_dir.join(SENT_JOURNAL))
        .context("opening the journal of sent mail")?;
    sent.settle(store.as_mut())
        .context("recording mail sent before the last stop")?;
    // Mail leased by a previous daemon that was killed mid-delivery would otherwise wait for
    // its lease to run out (minutes). Released now and sent again under the same Message-ID.
    match store::in_unit(store.as_mut(), |u| u.release_mail_leases(Utc::now())) {
        Ok(0) => {}
        Ok(n) => {
            warn!(
                messages = n,
                "mail leased by the previous run was not confirmed sent; it is due again"
            )
        }
        Err(e) => warn!(error = %e, "could not release the previous run's mail leases"),
    }

    let mailer = Mailer::new(config.mail.delivery.clone()).context("setting up mail delivery")?;
    info!(mail = %mailer.describe(), "mail delivery ready");

    // Files a previous run left half-done go first, before anything new. They are handed to
    // the worker as it has room, like new files: any number of them neither delays start-up
    // nor fills the work queue.
    let mut resume = VecDeque::new();
    for job in &config.jobs {
        if let Some(w) = &job.watch {
            for claimed in ingest::leftovers(w)
                .with_context(|| format!("looking for unfinished files of job {}", job.name))?
            {
                tracing::debug!(job = %job.name, file = %claimed.name, "resuming a file taken before the last stop");
                resume.push_back((job.name.clone(), claimed));
            }
        }
    }
    if !resume.is_empty() {
        info!(
            files = resume.len(),
            "files taken before the last stop are resumed first"
        );
    }

    let shared = Arc::new(Shared {
        config: RwLock::new(config.clone()),
        store: Arc::new(Mutex::new(store)),
        mailer: RwLock::new(Arc::new(mailer)),
        mail_queued: Notify::new(),
        sent,
        unfinished: Mutex::new(Vec::new()),
        scanner_alive: AtomicI64::new(now_millis()),
        worker_done: AtomicI64::new(now_millis()),
        files_queued: AtomicUsize::new(0),
        progress: Notify::new(),
        resume: Mutex::new(resume),
        work_thread: store_thread::StoreThread::start().context("starting the work thread")?,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (work_tx, work_rx) = mpsc::channel::<Work>(1024);

    // Long-lived: they take the configuration in use for each unit of work or delivery.
    let tasks: Vec<(&str, JoinHandle<()>)> = vec![
        (
            "worker",
            tokio::spawn(worker(shared.clone(), work_rx, stop_rx.clone())),
        ),
        (
            "mailer",
            tokio::spawn(mail_sender::run(shared.clone(), stop_rx.clone())),
        ),
        (
            "watchdog",
            tokio::spawn(watchdog::run(shared.clone(), stop_rx.clone())),
        ),
    ];
    // The scanner, scheduler and mailbox readers are started per configuration: a reload
    // stops them, swaps the configuration and starts them again.
    let mut generation = Generation::start(&shared, &work_tx);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    info!("clerk running");

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = reload.recv() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                if let Some(next) = reload_config(&shared).await {
                    generation.stop().await;
                    *shared.config.write().unwrap_or_else(|p| p.into_inner()) = next.0;
                    *shared.mailer.write().unwrap_or_else(|p| p.into_inner()) = next.1;
                    generation = Generation::start(&shared, &work_tx);
                    let config = shared.config();
                    info!(config = %config.file.display(), jobs = config.jobs.len(), mailboxes = config.mailboxes.len(), "configuration reloaded");
                }
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    }
    drop(work_tx);
    info!("stopping: finishing the current unit of work");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let _ = generation.stop.send(true);
    // The configured range keeps this far from overflow; a wrap would panic mid-shutdown.
    let now = tokio::time::Instant::now();
    let deadline = now
        .checked_add(shared.config().settings.drain_timeout)
        .unwrap_or(now);
    for (name, handle) in tasks.into_iter().chain(generation.tasks) {
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(task = name, error = %e, "task ended abnormally"),
            Err(_) => {
                warn!(
                    task = name,
                    "did not stop within the drain timeout; its unit of work rolls back"
                );
                // Stopped on purpose: the file's try does not count towards setting it aside.
                attempts::abandoned();
            }
        }
    }
    info!("clerk stopped");
    drop(lock);
    Ok(())
}

/// The exit status of `clerk run` on a damaged store: the unit's `RestartPreventExitStatus`,
/// so systemd does not start it again and again on the same damage.
pub const STORE_DAMAGED_EXIT: u8 = 3;

/// The store failed its integrity check: clerk does not work on it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store {} is damaged; clerk does not start on it. {RESTORE_ADVICE}\nSQLite's integrity check found:\n  {}",
    path.display(),
    found.join("\n  ")
)]
pub struct StoreDamaged {
    pub path: PathBuf,
    /// What the check found (at most 20 lines).
    pub found: Vec<String>,
}

/// Logs and mails (or writes into the outbox folder) that the store is damaged; the error to
/// stop with.
async fn refuse_damaged(config: &Config, damaged: StoreDamaged) -> anyhow::Error {
    error!(store = %damaged.path.display(), found = ?damaged.found, "the store is damaged; clerk does not start");
    let what = damaged.to_string();
    match Mailer::new(config.mail.delivery.clone()) {
        Ok(mailer) => {
            alert::raise(config, &mailer, "clerk-store", &what, Utc::now()).await;
        }
        Err(e) => {
            // The outbox folder still takes it.
            warn!(error = %e, "mail delivery cannot be set up; the alert goes to the outbox folder");
            let outbox = crate::notify::Delivery::Outbox(config.mail.outbox_dir.clone());
            if let Ok(folder) = Mailer::new(outbox) {
                alert::raise(config, &folder, "clerk-store", &what, Utc::now()).await;
            }
        }
    }
    anyhow::Error::new(damaged)
}

/// The tasks that follow the configuration: started with one, stopped before the next.
struct Generation {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Generation {
    fn start(shared: &Arc<Shared>, work: &mpsc::Sender<Work>) -> Generation {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![
            (
                "scanner",
                tokio::spawn(scanner::run(shared.clone(), work.clone(), stop_rx.clone())),
            ),
            (
                "scheduler",
                tokio::spawn(scheduler::run(
                    shared.clone(),
                    work.clone(),
                    stop_rx.clone(),
                )),
            ),
        ];
        for name in shared.config().mailboxes.keys() {
            tasks.push((
                "mailbox",
                tokio::spawn(mailboxes::run(
                    shared.clone(),
                    name.clone(),
                    work.clone(),
                    stop_rx.clone(),
                )),
            ));
        }
        Generation { stop, tasks }
    }

    /// Stops the tasks and waits for them: each finishes what it handed the worker first.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for (name, handle) in self.tasks {
            if let Err(e) = handle.await {
                error!(task = name, error = %e, "task ended abnormally");
            }
        }
    }
}

/// Loads the configuration file again for a reload. `None` (and an ERROR line and an alert
/// mail) when it does not load or cannot be put to use; the configuration in use stays.
async fn reload_config(shared: &Arc<Shared>) -> Option<(Arc<Config>, Arc<Mailer>)> {
    let current = shared.config();
    let file = current.file.clone();
    info!(config = %file.display(), "SIGHUP: reloading the configuration and jobs");
    let loaded = tokio::task::spawn_blocking(move || -> Result<(Config, Mailer), String> {
        let next = crate::config::load_for_daemon(&file).map_err(|e| e.to_string())?;
        let mailer =
            Mailer::new(next.mail.delivery.clone()).map_err(|e| format!("mail delivery: {e}"))?;
        prepare_folders(&next).map_err(|e| format!("{e:#}"))?;
        Ok((next, mailer))
    })
    .await
    .unwrap_or_else(|e| Err(format!("loading panicked: {e}")));
    match loaded {
        Ok((next, mailer)) => {
            if next.settings.store_path != current.settings.store_path {
                warn!(
                    store = %next.settings.store_path.display(),
                    "a new store path takes effect at the next restart; the store in use stays"
                );
            }
            Some((Arc::new(next), Arc::new(mailer)))
        }
        Err(why) => {
            error!(config = %current.file.display(), error = %why, "the new configuration is invalid; keeping the one in use");
            let what = format!(
                "clerk was asked to reload its configuration ({}), but the new configuration \
                 is invalid, so clerk keeps running with the one it had.\n\n{why}",
                current.file.display()
            );
            let store = shared.store.clone();
            let queued = tokio::task::spawn_blocking(move || {
                let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                store::in_unit(guard.as_mut(), |u| {
                    pipeline::queue_alert(u, &current, "clerk-config", None, &what, Utc::now())
                })
            })
            .await;
            match queued {
                Ok(Ok(())) => shared.mail_queued.notify_one(),
                Ok(Err(e)) => {
                    error!(error = %e, "could not queue the alert about the configuration")
                }
                Err(e) => error!(error = %e, "queueing the alert panicked"),
            }
            None
        }
    }
}

/// Creates the folders clerk writes to, and the watched folders, when missing, with the modes
/// clerk means whatever the umask (see [`crate::fsx`]): its own folders for the group to read,
/// a watched folder for the group to drop files into.
pub fn prepare_folders(config: &Config) -> anyhow::Result<()> {
    let s = &config.settings;
    for dir in [&s.state_dir, &s.archive_dir, &s.failed_dir] {
        create_dir(dir, crate::fsx::DIR_MODE)?;
    }
    if let crate::notify::Delivery::Outbox(dir) = &config.mail.delivery {
        create_dir(dir, crate::fsx::DIR_MODE)?;
    }
    for job in &config.jobs {
        if let Some(w) = &job.watch {
            create_dir(&w.folder, crate::fsx::DROP_DIR_MODE)?;
        }
    }
    Ok(())
}

fn create_dir(dir: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    crate::fsx::create_dir_all_with(dir, mode)
        .with_context(|| format!("creating folder {}", dir.display()))
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

// ---- worker -------------------------------------------------------------------------------

async fn worker(
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
fn file_done(shared: &Shared) {
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
