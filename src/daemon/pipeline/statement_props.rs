//! The proof a controller signs, for any way the bank delivers: statements in order, each day
//! at least once, with re-sends under a new reference, two-day statements overlapping days
//! already taken, the same file twice, and a second job that reads the same account. After
//! every file, each bank line is posted at most once (over both jobs), and the bank account's
//! opening balance plus what the books posted to it plus the open breaks about bank lines is
//! the latest closing balance: nothing of the statement is lost, nothing is counted twice.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::test_install::Install;
use crate::daemon::pipeline::FileOutcome;

const ACCOUNT: &str = "DE02120300000000202051";
const OPENING: i64 = 100_000;

const CONFIG: &str = r#"
[daemon]
jobs = "jobs"
state = "var"
timezone = "Europe/Berlin"
break_grace = "0s"

[mail]
from = "clerk@example.com"

[calendars.default]
weekend = ["Sat", "Sun"]
"#;

const LEDGER_JOB: &str = r#"
kind = "ledger_import"
book = "main"
[watch]
folder = "var/inbox/ledger"
[extract.columns]
id = "id"
value_date = "value_date"
amount = "amount"
currency = "currency"
reference = "reference"
"#;

/// A cash reconciliation of `book` by invoice number, then by amount and day.
fn cash_job(folder: &str, book: &str) -> String {
    format!(
        r#"
kind = "cash_reconciliation"
book = "{book}"
statement_accounts = ["{ACCOUNT}"]
[watch]
folder = "{folder}"
[[match.passes]]
name = "reference"
keys = [{{ ours = "reference", theirs = "remittance", theirs_pattern = 'INV-\d{{9}}' }}]
amount = {{ ours = "amount", theirs = "amount" }}
[[match.passes]]
name = "amount_date"
keys = [{{ ours = "currency", theirs = "currency" }}]
amount = {{ ours = "amount", theirs = "amount" }}
date = {{ ours = "value_date", theirs = "value_date" }}
[posting]
lines = [
  {{ account = "1010 Bank {{currency}}", amount = "statement" }},
  {{ account = "1290 Clearing {{currency}}", amount = "-item" }},
]
"#
    )
}

/// One line of the bank's truth.
#[derive(Clone, Debug)]
struct Line {
    /// Cents, signed.
    cents: i64,
    /// The bank's reference, or none (`NONREF` with the text as identity).
    bank_ref: bool,
    /// An invoice number in the text, and whether the books hold that invoice.
    invoice: Option<(u32, bool)>,
}

/// How a statement is delivered.
#[derive(Clone, Debug)]
enum Delivery {
    /// Days `from..=to` (one or two), under a reference of its own.
    Days { from: usize, to: usize },
    /// A statement delivered before, sent again under a new `:20:`.
    Resent(usize),
    /// A file delivered before, byte for byte.
    Again(usize),
}

fn line() -> impl Strategy<Value = Line> {
    (
        prop_oneof![1i64..500_000, -300_000i64..-1],
        any::<bool>(),
        prop::option::of((0u32..6, any::<bool>())),
    )
        .prop_map(|(cents, bank_ref, invoice)| Line {
            cents,
            bank_ref,
            invoice,
        })
}

fn days() -> impl Strategy<Value = Vec<Vec<Line>>> {
    prop::collection::vec(prop::collection::vec(line(), 0..4), 1..5)
}

/// A delivery plan: every day at least once and in order (alone, or with the next in a
/// two-day statement), with re-sends, files sent twice and overlaps in between.
fn plan(days: usize) -> impl Strategy<Value = Vec<(Delivery, bool)>> {
    prop::collection::vec((0u8..6, any::<bool>(), any::<u16>()), days..days * 2 + 3).prop_map(
        move |choices| {
            let mut out: Vec<(Delivery, bool)> = Vec::new();
            let mut next_day = 0;
            let mut sent: Vec<usize> = Vec::new();
            for (what, to_other_job, pick) in choices {
                let pick = |n: usize| usize::from(pick) % n;
                let d = match what {
                    // An earlier statement again, under a new reference or byte for byte.
                    0 if !sent.is_empty() => Delivery::Resent(sent[pick(sent.len())]),
                    1 if !sent.is_empty() => Delivery::Again(sent[pick(sent.len())]),
                    // A two-day statement overlapping the day before.
                    2 if next_day > 0 && next_day < days => {
                        let d = Delivery::Days {
                            from: next_day - 1,
                            to: next_day,
                        };
                        next_day += 1;
                        d
                    }
                    _ if next_day < days => {
                        let to = if what == 3 && next_day + 1 < days {
                            next_day + 1
                        } else {
                            next_day
                        };
                        let d = Delivery::Days { from: next_day, to };
                        next_day = to + 1;
                        d
                    }
                    _ => continue,
                };
                sent.push(out.len());
                out.push((d, to_other_job));
            }
            while next_day < days {
                out.push((
                    Delivery::Days {
                        from: next_day,
                        to: next_day,
                    },
                    false,
                ));
                next_day += 1;
            }
            out
        },
    )
}

