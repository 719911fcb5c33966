//! One run of the rules: pass by pass, candidates found through an index, scored, assigned
//! globally; then a reason for every item left.
//!
//! The hot loop works on integers only: key values are codes ([`super::keys`]), amounts are
//! mantissas at one scale per pass (exact: a value that does not fit is refused, never
//! rounded), dates are day numbers with a business-day count looked up in a table. Decimals
//! come back only at the edges, in differences and explanations.

use std::cmp::Ordering;
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rustc_hash::FxHashMap;

use super::context::{Context, Rates, RunError};
use super::keys::{CodeSet, Codes, KeyCodes, key_codes};
use super::outcome::{
    LostBecause, MatchDecision, NearMiss, Outcome, PartPaid, Rows, RunnerUp, Score, Unmatched,
    UnmatchedReason,
};
use super::par::par_chunks;
use super::spec::{AmountPlan, FxAt, FxPlan, Grouping, KeyPlan, PassPlan, Plan};
use super::table::{Column, FieldKind, MISSING_CCY, MISSING_DAY, Mantissas, Table, TextColumn};

/// Candidates kept per item and pass: beyond this the pass's rules are too loose to be
/// useful, and keeping everything would let one item cost quadratic time.
const MAX_CANDIDATES_PER_ITEM: usize = 64;
/// Subsets of one group examined in a grouped pass, at most.
const SUBSET_BUDGET: usize = 1 << 14;
/// Runners-up kept per match.
const RUNNERS_UP: usize = 3;
/// Mantissas are held in `i64` below this bound, so that sums of up to 64 items and their
/// differences stay exact in `i128` and negating never overflows.
const AMOUNT_BOUND: i128 = 1 << 62;
/// Relative tolerances are fractions with 9 decimals: `n / 10^9`.
const REL_ONE: i128 = 1_000_000_000;
/// The high bit of an item marks a set of rows (a group) instead of one row.
const SET: u32 = 1 << 31;
const HALF: i128 = 500_000;

mod partial;
mod within;

/// Runs the checked rules over our table and theirs.
pub fn run(
    plan: &Plan,
    ours: &Table,
    theirs: &Table,
    ctx: &Context<'_>,
) -> Result<Outcome, RunError> {
    if ours.len() >= SET as usize || theirs.len() >= SET as usize {
        return Err(RunError::AmountRange {
            key: "match".into(),
            scale: 0,
        });
    }
    let biz = BusinessDays::new(plan, ours, theirs, ctx);
    let mut state = State {
        ours_taken: vec![false; ours.len()],
        theirs_taken: vec![false; theirs.len()],
        ours_tie_lost: vec![false; ours.len()],
        theirs_tie_lost: vec![false; theirs.len()],
    };
    let mut out = Outcome::default();
    let threads = ctx.threads();
    let mut prepared = Vec::with_capacity(plan.passes.len());
    let mut amounts = MantissaCache::default();
    for (rule, pass) in plan.passes.iter().enumerate() {
        if pass.within_statement {
            // Their lines with each other: both sides of the pass are their table.
            // Its amounts are theirs on both sides: not shared with the passes' cache of ours.
            let mut own = MantissaCache::default();
            let p = Prepared::new(pass, rule as u32, theirs, theirs, ctx, &biz, &mut own)?;
            out.matches
                .extend(within::pairs(&p, &mut state.theirs_taken, threads));
            continue;
        }
        let p = Prepared::new(pass, rule as u32, ours, theirs, ctx, &biz, &mut amounts)?;
        let (decisions, warnings, cut_short) = run_pass(&p, &mut state, threads);
        out.warnings.extend(warnings);
        out.cut_short |= cut_short;
        if out.matches.is_empty() {
            // Usually the first pass makes most matches: moved, not copied.
            out.matches = decisions;
        } else {
            out.matches.extend(decisions);
        }
        prepared.push(p);
    }
    if ctx.options.explain {
        for m in out.matches.iter_mut().filter(|m| !m.ours.is_empty()) {
            let pass = &plan.passes[m.rule as usize];
            m.explanation = Some(Box::new(super::explain::explain(
                pass, m, ours, theirs, ctx,
            )));
        }
    }
    for p in prepared.iter().filter(|p| p.pass.partial_window.is_some()) {
        out.part_paid.extend(partial::part_paid(p, &state, threads));
    }
    out.part_paid.sort_by_key(|pp| (pp.row, pp.rule));
    let (uo, ut) = reasons(&prepared, &state, threads);
    out.unmatched_ours = uo;
    out.unmatched_theirs = ut;
    Ok(out)
}

struct State {
    ours_taken: Vec<bool>,
    theirs_taken: Vec<bool>,
    /// Lost a candidate on a tie to an item with the same values: a duplicate if left over.
    ours_tie_lost: Vec<bool>,
    theirs_tie_lost: Vec<bool>,
}

/// Business days counted once per run: `prefix[d - base]` is the number of business days
/// from the first day up to day `d`, so the gap between two days is a subtraction.
pub(crate) struct BusinessDays {
    base: i32,
    prefix: Vec<i32>,
}

impl BusinessDays {
    fn new(plan: &Plan, ours: &Table, theirs: &Table, ctx: &Context<'_>) -> BusinessDays {
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for p in &plan.passes {
            let Some(d) = &p.date else { continue };
            // A pass within the statement reads both its date fields from their table.
            let ours = if p.within_statement { theirs } else { ours };
            for (t, f) in [(ours, &d.ours), (theirs, &d.theirs)] {
                if let Some(Column::Date(c)) = t.col(f)
                    && c.min <= c.max
                {
                    lo = lo.min(c.min);
                    hi = hi.max(c.max);
                }
            }
        }
        if lo > hi {
            return BusinessDays {
                base: 0,
                prefix: Vec::new(),
            };
        }
        let from = super::table::date_of(lo).expect("a day of a date column");
        let prefix = (lo..=hi)
            .map(|d| {
                let to = super::table::date_of(d).expect("a day of a date column");
                ctx.calendar.business_days_between(from, to) as i32
            })
            .collect();
        BusinessDays { base: lo, prefix }
    }

    /// Business days between two present days of the run's date columns.
    #[inline]
    fn gap(&self, a: i32, b: i32) -> i32 {
        let pa = self.prefix[(a - self.base) as usize];
        let pb = self.prefix[(b - self.base) as usize];
        (pa - pb).abs()
    }
}

/// Amount rule in integers: both sides' mantissas at one scale, tolerances at that scale.
struct Amounts<'t> {
    ours: Mantissas64<'t>,
    theirs: Mantissas64<'t>,
    scale: u32,
    /// −1 with `opposite_sign`.
    sign: i128,
    tolerance: i128,
    per_currency: Vec<(u16, i128)>,
    /// The largest absolute tolerance of any currency, for bounds.
    tolerance_max: i128,
    relative: i128,
    ours_ccy: Option<&'t [u16]>,
    fx: Option<Fx<'t>>,
}

struct Fx<'t> {
    rates: &'t Rates,
    relative: i128,
    theirs_ccy: &'t [u16],
}

const MISSING_AMOUNT: i64 = i64::MIN;

impl Amounts<'_> {
    #[inline]
    fn allowed(&self, ours_total: i128, ours_ccy: u16) -> i128 {
        let abs = if self.per_currency.is_empty() {
            self.tolerance
        } else {
            match self
                .per_currency
                .binary_search_by_key(&ours_ccy, |&(c, _)| c)
            {
                Ok(i) => self.per_currency[i].1,
                Err(_) => self.tolerance,
            }
        };
        abs.max(self.relative * ours_total.abs() / REL_ONE)
    }

    /// `(ours − sign × theirs, allowed)` for totals in the same currency.
    #[inline]
    fn compare(&self, ours_total: i128, theirs_total: i128, ours_ccy: u16) -> (i128, i128) {
        (
            ours_total - self.sign * theirs_total,
            self.allowed(ours_total, ours_ccy),
        )
    }

    /// The range of their raw amounts that can agree with our total.
    #[inline]
    fn theirs_range(&self, ours_total: i128, ours_ccy: u16) -> (i128, i128) {
        let a = self.allowed(ours_total, ours_ccy);
        let (lo, hi) = (ours_total - a, ours_total + a);
        if self.sign < 0 { (-hi, -lo) } else { (lo, hi) }
    }

    /// The range of our amounts that can agree with their total: the tolerance depends on
    /// our amount, so this is a bound (`a ≤ (T + r|t|)/(1 − r)`), checked exactly later.
    #[inline]
    fn ours_range(&self, theirs_total: i128) -> (i128, i128) {
        let t = self.sign * theirs_total;
        let bound = (self.tolerance_max * REL_ONE + self.relative * t.abs())
            / (REL_ONE - self.relative)
            + 1;
        (t - bound, t + bound)
    }
}

/// Score of a candidate: see [`Score`].
#[inline]
fn score(diff: i128, allowed: i128, gap: Option<i32>, window: Option<i32>) -> u32 {
    let a = if allowed <= 0 {
        0
    } else {
        (diff.abs() * HALF / allowed).min(HALF)
    };
    let d = match (gap, window) {
        (None, _) => 0,
        (Some(g), Some(w)) => (i128::from(g) * HALF / i128::from(w + 1)).min(HALF),
        (Some(g), None) => i128::from(g) * HALF / i128::from(g + 1),
    };
    (1_000_000 - a - d) as u32
}

