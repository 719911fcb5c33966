//! `clerk journal reverse`, `clerk exception unmatch` (a posted entry undone by its reversal,
//! its records open again) and `clerk period close|reopen|list` (accounting periods).

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use super::exceptions::actor;
use super::load_config;
use crate::jobs::periods;
use crate::jobs::workflow::reversal::{self, Reversal};
use crate::jobs::workflow::{Outcome, WorkflowError};
use crate::model::break_label;
use crate::store::{self, approval_label};

/// What `clerk exception unmatch` names: a match, or a break a match closed.
#[derive(Debug, Clone, Copy)]
pub enum Unmatch {
    Match(i64),
    Break(i64),
}

/// `M` or `12` a match, `E-12` a break whose match closed it.
pub fn parse_unmatch(s: &str) -> Result<Unmatch, String> {
    let t = s.trim();
    if t.starts_with(['E', 'e']) {
        return crate::model::parse_break_label(t).map(Unmatch::Break);
    }
    let digits = t
        .strip_prefix(['M', 'm'])
        .map(|r| r.strip_prefix('-').unwrap_or(r))
        .unwrap_or(t);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Unmatch::Match(id)),
        _ => Err(format!(
            "{s:?} is neither a match (12, as clerk journal shows it) nor an exception (E-12)"
        )),
    }
}

/// `clerk journal reverse ENTRY --reason R [--by WHO]`.
pub fn reverse(
    config_path: &Path,
    entry: i64,
    reason: &str,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    let done = reversal::reverse_entry(&config, st.as_mut(), entry, reason, &who, Utc::now());
    report(done, &who)
}

/// `clerk exception unmatch MATCH|E-12 --reason R [--by WHO]`.
pub fn unmatch(
    config_path: &Path,
    what: Unmatch,
    reason: &str,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    let match_id = match what {
        Unmatch::Match(m) => Ok(m),
        Unmatch::Break(b) => reversal::match_of_break(st.as_mut(), b),
    };
    let done =
        match_id.and_then(|m| reversal::unmatch(&config, st.as_mut(), m, reason, &who, Utc::now()));
    report(done, &who)
}

fn report(done: Result<Outcome<Reversal>, WorkflowError>, who: &str) -> anyhow::Result<ExitCode> {
    match done {
        Ok(Outcome::Done(r)) => {
            outln!(
                "entry {} reversed by entry {} (match {} undone, run {}, by {who})",
                r.reversed,
                r.entry_id,
                r.match_id,
                r.run_id
            );
            outln!(
                "records open again: {}",
                r.records
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !r.reopened.is_empty() {
                outln!("exceptions reopened: {}", labels(&r.reopened));
            }
            if !r.opened.is_empty() {
                outln!("exceptions opened: {}", labels(&r.opened));
            }
            outln!(
                "these records are held for a person: match them by hand (clerk exception \
                 match) or resolve their exceptions; clerk does not match them again by itself"
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Proposed(a)) => {
            outln!(
                "proposed as {}: needs approval by another person (clerk exception approve {})",
                approval_label(a),
                approval_label(a)
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

fn labels(ids: &[i64]) -> String {
    ids.iter()
        .map(|&i| break_label(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `clerk period close 2026-11 [--by WHO]`.
pub fn close(config_path: &Path, period: &str, by: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    match periods::close(st.as_mut(), period, &who, Utc::now()) {
        Ok(p) => {
            outln!(
                "period {p} closed by {who}: entries dated in it are posted on the first day of \
                 the next open period"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e),
    }
}

/// `clerk period reopen 2026-11 --reason R [--by WHO]`: whoever may run clerk as its user.
pub fn reopen(
    config_path: &Path,
    period: &str,
    reason: &str,
    by: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let who = actor(by);
    let mut st = store::open(&config.settings.store_path)?;
    match periods::reopen(st.as_mut(), period, reason, &who, Utc::now()) {
        Ok(p) => {
            outln!("period {p} reopened by {who}: {reason}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e),
    }
}

fn refused(e: WorkflowError) -> anyhow::Result<ExitCode> {
    match e {
        WorkflowError::Refused(m) => {
            eprintln!("error: {m}");
            Ok(ExitCode::from(1))
        }
        WorkflowError::Store(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct PeriodList {
    periods: Vec<store::reversals::PeriodRow>,
}

/// `clerk period list [--json]`: every period ever closed, open or closed now, with its history;
/// a month not listed was never closed (open).
pub fn list(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let periods = store::in_read(st.as_mut(), |u| u.periods())?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&PeriodList { periods })?);
        return Ok(ExitCode::SUCCESS);
    }
    if periods.is_empty() {
        outln!("no period was ever closed: every period is open");
    }
    for p in &periods {
        outln!(
            "{}  {:<6}  by {} at {}",
            p.period,
            p.status,
            p.changed_by,
            p.changed_at.format("%Y-%m-%d %H:%M UTC")
        );
        for h in &p.history {
            outln!(
                "    {}  {} by {}{}",
                h.at.format("%Y-%m-%d %H:%M UTC"),
                h.action,
                h.actor,
                h.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