fn day_date(d: usize) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + Duration::days(d as i64)
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// The balance before day `d`.
fn balance_before(days: &[Vec<Line>], d: usize) -> i64 {
    OPENING + days[..d].iter().flatten().map(|l| l.cents).sum::<i64>()
}

fn mt940_amount(c: i64) -> String {
    format!("{},{:02}", c.abs() / 100, c.abs() % 100)
}

fn mt940(days: &[Vec<Line>], from: usize, to: usize, reference: &str) -> String {
    let yymmdd = |d: NaiveDate| d.format("%y%m%d").to_string();
    let mark = |c: i64| if c < 0 { "D" } else { "C" };
    let open = balance_before(days, from);
    let close = balance_before(days, to + 1);
    let mut s = format!(
        ":20:{reference}\n:25:{ACCOUNT}\n:28C:{}/1\n:60F:{}{}EUR{}\n",
        from + 1,
        mark(open),
        yymmdd(day_date(from) - Duration::days(1)),
        mt940_amount(open)
    );
    for (d, lines) in days.iter().enumerate().take(to + 1).skip(from) {
        for (k, l) in lines.iter().enumerate() {
            let date = yymmdd(day_date(d));
            let bank_ref = if l.bank_ref {
                format!("//B{d}-{k}")
            } else {
                String::new()
            };
            let text = match l.invoice {
                Some((n, _)) => format!("PAYMENT INV-{:09}", 100 + n),
                None => "CARD PAYMENT".to_owned(),
            };
            s.push_str(&format!(
                ":61:{date}{}{}{}NTRFNONREF{bank_ref}\n:86:{text}\n",
                &date[2..],
                mark(l.cents),
                mt940_amount(l.cents)
            ));
        }
    }
    s.push_str(&format!(
        ":62F:{}{}EUR{}\n-\n",
        mark(close),
        yymmdd(day_date(to)),
        mt940_amount(close)
    ));
    s
}

/// The ledger: an open item for each line quoting an invoice the books hold.
fn ledger(days: &[Vec<Line>]) -> String {
    let mut s = "id,value_date,amount,currency,reference\n".to_owned();
    let mut seen = std::collections::HashSet::new();
    for (d, lines) in days.iter().enumerate() {
        for l in lines {
            if let Some((n, true)) = l.invoice
                && seen.insert(n)
            {
                s.push_str(&format!(
                    "L{n},{},{},EUR,INV-{:09}\n",
                    day_date(d),
                    cents(l.cents),
                    100 + n
                ));
            }
        }
    }
    s
}

/// The ledger imports of both books and the two cash reconciliations reading the account.
fn install() -> Install {
    Install::with(
        CONFIG,
        &[
            ("ledger", LEDGER_JOB.to_owned()),
            // A second job reading the same account against books of its own that hold the
            // same items (as accounts payable holds the payables a bank line pays): both could
            // post the same bank line.
            (
                "ledger2",
                LEDGER_JOB
                    .replace("\"main\"", "\"second\"")
                    .replace("inbox/ledger", "inbox/ledger2"),
            ),
            ("bank", cash_job("var/inbox/bank", "main")),
            ("treasury", cash_job("var/inbox/treasury", "second")),
        ],
    )
}

/// When the `n`-th file arrives: ten seconds apart.
fn arrival(n: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 8, 0, 0).unwrap() + Duration::seconds(10 * n as i64)
}

