//! The property: any sequence of files and hands-on work gives the same store by key as over
//! everything.

use proptest::prelude::*;

use super::*;

/// Most items' amount follows from their reference, so that the lines paying a reference
/// often pay its amount too; some have another.
fn item() -> impl Strategy<Value = Item> {
    (
        0u8..24,
        prop::option::weighted(0.25, 0u8..9),
        0u8..14,
        0u8..3,
        0u8..9,
        prop::bool::weighted(0.1),
    )
        .prop_map(|(id, other, reference, party, day, usd)| Item {
            id,
            amount: other.unwrap_or(reference % 9),
            reference,
            party,
            day,
            usd,
        })
}

/// A line paying one reference mostly pays its amount; a pay run often adds two amounts up.
fn line() -> impl Strategy<Value = Line> {
    let paying = prop_oneof![
        4 => (0u8..16, prop::option::weighted(0.2, 0u8..9))
            .prop_map(|(r, other)| (Remittance::One(r), other.unwrap_or(r % 9), None)),
        1 => (0u8..16, 0u8..16, 0u8..9)
            .prop_map(|(a, b, amount)| (Remittance::Two(a, b), amount, None)),
        3 => (0u8..9).prop_map(|amount| (Remittance::Nothing, amount, None)),
        // The commonest amounts (0 to 4 come of two references each).
        3 => (0u8..3, 0u8..5, prop::option::weighted(0.8, 0u8..5))
            .prop_map(|(p, amount, plus)| (Remittance::PayRun(p), amount, plus)),
    ];
    (0u8..30, paying, 0u8..9, prop::bool::weighted(0.1)).prop_map(
        |(bank, (remittance, amount, plus), day, usd)| Line {
            bank,
            amount,
            plus,
            remittance,
            day,
            usd,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(item(), 1..6).prop_map(Step::Ledger),
        4 => (prop::collection::vec(line(), 1..5), prop::bool::weighted(0.3))
            .prop_map(|(lines, card)| Step::Statement(lines, card)),
        1 => any::<u8>().prop_map(Step::Resolve),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::Force(a, b)),
    ]
}

/// Takes a step in one install; what happened, for comparing with the other.
fn take(i: &mut Install, step: &Step, when: DateTime<Utc>) -> String {
    match step {
        Step::Ledger(items) => {
            format!("{:?}", i.process("ledger-import", &ledger_csv(items), when))
        }
        Step::Statement(lines, card) => format!(
            "{:?}",
            i.process(if *card { CARD } else { BANK }, &statement_csv(lines), when)
        ),
        Step::Resolve(n) => {
            let mut open = i.open_breaks("ledger");
            open.extend(i.open_breaks("statement"));
            let Some(&id) = open.get(*n as usize % open.len().max(1)) else {
                return "nothing to resolve".into();
            };
            store::in_unit(i.store.as_mut(), |u| {
                u.resolve_break(id, "checked with the bank", "tester", when)
            })
            .map_or_else(|e| e.to_string(), |()| "resolved".into())
        }
        Step::Wake => [BANK, CARD]
            .map(|job| {
                let job = i.job(job);
                jobs::cash::reconcile_due(
                    i.store.as_mut(),
                    &job,
                    jobs::cash::Hold::of(&job),
                    Trigger::Due,
                    &|| when,
                )
                .map_or_else(|e| e.to_string(), |ran| format!("{:?}", ran.map(|r| r.1)))
            })
            .join("; "),
        Step::Force(a, b) => {
            let (l, s) = (i.open_breaks("ledger"), i.open_breaks("statement"));
            if l.is_empty() || s.is_empty() {
                return "nothing to match".into();
            }
            let ids = [l[*a as usize % l.len()], s[*b as usize % s.len()]];
            match workflow::force_match(
                &i.config,
                i.store.as_mut(),
                &ids,
                "agreed with the customer",
                "tester",
                Some("6990 Payment differences"),
                when,
            ) {
                Ok(_) => "matched by hand".into(),
                Err(e) => format!("refused: {e:?}"),
            }
        }
    }
}

/// The file outcome without its run id (the two installs number runs alike, but a refused
/// step says why in words that name ids).
fn outcome_words(s: &str) -> String {
    s.split(|c: char| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .join("#")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn runs_by_key_give_what_runs_over_everything_give(steps in prop::collection::vec(step(), 1..14)) {
        let mut by_key = Install::new(false);
        let mut full = Install::new(true);
        compare(&mut by_key, &mut full, &steps)?;
    }

    /// Items held back for a grace period of three steps: the runs of files and the daemon's
    /// wake-ups make the same breaks, at the same steps, by key as over everything.
    #[test]
    fn held_back_items_come_out_alike_by_key_and_over_everything(
        steps in prop::collection::vec(prop_oneof![4 => step(), 1 => Just(Step::Wake)], 1..16)
    ) {
        let mut by_key = Install::with_grace(false, "3s");
        let mut full = Install::with_grace(true, "3s");
        compare(&mut by_key, &mut full, &steps)?;
    }

    #[test]
    fn runs_by_key_give_what_runs_over_everything_give_under_other_rules(
        steps in prop::collection::vec(step(), 1..14)
    ) {
        let mut by_key = Install::with_rules(false, Some(OTHER_RULES));
        let mut full = Install::with_rules(true, Some(OTHER_RULES));
        compare(&mut by_key, &mut full, &steps)?;
    }
}

/// Rules with tolerances (so amounts are no key: the amount and date pass finds its
/// candidates among all of a currency), a name normalised out of free text, and a grouped
/// pass that looks for the subset of a customer's items a line pays.
const OTHER_RULES: &str = r#"
[match]
calendar = "default"

[[match.passes]]
name = "reference"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{9}' }]
amount = { ours = "amount", theirs = "amount", tolerance = "0.01", relative = "0.001" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 5 }

[[match.passes]]
name = "amount_date"
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount", tolerance = "0.50" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 1 }

[[match.passes]]
name = "payrun"
grouping = "many_to_one"
group_by = ["counterparty", "currency"]
keys = [
  { ours = "counterparty", theirs = "remittance", theirs_pattern = 'PAYRUN (.*)', normalise = true },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 3 }
max_group_size = 4
"#;

/// Takes the same steps in both installs and compares their stores after each.
fn compare(by_key: &mut Install, full: &mut Install, steps: &[Step]) -> Result<(), TestCaseError> {
    {
        for (n, s) in steps.iter().enumerate() {
            let a = take(by_key, s, at(n));
            let b = take(full, s, at(n));
            prop_assert_eq!(outcome_words(&a), outcome_words(&b), "step {}: {:?}", n, s);
            let (da, db) = (by_key.dump(), full.dump());
            if da != db {
                let diff: Vec<String> = da
                    .iter()
                    .filter(|l| !db.contains(l))
                    .map(|l| format!("by key only: {l}"))
                    .chain(
                        db.iter()
                            .filter(|l| !da.contains(l))
                            .map(|l| format!("full only:   {l}")),
                    )
                    .collect();
                prop_assert!(false, "after step {} ({:?}):\n{}", n, s, diff.join("\n"));
            }
        }
        // Only the first run of each job went over everything: the others were by key.
        for runs in [by_key.runs(), by_key.card_runs()] {
            prop_assert!(runs.full <= 1, "{:?}", runs);
        }
        prop_assert_eq!(full.runs().by_key + full.card_runs().by_key, 0);
    }
    Ok(())
}
