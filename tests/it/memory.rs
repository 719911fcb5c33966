//! Large files: a file that kills the daemon (out of memory, a crash) is set aside after two
//! tries instead of being resumed forever, and a large ledger is read in memory about its size.

use std::fs;
use std::time::Duration;

use crate::daemon::{LEDGER, outbox_texts};
use crate::faults::ledger;
use crate::support::install::{Install, wait_until};

/// For tests that kill the daemon at random moments to check that nothing is lost or doubled:
/// waits (up to a minute) until no file that the daemon died on is in work or waiting to be
/// resumed (a count of tries left before `restarted`, or a second try), so the next kill cannot
/// be the second death on one file, which sets it aside by design (tested below).
pub fn wait_until_no_second_try(i: &Install, restarted: std::time::SystemTime) {
    let dir = i.path("var/attempts");
    wait_until(Duration::from_secs(60), || {
        i.files_under("var/attempts").iter().all(|n| {
            let path = dir.join(n);
            let fresh = fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= restarted);
            n.ends_with(".tmp")
                || fresh && fs::read_to_string(&path).is_ok_and(|t| t.starts_with("tries=1\n"))
        })
    });
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
        wait_until(Duration::from_secs(60), || i
            .tries()
            .iter()
            .any(|t| t.starts_with("tries=1\n") && t.contains("file=big.csv"))),
        "the try was not counted:\n{}",
        d.log()
    );
    d.kill9();
    assert_eq!(i.files_under(processing), vec!["big.csv".to_string()]);
    assert_eq!(i.count("SELECT COUNT(*) FROM files"), 0);

    // Second death: the restart resumes it first, and is killed again.
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(60), || i
            .tries()
            .iter()
            .any(|t| t.starts_with("tries=2\n"))),
        "the file was not resumed:\n{}",
        d.log()
    );
    d.kill9();
    assert_eq!(
        i.count("SELECT COUNT(*) FROM files"),
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
        i.count(
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
        i.count("SELECT COUNT(*) FROM records"),
        LEDGER.lines().count() as i64 - 1
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM files WHERE status = 'failed' AND name = 'big.csv'"),
        1
    );
    assert!(i.tries().is_empty(), "tries left behind: {:?}", i.tries());
    assert!(d.log().contains("clerk stopped twice"), "{}", d.log());
    d.stop();
}

/// An install whose file limit is 16 MB: files read whole are taken up to 1 MB.
fn with_file_limit_16mb() -> Install {
    let i = Install::new();
    let text = fs::read_to_string(i.config()).unwrap();
    let text = text.replacen(
        "drain_timeout = \"10s\"",
        "drain_timeout = \"10s\"\nmax_file_size_mb = 16",
        1,
    );
    fs::write(i.config(), text).unwrap();
    i
}

/// A camt.053 statement of about `bytes` bytes: the fixture's entry, many times.
fn camt053(bytes: usize) -> String {
    let src = include_str!("../fixtures/iso20022/genkgo-camt/camt053.v4.xml");
    let (a, b) = (
        src.find("<Ntry>").unwrap(),
        src.find("</Ntry>").unwrap() + "</Ntry>".len(),
    );
    let entry = &src[a..b];
    let mut out = src[..a].to_string();
    while out.len() < bytes {
        out.push_str(entry);
        out.push('\n');
    }
    out.push_str(&src[b..]);
    out
}

#[test]
fn a_file_read_whole_is_limited_to_a_sixteenth_of_the_file_limit_and_a_csv_is_not() {
    let i = with_file_limit_16mb();
    let d = i.start_daemon();
    // 1.5 MB of camt.053: read whole, so refused, saying why and what to do.
    i.drop_file(
        "var/inbox/bank",
        "statement.xml",
        camt053(1_500_000).as_bytes(),
    );
    // 1.5 MB of ledger CSV: read in batches, so taken.
    let csv = ledger(1, 20_000);
    assert!(csv.len() > 1_200_000);
    i.drop_file("var/inbox/ledger", "ledger.csv", csv.as_bytes());
    let note = i.path("var/failed/bank-reconciliation/statement.xml.error.txt");
    assert!(
        wait_until(Duration::from_secs(120), || note.exists()
            && i.files_under("var/archive").len() == 1),
        "failed {:?}, archive {:?}:\n{}",
        i.files_under("var/failed"),
        i.files_under("var/archive"),
        d.log()
    );
    let note = fs::read_to_string(note).unwrap();
    assert!(
        note.contains("clerk reads such a file whole")
            && note.contains("up to 1 MB (daemon.max_file_size_mb / 16)")
            && note.contains("split it"),
        "{note}"
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 20_000);
    d.stop();
}

/// A `VmXxx:` figure of `/proc/<pid>/status`, in bytes; 0 once the process is gone.
fn vm(pid: u32, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let kb = l.strip_prefix(key)?.strip_prefix(':')?;
                kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn a_large_ledger_takes_about_its_size_in_memory_in_the_daemon_and_in_clerk_extract_json() {
    const MB: u64 = 1024 * 1024;
    let i = Install::new();
    // No reconciliation on the book: the file's own cost (the bench, `cargo bench --bench
    // memory`, gives the figures).
    fs::remove_file(i.path("jobs/bank-reconciliation.toml")).unwrap();
    let mut csv = ledger(1, 0);
    let mut k = 1;
    while (csv.len() as u64) < 24 * MB {
        let chunk = ledger(k, 10_000);
        csv.push_str(chunk.split_once('\n').unwrap().1);
        k += 10_000;
    }
    let size = csv.len() as u64;
    let rows = k - 1;
    fs::write(i.path("big.csv"), &csv).unwrap();
    drop(csv);

    let d = i.start_daemon();
    let idle = vm(d.pid(), "VmHWM");
    fs::create_dir_all(i.path("var/inbox/ledger")).unwrap();
    fs::copy(i.path("big.csv"), i.path("var/inbox/ledger/big.csv.part")).unwrap();
    fs::rename(
        i.path("var/inbox/ledger/big.csv.part"),
        i.path("var/inbox/ledger/big.csv"),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(600), || i
            .files_under("var/archive")
            .len()
            == 1),
        "{}",
        d.log()
    );
    let peak = vm(d.pid(), "VmHWM");
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), rows as i64);
    // Before: about 14 times the file (every record held, then the rows again for the store).
    assert!(
        peak - idle < 2 * size + 64 * MB,
        "the daemon went from {} MB to {} MB for a {} MB file",
        idle / MB,
        peak / MB,
        size / MB
    );
    d.stop();

    // `clerk extract --json` prints every record as it reads: about the file, not 37 times it.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clerk"))
        .arg("--config")
        .arg(i.config())
        .args(["extract", "--job", "ledger-import"])
        .arg(i.path("big.csv"))
        .arg("--json")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut sampled = 0;
    while child.try_wait().unwrap().is_none() {
        sampled = sampled.max(vm(child.id(), "VmHWM"));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success());
    assert!(
        sampled < 2 * size + 64 * MB,
        "clerk extract --json took {} MB for a {} MB file",
        sampled / MB,
        size / MB
    );
}
