//! SQLite: the console's users and sessions.

use super::*;
use crate::model::people::Role;
use crate::store::users::{Change, NewSession, NewUser, Session, StoredUser, Users};

const USER_COLUMNS: &str = "name, role, password_hash, disabled, created_at, created_by, \
                            updated_at, updated_by";

/// A `users` row as SQLite gives it, before its role and times are read.
struct UserRow {
    name: String,
    role: String,
    password_hash: Option<String>,
    disabled: i64,
    created_at: String,
    created_by: String,
    updated_at: String,
    updated_by: String,
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        role: r.get(1)?,
        password_hash: r.get(2)?,
        disabled: r.get(3)?,
        created_at: r.get(4)?,
        created_by: r.get(5)?,
        updated_at: r.get(6)?,
        updated_by: r.get(7)?,
    })
}

fn to_user(row: UserRow) -> Result<StoredUser> {
    Ok(StoredUser {
        role: parse_enum::<Role>(&row.role)?,
        password_hash: row.password_hash,
        disabled: row.disabled != 0,
        created_at: parse_ts(&row.created_at)?,
        created_by: row.created_by,
        updated_at: parse_ts(&row.updated_at)?,
        updated_by: row.updated_by,
        name: row.name,
    })
}

impl SqliteUnit<'_, '_> {
    fn end_sessions_of(&mut self, name: &str) -> Result<usize> {
        self.tx
            .execute("DELETE FROM sessions WHERE user_name = ?", [name])
            .map_err(map_err)
    }
}

impl Users for SqliteUnit<'_, '_> {
    fn add_user(&mut self, user: &NewUser<'_>) -> Result<()> {
        let done = self.tx.execute(
            "INSERT INTO users (name, role, password_hash, disabled, created_at, created_by,
                                updated_at, updated_by)
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?4, ?5)",
            params![
                user.name,
                user.role.as_str(),
                user.password_hash,
                ts(user.at),
                user.by
            ],
        );
        match done.map_err(map_err) {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "a user named {} already exists",
                user.name
            ))),
            Err(e) => Err(e),
        }
    }

    fn user(&mut self, name: &str) -> Result<Option<StoredUser>> {
        let row = self
            .tx
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?"))
            .and_then(|mut s| s.query_row([name], user_row).optional())
            .map_err(map_err)?;
        row.map(to_user).transpose()
    }

    fn users(&mut self) -> Result<Vec<StoredUser>> {
        let rows = self
            .tx
            .prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .and_then(|mut s| {
                s.query_map([], user_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(map_err)?;
        rows.into_iter().map(to_user).collect()
    }

    fn set_password(&mut self, name: &str, hash: Option<&str>, change: Change<'_>) -> Result<bool> {
        let n = self
            .tx
            .execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3, updated_by = ?4
                 WHERE name = ?1",
                params![name, hash, ts(change.at), change.by],
            )
            .map_err(map_err)?;
        if n == 0 {
            return Ok(false);
        }
        self.end_sessions_of(name)?;
        Ok(true)
    }

    fn set_role(&mut self, name: &str, role: Role, change: Change<'_>) -> Result<bool> {
        let n = self
            .tx
            .execute(
                "UPDATE users SET role = ?2, updated_at = ?3, updated_by = ?4 WHERE name = ?1",
                params![name, role.as_str(), ts(change.at), change.by],
            )
            .map_err(map_err)?;
        Ok(n > 0)
    }

    fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        change: Change<'_>,
    ) -> Result<Option<usize>> {
        let n = self
            .tx
            .execute(
                "UPDATE users SET disabled = ?2, updated_at = ?3, updated_by = ?4
                 WHERE name = ?1",
                params![name, i64::from(disabled), ts(change.at), change.by],
            )
            .map_err(map_err)?;
        if n == 0 {
            return Ok(None);
        }
        let ended = if disabled {
            self.end_sessions_of(name)?
        } else {
            0
        };
        Ok(Some(ended))
    }

    fn create_session(&mut self, session: &NewSession<'_>) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO sessions (token_hash, user_name, csrf, created_at, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![
                    session.token_hash,
                    session.user,
                    session.csrf,
                    ts(session.at)
                ],
            )
            .map_err(map_err)?;
        Ok(())
    }

    fn session(&mut self, token_hash: &str) -> Result<Option<Session>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT u.name, u.role, u.disabled, s.csrf, s.created_at, s.last_seen
                 FROM sessions s JOIN users u ON u.name = s.user_name
                 WHERE s.token_hash = ?",
            )
            .and_then(|mut s| {
                s.query_row([token_hash], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .optional()
            })
            .map_err(map_err)?;
        let Some((user, role, disabled, csrf, created_at, last_seen)) = row else {
            return Ok(None);
        };
        Ok(Some(Session {
            user,
            role: parse_enum(&role)?,
            disabled: disabled != 0,
            csrf,
            created_at: parse_ts(&created_at)?,
            last_seen: parse_ts(&last_seen)?,
        }))
    }

    fn touch_session(&mut self, token_hash: &str, at: DateTime<Utc>) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1")
            .and_then(|mut s| s.execute(params![token_hash, ts(at)]))
            .map_err(map_err)?;
        Ok(())
    }

    fn end_session(&mut self, token_hash: &str) -> Result<bool> {
        let n = self
            .tx
            .execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])
            .map_err(map_err)?;
        Ok(n > 0)
    }

    fn end_expired_sessions(
        &mut self,
        idle_before: DateTime<Utc>,
        opened_before: DateTime<Utc>,
    ) -> Result<usize> {
        // Timestamps are written in one fixed RFC 3339 form (UTC, microseconds), so they
        // compare as text.
        self.tx
            .execute(
                "DELETE FROM sessions WHERE last_seen < ?1 OR created_at < ?2",
                params![ts(idle_before), ts(opened_before)],
            )
            .map_err(map_err)
    }
}
