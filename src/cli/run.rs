//! `clerk run` (the daemon) and `clerk job run` (one job, now).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use super::{load_config, runtime};
use crate::config::{Config, Job};
use crate::daemon::lock::{Holder, InstallLock, LockError};
use crate::daemon::{self, pipeline, pipeline::FileOutcome};
use crate::ingest::{self, Claimed};
use crate::jobs::{self, Runs};
use crate::notify::Mailer;
use crate::store::{self, Store, Trigger};

pub fn daemon(config_path: &Path) -> anyhow::Result<ExitCode> {
    // The daemon sends mail and logs in to mailboxes: every secret must be readable now.
    let config = crate::config::load_for_daemon(config_path).map_err(|errors| {
        anyhow::anyhow!(
            "the configuration has {} problem(s):\n{errors}",
            errors.0.len()
        )
    })?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        // Signal handlers are installed once, before anything else runs.
        let shutdown = shutdown_signal()?;
        let reload = reload_signal()?;
        daemon::run_reloadable(config, shutdown, reload).await
    });
    // The daemon has waited its drain timeout for the unit of work in progress. A unit still
    // running on a blocking thread is abandoned, not waited for: its transaction rolls back
    // and its file is taken again at the next start. (Dropping the runtime would wait.)
    rt.shutdown_background();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // Said why and what to do; a status of its own tells systemd not to restart.
        Err(e) if e.is::<daemon::StoreDamaged>() => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(daemon::STORE_DAMAGED_EXIT))
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// SIGHUP, as a stream of reload requests (SIGHUP's default would end the process).
#[cfg(unix)]
fn reload_signal() -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Ends with the daemon: the first SIGHUP after the receiver is gone finds it closed.
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received");
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

