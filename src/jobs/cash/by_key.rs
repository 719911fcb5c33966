//! A cash reconciliation run over what changed: the items a new file (or a match made
//! elsewhere, a break worked, an item falling due) touches, found by key in the job's
//! backlog ([`crate::reconcile::backlog`]), instead of every open item of the book. A file's
//! cost then does not grow with the number of open items. Items held back for their grace
//! period whose grace has ended are such a change too: the daemon wakes for them with no file
//! ([`super::reconcile_due`]), and the run by key covers them as items falling due.
//!
//! The run covers every open item that shares a block with what changed, and everything
//! sharing a block with those, and so on ([`crate::reconcile::engine::Blocking`]): the engine
//! decides for them exactly as among all open items, and the items it does not cover were
//! left as they are by the last run and stay so. The job posts the outcome as it posts a
//! run over everything: same matches, same entries, same breaks (`daemon/pipeline/by_key_tests.rs` compares
//! the two on random sequences of files, through the daemon's unit of a file).
//!
//! A run goes over all open items instead (and the backlog is built again from it) when:
//! the daemon has none yet (after a start or a reload), a unit that changed it was not
//! committed, the store is not as the backlog left it, the rules group before another pass
//! ([`crate::reconcile::engine::Blocking::full_runs_only`]), the change touches more than a
//! quarter of the open items (then reading them all at once is as cheap), an open amount is
//! too large for the engine's integers at a common scale, or the last run hit a search bound.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hasher;

use chrono::{DateTime, Utc};
use rustc_hash::FxHasher;

use super::Ran;
use crate::model::{Side, StoredRecord};
use crate::reconcile::backlog::{Backlog, Mark};
use crate::reconcile::cash::Sides;
use crate::reconcile::engine::{Blocking, Context, RunOptions};
use crate::reconcile::{CashRules, Outcome};
use crate::schedule::Calendar;
use crate::store::{JobSides, StoreError, Unit};

/// What a run did to its items, for the backlog: the records matched and posted, the ledger
/// items it tried to open a "missing on statement" break for, and the items it held back from
/// being breaks, with when their grace period ends. [`super::apply`] fills it as it applies a run;
/// [`Run::finish`] files it in the backlog.
#[derive(Debug, Default)]
pub(super) struct Applied {
    pub posted: HashSet<i64>,
    pub due_tried: HashSet<i64>,
    pub pending: HashMap<i64, DateTime<Utc>>,
}

/// A change touching up to this many items is matched by key whatever the size of the book.
const BY_KEY_AT_LEAST: usize = 1000;

/// The most items a run by key covers: beyond a quarter of what is open, one read of all of
/// them costs no more.
fn most_items(open: usize) -> usize {
    (open / 4).max(BY_KEY_AT_LEAST)
}

