//! The engine's rules, case by case: each table row is a situation an ops analyst would
//! recognise, the rules that apply, and what must (not) match.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::schedule::Calendar;

/// A ledger item: id, value date, amount, currency, reference, counterparty, account.
type O<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);
/// A statement line: id, value date, amount, currency, remittance, name, IBAN.
type T<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn ours(rows: &[O<'_>]) -> Table {
    let mut b = TableBuilder::new();
    for &(id, day, amount, ccy, reference, cp, account) in rows {
        b.add_date("value_date", date(day))
            .add_decimal("amount", amount.parse().unwrap())
            .add_currency("currency", ccy.parse().unwrap())
            .add_text("reference", reference)
            .add_text("counterparty", cp)
            .add_text("account", account);
        b.push_row(id);
    }
    b.finish().unwrap()
}

fn theirs(rows: &[T<'_>]) -> Table {
    let mut b = TableBuilder::new();
    for &(id, day, amount, ccy, remittance, name, iban) in rows {
        b.add_date("value_date", date(day))
            .add_decimal("amount", amount.parse().unwrap())
            .add_currency("currency", ccy.parse().unwrap())
            .add_text("remittance", remittance)
            .add_text("name", name)
            .add_text("iban", iban);
        b.push_row(id);
    }
    b.finish().unwrap()
}

fn spec(toml_text: &str) -> MatchSpec {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}\n{toml_text}"))
}

/// The tables and calendar a case runs with (default: weekends only, no tables).
#[derive(Default)]
struct Tables {
    maps: Vec<(&'static str, ValueMap)>,
    rates: Vec<(&'static str, Rates)>,
    calendar: Calendar,
}

fn run_with(s: &MatchSpec, o: &Table, t: &Table, tables: &Tables) -> Outcome {
    let plan = s.check(&o.schema(), &t.schema()).unwrap();
    let mut ctx = Context::new(&tables.calendar);
    for (n, m) in &tables.maps {
        ctx = ctx.with_map(n, m);
    }
    for (n, r) in &tables.rates {
        ctx = ctx.with_rates(n, r);
    }
    run(&plan, o, t, &ctx).unwrap()
}

/// Matches as (pass, our ids, their ids), sorted; unmatched as (id, reason), sorted.
type Summary = (
    Vec<(String, Vec<String>, Vec<String>)>,
    Vec<(String, &'static str)>,
    Vec<(String, &'static str)>,
);

fn summary(out: &Outcome, o: &Table, t: &Table) -> Summary {
    let ids = |tab: &Table, rows: &[u32]| -> Vec<String> {
        let mut v: Vec<String> = rows
            .iter()
            .map(|&r| tab.identity(r as usize).to_owned())
            .collect();
        v.sort();
        v
    };
    let mut m: Vec<_> = out
        .matches
        .iter()
        .map(|d| (d.pass.to_string(), ids(o, &d.ours), ids(t, &d.theirs)))
        .collect();
    m.sort();
    let why = |tab: &Table, u: &[Unmatched]| {
        let mut v: Vec<_> = u
            .iter()
            .map(|u| (tab.identity(u.row as usize).to_owned(), u.reason.as_str()))
            .collect();
        v.sort();
        v
    };
    (
        m,
        why(o, &out.unmatched_ours),
        why(t, &out.unmatched_theirs),
    )
}

fn one(pass: &str, o: &[&str], t: &[&str]) -> (String, Vec<String>, Vec<String>) {
    (
        pass.into(),
        o.iter().map(|s| s.to_string()).collect(),
        t.iter().map(|s| s.to_string()).collect(),
    )
}

const BY_REFERENCE: &str = r#"
[[passes]]
name = "reference"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{3}' }]
amount = { ours = "amount", theirs = "amount", tolerance = "0.05" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 2 }
"#;

#[test]
fn amount_tolerance_is_inclusive_and_one_cent_more_is_a_break() {
    // (their amount, matched?)
    let cases = [
        ("100.00", true),
        ("100.05", true),
        ("99.95", true),
        ("100.06", false),
        ("99.94", false),
    ];
    for (amount, matched) in cases {
        let o = ours(&[("L1", "2026-03-02", "100.00", "EUR", "INV-001", "A", "")]);
        let t = theirs(&[("S1", "2026-03-02", amount, "EUR", "PAY INV-001", "", "")]);
        let out = run_with(&spec(BY_REFERENCE), &o, &t, &Tables::default());
        let (m, uo, ut) = summary(&out, &o, &t);
        if matched {
            assert_eq!(m, vec![one("reference", &["L1"], &["S1"])], "{amount}");
            let d = &out.matches[0];
            let want: rust_decimal::Decimal = "100.00".parse::<rust_decimal::Decimal>().unwrap()
                - amount.parse::<rust_decimal::Decimal>().unwrap();
            assert_eq!(d.amount_difference, Some(want), "{amount}");
        } else {
            assert!(m.is_empty(), "{amount}");
            assert_eq!(uo, vec![("L1".into(), "amount_difference")], "{amount}");
            assert_eq!(ut, vec![("S1".into(), "amount_difference")], "{amount}");
            let near = out.unmatched_ours[0].nearest.as_ref().unwrap();
            assert_eq!(near.allowed_difference, Some("0.05".parse().unwrap()));
        }
    }
}

#[test]
fn relative_and_per_currency_tolerances() {
    let rules = r#"
[[passes]]
name = "amount"
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount", tolerance = "0.01", relative = "0.001", per_currency = { JPY = "5" } }
"#;
    // (currency, ours, theirs, matched?): 0.1 % of 1000.00 is 1.00; JPY allows 5 yen;
    // small EUR amounts fall back to the absolute 0.01.
    let cases = [
        ("EUR", "1000.00", "1001.00", true),
        ("EUR", "1000.00", "1001.01", false),
        ("EUR", "5.00", "5.01", true),
        ("EUR", "5.00", "5.02", false),
        ("JPY", "1000", "1005", true),
        ("JPY", "1000", "1006", false),
        ("JPY", "100000", "100100", true),
        ("JPY", "100000", "100101", false),
    ];
    for (ccy, a, b, matched) in cases {
        let o = ours(&[("L1", "2026-03-02", a, ccy, "", "", "")]);
        let t = theirs(&[("S1", "2026-03-02", b, ccy, "", "", "")]);
        let out = run_with(&spec(rules), &o, &t, &Tables::default());
        assert_eq!(out.matches.len() == 1, matched, "{ccy} {a} {b}");
    }
}

#[test]
fn date_windows_count_business_days_across_weekends_and_holidays() {
    let rules = r#"
[[passes]]
name = "amount_date"
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 2 }
"#;
    let easter = Calendar::weekends_only().with_holidays([date("2026-04-06")]);
    // (ledger day, bank day, calendar, matched?, gap)
    let cases = [
        (
            "2026-03-06",
            "2026-03-10",
            Calendar::weekends_only(),
            true,
            2,
        ), // Fri → Tue
        (
            "2026-03-06",
            "2026-03-11",
            Calendar::weekends_only(),
            false,
            3,
        ), // Fri → Wed
        (
            "2026-03-11",
            "2026-03-06",
            Calendar::weekends_only(),
            false,
            3,
        ), // either way round
        (
            "2026-03-07",
            "2026-03-10",
            Calendar::weekends_only(),
            true,
            2,
        ), // Sat counts as Fri
        ("2026-04-03", "2026-04-08", easter.clone(), true, 2), // Fri → Wed over Easter Monday
        ("2026-04-03", "2026-04-09", easter, false, 3),
    ];
    for (a, b, calendar, matched, gap) in cases {
        let o = ours(&[("L1", a, "10.00", "EUR", "", "", "")]);
        let t = theirs(&[("S1", b, "10.00", "EUR", "", "", "")]);
        let tables = Tables {
            calendar,
            ..Tables::default()
        };
        let out = run_with(&spec(rules), &o, &t, &tables);
        if matched {
            assert_eq!(out.matches.len(), 1, "{a} {b}");
            assert_eq!(out.matches[0].date_gap_days, Some(gap), "{a} {b}");
        } else {
            assert!(out.matches.is_empty(), "{a} {b}");
            assert_eq!(
                out.unmatched_ours[0].reason,
                UnmatchedReason::DateOutsideWindow
            );
            assert_eq!(
                out.unmatched_ours[0]
                    .nearest
                    .as_ref()
                    .unwrap()
                    .date_gap_days,
                Some(gap)
            );
        }
    }
}

#[test]
fn opposite_sign_pairs_a_receivable_with_a_debit() {
    let with = |opposite: bool| {
        format!(
            r#"
[[passes]]
name = "p"
keys = [{{ ours = "currency", theirs = "currency" }}]
amount = {{ ours = "amount", theirs = "amount", opposite_sign = {opposite} }}
"#
        )
    };
    let o = ours(&[("L1", "2026-03-02", "100.00", "EUR", "", "", "")]);
    let t = theirs(&[("S1", "2026-03-02", "-100.00", "EUR", "", "", "")]);
    assert_eq!(
        run_with(&spec(&with(true)), &o, &t, &Tables::default())
            .matches
            .len(),
        1
    );
    assert_eq!(
        run_with(&spec(&with(false)), &o, &t, &Tables::default())
            .matches
            .len(),
        0
    );
    let t = theirs(&[("S1", "2026-03-02", "100.00", "EUR", "", "", "")]);
    assert_eq!(
        run_with(&spec(&with(true)), &o, &t, &Tables::default())
            .matches
            .len(),
        0
    );
}

#[test]
fn ties_go_to_the_first_identity_whatever_the_file_order() {
    // Two ledger items identical but for their id compete for one bank line.
    let a = ("L-B", "2026-03-02", "50.00", "EUR", "INV-001", "A", "");
    let b = ("L-A", "2026-03-02", "50.00", "EUR", "INV-001", "A", "");
    let t = theirs(&[("S1", "2026-03-02", "50.00", "EUR", "INV-001", "", "")]);
    for rows in [[a, b], [b, a]] {
        let o = ours(&rows);
        let out = run_with(&spec(BY_REFERENCE), &o, &t, &Tables::default());
        let (m, uo, _) = summary(&out, &o, &t);
        assert_eq!(m, vec![one("reference", &["L-A"], &["S1"])]);
        assert_eq!(uo, vec![("L-B".into(), "duplicate")]);
        let r = &out.matches[0].runners_up;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].lost_because, LostBecause::TieBrokenByIdentity);
        assert_eq!(o.identity(r[0].ours[0] as usize), "L-B");
    }
}

#[test]
fn a_closer_date_wins_and_the_loser_is_a_runner_up() {
    let o = ours(&[
        ("L1", "2026-03-02", "75.00", "EUR", "INV-001", "A", ""),
        ("L2", "2026-03-04", "75.00", "EUR", "INV-001", "B", ""),
    ]);
    let t = theirs(&[("S1", "2026-03-04", "75.00", "EUR", "INV-001", "", "")]);
    let out = run_with(&spec(BY_REFERENCE), &o, &t, &Tables::default());
    let (m, uo, _) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("reference", &["L2"], &["S1"])]);
    assert_eq!(uo, vec![("L1".into(), "missing_counterpart")]);
    assert_eq!(
        out.matches[0].runners_up[0].lost_because,
        LostBecause::LowerScore
    );
    assert!(out.matches[0].score > out.matches[0].runners_up[0].score);
}

