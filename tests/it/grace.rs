//! The grace period of unmatched items through the real daemon: a ledger export and the
//! statement paying it, dropped together, open no break at all; an item nobody pays becomes
//! a break when its grace ends, with no other file to wake clerk; `clerk job run` ends its
//! batch with what is still unmatched as breaks.

use std::fs;
use std::time::Duration;

use crate::daemon::outbox_texts;
use crate::support::install::{Install, STAFF_COSTS, job_kpis, wait_until};
use crate::support::mime;

/// An earlier day, settled: the bank has reported up to 20 March, so today's ledger items
/// (2 and 3 March) are past the matching window the moment they are loaded.
const EARLIER_LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
90,CASH-EUR-01,2026-03-20,500.00,EUR,INV-000000090,OMEGA PLC
";
const EARLIER_STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-20,2026-03-20,500.00,EUR,BK90,PAYMENT INV-000000090 OMEGA
";

/// A bank fee nobody booked: its line waits out the grace period alone.
const FEE_STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-10,2026-03-10,12.34,EUR,BK5,ACCOUNT MAINTENANCE FEE
";

/// Today's export and the statement that pays every item of it.
const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,100.00,EUR,INV-000000001,ACME GMBH
2,CASH-EUR-01,2026-03-02,250.50,EUR,INV-000000002,BETA SA
3,CASH-EUR-01,2026-03-03,10.00,EUR,INV-000000003,GAMMA AG
";
const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,100.00,EUR,BK1,PAYMENT INV-000000001 ACME
2026-03-02,2026-03-02,250.50,EUR,BK2,PAYMENT INV-000000002 BETA
2026-03-03,2026-03-03,10.00,EUR,BK3,PAYMENT INV-000000003 GAMMA
";

fn breaks_ever(i: &Install) -> i64 {
    i.db()
        .query_row("SELECT COUNT(*) FROM breaks", [], |r| r.get(0))
        .unwrap()
}

/// A job's KPIs as `clerk status --json` has them.
fn kpis(i: &Install, job: &str) -> serde_json::Value {
    job_kpis(&i.status(), job).clone()
}

/// The plain-text body of a message, however its parts nest.
fn plain_text(p: &mime::Part) -> &mime::Part {
    if p.parts.is_empty() {
        return p;
    }
    p.parts
        .iter()
        .map(plain_text)
        .find(|t| t.content_type().starts_with("text/plain"))
        .expect("a plain-text body")
}

/// Gives the shipped bank reconciliation its own grace period (`break_grace` in the job file).
fn set_job_grace(i: &Install, grace: &str) {
    i.edit_job(
        "bank-reconciliation",
        "book = \"main\"\n",
        &format!("book = \"main\"\nbreak_grace = \"{grace}\"\n"),
    );
}