/// What a job's run is to be.
pub(super) enum Prepared {
    /// Nothing changed that could change an outcome.
    Nothing(Box<Backlog>),
    /// A run over the items the change touches.
    Run(Box<Run>),
    /// A run over all open items, and why.
    Full(&'static str),
}

/// The blocks an item is filed under, and its group in the group-total pass.
struct Filing {
    blocks: Vec<u64>,
    group: Option<u64>,
}

/// A run by key, ready to post.
pub(super) struct Run {
    backlog: Backlog,
    /// The ledger items and statement lines of the run, in id order (as a full run has them).
    pub ledger: Vec<StoredRecord>,
    pub statement: Vec<StoredRecord>,
    tables: Sides,
    pub result: Outcome,
    /// Those of them with an unresolved break of the job.
    pub with_break: HashSet<i64>,
    filings: HashMap<i64, Filing>,
}

/// The filings of records (either side), in their order; `None` when they do not fit a table.
fn filings(
    blocking: &Blocking,
    ctx: &Context<'_>,
    records: &[&StoredRecord],
) -> Option<Vec<Filing>> {
    let mut out: Vec<Option<Filing>> = (0..records.len()).map(|_| None).collect();
    for side in [Side::Ledger, Side::Statement] {
        let at: Vec<usize> = (0..records.len())
            .filter(|&i| records[i].record.side == side)
            .collect();
        if at.is_empty() {
            continue;
        }
        let rows: Vec<&StoredRecord> = at.iter().map(|&i| records[i]).collect();
        let table = crate::reconcile::engine::Table::from_records(&rows).ok()?;
        let ours = side == Side::Ledger;
        for (row, &i) in at.iter().enumerate() {
            let mut blocks = Vec::new();
            blocking.blocks(ours, &table, row, ctx, &mut blocks);
            out[i] = Some(Filing {
                blocks,
                group: blocking.group_of(ours, &table, row),
            });
        }
    }
    out.into_iter().collect()
}

/// The blocks a group is filed under, its members given.
fn group_totals(
    blocking: &Blocking,
    ctx: &Context<'_>,
    members: &[&StoredRecord],
) -> Option<Vec<u64>> {
    let table = crate::reconcile::engine::Table::from_records(members).ok()?;
    let rows: Vec<usize> = (0..members.len()).collect();
    let mut totals = Vec::new();
    blocking.group_total_blocks(&table, &rows, ctx, &mut totals);
    Some(totals)
}

/// A hash of a stored identity (0 for none).
fn identity_hash(identity: Option<&str>) -> u64 {
    identity.map_or(0, |i| {
        let mut h = FxHasher::default();
        h.write(i.as_bytes());
        h.finish() | 1
    })
}

/// Where the store stands now.
fn mark(u: &mut dyn Unit) -> Result<Mark, StoreError> {
    let hw = u.high_water()?;
    Ok(Mark {
        records: hw.records,
        matches: hw.matches,
        history: hw.history,
        identity: identity_hash(hw.last_identity.as_deref()),
    })
}

/// The items of a run by key as it grows: every open item sharing a block with one in it.
struct Closure {
    items: BTreeMap<i64, (StoredRecord, Filing)>,
    /// Records already read (new ones, ones whose break changed) not yet taken in, with
    /// their filing when it is known.
    at_hand: HashMap<i64, (StoredRecord, Option<Filing>)>,
    explored: HashSet<u64>,
    queued: HashSet<i64>,
    limit: usize,
}

impl Closure {
    /// Queues the items filed under `block` that are not in yet.
    fn explore(&mut self, backlog: &Backlog, block: u64, next: &mut Vec<i64>) {
        if self.explored.insert(block) {
            for &id in backlog.items(block) {
                if self.queued.insert(id) {
                    next.push(id);
                }
            }
        }
    }

    /// Takes in `frontier` and everything that shares a block with it; files groups whose
    /// members changed (`dirty`) under their new totals once all their members are in.
    /// `Err` says why a run by key is not to be.
    fn grow(
        &mut self,
        u: &mut dyn Unit,
        backlog: &mut Backlog,
        blocking: &Blocking,
        ctx: &Context<'_>,
        mut frontier: Vec<i64>,
        dirty: &mut BTreeSet<u64>,
    ) -> Result<Result<(), &'static str>, StoreError> {
        frontier.retain(|id| !self.items.contains_key(id));
        self.queued.extend(frontier.iter().copied());
        loop {
            while !frontier.is_empty() {
                let missing: Vec<i64> = frontier
                    .iter()
                    .filter(|id| !self.at_hand.contains_key(id))
                    .copied()
                    .collect();
                if !missing.is_empty() {
                    let read = u.open_records_by_id(&missing)?;
                    if read.len() != missing.len() {
                        return Ok(Err("an item filed as open is not open in the store"));
                    }
                    self.at_hand
                        .extend(read.into_iter().map(|r| (r.id, (r, None))));
                }
                let batch: Vec<(StoredRecord, Option<Filing>)> = frontier
                    .drain(..)
                    .filter_map(|id| self.at_hand.remove(&id))
                    .collect();
                let unfiled: Vec<&StoredRecord> = batch
                    .iter()
                    .filter(|(_, f)| f.is_none())
                    .map(|(r, _)| r)
                    .collect();
                let Some(mut filed) = filings(blocking, ctx, &unfiled) else {
                    return Ok(Err("the items do not fit a table"));
                };
                filed.reverse();
                let mut next = Vec::new();
                for (r, f) in batch {
                    let Some(f) = f.or_else(|| filed.pop()) else {
                        return Ok(Err("the items do not fit a table"));
                    };
                    for &b in &f.blocks {
                        self.explore(backlog, b, &mut next);
                    }
                    if let Some(g) = f.group {
                        for t in backlog.group_totals(g).to_vec() {
                            self.explore(backlog, t, &mut next);
                        }
                    }
                    self.items.insert(r.id, (r, f));
                }
                if self.queued.len() > self.limit {
                    return Ok(Err("the change touches too many open items"));
                }
                frontier = next;
            }
            // Groups whose members changed are filed under their new totals; what those find
            // is in the run too.
            for g in std::mem::take(dirty) {
                let members: Vec<i64> = {
                    let mut m = backlog.items(g).to_vec();
                    m.sort_unstable();
                    m
                };
                let Some(at) = members
                    .iter()
                    .map(|id| self.items.get(id).map(|(r, _)| r))
                    .collect::<Option<Vec<&StoredRecord>>>()
                else {
                    return Ok(Err("a group's members are not all in the run"));
                };
                let Some(totals) = group_totals(blocking, ctx, &at) else {
                    return Ok(Err("the items do not fit a table"));
                };
                backlog.refile_group(g, &members, totals.clone());
                for t in totals {
                    self.explore(backlog, t, &mut frontier);
                }
            }
            if frontier.is_empty() {
                return Ok(Ok(()));
            }
        }
    }
}

