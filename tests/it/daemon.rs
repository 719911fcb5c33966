//! The daemon end to end: the real `clerk run` binary on a temp install, files dropped into
//! its folders, the store and folders inspected afterwards.

use std::fs;
use std::io::Write;
use std::time::Duration;

use crate::support::install::{Install, STAFF_COSTS, job_kpis, wait_until};

pub const LEDGER: &str = "\
id,account,value_date,amount,currency,reference,counterparty
1,CASH-EUR-01,2026-03-02,100.00,EUR,INV-000000001,ACME GMBH
2,CASH-EUR-01,2026-03-02,250.50,EUR,INV-000000002,BETA SA
3,CASH-EUR-01,2026-03-03,10.00,EUR,INV-000000003,GAMMA AG
4,CASH-EUR-01,2026-03-03,20.00,EUR,INV-000000004,GAMMA AG
5,CASH-EUR-01,2026-03-02,999.99,EUR,INV-000000005,DELTA LTD
6,CASH-USD-01,2026-03-04,-75.00,USD,INV-000000006,EPSILON INC
";

pub const STATEMENT: &str = "\
booking_date,value_date,amount,currency,bank_reference,remittance_info
2026-03-02,2026-03-02,100.00,EUR,BK1,PAYMENT INV-000000001 ACME
2026-03-03,2026-03-04,250.50,EUR,BK2,BETA SA TRANSFER
2026-03-03,2026-03-03,30.00,EUR,BK3,PAYRUN PR0000001 2 ITEMS GAMMA AG
2026-03-04,2026-03-04,-75.00,USD,BK4,INV-000000006
2026-03-10,2026-03-10,12.34,EUR,BK5,ACCOUNT MAINTENANCE FEE
";

