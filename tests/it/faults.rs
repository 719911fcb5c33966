//! Faults around the daemon, produced for real: the SMTP server going away and coming back,
//! signals (SIGTERM with a file in flight, SIGHUP with a good and a broken configuration),
//! the database locked by another process, a watched folder that disappears.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use crate::daemon::{LEDGER, outbox_texts};
use crate::support::install::{Daemon, Install, wait_until};
use crate::support::smtp::SmtpServer;

/// A ledger of `n` items of its own (ids and references start at `from`).
pub fn ledger(from: usize, n: usize) -> String {
    let mut s = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    for k in from..from + n {
        s.push_str(&format!(
            "{k},CASH-EUR-01,2026-03-02,{}.{:02},EUR,INV-{k:09},CPTY {k}\n",
            100 + k / 100,
            k % 100
        ));
    }
    s
}

/// A ledger with a typo in its second item: refused, and an alert mailed.
fn bad_ledger(tag: usize) -> String {
    ledger(tag * 10, 3)
        .replacen(".", "x", 2)
        .replacen("x", ".", 1)
}

fn message_ids(smtp: &SmtpServer) -> Vec<String> {
    smtp.messages()
        .iter()
        .map(|raw| {
            let text = String::from_utf8_lossy(raw);
            text.lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("message-id")
                        .then(|| v.trim().to_string())
                })
                .expect("a Message-ID")
        })
        .collect()
}

#[test]
fn an_smtp_outage_holds_mail_back_and_then_delivers_each_message_once() {
    let mut smtp = SmtpServer::start();
    let i = Install::with_mail(&format!(
        "[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"3s\"\n",
        smtp.port()
    ));
    let mut d = i.start_daemon();
    smtp.stop();

    // Three bad files while the server is down: three alerts queued, none delivered.
    for k in 0..3 {
        i.drop_file(
            "var/inbox/ledger",
            &format!("bad-{k}.csv"),
            bad_ledger(k).as_bytes(),
        );
    }
    assert!(
        wait_until(Duration::from_secs(30), || {
            d.log().matches("mail not delivered; will retry").count() >= 3
        }),
        "{}",
        d.log()
    );
    // The daemon keeps working meanwhile, and says how much mail waits.
    i.drop_file("var/inbox/ledger", "good.csv", LEDGER.as_bytes());
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_processed"] == 1
    ));
    assert!(d.exited().is_none(), "the daemon must keep running");
    assert_eq!(
        i.status()["mail_queued"],
        3,
        "the backlog shows in clerk status"
    );
    let text = i.clerk(&["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("mail queued 3"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    assert!(d.log().contains("Connection refused") || d.log().contains("connection refused"));
    let queued: Vec<String> = {
        let db = i.db();
        let mut stmt = db
            .prepare("SELECT message_id FROM outbox ORDER BY message_id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(queued.len(), 3);

    // Back on the same port: each message arrives once, under the Message-ID it was queued with
    // (the first retry is 30 s after the failure).
    smtp.restart();
    smtp.wait_for_messages(3, Duration::from_secs(50));
    // Nothing queued: each delivery is written down, which the sender does only once the
    // server has accepted the message (and stored it); one process sends one message at a
    // time, so a second copy of any of them would be in the Maildir by now.
    assert!(wait_until(
        Duration::from_secs(10),
        || i.status()["mail_queued"] == 0
    ));
    let mut got = message_ids(&smtp);
    got.sort();
    assert_eq!(
        got, queued,
        "each queued message once, with its own Message-ID"
    );
    assert!(d.exited().is_none());
    d.stop();
}

/// Writes `[daemon] drain_timeout` into the install's config.
fn set_drain_timeout(i: &Install, value: &str) {
    let text = fs::read_to_string(i.config()).unwrap();
    let text = text.replace(
        "drain_timeout = \"10s\"",
        &format!("drain_timeout = \"{value}\""),
    );
    assert!(text.contains(value));
    fs::write(i.config(), text).unwrap();
}

#[test]
fn sigterm_with_a_file_in_flight_exits_within_the_drain_timeout_and_never_leaves_half() {
    let i = Install::new();
    set_drain_timeout(&i, "1s");
    let n = 300_000;
    let big = ledger(1, n);
    let mut d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "big.csv", big.as_bytes());
    // In flight: the worker has counted its try, which it does as its unit of work begins.
    assert!(
        wait_until(Duration::from_secs(20), || i.in_work("big.csv")),
        "{}",
        d.log()
    );
    let asked = Instant::now();
    d.signal("TERM");
    assert!(
        wait_until(Duration::from_secs(10), || d.exited().is_some()),
        "no exit 10 s after SIGTERM:\n{}",
        d.log()
    );
    let took = asked.elapsed();
    // 1 s of drain, and the rest of shutting down.
    assert!(took < Duration::from_secs(4), "took {took:?}:\n{}", d.log());

    // The unit takes seconds: abandoned at the deadline, its transaction rolled back, the file
    // untouched and back in processing. Never half.
    assert_eq!(
        i.count("SELECT COUNT(*) FROM files"),
        0,
        "the unit should have outlasted the 1 s drain:\n{}",
        d.log()
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records"),
        0,
        "nothing half-posted"
    );
    assert_eq!(
        i.files_under("var/inbox/ledger/.clerk-processing"),
        vec!["big.csv".to_string()]
    );
    assert!(i.files_under("var/archive").is_empty());
    assert!(d.log().contains("did not stop within the drain timeout"));
    assert_eq!(
        i.count("SELECT COUNT(*) FROM runs WHERE status = 'running'"),
        0
    );

    // The next start finishes it, once (a debug build on a loaded machine takes minutes).
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(600), || i.status()["files_processed"]
            == 1
            && i.files_under("var/inbox").is_empty()),
        "{}",
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), n as i64);
    assert_eq!(i.count("SELECT COUNT(*) FROM files"), 1);
    assert_eq!(i.files_under("var/archive").len(), 1);
    d.stop();
}

