//! Escalation: a break left open longer than its job's `[escalation]` allows (in business days
//! of the job's calendar, per reason) is mailed once to the job's escalation addresses, and
//! marked in the summary and the console.
//!
//! **Invariant:** a break is mailed at most once: its escalation time is written in the unit
//! that queues the mail (`store::escalations`), so neither a restart nor a second check mails
//! it again. Whether a break *is* escalated is a pure function of the break, the job's
//! settings and the day ([`is_escalated`]), so every page and mail agrees.

use chrono::{DateTime, NaiveDate, Utc};

use super::WorkError;
use crate::config::{Config, Job};
use crate::model::{Break, BreakStatus};
use crate::notify::{self, BreakLine};
use crate::schedule::Calendar;
use crate::store::{BreakFilter, NewMail, StatusFilter, Unit};

/// The calendar a job's breaks age by (the one `clerk exceptions` counts with).
pub fn calendar_of<'c>(config: &'c Config, job: &Job) -> &'c Calendar {
    config
        .job(&job.name)
        .and_then(super::ageing_calendar)
        .unwrap_or_else(|| config.default_calendar())
}

/// Whether `brk`, unresolved, has been open more business days on `today` than its job's
/// `[escalation]` allows for its reason. For the console's mark and the summary's section.
pub fn is_escalated(config: &Config, brk: &Break, today: NaiveDate) -> bool {
    let Some(job) = config.job(&brk.job) else {
        return false;
    };
    let Some(limit) = job.escalation.as_ref().and_then(|e| e.limit(brk.reason)) else {
        return false;
    };
    brk.status != BreakStatus::Resolved
        && calendar_of(config, job).business_days_between(brk.since, today) > i64::from(limit)
}

/// What one check escalated: per job, the breaks mailed and the mail's Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalated {
    pub job: String,
    pub breaks: Vec<i64>,
    pub message_id: String,
}

