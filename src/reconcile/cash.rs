//! Cash reconciliation: bank statement lines against open ledger items, by the job's
//! `[match]` passes, run by [`super::engine`].
//!
//! This is the daemon's entry point and a thin adapter: records become two tables (ledger
//! items are "ours", statement lines "theirs", fields named as in [`Record`]), the engine
//! runs, and its decisions come back as indexes into the slices given. The short `[match]`
//! form means the three passes of the first releases (see [`engine::legacy_spec`]):
//!
//! 1. **reference**: a reference found in the statement line's remittance text (by the job's
//!    pattern) equals a ledger item's reference, same currency and amount;
//! 2. **amount_date**: same currency and amount, value dates within the business-day window;
//! 3. **batch**: one statement line pays every open ledger item of one counterparty, value date
//!    and currency (their sum), value dates within the window.
//!
//! Within a pass the best-scored candidates win, ties broken by the records' identities, each
//! record at most once; so the outcome depends neither on file order nor on how often it is
//! computed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::backlog::BacklogSlot;
use super::engine::{
    self, Blocking, Context, MatchSpec, Plan, Rates, RuleError, RunOptions, Schema, Table,
    Unmatched, UnmatchedReason, ValueMap,
};
use crate::model::{Match, MatchPass, Record, StoredRecord};
use crate::schedule::Calendar;

/// The rules of a cash reconciliation, from the job file: the checked passes and the tables
/// they name.
#[derive(Clone, Debug)]
pub struct CashRules {
    pub plan: Arc<Plan>,
    /// The widest date window of any pass: how long a ledger item may wait for the bank
    /// before it is missing.
    pub window_days: i64,
    /// Which days count as business days for the windows.
    pub calendar: Calendar,
    pub maps: Arc<BTreeMap<String, ValueMap>>,
    pub rates: Arc<BTreeMap<String, Rates>>,
    /// How these rules' items are found by key (see [`engine::Blocking`]).
    pub blocking: Arc<Blocking>,
    /// The job's open items filed by key, kept between runs (see [`super::backlog`]). Kept
    /// with the rules because it is only valid for them: a reload that changes the rules
    /// starts a new one. Clones of the rules share it.
    pub backlog: BacklogSlot,
}

