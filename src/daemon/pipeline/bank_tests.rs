//! The proof a controller signs, as a property (issue 15 item 5): whatever sequence of
//! statements arrives (each day's once, some sent again under a new reference), with customer
//! receipts the books expect, fees and interest the job's posting rules take, and supplier
//! payments nobody booked, every bank line is posted at most once, and the bank account's
//! book balance plus the lines still open (each with its break) is the latest statement's
//! closing balance: nothing is unexplained.

use std::fmt::Write as _;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::test_install::Install;
use crate::store;

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

[mailboxes.back-office]
kind = "maildir"
path = "var/mail/back-office"
"#;

const RULES: &str = r#"
[[posting.rules]]
name = "bank charges"
direction = "payment"
codes = ["NCHG", "GVC:805"]
lines = [
  { account = "6855 Bank charges", amount = "-statement" },
  { account = "{bank_account}", amount = "statement" },
]
[[posting.rules]]
name = "interest"
direction = "receipt"
text = '(?i)habenzinsen'
lines = [
  { account = "{bank_account}", amount = "statement" },
  { account = "2650 Interest income", amount = "-statement" },
]
"#;

const IBAN: &str = "DE89370400440532013000";

/// The shipped ledger import and bank reconciliation, with the posting rules above.
fn install() -> Install {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let read = |f: &str| std::fs::read_to_string(shipped.join(f)).unwrap();
    let bank = read("bank-reconciliation.toml");
    Install::with(
        CONFIG,
        &[
            ("ledger-import", read("ledger-import.toml")),
            ("bank-reconciliation", format!("{bank}\n{RULES}")),
        ],
    )
}

/// What one statement line is.
#[derive(Clone, Copy, Debug)]
enum Line {
    /// A customer pays an invoice the ledger holds.
    Receipt,
    /// The bank's fee: `:61:` type NCHG, or NMSC with GVC 805.
    Fee { gvc: bool },
    /// Interest credited, known by its text.
    Interest,
    /// A supplier payment nobody booked: a break.
    Unbooked,
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        Just(Line::Receipt),
        any::<bool>().prop_map(|gvc| Line::Fee { gvc }),
        Just(Line::Interest),
        Just(Line::Unbooked),
    ]
}

fn money(cents: i64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn every_line_is_posted_once_or_open_and_the_books_agree_with_the_bank(
        days in prop::collection::vec(
            (prop::collection::vec(line(), 1..5), any::<bool>()),
            1..4,
        ),
    ) {
        let mut i = install();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 7, 0, 0).unwrap();
        // The ledger first: one invoice per receipt, each amount its own.
        let mut ledger = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
        let mut statements = Vec::new();
        let mut balance: i64 = 100_000;
        let mut n = 0;
        for (d, (lines, _)) in days.iter().enumerate() {
            let day = 2 + d as u32;
            let (yymmdd, mmdd) = (format!("2603{day:02}"), format!("03{day:02}"));
            let mut body = String::new();
            let open = balance;
            for l in lines {
                n += 1;
                let cents = 1_000 + n * 137;
                let (mark, ty, text) = match l {
                    Line::Receipt => {
                        let _ = writeln!(
                            ledger,
                            "{n},CASH-EUR-01,2026-03-{day:02},{},EUR,INV-{n:09},ACME",
                            money(cents).replace(',', ".")
                        );
                        ("C", "NTRF", format!("166?00GUTSCHRIFT?20INV-{n:09}"))
                    }
                    Line::Fee { gvc: true } => ("D", "NMSC", "805?00ENTGELT?20KONTO".to_owned()),
                    Line::Fee { gvc: false } => ("D", "NCHG", "CHARGES".to_owned()),
                    Line::Interest => ("C", "NMSC", format!("HABENZINSEN {n}")),
                    Line::Unbooked => ("D", "NTRF", format!("SUPPLIER {n}")),
                };
                balance += if mark == "C" { cents } else { -cents };
                let _ = write!(
                    body,
                    ":61:{yymmdd}{mmdd}{mark}{}{ty}NONREF//BK{n}\r\n:86:{text}\r\n",
                    money(cents)
                );
            }
            let sign = |c: i64| if c < 0 { "D" } else { "C" };
            let statement = |reference: &str| format!(
                ":20:{reference}\r\n:25:{IBAN}\r\n:28C:{:05}/001\r\n:60F:{}{}EUR{}\r\n{body}:62F:{}{yymmdd}EUR{}\r\n-",
                44 + d,
                sign(open),
                if d == 0 { "260301".to_owned() } else { format!("2603{:02}", day - 1) },
                money(open.abs()),
                sign(balance),
                money(balance.abs()),
            );
            statements.push((statement(&format!("DAY{day}")), statement(&format!("AGAIN{day}"))));
        }
        i.process("ledger-import", "ledger.csv", &ledger, at);
        for ((first, again), (_, resend)) in statements.iter().zip(&days) {
            i.process("bank-reconciliation", "day.sta", first, at);
            if *resend {
                i.process("bank-reconciliation", "again.sta", again, at);
            }
        }

        let positions = store::in_read(i.store.as_mut(), |u| {
            crate::jobs::bank::positions(u, &i.config.jobs, None)
        })
        .unwrap();
        prop_assert_eq!(positions.len(), 1, "{:?}", positions);
        let p = &positions[0];
        let closing = Decimal::new(balance, 2);
        prop_assert_eq!(p.statement_balance, closing);
        prop_assert_eq!(p.brought_forward, Decimal::new(100_000, 2));
        let open: Decimal = p.open_lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(p.book_balance + open, closing, "{:?}", p);
        prop_assert!(p.unexplained.is_zero(), "{:?}", p);
        // What is open is exactly the unbooked supplier payments, each with its break.
        let unbooked = days.iter().flat_map(|(l, _)| l).filter(|l| matches!(l, Line::Unbooked)).count();
        prop_assert_eq!(p.open_lines.len(), unbooked, "{:?}", p);
        prop_assert!(p.open_lines.iter().all(|l| l.reason.as_deref() == Some("missing_in_ledger")));
        // No bank line is in two entries.
        let db = i.db();
        let twice: i64 = db.query_row(
            "SELECT COUNT(*) FROM (SELECT r.identity FROM records r JOIN entries e ON e.match_id = r.match_id
              WHERE r.side = 'statement' GROUP BY r.identity HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        ).unwrap();
        prop_assert_eq!(twice, 0);
    }
}
