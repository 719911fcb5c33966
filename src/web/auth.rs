//! Who is asking: local users (Argon2id password hashes in the store) or a trusted reverse
//! proxy's user header; sessions in HttpOnly, SameSite=Strict cookies; a CSRF token on every
//! form; a limit on login attempts.
//!
//! Handlers take a [`User`] (any logged-in person; a page) or a [`Posted`] form (a change:
//! the token is checked before the handler runs), then ask [`User::require`] for the role the
//! action needs.
//!
//! **Invariants:**
//! - The browser holds a random 32-byte session token; the store only its SHA-256, so a copy
//!   of the database opens no session.
//! - A user header is believed only from an address in `[http] trusted_proxies`, and only
//!   for a user the store has and has not disabled.
//! - A session ends after `[http] session_idle` unused or `session_max` after login, when its
//!   user is disabled, and at logout; every request asks the store, so `clerk user disable`
//!   counts at once.
//!
//! `login.rs` draws and takes the login form and logout; `limit.rs` counts failed logins.

mod limit;
mod login;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::{AppState, WebError};
use crate::config::HttpSettings;
use crate::digest::{sha256_hex, to_hex};
use crate::model::people::Role;
use crate::store;

/// The cookie that holds the session token.
pub const SESSION_COOKIE: &str = "clerk_session";
/// The cookie that holds the login form's token before anyone is logged in (double submit:
/// a page elsewhere can make a browser post the form, but cannot read or set this cookie).
pub const LOGIN_COOKIE: &str = "clerk_login";

/// A logged-in person.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token, for the forms of the page being drawn.
    pub csrf: String,
}

impl User {
    /// Refuses unless the user's role allows what `needed` may do.
    pub fn require(&self, needed: Role) -> Result<(), WebError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!(
                "this needs the {needed} role; {} is {}",
                self.name, self.role
            )))
        }
    }
}

/// What the console keeps in memory about logins, beside the sessions in the store.
pub struct Guard {
    /// Password checks running at once. Each Argon2 check takes 19 MiB and a core for a
    /// moment: a flood of logins must queue, not exhaust the daemon's memory; and a guesser
    /// cannot get more tries in before the count of failures catches up with them.
    verifying: tokio::sync::Semaphore,
    /// Failed logins per user name and per client address.
    failures: Mutex<limit::Failures>,
    /// The CSRF token of each single sign-on user: they have no session in the store (the
    /// proxy vouches for every request), so their forms carry a token made for them once per
    /// daemon process. A restart makes open forms stale, as a new login would.
    sso_tokens: Mutex<HashMap<String, String>>,
    /// A user header came from an address not trusted; said once, not per request.
    warned_untrusted_header: AtomicBool,
}

/// How many password checks may run at once (the machine clerk runs on may have two cores).
const CHECKS_AT_ONCE: usize = 2;

impl Default for Guard {
    fn default() -> Self {
        Guard {
            verifying: tokio::sync::Semaphore::new(CHECKS_AT_ONCE),
            failures: Default::default(),
            sso_tokens: Default::default(),
            warned_untrusted_header: Default::default(),
        }
    }
}

