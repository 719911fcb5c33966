//! Why a mail is refused, and refusing it: the checks on who sent it, a mail with nothing
//! for a job, a mail set aside after its tries; each refusal is recorded with the message and
//! opens (or restates) the message's one break, with an alert.

use chrono::{DateTime, Utc};

use super::{MailOutcome, MailWork, Recorded, about, listed, record_in};
use crate::config::{Config, Job};
use crate::daemon::pipeline;
use crate::ingest::mail::{Finish, Mailbox, ParsedMail, read_headers};
use crate::jobs::WorkError;
use crate::model::BreakReason;
use crate::store::{self, NewBreak, Store, Trigger, Unit};

/// The jobs that take mail from this sender with this subject, or why the mail is refused
/// for who sent it: an ambiguous sender, one no job takes mail from, or (with
/// `authentication_results` set) one the mail server did not find `dmarc=pass` for.
pub(super) fn takers_of<'c>(
    config: &'c Config,
    mailbox: &Mailbox,
    mail: &ParsedMail,
) -> Result<Vec<&'c Job>, String> {
    let name = mailbox.name.as_str();
    let failed_folder = &mailbox.failed_folder;
    if let Some(problem) = &mail.from_problem {
        return Err(format!(
            "{} is refused: {problem}; a forged sender can pass for an allowed one this way. \
             Moved to {failed_folder}",
            about(mail)
        ));
    }
    let from = mail.from.clone().unwrap_or_default();
    let allowed: Vec<&Job> = config
        .jobs
        .iter()
        .filter(|j| j.mail.as_ref().is_some_and(|r| r.mailbox() == name))
        .filter(|j| j.mail.as_ref().is_some_and(|r| r.sender_allowed(&from)))
        .collect();
    if allowed.is_empty() {
        return Err(format!(
            "{} is from a sender no job takes mail from; moved to {failed_folder}",
            about(mail)
        ));
    }
    if let Some(server) = &mailbox.authentication_results
        && let Err(why) = mail.dmarc_verified(server)
    {
        return Err(format!(
            "{} is not verified by the mail server: {why}. With authentication_results = \
             \"{server}\" only mail that {server} found dmarc=pass for the From domain is \
             taken; moved to {failed_folder}",
            about(mail)
        ));
    }
    Ok(allowed
        .into_iter()
        .filter(|j| {
            j.mail
                .as_ref()
                .is_some_and(|r| r.subject_matches(&mail.subject))
        })
        .collect())
}

/// Why a mail with no attachment for a job is refused: its attachments and refused parts.
pub(super) fn nothing_taken(
    mail: &ParsedMail,
    problems: &[String],
    failed_folder: &str,
) -> (BreakReason, String) {
    let names: Vec<String> = mail.attachments.iter().map(|a| a.name.clone()).collect();
    let detail = format!(
        "{} has no attachment for a job{}{}; moved to {failed_folder}",
        about(mail),
        if names.is_empty() {
            String::new()
        } else {
            format!(" (attachments: {})", listed(&names, ", "))
        },
        if problems.is_empty() {
            String::new()
        } else {
            format!("; refused: {}", listed(problems, "; "))
        },
    );
    let reason = if problems.is_empty() {
        BreakReason::NoAttachment
    } else {
        BreakReason::Unreadable
    };
    (reason, detail)
}

/// A message tried `tries` times without an end: refused with a break naming it as far as its
/// headers alone tell (reading it whole is what failed).
pub(super) fn set_aside(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    raw: &Result<Vec<u8>, String>,
    tries: u32,
    why: &str,
) -> Result<MailOutcome, WorkError> {
    let (mailbox, key) = (m.mailbox, m.key);
    let headers = raw
        .as_ref()
        .ok()
        .and_then(|r| read_headers(r.get(..r.len().min(1 << 20)).unwrap_or(r)));
    let what = headers
        .as_ref()
        .map(about)
        .unwrap_or_else(|| format!("message {key}"));
    let detail = format!(
        "clerk tried {tries} times to handle {what} in mailbox {} and could not (last: {why}); \
         set aside in {} so that the mail behind it is taken. Move it back into the mailbox \
         once the cause is fixed to have it read again",
        mailbox.name, mailbox.failed_folder
    );
    refuse(store, m, headers.as_ref(), BreakReason::Unreadable, &detail)
}

/// A message no job takes: recorded with a break and an alert, in one transaction, then moved
/// to the failed folder.
pub(super) fn refuse(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    mail: Option<&ParsedMail>,
    reason: BreakReason,
    detail: &str,
) -> Result<MailOutcome, WorkError> {
    let at = (m.now)();
    let recorded = Recorded {
        outcome: "refused",
        attachments: 0,
        detail: Some(detail),
    };
    store::in_unit_as(store, |u| {
        record_in(u, m, mail, &recorded, at)?;
        raise_break(u, m, reason, detail, at)
    })?;
    Ok(MailOutcome {
        finish: Finish::Failed,
        summary: detail.to_string(),
        unfinished: Vec::new(),
    })
}

/// Opens the break about message `key` of the mailbox, with an alert; the message's break
/// already open is restated instead (and alerts again only if what it says changed): a
/// message refused, moved back and refused again, or handled again after a crash, has one
/// break.
pub(super) fn raise_break(
    u: &mut dyn Unit,
    m: &MailWork<'_>,
    reason: BreakReason,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), WorkError> {
    let (config, mailbox, key) = (m.config, m.mailbox, m.key);
    let job = mailbox_job(mailbox);
    let subject = format!("mail|{}|{key}", mailbox.name);
    let run_id = u.start_run(&job, Trigger::Mail, None, at)?;
    let open = u
        .open_subjects(&job)?
        .into_iter()
        .find(|(_, s)| *s == subject);
    let (news, break_id) = match open {
        Some((id, _)) => (u.update_break(id, reason, detail, None, at)?, Some(id)),
        None => {
            let id = u.open_break(&NewBreak {
                job: &job,
                run_id,
                reason,
                detail,
                amount: None,
                currency: None,
                difference: None,
                since: at.with_timezone(&config.settings.timezone).date_naive(),
                owner: None,
                record_id: None,
                source: Some(&format!("mailbox {}", mailbox.name)),
                at,
                subject: Some(&subject),
            })?;
            (id.is_some(), id)
        }
    };
    if news {
        let mut links = pipeline::alert_links(config, &job);
        if let Some(l) = config
            .http
            .public_url
            .as_deref()
            .map(crate::notify::summary::Links::new)
        {
            links.exception = break_id.map(|id| l.exception(id));
        }
        pipeline::queue_alert_linked(u, config, &job, Some(run_id), detail, at, &links)?;
    }
    u.finish_run(
        run_id,
        &store::RunOutcome {
            status: Some(store::RunStatus::Failed),
            finished_at: Some(at),
            error: Some(detail.to_string()),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// The mailbox's own "job" name, for its breaks and alerts.
pub(super) fn mailbox_job(mailbox: &Mailbox) -> String {
    format!("mailbox:{}", mailbox.name)
}
