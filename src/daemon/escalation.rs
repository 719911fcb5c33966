//! The escalation check as a unit of work (`jobs::escalation`): asked for by the scheduler's
//! tick when the hour turns, and done with every summary (`summary.rs`). Never a loop of its
//! own: a break's age in business days only changes with the date.

use std::sync::Arc;

use chrono::Utc;
use tracing::{error, info};

use super::pipeline::mail_domain;
use super::{Shared, Work};
use crate::config::Config;
use crate::jobs::{self, WorkError};
use crate::store::{self, StoreError};

/// Escalates what is due; a transient store error hands the work back for a retry.
pub(super) async fn run(
    shared: &Arc<Shared>,
    config: Arc<Config>,
) -> Result<(), (Work, StoreError)> {
    if !config.jobs.iter().any(|j| j.escalation.is_some()) {
        return Ok(());
    }
    let store = shared.store.clone();
    let result = shared
        .work_thread
        .run(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            let domain = mail_domain(&config.mail.from);
            store::in_unit_as(guard.as_mut(), |u| {
                jobs::escalation::escalate(u, &config, Utc::now(), domain)
            })
        })
        .await;
    match result {
        Ok(Ok(done)) => {
            for e in &done {
                info!(job = %e.job, breaks = ?e.breaks, message_id = %e.message_id, "breaks open too long escalated");
            }
            if !done.is_empty() {
                shared.mail_queued.notify_one();
            }
        }
        Ok(Err(WorkError::Store(e))) if e.is_transient() => return Err((Work::Escalate, e)),
        Ok(Err(e)) => error!(error = %e, "the escalation check failed"),
        Err(e) => error!(error = %e, "the escalation check panicked"),
    }
    Ok(())
}