#[test]
fn sighup_reloads_jobs_and_a_broken_config_is_refused_logged_and_mailed() {
    let i = Install::new();
    let mut d = i.start_daemon();

    // A new job, taken in by SIGHUP without a restart.
    let job = fs::read_to_string(i.path("jobs/ledger-import.toml"))
        .unwrap()
        .replace("var/inbox/ledger\"", "var/inbox/ledger-b\"");
    assert!(job.contains("var/inbox/ledger-b\""));
    fs::write(i.path("jobs/ledger-b.toml"), job).unwrap();
    d.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("configuration reloaded")),
        "{}",
        d.log()
    );
    assert!(d.exited().is_none(), "SIGHUP must not end the daemon");
    i.drop_file("var/inbox/ledger-b", "b1.csv", ledger(1, 3).as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i.count(
            "SELECT COUNT(*) FROM files WHERE job = 'ledger-b' AND status = 'processed'"
        ) == 1),
        "{}",
        d.log()
    );

    // A broken configuration: refused, the one in use stays, an ERROR and an alert.
    let good = fs::read_to_string(i.config()).unwrap();
    fs::write(
        i.config(),
        good.replace("rescan_interval = \"100ms\"", "rescan_interval = \"soon\""),
    )
    .unwrap();
    d.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("the new configuration is invalid")),
        "{}",
        d.log()
    );
    let line = d
        .log()
        .lines()
        .find(|l| l.contains("the new configuration is invalid"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("ERROR") && line.contains("rescan_interval"),
        "{line}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || outbox_texts(&i)
            .iter()
            .any(|m| m.contains("invalid") && m.contains("rescan_interval"))),
        "an alert about the broken configuration: {:?}",
        outbox_texts(&i)
    );
    assert!(d.exited().is_none());
    // Still the configuration in use: the new job still works, at its fast rescan.
    i.drop_file("var/inbox/ledger-b", "b2.csv", ledger(100, 3).as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i.count(
            "SELECT COUNT(*) FROM files WHERE job = 'ledger-b' AND status = 'processed'"
        ) == 2),
        "{}",
        d.log()
    );

    // Fixed and reloaded again, with the job removed: its folder is no longer watched.
    fs::write(i.config(), good).unwrap();
    fs::remove_file(i.path("jobs/ledger-b.toml")).unwrap();
    d.signal("HUP");
    assert!(wait_until(Duration::from_secs(20), || d
        .log()
        .matches("configuration reloaded")
        .count()
        == 2));
    i.drop_file("var/inbox/ledger-b", "b3.csv", ledger(200, 3).as_bytes());
    // A file dropped after it into a folder still watched, with the same settle time, is
    // taken no sooner than b3 would be (oldest arrival first): once it is processed, b3
    // would have been taken too.
    i.drop_file(
        "var/inbox/ledger",
        "after-b3.csv",
        ledger(300, 3).as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || i.count(
            "SELECT COUNT(*) FROM files WHERE job = 'ledger-import' AND status = 'processed'"
        ) == 1),
        "{}",
        d.log()
    );
    assert!(i.path("var/inbox/ledger-b/b3.csv").exists());
    assert!(d.stop().success());
}

