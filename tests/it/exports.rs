//! Exports to the books (`[[exports]]`), end to end: the real daemon posts, the csv export
//! writes each entry once into numbered files, a restart writes no entry twice, a re-export on
//! request is its own file, `clerk journal exports` lists what went where, and a folder that
//! cannot be written raises an alert and is written once it can.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::daemon::{LEDGER, STATEMENT, outbox_texts};
use crate::support::install::{Install, wait_until};

const ERP: &str = "[[exports]]\nname = \"erp\"\nformat = \"csv\"\nfolder = \"var/exports/erp\"\n";

/// (account, currency, signed amount) of an entry's lines, sorted.
type Lines = Vec<(String, String, Decimal)>;

/// Every entry `clerk journal --json` lists, by id.
fn journal(i: &Install) -> BTreeMap<i64, Lines> {
    let mut out = BTreeMap::new();
    for e in i.json(&["journal"]).as_array().unwrap() {
        let mut lines: Lines = e["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["account"].as_str().unwrap().to_string(),
                    l["currency"].as_str().unwrap().to_string(),
                    l["amount"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        lines.sort();
        out.insert(e["id"].as_i64().unwrap(), lines);
    }
    out
}

/// The entries of csv export files, by entry id, each file read with the csv crate; an entry
/// found in two files is a failure naming both.
pub fn read_csv_exports(files: &[std::path::PathBuf]) -> BTreeMap<i64, Lines> {
    let mut out: BTreeMap<i64, Lines> = BTreeMap::new();
    let mut file_of: BTreeMap<i64, String> = BTreeMap::new();
    for path in files {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let header = reader.headers().unwrap().clone();
        assert_eq!(
            header.iter().collect::<Vec<_>>(),
            [
                "entry",
                "date",
                "account",
                "debit",
                "credit",
                "currency",
                "narrative",
                "source",
                "job",
                "match",
                "reverses",
                "value_date"
            ]
        );
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut in_this: BTreeMap<i64, Lines> = BTreeMap::new();
        for row in reader.records() {
            let row = row.unwrap();
            let id: i64 = row[0].parse().unwrap();
            let amount: Decimal = match (&row[3], &row[4]) {
                (d, "") => d.parse().unwrap(),
                ("", c) => -c.parse::<Decimal>().unwrap(),
                other => panic!("{name}: a line with a debit and a credit: {other:?}"),
            };
            in_this
                .entry(id)
                .or_default()
                .push((row[2].to_string(), row[5].to_string(), amount));
        }
        for (id, mut lines) in in_this {
            lines.sort();
            if let Some(before) = file_of.insert(id, name.clone()) {
                panic!("entry {id} is in {before} and in {name}");
            }
            out.insert(id, lines);
        }
    }
    out
}

/// The regular (not re-export) files of target `name` in `folder`, in name order.
pub fn batch_files(folder: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(folder)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.starts_with(&format!("{name}-"))
                        && n.ends_with(".csv")
                        && !n.contains("-reexport-")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Entries in all regular batches, as `clerk journal exports --json` counts them.
fn exported_entries(i: &Install) -> u64 {
    i.json(&["journal", "exports"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["reexport"] == false && !b["written_at"].is_null())
        .map(|b| b["entries"].as_u64().unwrap())
        .sum()
}

/// A ledger and its statement with `k` items matching one to one, numbered from `from`.
fn pair(from: usize, k: usize) -> (String, String) {
    let mut ledger = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    let mut statement =
        String::from("booking_date,value_date,amount,currency,bank_reference,remittance_info\n");
    for n in from..from + k {
        let amount = format!("{}.{:02}", 3000 + n, n % 100);
        ledger.push_str(&format!(
            "X{n},CASH-EUR-01,2026-03-05,{amount},EUR,INV-77{n:07},CPTY {n}\n"
        ));
        statement.push_str(&format!(
            "2026-03-05,2026-03-05,{amount},EUR,BKX{n},PAYMENT INV-77{n:07}\n"
        ));
    }
    (ledger, statement)
}

#[test]
fn every_entry_is_exported_once_round_trips_and_survives_a_restart() {
    let i = Install::with_shipped_chart(ERP);
    let folder = i.path("var/exports/erp");
    // `clerk check` shows the target, its folder and when it runs.
    let check = String::from_utf8_lossy(&i.clerk(&["check"]).stdout).into_owned();
    assert!(
        check.contains("export   erp: csv into ")
            && check.contains("after every unit of work that posted")
            && check.contains("export folder of erp: writable"),
        "{check}"
    );
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    let posted = i.status()["entries_posted"].as_u64().unwrap();
    assert!(posted > 0);
    assert!(
        wait_until(Duration::from_secs(20), || exported_entries(&i) == posted),
        "exported {} of {posted}:\n{}",
        exported_entries(&i),
        d.log()
    );
    let books = journal(&i);
    let files = batch_files(&folder, "erp");
    assert!(files[0].ends_with("erp-000001.csv"), "{files:?}");
    // Round trip: the files hold exactly the journal's entries, line by line, amount by
    // amount (exact decimals), each once.
    assert_eq!(read_csv_exports(&files), books);

    // A restart exports nothing again; the next entries make the next batch.
    d.stop();
    let d = i.start_daemon();
    let (ledger, statement) = pair(0, 3);
    i.drop_until_processed(&d, "var/inbox/ledger/ledger-2.csv", ledger, 3);
    i.drop_until_processed(&d, "var/inbox/bank/statement-2.csv", statement, 4);
    let posted = i.status()["entries_posted"].as_u64().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || exported_entries(&i) == posted),
        "exported {} of {posted}:\n{}",
        exported_entries(&i),
        d.log()
    );
    let files = batch_files(&folder, "erp");
    assert!(files.len() >= 2, "{files:?}");
    assert_eq!(read_csv_exports(&files), journal(&i));
    let listed = i.json(&["journal", "exports", "--target", "erp"]);
    let numbers: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=files.len() as u64).collect::<Vec<_>>());
    // Each file is the one recorded: its checksum is the store's.
    for b in listed.as_array().unwrap() {
        let bytes = fs::read(folder.join(b["file_name"].as_str().unwrap())).unwrap();
        assert_eq!(b["sha256"], clerk::digest::sha256_hex(&bytes), "{b}");
    }

    // A re-export on request: its own file, every entry of the range, the cursor untouched.
    let out = i.clerk(&[
        "journal",
        "export",
        "--target",
        "erp",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        path.ends_with("erp-reexport-2026-03-01-2026-03-31-1.csv"),
        "{path}"
    );
    let again = read_csv_exports(&[path.clone().into()]);
    let march: BTreeMap<i64, Lines> = journal_in(&i, "2026-03-01", "2026-03-31");
    assert_eq!(again, march);
    assert_eq!(batch_files(&folder, "erp"), files, "no regular batch added");
    let text = String::from_utf8_lossy(&i.clerk(&["journal", "exports"]).stdout).into_owned();
    assert!(
        text.contains("erp-000001.csv") && text.contains("erp-reexport-2026-03-01"),
        "{text}"
    );
    // An unknown target is refused, naming the ones there are.
    let out = i.clerk(&["journal", "export", "--target", "sap"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"sap\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.stop();
}

fn journal_in(i: &Install, from: &str, to: &str) -> BTreeMap<i64, Lines> {
    let all = journal(i);
    let ids: Vec<i64> = i
        .json(&["journal", "--from", from, "--to", to])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    ids.into_iter().map(|id| (id, all[&id].clone())).collect()
}

#[test]
fn a_folder_that_cannot_be_written_raises_one_alert_and_is_written_later() {
    let i = Install::with_shipped_chart(ERP);
    // A file where the folder should be: nothing can be written there (even by root).
    fs::create_dir_all(i.path("var/exports")).unwrap();
    fs::write(i.path("var/exports/erp"), b"not a folder").unwrap();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    let alerts = || {
        outbox_texts(&i)
            .into_iter()
            .filter(|t| t.contains("export erp"))
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(Duration::from_secs(20), || !alerts().is_empty()),
        "no alert:\n{}",
        d.log()
    );
    assert!(alerts()[0].contains("var/exports/erp"), "{}", alerts()[0]);
    assert_eq!(exported_entries(&i), 0);
    // The morning summary says the books are behind, and by how much.
    let posted = i.status()["entries_posted"].as_u64().unwrap();
    let seen = std::cell::RefCell::new(Vec::<String>::new());
    let summary = || {
        let out = i.clerk(&["job", "run", "daily-summary"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The summary just queued: the one no earlier call returned.
        let mut summaries: Vec<String> = outbox_texts(&i)
            .into_iter()
            .filter(|t| t.contains("Exports to the books"))
            .collect();
        summaries.retain(|t| !seen.borrow().contains(t));
        assert_eq!(summaries.len(), 1, "{summaries:#?}");
        seen.borrow_mut().push(summaries[0].clone());
        summaries.remove(0)
    };
    let behind = summary();
    assert!(
        behind.contains(&format!(
            "erp (csv): {posted} entries not yet exported, dated from"
        )),
        "{behind}"
    );
    // Fixed: the next try writes everything, and no second alert was raised meanwhile.
    fs::remove_file(i.path("var/exports/erp")).unwrap();
    let posted = i.status()["entries_posted"].as_u64().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || exported_entries(&i) == posted),
        "exported {} of {posted}:\n{}",
        exported_entries(&i),
        d.log()
    );
    let files = batch_files(&i.path("var/exports/erp"), "erp");
    assert_eq!(read_csv_exports(&files), journal(&i));
    assert_eq!(alerts().len(), 1, "{:#?}", alerts());
    assert!(d.log().contains("export works again"), "{}", d.log());
    let caught_up = summary();
    assert!(
        caught_up.contains("erp (csv): every entry exported; last file erp-000001.csv"),
        "{caught_up}"
    );
    d.stop();
}
