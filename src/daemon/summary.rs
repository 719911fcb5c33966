//! The exception summary: gathered from the store, rendered by `notify`, queued in the outbox,
//! and the schedule's "last fired" advanced — all in one transaction, so a summary is queued
//! exactly once per fire time whatever crashes around it.

use chrono::{DateTime, Duration, Utc};

use super::pipeline::mail_domain;
use crate::config::{Config, Job, JobKind};
use crate::notify::{self, BreakLine, JobDigest, SummaryInput};
use crate::store::{
    BreakCounting, BreakFilter, NewMail, RunOutcome, RunStatus, StatusFilter, StoreError, Trigger,
    Unit,
};

/// Which breaks the KPIs count at `now`: those open at least their job's grace period.
pub fn break_counting(config: &Config, now: DateTime<Utc>) -> BreakCounting {
    BreakCounting {
        now,
        grace: config
            .jobs
            .iter()
            .map(|j| (j.name.clone(), j.break_grace()))
            .collect(),
    }
}

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
) -> Result<SummaryQueued, StoreError> {
    let JobKind::Summary {
        to,
        oldest,
        largest,
        rates,
        calendar,
    } = &job.kind
    else {
        return Err(StoreError::Other(format!(
            "job {} is not a summary job",
            job.name
        )));
    };
    let tz = config.settings.timezone;
    let since = u
        .last_fired(&job.name)?
        .filter(|&t| t < at)
        .unwrap_or(at - Duration::hours(24));
    let run_id = u.start_run(&job.name, trigger, None, now)?;

    let business_date = at.with_timezone(&tz).date_naive();
    let breaks = u.breaks(&BreakFilter {
        status: StatusFilter::Unresolved,
        ..Default::default()
    })?;
    let mut lines = Vec::with_capacity(breaks.len());
    for brk in breaks {
        let age_days = calendar
            .business_days_between(brk.since, business_date)
            .max(0);
        // The record's reference and counterparty go into the attachment: what people search
        // the books and the bank portal by.
        let record = match brk.record_id {
            Some(id) => u.record_by_id(id)?.map(|(_, r, _)| r.record),
            None => None,
        };
        let mut line = BreakLine::new(brk, age_days);
        if let Some(r) = record {
            line.reference = r.reference;
            line.counterparty = r.counterparty;
        }
        lines.push(line);
    }
    let breaks = lines;
    let activity = u.activity_since(since, &break_counting(config, now))?;
    let jobs: Vec<JobDigest> = config
        .jobs
        .iter()
        .filter(|j| !matches!(j.kind, JobKind::Summary { .. }))
        .map(|j| {
            let a = activity
                .iter()
                .find(|a| a.job == j.name)
                .cloned()
                .unwrap_or_default();
            JobDigest {
                job: j.name.clone(),
                files_processed: a.files_processed,
                files_failed: a.files_failed,
                files_duplicate: a.files_duplicate,
                records: a.records,
                auto_matched: a.matched,
                breaks_opened: a.breaks_opened,
                breaks_closed: a.breaks_closed,
                processing_time: std::time::Duration::from_millis(a.processing_ms),
                runs: a.runs,
                arrival_to_posting: a
                    .arrival_to_done_avg_ms
                    .map(std::time::Duration::from_millis),
                costs: config.costs.as_ref().map(|m| m.costs(a.workload())),
                records_changed: a.records_changed,
                records_withdrawn: a.records_withdrawn,
            }
        })
        .collect();
    let open_breaks = breaks.len();
    let input = SummaryInput {
        business_date,
        generated_at: now,
        timezone: tz,
        jobs,
        breaks,
        largest: *largest,
        rates: rates.clone(),
    };
    let rendered = notify::render_summary(&input, *oldest);
    let message_id = match trigger {
        // One message per fire time: a re-run of the same fire is recognisably the same mail.
        Trigger::Schedule => format!(
            "<summary.{}.{}@{}>",
            job.name,
            at.format("%Y%m%dT%H%M"),
            mail_domain(&config.mail.from)
        ),
        _ => format!(
            "<summary.{}.run{run_id}.{}@{}>",
            job.name,
            at.format("%Y%m%dT%H%M%S"),
            mail_domain(&config.mail.from)
        ),
    };
    let raw = notify::build_message(&config.mail.from, to, &rendered, &message_id, now)
        .map_err(|e| StoreError::Other(format!("cannot build the summary mail: {e}")))?;
    let queued = u.enqueue_mail(&NewMail {
        message_id: &message_id,
        purpose: "summary",
        from: &config.mail.from,
        recipients: to,
        subject: &rendered.subject,
        raw: &raw,
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
        message_id,
        open_breaks,
        queued,
    })
}