const CLOSEST: &str = r#"
[[passes]]
name = "amount_date"
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount", tolerance = "1.00" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 4 }
"#;

#[test]
fn a_pass_takes_the_best_combination_not_the_best_candidate_first() {
    // Scores: 1 - difference/2 (tolerance 1.00) - gap/10 (window 4 business days).
    struct Case {
        what: &'static str,
        ours: &'static [(&'static str, &'static str, &'static str)],
        theirs: &'static [(&'static str, &'static str, &'static str)],
        matches: &'static [(&'static str, &'static str)],
    }
    let cases = [
        Case {
            // A-X 0.9, A-Y 0.8, B-X 0.7, B has no other candidate: best first gives one
            // match, the best combination two.
            what: "more matches",
            ours: &[("A", "2026-03-04", "100.00"), ("B", "2026-03-10", "100.00")],
            theirs: &[("X", "2026-03-05", "100.00"), ("Y", "2026-03-02", "100.00")],
            matches: &[("A", "Y"), ("B", "X")],
        },
        Case {
            // A-X 0.9, A-Y 0.85, B-X 0.75, B-Y 0.5: two matches either way, 1.6 beats 1.4.
            what: "a higher total",
            ours: &[("A", "2026-03-04", "100.00"), ("B", "2026-03-04", "100.70")],
            theirs: &[("X", "2026-03-04", "100.20"), ("Y", "2026-03-04", "99.70")],
            matches: &[("A", "Y"), ("B", "X")],
        },
        Case {
            // Best first is already best: A-X 1.0, B-Y 0.9 against A-Y 0.9, B-X 0.9.
            what: "best first when it is best",
            ours: &[("A", "2026-03-04", "100.00"), ("B", "2026-03-05", "100.00")],
            theirs: &[("X", "2026-03-04", "100.00"), ("Y", "2026-03-05", "100.00")],
            matches: &[("A", "X"), ("B", "Y")],
        },
        Case {
            // Equal combinations (A-X + B-Y, A-Y + B-X, all 1.0): the earlier identities.
            what: "ties by identity",
            ours: &[("B", "2026-03-04", "100.00"), ("A", "2026-03-04", "100.00")],
            theirs: &[("Y", "2026-03-04", "100.00"), ("X", "2026-03-04", "100.00")],
            matches: &[("A", "X"), ("B", "Y")],
        },
        Case {
            // A chain: A-X 0.9, A-Y 0.8, B-X 0.95, B-Y 0.95, C-X 0.8, C-Y 0.9, C-Z 0.5:
            // best first takes B-X and C-Y and leaves A; the best combination matches all.
            what: "a chain",
            ours: &[
                ("A", "2026-03-04", "100.00"),
                ("B", "2026-03-04", "100.30"),
                ("C", "2026-03-04", "100.60"),
            ],
            theirs: &[
                ("X", "2026-03-04", "100.20"),
                ("Y", "2026-03-04", "100.40"),
                ("Z", "2026-03-04", "101.60"),
            ],
            matches: &[("A", "X"), ("B", "Y"), ("C", "Z")],
        },
    ];
    for case in &cases {
        let row = |&(id, day, amount): &(&'static str, &'static str, &'static str)| {
            (id, day, amount, "EUR", "", "", "")
        };
        let o_rows: Vec<O<'_>> = case.ours.iter().map(row).collect();
        let t_rows: Vec<T<'_>> = case.theirs.iter().map(row).collect();
        let want: Vec<_> = case
            .matches
            .iter()
            .map(|(a, b)| one("amount_date", &[a], &[b]))
            .collect();
        // Whatever the file order.
        for flip in [false, true] {
            let (mut o_rows, mut t_rows) = (o_rows.clone(), t_rows.clone());
            if flip {
                o_rows.reverse();
                t_rows.reverse();
            }
            let (o, t) = (ours(&o_rows), theirs(&t_rows));
            let out = run_with(&spec(CLOSEST), &o, &t, &Tables::default());
            let (m, _, _) = summary(&out, &o, &t);
            assert_eq!(m, want, "{}", case.what);
            assert!(out.warnings.is_empty(), "{}: {:?}", case.what, out.warnings);
        }
    }
    // The candidate that lost for the combination says so.
    let (o, t) = (
        ours(&[
            ("A", "2026-03-04", "100.00", "EUR", "", "", ""),
            ("B", "2026-03-10", "100.00", "EUR", "", "", ""),
        ]),
        theirs(&[
            ("X", "2026-03-05", "100.00", "EUR", "", "", ""),
            ("Y", "2026-03-02", "100.00", "EUR", "", "", ""),
        ]),
    );
    let out = run_with(&spec(CLOSEST), &o, &t, &Tables::default());
    let lost: Vec<_> = out
        .matches
        .iter()
        .flat_map(|m| m.runners_up.iter())
        .map(|r| (t.identity(r.theirs[0] as usize), r.score, r.lost_because))
        .collect();
    assert!(
        lost.contains(&("X", Score(900_000), LostBecause::BetterCombination)),
        "{lost:?}"
    );
}