/// (account, currency, amount) of every posted entry line, sorted.
fn posted_lines(i: &Install) -> Vec<(String, String, String)> {
    let db = i.db();
    let mut stmt = db
        .prepare("SELECT account, currency, amount FROM entry_lines ORDER BY account, amount")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn a_ledger_and_a_statement_post_the_right_entries_and_raise_the_right_breaks() {
    let i = Install::with_shipped_chart(STAFF_COSTS);
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);

    let status = i.status();
    assert_eq!(status["entries_posted"], 4, "{status}");
    assert_eq!(status["records"], 11);

    // One entry per match: reference (1), amount+date (2), batch (3+4), USD reference (6).
    // Receipts credit receivables, the batch one line per invoice it pays; the USD payment
    // (money out) debits payables, not receivables. The shipped SKR03 accounts; the bank is
    // the account of the CSV export (the job's [extract.defaults]), 1200 in the chart.
    let lines = posted_lines(&i);
    const RECEIVABLES: &str = "1400 Forderungen aus Lieferungen und Leistungen";
    const PAYABLES: &str = "1600 Verbindlichkeiten aus Lieferungen und Leistungen";
    let expect = [
        ("1200 Bank", "EUR", "100.00"),
        ("1200 Bank", "EUR", "250.50"),
        ("1200 Bank", "EUR", "30.00"),
        ("1200 Bank", "USD", "-75.00"),
        (RECEIVABLES, "EUR", "-100.00"),
        (RECEIVABLES, "EUR", "-250.50"),
        (RECEIVABLES, "EUR", "-10.00"),
        (RECEIVABLES, "EUR", "-20.00"),
        (PAYABLES, "USD", "75.00"),
    ];
    let mut got: Vec<_> = lines
        .iter()
        .map(|(a, c, m)| (a.as_str(), c.as_str(), m.as_str()))
        .collect();
    got.sort();
    let mut want = expect.to_vec();
    want.sort();
    assert_eq!(got, want);

    // Two breaks: the ledger item the bank never paid, the fee nobody booked.
    let ex = i.json(&["exceptions"]);
    let mut reasons: Vec<(String, String)> = ex
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap().to_string(),
                e["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("missing_in_ledger".to_string(), "12.34".to_string()),
            ("missing_on_statement".to_string(), "999.99".to_string()),
        ]
    );
    for e in ex.as_array().unwrap() {
        assert_eq!(e["status"], "open");
        assert_eq!(e["job"], "bank-reconciliation");
        assert!(e["age_days"].as_i64().unwrap() > 0);
        assert!(e["source"].as_str().unwrap().contains(".csv line "), "{e}");
    }

    // Both files archived under archive/YYYY/MM/DD/<job>/ (each once it has stayed as it was
    // read for the settle time), nothing left in the inboxes.
    assert!(wait_until(Duration::from_secs(20), || i
        .files_under("var/archive")
        .len()
        == 2));
    let archived = i.files_under("var/archive");
    assert_eq!(archived.len(), 2, "{archived:?}");
    assert!(
        archived
            .iter()
            .any(|f| f.ends_with("ledger-import/ledger.csv"))
    );
    assert!(
        archived
            .iter()
            .any(|f| f.ends_with("bank-reconciliation/statement.csv"))
    );
    assert!(i.files_under("var/inbox").is_empty());

    // KPIs per job: the STP rate is what matched over what was decided (matched + 2 breaks).
    let bank = job_kpis(&status, "bank-reconciliation");
    assert_eq!(bank["breaks_opened"], 2, "{bank}");
    let matched = bank["matched"].as_u64().unwrap();
    let stp = bank["stp_rate"].as_f64().unwrap();
    assert!(
        (stp - matched as f64 / (matched + 2) as f64).abs() < 1e-9,
        "{bank}"
    );
    assert!(bank["arrival_to_done_avg_ms"].as_u64().is_some(), "{bank}");
    // Records matched by each pass: reference (1 + BK1, 6 + BK4), amount and date (2 + BK2),
    // batch (3 + 4 + BK3).
    assert_eq!(bank["matched_by_pass"]["reference"], 4, "{bank}");
    assert_eq!(bank["matched_by_pass"]["amount_date"], 2, "{bank}");
    assert_eq!(bank["matched_by_pass"]["batch"], 3, "{bank}");
    // Stage times are measured with a monotonic clock, the run's duration from wall-clock
    // timestamps: both are there, and reading is a part of the run (give or take a tick).
    let (extract, matching) = (bank["extract_ms"].as_u64(), bank["match_ms"].as_u64());
    assert!(extract.is_some() && matching.is_some(), "{bank}");
    assert!(
        extract.unwrap() <= bank["processing_ms"].as_u64().unwrap() + 20,
        "{bank}"
    );
    // Staff time only: 2 breaks × 10 min at 60/hour = 20 EUR over the statement's 5 records.
    let costs = &bank["costs"];
    assert_eq!(costs["currency"], "EUR", "{bank}");
    assert_eq!(costs["staff"], "20", "{bank}");
    assert_eq!(
        costs["per_transaction"].as_str().unwrap(),
        (rust_decimal::Decimal::from(20)
            / rust_decimal::Decimal::from(bank["records"].as_u64().unwrap()))
        .round_dp(8)
        .to_string(),
        "{bank}"
    );
    let text = String::from_utf8(i.clerk(&["status"]).stdout).unwrap();
    assert!(text.contains("cost/txn") && text.contains(" EUR"), "{text}");
    // Run times are in the configured zone, and say so.
    assert!(text.contains("latest runs (Europe/Berlin):"), "{text}");
    d.stop();
}

#[test]
fn a_statement_before_its_ledger_closes_its_breaks_when_the_ledger_arrives() {
    let i = Install::new();
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 1);
    assert_eq!(i.json(&["exceptions"]).as_array().unwrap().len(), 5);

    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 2);
    let open = i.json(&["exceptions"]);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 2, "{open:?}");
    let all = i.json(&["exceptions", "--all"]);
    let resolved: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == "resolved")
        .collect();
    assert_eq!(resolved.len(), 4);
    assert!(resolved.iter().all(|e| {
        e["resolution"]
            .as_str()
            .unwrap()
            .contains("matched automatically")
    }));
    assert_eq!(i.status()["entries_posted"], 4);
    d.stop();
}

#[test]
fn the_same_file_dropped_twice_posts_once() {
    let i = Install::new();
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    // Staff drop the statement again, under another name.
    i.drop_file(
        "var/inbox/bank",
        "statement (copy).csv",
        STATEMENT.as_bytes(),
    );
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_duplicate"] == 1
    ));
    let status = i.status();
    assert_eq!(status["entries_posted"], 4);
    assert_eq!(status["records"], 11);
    assert_eq!(status["files_processed"], 2);
    assert!(wait_until(Duration::from_secs(20), || i
        .files_under("var/archive")
        .len()
        == 3));
    d.stop();
}

