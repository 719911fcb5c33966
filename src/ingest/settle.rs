//! Waiting for a file to be complete. There is no portable "writer has finished" signal on
//! network shares, so a file counts as complete once its size and modification time have not
//! changed for the settle time. Time is passed in, so this is tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// One file as a folder listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

#[derive(Debug)]
struct Watching {
    size: u64,
    modified: Option<SystemTime>,
    /// When the size or modification time last changed (or the file was first seen).
    unchanged_since: Instant,
    /// When the file was first seen: its arrival, for the arrival-to-posting KPI.
    first_seen: SystemTime,
}

/// Tracks the files of one folder across listings.
#[derive(Debug, Default)]
pub struct Settler {
    files: HashMap<String, Watching>,
}

impl Settler {
    /// Feeds one listing taken at `now`; returns the files that have settled, with the time
    /// each was first seen. Files no longer listed are forgotten.
    pub fn observe(
        &mut self,
        listing: &[Seen],
        now: Instant,
        wall_now: SystemTime,
        settle: Duration,
    ) -> Vec<(String, SystemTime)> {
        // A set, not a scan of the listing per file: a folder with thousands of files waiting
        // (a backlog after an outage) must not make every listing quadratic.
        let listed: std::collections::HashSet<&str> =
            listing.iter().map(|s| s.name.as_str()).collect();
        self.files.retain(|name, _| listed.contains(name.as_str()));
        let mut ready = Vec::new();
        for seen in listing {
            let w = self
                .files
                .entry(seen.name.clone())
                .or_insert_with(|| Watching {
                    size: seen.size,
                    modified: seen.modified,
                    unchanged_since: now,
                    first_seen: wall_now,
                });
            if w.size != seen.size || w.modified != seen.modified {
                w.size = seen.size;
                w.modified = seen.modified;
                w.unchanged_since = now;
            } else if now.duration_since(w.unchanged_since) >= settle {
                ready.push((seen.name.clone(), w.first_seen));
            }
        }
        ready.sort();
        ready
    }

    /// Forgets a file once it has been taken (its name may be reused by a new drop).
    pub fn taken(&mut self, name: &str) {
        self.files.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str, size: u64, mtime: u64) -> Seen {
        Seen {
            name: name.into(),
            size,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime)),
        }
    }

    #[test]
    fn a_file_is_ready_only_after_staying_unchanged_for_the_settle_time() {
        let mut s = Settler::default();
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let settle = Duration::from_secs(3);
        assert!(
            s.observe(&[seen("a.csv", 10, 1)], t0, wall, settle)
                .is_empty()
        );
        // Still growing: the clock restarts.
        let t1 = t0 + Duration::from_secs(2);
        assert!(
            s.observe(&[seen("a.csv", 20, 2)], t1, wall, settle)
                .is_empty()
        );
        let t2 = t1 + Duration::from_secs(2);
        assert!(
            s.observe(&[seen("a.csv", 20, 2)], t2, wall, settle)
                .is_empty()
        );
        let t3 = t1 + Duration::from_secs(3);
        let ready = s.observe(&[seen("a.csv", 20, 2)], t3, wall, settle);
        assert_eq!(ready, vec![("a.csv".to_string(), wall)]);
    }

    #[test]
    fn a_touched_file_of_the_same_size_is_not_ready() {
        let mut s = Settler::default();
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let settle = Duration::from_secs(1);
        s.observe(&[seen("a.csv", 10, 1)], t0, wall, settle);
        let t1 = t0 + Duration::from_secs(1);
        assert!(
            s.observe(&[seen("a.csv", 10, 5)], t1, wall, settle)
                .is_empty()
        );
    }

    #[test]
    fn vanished_files_are_forgotten_and_start_over_when_back() {
        let mut s = Settler::default();
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let settle = Duration::from_secs(1);
        s.observe(&[seen("a.csv", 10, 1)], t0, wall, settle);
        s.observe(&[], t0 + Duration::from_secs(1), wall, settle);
        let t2 = t0 + Duration::from_secs(2);
        assert!(
            s.observe(&[seen("a.csv", 10, 1)], t2, wall, settle)
                .is_empty()
        );
    }
}
