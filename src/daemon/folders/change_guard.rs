//! A store whose units of work commit only if the file being read did not change meanwhile:
//! the last step inside the transaction looks at the file again.

use std::path::Path;

use crate::ingest::{self, Fingerprint};
use crate::store::{self, Store, StoreError, Unit};

/// A store whose units of work commit only if a file has not changed since it was looked at:
/// the check is the last step inside the transaction, so a file a writer added to while clerk
/// read it leaves nothing behind.
pub(in crate::daemon) struct ChangeGuard<'a> {
    inner: &'a mut dyn Store,
    path: &'a Path,
    before: Option<Fingerprint>,
    /// What the file looked like when a commit was refused.
    changed: Option<Fingerprint>,
}

impl<'a> ChangeGuard<'a> {
    /// Guards `inner` for the file at `path` as it looked `before` it was read (no guard when
    /// it could not be looked at: reading it will say why).
    pub(in crate::daemon) fn new(
        inner: &'a mut dyn Store,
        path: &'a Path,
        before: Option<Fingerprint>,
    ) -> ChangeGuard<'a> {
        ChangeGuard {
            inner,
            path,
            before,
            changed: None,
        }
    }

    /// How the file looked when it was found changed and the unit was rolled back.
    pub(in crate::daemon) fn changed(&self) -> Option<Fingerprint> {
        self.changed
    }
}

impl Store for ChangeGuard<'_> {
    fn unit(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Unit) -> store::Result<()>,
    ) -> store::Result<()> {
        let (path, before) = (self.path, self.before);
        let mut changed = None;
        let result = self.inner.unit(&mut |u| {
            work(u)?;
            match (before, ingest::fingerprint(path)) {
                (Some(before), Ok(now)) if now != before => {
                    changed = Some(now);
                    Err(StoreError::Conflict(format!(
                        "{} changed while it was being read",
                        path.display()
                    )))
                }
                _ => Ok(()),
            }
        });
        if changed.is_some() {
            self.changed = changed;
        }
        result
    }

    fn read(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Unit) -> store::Result<()>,
    ) -> store::Result<()> {
        self.inner.read(work)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn damage(&mut self, depth: store::CheckDepth) -> store::Result<Vec<String>> {
        self.inner.damage(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FileStatus, NewFile};
    use chrono::Utc;

    /// A unit that stores a failed file row, for seeing whether it was committed.
    fn add_a_file(store: &mut dyn Store, name: &str) -> store::Result<()> {
        store::in_unit(store, |u| {
            u.add_file(&NewFile {
                job: "j",
                sha256: "00",
                name,
                size: 1,
                arrived_at: Utc::now(),
                status: FileStatus::Failed,
                error: None,
                duplicate_of: None,
            })
            .map(|_| ())
        })
    }

    fn files(store: &mut dyn Store, name: &str) -> Option<(FileStatus, Option<String>)> {
        store::in_read(store, |u| u.last_file_outcome("j", "00", name)).unwrap()
    }

    #[test]
    fn a_unit_commits_only_if_its_file_did_not_change_while_it_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut inner = store::open(&dir.path().join("clerk.db")).unwrap();
        let path = dir.path().join("ledger.csv");
        std::fs::write(&path, "id\n1\n").unwrap();

        let before = ingest::fingerprint(&path).ok();
        let mut guard = ChangeGuard::new(inner.as_mut(), &path, before);
        add_a_file(&mut guard, "quiet.csv").unwrap();
        assert!(guard.changed().is_none());

        // The writer adds a line while the unit runs: the unit is rolled back whole.
        let grow = store::in_unit(&mut guard, |u| {
            u.add_file(&NewFile {
                job: "j",
                sha256: "00",
                name: "grown.csv",
                size: 1,
                arrived_at: Utc::now(),
                status: FileStatus::Failed,
                error: None,
                duplicate_of: None,
            })?;
            std::fs::write(&path, "id\n1\n2\n").unwrap();
            Ok(())
        });
        assert!(matches!(grow, Err(StoreError::Conflict(_))), "{grow:?}");
        let changed = guard.changed().expect("the change is noted");
        assert_eq!(changed.size, 7);
        assert!(files(inner.as_mut(), "quiet.csv").is_some());
        assert!(
            files(inner.as_mut(), "grown.csv").is_none(),
            "nothing of the unit is kept"
        );
    }
}
