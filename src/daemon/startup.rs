//! The supervisor's start-up steps: the folders clerk works in, the store (not worked on when
//! damaged), and what the previous run left behind: mail sent but not recorded, mail leased
//! but not confirmed, files taken but not finished.

use std::collections::VecDeque;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::Utc;
use tracing::{error, info, warn};

use super::mail_sender::{SENT_JOURNAL, SentJournal};
use super::{RESTORE_ADVICE, alert};
use crate::config::Config;
use crate::ingest::{self, Claimed};
use crate::notify::Mailer;
use crate::store::{self, Store, StoreError};

/// Opens the store and checks it (SQLite's quick integrity check); a damaged store is refused.
pub(super) async fn open_store(config: &Config) -> anyhow::Result<Box<dyn Store>> {
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
        Ok((_, found)) => return Err(refuse_damaged(config, damaged(found)).await),
        Err(StoreError::Corrupt(why)) => {
            return Err(refuse_damaged(config, damaged(vec![why])).await);
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "opening the store {}",
                config.settings.store_path.display()
            )));
        }
    };
    info!(store = %store.describe(), "store open and sound (quick integrity check)");
    Ok(store)
}

/// Mail the previous daemon handed over but did not get to record as sent: recorded now; the
/// journal that records such mail from now on.
pub(super) fn settle_previous_mail(
    store: &mut dyn Store,
    config: &Config,
) -> anyhow::Result<SentJournal> {
    // Mail the previous daemon handed over but did not get to record as sent: recorded now.
    let sent = SentJournal::open(&config.settings.state_dir.join(SENT_JOURNAL))
        .context("opening the journal of sent mail")?;
    sent.settle(store)
        .context("recording mail sent before the last stop")?;
    // Mail leased by a previous daemon that was killed mid-delivery would otherwise wait for
    // its lease to run out (minutes). Released now and sent again under the same Message-ID.
    match store::in_unit(store, |u| u.release_mail_leases(Utc::now())) {
        Ok(0) => {}
        Ok(n) => {
            warn!(
                messages = n,
                "mail leased by the previous run was not confirmed sent; it is due again"
            )
        }
        Err(e) => warn!(error = %e, "could not release the previous run's mail leases"),
    }
    Ok(sent)
}

/// The files a previous run took from the watched folders and did not finish, in the order
/// they are to be resumed.
pub(super) fn files_to_resume(config: &Config) -> anyhow::Result<VecDeque<(String, Claimed)>> {
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
    Ok(resume)
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