#[test]
fn a_database_locked_by_another_process_delays_the_file_and_posts_it_whole_later() {
    let i = Install::new();
    let mut d = i.start_daemon();
    // Let the scheduler arm the summary first (its one write at start-up).
    let scheduled = fs::read_dir(i.path("jobs"))
        .unwrap()
        .filter(|e| {
            fs::read_to_string(e.as_ref().unwrap().path())
                .unwrap()
                .contains("[schedule]")
        })
        .count() as i64;
    assert!(wait_until(Duration::from_secs(20), || i
        .count("SELECT COUNT(*) FROM schedule_state")
        == scheduled));
    // Another process takes the write lock and keeps it longer than clerk's busy timeout (10 s).
    let lock = i.db();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    assert!(
        wait_until(Duration::from_secs(40), || d
            .log()
            .contains("unit of work failed; will retry")),
        "{}",
        d.log()
    );
    let line = d
        .log()
        .lines()
        .find(|l| l.contains("unit of work failed"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("locked") && line.contains("ledger.csv"),
        "a clear error naming the file: {line}"
    );
    assert!(d.exited().is_none());
    assert_eq!(
        i.files_under("var/inbox/ledger/.clerk-processing"),
        vec!["ledger.csv".to_string()],
        "the file waits in processing"
    );
    let records: i64 = lock
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 0, "nothing half-posted");
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    assert!(
        wait_until(Duration::from_secs(30), || i.status()["files_processed"]
            == 1),
        "{}",
        d.log()
    );
    assert_eq!(i.status()["records"], 6);
    assert_eq!(i.count("SELECT COUNT(*) FROM files"), 1);
    assert!(wait_until(Duration::from_secs(20), || i
        .files_under("var/inbox")
        .is_empty()));
    d.stop();
}

#[test]
fn a_watched_folder_that_disappears_and_comes_back_is_watched_again() {
    let i = Install::new();
    let d = i.start_daemon();
    let folder = i.path("var/inbox/ledger");
    // The share goes away.
    fs::rename(&folder, i.path("var/ledger-unmounted")).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || d
            .log()
            .contains("cannot list the watched folder")),
        "{}",
        d.log()
    );
    // Meanwhile other folders are still served.
    i.drop_file(
        "var/inbox/bank",
        "s.csv",
        crate::daemon::STATEMENT.as_bytes(),
    );
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_processed"] == 1
    ));
    // One ERROR for the outage, not one per scan: the statement was seen, waited out its
    // settle time and was taken over several scans, each of which listed the missing folder.
    assert_eq!(
        d.log().matches("cannot list the watched folder").count(),
        1,
        "{}",
        d.log()
    );

    // It comes back (a new, empty folder: the watcher's old inode is gone).
    fs::create_dir_all(&folder).unwrap();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i.status()["files_processed"]
            == 2),
        "{}",
        d.log()
    );
    assert!(d.log().contains("folder reachable again"));
    let by_job: BTreeMap<String, i64> = {
        let db = i.db();
        let mut stmt = db
            .prepare("SELECT job, COUNT(*) FROM files GROUP BY job")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(by_job.get("ledger-import"), Some(&1));
    d.stop();
}

