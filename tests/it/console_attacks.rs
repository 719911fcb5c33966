//! The console under attack, through the real daemon over real HTTP: what an attacker's script
//! would try (hostile text in files and forms, forged forms, redirects away, stolen or fixed
//! sessions, pages without a login, paths out of the archive, oversized posts, secrets on
//! pages), each a test that fails if the hole is there.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::daemon::{LEDGER, STATEMENT};
use crate::support::http::{
    PASSWORD, Page, Web, add_users, console_url, logged_in, session_cookie,
};
use crate::support::install::{Daemon, Install, wait_until};

/// What a hostile file, mail or person puts where text goes; none of it may reach a page as
/// markup.
const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";
const JS_URL: &str = "javascript:alert(1)";

/// The marks of markup that came through unescaped.
const RAW: &[&str] = &[
    "<script>alert",
    "<img src=x",
    "<svg onload",
    "href=\"javascript:",
    "src=\"javascript:",
    "action=\"javascript:",
];

/// The shipped jobs posting to the shipped chart, the console on with `http` settings, four
/// eyes above 1000.00, and `users` (name, role).
fn attack_install(http: &str, extra: &str, users: &[(&str, &str)]) -> Install {
    let install = Install::with_shipped_chart(&format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n{http}\n[http.approval]\nabove = \"1000.00\"\n\n{extra}"
    ));
    add_users(&install, users);
    install
}

