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
mod file_unit;
mod fire;
mod folders;
mod incremental;
pub mod lock;
mod mail_sender;
mod mail_unit;
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
mod worker;
pub mod workflow;

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::ingest::{self, Claimed};
use crate::notify::Mailer;
use crate::store::{self, Store, StoreError};
use pipeline::FileOutcome;

pub use file_unit::finish_file;
pub use fire::{RESTORE_ADVICE, fire};
pub(crate) use folders::put_away_replaced;
use mail_sender::SENT_JOURNAL;
pub use mail_sender::{DeliveryRound, SentJournal, deliver_due};
use worker::Work;

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
            tokio::spawn(worker::run(shared.clone(), work_rx, stop_rx.clone())),
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