/// A pass with its fields resolved, codes computed lazily per open rows.
pub(crate) struct Prepared<'t> {
    pass: &'t PassPlan,
    rule: u32,
    ours: &'t Table,
    theirs: &'t Table,
    ctx: &'t Context<'t>,
    biz: &'t BusinessDays,
    amounts: Option<Amounts<'t>>,
    ours_days: Option<&'t [i32]>,
    theirs_days: Option<&'t [i32]>,
    window: Option<i32>,
    /// Index of the key the candidates are looked up by.
    lead_key: usize,
    /// The pass has a key on text (a reference, a name): a candidate agreeing on it but not
    /// on the amount is worth naming.
    discriminating: bool,
}

fn missing(key: &str, side: &'static str, field: &str) -> RunError {
    RunError::MissingField {
        key: key.to_owned(),
        side,
        field: field.to_owned(),
    }
}

fn want<'t>(
    t: &'t Table,
    key: &str,
    side: &'static str,
    field: &str,
    expected: FieldKind,
) -> Result<&'t Column, RunError> {
    let c = t.col(field).ok_or_else(|| missing(key, side, field))?;
    if c.kind() != expected {
        return Err(RunError::WrongKind {
            key: key.to_owned(),
            side,
            field: field.to_owned(),
            expected: expected.as_str(),
            found: c.kind(),
        });
    }
    Ok(c)
}

fn days_of(c: &Column) -> &[i32] {
    match c {
        Column::Date(d) => &d.days,
        _ => unreachable!("kind checked"),
    }
}

fn ccy_of(c: &Column) -> &[u16] {
    match c {
        Column::Currency(c) => &c.codes,
        _ => unreachable!("kind checked"),
    }
}

/// An amount column as `i64` mantissas at a pass's scale: the column itself when it is held
/// so already (and within the bound), else a converted copy shared by the passes.
#[derive(Clone)]
enum Mantissas64<'t> {
    Column(&'t [i64]),
    Converted(Arc<Vec<i64>>),
}

impl std::ops::Deref for Mantissas64<'_> {
    type Target = [i64];
    #[inline]
    fn deref(&self) -> &[i64] {
        match self {
            Mantissas64::Column(c) => c,
            Mantissas64::Converted(v) => v,
        }
    }
}

/// Amount columns converted to a pass's scale, by side, field and scale: passes comparing
/// the same fields at the same scale share them.
#[derive(Default)]
struct MantissaCache(FxHashMap<(bool, String, u32), Arc<Vec<i64>>>);

impl MantissaCache {
    fn get<'t>(
        &mut self,
        ours: bool,
        field: &str,
        c: &'t Column,
        scale: u32,
    ) -> Option<Mantissas64<'t>> {
        if let Column::Decimal(d) = c
            && d.scale == scale
            && d.max_abs < AMOUNT_BOUND as u128
            && let Mantissas::Narrow(v) = &d.values
        {
            // The column's missing value is `i64::MIN`, as `MISSING_AMOUNT`.
            return Some(Mantissas64::Column(v));
        }
        let key = (ours, field.to_owned(), scale);
        if let Some(m) = self.0.get(&key) {
            return Some(Mantissas64::Converted(Arc::clone(m)));
        }
        let m = Arc::new(mantissas(c, scale)?);
        self.0.insert(key, Arc::clone(&m));
        Some(Mantissas64::Converted(m))
    }
}

/// A decimal column as mantissas at `scale`, or `None` when one does not fit.
fn mantissas(c: &Column, scale: u32) -> Option<Vec<i64>> {
    let Column::Decimal(d) = c else {
        unreachable!("kind checked")
    };
    let f = super::table::pow10(scale - d.scale)?;
    let conv = |m: i128| -> Option<i64> {
        let v = m.checked_mul(f)?;
        (v.abs() < AMOUNT_BOUND).then_some(v as i64)
    };
    match &d.values {
        Mantissas::Narrow(v) => v
            .iter()
            .map(|&m| {
                if m == i64::MIN {
                    Some(MISSING_AMOUNT)
                } else {
                    conv(i128::from(m))
                }
            })
            .collect(),
        Mantissas::Wide(v) => v
            .iter()
            .map(|&m| {
                if m == i128::MIN {
                    Some(MISSING_AMOUNT)
                } else {
                    conv(m)
                }
            })
            .collect(),
    }
}

fn scale_of(c: &Column) -> u32 {
    match c {
        Column::Decimal(d) => d.scale,
        _ => 0,
    }
}

/// `d` as a mantissa at `scale` (tolerances: checked to fit when the rules were read).
fn at_scale(d: Decimal, scale: u32) -> i128 {
    let f = super::table::pow10(scale - d.scale().min(scale)).unwrap_or(1);
    d.mantissa() * f
}

fn rel_units(d: Decimal) -> i128 {
    at_scale(d, 9)
}

impl<'t> Prepared<'t> {
    /// Resolves a pass's fields to the tables' columns once, before any record is looked at:
    /// a field missing or of the wrong kind, or a table the pass names that is not loaded, is
    /// a rule error, not a record's.
    fn new(
        pass: &'t PassPlan,
        rule: u32,
        ours: &'t Table,
        theirs: &'t Table,
        ctx: &'t Context<'t>,
        biz: &'t BusinessDays,
        cache: &mut MantissaCache,
    ) -> Result<Prepared<'t>, RunError> {
        check_key_columns(pass, ours, theirs, ctx)?;
        check_group_columns(pass, ours, theirs)?;
        let (ours_days, theirs_days, window) = match &pass.date {
            Some(d) => (
                Some(days_of(want(
                    ours,
                    &pass.key,
                    "our",
                    &d.ours,
                    FieldKind::Date,
                )?)),
                Some(days_of(want(
                    theirs,
                    &pass.key,
                    "their",
                    &d.theirs,
                    FieldKind::Date,
                )?)),
                d.window,
            ),
            None => (None, None, None),
        };
        let amounts = match &pass.amount {
            None => None,
            Some(a) => Some(Amounts::resolve(pass, a, ours, theirs, ctx, cache)?),
        };
        let is_text = |f: &str| matches!(ours.col(f), Some(Column::Text(_)));
        // Candidates are looked up by a text key when there is one: a reference or a name
        // narrows them down far more than a date or a code.
        let lead_key = pass
            .keys
            .iter()
            .position(|k| {
                is_text(&k.ours) || matches!(theirs.col(&k.theirs), Some(Column::Text(_)))
            })
            .unwrap_or(0);
        let discriminating = pass.keys.iter().any(|k| is_text(&k.ours));
        Ok(Prepared {
            pass,
            rule,
            ours,
            theirs,
            ctx,
            biz,
            amounts,
            ours_days,
            theirs_days,
            window,
            lead_key,
            discriminating,
        })
    }

    fn codes(&self, ours_open: &[u32], theirs_open: &[u32], threads: usize) -> Vec<KeyCodes<'t>> {
        self.pass
            .keys
            .iter()
            .map(|k| self.key_codes(k, ours_open, theirs_open, threads))
            .collect()
    }

    fn key_codes(
        &self,
        k: &KeyPlan,
        ours_open: &[u32],
        theirs_open: &[u32],
        threads: usize,
    ) -> KeyCodes<'t> {
        let map = k
            .map
            .as_ref()
            .and_then(|m| self.ctx.maps.get(m.as_str()).copied());
        key_codes(
            k,
            self.ours,
            self.theirs,
            ours_open,
            theirs_open,
            map,
            threads,
        )
    }

    #[inline]
    fn ours_ccy(&self, row: u32) -> u16 {
        self.amounts
            .as_ref()
            .and_then(|a| a.ours_ccy)
            .map_or(MISSING_CCY, |c| c[row as usize])
    }

    /// Largest business-day gap between any of our rows and any of theirs; `None` (no date
    /// rule) or `Some(Err)` when a date is missing.
    #[inline]
    fn gap(&self, ours: &[u32], theirs: &[u32]) -> Option<Result<i32, ()>> {
        let (od, td) = (self.ours_days?, self.theirs_days?);
        let mut g = 0;
        for &o in ours {
            let a = od[o as usize];
            if a == MISSING_DAY {
                return Some(Err(()));
            }
            for &t in theirs {
                let b = td[t as usize];
                if b == MISSING_DAY {
                    return Some(Err(()));
                }
                g = g.max(self.biz.gap(a, b));
            }
        }
        Some(Ok(g))
    }

    /// The day whose rate converts their amount into ours: the statement line's (default,
    /// the bank converted then) or our item's (`at = "ours"`).
    #[inline]
    fn fx_day(&self, ours: &[u32], theirs: &[u32]) -> Option<i32> {
        let at = self.pass.fx.as_ref().map_or(FxAt::Theirs, |f| f.at);
        let day = match at {
            FxAt::Theirs => self.theirs_days?[theirs[0] as usize],
            FxAt::Ours => self.ours_days?[ours[0] as usize],
        };
        (day != MISSING_DAY).then_some(day)
    }

    /// Whether totals agree, with the score's amount term inputs: `(diff, allowed)` in a
    /// common unit. `None` when an amount is missing or a rate is unknown.
    fn amount_check(&self, ours: &[u32], theirs: &[u32]) -> Option<(bool, i128, i128)> {
        let Some(a) = &self.amounts else {
            return Some((true, 0, 0));
        };
        let mut o = 0i128;
        for &r in ours {
            let m = a.ours[r as usize];
            if m == MISSING_AMOUNT {
                return None;
            }
            o += i128::from(m);
        }
        let mut t = 0i128;
        for &r in theirs {
            let m = a.theirs[r as usize];
            if m == MISSING_AMOUNT {
                return None;
            }
            t += i128::from(m);
        }
        let occy = self.ours_ccy(ours[0]);
        if let Some(fx) = &a.fx {
            let tccy = fx.theirs_ccy[theirs[0] as usize];
            if tccy != occy {
                let day = self.fx_day(ours, theirs)?;
                let rate = fx.rates.lookup(day, tccy, occy)?;
                let od = Decimal::try_from_i128_with_scale(o, a.scale).ok()?;
                let td = Decimal::try_from_i128_with_scale(t * a.sign, a.scale).ok()?;
                let diff = od.checked_sub(td.checked_mul(rate)?)?;
                let allowed = Decimal::try_from_i128_with_scale(a.allowed(o, occy), a.scale)
                    .ok()?
                    + Decimal::from_i128_with_scale(fx.relative, 9) * od.abs();
                // Back to integers for the score: millionths of the allowed difference.
                let ok = diff.abs() <= allowed;
                let num = (diff.abs() * Decimal::from(1_000_000)).to_i128()?;
                let den = (allowed * Decimal::from(1_000_000)).to_i128()?;
                return Some((ok, num, den));
            }
        }
        let (diff, allowed) = a.compare(o, t, occy);
        Some((diff.abs() <= allowed, diff, allowed))
    }

    /// Keys agree between our row `o` and their row `t`, all of them.
    #[inline]
    fn keys_agree(&self, codes: &[KeyCodes<'_>], o: u32, t: u32) -> bool {
        codes
            .iter()
            .all(|k| k.ours.get(o).intersects(&k.theirs.get(t)))
    }

    /// A candidate, when the rows agree: its score and gap.
    fn evaluate(&self, ours: &[u32], theirs: &[u32]) -> Option<(u32, i32)> {
        let gap = match self.gap(ours, theirs) {
            None => None,
            Some(Err(())) => return None,
            Some(Ok(g)) => Some(g),
        };
        if let (Some(g), Some(w)) = (gap, self.window)
            && g > w
        {
            return None;
        }
        let (ok, diff, allowed) = self.amount_check(ours, theirs)?;
        ok.then(|| (score(diff, allowed, gap, self.window), gap.unwrap_or(0)))
    }

    /// Ours minus theirs (after sign and conversion) as a decimal, for reports.
    pub(crate) fn difference(&self, ours: &[u32], theirs: &[u32]) -> Option<Decimal> {
        let a = self.amounts.as_ref()?;
        let sum = |v: &[i64], rows: &[u32]| {
            rows.iter()
                .map(|&r| i128::from(v[r as usize]))
                .sum::<i128>()
        };
        let (o, t) = (sum(&a.ours, ours), sum(&a.theirs, theirs));
        let occy = self.ours_ccy(ours[0]);
        if let Some(fx) = &a.fx {
            let tccy = fx.theirs_ccy[theirs[0] as usize];
            if tccy != occy {
                let day = self.fx_day(ours, theirs)?;
                let rate = fx.rates.lookup(day, tccy, occy)?;
                let od = Decimal::try_from_i128_with_scale(o, a.scale).ok()?;
                let td = Decimal::try_from_i128_with_scale(t * a.sign, a.scale).ok()?;
                return od.checked_sub(td.checked_mul(rate)?);
            }
        }
        Decimal::try_from_i128_with_scale(o - a.sign * t, a.scale).ok()
    }

    fn allowed_decimal(&self, ours: &[u32]) -> Option<Decimal> {
        let a = self.amounts.as_ref()?;
        let o: i128 = ours.iter().map(|&r| i128::from(a.ours[r as usize])).sum();
        Decimal::try_from_i128_with_scale(a.allowed(o, self.ours_ccy(ours[0])), a.scale).ok()
    }
}