#[test]
fn a_file_written_slowly_is_taken_once_and_complete() {
    let i = Install::new();
    let d = i.start_daemon();
    let path = i.path("var/inbox/ledger/slow.csv");
    let mut f = fs::File::create(&path).unwrap();
    let mut lines = LEDGER.lines();
    writeln!(f, "{}", lines.next().unwrap()).unwrap();
    // A network copy: a line every 100 ms, well inside the 300 ms settle time (the pauses
    // are the point: a writer that is slow on purpose).
    for line in lines {
        std::thread::sleep(Duration::from_millis(100));
        writeln!(f, "{line}").unwrap();
        f.flush().unwrap();
    }
    drop(f);
    assert!(wait_until(Duration::from_secs(20), || i.files_processed() == 1));
    // Put away (archived, or set aside to failed/ had it changed since it was read): the
    // daemon is done with the file, after holding it for its settle time and looking again.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let put_away = |folder: &str| {
                i.files_under(folder)
                    .iter()
                    .any(|f| f.ends_with("ledger-import/slow.csv"))
            };
            put_away("var/archive") || put_away("var/failed")
        }),
        "{}",
        d.log()
    );
    let status = i.status();
    assert_eq!(status["records"], 6, "every line, read once: {status}");
    assert_eq!(status["files_processed"], 1);
    assert_eq!(status["files_failed"], 0);
    d.stop();
}

#[test]
fn a_malformed_file_goes_to_failed_with_its_line_and_the_daemon_goes_on() {
    let i = Install::new();
    let d = i.start_daemon();
    let bad = LEDGER.replace("250.50", "25O.50");
    i.drop_file("var/inbox/ledger", "bad.csv", bad.as_bytes());
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_failed"] == 1
    ));
    // The note is written first, then the file is moved beside it.
    assert!(wait_until(Duration::from_secs(20), || {
        i.path("var/failed/ledger-import/bad.csv.error.txt")
            .exists()
            && i.path("var/failed/ledger-import/bad.csv").exists()
    }));
    let note = fs::read_to_string(i.path("var/failed/ledger-import/bad.csv.error.txt")).unwrap();
    assert!(note.contains("line 3"), "{note}");
    assert!(note.contains("25O.50"), "{note}");
    assert_eq!(
        i.status()["records"],
        0,
        "nothing of a bad file is imported"
    );

    // The daemon goes on with the next file.
    i.drop_until_processed(&d, "var/inbox/ledger/good.csv", LEDGER, 1);

    // The failure is an open exception and is in the next summary; the alert went out at once.
    let ex = i.json(&["exceptions"]);
    assert!(
        ex.as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "unreadable"
                && e["detail"].as_str().unwrap().contains("bad.csv"))
    );
    assert!(wait_until(Duration::from_secs(10), || {
        outbox_texts(&i)
            .iter()
            .any(|m| m.contains("bad.csv") && m.contains("line 3"))
    }));
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summaries: Vec<String> = outbox_texts(&i)
        .into_iter()
        .filter(|m| m.contains("Message-ID: <summary."))
        .collect();
    assert_eq!(summaries.len(), 1);
    assert!(summaries[0].contains("bad.csv"));
    d.stop();
}

/// Every message in the outbox folder, as text.
pub fn outbox_texts(i: &Install) -> Vec<String> {
    let dir = i.path("var/outbox");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| String::from_utf8_lossy(&fs::read(e.path()).unwrap()).into_owned())
        .collect()
}

/// A ledger and statement with `n` items matching one to one by reference.
fn big_pair(n: usize) -> (String, String) {
    let mut ledger = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    let mut statement =
        String::from("booking_date,value_date,amount,currency,bank_reference,remittance_info\n");
    for k in 1..=n {
        let day = 2 + (k % 5);
        let amount = format!("{}.{:02}", 10 + k, k % 100);
        ledger.push_str(&format!(
            "{k},CASH-EUR-01,2026-03-0{day},{amount},EUR,INV-{k:09},CPTY {k}\n"
        ));
        statement.push_str(&format!(
            "2026-03-0{day},2026-03-0{day},{amount},EUR,BK{k:08},PAYMENT INV-{k:09}\n"
        ));
    }
    (ledger, statement)
}

