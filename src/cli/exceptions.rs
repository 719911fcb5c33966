//! `clerk exceptions` (list, filter) and `clerk exception ...` (work one): how people handle
//! breaks. Every action is stored with who did it and when.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::load_config;
use crate::config::Config;
use crate::jobs::workflow::{self, WorkflowError};
use crate::model::{Break, BreakReason, BreakStatus, break_label};
use crate::schedule::Calendar;
use crate::store::{self, BreakAction, BreakFilter, StatusFilter};

/// The calendar a job's breaks age by.
pub fn calendar_of<'c>(config: &'c Config, job: &str) -> &'c Calendar {
    config
        .job(job)
        .and_then(crate::jobs::ageing_calendar)
        .unwrap_or_else(|| config.default_calendar())
}

/// Who is acting: `--by`, else the login the command runs under.
pub fn actor(by: Option<&str>) -> String {
    by.map(str::to_owned)
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Serialize)]
struct ExceptionLine {
    id: i64,
    /// The id as people write it (`E-21`), in mails and on the command line.
    label: String,
    job: String,
    reason: &'static str,
    status: &'static str,
    amount: Option<String>,
    currency: Option<String>,
    difference: Option<String>,
    age_days: i64,
    since: NaiveDate,
    owner: Option<String>,
    detail: String,
    source: Option<String>,
    opened_at: DateTime<Utc>,
    resolution: Option<String>,
}

fn line(config: &Config, today: NaiveDate, b: Break) -> ExceptionLine {
    ExceptionLine {
        age_days: calendar_of(config, &b.job)
            .business_days_between(b.since, today)
            .max(0),
        id: b.id,
        label: break_label(b.id),
        reason: b.reason.as_str(),
        status: b.status.as_str(),
        amount: b.amount.map(|a| a.to_string()),
        currency: b.currency.map(|c| c.to_string()),
        difference: b.difference.map(|d| d.to_string()),
        since: b.since,
        owner: b.owner,
        detail: b.detail,
        source: b.source,
        opened_at: b.opened_at,
        resolution: b.resolution,
        job: b.job,
    }
}

fn today(config: &Config) -> NaiveDate {
    Utc::now()
        .with_timezone(&config.settings.timezone)
        .date_naive()
}

/// Filters for `clerk exceptions`.
pub struct ListArgs<'a> {
    pub job: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub status: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub older_than: Option<i64>,
    pub all: bool,
    pub json: bool,
}