/// Every key's fields are in their tables, and the mapping table a key names is loaded.
fn check_key_columns(
    pass: &PassPlan,
    ours: &Table,
    theirs: &Table,
    ctx: &Context<'_>,
) -> Result<(), RunError> {
    for k in &pass.keys {
        ours.col(&k.ours)
            .ok_or_else(|| missing(&k.key, "our", &k.ours))?;
        theirs
            .col(&k.theirs)
            .ok_or_else(|| missing(&k.key, "their", &k.theirs))?;
        if let Some(m) = &k.map
            && !ctx.maps.contains_key(m.as_str())
        {
            return Err(RunError::UnknownMap {
                key: k.key.clone(),
                name: m.clone(),
            });
        }
    }
    Ok(())
}

/// The group_by fields are in the table of each grouped side.
fn check_group_columns(pass: &PassPlan, ours: &Table, theirs: &Table) -> Result<(), RunError> {
    let (og, tg) = grouped_sides(pass.grouping);
    for f in &pass.group_by {
        if og {
            ours.col(f).ok_or_else(|| missing(&pass.key, "our", f))?;
        }
        if tg {
            theirs
                .col(f)
                .ok_or_else(|| missing(&pass.key, "their", f))?;
        }
    }
    Ok(())
}

impl<'t> Amounts<'t> {
    /// The amount rule in integers: both amount columns and every tolerance at the largest
    /// scale among them, so comparing amounts never rounds; the currency columns when
    /// tolerances differ by currency or amounts are converted.
    fn resolve(
        pass: &PassPlan,
        a: &AmountPlan,
        ours: &'t Table,
        theirs: &'t Table,
        ctx: &'t Context<'t>,
        cache: &mut MantissaCache,
    ) -> Result<Amounts<'t>, RunError> {
        let oc = want(ours, &a.key, "our", &a.ours, FieldKind::Decimal)?;
        let tc = want(theirs, &a.key, "their", &a.theirs, FieldKind::Decimal)?;
        let scale = [
            scale_of(oc),
            scale_of(tc),
            a.tolerance.scale(),
            a.per_currency
                .iter()
                .map(|(_, d)| d.scale())
                .max()
                .unwrap_or(0),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let range = || RunError::AmountRange {
            key: a.key.clone(),
            scale,
        };
        let om = cache.get(true, &a.ours, oc, scale).ok_or_else(range)?;
        let tm = cache.get(false, &a.theirs, tc, scale).ok_or_else(range)?;
        let needs_ccy = !a.per_currency.is_empty() || pass.fx.is_some();
        let ours_ccy = if needs_ccy {
            Some(ccy_of(want(
                ours,
                &a.key,
                "our",
                &a.ours_currency,
                FieldKind::Currency,
            )?))
        } else {
            None
        };
        let fx = match &pass.fx {
            None => None,
            Some(f) => Some(Fx::resolve(f, a, theirs, ctx)?),
        };
        let tolerance = at_scale(a.tolerance, scale);
        let per_currency: Vec<(u16, i128)> = a
            .per_currency
            .iter()
            .map(|&(c, d)| (c, at_scale(d, scale)))
            .collect();
        let tolerance_max = per_currency
            .iter()
            .map(|&(_, t)| t)
            .fold(tolerance, i128::max);
        Ok(Amounts {
            ours: om,
            theirs: tm,
            scale,
            sign: if a.opposite_sign { -1 } else { 1 },
            tolerance,
            per_currency,
            tolerance_max,
            relative: rel_units(a.relative),
            ours_ccy,
            fx,
        })
    }
}

impl<'t> Fx<'t> {
    /// The rates table the pass converts with (it must be loaded) and their currency column.
    fn resolve(
        f: &FxPlan,
        a: &AmountPlan,
        theirs: &'t Table,
        ctx: &'t Context<'t>,
    ) -> Result<Fx<'t>, RunError> {
        Ok(Fx {
            rates: ctx.rates.get(f.rates.as_str()).copied().ok_or_else(|| {
                RunError::UnknownRates {
                    key: f.key.clone(),
                    name: f.rates.clone(),
                }
            })?,
            relative: rel_units(f.tolerance_relative),
            theirs_ccy: ccy_of(want(
                theirs,
                &a.key,
                "their",
                &a.theirs_currency,
                FieldKind::Currency,
            )?),
        })
    }
}

fn grouped_sides(g: Grouping) -> (bool, bool) {
    match g {
        Grouping::OneToOne => (false, false),
        Grouping::OneToMany => (false, true),
        Grouping::ManyToOne => (true, false),
        Grouping::ManyToMany => (true, true),
    }
}

/// Rows of one side by the code of one key, each bucket sorted by amount: candidates are a
/// bucket lookup and a binary search.
struct Index {
    dense: Dense,
    offsets: Vec<u32>,
    rows: Vec<u32>,
    amounts: Vec<i64>,
}

enum Dense {
    /// Codes are `0..space`: the code is the bucket.
    Direct,
    /// Sparse codes (day numbers, currencies): a map to buckets.
    Map(FxHashMap<u32, u32>),
}

