//! The exception summary: a mail, fired by its schedule; it reads no files. Here: what the
//! mail says and which message it is, gathered from the store ([`compose`]); the daemon
//! starts its run, queues the mail and advances the schedule in one transaction
//! (`daemon/summary.rs`), so a summary is queued exactly once per fire time whatever crashes
//! around it.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::Room;
use crate::config::{Config, Job, JobKind};
use crate::jobs::WorkError;
use crate::notify::{self, BankLine, BreakLine, JobDigest, SummaryInput};
use crate::schedule::Calendar;
use crate::store::{
    BreakCounting, BreakFilter, JobActivity, StatusFilter, StoreError, Trigger, Unit,
};

pub static ROOM: Room = Room {
    takes: &[],
    wants: "no files",
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

/// From when a summary fired at `at` reports activity: its slot fired last before (`last`),
/// else a day back.
pub fn covers_since(last: Option<DateTime<Utc>>, at: DateTime<Utc>) -> DateTime<Utc> {
    last.filter(|&t| t < at).unwrap_or(at - Duration::hours(24))
}

/// A summary's fire: its time, what started it, its run and the time now.
pub struct Fire {
    pub at: DateTime<Utc>,
    /// Activity from this time on is reported ([`covers_since`]).
    pub since: DateTime<Utc>,
    pub trigger: Trigger,
    pub run_id: i64,
    pub now: DateTime<Utc>,
}

/// A summary mail, ready to queue.
#[derive(Debug)]
pub struct SummaryMail<'j> {
    pub message_id: String,
    pub recipients: &'j [String],
    pub subject: String,
    pub raw: Vec<u8>,
    /// The unresolved breaks it lists.
    pub open_breaks: usize,
}

/// The summary mail of `job` for `fire`: the unresolved breaks, each job's activity since
/// the last fire, rendered; `domain` names the message (`<summary.…@domain>`).
pub fn compose<'j>(
    u: &mut dyn Unit,
    config: &Config,
    job: &'j Job,
    fire: &Fire,
    domain: &str,
) -> Result<SummaryMail<'j>, WorkError> {
    let JobKind::Summary {
        to,
        oldest,
        largest,
        rates,
        calendar,
    } = &job.kind
    else {
        return Err(WorkError::NotASummary(job.name.clone()));
    };
    let Fire {
        at,
        since,
        trigger,
        run_id,
        now,
    } = *fire;
    let tz = config.settings.timezone;
    let business_date = at.with_timezone(&tz).date_naive();
    let mut breaks = break_lines(u, calendar, business_date)?;
    let links = config
        .http
        .public_url
        .as_deref()
        .map(notify::summary::Links::new);
    if links.is_some() {
        let files = u.open_break_files()?;
        for b in &mut breaks {
            b.file_id = files.get(&b.brk.id).copied();
        }
    }
    for b in &mut breaks {
        b.escalated = super::escalation::is_escalated(config, &b.brk, business_date);
    }
    let activity = u.activity_since(since, &break_counting(config, now))?;
    let jobs = job_digests(config, &activity);
    let open_breaks = breaks.len();
    let input = SummaryInput {
        business_date,
        generated_at: now,
        timezone: tz,
        jobs,
        breaks,
        largest: *largest,
        rates: rates.clone(),
        bank: bank_lines(u, config)?,
        grir: grir_lines(u, config, business_date)?,
        periods: period_line(u)?,
        links,
        // The head as this unit sees it: every entry and break action committed before.
        audit_head: u.chain_head()?.map(|h| notify::summary::AuditHead {
            seq: h.seq,
            hash: h.hash,
        }),
        exports: export_statuses(u, config)?,
    };
    let rendered = notify::render_summary(&input, *oldest);
    let message_id = match trigger {
        // One message per fire time: a re-run of the same fire is recognisably the same mail.
        Trigger::Schedule => format!(
            "<summary.{}.{}@{}>",
            job.name,
            at.format("%Y%m%dT%H%M"),
            domain
        ),
        _ => format!(
            "<summary.{}.run{run_id}.{}@{}>",
            job.name,
            at.format("%Y%m%dT%H%M%S"),
            domain
        ),
    };
    let raw =
        notify::build_message(&config.mail.from, to, &rendered, &message_id, now).map_err(|e| {
            WorkError::MailNotBuilt {
                mail: "summary",
                message: e.to_string(),
            }
        })?;
    Ok(SummaryMail {
        message_id,
        recipients: to,
        subject: rendered.subject,
        raw,
        open_breaks,
    })
}

/// The unresolved breaks, each with its age in business days on `business_date` and the
/// reference and counterparty of its record.
fn break_lines(
    u: &mut dyn Unit,
    calendar: &Calendar,
    business_date: NaiveDate,
) -> Result<Vec<BreakLine>, StoreError> {
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
    Ok(lines)
}

/// Each job's activity, for the mail (the summaries themselves left out).
fn job_digests(config: &Config, activity: &[JobActivity]) -> Vec<JobDigest> {
    config
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
        .collect()
}

