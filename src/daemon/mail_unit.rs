//! One message of a mailbox, as the worker runs it: handled on the work thread (`mailbox`);
//! refused when it cannot be handled, its try recorded when handling it panicked; what became
//! of it goes back to the mailbox task, which then moves or flags it.

use std::sync::Arc;

use chrono::Utc;
use tracing::{error, info, info_span, warn};

use super::worker::Work;
use super::{Shared, mailbox};
use crate::config::Config;
use crate::jobs::WorkError;
use crate::store::StoreError;

/// Runs one message: on a transient store error hands it back for a retry.
pub(super) async fn run(
    shared: &Arc<Shared>,
    config: Arc<Config>,
    mailbox: String,
    key: String,
    cursor: Option<(u32, u32)>,
    raw: Result<Vec<u8>, String>,
    reply: tokio::sync::oneshot::Sender<mailbox::MailOutcome>,
) -> Result<(), (Work, StoreError)> {
    let span = info_span!("mail", mailbox = %mailbox, message = %key);
    let Some(mb) = config.mailboxes.get(&mailbox).cloned() else {
        return Ok(());
    };
    let store = shared.store.clone();
    let cfg = config.clone();
    let inner = span.clone();
    let (k, r) = (key.clone(), raw.clone());
    let result = shared
        .work_thread
        .run(move || {
            let _entered = inner.enter();
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            let work = mailbox::MailWork {
                config: &cfg,
                mailbox: &mb,
                key: &k,
                cursor,
                now: &Utc::now,
            };
            mailbox::handle(guard.as_mut(), &work, &r)
        })
        .await;
    match result {
        Ok(Ok(mut outcome)) => {
            info!(parent: &span, "{}", outcome.summary);
            let left = std::mem::take(&mut outcome.unfinished);
            if !left.is_empty() {
                shared
                    .unfinished
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(left);
            }
            let _ = reply.send(outcome);
            Ok(())
        }
        Ok(Err(WorkError::Store(e))) if e.is_transient() => Err((
            Work::Mail {
                mailbox,
                key,
                cursor,
                raw,
                reply,
            },
            e,
        )),
        Ok(Err(e)) => {
            // Not going away by itself: the message is refused (moved to the failed
            // folder) with a break and an alert, so it neither blocks the mailbox nor
            // sits there unnoticed.
            error!(parent: &span, error = %e, "the message could not be handled; refusing it");
            let store = shared.store.clone();
            let cfg = config.clone();
            let detail = format!("clerk could not handle a message of mailbox {mailbox}: {e}");
            let refused = tokio::task::spawn_blocking(move || {
                let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                let mb = cfg.mailboxes.get(&mailbox).cloned();
                mb.map(|mb| {
                    let work = mailbox::MailWork {
                        config: &cfg,
                        mailbox: &mb,
                        key: &key,
                        cursor,
                        now: &Utc::now,
                    };
                    mailbox::refuse_unread(guard.as_mut(), &work, &detail)
                })
            })
            .await;
            match refused {
                Ok(Some(Ok(outcome))) => {
                    let _ = reply.send(outcome);
                }
                other => {
                    error!(parent: &span, outcome = ?other.map(|o| o.map(|r| r.map(|m| m.summary))), "could not even refuse the message; it stays in the mailbox");
                }
            }
            Ok(())
        }
        Err(e) => {
            // Tried again a few times (the mailbox reconnects), then set aside.
            error!(parent: &span, error = %e, "handling the message panicked");
            let (store, cfg) = (shared.store.clone(), config.clone());
            let mb = cfg.mailboxes.get(&mailbox).cloned();
            let aside = shared
                .work_thread
                .run(move || {
                    let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
                    mb.map(|mb| {
                        let work = mailbox::MailWork {
                            config: &cfg,
                            mailbox: &mb,
                            key: &key,
                            cursor,
                            now: &Utc::now,
                        };
                        mailbox::after_panic(guard.as_mut(), &work, &raw, &e)
                    })
                })
                .await;
            match aside {
                Ok(Some(Ok(Some(outcome)))) => {
                    warn!(parent: &span, "{}", outcome.summary);
                    let _ = reply.send(outcome);
                }
                Ok(Some(Ok(None))) => {
                    info!(parent: &span, "the message stays in the mailbox for another try")
                }
                other => {
                    error!(parent: &span, outcome = ?other.map(|o| o.map(|r| r.map(|m| m.map(|m| m.summary)))), "could not record the failed try; the message stays in the mailbox")
                }
            }
            Ok(())
        }
    }
}