#[test]
fn too_many_competing_candidates_are_assigned_best_first_with_a_warning() {
    // Six items and six lines, all alike: 36 candidates in one set, beyond the search.
    let ids = ["1", "2", "3", "4", "5", "6"];
    let o_rows: Vec<O<'_>> = ids
        .iter()
        .map(|&id| (id, "2026-03-04", "100.00", "EUR", "", "", ""))
        .collect();
    let t_rows: Vec<T<'_>> = ids
        .iter()
        .map(|&id| (id, "2026-03-04", "100.00", "EUR", "", "", ""))
        .collect();
    let (o, t) = (ours(&o_rows), theirs(&t_rows));
    let out = run_with(&spec(CLOSEST), &o, &t, &Tables::default());
    let (m, _, _) = summary(&out, &o, &t);
    let want: Vec<_> = ids
        .iter()
        .map(|id| one("amount_date", &[id], &[id]))
        .collect();
    assert_eq!(m, want);
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("assigned best score first"),
        "{:?}",
        out.warnings
    );
}

const BATCH: &str = r#"
[[passes]]
name = "batch"
grouping = "many_to_one"
group_by = ["counterparty", "value_date", "currency"]
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 1 }
max_group_size = 3
"#;

fn batch_ledger(n: usize) -> Vec<O<'static>> {
    let ids = ["L1", "L2", "L3", "L4", "L5"];
    ids[..n]
        .iter()
        .map(|&id| (id, "2026-03-02", "10.00", "EUR", "", "ACME", ""))
        .collect()
}

