//! Cash reconciliation: bank statement lines against open ledger items, in three passes.
//!
//! 1. **reference**: a reference found in the statement line's remittance text (by the job's
//!    pattern) equals a ledger item's reference, same currency and amount;
//! 2. **amount_date**: same currency and amount, value dates within the business-day window;
//! 3. **batch**: one statement line pays every open ledger item of one counterparty, value date
//!    and currency (their sum), value dates within the window.
//!
//! Each pass collects every candidate pair, orders them best first (smallest gap in value
//! dates, then file order of the ledger side, then of the statement side) and takes a pair only
//! when neither side is taken yet. So no record is ever used twice, and the outcome is the same
//! however often it is computed.

use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::model::{Currency, Match, MatchPass, Record, StoredRecord};
use crate::schedule::Calendar;

/// The rules of a cash reconciliation, from the job file.
#[derive(Clone, Debug)]
pub struct CashRules {
    /// Finds our references (invoice numbers) in remittance text, e.g. `INV-\d{9}`. The whole
    /// match is the reference, unless the pattern has a capture group, which then is.
    pub reference_pattern: Regex,
    /// How many business days apart the value dates of a pair may be in passes 2 and 3.
    pub window_days: i64,
    /// Which days count as business days for the window.
    pub calendar: Calendar,
}

/// What the matcher decided. Indexes point into the slices it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub matches: Vec<Match>,
    pub unmatched_ledger: Vec<usize>,
    pub unmatched_statement: Vec<usize>,
}

impl AsRef<Record> for StoredRecord {
    fn as_ref(&self) -> &Record {
        &self.record
    }
}

impl AsRef<Record> for Record {
    fn as_ref(&self) -> &Record {
        self
    }
}

const NONE: u32 = u32::MAX;

/// A candidate pair: (gap in calendar days, ledger index, statement index). Sorting these
/// tuples puts the best candidates first with deterministic tie-breaks.
type Candidate = (u32, u32, u32);

/// Runs the three passes over `ledger` and `statement` (any slices of records).
pub fn reconcile_cash<L: AsRef<Record>, S: AsRef<Record>>(
    ledger: &[L],
    statement: &[S],
    rules: &CashRules,
) -> Outcome {
    assert!(
        ledger.len() < NONE as usize && statement.len() < NONE as usize,
        "more than 4 billion records in one reconciliation"
    );
    let led: Vec<&Record> = ledger.iter().map(AsRef::as_ref).collect();
    let st: Vec<&Record> = statement.iter().map(AsRef::as_ref).collect();
    let mut state = State {
        ledger_taken: vec![false; led.len()],
        statement_taken: vec![false; st.len()],
        matches: Vec::new(),
    };

    pass_reference(&led, &st, rules, &mut state);
    pass_amount_date(&led, &st, rules, &mut state);
    pass_batch(&led, &st, rules, &mut state);

    let State {
        ledger_taken,
        statement_taken,
        matches,
    } = state;
    Outcome {
        matches,
        unmatched_ledger: untaken(&ledger_taken),
        unmatched_statement: untaken(&statement_taken),
    }
}

struct State {
    ledger_taken: Vec<bool>,
    statement_taken: Vec<bool>,
    matches: Vec<Match>,
}

fn untaken(taken: &[bool]) -> Vec<usize> {
    taken
        .iter()
        .enumerate()
        .filter(|(_, t)| !**t)
        .map(|(i, _)| i)
        .collect()
}

fn gap(a: NaiveDate, b: NaiveDate) -> u32 {
    (a - b).num_days().unsigned_abs().min(u32::MAX as u64) as u32
}

fn within_window(rules: &CashRules, a: NaiveDate, b: NaiveDate) -> bool {
    let (from, to) = if a <= b { (a, b) } else { (b, a) };
    rules.calendar.business_days_between(from, to) <= rules.window_days
}

/// An index of records by key: the first record per key in a map, the rest chained through
/// `next` (a linked list in a flat vector: no allocation per key).
struct Chains<K> {
    head: FxHashMap<K, u32>,
    next: Vec<u32>,
}

impl<K: std::hash::Hash + Eq> Chains<K> {
    fn new(len: usize, keys: impl Iterator<Item = (usize, K)>) -> Self {
        let mut head = FxHashMap::with_capacity_and_hasher(len / 2, Default::default());
        let mut next = vec![NONE; len];
        // Walk in reverse so each chain lists records in file order.
        let mut items: Vec<(usize, K)> = keys.collect();
        while let Some((i, k)) = items.pop() {
            if let Some(prev) = head.insert(k, i as u32) {
                next[i] = prev;
            }
        }
        Chains { head, next }
    }