#[test]
fn a_daemon_killed_mid_work_loses_and_doubles_nothing() {
    let i = Install::new();
    let n = 20_000;
    let (ledger, statement) = big_pair(n);
    let mut d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", ledger.as_bytes());
    i.drop_file("var/inbox/bank", "statement.csv", statement.as_bytes());
    // Kill it several times while it works, at different moments, restarting each time (the
    // pause is the kill moment, chosen on purpose, not a wait for some state).
    for k in 0..4 {
        std::thread::sleep(Duration::from_millis(150 + 250 * k));
        d.kill9();
        let restarted = std::time::SystemTime::now();
        d = i.start_daemon();
        crate::memory::wait_until_no_second_try(&i, restarted);
    }
    // A file the daemon was killed on twice is set aside (failed/, a note, a break) rather
    // than read again: kills this close together may land on one file twice. Nothing of it
    // was kept, and the operator drops it in again, as the README says.
    let set_aside = |i: &Install| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (job, inbox) in [
            ("ledger-import", "var/inbox/ledger"),
            ("bank-reconciliation", "var/inbox/bank"),
        ] {
            let failed = i.path(&format!("var/failed/{job}"));
            for name in ["ledger.csv", "statement.csv"] {
                let note = fs::read_to_string(failed.join(format!("{name}.error.txt")));
                if note.is_ok_and(|t| t.contains("clerk stopped")) && failed.join(name).exists() {
                    out.push((
                        format!("var/failed/{job}/{name}"),
                        format!("{inbox}/{name}"),
                    ));
                }
            }
        }
        out
    };
    assert!(
        wait_until(Duration::from_secs(120), || i.files_processed()
            + set_aside(&i).len() as u64
            == 2),
        "{}",
        d.log()
    );
    let again = set_aside(&i);
    for (from, to) in &again {
        fs::rename(i.path(from), i.path(to)).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(120), || i.files_processed() == 2),
        "{}",
        d.log()
    );
    assert!(wait_until(Duration::from_secs(10), || i
        .files_under("var/archive")
        .len()
        == 2));
    let status = i.status();
    assert_eq!(status["records"], 2 * n as u64, "{status}");
    assert_eq!(status["entries_posted"], n as u64, "{status}");
    assert_eq!(
        status["files_duplicate"], 0,
        "a resumed or set-aside file is not a duplicate"
    );
    // One break per file set aside, until someone resolves it; nothing else.
    assert_eq!(status["open_exceptions"], again.len() as u64, "{status}");
    let db = i.db();
    let keys: i64 = db
        .query_row(
            "SELECT COUNT(DISTINCT idempotency_key) FROM entries",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keys, n as i64);
    let running: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM runs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0, "no run is left half-done");
    assert!(
        i.files_under("var/inbox").is_empty(),
        "nothing left in processing"
    );
    d.stop();
}

#[test]
fn an_idle_daemon_uses_almost_no_cpu() {
    // The shipped intervals: a 2 s rescan, a 10 s mailbox poll. CPU time, not wall time, so
    // a loaded machine does not make it fail: an idle daemon that lists its folders because
    // of the events its own listing causes uses half a core here, loaded or not.
    let i = Install::shipped();
    let d = i.start_daemon();
    // Start-up work (store, schedules armed, the mailbox created) is done once it says so.
    assert!(wait_until(Duration::from_secs(30), || i
        .path("var/mail/back-office/new")
        .is_dir()));
    let window = Duration::from_secs(6);
    let (cpu0, wall0) = (d.cpu_time(), std::time::Instant::now());
    // The idle time measured: time passing is the point here, no state is awaited.
    std::thread::sleep(window);
    let (used, wall) = (d.cpu_time() - cpu0, wall0.elapsed());
    let share = used.as_secs_f64() / wall.as_secs_f64();
    assert!(
        share < 0.05,
        "an idle daemon used {:.1} % of a CPU ({used:?} in {wall:?}):\n{}",
        share * 100.0,
        d.log()
    );
    d.stop();
}

/// A one-item ledger file, its item numbered `k`.
fn small_ledger(k: usize) -> String {
    format!(
        "id,account,value_date,amount,currency,reference,counterparty\n\
         {k},CASH-EUR-01,2026-03-02,{}.{:02},EUR,INV-{k:09},CPTY {k}\n",
        10 + k / 100,
        k % 100
    )
}

