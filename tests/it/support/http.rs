#![allow(dead_code)] // used by the console tests as they grow; not every test binary uses all
//! A browser's part in the console tests, over real HTTP: one session (its cookie kept by
//! hand, so tests can look at it), forms posted with the page's CSRF token, no redirects
//! followed (tests look at them).

use std::time::Duration;

use super::install::{Daemon, wait_until};

/// One person's connection to the console.
pub struct Web {
    pub base: String,
    agent: ureq::Agent,
    /// The session cookie (`name=value`), once logged in.
    pub cookie: Option<String>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header that may repeat (Set-Cookie).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\"")
            .unwrap_or_else(|| panic!("no CSRF token on the page:\n{}", self.body));
        let rest = &self.body[at..];
        let v = rest.find("value=\"").expect("token value") + 7;
        let end = rest[v..].find('"').unwrap();
        rest[v..v + end].to_string()
    }
}

/// The console's address, from the daemon's log (tests listen on port 0: the system picks).
pub fn console_url(daemon: &Daemon) -> String {
    let mut url = None;
    let found = wait_until(Duration::from_secs(30), || {
        let log = daemon.log();
        url = log.lines().find_map(|l| {
            let at = l.find("console at ")?;
            let rest = &l[at + "console at ".len()..];
            Some(
                rest.split_whitespace()
                    .next()?
                    .trim_end_matches('/')
                    .to_string(),
            )
        });
        url.is_some()
    });
    assert!(found, "the console did not start:\n{}", daemon.log());
    url.unwrap()
}

impl Web {
    pub fn new(base: &str) -> Web {
        Self::with_agent(base, Self::config().build().into())
    }

    /// A client that trusts `ca_pem` (a test's own certificate authority) for HTTPS.
    pub fn trusting(base: &str, ca_pem: &[u8]) -> Web {
        let cert = ureq::tls::Certificate::from_pem(ca_pem).expect("CA certificate");
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
            .build();
        Self::with_agent(base, Self::config().tls_config(tls).build().into())
    }

    fn config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
    }

    fn with_agent(base: &str, agent: ureq::Agent) -> Web {
        Web {
            base: base.trim_end_matches('/').to_string(),
            agent,
            cookie: None,
        }
    }

    pub fn get(&self, path: &str) -> Page {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        read(req.call().expect("GET"))
    }

    /// Posts a form as a browser does (urlencoded), with the session's cookie.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        read(req.send_form(form.iter().copied()).expect("POST"))
    }

    /// As [`Web::post`], with extra request headers (a proxy's user header).
    pub fn post_with(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        read(req.send_form(form.iter().copied()).expect("POST"))
    }

    /// Posts `form` with the CSRF token of the page at `page`.
    pub fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let token = self.get(page).csrf();
        let mut all: Vec<(&str, &str)> = form.to_vec();
        all.push(("csrf", &token));
        self.post(action, &all)
    }

    /// Logs in through the login form; panics unless it worked.
    pub fn login(&mut self, user: &str, password: &str) {
        let page = self.try_login(user, password);
        assert_eq!(page.status, 303, "login as {user} failed: {}", page.body);
    }

    /// Tries to log in; keeps the session cookie when one is set.
    pub fn try_login(&mut self, user: &str, password: &str) -> Page {
        self.cookie = None;
        let form = self.get("/login");
        let token = form.csrf();
        // The login form's token is tied to a pre-login cookie.
        self.cookie = session_cookie(&form);
        let page = self.post(
            "/login",
            &[("user", user), ("password", password), ("csrf", &token)],
        );
        if let Some(c) = session_cookie(&page) {
            self.cookie = Some(c);
        }
        page
    }
}

/// The `name=value` of the page's Set-Cookie, if it sets one.
pub fn session_cookie(page: &Page) -> Option<String> {
    page.headers_named("set-cookie")
        .into_iter()
        .find_map(|c| c.split(';').next().map(str::to_string))
}

fn read(mut resp: ureq::http::Response<ureq::Body>) -> Page {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    Page {
        status,
        headers,
        body,
    }
}

/// The password every test user gets (long enough for `clerk user add`).
pub const PASSWORD: &str = "correct horse battery";

/// Adds `users` (name, role) to the install with the real `clerk user add --password-file`,
/// each with [`PASSWORD`].
pub fn add_users(install: &super::install::Install, users: &[(&str, &str)]) {
    let file = install.path("password.txt");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    for (name, role) in users {
        let out = install.clerk(&[
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-file",
            file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "clerk user add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A session of `user` (added with [`add_users`]) on the console at `url`.
pub fn logged_in(url: &str, user: &str) -> Web {
    let mut web = Web::new(url);
    web.login(user, PASSWORD);
    web
}
