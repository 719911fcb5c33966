//! The console in a real browser (headless Chromium over WebDriver): what a member of staff
//! does in a morning, clicked through. Each page is saved as a screenshot under
//! `target/tmp/console/` for a person to look at, and no page may log a console error (a
//! script that fails, a style sheet the Content-Security-Policy blocks, a missing resource).

use std::path::PathBuf;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::browser::Browser;
use crate::support::http::{PASSWORD, add_users, console_url};
use crate::support::install::Install;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")
}

/// Looks at the page the browser shows: saves it as `name.png` and fails on any console error.
fn look(browser: &Browser, name: &str) {
    browser.screenshot(&shots().join(format!("{name}.png")));
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "{name}: console errors {errors:?}");
}

fn log_in(browser: &Browser, url: &str, user: &str) {
    browser.goto(&format!("{url}/"));
    assert!(browser.url().contains("/login"), "{}", browser.url());
    look(browser, &format!("login-{user}"));
    browser.type_into("input[name=user]", user);
    browser.type_into("input[name=password]", PASSWORD);
    browser.click("form.login button[type=submit]");
    browser.find("form.who");
    assert!(browser.text().contains(user), "{}", browser.text());
}

#[test]
fn staff_filter_the_queue_work_a_break_and_a_big_match_by_hand_needs_a_second_person() {
    let i = Install::with_shipped_chart(
        "[http]\nlisten = \"127.0.0.1:0\"\n\n[http.approval]\nabove = \"1000.00\"\n",
    );
    add_users(&i, &[("anna", "operator"), ("otto", "approver")]);
    // A customer paid 1,500.00 less a 0.05 bank charge: no rule matches it, and a match by hand
    // above 1,000.00 needs four eyes. A 12.34 fee nobody booked is the break anna works.
    let ledger = format!("{LEDGER}7,CASH-EUR-01,2026-03-05,1500.00,EUR,INV-000000007,OMEGA SARL\n");
    let statement =
        format!("{STATEMENT}2026-03-05,2026-03-05,1499.95,EUR,BK7,OMEGA SARL PAYMENT\n");
    for (job, name, text) in [
        ("ledger-import", "ledger.csv", &ledger),
        ("bank-reconciliation", "statement.csv", &statement),
    ] {
        let f = i.path(name);
        std::fs::write(&f, text).unwrap();
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let entries_before = i.status()["entries_posted"].as_u64().unwrap();
    let d = i.start_daemon();
    let url = console_url(&d);
    let browser = Browser::start();

    // anna logs in and looks at the overview.
    log_in(&browser, &url, "anna");
    look(&browser, "overview");
    assert!(
        browser.text().contains("bank-reconciliation"),
        "{}",
        browser.text()
    );

    // She narrows the queue to the unexplained bank lines and finds the fee.
    browser.goto(&format!("{url}/exceptions"));
    look(&browser, "queue");
    browser.select("select[name=job]", "bank-reconciliation");
    browser.type_into("input[name=reason]", "missing_in_ledger");
    browser.type_into("input[name=text]", "12.34");
    browser.click("form.filters button[type=submit]");
    browser.find("table");
    assert!(
        browser.url().contains("reason=missing_in_ledger"),
        "{}",
        browser.url()
    );
    look(&browser, "queue-filtered");
    let shown = browser.text();
    assert!(shown.contains("12.34"), "{shown}");
    assert!(
        !shown.contains("1499.95"),
        "the filter let the payment through: {shown}"
    );

    // She opens it and takes it.
    browser.click("table a[href^='/exceptions/']");
    browser.find("form[action$='/assign'] button");
    look(&browser, "break");
    browser.click("form[action$='/assign'] button");
    browser.find("form.who");
    look(&browser, "break-assigned");
    let fee: i64 =
        i.count("SELECT id FROM breaks WHERE reason = 'missing_in_ledger' AND amount = '12.34'");
    assert!(
        browser.url().ends_with(&format!("/exceptions/{fee}")),
        "{}",
        browser.url()
    );
    assert_eq!(
        i.count(&format!(
            "SELECT COUNT(*) FROM breaks WHERE id = {fee} AND owner = 'anna'"
        )),
        1,
        "the break is anna's"
    );

    // She matches the payment with its invoice by hand: above the limit, so only proposed.
    browser.goto(&format!("{url}/exceptions?text=OMEGA"));
    look(&browser, "queue-omega");
    let item: i64 = i.count("SELECT id FROM breaks WHERE status = 'open' AND amount = '1500.00'");
    let line: i64 = i.count("SELECT id FROM breaks WHERE status = 'open' AND amount = '1499.95'");
    browser.click(&format!("input[name=break][value='{item}']"));
    browser.click(&format!("input[name=break][value='{line}']"));
    let form = "form[action='/exceptions/match']";
    browser.type_into(
        &format!("{form} input[name=reason]"),
        "customer paid less the bank's charge",
    );
    browser.type_into(&format!("{form} input[name=difference_account]"), "4970");
    browser.click("form[action='/exceptions/match'] button[type=submit]");
    browser.find("form.who");
    look(&browser, "match-proposed");
    assert_eq!(
        i.count("SELECT COUNT(*) FROM approvals WHERE status = 'pending'"),
        1,
        "proposed, not posted:\n{}",
        browser.text()
    );
    assert_eq!(
        i.status()["entries_posted"].as_u64().unwrap(),
        entries_before
    );
    browser.goto(&format!("{url}/approvals"));
    look(&browser, "approvals-maker");
    assert!(
        !browser.exists("form[action$='/approve'] button"),
        "anna may not approve her own"
    );

    // otto, an approver, approves it: it posts once.
    browser.click("form.who button[type=submit]");
    browser.find("form.login");
    log_in(&browser, &url, "otto");
    browser.goto(&format!("{url}/approvals"));
    look(&browser, "approvals-checker");
    browser.click("form[action$='/approve'] button");
    browser.find("form.who");
    look(&browser, "approved");
    assert_eq!(
        i.count("SELECT COUNT(*) FROM approvals WHERE status = 'approved'"),
        1
    );
    assert_eq!(
        i.status()["entries_posted"].as_u64().unwrap(),
        entries_before + 1,
        "the approved match posted exactly one entry"
    );
    for id in [item, line] {
        assert_eq!(
            i.count(&format!(
                "SELECT COUNT(*) FROM breaks WHERE id = {id} AND status = 'resolved'"
            )),
            1
        );
    }

    // The other pages load without errors too.
    for (name, path) in [
        ("files", "/files"),
        ("runs", "/runs"),
        ("jobs", "/jobs"),
        ("job", "/jobs/bank-reconciliation"),
    ] {
        browser.goto(&format!("{url}{path}"));
        browser.find("main h1");
        look(&browser, name);
    }
}
