//! File-system events as a hint to rescan sooner. On local disks they make clerk react within
//! moments; on network shares they never come, and the periodic rescan does the work.

use std::path::PathBuf;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
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
                Ok(e) => e.paths,
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
