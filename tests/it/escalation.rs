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