    fn walk(&self, key: &K) -> ChainIter<'_> {
        ChainIter {
            next: &self.next,
            at: self.head.get(key).copied().unwrap_or(NONE),
        }
    }
}

struct ChainIter<'a> {
    next: &'a [u32],
    at: u32,
}

impl Iterator for ChainIter<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.at == NONE {
            return None;
        }
        let i = self.at as usize;
        self.at = self.next[i];
        Some(i)
    }
}

/// Takes candidates best first, each side at most once; returns the accepted (ledger, statement).
fn assign(mut candidates: Vec<Candidate>, state: &mut State) -> Vec<(usize, usize)> {
    candidates.sort_unstable();
    let mut accepted = Vec::new();
    for (_, l, s) in candidates {
        let (l, s) = (l as usize, s as usize);
        if !state.ledger_taken[l] && !state.statement_taken[s] {
            state.ledger_taken[l] = true;
            state.statement_taken[s] = true;
            accepted.push((l, s));
        }
    }
    accepted
}

fn pass_reference(led: &[&Record], st: &[&Record], rules: &CashRules, state: &mut State) {
    let by_reference = Chains::new(
        led.len(),
        led.iter()
            .enumerate()
            .filter_map(|(i, r)| r.reference.as_deref().map(|k| (i, k))),
    );
    let group = usize::from(rules.reference_pattern.captures_len() > 1);
    let mut candidates = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (s, line) in st.iter().enumerate() {
        let Some(text) = line.remittance.as_deref() else {
            continue;
        };
        seen.clear();
        let found = references(&rules.reference_pattern, group, text);
        for reference in found {
            if seen.contains(&reference) {
                continue;
            }
            seen.push(reference);
            for l in by_reference.walk(&reference) {
                let item = led[l];
                if item.currency == line.currency && item.amount == line.amount {
                    candidates.push((gap(item.value_date, line.value_date), l as u32, s as u32));
                }
            }
        }
    }
    for (l, s) in assign(candidates, state) {
        state.matches.push(Match {
            pass: MatchPass::Reference,
            ledger: vec![l],
            statement: vec![s],
        });
    }
}

fn references<'t>(pattern: &Regex, group: usize, text: &'t str) -> Vec<&'t str> {
    if group == 0 {
        pattern.find_iter(text).map(|m| m.as_str()).collect()
    } else {
        pattern
            .captures_iter(text)
            .filter_map(|c| c.get(group).map(|m| m.as_str()))
            .collect()
    }
}

fn pass_amount_date(led: &[&Record], st: &[&Record], rules: &CashRules, state: &mut State) {
    let by_amount = Chains::new(
        led.len(),
        led.iter()
            .enumerate()
            .filter(|(i, _)| !state.ledger_taken[*i])
            .map(|(i, r)| (i, (r.currency, r.amount))),
    );
    let mut candidates = Vec::new();
    for (s, line) in st.iter().enumerate() {
        if state.statement_taken[s] {
            continue;
        }
        for l in by_amount.walk(&(line.currency, line.amount)) {
            let item = led[l];
            if within_window(rules, item.value_date, line.value_date) {
                candidates.push((gap(item.value_date, line.value_date), l as u32, s as u32));
            }
        }
    }
    for (l, s) in assign(candidates, state) {
        state.matches.push(Match {
            pass: MatchPass::AmountDate,
            ledger: vec![l],
            statement: vec![s],
        });
    }
}

