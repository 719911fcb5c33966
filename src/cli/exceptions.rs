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
use crate::store::{self, BreakAction, BreakFilter, StatusFilter, approval_label};

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
        // A write-off above the approval limit is only proposed: the same rule as the console.
        Act::Resolve(reason) => {
            match workflow::resolve(&config, st.as_mut(), id, reason, &who, now) {
                Ok(workflow::Outcome::Done(())) => Ok(()),
                Ok(workflow::Outcome::Proposed(a)) => {
                    return proposed(&config, st.as_mut(), a);
                }
                Err(WorkflowError::Refused(m)) => Err(store::StoreError::Conflict(m)),
                Err(WorkflowError::Store(e)) => Err(e),
            }
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
        Ok(workflow::Outcome::Done(f)) => {
            outln!(
                "matched by hand: exceptions {} resolved, entry {} posted (run {}, by {who})",
                labels(&f.closed),
                f.entry_id,
                f.run_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(workflow::Outcome::Proposed(a)) => proposed(&config, st.as_mut(), a),
        Err(WorkflowError::Refused(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(WorkflowError::Store(e)) => Err(e.into()),
    }
}

fn labels(ids: &[i64]) -> String {
    ids.iter()
        .map(|&i| break_label(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the maker reads when an action became a proposal.
pub(super) fn proposed(
    config: &Config,
    st: &mut dyn store::Store,
    id: i64,
) -> anyhow::Result<ExitCode> {
    let a = store::in_read(st, |u| u.approval(id))?
        .with_context(|| format!("proposal {} vanished", approval_label(id)))?;
    let limit = config
        .http
        .approval
        .limit(a.currency)
        .map(|l| format!(" (limit {l} {})", a.currency))
        .unwrap_or_default();
    outln!(
        "proposed as {}: needs approval by another person{limit}",
        approval_label(id)
    );
    Ok(ExitCode::SUCCESS)
}

/// What a person does to a proposal.
pub enum Decide<'a> {
    Approve,
    Reject(&'a str),
    Withdraw,
}

pub fn decide(
    config_path: &Path,
    id: i64,
    what: Decide<'_>,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    let now = Utc::now();
    let label = approval_label(id);
    let done = match what {
        Decide::Approve => {
            workflow::approve(&config, st.as_mut(), id, &who, now).map(|a| match &a.forced {
                Some(f) if a.kind == store::ApprovalKind::Reverse => format!(
                    "{label} approved by {who}: reversal entry {} posted (run {}), its records \
                     open again",
                    f.entry_id, f.run_id
                ),
                Some(f) => format!(
                    "{label} approved by {who}: exceptions {} resolved, entry {} posted (run {})",
                    labels(&a.closed),
                    f.entry_id,
                    f.run_id
                ),
                None => format!(
                    "{label} approved by {who}: exception {} resolved",
                    labels(&a.closed)
                ),
            })
        }
        Decide::Reject(note) => {
            workflow::reject(&config, st.as_mut(), id, &who, note, now).map(|()| {
                format!("{label} rejected by {who}: nothing posted, its exceptions stay open")
            })
        }
        Decide::Withdraw => workflow::withdraw(&config, st.as_mut(), id, &who, now)
            .map(|()| format!("{label} withdrawn by {who}: nothing posted")),
    };
    match done {
        Ok(m) => {
            outln!("{m}");
            Ok(ExitCode::SUCCESS)
        }
        Err(WorkflowError::Refused(m)) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        Err(WorkflowError::Store(e)) => Err(e).context(label),
    }
}

#[derive(Serialize)]
struct ProposalLine {
    id: i64,
    /// As people write it (`A-3`).
    label: String,
    kind: &'static str,
    job: String,
    breaks: Vec<String>,
    amount: String,
    currency: String,
    reason: String,
    difference_account: Option<String>,
    proposed_by: String,
    proposed_at: DateTime<Utc>,
}

/// `clerk exception proposals`: what waits for a second person, oldest first.
pub fn proposals(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let pending = store::in_read(st.as_mut(), |u| u.pending_approvals())?;
    let lines: Vec<ProposalLine> = pending
        .into_iter()
        .map(|a| ProposalLine {
            id: a.id,
            label: approval_label(a.id),
            kind: a.kind.as_str(),
            job: a.job,
            breaks: a.break_ids.iter().map(|&b| break_label(b)).collect(),
            amount: a.amount.to_string(),
            currency: a.currency.to_string(),
            reason: a.reason,
            difference_account: a.difference_account,
            proposed_by: a.proposed_by,
            proposed_at: a.proposed_at,
        })
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(ExitCode::SUCCESS);
    }
    if lines.is_empty() {
        outln!("no proposals wait for approval");
        return Ok(ExitCode::SUCCESS);
    }
    let tz = config.settings.timezone;
    outln!(
        "{:>6} {:<11} {:<14} {:>14} {:<4} {:<12} {:<16} reason",
        "id",
        "kind",
        "exceptions",
        "amount",
        "ccy",
        "by",
        "when"
    );
    for l in &lines {
        outln!(
            "{:>6} {:<11} {:<14} {:>14} {:<4} {:<12} {:<16} {}",
            l.label,
            l.kind,
            l.breaks.join(","),
            l.amount,
            l.currency,
            l.proposed_by,
            l.proposed_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            l.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}
