//! Runs by key against runs over everything: two installs with the shipped ledger import and
//! bank reconciliation, real SQLite stores and real files, take the same files and the same
//! hands-on work (a break resolved, two items matched by hand); one matches by key, the other
//! over all open items every time. Their stores must agree after every step: the same
//! records open, the same matches with the same explanations, the same entries, the same
//! breaks with the same words, the same runs.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use crate::config::{Config, Job};
use crate::daemon::pipeline::{self, FileOutcome};
use crate::ingest::Claimed;
use crate::jobs::{self, workflow};
use crate::reconcile::backlog::RunCounts;
use crate::store::{self, Store, Trigger};

const CONFIG: &str = r#"
[daemon]
jobs = "jobs"
state = "var"
timezone = "Europe/Berlin"
# Files here come seconds apart on a made-up clock: breaks open at once unless a test holds
# items back itself (`Install::with_grace`).
break_grace = "0s"

[mail]
from = "clerk@example.com"

[calendars.default]
weekend = ["Sat", "Sun"]
holidays = ["2026-03-06"]

[mailboxes.back-office]
kind = "maildir"
path = "var/mail/back-office"
"#;

const BANK: &str = "bank-reconciliation";
/// A second reconciliation of the same book (card settlements): the two take each other's
/// ledger items, and their breaks and matches are changes the other must see.
const CARD: &str = "card-reconciliation";

struct Install {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: Config,
    store: Box<dyn Store>,
    files: u32,
}

impl Install {
    /// An install with the shipped ledger import and bank reconciliation; `full` makes every
    /// run of the reconciliation go over all open items.
    fn new(full: bool) -> Install {
        Install::with_rules(full, None)
    }

    /// As `new`, with unmatched items held back for `grace` (`break_grace`).
    fn with_grace(full: bool, grace: &str) -> Install {
        Install::build(full, None, grace)
    }

    /// As `new`, with the reconciliations' `[match]` table replaced by `rules`.
    fn with_rules(full: bool, rules: Option<&str>) -> Install {
        Install::build(full, rules, "0s")
    }

    fn build(full: bool, rules: Option<&str>, grace: &str) -> Install {
        // Commits are fsynced: on a memory file system when there is one.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::create_dir_all(root.join("in")).unwrap();
        std::fs::write(
            root.join("config/clerk.toml"),
            CONFIG.replace(
                "break_grace = \"0s\"",
                &format!("break_grace = \"{grace}\""),
            ),
        )
        .unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
        std::fs::copy(
            shipped.join("ledger-import.toml"),
            root.join("jobs/ledger-import.toml"),
        )
        .unwrap();
        let mut bank = std::fs::read_to_string(shipped.join("bank-reconciliation.toml")).unwrap();
        if let Some(rules) = rules {
            let (start, end) = (
                bank.find("\n[match]\n").unwrap(),
                bank.find("\n[posting]").unwrap(),
            );
            bank = format!("{}\n{rules}\n{}", &bank[..start], &bank[end..]);
        }
        std::fs::write(root.join("jobs/bank-reconciliation.toml"), &bank).unwrap();
        let mail = bank.find("\n[mail]").unwrap();
        let mail_end = mail + bank[mail..].find("\n\n").unwrap();
        let card = format!("{}{}", &bank[..mail], &bank[mail_end..])
            .replace("var/inbox/bank", "var/inbox/card");
        std::fs::write(root.join("jobs/card-reconciliation.toml"), card).unwrap();
        let config = crate::config::load(&root.join("config/clerk.toml")).unwrap();
        if full {
            for job in [BANK, CARD] {
                rules_of(&config, job).backlog.full_runs_only();
            }
        }
        let store = store::open(&config.settings.store_path).unwrap();
        Install {
            _dir: dir,
            root,
            config,
            store,
            files: 0,
        }
    }

    fn job(&self, name: &str) -> Job {
        self.config.job(name).unwrap().clone()
    }

    /// Processes `content` as a file of `job`, as the daemon does.
    fn process(&mut self, job: &str, content: &str, at: DateTime<Utc>) -> FileOutcome {
        self.files += 1;
        let name = format!("f{}.csv", self.files);
        let path = self.root.join("in").join(&name);
        std::fs::write(&path, content).unwrap();
        let claimed = Claimed {
            path,
            name,
            arrived_at: at,
            origin: None,
        };
        let job = self.job(job);
        pipeline::process_file(
            &self.config,
            self.store.as_mut(),
            &job,
            &claimed,
            Trigger::File,
            false,
            || at,
        )
        .unwrap()
    }

