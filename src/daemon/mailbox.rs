//! One mail through clerk. Each attachment a job takes is staged in the job's processing folder
//! and processed like a dropped file, in its own unit of work that also records the attachment
//! (mailbox, message, part). The message is recorded last, with the mailbox's cursor, and only
//! then moved or flagged in the mailbox. A crash anywhere repeats only what was not committed:
//! done attachments are skipped, a staged one is finished by start-up recovery, a recorded
//! message is just moved.
//!
//! **Who sent it.** A mail whose sender is ambiguous (two From headers, two addresses, an
//! address with two `@`) is refused before the jobs' `senders` are looked at; with
//! `authentication_results` set on the mailbox, so is one the mail server did not find
//! `dmarc=pass` for.
//!
//! **A Message-ID is a claim, not a proof.** A mail counts as seen before only when a mail
//! with its Message-ID was processed with the same attachments (by content); anything else
//! is handled as new (its attachments are recognised by content anyway), so a refused mail
//! cannot pre-empt a real one.
//!
//! **A refused mail can come back.** Moved back into the mailbox once the cause is fixed (the
//! sender allowed), it is looked at again like a new one. Refusing it again restates its break
//! rather than opening a second, so a crash between refusing and moving alerts nobody twice.
//!
//! **A mail is tried a bounded number of times.** Each try is counted in the store before it
//! starts; a try that panics, or that clerk dies in, stays counted. After [`MAX_MAIL_TRIES`]
//! the mail is set aside (refused, with a break and an alert) and the mailbox goes on.

use chrono::{DateTime, Utc};

use super::pipeline::{self, FileOutcome};
use crate::config::{Config, Job};
use crate::ingest::mail::{
    Finish, MAX_HEADER_CHARS, MailAttachment, Mailbox, ParsedMail, parse_mail,
};
use crate::ingest::{self, Claimed};
use crate::jobs::WorkError;
use crate::model::{BreakReason, MailOrigin};
use crate::store::{self, Store, Trigger};

mod record;
mod refusal;

use record::{Recorded, handled_before, processed_before, record_in, record_message};
use refusal::{nothing_taken, raise_break, refuse, set_aside, takers_of};

/// How often a mail is tried before it is set aside.
pub const MAX_MAIL_TRIES: u32 = 3;

/// Refused parts and attachment names listed in a break, at most; the rest are counted.
const LISTED: usize = 10;

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

/// A message of a mailbox as clerk handles it, from step to step: the configuration, the
/// mailbox, the message, the cursor to advance to, and the clock every step dates what it
/// records by.
pub struct MailWork<'a> {
    pub config: &'a Config,
    pub mailbox: &'a Mailbox,
    /// The message in the mailbox: "UIDVALIDITY/UID", or a Maildir id.
    pub key: &'a str,
    /// The (UIDVALIDITY, UID) the mailbox's cursor advances to, for IMAP.
    pub cursor: Option<(u32, u32)>,
    pub now: &'a dyn Fn() -> DateTime<Utc>,
}

/// Handles one message as the daemon's worker does: counts the try, sets the message aside
/// when it has been tried [`MAX_MAIL_TRIES`] times already, and otherwise reads it (`raw`) or
/// refuses it unread (`raw` is why it was not downloaded).
pub fn handle(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    raw: &Result<Vec<u8>, String>,
) -> Result<MailOutcome, WorkError> {
    let (name, key) = (m.mailbox.name.as_str(), m.key);
    if let Some(done) = handled_before(store, name, key)? {
        return Ok(done);
    }
    let tries = store::in_unit(store, |u| u.add_mail_try(name, key))?;
    if tries > MAX_MAIL_TRIES {
        let (_, last) = store::in_read(store, |u| u.mail_tries(name, key))?;
        let why = last.unwrap_or_else(|| "clerk stopped while on it".to_owned());
        return set_aside(store, m, raw, tries - 1, &why);
    }
    #[cfg(debug_assertions)]
    injected_fault(raw);
    let result = match raw {
        Ok(bytes) => handle_message(store, m, bytes),
        Err(why) => refuse_unread(store, m, why),
    };
    if let Err(e) = &result
        && e.is_transient()
    {
        // Not the message's doing: the store was busy or full. The try does not count.
        let _ = store::in_unit(store, |u| u.take_back_mail_try(name, key));
    }
    result
}

