//! An ops room's month: a second daemon started on the same install, a store with damaged
//! pages, a scheduled summary that fails (with the mail server up, and down), and a daemon
//! paused (SIGSTOP, as a suspended VM) across several slots of a schedule.

use std::fs;
use std::process::ExitStatus;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeZone, Utc};

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::{Daemon, Install, wait_until};
use crate::support::mime;
use crate::support::smtp::SmtpServer;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An alert's subject and plain-text body, decoded; `None` for other mail.
fn alert(raw: &[u8]) -> Option<String> {
    let msg = mime::parse(raw);
    let subject = mime::decode_words(msg.header("Subject")?);
    if !subject.starts_with("clerk ALERT") {
        return None;
    }
    let body = msg.parts.first().map(|p| text(&p.decoded()))?;
    Some(format!("{subject}\n{body}"))
}

/// The alerts written as `.eml` files into the install's outbox folder.
fn outbox_alerts(i: &Install) -> Vec<String> {
    let Ok(entries) = fs::read_dir(i.path("var/outbox")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| alert(&fs::read(e.path()).ok()?))
        .collect()
}

/// Waits (generously) for a process to end by itself; `None` if it did not.
fn exit_of(d: &mut Daemon, within: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(within, || {
        status = d.exited();
        status.is_some()
    });
    status
}

/// An install that has processed a ledger and a statement (so it has breaks), stopped.
fn install_with_work(i: &Install) {
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    i.drop_file("var/inbox/bank", "statement.csv", STATEMENT.as_bytes());
    assert!(
        wait_until(Duration::from_secs(60), || i.status()["files_processed"]
            == 2),
        "{}",
        d.log()
    );
    assert!(d.stop().success());
}

// ---- one daemon per install --------------------------------------------------------------