    fn runs(&self) -> RunCounts {
        rules_of(&self.config, BANK).backlog.runs()
    }

    fn card_runs(&self) -> RunCounts {
        rules_of(&self.config, CARD).backlog.runs()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            &self.config.settings.store_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// The unresolved breaks about records of `side`, by the records' identities (the same in
    /// both installs, unlike the ids).
    fn open_breaks(&self, side: &str) -> Vec<i64> {
        let db = self.db();
        let mut s = db
            .prepare(
                "SELECT b.id FROM breaks b JOIN records r ON r.id = b.record_id
                 WHERE b.status != 'resolved' AND r.side = ?1
                 ORDER BY r.identity, b.job, b.id",
            )
            .unwrap();
        s.query_map([side], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Everything the two ways of running must agree on, without ids or times.
    fn dump(&self) -> Vec<String> {
        let db = self.db();
        let rows = |sql: &str| -> Vec<String> {
            let mut s = db.prepare(sql).unwrap();
            let n = s.column_count();
            let mut out: Vec<String> = s
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => "∅".to_owned(),
                            rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                            rusqlite::types::ValueRef::Real(v) => v.to_string(),
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                String::from_utf8_lossy(t).into_owned()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" | "))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            out.sort();
            out
        };
        let mut d = Vec::new();
        d.push("-- records".to_owned());
        d.extend(rows(
            "SELECT scope, side, identity, version, match_id IS NOT NULL, out_of_matching,
                    replaced_by IS NOT NULL FROM records",
        ));
        d.push("-- matches".to_owned());
        d.extend(rows(
            "SELECT m.job, m.pass, m.explanation, m.actor, m.reason,
                    (SELECT group_concat(identity, ' + ') FROM
                        (SELECT identity FROM records r WHERE r.match_id = m.id ORDER BY identity))
             FROM matches m",
        ));
        d.push("-- entries".to_owned());
        d.extend(rows(
            "SELECT e.idempotency_key, e.job, e.posting_date, e.narrative,
                    (SELECT group_concat(account || ' ' || currency || ' ' || amount, '; ') FROM
                        (SELECT * FROM entry_lines l WHERE l.entry_id = e.id ORDER BY line_no))
             FROM entries e",
        ));
        d.push("-- breaks".to_owned());
        d.extend(rows(
            "SELECT b.job, b.reason, b.status, b.detail, b.amount, b.currency, b.difference,
                    b.since, b.owner, r.identity, b.source, b.resolution, b.subject
             FROM breaks b LEFT JOIN records r ON r.id = b.record_id",
        ));
        d.push("-- break history".to_owned());
        d.extend(rows(
            "SELECT r.identity, h.actor, h.action, h.detail
             FROM break_history h JOIN breaks b ON b.id = h.break_id
             LEFT JOIN records r ON r.id = b.record_id",
        ));
        d.push("-- runs".to_owned());
        // In order: the n-th run of each install did the same.
        let mut s = db
            .prepare(
                "SELECT job, trigger, status, records_in, records_known, matched, entries_posted,
                        breaks_opened, breaks_closed, records_changed, records_withdrawn
                 FROM runs ORDER BY id",
            )
            .unwrap();
        d.extend(
            s.query_map([], |r| {
                Ok(format!(
                    "{} {} {} in {} known {} matched {} posted {} opened {} closed {} changed {} withdrawn {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap),
        );
        d
    }
}

fn rules_of<'c>(config: &'c Config, job: &str) -> &'c crate::reconcile::CashRules {
    jobs::cash::rules_of(config.job(job).unwrap()).expect("the bank job reconciles cash")
}

const AMOUNTS: [&str; 9] = [
    "10.00", "20.00", "30.00", "12.50", "7.5", "45.00", "5.125", "100.00", "-20.00",
];
const PARTIES: [&str; 3] = ["ACME TRADING", "BOLT GMBH", "CORE SA"];

fn day(d: u8) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + Duration::days(i64::from(d))
}

fn reference(n: u8) -> String {
    format!("INV-{:09}", u32::from(n) + 1)
}

#[derive(Clone, Debug)]
struct Item {
    id: u8,
    amount: u8,
    reference: u8,
    party: u8,
    day: u8,
    usd: bool,
}

#[derive(Clone, Debug)]
enum Remittance {
    One(u8),
    Two(u8, u8),
    Nothing,
    PayRun(u8),
}

#[derive(Clone, Debug)]
struct Line {
    bank: u8,
    amount: u8,
    /// A second amount the line's adds up with (a line paying two items).
    plus: Option<u8>,
    remittance: Remittance,
    day: u8,
    usd: bool,
}

#[derive(Clone, Debug)]
enum Step {
    Ledger(Vec<Item>),
    /// A statement for the bank reconciliation, or (true) for the card one.
    Statement(Vec<Line>, bool),
    /// A person resolves the n-th open break (as they come by record identity).
    Resolve(u8),
    /// A person matches the n-th ledger break with the m-th statement break.
    Force(u8, u8),
    /// The daemon wakes for the items held back whose grace period has ended.
    Wake,
}

fn ledger_csv(items: &[Item]) -> String {
    let mut s = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    for i in items {
        s.push_str(&format!(
            "L{},CASH-01,{},{},{},{},{}\n",
            i.id,
            day(i.day),
            AMOUNTS[i.amount as usize],
            if i.usd { "USD" } else { "EUR" },
            reference(i.reference),
            PARTIES[i.party as usize],
        ));
    }
    s
}

fn statement_csv(lines: &[Line]) -> String {
    let mut s =
        String::from("booking_date,value_date,amount,currency,bank_reference,remittance_info\n");
    for l in lines {
        let remittance = match &l.remittance {
            Remittance::One(r) => format!("PAYMENT {}", reference(*r)),
            Remittance::Two(a, b) => format!("{} AND {}", reference(*a), reference(*b)),
            Remittance::Nothing => "TRANSFER".to_owned(),
            Remittance::PayRun(p) => format!("PAYRUN {}", PARTIES[*p as usize]),
        };
        let amount = |i: u8| {
            AMOUNTS[i as usize]
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        };
        let total = amount(l.amount) + l.plus.map_or(rust_decimal::Decimal::ZERO, amount);
        s.push_str(&format!(
            "{d},{d},{total},{},BK{},{remittance}\n",
            if l.usd { "USD" } else { "EUR" },
            l.bank,
            d = day(l.day),
        ));
    }
    s
}

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

fn at(n: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 12, 9, 0, 0).unwrap() + Duration::seconds(n as i64)
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

/// A ledger file of `n` items nobody pays (amounts and references of their own).
fn backlog_csv(n: usize) -> String {
    let mut s = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    for k in 0..n {
        s.push_str(&format!(
            "B{k},CASH-01,2026-03-02,{}.{:02},EUR,INV-{:09},PARTY {k}\n",
            5000 + k,
            k % 100,
            500_000 + k
        ));
    }
    s
}

#[test]
fn a_new_files_records_are_matched_against_the_items_found_by_their_keys() {
    let mut i = Install::new(false);
    i.process("ledger-import", &backlog_csv(3000), at(0));
    i.process(
        "ledger-import",
        &ledger_csv(&[
            Item {
                id: 1,
                amount: 0,
                reference: 0,
                party: 0,
                day: 0,
                usd: false,
            },
            Item {
                id: 2,
                amount: 3,
                reference: 1,
                party: 1,
                day: 0,
                usd: false,
            },
        ]),
        at(1),
    );
    let before = i.runs();
    let outcome = i.process(
        BANK,
        &statement_csv(&[
            Line {
                bank: 1,
                amount: 0,
                plus: None,
                remittance: Remittance::One(0),
                day: 0,
                usd: false,
            },
            Line {
                bank: 2,
                amount: 3,
                plus: None,
                remittance: Remittance::Nothing,
                day: 1,
                usd: false,
            },
        ]),
        at(2),
    );
    let FileOutcome::Processed { summary, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(summary.contains("4 matched"), "{summary}");
    let after = i.runs();
    assert_eq!(after.by_key, before.by_key + 1, "{after:?}");
    assert_eq!(after.full, before.full);
    // The two lines and the two items they pay: not the 3,000 open beside them.
    assert_eq!(after.last_items, 4, "{after:?}");
}

#[test]
fn a_group_that_loses_members_to_an_earlier_pass_finds_the_line_paying_the_rest() {
    // ACME owes 10.00, 20.00 and 5.125 on one day; a bank line of 15.125 pays two of them
    // ("PAYRUN"), but the three together are 35.125: no batch yet.
    let items = [
        Item {
            id: 1,
            amount: 0,
            reference: 0,
            party: 0,
            day: 0,
            usd: false,
        },
        Item {
            id: 2,
            amount: 1,
            reference: 1,
            party: 0,
            day: 0,
            usd: false,
        },
        Item {
            id: 3,
            amount: 6,
            reference: 2,
            party: 0,
            day: 0,
            usd: false,
        },
    ];
    let payrun = "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
                  2026-03-02,2026-03-02,15.125,EUR,BK7,PAYRUN ACME\n";
    // Then the 20.00 is paid by reference: what is left of the group is 15.125, the line
    // waiting since the first file, which shares no key with anything in the new one.
    let paid = statement_csv(&[Line {
        bank: 8,
        amount: 1,
        plus: None,
        remittance: Remittance::One(1),
        day: 0,
        usd: false,
    }]);
    let mut by_key = Install::new(false);
    let mut full = Install::new(true);
    for i in [&mut by_key, &mut full] {
        i.process("ledger-import", &ledger_csv(&items), at(0));
        i.process(BANK, payrun, at(1));
        i.process(BANK, &paid, at(2));
    }
    assert_eq!(by_key.dump(), full.dump());
    let batches: i64 = by_key
        .db()
        .query_row(
            "SELECT COUNT(*) FROM matches WHERE pass = 'batch'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(batches, 1);
    assert_eq!(by_key.runs().full, 1, "{:?}", by_key.runs());
}

#[test]
fn an_item_matched_by_hand_leaves_its_group_to_pair_with_the_line_paying_the_rest() {
    let acme = |id, amount, reference| Item {
        id,
        amount,
        reference,
        party: 0,
        day: 0,
        usd: false,
    };
    // ACME owes 10.00, 20.00 and 5.125 on one day; a line of 15.125 pays two of them.
    let items = [acme(1, 0, 0), acme(2, 1, 1), acme(3, 6, 2)];
    let payrun = "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
                  2026-03-02,2026-03-02,15.125,EUR,BK7,PAYRUN ACME\n";
    // A week later a line of 20.00 without a reference: too late for the amount and date
    // pass; the items fall due and get their breaks.
    let late = |bank, amount| {
        statement_csv(&[Line {
            bank,
            amount,
            plus: None,
            remittance: Remittance::Nothing,
            day: 7,
            usd: false,
        }])
    };
    let mut by_key = Install::new(false);
    let mut full = Install::new(true);
    for i in [&mut by_key, &mut full] {
        i.process("ledger-import", &ledger_csv(&items), at(0));
        i.process(BANK, payrun, at(1));
        i.process(BANK, &late(8, 1), at(2));
        // Someone matches the 20.00 item with that line by hand.
        let item = i.open_breaks("ledger")[1];
        let line = *i.open_breaks("statement").last().unwrap();
        workflow::force_match(
            &i.config,
            i.store.as_mut(),
            &[item, line],
            "paid late, confirmed by the customer",
            "tester",
            None,
            at(3),
        )
        .unwrap();
        // The next file, about something else: what is left of ACME's group is 15.125.
        i.process(BANK, &late(9, 5), at(4));
    }
    assert_eq!(by_key.dump(), full.dump());
    let batches: i64 = by_key
        .db()
        .query_row(
            "SELECT COUNT(*) FROM matches WHERE pass = 'batch'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(batches, 1);
    assert_eq!(by_key.runs().full, 1, "{:?}", by_key.runs());
}

#[test]
fn an_unmatched_line_is_held_back_for_its_grace_and_its_counterpart_never_makes_a_break() {
    // Two bank lines: one the ledger export ten seconds later pays, one nobody pays.
    let lines = statement_csv(&[
        Line {
            bank: 1,
            amount: 0,
            plus: None,
            remittance: Remittance::One(0),
            day: 0,
            usd: false,
        },
        Line {
            bank: 2,
            amount: 5,
            plus: None,
            remittance: Remittance::Nothing,
            day: 0,
            usd: false,
        },
    ]);
    let paid = ledger_csv(&[Item {
        id: 1,
        amount: 0,
        reference: 0,
        party: 0,
        day: 0,
        usd: false,
    }]);
    let wake = |i: &mut Install, when| {
        let job = i.job(BANK);
        jobs::cash::reconcile_due(
            i.store.as_mut(),
            &job,
            jobs::cash::Hold::of(&job),
            Trigger::Due,
            &|| when,
        )
        .unwrap()
    };
    let mut by_key = Install::with_grace(false, "60s");
    let mut full = Install::with_grace(true, "60s");
    for i in [&mut by_key, &mut full] {
        let FileOutcome::Processed { summary, .. } = i.process(BANK, &lines, at(0)) else {
            panic!("not processed");
        };
        assert!(summary.contains("0 breaks opened"), "{summary}");
        let FileOutcome::Processed { summary, .. } = i.process("ledger-import", &paid, at(10))
        else {
            panic!("not processed");
        };
        assert!(summary.contains("0 breaks opened"), "{summary}");
        // Within the grace the daemon's look changes nothing and leaves no run.
        let runs = i
            .db()
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .unwrap();
        assert!(wake(i, at(59)).is_none());
        assert_eq!(
            i.db()
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            runs
        );
        assert!(i.open_breaks("statement").is_empty());
        // At its end the unpaid line is a break, dated from when its file was recorded.
        let (_, out) = wake(i, at(60)).expect("a run");
        assert_eq!((out.breaks_opened, out.matched), (1, 0));
        let (trigger, opened_at, breaks): (String, String, i64) = i
            .db()
            .query_row(
                "SELECT r.trigger, b.opened_at, (SELECT COUNT(*) FROM breaks)
                 FROM breaks b JOIN runs r ON r.id = b.opened_run_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((trigger.as_str(), breaks), ("due", 1));
        assert_eq!(opened_at, "2026-03-12T09:00:00.000000Z");
    }
    assert_eq!(by_key.dump(), full.dump());
    assert_eq!(by_key.runs().full, 1, "{:?}", by_key.runs());
}

#[test]
fn a_unit_that_did_not_commit_leaves_no_backlog_to_trust() {
    let items = [
        Item {
            id: 1,
            amount: 0,
            reference: 0,
            party: 0,
            day: 0,
            usd: false,
        },
        Item {
            id: 2,
            amount: 1,
            reference: 1,
            party: 1,
            day: 0,
            usd: false,
        },
    ];
    let statement = statement_csv(&[Line {
        bank: 1,
        amount: 0,
        plus: None,
        remittance: Remittance::One(0),
        day: 0,
        usd: false,
    }]);
    let mut by_key = Install::new(false);
    let mut full = Install::new(true);
    for i in [&mut by_key, &mut full] {
        i.process("ledger-import", &ledger_csv(&items), at(0));
    }
    // The statement is read while a writer changes the file: the unit, matches and all, is
    // rolled back. Its records get the same ids when the file is read again.
    let path = by_key.root.join("in/changing.csv");
    std::fs::write(&path, &statement).unwrap();
    let claimed = Claimed {
        path: path.clone(),
        name: "changing.csv".into(),
        arrived_at: at(1),
        origin: None,
    };
    let other = by_key.root.join("in/other.csv");
    std::fs::write(&other, "something else").unwrap();
    let before = crate::ingest::fingerprint(&other).ok();
    let job = by_key.job(BANK);
    let mut guard = crate::daemon::folders::ChangeGuard::new(by_key.store.as_mut(), &path, before);
    let rolled_back = pipeline::process_file(
        &by_key.config,
        &mut guard,
        &job,
        &claimed,
        Trigger::File,
        false,
        || at(1),
    );
    assert!(rolled_back.is_err(), "{rolled_back:?}");
    let runs = by_key.runs();
    for i in [&mut by_key, &mut full] {
        i.process(BANK, &statement, at(2));
    }
    assert_eq!(by_key.dump(), full.dump());
    // The run after the rolled-back one went over everything.
    assert_eq!(by_key.runs().full, runs.full + 1, "{:?}", by_key.runs());
}
