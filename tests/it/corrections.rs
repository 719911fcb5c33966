//! What comes again, corrected: a ledger row exported again with another amount (a corrected
//! booking), a file that could not be read dropped again once fixed. The real daemon, real
//! folders, the store and the summary inspected afterwards.

use std::fs;
use std::time::Duration;

use crate::support::install::{Install, job_kpis, wait_until};
use crate::support::mime;

/// Item 248 is booked at 100.00 but paid at 120.00 (the booking is wrong); 249 is paid as
/// booked.
const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
248,CASH-EUR-01,2026-03-02,100.00,EUR,INV-000000248,ACME GMBH
249,CASH-EUR-01,2026-03-02,75.00,EUR,INV-000000249,BETA SA
";

/// A later line (the bank fee) makes the unpaid 100.00 due: it gets its break.
const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,120.00,EUR,BK248,PAYMENT INV-000000248 ACME
2026-03-02,2026-03-02,75.00,EUR,BK249,PAYMENT INV-000000249 BETA
2026-03-10,2026-03-10,12.34,EUR,BK250,ACCOUNT MAINTENANCE FEE
";

/// The next export: 248 corrected to what was paid, 249 changed after it was paid.
const CORRECTED: &str = "\
id,account,value_date,amount,currency,reference,counterparty
248,CASH-EUR-01,2026-03-02,120.00,EUR,INV-000000248,ACME GMBH
249,CASH-EUR-01,2026-03-02,80.00,EUR,INV-000000249,BETA SA
";

/// The ids of the versions of a ledger item, oldest first.
fn versions(i: &Install, item: &str) -> Vec<i64> {
    let db = i.db();
    let mut s = db
        .prepare("SELECT id FROM records WHERE external_id = ? ORDER BY version")
        .unwrap();
    s.query_map([item], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every message in the outbox folder, decoded: headers and text bodies.
fn outbox_bodies(i: &Install) -> Vec<String> {
    fn text_of(p: &mime::Part, out: &mut String) {
        if p.parts.is_empty() {
            out.push_str(&String::from_utf8_lossy(&p.decoded()));
        }
        for c in &p.parts {
            text_of(c, out);
        }
    }
    let Ok(entries) = fs::read_dir(i.path("var/outbox")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            let raw = fs::read(e.path()).unwrap();
            let msg = mime::parse(&raw);
            let mut out = format!(
                "Subject: {}\n",
                mime::decode_words(msg.header("Subject").unwrap_or(""))
            );
            text_of(&msg, &mut out);
            out
        })
        .collect()
}

#[test]
fn a_corrected_ledger_row_replaces_its_open_version_and_one_changed_after_its_match_is_a_break() {
    let i = Install::new();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    // 249 is paid and posted; 248 and its payment differ, each with a break.
    assert_eq!(i.status()["entries_posted"], 1);
    let open = i.json(&["exceptions"]);
    assert_eq!(open.as_array().unwrap().len(), 3, "{open}");

    i.drop_until_processed(&d, "var/inbox/ledger/ledger-corrected.csv", CORRECTED, 3);
    let status = i.status();
    // The corrected 248 is paid by the 120.00 line, once; 249's entry stands alone.
    assert_eq!(status["entries_posted"], 2, "{status}");
    let db = i.db();
    let posted_for_248: String = db
        .query_row(
            "SELECT l.amount FROM entry_lines l JOIN entries e ON e.id = l.entry_id
             JOIN records r ON r.match_id = e.match_id
             WHERE r.external_id = '248' AND l.amount > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(posted_for_248, "120.00");
    let import = job_kpis(&status, "ledger-import");
    assert_eq!(import["records_changed"], 2, "{import}");
    assert_eq!(import["records_withdrawn"], 1, "{import}");
    // The breaks about corrected items are the reconciliation's, not the import's: an import
    // matches nothing, and its STP rate is no rate at all rather than 0 %.
    assert_eq!(import["breaks_opened"], 0, "{import}");
    assert!(import["stp_rate"].is_null(), "{import}");
    let bank = job_kpis(&status, "bank-reconciliation");
    assert!(bank["breaks_opened"].as_u64().unwrap() >= 1, "{bank}");

    // Open now: the fee, and 249 changed after its match, naming both versions and the change.
    let (v248, v249) = (versions(&i, "248"), versions(&i, "249"));
    assert_eq!((v248.len(), v249.len()), (2, 2));
    let open = i.json(&["exceptions"]);
    let open = open.as_array().unwrap();
    let mut reasons: Vec<&str> = open.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        ["missing_in_ledger", "record_changed_after_match"],
        "{open:?}"
    );
    let changed = open
        .iter()
        .find(|e| e["reason"] == "record_changed_after_match")
        .unwrap();
    let detail = changed["detail"].as_str().unwrap();
    for words in [
        format!("version 1 (record {})", v249[0]),
        format!("version 2 (record {})", v249[1]),
        "amount 75.00 EUR → 80.00 EUR".to_owned(),
    ] {
        assert!(detail.contains(&words), "{words:?} in {detail}");
    }
    assert_eq!(changed["job"], "bank-reconciliation", "{changed}");
    assert_eq!(changed["amount"], "80.00", "{changed}");
    assert!(
        changed["source"]
            .as_str()
            .unwrap()
            .contains("ledger-corrected.csv line 3"),
        "{changed}"
    );
    // 248's first version no longer reconciles: its break closed, saying by what.
    let all = i.json(&["exceptions", "--all"]);
    let replaced: Vec<&serde_json::Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["resolution"]
                .as_str()
                .is_some_and(|r| r.contains("replaced by version 2 of ledger item 248"))
        })
        .collect();
    assert_eq!(replaced.len(), 1, "{all}");
    assert_eq!(replaced[0]["status"], "resolved");
    let text = String::from_utf8(i.clerk(&["status"]).stdout).unwrap();
    assert!(
        text.contains("ledger rows changed: 2 (1 replaced, 1 after their match"),
        "{text}"
    );

    // The same rows exported again (with a new one, so the file is new): nothing changed.
    let again = format!("{CORRECTED}251,CASH-EUR-01,2026-03-11,5.00,EUR,INV-000000251,GAMMA AG\n");
    i.drop_until_processed(&d, "var/inbox/ledger/ledger-again.csv", again, 4);
    let status = i.status();
    assert_eq!(job_kpis(&status, "ledger-import")["records_changed"], 2);
    assert_eq!(versions(&i, "249").len(), 2);
    assert_eq!(status["entries_posted"], 2);
    assert_eq!(i.json(&["exceptions"]).as_array().unwrap().len(), 2);

    // The morning summary counts them.
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = outbox_bodies(&i)
        .into_iter()
        .find(|m| m.contains("exception summary"))
        .expect("the summary in the outbox");
    assert!(
        summary.contains(
            "ledger-import: 2 ledger rows changed (1 replaced, 1 after its match: see the exceptions)"
        ),
        "{summary}"
    );
    d.stop();
}