/// The open GR/IR per currency, with its oldest order line (as `clerk payables grir`).
fn grir_lines(
    u: &mut dyn Unit,
    config: &Config,
    today: chrono::NaiveDate,
) -> Result<Vec<notify::summary::GrirLine>, WorkError> {
    let open = super::grir::open_grir(u, &config.jobs, today)?;
    Ok(super::grir::totals(&open)
        .into_iter()
        .map(|(currency, order_lines, total, oldest)| {
            let first = open
                .iter()
                .find(|o| o.currency == currency && o.received_on == oldest);
            notify::summary::GrirLine {
                currency,
                order_lines,
                open: total,
                oldest,
                oldest_line: first
                    .map(|o| {
                        format!(
                            "{}{} line {}",
                            o.supplier
                                .as_deref()
                                .map(|s| format!("{s} "))
                                .unwrap_or_default(),
                            o.po_number,
                            o.line.as_deref().or(o.item.as_deref()).unwrap_or("-")
                        )
                    })
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// Each bank account's book balance against its latest statement, with the open lines that
/// make up a difference (as `clerk bank` shows them).
fn bank_lines(u: &mut dyn Unit, config: &Config) -> Result<Vec<BankLine>, StoreError> {
    let positions = super::bank::positions(u, &config.jobs, None)?;
    Ok(positions
        .into_iter()
        .map(|p| {
            let mut made_up_of: Vec<String> =
                p.open_lines.iter().map(super::bank::describe).collect();
            made_up_of.extend(super::bank::unexplained(&p));
            BankLine {
                account: p.account,
                currency: p.currency,
                statement_date: p.statement_date,
                statement_balance: p.statement_balance,
                book_balance: p.book_balance,
                difference: p.difference,
                made_up_of,
            }
        })
        .collect())
}

/// Each `[[exports]]` target: how many entries wait for it (after its cursor), since which
/// posting date, batches recorded and not written, its latest file.
fn export_statuses(
    u: &mut dyn Unit,
    config: &Config,
) -> Result<Vec<notify::summary::ExportStatus>, StoreError> {
    let mut out = Vec::with_capacity(config.exports.len());
    for target in &config.exports {
        let cursor = u.export_cursor(&target.name)?;
        let waiting = u.export_span(&crate::store::EntrySelection {
            after: cursor,
            up_to: None,
            from: None,
            to: None,
            limit: i64::MAX as u64,
        })?;
        let unwritten = u.unwritten_export_batches(Some(&target.name))?.len() as u64;
        let last_file = u
            .export_batches(Some(&target.name))?
            .into_iter()
            .rev()
            .find_map(|b| Some((b.file_name, b.written_at?)));
        out.push(notify::summary::ExportStatus {
            target: target.name.clone(),
            format: target.format.clone(),
            schedule: target.schedule.as_ref().map(|s| s.to_string()),
            waiting: waiting.map_or(0, |w| w.entries),
            waiting_since: waiting.map(|w| w.first_date),
            unwritten,
            last_file,
        });
    }
    Ok(out)
}

/// The accounting periods closed, as ranges (`2026-01 to 2026-08, 2026-10`), every other one
/// open: a period is closed only by `clerk period close`, so a month never closed is open
/// whatever lies around it; or that every one is open.
fn period_line(u: &mut dyn Unit) -> Result<Option<String>, StoreError> {
    use crate::store::Period;
    let rows = u.periods()?;
    let mut closed: Vec<Period> = rows
        .iter()
        .filter(|r| r.status == "closed")
        .filter_map(|r| r.period.parse().ok())
        .collect();
    if closed.is_empty() {
        return Ok(Some(if rows.is_empty() {
            "every period is open (none was ever closed: `clerk period close YYYY-MM`)".to_string()
        } else {
            "every period is open".to_string()
        }));
    }
    closed.sort();
    let mut ranges: Vec<(Period, Period)> = Vec::new();
    for p in closed {
        match ranges.last_mut() {
            Some((_, last)) if last.next() == p => *last = p,
            _ => ranges.push((p, p)),
        }
    }
    let names: Vec<String> = ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a} to {b}")
            }
        })
        .collect();
    Ok(Some(format!(
        "closed: {}; every other period is open",
        names.join(", ")
    )))
}

#[cfg(test)]
mod period_tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::{self, Period, SqliteStore};

    #[test]
    fn the_summary_names_the_open_periods() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
        let line = |st: &mut SqliteStore| store::in_read(st, period_line).unwrap();
        assert_eq!(
            line(&mut st).as_deref(),
            Some("every period is open (none was ever closed: `clerk period close YYYY-MM`)")
        );
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let p = |s: &str| s.parse::<Period>().unwrap();
        store::in_unit(&mut st, |u| {
            u.close_period(p("2026-09"), "carla", at)?;
            u.close_period(p("2026-10"), "carla", at)?;
            u.close_period(p("2026-07"), "carla", at)?;
            u.close_period(p("2026-08"), "carla", at)?;
            u.reopen_period(p("2026-09"), "root", "late invoices", at)
        })
        .unwrap();
        assert_eq!(
            line(&mut st).as_deref(),
            Some("closed: 2026-07 to 2026-08, 2026-10; every other period is open")
        );
    }
}
