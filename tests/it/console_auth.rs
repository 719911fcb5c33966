//! Logging in to the console through the real daemon over real HTTP: users added with the
//! real `clerk user add`, sessions in the real store, single sign-on from a trusted proxy.

use std::time::{Duration, Instant};

use crate::support::http::{PASSWORD, Page, Web, add_users, console_url, session_cookie};
use crate::support::install::{Daemon, Install, wait_until};
use crate::support::smtp::make_certificates;

const CONSOLE: &str = "[http]\nlisten = \"127.0.0.1:0\"\n";
const REFUSED: &str = "The user name or the password is not right.";

/// An install with the console on and `[http]` settings `extra`, and `users` (name, role)
/// added with `clerk user add --password-file`, all with [`PASSWORD`].
fn console_install(extra: &str, users: &[(&str, &str)]) -> Install {
    let install = Install::with_config(&format!("{CONSOLE}{extra}"));
    add_users(&install, users);
    install
}

fn start(install: &Install) -> (Daemon, String) {
    let daemon = install.start_daemon();
    let url = console_url(&daemon);
    (daemon, url)
}

fn set_cookies(page: &Page) -> Vec<&str> {
    page.headers_named("set-cookie")
}

/// Whether the page sends the browser to the login page.
fn to_login(page: &Page) -> bool {
    page.status == 303
        && page
            .header("location")
            .is_some_and(|l| l.starts_with("/login"))
}

#[test]
fn a_right_password_logs_in_and_a_wrong_one_or_an_unknown_user_gets_the_same_answer() {
    let install = console_install("", &[("anna", "operator")]);
    let (daemon, url) = start(&install);
    let mut web = Web::new(&url);
    assert_eq!(web.get("/healthz").status, 200, "no login for monitoring");

    let wrong = web.try_login("anna", "correct horse batterY");
    let unknown = web.try_login("nobody", PASSWORD);
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(REFUSED), "{}", page.body);
        assert!(page.body.contains("name=\"password\""), "the form again");
        assert!(
            !set_cookies(page)
                .iter()
                .any(|c| c.starts_with("clerk_session=")),
            "no session for a failed login: {:?}",
            set_cookies(page)
        );
    }
    let alike = |p: &Page, name: &str| {
        p.body
            .replace(&p.csrf(), "TOKEN")
            .replace(&format!("value=\"{name}\""), "value=\"NAME\"")
    };
    assert_eq!(
        alike(&wrong, "anna"),
        alike(&unknown, "nobody"),
        "an unknown name and a wrong password look alike"
    );
    assert_eq!(web.get("/").status, 303);

    // The form comes back to the page asked for, never to another site.
    let form = web.get("/login?next=/exceptions%3Fjob%3Dcash");
    assert!(
        form.body.contains("value=\"/exceptions?job=cash\""),
        "{}",
        form.body
    );
    let away = web.get("/login?next=//evil.example/");
    assert!(
        away.body.contains("name=\"next\" value=\"/\""),
        "{}",
        away.body
    );

    let ok = web.try_login("anna", PASSWORD);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/"));
    let session = set_cookies(&ok)
        .into_iter()
        .find(|c| c.starts_with("clerk_session="))
        .expect("a session cookie")
        .to_string();
    let attributes: Vec<&str> = session.split(';').map(str::trim).collect();
    assert_eq!(
        attributes[0].len(),
        "clerk_session=".len() + 64,
        "{session}"
    );
    for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&a), "{a} missing: {session}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP: a Secure cookie would never come back: {session}"
    );
    let overview = web.get("/");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.body.contains("anna (operator)"),
        "{}",
        overview.body
    );

    // The store keeps a hash of the token, not the token.
    let token = &attributes[0]["clerk_session=".len()..];
    assert_eq!(
        install.count(&format!(
            "SELECT count(*) FROM sessions WHERE token_hash = '{token}'"
        )),
        0
    );
    assert_eq!(install.count("SELECT count(*) FROM sessions"), 1);

    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("failed login") && l.contains("\"nobody\"")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("login") && l.contains("anna") && l.contains("127.0.0.1")),
        "{log}"
    );
}