/// The ledger with a letter O for a zero on line 3: clerk cannot read it.
fn unreadable(amount: &str) -> String {
    LEDGER.replace("75.00", amount)
}

/// The open breaks of a reason.
fn open_of(i: &Install, reason: &str) -> Vec<serde_json::Value> {
    i.json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == reason)
        .cloned()
        .collect()
}

#[test]
fn a_file_fixed_and_dropped_again_closes_its_break_and_its_failed_copy_is_put_away_even_after_a_stop()
 {
    let i = Install::new();
    let d = i.start_daemon();
    let failed = "var/failed/ledger-import";
    i.drop_file(
        "var/inbox/ledger",
        "ledger.csv",
        unreadable("7O.00").as_bytes(),
    );
    assert!(wait_until(Duration::from_secs(20), || {
        i.path(&format!("{failed}/ledger.csv")).exists()
    }));
    assert_eq!(open_of(&i, "unreadable").len(), 1);

    // Fixed and dropped again under its name.
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || {
            i.path(&format!("{failed}/replaced/ledger.csv")).exists()
                && i.path(&format!("{failed}/replaced/ledger.csv.error.txt"))
                    .exists()
        }),
        "{}",
        d.log()
    );
    assert_eq!(i.files_processed(), 1);
    assert!(!i.path(&format!("{failed}/ledger.csv")).exists());
    assert!(!i.path(&format!("{failed}/ledger.csv.error.txt")).exists());
    assert!(open_of(&i, "unreadable").is_empty());
    let all = i.json(&["exceptions", "--all"]);
    let closed = all
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "unreadable")
        .unwrap();
    assert_eq!(closed["status"], "resolved");
    assert!(
        closed["resolution"]
            .as_str()
            .unwrap()
            .starts_with("replaced by ledger.csv processed at "),
        "{closed}"
    );
    let folders = i.status()["folders"].clone();
    let ledger = folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["job"] == "ledger-import")
        .unwrap();
    assert_eq!(ledger["failed"], serde_json::json!([]), "{ledger}");
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(out.status.success());
    let summary = outbox_bodies(&i)
        .into_iter()
        .find(|m| m.contains("exception summary"))
        .expect("the summary in the outbox");
    assert!(
        !summary.to_lowercase().contains("could not be read")
            && !summary.contains("unreadable file"),
        "{summary}"
    );

    // The name fails again (other content), then clerk stops. As if the stop had come
    // between the first fix's commit and the move, its copy is back in failed/ beside it.
    i.drop_file(
        "var/inbox/ledger",
        "ledger.csv",
        unreadable("7S.00").as_bytes(),
    );
    assert!(wait_until(Duration::from_secs(20), || {
        i.path(&format!("{failed}/ledger.csv")).exists()
    }));
    d.stop();
    for (from, to) in [
        ("replaced/ledger.csv", "ledger (2).csv"),
        ("replaced/ledger.csv.error.txt", "ledger (2).csv.error.txt"),
    ] {
        fs::rename(
            i.path(&format!("{failed}/{from}")),
            i.path(&format!("{failed}/{to}")),
        )
        .unwrap();
    }
    let d = i.start_daemon();
    // At start the replaced copy is put away; the new failure stays, its break open. The copy
    // moves first, then its note: wait for both.
    assert!(
        wait_until(Duration::from_secs(20), || {
            !i.path(&format!("{failed}/ledger (2).csv")).exists()
                && !i
                    .path(&format!("{failed}/ledger (2).csv.error.txt"))
                    .exists()
                && i.path(&format!("{failed}/replaced/ledger (2).csv.error.txt"))
                    .exists()
        }),
        "{}",
        d.log()
    );
    assert!(
        fs::read_to_string(i.path(&format!("{failed}/replaced/ledger (2).csv")))
            .unwrap()
            .contains("7O.00")
    );
    assert!(
        i.path(&format!("{failed}/replaced/ledger (2).csv.error.txt"))
            .exists()
    );
    assert!(
        fs::read_to_string(i.path(&format!("{failed}/ledger.csv")))
            .unwrap()
            .contains("7S.00")
    );
    assert_eq!(open_of(&i, "unreadable").len(), 1);
    d.stop();
}
