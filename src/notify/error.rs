//! Why a message could not be built or handed over, and what an SMTP server answered.
//!
//! Its own file because both steps report with it: building a message ([`super::message`])
//! and delivering it ([`super::transport`]), which in turn checks addresses and Message-IDs
//! with the message step's parsers.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;

/// Why a message could not be built or handed over. Each variant names what failed;
/// [`MailError::is_transient`] says whether trying again later may help.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid {role} address {address:?}: {reason}")]
    Address {
        /// "From" or "To".
        role: &'static str,
        address: String,
        reason: String,
    },
    #[error("no recipient given")]
    NoRecipients,
    #[error(
        "invalid Message-ID {0:?}: expected left@right in printable ASCII, without spaces or \
         angle brackets inside"
    )]
    MessageId(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("mail settings: {0}")]
    Settings(String),
    #[error("cannot connect to SMTP server {server}: {detail}")]
    Connect { server: String, detail: String },
    #[error("TLS with SMTP server {server} failed: {detail}")]
    Tls { server: String, detail: String },
    #[error(
        "SMTP server {server} does not offer STARTTLS, which the settings require; nothing was \
         sent in clear text"
    )]
    StartTlsMissing { server: String },
    #[error("SMTP server {server} refused the login of {username:?}: {reply}")]
    Auth {
        server: String,
        username: String,
        reply: Reply,
    },
    #[error("SMTP server {server} refused the sender {address}: {reply}")]
    SenderRejected {
        server: String,
        address: String,
        reply: Reply,
    },
    #[error("SMTP server {server} refused the recipient {address}: {reply}")]
    RecipientRejected {
        server: String,
        address: String,
        reply: Reply,
    },
    #[error("SMTP server {server} refused the message: {reply}")]
    MessageRejected { server: String, reply: Reply },
    #[error("SMTP server {server} did not answer within {timeout:?} (during {stage})")]
    Timeout {
        server: String,
        stage: String,
        timeout: Duration,
    },
    #[error("SMTP exchange with {server} broke off during {stage}: {detail}")]
    Protocol {
        server: String,
        stage: String,
        detail: String,
    },
    #[error(
        "outbox file {} already holds another message ({existing}), not {message_id}: two \
         Message-IDs map to one file name",
        path.display()
    )]
    OutboxCollision {
        path: PathBuf,
        message_id: String,
        existing: String,
    },
    #[error("outbox {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl MailError {
    /// Whether trying the same delivery again later may succeed: network trouble, timeouts,
    /// and the server's 4xx replies. Bad addresses, settings, certificates and 5xx replies need
    /// a person.
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Connect { .. } | MailError::Timeout { .. } | MailError::Protocol { .. } => {
                true
            }
            MailError::Auth { reply, .. }
            | MailError::SenderRejected { reply, .. }
            | MailError::RecipientRejected { reply, .. }
            | MailError::MessageRejected { reply, .. } => reply.is_transient(),
            MailError::Io { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::ReadOnlyFilesystem
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::InvalidInput
            ),
            MailError::Address { .. }
            | MailError::NoRecipients
            | MailError::MessageId(_)
            | MailError::Build(_)
            | MailError::Settings(_)
            | MailError::Tls { .. }
            | MailError::StartTlsMissing { .. }
            | MailError::OutboxCollision { .. } => false,
        }
    }
}

/// What an SMTP server answered (or, without a code, what went wrong on our side of a step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code, when the server sent one.
    pub code: Option<u16>,
    pub text: String,
}

impl Reply {
    pub(super) fn from_error(e: &SmtpError) -> Reply {
        // lettre's error prints "permanent error (550): <server text>"; the source is the
        // server text alone.
        let text = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        Reply {
            code: e.status().map(u16::from),
            text: text.trim().to_owned(),
        }
    }

    fn is_transient(&self) -> bool {
        self.code.is_some_and(|c| (400..500).contains(&c))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code} {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}
