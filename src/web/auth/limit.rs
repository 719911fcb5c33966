//! The login rate limit: after [`MAX_FAILURES`] failed logins for one user name, or from one
//! client address, within [`WINDOW`], logins for that name or from that address are refused
//! for [`LOCKED_FOR`], even with the right password (a guesser must not learn that the next
//! guess was right).
//!
//! Counted in memory, in the daemon process: a restart forgets the counts. That is enough
//! against guessing (an attacker cannot restart clerk) and keeps a write off every failed
//! login; there is one console per install, so no counts to share.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCKED_FOR: Duration = Duration::from_secs(15 * 60);

/// Above this many names and addresses counted, the ones with nothing recent are forgotten:
/// a flood of made-up names must not grow the daemon without bound.
const KEPT: usize = 10_000;

#[derive(Default)]
pub struct Failures {
    by_key: HashMap<Key, Tries>,
}

/// A user name (compared without case, as the store does) or a client address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    User(String),
    Address(String),
}

impl Key {
    pub fn user(name: &str) -> Key {
        // A name longer than any user's is the same key as its first 100 characters.
        Key::User(name.trim().to_lowercase().chars().take(100).collect())
    }
}

#[derive(Default)]
struct Tries {
    failed: VecDeque<Instant>,
    locked_until: Option<Instant>,
    /// Attempts being checked now, each counted as a failure until its answer is known:
    /// two checks run at once, and without this both could pass the count at four failures
    /// and give a guesser a sixth try.
    checking: usize,
}

impl Tries {
    fn forget_before(&mut self, now: Instant) {
        while self
            .failed
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            self.failed.pop_front();
        }
        if self.locked_until.is_some_and(|u| u <= now) {
            self.locked_until = None;
        }
    }
}

impl Failures {
    /// Whether a login for any of `keys` is refused now.
    #[cfg(test)]
    pub fn locked(&mut self, keys: &[Key], now: Instant) -> bool {
        keys.iter().any(|k| {
            self.by_key.get_mut(k).is_some_and(|t| {
                t.forget_before(now);
                t.locked_until.is_some()
            })
        })
    }

    /// Starts checking a login for `keys`, unless it is refused: locked, or as many failures
    /// as would lock it are already counted or being checked. A started check ends with
    /// [`Failures::done_checking`], once its failure (if it failed) is counted.
    pub fn begin(&mut self, keys: &[Key], now: Instant) -> bool {
        let refused = keys.iter().any(|k| {
            self.by_key.get_mut(k).is_some_and(|t| {
                t.forget_before(now);
                t.locked_until.is_some() || t.failed.len() + t.checking >= MAX_FAILURES
            })
        });
        if !refused {
            for k in keys {
                self.by_key.entry(k.clone()).or_default().checking += 1;
            }
        }
        !refused
    }

    /// Ends a check begun with [`Failures::begin`].
    pub fn done_checking(&mut self, keys: &[Key]) {
        for k in keys {
            if let Some(t) = self.by_key.get_mut(k) {
                t.checking = t.checking.saturating_sub(1);
            }
        }
    }

    /// Counts a failed login against each of `keys`; the one that makes [`MAX_FAILURES`]
    /// within the window locks that key.
    pub fn failed(&mut self, keys: &[Key], now: Instant) {
        if self.by_key.len() > KEPT {
            self.by_key.retain(|_, t| {
                t.forget_before(now);
                !t.failed.is_empty() || t.locked_until.is_some() || t.checking > 0
            });
        }
        for k in keys {
            let t = self.by_key.entry(k.clone()).or_default();
            t.forget_before(now);
            t.failed.push_back(now);
            if t.failed.len() >= MAX_FAILURES {
                t.locked_until = Some(now + LOCKED_FOR);
                t.failed.clear();
            }
        }
    }

    /// A good login forgets the name's failures (not the address's: one person logging in
    /// must not reset a guesser's count from the same address).
    pub fn succeeded(&mut self, keys: &[Key]) {
        if let Some(user) = keys.iter().find(|k| matches!(k, Key::User(_))) {
            self.by_key.remove(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_name_and_the_address_for_fifteen_minutes() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        let keys = [Key::user("Anna"), Key::Address("10.0.0.7".into())];
        for i in 0..4 {
            assert!(!f.locked(&keys, t0));
            f.failed(&keys, t0 + Duration::from_secs(i));
        }
        assert!(!f.locked(&keys, t0 + Duration::from_secs(5)));
        f.failed(&keys, t0 + Duration::from_secs(5));
        // Locked by name (from anywhere, in any case) and by address (for any name).
        assert!(f.locked(&[Key::user("ANNA")], t0 + Duration::from_secs(6)));
        assert!(f.locked(
            &[Key::user("bert"), Key::Address("10.0.0.7".into())],
            t0 + Duration::from_secs(6)
        ));
        assert!(!f.locked(
            &[Key::user("bert"), Key::Address("10.0.0.8".into())],
            t0 + Duration::from_secs(6)
        ));
        let later = t0 + Duration::from_secs(5) + LOCKED_FOR;
        assert!(f.locked(&keys, later - Duration::from_secs(1)));
        assert!(!f.locked(&keys, later));
    }

    #[test]
    fn failures_spread_over_more_than_the_window_lock_nothing() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        let keys = [Key::user("anna")];
        for i in 0..10u64 {
            f.failed(&keys, t0 + Duration::from_secs(i * 4 * 60));
            assert!(
                !f.locked(&keys, t0 + Duration::from_secs(i * 4 * 60 + 1)),
                "{i}"
            );
        }
    }

    #[test]
    fn a_good_login_forgets_the_names_failures() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        let keys = [Key::user("anna")];
        for _ in 0..4 {
            f.failed(&keys, t0);
        }
        f.succeeded(&[Key::user("anna")]);
        f.failed(&keys, t0);
        assert!(!f.locked(&keys, t0));
    }

    #[test]
    fn checks_running_at_once_count_as_failures_until_they_end() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        let keys = [Key::user("anna"), Key::Address("10.0.0.7".into())];
        for _ in 0..3 {
            assert!(f.begin(&keys, t0));
            f.failed(&keys, t0);
            f.done_checking(&keys);
        }
        // The fourth and fifth are checked side by side: a sixth may not start beside them.
        assert!(f.begin(&keys, t0));
        assert!(f.begin(&keys, t0));
        assert!(!f.begin(&keys, t0), "a sixth guess while two are checked");
        f.failed(&keys, t0);
        f.done_checking(&keys);
        assert!(!f.begin(&keys, t0));
        // The fifth was the right password: the name's count is forgotten, the address's
        // four failures stay.
        f.succeeded(&keys);
        f.done_checking(&keys);
        assert!(f.begin(&[Key::user("anna")], t0));
        assert!(f.begin(&[Key::Address("10.0.0.7".into())], t0));
        assert!(!f.begin(&[Key::Address("10.0.0.7".into())], t0));
    }
}