fn pass_batch(led: &[&Record], st: &[&Record], rules: &CashRules, state: &mut State) {
    // Open ledger items by (counterparty, value date, currency); items without a counterparty
    // cannot form a batch.
    let mut groups: FxHashMap<(&str, NaiveDate, Currency), Vec<u32>> = FxHashMap::default();
    for (i, r) in led.iter().enumerate() {
        if state.ledger_taken[i] {
            continue;
        }
        if let Some(cp) = r.counterparty.as_deref() {
            groups
                .entry((cp, r.value_date, r.currency))
                .or_default()
                .push(i as u32);
        }
    }
    // Each group of two or more, by its lead (first item in file order), with its sum.
    let mut batches: Vec<Vec<u32>> = groups.into_values().filter(|g| g.len() >= 2).collect();
    batches.sort_unstable_by_key(|g| g[0]);
    let by_sum = Chains::new(
        batches.len(),
        batches.iter().enumerate().map(|(b, members)| {
            let first = led[members[0] as usize];
            let sum: Decimal = members.iter().map(|&m| led[m as usize].amount).sum();
            (b, (first.currency, sum))
        }),
    );
    let mut candidates = Vec::new();
    for (s, line) in st.iter().enumerate() {
        if state.statement_taken[s] {
            continue;
        }
        for b in by_sum.walk(&(line.currency, line.amount)) {
            let day = led[batches[b][0] as usize].value_date;
            if within_window(rules, day, line.value_date) {
                // The batch index stands in for the ledger side while assigning; batches are
                // sorted by lead, so their order is the ledger's file order.
                candidates.push((gap(day, line.value_date), b as u32, s as u32));
            }
        }
    }
    candidates.sort_unstable();
    let mut batch_taken = vec![false; batches.len()];
    for (_, b, s) in candidates {
        let (b, s) = (b as usize, s as usize);
        if batch_taken[b] || state.statement_taken[s] {
            continue;
        }
        batch_taken[b] = true;
        state.statement_taken[s] = true;
        let ledger: Vec<usize> = batches[b].iter().map(|&m| m as usize).collect();
        for &l in &ledger {
            state.ledger_taken[l] = true;
        }
        state.matches.push(Match {
            pass: MatchPass::Batch,
            ledger,
            statement: vec![s],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Side, Source};
    use std::sync::Arc;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn ledger(id: &str, day: &str, amount: &str, reference: &str, cp: &str) -> Record {
        Record {
            side: Side::Ledger,
            external_id: id.into(),
            account: Some("CASH-EUR-01".into()),
            value_date: date(day),
            booking_date: None,
            amount: amount.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            reference: Some(reference.into()),
            counterparty: Some(cp.into()),
            remittance: None,
            source: Source {
                file: Arc::from("l"),
                sheet: None,
                row: 2,
                locator: None,
            },
        }
    }

    fn line(bank_ref: &str, day: &str, amount: &str, remittance: &str) -> Record {
        Record {
            side: Side::Statement,
            external_id: bank_ref.into(),
            account: None,
            value_date: date(day),
            booking_date: Some(date(day)),
            amount: amount.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            reference: None,
            counterparty: None,
            remittance: Some(remittance.into()),
            source: Source {
                file: Arc::from("s"),
                sheet: None,
                row: 2,
                locator: None,
            },
        }
    }

    fn rules() -> CashRules {
        CashRules {
            reference_pattern: Regex::new(r"INV-\d{3}").unwrap(),
            window_days: 2,
            calendar: Calendar::weekends_only(),
        }
    }

    fn summary(o: &Outcome) -> Vec<(MatchPass, Vec<usize>, Vec<usize>)> {
        let mut v: Vec<_> = o
            .matches
            .iter()
            .map(|m| (m.pass, m.ledger.clone(), m.statement.clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn reference_in_remittance_matches_even_when_amounts_collide() {
        let l = [
            ledger("1", "2026-03-02", "100.00", "INV-001", "A"),
            ledger("2", "2026-03-02", "100.00", "INV-002", "B"),
        ];
        let s = [
            line("B1", "2026-03-02", "100.00", "PAYMENT INV-002 THANKS"),
            line("B2", "2026-03-02", "100.00", "/RFB/INV-001/"),
        ];
        let o = reconcile_cash(&l, &s, &rules());
        assert_eq!(
            summary(&o),
            vec![
                (MatchPass::Reference, vec![0], vec![1]),
                (MatchPass::Reference, vec![1], vec![0]),
            ]
        );
        assert!(o.unmatched_ledger.is_empty() && o.unmatched_statement.is_empty());
    }

    #[test]
    fn reference_with_other_amount_is_not_a_reference_match() {
        let l = [ledger("1", "2026-03-02", "100.00", "INV-001", "A")];
        let s = [line("B1", "2026-03-02", "99.99", "INV-001")];
        let o = reconcile_cash(&l, &s, &rules());
        assert!(o.matches.is_empty());
        assert_eq!(o.unmatched_ledger, vec![0]);
        assert_eq!(o.unmatched_statement, vec![0]);
    }

    #[test]
    fn amount_and_date_window_counts_business_days() {
        // Friday item, Tuesday line: Mon and Tue are 2 business days later -> inside.
        let l = [ledger("1", "2026-03-06", "250.00", "INV-001", "A")];
        let s = [line("B1", "2026-03-10", "250.00", "TRANSFER A")];
        let o = reconcile_cash(&l, &s, &rules());
        assert_eq!(summary(&o), vec![(MatchPass::AmountDate, vec![0], vec![0])]);

        // Friday item, Wednesday line: 3 business days -> outside.
        let s = [line("B1", "2026-03-11", "250.00", "TRANSFER A")];
        let o = reconcile_cash(&l, &s, &rules());
        assert!(o.matches.is_empty());
    }

    #[test]
    fn amount_date_prefers_the_closest_value_date() {
        let l = [
            ledger("1", "2026-03-02", "75.00", "INV-001", "A"),
            ledger("2", "2026-03-04", "75.00", "INV-002", "B"),
        ];
        let s = [line("B1", "2026-03-04", "75.00", "NO REF")];
        let o = reconcile_cash(&l, &s, &rules());
        assert_eq!(summary(&o), vec![(MatchPass::AmountDate, vec![1], vec![0])]);
        assert_eq!(o.unmatched_ledger, vec![0]);
    }

    #[test]
    fn one_line_paying_a_counterpartys_items_of_one_day_is_a_batch() {
        let l = [
            ledger("1", "2026-03-02", "10.00", "INV-001", "ACME"),
            ledger("2", "2026-03-02", "20.50", "INV-002", "ACME"),
            ledger("3", "2026-03-02", "5.00", "INV-003", "OTHER"),
        ];
        let s = [line(
            "B1",
            "2026-03-02",
            "30.50",
            "PAYRUN PR0000001 2 ITEMS ACME",
        )];
        let o = reconcile_cash(&l, &s, &rules());
        assert_eq!(summary(&o), vec![(MatchPass::Batch, vec![0, 1], vec![0])]);
        assert_eq!(o.unmatched_ledger, vec![2]);
    }

    #[test]
    fn no_record_is_used_twice_across_passes() {
        // The line matches item 1 by reference; item 2 has the same amount and date but must
        // not get the same line in pass 2.
        let l = [
            ledger("1", "2026-03-02", "40.00", "INV-001", "A"),
            ledger("2", "2026-03-02", "40.00", "INV-002", "B"),
        ];
        let s = [line("B1", "2026-03-02", "40.00", "INV-001")];
        let o = reconcile_cash(&l, &s, &rules());
        assert_eq!(summary(&o), vec![(MatchPass::Reference, vec![0], vec![0])]);
        assert_eq!(o.unmatched_ledger, vec![1]);
    }

    #[test]
    fn currencies_never_mix() {
        let l = [ledger("1", "2026-03-02", "40.00", "INV-001", "A")];
        let mut usd = line("B1", "2026-03-02", "40.00", "INV-001");
        usd.currency = "USD".parse().unwrap();
        let o = reconcile_cash(&l, &[usd], &rules());
        assert!(o.matches.is_empty());
    }

    #[test]
    fn capture_group_selects_the_reference() {
        let mut r = rules();
        r.reference_pattern = Regex::new(r"REF:(INV-\d{3})").unwrap();
        let l = [ledger("1", "2026-03-02", "1.00", "INV-001", "A")];
        let s = [line("B1", "2026-03-09", "1.00", "REF:INV-001")];
        let o = reconcile_cash(&l, &s, &r);
        assert_eq!(summary(&o), vec![(MatchPass::Reference, vec![0], vec![0])]);
    }

    #[test]
    fn the_outcome_does_not_depend_on_how_often_it_is_computed() {
        let l = [
            ledger("1", "2026-03-02", "10.00", "INV-001", "ACME"),
            ledger("2", "2026-03-02", "20.00", "INV-002", "ACME"),
            ledger("3", "2026-03-03", "30.00", "INV-003", "B"),
        ];
        let s = [
            line("B1", "2026-03-02", "30.00", "PAYRUN"),
            line("B2", "2026-03-03", "30.00", "INV-003"),
        ];
        let a = reconcile_cash(&l, &s, &rules());
        let b = reconcile_cash(&l, &s, &rules());
        assert_eq!(a, b);
        // INV-003 by reference first; the 30.00 line then pays ACME's two items as a batch.
        assert_eq!(
            summary(&a),
            vec![
                (MatchPass::Reference, vec![2], vec![1]),
                (MatchPass::Batch, vec![0, 1], vec![0]),
            ]
        );
    }
}
