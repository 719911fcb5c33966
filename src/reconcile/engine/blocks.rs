//! Blocks: the values by which the items of a run can have anything to do with each other.
//!
//! Every way a pass relates two items goes through a value they share: a candidate agrees on
//! the pass's lead key (the engine finds candidates in a bucket of it); a near miss is found
//! in that same bucket; the members of a group share their `group_by` values (without
//! `group_by`, their keys' values, so the lead key's). An item's
//! *blocks* are hashes of such values, made so that any two items a run could relate share
//! one. Hence a set of items that contains, with each item, everything sharing a block with
//! it (a union of connected components of "shares a block") is matched, explained and given
//! reasons exactly as it would be among all the other open items: the engine decides
//! nothing by position or by what it has not looked at. That is what lets a new file be
//! matched against the items found by its keys instead of against the whole book.
//!
//! Blocks per pass, coarsest first:
//! - **lead**: the lead key's compared values (after pattern, map, normalise). Always right;
//!   fine when the lead key is text (a reference, a name), one bucket per currency when it
//!   is only the currency.
//! - **amount**: the lead key's values with the amount, when the pass has no text key and
//!   compares amounts exactly (no tolerance, no fx): then a candidate or a near miss has the
//!   same amount (negated with `opposite_sign`).
//! - **tuple**: `many_to_many` groups pair only with equal `group_by` values.
//! - **group total**: `many_to_one` / `one_to_many` without subsets, exact amounts, no text
//!   key: a group's members share a group block, and the group is filed under its total,
//!   where a single item of the other side with that amount finds it. The total changes as
//!   members come and go, so it is filed by whoever keeps the items ([`crate::reconcile`]'s
//!   backlog), with [`Blocking::group_total_blocks`].
//!
//! Every item also has an identity block: rows with the same identity are duplicates of each
//! other, which their reasons say.
//!
//! What blocks cannot capture is a plan where a grouped pass runs before another pass: the
//! groups a run forms then depend on what the later passes took in the run before, so what
//! is left open after a run could pair when run again; such rules are always run over all
//! open items ([`Blocking::full_runs_only`]).

use std::hash::Hasher;

use rust_decimal::Decimal;
use rustc_hash::FxHasher;

use super::context::Context;
use super::keys::{Scratch, Transform};
use super::spec::{Grouping, KeyPlan, PassPlan, Plan};
use super::table::{Column, FieldKind, MISSING_CCY, MISSING_DAY, Schema, Table};

/// Tolerances finer than this many decimals (and amounts of records beyond what the caller
/// checks) could make the engine refuse a whole run for one outsized value; such rules are
/// run over everything, where that refusal is the same as it always was.
pub const MAX_EXACT_SCALE: u32 = 6;

/// How the items of a plan's runs are blocked.
#[derive(Debug, Clone)]
pub struct Blocking {
    passes: Vec<PassBlocks>,
    full_only: Option<String>,
    /// The pass whose groups are filed by their totals, if any: (its index in `passes`).
    group_total: Option<usize>,
}

#[derive(Debug, Clone)]
enum PassBlocks {
    Lead {
        sig: u64,
        key: KeyPlan,
    },
    Amount {
        sig: u64,
        key: Option<KeyPlan>,
        ours: String,
        theirs: String,
        negate: bool,
    },
    Tuple {
        sig: u64,
        fields: Vec<String>,
    },
    GroupTotal {
        rule: u32,
        group_sig: u64,
        total_sig: u64,
        key: Option<KeyPlan>,
        group_by: Vec<String>,
        ours_grouped: bool,
        ours: String,
        theirs: String,
        negate: bool,
    },
}

/// The pass whose groups are filed by their totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTotals {
    /// The pass's index in the rules.
    pub rule: u32,
    /// Our items are grouped (`many_to_one`), else theirs (`one_to_many`).
    pub ours_grouped: bool,
}

const IDENTITY: u8 = 1;
const LEAD: u8 = 2;
const AMOUNT: u8 = 3;
const TUPLE: u8 = 4;
const GROUP: u8 = 5;

/// A hash of values, the same for the same values in any table and on either side.
struct Hash64(FxHasher);

impl Hash64 {
    fn new(tag: u8) -> Hash64 {
        let mut h = FxHasher::default();
        h.write_u8(tag);
        Hash64(h)
    }

