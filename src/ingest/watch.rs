//! A watched folder as a job is configured with it (`[watch]` of a job file): which folder,
//! which file names are the job's, how long a file must stay unchanged before it is taken.
//! `config` checks the job file and builds it; ingest lists and takes files by it.

use std::path::PathBuf;
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Debug, Clone)]
pub struct Watch {
    pub folder: PathBuf,
    pub patterns: Vec<String>,
    matcher: GlobSet,
    pub settle_time: Duration,
}

impl Watch {
    /// Watches `folder` for files whose names match one of `patterns` (globs, case-insensitive;
    /// none means every file). A bad pattern is `(key, message)`, the key as written under
    /// `[watch]` of the job file.
    pub fn new(
        folder: PathBuf,
        patterns: Vec<String>,
        settle_time: Duration,
    ) -> Result<Watch, (String, String)> {
        let patterns = if patterns.is_empty() {
            vec!["*".to_string()]
        } else {
            patterns
        };
        let mut set = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            if p.contains('/') {
                return Err((
                    format!("watch.patterns[{i}]"),
                    format!("a pattern matches file names, not paths; found {p:?}"),
                ));
            }
            let glob = GlobBuilder::new(p)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| (format!("watch.patterns[{i}]"), e.to_string()))?;
            set.add(glob);
        }
        let matcher = set
            .build()
            .map_err(|e| ("watch.patterns".to_string(), e.to_string()))?;
        Ok(Watch {
            folder,
            patterns,
            matcher,
            settle_time,
        })
    }

    /// Whether a file of this name is for this job. Names staff's tools use while writing
    /// (`~$budget.xlsx`, `*.tmp`, `*.part`) and hidden files never are.
    pub fn wants(&self, name: &str) -> bool {
        !is_temporary_name(name) && self.matcher.is_match(name)
    }

    /// Where a taken file waits while it is processed: inside the watched folder, so taking it
    /// is a rename on one file system (atomic), and hidden, so no pattern matches it.
    pub fn processing_dir(&self) -> PathBuf {
        self.folder.join(".clerk-processing")
    }
}

pub fn is_temporary_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || lower.ends_with(".tmp")
        || lower.ends_with(".part")
        || lower.ends_with(".crdownload")
}