#[test]
fn groups_at_the_size_limit_match_and_over_it_only_by_subset() {
    // Three items of 10.00 paid by one line of 30.00: at the limit.
    let o = ours(&batch_ledger(3));
    let t = theirs(&[("S1", "2026-03-03", "30.00", "EUR", "PAYRUN", "", "")]);
    let out = run_with(&spec(BATCH), &o, &t, &Tables::default());
    assert_eq!(
        summary(&out, &o, &t).0,
        vec![one("batch", &["L1", "L2", "L3"], &["S1"])]
    );

    // Four items paid by 40.00: over the limit, no subset of three adds up.
    let o = ours(&batch_ledger(4));
    let t = theirs(&[("S1", "2026-03-03", "40.00", "EUR", "PAYRUN", "", "")]);
    let out = run_with(&spec(BATCH), &o, &t, &Tables::default());
    assert!(out.matches.is_empty());

    // Four items, a line of 20.00: the subset search finds two of them, the first two by
    // identity; the other two are left.
    let t = theirs(&[("S1", "2026-03-03", "20.00", "EUR", "PAYRUN", "", "")]);
    let out = run_with(&spec(BATCH), &o, &t, &Tables::default());
    let (m, uo, _) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("batch", &["L1", "L2"], &["S1"])]);
    assert_eq!(uo.len(), 2);

    // Whole groups only: the group of four is too big and is reported as such.
    let whole = BATCH.replace("max_group_size = 3", "max_group_size = 3\nsubsets = false");
    let t = theirs(&[("S1", "2026-03-03", "40.00", "EUR", "PAYRUN", "", "")]);
    let out = run_with(&spec(&whole), &o, &t, &Tables::default());
    assert!(out.matches.is_empty());
    assert!(
        out.warnings[0].contains("more than 3 items"),
        "{:?}",
        out.warnings
    );
}

#[test]
fn one_to_many_pays_one_invoice_in_instalments() {
    let rules = r#"
[[passes]]
name = "instalments"
grouping = "one_to_many"
group_by = ["name", "currency"]
keys = [{ ours = "counterparty", theirs = "name", normalise = true }]
amount = { ours = "amount", theirs = "amount" }
"#;
    let o = ours(&[(
        "L1",
        "2026-03-02",
        "300.00",
        "EUR",
        "",
        "Acme Trading GmbH",
        "",
    )]);
    let t = theirs(&[
        ("S1", "2026-03-02", "100.00", "EUR", "", "ACME TRADING", ""),
        ("S2", "2026-03-09", "200.00", "EUR", "", "ACME TRADING", ""),
        ("S3", "2026-03-09", "50.00", "EUR", "", "ACME TRADING", ""),
    ]);
    let out = run_with(&spec(rules), &o, &t, &Tables::default());
    let (m, _, ut) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("instalments", &["L1"], &["S1", "S2"])]);
    assert_eq!(ut, vec![("S3".into(), "missing_counterpart")]);
}

/// Instalments quoting the invoice they pay: no group_by, the lines are grouped by the
/// invoice number their remittance quotes (issue 15).
const INSTALMENTS: &str = r#"
[[passes]]
name = "instalments"
grouping = "one_to_many"
keys = [
  { ours = "reference", theirs = "remittance", ours_pattern = 'INV-(\d{9})', theirs_pattern = 'INV-(\d{9})/\d' },
  { ours = "currency", theirs = "currency" },
]
amount = { ours = "amount", theirs = "amount" }
max_group_size = 4
subsets = true
"#;

#[test]
fn a_grouped_pass_without_group_by_groups_by_its_keys() {
    let schema = Schema::of_records();
    let (o, t) = (
        invoice("1000.00"),
        theirs(&[instalment("S1", "2026-03-02", "400.00", 1)]),
    );
    let plan = spec(INSTALMENTS).check(&o.schema(), &t.schema());
    assert!(plan.is_ok(), "{:?}", plan.err());

    // Neither group_by nor keys: nothing says what a group shares.
    let e = spec(
        "[[passes]]\nname = \"p\"\ngrouping = \"one_to_many\"\namount = { ours = \"amount\", theirs = \"amount\" }\n",
    )
    .check(&schema, &schema)
    .unwrap_err();
    assert_eq!(e[0].key, "match.passes[0].group_by");
    assert!(e[0].message.contains("needs group_by or keys"), "{e:?}");

    // many_to_many pairs groups by their group_by values: still required.
    let e = spec(
        "[[passes]]\nname = \"p\"\ngrouping = \"many_to_many\"\nkeys = [{ ours = \"currency\", theirs = \"currency\" }]\namount = { ours = \"amount\", theirs = \"amount\" }\n",
    )
    .check(&schema, &schema)
    .unwrap_err();
    assert_eq!(e[0].key, "match.passes[0].group_by");

    // With group_by, a key still has to be one of the shared fields.
    let e = spec(&INSTALMENTS.replace(
        "max_group_size",
        "group_by = [\"currency\"]\nmax_group_size",
    ))
    .check(&o.schema(), &t.schema())
    .unwrap_err();
    assert_eq!(e[0].key, "match.passes[0].keys[0].theirs");
}

fn invoice(amount: &str) -> Table {
    ours(&[(
        "AR-1",
        "2026-03-02",
        amount,
        "EUR",
        "INV-123456789",
        "ACME",
        "",
    )])
}

fn instalment(id: &'static str, day: &'static str, amount: &'static str, part: u8) -> T<'static> {
    let remittance: &'static str = match part {
        1 => "PAYMENT INV-123456789/1",
        2 => "PAYMENT INV-123456789/2",
        _ => "PAYMENT INV-123456789/3",
    };
    (id, day, amount, "EUR", remittance, "ACME", "")
}

#[test]
fn instalments_quoting_one_invoice_are_one_match() {
    let o = invoice("1000.00");
    let t = theirs(&[
        instalment("S1", "2026-03-02", "400.00", 1),
        instalment("S2", "2026-03-23", "600.00", 2),
        // Another invoice's instalment of the same amount: not in the group.
        (
            "S3",
            "2026-03-23",
            "600.00",
            "EUR",
            "PAYMENT INV-987654321/2",
            "ACME",
            "",
        ),
        // The same invoice in another currency: not in the group either.
        (
            "S4",
            "2026-03-23",
            "600.00",
            "USD",
            "PAYMENT INV-123456789/2",
            "ACME",
            "",
        ),
    ]);
    let out = run_with(&spec(INSTALMENTS), &o, &t, &Tables::default());
    let (m, uo, ut) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("instalments", &["AR-1"], &["S1", "S2"])]);
    assert!(uo.is_empty(), "{uo:?}");
    assert_eq!(ut.len(), 2, "{ut:?}");
}