    fn u64(mut self, v: u64) -> Hash64 {
        self.0.write_u64(v);
        self
    }

    fn text(mut self, s: &str) -> Hash64 {
        self.0.write(s.as_bytes());
        // Ends the text: ("ab", "c") and ("a", "bc") differ.
        self.0.write_u8(0xff);
        self
    }

    fn value(self, v: &Val<'_>) -> Hash64 {
        match v {
            Val::Text(s) => self.u64(1).text(s),
            // A currency compares with text as its code.
            Val::Currency(c) => self.u64(1).text(std::str::from_utf8(c).unwrap_or("")),
            Val::Day(d) => self.u64(2).u64(*d as u64),
            Val::Decimal(d) => self.decimal(*d),
        }
    }

    fn decimal(self, d: Decimal) -> Hash64 {
        // 1.5 and 1.50 are the same amount.
        let n = d.normalize();
        if n.is_zero() {
            return self.u64(3).u64(0).u64(0);
        }
        let m = n.mantissa();
        self.u64(3)
            .u64(m as u64)
            .u64((m >> 64) as u64 ^ u64::from(n.scale()))
    }

    fn finish(self) -> u64 {
        // Fx leaves the low bits weak; the blocks are hash-table keys.
        let mut x = self.0.finish();
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }
}

/// A field's value in one row, as keys compare it: text (a currency as its code), a day, a
/// decimal.
enum Val<'t> {
    Text(&'t str),
    Currency([u8; 3]),
    Day(i32),
    Decimal(Decimal),
}

fn value<'t>(t: &'t Table, field: &str, row: usize) -> Option<Val<'t>> {
    match t.col(field)? {
        Column::Text(c) => c.get(row).map(Val::Text),
        Column::Currency(c) => {
            let code = c.codes[row];
            if code == MISSING_CCY {
                return None;
            }
            Some(Val::Currency([
                b'A' + (code / 676) as u8,
                b'A' + (code / 26 % 26) as u8,
                b'A' + (code % 26) as u8,
            ]))
        }
        Column::Date(d) => match d.days[row] {
            MISSING_DAY => None,
            day => Some(Val::Day(day)),
        },
        Column::Decimal(_) => t.decimal(field, row).map(Val::Decimal),
    }
}

/// A key's signature: passes that compare the same fields the same way share blocks.
fn key_sig(h: Hash64, k: Option<&KeyPlan>) -> Hash64 {
    match k {
        None => h.u64(0),
        Some(k) => h
            .u64(1)
            .text(&k.ours)
            .text(&k.theirs)
            .u64(u64::from(k.normalise))
            .text(k.ours_pattern.as_ref().map_or("", |r| r.as_str()))
            .u64(u64::from(k.ours_pattern.is_some()))
            .text(k.theirs_pattern.as_ref().map_or("", |r| r.as_str()))
            .u64(u64::from(k.theirs_pattern.is_some()))
            .text(k.map.as_deref().unwrap_or(""))
            .u64(u64::from(k.map.is_some())),
    }
}

fn amount_sig(k: Option<&KeyPlan>, ours: &str, theirs: &str, negate: bool) -> u64 {
    key_sig(Hash64::new(AMOUNT), k)
        .text(ours)
        .text(theirs)
        .u64(u64::from(negate))
        .finish()
}

/// The lead key as the engine picks it: the first key with text on either side, else the
/// first key.
fn lead_key(p: &PassPlan, ours: &Schema, theirs: &Schema) -> (Option<KeyPlan>, bool) {
    let is_text = |s: &Schema, f: &str| s.kind(f) == Some(FieldKind::Text);
    match p
        .keys
        .iter()
        .position(|k| is_text(ours, &k.ours) || is_text(theirs, &k.theirs))
    {
        Some(i) => (Some(p.keys[i].clone()), true),
        None => (p.keys.first().cloned(), false),
    }
}

fn exact_amounts(p: &PassPlan) -> Option<(String, String, bool)> {
    let a = p.amount.as_ref()?;
    let exact = p.fx.is_none()
        && a.tolerance.is_zero()
        && a.relative.is_zero()
        && a.per_currency.iter().all(|(_, t)| t.is_zero());
    exact.then(|| (a.ours.clone(), a.theirs.clone(), a.opposite_sign))
}

