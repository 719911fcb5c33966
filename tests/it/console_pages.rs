//! The console's pages and actions through the real daemon over real HTTP: statements dropped
//! into the shipped jobs' folders so breaks exist, users added with the real `clerk user add`,
//! every change checked against what the command line shows.

use std::collections::BTreeSet;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::http::{Page, add_users, console_url, logged_in};
use crate::support::install::Install;

const HOSTILE: &str = "<script>alert(1)</script>";

/// The shipped jobs posting to the shipped chart, the console on, four eyes above 1000.00, and
/// `users` (name, role).
fn console_install(users: &[(&str, &str)]) -> Install {
    let install = Install::with_shipped_chart(
        "[http]\nlisten = \"127.0.0.1:0\"\n\n[http.approval]\nabove = \"1000.00\"\n",
    );
    add_users(&install, users);
    install
}

/// The ids of the breaks a queue page links to, in page order.
fn break_ids(page: &Page) -> Vec<i64> {
    let mut out = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find("href=\"/exceptions/") {
        rest = &rest[at + "href=\"/exceptions/".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with('"') {
            out.push(digits.parse().unwrap());
        }
    }
    out
}

/// The page's "Next page" link, as a browser would follow it.
fn next_page(page: &Page) -> Option<String> {
    let at = page.body.find(">Next page<")?;
    let head = &page.body[..at];
    let start = head.rfind("href=\"")? + 6;
    let end = head[start..].find('"')? + start;
    Some(head[start..end].replace("&amp;", "&"))
}

fn ok(page: &Page, what: &str) {
    assert_eq!(page.status, 200, "{what}: {}", page.body);
}

#[test]
fn a_viewer_reads_every_page_filters_and_pages_the_queue_and_changes_nothing() {
    let i = console_install(&[("vera", "viewer"), ("anna", "operator")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    // 120 bank lines no ledger item matches (a break each, one of them with a hostile
    // remittance text), besides the shipped example statement.
    let mut statement = STATEMENT.to_string();
    for n in 0..120 {
        statement.push_str(&format!(
            "2026-03-05,2026-03-05,{}.{:02},EUR,BQ{n},UNKNOWN PAYER {n}\n",
            300 + n,
            n % 100
        ));
    }
    statement.push_str(&format!("2026-03-05,2026-03-05,77.77,EUR,BQX,{HOSTILE}\n"));
    i.drop_until_processed(&d, "var/inbox/bank/statement.csv", &statement, 2);

    let viewer = logged_in(&url, "vera");
    let open = i.json(&["exceptions", "--job", "bank-reconciliation"]);
    let expected: BTreeSet<i64> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(expected.len() > 120, "{open}");

    // Paging: every open break of the job exactly once, 50 a page, in each order.
    for sort in ["age", "amount", "job"] {
        let mut seen = Vec::new();
        let mut next = Some(format!("/exceptions?job=bank-reconciliation&sort={sort}"));
        let mut pages = 0;
        while let Some(path) = next {
            let page = viewer.get(&path);
            ok(&page, &path);
            let ids = break_ids(&page);
            assert!(ids.len() <= 50, "{path}: {} rows", ids.len());
            seen.extend(ids);
            next = next_page(&page);
            pages += 1;
        }
        assert_eq!(pages, expected.len().div_ceil(50), "{sort}");
        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a break on two pages");
        assert_eq!(unique, expected, "{sort}: every open break once");
    }

    // Filters narrow the queue.
    let one = viewer.get("/exceptions?text=UNKNOWN+PAYER+117");
    assert_eq!(break_ids(&one).len(), 1, "{}", one.body);
    let big = viewer.get("/exceptions?job=bank-reconciliation&min_amount=400&max_amount=410");
    let big_ids = break_ids(&big);
    assert!(!big_ids.is_empty() && big_ids.len() < 20, "{big_ids:?}");
    assert!(break_ids(&viewer.get("/exceptions?owner=me")).is_empty());
    assert!(break_ids(&viewer.get("/exceptions?status=resolved")).is_empty());
    assert!(break_ids(&viewer.get("/exceptions?min_age=3650")).is_empty());

    // The hostile remittance shows as text on the queue and on its break's page.
    let hostile = viewer.get("/exceptions?text=alert");
    let ids = break_ids(&hostile);
    assert_eq!(ids.len(), 1, "{}", hostile.body);
    let page = viewer.get(&format!("/exceptions/{}", ids[0]));
    for p in [&hostile, &page] {
        assert!(!p.body.contains(HOSTILE), "{}", p.body);
        assert!(p.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    // The break's page names the file and line its record came from, with a link to the file.
    let file_id: i64 = i.count("SELECT id FROM files WHERE name = 'statement.csv'");
    assert!(
        page.body.contains(&format!(
            "<a href=\"/files/{file_id}\">statement.csv</a>, line "
        )),
        "{}",
        page.body
    );

    // Every page answers a viewer.
    let run_id: i64 = i.count("SELECT MAX(id) FROM runs");
    for path in [
        "/".to_string(),
        "/exceptions".into(),
        format!("/exceptions/{}", ids[0]),
        "/approvals".into(),
        "/files".into(),
        "/files?status=failed".into(),
        format!("/files/{file_id}"),
        "/runs".into(),
        format!("/runs/{run_id}"),
        "/jobs".into(),
        "/jobs/bank-reconciliation".into(),
    ] {
        let page = viewer.get(&path);
        ok(&page, &path);
    }
    // A file no pattern of the job takes is listed with the files, saying why.
    i.drop_file("var/inbox/bank", "notes.docx", b"not a statement");
    let files = viewer.get("/files?job=bank-reconciliation");
    assert!(files.body.contains("notes.docx"), "{}", files.body);
    assert!(files.body.contains("statement.csv"));
    let job = viewer.get("/jobs/bank-reconciliation");
    assert_eq!(job.body.matches("<svg").count(), 3, "STP, breaks, ageing");
    let overview = viewer.get("/");
    assert!(overview.body.contains("bank-reconciliation"));
    let last_run: i64 = i.count("SELECT MAX(id) FROM runs WHERE job = 'bank-reconciliation'");
    assert!(
        overview
            .body
            .contains(&format!("href=\"/runs/{last_run}\"")),
        "the job's last run: {}",
        overview.body
    );

    // A viewer changes nothing and downloads no original.
    let refused = viewer.submit(
        &format!("/exceptions/{}", ids[0]),
        &format!("/exceptions/{}/note", ids[0]),
        &[("text", "looked at it")],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        viewer.get(&format!("/files/{file_id}/original")).status,
        403
    );
    let history = i.json(&["exception", "show", &ids[0].to_string()]);
    assert_eq!(history["history"].as_array().unwrap().len(), 1, "{history}");

    // An operator downloads the original as it was dropped.
    let operator = logged_in(&url, "anna");
    let original = operator.get(&format!("/files/{file_id}/original"));
    assert_eq!(original.status, 200, "{}", original.body);
    assert_eq!(
        original.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(
        original
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"statement.csv\"")
    );
    assert_eq!(original.body, statement);
    d.stop();
}

#[test]
fn an_operator_works_breaks_from_the_console_as_from_the_cli_and_big_ones_need_a_second_person() {
    // anna may approve too: what stops her approving her own proposal is the rule, not her role.
    let i = console_install(&[("anna", "approver"), ("otto", "approver")]);
    // A customer paid 50.00 less a 0.05 bank charge; a 2000.00 line nobody booked.
    let ledger = format!("{LEDGER}7,CASH-EUR-01,2026-03-05,50.00,EUR,INV-000000007,OMEGA SARL\n");
    let statement = format!(
        "{STATEMENT}2026-03-05,2026-03-05,49.95,EUR,BK7,OMEGA SARL PAYMENT\n\
         2026-03-05,2026-03-05,2000.00,EUR,BK8,UNKNOWN TRANSFER\n"
    );
    for (job, name, text) in [
        ("ledger-import", "ledger.csv", &ledger),
        ("bank-reconciliation", "statement.csv", &statement),
    ] {
        let f = i.path(name);
        std::fs::write(&f, text).unwrap();
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let find = |reason: &str, amount: &str| -> i64 {
        let list = i.json(&["exceptions"]);
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["reason"] == reason && e["amount"] == amount)
            .unwrap_or_else(|| panic!("no {reason} of {amount} in {list}"))["id"]
            .as_i64()
            .unwrap()
    };
    let fee = find("missing_in_ledger", "12.34");
    let line = find("missing_in_ledger", "49.95");
    let item = find("missing_on_statement", "50.00");
    let big = find("missing_in_ledger", "2000.00");

    let d = i.start_daemon();
    let url = console_url(&d);
    let anna = logged_in(&url, "anna");
    let page = format!("/exceptions/{fee}");
    for (action, form) in [
        ("assign", vec![("to", "anna")]),
        ("note", vec![("text", "bank says: account fee")]),
        ("investigate", vec![]),
        (
            "resolve",
            vec![("reason", "booked as account fee in the GL by hand")],
        ),
    ] {
        let done = anna.submit(&page, &format!("{page}/{action}"), &form);
        assert_eq!(done.status, 303, "{action}: {}", done.body);
        assert_eq!(done.header("location"), Some(page.as_str()));
    }
    // The command line shows what was done, by whom.
    let shown = i.json(&["exception", "show", &fee.to_string()]);
    assert_eq!(shown["status"], "resolved", "{shown}");
    assert_eq!(shown["owner"], "anna");
    let steps: Vec<(String, String)> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["actor"].as_str().unwrap().into(),
                h["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    let anna_did = |a: &str| ("anna".to_string(), a.to_string());
    assert_eq!(
        steps,
        [
            ("clerk".to_string(), "opened".to_string()),
            anna_did("assigned"),
            anna_did("note"),
            anna_did("investigating"),
            anna_did("resolved"),
        ]
    );
    assert!(anna.get(&page).body.contains("bank says: account fee"));
    // A form without the session's token changes nothing.
    let forged = anna.post(&format!("{page}/reopen"), &[("csrf", "forged")]);
    assert_eq!(forged.status, 403);
    assert_eq!(
        i.json(&["exception", "show", &fee.to_string()])["status"],
        "resolved"
    );

    // Force-match from the queue: one entry posted, both breaks closed.
    let before = i.status()["entries_posted"].as_u64().unwrap();
    let (l, s) = (line.to_string(), item.to_string());
    let matched = anna.submit(
        "/exceptions",
        "/exceptions/match",
        &[
            ("break", &l),
            ("break", &s),
            ("reason", "customer paid less the bank charge"),
            ("difference_account", "4970"),
        ],
    );
    assert_eq!(matched.status, 303, "{}", matched.body);
    assert!(matched.header("location").unwrap().starts_with("/runs/"));
    assert_eq!(i.status()["entries_posted"].as_u64().unwrap(), before + 1);
    for id in [line, item] {
        assert_eq!(
            i.json(&["exception", "show", &id.to_string()])["status"],
            "resolved"
        );
    }
    let run = anna.get(matched.header("location").unwrap());
    assert!(run.body.contains("matched by hand by anna"), "{}", run.body);

    // Writing off 2000.00 is only proposed; its maker cannot approve it; another can.
    let big_page = format!("/exceptions/{big}");
    let proposed = anna.submit(
        &big_page,
        &format!("{big_page}/resolve"),
        &[("reason", "unknown transfer, written off")],
    );
    assert_eq!(proposed.status, 303, "{}", proposed.body);
    assert_eq!(
        i.json(&["exception", "show", &big.to_string()])["status"],
        "open"
    );
    let approvals = anna.get("/approvals");
    assert!(approvals.body.contains("write-off"), "{}", approvals.body);
    assert!(
        !approvals.body.contains(">Approve<"),
        "no approve button for the maker"
    );
    let approval: i64 = i.count("SELECT MAX(id) FROM approvals");
    let own = anna.submit("/approvals", &format!("/approvals/{approval}/approve"), &[]);
    assert_eq!(own.status, 422, "{}", own.body);
    assert!(
        own.body.contains("nobody approves their own"),
        "{}",
        own.body
    );
    let otto = logged_in(&url, "otto");
    assert!(otto.get("/approvals").body.contains(">Approve<"));
    let approved = otto.submit("/approvals", &format!("/approvals/{approval}/approve"), &[]);
    assert_eq!(approved.status, 303, "{}", approved.body);
    assert_eq!(
        i.json(&["exception", "show", &big.to_string()])["status"],
        "resolved"
    );
    d.stop();
}
