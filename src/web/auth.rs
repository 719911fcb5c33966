//! Who is asking: local users (Argon2id password hashes in the store) or a trusted reverse
//! proxy's user header; sessions in HttpOnly, SameSite=Strict cookies; a CSRF token on every
//! form; a limit on login attempts.
//!
//! Handlers take a [`User`] (any logged-in person; a page) or a [`Posted`] form (a change:
//! the token is checked before the handler runs), then ask [`User::require`] for the role the
//! action needs.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::{AppState, WebError};
use crate::model::people::Role;

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

impl FromRequestParts<AppState> for User {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, WebError> {
        // Sessions are not built yet: nobody is logged in.
        Err(WebError::LoginNeeded {
            next: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }
}

/// The redirect to the login page, which comes back to `next` after.
pub fn to_login(next: &str) -> Response {
    let next = if next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    };
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

pub fn routes() -> Router<AppState> {
    Router::new()
}