impl Index {
    fn build(
        open: &[u32],
        codes: &Codes<'_>,
        space: Option<usize>,
        amounts: Option<&[i64]>,
    ) -> Index {
        let amount = |r: u32| amounts.map_or(0, |a| a[r as usize]);
        let usable = |r: u32| amounts.is_none_or(|a| a[r as usize] != MISSING_AMOUNT);
        let (dense, buckets) = match space {
            Some(n) if n <= open.len().saturating_mul(8).max(1 << 16) => (Dense::Direct, n),
            _ => {
                let mut m = FxHashMap::default();
                for &r in open.iter().filter(|&&r| usable(r)) {
                    let cs = codes.get(r);
                    for i in 0..cs.len() {
                        let n = m.len() as u32;
                        m.entry(cs.get(i)).or_insert(n);
                    }
                }
                let n = m.len();
                (Dense::Map(m), n)
            }
        };
        let bucket = |dense: &Dense, c: u32| -> usize {
            match dense {
                Dense::Direct => c as usize,
                Dense::Map(m) => m[&c] as usize,
            }
        };
        let mut offsets = vec![0u32; buckets + 1];
        for &r in open.iter().filter(|&&r| usable(r)) {
            let cs = codes.get(r);
            for i in 0..cs.len() {
                offsets[bucket(&dense, cs.get(i)) + 1] += 1;
            }
        }
        for b in 0..buckets {
            offsets[b + 1] += offsets[b];
        }
        let total = offsets[buckets] as usize;
        let mut at = offsets.clone();
        let mut entries = vec![(0i64, 0u32); total];
        for &r in open.iter().filter(|&&r| usable(r)) {
            let cs = codes.get(r);
            for i in 0..cs.len() {
                let b = bucket(&dense, cs.get(i));
                entries[at[b] as usize] = (amount(r), r);
                at[b] += 1;
            }
        }
        drop(at);
        for b in 0..buckets {
            let s = &mut entries[offsets[b] as usize..offsets[b + 1] as usize];
            if s.len() > 1 {
                s.sort_unstable();
            }
        }
        let (amounts, rows) = entries.into_iter().unzip();
        Index {
            dense,
            offsets,
            rows,
            amounts,
        }
    }

    /// The entries of the bucket of `code`.
    #[inline]
    fn bucket(&self, code: u32) -> std::ops::Range<usize> {
        let b = match &self.dense {
            Dense::Direct => code as usize,
            Dense::Map(m) => match m.get(&code) {
                Some(&b) => b as usize,
                None => return 0..0,
            },
        };
        if b + 1 >= self.offsets.len() {
            return 0..0;
        }
        self.offsets[b] as usize..self.offsets[b + 1] as usize
    }

    /// The entries of the bucket of `code` with an amount in `lo..=hi`.
    #[inline]
    fn range(&self, code: u32, lo: i128, hi: i128) -> std::ops::Range<usize> {
        let r = self.bucket(code);
        let s = &self.amounts[r.clone()];
        let a = s.partition_point(|&m| i128::from(m) < lo);
        let b = s.partition_point(|&m| i128::from(m) <= hi);
        r.start + a..r.start + b.max(a)
    }
}

/// A candidate: items (a row, or `SET | i` for the pass's i-th set of rows), score, gap.
#[derive(Clone, Copy, Debug)]
struct Cand {
    ours: u32,
    theirs: u32,
    score: u32,
    gap: i32,
}

struct Found {
    cands: Vec<Cand>,
    ours_sets: Vec<Box<[u32]>>,
    theirs_sets: Vec<Box<[u32]>>,
    warnings: Vec<String>,
    /// A bound left candidates out (see [`Outcome::cut_short`]).
    cut_short: bool,
}

fn items<'a>(item: u32, sets: &'a [Box<[u32]>], one: &'a mut [u32; 1]) -> &'a [u32] {
    if item & SET != 0 {
        &sets[(item & !SET) as usize]
    } else {
        one[0] = item;
        &one[..]
    }
}

fn run_pass(
    p: &Prepared<'_>,
    state: &mut State,
    threads: usize,
) -> (Vec<MatchDecision>, Vec<String>, bool) {
    let ours_open: Vec<u32> = open_rows(&state.ours_taken);
    let theirs_open: Vec<u32> = open_rows(&state.theirs_taken);
    if ours_open.is_empty() || theirs_open.is_empty() {
        return (Vec::new(), Vec::new(), false);
    }
    let codes = p.codes(&ours_open, &theirs_open, threads);
    let found = match p.pass.grouping {
        Grouping::OneToOne => one_to_one(p, &codes, &ours_open, &theirs_open, threads),
        Grouping::ManyToOne | Grouping::OneToMany => {
            one_side_grouped(p, &codes, &ours_open, &theirs_open)
        }
        Grouping::ManyToMany => many_to_many(p, &codes, &ours_open, &theirs_open, threads),
    };
    let mut warnings = found.warnings;
    let decisions = assign(
        p,
        found.cands,
        &found.ours_sets,
        &found.theirs_sets,
        state,
        &mut warnings,
    );
    (decisions, warnings, found.cut_short)
}

fn open_rows(taken: &[bool]) -> Vec<u32> {
    taken
        .iter()
        .enumerate()
        .filter(|(_, t)| !**t)
        .map(|(i, _)| i as u32)
        .collect()
}