#[test]
fn instalments_over_the_group_size_or_off_the_total_do_not_match() {
    // Three parts where at most two may make a match.
    let o = invoice("1000.00");
    let t = theirs(&[
        instalment("S1", "2026-03-02", "300.00", 1),
        instalment("S2", "2026-03-16", "300.00", 2),
        instalment("S3", "2026-03-30", "400.00", 3),
    ]);
    let two = INSTALMENTS.replace("max_group_size = 4", "max_group_size = 2");
    let out = run_with(&spec(&two), &o, &t, &Tables::default());
    assert!(out.matches.is_empty(), "{:?}", summary(&out, &o, &t).0);
    // With room for three they are one match.
    let out = run_with(&spec(INSTALMENTS), &o, &t, &Tables::default());
    assert_eq!(
        summary(&out, &o, &t).0,
        vec![one("instalments", &["AR-1"], &["S1", "S2", "S3"])]
    );

    // Two parts that do not add up to the invoice.
    let t = theirs(&[
        instalment("S1", "2026-03-02", "400.00", 1),
        instalment("S2", "2026-03-23", "599.00", 2),
    ]);
    let out = run_with(&spec(INSTALMENTS), &o, &t, &Tables::default());
    assert!(out.matches.is_empty(), "{:?}", summary(&out, &o, &t).0);
}

#[test]
fn many_to_many_pairs_whole_groups_by_their_totals() {
    let rules = r#"
[[passes]]
name = "daily_net"
grouping = "many_to_many"
group_by = ["currency", "value_date"]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date" }
"#;
    let o = ours(&[
        ("L1", "2026-03-02", "10.00", "EUR", "", "", ""),
        ("L2", "2026-03-02", "15.00", "EUR", "", "", ""),
        ("L3", "2026-03-03", "15.00", "EUR", "", "", ""),
    ]);
    let t = theirs(&[
        ("S1", "2026-03-02", "20.00", "EUR", "", "", ""),
        ("S2", "2026-03-02", "5.00", "EUR", "", "", ""),
        ("S3", "2026-03-03", "14.00", "EUR", "", "", ""),
    ]);
    let out = run_with(&spec(rules), &o, &t, &Tables::default());
    let (m, uo, ut) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("daily_net", &["L1", "L2"], &["S1", "S2"])]);
    assert_eq!(uo, vec![("L3".into(), "missing_counterpart")]);
    assert_eq!(ut, vec![("S3".into(), "missing_counterpart")]);
}

#[test]
fn fx_compares_through_the_rate_of_our_date() {
    let rules = r#"
rates = { ecb = "rates.csv" }
[[passes]]
name = "fx"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{3}' }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date" }
fx = { rates = "ecb", tolerance_relative = "0.005" }
"#;
    let mut rates = Rates::new();
    let usd: crate::model::Currency = "USD".parse().unwrap();
    let eur: crate::model::Currency = "EUR".parse().unwrap();
    rates.insert(date("2026-03-01"), usd, eur, "0.90".parse().unwrap());
    rates.insert(date("2026-03-05"), usd, eur, "0.80".parse().unwrap());
    let tables = || Tables {
        rates: vec![("ecb", rates.clone())],
        ..Tables::default()
    };
    // Our 90.00 EUR on 03-02 against their USD: 100 USD is 90 EUR (rate of 03-01);
    // 0.5 % of 90 is 0.45 EUR, i.e. 100.50 USD is 90.45 EUR (in), 100.60 is 90.54 (out).
    let cases = [
        ("2026-03-02", "100.00", true),
        ("2026-03-02", "100.50", true),
        ("2026-03-02", "100.60", false),
        ("2026-03-06", "112.50", true), // the rate of 03-05: 112.50 USD is 90.00 EUR
        ("2026-03-06", "100.00", false),
    ];
    for (day, amount, matched) in cases {
        let o = ours(&[("L1", day, "90.00", "EUR", "INV-001", "", "")]);
        let t = theirs(&[("S1", day, amount, "USD", "INV-001", "", "")]);
        let out = run_with(&spec(rules), &o, &t, &tables());
        assert_eq!(out.matches.len() == 1, matched, "{day} {amount}");
        if matched {
            let e = super::explain::explain(
                &spec(rules).check(&o.schema(), &t.schema()).unwrap().passes[0],
                &out.matches[0],
                &o,
                &t,
                &Context::new(&Calendar::weekends_only()).with_rates("ecb", &tables().rates[0].1),
            );
            assert!(e.amount.unwrap().rate.is_some());
        } else {
            assert_eq!(
                out.unmatched_ours[0].reason,
                UnmatchedReason::AmountDifference
            );
        }
    }
}

