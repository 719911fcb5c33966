//! What the console shows of a job's folders (files waiting, failed, ignored, as `clerk
//! status` lists them) and where a file clerk took is kept now: in the archive, or in
//! `failed/`. The console may not read folders itself (it knows no `ingest`); this is the
//! little it needs.

use std::fs;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::config::Config;
use crate::ingest;

/// A watched folder now.
#[derive(Clone, Debug, Default)]
pub struct FolderState {
    pub job: String,
    /// Files waiting to be taken (or being written), by name.
    pub waiting: Vec<String>,
    /// Files in `failed/<job>/`, by name.
    pub failed: Vec<String>,
    /// Files clerk will never take as they are, with why.
    pub ignored: Vec<(String, String)>,
    /// Why the folder could not be listed, if it could not.
    pub error: Option<String>,
}

/// Every watched folder of `config`.
pub fn folder_states(config: &Config) -> Vec<FolderState> {
    config
        .jobs
        .iter()
        .filter_map(|j| j.watch.as_ref().map(|w| (j, w)))
        .map(|(job, w)| {
            let mut state = FolderState {
                job: job.name.clone(),
                failed: ingest::failed_files(&config.settings.failed_dir, &job.name)
                    .unwrap_or_default(),
                ..Default::default()
            };
            match ingest::list_folder(w) {
                Ok(listing) => {
                    state.waiting = listing
                        .candidates
                        .iter()
                        .map(|c| ingest::safe_name(&c.name))
                        .chain(listing.temporary.iter().cloned())
                        .collect();
                    state.ignored = listing
                        .ignored
                        .iter()
                        .map(|i| (i.name.clone(), i.why_text(w)))
                        .collect();
                }
                Err(e) => state.error = Some(e.to_string()),
            }
            state
        })
        .collect()
}

/// What the store knows of a file that says where its original can be.
pub struct Taken<'a> {
    pub job: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub failed: bool,
    /// When it arrived, and when its last run ended (the archive's day is the day it was
    /// moved there, on the UTC calendar).
    pub arrived_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where the original of a taken file is kept now: a file in the archive folders of the days
/// around its run (or in `failed/<job>/`, and `replaced/` there) whose size and SHA-256 are the
/// store's. No name from the file decides the path: folders are found from the job and the
/// dates, and the file in them by its content.
pub fn original_of(archive_dir: &Path, failed_dir: &Path, t: &Taken<'_>) -> Option<PathBuf> {
    // A job name is one plain folder name (checked at load); anything else finds nothing.
    let mut parts = Path::new(t.job).components();
    if !matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    ) {
        return None;
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if t.failed {
        let dir = failed_dir.join(t.job);
        dirs.push(dir.join(ingest::REPLACED_FOLDER));
        dirs.push(dir);
    } else {
        let end = t.finished_at.unwrap_or(t.arrived_at);
        let mut day = t.arrived_at.min(end) - Duration::days(1);
        while day <= end + Duration::days(1) {
            dirs.push(
                archive_dir
                    .join(format!("{:04}", day.year()))
                    .join(format!("{:02}", day.month()))
                    .join(format!("{:02}", day.day()))
                    .join(t.job),
            );
            day += Duration::days(1);
        }
    }
    dirs.into_iter().find_map(|dir| same_content_in(&dir, t))
}

fn same_content_in(dir: &Path, t: &Taken<'_>) -> Option<PathBuf> {
    let entries = fs::read_dir(dir).ok()?;
    entries.flatten().find_map(|e| {
        let meta = e.metadata().ok()?;
        if !meta.is_file() || meta.len() != t.size {
            return None;
        }
        let path = e.path();
        (ingest::content_sha256(&path).ok()? == t.sha256).then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_file_is_found_in_the_archive_by_its_content_not_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let failed = dir.path().join("failed");
        let day = dir.path().join("archive/2026/03/05/bank");
        fs::create_dir_all(&day).unwrap();
        fs::write(day.join("statement.csv"), b"other bytes").unwrap();
        fs::write(day.join("statement (1).csv"), b"the bytes").unwrap();
        let at: DateTime<Utc> = "2026-03-05T10:00:00Z".parse().unwrap();
        let sha = crate::digest::sha256_hex(b"the bytes");
        let taken = |job| Taken {
            job,
            sha256: &sha,
            size: 9,
            failed: false,
            arrived_at: at,
            finished_at: Some(at),
        };
        let found = original_of(&archive, &failed, &taken("bank"));
        assert_eq!(found, Some(day.join("statement (1).csv")));
        assert_eq!(original_of(&archive, &failed, &taken("../bank")), None);
        assert_eq!(original_of(&archive, &failed, &taken("other")), None);
    }
}
