//! Accounting periods through the command line and the daemon: a closed month takes no
//! entries (one dated in it is posted on the first day of the next open month, its own date
//! kept as its value date and said in its narrative); reopening needs a reason; the list
//! shows who did what and when.

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::install::{Install, ok, refused};

/// The shipped samples moved to November 2026.
fn november(text: &str) -> String {
    text.replace("2026-03-", "2026-11-")
}

#[test]
fn entries_dated_in_a_closed_period_post_on_the_first_open_day_with_their_date_kept() {
    let i = Install::with_shipped_chart("");
    refused(&i.clerk(&["period", "close", "2026-13"]), "is not a period");
    refused(&i.clerk(&["period", "close", "11-2026"]), "is not a period");
    ok(&i.clerk(&["period", "close", "2026-11", "--by", "carla"]));
    refused(&i.clerk(&["period", "close", "2026-11"]), "closed already");

    let d = i.start_daemon();
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", november(LEDGER), 1);
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", november(STATEMENT), 2);
    let journal = i.json(&["journal"]);
    let entries = journal.as_array().unwrap();
    assert!(!entries.is_empty(), "nothing posted");
    for e in entries {
        assert_eq!(e["posting_date"], "2026-12-01", "{e}");
        let value = e["value_date"].as_str().unwrap_or_else(|| panic!("{e}"));
        assert!(value.starts_with("2026-11-"), "{e}");
        let narrative = e["narrative"].as_str().unwrap();
        assert!(
            narrative.ends_with(&format!("(dated {value}; period 2026-11 closed)")),
            "{narrative}"
        );
    }
    let text = ok(&i.clerk(&["journal"]));
    assert!(text.contains("value date 2026-11-"), "{text}");
    // Nothing is in November's books.
    let tb = i.json(&["ledger", "balance", "--at", "2026-11-30"]);
    assert!(tb["accounts"].as_array().unwrap().is_empty(), "{tb}");

    // Reopening needs a reason, and only a closed period is reopened.
    refused(
        &i.clerk(&["period", "reopen", "2026-11", "--reason", " "]),
        "say why",
    );
    assert_eq!(
        i.clerk(&["period", "reopen", "2026-11"]).status.code(),
        Some(2)
    );
    refused(
        &i.clerk(&["period", "reopen", "2026-10", "--reason", "x"]),
        "is not closed",
    );
    ok(&i.clerk(&[
        "period",
        "reopen",
        "2026-11",
        "--reason",
        "late supplier invoices to book",
        "--by",
        "root",
    ]));
    let list = i.json(&["period", "list"]);
    let p = &list["periods"][0];
    assert_eq!(p["period"], "2026-11", "{list}");
    assert_eq!(p["status"], "open");
    assert_eq!(p["changed_by"], "root");
    let history = p["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{list}");
    assert_eq!(history[0]["action"], "closed");
    assert_eq!(history[0]["actor"], "carla");
    assert_eq!(history[1]["action"], "reopened");
    assert_eq!(history[1]["reason"], "late supplier invoices to book");
    let text = ok(&i.clerk(&["period", "list"]));
    assert!(
        text.contains("reopened by root: late supplier invoices"),
        "{text}"
    );

    // Open again: a November payment posts on its own date.
    i.drop_until_processed(
        &d,
        "var/inbox/ledger/ledger-2.csv",
        "id,account,value_date,amount,currency,reference,counterparty\n\
         8,CASH-EUR-01,2026-11-20,42.00,EUR,INV-000000008,ZETA KG\n",
        3,
    );
    i.drop_until_processed(
        &d,
        "var/inbox/bank/statement-2.csv",
        "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
         2026-11-20,2026-11-20,42.00,EUR,BK8,PAYMENT INV-000000008 ZETA\n",
        4,
    );
    let later = i.json(&["journal", "--from", "2026-11-01", "--to", "2026-11-30"]);
    let later = later.as_array().unwrap();
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0]["posting_date"], "2026-11-20");
    assert!(later[0].get("value_date").is_none(), "{}", later[0]);
    drop(d);
}

#[test]
fn only_an_admin_closes_and_reopens_periods_in_the_console() {
    use crate::support::http::{add_users, console_url, logged_in};
    let i = Install::with_shipped_chart("[http]\nlisten = \"127.0.0.1:0\"\n");
    add_users(&i, &[("root", "admin"), ("anna", "approver")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    let root = logged_in(&url, "root");
    let anna = logged_in(&url, "anna");
    assert_eq!(anna.get("/periods").status, 403);
    let closed = root.submit("/periods", "/periods/close", &[("period", "2026-11")]);
    assert_eq!(closed.status, 303, "{}", closed.body);
    let page = root.get("/periods");
    assert!(page.body.contains("2026-11"), "{}", page.body);
    // An approver does not reopen it, even with the page's token of her own.
    let token = anna.get("/exceptions").csrf();
    let theirs = anna.post(
        "/periods/reopen",
        &[("csrf", &token), ("period", "2026-11"), ("reason", "x")],
    );
    assert_eq!(theirs.status, 403, "{}", theirs.body);
    // Reopening needs a reason.
    let bare = root.submit("/periods", "/periods/reopen", &[("period", "2026-11")]);
    assert_ne!(bare.status, 303, "{}", bare.body);
    let reopened = root.submit(
        "/periods",
        "/periods/reopen",
        &[("period", "2026-11"), ("reason", "late invoices")],
    );
    assert_eq!(reopened.status, 303, "{}", reopened.body);
    drop(d);
    let list = i.json(&["period", "list"]);
    let p = &list["periods"][0];
    assert_eq!(p["status"], "open", "{list}");
    assert_eq!(p["history"][0]["actor"], "root");
    assert_eq!(p["history"][1]["reason"], "late invoices");
}
