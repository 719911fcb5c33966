//! The mailbox tasks, one per configured mailbox: each reads its mailbox (IMAP or Maildir),
//! hands every new message to the worker and moves or flags it once the worker has recorded
//! what became of it. One mail's handling is `mailbox`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::task::Backoff;
use super::{Shared, Work, mailbox, stopped};
use crate::store;

/// Reads one mailbox for as long as the daemon runs: reconnects with back-off after any
/// failure, hands each new message to the worker and moves it only once the worker has
/// recorded what became of it.
pub(super) async fn run(
    shared: Arc<Shared>,
    name: String,
    work: mpsc::Sender<Work>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(mb) = shared.config().mailboxes.get(&name).cloned() else {
        return;
    };
    // Attachments a killed run had staged are among the files resumed at start, and their
    // mail is still in the mailbox (it is moved last). Read before those files are in the
    // work queue, such a mail would be worked twice, once by each road; the worker takes
    // work in order, so the mail waits until they are handed over.
    while !shared
        .resume
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty()
    {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    let mut backoff = Backoff::up_to(Duration::from_secs(300));
    loop {
        let result = match &mb.source {
            crate::ingest::mail::MailboxSource::Imap(_) => {
                imap_pass(&shared, &mb, &work, &mut stop).await
            }
            crate::ingest::mail::MailboxSource::Maildir(_) => {
                maildir_pass(&shared, &mb, &work, &mut stop).await
            }
        };
        if *stop.borrow() {
            return;
        }
        match result {
            Ok(()) => backoff.reset(),
            Err(e) => {
                warn!(mailbox = %name, error = %e, retry_in = ?backoff.delay(), "mailbox unavailable; will reconnect");
                if !backoff.wait(&mut stop).await {
                    return;
                }
            }
        }
    }
}

/// Sends one message to the worker and waits for its outcome; `None` when the daemon stops.
async fn hand_over(
    work: &mpsc::Sender<Work>,
    mailbox: &str,
    key: String,
    cursor: Option<(u32, u32)>,
    raw: Result<Vec<u8>, String>,
) -> Option<mailbox::MailOutcome> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    work.send(Work::Mail {
        mailbox: mailbox.to_string(),
        key,
        cursor,
        raw,
        reply,
    })
    .await
    .ok()?;
    answer.await.ok()
}

/// One connection's life: select, take what is new, wait (IDLE or poll), again. Returns on
/// stop (Ok) or on any mailbox error (Err, and the caller reconnects).
async fn imap_pass(
    shared: &Arc<Shared>,
    mb: &crate::ingest::mail::Mailbox,
    work: &mpsc::Sender<Work>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), crate::ingest::mail::MailboxError> {
    use crate::ingest::mail::{ImapSession, MailboxError};
    let mut session = ImapSession::connect(mb).await?;
    let validity = session.select().await?;
    let store = shared.store.clone();
    let name = mb.name.clone();
    let cursor = tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
        store::in_read(guard.as_mut(), |u| u.mail_cursor(&name))
    })
    .await
    .ok()
    .and_then(Result::ok)
    .flatten();
    let mut after = match cursor {
        Some((v, uid)) if v == validity => uid,
        Some((v, _)) => {
            // The server renumbered the folder: look at everything again. Messages handled
            // before are recognised by Message-ID and attachment content, not taken twice.
            warn!(mailbox = %mb.name, old = v, new = validity, "UIDVALIDITY changed; checking the whole folder again");
            0
        }
        None => 0,
    };
    info!(mailbox = %mb.name, uidvalidity = validity, after, "mailbox open");
    // The cursor moves in the same transaction as a message's work, but the message is moved
    // (or flagged) on the server only afterwards: a crash in between leaves a finished message
    // in the folder below the cursor. The first look after connecting therefore starts at the
    // beginning; such a message is recognised by its key as handled, and only moved.
    let mut after_cursor = after;
    after = 0;
    loop {
        for uid in session.uids_after(after).await? {
            if *stop.borrow() {
                session.logout().await;
                return Ok(());
            }
            let raw = match session.fetch(uid, mb.limits.max_message).await {
                Ok(Some(raw)) => Ok(raw),
                Ok(None) => continue,
                Err(MailboxError::TooLarge { size, max, .. }) => Err(format!(
                    "a message of {} MB in mailbox {} is larger than its limit of {} MB (max_message_mb); it was not downloaded",
                    size >> 20,
                    mb.name,
                    max >> 20
                )),
                Err(e) => return Err(e),
            };
            let key = format!("{validity}/{uid}");
            let Some(outcome) = hand_over(work, &mb.name, key, Some((validity, uid)), raw).await
            else {
                if *stop.borrow() {
                    return Ok(());
                }
                // The worker could not record the message (the store is unwell): back off.
                return Err(MailboxError::Io(std::io::Error::other(
                    "the message could not be recorded; will try again",
                )));
            };
            session.finish(uid, outcome.finish).await?;
            after = uid;
        }
        after = after.max(after_cursor);
        after_cursor = 0;
        polled(shared, &mb.name);
        tokio::select! {
            _ = stopped(stop) => {
                session.logout().await;
                return Ok(());
            }
            r = session.wait(mb.poll_interval) => r?,
        }
    }
}