/// An invoice in USD paid in EUR: the bank converted at the rate of the payment's day, so
/// that rate (their date) is the one to compare at; `at = "ours"` keeps the invoice day's.
#[test]
fn fx_compares_at_the_statement_lines_date_unless_told_ours() {
    let rules = |at: &str| {
        format!(
            r#"
rates = {{ ecb = "rates.csv" }}
[[passes]]
name = "fx"
keys = [{{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{{3}}' }}]
amount = {{ ours = "amount", theirs = "amount" }}
date = {{ ours = "value_date", theirs = "value_date" }}
fx = {{ rates = "ecb", tolerance_relative = "0.005"{at} }}
"#
        )
    };
    let mut rates = Rates::new();
    let usd: crate::model::Currency = "USD".parse().unwrap();
    let eur: crate::model::Currency = "EUR".parse().unwrap();
    rates.insert(date("2026-03-02"), usd, eur, "0.90".parse().unwrap());
    rates.insert(date("2026-03-10"), usd, eur, "0.92".parse().unwrap());
    let tables = Tables {
        rates: vec![("ecb", rates)],
        ..Tables::default()
    };
    // 1,000.00 USD invoiced on 03-02, 918.50 EUR received on 03-10: 998.37 USD at the
    // payment day's rate (0.16 % off), 1,020.56 USD at the invoice day's (2.1 % off).
    let o = ours(&[("L1", "2026-03-02", "1000.00", "USD", "INV-001", "", "")]);
    let t = theirs(&[("S1", "2026-03-10", "918.50", "EUR", "INV-001", "", "")]);
    for (at, matched) in [
        ("", true),
        (", at = \"theirs\"", true),
        (", at = \"ours\"", false),
    ] {
        let out = run_with(&spec(&rules(at)), &o, &t, &tables);
        assert_eq!(out.matches.len(), usize::from(matched), "at {at:?}");
        if matched {
            let e = super::explain::explain(
                &spec(&rules(at))
                    .check(&o.schema(), &t.schema())
                    .unwrap()
                    .passes[0],
                &out.matches[0],
                &o,
                &t,
                &Context::new(&Calendar::weekends_only()).with_rates("ecb", &tables.rates[0].1),
            );
            let rate = e.amount.unwrap().rate.unwrap();
            let one = rust_decimal::Decimal::ONE;
            assert_eq!(rate, one / "0.92".parse::<rust_decimal::Decimal>().unwrap());
        } else {
            assert_eq!(
                out.unmatched_ours[0].reason,
                UnmatchedReason::AmountDifference
            );
        }
    }
    assert!(toml::from_str::<MatchSpec>(&rules(", at = \"bank\"")).is_err());
}

#[test]
fn mapping_tables_translate_our_values() {
    let rules = r#"
maps = { accounts = "accounts.csv" }
[[passes]]
name = "by_account"
keys = [{ ours = "account", theirs = "iban", map = "accounts" }]
amount = { ours = "amount", theirs = "amount" }
"#;
    let mut map = ValueMap::new();
    map.insert("1200", "DE89370400440532013000")
        .insert("1200", "DE02120300000000202051");
    let tables = Tables {
        maps: vec![("accounts", map)],
        ..Tables::default()
    };
    let o = ours(&[
        ("L1", "2026-03-02", "10.00", "EUR", "", "", "1200"),
        ("L2", "2026-03-02", "20.00", "EUR", "", "", "1300"),
    ]);
    let t = theirs(&[
        (
            "S1",
            "2026-03-02",
            "10.00",
            "EUR",
            "",
            "",
            "DE02120300000000202051",
        ),
        ("S2", "2026-03-02", "20.00", "EUR", "", "", "1300"),
    ]);
    let out = run_with(&spec(rules), &o, &t, &tables);
    let (m, uo, _) = summary(&out, &o, &t);
    // 1300 is not in the table: it agrees with nothing, not even "1300".
    assert_eq!(m, vec![one("by_account", &["L1"], &["S1"])]);
    assert_eq!(uo, vec![("L2".into(), "missing_counterpart")]);
}

#[test]
fn pattern_keys_take_the_capture_group_and_any_of_several_references() {
    let rules = r#"
[[passes]]
name = "ref"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'REF:(INV-\d{3})' }]
amount = { ours = "amount", theirs = "amount" }
"#;
    let o = ours(&[
        ("L1", "2026-03-02", "10.00", "EUR", "INV-001", "", ""),
        ("L2", "2026-03-02", "20.00", "EUR", "INV-002", "", ""),
        ("L3", "2026-03-02", "30.00", "EUR", "INV-003", "", ""),
    ]);
    let t = theirs(&[
        (
            "S1",
            "2026-03-02",
            "10.00",
            "EUR",
            "REF:INV-009 REF:INV-001",
            "",
            "",
        ),
        (
            "S2",
            "2026-03-02",
            "20.00",
            "EUR",
            "INV-002 without its prefix",
            "",
            "",
        ),
        ("S3", "2026-03-02", "30.00", "EUR", "ref:inv-003", "", ""),
    ]);
    let out = run_with(&spec(rules), &o, &t, &Tables::default());
    let (m, _, _) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("ref", &["L1"], &["S1"])]);
    let e = super::explain::explain(
        &spec(rules).check(&o.schema(), &t.schema()).unwrap().passes[0],
        &out.matches[0],
        &o,
        &t,
        &Context::new(&Calendar::weekends_only()),
    );
    assert_eq!(e.keys[0].agreed_on, vec!["INV-001".to_owned()]);
    assert_eq!(e.keys[0].method, "pattern");
}

#[test]
fn passes_run_in_order_and_never_reuse_an_item() {
    let rules = format!(
        "{BY_REFERENCE}{}",
        r#"
[[passes]]
name = "amount_date"
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 2 }
"#
    );
    let o = ours(&[
        ("L1", "2026-03-02", "40.00", "EUR", "INV-001", "", ""),
        ("L2", "2026-03-02", "40.00", "EUR", "INV-002", "", ""),
    ]);
    let t = theirs(&[("S1", "2026-03-02", "40.00", "EUR", "INV-001", "", "")]);
    let out = run_with(&spec(&rules), &o, &t, &Tables::default());
    let (m, uo, _) = summary(&out, &o, &t);
    assert_eq!(m, vec![one("reference", &["L1"], &["S1"])]);
    assert_eq!(uo, vec![("L2".into(), "missing_counterpart")]);
}

#[test]
fn the_short_form_parses_into_the_classic_three_passes() {
    let s = spec("reference_pattern = 'INV-\\d{3}'\nwindow_business_days = 2\n");
    let schema = Schema::of_records();
    let plan = s.check(&schema, &schema).unwrap();
    assert_eq!(
        plan.pass_names().collect::<Vec<_>>(),
        ["reference", "amount_date", "batch"]
    );
    assert_eq!(plan.widest_window(), 2);
    let both = spec(
        "reference_pattern = 'X'\n[[passes]]\nname = \"p\"\namount = { ours = \"amount\", theirs = \"amount\" }\n",
    );
    let e = both.check(&schema, &schema).unwrap_err();
    assert_eq!(e[0].key, "match.reference_pattern");
    let bad = spec("reference_pattern = '('\n");
    assert_eq!(
        bad.check(&schema, &schema).unwrap_err()[0].key,
        "match.reference_pattern"
    );
}

