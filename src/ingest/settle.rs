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

/// A file that has settled and may be taken.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ready {
    /// When the file was first seen: its arrival, for the arrival-to-posting KPI.
    pub first_seen: SystemTime,
    /// Its modification time, which orders files that were first seen in the same listing
    /// (a wave of drops) the way they were written.
    pub modified: Option<SystemTime>,
    pub name: String,
}

/// Tracks the files of one folder across listings.
#[derive(Debug, Default)]
pub struct Settler {
    files: HashMap<String, Watching>,
}

impl Settler {
    /// Feeds one listing taken at `now`; returns the files that have settled, oldest arrival
    /// first (then by modification time and name). Files no longer listed are forgotten.
    pub fn observe(
        &mut self,
        listing: &[Seen],
        now: Instant,
        wall_now: SystemTime,
        settle: Duration,
    ) -> Vec<Ready> {
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
                ready.push(Ready {
                    first_seen: w.first_seen,
                    modified: w.modified,
                    name: seen.name.clone(),
                });
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
        let names: Vec<(&str, SystemTime)> = ready
            .iter()
            .map(|r| (r.name.as_str(), r.first_seen))
            .collect();
        assert_eq!(names, vec![("a.csv", wall)]);
    }

    #[test]
    fn settled_files_come_oldest_arrival_first_then_as_written() {
        let mut s = Settler::default();
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let settle = Duration::from_secs(1);
        // Seen in one listing: ordered by modification time, not by name.
        s.observe(
            &[seen("b.csv", 1, 7), seen("a.csv", 1, 9)],
            t0,
            wall,
            settle,
        );
        // Seen later, though its name sorts first.
        let later = wall + Duration::from_secs(5);
        let all = [
            seen("b.csv", 1, 7),
            seen("a.csv", 1, 9),
            seen("0.csv", 1, 1),
        ];
        s.observe(&all, t0 + Duration::from_secs(1), later, settle);
        let ready = s.observe(&all, t0 + Duration::from_secs(3), later, settle);
        let names: Vec<&str> = ready.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b.csv", "a.csv", "0.csv"]);
    }

    #[test]
    fn files_of_two_folders_seen_in_one_scan_interleave_as_they_were_written() {
        // The scanner lists every folder with one scan time and sorts what settled in all of
        // them: a ledger and the statement written after it come in that order, whatever the
        // folder.
        let (mut ledgers, mut bank) = (Settler::default(), Settler::default());
        let t0 = Instant::now();
        let scan = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let settle = Duration::from_secs(1);
        let l = [seen("l1.csv", 1, 10), seen("l2.csv", 1, 12)];
        let b = [seen("s1.csv", 1, 11), seen("s2.csv", 1, 13)];
        ledgers.observe(&l, t0, scan, settle);
        bank.observe(&b, t0, scan, settle);
        let later = t0 + Duration::from_secs(2);
        let mut due: Vec<Ready> = ledgers.observe(&l, later, scan, settle);
        due.extend(bank.observe(&b, later, scan, settle));
        due.sort();
        let names: Vec<&str> = due.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["l1.csv", "s1.csv", "l2.csv", "s2.csv"]);
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