/// After a try that panicked: notes why, and sets the message aside when it has had its
/// tries. `None`: it stays in the mailbox for the next try.
pub fn after_panic(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    raw: &Result<Vec<u8>, String>,
    why: &str,
) -> Result<Option<MailOutcome>, WorkError> {
    let (name, key) = (m.mailbox.name.as_str(), m.key);
    let why = crate::ingest::mail::cut(why, 500);
    store::in_unit(store, |u| u.note_mail_try_error(name, key, &why))?;
    let (tries, _) = store::in_read(store, |u| u.mail_tries(name, key))?;
    if tries < MAX_MAIL_TRIES {
        return Ok(None);
    }
    set_aside(store, m, raw, tries, &why).map(Some)
}

/// Test hook, debug builds only: with `CLERK_TEST_FAULT_MAIL=panic:TEXT` (or `abort:TEXT`) a
/// message holding TEXT panics (or kills the process) while being handled. It stands in for a
/// mail that crashes clerk, which no real mail does once such a bug is fixed
/// (`tests/it/mailintake.rs`).
#[cfg(debug_assertions)]
fn injected_fault(raw: &Result<Vec<u8>, String>) {
    let Ok(spec) = std::env::var("CLERK_TEST_FAULT_MAIL") else {
        return;
    };
    let (Some((how, text)), Ok(raw)) = (spec.split_once(':'), raw) else {
        return;
    };
    if text.is_empty() || memchr::memmem::find(raw, text.as_bytes()).is_none() {
        return;
    }
    match how {
        "panic" => panic!("injected fault: {text}"),
        "abort" => std::process::abort(),
        _ => {}
    }
}

/// Handles one message (see [`handle`]): reads it, checks who sent it, takes each
/// attachment a job wants, then records the message.
pub fn handle_message(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    raw: &[u8],
) -> Result<MailOutcome, WorkError> {
    let (config, mailbox) = (m.config, m.mailbox);
    let name = mailbox.name.as_str();
    if let Some(done) = handled_before(store, name, m.key)? {
        return Ok(done);
    }
    let refuse_as = |store: &mut dyn Store, mail: Option<&ParsedMail>, reason, detail: &str| {
        refuse(store, m, mail, reason, detail)
    };
    let mail = match parse_mail(raw, &mailbox.limits) {
        Ok(m) => m,
        Err(e) => {
            let detail = format!("a message in mailbox {name} could not be read: {e}");
            return refuse_as(store, None, BreakReason::Unreadable, &detail);
        }
    };
    let takers = match takers_of(config, mailbox, &mail) {
        Ok(takers) => takers,
        Err(detail) => {
            return refuse_as(store, Some(&mail), BreakReason::UnknownSender, &detail);
        }
    };
    let routed: Vec<(u32, &MailAttachment, &Job)> = mail
        .attachments
        .iter()
        .enumerate()
        .filter_map(|(part, att)| choose_job(&takers, att).map(|job| (part as u32, att, job)))
        .collect();
    if let Some(done) = processed_before(store, m, &mail, &routed)? {
        return Ok(done);
    }

    let mut problems: Vec<String> = mail
        .refused
        .iter()
        .map(|p| format!("{}: {}", p.name, p.why))
        .collect();
    let taken = routed.len() as u32;
    if taken == 0 {
        let (reason, detail) = nothing_taken(&mail, &problems, &mailbox.failed_folder);
        return refuse_as(store, Some(&mail), reason, &detail);
    }
    let (mut failed, unfinished) = take_attachments(store, m, &mail, &routed)?;
    if !problems.is_empty() {
        break_for_refused_parts(store, m, &mail, &problems)?;
        failed += 1;
    }
    let outcome = if failed > 0 { "failed" } else { "processed" };
    problems.truncate(LISTED);
    let recorded = Recorded {
        outcome,
        attachments: taken,
        detail: None,
    };
    record_message(store, m, &mail, &recorded)?;
    Ok(MailOutcome {
        finish: if failed > 0 {
            Finish::Failed
        } else {
            Finish::Processed
        },
        summary: format!(
            "{}: {taken} attachment(s) taken, {failed} failed",
            about(&mail)
        ),
        unfinished,
    })
}

