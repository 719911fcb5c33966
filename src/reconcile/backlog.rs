//! A reconciliation job's backlog: its open items filed by the blocks they are found by
//! ([`engine::Blocking`]), kept between runs, so that a new file's records are matched
//! against the items that share a key with them instead of against the whole book. A run
//! then costs what the file brings and what it touches, not what is open.
//!
//! Why a run over those items gives what a run over everything would: the items left open
//! by a run never pair among themselves when run again (each pass takes a maximal set of
//! its candidates, so no candidate with both items free is left; see
//! [`engine::Blocking::full_runs_only`] for the rules where that does not hold), and a run
//! over a union of blocks decides exactly as among all items. So only the blocks of what
//! changed can change: new items, items matched elsewhere (by hand, by another job on the
//! same book) or withdrawn for a corrected version, breaks resolved or reopened, items falling
//! due, items whose grace period ended (held back from being breaks while their counterpart
//! could still come).
//!
//! **Invariant:** no I/O. The caller says what changed in the store and fetches records by
//! id; the backlog answers which items share blocks. It is only right for the store as it
//! was when last brought up to date: the caller keeps a [`Mark`] of that and drops the
//! backlog whenever a unit of work that changed it was not committed ([`BacklogSlot`]).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::engine::MAX_EXACT_SCALE;
use crate::model::{Side, StoredRecord};

/// Amounts this large (or finer than [`MAX_EXACT_SCALE`] decimals) may not fit the engine's
/// integers at the common scale of a run, which then refuses the whole run; while any open
/// item has one, every run goes over everything, so that the refusal is the same.
const LARGE_AMOUNT: i64 = 1_000_000_000_000;

/// Where the store stood when the backlog was last brought up to date: the highest record,
/// match and break-history ids then, and the identity of that record (a different store, or
/// one restored from a backup, does not have it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub records: i64,
    pub matches: i64,
    pub history: i64,
    /// A hash of the identity of record `records`.
    pub identity: u64,
}

/// Block → record ids. Most blocks hold one item (a reference, an amount), so those are kept
/// without a vector of their own.
#[derive(Default)]
struct Postings {
    one: FxHashMap<u64, i64>,
    many: FxHashMap<u64, Vec<i64>>,
}

impl Postings {
    fn add(&mut self, block: u64, id: i64) {
        if let Some(v) = self.many.get_mut(&block) {
            v.push(id);
            return;
        }
        match self.one.remove(&block) {
            Some(first) if first != id => {
                self.many.insert(block, vec![first, id]);
            }
            _ => {
                self.one.insert(block, id);
            }
        }
    }

    fn remove(&mut self, block: u64, id: i64) {
        if let Some(v) = self.many.get_mut(&block) {
            if let Some(i) = v.iter().position(|&x| x == id) {
                v.swap_remove(i);
            }
            if v.len() <= 1 {
                let rest = v.first().copied();
                self.many.remove(&block);
                if let Some(r) = rest {
                    self.one.insert(block, r);
                }
            }
            return;
        }
        if self.one.get(&block) == Some(&id) {
            self.one.remove(&block);
        }
    }

    fn get(&self, block: u64) -> &[i64] {
        if let Some(v) = self.many.get(&block) {
            return v;
        }
        match self.one.get(&block) {
            Some(id) => std::slice::from_ref(id),
            None => &[],
        }
    }
}

/// What is open on one side: how many, at which scales, how many too large.
#[derive(Clone, Debug, Default)]
struct SideStats {
    open: usize,
    /// Open items by the scale of their amount (decimals, 0 to 28).
    scales: [u32; 29],
    /// Open items whose amount is too large for a run over part of the book.
    large: usize,
}

impl SideStats {
    fn large(amount: Decimal) -> bool {
        amount.scale() > MAX_EXACT_SCALE || amount.abs() >= Decimal::from(LARGE_AMOUNT)
    }

    fn add(&mut self, amount: Decimal) {
        self.open += 1;
        self.scales[amount.scale().min(28) as usize] += 1;
        self.large += usize::from(Self::large(amount));
    }

    fn remove(&mut self, amount: Decimal) {
        self.open = self.open.saturating_sub(1);
        let s = &mut self.scales[amount.scale().min(28) as usize];
        *s = s.saturating_sub(1);
        if Self::large(amount) {
            self.large = self.large.saturating_sub(1);
        }
    }

    fn scale(&self) -> u32 {
        self.scales.iter().rposition(|&n| n > 0).unwrap_or(0) as u32
    }
}