#[test]
fn the_session_cookie_is_secure_under_tls() {
    let certs = tempfile::tempdir().unwrap();
    let c = make_certificates(certs.path());
    let install = console_install(
        &format!(
            "tls = {{ cert = \"{}\", key = \"{}\" }}\n",
            c.server_cert.display(),
            c.server_key.display()
        ),
        &[("anna", "viewer")],
    );
    let (_daemon, url) = start(&install);
    assert!(url.starts_with("https://"), "{url}");
    let mut web = Web::trusting(&url, &std::fs::read(&c.ca_cert).unwrap());
    let form = web.get("/login");
    assert!(
        set_cookies(&form)
            .iter()
            .all(|c| c.contains("; Secure") && c.contains("HttpOnly")),
        "{:?}",
        set_cookies(&form)
    );
    let ok = web.try_login("anna", PASSWORD);
    assert_eq!(ok.status, 303, "{}", ok.body);
    let session = set_cookies(&ok)
        .into_iter()
        .find(|c| c.starts_with("clerk_session="))
        .unwrap();
    assert!(session.contains("; Secure"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert_eq!(web.get("/").status, 200);
}

#[test]
fn a_form_without_the_sessions_token_is_refused_and_the_session_stays() {
    let install = console_install("", &[("anna", "operator")]);
    let (daemon, url) = start(&install);
    let mut web = Web::new(&url);

    // The login form itself needs its own cookie's token (a page elsewhere cannot log a
    // browser in as someone else).
    let form = web.get("/login");
    let token = form.csrf();
    let forged = web.post(
        "/login",
        &[("user", "anna"), ("password", PASSWORD), ("csrf", &token)],
    );
    assert_eq!(forged.status, 403, "no login cookie: {}", forged.body);

    web.login("anna", PASSWORD);
    let missing = web.post("/logout", &[]);
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(
        missing.body.contains("did not come from clerk"),
        "{}",
        missing.body
    );
    let page_token = web.get("/").csrf();
    let wrong = web.post("/logout", &[("csrf", &page_token[..63]), ("x", "1")]);
    assert_eq!(wrong.status, 403);
    let another = web.post("/logout", &[("csrf", &"0".repeat(64))]);
    assert_eq!(another.status, 403);
    assert_eq!(web.get("/").status, 200, "the session stays");

    let out = web.submit("/", "/logout", &[]);
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.header("location"), Some("/login"));
    assert!(
        set_cookies(&out)
            .iter()
            .any(|c| c.starts_with("clerk_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        set_cookies(&out)
    );
    // The old cookie opens nothing any more.
    assert!(to_login(&web.get("/")));
    assert_eq!(install.count("SELECT count(*) FROM sessions"), 0);
    assert!(daemon.log().contains("logout"), "{}", daemon.log());
}

#[test]
fn a_session_unused_for_session_idle_ends_and_one_in_use_does_not() {
    let install = console_install(
        "session_idle = \"2s\"\nsession_max = \"1h\"\n",
        &[("anna", "viewer")],
    );
    let (_daemon, url) = start(&install);
    let mut web = Web::new(&url);
    web.login("anna", PASSWORD);
    // In use for twice the idle timeout: it stays.
    let since = Instant::now();
    wait_until(Duration::from_secs(10), || {
        let page = web.get("/");
        assert_eq!(page.status, 200, "a session in use ended");
        since.elapsed() > Duration::from_secs(4)
    });
    // Left alone past the idle timeout (any request would use it: the store's clock says
    // when), it ends, and the browser is sent to log in, back to the page asked for.
    let idle = wait_until(Duration::from_secs(20), || {
        install.count(
            "SELECT count(*) FROM sessions \
             WHERE (julianday('now') - julianday(last_seen)) * 86400 > 2.5",
        ) == 1
    });
    assert!(idle);
    let page = web.get("/?job=cash");
    assert!(to_login(&page), "{page:?}");
    assert_eq!(page.header("location"), Some("/login?next=/%3Fjob%3Dcash"));
    assert_eq!(
        install.count("SELECT count(*) FROM sessions"),
        0,
        "an ended session is gone from the store"
    );
}

#[test]
fn a_session_ends_at_session_max_even_in_use() {
    let install = console_install(
        "session_idle = \"2s\"\nsession_max = \"4s\"\n",
        &[("anna", "viewer")],
    );
    let (_daemon, url) = start(&install);
    let mut web = Web::new(&url);
    let before = Instant::now();
    web.login("anna", PASSWORD);
    let ended = wait_until(Duration::from_secs(30), || to_login(&web.get("/")));
    assert!(ended, "the session never ended");
    assert!(
        before.elapsed() >= Duration::from_millis(3900),
        "ended after {:?}, before session_max",
        before.elapsed()
    );
    // Logging in again opens a new one.
    web.login("anna", PASSWORD);
    assert_eq!(web.get("/").status, 200);
}

#[test]
fn a_disabled_user_is_logged_out_at_once_and_cannot_log_in() {
    let install = console_install("", &[("anna", "operator"), ("bert", "viewer")]);
    let (_daemon, url) = start(&install);
    let mut anna = Web::new(&url);
    anna.login("anna", PASSWORD);
    let mut bert = Web::new(&url);
    bert.login("bert", PASSWORD);
    assert_eq!(anna.get("/").status, 200);

    let out = install.clerk(&["user", "disable", "anna"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 open session(s) ended"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(to_login(&anna.get("/")));
    assert_eq!(bert.get("/").status, 200, "only anna's session ended");
    let again = anna.try_login("anna", PASSWORD);
    assert_eq!(again.status, 200);
    assert!(again.body.contains(REFUSED), "{}", again.body);

    // A role changed from the command line counts on the next page.
    let out = install.clerk(&["user", "role", "bert", "approver"]);
    assert!(out.status.success());
    assert!(bert.get("/").body.contains("bert (approver)"));
}

#[test]
fn the_sixth_attempt_is_refused_even_with_the_right_password() {
    let install = console_install("", &[("anna", "operator"), ("bert", "operator")]);
    let (daemon, url) = start(&install);
    let mut web = Web::new(&url);
    for i in 0..5 {
        let page = web.try_login("anna", &format!("guess number {i}"));
        assert_eq!(page.status, 200, "attempt {i}: {}", page.body);
    }
    let sixth = web.try_login("anna", PASSWORD);
    assert_eq!(sixth.status, 429, "{}", sixth.body);
    assert_eq!(sixth.header("retry-after"), Some("900"));
    assert!(session_cookie(&sixth).is_none());
    // From the same address, another name is refused too.
    assert_eq!(web.try_login("bert", PASSWORD).status, 429);
    assert!(daemon.log().contains("too many failed attempts"));
}

#[test]
fn a_trusted_proxy_names_the_user_and_an_untrusted_address_cannot() {
    let sso = "trusted_proxies = [\"127.0.0.1\"]\nuser_header = \"X-Remote-User\"\n";
    let install = console_install(sso, &[("anna", "operator")]);
    let out = install.clerk(&["user", "add", "sam", "--role", "viewer", "--sso"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_daemon, url) = start(&install);
    let mut web = Web::new(&url);
    let page = web.get_with("/", &[("X-Remote-User", "sam")]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("sam (viewer)"), "{}", page.body);
    // Their forms carry a token too, and it is checked.
    let token = page.csrf();
    assert_eq!(web.get_with("/", &[("X-Remote-User", "sam")]).csrf(), token);
    let sam = [("X-Remote-User", "sam")];
    assert_eq!(web.post_with("/logout", &[], &sam).status, 403);
    assert_eq!(
        web.post_with("/logout", &[("csrf", &"0".repeat(64))], &sam)
            .status,
        403
    );
    assert_eq!(
        web.post_with("/logout", &[("csrf", &token)], &sam).status,
        303
    );
    let unknown = web.get_with("/", &[("X-Remote-User", "<b>eve</b>")]);
    assert_eq!(unknown.status, 403);
    assert!(
        unknown.body.contains("&lt;b&gt;eve&lt;/b&gt;"),
        "{}",
        unknown.body
    );
    // A single sign-on user has no password to log in with.
    assert!(web.try_login("sam", "").body.contains(REFUSED));
    // Without the header, a local user still logs in as usual.
    web.login("anna", PASSWORD);
    assert!(web.get("/").body.contains("anna (operator)"));

    let elsewhere = "trusted_proxies = [\"10.9.9.9\"]\nuser_header = \"X-Remote-User\"\n";
    let install = console_install(elsewhere, &[]);
    let out = install.clerk(&["user", "add", "sam", "--role", "admin", "--sso"]);
    assert!(out.status.success());
    let (daemon, url) = start(&install);
    let web = Web::new(&url);
    for _ in 0..2 {
        assert!(to_login(&web.get_with("/", &[("X-Remote-User", "sam")])));
    }
    let warned = daemon
        .log()
        .matches("the header is ignored (said once)")
        .count();
    assert_eq!(warned, 1, "{}", daemon.log());
}

#[test]
fn users_are_managed_from_the_command_line_and_no_hash_is_shown() {
    let install = console_install("", &[("anna", "operator")]);
    let short = install.path("short.txt");
    std::fs::write(&short, "tooshort\n").unwrap();
    let out = install.clerk(&[
        "user",
        "add",
        "bert",
        "--role",
        "viewer",
        "--password-file",
        short.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 12"), "{err}");

    let again = install.clerk(&[
        "user",
        "add",
        "Anna",
        "--role",
        "admin",
        "--password-file",
        install.path("password.txt").to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(
        !install
            .clerk(&["user", "add", "x", "--role", "root", "--sso"])
            .status
            .success()
    );
    assert!(
        install
            .clerk(&["user", "add", "sam", "--role", "approver", "--sso"])
            .status
            .success()
    );
    assert!(
        install
            .clerk(&["user", "role", "anna", "admin"])
            .status
            .success()
    );
    assert!(
        !install
            .clerk(&["user", "disable", "ghost"])
            .status
            .success()
    );

    let raw = install.clerk(&["user", "list", "--json"]);
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(!text.contains("argon2") && !text.contains("hash"), "{text}");
    let users = install.json(&["user", "list"]);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["name"], "anna");
    assert_eq!(users[0]["role"], "admin");
    assert_eq!(users[0]["login"], "password");
    assert_eq!(users[0]["disabled"], false);
    assert_eq!(users[1]["name"], "sam");
    assert_eq!(users[1]["login"], "sso");
    // The store keeps an Argon2id hash, never the password.
    let stored: String = install
        .db()
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'anna'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
}

#[test]
fn only_an_admin_changes_users_and_a_viewer_gets_403_on_a_change() {
    let install = console_install(
        "",
        &[("root", "admin"), ("vera", "viewer"), ("otto", "operator")],
    );
    let (_daemon, url) = start(&install);
    let mut vera = Web::new(&url);
    vera.login("vera", PASSWORD);
    assert_eq!(vera.get("/users").status, 403);
    assert!(
        !vera.get("/").body.contains("href=\"/users\""),
        "no link she cannot use"
    );
    // Her token is right; her role is not.
    let refused = vera.submit("/", "/users/otto/role", &[("role", "admin")]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("this needs the admin role; vera is viewer"),
        "{}",
        refused.body
    );

    let mut root = Web::new(&url);
    root.login("root", PASSWORD);
    let page = root.get("/users");
    assert_eq!(page.status, 200, "{}", page.body);
    for name in ["root", "vera", "otto"] {
        assert!(page.body.contains(name), "{name}: {}", page.body);
    }
    assert!(!page.body.contains("argon2"), "no hash on the page");
    assert!(
        page.body.contains("href=\"/users\""),
        "admins find the page"
    );
    let done = root.submit("/users", "/users/otto/role", &[("role", "approver")]);
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.header("location"), Some("/users"));
    let users = install.json(&["user", "list"]);
    let otto = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "otto")
        .unwrap();
    assert_eq!(otto["role"], "approver");
    assert_eq!(otto["updated_by"], "root", "kept with who changed it");

    // Disabled from the console: her session ends at once.
    let done = root.submit("/users", "/users/vera/disable", &[]);
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(to_login(&vera.get("/")));
    // An admin cannot lock themselves out.
    assert_eq!(
        root.submit("/users", "/users/root/disable", &[]).status,
        422
    );
    assert_eq!(
        root.submit("/users", "/users/root/role", &[("role", "viewer")])
            .status,
        422
    );
    assert_eq!(
        root.submit("/users", "/users/ghost/enable", &[]).status,
        404
    );
}

#[test]
fn guesses_sent_at_once_get_no_more_tries_than_guesses_sent_one_by_one() {
    let install = console_install("", &[("anna", "operator")]);
    let (_daemon, url) = start(&install);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let guessers: Vec<_> = (0..10)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    Web::new(&url)
                        .try_login("anna", &format!("guess number {i}"))
                        .status
                })
            })
            .collect();
        guessers.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 10, "{statuses:?}");
    // Two checks run at once, but one being checked counts as a failure until it ends: no
    // sixth guess slips in beside the fifth.
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(Web::new(&url).try_login("anna", PASSWORD).status, 429);
}
