//! The morning summary through the whole daemon: data processed, the summary job run, the mail
//! received by a real SMTP server.

use std::time::Duration;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::{Install, wait_until};
use crate::support::mime;
use crate::support::smtp::SmtpServer;

#[test]
fn the_summary_reaches_the_manager_with_breaks_kpis_and_the_csv() {
    let smtp = SmtpServer::start();
    let i = Install::with_mail(&format!(
        "[mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
        smtp.port()
    ));
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);

    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = smtp.wait_for_messages(1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "{}", d.log());
    let msg = mime::parse(&got[0]);
    assert_eq!(
        msg.header("X-RcptTo"),
        Some("back-office-managers@example.com")
    );
    let subject = mime::decode_words(msg.header("Subject").unwrap());
    assert!(subject.contains("2 open exceptions"), "{subject}");

    let [alternative, csv] = &msg.parts[..] else {
        panic!(
            "expected the bodies and the CSV, got {} parts",
            msg.parts.len()
        );
    };
    let [plain, html] = &alternative.parts[..] else {
        panic!("expected text and HTML bodies");
    };
    let plain = String::from_utf8(plain.decoded()).unwrap();
    let html = String::from_utf8(html.decoded()).unwrap();
    for body in [&plain, &html] {
        assert!(body.contains("bank-reconciliation"), "{body}");
        assert!(body.contains("ledger-import"), "{body}");
        assert!(body.contains("999.99"), "{body}");
        assert!(body.contains("12.34"), "{body}");
    }

    let rows: Vec<Vec<String>> = csv::Reader::from_reader(csv.decoded().as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    let mut reasons: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[2].as_str(), r[6].as_str(), r[7].as_str()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("missing_in_ledger", "12.34", "EUR"),
            ("missing_on_statement", "999.99", "EUR")
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r[3] == "open" && r[12] == "cash-ops@example.com")
    );
    assert!(rows.iter().all(|r| r[14].contains(".csv line ")));
    // Each break names its record, with the reference and counterparty the books gave it,
    // and its id as people type it back (`clerk exception show E-n`).
    let ledger_row = rows
        .iter()
        .find(|r| r[2] == "missing_on_statement")
        .unwrap();
    assert_eq!(
        (ledger_row[9].as_str(), ledger_row[10].as_str()),
        ("INV-000000005", "DELTA LTD")
    );
    assert!(ledger_row[11].parse::<i64>().is_ok(), "{ledger_row:?}");
    let label = &ledger_row[0];
    assert!(label.starts_with("E-"), "{label}");
    let shown = i.clerk(&["exception", "show", label]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&format!("exception {label} ")));
    // Excel opens it as UTF-8.
    assert!(csv.decoded().starts_with(b"\xEF\xBB\xBF"));

    // Run again: a manual summary is a new message; nothing is sent twice by accident. Once
    // no mail is queued, every delivery is written down, which a sender does only after the
    // server has accepted (and stored) the message: a second copy would be there by now.
    assert!(
        wait_until(Duration::from_secs(20), || i.status()["mail_queued"] == 0),
        "{}",
        d.log()
    );
    assert_eq!(smtp.messages().len(), 1);
    d.stop();
}

#[test]
fn after_downtime_a_missed_summary_is_sent_once_not_once_per_missed_day() {
    let i = Install::new();
    let d = i.start_daemon();
    d.stop();
    // The daemon was down for ten days: several 07:00 runs were missed.
    let ten_days_ago = (chrono::Utc::now() - chrono::Duration::days(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let n = i
        .db()
        .execute(
            "UPDATE schedule_state SET last_fired = ? WHERE job = 'daily-summary'",
            [&ten_days_ago],
        )
        .unwrap();
    assert_eq!(n, 1, "the first start arms the schedule");

    let d = i.start_daemon();
    let summaries = || {
        crate::daemon::outbox_texts(&i)
            .into_iter()
            .filter(|m| m.contains("Message-ID: <summary.daily-summary."))
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(20), || summaries() == 1),
        "{}",
        d.log()
    );
    d.stop();

    // Started again: nothing more is owed. The scheduler logs nothing when nothing is due, so
    // another scheduled job, listed after the summary, is made due: the scheduler fires what
    // is due in the order of the jobs, and the worker runs it in that order, so once that run
    // is in the store and no mail waits, a summary fired at this start would be in the outbox.
    let settlement_runs = || {
        i.db()
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE job = 'trade-settlement' AND status = 'ok'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    let runs_before = settlement_runs();
    let n = i
        .db()
        .execute(
            "UPDATE schedule_state SET last_fired = ? WHERE job = 'trade-settlement'",
            [&ten_days_ago],
        )
        .unwrap();
    assert_eq!(n, 1, "the first start arms every schedule");
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(20), || settlement_runs() > runs_before
            && i.status()["mail_queued"] == 0),
        "{}",
        d.log()
    );
    assert_eq!(summaries(), 1, "{}", d.log());
    d.stop();
}

/// With rates configured, the manager reads one total in the base currency beside the totals
/// per currency; a rate that makes no sense is refused by `clerk check`, naming file, line and
/// key.
#[test]
fn a_summary_with_rates_shows_one_total_in_the_base_currency() {
    let i = Install::new();
    let job = i.path("jobs/daily-summary.toml");
    let shipped = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        format!("{shipped}base_currency = \"EUR\"\n[summary.rates]\nUSD = \"-0.9\"\n"),
    )
    .unwrap();
    let out = i.clerk(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains(&format!("{}:", job.display())) && stdout.contains("summary.rates.USD"),
        "{stdout}"
    );
    std::fs::write(
        &job,
        format!("{shipped}base_currency = \"EUR\"\n[summary.rates]\nUSD = \"0.9\"\n"),
    )
    .unwrap();

    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "ledger.csv", LEDGER.as_bytes());
    i.drop_file(
        "var/inbox/ledger",
        "ledger-usd.csv",
        b"id,account,value_date,amount,currency,reference,counterparty\n\
          7,CASH-USD-01,2026-03-05,-1000.00,USD,INV-000000007,ZETA LLC\n",
    );
    i.drop_file("var/inbox/bank", "statement.csv", STATEMENT.as_bytes());
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_processed"] == 3 && i.status()["open_exceptions"] == 3
    ));
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.stop();
    let mail = crate::daemon::outbox_texts(&i)
        .into_iter()
        .find(|m| m.contains("Message-ID: <summary."))
        .expect("the summary in the outbox");
    let msg = mime::parse(mail.as_bytes());
    let plain = String::from_utf8(msg.parts[0].parts[0].decoded()).unwrap();
    // 999.99 + 12.34 EUR, and 1,000.00 USD at 0.9: 1,912.33 EUR.
    let total = plain
        .lines()
        .find(|l| l.contains("Total in EUR"))
        .unwrap_or_else(|| panic!("{plain}"));
    assert!(total.trim_end().ends_with("1,912.33"), "{total}");
}
