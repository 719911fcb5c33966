//! Mailboxes: how far each mailbox was read, the messages taken from it and the tries at
//! each, and the attachments handed to jobs.

use chrono::{DateTime, Utc};

use super::Result;
use crate::model::MailOrigin;

/// What a unit of work keeps and reads of mailboxes.
pub trait Mailboxes {
    /// UIDVALIDITY and the highest UID done, for an IMAP mailbox.
    fn mail_cursor(&mut self, mailbox: &str) -> Result<Option<(u32, u32)>>;
    /// Moves the cursor forward (never back within one UIDVALIDITY; a new UIDVALIDITY starts
    /// over).
    fn set_mail_cursor(&mut self, mailbox: &str, uidvalidity: u32, last_uid: u32) -> Result<()>;
    /// What became of a message handled before (`processed`, `failed`, `refused`,
    /// `duplicate`), if it was.
    fn mail_message_outcome(&mut self, mailbox: &str, key: &str) -> Result<Option<String>>;
    /// Whether a message with this Message-ID was processed before (in any mailbox) with the
    /// same attachments taken: the same contents (hex SHA-256), in any order. A Message-ID is
    /// only a claim of the sender's; a refused mail, or one with other files, does not count.
    fn mail_processed_with(&mut self, message_id: &str, sha256s: &[String]) -> Result<bool>;
    /// Records a handled message and ends its tries; `false` if it was recorded before. A
    /// message recorded as `refused` is recorded anew: it came back (moved back into the
    /// mailbox once the cause was fixed) and was looked at again.
    fn add_mail_message(&mut self, m: &NewMailMessage<'_>) -> Result<bool>;
    /// Counts a try at handling a message, before it starts; returns the tries so far, this one
    /// included. A try that ends with the message recorded leaves no trace; one that panicked
    /// or that clerk died in stays counted.
    fn add_mail_try(&mut self, mailbox: &str, key: &str) -> Result<u32>;
    /// Takes the last try back: it failed for a reason not the message's (the store was busy).
    fn take_back_mail_try(&mut self, mailbox: &str, key: &str) -> Result<()>;
    /// Notes why the last try failed (a panic's message).
    fn note_mail_try_error(&mut self, mailbox: &str, key: &str, error: &str) -> Result<()>;
    /// Tries so far at a message not yet recorded, and why the last one failed if known.
    fn mail_tries(&mut self, mailbox: &str, key: &str) -> Result<(u32, Option<String>)>;
    fn mail_attachment_done(&mut self, mailbox: &str, key: &str, part: u32) -> Result<bool>;
    /// Records that an attachment was handed to a job, in the job's own transaction.
    fn add_mail_attachment(
        &mut self,
        origin: &MailOrigin,
        sha256: &str,
        job: &str,
        file_id: Option<i64>,
    ) -> Result<()>;
}

pub struct NewMailMessage<'a> {
    pub mailbox: &'a str,
    pub key: &'a str,
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// `processed`, `failed`, `refused` or `duplicate`.
    pub outcome: &'a str,
    pub attachments: u32,
    pub detail: Option<&'a str>,
}