/// Brings `backlog` up to date with the store and finds the items the changes since its mark
/// touch; says when a run over everything is needed instead. `grace_ended` says whether an
/// item held back until a given time is no longer held back (the job's grace period, [`super::Hold`]).
pub(super) fn prepare(
    u: &mut dyn Unit,
    sides: JobSides<'_>,
    rules: &CashRules,
    calendar: &Calendar,
    mut backlog: Backlog,
    grace_ended: &dyn Fn(DateTime<Utc>) -> bool,
) -> Result<Prepared, StoreError> {
    let ctx = rules.context(RunOptions::default());
    if let Some(why) = store_moved_on(u, backlog.mark)? {
        return Ok(Prepared::Full(why));
    }
    let touched = match touched(u, sides, rules, calendar, &ctx, &mut backlog, grace_ended)? {
        Ok(touched) => touched,
        Err(why) => return Ok(Prepared::Full(why)),
    };
    let Touched {
        seeds,
        dirty,
        at_hand,
        limit,
    } = touched;
    if seeds.is_empty() {
        // Groups that lost their last members.
        for g in dirty {
            let members = backlog.items(g).to_vec();
            if members.is_empty() {
                backlog.refile_group(g, &[], Vec::new());
            } else {
                return Ok(Prepared::Full("a group's members are not all in the run"));
            }
        }
        backlog.mark = mark(u)?;
        return Ok(Prepared::Nothing(Box::new(backlog)));
    }

    let closure = Closure {
        items: BTreeMap::new(),
        at_hand,
        explored: HashSet::new(),
        queued: HashSet::new(),
        limit,
    };
    let job = Matching {
        sides,
        rules,
        ctx: &ctx,
    };
    run_by_key(u, &job, backlog, closure, seeds, dirty)
}

/// What a run by key matches with: the reconciliation's sides, its rules and their context.
struct Matching<'a> {
    sides: JobSides<'a>,
    rules: &'a CashRules,
    ctx: &'a Context<'a>,
}

/// Why the store is not as the backlog left it at mark `m`, if it is not: a run over
/// everything is needed.
fn store_moved_on(u: &mut dyn Unit, m: Mark) -> Result<Option<&'static str>, StoreError> {
    let hw = u.high_water()?;
    if hw.records < m.records || hw.matches < m.matches || hw.history < m.history {
        return Ok(Some("the store is behind the backlog"));
    }
    let at_mark = if m.records == hw.records {
        hw.last_identity
    } else {
        u.record_identity(m.records)?
    };
    if identity_hash(at_mark.as_deref()) != m.identity {
        return Ok(Some("the store is not the one the backlog was built from"));
    }
    Ok(None)
}

/// What the changes since the backlog's mark touch: the items a run starts from (`seeds`),
/// the groups whose totals changed (`dirty`), the records already read (`at_hand`, with
/// their filings when new) and the most items the run may cover.
struct Touched {
    seeds: BTreeSet<i64>,
    dirty: BTreeSet<u64>,
    at_hand: HashMap<i64, (StoredRecord, Option<Filing>)>,
    limit: usize,
}