/// `s` as a URL query value.
fn q(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn no_raw_markup(page: &Page, path: &str) {
    for raw in RAW {
        assert!(
            !page.body.contains(raw),
            "{path}: {raw:?} came through unescaped:\n{}",
            page.body
        );
    }
}

/// The ids of the open breaks of the bank reconciliation, by amount.
fn break_of(i: &Install, amount: &str) -> i64 {
    let open = i.json(&["exceptions", "--job", "bank-reconciliation"]);
    open.as_array()
        .unwrap()
        .iter()
        .find(|e| e["amount"].as_str() == Some(amount))
        .unwrap_or_else(|| panic!("no open break of {amount}: {open}"))["id"]
        .as_i64()
        .unwrap()
}

/// Everything an action could change, read straight from the store.
fn state(i: &Install) -> Vec<i64> {
    [
        "SELECT count(*) FROM break_history",
        "SELECT count(*) FROM breaks WHERE status = 'open'",
        "SELECT count(*) FROM approvals",
        "SELECT count(*) FROM approvals WHERE status = 'pending'",
        "SELECT count(*) FROM entries",
        "SELECT count(*) FROM users WHERE disabled = 1",
        "SELECT count(*) FROM users WHERE role = 'admin'",
        "SELECT count(*) FROM sessions",
    ]
    .iter()
    .map(|sql| i.count(sql))
    .collect()
}

/// Loads the ledger and a statement with hostile remittance texts and a hostile file name,
/// plus a file that fails with a hostile cell in its error. Returns (hostile small break,
/// hostile big break).
fn hostile_books(i: &Install, d: &crate::support::install::Daemon) -> (i64, i64) {
    i.drop_until_processed(d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    let mut statement = STATEMENT.to_string();
    statement.push_str(&format!(
        "2026-03-05,2026-03-05,77.77,EUR,BQX,{SCRIPT} {JS_URL}\n"
    ));
    // Quoted, so the comma-free cell keeps its quote and angle brackets.
    statement.push_str(&format!(
        "2026-03-05,2026-03-05,2000.00,EUR,\"{}\",{SCRIPT}\n",
        IMG.replace('"', "\"\"")
    ));
    let name = format!("{}<svg onload=alert(1)>.csv", IMG);
    i.drop_until_processed(d, &format!("var/inbox/bank/{name}"), &statement, 2);
    // A file refused with the bad cell named in its error.
    let bad = format!(
        "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
         2026-03-06,2026-03-06,{SCRIPT},EUR,BQY,x\n"
    );
    let before = i.count("SELECT count(*) FROM files");
    i.drop_file("var/inbox/bank", "<script>alert(1)<.csv", bad.as_bytes());
    assert!(
        wait_until(Duration::from_secs(20), || i
            .count("SELECT count(*) FROM files")
            > before),
        "the bad file was not looked at:\n{}",
        d.log()
    );
    (break_of(i, "77.77"), break_of(i, "2000.00"))
}

/// The daemon started on `i`, its console's address, and the books of [`hostile_books`].
fn with_hostile_books(i: &Install) -> (Daemon, String, i64, i64) {
    let d = i.start_daemon();
    let url = console_url(&d);
    let (small, big) = hostile_books(i, &d);
    (d, url, small, big)
}

#[test]
fn hostile_text_from_files_and_people_is_text_on_every_page() {
    let i = attack_install(
        "",
        "",
        &[("ada", "admin"), ("anna", "operator"), ("otto", "approver")],
    );
    let (_daemon, url, small, big) = with_hostile_books(&i);

    let anna = logged_in(&url, "anna");
    let page = format!("/exceptions/{small}");
    for (action, form) in [
        ("note", vec![("text", SCRIPT)]),
        ("note", vec![("text", IMG)]),
        ("assign", vec![("to", SCRIPT)]),
        ("resolve", vec![("reason", IMG)]),
    ] {
        let done = anna.submit(&page, &format!("{page}/{action}"), &form);
        assert!(
            done.status == 303 || done.status == 422,
            "{action}: {} {}",
            done.status,
            done.body
        );
        no_raw_markup(&done, &format!("{page}/{action}"));
    }
    // A write-off above the limit waits on the approvals page with its hostile reason.
    let big_page = format!("/exceptions/{big}");
    let proposed = anna.submit(
        &big_page,
        &format!("{big_page}/resolve"),
        &[("reason", &format!("{SCRIPT}{IMG}"))],
    );
    assert_eq!(proposed.status, 303, "{}", proposed.body);

    let ada = logged_in(&url, "ada");
    let files: Vec<i64> = i
        .db()
        .prepare("SELECT id FROM files")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let runs: Vec<i64> = i
        .db()
        .prepare("SELECT id FROM runs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut pages: Vec<String> = [
        "/",
        "/exceptions",
        "/exceptions?status=resolved",
        "/approvals",
        "/files",
        "/files?status=failed",
        "/runs",
        "/jobs",
        "/jobs/bank-reconciliation",
        "/users",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    pages.push(format!("/exceptions/{small}"));
    pages.push(format!("/exceptions/{big}"));
    pages.extend(files.iter().map(|f| format!("/files/{f}")));
    pages.extend(runs.iter().map(|r| format!("/runs/{r}")));
    // Reflected: whatever a link puts in the query comes back inside the form, escaped.
    for hostile in [SCRIPT, IMG, JS_URL] {
        for field in [
            "text", "owner", "job", "reason", "status", "sort", "min_age",
        ] {
            pages.push(format!("/exceptions?{field}={}", q(hostile)));
        }
        pages.push(format!("/files?job={}", q(hostile)));
        pages.push(format!("/runs?job={}", q(hostile)));
        pages.push(format!("/jobs/{}", q(hostile)));
    }
    let mut escaped_seen = BTreeSet::new();
    for path in &pages {
        let page = ada.get(path);
        assert!(
            [200, 400, 404, 422].contains(&page.status),
            "{path}: {} {}",
            page.status,
            page.body
        );
        no_raw_markup(&page, path);
        if page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") {
            escaped_seen.insert(path.clone());
        }
    }
    // The hostile texts are there, as text: on the queue, the break, the files, the approvals.
    for path in [
        "/exceptions".to_string(),
        format!("/exceptions/{small}"),
        "/approvals".to_string(),
    ] {
        assert!(escaped_seen.contains(&path), "{path} shows no hostile text");
    }
    let listed = ada.get("/files");
    assert!(
        listed.body.contains("&lt;svg onload=alert(1)&gt;.csv"),
        "the hostile file name is not shown as text:\n{}",
        listed.body
    );

    // The login page echoes `next` into its form, escaped.
    let anon = Web::new(&url);
    for hostile in [SCRIPT, IMG] {
        let page = anon.get(&format!("/login?next=/{}", q(hostile)));
        assert_eq!(page.status, 200);
        no_raw_markup(&page, "/login?next=");
    }
}

/// Every form the console takes, with the fields a real one carries (the token aside).
fn post_routes(small: i64, approval: i64) -> Vec<(String, Vec<(&'static str, String)>)> {
    let b = format!("/exceptions/{small}");
    vec![
        ("/logout".into(), vec![]),
        (
            "/exceptions/match".into(),
            vec![
                ("break", small.to_string()),
                ("reason", "forged".into()),
                ("difference_account", "4970".into()),
            ],
        ),
        (format!("{b}/assign"), vec![("to", "anna".into())]),
        (format!("{b}/note"), vec![("text", "forged".into())]),
        (format!("{b}/investigate"), vec![]),
        (format!("{b}/resolve"), vec![("reason", "forged".into())]),
        (format!("{b}/reopen"), vec![]),
        (format!("/approvals/{approval}/approve"), vec![]),
        (format!("/approvals/{approval}/reject"), vec![]),
        (format!("/approvals/{approval}/withdraw"), vec![]),
        ("/users/anna/role".into(), vec![("role", "admin".into())]),
        ("/users/anna/disable".into(), vec![]),
        ("/users/anna/enable".into(), vec![]),
    ]
}

fn with(form: &[(&'static str, String)], extra: &[(&'static str, &str)]) -> Vec<(String, String)> {
    form.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn post_pairs(web: &Web, path: &str, form: &[(String, String)]) -> Page {
    let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    web.post(path, &f)
}

#[test]
fn a_forged_form_is_refused_on_every_post_route_and_a_get_changes_nothing() {
    let i = attack_install(
        "",
        "",
        &[("ada", "admin"), ("anna", "operator"), ("otto", "approver")],
    );
    let (_daemon, url, small, big) = with_hostile_books(&i);
    let anna = logged_in(&url, "anna");
    let big_page = format!("/exceptions/{big}");
    let proposed = anna.submit(
        &big_page,
        &format!("{big_page}/resolve"),
        &[("reason", "written off")],
    );
    assert_eq!(proposed.status, 303, "{}", proposed.body);
    let approval = i.count("SELECT max(id) FROM approvals");

    // The admin may do everything: only the token stands between a forged form and a change.
    let ada = logged_in(&url, "ada");
    let others_token = anna.get("/").csrf();
    let before = state(&i);
    for (path, form) in post_routes(small, approval) {
        for (what, token) in [
            ("no token", None),
            ("an empty token", Some(String::new())),
            ("a wrong token", Some("0".repeat(64))),
            ("another session's token", Some(others_token.clone())),
        ] {
            let mut f = with(&form, &[]);
            if let Some(t) = &token {
                f.push(("csrf".into(), t.clone()));
            }
            let page = post_pairs(&ada, &path, &f);
            assert_eq!(page.status, 403, "{path} with {what}: {}", page.body);
        }
        // Twice the token, once wrong: the form is refused, not read by the first one.
        let mut twice = with(&form, &[("csrf", "0".repeat(64).as_str())]);
        twice.push(("csrf".into(), ada.get("/").csrf()));
        let page = post_pairs(&ada, &path, &twice);
        assert!(
            page.status == 403 || page.status == 422,
            "{path} with two tokens: {} {}",
            page.status,
            page.body
        );
        // A link (GET) to an action does nothing.
        let got = ada.get(&path);
        assert_eq!(got.status, 405, "GET {path}: {}", got.body);
        // Without a session at all: the login page, nothing done.
        let anon = Web::new(&url);
        let page = post_pairs(&anon, &path, &with(&form, &[("csrf", &others_token)]));
        assert!(
            page.status == 303 || page.status == 403,
            "{path} without a session: {} {}",
            page.status,
            page.body
        );
        assert_eq!(
            state(&i),
            before,
            "{path}: a refused form changed something"
        );
    }
    assert_eq!(ada.get("/").status, 200, "the admin's session stays");
    assert_eq!(anna.get("/").status, 200, "the operator's session stays");
}

#[test]
fn the_login_never_sends_the_browser_to_another_site() {
    let i = attack_install("", "", &[("anna", "operator")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/\t/evil.example",
        "/ /evil.example",
        "/\r\nSet-Cookie: clerk_session=fixed",
        "/%0d%0aSet-Cookie:%20clerk_session=fixed",
        "javascript:alert(1)",
        "/..//evil.example",
        "///evil.example",
    ] {
        // The raw string as a form field (the browser sends what the hidden field holds).
        let mut web = Web::new(&url);
        let form = web.get(&format!("/login?next={}", q(next)));
        assert_eq!(form.status, 200, "{next:?}");
        web.cookie = session_cookie(&form);
        let token = form.csrf();
        let page = web.post(
            "/login",
            &[
                ("user", "anna"),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", next),
            ],
        );
        assert_eq!(page.status, 303, "{next:?}: {}", page.body);
        let location = page.header("location").unwrap();
        let b = location.as_bytes();
        assert!(
            b.first() == Some(&b'/')
                && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
                && !location.chars().any(|c| c.is_control() || c == '\\'),
            "{next:?} sent the browser to {location:?}"
        );
        assert!(
            !page
                .headers_named("set-cookie")
                .iter()
                .any(|c| c.contains("fixed")),
            "{next:?}: a cookie set through the redirect"
        );
    }
}

#[test]
fn a_session_is_new_at_login_ends_at_logout_and_never_reaches_a_url() {
    let i = attack_install("", "", &[("anna", "operator"), ("vera", "viewer")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    // Fixation: the attacker's own session cookie (or a made-up one) in the victim's browser
    // is not kept by the login.
    let attacker = logged_in(&url, "vera");
    let planted = attacker.cookie.clone().unwrap();
    for fixed in [planted.clone(), format!("clerk_session={}", "a".repeat(64))] {
        let mut web = Web::new(&url);
        let form = web.get("/login");
        let login_cookie = session_cookie(&form).unwrap();
        web.cookie = Some(format!("{fixed}; {login_cookie}"));
        let page = web.post(
            "/login",
            &[
                ("user", "anna"),
                ("password", PASSWORD),
                ("csrf", &form.csrf()),
            ],
        );
        assert_eq!(page.status, 303, "{}", page.body);
        let issued = page
            .headers_named("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("clerk_session="))
            .expect("a new session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        assert_ne!(issued, fixed, "the planted session was kept");
        for attr in ["HttpOnly", "SameSite=Strict"] {
            assert!(
                page.headers_named("set-cookie")
                    .iter()
                    .all(|c| c.contains(attr)),
                "{attr}: {:?}",
                page.headers_named("set-cookie")
            );
        }
        // The planted cookie is still the attacker's (vera), or nobody's.
        let mut planted_web = Web::new(&url);
        planted_web.cookie = Some(fixed.clone());
        let p = planted_web.get("/");
        assert!(!p.body.contains("anna (operator)"), "{}", p.body);
        // The victim's page never carries the token in a link.
        let mut victim = Web::new(&url);
        victim.cookie = Some(issued.clone());
        let home = victim.get("/");
        assert_eq!(home.status, 200);
        let token = &issued["clerk_session=".len()..];
        assert!(
            !home.body.contains(token),
            "the session token is on the page"
        );
        // Logout ends it in the store: the copied cookie opens nothing.
        let out = victim.submit("/", "/logout", &[]);
        assert_eq!(out.status, 303);
        let mut thief = Web::new(&url);
        thief.cookie = Some(issued);
        let p = thief.get("/");
        assert_eq!(p.status, 303, "a logged-out session still opens pages");
        let p = thief.get("/exceptions");
        assert_eq!(p.status, 303);
    }
    // Neither a session token, a form's token nor a password reaches the log.
    let log = d.log();
    assert!(!log.contains(PASSWORD), "the log shows a password");
    let token = &planted["clerk_session=".len()..];
    assert!(!log.contains(token), "the log shows a session token");
    assert!(
        !log.contains(&attacker.get("/").csrf()),
        "the log shows a CSRF token"
    );
    // A session given in the URL is no session.
    let token = &planted["clerk_session=".len()..];
    let anon = Web::new(&url);
    for path in [
        format!("/?clerk_session={token}"),
        format!("/;clerk_session={token}"),
    ] {
        let p = anon.get(&path);
        assert_ne!(p.status, 200, "{path}");
    }
}

/// Every page a browser can ask for (GET), with the ids of real rows.
fn get_routes(small: i64, file: i64, run: i64) -> Vec<String> {
    vec![
        "/".into(),
        "/exceptions".into(),
        format!("/exceptions/{small}"),
        "/approvals".into(),
        "/files".into(),
        format!("/files/{file}"),
        format!("/files/{file}/original"),
        "/runs".into(),
        format!("/runs/{run}"),
        "/jobs".into(),
        "/jobs/bank-reconciliation".into(),
        "/users".into(),
    ]
}

#[test]
fn every_page_needs_a_login_and_every_action_its_role() {
    let i = attack_install(
        "trusted_proxies = [\"10.9.9.9\"]\nuser_header = \"X-Remote-User\"\n",
        "",
        &[
            ("ada", "admin"),
            ("anna", "operator"),
            ("otto", "approver"),
            ("vera", "viewer"),
        ],
    );
    let (_daemon, url, small, big) = with_hostile_books(&i);
    let file = i.count("SELECT min(id) FROM files WHERE status = 'processed'");
    let run = i.count("SELECT min(id) FROM runs");

    let anon = Web::new(&url);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(anon.get(path).status, 200, "{path}");
    }
    // Without a cookie, or with a spoofed proxy header and forwarded address: the login.
    for headers in [
        vec![],
        vec![("X-Remote-User", "ada")],
        vec![("X-Remote-User", "ada"), ("X-Forwarded-For", "10.9.9.9")],
        vec![("X-Remote-User", "ada"), ("X-Real-IP", "10.9.9.9")],
        vec![("X-Remote-User", "ada"), ("Forwarded", "for=10.9.9.9")],
    ] {
        for path in get_routes(small, file, run) {
            let page = anon.get_with(&path, &headers);
            assert_eq!(page.status, 303, "{path} {headers:?}: {}", page.body);
            assert!(
                page.header("location").unwrap().starts_with("/login"),
                "{path}"
            );
            assert!(!page.body.contains("bank-reconciliation"), "{path}");
        }
    }
    // A spoofed header on a form without a session changes nothing either.
    let before = state(&i);
    let forged = anon.post_with(
        &format!("/exceptions/{small}/note"),
        &[("text", "spoofed"), ("csrf", "x")],
        &[("X-Remote-User", "ada"), ("X-Forwarded-For", "10.9.9.9")],
    );
    assert!(
        forged.status == 303 || forged.status == 403,
        "{}",
        forged.body
    );
    assert_eq!(state(&i), before);

    // A viewer reads, and is refused every action.
    let vera = logged_in(&url, "vera");
    let anna = logged_in(&url, "anna");
    let proposed = anna.submit(
        &format!("/exceptions/{big}"),
        &format!("/exceptions/{big}/resolve"),
        &[("reason", "written off")],
    );
    assert_eq!(proposed.status, 303, "{}", proposed.body);
    let approval = i.count("SELECT max(id) FROM approvals");
    let otto = logged_in(&url, "otto");
    let before = state(&i);
    for (path, form) in post_routes(small, approval) {
        if path == "/logout" {
            continue;
        }
        let token = vera.get("/").csrf();
        let page = post_pairs(&vera, &path, &with(&form, &[("csrf", &token)]));
        assert_eq!(page.status, 403, "viewer: {path}: {}", page.body);
        assert_eq!(state(&i), before, "viewer: {path} changed something");
    }
    assert_eq!(vera.get(&format!("/files/{file}/original")).status, 403);
    assert_eq!(vera.get("/users").status, 403);
    // An operator cannot approve, and cannot touch users.
    for path in [
        format!("/approvals/{approval}/approve"),
        format!("/approvals/{approval}/reject"),
        "/users/vera/role".into(),
        "/users/vera/disable".into(),
        "/users/vera/enable".into(),
    ] {
        let token = anna.get("/").csrf();
        let page = anna.post(&path, &[("csrf", &token), ("role", "admin")]);
        assert!(
            page.status == 403,
            "operator: {path}: {} {}",
            page.status,
            page.body
        );
        assert_eq!(state(&i), before, "operator: {path} changed something");
    }
    assert_eq!(anna.get("/users").status, 403);
    // Another person cannot withdraw the maker's proposal (only reject it, as an approver).
    let theirs = otto.submit(
        "/approvals",
        &format!("/approvals/{approval}/withdraw"),
        &[],
    );
    assert!(
        theirs.status == 403 || theirs.status == 422,
        "{}",
        theirs.body
    );
    assert_eq!(state(&i), before, "someone else withdrew the proposal");
    // The maker cannot approve their own proposal; nor can an approver theirs.
    let own = anna.submit("/approvals", &format!("/approvals/{approval}/approve"), &[]);
    assert!(own.status == 403 || own.status == 422, "{}", own.body);
    assert_eq!(state(&i), before, "the maker approved their own");
    let small_page = format!("/exceptions/{small}");
    let mine = otto.submit(
        &small_page,
        "/exceptions/match",
        &[
            ("break", &small.to_string()),
            ("break", &big.to_string()),
            ("reason", "otto's own"),
            ("difference_account", "4970"),
        ],
    );
    if mine.status == 303 && i.count("SELECT max(id) FROM approvals") > approval {
        let second = i.count("SELECT max(id) FROM approvals");
        let before = state(&i);
        let own = otto.submit("/approvals", &format!("/approvals/{second}/approve"), &[]);
        assert!(own.status == 403 || own.status == 422, "{}", own.body);
        assert_eq!(state(&i), before, "an approver approved their own");
    }
    // The trusted proxy's header from the console's own address (not trusted) is no login.
    let page = vera.get_with("/users", &[("X-Remote-User", "ada")]);
    assert_eq!(page.status, 403, "the header made a viewer an admin");
}

#[test]
fn a_download_never_leaves_the_archive_and_its_name_cannot_break_the_header() {
    let i = attack_install("", "", &[("anna", "operator")]);
    let (_daemon, url, _, _) = with_hostile_books(&i);
    // Something outside the archive an attacker would like to read.
    std::fs::write(i.path("var/secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    let anna = logged_in(&url, "anna");
    for path in [
        "/files/../../var/secret.txt/original",
        "/files/..%2F..%2Fsecret.txt/original",
        "/files/-1/original",
        "/files/0/original",
        "/files/1%2F../original",
        "/files/99999999999999999999999/original",
        "/files/9223372036854775807/original",
        "/files/1.0/original",
        "/files/%00/original",
        "/files/1%00/original",
    ] {
        let page = anna.get(path);
        assert!(
            [400, 404].contains(&page.status),
            "{path}: {} {}",
            page.status,
            page.body
        );
        assert!(!page.body.contains("TOP-SECRET"), "{path}");
        assert!(
            page.header("content-security-policy").is_some(),
            "{path}: no CSP on the refusal"
        );
    }
    let hostile = i.count("SELECT id FROM files WHERE name LIKE '%svg%'");
    let page = anna.get(&format!("/files/{hostile}/original"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("BQX"), "the original's bytes");
    let disposition = page.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    let plain = &disposition["attachment; filename=\"".len()..];
    let plain = &plain[..plain.find('"').unwrap()];
    assert!(
        !plain.contains(['"', '\\', '\r', '\n', '<', '>', ';']),
        "{disposition}"
    );
    assert!(!disposition.contains(['\r', '\n']), "{disposition}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        page.header("content-type"),
        Some("application/octet-stream"),
        "never rendered by the browser"
    );
    assert_eq!(
        page.header("cache-control"),
        Some("no-store"),
        "a statement is not kept in a shared cache"
    );
}

/// A raw HTTP/1.1 request, answered whole (for what a client library will not send).
fn raw(url: &str, request: &str, body: &[u8]) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    // The server may answer and close before the body is all sent.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn has_security_headers(page: &Page, what: &str) {
    let csp = page
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy: {:?}", page.headers));
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert_eq!(
        page.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"), "{what}");
    if page
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html"))
    {
        assert_eq!(page.header("cache-control"), Some("no-store"), "{what}");
    }
}

#[test]
fn every_answer_carries_the_security_headers_and_an_oversized_form_is_refused() {
    let i = attack_install("", "", &[("ada", "admin")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    let ada = logged_in(&url, "ada");
    let anon = Web::new(&url);
    for path in [
        "/",
        "/exceptions",
        "/approvals",
        "/files",
        "/files/1",
        "/runs",
        "/runs/1",
        "/jobs",
        "/jobs/bank-reconciliation",
        "/users",
        "/no-such-page",
        "/files/x",
        "/files/999999",
        "/jobs/no-such-job",
        "/exceptions/match",
        "/static/clerk.css",
        "/static/clerk.js",
        "/static/../Cargo.toml",
        "/metrics",
        "/healthz",
        "/readyz",
    ] {
        has_security_headers(&ada.get(path), path);
        has_security_headers(&anon.get(path), &format!("{path} (no login)"));
    }
    // What the router refuses itself (a path or query that does not read) is never a page
    // a browser would run: plain text, with the same headers.
    for path in [
        "/exceptions/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/runs/%3Cscript%3E",
        "/files?before=%3Cscript%3E",
        "/exceptions?min_age=%3Cscript%3E",
        "/exceptions?after=%3Cscript%3E",
    ] {
        let page = ada.get(path);
        has_security_headers(&page, path);
        if page
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
        {
            no_raw_markup(&page, path);
        }
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
    }
    has_security_headers(&anon.get("/login"), "/login");
    // A refused form, a form that does not read, an oversized one.
    has_security_headers(&ada.post("/logout", &[]), "a forged form");
    let big = "x".repeat(70 * 1024);
    let token = ada.get("/").csrf();
    let page = ada.post("/exceptions/1/note", &[("csrf", &token), ("text", &big)]);
    assert_eq!(page.status, 413, "{}", page.body);
    has_security_headers(&page, "an oversized form");
    let page = anon.post("/login", &[("user", &big), ("password", "x")]);
    assert_eq!(page.status, 413, "{}", page.body);
    has_security_headers(&page, "an oversized login");
    // Sent in chunks, with no length said before: refused all the same.
    let addr = url.trim_start_matches("http://");
    let cookie = ada.cookie.clone().unwrap();
    let mut chunked = Vec::new();
    let body = format!("csrf={token}&text={}", "y".repeat(100 * 1024));
    for piece in body.as_bytes().chunks(8 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(
        &url,
        &format!(
            "POST /exceptions/1/note HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n"
        ),
        &chunked,
    );
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a chunked oversized form: {}",
        answer.lines().next().unwrap_or("")
    );
    // The daemon took all that and still serves.
    assert_eq!(ada.get("/healthz").status, 200);
    assert_eq!(ada.get("/").status, 200);
    assert!(
        i.count("SELECT count(*) FROM break_history WHERE detail LIKE 'yyyy%'") == 0,
        "an oversized note was kept"
    );
}

#[test]
fn no_secret_of_the_configuration_shows_on_any_page() {
    const SMTP: &str = "SMTP-SECRET-7f3a9c";
    const IMAP: &str = "IMAP-SECRET-51be02";
    const METRICS: &str = "METRICS-TOKEN-c0ffee";
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, v: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{v}\n")).unwrap();
        p.display().to_string()
    };
    let (smtp, imap, metrics) = (
        file("smtp", SMTP),
        file("imap", IMAP),
        file("metrics", METRICS),
    );
    let i = attack_install(
        &format!("metrics_token_file = \"{metrics}\"\n"),
        &format!(
            "[mail.smtp]\nhost = \"127.0.0.1\"\nport = 1\nsecurity = \"none\"\n\
             username = \"clerk\"\npassword_file = \"{smtp}\"\n\n\
             [mailboxes.custodians]\nkind = \"imap\"\nhost = \"127.0.0.1\"\nport = 1\n\
             security = \"none\"\nusername = \"statements\"\npassword_file = \"{imap}\"\n"
        ),
        &[("ada", "admin")],
    );
    let (d, url, small, _) = with_hostile_books(&i);
    let ada = logged_in(&url, "ada");
    let file = i.count("SELECT min(id) FROM files");
    let run = i.count("SELECT min(id) FROM runs");
    let mut pages = get_routes(small, file, run);
    pages.retain(|p| !p.ends_with("/original"));
    let jobs: Vec<String> = std::fs::read_dir(i.path("jobs"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            Some(p.file_stem()?.to_str()?.to_string())
        })
        .collect();
    pages.extend(jobs.iter().map(|j| format!("/jobs/{j}")));
    pages.extend(["/healthz".into(), "/readyz".into(), "/login".into()]);
    let bearer = format!("Bearer {METRICS}");
    let metrics_page = ada.get_with("/metrics", &[("Authorization", &bearer)]);
    assert_eq!(metrics_page.status, 200, "{}", metrics_page.body);
    let mut all = vec![("/metrics".to_string(), metrics_page)];
    for p in pages {
        let page = ada.get(&p);
        all.push((p, page));
    }
    all.push(("/metrics without the token".into(), ada.get("/metrics")));
    for (path, page) in &all {
        for secret in [SMTP, IMAP, METRICS] {
            assert!(!page.body.contains(secret), "{path} shows {secret}");
            assert!(
                !page.headers.iter().any(|(_, v)| v.contains(secret)),
                "{path} sends {secret} in a header"
            );
        }
    }
    let log = d.log();
    for secret in [SMTP, IMAP, METRICS] {
        assert!(!log.contains(secret), "the log shows {secret}");
    }
}

#[test]
fn a_crowd_of_logins_queues_and_is_limited_and_the_daemon_keeps_serving() {
    let i = attack_install("", "", &[("anna", "operator")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    // Twenty wrong guesses at once from one address: at most five are checked, the rest are
    // told to wait (429 with Retry-After); none of them logs in.
    let answers: Vec<Page> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|n| {
                let url = url.clone();
                s.spawn(move || {
                    let mut web = Web::new(&url);
                    web.try_login("anna", &format!("guess {n}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused = answers.iter().filter(|p| p.status == 200).count();
    let limited = answers.iter().filter(|p| p.status == 429).count();
    assert_eq!(
        refused + limited,
        20,
        "{:?}",
        answers.iter().map(|p| p.status).collect::<Vec<_>>()
    );
    assert_eq!(
        refused, 5,
        "{refused} guesses checked, not the five the limit allows"
    );
    for p in answers.iter().filter(|p| p.status == 429) {
        assert!(p.header("retry-after").is_some());
        has_security_headers(p, "429");
    }
    assert!(
        answers
            .iter()
            .all(|p| session_cookie(p).is_none_or(|c| !c.starts_with("clerk_session=")))
    );
    assert_eq!(Web::new(&url).get("/healthz").status, 200);
    // The right password is refused too while locked: a guesser learns nothing.
    let mut web = Web::new(&url);
    assert_eq!(web.try_login("anna", PASSWORD).status, 429);
}

#[test]
fn hostile_text_from_a_mail_is_text_on_every_page() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let i = attack_install("", "", &[("ada", "admin")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    i.drop_until_processed(&d, "var/inbox/ledger/ledger.csv", LEDGER, 1);
    let statement = format!(
        "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
         2026-03-05,2026-03-05,66.66,EUR,MAIL1,{SCRIPT}\n"
    );
    // The subject and the attachment's name as encoded words, as a mail program writes them.
    let subject = format!("=?utf-8?B?{}?=", b64(&format!("{SCRIPT}{IMG}")));
    let name = format!("=?utf-8?B?{}?=", b64("<svg onload=alert(1)>.csv"));
    let mail = format!(
        "From: Bank <statements@bank.example.com>\r\nSubject: {subject}\r\n\
         Message-ID: <hostile@bank.example.com>\r\nTo: back-office@example.com\r\n\
         Date: Thu, 26 Nov 2026 18:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n\
         --b0\r\nContent-Type: text/plain\r\n\r\n{SCRIPT}\r\n\
         --b0\r\nContent-Type: text/csv; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b0--\r\n",
        b64(&statement)
    );
    let root = i.path("var/mail/back-office");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("tmp/hostile"), &mail).unwrap();
    std::fs::rename(root.join("tmp/hostile"), root.join("new/hostile")).unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || i.files_processed() == 2),
        "the mailed statement was not taken:\n{}",
        d.log()
    );
    let ada = logged_in(&url, "ada");
    let brk = break_of(&i, "66.66");
    let file = i.count("SELECT max(id) FROM files");
    let run = i.count("SELECT max(id) FROM runs");
    let mut shown_as_text = false;
    for path in get_routes(brk, file, run)
        .into_iter()
        .filter(|p| !p.ends_with("/original"))
    {
        let page = ada.get(&path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        no_raw_markup(&page, &path);
        shown_as_text |= page.body.contains("&lt;svg onload=alert(1)&gt;")
            || page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
    assert!(shown_as_text, "the mail's hostile text shows nowhere");
}

#[test]
fn a_connection_that_never_finishes_its_request_is_closed() {
    let i = attack_install("", "", &[]);
    let d = i.start_daemon();
    let url = console_url(&d);
    let addr = url.trim_start_matches("http://").to_string();
    // Slowloris: a request line and half a header, then nothing; and a connection that sends
    // nothing at all; a request, then half the next; a request, then an idle keep-alive. Each
    // would hold a file descriptor of the daemon's for ever.
    let stalled: Vec<TcpStream> = [
        &b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "[..],
        &b""[..],
        &b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n"[..],
        &b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"[..],
    ]
    .iter()
    .map(|start| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        s.write_all(start).unwrap();
        s
    })
    .collect();
    let since = std::time::Instant::now();
    for (n, mut s) in stalled.into_iter().enumerate() {
        let mut buf = [0u8; 256];
        // Closed (0 bytes, or a reset), perhaps after a 408: never left open.
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break false;
                }
                Err(_) => break true,
            }
        };
        assert!(closed, "connection {n}");
    }
    assert!(
        since.elapsed() < Duration::from_secs(35),
        "stalled connections were held {:?}",
        since.elapsed()
    );
    assert_eq!(Web::new(&url).get("/healthz").status, 200);
}

#[test]
fn a_form_whose_body_never_ends_is_answered_and_closed() {
    let i = attack_install("", "", &[("anna", "operator")]);
    let d = i.start_daemon();
    let url = console_url(&d);
    let anna = logged_in(&url, "anna");
    let token = anna.get("/").csrf();
    let addr = url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // Headers whole, a body announced as 1000 bytes, 20 of them sent, then nothing.
    let cookie = anna.cookie.clone().unwrap();
    s.write_all(
        format!(
            "POST /exceptions/1/note HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n\
             csrf={}",
            &token[..15]
        )
        .as_bytes(),
    )
    .unwrap();
    let since = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        since.elapsed() < Duration::from_secs(50),
        "the connection was held {:?}",
        since.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{}",
        answer.lines().next().unwrap_or("")
    );
    assert_eq!(anna.get("/healthz").status, 200);
}

#[test]
fn an_approval_clicked_at_once_by_two_approvers_posts_once() {
    let i = attack_install(
        "",
        "",
        &[
            ("anna", "operator"),
            ("otto", "approver"),
            ("olga", "approver"),
        ],
    );
    let (_daemon, url, _, big) = with_hostile_books(&i);
    let anna = logged_in(&url, "anna");
    let page = format!("/exceptions/{big}");
    let proposed = anna.submit(
        &page,
        &format!("{page}/resolve"),
        &[("reason", "written off")],
    );
    assert_eq!(proposed.status, 303, "{}", proposed.body);
    let approval = i.count("SELECT max(id) FROM approvals");
    let entries = i.count("SELECT count(*) FROM entries");
    let history = i.count("SELECT count(*) FROM break_history");
    let approvers: Vec<Web> = ["otto", "olga"]
        .iter()
        .map(|u| logged_in(&url, u))
        .collect();
    let tokens: Vec<String> = approvers.iter().map(|w| w.get("/").csrf()).collect();
    let path = format!("/approvals/{approval}/approve");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let clicks: Vec<_> = (0..6)
            .map(|n| {
                let (web, token, path) = (&approvers[n % 2], &tokens[n % 2], &path);
                s.spawn(move || web.post(path, &[("csrf", token)]).status)
            })
            .collect();
        clicks.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 303).count(),
        1,
        "one approval goes through: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 303 || s == 422),
        "{statuses:?}"
    );
    assert_eq!(
        i.count("SELECT count(*) FROM approvals WHERE status = 'approved'"),
        1
    );
    assert!(
        i.count("SELECT count(*) FROM entries") <= entries + 1,
        "the write-off posted twice"
    );
    let steps = i.count("SELECT count(*) FROM break_history") - history;
    assert!(steps <= 2, "{steps} steps written for one approval");
    assert_eq!(
        i.json(&["exception", "show", &big.to_string()])["status"],
        "resolved"
    );
}
