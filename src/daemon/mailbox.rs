//! One mail through clerk. Each attachment a job takes is staged in the job's processing folder
//! and processed like a dropped file, in its own unit of work that also records the attachment
//! (mailbox, message, part). The message is recorded last, with the mailbox's cursor, and only
//! then moved or flagged in the mailbox. A crash anywhere repeats only what was not committed:
//! done attachments are skipped, a staged one is finished by start-up recovery, a recorded
//! message is just moved.

use chrono::{DateTime, Utc};

use super::pipeline::{self, FileOutcome};
use crate::config::{Config, Job, JobKind};
use crate::extract::Format;
use crate::ingest::mail::{Finish, MailAttachment, Mailbox, ParsedMail, parse_mail};
use crate::ingest::{self, Claimed};
use crate::model::{BreakReason, MailOrigin};
use crate::store::{self, NewBreak, NewMailMessage, Store, StoreError, Trigger, Unit};

/// What became of a message, for moving it in the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOutcome {
    pub finish: Finish,
    /// In words, for the log.
    pub summary: String,
    /// Attachments recorded in the store whose staged file could not be archived or moved to
    /// failed/ (a read-only or full disk), by job: the daemon tries the move again until it
    /// works, as for files from folders.
    pub unfinished: Vec<(String, Claimed, FileOutcome)>,
}