/// Files the changes since the backlog's mark in it (records stored, matched, withdrawn;
/// breaks worked; items falling due or at the end of their grace) and says what they touch,
/// or why a run over everything is needed instead.
fn touched(
    u: &mut dyn Unit,
    sides: JobSides<'_>,
    rules: &CashRules,
    calendar: &Calendar,
    ctx: &Context<'_>,
    backlog: &mut Backlog,
    grace_ended: &dyn Fn(DateTime<Utc>) -> bool,
) -> Result<Result<Touched, &'static str>, StoreError> {
    let blocking = &rules.blocking;
    let m = backlog.mark;
    // What changed since the mark: records stored, records matched (by any job or person) or
    // withdrawn for a corrected version, breaks worked.
    let mut new = u.open_records_after(sides.book, Side::Ledger, sides.account, m.records)?;
    new.extend(u.open_records_after(sides.job, Side::Statement, None, m.records)?);
    let mut gone = u.records_matched_after(m.matches, &sides)?;
    gone.extend(u.records_withdrawn_after(m.records, &sides)?);
    let gone: Vec<StoredRecord> = gone.into_iter().filter(|r| r.id <= m.records).collect();
    let rebroken = u.records_with_break_history_after(m.history, &sides)?;
    let limit = most_items(backlog.open() + new.len());
    if new.len() + gone.len() > limit {
        return Ok(Err("the change touches too many open items"));
    }

    let mut seeds: BTreeSet<i64> = BTreeSet::new();
    let mut dirty: BTreeSet<u64> = BTreeSet::new();
    let refs: Vec<&StoredRecord> = gone.iter().collect();
    let Some(gone_filed) = filings(blocking, ctx, &refs) else {
        return Ok(Err("the items do not fit a table"));
    };
    for (r, f) in gone.iter().zip(&gone_filed) {
        // What shared a block with a matched item may pair otherwise now.
        for &b in &f.blocks {
            seeds.extend(backlog.items(b));
        }
        if let Some(g) = f.group {
            for &t in backlog.group_totals(g) {
                seeds.extend(backlog.items(t));
            }
            dirty.insert(g);
        }
        backlog.unfile(r, &f.blocks);
    }
    for r in &gone {
        seeds.remove(&r.id);
    }
    let refs: Vec<&StoredRecord> = new.iter().collect();
    let Some(new_filed) = filings(blocking, ctx, &refs) else {
        return Ok(Err("the items do not fit a table"));
    };
    for (r, f) in new.iter().zip(&new_filed) {
        backlog.file(r, &f.blocks);
        seeds.insert(r.id);
        if let Some(g) = f.group {
            dirty.insert(g);
        }
    }
    let mut at_hand: HashMap<i64, (StoredRecord, Option<Filing>)> =
        rebroken.into_iter().map(|r| (r.id, (r, None))).collect();
    at_hand.extend(
        new.into_iter()
            .zip(new_filed)
            .map(|(r, f)| (r.id, (r, Some(f)))),
    );
    // A break resolved while its item is still open is opened again by the run, as a run
    // over everything would.
    seeds.extend(at_hand.keys().copied());
    if let Some(latest) = u.latest_value_date(sides.job, Side::Statement)? {
        seeds.extend(
            backlog.fallen_due(|d| calendar.business_days_between(d, latest) > rules.window_days),
        );
    }
    // Held back from being breaks until their grace period ended: looked at again.
    seeds.extend(backlog.grace_ended(grace_ended));
    Ok(Ok(Touched {
        seeds,
        dirty,
        at_hand,
        limit,
    }))
}