#[test]
fn rule_errors_name_their_key() {
    let schema = Schema::of_records();
    let cases = [
        (
            "[[passes]]\nname = \"p\"\nkeys = [{ ours = \"nope\", theirs = \"currency\" }]\n",
            "match.passes[0].keys[0].ours",
        ),
        (
            "[[passes]]\nname = \"p\"\ngrouping = \"many_to_one\"\namount = { ours = \"amount\", theirs = \"amount\" }\n",
            "match.passes[0].group_by",
        ),
        (
            "[[passes]]\nname = \"p\"\namount = { ours = \"amount\", theirs = \"amount\", relative = \"1.5\" }\n",
            "match.passes[0].amount.relative",
        ),
        (
            "[[passes]]\nname = \"p\"\nkeys = [{ ours = \"account\", theirs = \"account\", map = \"m\" }]\n",
            "match.passes[0].keys[0].map",
        ),
    ];
    for (text, key) in cases {
        let e = spec(text).check(&schema, &schema).unwrap_err();
        assert_eq!(e[0].key, key, "{text}");
    }
    let e = toml::from_str::<MatchSpec>(
        "[[passes]]\nname = \"p\"\namount = { ours = \"amount\", theirs = \"amount\", tolerance = 0.1 }\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("write decimals as strings"), "{e}");
}

#[test]
fn mapping_and_rates_files_parse() {
    let m = ValueMap::parse_csv("ours,theirs\n1200,DE89\n1200,DE02\n").unwrap();
    assert_eq!(m.get("1200"), ["DE89", "DE02"]);
    assert!(
        ValueMap::parse_csv("a,b\n")
            .unwrap_err()
            .contains("no column")
    );
    let r = Rates::parse_csv("date,from,to,rate\n2026-03-02,USD,EUR,0.92\n").unwrap();
    let usd = "USD".parse().unwrap();
    let eur = "EUR".parse().unwrap();
    assert_eq!(
        r.rate(date("2026-03-09"), usd, eur),
        Some("0.92".parse().unwrap())
    );
    assert_eq!(r.rate(date("2026-03-01"), usd, eur), None);
    assert!(Rates::parse_csv("date,from,to,rate\n2026-03-02,USD,EUR,-1\n").is_err());
}

/// A generated row: (amount, day, reference) as small numbers.
type Gen = (u8, u8, u8);

/// A random reconciliation: amounts from a small set so that candidates compete.
fn world() -> impl Strategy<Value = (Vec<Gen>, Vec<Gen>)> {
    let row = (0u8..4, 0u8..5, 0u8..6); // (amount, day, reference)
    (
        proptest::collection::vec(row.clone(), 0..24),
        proptest::collection::vec(row, 0..24),
    )
}

const MIXED: &str = r#"
[[passes]]
name = "reference"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{3}' }]
amount = { ours = "amount", theirs = "amount", tolerance = "1" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 3 }

[[passes]]
name = "amount_date"
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 2 }

