//! The daemon: the supervisor, which wires the stages together and owns every long-lived task.
//!
//! Tasks (all started and joined here; nothing is spawned and forgotten), one file each:
//! - **scanner** (`scanner.rs`): lists watched folders on every tick and file event, claims
//!   settled files as the worker has room for them (never waiting for it), reports files it
//!   will never take;
//! - **scheduler** (`scheduler.rs`): fires scheduled jobs at their time; after a restart, a
//!   pause or a clock step, once for the slots missed, never twice (`schedule::Timetable`);
//! - **mailboxes** (`mailboxes.rs`), one per configured mailbox: hands each new message to the
//!   worker, and moves or flags it once the worker has recorded what became of it;
//! - **worker** (`worker.rs`): the one writer: runs each unit of work on the work thread (a
//!   file: `file_unit.rs`; a mail: `mail_unit.rs`; a scheduled run: `fire.rs`); when idle,
//!   sleeps until the next item held back for its grace period comes to the end of it, and
//!   looks at those items again (`jobs::cash::reconcile_due`);
//! - **mailer** (`mail_sender.rs`): delivers queued mail with retries and back-off;
//! - **watchdog** (`watchdog.rs`): tells systemd the daemon is alive while work progresses (the
//!   scanner turns or the worker finishes units).
//!
//! The scheduler also asks the worker each hour to escalate breaks open too long
//! (`escalation.rs`, `jobs::escalation`); the console (`web`) sees the tasks through
//! `Liveness`: their last beats and which ended unasked.
//!
//! Before they start, `startup.rs` prepares the folders, opens and checks the store and takes
//! in what the previous run left. Shutdown is one signal fanned out through a `watch` channel;
//! the worker finishes (or, past the drain deadline, abandons to the transaction's rollback)
//! its current unit.

mod alert;
mod attempts;
mod escalation;
mod expect;
mod exports;
mod file_unit;
mod fire;
mod folders;
pub mod lock;
mod mail_sender;
mod mail_unit;
pub mod mailbox;
mod mailboxes;
pub mod pipeline;
mod scanner;
mod scheduler;
mod startup;
mod store_thread;
pub mod summary;
mod task;
mod watchdog;
mod worker;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::ingest::Claimed;
use crate::notify::Mailer;
use crate::store::{self, Store};
use pipeline::FileOutcome;

