//! Mail that sends people to the console: links to each break, file and job in the summary
//! and in alerts when `[http] public_url` is set; none without it.

use std::time::Duration;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::{Install, wait_until};
use crate::support::mime;

const PUBLIC: &str = "https://clerk.example.com";

/// Each mail in the outbox: its subject and its text and HTML parts, decoded.
fn outbox(i: &Install) -> Vec<(String, String, String)> {
    fn bodies(p: &mime::Part, text: &mut String, html: &mut String) {
        if p.parts.is_empty() {
            let body = String::from_utf8_lossy(&p.decoded()).into_owned();
            if p.content_type().starts_with("text/html") {
                html.push_str(&body);
            } else if p.content_type().starts_with("text/plain") {
                text.push_str(&body);
            }
        }
        for c in &p.parts {
            bodies(c, text, html);
        }
    }
    let Ok(entries) = std::fs::read_dir(i.path("var/outbox")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            let msg = mime::parse(&std::fs::read(e.path()).unwrap());
            let (mut text, mut html) = (String::new(), String::new());
            bodies(&msg, &mut text, &mut html);
            let subject = mime::decode_words(msg.header("Subject").unwrap_or(""));
            (subject, text, html)
        })
        .collect()
}

/// The ids of the open breaks, as `clerk exceptions --json` lists them.
fn open_break_ids(i: &Install) -> Vec<i64> {
    i.json(&["exceptions"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

/// Processes a ledger, a statement and a file that cannot be read, then runs the summary;
/// returns the mails once the summary and the alert are in the outbox.
fn mails_after_a_day(i: &Install) -> Vec<(String, String, String)> {
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    i.drop_file(
        "var/inbox/ledger",
        "bad.csv",
        LEDGER.replace("250.50", "25O.50").as_bytes(),
    );
    assert!(wait_until(
        Duration::from_secs(20),
        || i.status()["files_failed"] == 1
    ));
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut mails = Vec::new();
    let arrived = wait_until(Duration::from_secs(20), || {
        mails = outbox(i);
        mails.iter().any(|m| m.0.starts_with("clerk ALERT"))
            && mails.iter().any(|m| m.0.contains("open exceptions"))
    });
    assert!(
        arrived,
        "{:?}\n{}",
        mails.iter().map(|m| &m.0).collect::<Vec<_>>(),
        d.log()
    );
    d.stop();
    mails
}

#[test]
fn the_summary_and_the_alert_link_each_break_file_and_job_to_the_console() {
    let i = Install::with_shipped_chart(&format!("[http]\npublic_url = \"{PUBLIC}/\"\n"));
    let mails = mails_after_a_day(&i);
    let ids = open_break_ids(&i);
    assert!(ids.len() >= 3, "{ids:?}");
    let (_, text, html) = mails
        .iter()
        .find(|m| m.0.contains("open exceptions"))
        .unwrap();
    for id in &ids {
        let url = format!("{PUBLIC}/exceptions/{id}");
        assert!(text.contains(&url), "{url} not in the text:\n{text}");
        assert!(
            html.contains(&format!("href=\"{url}\"")),
            "{url} not in the HTML:\n{html}"
        );
    }
    for job in ["ledger-import", "bank-reconciliation"] {
        let url = format!("{PUBLIC}/jobs/{job}");
        assert!(text.contains(&url), "{url} not in the text:\n{text}");
        assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    }
    // The file that failed, and the files the breaks' records came from.
    assert!(text.contains(&format!("{PUBLIC}/files/")), "{text}");
    assert!(html.contains(&format!("href=\"{PUBLIC}/files/")), "{html}");

    let (_, text, html) = mails
        .iter()
        .find(|m| m.0.starts_with("clerk ALERT"))
        .unwrap();
    for page in ["/jobs/ledger-import", "/files/", "/exceptions/"] {
        assert!(text.contains(&format!("{PUBLIC}{page}")), "{page}:\n{text}");
        assert!(
            html.contains(&format!("href=\"{PUBLIC}{page}")),
            "{page}:\n{html}"
        );
    }
}

#[test]
fn without_a_public_url_mail_has_no_links() {
    let i = Install::with_shipped_chart("");
    for (subject, text, html) in mails_after_a_day(&i) {
        for body in [&text, &html] {
            assert!(!body.contains("/exceptions/"), "{subject}:\n{body}");
            assert!(!body.contains("href="), "{subject}:\n{body}");
        }
    }
}

/// Breaks missing in the ledger escalate after 2 business days; the others only after years.
const ESCALATION: &str = "\n[escalation]\nafter_business_days = 100000\n\
                          reasons = { missing_in_ledger = 2 }\nto = [\"lead@example.com\"]\n";

fn escalation_mails(i: &Install) -> Vec<(String, String, String)> {
    outbox(i)
        .into_iter()
        .filter(|m| m.0.starts_with("clerk ESCALATION"))
        .collect()
}

fn run_summary(i: &Install) {
    let out = i.clerk(&["job", "run", "daily-summary"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_break_open_too_long_is_escalated_once_by_mail_and_marked_in_the_summary() {
    let i = Install::with_config(&format!("[http]\npublic_url = \"{PUBLIC}\"\n"));
    let job_file = i.path("jobs/bank-reconciliation.toml");
    let text = std::fs::read_to_string(&job_file).unwrap();
    std::fs::write(&job_file, format!("{text}{ESCALATION}")).unwrap();

    // The statement's fee line (value date 2026-03-10) is missing in the ledger, long ago.
    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", STATEMENT, 2);
    d.stop();
    let breaks = i.json(&["exceptions"]);
    let id_of = |reason: &str| {
        breaks
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} break: {breaks}"))["id"]
            .as_i64()
            .unwrap()
    };
    let (late, young) = (id_of("missing_in_ledger"), id_of("missing_on_statement"));

    // The scheduler's first tick after a start checks: the lead is mailed without a summary.
    let d = i.start_daemon();
    let mut mails = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            mails = escalation_mails(&i);
            !mails.is_empty()
        }),
        "no escalation mail:\n{}",
        d.log()
    );
    let (subject, text, html) = &mails[0];
    assert!(
        subject.contains("1 exception of job bank-reconciliation"),
        "{subject}"
    );
    let url = format!("{PUBLIC}/exceptions/{late}");
    assert!(
        text.contains(&url) && text.contains(&format!("E-{late}")),
        "{text}"
    );
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    assert!(
        !text.contains(&format!("E-{young}")),
        "not yet due:\n{text}"
    );
    let raw_to = std::fs::read_dir(i.path("var/outbox"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|m| m.contains("ESCALATION"))
        .unwrap();
    assert!(raw_to.contains("To: lead@example.com"), "{raw_to}");

    // The summary marks it, and mails nothing again.
    run_summary(&i);
    let mut summary = None;
    assert!(wait_until(Duration::from_secs(20), || {
        summary = outbox(&i)
            .into_iter()
            .find(|m| m.0.contains("open exceptions"));
        summary.is_some()
    }));
    let (_, text, html) = summary.unwrap();
    assert!(text.contains("Escalated: 1 open exception"), "{text}");
    assert!(html.contains("Escalated: 1 open exception"), "{html}");
    d.stop();

    // Across a restart and another summary: still the one mail, the time kept in the store.
    let d = i.start_daemon();
    run_summary(&i);
    assert!(
        wait_until(Duration::from_secs(20), || i.status()["mail_queued"] == 0),
        "{}",
        d.log()
    );
    d.stop();
    assert_eq!(escalation_mails(&i).len(), 1);
    assert_eq!(
        i.count("SELECT COUNT(*) FROM breaks WHERE escalated_at IS NOT NULL"),
        1
    );
}
