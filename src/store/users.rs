//! Users of the console and their sessions: who may log in, with what role, and which
//! sessions are open. The password is kept only as an Argon2id hash (PHC string), a session
//! token only as its SHA-256; neither the hash nor the token ever leaves through `Debug`.

use std::fmt;

use chrono::{DateTime, Utc};

use super::Result;
use crate::model::people::Role;

/// What a unit of work keeps and reads of users and sessions.
pub trait Users {
    /// Adds a user; [`super::StoreError::Conflict`] when one of that name (in any case) exists.
    fn add_user(&mut self, user: &NewUser<'_>) -> Result<()>;
    /// The user of that name (in any case).
    fn user(&mut self, name: &str) -> Result<Option<StoredUser>>;
    /// Every user, by name.
    fn users(&mut self) -> Result<Vec<StoredUser>>;
    /// Sets (or, with `None`, removes: single sign-on only) the password hash and ends the
    /// user's sessions, so a password someone else learnt stops working everywhere. False
    /// when there is no such user.
    fn set_password(&mut self, name: &str, hash: Option<&str>, change: Change<'_>) -> Result<bool>;
    /// False when there is no such user.
    fn set_role(&mut self, name: &str, role: Role, change: Change<'_>) -> Result<bool>;
    /// Disables (`true`) or enables a user; disabling ends their sessions. How many sessions
    /// ended, or `None` when there is no such user.
    fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        change: Change<'_>,
    ) -> Result<Option<usize>>;
    fn create_session(&mut self, session: &NewSession<'_>) -> Result<()>;
    /// The session with this token hash, with its user as they are now.
    fn session(&mut self, token_hash: &str) -> Result<Option<Session>>;
    /// Marks the session as used at `at`.
    fn touch_session(&mut self, token_hash: &str, at: DateTime<Utc>) -> Result<()>;
    /// Ends a session (logout, or found expired); false when it had already ended.
    fn end_session(&mut self, token_hash: &str) -> Result<bool>;
    /// Ends every session unused since `idle_before` or opened before `opened_before`; how
    /// many.
    fn end_expired_sessions(
        &mut self,
        idle_before: DateTime<Utc>,
        opened_before: DateTime<Utc>,
    ) -> Result<usize>;
}

/// Who changed a user, and when.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub at: DateTime<Utc>,
    pub by: &'a str,
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub role: Role,
    /// `None`: a single sign-on user, who cannot log in with a password.
    pub password_hash: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub by: &'a str,
}

#[derive(Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field(
                "password",
                &self.password_hash.as_ref().map(|_| "(hash kept)"),
            )
            .field("disabled", &self.disabled)
            .field("updated_at", &self.updated_at)
            .field("updated_by", &self.updated_by)
            .finish()
    }
}

pub struct NewSession<'a> {
    /// SHA-256 (hex) of the token in the browser's cookie.
    pub token_hash: &'a str,
    pub user: &'a str,
    /// The token every form of this session carries.
    pub csrf: &'a str,
    pub at: DateTime<Utc>,
}

/// An open session and its user as the store has them now (a role changed since login
/// counts at once).
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub disabled: bool,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}