/// A job's open items filed by block. See the module documentation.
#[derive(Default)]
pub struct Backlog {
    postings: Postings,
    /// Groups of the group-total pass with two or more open items: the total blocks their
    /// members are filed under (see [`engine::Blocking::group_total_blocks`]).
    groups: FxHashMap<u64, Vec<u64>>,
    /// Open ledger items without a break of the job, by value date: each falls due (and gets
    /// its break) once the bank has reported days past its date and the window.
    waiting: BTreeSet<(NaiveDate, i64)>,
    /// Open items (either side) a run would have made breaks but held back for the job's
    /// grace period, by when it ends: each is looked at again then, file or no file.
    pending: BTreeSet<(DateTime<Utc>, i64)>,
    pending_until: FxHashMap<i64, DateTime<Utc>>,
    ledger: SideStats,
    statement: SideStats,
    /// Where the store stood when this was last brought up to date.
    pub mark: Mark,
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog")
            .field("ledger_open", &self.ledger.open)
            .field("statement_open", &self.statement.open)
            .field("waiting", &self.waiting.len())
            .field("pending", &self.pending.len())
            .field("mark", &self.mark)
            .finish()
    }
}

impl Backlog {
    pub fn new() -> Backlog {
        Backlog::default()
    }

    fn side(&mut self, side: Side) -> &mut SideStats {
        match side {
            Side::Ledger => &mut self.ledger,
            Side::Statement => &mut self.statement,
        }
    }

    /// Files an open item under its blocks.
    pub fn file(&mut self, r: &StoredRecord, blocks: &[u64]) {
        for &b in blocks {
            self.postings.add(b, r.id);
        }
        self.side(r.record.side).add(r.record.amount);
    }

    /// Takes an item out (matched, or gone from the job's scope): from its blocks, the
    /// total blocks of its group, the items waiting to fall due. The group's total is then
    /// out of date: the caller files the group again ([`Backlog::refile_group`]).
    pub fn unfile(&mut self, r: &StoredRecord, blocks: &[u64]) {
        for &b in blocks {
            self.postings.remove(b, r.id);
            if let Some(totals) = self.groups.get(&b) {
                for &t in totals {
                    self.postings.remove(t, r.id);
                }
            }
        }
        self.waiting.remove(&(r.record.value_date, r.id));
        self.set_pending(r.id, None);
        self.side(r.record.side).remove(r.record.amount);
    }

    /// The items filed under `block`.
    pub fn items(&self, block: u64) -> &[i64] {
        self.postings.get(block)
    }

    /// The total blocks group `group` is filed under (none for a group of one).
    pub fn group_totals(&self, group: u64) -> &[u64] {
        self.groups.get(&group).map_or(&[], Vec::as_slice)
    }

    /// Files group `group` (its open members `members`) under `totals` instead of the total
    /// blocks it had.
    pub fn refile_group(&mut self, group: u64, members: &[i64], totals: Vec<u64>) {
        if let Some(old) = self.groups.remove(&group) {
            for t in old {
                for &m in members {
                    self.postings.remove(t, m);
                }
            }
        }
        if totals.is_empty() {
            return;
        }
        for &t in &totals {
            for &m in members {
                self.postings.add(t, m);
            }
        }
        self.groups.insert(group, totals);
    }

    /// Notes whether an open ledger item waits to fall due (it has no break of the job).
    pub fn set_waiting(&mut self, value_date: NaiveDate, id: i64, waiting: bool) {
        if waiting {
            self.waiting.insert((value_date, id));
        } else {
            self.waiting.remove(&(value_date, id));
        }
    }

    /// The waiting ledger items that `due` says have fallen due, oldest first. `due` must
    /// hold for every date before one it holds for (the bank's latest date only moves on).
    pub fn fallen_due(&self, due: impl Fn(NaiveDate) -> bool) -> Vec<i64> {
        self.waiting
            .iter()
            .take_while(|(d, _)| due(*d))
            .map(|&(_, id)| id)
            .collect()
    }

    /// Notes until when an open item is held back from being a break (`None`: it is not).
    pub fn set_pending(&mut self, id: i64, until: Option<DateTime<Utc>>) {
        if let Some(old) = self.pending_until.remove(&id) {
            self.pending.remove(&(old, id));
        }
        if let Some(until) = until {
            self.pending.insert((until, id));
            self.pending_until.insert(id, until);
        }
    }

    /// The held-back items whose grace period `ended` says is over (given when it ends): a run
    /// looks at them again. Every held-back item is asked: they are the few of the last
    /// minutes, and a batch that is complete ends the grace of some out of order.
    pub fn grace_ended(&self, ended: impl Fn(DateTime<Utc>) -> bool) -> Vec<i64> {
        self.pending
            .iter()
            .filter(|(until, _)| ended(*until))
            .map(|&(_, id)| id)
            .collect()
    }

    /// When the next held-back item's grace period ends.
    pub fn next_grace_end(&self) -> Option<DateTime<Utc>> {
        self.pending.first().map(|&(until, _)| until)
    }