impl Guard {
    fn sso_token(&self, user: &str) -> Result<String, WebError> {
        let mut tokens = self.sso_tokens.lock().unwrap_or_else(|p| p.into_inner());
        let key = user.to_lowercase();
        if let Some(t) = tokens.get(&key) {
            return Ok(t.clone());
        }
        let t = random_token()?;
        tokens.insert(key, t.clone());
        Ok(t)
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, console: &AppState) -> Result<Self, WebError> {
        let config = console.daemon.config();
        let http = &config.http;
        let peer = peer_of(parts);
        if let Some(name) = &http.user_header
            && let Some(value) = parts.headers.get(name.as_str())
        {
            if peer.is_some_and(|p| http.trusted_proxies.contains(&p)) {
                return single_sign_on(console, value.to_str().unwrap_or("").trim()).await;
            }
            if !console
                .auth
                .warned_untrusted_header
                .swap(true, Ordering::Relaxed)
            {
                warn!(
                    header = %name,
                    address = ?peer,
                    "a request named its user in the single sign-on header, but did not come \
                     from one of [http] trusted_proxies; the header is ignored (said once)"
                );
            }
        }
        let next = next_of(parts);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(WebError::LoginNeeded { next });
        };
        let token_hash = sha256_hex(token.as_bytes());
        let key = token_hash.clone();
        let Some(session) = console.db.read(move |u| u.session(&key)).await? else {
            return Err(WebError::LoginNeeded { next });
        };
        let now = Utc::now();
        let idle = now - session.last_seen;
        let ended = if session.disabled {
            Some("the user is disabled")
        } else if now - session.created_at > delta(http.session_max) {
            Some("it reached session_max")
        } else if idle > delta(http.session_idle) {
            Some("it was unused for session_idle")
        } else {
            None
        };
        if let Some(why) = ended {
            info!(user = %session.user, address = ?peer, "session ended: {why}");
            end_session(console, token_hash).await?;
            return Err(WebError::LoginNeeded { next });
        }
        // Writes are not free (the one write lock is the daemon's too): the last use is
        // kept at most once a minute, more often only when the idle timeout is short.
        // A touch that fails (the daemon holds the write lock too long) only makes the
        // session look idle a little sooner; the page is served all the same.
        if idle >= delta(touch_every(http.session_idle)) {
            let touched = console
                .db
                .write(move |st| Ok(store::in_unit(st, |u| u.touch_session(&token_hash, now))?))
                .await;
            if let Err(e) = touched {
                warn!(user = %session.user, error = %e, "could not note the session's last use");
            }
        }
        Ok(User {
            name: session.user,
            role: session.role,
            csrf: session.csrf,
        })
    }
}

/// A user the trusted proxy names: one the store has, enabled.
async fn single_sign_on(console: &AppState, name: &str) -> Result<User, WebError> {
    let who = name.to_string();
    let found = if who.is_empty() {
        None
    } else {
        console.db.read(move |u| u.user(&who)).await?
    };
    match found {
        Some(u) if !u.disabled => Ok(User {
            csrf: console.auth.sso_token(&u.name)?,
            name: u.name,
            role: u.role,
        }),
        found => {
            warn!(user = ?name, "single sign-on refused: clerk has no such user, or it is disabled");
            Err(WebError::Forbidden(if found.is_some() {
                format!("the user {name} is disabled in clerk")
            } else {
                format!(
                    "clerk has no user {name}; an admin adds one with `clerk user add {name} \
                     --role viewer --sso`"
                )
            }))
        }
    }
}

async fn end_session(console: &AppState, token_hash: String) -> Result<bool, WebError> {
    console
        .db
        .write(move |st| Ok(store::in_unit(st, |u| u.end_session(&token_hash))?))
        .await
}

/// How stale the stored last use may be: a tenth of the idle timeout, at most a minute, so a
/// session in use never ends early by more than that.
fn touch_every(idle: Duration) -> Duration {
    (idle / 10).min(Duration::from_secs(60))
}

fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// The TCP peer's address (the browser's, or a proxy's).
fn peer_of(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Where a login should come back to: the page asked for; after a refused form post, the
/// overview (coming back to a POST-only address would show nothing).
fn next_of(parts: &Parts) -> String {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: never readable by scripts, never sent from another site's page,
/// only over TLS when the console is reached over TLS (its own, or a proxy's `https` public
/// address).
fn set_cookie(http: &HttpSettings, name: &str, value: &str, path: &str, gone: bool) -> String {
    let mut c = format!("{name}={value}; HttpOnly; SameSite=Strict; Path={path}");
    if gone {
        c.push_str("; Max-Age=0");
    }
    if served_over_tls(http) {
        c.push_str("; Secure");
    }
    c
}

fn served_over_tls(http: &HttpSettings) -> bool {
    http.tls.is_some()
        || http
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

/// 32 random bytes as hex: a session token or a CSRF token.
fn random_token() -> Result<String, WebError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| WebError::Internal(format!("no randomness: {e}")))?;
    Ok(to_hex(&b))
}

/// Whether a token sent back equals the one given, compared in constant time (a token's
/// prefix cannot be found by timing).
fn same_token(sent: &str, given: &str) -> bool {
    !given.is_empty() && bool::from(sent.as_bytes().ct_eq(given.as_bytes()))
}

/// A form posted by a logged-in user, read only once its `csrf` field matched the session's
/// token. `T` is the form's other fields (it must not refuse unknown fields: `csrf` is one);
/// a repeated field reads as a list (`break=1&break=2` into `Vec<i64>`).
pub struct Posted<T> {
    pub user: User,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, console: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let user = User::from_request_parts(&mut parts, console).await?;
        // A body over the limit sent in chunks (no length said first) is found only here:
        // it is refused as too large (413), as one with its length said is.
        let bytes = Bytes::from_request(Request::from_parts(parts, body), console)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    WebError::TooLarge
                } else {
                    WebError::Refused(format!("the form could not be read: {e}"))
                }
            })?;
        let sent = serde_html_form::from_bytes::<CsrfField>(&bytes)
            .ok()
            .and_then(|f| f.csrf)
            .unwrap_or_default();
        if !same_token(&sent, &user.csrf) {
            warn!(user = %user.name, "a form without this session's CSRF token was refused");
            return Err(WebError::BadToken);
        }
        let form = serde_html_form::from_bytes::<T>(&bytes)
            .map_err(|e| WebError::Refused(format!("the form could not be read: {e}")))?;
        Ok(Posted { user, form })
    }
}

/// The redirect to the login page, which comes back to `next` after.
pub fn to_login(next: &str) -> Response {
    let next = local_path(next).unwrap_or("/");
    let mut target = String::from("/login?next=");
    for b in next.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            target.push(b as char);
        } else {
            target.push_str(&format!("%{b:02X}"));
        }
    }
    Redirect::to(&target).into_response()
}

/// `next` if it is a path on this console (one `/`, then no second `/` or `\` that a browser
/// would read as another host, no control characters), else `None`.
fn local_path(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    let local = b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && !next.chars().any(char::is_control);
    local.then_some(next)
}

/// An Argon2id hash of `password`, in the PHC string form the store keeps.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness for the salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` fits the PHC `hash` (false for a hash that does not parse).
fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn user(role: Role) -> User {
        User {
            name: "anna".into(),
            role,
            csrf: "t".into(),
        }
    }

    #[test]
    fn a_role_allows_what_the_roles_below_it_may() {
        assert!(user(Role::Operator).require(Role::Operator).is_ok());
        assert!(user(Role::Admin).require(Role::Approver).is_ok());
        let refused = user(Role::Viewer).require(Role::Operator).unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.to_string(),
            "this needs the operator role; anna is viewer"
        );
        assert!(user(Role::Operator).require(Role::Approver).is_err());
    }

    #[test]
    fn only_a_path_on_this_console_is_followed_after_login() {
        assert_eq!(
            local_path("/exceptions?job=cash"),
            Some("/exceptions?job=cash")
        );
        assert_eq!(local_path("/"), Some("/"));
        for away in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/x\r\nSet-Cookie: a=b",
        ] {
            assert_eq!(local_path(away), None, "{away:?}");
        }
        let r = to_login("//evil.example/");
        assert_eq!(r.headers()["location"], "/login?next=/");
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; clerk_session=abc ; b=2".parse().unwrap(),
        );
        h.append(header::COOKIE, "clerk_login=xyz".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "clerk"), None);
    }

    #[test]
    fn tokens_match_only_whole_and_never_empty() {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token().unwrap());
        assert!(same_token(&t, &t));
        assert!(!same_token(&t[..63], &t));
        assert!(!same_token("", ""));
    }

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn the_last_use_is_written_at_most_once_a_minute() {
        assert_eq!(
            touch_every(Duration::from_secs(30 * 60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            touch_every(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn cookies_are_secure_when_the_console_is_reached_over_tls() {
        let mut http = HttpSettings::default();
        let plain = set_cookie(&http, SESSION_COOKIE, "v", "/", false);
        assert_eq!(plain, "clerk_session=v; HttpOnly; SameSite=Strict; Path=/");
        http.public_url = Some("https://clerk.example.com".into());
        assert!(set_cookie(&http, SESSION_COOKIE, "v", "/", true).ends_with("; Max-Age=0; Secure"));
    }
}
