//! Mailboxes as an input: banks, custodians and suppliers mail statements and invoices; clerk
//! reads them from an IMAP folder or a local Maildir and hands each attachment on as if it had
//! been dropped into a watched folder.
//!
//! - [`config`]: the `[mailboxes.NAME]` tables of `clerk.toml` ([`MailboxSpec`] → [`Mailbox`])
//!   and a job's `[mail]` routing table ([`MailRuleSpec`] → [`MailRule`]).
//! - [`message`]: raw message bytes → sender, subject and attachments with safe names, ZIPs
//!   unpacked within limits ([`parse_mail`]). Pure: no I/O.
//! - [`imap`]: one IMAP folder over TLS or STARTTLS ([`ImapSession`]): new UIDs after a
//!   cursor, bodies fetched without setting `\Seen`, finished messages moved or flagged, IDLE.
//! - [`maildir`]: the same for a local Maildir that fetchmail, mbsync or an MTA fills
//!   ([`MaildirBox`]).
//!
//! The cursor (UIDVALIDITY and the last UID done) is not kept here: the caller stores it in the
//! transaction that records the work, then calls `finish`. A crash between the two leaves the
//! message in the folder with the cursor past it; it is moved on the next pass by UID.
//!
//! **Invariant:** nothing in a mail is executed or followed: no URL is fetched, no attachment
//! is run, and no name taken from a mail decides a path on disk ([`safe_name`]).
//!
//! **Invariant:** a password or token leaves [`crate::secret::Secret`] only to be written to
//! the server, with logging switched off around it (async-imap logs every command at TRACE).

pub mod config;
pub mod imap;
pub mod maildir;
pub mod message;

pub use config::{
    After, AuthKind, ImapAuth, ImapSettings, MailRule, MailRuleSpec, Mailbox, MailboxKind,
    MailboxSource, MailboxSpec, Security, TokenSource,
};
pub use imap::{ImapSession, MailboxError, health_check};
pub use maildir::{MaildirBox, MaildirMessage};
pub use message::{
    MAX_HEADER_CHARS, MailAttachment, MailLimits, MailReadError, ParsedMail, RefusedPart, cut,
    parse_mail, read_headers, safe_name,
};

/// What became of a message: it goes to the processed or the failed folder (or gets the
/// matching flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Processed,
    Failed,
}