pub fn list(config_path: &Path, a: &ListArgs<'_>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let reason = a
        .reason
        .map(|r| r.parse::<BreakReason>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("--reason: {e}"))?;
    let status = match (a.status, a.all) {
        (Some(_), true) => bail!("give --status or --all, not both"),
        (None, true) | (Some("all"), _) => StatusFilter::Any,
        (None, false) | (Some("unresolved"), _) => StatusFilter::Unresolved,
        (Some(s), _) => StatusFilter::Is(s.parse::<BreakStatus>().map_err(|e| {
            anyhow::anyhow!("--status: {e}; use open, investigating, resolved, unresolved or all")
        })?),
    };
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let breaks = store::in_read(st.as_mut(), |u| {
        u.breaks(&BreakFilter {
            job: a.job,
            status,
            reason,
            owner: a.owner,
            limit: None,
        })
    })?;
    let today = today(&config);
    let lines: Vec<ExceptionLine> = breaks
        .into_iter()
        .map(|b| line(&config, today, b))
        .filter(|l| a.older_than.is_none_or(|n| l.age_days > n))
        .collect();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(ExitCode::SUCCESS);
    }
    if lines.is_empty() {
        outln!("no exceptions match");
        return Ok(ExitCode::SUCCESS);
    }
    // Columns as wide as their longest value, so a long owner address does not push the
    // details of one row out of line with the others.
    let width = |header: &str, value: &dyn Fn(&ExceptionLine) -> usize| {
        lines.iter().map(value).max().unwrap_or(0).max(header.len())
    };
    let w_job = width("job", &|l| l.job.chars().count());
    let w_reason = width("reason", &|l| l.reason.chars().count());
    let w_status = width("status", &|l| l.status.chars().count());
    let w_amount = width("amount", &|l| l.amount.as_deref().map_or(0, str::len));
    let w_owner = width("owner", &|l| {
        l.owner.as_deref().map_or(0, |o| o.chars().count())
    });
    outln!(
        "{:>6} {:<w_job$} {:<w_reason$} {:<w_status$} {:>4} {:>w_amount$} {:<4} {:<w_owner$} detail",
        "id",
        "job",
        "reason",
        "status",
        "age",
        "amount",
        "ccy",
        "owner"
    );
    for l in &lines {
        outln!(
            "{:>6} {:<w_job$} {:<w_reason$} {:<w_status$} {:>4} {:>w_amount$} {:<4} {:<w_owner$} {}{}",
            break_label(l.id),
            l.job,
            l.reason,
            l.status,
            l.age_days,
            l.amount.as_deref().unwrap_or(""),
            l.currency.as_deref().unwrap_or(""),
            l.owner.as_deref().unwrap_or(""),
            l.detail,
            l.source
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(config_path: &Path, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let (brk, history) = store::in_read(st.as_mut(), |u| {
        Ok((u.break_by_id(id)?, u.break_history(id)?))
    })?;
    let Some(brk) = brk else {
        bail!("there is no exception E-{id}");
    };
    let l = line(&config, today(&config), brk);
    if json {
        let mut v = serde_json::to_value(&l)?;
        v["history"] = serde_json::to_value(&history)?;
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "exception {} ({}) in job {}: {}",
        break_label(l.id),
        l.reason,
        l.job,
        l.status
    );
    outln!("  {}", l.detail);
    if let Some(a) = &l.amount {
        outln!(
            "  amount {a} {}{}",
            l.currency.as_deref().unwrap_or(""),
            l.difference
                .as_deref()
                .map(|d| format!(", difference {d}"))
                .unwrap_or_default()
        );
    }
    outln!(
        "  since {} ({} business days), owner {}",
        l.since,
        l.age_days,
        l.owner.as_deref().unwrap_or("nobody")
    );
    if let Some(s) = &l.source {
        outln!("  source {s}");
    }
    outln!("  history:");
    let tz = config.settings.timezone;
    for h in &history {
        outln!(
            "    {} {:<12} {:<14} {}",
            h.at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            h.actor,
            h.action,
            h.detail.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One person's action on one break.
pub enum Act<'a> {
    Assign(&'a str),
    Note(&'a str),
    Investigate,
    Reopen,
    Resolve(&'a str),
}

pub fn act(
    config_path: &Path,
    id: i64,
    what: Act<'_>,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    let now = Utc::now();
    let result = match &what {
        Act::Resolve(reason) => {
            if reason.trim().is_empty() {
                bail!("say why (--reason): a resolution is kept with its reason");
            }
            store::in_unit(st.as_mut(), |u| u.resolve_break(id, reason, &who, now))
        }
        Act::Assign(to) => workflow::work(st.as_mut(), id, &BreakAction::Assign(to), &who, now),
        Act::Note(text) => workflow::work(st.as_mut(), id, &BreakAction::Note(text), &who, now),
        Act::Investigate => workflow::work(st.as_mut(), id, &BreakAction::Investigate, &who, now),
        Act::Reopen => workflow::work(st.as_mut(), id, &BreakAction::Reopen, &who, now),
    };
    match result {
        Ok(()) => {
            let done = match what {
                Act::Assign(to) => format!("assigned to {to}"),
                Act::Note(_) => "note added".into(),
                Act::Investigate => "marked as under investigation".into(),
                Act::Reopen => "reopened".into(),
                Act::Resolve(_) => "resolved".into(),
            };
            outln!("exception E-{id}: {done} (by {who})");
            Ok(ExitCode::SUCCESS)
        }
        Err(store::StoreError::Conflict(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).context(format!("exception E-{id}")),
    }
}

pub fn force_match(
    config_path: &Path,
    ids: &[i64],
    reason: &str,
    difference_account: Option<&str>,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    match workflow::force_match(
        &config,
        st.as_mut(),
        ids,
        reason,
        &who,
        difference_account,
        Utc::now(),
    ) {
        Ok(f) => {
            outln!(
                "matched by hand: exceptions {} resolved, entry {} posted (run {}, by {who})",
                f.closed
                    .iter()
                    .map(|&i| break_label(i))
                    .collect::<Vec<_>>()
                    .join(", "),
                f.entry_id,
                f.run_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(WorkflowError::Refused(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(WorkflowError::Store(e)) => Err(e.into()),
    }
}
