//! The console's connections to the store: a few read-only ones for pages (each page reads one
//! consistent snapshot) and one writable one for people's actions, apart from the daemon's own
//! so that neither waits on the other longer than SQLite's write lock.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::store::{self, Store, StoreError, Unit};

use super::WebError;

/// How many idle read connections are kept.
const READERS_KEPT: usize = 4;

pub struct Db {
    path: PathBuf,
    readers: Mutex<Vec<Box<dyn Store>>>,
    writer: Mutex<Option<Box<dyn Store>>>,
}

impl Db {
    pub fn new(path: PathBuf) -> Db {
        Db {
            path,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
        }
    }

    /// Runs `work` on one consistent snapshot, on a blocking thread.
    pub async fn read<T, F>(self: &std::sync::Arc<Self>, work: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Unit) -> store::Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let kept = db.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match kept {
                Some(c) => c,
                None => store::open_for_reading(&db.path)?,
            };
            let out = store::in_read(conn.as_mut(), work);
            // A connection whose read failed may be broken; a new one is opened next time.
            if out.is_ok() {
                let mut readers = db.readers.lock().unwrap_or_else(|p| p.into_inner());
                if readers.len() < READERS_KEPT {
                    readers.push(conn);
                }
            }
            out.map_err(WebError::from)
        })
        .await
        .map_err(|e| WebError::Internal(format!("a read panicked: {e}")))?
    }

    /// Runs `work` with the console's writable connection, on a blocking thread; one action
    /// at a time. `work` opens its own unit (`store::in_unit`, or a `jobs::workflow` call).
    pub async fn write<T, F>(self: &std::sync::Arc<Self>, work: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, WebError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = db.writer.lock().unwrap_or_else(|p| p.into_inner());
            if writer.is_none() {
                *writer = Some(store::open(&db.path)?);
            }
            let conn = writer.as_mut().expect("opened above");
            let out = work(conn.as_mut());
            if matches!(
                &out,
                Err(WebError::Store(
                    StoreError::Corrupt(_) | StoreError::Other(_)
                ))
            ) {
                *writer = None;
            }
            out
        })
        .await
        .map_err(|e| WebError::Internal(format!("an action panicked: {e}")))?
    }
}
