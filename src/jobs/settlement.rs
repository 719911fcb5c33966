//! A trade settlement: the blotter's trades against the custodian's settlement
//! confirmations. Here: what it takes from a file, how it reads its CSV sides, and its run,
//! which turns the pure comparison of [`crate::reconcile::settlement`] into breaks about
//! trades (failed settlements among them) that carry over from run to run
//! (`jobs::subjects`).

mod trades;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::book_scope;
use super::positions::qty;
use super::subjects::{Finding, JobRun, apply, bodies};
use super::{Holds, Room, WorkError};
use crate::config::{Job, JobKind};
use crate::extract::{self, ExtractError, Extracted, Format, Input};
use crate::model::BreakReason;
use crate::model::securities::{Direction, SecuritiesTransaction, Trade, TradeSide};
use crate::reconcile::settlement::{SettlementRules, TradeStatus, reconcile_settlements};
use crate::store::{DocumentKind, RunOutcome, Unit};

pub static ROOM: Room = Room {
    takes: &[Holds::Transactions, Holds::Trades],
    wants: "a trade blotter (CSV named as [settlement] blotter_files says) or settlement confirmations (MT536, MT537)",
};

/// Reads a CSV file by the job's rules: the trade blotter when named so, any other CSV as
/// the custodian's confirmations; `None` when the file is for the structured readers
/// (MT536/537) or the job is not a trade settlement.
pub fn read(job: &Job, input: &Input) -> Option<Result<Extracted, ExtractError>> {
    let JobKind::TradeSettlement { blotter, .. } = &job.kind else {
        return None;
    };
    if blotter.files.matches(input.name) {
        Some(
            extract::securities_csv::trades(input, &blotter.columns, &blotter.style).map(
                |trades| Extracted {
                    format: Format::Csv,
                    trades,
                    ..Default::default()
                },
            ),
        )
    } else if extract::recognise(input.bytes).is_some_and(Format::is_tabular) {
        Some(
            extract::securities_csv::confirmations(input, &blotter.other_columns, &blotter.style)
                .map(|transactions| Extracted {
                    format: Format::Csv,
                    transactions,
                    ..Default::default()
                }),
        )
    } else {
        None
    }
}