impl Blocking {
    /// The blocks of runs of `plan` over tables with these fields.
    pub fn new(plan: &Plan, ours: &Schema, theirs: &Schema) -> Blocking {
        let mut full_only = None;
        let grouped: Vec<usize> = plan
            .passes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.grouping != Grouping::OneToOne)
            .map(|(i, _)| i)
            .collect();
        if grouped.len() > 1 || grouped.first().is_some_and(|&i| i + 1 != plan.passes.len()) {
            full_only = Some(
                "a grouped pass runs before another pass: its groups depend on what the later \
                 passes took, so every run goes over all open items"
                    .to_owned(),
            );
        }
        if plan.passes.iter().any(|p| p.within_statement) {
            full_only = Some(
                "a pass pairs statement lines with each other: a return may pair with a line \
                 of any earlier file, so every run goes over all open items"
                    .to_owned(),
            );
        }
        if plan.passes.iter().any(|p| p.partial_window.is_some()) {
            full_only = Some(
                "a pass looks for part payments: an item paid in part falls due when its \
                 window ends, whatever changed, so every run goes over all open items"
                    .to_owned(),
            );
        }
        let finest = plan
            .passes
            .iter()
            .filter_map(|p| p.amount.as_ref())
            .flat_map(|a| {
                std::iter::once(a.tolerance.scale())
                    .chain(a.per_currency.iter().map(|(_, t)| t.scale()))
            })
            .max()
            .unwrap_or(0);
        if finest > MAX_EXACT_SCALE {
            full_only = Some(format!(
                "a tolerance has more than {MAX_EXACT_SCALE} decimals: every run goes over all open items"
            ));
        }
        let mut group_total = None;
        let passes = plan
            .passes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (lead, text) = lead_key(p, ours, theirs);
                let lead_blocks = |key: KeyPlan| PassBlocks::Lead {
                    sig: key_sig(Hash64::new(LEAD), Some(&key)).finish(),
                    key,
                };
                match p.grouping {
                    Grouping::ManyToMany => PassBlocks::Tuple {
                        sig: p
                            .group_by
                            .iter()
                            .fold(Hash64::new(TUPLE), |h, f| h.text(f))
                            .finish(),
                        fields: p.group_by.clone(),
                    },
                    Grouping::OneToOne => match (lead, text, exact_amounts(p)) {
                        (Some(key), true, _) | (Some(key), false, None) => lead_blocks(key),
                        (key, false, Some((ours, theirs, negate))) => PassBlocks::Amount {
                            sig: amount_sig(key.as_ref(), &ours, &theirs, negate),
                            key,
                            ours,
                            theirs,
                            negate,
                        },
                        // No key and no exact amount: one bucket for everything.
                        (None, _, _) => PassBlocks::Tuple {
                            sig: Hash64::new(TUPLE).u64(i as u64).finish(),
                            fields: Vec::new(),
                        },
                    },
                    Grouping::ManyToOne | Grouping::OneToMany => {
                        match (lead, text, exact_amounts(p)) {
                            (Some(key), true, _) => lead_blocks(key),
                            (key, false, Some((ours, theirs, negate))) if !p.subsets => {
                                group_total = Some(i);
                                let ours_grouped = p.grouping == Grouping::ManyToOne;
                                // Without group_by a group shares its keys' values; with no
                                // text key these are the fields' values as they are.
                                let group_by: Vec<String> = if p.group_by.is_empty() {
                                    p.keys
                                        .iter()
                                        .map(|k| if ours_grouped { &k.ours } else { &k.theirs })
                                        .cloned()
                                        .collect()
                                } else {
                                    p.group_by.clone()
                                };
                                PassBlocks::GroupTotal {
                                    rule: i as u32,
                                    group_sig: group_by
                                        .iter()
                                        .fold(Hash64::new(GROUP).u64(i as u64), |h, f| h.text(f))
                                        .finish(),
                                    total_sig: amount_sig(key.as_ref(), &ours, &theirs, negate),
                                    key,
                                    group_by,
                                    ours_grouped,
                                    ours,
                                    theirs,
                                    negate,
                                }
                            }
                            (Some(key), false, _) => lead_blocks(key),
                            (None, _, _) => PassBlocks::Tuple {
                                sig: Hash64::new(TUPLE).u64(i as u64).finish(),
                                fields: Vec::new(),
                            },
                        }
                    }
                }
            })
            .collect();
        Blocking {
            passes,
            full_only,
            group_total,
        }
    }

    /// Why every run of these rules must go over all open items; `None` when a run may go
    /// over the items a change touches.
    pub fn full_runs_only(&self) -> Option<&str> {
        self.full_only.as_deref()
    }

    /// The pass whose groups are filed by their totals.
    pub fn group_totals(&self) -> Option<GroupTotals> {
        match self.passes.get(self.group_total?)? {
            PassBlocks::GroupTotal {
                rule, ours_grouped, ..
            } => Some(GroupTotals {
                rule: *rule,
                ours_grouped: *ours_grouped,
            }),
            _ => None,
        }
    }

    /// Calls `out` with each compared value of `key` in a row of our table (`ours`) or
    /// theirs, hashed; with one constant value when the pass has no key.
    fn key_values(
        key: Option<&KeyPlan>,
        ours: bool,
        t: &Table,
        row: usize,
        ctx: &Context<'_>,
        scratch: &mut Scratch,
        out: &mut dyn FnMut(Hash64),
    ) {
        let Some(k) = key else {
            out(Hash64::new(0));
            return;
        };
        let field = if ours { &k.ours } else { &k.theirs };
        let Some(v) = value(t, field, row) else {
            return;
        };
        let buf;
        let text = match &v {
            Val::Text(s) => Some(*s),
            Val::Currency(c) => {
                buf = *c;
                std::str::from_utf8(&buf).ok()
            }
            _ => None,
        };
        match text {
            Some(s) => {
                let x = if ours {
                    let map = k
                        .map
                        .as_ref()
                        .and_then(|m| ctx.maps.get(m.as_str()).copied());
                    Transform::ours(k, map)
                } else {
                    Transform::theirs(k)
                };
                if x.is_identity() {
                    out(Hash64::new(0).value(&Val::Text(s)));
                } else {
                    x.apply(
                        s,
                        scratch,
                        &mut |v| out(Hash64::new(0).value(&Val::Text(v))),
                    );
                }
            }
            None => out(Hash64::new(0).value(&v)),
        }
    }

    /// The amount a row is compared by: ours as it is, theirs negated with `opposite_sign`.
    fn comparable(
        ours: bool,
        t: &Table,
        row: usize,
        fields: (&str, &str),
        negate: bool,
    ) -> Option<Decimal> {
        let field = if ours { fields.0 } else { fields.1 };
        let a = t.decimal(field, row)?;
        Some(if !ours && negate { -a } else { a })
    }

    /// The blocks of a row of our table (`ours`) or theirs, into `out` (cleared first): its
    /// identity, and what each pass finds it by. A group's total blocks are not among them
    /// (see [`Blocking::group_total_blocks`]).
    pub fn blocks(&self, ours: bool, t: &Table, row: usize, ctx: &Context<'_>, out: &mut Vec<u64>) {
        out.clear();
        out.push(
            Hash64::new(IDENTITY)
                .u64(u64::from(ours))
                .text(t.identity(row))
                .finish(),
        );
        let mut scratch = Scratch::default();
        for p in &self.passes {
            match p {
                PassBlocks::Lead { sig, key } => {
                    Self::key_values(Some(key), ours, t, row, ctx, &mut scratch, &mut |h| {
                        out.push(h.u64(*sig).finish())
                    });
                }
                PassBlocks::Amount {
                    sig,
                    key,
                    ours: of,
                    theirs: tf,
                    negate,
                } => {
                    let Some(a) = Self::comparable(ours, t, row, (of, tf), *negate) else {
                        continue;
                    };
                    Self::key_values(key.as_ref(), ours, t, row, ctx, &mut scratch, &mut |h| {
                        out.push(h.u64(*sig).decimal(a).finish())
                    });
                }
                PassBlocks::Tuple { sig, fields } => {
                    let mut h = Hash64::new(TUPLE).u64(*sig);
                    let mut complete = true;
                    for f in fields {
                        match value(t, f, row) {
                            Some(v) => h = h.value(&v),
                            None => complete = false,
                        }
                    }
                    if complete {
                        out.push(h.finish());
                    }
                }
                PassBlocks::GroupTotal {
                    ours_grouped,
                    total_sig,
                    key,
                    ours: of,
                    theirs: tf,
                    negate,
                    ..
                } => {
                    if ours == *ours_grouped {
                        if let Some(g) = self.group_of(ours, t, row) {
                            out.push(g);
                        }
                    } else if let Some(a) = Self::comparable(ours, t, row, (of, tf), *negate) {
                        Self::key_values(key.as_ref(), ours, t, row, ctx, &mut scratch, &mut |h| {
                            out.push(h.u64(*total_sig).decimal(a).finish())
                        });
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The group block of a row of the grouped side of the group-total pass: the group it
    /// belongs to (all its `group_by` values and its amount present), if any.
    pub fn group_of(&self, ours: bool, t: &Table, row: usize) -> Option<u64> {
        let PassBlocks::GroupTotal {
            group_sig,
            group_by,
            ours_grouped,
            ours: of,
            theirs: tf,
            ..
        } = self.passes.get(self.group_total?)?
        else {
            return None;
        };
        if ours != *ours_grouped {
            return None;
        }
        t.decimal(if ours { of } else { tf }, row)?;
        let mut h = Hash64::new(GROUP).u64(*group_sig);
        for f in group_by {
            h = h.value(&value(t, f, row)?);
        }
        Some(h.finish())
    }

    /// The blocks a group is filed under: its total with the lead key's values, which the
    /// group's members share (`rows` of `t`, the grouped side). Groups of fewer than two
    /// items are never candidates and are filed under nothing.
    pub fn group_total_blocks(
        &self,
        t: &Table,
        rows: &[usize],
        ctx: &Context<'_>,
        out: &mut Vec<u64>,
    ) {
        out.clear();
        let Some(PassBlocks::GroupTotal {
            total_sig,
            key,
            ours_grouped,
            ours: of,
            theirs: tf,
            negate,
            ..
        }) = self.group_total.and_then(|i| self.passes.get(i))
        else {
            return;
        };
        if rows.len() < 2 {
            return;
        }
        let mut total = Decimal::ZERO;
        for &r in rows {
            match Self::comparable(*ours_grouped, t, r, (of, tf), *negate)
                .and_then(|a| total.checked_add(a))
            {
                Some(s) => total = s,
                None => return,
            }
        }
        let mut scratch = Scratch::default();
        Self::key_values(
            key.as_ref(),
            *ours_grouped,
            t,
            rows[0],
            ctx,
            &mut scratch,
            &mut |h| out.push(h.u64(*total_sig).decimal(total).finish()),
        );
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::engine::{MatchSpec, legacy_spec};
    use crate::schedule::Calendar;

    fn table(rows: &[(&str, &str, &str, &str, &str)]) -> Table {
        // (identity, reference, remittance, amount, counterparty)
        let mut b = super::super::TableBuilder::new();
        for (id, reference, remittance, amount, cp) in rows {
            b.add_text("reference", reference)
                .add_text("remittance", remittance)
                .add_decimal("amount", amount.parse().unwrap())
                .add_currency("currency", "EUR".parse().unwrap())
                .add_date("value_date", "2026-03-02".parse().unwrap())
                .add_text("counterparty", cp);
            b.push_row(id);
        }
        b.finish().unwrap()
    }

    #[test]
    fn candidates_of_the_shipped_passes_share_a_block() {
        let spec: MatchSpec = legacy_spec(r"INV-\d{3}", 2);
        let schema = Schema::of_records();
        let plan = spec.check(&schema, &schema).unwrap();
        let blocking = Blocking::new(&plan, &schema, &schema);
        assert!(blocking.full_runs_only().is_none());
        let cal = Calendar::weekends_only();
        let ctx = Context::new(&cal);
        let ours = table(&[
            ("L|1", "INV-001", "", "10.00", "ACME"),
            ("L|2", "INV-002", "", "20.5", "ACME"),
            ("L|3", "INV-003", "", "99.00", "OTHER"),
        ]);
        let theirs = table(&[
            ("S|1", "", "PAYMENT INV-001", "1.00", ""),
            ("S|2", "", "NO REF", "20.50", ""),
            ("S|3", "", "PAYRUN", "30.5", ""),
        ]);
        let blocks = |ours_side: bool, t: &Table, r: usize| {
            let mut v = Vec::new();
            blocking.blocks(ours_side, t, r, &ctx, &mut v);
            v
        };
        let share = |a: &[u64], b: &[u64]| a.iter().any(|x| b.contains(x));
        // By reference, whatever the amounts.
        assert!(share(&blocks(true, &ours, 0), &blocks(false, &theirs, 0)));
        // By amount (20.5 is 20.50).
        assert!(share(&blocks(true, &ours, 1), &blocks(false, &theirs, 1)));
        // Nothing in common.
        assert!(!share(&blocks(true, &ours, 2), &blocks(false, &theirs, 0)));
        // The two ACME items are one group, filed under their total, where 30.5 finds it.
        assert_eq!(
            blocking.group_of(true, &ours, 0),
            blocking.group_of(true, &ours, 1)
        );
        assert_ne!(
            blocking.group_of(true, &ours, 0),
            blocking.group_of(true, &ours, 2)
        );
        let mut totals = Vec::new();
        blocking.group_total_blocks(&ours, &[0, 1], &ctx, &mut totals);
        assert!(share(&totals, &blocks(false, &theirs, 2)));
        assert_eq!(
            blocking.group_totals(),
            Some(GroupTotals {
                rule: 2,
                ours_grouped: true
            })
        );
    }

    #[test]
    fn groups_by_their_keys_share_the_blocks_of_those_keys() {
        let schema = Schema::of_records();
        let cal = Calendar::weekends_only();
        let ctx = Context::new(&cal);
        let share = |a: &[u64], b: &[u64]| a.iter().any(|x| b.contains(x));
        // Instalments grouped by the invoice their remittance quotes: the item and each part
        // share the invoice's block, another invoice's part does not.
        let spec: MatchSpec = toml::from_str(
            r#"
[[passes]]
name = "instalments"
grouping = "one_to_many"
keys = [{ ours = "reference", theirs = "remittance", ours_pattern = 'INV-(\d{3})', theirs_pattern = 'INV-(\d{3})/\d' }]
amount = { ours = "amount", theirs = "amount" }
"#,
        )
        .unwrap();
        let plan = spec.check(&schema, &schema).unwrap();
        let blocking = Blocking::new(&plan, &schema, &schema);
        let ours = table(&[("L|1", "INV-001", "", "10.00", "")]);
        let theirs = table(&[
            ("S|1", "", "INV-001/1", "4.00", ""),
            ("S|2", "", "INV-001/2", "6.00", ""),
            ("S|3", "", "INV-002/1", "6.00", ""),
        ]);
        let blocks = |ours_side: bool, t: &Table, r: usize| {
            let mut v = Vec::new();
            blocking.blocks(ours_side, t, r, &ctx, &mut v);
            v
        };
        assert!(share(&blocks(true, &ours, 0), &blocks(false, &theirs, 0)));
        assert!(share(&blocks(true, &ours, 0), &blocks(false, &theirs, 1)));
        assert!(!share(&blocks(true, &ours, 0), &blocks(false, &theirs, 2)));

        // Whole groups by keys that are no text, exact amounts: the group is the items with
        // the keys' values, filed under its total.
        let spec: MatchSpec = toml::from_str(
            r#"
[[passes]]
name = "daily"
grouping = "many_to_one"
keys = [{ ours = "value_date", theirs = "value_date" }]
amount = { ours = "amount", theirs = "amount" }
subsets = false
"#,
        )
        .unwrap();
        let plan = spec.check(&schema, &schema).unwrap();
        let blocking = Blocking::new(&plan, &schema, &schema);
        let ours = table(&[("L|1", "", "", "1.00", "A"), ("L|2", "", "", "2.00", "B")]);
        assert!(blocking.group_of(true, &ours, 0).is_some());
        assert_eq!(
            blocking.group_of(true, &ours, 0),
            blocking.group_of(true, &ours, 1)
        );
        let theirs = table(&[("S|1", "", "", "3.00", "")]);
        let mut totals = Vec::new();
        blocking.group_total_blocks(&ours, &[0, 1], &ctx, &mut totals);
        let mut line = Vec::new();
        blocking.blocks(false, &theirs, 0, &ctx, &mut line);
        assert!(share(&totals, &line));
    }

    #[test]
    fn a_grouped_pass_before_another_means_full_runs() {
        let mut spec: MatchSpec = legacy_spec(r"INV-\d{3}", 2);
        spec.passes.rotate_right(1);
        let schema = Schema::of_records();
        let plan = spec.check(&schema, &schema).unwrap();
        assert!(
            Blocking::new(&plan, &schema, &schema)
                .full_runs_only()
                .is_some()
        );
    }
}
