//! Outgoing mail: the queue summaries and alerts wait in until delivered, leased for each
//! delivery attempt.

use chrono::{DateTime, Utc};

use super::Result;

/// What a unit of work keeps and reads of outgoing mail.
pub trait Outbox {
    /// Queues a message; `false` if one with this Message-ID is already queued or sent.
    fn enqueue_mail(&mut self, mail: &NewMail<'_>) -> Result<bool>;
    /// Takes the messages due at `now` for one delivery attempt, oldest first: each is leased
    /// until `lease_until` (another process will not send it meanwhile; if this one dies
    /// mid-send, the message is due again when the lease ends).
    fn lease_mail(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>>;
    fn mail_sent(&mut self, id: i64, at: DateTime<Utc>) -> Result<()>;
    fn mail_failed(&mut self, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()>;
    /// Makes every leased, unsent message due at `now`: called by a daemon starting up, whose
    /// predecessor may have been killed mid-delivery. Returns how many were released.
    fn release_mail_leases(&mut self, now: DateTime<Utc>) -> Result<usize>;
    /// When the next queued message is due, if any.
    fn next_mail_due(&mut self) -> Result<Option<DateTime<Utc>>>;
}

pub struct NewMail<'a> {
    pub message_id: &'a str,
    /// `summary` or `alert`: what the message is, for status and logs.
    pub purpose: &'a str,
    pub from: &'a str,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub raw: &'a [u8],
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct QueuedMail {
    pub id: i64,
    pub message_id: String,
    pub purpose: String,
    pub from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
    pub attempts: u32,
}
