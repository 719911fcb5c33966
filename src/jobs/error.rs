//! Why a unit of work did not finish: the store's own failures, kept as they are (a busy or
//! full store is tried again), and the work's (a file that cannot be read, an attachment that
//! cannot be staged, a mail that cannot be built). Work runs in `store::in_unit`, which takes
//! any error a store error converts into, so the store never carries a failure of the work.

use std::path::PathBuf;

use crate::store::StoreError;

/// What went wrong in a unit of work (a file, a mail, a scheduled run).
///
/// The wording is what people read in `.error.txt`, breaks, alerts and the log. Only a
/// `Store` failure says "store error": when these travelled as the store's they said it too,
/// and sent a sysadmin to look at a healthy database about a file it could not read.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// The store failed: busy, full, read-only, damaged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file's bytes could not be read: the file system failed, not the file's content
    /// (which is refused instead).
    #[error("cannot read {}: {message}", file.display())]
    Unreadable { file: PathBuf, message: String },
    /// The file was refused after part of it was stored (a bad row found once batches were
    /// written): the unit rolls back and the refusal is recorded in a unit of its own. Says
    /// why, as `.error.txt` does.
    #[error("{0}")]
    Refused(String),
    /// A mailed attachment could not be written to its job's processing folder.
    #[error("cannot stage {attachment} of {mail} in {}: {message}", folder.display())]
    NotStaged {
        attachment: String,
        /// The mail as people know it (sender, subject, date).
        mail: String,
        folder: PathBuf,
        message: String,
    },
    /// A mail clerk sends (`alert`, `summary`) could not be built.
    #[error("cannot build the {mail} mail: {message}")]
    MailNotBuilt { mail: &'static str, message: String },
    /// A file was given to a job that reads none (the summary).
    #[error("job {0} does not read files")]
    ReadsNoFiles(String),
    /// A summary was asked of a job that is not a summary job.
    #[error("job {0} is not a summary job")]
    NotASummary(String),
    /// The job a file was held for was removed from the configuration meanwhile.
    #[error("job {0} is no longer configured")]
    NoLongerConfigured(String),
    /// A document the store keeps does not decode as what it was kept as.
    #[error("{what} {identity} cannot be read back: {message}")]
    KeptUnreadable {
        /// "stored document", "approved invoice".
        what: &'static str,
        identity: String,
        message: String,
    },
    /// A look at held-back items changed nothing: its unit rolls back and leaves no run.
    #[error("no held-back item came to the end of its grace period")]
    NothingDue,
}

impl WorkError {
    /// Whether the same work may succeed if tried again later: only a store that is busy,
    /// full or read-only for now.
    pub fn is_transient(&self) -> bool {
        matches!(self, WorkError::Store(e) if e.is_transient())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_store_s_failures_read_as_store_errors() {
        let said = |e: WorkError| e.to_string();
        assert_eq!(
            said(WorkError::ReadsNoFiles("summary".into())),
            "job summary does not read files"
        );
        assert_eq!(
            said(WorkError::Unreadable {
                file: "/in/a.csv".into(),
                message: "denied".into()
            }),
            "cannot read /in/a.csv: denied"
        );
        assert_eq!(
            said(WorkError::Store(StoreError::Busy("locked".into()))),
            StoreError::Busy("locked".into()).to_string()
        );
        assert!(WorkError::Store(StoreError::Full("disk".into())).is_transient());
        assert!(!WorkError::NothingDue.is_transient());
    }

    #[test]
    fn work_that_fails_rolls_its_unit_back_and_its_error_comes_back_as_it_was() {
        use crate::store::{self, FileStatus, NewFile};
        let dir = tempfile::tempdir().unwrap();
        let mut st = store::open(&dir.path().join("clerk.db")).unwrap();
        let failed = store::in_unit_as(st.as_mut(), |u| {
            u.add_file(&NewFile {
                job: "j",
                sha256: "00",
                name: "a.csv",
                size: 1,
                arrived_at: chrono::Utc::now(),
                status: FileStatus::Failed,
                error: None,
                duplicate_of: None,
            })?;
            Err::<(), _>(WorkError::ReadsNoFiles("j".into()))
        });
        assert!(
            matches!(&failed, Err(WorkError::ReadsNoFiles(j)) if j == "j"),
            "{failed:?}"
        );
        let kept = store::in_read(st.as_mut(), |u| u.last_file_outcome("j", "00", "a.csv"));
        assert!(kept.unwrap().is_none(), "nothing of the unit is kept");
        // A store error stays the store's, kind and all.
        let busy = store::in_read_as(st.as_mut(), |_| {
            Err::<(), WorkError>(StoreError::Busy("locked".into()).into())
        });
        assert!(busy.is_err_and(|e| e.is_transient()));
    }
}