async fn maildir_pass(
    shared: &Arc<Shared>,
    mb: &crate::ingest::mail::Mailbox,
    work: &mpsc::Sender<Work>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), crate::ingest::mail::MailboxError> {
    use crate::ingest::mail::{MailboxError, MaildirBox};
    let io = MailboxError::Io;
    let joined = |e: tokio::task::JoinError| MailboxError::Io(std::io::Error::other(e));
    let mailbox = {
        let mb = mb.clone();
        tokio::task::spawn_blocking(move || MaildirBox::open(&mb))
            .await
            .map_err(joined)?
            .map_err(io)?
    };
    let mailbox = Arc::new(mailbox);
    loop {
        let b = mailbox.clone();
        let pending = tokio::task::spawn_blocking(move || b.pending())
            .await
            .map_err(joined)?
            .map_err(io)?;
        for m in pending {
            if *stop.borrow() {
                return Ok(());
            }
            let raw = if m.name_not_utf8 {
                // Reported once: refused unread with a break, and moved out of the inbox.
                warn!(mailbox = %mb.name, file = %m.id, "a file in the Maildir has a name that is not valid UTF-8; refused unread");
                Err(format!(
                    "the file {} in mailbox {}'s Maildir has a name that is not valid UTF-8 \
                     (shown with \\x escapes); clerk does not read it. Give it a plain name \
                     and move it back into new/ to have it read",
                    m.id, mb.name
                ))
            } else {
                let (b, m2, max) = (mailbox.clone(), m.clone(), mb.limits.max_message);
                match tokio::task::spawn_blocking(move || b.read(&m2, max))
                    .await
                    .map_err(joined)?
                {
                    Ok(r) => Ok(r),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(format!(
                        "a message in mailbox {} could not be read: {e}",
                        mb.name
                    )),
                    Err(e) => return Err(io(e)),
                }
            };
            let Some(outcome) = hand_over(work, &mb.name, m.id.clone(), None, raw).await else {
                if *stop.borrow() {
                    return Ok(());
                }
                return Err(MailboxError::Io(std::io::Error::other(
                    "the message could not be recorded; will try again",
                )));
            };
            let b = mailbox.clone();
            tokio::task::spawn_blocking(move || b.finish(&m, outcome.finish))
                .await
                .map_err(joined)?
                .map_err(io)?;
        }
        polled(shared, &mb.name);
        tokio::select! {
            _ = stopped(stop) => return Ok(()),
            _ = tokio::time::sleep(mb.poll_interval.min(Duration::from_secs(5))) => {}
        }
    }
}

/// Writes down that a poll of `mailbox` went through to its end (a sign of life for `/readyz`
/// and `/metrics`): a reader stuck connecting, or failing, stops beating.
fn polled(shared: &Shared, mailbox: &str) {
    shared
        .mailbox_polled
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(mailbox.to_string(), super::now_millis());
}