fn one_to_one(
    p: &Prepared<'_>,
    codes: &[KeyCodes<'_>],
    ours_open: &[u32],
    theirs_open: &[u32],
    threads: usize,
) -> Found {
    let lead = codes.get(p.lead_key);
    // Without keys every item is in one bucket.
    let zeros: Vec<u32> = if lead.is_none() {
        vec![0; p.theirs.len()]
    } else {
        Vec::new()
    };
    let zero_codes = Codes::Syms(&zeros);
    let (theirs_codes, space) = match lead {
        Some(k) => (&k.theirs, k.space),
        None => (&zero_codes, Some(1)),
    };
    let index = Index::build(
        theirs_open,
        theirs_codes,
        space,
        p.amounts.as_ref().map(|a| &a.theirs[..]),
    );
    let parts = par_chunks(ours_open.len(), threads, 8192, |range| {
        let mut cands = Vec::new();
        let mut hits: Vec<u32> = Vec::new();
        let mut mine: Vec<Cand> = Vec::new();
        let mut capped = 0usize;
        for &o in &ours_open[range] {
            hits.clear();
            let lead_codes = match lead {
                Some(k) => k.ours.get(o),
                None => CodeSet::One(0),
            };
            let amount = p.amounts.as_ref().map(|a| a.ours[o as usize]);
            if amount == Some(MISSING_AMOUNT) {
                continue;
            }
            for i in 0..lead_codes.len() {
                let code = lead_codes.get(i);
                let r = match (&p.amounts, amount) {
                    (Some(a), Some(m)) if a.fx.is_none() => {
                        let (lo, hi) = a.theirs_range(i128::from(m), p.ours_ccy(o));
                        index.range(code, lo, hi)
                    }
                    _ => index.bucket(code),
                };
                hits.extend_from_slice(&index.rows[r]);
            }
            if lead_codes.len() > 1 {
                hits.sort_unstable();
                hits.dedup();
            }
            mine.clear();
            for &t in &hits {
                if !p.keys_agree(codes, o, t) {
                    continue;
                }
                if let Some((score, gap)) = p.evaluate(&[o], &[t]) {
                    mine.push(Cand {
                        ours: o,
                        theirs: t,
                        score,
                        gap,
                    });
                }
            }
            if mine.len() > MAX_CANDIDATES_PER_ITEM {
                // Keep the best; identities break ties so the cut is order-independent.
                mine.sort_unstable_by(|a, b| {
                    b.score.cmp(&a.score).then_with(|| {
                        p.theirs
                            .identity(a.theirs as usize)
                            .cmp(p.theirs.identity(b.theirs as usize))
                    })
                });
                mine.truncate(MAX_CANDIDATES_PER_ITEM);
                capped += 1;
            }
            cands.extend_from_slice(&mine);
        }
        (cands, capped)
    });
    let mut cands = Vec::with_capacity(parts.iter().map(|(c, _)| c.len()).sum());
    let mut capped = 0;
    for (c, n) in parts {
        cands.extend(c);
        capped += n;
    }
    let mut warnings = Vec::new();
    if capped > 0 {
        warnings.push(format!(
            "pass {}: {capped} items had more than {MAX_CANDIDATES_PER_ITEM} candidates; only the best were considered (the rules may be too loose)",
            p.pass.name
        ));
    }
    Found {
        cands,
        ours_sets: Vec::new(),
        theirs_sets: Vec::new(),
        warnings,
        cut_short: capped > 0,
    }
}

/// Compares two rows of `t` by the values of `fields` (exactly: symbols, days, codes,
/// mantissas, text).
fn cmp_fields(t: &Table, fields: &[&Column], a: u32, b: u32) -> Ordering {
    let (a, b) = (a as usize, b as usize);
    for c in fields {
        let o = match c {
            Column::Text(TextColumn::Dict { syms, .. }) => syms[a].cmp(&syms[b]),
            Column::Text(TextColumn::Plain(p)) => p.get(a).cmp(p.get(b)),
            Column::Date(d) => d.days[a].cmp(&d.days[b]),
            Column::Currency(c) => c.codes[a].cmp(&c.codes[b]),
            Column::Decimal(d) => d.get(a).cmp(&d.get(b)),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    let _ = t;
    Ordering::Equal
}

fn has_missing(fields: &[&Column], r: u32) -> bool {
    let r = r as usize;
    fields.iter().any(|c| match c {
        Column::Text(t) => t.get(r).is_none(),
        Column::Date(d) => d.days[r] == MISSING_DAY,
        Column::Currency(c) => c.codes[r] == MISSING_CCY,
        Column::Decimal(d) => d.get(r).is_none(),
    })
}

/// A hash of a row's values in `fields` (of the values, not of dictionary symbols, which
/// depend on the order of the rows).
fn group_hash(fields: &[&Column], r: u32) -> u64 {
    let r = r as usize;
    let mut h = rustc_hash::FxHasher::default();
    for c in fields {
        let v = match c {
            Column::Text(t) => super::intern::hash_bytes(t.get(r).unwrap_or("").as_bytes()),
            Column::Date(d) => d.days[r] as u64,
            Column::Currency(c) => u64::from(c.codes[r]),
            Column::Decimal(d) => d.get(r).map_or(0, |m| m as u64),
        };
        std::hash::Hasher::write_u64(&mut h, v);
    }
    std::hash::Hasher::finish(&h)
}

/// Open rows grouped by `group_by` (rows missing a value are in no group); each group's rows
/// by amount, then identity, so a group does not depend on file order.
fn groups(t: &Table, group_by: &[String], open: &[u32], amounts: Option<&[i64]>) -> Vec<Vec<u32>> {
    let fields: Vec<&Column> = group_by.iter().filter_map(|f| t.col(f)).collect();
    // Sorted by a hash of the values first (cheap to compare: texts are compared only when
    // hashes agree), then by the values: equal values end up adjacent, in an order that
    // depends on the values alone.
    let mut keyed: Vec<(u64, u32)> = open
        .iter()
        .copied()
        .filter(|&r| {
            !has_missing(&fields, r) && amounts.is_none_or(|a| a[r as usize] != MISSING_AMOUNT)
        })
        .map(|r| (group_hash(&fields, r), r))
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| cmp_fields(t, &fields, a.1, b.1)));
    let mut out = Vec::new();
    let mut i = 0;
    while i < keyed.len() {
        let mut j = i + 1;
        while j < keyed.len()
            && keyed[j].0 == keyed[i].0
            && cmp_fields(t, &fields, keyed[i].1, keyed[j].1) == Ordering::Equal
        {
            j += 1;
        }
        let mut g: Vec<u32> = keyed[i..j].iter().map(|&(_, r)| r).collect();
        g.sort_unstable_by(|&a, &b| {
            let am = |r: u32| amounts.map_or(0, |v| v[r as usize]);
            am(a)
                .cmp(&am(b))
                .then_with(|| t.identity(a as usize).cmp(t.identity(b as usize)))
        });
        out.push(g);
        i = j;
    }
    out
}

/// The groups one row of the grouped side may be in when a key finds several values in it
/// (a line quoting two invoices), at most.
const KEYED_GROUPS_PER_ROW: usize = 16;

/// Without `group_by`: open rows of the grouped side grouped by the codes of all the pass's
/// keys, the values a key's pattern extracts where it has one (the lines quoting
/// `INV-123456789/1` and `/2` share the invoice number). A row missing a key's value (or its
/// amount) is in no group; a row with several values for a key is in the group of each.
/// Returns each group's shared codes, one per key, with its rows by amount, then identity.
fn keyed_groups(
    t: &Table,
    codes: &[KeyCodes<'_>],
    ours_grouped: bool,
    open: &[u32],
    amounts: Option<&[i64]>,
) -> Vec<(Box<[u32]>, Vec<u32>)> {
    let side = |k: &'_ KeyCodes<'_>, r: u32| {
        if ours_grouped {
            k.ours.get(r).len()
        } else {
            k.theirs.get(r).len()
        }
    };
    let code = |k: &KeyCodes<'_>, r: u32, i: usize| {
        if ours_grouped {
            k.ours.get(r).get(i)
        } else {
            k.theirs.get(r).get(i)
        }
    };
    let width = codes.len();
    // (codes of one group a row is in, flat by `width`; the row)
    let mut shared: Vec<u32> = Vec::new();
    let mut rows: Vec<u32> = Vec::new();
    let mut pick = vec![0usize; width];
    for &r in open {
        if amounts.is_some_and(|a| a[r as usize] == MISSING_AMOUNT) {
            continue;
        }
        let combinations = codes
            .iter()
            .fold(1usize, |n, k| n.saturating_mul(side(k, r)));
        pick.fill(0);
        for _ in 0..combinations.min(KEYED_GROUPS_PER_ROW) {
            shared.extend(codes.iter().zip(&pick).map(|(k, &i)| code(k, r, i)));
            rows.push(r);
            // The next combination, the last key's values turning fastest.
            for (j, k) in codes.iter().enumerate().rev() {
                pick[j] += 1;
                if pick[j] < side(k, r) {
                    break;
                }
                pick[j] = 0;
            }
        }
    }
    let of = |e: u32| &shared[e as usize * width..(e as usize + 1) * width];
    let mut entries: Vec<u32> = (0..rows.len() as u32).collect();
    entries.sort_unstable_by(|&a, &b| {
        of(a)
            .cmp(of(b))
            .then_with(|| rows[a as usize].cmp(&rows[b as usize]))
    });
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && of(entries[j]) == of(entries[i]) {
            j += 1;
        }
        let mut g: Vec<u32> = entries[i..j].iter().map(|&e| rows[e as usize]).collect();
        g.dedup();
        g.sort_unstable_by(|&a, &b| {
            let am = |r: u32| amounts.map_or(0, |v| v[r as usize]);
            am(a)
                .cmp(&am(b))
                .then_with(|| t.identity(a as usize).cmp(t.identity(b as usize)))
        });
        out.push((Box::from(of(entries[i])), g));
        i = j;
    }
    out
}

/// Calls `visit` with subsets of `n` items of 2 to `max` items, smallest first, until the
/// budget is spent; returns false when it was.
fn subsets(n: usize, max: usize, budget: usize, visit: &mut dyn FnMut(&[usize])) -> bool {
    let mut left = budget;
    let mut pick = Vec::with_capacity(max);
    for k in 2..=max.min(n) {
        // Combinations of k out of n in lexicographic order.
        pick.clear();
        pick.extend(0..k);
        loop {
            if left == 0 {
                return false;
            }
            left -= 1;
            visit(&pick);
            let mut i = k;
            loop {
                if i == 0 {
                    break;
                }
                i -= 1;
                if pick[i] < n - k + i {
                    pick[i] += 1;
                    for j in i + 1..k {
                        pick[j] = pick[j - 1] + 1;
                    }
                    break;
                }
                if i == 0 {
                    i = usize::MAX;
                    break;
                }
            }
            if i == usize::MAX {
                break;
            }
        }
    }
    true
}

/// `many_to_one` (our items grouped) and `one_to_many` (theirs grouped): for each group, the
/// whole group or its subsets, against single items of the other side.
fn one_side_grouped(
    p: &Prepared<'_>,
    codes: &[KeyCodes<'_>],
    ours_open: &[u32],
    theirs_open: &[u32],
) -> Found {
    let ours_grouped = p.pass.grouping == Grouping::ManyToOne;
    let (g_table, g_open) = if ours_grouped {
        (p.ours, ours_open)
    } else {
        (p.theirs, theirs_open)
    };
    let (s_open, s_amounts) = if ours_grouped {
        (theirs_open, p.amounts.as_ref().map(|a| &a.theirs[..]))
    } else {
        (ours_open, p.amounts.as_ref().map(|a| &a.ours[..]))
    };
    let g_amounts = p.amounts.as_ref().map(|a| {
        if ours_grouped {
            &a.ours[..]
        } else {
            &a.theirs[..]
        }
    });
    // Without keys every item is in one bucket.
    let zeros: Vec<u32> = if codes.is_empty() {
        vec![0; p.ours.len().max(p.theirs.len())]
    } else {
        Vec::new()
    };
    let zero_codes = Codes::Syms(&zeros);
    let (s_codes, g_codes, space) = match codes.get(p.lead_key) {
        Some(k) if ours_grouped => (&k.theirs, &k.ours, k.space),
        Some(k) => (&k.ours, &k.theirs, k.space),
        None => (&zero_codes, &zero_codes, Some(1)),
    };
    let index = Index::build(s_open, s_codes, space, s_amounts);
    let search = GroupAgainstSingles {
        p,
        codes,
        index: &index,
        ours_grouped,
        g_amounts,
    };
    let max = p.pass.max_group_size;
    let mut found = Found {
        cands: Vec::new(),
        ours_sets: Vec::new(),
        theirs_sets: Vec::new(),
        warnings: Vec::new(),
        cut_short: false,
    };
    let (mut too_big, mut cut_short) = (0usize, 0usize);
    let mut members: Vec<u32> = Vec::with_capacity(max);
    // With group_by, a group shares those fields; without, the codes of the keys.
    let by_keys = p.pass.group_by.is_empty() && !codes.is_empty();
    let all_groups = if by_keys {
        keyed_groups(g_table, codes, ours_grouped, g_open, g_amounts)
    } else {
        groups(g_table, &p.pass.group_by, g_open, g_amounts)
            .into_iter()
            .map(|g| (Box::default(), g))
            .collect()
    };
    for (shared, g) in all_groups {
        if g.len() < 2 {
            continue;
        }
        if !p.pass.subsets && g.len() > max {
            too_big += 1;
            continue;
        }
        let first = g[0];
        let (lead_codes, shared) = if by_keys {
            (CodeSet::One(shared[p.lead_key]), Some(&shared[..]))
        } else {
            (g_codes.get(first), None)
        };
        let mut visit = |pick: &[usize]| {
            members.clear();
            members.extend(pick.iter().map(|&i| g[i]));
            search.try_members(&members, first, lead_codes, shared, &mut found);
        };
        if p.pass.subsets {
            if !subsets(g.len(), max, SUBSET_BUDGET, &mut visit) {
                cut_short += 1;
            }
        } else {
            let whole: Vec<usize> = (0..g.len()).collect();
            visit(&whole);
        }
    }
    if too_big > 0 {
        found.warnings.push(format!(
            "pass {}: {too_big} groups have more than {max} items and were not considered",
            p.pass.name
        ));
    }
    if cut_short > 0 {
        found.cut_short = true;
        found.warnings.push(format!(
            "pass {}: the subset search of {cut_short} groups stopped after {SUBSET_BUDGET} subsets",
            p.pass.name
        ));
    }
    found
}

/// One side's groups tried against single items of the other side, found through the
/// index by the lead key and the range of amounts that can agree with a group's total.
struct GroupAgainstSingles<'s, 'p, 'k> {
    p: &'s Prepared<'p>,
    codes: &'s [KeyCodes<'k>],
    index: &'s Index,
    ours_grouped: bool,
    g_amounts: Option<&'s [i64]>,
}