/// Runs a command as root would; `false` when it fails (not root, no mount rights).
fn sh(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A read-only bind mount of `dir` over itself, for as long as it lives. Root ignores file
/// modes, so only a read-only mount makes a folder read-only for real.
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn mount(dir: &std::path::Path) -> Option<ReadOnly> {
        let d = dir.display();
        if !sh(&format!("mount --bind '{d}' '{d}'")) {
            return None;
        }
        if !sh(&format!("mount -o remount,bind,ro '{d}'")) {
            sh(&format!("umount '{d}'"));
            return None;
        }
        Some(ReadOnly(dir.to_path_buf()))
    }
}

impl ReadOnly {
    /// Makes the folder writable again; panics if it cannot.
    fn release(self) {
        let d = self.0.display().to_string();
        std::mem::forget(self);
        // The daemon may be listing the folder at this very moment: busy for a few ms.
        let done = (0..40).any(|_| {
            sh(&format!("umount '{d}'")) || {
                std::thread::sleep(Duration::from_millis(50));
                false
            }
        });
        assert!(
            done || sh(&format!("umount -l '{d}'")),
            "cannot unmount {d}"
        );
    }
}

/// Makes the archive writable again and waits for the file held back under `waiting` to be
/// moved there, once: the move is tried again while the daemon runs, not only at its start.
fn archived_once_writable(i: &Install, d: &Daemon, archive: ReadOnly, waiting: &str) {
    archive.release();
    assert!(
        wait_until(Duration::from_secs(20), || i
            .files_under(waiting)
            .is_empty()),
        "the file under {waiting} is archived once the archive is writable:\n{}",
        d.log()
    );
    assert_eq!(i.files_under("var/archive").len(), 1);
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if !sh(&format!("umount '{}'", self.0.display())) {
            sh(&format!("umount -l '{}'", self.0.display()));
        }
    }
}

#[test]
fn a_read_only_inbox_or_archive_delays_files_and_the_daemon_goes_on() {
    let i = Install::new();
    let mut d = i.start_daemon();
    fs::create_dir_all(i.path("var/archive")).unwrap();
    // The archive cannot be written: the file is processed and recorded, and waits in
    // processing until the archive can be written again.
    let Some(ro) = ReadOnly::mount(&i.path("var/archive")) else {
        eprintln!("SKIPPED: cannot make a read-only bind mount here (needs root and mount rights)");
        return;
    };
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("could not archive the file")),
        "{}",
        d.log()
    );
    assert_eq!(i.status()["files_processed"], 1);
    assert_eq!(
        i.files_under("var/inbox/ledger/.clerk-processing"),
        vec!["ledger.csv".to_string()]
    );
    assert!(d.exited().is_none());
    archived_once_writable(&i, &d, ro, "var/inbox");

    // The inbox cannot be written (the file arrived just before): the file cannot be taken;
    // it is once the inbox can be written again.
    i.drop_file(
        "var/inbox/bank",
        "s.csv",
        crate::daemon::STATEMENT.as_bytes(),
    );
    let ro = ReadOnly::mount(&i.path("var/inbox/bank")).expect("mounted once already");
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("cannot take the file")),
        "{}",
        d.log()
    );
    assert!(d.exited().is_none());
    // Scans go on: a file no job takes, dropped into another inbox now, is reported once it
    // has settled, several scans later; each of those scans tried to take s.csv again.
    i.drop_file("var/inbox/ledger", "scans-go-on.docx", b"not a ledger");
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("scans-go-on.docx"))),
        "{}",
        d.log()
    );
    // One ERROR for the file, not one per scan.
    assert_eq!(
        d.log().matches("cannot take the file").count(),
        1,
        "{}",
        d.log()
    );
    ro.release();
    assert!(
        wait_until(Duration::from_secs(20), || i.status()["files_processed"]
            == 2),
        "{}",
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM files"), 2);
    d.stop();
}