/// What the property reads back from the store.
trait Books {
    fn sum(&self, sql: &str) -> Decimal;
    fn posted_twice(&self) -> Vec<String>;
    fn posted_and_open(&self) -> Vec<String>;
}

impl Books for Install {
    fn sum(&self, sql: &str) -> Decimal {
        let db = self.db();
        let mut s = db.prepare(sql).unwrap();
        s.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|a| a.unwrap().parse::<Decimal>().unwrap())
            .sum()
    }

    /// Bank line identities one job posted that another still holds open.
    fn posted_and_open(&self) -> Vec<String> {
        let db = self.db();
        let mut s = db
            .prepare(
                "SELECT identity FROM records WHERE side = 'statement'
                 GROUP BY identity
                 HAVING COUNT(match_id) > 0 AND COUNT(match_id) < COUNT(*)",
            )
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Bank line identities posted by more than one match.
    fn posted_twice(&self) -> Vec<String> {
        let db = self.db();
        let mut s = db
            .prepare(
                "SELECT identity FROM records WHERE side = 'statement' AND match_id IS NOT NULL
                 GROUP BY identity HAVING COUNT(DISTINCT match_id) > 1",
            )
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

fn check(days: &[Vec<Line>], plan: &[(Delivery, bool)]) -> Result<(), TestCaseError> {
    let mut i = install();
    i.process("ledger", "ledger.csv", &ledger(days), arrival(0));
    i.process("ledger2", "ledger.csv", &ledger(days), arrival(1));
    let mut sent: Vec<(String, usize)> = Vec::new();
    let mut latest_day: Option<usize> = None;
    for (k, (delivery, to_other)) in plan.iter().enumerate() {
        let job = if *to_other { "treasury" } else { "bank" };
        let (text, last) = match delivery {
            Delivery::Days { from, to } => (mt940(days, *from, *to, &format!("S{k}")), *to),
            Delivery::Resent(n) => {
                let (text, last) = &sent[*n];
                (text.replacen(":20:", &format!(":20:R{k}"), 1), *last)
            }
            Delivery::Again(n) => sent[*n].clone(),
        };
        let outcome = i.process(job, &format!("s{k}.sta"), &text, arrival(k + 2));
        prop_assert!(
            !matches!(outcome, FileOutcome::Failed { .. }),
            "{outcome:?}\n{text}"
        );
        sent.push((text, last));
        latest_day = Some(latest_day.map_or(last, |d| d.max(last)));

        let twice = i.posted_twice();
        prop_assert!(twice.is_empty(), "posted twice: {twice:?}");
        let split = i.posted_and_open();
        prop_assert!(
            split.is_empty(),
            "posted by one job, still open in another: {split:?}"
        );
        // Each copy of a line is posted, or open with a break, in every job that holds it;
        // counted once per line.
        let posted = i.sum("SELECT amount FROM entry_lines WHERE account = '1010 Bank EUR'");
        let open = i.sum(
            "SELECT amount FROM records r WHERE side = 'statement' AND match_id IS NULL
               AND r.id = (SELECT MIN(o.id) FROM records o
                           WHERE o.side = 'statement' AND o.identity = r.identity)
               AND EXISTS (SELECT 1 FROM breaks b WHERE b.record_id IN
                   (SELECT o.id FROM records o WHERE o.identity = r.identity)
                   AND b.status != 'resolved')",
        );
        let unbroken = i.sum(
            "SELECT amount FROM records r WHERE side = 'statement' AND match_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM breaks b WHERE b.record_id = r.id
                   AND b.status != 'resolved')",
        );
        prop_assert_eq!(unbroken, Decimal::ZERO, "an open bank line without a break");
        let closing = cents(balance_before(days, latest_day.unwrap() + 1));
        prop_assert_eq!(
            cents(OPENING) + posted + open,
            closing,
            "opening + posted + open breaks must be the latest closing balance (posted {}, open {})",
            posted,
            open
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        ..ProptestConfig::default()
    })]

    #[test]
    fn each_bank_line_posts_once_and_the_books_agree_with_the_bank(
        (days, plan) in days().prop_flat_map(|d| { let n = d.len(); (Just(d), plan(n)) })
    ) {
        check(&days, &plan)?;
    }
}