impl GroupAgainstSingles<'_, '_, '_> {
    /// The candidates for one set of a group's members (the whole group or one of its
    /// subsets), through the lead codes of the group's first member (a group shares its keys)
    /// or, for a group formed by its keys' values, the `shared` codes: one per key.
    fn try_members(
        &self,
        members: &[u32],
        first: u32,
        lead_codes: CodeSet<'_>,
        shared: Option<&[u32]>,
        found: &mut Found,
    ) {
        let (p, index, ours_grouped, g_amounts) =
            (self.p, self.index, self.ours_grouped, self.g_amounts);
        let codes = self.codes;
        let total: i128 = g_amounts.map_or(0, |a| {
            members.iter().map(|&r| i128::from(a[r as usize])).sum()
        });
        for i in 0..lead_codes.len() {
            let code = lead_codes.get(i);
            let r = match &p.amounts {
                Some(a) if ours_grouped => {
                    let (lo, hi) = a.theirs_range(total, p.ours_ccy(first));
                    index.range(code, lo, hi)
                }
                Some(a) => {
                    let (lo, hi) = a.ours_range(total);
                    index.range(code, lo, hi)
                }
                None => index.bucket(code),
            };
            for &s in &index.rows[r] {
                let agree = match shared {
                    // The single item has the group's value of every key.
                    Some(shared) => codes.iter().zip(shared).all(|(k, &c)| {
                        let single = if ours_grouped { &k.theirs } else { &k.ours };
                        single.get(s).contains(c)
                    }),
                    None => {
                        let (o, t) = if ours_grouped { (first, s) } else { (s, first) };
                        p.keys_agree(codes, o, t)
                    }
                };
                if !agree {
                    continue;
                }
                let single = [s];
                let (os, ts): (&[u32], &[u32]) = if ours_grouped {
                    (members, &single)
                } else {
                    (&single, members)
                };
                if let Some((score, gap)) = p.evaluate(os, ts) {
                    let set: Box<[u32]> = Box::from(members);
                    let (ours, theirs) = if ours_grouped {
                        found.ours_sets.push(set);
                        (SET | (found.ours_sets.len() - 1) as u32, s)
                    } else {
                        found.theirs_sets.push(set);
                        (s, SET | (found.theirs_sets.len() - 1) as u32)
                    };
                    found.cands.push(Cand {
                        ours,
                        theirs,
                        score,
                        gap,
                    });
                }
            }
        }
    }
}