impl CashRules {
    /// Checks `spec` against the fields of records. `read` gives the text of a mapping or
    /// rates file named in the spec (the caller does the I/O).
    pub fn from_spec(
        spec: &MatchSpec,
        calendar: Calendar,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<CashRules, Vec<RuleError>> {
        let schema = Schema::of_records();
        let plan = spec.check(&schema, &schema)?;
        let mut errors = Vec::new();
        let mut maps = BTreeMap::new();
        for (name, file) in &spec.maps {
            match read(file).and_then(|t| ValueMap::parse_csv(&t)) {
                Ok(m) => {
                    maps.insert(name.clone(), m);
                }
                Err(e) => errors.push(RuleError {
                    key: format!("match.maps.{name}"),
                    message: format!("{file}: {e}"),
                }),
            }
        }
        let mut rates = BTreeMap::new();
        for (name, file) in &spec.rates {
            match read(file).and_then(|t| Rates::parse_csv(&t)) {
                Ok(r) => {
                    rates.insert(name.clone(), r);
                }
                Err(e) => errors.push(RuleError {
                    key: format!("match.rates.{name}"),
                    message: format!("{file}: {e}"),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CashRules {
            window_days: i64::from(plan.widest_window()),
            blocking: Arc::new(Blocking::new(&plan, &schema, &schema)),
            backlog: BacklogSlot::default(),
            plan: Arc::new(plan),
            calendar,
            maps: Arc::new(maps),
            rates: Arc::new(rates),
        })
    }

    /// The short form: a reference pattern and a window (tests, and the first releases' jobs).
    pub fn legacy(
        reference_pattern: &str,
        window_days: i64,
        calendar: Calendar,
    ) -> Result<CashRules, Vec<RuleError>> {
        let spec = MatchSpec {
            reference_pattern: Some(reference_pattern.to_owned()),
            window_business_days: Some(window_days),
            ..engine::legacy_spec("x", 0)
        };
        let spec = MatchSpec {
            passes: Vec::new(),
            ..spec
        };
        CashRules::from_spec(&spec, calendar, &|f| Err(format!("no file {f} expected")))
    }

    /// The engine's context for a run with these rules.
    pub fn context(&self, options: RunOptions) -> Context<'_> {
        let mut ctx = Context::new(&self.calendar).with_options(options);
        for (n, m) in self.maps.iter() {
            ctx = ctx.with_map(n, m);
        }
        for (n, r) in self.rates.iter() {
            ctx = ctx.with_rates(n, r);
        }
        ctx
    }
}

/// What the matcher decided. Indexes point into the slices it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub matches: Vec<Match>,
    pub unmatched_ledger: Vec<usize>,
    pub unmatched_statement: Vec<usize>,
    /// Why, for each of `unmatched_ledger` (same order); `nearest.row` is a statement index.
    pub ledger_why: Vec<Unmatched>,
    /// Why, for each of `unmatched_statement`; `nearest.row` is a ledger index.
    pub statement_why: Vec<Unmatched>,
    /// Limits the matcher hit, or why it could not run.
    pub warnings: Vec<String>,
    /// A search bound cut a pass short (see [`engine::Outcome::cut_short`]).
    pub cut_short: bool,
    /// Ledger items paid in part by statement lines quoting them (an instalments pass with
    /// `partial`): `row` is a ledger index, `parts` statement indexes. Both sides are also in
    /// `unmatched_*`: whether they are breaks yet is the caller's call.
    pub part_paid: Vec<engine::PartPaid>,
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

/// The category a pass's matches are filed under: its own name when it is one of the
/// classic three, else by its shape.
pub fn pass_category(plan: &Plan, rule: u32) -> MatchPass {
    let Some((name, grouping, text_key)) = plan.pass_shape(rule) else {
        return MatchPass::AmountDate;
    };
    match name.parse::<MatchPass>() {
        Ok(MatchPass::Manual) | Err(_) => match grouping {
            engine::Grouping::OneToOne if text_key => MatchPass::Reference,
            engine::Grouping::OneToOne => MatchPass::AmountDate,
            _ => MatchPass::Batch,
        },
        Ok(p) => p,
    }
}

/// Runs the job's passes over `ledger` and `statement` (any slices of records).
pub fn reconcile_cash<L: AsRef<Record>, S: AsRef<Record>>(
    ledger: &[L],
    statement: &[S],
    rules: &CashRules,
) -> Outcome {
    match Sides::of(ledger, statement, (0, 0)) {
        Ok(sides) => sides.reconcile(rules),
        Err(e) => everything_open(ledger.len(), statement.len(), e),
    }
}

/// Both sides of a cash reconciliation as the engine's tables: ledger items are ours,
/// statement lines theirs, rows in the order of the slices given.
pub struct Sides {
    pub ours: Table,
    pub theirs: Table,
}

impl Sides {
    /// The tables of `ledger` and `statement`, amounts held at (ledger, statement) decimals
    /// at least (see [`Table::from_records_scaled`]).
    pub fn of<L: AsRef<Record>, S: AsRef<Record>>(
        ledger: &[L],
        statement: &[S],
        amount_scales: (u32, u32),
    ) -> Result<Sides, String> {
        let ours = Table::from_records_scaled(ledger, amount_scales.0)
            .map_err(|e| format!("matching skipped: {e}"))?;
        let theirs = Table::from_records_scaled(statement, amount_scales.1)
            .map_err(|e| format!("matching skipped: {e}"))?;
        Ok(Sides { ours, theirs })
    }

    /// Runs the job's passes over the two tables.
    pub fn reconcile(&self, rules: &CashRules) -> Outcome {
        self.try_reconcile(rules).unwrap_or_else(|e| {
            everything_open(
                self.ours.len(),
                self.theirs.len(),
                format!("matching skipped: {e}"),
            )
        })
    }

    /// As [`Sides::reconcile`], or why the engine could not run.
    pub fn try_reconcile(&self, rules: &CashRules) -> Result<Outcome, engine::RunError> {
        // The daemon's batches are small: explain every match as it is made.
        let ctx = rules.context(RunOptions {
            threads: 1,
            explain: true,
        });
        engine::run(&rules.plan, &self.ours, &self.theirs, &ctx)
            .map(|o| from_engine(&rules.plan, o))
    }
}

/// Every item left open, for a run that could not be made.
fn everything_open(ledger: usize, statement: usize, warning: String) -> Outcome {
    Outcome {
        unmatched_ledger: (0..ledger).collect(),
        unmatched_statement: (0..statement).collect(),
        ledger_why: (0..ledger).map(|r| missing(r as u32)).collect(),
        statement_why: (0..statement).map(|r| missing(r as u32)).collect(),
        warnings: vec![warning],
        ..Outcome::default()
    }
}

fn missing(row: u32) -> Unmatched {
    Unmatched {
        row,
        reason: UnmatchedReason::MissingCounterpart,
        nearest: None,
        duplicates: 0,
    }
}

/// The engine's outcome as indexes into the record slices.
pub fn from_engine(plan: &Plan, mut o: engine::Outcome) -> Outcome {
    // Passes in order, then the ledger's order: stable reports.
    o.matches
        .sort_by_key(|m| (m.rule, m.ours.iter().min().copied()));
    let matches: Vec<Match> = o
        .matches
        .into_iter()
        .map(|m| {
            let mut ledger: Vec<usize> = m.ours.iter().map(|&r| r as usize).collect();
            let mut statement: Vec<usize> = m.theirs.iter().map(|&r| r as usize).collect();
            ledger.sort_unstable();
            // Bank lines paired with each other (a pass within the statement, no ledger
            // item) keep the engine's order: the payment, then its return.
            if !ledger.is_empty() {
                statement.sort_unstable();
            }
            Match {
                pass: pass_category(plan, m.rule),
                rule: Some(Arc::clone(&m.pass)),
                explanation: m
                    .explanation
                    .as_deref()
                    .and_then(|e| serde_json::to_string(e).ok()),
                ledger,
                statement,
            }
        })
        .collect();
    Outcome {
        matches,
        unmatched_ledger: o.unmatched_ours.iter().map(|u| u.row as usize).collect(),
        unmatched_statement: o.unmatched_theirs.iter().map(|u| u.row as usize).collect(),
        ledger_why: o.unmatched_ours,
        statement_why: o.unmatched_theirs,
        warnings: o.warnings,
        cut_short: o.cut_short,
        part_paid: o.part_paid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Side, Source};
    use chrono::NaiveDate;
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
            codes: None,
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
            codes: None,
            source: Source {
                file: Arc::from("s"),
                sheet: None,
                row: 2,
                locator: None,
            },
        }
    }

    fn rules() -> CashRules {
        CashRules::legacy(r"INV-\d{3}", 2, Calendar::weekends_only()).unwrap()
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
        let r = CashRules::legacy(r"REF:(INV-\d{3})", 2, Calendar::weekends_only()).unwrap();
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