#[test]
fn a_backlog_left_in_processing_neither_blocks_the_start_nor_the_signals() {
    // More files left in processing than the work queue holds (1,024): after a crash in the
    // middle of a big drop. The benchmark `backlog` runs 5,000.
    let i = Install::new();
    let n = 1_500;
    let processing = i.path("var/inbox/ledger/.clerk-processing");
    fs::create_dir_all(&processing).unwrap();
    for k in 0..n {
        fs::write(processing.join(format!("l-{k:05}.csv")), small_ledger(k)).unwrap();
    }
    let notify = crate::support::sdnotify::NotifySocket::bind();
    let mut d = i.spawn_daemon_with(&[("NOTIFY_SOCKET", notify.path())]);
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(30))
            .is_some(),
        "no READY with {n} files left in processing:\n{}",
        d.log()
    );
    // SIGHUP is answered at once, not after the backlog.
    let asked = std::time::Instant::now();
    d.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || d
            .log()
            .contains("configuration reloaded")),
        "SIGHUP not answered within 10 s during a backlog:\n{}",
        d.log()
    );
    eprintln!("SIGHUP answered in {:?}", asked.elapsed());
    assert!(
        wait_until(Duration::from_secs(60), || i
            .count("SELECT COUNT(*) FROM files")
            > 0),
        "the backlog does not drain:\n{}",
        d.log()
    );
    // SIGTERM is answered within the drain timeout (10 s here) while files still wait.
    let asked = std::time::Instant::now();
    d.signal("TERM");
    assert!(
        wait_until(Duration::from_secs(20), || d.exited().is_some()),
        "SIGTERM not answered during a backlog:\n{}",
        d.log()
    );
    eprintln!("SIGTERM answered in {:?}", asked.elapsed());
    assert!(asked.elapsed() < Duration::from_secs(15), "{}", d.log());

    // The next start takes up the rest, each file once.
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(600), || i
            .files_under("var/inbox")
            .is_empty()),
        "{} files still waiting:\n{}",
        i.files_under("var/inbox").len(),
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM files"), n as i64);
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), n as i64);
    assert_eq!(i.files_under("var/archive").len(), n);
    d.stop();
}

#[test]
fn thousands_of_files_dropped_at_once_keep_the_watchdog_fed_and_the_signals_answered() {
    // More than the work queue holds, dropped at once. The benchmark `backlog` drops 20,000.
    let i = Install::new();
    let n = 3_000;
    let notify = crate::support::sdnotify::NotifySocket::bind();
    // A watchdog of 2 s, as systemd sets it: clerk pings every second while it progresses.
    let d = i.start_daemon_with(&[
        ("NOTIFY_SOCKET", notify.path()),
        ("WATCHDOG_USEC", "2000000"),
    ]);
    let inbox = i.path("var/inbox/ledger");
    let staging = i.path("var/staging");
    fs::create_dir_all(&staging).unwrap();
    for k in 0..n {
        fs::write(staging.join(format!("l-{k:05}.csv")), small_ledger(k)).unwrap();
    }
    let dropped = std::time::Instant::now();
    for k in 0..n {
        let name = format!("l-{k:05}.csv");
        fs::rename(staging.join(&name), inbox.join(&name)).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(60), || i
            .count("SELECT COUNT(*) FROM files")
            >= 50),
        "{}",
        d.log()
    );
    let asked = std::time::Instant::now();
    d.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || d
            .log()
            .contains("configuration reloaded")),
        "SIGHUP not answered within 10 s during a backlog:\n{}",
        d.log()
    );
    eprintln!("SIGHUP answered in {:?}", asked.elapsed());
    assert!(
        wait_until(Duration::from_secs(900), || i
            .count("SELECT COUNT(*) FROM files")
            == n as i64
            && i.files_under("var/inbox").is_empty()),
        "{} recorded:\n{}",
        i.count("SELECT COUNT(*) FROM files"),
        d.log()
    );
    let drained = dropped.elapsed();
    eprintln!(
        "{n} files drained in {drained:?} ({:.0} files/s)",
        n as f64 / drained.as_secs_f64()
    );
    // Fed all along: never withheld while files were processed (it pings every second; a
    // loaded machine may delay a ping, but not by many seconds).
    let pings = notify.times_of("WATCHDOG=1");
    let longest = pings
        .windows(2)
        .filter(|w| w[0] >= dropped)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!("longest gap between watchdog pings: {longest:?}");
    assert!(
        pings.iter().filter(|&&t| t >= dropped).count() as f64 >= drained.as_secs_f64() / 4.0,
        "{} pings in {drained:?}",
        pings.len()
    );
    assert!(
        !d.log().contains("withholding the watchdog ping") && longest < Duration::from_secs(10),
        "the watchdog went unfed for {longest:?} while files were processed:\n{}",
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), n as i64);
    d.stop();
}

