//! An install in a temporary folder for the pipeline's property tests: `config/clerk.toml`,
//! job files, a real SQLite store, and files processed as the daemon processes them (one
//! unit of work each), on a clock the test sets.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::daemon::pipeline::{self, FileOutcome};
use crate::ingest::Claimed;
use crate::store::{self, Store, Trigger};

pub(super) struct Install {
    _dir: tempfile::TempDir,
    root: PathBuf,
    pub config: Config,
    pub store: Box<dyn Store>,
    files: u32,
}

impl Install {
    /// An install with `config` as its `clerk.toml` and `jobs` (name, text) as its job files.
    pub fn with(config: &str, jobs: &[(&str, String)]) -> Install {
        // Commits are fsynced: on a memory file system when there is one.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let root = dir.path().to_path_buf();
        for d in ["config", "jobs", "in"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("config/clerk.toml"), config).unwrap();
        for (name, text) in jobs {
            std::fs::write(root.join(format!("jobs/{name}.toml")), text).unwrap();
        }
        let config = crate::config::load(&root.join("config/clerk.toml")).unwrap();
        let store = store::open(&config.settings.store_path).unwrap();
        Install {
            _dir: dir,
            root,
            config,
            store,
            files: 0,
        }
    }

    /// Processes `content` as file `name` of `job` arriving at `at`, as the daemon does.
    pub fn process(
        &mut self,
        job: &str,
        name: &str,
        content: &str,
        at: DateTime<Utc>,
    ) -> FileOutcome {
        self.files += 1;
        // Each file under a name of its own, as files arrive.
        let name = format!("{}-{name}", self.files);
        let path = self.root.join("in").join(&name);
        std::fs::write(&path, content).unwrap();
        let claimed = Claimed {
            path,
            name,
            arrived_at: at,
            origin: None,
        };
        let job = self.config.job(job).unwrap().clone();
        pipeline::process_file(
            &self.config,
            self.store.as_mut(),
            &job,
            &claimed,
            Trigger::File,
            false,
            || at,
        )
        .unwrap()
    }

    /// The store, read-only, for what the test checks.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            &self.config.settings.store_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }
}
