//! Expected arrivals through the real daemon: a deadline passes without the file a job
//! expects, a `file_missing` break opens and an alert is mailed at once; the file arriving
//! later closes the break; a restart never opens a second one for the same deadline.

use std::fs;
use std::time::Duration;

use chrono::Utc;

use crate::daemon::STATEMENT;
use crate::support::install::{Install, wait_until};
use crate::support::mime;

/// The decoded alerts in the install's outbox folder (subject and body).
fn alerts(i: &Install) -> Vec<String> {
    let Ok(entries) = fs::read_dir(i.path("var/outbox")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let msg = mime::parse(&fs::read(e.path()).ok()?);
            let subject = mime::decode_words(msg.header("Subject")?);
            subject.starts_with("clerk ALERT").then(|| {
                let body = msg
                    .parts
                    .first()
                    .map(|p| String::from_utf8_lossy(&p.decoded()).into_owned())
                    .unwrap_or_default();
                format!("{subject}\n{body}")
            })
        })
        .collect()
}

/// Every `file_missing` break, resolved or not: (id, status, detail, resolution).
fn missing(i: &Install) -> Vec<serde_json::Value> {
    i.json(&["exceptions", "--all"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "file_missing")
        .cloned()
        .collect()
}

#[test]
fn a_missed_deadline_opens_one_file_missing_break_with_an_alert_and_the_late_file_closes_it() {
    let i = Install::new();
    // A deadline a few seconds ahead, on the UTC wall clock, every day.
    let by = (Utc::now() + chrono::Duration::seconds(4)).format("%H:%M:%S");
    let job = i.path("jobs/bank-reconciliation.toml");
    let mut text = fs::read_to_string(&job).unwrap();
    text.push_str(&format!(
        "\n[[expect]]\nwhat = \"file\"\nfile = \"expected-*.csv\"\nby = \"{by}\"\n\
         timezone = \"UTC\"\ndays = \"every\"\n"
    ));
    fs::write(&job, text).unwrap();
    let check = i.clerk(&["check"]);
    assert!(
        !String::from_utf8_lossy(&check.stdout).contains("expect["),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // Watched since a minute ago, so the deadline is owed however slowly the daemon starts
    // (a first start owes nothing from before it).
    let since = (Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    i.db()
        .execute(
            "INSERT INTO arrival_checks (job, expected, last_deadline)
             VALUES ('bank-reconciliation', 'file:expected-*.csv', ?)",
            [since],
        )
        .unwrap();

    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || missing(&i).len() == 1),
        "no file_missing break:\n{}",
        d.log()
    );
    let b = &missing(&i)[0];
    assert_eq!(b["status"], "open");
    assert_eq!(b["job"], "bank-reconciliation");
    let detail = b["detail"].as_str().unwrap();
    assert!(
        detail.contains("a file matching \"expected-*.csv\" was expected by")
            && detail.contains("did not arrive"),
        "{detail}"
    );
    let label = b["label"].as_str().unwrap().to_string();
    assert!(
        wait_until(Duration::from_secs(20), || alerts(&i)
            .iter()
            .any(|a| a.contains("expected-*.csv") && a.contains(&label))),
        "no alert naming {label}: {:?}\n{}",
        alerts(&i),
        d.log()
    );

    // The file comes late: read, and its break closes saying when it arrived.
    i.drop_until_processed(&d, "var/inbox/bank/expected-1.csv", STATEMENT, 1);
    let b = &missing(&i)[0];
    assert_eq!(b["status"], "resolved", "{b}");
    let resolution = b["resolution"].as_str().unwrap();
    assert!(
        resolution.starts_with("arrived at ") && resolution.ends_with("expected-1.csv"),
        "{resolution}"
    );
    d.stop();

    // Restarted with the deadline not yet noted as checked (as after a crash at the wrong
    // moment): the same slot is looked at again, and opens nothing more.
    let n = i
        .db()
        .execute(
            "UPDATE arrival_checks SET last_deadline = '2000-01-01T00:00:00.000000Z'",
            [],
        )
        .unwrap();
    assert_eq!(n, 1, "the deadline was noted as checked");
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || d
            .log()
            .contains("expected arrival checked")),
        "the slot was not looked at again:\n{}",
        d.log()
    );
    assert_eq!(missing(&i).len(), 1, "{:?}", missing(&i));
    d.stop();
}

/// A statement of the account (written with spaces), whatever its file is called: the break
/// of the missed deadline closes when it comes.
#[test]
fn a_statement_expected_for_an_account_closes_its_break_when_it_comes() {
    let i = Install::with_shipped_chart("");
    let by = (Utc::now() + chrono::Duration::seconds(4)).format("%H:%M:%S");
    let job = i.path("jobs/bank-reconciliation.toml");
    let mut text = fs::read_to_string(&job).unwrap();
    text.push_str(&format!(
        "\n[[expect]]\nwhat = \"statement\"\naccount = \"DE02 1203 0000 0000 2020 51\"\n\
         by = \"{by}\"\ntimezone = \"UTC\"\ndays = \"every\"\n"
    ));
    fs::write(&job, text).unwrap();
    i.clerk(&["check"]);
    let since = (Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    i.db()
        .execute(
            "INSERT INTO arrival_checks (job, expected, last_deadline)
             VALUES ('bank-reconciliation', 'statement:DE02120300000000202051', ?)",
            [since],
        )
        .unwrap();
    let d = i.start_daemon();
    assert!(
        wait_until(Duration::from_secs(30), || missing(&i).len() == 1),
        "no file_missing break:\n{}",
        d.log()
    );
    assert!(
        missing(&i)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("a statement of account DE02 1203 0000 0000 2020 51 was expected by"),
        "{:?}",
        missing(&i)
    );
    let statement = ":20:STMT-2026-1125\n:25:DE02120300000000202051\n:28C:101/1\n\
                     :60F:C261124EUR10000,00\n:61:2611251125D12,50NMSCNONREF//B1125-78\n\
                     :86:106?00KARTENZAHLUNG?20OFFICE SUPPLIES\n:62F:C261125EUR9987,50\n-\n";
    i.drop_until_processed(&d, "var/inbox/bank/day-1125.sta", statement, 1);
    let b = &missing(&i)[0];
    assert_eq!(b["status"], "resolved", "{b}\n{}", d.log());
    assert!(
        b["resolution"].as_str().unwrap().ends_with("day-1125.sta"),
        "{b}"
    );
    d.stop();
}

#[test]
fn clerk_check_names_the_key_of_a_mistake_in_an_expectation() {
    let i = Install::new();
    let job = i.path("jobs/bank-reconciliation.toml");
    let mut text = fs::read_to_string(&job).unwrap();
    text.push_str("\n[[expect]]\nwhat = \"file\"\nfile = \"x-*.csv\"\nby = \"8h30\"\n");
    fs::write(&job, text).unwrap();
    let o = i.clerk(&["check"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(
        said.contains("bank-reconciliation.toml") && said.contains("expect[0].by"),
        "{said}"
    );
    assert!(said.contains("\"08:30\""), "{said}");
}