/// Handles one message of `mailbox`. `key` identifies it in the mailbox ("UIDVALIDITY/UID", or
/// a Maildir id); `cursor` is the (UIDVALIDITY, UID) to advance to for IMAP.
pub fn handle_message(
    config: &Config,
    store: &mut dyn Store,
    mailbox: &Mailbox,
    key: &str,
    cursor: Option<(u32, u32)>,
    raw: &[u8],
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<MailOutcome, StoreError> {
    let name = mailbox.name.as_str();
    if let Some(outcome) = store::in_read(store, |u| u.mail_message_outcome(name, key))? {
        // Done before a stop; only the move in the mailbox was left.
        return Ok(MailOutcome {
            finish: finish_of(&outcome),
            summary: format!("handled before ({outcome})"),
            unfinished: Vec::new(),
        });
    }
    let mail = match parse_mail(raw, &mailbox.limits) {
        Ok(m) => m,
        Err(e) => {
            let detail = format!("a message in mailbox {name} could not be read: {e}");
            return refuse(
                config,
                store,
                mailbox,
                key,
                cursor,
                None,
                BreakReason::Unreadable,
                &detail,
                now,
            );
        }
    };
    if let Some(id) = mail.message_id.as_deref()
        && store::in_read(store, |u| u.mail_message_id_handled(id))?
    {
        record_message(
            store,
            mailbox,
            key,
            cursor,
            &mail,
            "duplicate",
            0,
            Some("the same message (Message-ID) was handled before"),
            now,
        )?;
        return Ok(MailOutcome {
            finish: Finish::Processed,
            summary: format!("message {id} was handled before; nothing taken again"),
            unfinished: Vec::new(),
        });
    }

    let from = mail.from.clone().unwrap_or_default();
    let rules: Vec<&Job> = config
        .jobs
        .iter()
        .filter(|j| j.mail.as_ref().is_some_and(|r| r.mailbox() == name))
        .collect();
    let allowed: Vec<&Job> = rules
        .iter()
        .copied()
        .filter(|j| j.mail.as_ref().is_some_and(|r| r.sender_allowed(&from)))
        .collect();
    if allowed.is_empty() {
        let detail = format!(
            "mail from {} ({}) is from a sender no job takes mail from; moved to {}",
            if from.is_empty() {
                "an unknown sender"
            } else {
                &from
            },
            describe(&mail),
            mailbox.failed_folder
        );
        return refuse(
            config,
            store,
            mailbox,
            key,
            cursor,
            Some(&mail),
            BreakReason::UnknownSender,
            &detail,
            now,
        );
    }
    let takers: Vec<&Job> = allowed
        .into_iter()
        .filter(|j| {
            j.mail
                .as_ref()
                .is_some_and(|r| r.subject_matches(&mail.subject))
        })
        .collect();

    let mut problems: Vec<String> = mail
        .refused
        .iter()
        .map(|p| format!("{}: {}", p.name, p.why))
        .collect();
    let mut taken = 0u32;
    let mut failed = 0u32;
    let mut unfinished = Vec::new();
    for (part, att) in mail.attachments.iter().enumerate() {
        let Some(job) = choose_job(&takers, att) else {
            continue;
        };
        taken += 1;
        let origin = MailOrigin {
            mailbox: name.to_string(),
            key: key.to_string(),
            part: part as u32,
            name: att.name.clone(),
        };
        if store::in_read(store, |u| u.mail_attachment_done(name, key, part as u32))? {
            continue;
        }
        let dir = processing_dir(config, job);
        let claimed: Claimed =
            ingest::stage_attachment(&dir, &origin, &att.bytes).map_err(|e| {
                StoreError::Other(format!(
                    "cannot stage {} in {}: {e}",
                    att.name,
                    dir.display()
                ))
            })?;
        let outcome =
            pipeline::process_file(config, store, job, &claimed, Trigger::Mail, false, now)?;
        if matches!(outcome, FileOutcome::Failed { .. }) {
            failed += 1;
        }
        // Not moved (a read-only or full archive): it stays staged in processing and the
        // daemon tries again, as for a file from a folder.
        if !super::finish_file(config, &job.name, &claimed, &outcome) {
            unfinished.push((job.name.clone(), claimed, outcome));
        }
    }

    if taken == 0 {
        let names: Vec<&str> = mail.attachments.iter().map(|a| a.name.as_str()).collect();
        let detail = format!(
            "mail from {from} ({}) has no attachment for a job{}{}; moved to {}",
            describe(&mail),
            if names.is_empty() {
                String::new()
            } else {
                format!(" (attachments: {})", names.join(", "))
            },
            if problems.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", problems.join("; "))
            },
            mailbox.failed_folder
        );
        let reason = if problems.is_empty() {
            BreakReason::NoAttachment
        } else {
            BreakReason::Unreadable
        };
        return refuse(
            config,
            store,
            mailbox,
            key,
            cursor,
            Some(&mail),
            reason,
            &detail,
            now,
        );
    }
    if !problems.is_empty() {
        // Some parts were taken, others refused (a winmail.dat beside a statement): the mail
        // still goes to the failed folder, and the refused parts become a break.
        let detail = format!(
            "mail from {from} ({}): parts clerk cannot read: {}",
            describe(&mail),
            problems.join("; ")
        );
        open_mail_break(
            config,
            store,
            mailbox,
            BreakReason::Unreadable,
            &detail,
            now,
        )?;
        failed += 1;
    }
    let outcome = if failed > 0 { "failed" } else { "processed" };
    problems.truncate(5);
    record_message(
        store, mailbox, key, cursor, &mail, outcome, taken, None, now,
    )?;
    Ok(MailOutcome {
        finish: if failed > 0 {
            Finish::Failed
        } else {
            Finish::Processed
        },
        summary: format!(
            "mail from {from} ({}): {taken} attachment(s) taken, {failed} failed",
            describe(&mail)
        ),
        unfinished,
    })
}

/// A message clerk would not download (larger than the mailbox's limit): recorded and refused
/// without reading it.
pub fn refuse_unread(
    config: &Config,
    store: &mut dyn Store,
    mailbox: &Mailbox,
    key: &str,
    cursor: Option<(u32, u32)>,
    detail: &str,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<MailOutcome, StoreError> {
    if let Some(outcome) = store::in_read(store, |u| u.mail_message_outcome(&mailbox.name, key))? {
        return Ok(MailOutcome {
            finish: finish_of(&outcome),
            summary: format!("handled before ({outcome})"),
            unfinished: Vec::new(),
        });
    }
    refuse(
        config,
        store,
        mailbox,
        key,
        cursor,
        None,
        BreakReason::Unreadable,
        detail,
        now,
    )
}

/// The mailbox's own "job" name, for its breaks and alerts.
fn mailbox_job(mailbox: &Mailbox) -> String {
    format!("mailbox:{}", mailbox.name)
}

fn finish_of(outcome: &str) -> Finish {
    match outcome {
        "failed" | "refused" => Finish::Failed,
        _ => Finish::Processed,
    }
}

fn describe(m: &ParsedMail) -> String {
    format!(
        "subject \"{}\", sent {}",
        m.subject,
        m.date
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "at an unknown time".into())
    )
}

