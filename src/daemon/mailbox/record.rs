//! What the store keeps of a message: its row (outcome, sender, subject) with the mailbox's
//! cursor, written in one transaction; a message recorded before is not handled again, except
//! a refused one, and the same message with the same attachments is a duplicate.

use chrono::{DateTime, Utc};

use super::{MailOutcome, MailWork, about};
use crate::config::Job;
use crate::ingest::mail::{Finish, MailAttachment, ParsedMail};
use crate::store::{self, NewMailMessage, Store, StoreError, Unit};

/// What is recorded of a message besides the mail itself: what became of it, how many
/// attachments were taken, and why (for a refusal or a duplicate).
pub(super) struct Recorded<'a> {
    pub outcome: &'a str,
    pub attachments: u32,
    pub detail: Option<&'a str>,
}

/// The outcome of a message recorded before, unless it was refused (a refused message that
/// shows up again is looked at again).
pub(super) fn handled_before(
    store: &mut dyn Store,
    mailbox: &str,
    key: &str,
) -> Result<Option<MailOutcome>, StoreError> {
    Ok(
        match store::in_read(store, |u| u.mail_message_outcome(mailbox, key))? {
            // Done before a stop; only the move in the mailbox was left.
            Some(outcome) if outcome != "refused" => Some(MailOutcome {
                finish: finish_of(&outcome),
                summary: format!("handled before ({outcome})"),
                unfinished: Vec::new(),
            }),
            _ => None,
        },
    )
}

pub(super) fn finish_of(outcome: &str) -> Finish {
    match outcome {
        "failed" | "refused" => Finish::Failed,
        _ => Finish::Processed,
    }
}

/// The same message with the same files, processed before (a redelivery, a restored or
/// renumbered folder): recorded as a duplicate, nothing taken again.
pub(super) fn processed_before(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    mail: &ParsedMail,
    routed: &[(u32, &MailAttachment, &Job)],
) -> Result<Option<MailOutcome>, StoreError> {
    let Some(id) = mail.message_id.as_deref() else {
        return Ok(None);
    };
    if routed.is_empty() {
        return Ok(None);
    }
    let hashes: Vec<String> = routed.iter().map(|(_, a, _)| a.sha256.clone()).collect();
    if !store::in_read(store, |u| u.mail_processed_with(id, &hashes))? {
        return Ok(None);
    }
    let recorded = Recorded {
        outcome: "duplicate",
        attachments: 0,
        detail: Some("the same message (Message-ID and attachments) was processed before"),
    };
    record_message(store, m, mail, &recorded)?;
    Ok(Some(MailOutcome {
        finish: Finish::Processed,
        summary: format!(
            "{} was processed before with the same attachments; nothing taken again",
            about(mail)
        ),
        unfinished: Vec::new(),
    }))
}

/// Records the message, with the mailbox's cursor, in a unit of its own.
pub(super) fn record_message(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    mail: &ParsedMail,
    recorded: &Recorded<'_>,
) -> Result<(), StoreError> {
    store::in_unit(store, |u| record_in(u, m, Some(mail), recorded, (m.now)()))
}

/// Records the message (as far as it was read), with the mailbox's cursor, in the caller's
/// transaction.
pub(super) fn record_in(
    u: &mut dyn Unit,
    m: &MailWork<'_>,
    mail: Option<&ParsedMail>,
    recorded: &Recorded<'_>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Recorded {
        outcome,
        attachments,
        detail,
    } = *recorded;
    let mailbox = m.mailbox;
    u.add_mail_message(&NewMailMessage {
        mailbox: &mailbox.name,
        key: m.key,
        message_id: mail.and_then(|m| m.message_id.as_deref()),
        sender: mail.and_then(|m| m.from.as_deref()),
        subject: mail.map(|m| m.subject.as_str()),
        sent_at: mail.and_then(|m| m.date),
        at,
        outcome,
        attachments,
        detail,
    })?;
    if let Some((validity, uid)) = m.cursor {
        u.set_mail_cursor(&mailbox.name, validity, uid)?;
    }
    Ok(())
}