/// `many_to_many`: our groups against their groups with the same `group_by` values.
fn many_to_many(
    p: &Prepared<'_>,
    codes: &[KeyCodes<'_>],
    ours_open: &[u32],
    theirs_open: &[u32],
    threads: usize,
) -> Found {
    // Codes shared by both sides for the group_by fields: groups pair when they are equal.
    let by: Vec<KeyCodes<'_>> = p
        .pass
        .group_by
        .iter()
        .map(|f| {
            let k = KeyPlan {
                ours: f.clone(),
                theirs: f.clone(),
                normalise: false,
                ours_pattern: None,
                theirs_pattern: None,
                map: None,
                key: p.pass.key.clone(),
            };
            key_codes(&k, p.ours, p.theirs, ours_open, theirs_open, None, threads)
        })
        .collect();
    let max = p.pass.max_group_size;
    let tuple = |ours: bool, r: u32| -> Option<Vec<u32>> {
        by.iter()
            .map(|k| {
                let cs = if ours { k.ours.get(r) } else { k.theirs.get(r) };
                (cs.len() == 1).then(|| cs.get(0))
            })
            .collect()
    };
    let mut found = Found {
        cands: Vec::new(),
        ours_sets: Vec::new(),
        theirs_sets: Vec::new(),
        warnings: Vec::new(),
        cut_short: false,
    };
    let mut theirs_groups: FxHashMap<Vec<u32>, Vec<u32>> = FxHashMap::default();
    for g in groups(
        p.theirs,
        &p.pass.group_by,
        theirs_open,
        p.amounts.as_ref().map(|a| &a.theirs[..]),
    ) {
        if let Some(t) = tuple(false, g[0]) {
            theirs_groups.insert(t, g);
        }
    }
    let mut too_big = 0;
    for g in groups(
        p.ours,
        &p.pass.group_by,
        ours_open,
        p.amounts.as_ref().map(|a| &a.ours[..]),
    ) {
        let Some(t) = tuple(true, g[0]) else { continue };
        let Some(tg) = theirs_groups.get(&t) else {
            continue;
        };
        if g.len() > max || tg.len() > max {
            too_big += 1;
            continue;
        }
        if !p.keys_agree(codes, g[0], tg[0]) {
            continue;
        }
        if let Some((score, gap)) = p.evaluate(&g, tg) {
            found.ours_sets.push(g.into());
            found.theirs_sets.push(tg.as_slice().into());
            found.cands.push(Cand {
                ours: SET | (found.ours_sets.len() - 1) as u32,
                theirs: SET | (found.theirs_sets.len() - 1) as u32,
                score,
                gap,
            });
        }
    }
    if too_big > 0 {
        found.warnings.push(format!(
            "pass {}: {too_big} pairs of groups have more than {max} items on a side and were not considered",
            p.pass.name
        ));
    }
    found
}

/// Compares two lists of rows by their identities, item by item.
fn cmp_identities(t: &Table, a: &[u32], b: &[u32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = t.identity(*x as usize).cmp(t.identity(*y as usize));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Competing candidates in one set searched for the best combination, at most.
const EXACT_MAX: usize = 24;
/// Steps of that search, at most, per set.
const EXACT_BUDGET: usize = 1 << 16;

/// Global assignment within the pass. Candidates that share no item with any other are taken
/// as they are (the common case, and the expensive part to sort). The others are ordered by
/// score, ties by our identities then theirs, and split into sets linked by shared items;
/// in each set the combination with the most matches, then the highest total score, is
/// taken (see [`choose`]): no item twice, and nothing depends on file order.
fn assign(
    p: &Prepared<'_>,
    cands: Vec<Cand>,
    ours_sets: &[Box<[u32]>],
    theirs_sets: &[Box<[u32]>],
    state: &mut State,
    warnings: &mut Vec<String>,
) -> Vec<MatchDecision> {
    let (alone, mut contested) = split_contested(p, cands, ours_sets, theirs_sets);
    sort_contested(p, &mut contested, ours_sets, theirs_sets);

    let (chosen, greedy) = choose(&contested, ours_sets, theirs_sets);
    if greedy > 0 {
        warnings.push(format!(
            "pass {}: {greedy} sets of competing candidates were too large for the best combination (more than {EXACT_MAX} candidates, or {EXACT_BUDGET} steps of search); they were assigned best score first",
            p.pass.name
        ));
    }

    let mut out: Vec<MatchDecision> = Vec::with_capacity(alone.len() + contested.len());
    for c in &alone {
        out.push(take(p, c, ours_sets, theirs_sets, state));
    }
    drop(alone);
    // The chosen candidates, and which match took each of their rows.
    let mut owners = Owners::default();
    for c in contested
        .iter()
        .zip(&chosen)
        .filter(|(_, k)| **k)
        .map(|(c, _)| c)
    {
        let i = out.len();
        out.push(take(p, c, ours_sets, theirs_sets, state));
        owners.own(c, i, ours_sets, theirs_sets);
    }
    // Runners-up by match: only contested matches have any. The others lost to a match that
    // took one of their items.
    let mut runners: FxHashMap<usize, Vec<RunnerUp>> = FxHashMap::default();
    for c in contested
        .iter()
        .zip(&chosen)
        .filter(|(_, k)| !**k)
        .map(|(c, _)| c)
    {
        let (mut b1, mut b2) = ([0u32], [0u32]);
        let o = items(c.ours, ours_sets, &mut b1);
        let t = items(c.theirs, theirs_sets, &mut b2);
        let Some(w) = owners.winner_over(o, t) else {
            continue;
        };
        let lost_because = why_lost(&out[w], c, o, t, state);
        let r = runners.entry(w).or_default();
        if r.len() < RUNNERS_UP {
            r.push(RunnerUp {
                ours: Rows::many(o),
                theirs: Rows::many(t),
                score: Score(c.score),
                lost_because,
            });
        }
    }
    for (i, r) in runners {
        out[i].runners_up = r.into_boxed_slice();
    }
    out
}

/// Splits a pass's candidates into those that share no item with any other (taken as they
/// are) and those that compete for an item, each kept in its order.
fn split_contested(
    p: &Prepared<'_>,
    cands: Vec<Cand>,
    ours_sets: &[Box<[u32]>],
    theirs_sets: &[Box<[u32]>],
) -> (Vec<Cand>, Vec<Cand>) {
    let mut ours_uses: FxHashMap<u32, u32> = FxHashMap::default();
    let mut theirs_uses: FxHashMap<u32, u32> = FxHashMap::default();
    // Counting in flat vectors when the pass has many candidates.
    let flat = cands.len() > 4096;
    let mut ours_count = if flat {
        vec![0u8; p.ours.len()]
    } else {
        Vec::new()
    };
    let mut theirs_count = if flat {
        vec![0u8; p.theirs.len()]
    } else {
        Vec::new()
    };
    let (mut b1, mut b2) = ([0u32], [0u32]);
    for c in &cands {
        for &r in items(c.ours, ours_sets, &mut b1) {
            if flat {
                ours_count[r as usize] = ours_count[r as usize].saturating_add(1);
            } else {
                *ours_uses.entry(r).or_default() += 1;
            }
        }
        for &r in items(c.theirs, theirs_sets, &mut b2) {
            if flat {
                theirs_count[r as usize] = theirs_count[r as usize].saturating_add(1);
            } else {
                *theirs_uses.entry(r).or_default() += 1;
            }
        }
    }
    let oc = |r: u32| {
        if flat {
            u32::from(ours_count[r as usize])
        } else {
            ours_uses[&r]
        }
    };
    let tc = |r: u32| {
        if flat {
            u32::from(theirs_count[r as usize])
        } else {
            theirs_uses[&r]
        }
    };
    // Split in place: the uncontested candidates stay where they are.
    let mut alone = cands;
    let mut contested = Vec::new();
    alone.retain(|c| {
        let (mut b1, mut b2) = ([0u32], [0u32]);
        let single = items(c.ours, ours_sets, &mut b1)
            .iter()
            .all(|&r| oc(r) == 1)
            && items(c.theirs, theirs_sets, &mut b2)
                .iter()
                .all(|&r| tc(r) == 1);
        if !single {
            contested.push(*c);
        }
        single
    });
    (alone, contested)
}

/// Orders competing candidates by score, ties by our identities then theirs, so the choice
/// among them does not depend on file order.
fn sort_contested(
    p: &Prepared<'_>,
    contested: &mut [Cand],
    ours_sets: &[Box<[u32]>],
    theirs_sets: &[Box<[u32]>],
) {
    contested.sort_by(|a, b| {
        let (mut a1, mut a2, mut b1, mut b2) = ([0u32], [0u32], [0u32], [0u32]);
        b.score
            .cmp(&a.score)
            .then_with(|| {
                cmp_identities(
                    p.ours,
                    items(a.ours, ours_sets, &mut a1),
                    items(b.ours, ours_sets, &mut b1),
                )
            })
            .then_with(|| {
                cmp_identities(
                    p.theirs,
                    items(a.theirs, theirs_sets, &mut a2),
                    items(b.theirs, theirs_sets, &mut b2),
                )
            })
    });
}

/// Which match (by its index in the pass's output) took each row of a chosen candidate.
#[derive(Default)]
struct Owners {
    ours: FxHashMap<u32, usize>,
    theirs: FxHashMap<u32, usize>,
}

impl Owners {
    fn own(&mut self, c: &Cand, i: usize, ours_sets: &[Box<[u32]>], theirs_sets: &[Box<[u32]>]) {
        let (mut b1, mut b2) = ([0u32], [0u32]);
        for &r in items(c.ours, ours_sets, &mut b1) {
            self.ours.insert(r, i);
        }
        for &r in items(c.theirs, theirs_sets, &mut b2) {
            self.theirs.insert(r, i);
        }
    }

    /// The match that took one of a losing candidate's items: by our items first.
    fn winner_over(&self, ours: &[u32], theirs: &[u32]) -> Option<usize> {
        ours.iter()
            .find_map(|r| self.ours.get(r))
            .or_else(|| theirs.iter().find_map(|r| self.theirs.get(r)))
            .copied()
    }
}

/// Why a candidate lost to the match that took one of its items. On the same score, the
/// loser's items that the winner did not take competed with an equal item of their side: the
/// state remembers it for their breaks.
fn why_lost(
    winner: &MatchDecision,
    c: &Cand,
    ours: &[u32],
    theirs: &[u32],
    state: &mut State,
) -> LostBecause {
    match winner.score.0.cmp(&c.score) {
        Ordering::Equal => {
            for &r in ours {
                if !winner.ours.contains(&r) {
                    state.ours_tie_lost[r as usize] = true;
                }
            }
            for &r in theirs {
                if !winner.theirs.contains(&r) {
                    state.theirs_tie_lost[r as usize] = true;
                }
            }
            LostBecause::TieBrokenByIdentity
        }
        Ordering::Greater => LostBecause::LowerScore,
        Ordering::Less => LostBecause::BetterCombination,
    }
}

/// Which of the competing candidates (in assignment order) to take: for each set of
/// candidates linked by shared items, the combination of disjoint candidates with the most
/// matches, then the highest total score; among equal combinations the one taking the
/// earlier candidates. A set too large for the search is assigned greedily (in order, a
/// candidate taken when none of its items is); the second value counts those.
fn choose(
    cands: &[Cand],
    ours_sets: &[Box<[u32]>],
    theirs_sets: &[Box<[u32]>],
) -> (Vec<bool>, usize) {
    let n = cands.len();
    let item_lists = |c: &Cand, f: &mut dyn FnMut(u64)| {
        let (mut b1, mut b2) = ([0u32], [0u32]);
        for &r in items(c.ours, ours_sets, &mut b1) {
            f(u64::from(r));
        }
        for &r in items(c.theirs, theirs_sets, &mut b2) {
            f(1 << 32 | u64::from(r));
        }
    };
    // Sets linked by shared items (union-find over candidates).
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first_user: FxHashMap<u64, usize> = FxHashMap::default();
    for (i, c) in cands.iter().enumerate() {
        item_lists(c, &mut |item| {
            let j = *first_user.entry(item).or_insert(i);
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        });
    }
    let mut set_of_root: FxHashMap<usize, usize> = FxHashMap::default();
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        let k = *set_of_root.entry(r).or_insert_with(|| {
            sets.push(Vec::new());
            sets.len() - 1
        });
        sets[k].push(i);
    }
    let mut chosen = vec![false; n];
    let mut greedy = 0;
    for set in &sets {
        if set.len() <= EXACT_MAX {
            // Which candidates of the set share an item, as bit masks.
            let mut users: FxHashMap<u64, u32> = FxHashMap::default();
            for (k, &i) in set.iter().enumerate() {
                item_lists(&cands[i], &mut |item| {
                    *users.entry(item).or_default() |= 1 << k
                });
            }
            let mut conflicts = vec![0u32; set.len()];
            for (k, &i) in set.iter().enumerate() {
                item_lists(&cands[i], &mut |item| conflicts[k] |= users[&item]);
                conflicts[k] &= !(1 << k);
            }
            let scores: Vec<u64> = set.iter().map(|&i| u64::from(cands[i].score)).collect();
            if let Some(mask) = best_combination(&conflicts, &scores) {
                for (k, &i) in set.iter().enumerate() {
                    chosen[i] = mask >> k & 1 == 1;
                }
                continue;
            }
        }
        greedy += 1;
        let mut used: rustc_hash::FxHashSet<u64> = rustc_hash::FxHashSet::default();
        for &i in set {
            let mut free = true;
            item_lists(&cands[i], &mut |item| free &= !used.contains(&item));
            if free {
                item_lists(&cands[i], &mut |item| {
                    used.insert(item);
                });
                chosen[i] = true;
            }
        }
    }
    (chosen, greedy)
}

/// The best set of pairwise compatible candidates (`conflicts[k]`: the candidates `k` shares
/// an item with; at most 32): most candidates, then the highest total score, then the one
/// taking earlier candidates. A depth-first search that tries taking each candidate before
/// leaving it, so its first complete combination is the greedy one, and replaces the best
/// only by a strictly better one. `None` when the search needs more than [`EXACT_BUDGET`]
/// steps.
fn best_combination(conflicts: &[u32], scores: &[u64]) -> Option<u32> {
    struct Search<'a> {
        conflicts: &'a [u32],
        scores: &'a [u64],
        best: Option<(u32, u64, u32)>,
        steps: usize,
    }
    impl Search<'_> {
        fn go(&mut self, k: usize, taken: u32, blocked: u32, count: u32, score: u64) -> bool {
            self.steps += 1;
            if self.steps > EXACT_BUDGET {
                return false;
            }
            let n = self.conflicts.len();
            if k == n {
                if self.best.is_none_or(|(c, s, _)| (count, score) > (c, s)) {
                    self.best = Some((count, score, taken));
                }
                return true;
            }
            if let Some((c, s, _)) = self.best {
                // What the rest could add at most: every candidate still free.
                let free = !blocked & !((1u32 << k) - 1) & (u32::MAX >> (32 - n));
                let more: u64 = (k..n)
                    .filter(|&j| free >> j & 1 == 1)
                    .map(|j| self.scores[j])
                    .sum();
                if (count + free.count_ones(), score + more) <= (c, s) {
                    return true;
                }
            }
            if blocked >> k & 1 == 0
                && !self.go(
                    k + 1,
                    taken | 1 << k,
                    blocked | self.conflicts[k],
                    count + 1,
                    score + self.scores[k],
                )
            {
                return false;
            }
            self.go(k + 1, taken, blocked, count, score)
        }
    }
    debug_assert!(conflicts.len() <= 32);
    let mut s = Search {
        conflicts,
        scores,
        best: None,
        steps: 0,
    };
    if !s.go(0, 0, 0, 0, 0) {
        return None;
    }
    s.best.map(|(_, _, taken)| taken)
}

