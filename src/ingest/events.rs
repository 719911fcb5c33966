//! File-system events as a hint to rescan sooner. On local disks they make clerk react within
//! moments; on network shares they never come, and the periodic rescan does the work.

use std::path::PathBuf;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Keeps the OS watcher alive; changed folders arrive on the receiver.
pub struct FolderEvents {
    _watcher: Option<RecommendedWatcher>,
}

impl FolderEvents {
    /// Watches `folders` (not recursively). A folder that cannot be watched is logged and left
    /// to the rescan; this never fails the daemon.
    pub fn start(folders: &[PathBuf]) -> (FolderEvents, mpsc::Receiver<PathBuf>) {
        let (tx, rx) = mpsc::channel(256);
        let watched = folders.to_vec();
        let handler = move |event: notify::Result<notify::Event>| {
            let paths = match event {
                Ok(e) if e.need_rescan() => watched.clone(),
                Ok(e) if wakes_scanner(&e.kind) => e.paths,
                // Opening, reading or closing unchanged: clerk's own listing of the folder
                // causes these, and taking them as changes made every listing cause the next.
                Ok(_) => return,
                // An overflow or watcher error: ask for a scan of everything.
                Err(_) => watched.clone(),
            };
            for p in paths {
                let folder = watched
                    .iter()
                    .find(|f| p.starts_with(f))
                    .cloned()
                    .unwrap_or(p);
                // A full channel means a scan is already pending; dropping the hint is fine.
                let _ = tx.try_send(folder);
            }
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(mut w) => {
                for f in folders {
                    if let Err(e) = w.watch(f, RecursiveMode::NonRecursive) {
                        tracing::warn!(folder = %f.display(), error = %e, "no file events for this folder; relying on rescans");
                    }
                }
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "file events unavailable; relying on rescans");
                None
            }
        };
        (FolderEvents { _watcher: watcher }, rx)
    }
}

/// Whether an event means a file may have appeared, grown or gone: created, written, closed
/// after writing, renamed into the folder, removed. Not: opened, read, closed unchanged,
/// renamed out of the folder (clerk's own taking of a file), or metadata changes; the rescan
/// sees anything these would have hinted at.
fn wakes_scanner(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => false,
        EventKind::Modify(ModifyKind::Name(_)) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        // Data, or a backend that cannot say what changed.
        EventKind::Modify(_) => true,
        // A backend's event of no known kind: look, to be safe.
        EventKind::Any | EventKind::Other => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};

    #[test]
    fn only_events_that_may_mean_a_new_or_changed_file_wake_the_scanner() {
        let wakes = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Modify(ModifyKind::Any),
        ];
        for k in wakes {
            assert!(wakes_scanner(&k), "{k:?}");
        }
        // What listing a folder and taking a file cause.
        let quiet = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
        ];
        for k in quiet {
            assert!(!wakes_scanner(&k), "{k:?}");
        }
    }
}
