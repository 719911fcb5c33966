//! The exception summary's fire: its run started, the mail the jobs layer composes
//! ([`crate::jobs::summary::compose`]) queued in the outbox, and the schedule's "last fired"
//! advanced — all in the caller's one transaction, so a summary is queued exactly once per
//! fire time whatever crashes around it.

use chrono::{DateTime, Utc};

use super::pipeline::mail_domain;
use crate::config::{Config, Job};
use crate::jobs::WorkError;
use crate::jobs::summary::{Fire, compose, covers_since};
use crate::store::{NewMail, RunOutcome, RunStatus, Trigger, Unit};

/// What a summary run queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryQueued {
    pub run_id: i64,
    pub message_id: String,
    pub open_breaks: usize,
    /// False when a message for this fire time was queued before (nothing new queued).
    pub queued: bool,
}

/// Builds and queues the summary of `job` for the fire time `at`.
pub fn queue_summary(
    u: &mut dyn Unit,
    config: &Config,
    job: &Job,
    at: DateTime<Utc>,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<SummaryQueued, WorkError> {
    // What is due is escalated first, in this unit: the summary then marks it.
    crate::jobs::escalation::escalate(u, config, now, mail_domain(&config.mail.from))?;
    let since = covers_since(u.last_fired(&job.name)?, at);
    let run_id = u.start_run(&job.name, trigger, None, now)?;
    let fire = Fire {
        at,
        since,
        trigger,
        run_id,
        now,
    };
    let mail = compose(u, config, job, &fire, mail_domain(&config.mail.from))?;
    let queued = u.enqueue_mail(&NewMail {
        message_id: &mail.message_id,
        purpose: "summary",
        from: &config.mail.from,
        recipients: mail.recipients,
        subject: &mail.subject,
        raw: &mail.raw,
        at: now,
    })?;
    if trigger == Trigger::Schedule {
        u.set_last_fired(&job.name, at)?;
    }
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Ok),
            finished_at: Some(now),
            ..Default::default()
        },
    )?;
    Ok(SummaryQueued {
        run_id,
        message_id: mail.message_id,
        open_breaks: mail.open_breaks,
        queued,
    })
}