/// The run over the items `seeds` reach by key, grown until no group total at its pass finds
/// items outside it; or why a run over everything is needed instead.
fn run_by_key(
    u: &mut dyn Unit,
    job: &Matching<'_>,
    mut backlog: Backlog,
    mut closure: Closure,
    seeds: BTreeSet<i64>,
    mut dirty: BTreeSet<u64>,
) -> Result<Prepared, StoreError> {
    let Matching { sides, rules, ctx } = *job;
    let blocking = &rules.blocking;
    if let Err(why) = closure.grow(
        u,
        &mut backlog,
        blocking,
        ctx,
        seeds.into_iter().collect(),
        &mut dirty,
    )? {
        return Ok(Prepared::Full(why));
    }
    let Some(scales) = backlog.amount_scales() else {
        return Ok(Prepared::Full(
            "an open amount is too large for a run over part of the book",
        ));
    };
    loop {
        let ledger: Vec<StoredRecord> = closure
            .items
            .values()
            .filter(|(r, _)| r.record.side == Side::Ledger)
            .map(|(r, _)| r.clone())
            .collect();
        let statement: Vec<StoredRecord> = closure
            .items
            .values()
            .filter(|(r, _)| r.record.side == Side::Statement)
            .map(|(r, _)| r.clone())
            .collect();
        let Ok(tables) = Sides::of(&ledger, &statement, scales) else {
            return Ok(Prepared::Full("the items do not fit a table"));
        };
        let Ok(result) = tables.try_reconcile(rules) else {
            return Ok(Prepared::Full("the engine refused the run"));
        };
        // A group's total at its pass is what the passes before left of it: a total no
        // filing knew of, which may find items outside the run. Those join, and the run is
        // made again.
        let mut more = Vec::new();
        for b in pass_time_totals(rules, ctx, &tables, &result) {
            closure.explore(&backlog, b, &mut more);
        }
        more.retain(|id| !closure.items.contains_key(id));
        if more.is_empty() {
            let ids: Vec<i64> = closure.items.keys().copied().collect();
            let with_break = u.records_with_open_breaks_among(sides.job, &ids)?;
            let filings = closure
                .items
                .into_iter()
                .map(|(id, (_, f))| (id, f))
                .collect();
            tracing::debug!(
                job = sides.job,
                items = ids.len(),
                open = backlog.open(),
                "matching the items a change touches"
            );
            return Ok(Prepared::Run(Box::new(Run {
                backlog,
                ledger,
                statement,
                tables,
                result,
                with_break,
                filings,
            })));
        }
        if let Err(why) = closure.grow(u, &mut backlog, blocking, ctx, more, &mut dirty)? {
            return Ok(Prepared::Full(why));
        }
    }
}

/// The total blocks of the groups of the group-total pass as that pass saw them, for the
/// groups that an earlier pass of the run took members of.
fn pass_time_totals(
    rules: &CashRules,
    ctx: &Context<'_>,
    tables: &Sides,
    result: &Outcome,
) -> Vec<u64> {
    let Some(gt) = rules.blocking.group_totals() else {
        return Vec::new();
    };
    let rule_of = |name: Option<&str>| {
        name.and_then(|n| rules.plan.pass_names().position(|p| p == n))
            .map_or(u32::MAX, |i| i as u32)
    };
    let taken_before: HashSet<usize> = result
        .matches
        .iter()
        .filter(|m| rule_of(m.rule.as_deref()) < gt.rule)
        .flat_map(|m| {
            if gt.ours_grouped {
                m.ledger.clone()
            } else {
                m.statement.clone()
            }
        })
        .collect();
    if taken_before.is_empty() {
        return Vec::new();
    }
    let t = if gt.ours_grouped {
        &tables.ours
    } else {
        &tables.theirs
    };
    let mut groups: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for row in 0..t.len() {
        if let Some(g) = rules.blocking.group_of(gt.ours_grouped, t, row) {
            groups.entry(g).or_default().push(row);
        }
    }
    let mut out = Vec::new();
    let mut totals = Vec::new();
    for rows in groups.values() {
        if rows.iter().any(|r| taken_before.contains(r)) {
            let left: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|r| !taken_before.contains(r))
                .collect();
            rules
                .blocking
                .group_total_blocks(t, &left, ctx, &mut totals);
            out.extend_from_slice(&totals);
        }
    }
    out
}

