//! Files dropped as the back office drops them, one after another: each into its job's folder,
//! waiting until that job's run of it has finished before the next (a state, never a time).

use std::collections::BTreeMap;
use std::time::Duration;

use super::install::{Daemon, Install, wait_until};

pub struct Desk<'a> {
    i: &'a Install,
    d: &'a Daemon,
    /// Runs finished so far, per job: what the store said before this desk's first file of
    /// the job (a daemon started again), then one more per file.
    runs: BTreeMap<String, usize>,
}

impl<'a> Desk<'a> {
    pub fn new(i: &'a Install, d: &'a Daemon) -> Self {
        Desk {
            i,
            d,
            runs: BTreeMap::new(),
        }
    }

    /// Drops `name` into `folder` and waits until `job` has finished one more run.
    pub fn drop(&mut self, job: &str, folder: &str, name: &str, bytes: &[u8]) {
        let i = self.i;
        let before = *self
            .runs
            .entry(job.to_owned())
            .or_insert_with(|| i.runs_ok(job));
        i.drop_file(folder, name, bytes);
        let want = before + 1;
        self.runs.insert(job.to_owned(), want);
        assert!(
            wait_until(Duration::from_secs(30), || self.i.runs_ok(job) == want),
            "{name}: {}",
            self.d.log()
        );
    }

    /// Into the shipped accounts-payable job's folder.
    pub fn payables(&mut self, name: &str, bytes: &[u8]) {
        self.drop("accounts-payable", "var/inbox/payables", name, bytes);
    }
}
