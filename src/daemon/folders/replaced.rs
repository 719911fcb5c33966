//! Failed copies that a file processed since replaced: moved from `failed/<job>/` into
//! `failed/<job>/replaced/`, with their notes, once the store tells them apart as replaced.

use std::path::Path;

use tracing::warn;

use crate::ingest;
use crate::store::{self, Store};

/// Moves the failed copies of `job` (of those named `only`, when given) in `failed_dir` that a
/// file processed since replaced into `failed/<job>/replaced/`, with their notes. The store says what was
/// replaced, and closed the breaks, in the processed file's own unit: so a stop before the
/// move is repaired by the next call (at start-up, for every job). A copy is moved only when
/// the store tells it apart as replaced: every failed file of its name is, or its content is
/// one that was and none that was not; otherwise it stays. Returns how many were moved.
pub(crate) fn put_away_replaced(
    failed_dir: &Path,
    store: &mut dyn Store,
    job: &str,
    only: Option<&str>,
) -> usize {
    let copies = match ingest::failed_copies(failed_dir, job) {
        Ok(c) => c,
        Err(e) => {
            warn!(job, error = %e, "cannot look through the failed folder for files replaced since");
            return 0;
        }
    };
    let mut by_name: std::collections::BTreeMap<&str, Vec<&ingest::FailedCopy>> =
        Default::default();
    for c in copies.iter().filter(|c| only.is_none_or(|n| n == c.name)) {
        by_name.entry(c.name.as_str()).or_default().push(c);
    }
    let mut moved = 0;
    for (name, copies) in by_name {
        let rows = match store::in_read(store, |u| u.failed_files_named(job, name)) {
            Ok(r) => r,
            Err(e) => {
                warn!(job, file = name, error = %e, "cannot tell whether the failed file was replaced; it stays");
                continue;
            }
        };
        if !rows.iter().any(|(_, replaced)| *replaced) {
            continue;
        }
        let all_replaced = rows.iter().all(|(_, replaced)| *replaced);
        for c in copies {
            let replaced = all_replaced
                || ingest::content_sha256(&c.path).is_ok_and(|sha| {
                    rows.iter().any(|(s, r)| *r && *s == sha)
                        && !rows.iter().any(|(s, r)| !*r && *s == sha)
                });
            if !replaced {
                continue;
            }
            match ingest::put_away_replaced(c, failed_dir, job) {
                Ok(to) => {
                    moved += 1;
                    tracing::info!(job, file = name, to = %to.display(),
                        "a file of the same name was processed since: the failed copy is put away");
                }
                Err(e) => {
                    warn!(job, file = name, error = %e, "could not put away the replaced failed copy; it stays in failed/ until the next start");
                }
            }
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Claimed;
    use crate::model::BreakReason;
    use crate::store::{FileStatus, NewBreak, NewFile, Trigger};
    use chrono::Utc;

    /// A file named `name` with `content` that failed for job `j`: recorded with its break,
    /// then moved to failed/ as the daemon does after the commit.
    fn failed(store: &mut dyn Store, root: &Path, name: &str, content: &str) {
        let path = root.join("processing").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let sha = ingest::content_sha256(&path).unwrap();
        store::in_unit(store, |u| {
            let f = u.add_file(&NewFile {
                job: "j",
                sha256: &sha,
                name,
                size: content.len() as u64,
                arrived_at: Utc::now(),
                status: FileStatus::Failed,
                error: Some("line 2: not an amount"),
                duplicate_of: None,
            })?;
            let run = u.start_run("j", Trigger::File, Some(f), Utc::now())?;
            u.open_break(&NewBreak {
                job: "j",
                run_id: run,
                reason: BreakReason::Unreadable,
                detail: "line 2: not an amount",
                amount: None,
                currency: None,
                difference: None,
                since: Utc::now().date_naive(),
                owner: None,
                record_id: None,
                source: Some(name),
                at: Utc::now(),
                subject: None,
            })
            .map(|_| ())
        })
        .unwrap();
        let claimed = Claimed {
            path,
            name: name.into(),
            arrived_at: Utc::now(),
            origin: None,
        };
        ingest::fail(&claimed, &root.join("failed"), "j", "line 2: not an amount").unwrap();
    }

    /// A good file of that name processed (`sha`): the store replaces the failed ones.
    fn processed(store: &mut dyn Store, name: &str, sha: &str) {
        store::in_unit(store, |u| {
            let f = u.add_file(&NewFile {
                job: "j",
                sha256: sha,
                name,
                size: 1,
                arrived_at: Utc::now(),
                status: FileStatus::Processed,
                error: None,
                duplicate_of: None,
            })?;
            let run = u.start_run("j", Trigger::File, Some(f), Utc::now())?;
            u.replace_failed_files("j", name, f, "replaced", run, Utc::now())
                .map(|_| ())
        })
        .unwrap();
    }

    #[test]
    fn a_replaced_failed_copy_is_put_away_and_a_later_failure_of_its_name_stays() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let failed_dir = root.join("failed");
        let mut store = store::open(&root.join("clerk.db")).unwrap();
        failed(store.as_mut(), root, "a.csv", "id,amount\n1,1O.00\n");
        assert_eq!(
            put_away_replaced(&failed_dir, store.as_mut(), "j", None),
            0,
            "not replaced yet"
        );
        // Replaced, but clerk stopped before the move; the name fails again meanwhile.
        processed(store.as_mut(), "a.csv", "good-1");
        failed(store.as_mut(), root, "a.csv", "id,amount\n1,2O.00\n");
        assert_eq!(
            ingest::failed_files(&failed_dir, "j").unwrap(),
            vec!["a (2).csv", "a.csv"]
        );

        // Told apart by content: the replaced copy goes, the new failure stays.
        assert_eq!(put_away_replaced(&failed_dir, store.as_mut(), "j", None), 1);
        let replaced = failed_dir.join("j").join(ingest::REPLACED_FOLDER);
        assert_eq!(
            std::fs::read_to_string(replaced.join("a.csv")).unwrap(),
            "id,amount\n1,1O.00\n"
        );
        assert!(replaced.join("a.csv.error.txt").exists());
        assert_eq!(
            ingest::failed_files(&failed_dir, "j").unwrap(),
            vec!["a (2).csv"],
            "clerk status lists what is still failed, not the replaced folder"
        );

        // Replaced too; clerk stopped between moving the copy and its note: the note follows.
        processed(store.as_mut(), "a.csv", "good-2");
        std::fs::rename(
            failed_dir.join("j").join("a (2).csv"),
            replaced.join("a (2).csv"),
        )
        .unwrap();
        assert_eq!(
            put_away_replaced(&failed_dir, store.as_mut(), "j", Some("a.csv")),
            1
        );
        assert!(replaced.join("a (2).csv.error.txt").exists());
        assert!(ingest::failed_files(&failed_dir, "j").unwrap().is_empty());
        assert!(ingest::failed_copies(&failed_dir, "j").unwrap().is_empty());
    }
}