fn take(
    p: &Prepared<'_>,
    c: &Cand,
    ours_sets: &[Box<[u32]>],
    theirs_sets: &[Box<[u32]>],
    state: &mut State,
) -> MatchDecision {
    let (mut b1, mut b2) = ([0u32], [0u32]);
    let o = items(c.ours, ours_sets, &mut b1);
    let t = items(c.theirs, theirs_sets, &mut b2);
    for &r in o {
        state.ours_taken[r as usize] = true;
    }
    for &r in t {
        state.theirs_taken[r as usize] = true;
    }
    MatchDecision {
        pass: Arc::clone(&p.pass.name),
        rule: p.rule,
        score: Score(c.score),
        ours: Rows::many(o),
        theirs: Rows::many(t),
        amount_difference: p.difference(o, t),
        date_gap_days: p.pass.date.as_ref().map(|_| c.gap),
        runners_up: Box::new([]),
        explanation: None,
    }
}

/// Why each item left over has no match: the same record twice, a counterpart that agreed
/// on everything but the amount or the date (the first pass, in order, that finds one), or
/// nothing close.
fn reasons(
    prepared: &[Prepared<'_>],
    state: &State,
    threads: usize,
) -> (Vec<Unmatched>, Vec<Unmatched>) {
    let Some(first) = prepared.first() else {
        return (Vec::new(), Vec::new());
    };
    let (ours, theirs) = (first.ours, first.theirs);
    let mut ours_open = open_rows(&state.ours_taken);
    let theirs_open = open_rows(&state.theirs_taken);
    // Items left over are few; taking them by identity makes "the first to claim a
    // counterpart" independent of file order.
    let by_identity = ours_open.clone();
    ours_open.sort_unstable_by(|&a, &b| ours.identity(a as usize).cmp(ours.identity(b as usize)));
    let mut ours_near: FxHashMap<u32, (UnmatchedReason, NearMiss)> = FxHashMap::default();
    let mut theirs_near: FxHashMap<u32, (UnmatchedReason, NearMiss)> = FxHashMap::default();
    for p in prepared {
        if p.pass.grouping != Grouping::OneToOne
            || p.amounts.is_none()
            || ours_open.is_empty()
            || theirs_open.is_empty()
        {
            continue;
        }
        let a = p.amounts.as_ref().expect("checked");
        let codes = p.codes(&ours_open, &theirs_open, threads);
        let Some(lead) = codes.get(p.lead_key) else {
            continue;
        };
        let index = Index::build(&theirs_open, &lead.theirs, lead.space, Some(&a.theirs));
        let search = NearSearch {
            p,
            a,
            codes: &codes,
            lead,
            index: &index,
            theirs,
        };
        for &o in &ours_open {
            if ours_near.contains_key(&o) || a.ours[o as usize] == MISSING_AMOUNT {
                continue;
            }
            if let Some((reason, t, _, _)) = search.nearest(o) {
                let near = |row: u32| NearMiss {
                    pass: Arc::clone(&p.pass.name),
                    rule: p.rule,
                    row,
                    amount_difference: p.difference(&[o], &[t]),
                    allowed_difference: p.allowed_decimal(&[o]),
                    date_gap_days: p.gap(&[o], &[t]).and_then(Result::ok),
                    window_business_days: p.window,
                };
                ours_near.insert(o, (reason, near(t)));
                theirs_near.entry(t).or_insert((reason, near(o)));
            }
        }
    }
    (
        unmatched_side(ours, &by_identity, &state.ours_tie_lost, &mut ours_near),
        unmatched_side(
            theirs,
            &theirs_open,
            &state.theirs_tie_lost,
            &mut theirs_near,
        ),
    )
}

/// The nearest counterpart found so far for one of our items: why it is not a match, their
/// row, the amount difference and the date gap (each only for its reason).
type Nearest = (UnmatchedReason, u32, i128, i32);

/// One one-to-one pass looking for near misses among the items left over: their items
/// indexed by the pass's lead key and amount.
struct NearSearch<'s, 't> {
    p: &'s Prepared<'t>,
    a: &'s Amounts<'t>,
    codes: &'s [KeyCodes<'t>],
    lead: &'s KeyCodes<'t>,
    index: &'s Index,
    theirs: &'s Table,
}

impl NearSearch<'_, '_> {
    fn tid(&self, t: u32) -> &str {
        self.theirs.identity(t as usize)
    }

    /// Our item `o`'s nearest counterpart in the pass, over every code of its lead key. An
    /// amount difference on a text key is worth more than a date outside the window.
    fn nearest(&self, o: u32) -> Option<Nearest> {
        let lc = self.lead.ours.get(o);
        let mut best: Option<Nearest> = None;
        for i in 0..lc.len() {
            let code = lc.get(i);
            if self.p.window.is_some() && self.a.fx.is_none() {
                self.date_outside_window(o, code, &mut best);
            }
            if self.p.discriminating {
                self.amount_difference(o, code, &mut best);
            }
        }
        best
    }

    /// Date outside the window: amounts agree, keys too, dates do not. The smallest gap wins.
    fn date_outside_window(&self, o: u32, code: u32, best: &mut Option<Nearest>) {
        let (p, a) = (self.p, self.a);
        let (lo, hi) = a.theirs_range(i128::from(a.ours[o as usize]), p.ours_ccy(o));
        for &t in self.index.rows[self.index.range(code, lo, hi)]
            .iter()
            .take(MAX_CANDIDATES_PER_ITEM)
        {
            if !p.keys_agree(self.codes, o, t) {
                continue;
            }
            if let Some(Ok(g)) = p.gap(&[o], &[t]) {
                let cand = (UnmatchedReason::DateOutsideWindow, t, 0, g);
                if best.is_none_or(|b| {
                    b.0 == UnmatchedReason::DateOutsideWindow
                        && (g, self.tid(t)) < (b.3, self.tid(b.1))
                }) {
                    *best = Some(cand);
                }
            }
        }
    }

    /// Amount difference: a text key agrees, the date too, not the amount. The smallest
    /// difference wins.
    fn amount_difference(&self, o: u32, code: u32, best: &mut Option<Nearest>) {
        let p = self.p;
        for &t in self.index.rows[self.index.bucket(code)]
            .iter()
            .take(MAX_CANDIDATES_PER_ITEM)
        {
            if !p.keys_agree(self.codes, o, t) {
                continue;
            }
            let in_window = match (p.gap(&[o], &[t]), p.window) {
                (Some(Err(())), _) => false,
                (Some(Ok(g)), Some(w)) => g <= w,
                _ => true,
            };
            if !in_window {
                continue;
            }
            if let Some((false, diff, _)) = p.amount_check(&[o], &[t]) {
                let better = match *best {
                    None => true,
                    Some((UnmatchedReason::AmountDifference, bt, d, _)) => {
                        (diff.abs(), self.tid(t)) < (d, self.tid(bt))
                    }
                    Some(_) => true,
                };
                if better {
                    *best = Some((UnmatchedReason::AmountDifference, t, diff.abs(), 0));
                }
            }
        }
    }
}

/// The reason of each item left over on one side: the same record twice (in the file, or a
/// tie lost to an equal item), a near miss found by a pass, or no counterpart at all.
fn unmatched_side(
    t: &Table,
    open: &[u32],
    tie: &[bool],
    near: &mut FxHashMap<u32, (UnmatchedReason, NearMiss)>,
) -> Vec<Unmatched> {
    let dups: FxHashMap<u32, u32> = t.duplicates().iter().copied().collect();
    open.iter()
        .map(|&r| {
            if let Some(&n) = dups.get(&r) {
                return Unmatched {
                    row: r,
                    reason: UnmatchedReason::Duplicate,
                    nearest: None,
                    duplicates: n,
                };
            }
            if tie[r as usize] {
                return Unmatched {
                    row: r,
                    reason: UnmatchedReason::Duplicate,
                    nearest: None,
                    duplicates: 0,
                };
            }
            match near.remove(&r) {
                Some((reason, n)) => Unmatched {
                    row: r,
                    reason,
                    nearest: Some(n),
                    duplicates: 0,
                },
                None => Unmatched {
                    row: r,
                    reason: UnmatchedReason::MissingCounterpart,
                    nearest: None,
                    duplicates: 0,
                },
            }
        })
        .collect::<Vec<_>>()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn subsets_enumerate_by_size_then_lexicographically() {
        let mut seen = Vec::new();
        assert!(subsets(4, 3, 100, &mut |p| seen.push(p.to_vec())));
        assert_eq!(seen.len(), 6 + 4);
        assert_eq!(seen[0], vec![0, 1]);
        assert_eq!(seen[5], vec![2, 3]);
        assert_eq!(seen[6], vec![0, 1, 2]);
        assert_eq!(seen[9], vec![1, 2, 3]);
        let mut n = 0;
        assert!(!subsets(10, 5, 7, &mut |_| n += 1));
        assert_eq!(n, 7);
    }

    #[test]
    fn score_terms() {
        assert_eq!(score(0, 0, Some(0), Some(2)), 1_000_000);
        assert_eq!(score(1, 2, None, None), 750_000);
        assert_eq!(score(0, 0, Some(3), Some(2)), 500_000);
        assert_eq!(score(0, 0, Some(1), None), 750_000);
    }
}
