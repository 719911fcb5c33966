//! The mail sender task: delivers queued mail with retries and back-off, writing down each
//! delivery the SMTP server accepted (`SentJournal`) before the store is told.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{Shared, stopped};
use crate::notify::Mailer;
use crate::store::{self, Store};

/// How long a message is reserved for one delivery attempt: longer than any SMTP timeout.
const MAIL_LEASE: chrono::Duration = chrono::Duration::minutes(5);

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let round = deliver_due(&shared.store, &shared.mailer(), &stop, Some(&shared.sent)).await;
        if *stop.borrow() {
            return;
        }
        if round.more {
            continue;
        }
        let store = shared.store.clone();
        let next = tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            store::in_read(guard.as_mut(), |u| u.next_mail_due())
        })
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
        let wait = next
            .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(60));
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = shared.mail_queued.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// What one round of delivery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRound {
    pub sent: usize,
    pub failed: usize,
    /// More messages were due than one round takes.
    pub more: bool,
}

const MAIL_BATCH: usize = 20;

/// Delivers the messages due now, once each: lease, hand over, record the result. A message
/// that fails is retried later with back-off; one whose result could not be recorded is tried
/// again when its lease ends (the Message-ID stays the same, so receivers can tell).
pub async fn deliver_due(
    store: &Arc<Mutex<Box<dyn Store>>>,
    mailer: &Mailer,
    stop: &watch::Receiver<bool>,
    journal: Option<&SentJournal>,
) -> DeliveryRound {
    let mut round = DeliveryRound::default();
    let now = Utc::now();
    let s = store.clone();
    let batch = match tokio::task::spawn_blocking(move || {
        let mut guard = s.lock().unwrap_or_else(|p| p.into_inner());
        store::in_unit(guard.as_mut(), |u| {
            u.lease_mail(now, now + MAIL_LEASE, MAIL_BATCH)
        })
    })
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            warn!(error = %e, "cannot read the outbox; will retry");
            return round;
        }
        Err(e) => {
            error!(error = %e, "outbox read panicked");
            return round;
        }
    };
    round.more = batch.len() == MAIL_BATCH;
    for m in batch {
        if *stop.borrow() {
            break;
        }
        let result = if journal.is_some_and(|j| j.contains(m.id)) {
            // Delivered before; only the store was not told.
            Ok(())
        } else {
            mailer
                .deliver(&m.message_id, &m.from, &m.recipients, &m.raw)
                .await
        };
        if result.is_ok()
            && let Some(j) = journal
            && let Err(e) = j.record(m.id, &m.message_id)
        {
            warn!(message_id = %m.message_id, error = %e, "could not write down a delivery; a crash now would send it again");
        }
        let s = store.clone();
        let id = m.id;
        let recorded = match &result {
            Ok(()) => {
                round.sent += 1;
                info!(message_id = %m.message_id, purpose = %m.purpose, to = ?m.recipients, "mail delivered");
                let at = Utc::now();
                tokio::task::spawn_blocking(move || {
                    let mut guard = s.lock().unwrap_or_else(|p| p.into_inner());
                    store::in_unit(guard.as_mut(), |u| u.mail_sent(id, at))
                })
                .await
            }
            Err(e) => {
                round.failed += 1;
                let backoff = retry_delay(m.attempts);
                warn!(message_id = %m.message_id, error = %e, retry_in = ?backoff, "mail not delivered; will retry");
                let retry_at = Utc::now()
                    + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::hours(1));
                let msg = e.to_string();
                tokio::task::spawn_blocking(move || {
                    let mut guard = s.lock().unwrap_or_else(|p| p.into_inner());
                    store::in_unit(guard.as_mut(), |u| u.mail_failed(id, &msg, retry_at))
                })
                .await
            }
        };
        match recorded {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "could not record the delivery attempt; it is tried again when its lease ends")
            }
            Err(e) => warn!(error = %e, "recording the delivery attempt panicked"),
        }
    }
    round
}

/// The file, in the state folder, of deliveries not yet recorded in the store.
pub(super) const SENT_JOURNAL: &str = "mail-sent.journal";

/// Deliveries the SMTP server accepted, appended and fsynced at once, before the store is told.
///
/// Recording a delivery in the store waits for the unit of work in progress (one writer), which
/// can take seconds; a crash in that time used to send the message again at the next start,
/// and a daemon killed repeatedly sent it again each time. The journal narrows that window to
/// one fsync: at start-up its deliveries are recorded in the store, then it is emptied.
pub struct SentJournal {
    file: Mutex<std::fs::File>,
    /// Outbox ids written down by this process or found at start-up.
    known: Mutex<std::collections::HashSet<i64>>,
}

impl SentJournal {
    pub fn open(path: &std::path::Path) -> std::io::Result<SentJournal> {
        // Readable by the group like every file clerk writes, whatever the umask.
        let file = crate::fsx::open_append(path)?;
        let known = std::fs::read_to_string(path)?
            .lines()
            .filter_map(|l| l.split('\t').next()?.parse::<i64>().ok())
            .collect();
        Ok(SentJournal {
            file: Mutex::new(file),
            known: Mutex::new(known),
        })
    }

    pub fn contains(&self, id: i64) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    /// Writes down that outbox message `id` was delivered; durable when this returns.
    pub fn record(&self, id: i64, message_id: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(format!("{id}\t{message_id}\n").as_bytes())?;
        f.sync_data()?;
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        Ok(())
    }

    /// Records in the store every delivery written down here, then empties the journal.
    pub(super) fn settle(&self, store: &mut dyn Store) -> anyhow::Result<()> {
        let ids: Vec<i64> = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        store::in_unit(store, |u| {
            for id in &ids {
                u.mail_sent(*id, now)?;
            }
            Ok(())
        })?;
        info!(
            messages = ids.len(),
            "deliveries made before the last stop recorded"
        );
        let f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.set_len(0)?;
        f.sync_all()?;
        drop(f);
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }
}

/// 30 s, 1 min, 2 min, ... at most an hour between attempts.
fn retry_delay(attempts: u32) -> Duration {
    let secs = 30u64.saturating_mul(1u64 << attempts.min(7));
    Duration::from_secs(secs.min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_backs_off_to_an_hour() {
        assert_eq!(retry_delay(0), Duration::from_secs(30));
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(20), Duration::from_secs(3600));
    }
}