[[passes]]
name = "batch"
grouping = "many_to_one"
group_by = ["value_date", "currency"]
keys = [{ ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date", window_business_days = 1 }
max_group_size = 3
"#;

fn tables_of(
    o: &[(u8, u8, u8)],
    t: &[(u8, u8, u8)],
    order: &[usize],
    order_t: &[usize],
) -> (Table, Table) {
    tables_stored(o, t, order, order_t, TextStorage::Dictionary)
}

fn tables_stored(
    o: &[(u8, u8, u8)],
    t: &[(u8, u8, u8)],
    order: &[usize],
    order_t: &[usize],
    storage: TextStorage,
) -> (Table, Table) {
    // Columns declared up front: an empty side still has its fields.
    let declare = |b: &mut TableBuilder, text: &str| {
        b.date_column("value_date").unwrap();
        b.decimal_column("amount").unwrap();
        b.currency_column("currency").unwrap();
        b.text_column(text, storage).unwrap();
    };
    let mut b = TableBuilder::new();
    declare(&mut b, "reference");
    for &i in order {
        let (a, d, r) = o[i];
        b.add_date(
            "value_date",
            date("2026-03-02") + chrono::Days::new(u64::from(d)),
        )
        .add_decimal("amount", rust_decimal::Decimal::from(10 + i64::from(a)))
        .add_currency("currency", "EUR".parse().unwrap())
        .add_text("reference", &format!("INV-00{r}"));
        b.push_row(&format!("L{i:02}"));
    }
    let ot = b.finish().unwrap();
    let mut b = TableBuilder::new();
    declare(&mut b, "remittance");
    for &i in order_t {
        let (a, d, r) = t[i];
        b.add_date(
            "value_date",
            date("2026-03-02") + chrono::Days::new(u64::from(d)),
        )
        .add_decimal("amount", rust_decimal::Decimal::from(10 + i64::from(a)))
        .add_currency("currency", "EUR".parse().unwrap())
        .add_text("remittance", &format!("PAY INV-00{r}"));
        b.push_row(&format!("S{i:02}"));
    }
    (ot, b.finish().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_item_is_used_twice_and_order_does_not_matter(
        (o, t) in world(),
        seed in any::<u64>(),
    ) {
        let forward: Vec<usize> = (0..o.len()).collect();
        let forward_t: Vec<usize> = (0..t.len()).collect();
        // A shuffle from the seed (a deterministic permutation).
        let shuffle = |n: usize, salt: u64| {
            let mut v: Vec<usize> = (0..n).collect();
            v.sort_by_key(|&i| (i as u64 ^ seed ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            v
        };
        let s = spec(MIXED);
        let (a_o, a_t) = tables_of(&o, &t, &forward, &forward_t);
        let (b_o, b_t) = tables_of(&o, &t, &shuffle(o.len(), 1), &shuffle(t.len(), 2));
        let a = run_with(&s, &a_o, &a_t, &Tables::default());
        let b = run_with(&s, &b_o, &b_t, &Tables::default());

        let mut used_o = std::collections::HashSet::new();
        let mut used_t = std::collections::HashSet::new();
        for m in &a.matches {
            for &r in m.ours.iter() { prop_assert!(used_o.insert(r), "ledger row {} twice", r); }
            for &r in m.theirs.iter() { prop_assert!(used_t.insert(r), "bank row {} twice", r); }
        }
        prop_assert_eq!(used_o.len() + a.unmatched_ours.len(), o.len());
        prop_assert_eq!(used_t.len() + a.unmatched_theirs.len(), t.len());
        prop_assert_eq!(summary(&a, &a_o, &a_t), summary(&b, &b_o, &b_t));
        // Text stored plain (no dictionary) gives the same outcome.
        let (c_o, c_t) = tables_stored(&o, &t, &shuffle(o.len(), 3), &forward_t, TextStorage::Plain);
        let c = run_with(&s, &c_o, &c_t, &Tables::default());
        prop_assert_eq!(summary(&a, &a_o, &a_t), summary(&c, &c_o, &c_t));
    }
}

/// A pass within the statement, then the reference pass against the books.
const RETURNS_THEN_REFERENCE: &str = r#"
[[passes]]
name = "returns"
within = "statement"
keys = [{ ours = "remittance", theirs = "remittance", ours_pattern = 'INV-\d{9}', theirs_pattern = 'INV-\d{9}' },
        { ours = "currency", theirs = "currency" }]
amount = { ours = "amount", theirs = "amount", opposite_sign = true }
date = { ours = "value_date", theirs = "value_date", window_business_days = 10 }

[[passes]]
name = "reference"
keys = [{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{9}' }]
amount = { ours = "amount", theirs = "amount" }
date = { ours = "value_date", theirs = "value_date" }
"#;

#[test]
fn a_return_pairs_with_the_payment_before_it_and_the_invoice_takes_the_repayment_in_any_order() {
    let s = spec(RETURNS_THEN_REFERENCE);
    let o = ours(&[(
        "1",
        "2026-03-02",
        "500.00",
        "EUR",
        "INV-000000001",
        "ACME",
        "",
    )]);
    let lines = [
        (
            "BK1",
            "2026-03-02",
            "500.00",
            "EUR",
            "PAYMENT INV-000000001",
            "",
            "",
        ),
        (
            "BK2",
            "2026-03-04",
            "-500.00",
            "EUR",
            "RETURN AC04 INV-000000001",
            "",
            "",
        ),
        // The re-payment is closer to the return than the payment was: still not its pair.
        (
            "BK3",
            "2026-03-05",
            "500.00",
            "EUR",
            "PAYMENT INV-000000001",
            "",
            "",
        ),
    ];
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let t = theirs(&order.map(|i| lines[i]));
        let out = run_with(&s, &o, &t, &Tables::default());
        let (matches, ours_left, theirs_left) = summary(&out, &o, &t);
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            matches,
            [
                ("reference".to_string(), ids(&["1"]), ids(&["BK3"])),
                ("returns".to_string(), ids(&[]), ids(&["BK1", "BK2"])),
            ],
            "{order:?}"
        );
        assert!(ours_left.is_empty() && theirs_left.is_empty(), "{order:?}");
        // The pair is given payment first, then its return.
        let pair = out.matches.iter().find(|m| m.ours.is_empty()).unwrap();
        let first = t.identity(pair.theirs[0] as usize);
        assert_eq!(first, "BK1", "{order:?}");
    }
}

#[test]
fn a_return_outside_the_window_or_of_another_invoice_is_not_a_pair() {
    let s = spec(RETURNS_THEN_REFERENCE);
    let o = ours(&[("9", "2026-03-02", "1.00", "EUR", "INV-999999999", "", "")]);
    let t = theirs(&[
        (
            "BK1",
            "2026-03-02",
            "500.00",
            "EUR",
            "PAYMENT INV-000000001",
            "",
            "",
        ),
        (
            "BK2",
            "2026-03-04",
            "-500.00",
            "EUR",
            "RETURN INV-000000002",
            "",
            "",
        ),
        (
            "BK3",
            "2026-04-30",
            "-500.00",
            "EUR",
            "RETURN INV-000000001",
            "",
            "",
        ),
    ]);
    let out = run_with(&s, &o, &t, &Tables::default());
    assert!(out.matches.is_empty(), "{:?}", out.matches);
    assert_eq!(out.unmatched_theirs.len(), 3);
}

#[test]
fn a_pass_within_the_statement_is_refused_after_one_against_the_books_or_without_opposite_sign() {
    let o = ours(&[]);
    let t = theirs(&[]);
    let after = RETURNS_THEN_REFERENCE
        .split("[[passes]]")
        .collect::<Vec<_>>();
    let swapped = format!("[[passes]]{}[[passes]]{}", after[2], after[1]);
    let errs = spec(&swapped).check(&o.schema(), &t.schema()).unwrap_err();
    assert!(
        errs.iter().any(|e| e.key == "match.passes[1].within"),
        "{errs:?}"
    );
    let same_sign = RETURNS_THEN_REFERENCE.replacen(", opposite_sign = true", "", 1);
    let errs = spec(&same_sign)
        .check(&o.schema(), &t.schema())
        .unwrap_err();
    assert!(
        errs.iter().any(|e| e.key == "match.passes[0].amount"),
        "{errs:?}"
    );
}

#[test]
fn an_invoice_paid_in_part_is_reported_with_its_parts_paid_and_open_remainder() {
    let s = spec(
        r#"
[[passes]]
name = "instalments"
grouping = "one_to_many"
keys = [{ ours = "reference", theirs = "remittance", ours_pattern = 'INV-(\d{9})', theirs_pattern = 'INV-(\d{9})/\d' }]
amount = { ours = "amount", theirs = "amount" }
partial = { window_business_days = 20 }
"#,
    );
    let o = ours(&[
        ("1", "2026-03-02", "1000.00", "EUR", "INV-123456789", "", ""),
        ("2", "2026-03-02", "300.00", "EUR", "INV-222222222", "", ""),
    ]);
    let t = theirs(&[
        (
            "BK1",
            "2026-03-02",
            "400.00",
            "EUR",
            "INV-123456789/1",
            "",
            "",
        ),
        (
            "BK2",
            "2026-03-09",
            "100.00",
            "EUR",
            "INV-123456789/2",
            "",
            "",
        ),
        (
            "BK3",
            "2026-03-09",
            "300.00",
            "EUR",
            "INV-222222222/1",
            "",
            "",
        ),
    ]);
    let out = run_with(&s, &o, &t, &Tables::default());
    assert_eq!(out.part_paid.len(), 1, "{:?}", out.part_paid);
    let pp = &out.part_paid[0];
    assert_eq!(o.identity(pp.row as usize), "1");
    let mut parts: Vec<&str> = pp.parts.iter().map(|&r| t.identity(r as usize)).collect();
    parts.sort();
    assert_eq!(parts, ["BK1", "BK2"]);
    assert_eq!(pp.paid, "500.00".parse().unwrap());
    assert_eq!(pp.open, "500.00".parse().unwrap());
    assert_eq!(pp.window_business_days, 20);
    // Invoice 2, paid in full by one line, is not a part payment.
    assert!(
        out.part_paid
            .iter()
            .all(|p| o.identity(p.row as usize) != "2")
    );
}

#[test]
fn the_window_of_a_pass_within_the_statement_does_not_make_ledger_items_wait() {
    let o = ours(&[("9", "2026-03-02", "1.00", "EUR", "INV-999999999", "", "")]);
    let t = theirs(&[("BK1", "2026-03-02", "1.00", "EUR", "INV-999999999", "", "")]);
    let plan = spec(RETURNS_THEN_REFERENCE)
        .check(&o.schema(), &t.schema())
        .unwrap();
    assert_eq!(plan.widest_window(), 0);
}