/// Some parts were taken, others refused (a winmail.dat beside a statement): the mail still
/// goes to the failed folder, and the refused parts become a break.
fn break_for_refused_parts(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    mail: &ParsedMail,
    problems: &[String],
) -> Result<(), WorkError> {
    let detail = format!(
        "{}: parts clerk cannot read: {}",
        about(mail),
        listed(problems, "; ")
    );
    let at = (m.now)();
    store::in_unit_as(store, |u| {
        raise_break(u, m, BreakReason::Unreadable, &detail, at)
    })
}

/// Stages and processes each routed attachment not done before, each in its own unit of work;
/// returns how many failed and those whose staged file could not be moved yet.
#[allow(clippy::type_complexity)]
fn take_attachments(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    mail: &ParsedMail,
    routed: &[(u32, &MailAttachment, &Job)],
) -> Result<(u32, Vec<(String, Claimed, FileOutcome)>), WorkError> {
    let (config, key) = (m.config, m.key);
    let name = m.mailbox.name.as_str();
    let mut failed = 0u32;
    let mut unfinished = Vec::new();
    for &(part, att, job) in routed {
        let origin = MailOrigin {
            mailbox: name.to_string(),
            key: key.to_string(),
            part,
            name: att.name.clone(),
            about: about(mail),
        };
        if store::in_read(store, |u| u.mail_attachment_done(name, key, part))? {
            continue;
        }
        let dir = processing_dir(config, job);
        let claimed: Claimed =
            ingest::stage_attachment(&dir, &origin, &att.bytes).map_err(|e| {
                WorkError::NotStaged {
                    attachment: att.name.clone(),
                    mail: about(mail),
                    folder: dir.clone(),
                    message: e.to_string(),
                }
            })?;
        let outcome =
            pipeline::process_file(config, store, job, &claimed, Trigger::Mail, false, m.now)?;
        if matches!(outcome, FileOutcome::Failed { .. }) {
            failed += 1;
        }
        if let FileOutcome::Processed { replaced: 1.., .. } = &outcome {
            super::put_away_replaced(
                &config.settings.failed_dir,
                store,
                &job.name,
                Some(&claimed.name),
            );
        }
        // Not moved (a read-only or full archive): it stays staged in processing and the
        // daemon tries again, as for a file from a folder.
        if !super::finish_file(config, &job.name, &claimed, &outcome) {
            unfinished.push((job.name.clone(), claimed, outcome));
        }
    }
    Ok((failed, unfinished))
}

/// A message clerk would not read (larger than the mailbox's limit, a file name that is not
/// UTF-8): recorded and refused without reading it.
pub fn refuse_unread(
    store: &mut dyn Store,
    m: &MailWork<'_>,
    detail: &str,
) -> Result<MailOutcome, WorkError> {
    if let Some(done) = handled_before(store, &m.mailbox.name, m.key)? {
        return Ok(done);
    }
    refuse(store, m, None, BreakReason::Unreadable, detail)
}

/// The mail as people know it: `mail from ops@bank.example, subject "May", sent 2026-05-31
/// 07:00 UTC`. Every part is cut to a sane length where the mail is read.
fn about(m: &ParsedMail) -> String {
    let sender = match (&m.from, m.from_header.is_empty()) {
        (Some(a), _) => a.clone(),
        (None, false) => format!("\"{}\"", m.from_header),
        (None, true) => "an unknown sender".to_owned(),
    };
    format!(
        "mail from {sender}, subject \"{}\", sent {}",
        m.subject,
        m.date
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "at an unknown time".into())
    )
}

/// The first [`LISTED`] items joined, and how many more there are.
fn listed(items: &[String], sep: &str) -> String {
    let shown = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    let shown = crate::ingest::mail::cut(&shown, LISTED * MAX_HEADER_CHARS);
    match items.len().saturating_sub(LISTED) {
        0 => shown,
        more => format!("{shown}{sep}and {more} more"),
    }
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
    match crate::extract::recognise(&att.bytes) {
        Some(f) => wanting
            .iter()
            .copied()
            .find(|j| crate::jobs::room(&j.kind).fits(f))
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
