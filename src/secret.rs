//! Secrets (SMTP and IMAP passwords, tokens, database URLs with passwords) in a type that never
//! shows them: `Debug` and `Display` print a placeholder, so a secret cannot reach a log line or
//! an error message by accident.
//!
//! A configuration names where a secret is ([`SecretSource`]), and the secret is read only
//! where it is used: the SMTP login, the IMAP login, and the checks of `clerk run` and
//! `clerk check`. A command that only reads the store (`clerk status`, `clerk exceptions`)
//! never touches it, so staff who may not read the mail password can still run those.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: call only where it is handed to the library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Where a secret is, as the configuration says; read by [`SecretSource::read`] when needed.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given as it is, by a program using clerk as a library.
    Value(Secret),
    /// The environment variable of this name.
    Env(String),
    /// The first line of this file (without its line ending).
    File(PathBuf),
}

impl SecretSource {
    /// The secret, read now. An empty one, or one holding a line break or NUL (which no
    /// login can send), is an error; the error names where it looked, never the secret.
    pub fn read(&self) -> Result<Secret, String> {
        let value = match self {
            SecretSource::Value(s) => s.clone(),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) => Secret::new(v),
                Err(_) => return Err(format!("the environment variable {var} is not set")),
            },
            SecretSource::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => Secret::new(text.lines().next().unwrap_or("")),
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            },
        };
        if value.expose().is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        if value.expose().contains(['\r', '\n', '\0']) {
            return Err(format!(
                "{} holds a line break or NUL, which a login cannot send",
                self.describe()
            ));
        }
        Ok(value)
    }

    /// Where the secret is, for messages.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Value(_) => "the secret given".to_owned(),
            SecretSource::Env(var) => format!("the environment variable {var}"),
            SecretSource::File(path) => format!("the file {}", path.display()),
        }
    }
}

impl From<Secret> for SecretSource {
    fn from(s: Secret) -> Self {
        SecretSource::Value(s)
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(s) => f.debug_tuple("Value").field(s).finish(),
            SecretSource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_read_when_asked_and_its_errors_never_show_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        let source = SecretSource::File(file.clone());
        // Naming a file that is not there is fine until the secret is needed.
        let e = source.read().unwrap_err();
        assert!(
            e.starts_with(&format!("cannot read {}", file.display())),
            "{e}"
        );
        std::fs::write(&file, "hunter2\r\nsecond line\n").unwrap();
        assert_eq!(source.read().unwrap().expose(), "hunter2");
        std::fs::write(&file, "\n").unwrap();
        assert!(source.read().unwrap_err().ends_with("is empty"));
        // A folder where the file should be.
        let e = SecretSource::File(dir.path().to_path_buf())
            .read()
            .unwrap_err();
        assert!(e.starts_with("cannot read"), "{e}");
        let e = SecretSource::Env("CLERK_TEST_NO_SUCH_VARIABLE_12".into())
            .read()
            .unwrap_err();
        assert_eq!(
            e,
            "the environment variable CLERK_TEST_NO_SUCH_VARIABLE_12 is not set"
        );
        let e = SecretSource::from(Secret::new("a\nb")).read().unwrap_err();
        assert!(e.contains("line break") && !e.contains("a\nb"), "{e}");
        assert!(!format!("{:?}", SecretSource::from(Secret::new("hunter2"))).contains("hunter2"));
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