/// Settles trades against confirmations; due trades without one are failed settlements.
pub fn reconcile_settlement_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    today: NaiveDate,
    at: DateTime<Utc>,
) -> Result<RunOutcome, WorkError> {
    let JobKind::TradeSettlement {
        rules, accounts, ..
    } = &job.kind
    else {
        return Ok(RunOutcome::default());
    };
    let trades: Vec<Trade> = bodies(u, &book_scope(&job.name), DocumentKind::Trade, |_| true)?;
    // MT537 reports what is still pending: only settled confirmations settle a trade.
    let (identities, confirmations): (Vec<String>, Vec<SecuritiesTransaction>) = u
        .documents(&job.name, DocumentKind::SecuritiesTransaction)?
        .into_iter()
        .filter(|d| d.identity.starts_with("settled|"))
        .map(|d| match SecuritiesTransaction::try_from(d.body) {
            Ok(tx) => Ok((d.identity, tx)),
            Err(_) => Err(WorkError::KeptUnreadable {
                what: "stored document",
                identity: d.identity,
                message: "not a SecuritiesTransaction".into(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let mut decided = decide(&trades, &confirmations, rules, today);
    let mut out = RunOutcome {
        matched: decided.settled,
        ..RunOutcome::default()
    };
    if let Some(accounts) = accounts {
        let books = Books {
            trades: &trades,
            confirmations: &confirmations,
            identities: &identities,
            statuses: &decided.statuses,
        };
        let refused = trades::book_trades(
            u,
            &JobRun { job, run_id, at },
            accounts,
            &books,
            today,
            &mut out,
        )?;
        decided.findings.extend(refused);
    }
    let settled_by = decided.settled_by;
    apply(
        u,
        &JobRun { job, run_id, at },
        decided.findings,
        |_| true,
        |subject| {
            if subject.starts_with(trades::BOOKING) {
                return "booked".to_string();
            }
            settled_by
                .get(subject)
                .cloned()
                .unwrap_or_else(|| "matched to a trade".to_string())
        },
        &mut out,
    )?;
    Ok(out)
}

/// What the run knows of the trades, for booking them: the trades, the settled
/// confirmations with their identities as kept, and each trade's status (in the trades'
/// order).
pub(crate) struct Books<'a> {
    pub(crate) trades: &'a [Trade],
    pub(crate) confirmations: &'a [SecuritiesTransaction],
    pub(crate) identities: &'a [String],
    pub(crate) statuses: &'a [TradeStatus],
}

/// What a settlement run decided: how many trades settled and how ("settled (ref), 2
/// business days late", by trade subject), and a finding, worded for staff, about each trade
/// that did not settle as booked and each confirmation no trade claims.
struct Decided {
    settled: u64,
    /// Each trade's status, in the order of the trades.
    statuses: Vec<TradeStatus>,
    settled_by: BTreeMap<String, String>,
    findings: Vec<Finding>,
}

/// Compares trades and confirmations as of `today`. Pure: nothing is written.
fn decide(
    trades: &[Trade],
    confirmations: &[SecuritiesTransaction],
    rules: &SettlementRules,
    today: NaiveDate,
) -> Decided {
    let outcome = reconcile_settlements(trades, confirmations, rules, today);
    let mut decided = Decided {
        statuses: outcome.trades.clone(),
        settled: 0,
        settled_by: BTreeMap::new(),
        findings: Vec::new(),
    };
    let refs = |ids: &[usize]| {
        ids.iter()
            .map(|&i| confirmation_reference(&confirmations[i]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (t, status) in trades.iter().zip(&outcome.trades) {
        match status {
            TradeStatus::Settled {
                confirmations: ids,
                days_late,
                ..
            } => {
                decided.settled += 1;
                let late = if *days_late > 0 {
                    format!(", {days_late} business days late")
                } else {
                    String::new()
                };
                decided
                    .settled_by
                    .insert(trade_subject(t), format!("settled ({}){late}", refs(ids)));
            }
            _ => decided.findings.extend(trade_finding(t, status, refs)),
        }
    }
    for &i in &outcome.unclaimed {
        decided
            .findings
            .push(unclaimed_finding(&confirmations[i], today));
    }
    decided
}

fn trade_subject(t: &Trade) -> String {
    format!("trade|{}", t.trade_id)
}

/// The custodian's reference of a confirmation, else its own, else its line.
fn confirmation_reference(c: &SecuritiesTransaction) -> String {
    c.custodian_reference
        .clone()
        .or_else(|| c.reference.clone())
        .unwrap_or_else(|| format!("line {}", c.source.row))
}

/// The finding about a trade that did not settle as booked; `None` for a trade settled or
/// not due yet. `refs` names the confirmations it was compared with.
fn trade_finding(
    t: &Trade,
    status: &TradeStatus,
    refs: impl Fn(&[usize]) -> String,
) -> Option<Finding> {
    let side = match t.side {
        TradeSide::Buy => "buy",
        TradeSide::Sell => "sell",
    };
    let head = format!(
        "trade {} {side} {} {} for {}, settlement due {}",
        t.trade_id,
        qty(t.quantity),
        t.isin,
        t.account,
        t.settlement_date
    );
    let money = |d: Decimal| match t.currency {
        Some(c) => format!("{d} {c}"),
        None => d.to_string(),
    };
    let (reason, detail, difference) = match status {
        TradeStatus::QuantityDifference {
            confirmations: ids,
            difference,
        } => (
            BreakReason::QuantityDifference,
            format!(
                "{head}: the custodian settled {} ({}), difference {}",
                qty(t.quantity - difference),
                refs(ids),
                qty(*difference)
            ),
            Some(*difference),
        ),
        TradeStatus::AmountDifference {
            confirmations: ids,
            difference,
        } => (
            BreakReason::AmountDifference,
            format!(
                "{head}: cash {} against {} expected ({}), difference {}",
                money(t.net_amount.unwrap_or_default() - difference),
                money(t.net_amount.unwrap_or_default()),
                refs(ids),
                money(*difference)
            ),
            Some(*difference),
        ),
        TradeStatus::Failed { business_days } => (
            BreakReason::FailedSettlement,
            format!("{head}: not settled, {business_days} business days late"),
            None,
        ),
        TradeStatus::Settled { .. } | TradeStatus::Pending => return None,
    };
    Some(Finding {
        subject: trade_subject(t),
        reason,
        detail,
        difference,
        amount: t.net_amount,
        currency: t.currency,
        // Aged from the day it should have settled, not from when clerk noticed.
        since: t.settlement_date,
        source: Some(t.source.clone()),
    })
}

/// The finding about a settled confirmation no trade in the blotter claims.
fn unclaimed_finding(c: &SecuritiesTransaction, today: NaiveDate) -> Finding {
    let what = match c.direction {
        Direction::Receive => "received",
        Direction::Deliver => "delivered",
    };
    let reference = confirmation_reference(c);
    Finding {
        subject: format!("confirmation|{}|{reference}", c.account),
        reason: BreakReason::MissingInBooks,
        detail: format!(
            "the custodian {what} {} {} for {} on {} ({reference}), no trade in the blotter",
            qty(c.quantity),
            c.isin
                .as_deref()
                .or(c.security_id.as_deref())
                .unwrap_or("?"),
            c.account,
            c.settlement_date
                .map(|d| d.to_string())
                .unwrap_or_else(|| "?".into()),
        ),
        difference: None,
        amount: c.settlement_amount.as_ref().map(|m| m.amount),
        currency: c.settlement_amount.as_ref().map(|m| m.currency),
        since: c.settlement_date.unwrap_or(today),
        source: Some(c.source.clone()),
    }
}
