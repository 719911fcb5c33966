//! Expected arrivals (`[[expect]]`): a deadline passed without what a job expects opens a
//! `file_missing` break; what arrives later closes it.
//!
//! **Invariant:** a slot (one expectation, one deadline) opens at most one break, whatever the
//! restarts: the break's subject is `expect|<what>|<deadline>`, and a subject once reported is
//! never reported again. The daemon decides when to look (`daemon/expect.rs`); this decides
//! what to write, in the caller's unit.

use chrono::{DateTime, Duration, Utc};

use super::WorkError;
use crate::config::expect::{Expect, Expected, normalized};
use crate::config::{Config, Job};
use crate::model::BreakReason;
use crate::store::{NewBreak, RunOutcome, RunStatus, Trigger, Unit};

/// A slot missed: the break opened for it and the words of its alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub break_id: i64,
    pub run_id: i64,
    pub text: String,
}

fn subject_prefix(e: &Expect) -> String {
    format!("expect|{}|", e.key())
}

/// Looks at one deadline of one expectation of `job`, and notes it as checked: when nothing
/// expected arrived after the previous deadline and by this one, opens a `file_missing` break
/// (unless this slot had one already) and says what to alert about.
pub fn check_deadline(
    u: &mut dyn Unit,
    config: &Config,
    job: &Job,
    e: &Expect,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Missing>, WorkError> {
    let key = e.key();
    u.set_last_deadline_checked(&job.name, &key, deadline)?;
    let subject = format!("{}{}", subject_prefix(e), deadline.to_rfc3339());
    if u.break_about(&job.name, &subject)? {
        return Ok(None);
    }
    let from = e.previous(deadline).unwrap_or(deadline - Duration::days(1));
    let came = match &e.what {
        Expected::Statement { account } => !u
            .statements_arrived(&normalized(account), from, deadline)?
            .is_empty(),
        Expected::File { .. } => u
            .files_arrived(&job.name, from, deadline)?
            .iter()
            .any(|(name, _)| e.file_matches(name)),
    };
    if came {
        return Ok(None);
    }
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&e.timezone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let detail = format!(
        "{} was expected by {} and did not arrive (nothing since {})",
        e.describe(),
        local(deadline),
        local(from)
    );
    let run_id = u.start_run(&job.name, Trigger::Schedule, None, now)?;
    let opened = u.open_break(&NewBreak {
        job: &job.name,
        run_id,
        reason: BreakReason::FileMissing,
        detail: &detail,
        amount: None,
        currency: None,
        difference: None,
        since: deadline
            .with_timezone(&config.settings.timezone)
            .date_naive(),
        owner: job.owner.as_deref(),
        record_id: None,
        source: None,
        at: now,
        subject: Some(&subject),
    })?;
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Ok),
            finished_at: Some(now),
            breaks_opened: u64::from(opened.is_some()),
            ..Default::default()
        },
    )?;
    let days = if e.every_day {
        "each day".to_string()
    } else {
        format!("each business day (calendar {})", e.calendar_name)
    };
    let file = job.file.file_name().map_or_else(
        || job.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(opened.map(|break_id| Missing {
        break_id,
        run_id,
        text: format!(
            "{detail}.\n\nJob {} ({file}) expects it by {} {days}. Exception {} is open for \
             it; clerk closes it when it arrives.",
            job.name,
            e.by.format("%H:%M:%S"),
            crate::model::break_label(break_id)
        ),
    }))
}

/// A file `job` has just read (in its unit of work, run `run_id`): for every expectation it
/// meets (a file of this job matching the pattern, or a statement of the account, expected by
/// any job), the oldest open `file_missing` break closes. Returns how many closed.
#[allow(clippy::too_many_arguments)]
pub fn arrived(
    u: &mut dyn Unit,
    config: &Config,
    job: &Job,
    file_id: i64,
    name: &str,
    arrived_at: DateTime<Utc>,
    run_id: i64,
    at: DateTime<Utc>,
) -> Result<u64, WorkError> {
    if config.jobs.iter().all(|j| j.expect.is_empty()) {
        return Ok(0);
    }
    let accounts = u.statement_accounts_of_file(file_id)?;
    let mut closed = 0;
    for j in &config.jobs {
        for e in &j.expect {
            let met = match &e.what {
                Expected::File { .. } => j.name == job.name && e.file_matches(name),
                Expected::Statement { account } => accounts.contains(&normalized(account)),
            };
            if !met {
                continue;
            }
            let prefix = subject_prefix(e);
            let Some((id, _)) = u
                .open_subjects(&j.name)?
                .into_iter()
                .find(|(_, s)| s.starts_with(&prefix))
            else {
                continue;
            };
            let resolution = format!(
                "arrived at {}: {name}",
                arrived_at
                    .with_timezone(&e.timezone)
                    .format("%Y-%m-%d %H:%M %Z")
            );
            if u.close_break(id, &resolution, run_id, at)? {
                closed += 1;
            }
        }
    }
    Ok(closed)
}