    /// Open items on both sides.
    pub fn open(&self) -> usize {
        self.ledger.open + self.statement.open
    }

    /// The scales (ledger, statement) a run over all open items would hold amounts at, or
    /// `None` when an open amount is too large for a run over part of them.
    pub fn amount_scales(&self) -> Option<(u32, u32)> {
        (self.ledger.large == 0 && self.statement.large == 0)
            .then(|| (self.ledger.scale(), self.statement.scale()))
    }
}

/// Runs of a job so far, by kind (for tests and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Over all open items.
    pub full: u64,
    /// Over the items a change touched.
    pub by_key: u64,
    /// The open items the last run went over (both sides).
    pub last_items: usize,
}

/// When a job's next held-back item comes to the end of its grace period, as its last run
/// left it: what the daemon sleeps until (see `daemon::worker`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraceEnd {
    /// No run since the daemon started or reloaded, or the last unit that ran the job failed:
    /// a run must look (the store is the truth; memory holds nothing it cannot rebuild).
    #[default]
    Unknown,
    /// Nothing is held back.
    Nothing,
    At(DateTime<Utc>),
}

impl GraceEnd {
    pub fn of(at: Option<DateTime<Utc>>) -> GraceEnd {
        at.map_or(GraceEnd::Nothing, GraceEnd::At)
    }
}

/// Where a job's backlog is kept between units of work.
#[derive(Default)]
pub struct Kept {
    backlog: Option<Backlog>,
    /// A unit of work changed the backlog and has not been reported committed: if it rolled
    /// back, the backlog is ahead of the store.
    in_flight: bool,
    /// Every run goes over everything (tests compare the two).
    full_only: bool,
    pub runs: RunCounts,
    /// When the next held-back item's grace period ends (kept for every job, with or
    /// without a backlog).
    pub grace_end: GraceEnd,
}

impl Kept {
    /// The backlog for a unit of work to bring up to date, if one can be trusted: none when
    /// an earlier unit that changed it was not committed, or when none was built yet. The
    /// caller gives it back with [`Kept::keep`] and the commit is reported with
    /// [`BacklogSlot::committed`].
    pub fn take(&mut self) -> Option<Backlog> {
        let backlog = self.backlog.take();
        let trusted = !self.in_flight && !self.full_only;
        self.in_flight = true;
        backlog.filter(|_| trusted)
    }

    pub fn keep(&mut self, backlog: Backlog) {
        self.backlog = Some(backlog);
    }
}

/// A job's backlog, shared by clones of its rules; one unit of work uses it at a time.
#[derive(Clone, Default)]
pub struct BacklogSlot(Arc<Mutex<Kept>>);

impl std::fmt::Debug for BacklogSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BacklogSlot")
    }
}

impl BacklogSlot {
    /// The kept backlog. A unit that panicked while holding it leaves it in flight, so it is
    /// not trusted again.
    pub fn lock(&self) -> MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The unit of work that last used the backlog was committed.
    pub fn committed(&self) {
        self.lock().in_flight = false;
    }

    /// Every run of the job goes over all open items (tests: the reference to compare with).
    pub fn full_runs_only(&self) {
        let mut k = self.lock();
        k.full_only = true;
        k.backlog = None;
    }

    pub fn runs(&self) -> RunCounts {
        self.lock().runs
    }

    pub fn grace_end(&self) -> GraceEnd {
        self.lock().grace_end
    }

    /// Says when the daemon is to look at the job's held-back items next: unknown after a
    /// unit of work that failed, a time to try again after a look that failed.
    pub fn set_grace_end(&self, end: GraceEnd) {
        self.lock().grace_end = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_keep_single_items_inline_and_many_in_a_list() {
        let mut p = Postings::default();
        p.add(7, 1);
        assert_eq!(p.get(7), &[1]);
        p.add(7, 2);
        p.add(7, 3);
        let mut v = p.get(7).to_vec();
        v.sort_unstable();
        assert_eq!(v, vec![1, 2, 3]);
        p.remove(7, 2);
        p.remove(7, 1);
        assert_eq!(p.get(7), &[3]);
        assert!(p.many.is_empty());
        p.remove(7, 3);
        assert!(p.get(7).is_empty());
        p.remove(8, 1);
    }

    #[test]
    fn the_scale_is_the_largest_open_one() {
        let mut s = SideStats::default();
        s.add("1.5".parse().unwrap());
        s.add("2.125".parse().unwrap());
        assert_eq!(s.scale(), 3);
        s.remove("2.125".parse().unwrap());
        assert_eq!(s.scale(), 1);
        s.add("10000000000000".parse().unwrap());
        assert_eq!(s.large, 1);
    }
}
