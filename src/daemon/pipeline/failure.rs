//! A file that could not be read: recorded with its failed run, its break and an alert; the
//! alert mail queued; what `.error.txt` says about a refused file.

use chrono::{DateTime, Utc};

use super::{FileOutcome, FileWork};
use crate::config::{Config, Job};
use crate::extract;
use crate::ingest::Claimed;
use crate::jobs::WorkError;
use crate::model::BreakReason;
use crate::notify;
use crate::store::{
    self, FileStatus, NewBreak, NewFile, NewMail, RunOutcome, RunStatus, Store, Trigger, Unit,
};

/// Records a file that could not be read: the file row, a failed run, an `unreadable` break,
/// and an alert to the people named in `mail.alerts_to`, all in one transaction. `sha` and
/// `size` are the file's as read (empty and 0 when it was not).
pub fn record_failure(
    store: &mut dyn Store,
    work: &FileWork<'_>,
    sha: &str,
    size: u64,
    message: &str,
) -> Result<FileOutcome, WorkError> {
    let FileWork {
        config,
        job,
        claimed,
        trigger,
        now,
    } = *work;
    // A mailed file's break and alert say which mail it came with.
    let message = match &claimed.origin {
        Some(o) => format!("{message} (attachment of {})", o.describe()),
        None => message.to_string(),
    };
    store::in_unit_as(store, |u| {
        let failed = FailedFile {
            job,
            claimed,
            sha,
            size,
            message: &message,
            reason: BreakReason::Unreadable,
            trigger,
            records_attachment: true,
        };
        let run_id = record_failed_file(u, config, &failed, now())?;
        Ok(FileOutcome::Failed {
            run_id,
            message: message.clone(),
        })
    })
}

/// A file set aside to failed/, as the store records it.
pub(in crate::daemon) struct FailedFile<'a> {
    pub job: &'a Job,
    pub claimed: &'a Claimed,
    pub sha: &'a str,
    pub size: u64,
    /// What went wrong, as the break, the alert and the run's error say it.
    pub message: &'a str,
    pub reason: BreakReason,
    pub trigger: Trigger,
    /// Whether the mail attachment the file came as (if any) is recorded with it: not when
    /// an earlier unit of the same file did so already.
    pub records_attachment: bool,
}

/// Records `f` in the caller's transaction: the file row (and the mail attachment it came as),
/// a failed run, a break with `f.reason`, an alert. Returns the run.
pub(in crate::daemon) fn record_failed_file(
    u: &mut dyn Unit,
    config: &Config,
    f: &FailedFile<'_>,
    at: DateTime<Utc>,
) -> Result<i64, WorkError> {
    let job = f.job;
    let file_id = u.add_file(&NewFile {
        job: &job.name,
        sha256: f.sha,
        name: &f.claimed.name,
        size: f.size,
        arrived_at: f.claimed.arrived_at,
        status: FileStatus::Failed,
        error: Some(f.message),
        duplicate_of: None,
    })?;
    if let Some(o) = f.claimed.origin.as_ref().filter(|_| f.records_attachment) {
        u.add_mail_attachment(o, f.sha, &job.name, Some(file_id))?;
    }
    let run_id = u.start_run(&job.name, f.trigger, Some(file_id), at)?;
    tracing::Span::current().record("run", run_id);
    let detail = format!("moved to failed/{}: {}", job.name, f.message);
    let break_id = u.open_break(&NewBreak {
        job: &job.name,
        run_id,
        reason: f.reason,
        detail: &detail,
        amount: None,
        currency: None,
        difference: None,
        since: at.with_timezone(&config.settings.timezone).date_naive(),
        owner: job.owner.as_deref(),
        record_id: None,
        source: Some(&f.claimed.name),
        at,
        subject: None,
    })?;
    let mut links = alert_links(config, &job.name);
    if let Some(l) = config
        .http
        .public_url
        .as_deref()
        .map(notify::summary::Links::new)
    {
        links.file = Some(l.file(file_id));
        links.exception = break_id.map(|id| l.exception(id));
    }
    queue_alert_linked(u, config, &job.name, Some(run_id), f.message, at, &links)?;
    u.finish_run(
        run_id,
        &RunOutcome {
            status: Some(RunStatus::Failed),
            finished_at: Some(at),
            // The file's break is not a record decided on: it shows as a failed file and
            // stays out of the STP and error rates.
            error: Some(f.message.to_string()),
            ..Default::default()
        },
    )?;
    Ok(run_id)
}

/// Queues an alert for `mail.alerts_to` in the caller's transaction. Nobody to alert: the log
/// and the next summary carry it.
pub fn queue_alert(
    u: &mut dyn Unit,
    config: &Config,
    job: &str,
    run_id: Option<i64>,
    what: &str,
    at: DateTime<Utc>,
) -> Result<(), WorkError> {
    let links = alert_links(config, job);
    queue_alert_linked(u, config, job, run_id, what, at, &links)
}

/// The console's page of `job` for an alert, when `[http] public_url` is set and `job` is one
/// of the configuration's jobs (not `clerk-config` or `clerk-store`).
pub fn alert_links(config: &Config, job: &str) -> notify::summary::AlertLinks {
    let console = config
        .http
        .public_url
        .as_deref()
        .map(notify::summary::Links::new);
    notify::summary::AlertLinks {
        job: console
            .filter(|_| config.job(job).is_some())
            .map(|l| l.job(job)),
        ..Default::default()
    }
}

/// [`queue_alert`] linking the console's pages in `links` (its job, file, break).
pub fn queue_alert_linked(
    u: &mut dyn Unit,
    config: &Config,
    job: &str,
    run_id: Option<i64>,
    what: &str,
    at: DateTime<Utc>,
    links: &notify::summary::AlertLinks,
) -> Result<(), WorkError> {
    if config.mail.alerts_to.is_empty() {
        return Ok(());
    }
    let rendered = notify::summary::render_alert_linked(
        job,
        run_id,
        what,
        at,
        config.settings.timezone,
        links,
    );
    // Job names may hold characters a Message-ID may not (`mailbox:name`).
    let job_part: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let message_id = format!(
        "<alert.{job_part}.{}.{}@{}>",
        run_id.map_or_else(|| "none".to_string(), |r| r.to_string()),
        at.format("%Y%m%dT%H%M%S%.3f"),
        mail_domain(&config.mail.from)
    );
    let raw = notify::build_message(
        &config.mail.from,
        &config.mail.alerts_to,
        &rendered,
        &message_id,
        at,
    )
    .map_err(|e| WorkError::MailNotBuilt {
        mail: "alert",
        message: e.to_string(),
    })?;
    u.enqueue_mail(&NewMail {
        message_id: &message_id,
        purpose: "alert",
        from: &config.mail.from,
        recipients: &config.mail.alerts_to,
        subject: &rendered.subject,
        raw: &raw,
        at,
    })?;
    Ok(())
}

/// The domain part of the sender address, for Message-IDs.
pub fn mail_domain(from: &str) -> &str {
    from.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .filter(|d| !d.is_empty())
        .unwrap_or("clerk.localhost")
}

/// What `failed/<name>.error.txt` says about a file the reader refused: its problems and,
/// when no header with the job's columns was found, which file to edit.
pub(super) fn refusal_text(job: &Job, e: &extract::ExtractError) -> String {
    let mut text = e.to_string();
    if e.header_not_found() {
        text.push_str(&format!(
            "\nThe columns are named in {} under [extract.columns]: edit them to the headers the \
             file has (or [extract] header_row to the row that holds them), or ask the sender \
             for the layout agreed.",
            job.file.display()
        ));
    }
    text
}
