//! One clerk at work per install: an exclusive lock on `<state>/clerk.lock` (and, for a store
//! kept outside the state folder, on `<store>.lock` too), held for the life of the process.
//!
//! Two daemons on one install both took files from the same processing folders, both sent
//! the alerts and the summary, and each resumed the files the other was working on. The lock
//! is an advisory `flock`: the kernel drops it when the holder exits, however it exits (a
//! SIGKILL leaves no stale lock behind), so the file itself is never removed. The holder writes
//! its PID and command into it, for the message the next one prints.
//!
//! Who takes it: `clerk run` (refuses to start without it) and `clerk job run` (which, when a
//! daemon holds it, works only on copies of the files named to it, in a folder of its own).
//! Read commands and `clerk exception ...` never take it: the store serialises their writes.

use std::fmt;
use std::fs::{File, TryLockError};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Settings;

/// The lock file in the state folder.
pub const LOCK_FILE: &str = "clerk.lock";

/// A probe (another command looking who holds the lock) holds it for a moment only; a clerk
/// finding it held tries again for this long before it gives up.
const PROBE_GRACE: Duration = Duration::from_millis(500);

/// The install, locked by this process until this value drops.
#[derive(Debug)]
pub struct InstallLock {
    /// The locked files; the locks go with them.
    _files: Vec<File>,
    /// The lock file in the state folder, for log lines.
    path: PathBuf,
}

/// Who holds a lock, as written in its file by the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `None` when the holder has not written its PID yet (it is starting at this instant).
    pub pid: Option<u32>,
    /// What it is: `clerk run`, `clerk job run`.
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "PID {pid} ({})", self.command),
            None => f.write_str("a clerk that is starting (its PID is not written yet)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another clerk holds the lock {}: {holder}. One clerk works on an install at a time; \
         stop that one first (read commands such as `clerk status` work alongside it)",
        path.display()
    )]
    Held { path: PathBuf, holder: Holder },
    #[error("cannot use the lock file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl InstallLock {
    /// Takes the install's lock for `command` (`clerk run`, `clerk job run`), or says who holds
    /// it. Creates the state folder when missing.
    pub fn acquire(settings: &Settings, command: &str) -> Result<InstallLock, LockError> {
        Self::acquire_at(&settings.state_dir, &settings.store_path, command)
    }

    fn acquire_at(state_dir: &Path, store: &Path, command: &str) -> Result<InstallLock, LockError> {
        let paths = lock_paths(state_dir, store);
        let mut files = Vec::with_capacity(paths.len());
        for path in &paths {
            let file = open(path)?;
            take(&file, path)?;
            write_holder(&file, command).map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
            files.push(file);
        }
        Ok(InstallLock {
            _files: files,
            path: paths[0].clone(),
        })
    }

    /// The lock file in the state folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the install's lock now, if anyone; for `clerk check`. Looks by taking a shared
/// lock for an instant, which a clerk starting at that instant waits out (`PROBE_GRACE`).
pub fn holder(settings: &Settings) -> Result<Option<Holder>, LockError> {
    holder_at(&settings.state_dir)
}

fn holder_at(state_dir: &Path) -> Result<Option<Holder>, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LockError::Io { path, source }),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(read_holder(&path))),
        Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
    }
}

/// The lock files of an install: the state folder's, and the store's when it lives elsewhere
/// (two installs sharing one store would otherwise both work on it).
fn lock_paths(state_dir: &Path, store: &Path) -> Vec<PathBuf> {
    let mut paths = vec![state_dir.join(LOCK_FILE)];
    let store_dir = store.parent().unwrap_or(Path::new(""));
    if !same_folder(store_dir, state_dir) {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        paths.push(PathBuf::from(name));
    }
    paths
}

fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn open(path: &Path) -> Result<File, LockError> {
    let io_err = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fsx::create_dir_all(dir).map_err(io_err)?;
    }
    // The group (staff running read commands) may see who holds it, whatever the umask.
    crate::fsx::open_or_create(path).map_err(io_err)
}

/// Takes the exclusive lock, waiting out a probe's instant; `Held` if another clerk has it.
fn take(file: &File, path: &Path) -> Result<(), LockError> {
    let deadline = Instant::now() + PROBE_GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder: read_holder(path),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Replaces what an earlier holder wrote with `<pid> <command>`.
fn write_holder(mut file: &File, command: &str) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all(format!("{} {command}\n", std::process::id()).as_bytes())?;
    file.flush()
}

fn read_holder(path: &Path) -> Holder {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = text.lines().next().unwrap_or_default().trim();
    let (pid, command) = line.split_once(' ').unwrap_or((line, ""));
    Holder {
        pid: pid.parse().ok(),
        command: if command.is_empty() {
            "clerk".to_owned()
        } else {
            command.to_owned()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_clerk_on_the_install_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let (state, store) = (dir.path(), dir.path().join("clerk.db"));
        let first = InstallLock::acquire_at(state, &store, "clerk run").unwrap();
        assert_eq!(first.path(), dir.path().join(LOCK_FILE));

        let err = InstallLock::acquire_at(state, &store, "clerk job run").unwrap_err();
        let LockError::Held { path, holder } = &err else {
            panic!("{err}");
        };
        assert_eq!(path, &dir.path().join(LOCK_FILE));
        assert_eq!(holder.pid, Some(std::process::id()));
        assert_eq!(holder.command, "clerk run");
        let message = err.to_string();
        assert!(
            message.contains(&format!("PID {} (clerk run)", std::process::id())),
            "{message}"
        );
        assert_eq!(holder_of(state), Some("clerk run".to_owned()));

        // Released with its holder (the kernel does this on any exit, SIGKILL too).
        drop(first);
        assert_eq!(holder_of(state), None);
        let again = InstallLock::acquire_at(state, &store, "clerk job run").unwrap();
        assert_eq!(holder_of(state), Some("clerk job run".to_owned()));
        drop(again);
    }

    #[test]
    fn a_store_outside_the_state_folder_is_locked_too() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("db/clerk.db");
        let first =
            InstallLock::acquire_at(&dir.path().join("state-a"), &store, "clerk run").unwrap();
        // Another install (its own state folder) on the same store.
        let err =
            InstallLock::acquire_at(&dir.path().join("state-b"), &store, "clerk run").unwrap_err();
        assert!(
            matches!(&err, LockError::Held { path, .. } if path == &dir.path().join("db/clerk.db.lock")),
            "{err}"
        );
        drop(first);
    }

    fn holder_of(state: &Path) -> Option<String> {
        holder_at(state).unwrap().map(|h| h.command)
    }
}
