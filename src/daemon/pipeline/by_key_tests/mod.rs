//! Runs by key against runs over everything: two installs with the shipped ledger import and
//! bank reconciliation, real SQLite stores and real files, take the same files and the same
//! hands-on work (a break resolved, two items matched by hand); one matches by key, the other
//! over all open items every time. Their stores must agree after every step: the same
//! records open, the same matches with the same explanations, the same entries, the same
//! breaks with the same words, the same runs.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

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
                bank.find("\n[posting").unwrap(),
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
    "10.00", "20.00", "30.00", "12.50", "7.5", "45.00", "5.13", "100.00", "-20.00",
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

fn at(n: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 12, 9, 0, 0).unwrap() + Duration::seconds(n as i64)
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

mod cases;
mod properties;