/// Escalates, in the caller's unit, every unresolved break past its job's limit on the day of
/// `now` that was not escalated before: marks it and queues one mail per job to its `to`.
/// `domain` names the messages (`<escalation.…@domain>`).
pub fn escalate(
    u: &mut dyn Unit,
    config: &Config,
    now: DateTime<Utc>,
    domain: &str,
) -> Result<Vec<Escalated>, WorkError> {
    let tz = config.settings.timezone;
    let today = now.with_timezone(&tz).date_naive();
    let links = config
        .http
        .public_url
        .as_deref()
        .map(notify::summary::Links::new);
    let mut out = Vec::new();
    for job in config.jobs.iter().filter(|j| j.escalation.is_some()) {
        let escalation = job.escalation.as_ref().expect("filtered above");
        let done = u.escalated_breaks(&job.name)?;
        let calendar = calendar_of(config, job);
        let mut due: Vec<BreakLine> = u
            .breaks(&BreakFilter {
                job: Some(&job.name),
                status: StatusFilter::Unresolved,
                ..Default::default()
            })?
            .into_iter()
            .filter(|b| !done.contains_key(&b.id) && is_escalated(config, b, today))
            .map(|b| {
                let age = calendar.business_days_between(b.since, today).max(0);
                let mut line = BreakLine::new(b, age);
                line.escalated = true;
                line
            })
            .collect();
        if due.is_empty() {
            continue;
        }
        due.sort_by_key(|b| (std::cmp::Reverse(b.age_days), b.brk.id));
        let ids: Vec<i64> = due.iter().map(|b| b.brk.id).collect();
        let marked = u.mark_escalated(&ids, now)?;
        due.retain(|b| marked.contains(&b.brk.id));
        if due.is_empty() {
            continue;
        }
        let rendered = notify::summary::render_escalation(&job.name, &due, links.as_ref(), now, tz);
        let job_part: String = job
            .name
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
            "<escalation.{job_part}.{}.{}@{domain}>",
            due[0].brk.id,
            now.format("%Y%m%dT%H%M%S%.3f")
        );
        let raw = notify::build_message(
            &config.mail.from,
            &escalation.to,
            &rendered,
            &message_id,
            now,
        )
        .map_err(|e| WorkError::MailNotBuilt {
            mail: "escalation",
            message: e.to_string(),
        })?;
        u.enqueue_mail(&NewMail {
            message_id: &message_id,
            purpose: "escalation",
            from: &config.mail.from,
            recipients: &escalation.to,
            subject: &rendered.subject,
            raw: &raw,
            at: now,
        })?;
        out.push(Escalated {
            job: job.name.clone(),
            breaks: due.iter().map(|b| b.brk.id).collect(),
            message_id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::ConfigErrors;
    use crate::model::BreakReason;

    /// An install with the shipped bank reconciliation, `escalation` appended to its job file.
    fn load_with(escalation: &str) -> Result<Config, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(
            root.join("config/clerk.toml"),
            "[daemon]\njobs = \"jobs\"\nstate = \"var\"\n\
             [calendars.default]\nweekend = [\"Sat\", \"Sun\"]\nholidays = [\"2026-12-25\"]\n\
             [mailboxes.back-office]\nkind = \"maildir\"\npath = \"var/mail\"\n",
        )
        .unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
        for job in ["bank-reconciliation", "ledger-import"] {
            let text = std::fs::read_to_string(shipped.join(format!("{job}.toml"))).unwrap();
            let extra = if job == "bank-reconciliation" {
                escalation
            } else {
                ""
            };
            std::fs::write(
                root.join(format!("jobs/{job}.toml")),
                format!("{text}\n{extra}"),
            )
            .unwrap();
        }
        crate::config::load(&root.join("config/clerk.toml"))
    }

    fn open_break(reason: BreakReason, since: &str) -> Break {
        Break {
            id: 1,
            job: "bank-reconciliation".into(),
            reason,
            status: BreakStatus::Open,
            detail: String::new(),
            amount: None,
            currency: None,
            difference: None,
            since: since.parse().unwrap(),
            owner: None,
            opened_at: Utc::now(),
            closed_at: None,
            resolution: None,
            record_id: None,
            source: None,
        }
    }

    #[test]
    fn a_break_escalates_after_its_reasons_business_days_on_the_jobs_calendar() {
        let c = load_with(
            "[escalation]\nafter_business_days = 5\nreasons = { missing_in_ledger = 2 }\n\
             to = [\"lead@example.com\"]\n",
        )
        .unwrap();
        let e = c
            .job("bank-reconciliation")
            .unwrap()
            .escalation
            .clone()
            .unwrap();
        assert_eq!(e.limit(BreakReason::MissingInLedger), Some(2));
        assert_eq!(e.limit(BreakReason::Unbalanced), Some(5));
        assert_eq!(e.to, ["lead@example.com"]);
        // Since Wednesday 23 December: Thu 24 is 1, Mon 28 is 2 (the 25th is a holiday and
        // the weekend does not count), Tue 29 is 3: more than 2.
        let brk = open_break(BreakReason::MissingInLedger, "2026-12-23");
        let on = |d: &str| is_escalated(&c, &brk, d.parse().unwrap());
        assert!(!on("2026-12-28"));
        assert!(on("2026-12-29"));
        // Other reasons wait five business days.
        let other = open_break(BreakReason::Unbalanced, "2026-12-23");
        assert!(!is_escalated(&c, &other, "2026-12-31".parse().unwrap()));
        assert!(is_escalated(&c, &other, "2027-01-04".parse().unwrap()));
        // A resolved break, or one of a job without [escalation], never escalates.
        let mut resolved = brk.clone();
        resolved.status = BreakStatus::Resolved;
        assert!(!is_escalated(&c, &resolved, "2027-06-01".parse().unwrap()));
        let mut elsewhere = brk;
        elsewhere.job = "ledger-import".into();
        assert!(!is_escalated(&c, &elsewhere, "2027-06-01".parse().unwrap()));
    }

    #[test]
    fn escalation_mistakes_name_their_key() {
        let e =
            load_with("[escalation]\nreasons = { not_a_reason = 1 }\nto = [\"lead at example\"]\n")
                .unwrap_err()
                .to_string();
        for key in ["escalation.reasons.not_a_reason", "escalation.to[0]"] {
            assert!(e.contains(key), "{key} not in: {e}");
        }
        let e = load_with("[escalation]\nto = [\"lead@example.com\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("after how many business days"), "{e}");
    }
}
