//! `clerk user ...`: the console's users. A password is typed at a prompt without echo, or
//! read from the first line of a file (`--password-file`, for scripts); only its Argon2id
//! hash is kept. A single sign-on user (`--sso`) has none and comes in only through the
//! trusted proxy. Every change is kept with who made it (the login running the command).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::exceptions::actor;
use super::load_config;
use crate::model::people::Role;
use crate::store::users::{Change, NewUser, StoredUser};
use crate::store::{self, StoreError};

/// Shorter passwords are refused: guessing one must take longer than the rate limit allows.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// How the password is given.
pub enum PasswordFrom<'a> {
    Prompt,
    File(&'a Path),
}

pub fn add(
    config_path: &Path,
    name: &str,
    role: Role,
    password: Option<PasswordFrom<'_>>,
) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    let config = load_config(config_path)?;
    let hash = match password {
        Some(from) => Some(hashed(&read_password(from, name)?)?),
        None => None,
    };
    let by = actor(None);
    let mut st = store::open(&config.settings.store_path)?;
    let added = store::in_unit(st.as_mut(), |u| {
        u.add_user(&NewUser {
            name,
            role,
            password_hash: hash.as_deref(),
            at: Utc::now(),
            by: &by,
        })
    });
    match added {
        Ok(()) => {
            let how = if hash.is_some() {
                "logs in with a password"
            } else {
                "comes in only through the single sign-on proxy"
            };
            outln!("user {name} added as {role}; {how}");
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::Conflict(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).context(format!("adding user {name}")),
    }
}

#[derive(Serialize)]
struct UserLine {
    name: String,
    role: &'static str,
    /// `password` or `sso`; the hash itself is never shown.
    login: &'static str,
    disabled: bool,
    created_at: DateTime<Utc>,
    created_by: String,
    updated_at: DateTime<Utc>,
    updated_by: String,
}

fn line(u: StoredUser) -> UserLine {
    UserLine {
        login: if u.password_hash.is_some() {
            "password"
        } else {
            "sso"
        },
        name: u.name,
        role: u.role.as_str(),
        disabled: u.disabled,
        created_at: u.created_at,
        created_by: u.created_by,
        updated_at: u.updated_at,
        updated_by: u.updated_by,
    }
}

pub fn list(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let users: Vec<UserLine> = store::in_read(st.as_mut(), |u| u.users())?
        .into_iter()
        .map(line)
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&users)?);
        return Ok(ExitCode::SUCCESS);
    }
    if users.is_empty() {
        outln!("no users yet; add one with `clerk user add NAME --role admin`");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<24} {:<9} {:<9} {:<9} changed",
        "user",
        "role",
        "login",
        "state"
    );
    for u in &users {
        outln!(
            "{:<24} {:<9} {:<9} {:<9} {} by {}",
            u.name,
            u.role,
            u.login,
            if u.disabled { "disabled" } else { "active" },
            u.updated_at.format("%Y-%m-%d %H:%M"),
            u.updated_by
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn set_disabled(config_path: &Path, name: &str, disabled: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let by = actor(None);
    let mut st = store::open(&config.settings.store_path)?;
    let change = Change {
        at: Utc::now(),
        by: &by,
    };
    match store::in_unit(st.as_mut(), |u| u.set_disabled(name, disabled, change))? {
        Some(ended) if disabled => {
            outln!("user {name} disabled; {ended} open session(s) ended")
        }
        Some(_) => outln!("user {name} enabled"),
        None => return no_such_user(name),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn passwd(config_path: &Path, name: &str, from: PasswordFrom<'_>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open(&config.settings.store_path)?;
    if store::in_read(st.as_mut(), |u| u.user(name))?.is_none() {
        return no_such_user(name);
    }
    let hash = hashed(&read_password(from, name)?)?;
    let by = actor(None);
    let change = Change {
        at: Utc::now(),
        by: &by,
    };
    if !store::in_unit(st.as_mut(), |u| u.set_password(name, Some(&hash), change))? {
        return no_such_user(name);
    }
    outln!("password of {name} changed; their open sessions ended");
    Ok(ExitCode::SUCCESS)
}

pub fn role(config_path: &Path, name: &str, role: Role) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let by = actor(None);
    let mut st = store::open(&config.settings.store_path)?;
    let change = Change {
        at: Utc::now(),
        by: &by,
    };
    if !store::in_unit(st.as_mut(), |u| u.set_role(name, role, change))? {
        return no_such_user(name);
    }
    outln!("user {name} is now {role}");
    Ok(ExitCode::SUCCESS)
}

fn no_such_user(name: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: there is no user {name} (`clerk user list` shows them)");
    Ok(ExitCode::from(1))
}

/// A name as it shows in a break's history: letters, digits and `._@-`, as a login or a mail
/// address has, so it reads the same everywhere and a proxy's header can carry it.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "._@-".contains(c));
    if !ok {
        bail!(
            "a user name is 1 to 64 letters, digits, dots, underscores, @ or hyphens; \
             found {name:?}"
        );
    }
    Ok(())
}

fn read_password(from: PasswordFrom<'_>, name: &str) -> anyhow::Result<String> {
    let password = match from {
        PasswordFrom::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the password file {}", path.display()))?;
            text.lines().next().unwrap_or("").to_string()
        }
        PasswordFrom::Prompt => {
            let first = rpassword::prompt_password(format!("password for {name}: "))
                .context("reading the password from the terminal")?;
            check_length(&first)?;
            let again = rpassword::prompt_password("the same again: ")
                .context("reading the password from the terminal")?;
            if again != first {
                bail!("the two passwords differ; nothing was changed");
            }
            first
        }
    };
    check_length(&password)?;
    Ok(password)
}

fn check_length(password: &str) -> anyhow::Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        bail!(
            "the password has {n} characters; at least {MIN_PASSWORD_CHARS} are needed \
             (a few words make a good one)"
        );
    }
    Ok(())
}

fn hashed(password: &str) -> anyhow::Result<String> {
    crate::web::hash_password(password)
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_passwords_are_checked_before_anything_is_kept() {
        for good in ["anna", "anna.berg@example.com", "ops-1", "Jürgen"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "anna berg", "<script>", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_length("eleven char").is_err());
        let e = check_length("short").unwrap_err().to_string();
        assert!(e.contains("at least 12"), "{e}");
        assert!(check_length("twelve chars").is_ok());
    }
}