impl Run {
    /// Files what the run did: matched items leave the backlog (their groups filed under
    /// their new totals), ledger items left without a break wait to fall due, items held back
    /// wait for the end of their grace period. `None` when
    /// the next run must go over everything (a search bound was hit).
    pub(super) fn finish(
        self,
        u: &mut dyn Unit,
        rules: &CashRules,
        applied: &Applied,
    ) -> Result<Option<Backlog>, StoreError> {
        let Run {
            mut backlog,
            ledger,
            statement,
            tables,
            result,
            with_break,
            filings,
        } = self;
        let ctx = rules.context(RunOptions::default());
        let mut dirty = BTreeSet::new();
        for r in ledger.iter().chain(&statement) {
            if applied.posted.contains(&r.id)
                && let Some(f) = filings.get(&r.id)
            {
                backlog.unfile(r, &f.blocks);
                if let Some(g) = f.group {
                    dirty.insert(g);
                }
            }
        }
        if let Some(gt) = rules.blocking.group_totals() {
            let (t, records) = if gt.ours_grouped {
                (&tables.ours, &ledger)
            } else {
                (&tables.theirs, &statement)
            };
            let row_of: HashMap<i64, usize> =
                records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
            for g in dirty {
                let mut members = backlog.items(g).to_vec();
                members.sort_unstable();
                let Some(rows) = members
                    .iter()
                    .map(|id| row_of.get(id).copied())
                    .collect::<Option<Vec<usize>>>()
                else {
                    // Cannot happen: a group's members are all in the run. Start afresh.
                    return Ok(None);
                };
                let mut totals = Vec::new();
                rules
                    .blocking
                    .group_total_blocks(t, &rows, &ctx, &mut totals);
                backlog.refile_group(g, &members, totals);
            }
        }
        let unmatched: HashSet<i64> = result
            .unmatched_ledger
            .iter()
            .map(|&i| ledger[i].id)
            .collect();
        for r in ledger.iter().chain(&statement) {
            if !applied.posted.contains(&r.id) {
                backlog.set_pending(r.id, applied.pending.get(&r.id).copied());
            }
        }
        for r in &ledger {
            if applied.posted.contains(&r.id) {
                continue;
            }
            let waits = unmatched.contains(&r.id)
                && !with_break.contains(&r.id)
                && !applied.due_tried.contains(&r.id);
            backlog.set_waiting(r.record.value_date, r.id, waits);
        }
        backlog.mark = mark(u)?;
        Ok((!result.cut_short).then_some(backlog))
    }
}

/// The backlog of all open items after a run over everything (`ledger` and `statement` in
/// `tables`, `result` its outcome as posted).
pub(super) fn build(
    u: &mut dyn Unit,
    rules: &CashRules,
    ran: &Ran<'_>,
    tables: &Sides,
    applied: &Applied,
) -> Result<Backlog, StoreError> {
    let Ran {
        ledger,
        statement,
        outcome: result,
        with_break,
        ..
    } = *ran;
    let ctx = rules.context(RunOptions::default());
    let blocking = &rules.blocking;
    let mut backlog = Backlog::new();
    let mut groups: BTreeMap<u64, Vec<(i64, usize)>> = BTreeMap::new();
    let mut blocks = Vec::new();
    for (ours, records, t) in [
        (true, ledger, &tables.ours),
        (false, statement, &tables.theirs),
    ] {
        for (row, r) in records.iter().enumerate() {
            if applied.posted.contains(&r.id) {
                continue;
            }
            blocking.blocks(ours, t, row, &ctx, &mut blocks);
            backlog.file(r, &blocks);
            if let Some(g) = blocking.group_of(ours, t, row) {
                groups.entry(g).or_default().push((r.id, row));
            }
        }
    }
    if let Some(gt) = blocking.group_totals() {
        let t = if gt.ours_grouped {
            &tables.ours
        } else {
            &tables.theirs
        };
        let mut totals = Vec::new();
        for (g, members) in groups {
            let rows: Vec<usize> = members.iter().map(|&(_, row)| row).collect();
            blocking.group_total_blocks(t, &rows, &ctx, &mut totals);
            if !totals.is_empty() {
                let ids: Vec<i64> = members.iter().map(|&(id, _)| id).collect();
                backlog.refile_group(g, &ids, totals.clone());
            }
        }
    }
    for &i in &result.unmatched_ledger {
        let r = &ledger[i];
        if !with_break.contains(&r.id) && !applied.due_tried.contains(&r.id) {
            backlog.set_waiting(r.record.value_date, r.id, true);
        }
    }
    for (&id, &until) in &applied.pending {
        backlog.set_pending(id, Some(until));
    }
    backlog.mark = mark(u)?;
    Ok(backlog)
}
