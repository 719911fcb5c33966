//! Large files: a file that kills the daemon (out of memory, a crash) is set aside after two
//! tries instead of being resumed forever, and a large ledger is read in memory about its size.

use std::fs;
use std::time::Duration;

use crate::daemon::{LEDGER, outbox_texts};
use crate::faults::ledger;
use crate::support::install::{Install, wait_until};

fn count(i: &Install, sql: &str) -> i64 {
    i.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The counts of tries the daemon keeps in `var/attempts` (one marker per file in work).
fn tries(i: &Install) -> Vec<String> {
    i.files_under("var/attempts")
        .iter()
        .filter(|n| !n.ends_with(".tmp"))
        .filter_map(|n| fs::read_to_string(i.path("var/attempts").join(n)).ok())
        .collect()
}

#[test]
fn a_file_clerk_died_on_twice_is_set_aside_with_a_break_and_an_alert_and_the_rest_goes_on() {
    let i = Install::new();
    // Big enough that its unit of work takes seconds: the daemon is killed in the middle.
    let big = ledger(1, 300_000);
    let processing = "var/inbox/ledger/.clerk-processing";

    // First death: killed while the file is read (as the kernel's OOM killer would).
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "big.csv", big.as_bytes());
    assert!(
        wait_until(Duration::from_secs(60), || tries(&i)
            .iter()
            .any(|t| t.starts_with("tries=1\n") && t.contains("file=big.csv"))),
        "the try was not counted:\n{}",
        d.log()
    );
    d.kill9();
    assert_eq!(i.files_under(processing), vec!["big.csv".to_string()]);
    assert_eq!(count(&i, "SELECT COUNT(*) FROM files"), 0);

    // Second death: the restart resumes it first, and is killed again.
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(60), || tries(&i)
            .iter()
            .any(|t| t.starts_with("tries=2\n"))),
        "the file was not resumed:\n{}",
        d.log()
    );
    d.kill9();
    assert_eq!(
        count(&i, "SELECT COUNT(*) FROM files"),
        0,
        "nothing half-posted"
    );

    // A good file waits behind it.
    i.drop_file("var/inbox/ledger", "small.csv", LEDGER.as_bytes());

    // Third start: set aside, not read again; the good file goes through.
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(120), || {
            i.files_under("var/archive").len() == 1
                && i.files_under("var/failed/ledger-import").len() == 2
                && i.files_under("var/inbox/ledger").is_empty()
        }),
        "archive {:?}, failed {:?}, inbox {:?}:\n{}",
        i.files_under("var/archive"),
        i.files_under("var/failed"),
        i.files_under("var/inbox/ledger"),
        d.log()
    );
    let note = fs::read_to_string(i.path("var/failed/ledger-import/big.csv.error.txt")).unwrap();
    assert!(
        note.contains("clerk stopped twice while processing this file")
            && note.contains("memory limit")
            && note.contains("Large files and set-aside files"),
        "{note}"
    );
    // The file is intact: staff can split it and drop the parts again.
    assert_eq!(
        fs::read(i.path("var/failed/ledger-import/big.csv")).unwrap(),
        big.as_bytes()
    );
    assert_eq!(
        count(
            &i,
            "SELECT COUNT(*) FROM breaks WHERE reason = 'unreadable' AND status = 'open' \
             AND detail LIKE '%big.csv: clerk stopped twice%'"
        ),
        1
    );
    assert!(
        wait_until(Duration::from_secs(30), || outbox_texts(&i).iter().any(
            |m| {
                let m = m.replace("=\r\n", "").replace("=\n", "");
                m.contains("big.csv") && m.contains("stopped twice")
            }
        )),
        "no alert in the outbox: {:?}",
        outbox_texts(&i)
    );
    // Nothing of it was imported; the file behind it was, whole.
    assert_eq!(
        count(&i, "SELECT COUNT(*) FROM records"),
        LEDGER.lines().count() as i64 - 1
    );
    assert_eq!(
        count(
            &i,
            "SELECT COUNT(*) FROM files WHERE status = 'failed' AND name = 'big.csv'"
        ),
        1
    );
    assert!(tries(&i).is_empty(), "tries left behind: {:?}", tries(&i));
    assert!(d.log().contains("clerk stopped twice"), "{}", d.log());
    d.stop();
}
