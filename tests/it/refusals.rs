//! Refusals that say what to do: a file in the wrong folder names the job and folder that take
//! it; a spreadsheet whose header the job does not know shows the headers it has and the job
//! file to edit; `clerk extract` on rows without a job says to give one.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::install::{Install, wait_until};

fn fixture(rel: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

fn failed_note(i: &Install, job: &str, name: &str) -> String {
    let p = i.path(&format!("var/failed/{job}/{name}.error.txt"));
    assert!(
        wait_until(Duration::from_secs(20), || p.exists()),
        "no note for {name:?} in failed/{job}: {:?}",
        i.files_under("var/failed")
    );
    fs::read_to_string(p).unwrap()
}

/// A ledger export whose header uses the bank's German names, not the job's.
fn xlsx_with_other_headers() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "Kontoauszug März").unwrap();
    for (c, h) in [
        "Buchungstag",
        "Valuta",
        "Betrag",
        "Währung",
        "Verwendungszweck",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(2, c as u16, *h).unwrap();
    }
    sheet.write_string(3, 0, "2026-03-02").unwrap();
    sheet.write_number(3, 2, 100.0).unwrap();
    book.save_to_buffer().unwrap()
}

#[test]
fn refusals_name_the_right_folder_the_headers_found_and_the_job_file() {
    let i = Install::new();
    let d = i.start_daemon();

    // A bank statement in the invoices folder: the job and folder that take statements.
    i.drop_file(
        "var/inbox/invoices",
        "camt053.xml",
        &fixture("iso20022/genkgo-camt/camt053.v2.minimal.xml"),
    );
    let note = failed_note(&i, "supplier-invoices", "camt053.xml");
    let bank_folder = i.path("var/inbox/bank");
    assert!(
        note.contains(&format!(
            "job bank-reconciliation (folder {})",
            bank_folder.display()
        )),
        "{note}"
    );

    // A spreadsheet whose header the job does not know: the headers found, and the job file.
    i.drop_file(
        "var/inbox/ledger",
        "export.xlsx",
        &xlsx_with_other_headers(),
    );
    let note = failed_note(&i, "ledger-import", "export.xlsx");
    assert!(
        note.contains(
            "the headers found (row 3) are \"Buchungstag\", \"Valuta\", \"Betrag\", \"Währung\", \
             \"Verwendungszweck\""
        ),
        "{note}"
    );
    assert!(
        note.contains(&format!(
            "{} under [extract.columns]",
            i.path("jobs/ledger-import.toml").display()
        )),
        "{note}"
    );

    // Rows in a folder whose job maps no columns: the jobs that read rows.
    i.drop_file(
        "var/inbox/custody",
        "positions.txt",
        b"isin;quantity\nDE0005140008;100\nUS0378331005;25\n",
    );
    let note = failed_note(&i, "custody-holdings", "positions.txt");
    assert!(note.contains("maps no columns"), "{note}");
    assert!(
        note.contains(&format!(
            "job ledger-import (folder {})",
            i.path("var/inbox/ledger").display()
        )),
        "{note}"
    );
    d.stop();

    // `clerk extract` on rows without --job: give one, not "this job maps no columns".
    let csv = i.path("statement.csv");
    fs::write(&csv, "date,amount\n2026-03-02,100.00\n").unwrap();
    let out = i.clerk(&["extract", csv.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(said.contains("no job is given"), "{said}");
    assert!(
        said.contains("use --job NAME or drop it into a job's folder"),
        "{said}"
    );
    assert!(said.contains("ledger-import (folder"), "{said}");
    assert!(!said.contains("this job maps no columns"), "{said}");

    // With --job, the spreadsheet's refusal names the job file too.
    let xlsx = i.path("export.xlsx");
    fs::write(&xlsx, xlsx_with_other_headers()).unwrap();
    let out = i.clerk(&["extract", "--job", "ledger-import", xlsx.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(said.contains("\"Verwendungszweck\""), "{said}");
    assert!(
        said.contains("ledger-import.toml under [extract.columns]"),
        "{said}"
    );
}