#[test]
fn a_second_daemon_exits_at_once_naming_the_first_and_read_commands_work_alongside() {
    let i = Install::new();
    install_with_work(&i);
    let mut first = i.start_daemon();
    let pid = first.pid();

    let mut second = i.spawn_daemon_with(&[]);
    let status = exit_of(&mut second, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the second daemon kept running:\n{}", second.log()));
    assert!(!status.success(), "{}", second.log());
    let said = second.log();
    assert!(said.contains(&format!("PID {pid} (clerk run)")), "{said}");
    let lock = i.path("var/clerk.lock");
    assert!(said.contains(&lock.display().to_string()), "{said}");
    assert!(
        !said.contains("clerk running"),
        "the second one must not get as far as running:\n{said}"
    );
    assert_eq!(
        fs::read_to_string(&lock).unwrap(),
        format!("{pid} clerk run\n")
    );

    // Read commands, and people working exceptions, alongside the daemon.
    for args in [
        &["status"][..],
        &["exceptions"],
        &["jobs"],
        &["exceptions", "--all"],
    ] {
        let out = i.clerk(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let check = i.clerk(&["check"]);
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    assert!(
        text(&check.stdout).contains(&format!("held by PID {pid} (clerk run)")),
        "{}",
        text(&check.stdout)
    );
    let id = i.json(&["exceptions"])[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    for args in [
        &["exception", "show", id.as_str()][..],
        &[
            "exception",
            "note",
            id.as_str(),
            "asked the bank",
            "--by",
            "ops",
        ],
        &["exception", "investigate", id.as_str(), "--by", "ops"],
    ] {
        let out = i.clerk(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }

    // The first one is unharmed and still at work.
    assert!(first.exited().is_none(), "{}", first.log());
    let more = LEDGER.replace("INV-000000001", "INV-000000101");
    i.drop_file("var/inbox/ledger", "ledger-2.csv", more.as_bytes());
    assert!(
        wait_until(Duration::from_secs(60), || i.status()["files_processed"]
            == 3),
        "{}",
        first.log()
    );
    assert!(first.stop().success());

    // Once it has stopped, the lock is free for the next one.
    let third = i.start_daemon();
    assert!(third.stop().success());
}

#[test]
fn a_job_run_beside_the_daemon_works_on_copies_and_leaves_the_inbox_to_it() {
    let i = Install::new();
    let d = i.start_daemon();
    let pid = d.pid();

    // Named files: copied into a folder of the command's own, processed, put away.
    let named = i.path("to-load/ledger.csv");
    fs::create_dir_all(named.parent().unwrap()).unwrap();
    fs::write(&named, LEDGER).unwrap();
    let out = i.clerk(&["job", "run", "ledger-import", named.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("ledger.csv: processed"),
        "{}",
        text(&out.stdout)
    );
    assert!(named.exists(), "the original stays where it is");
    assert!(
        i.files_under("var/manual").is_empty(),
        "the copy is put away: {:?}",
        i.files_under("var/manual")
    );
    assert!(
        i.files_under("var/archive")
            .iter()
            .any(|f| f.ends_with("ledger-import/ledger.csv")),
        "{:?}",
        i.files_under("var/archive")
    );
    assert!(
        i.files_under("var/inbox/ledger/.clerk-processing")
            .is_empty()
    );

    // Without names it would take from the daemon's inbox: refused, saying why and what to do.
    let out = i.clerk(&["job", "run", "ledger-import"]);
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains(&format!("PID {pid} (clerk run)")), "{said}");
    assert!(said.contains("Name the files"), "{said}");

    // The summary may be run by hand beside it (the store orders the writes).
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(d.stop().success());
}

// ---- a damaged store ---------------------------------------------------------------------

#[test]
fn a_damaged_store_is_refused_by_check_and_by_the_daemon_saying_what_to_do() {
    let i = Install::new();
    install_with_work(&i);
    let check = i.clerk(&["check"]);
    assert!(check.status.success(), "{}", text(&check.stdout));

    // A few pages in the middle of the file (never the header) overwritten, as a failing disk
    // or a stray write leaves them. The daemon stopped cleanly: its WAL (kept for staff's
    // read-only readers) is in the file and emptied, so none of its pages covers the damage.
    let db = i.path("var/clerk.db");
    let wal = fs::metadata(i.path("var/clerk.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "a cleanly stopped daemon leaves an empty WAL");
    let mut bytes = fs::read(&db).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages >= 10, "{pages} pages");
    for page in pages / 2 - 1..=pages / 2 + 1 {
        bytes[page * 4096..(page + 1) * 4096].fill(0xA5);
    }
    fs::write(&db, bytes).unwrap();

    let check = i.clerk(&["check"]);
    let said = text(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{said}");
    let store_line = said
        .lines()
        .find(|l| l.contains(" store "))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(store_line.starts_with("FAIL"), "{store_line}");
    assert!(store_line.contains("DAMAGED"), "{store_line}");
    assert!(
        store_line.contains("restore the last backup"),
        "{store_line}"
    );
    assert!(store_line.contains("Back up and restore"), "{store_line}");

    let mut d = i.spawn_daemon_with(&[]);
    let status = exit_of(&mut d, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the daemon ran on a damaged store:\n{}", d.log()));
    assert_eq!(status.code(), Some(3), "{}", d.log());
    let log = d.log();
    assert!(
        log.contains("is damaged; clerk does not start on it"),
        "{log}"
    );
    assert!(log.contains("Back up and restore"), "{log}");
    assert!(!log.contains("clerk running"), "{log}");
    // And people are told, not only the log.
    let alerts = outbox_alerts(&i);
    assert!(
        alerts.iter().any(|m| m.contains("is damaged")),
        "no alert in the outbox: {alerts:?}"
    );
}

// ---- a scheduled job that fails ----------------------------------------------------------

/// An install whose daily summary is overdue (its last run ten days ago), so a started daemon
/// fires it at once.
fn overdue_summary(i: &Install) {
    let d = i.start_daemon();
    assert!(d.stop().success());
    let ten_days_ago = (Utc::now() - chrono::Duration::days(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let n = i
        .db()
        .execute(
            "UPDATE schedule_state SET last_fired = ? WHERE job = 'daily-summary'",
            [&ten_days_ago],
        )
        .unwrap();
    assert_eq!(n, 1, "the first start arms the schedule");
}

fn smtp_config(smtp: &SmtpServer) -> String {
    format!(
        "[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\ntimeout = \"3s\"\n",
        smtp.port()
    )
}

fn is_alert_about_the_summary(alert: &str) -> bool {
    alert.contains("daily-summary") && alert.contains("locked")
}

fn smtp_alerts(smtp: &SmtpServer) -> Vec<String> {
    smtp.messages().iter().filter_map(|m| alert(m)).collect()
}

#[test]
fn a_scheduled_summary_that_fails_is_mailed_about_at_once() {
    let smtp = SmtpServer::start();
    let i = Install::with_mail(&smtp_config(&smtp));
    overdue_summary(&i);
    // Another process holds the store's write lock for longer than clerk waits (10 s): the
    // summary cannot be written, and neither can an alert queued in the store.
    let holder = i.db();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(90), || smtp_alerts(&smtp)
            .iter()
            .any(|m| is_alert_about_the_summary(m))),
        "no alert mailed:\n{}",
        d.log()
    );
    // Once the lock is gone the summary goes out after all, once.
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let summaries = || {
        smtp.messages()
            .iter()
            .filter(|m| text(m).contains("Message-ID: <summary.daily-summary."))
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(90), || summaries() == 1),
        "{}",
        d.log()
    );
    let alerts = smtp_alerts(&smtp)
        .iter()
        .filter(|m| is_alert_about_the_summary(m))
        .count();
    assert_eq!(alerts, 1, "one alert per failed run, not one per retry");
    assert!(d.stop().success());
}

#[test]
fn a_failed_summary_alert_goes_to_the_outbox_folder_when_mail_is_down() {
    let mut smtp = SmtpServer::start();
    let i = Install::with_mail(&smtp_config(&smtp));
    overdue_summary(&i);
    smtp.stop();
    let holder = i.db();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(90), || outbox_alerts(&i)
            .iter()
            .any(|m| is_alert_about_the_summary(m))),
        "no alert in var/outbox:\n{}",
        d.log()
    );
    // The daemon writes the file first, then says so in its log.
    assert!(
        wait_until(Duration::from_secs(10), || d
            .log()
            .contains("it is in the outbox folder")),
        "{}",
        d.log()
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(d.stop().success());
}

// ---- a pause across several slots ---------------------------------------------------------

/// The slots (UTC minutes) of the summaries `job` queued, from their Message-IDs.
fn fired_slots(i: &Install, job: &str) -> Vec<DateTime<Utc>> {
    let prefix = format!("<summary.{job}.");
    let mut stmt = i
        .db()
        .prepare("SELECT message_id FROM outbox")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .filter_map(|id| {
            let stamp = id.strip_prefix(&prefix)?.split('@').next()?.to_owned();
            let t = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y%m%dT%H%M").ok()?;
            Some(Utc.from_utc_datetime(&t))
        })
        .collect::<Vec<_>>();
    stmt.sort();
    stmt
}

#[test]
fn a_daemon_paused_across_several_slots_fires_the_job_once_for_them() {
    let i = Install::new();
    fs::write(
        i.path("jobs/every-minute.toml"),
        "kind = \"summary\"\n\n[schedule]\ncron = \"* * * * *\"\n\n\
         [summary]\nto = [\"ops@example.com\"]\noldest = 5\n",
    )
    .unwrap();
    let d = i.start_daemon();
    // SIGSTOP, as a suspended VM: held past two minute boundaries (62 to 122 s).
    let stopped_at = Utc::now();
    d.signal("STOP");
    let minute = chrono::Duration::minutes(1);
    let last_missed = stopped_at.duration_trunc(minute).unwrap() + minute * 2;
    let resume_at = last_missed + chrono::Duration::seconds(2);
    while Utc::now() < resume_at {
        // Time passing is the point: the clock has to cross the minute boundaries.
        std::thread::sleep(Duration::from_millis(200));
    }
    d.signal("CONT");
    let resumed_at = Utc::now();
    assert!(
        wait_until(Duration::from_secs(60), || fired_slots(&i, "every-minute")
            .contains(&last_missed)),
        "the latest missed slot did not fire:\n{}",
        d.log()
    );
    // Slots fire in order, so every slot that fired for the pause is in the store by now.
    let for_the_pause: Vec<_> = fired_slots(&i, "every-minute")
        .into_iter()
        .filter(|&t| t > stopped_at && t <= resumed_at)
        .collect();
    assert_eq!(
        for_the_pause,
        [last_missed],
        "one fire for the slots missed while paused:\n{}",
        d.log()
    );
    assert!(d.stop().success());
}