/// Which job takes an attachment: among those whose rule wants its name, the one whose kind
/// fits what the file is (an invoice to the invoice job, a statement to the bank job).
fn choose_job<'j>(takers: &[&'j Job], att: &MailAttachment) -> Option<&'j Job> {
    let wanting: Vec<&Job> = takers
        .iter()
        .copied()
        .filter(|j| {
            j.mail
                .as_ref()
                .is_some_and(|r| r.wants_attachment(&att.name))
        })
        .collect();
    if wanting.len() <= 1 {
        return wanting.into_iter().next();
    }
    let fits = |j: &Job, f: Format| match &j.kind {
        JobKind::CashReconciliation { .. } => f.is_tabular() || f.is_bank_statement(),
        JobKind::LedgerImport { .. } => f.is_tabular(),
        JobKind::CustodyImport { .. } => f.is_custody(),
        JobKind::InvoiceImport { .. } => f.is_invoice(),
        JobKind::PositionReconciliation { .. } => f.is_custody() || f.is_tabular(),
        JobKind::TradeSettlement { .. } => f.is_custody() || f.is_tabular(),
        JobKind::AccountsPayable { .. } => {
            f.is_invoice() || f.is_bank_statement() || f.is_tabular()
        }
        JobKind::Summary { .. } => false,
    };
    match crate::extract::recognise(&att.bytes) {
        Some(f) => wanting
            .iter()
            .copied()
            .find(|j| fits(j, f))
            .or(wanting.first().copied()),
        None => wanting.first().copied(),
    }
}

fn processing_dir(config: &Config, job: &Job) -> std::path::PathBuf {
    match &job.watch {
        Some(w) => w.processing_dir(),
        None => config.settings.state_dir.join("processing").join(&job.name),
    }
}

#[allow(clippy::too_many_arguments)]
fn record_message(
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
fn record_in(
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

/// A message no job takes: recorded with a break and an alert, in one transaction, then moved
/// to the failed folder.
#[allow(clippy::too_many_arguments)]
fn refuse(
    config: &Config,
    store: &mut dyn Store,
    mailbox: &Mailbox,
    key: &str,
    cursor: Option<(u32, u32)>,
    mail: Option<&ParsedMail>,
    reason: BreakReason,
    detail: &str,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<MailOutcome, StoreError> {
    let at = now();
    store::in_unit(store, |u| {
        record_in(
            u,
            mailbox,
            key,
            cursor,
            mail,
            "refused",
            0,
            Some(detail),
            at,
        )?;
        open_break_in(u, config, mailbox, reason, detail, at)
    })?;
    Ok(MailOutcome {
        finish: Finish::Failed,
        summary: detail.to_string(),
        unfinished: Vec::new(),
    })
}

fn open_mail_break(
    config: &Config,
    store: &mut dyn Store,
    mailbox: &Mailbox,
    reason: BreakReason,
    detail: &str,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = now();
    store::in_unit(store, |u| {
        open_break_in(u, config, mailbox, reason, detail, at)
    })
}

fn open_break_in(
    u: &mut dyn Unit,
    config: &Config,
    mailbox: &Mailbox,
    reason: BreakReason,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let job = mailbox_job(mailbox);
    let run_id = u.start_run(&job, Trigger::Mail, None, at)?;
    u.open_break(&NewBreak {
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
        subject: None,
    })?;
    pipeline::queue_alert(u, config, &job, Some(run_id), detail, at)?;
    u.finish_run(
        run_id,
        &store::RunOutcome {
            status: Some(store::RunStatus::Failed),
            finished_at: Some(at),
            error: Some(detail.to_string()),
            ..Default::default()
        },
    )
}
