//! What the store keeps of a message: its row (outcome, sender, subject) with the mailbox's
//! cursor, written in one transaction; a message recorded before is not handled again, except
//! a refused one, and the same message with the same attachments is a duplicate.

use chrono::{DateTime, Utc};

use super::{MailOutcome, about};
use crate::config::Job;
use crate::ingest::mail::{Finish, MailAttachment, Mailbox, ParsedMail};
use crate::store::{self, NewMailMessage, Store, StoreError, Unit};

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
    mailbox: &Mailbox,
    key: &str,
    cursor: Option<(u32, u32)>,
    mail: &ParsedMail,
    routed: &[(u32, &MailAttachment, &Job)],
    now: &dyn Fn() -> DateTime<Utc>,
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
    record_message(
        store,
        mailbox,
        key,
        cursor,
        mail,
        "duplicate",
        0,
        Some("the same message (Message-ID and attachments) was processed before"),
        now,
    )?;
    Ok(Some(MailOutcome {
        finish: Finish::Processed,
        summary: format!(
            "{} was processed before with the same attachments; nothing taken again",
            about(mail)
        ),
        unfinished: Vec::new(),
    }))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_message(
    store: &mut dyn Store,
    mailbox: &Mailbox,
    key: &str,
    cursor: Option<(u32, u32)>,
    mail: &ParsedMail,
    outcome: &str,
    attachments: u32,
    detail: Option<&str>,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<(), StoreError> {
    store::in_unit(store, |u| {
        record_in(
            u,
            mailbox,
            key,
            cursor,
            Some(mail),
            outcome,
            attachments,
            detail,
            now(),
        )
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_in(
    u: &mut dyn Unit,
    mailbox: &Mailbox,
    key: &str,
    cursor: Option<(u32, u32)>,
    mail: Option<&ParsedMail>,
    outcome: &str,
    attachments: u32,
    detail: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    u.add_mail_message(&NewMailMessage {
        mailbox: &mailbox.name,
        key,
        message_id: mail.and_then(|m| m.message_id.as_deref()),
        sender: mail.and_then(|m| m.from.as_deref()),
        subject: mail.map(|m| m.subject.as_str()),
        sent_at: mail.and_then(|m| m.date),
        at,
        outcome,
        attachments,
        detail,
    })?;
    if let Some((validity, uid)) = cursor {
        u.set_mail_cursor(&mailbox.name, validity, uid)?;
    }
    Ok(())
}