/// Gives a shipped job its own settle time (`[watch] settle_time`).
fn set_settle_time(i: &Install, job: &str, folder: &str, value: &str) {
    let watched = format!("folder = \"{folder}\"\n");
    i.edit_job(
        job,
        &watched,
        &format!("{watched}settle_time = \"{value}\"\n"),
    );
}

/// Ledger lines for items `from..to` (no header).
fn ledger_rows(from: usize, to: usize) -> String {
    (from..to)
        .map(|k| {
            format!(
                "{k},CASH-EUR-01,2026-03-02,{}.{:02},EUR,INV-{k:09},CPTY {k}\n",
                10 + k / 100,
                k % 100
            )
        })
        .collect()
}

#[test]
fn a_file_written_to_after_it_was_taken_is_set_aside_never_half_imported_in_silence() {
    let i = Install::new();
    // The check after the commit lasts the settle time: long enough for this test to write
    // within it on a loaded machine.
    set_settle_time(&i, "ledger-import", "var/inbox/ledger", "3s");
    let d = i.start_daemon();
    // A writer that keeps its handle open: 50 rows, a pause longer than the settle time
    // (clerk takes the file and reads it), 50 rows more.
    let path = i.path("var/inbox/ledger/grow.csv");
    let mut writer = fs::File::create(&path).unwrap();
    write!(
        writer,
        "id,account,value_date,amount,currency,reference,counterparty\n{}",
        ledger_rows(0, 50)
    )
    .unwrap();
    writer.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || i
            .count("SELECT COUNT(*) FROM records")
            == 50),
        "the first half is read once the file has settled:\n{}",
        d.log()
    );
    write!(writer, "{}", ledger_rows(50, 100)).unwrap();
    writer.flush().unwrap();
    drop(writer);

    // Set aside with a note, a break and an alert; never archived as if it were whole.
    let failed = i.path("var/failed/ledger-import/grow.csv");
    let note = i.path("var/failed/ledger-import/grow.csv.error.txt");
    assert!(
        wait_until(Duration::from_secs(60), || failed.exists() && note.exists()),
        "{}",
        d.log()
    );
    assert_eq!(fs::read_to_string(&failed).unwrap().lines().count(), 101);
    let text = fs::read_to_string(&note).unwrap();
    assert!(
        text.contains("written to after clerk had read it"),
        "{text}"
    );
    assert!(i.files_under("var/archive").is_empty());
    let ex = i.json(&["exceptions"]);
    let changed: Vec<_> = ex
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "file_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{ex:#}");
    assert!(
        changed[0]["detail"].as_str().unwrap().contains("grow.csv"),
        "{ex:#}"
    );
    // An alert, at once (quoted-printable soft line breaks undone to read it).
    assert!(
        wait_until(Duration::from_secs(20), || outbox_texts(&i).iter().any(
            |m| {
                let m = m.replace("=\r\n", "").replace("=\n", "");
                m.contains("grow.csv") && m.contains("written to after clerk had read it")
            }
        )),
        "{:?}",
        outbox_texts(&i)
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 50);

    // Dropped again whole: the other 50 are taken, the first 50 are known, nothing twice.
    i.drop_file("var/inbox/ledger", "grow.csv", &fs::read(&failed).unwrap());
    assert!(
        wait_until(Duration::from_secs(60), || i
            .files_under("var/archive")
            .len()
            == 1),
        "{}",
        d.log()
    );
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 100);
    assert!(i.files_under("var/inbox").is_empty());
    d.stop();
}

