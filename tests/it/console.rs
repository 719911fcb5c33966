//! The operations console through the real daemon, over real HTTP.

use crate::support::http::{Web, console_url};
use crate::support::install::Install;

const CONSOLE: &str = "[http]\nlisten = \"127.0.0.1:0\"\n";

#[test]
fn the_console_answers_health_checks_and_sends_strangers_to_the_login_page() {
    let install = Install::with_config(CONSOLE);
    let daemon = install.start_daemon();
    let web = Web::new(&console_url(&daemon));
    let health = web.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok\n");
    let overview = web.get("/?job=x");
    assert_eq!(overview.status, 303);
    assert_eq!(overview.header("location"), Some("/login?next=/%3Fjob%3Dx"));
    let csp = web.get("/healthz");
    assert!(
        csp.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
}