#[test]
fn a_ledger_and_the_statement_paying_it_dropped_together_open_no_break() {
    let i = Install::with_config(STAFF_COSTS);
    i.set_break_grace("10m");
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger-0320.csv", EARLIER_LEDGER, 1);
    i.drop_until_processed(
        &d,
        "var/inbox/bank/statement-0320.csv",
        EARLIER_STATEMENT,
        2,
    );

    // The export, and the statement a moment later: the ledger items are due at once, but
    // the statement paying them comes within the grace period.
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 4);
    assert_eq!(breaks_ever(&i), 0, "no break was ever opened");

    let bank = kpis(&i, "bank-reconciliation");
    assert_eq!(bank["matched"], 8, "{bank}");
    assert_eq!(bank["breaks_opened"], 0, "{bank}");
    assert_eq!(bank["stp_rate"], 1.0, "{bank}");
    // No exception to work: the staff cost is nothing.
    assert_eq!(bank["costs"]["staff"], "0", "{bank}");

    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mails = outbox_texts(&i);
    let summary = mails
        .iter()
        .find(|m| m.contains("Message-ID: <summary.daily-summary."))
        .expect("the summary is in the outbox");
    let msg = mime::parse(summary.as_bytes());
    let subject = mime::decode_words(msg.header("Subject").unwrap());
    assert!(subject.contains("no open exceptions"), "{subject}");
    let plain = String::from_utf8(plain_text(&msg).decoded()).unwrap();
    // The KPI tables: volumes (job, runs, files, failed, duplicates, records, new, resolved),
    // then rates (job, STP %, errors %, ...).
    let rows: Vec<Vec<&str>> = plain
        .lines()
        .filter(|l| l.trim_start().starts_with("bank-reconciliation"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let [volumes, rates] = &rows[..] else {
        panic!("no KPI rows for the bank reconciliation:\n{plain}");
    };
    assert_eq!(volumes[6], "0", "{plain}");
    assert_eq!(rates[1..=4], ["100.0", "%", "0.0", "%"], "{plain}");
    d.stop();
}

#[test]
fn an_unpaid_line_becomes_a_break_when_its_grace_ends_with_no_other_file() {
    let i = Install::new();
    // The daemon holds items back for ten minutes; this job for two seconds.
    i.set_break_grace("10m");
    set_job_grace(&i, "2s");
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", FEE_STATEMENT, 1);
    // No file comes after it: the daemon wakes for the line when its grace ends.
    assert!(
        wait_until(Duration::from_secs(30), || breaks_ever(&i) == 1),
        "{}",
        d.log()
    );
    let (reason, opened_at, by_file, trigger, due_started): (
        String,
        String,
        String,
        String,
        String,
    ) = i
        .db()
        .query_row(
            "SELECT b.reason, b.opened_at,
                    (SELECT started_at FROM runs WHERE file_id IS NOT NULL),
                    r.trigger, r.started_at
             FROM breaks b JOIN runs r ON r.id = b.opened_run_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (reason.as_str(), trigger.as_str()),
        ("missing_in_ledger", "due")
    );
    // Dated from when the statement was recorded, not from when the grace ended.
    assert!(
        by_file <= opened_at && opened_at < due_started,
        "file run {by_file}, break opened {opened_at}, run opening it {due_started}"
    );
    let exceptions = i.json(&["exceptions"]);
    assert_eq!(exceptions.as_array().unwrap().len(), 1, "{exceptions}");
    // It was open its grace period: it counts.
    let bank = kpis(&i, "bank-reconciliation");
    assert_eq!(bank["breaks_opened"], 1, "{bank}");
    d.stop();
}

#[test]
fn a_daemon_started_again_finds_the_held_back_items_in_the_store() {
    let i = Install::new();
    i.set_break_grace("10m");
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", FEE_STATEMENT, 1);
    // Killed while the line is held back: nothing about it was only in memory.
    d.kill9();
    assert_eq!(breaks_ever(&i), 0);
    // Started again with a grace the line has outlived, and no file: its break opens.
    set_job_grace(&i, "1s");
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(20), || breaks_ever(&i) == 1),
        "{}",
        d.log()
    );
    let trigger: String = i
        .db()
        .query_row(
            "SELECT r.trigger FROM breaks b JOIN runs r ON r.id = b.opened_run_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(trigger, "due");
    d.stop();
}

#[test]
fn clerk_job_run_ends_its_batch_with_what_is_still_unmatched_as_breaks() {
    let i = Install::new();
    i.set_break_grace("10m");
    let ledger = i.path("ledger.csv");
    fs::write(&ledger, LEDGER).unwrap();
    let out = i.clerk(&["job", "run", "ledger-import", ledger.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let statement = i.path("statement.csv");
    // The statement pays two of the three items and brings a fee nobody booked; its date
    // puts the third item past the matching window.
    let paid: String = STATEMENT
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(
        &statement,
        format!("{paid}2026-03-11,2026-03-11,12.34,EUR,BK5,ACCOUNT MAINTENANCE FEE\n"),
    )
    .unwrap();
    let out = i.clerk(&[
        "job",
        "run",
        "bank-reconciliation",
        statement.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Read with the ledger item 3 still open and the fee new: both held back while the file
    // is worked, breaks when the run ends its batch (no daemon may be there to look later).
    assert!(stdout.contains("0 breaks opened"), "{stdout}");
    assert!(
        stdout.contains("bank-reconciliation: batch complete")
            && stdout.contains("2 breaks opened"),
        "{stdout}"
    );
    let exceptions = i.json(&["exceptions"]);
    let mut reasons: Vec<&str> = exceptions
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reason"].as_str().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["missing_in_ledger", "missing_on_statement"]);
}