#[test]
fn files_no_job_takes_are_reported_once_and_clerk_status_lists_each_folder() {
    use std::os::unix::ffi::OsStrExt as _;
    let i = Install::new();
    // Long enough that a file written in steps below settles only once it is complete.
    set_settle_time(&i, "bank-reconciliation", "var/inbox/bank", "1500ms");
    let bank = i.path("var/inbox/bank");
    fs::create_dir_all(&bank).unwrap();
    fs::write(bank.join("notes.docx"), b"minutes of the meeting").unwrap();
    // Links are never followed, pipes never opened: a link to a pipe outside the folder would
    // block whoever opened it, and nothing after it would be processed.
    let fifo_outside = i.path("var/elsewhere.csv");
    let fifo_inside = bank.join("pipe.csv");
    for p in [&fifo_outside, &fifo_inside] {
        let made = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(made.success());
    }
    std::os::unix::fs::symlink(&fifo_outside, bank.join("link.csv")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(bank.join("socket.csv")).unwrap();
    let latin1 = std::ffi::OsStr::from_bytes(b"Kontoauszug M\xe4rz.csv");
    fs::write(bank.join(latin1), STATEMENT).unwrap();
    fs::create_dir_all(bank.join("old")).unwrap();
    fs::write(bank.join("upload.csv.part"), b"half").unwrap();
    let names = [
        "notes.docx",
        "pipe.csv",
        "link.csv",
        "socket.csv",
        "Kontoauszug M\\xE4rz.csv",
        "old",
    ];

    let ignored_breaks = || -> Vec<serde_json::Value> {
        let all = i.json(&["exceptions", "--all"]);
        all.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == "ignored_file")
            .cloned()
            .collect()
    };
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || ignored_breaks().len()
            == names.len()),
        "{:#?}\n{}",
        ignored_breaks(),
        d.log()
    );
    for name in names {
        let b = ignored_breaks()
            .into_iter()
            .find(|b| b["source"] == name)
            .unwrap_or_else(|| panic!("no break about {name}: {:#?}", ignored_breaks()));
        assert_eq!(b["job"], "bank-reconciliation");
        let detail = b["detail"].as_str().unwrap();
        assert!(
            detail.contains(name) && detail.contains("is ignored"),
            "{detail}"
        );
        assert_eq!(
            d.log()
                .lines()
                .filter(|l| l.contains("WARN") && l.contains(&format!("{name} in ")))
                .count(),
            1,
            "one log line about {name}:\n{}",
            d.log()
        );
    }
    let why = |name: &str| -> String {
        ignored_breaks()
            .into_iter()
            .find(|b| b["source"] == name)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(why("notes.docx").contains("no pattern"));
    assert!(why("link.csv").contains("symbolic link"));
    assert!(why("pipe.csv").contains("named pipe"));
    assert!(why("socket.csv").contains("socket"));
    assert!(why("Kontoauszug M\\xE4rz.csv").contains("UTF-8"));
    assert!(why("old").contains("folder"));
    // The daemon goes on: a good file behind them is processed.
    i.drop_file("var/inbox/bank", "statement.csv", STATEMENT.as_bytes());
    assert!(wait_until(Duration::from_secs(30), || i.files_processed() == 1));
    let text = String::from_utf8(i.clerk(&["status"]).stdout).unwrap();
    d.stop();

    // Reported once, across restarts: resolved by someone, still not reported again.
    let notes = ignored_breaks()
        .into_iter()
        .find(|b| b["source"] == "notes.docx")
        .unwrap();
    let resolved = i.clerk(&[
        "exception",
        "resolve",
        &notes["id"].to_string(),
        "--reason",
        "minutes belong there",
    ]);
    assert!(resolved.status.success(), "{resolved:?}");
    let d = i.start_daemon();
    i.drop_file("var/inbox/bank", "statement-2.csv", LEDGER.as_bytes());
    assert!(wait_until(Duration::from_secs(30), || {
        let s = i.status();
        s["files_processed"].as_u64().unwrap() + s["files_failed"].as_u64().unwrap() == 2
    }));
    assert_eq!(
        ignored_breaks().len(),
        names.len(),
        "{:#?}",
        ignored_breaks()
    );
    assert!(!d.log().contains("is ignored"), "{}", d.log());
    // A new file under an old name is a new file: reported (once it has settled; this one is
    // written in steps, as a slow copy would, and reported once).
    fs::remove_file(bank.join("notes.docx")).unwrap();
    let mut notes = fs::File::create(bank.join("notes.docx")).unwrap();
    for _ in 0..5 {
        notes.write_all(b"other minutes\n").unwrap();
        notes.flush().unwrap();
        // A slow writer on purpose: each step well inside the 1.5 s settle time.
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(notes);
    assert!(
        wait_until(Duration::from_secs(30), || ignored_breaks().len()
            == names.len() + 1),
        "{}",
        d.log()
    );
    // Reported once: nothing more comes of it at the next scans. A ledger dropped now is
    // taken only after several scans (its settle time), and the worker takes work in order:
    // once it is processed, whatever those scans reported about notes.docx was recorded.
    i.drop_file(
        "var/inbox/ledger",
        "after-notes.csv",
        small_ledger(1).as_bytes(),
    );
    assert!(
        wait_until(Duration::from_secs(30), || i.files_processed() == 2),
        "{}",
        d.log()
    );
    assert_eq!(ignored_breaks().len(), names.len() + 1, "{}", d.log());
    d.stop();

    // clerk status lists, per folder, what waits, what is ignored and why, what failed.
    assert!(text.contains("folders:"), "{text}");
    assert!(text.contains("ignored: notes.docx (no pattern"), "{text}");
    i.drop_file("var/inbox/bank", "waiting.csv", STATEMENT.as_bytes());
    let status = i.status();
    let folders = status["folders"].as_array().unwrap();
    let bank = folders
        .iter()
        .find(|f| f["job"] == "bank-reconciliation")
        .unwrap();
    assert_eq!(
        bank["waiting"],
        serde_json::json!(["waiting.csv"]),
        "{bank:#}"
    );
    assert_eq!(
        bank["temporary"],
        serde_json::json!(["upload.csv.part"]),
        "{bank:#}"
    );
    let mut ignored: Vec<&str> = bank["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    ignored.sort();
    let mut want = names.to_vec();
    want.sort();
    assert_eq!(ignored, want, "{bank:#}");
    // statement-2.csv is a ledger, not a statement: refused, and listed as failed.
    assert_eq!(
        bank["failed"],
        serde_json::json!(["statement-2.csv"]),
        "{bank:#}"
    );
    assert!(folders.iter().any(|f| f["job"] == "ledger-import"));
}

#[test]
fn long_names_fit_wherever_clerk_adds_to_them_and_no_file_is_stuck() {
    let i = Install::new();
    let d = i.start_daemon();
    // Written under a short temp name, then renamed (the long name plus `.part` would not fit).
    let put = |name: &str, bytes: &[u8]| {
        let tmp = i.path("var/inbox/ledger/x.tmp");
        fs::write(&tmp, bytes).unwrap();
        fs::rename(&tmp, i.path("var/inbox/ledger").join(name)).unwrap();
    };
    // A failed file with a 250-byte name: its note (+ `.error.txt`) must fit too.
    let bad = format!("{}.csv", "b".repeat(246));
    assert_eq!(bad.len(), 250);
    put(&bad, LEDGER.replace("250.50", "25O.50").as_bytes());
    assert!(
        wait_until(Duration::from_secs(30), || {
            let failed = i.files_under("var/failed/ledger-import");
            failed.len() == 2 && failed.iter().any(|f| f.ends_with(".csv.error.txt"))
        }),
        "{:?}\n{}",
        i.files_under("var/failed"),
        d.log()
    );
    // A good 252-byte name, dropped twice (other content): archived twice, the second under
    // a shortened ` (2)` name.
    let good = format!("{}.csv", "g".repeat(248));
    assert_eq!(good.len(), 252);
    put(&good, LEDGER.as_bytes());
    assert!(wait_until(Duration::from_secs(30), || i
        .files_under("var/archive")
        .len()
        == 1));
    put(&good, small_ledger(77).as_bytes());
    assert!(
        wait_until(Duration::from_secs(30), || i
            .files_under("var/archive")
            .len()
            == 2),
        "{:?}\n{}",
        i.files_under("var/inbox"),
        d.log()
    );
    let archived = i.files_under("var/archive");
    assert!(archived.iter().any(|f| f.ends_with(&good)), "{archived:?}");
    assert!(
        archived
            .iter()
            .any(|f| f.contains(" (2).csv") && f.rsplit('/').next().unwrap().len() <= 255),
        "{archived:?}"
    );
    // Nothing stuck, nothing retried.
    assert!(i.files_under("var/inbox").is_empty());
    assert!(!d.log().contains("ERROR"), "{}", d.log());
    assert_eq!(i.count("SELECT COUNT(*) FROM records"), 7);
    d.stop();
}