#[cfg(not(unix))]
fn reload_signal() -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<()>> {
    // No SIGHUP: a closed channel, which the daemon ignores.
    let (_, rx) = tokio::sync::mpsc::unbounded_channel();
    Ok(rx)
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

pub fn job(config_path: &Path, name: &str, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let job = named_job(&config, name)?;
    // While a daemon (or another `clerk job run`) works on this install, this run stays out
    // of the job's inbox and processing folder: it works only on copies of the files named to
    // it, in a folder of its own (see `take_files`). Otherwise it holds the lock itself, so no
    // daemon starts and resumes the files it is working on.
    let lock = match InstallLock::acquire(&config.settings, "clerk job run") {
        Ok(lock) => Ok(lock),
        Err(LockError::Held { path, holder }) => Err((path, holder)),
        Err(e) => return Err(e.into()),
    };
    daemon::prepare_folders(&config)?;
    let store: Shared = Arc::new(Mutex::new(
        store::open(&config.settings.store_path).context("opening the store")?,
    ));
    // What this run records from here on is one batch (see `complete_batch`).
    let started = Utc::now();
    let failed = match jobs::runs(&job.kind) {
        Runs::Mail => {
            if !files.is_empty() {
                bail!("job {name} is a summary; it takes no files");
            }
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            daemon::fire(&config, guard.as_mut(), &job, Utc::now(), Trigger::Manual)?;
            outln!("{name}: summary queued");
            false
        }
        runs => {
            let batch = Batch {
                config: &config,
                store: &store,
                job: &job,
                held: lock.as_ref().err(),
            };
            batch.run(files, runs == Runs::FilesAndKept, started)?
        }
    };
    deliver_queued(&config, &store)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The store, shared with the mail delivery at the end of a run.
type Shared = Arc<Mutex<Box<dyn Store>>>;

/// The job named `name`, or an error listing the jobs there are.
fn named_job(config: &Config, name: &str) -> anyhow::Result<Job> {
    let Some(job) = config.job(name).cloned() else {
        bail!(
            "no job {name:?}; jobs: {}",
            config
                .jobs
                .iter()
                .map(|j| j.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    Ok(job)
}

/// A `clerk job run` of a job that reads files: the files it takes are one batch.
struct Batch<'a> {
    config: &'a Config,
    store: &'a Shared,
    job: &'a Job,
    /// The lock file and holder of the clerk working on this install, if another one is.
    held: Option<&'a (PathBuf, Holder)>,
}

impl Batch<'_> {
    /// Takes the files, processes each, then completes the batch; `true` when a file failed.
    /// `kept`: the job also reconciles what it keeps, with no new file.
    fn run(&self, files: &[PathBuf], kept: bool, started: DateTime<Utc>) -> anyhow::Result<bool> {
        let (config, job, name) = (self.config, self.job, self.job.name.as_str());
        let claimed = if kept && files.is_empty() && self.held.is_some() {
            // The daemon takes what waits in the folder; what is kept is compared now.
            Vec::new()
        } else {
            take_files(config, job, files, self.held)?
        };
        if claimed.is_empty() && kept {
            // Nothing new to read: compare what is kept (trades fall due without a file).
            let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
            daemon::fire(config, guard.as_mut(), job, Utc::now(), Trigger::Manual)?;
            outln!("{name}: no new files; reconciled what is kept");
        } else if claimed.is_empty() {
            outln!("{name}: no files to process");
        }
        let mut failed = false;
        for c in claimed {
            failed |= self.process(&c)?;
        }
        self.complete(started)?;
        Ok(failed)
    }

    /// Processes one file and puts it away, saying what became of it; `true` when it failed.
    fn process(&self, c: &Claimed) -> anyhow::Result<bool> {
        let (config, name) = (self.config, self.job.name.as_str());
        let outcome = {
            let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
            pipeline::process_file(
                config,
                guard.as_mut(),
                self.job,
                c,
                Trigger::Manual,
                false,
                Utc::now,
            )
            .with_context(|| format!("processing {}", c.name))?
        };
        let _ = daemon::finish_file(config, name, c, &outcome);
        if let FileOutcome::Processed { replaced: 1.., .. } = &outcome {
            let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
            daemon::put_away_replaced(
                &config.settings.failed_dir,
                guard.as_mut(),
                name,
                Some(&c.name),
            );
        }
        match &outcome {
            FileOutcome::Processed {
                run_id, summary, ..
            } => {
                outln!("{}: processed (run {run_id}): {summary}", c.name)
            }
            FileOutcome::Duplicate { original, .. } => outln!(
                "{}: duplicate of file {original} processed before; nothing posted",
                c.name
            ),
            FileOutcome::Failed { message, .. } => {
                outln!("{}: FAILED, moved to failed/{name}: {message}", c.name);
                return Ok(true);
            }
            FileOutcome::AlreadyRecorded { .. } => outln!("{}: already done", c.name),
        }
        Ok(false)
    }

    /// The files of this run are the whole batch: nothing of it comes later, so what is still
    /// unmatched is a break now rather than held back for the grace period (as a dry run
    /// reports it). With no daemon at work (this run holds the install's lock), nobody would
    /// look at held-back items later: none is left. Beside a daemon, the items it recorded
    /// keep their grace; it looks at them itself.
    fn complete(&self, started: DateTime<Utc>) -> anyhow::Result<()> {
        let complete_from = if self.held.is_some() {
            started
        } else {
            DateTime::<Utc>::MIN_UTC
        };
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        for cash in jobs::cash::fed_by(&self.config.jobs, self.job) {
            let hold = jobs::cash::Hold {
                complete_from: Some(complete_from),
                ..jobs::cash::Hold::of(cash)
            };
            if let Some((run, out)) =
                jobs::cash::reconcile_due(guard.as_mut(), cash, hold, Trigger::Manual, &Utc::now)?
            {
                outln!(
                    "{}: batch complete (run {run}): {} matched, {} breaks opened for what is still unmatched",
                    cash.name,
                    out.matched,
                    out.breaks_opened
                );
            }
        }
        Ok(())
    }
}

/// Hands over what this run queued (alerts, the summary) rather than leave it to the daemon.
fn deliver_queued(config: &Config, store: &Shared) -> anyhow::Result<()> {
    let mailer = Mailer::new(config.mail.delivery.clone())?;
    let rt = runtime()?;
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let round = rt.block_on(daemon::deliver_due(store, &mailer, &stop_rx, None));
    if round.sent + round.failed > 0 {
        outln!(
            "mail: {} delivered, {} to retry ({})",
            round.sent,
            round.failed,
            mailer.describe()
        );
    }
    Ok(())
}

/// Files named on the command line are copied into the job's processing folder (the originals
/// stay where they are); without names, whatever waits in the job's folder is taken now.
///
/// With the install locked by another clerk (`held`: its lock file and holder), named files are
/// copied into `<state>/manual/<job>/` instead, which no daemon looks at, and the job's folder
/// is left to the daemon.
fn take_files(
    config: &Config,
    job: &Job,
    files: &[PathBuf],
    held: Option<&(PathBuf, Holder)>,
) -> anyhow::Result<Vec<Claimed>> {
    let processing = match (&job.watch, held) {
        (_, Some(_)) => config.settings.state_dir.join("manual").join(&job.name),
        (Some(w), None) => w.processing_dir(),
        (None, None) => config.settings.state_dir.join("processing").join(&job.name),
    };
    if let (true, Some((path, holder))) = (files.is_empty(), held) {
        bail!(
            "another clerk works on this install ({holder}, lock {}) and takes job {}'s files \
             itself. Name the files to process them now alongside it (`clerk job run {} FILE...`; \
             copies are worked in {}), or stop it first",
            path.display(),
            job.name,
            job.name,
            processing.display()
        );
    }
    if files.is_empty() {
        let Some(w) = &job.watch else {
            bail!(
                "job {} watches no folder; name the files to process",
                job.name
            );
        };
        let mut out = Vec::new();
        for seen in
            ingest::list_candidates(w).with_context(|| format!("listing {}", w.folder.display()))?
        {
            if let Some(c) = ingest::claim(w, &seen.name, SystemTime::now())? {
                out.push(c);
            }
        }
        return Ok(out);
    }
    files
        .iter()
        .map(|f| {
            ingest::stage_copy(f, &processing).with_context(|| format!("reading {}", f.display()))
        })
        .collect()
}