#[test]
fn a_mailed_statement_that_cannot_be_archived_is_moved_once_the_archive_is_writable() {
    let i = Install::new();
    let mut d = i.start_daemon();
    let root = i.path("var/mail/back-office");
    assert!(wait_until(Duration::from_secs(10), || root
        .join("new")
        .is_dir()));
    fs::create_dir_all(i.path("var/archive")).unwrap();
    let Some(ro) = ReadOnly::mount(&i.path("var/archive")) else {
        eprintln!("SKIPPED: cannot make a read-only bind mount here (needs root and mount rights)");
        return;
    };
    let raw = crate::mailflow::mail(
        "statements@bank.example.com",
        "Statement",
        "ro1@bank",
        &[("s.csv", crate::daemon::STATEMENT.as_bytes())],
    );
    let tmp = root.join("tmp/1764180000.M1P1.host");
    fs::write(&tmp, &raw).unwrap();
    fs::rename(&tmp, root.join("new/1764180000.M1P1.host")).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("could not archive the file")),
        "{}",
        d.log()
    );
    // Recorded (and the mail moved: the store knows the attachment), the staged file waits.
    assert_eq!(i.status()["files_processed"], 1);
    let staged = i.files_under("var/inbox/bank/.clerk-processing");
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert!(d.exited().is_none());
    // Tried again while the daemon runs, not only at the next start.
    archived_once_writable(&i, &d, ro, "var/inbox/bank");
    assert_eq!(i.count("SELECT COUNT(*) FROM files"), 1);
    assert!(d.exited().is_none());
    d.stop();
}

#[test]
fn a_full_disk_delays_the_file_without_half_posting_and_it_goes_through_once_freed() {
    let i = Install::new();
    let var = i.path("var");
    fs::create_dir_all(&var).unwrap();
    if !sh(&format!(
        "mount -t tmpfs -o size=16m tmpfs '{}'",
        var.display()
    )) {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root and mount rights)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            sh(&format!("umount -l '{}'", self.0.display()));
        }
    }
    let _mounted = Unmount(var.clone());
    let mut d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "first.csv", LEDGER.as_bytes());
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_processed"] == 1
    ));

    // Fill the disk, leaving a few KB: enough to drop a file, not to write the store.
    let big = ledger(1000, 2000);
    let avail = || -> u64 {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&var)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let filler = var.join("filler");
    let room = avail().saturating_sub(big.len() as u64 + 8192);
    fs::write(&filler, vec![0u8; room as usize]).unwrap();
    i.drop_file("var/inbox/ledger", "second.csv", big.as_bytes());
    assert!(
        wait_until(Duration::from_secs(30), || d
            .log()
            .contains("unit of work failed")),
        "free: {} bytes\n{}",
        avail(),
        d.log()
    );
    let line = d
        .log()
        .lines()
        .find(|l| l.contains("unit of work failed"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("full") && line.contains("second.csv"),
        "{line}"
    );
    assert!(
        d.exited().is_none(),
        "the daemon keeps running:\n{}",
        d.log()
    );
    assert_eq!(
        i.count("SELECT COUNT(*) FROM records"),
        6,
        "nothing half-posted"
    );

    fs::remove_file(&filler).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || i.status()["files_processed"]
            == 2),
        "{}",
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 6 + 2000);
    assert!(wait_until(Duration::from_secs(10), || i
        .files_under("var/inbox")
        .is_empty()));
    d.stop();
}
