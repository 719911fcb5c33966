//! Files that clerk died on. A file in processing when the daemon is killed (an out-of-memory
//! kill under the unit's `MemoryMax`, a crash) is taken again first at the next start; a file
//! that kills the daemon every time would do so forever and nothing behind it would move.
//! So each try is counted before the work starts, in a small marker under the state folder,
//! and the marker goes once the work returns (whatever its outcome). A marker that is still
//! there at a start is a try that never returned: after [`SET_ASIDE_AFTER`] of them the file
//! is set aside (failed/ with a note, a break, an alert) instead of being read again.
//!
//! The marker is written without fsync: it must survive the process, not the machine (after a
//! power cut the count may start over, which costs one more try).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::Utc;
use sha2::{Digest, Sha256};

use super::pipeline::{self, FileOutcome, FileWork};
use crate::config::{Config, Job};
use crate::ingest::{self, Claimed};
use crate::jobs::WorkError;
use crate::store::{self, Store, Trigger};

/// Tries that never returned after which a file is set aside rather than read again.
pub(super) const SET_ASIDE_AFTER: u32 = 2;

/// The folder of the markers, in the state folder.
const FOLDER: &str = "attempts";

/// The try in progress: its marker and the count before it, so a deliberate stop that
/// abandons the unit (SIGTERM past the drain timeout) does not count as a death.
static IN_PROGRESS: Mutex<Option<(PathBuf, u32)>> = Mutex::new(None);

fn marker(state_dir: &Path, job: &str, file: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(job.as_bytes());
    h.update([0]);
    h.update(file.as_bytes());
    let name: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    state_dir.join(FOLDER).join(name)
}

fn read_count(path: &Path) -> u32 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("tries="))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn write_count(path: &Path, tries: u32, job: &str, file: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::fsx::create_dir_all(dir)?;
    }
    // Not fsynced: the count has to outlive the process (a kill, the OOM killer), which the
    // page cache does; an fsync per file would slow every backlog for a power cut's sake.
    let tmp = path.with_extension("tmp");
    fs::write(
        &tmp,
        format!("tries={tries}\njob={job}\nfile={file}\n").as_bytes(),
    )?;
    crate::fsx::set_mode(&tmp, crate::fsx::FILE_MODE)?;
    fs::rename(&tmp, path)
}

/// Counts a try of `file` before its work starts; returns how many earlier tries never
/// returned. A marker that cannot be written is logged and the file is read as usual.
pub(super) fn begin(state_dir: &Path, job: &str, file: &str) -> u32 {
    let path = marker(state_dir, job, file);
    let earlier = read_count(&path);
    if let Err(e) = write_count(&path, earlier + 1, job, file) {
        tracing::warn!(marker = %path.display(), error = %e, "cannot count this try of the file; a file that kills clerk would not be set aside");
        return earlier;
    }
    *IN_PROGRESS.lock().unwrap_or_else(|p| p.into_inner()) = Some((path, earlier));
    earlier
}

/// The work on `file` returned (whatever its outcome): its tries are forgotten.
pub(super) fn done(state_dir: &Path, job: &str, file: &str) {
    let path = marker(state_dir, job, file);
    let mut in_progress = IN_PROGRESS.lock().unwrap_or_else(|p| p.into_inner());
    if in_progress.as_ref().is_some_and(|(p, _)| *p == path) {
        *in_progress = None;
    }
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(marker = %path.display(), error = %e, "cannot remove the count of tries")
        }
    }
}

/// The daemon stops without waiting for the unit in progress (SIGTERM, drain timeout): its
/// try is not counted, as clerk did not die on the file.
pub(super) fn abandoned() {
    let taken = IN_PROGRESS.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((path, before)) = taken {
        let result = if before == 0 {
            fs::remove_file(&path)
        } else {
            fs::read_to_string(&path).and_then(|t| {
                let rest: String = t
                    .lines()
                    .filter(|l| !l.starts_with("tries="))
                    .map(|l| format!("{l}\n"))
                    .collect();
                fs::write(&path, format!("tries={before}\n{rest}"))
            })
        };
        if let Err(e) = result
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(marker = %path.display(), error = %e, "cannot take back the count of an abandoned try");
        }
    }
}

/// What `.error.txt`, the break and the alert say about a file set aside.
pub(super) fn explanation(file: &str, earlier: u32, max_file_mb: u64) -> String {
    let times = match earlier {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    };
    format!(
        "{file}: clerk stopped {times} while processing this file; it may be too large for the memory limit \
         (the service's MemoryMax; daemon.max_file_size_mb is {max_file_mb} MB), or something in it makes clerk crash \
         (clerk was killed or crashed before it finished). It was set aside so that the files behind it go on; nothing of it was imported. \
         What to do: see README, Operations, \"Large files and set-aside files\": split the file into smaller ones \
         (or raise the memory limit) and drop them into the folder again; if it is small, keep it and report it as a bug"
    )
}

/// Sets a file aside without reading it into memory: recorded as failed (a break, an alert)
/// unless its outcome was already committed before the last stop.
pub(super) fn set_aside(
    config: &Config,
    store: &mut dyn Store,
    job: &Job,
    claimed: &Claimed,
    earlier: u32,
) -> Result<FileOutcome, WorkError> {
    let io = |e: io::Error| WorkError::Unreadable {
        file: claimed.path.clone(),
        message: e.to_string(),
    };
    // Hashed in pieces: the file may be what does not fit.
    let sha = ingest::content_sha256(&claimed.path).map_err(io)?;
    let size = fs::metadata(&claimed.path).map_err(io)?.len();
    if let Some((status, error)) = store::in_read(store, |u| {
        u.last_file_outcome(&job.name, &sha, &claimed.name)
    })? {
        return Ok(FileOutcome::AlreadyRecorded { status, error });
    }
    let message = explanation(
        &claimed.name,
        earlier,
        config.settings.max_file_bytes / (1024 * 1024),
    );
    tracing::error!(tries = earlier, "{message}");
    let work = FileWork {
        config,
        job,
        claimed,
        trigger: Trigger::File,
        now: &Utc::now,
    };
    pipeline::record_failure(store, &work, &sha, size, &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_are_counted_until_the_work_returns_and_an_abandoned_try_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        assert_eq!(begin(state, "ledger-import", "big.csv"), 0);
        // The process died: the next start finds one try that never returned, then two.
        *IN_PROGRESS.lock().unwrap() = None;
        assert_eq!(begin(state, "ledger-import", "big.csv"), 1);
        *IN_PROGRESS.lock().unwrap() = None;
        assert_eq!(begin(state, "ledger-import", "big.csv"), 2);
        // Another job's file of the same name is counted apart.
        assert_eq!(begin(state, "bank-reconciliation", "big.csv"), 0);
        done(state, "bank-reconciliation", "big.csv");
        // A stop past the drain timeout does not count.
        assert_eq!(begin(state, "ledger-import", "big.csv"), 3);
        abandoned();
        assert_eq!(begin(state, "ledger-import", "big.csv"), 3);
        done(state, "ledger-import", "big.csv");
        assert_eq!(begin(state, "ledger-import", "big.csv"), 0);
        abandoned();
        assert!(
            fs::read_dir(dir.path().join(FOLDER))
                .unwrap()
                .next()
                .is_none(),
            "no marker left behind"
        );
    }
}
