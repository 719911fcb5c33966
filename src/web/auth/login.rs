//! The login form, its answer, and logout. Every login, failed login and logout is logged
//! with the user and the client's address.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::LazyLock;
use tracing::{info, warn};

use super::limit::Key;
use super::{
    LOGIN_COOKIE, Posted, SESSION_COOKIE, cookie, end_session, local_path, random_token,
    same_token, set_cookie, verify_password,
};
use crate::config::HttpSettings;
use crate::digest::sha256_hex;
use crate::store;
use crate::store::users::NewSession;
use crate::web::page::layout;
use crate::web::{AppState, WebError};

/// Said for an unknown user, a wrong password, a disabled user and a single sign-on user
/// alike: the form must not tell a guesser which names exist.
const REFUSED: &str = "The user name or the password is not right.";

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// GET /login: the form, with a token tied to a cookie of its own.
pub async fn form(
    State(console): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Result<Response, WebError> {
    let next = q.next.as_deref().and_then(local_path).unwrap_or("/");
    // A second tab keeps the first tab's token, so both forms work.
    let token = match cookie(&headers, LOGIN_COOKIE).filter(|t| is_token(t)) {
        Some(t) => t,
        None => random_token()?,
    };
    let http = &console.daemon.config().http;
    let mut page = login_page(&token, next, "", None).into_response();
    set(
        &mut page,
        &set_cookie(http, LOGIN_COOKIE, &token, "/login", false),
    )?;
    Ok(page)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// POST /login: a session for the right password, the form again (200) for a wrong one,
/// 429 once the name or the address failed too often.
pub async fn submit(
    State(console): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    let config = console.daemon.config();
    let http = &config.http;
    let address = client_address(http, peer.ip(), &headers);
    // What was typed as the name goes to the log quoted and cut short.
    let typed: String = f.user.chars().take(100).collect();
    let given = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !same_token(&f.csrf, &given) {
        warn!(user = ?typed, address = %address, "login form refused: its token does not match the login cookie");
        return Err(WebError::BadToken);
    }
    let next = f
        .next
        .as_deref()
        .and_then(local_path)
        .unwrap_or("/")
        .to_string();
    let keys = [Key::user(&f.user), Key::Address(address.to_string())];
    // Held until the answer is known; whether the name or address is locked is asked only
    // once the permit is held, so attempts queued meanwhile see every failure before them.
    let checking = console
        .auth
        .verifying
        .acquire()
        .await
        .map_err(|e| WebError::Internal(format!("password checks stopped: {e}")))?;
    // Begun only while the count allows one more try: the attempts checked beside this one
    // count as failures until their answer is known, so two at once cannot both be a fifth.
    let started = console
        .auth
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .begin(&keys, Instant::now());
    // However the check ends (an answer, a store error, the client gone), it stops counting.
    let begun = started.then(|| Begun {
        console: &console,
        keys: &keys,
    });
    if !started {
        warn!(user = ?typed, address = %address, "login refused: too many failed attempts");
        // The lock's whole length: the longest the client may have to wait.
        let mut page = WebError::TooMany.into_response();
        page.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(super::limit::LOCKED_FOR.as_secs()),
        );
        return Ok(page);
    }

    let name = f.user.trim().to_string();
    let found = if name.is_empty() {
        None
    } else {
        let n = name.clone();
        console.db.read(move |u| u.user(&n)).await?
    };
    let can_log_in = found
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    // A name without a password is checked against a stand-in hash all the same, so the
    // answer takes as long for an unknown user as for a wrong password.
    let hash = can_log_in.clone();
    let password = f.password;
    let verified = tokio::task::spawn_blocking(move || {
        verify_password(&password, hash.as_deref().unwrap_or(&STAND_IN_HASH))
    })
    .await
    .map_err(|e| WebError::Internal(format!("password check panicked: {e}")))?;

    let user = match found {
        Some(u) if verified && can_log_in.is_some() => u,
        _ => {
            console
                .auth
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .failed(&keys, Instant::now());
            warn!(user = ?typed, address = %address, "failed login");
            return Ok(login_page(&f.csrf, &next, &name, Some(REFUSED)).into_response());
        }
    };
    console
        .auth
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .succeeded(&keys);
    // The answer is known; writing the session may wait for the store, not other logins.
    drop(begun);
    drop(checking);

    let token = random_token()?;
    let csrf = random_token()?;
    let token_hash = sha256_hex(token.as_bytes());
    let (idle, max) = (
        super::delta(http.session_idle),
        super::delta(http.session_max),
    );
    let who = user.name.clone();
    let now = Utc::now();
    console
        .db
        .write(move |st| {
            Ok(store::in_unit(st, |u| {
                // Sessions left to expire are cleared as people log in: no task of its own.
                u.end_expired_sessions(now - idle, now - max)?;
                u.create_session(&NewSession {
                    token_hash: &token_hash,
                    user: &who,
                    csrf: &csrf,
                    at: now,
                })
            })?)
        })
        .await?;
    info!(user = %user.name, role = %user.role, address = %address, "login");
    let mut page = Redirect::to(&next).into_response();
    set(
        &mut page,
        &set_cookie(http, SESSION_COOKIE, &token, "/", false),
    )?;
    set(
        &mut page,
        &set_cookie(http, LOGIN_COOKIE, "", "/login", true),
    )?;
    Ok(page)
}

/// Nothing but the token.
#[derive(Deserialize)]
pub struct NoFields {}

/// POST /logout: ends the session (its token checked like every form's).
pub async fn logout(
    State(console): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    posted: Posted<NoFields>,
) -> Result<Response, WebError> {
    let config = console.daemon.config();
    let http = &config.http;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        end_session(&console, sha256_hex(token.as_bytes())).await?;
    }
    let address = client_address(http, peer.ip(), &headers);
    info!(user = %posted.user.name, address = %address, "logout");
    let mut page = Redirect::to("/login").into_response();
    set(&mut page, &set_cookie(http, SESSION_COOKIE, "", "/", true))?;
    Ok(page)
}

/// The client's address: the TCP peer, or, from a trusted proxy, the last address it put in
/// `X-Forwarded-For` (the one it saw), so a proxy's clients are not all counted as one.
fn client_address(http: &HttpSettings, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !http.trusted_proxies.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|a| a.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// A login being checked, counted as a failure by the rate limit until dropped.
struct Begun<'a> {
    console: &'a AppState,
    keys: &'a [Key],
}

impl Drop for Begun<'_> {
    fn drop(&mut self) {
        self.console
            .auth
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .done_checking(self.keys);
    }
}

/// A hash no password fits in practice, made once (one Argon2 run) when first needed.
static STAND_IN_HASH: LazyLock<String> = LazyLock::new(|| {
    super::hash_password("clerk stand-in: no user has this password")
        .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$"))
});

fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn set(page: &mut Response, cookie: &str) -> Result<(), WebError> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|e| WebError::Internal(format!("a cookie that is no header: {e}")))?;
    page.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

fn login_page(token: &str, next: &str, user: &str, refused: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            @if let Some(m) = refused {
                p.error role="alert" { (m) }
            }
            form.login method="post" action="/login" {
                label { "User " input type="text" name="user" value=(user) autocomplete="username" required autofocus; }
                label { "Password " input type="password" name="password" autocomplete="current-password" required; }
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                button type="submit" { "Log in" }
            }
        },
    )
}