pub use file_unit::finish_file;
pub use fire::{RESTORE_ADVICE, fire};
pub(crate) use folders::put_away_replaced;
pub use mail_sender::{DeliveryRound, SentJournal, deliver_due};
pub use startup::{STORE_DAMAGED_EXIT, StoreDamaged, prepare_folders};
use task::stopped;
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
    /// Unix millis of the scheduler's last tick (for the console and `/readyz`).
    scheduler_alive: AtomicI64,
    /// Unix millis of each mailbox reader's last completed poll, by mailbox name (`/readyz`).
    mailbox_polled: Mutex<std::collections::BTreeMap<String, i64>>,
    /// Long-lived tasks that ended while the daemon was not stopping them (a panic, a bug):
    /// `/readyz` names them, since the daemon then no longer does all of its work.
    tasks_ended: Mutex<Vec<String>>,
    /// Set when shutdown begins: tasks ending from then on were asked to.
    stopping: std::sync::atomic::AtomicBool,
    /// Unix millis when the daemon started: a task is given time for its first sign of life.
    started_at: i64,
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
    /// Wakes the exports task after a unit of work (it exports what was posted).
    export_due: Notify,
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

    let mut store = startup::open_store(&config).await?;
    let sent = startup::settle_previous_mail(store.as_mut(), &config)?;

    let mailer = Mailer::new(config.mail.delivery.clone()).context("setting up mail delivery")?;
    info!(mail = %mailer.describe(), "mail delivery ready");

    let resume = startup::files_to_resume(&config)?;
    // Bound before the daemon says it is ready: a port in use stops `clerk run` here.
    let console = crate::web::bind(&config.http)?;

    let shared = Arc::new(Shared {
        config: RwLock::new(config.clone()),
        store: Arc::new(Mutex::new(store)),
        mailer: RwLock::new(Arc::new(mailer)),
        mail_queued: Notify::new(),
        sent,
        unfinished: Mutex::new(Vec::new()),
        scanner_alive: AtomicI64::new(now_millis()),
        worker_done: AtomicI64::new(now_millis()),
        scheduler_alive: AtomicI64::new(0),
        mailbox_polled: Mutex::new(Default::default()),
        tasks_ended: Mutex::new(Vec::new()),
        stopping: std::sync::atomic::AtomicBool::new(false),
        started_at: now_millis(),
        files_queued: AtomicUsize::new(0),
        progress: Notify::new(),
        resume: Mutex::new(resume),
        work_thread: store_thread::StoreThread::start().context("starting the work thread")?,
        export_due: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (work_tx, work_rx) = mpsc::channel::<Work>(1024);

    // Long-lived: they take the configuration in use for each unit of work or delivery.
    let tasks: Vec<(&str, JoinHandle<()>)> = vec![
        (
            "worker",
            tokio::spawn(watched(
                &shared,
                "worker",
                &stop_rx,
                worker::run(shared.clone(), work_rx, stop_rx.clone()),
            )),
        ),
        (
            "mailer",
            tokio::spawn(watched(
                &shared,
                "mailer",
                &stop_rx,
                mail_sender::run(shared.clone(), stop_rx.clone()),
            )),
        ),
        (
            "watchdog",
            tokio::spawn(watchdog::run(shared.clone(), stop_rx.clone())),
        ),
    ];
    let mut tasks = tasks;
    if let Some(listener) = console {
        tasks.push((
            "console",
            tokio::spawn(crate::web::serve(
                listener,
                Arc::new(Liveness(shared.clone())),
                stop_rx.clone(),
            )),
        ));
    }
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
    shared
        .stopping
        .store(true, std::sync::atomic::Ordering::Relaxed);
    drop(work_tx);
    info!("stopping: finishing the current unit of work");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let _ = generation.stop.send(true);
    let tasks = tasks.into_iter().chain(generation.tasks);
    task::drain(tasks, shared.config().settings.drain_timeout).await;
    info!("clerk stopped");
    drop(lock);
    Ok(())
}

/// The tasks that follow the configuration: started with one, stopped before the next.
struct Generation {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Generation {
    fn start(shared: &Arc<Shared>, work: &mpsc::Sender<Work>) -> Generation {
        let (stop, stop_rx) = watch::channel(false);
        // This generation's tasks start afresh: what ended in the one before is forgotten.
        shared
            .tasks_ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|t| t == "worker" || t == "mailer");
        shared
            .mailbox_polled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let mut tasks = vec![
            (
                "scanner",
                tokio::spawn(watched(
                    shared,
                    "scanner",
                    &stop_rx,
                    scanner::run(shared.clone(), work.clone(), stop_rx.clone()),
                )),
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
        tasks.push((
            "expect",
            tokio::spawn(expect::run(shared.clone(), stop_rx.clone())),
        ));
        tasks.push((
            "exports",
            tokio::spawn(exports::run(shared.clone(), stop_rx.clone())),
        ));
        for name in shared.config().mailboxes.keys() {
            tasks.push((
                "mailbox",
                tokio::spawn(watched(
                    shared,
                    &format!("mailbox {name}"),
                    &stop_rx,
                    mailboxes::run(shared.clone(), name.clone(), work.clone(), stop_rx.clone()),
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
                store::in_unit_as(guard.as_mut(), |u| {
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

/// The daemon as the console sees it: the configuration in use and the tasks' signs of life.
/// `[http]` itself is read at start; a reload that changes it takes effect at the next restart.
struct Liveness(Arc<Shared>);

impl crate::web::Daemon for Liveness {
    fn config(&self) -> Arc<Config> {
        self.0.config()
    }

    fn beats(&self) -> crate::web::Beats {
        use std::sync::atomic::Ordering::Relaxed;
        let seen = |v: i64| (v > 0).then_some(v);
        let polled = self
            .0
            .mailbox_polled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let ended = self
            .0
            .tasks_ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        crate::web::Beats {
            // The scanner writes i64::MAX while it has nothing to watch.
            scanner: seen(self.0.scanner_alive.load(Relaxed)),
            scheduler: seen(self.0.scheduler_alive.load(Relaxed)),
            worker: seen(self.0.worker_done.load(Relaxed)),
            mailboxes: self
                .0
                .config()
                .mailboxes
                .keys()
                .map(|name| (name.clone(), polled.get(name).copied()))
                .collect(),
            tasks_alive: ended.is_empty(),
            tasks_ended: ended,
            started_at: Some(self.0.started_at),
        }
    }
}

/// Runs a long-lived task and, should it end while nobody asked it to stop (it panicked, or
/// returned on a path nobody expected), writes its name down for `/readyz`.
fn watched<F>(
    shared: &Arc<Shared>,
    name: &str,
    stop: &watch::Receiver<bool>,
    task: F,
) -> impl Future<Output = ()> + Send + 'static
where
    F: Future<Output = ()> + Send + 'static,
{
    /// Runs on the task's end, also when it unwinds from a panic.
    struct Ended {
        shared: Arc<Shared>,
        name: String,
        stop: watch::Receiver<bool>,
    }
    impl Drop for Ended {
        fn drop(&mut self) {
            let asked = *self.stop.borrow()
                || self
                    .shared
                    .stopping
                    .load(std::sync::atomic::Ordering::Relaxed);
            if !asked {
                error!(task = %self.name, "a long-lived task ended while clerk runs");
                self.shared
                    .tasks_ended
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(self.name.clone());
            }
        }
    }
    let guard = Ended {
        shared: shared.clone(),
        name: name.to_string(),
        stop: stop.clone(),
    };
    async move {
        let _guard = guard;
        task.await;
    }
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}
