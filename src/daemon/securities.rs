//! The securities reconciliations in the daemon: reading the firm's own CSV side, and
//! turning the pure comparisons of [`crate::reconcile::positions`] and
//! [`crate::reconcile::settlement`] into breaks that carry over from run to run.
//!
//! Both compare whole pictures, so their breaks are about subjects (a position, a trade) and
//! carry over from run to run through [`super::subjects`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::documents::book_scope;
use super::subjects::{Finding, apply, bodies};
use crate::config::{Job, JobKind};
use crate::extract::{self, ExtractError, Extracted, Format, Input};
use crate::model::securities::{
    HoldingStatement, Position, SecuritiesTransaction, Trade, TradeSide,
};
use crate::model::{BreakReason, Source};
use crate::reconcile::positions::{PositionFinding, reconcile_positions};
use crate::reconcile::settlement::{TradeStatus, reconcile_settlements};
use crate::store::{DocumentKind, RunOutcome, StoreError, Unit};

/// Reads a file with the job's CSV rules when it is the job's own CSV side (or, for a
/// position reconciliation, a custodian's CSV); `None` when the file is for the structured
/// readers (MT535/536/537, semt.002).
pub fn read(job: &Job, input: &Input) -> Option<Result<Extracted, ExtractError>> {
    let tabular = || extract::recognise(input.bytes).is_some_and(Format::is_tabular);
    match &job.kind {
        JobKind::PositionReconciliation { book, .. } => {
            let own = book.files.matches(input.name);
            if !own && !tabular() {
                return None;
            }
            let positions = extract::securities_csv::positions(input, &book.columns, &book.style);
            Some(positions.map(|positions| {
                if own {
                    Extracted {
                        format: Format::Csv,
                        book_positions: positions,
                        ..Default::default()
                    }
                } else {
                    Extracted {
                        format: Format::Csv,
                        holdings: custodian_statements(positions, input),
                        ..Default::default()
                    }
                }
            }))
        }
        JobKind::TradeSettlement { blotter, .. } if blotter.files.matches(input.name) => Some(
            extract::securities_csv::trades(input, &blotter.columns, &blotter.style).map(
                |trades| Extracted {
                    format: Format::Csv,
                    trades,
                    ..Default::default()
                },
            ),
        ),
        // Any other CSV here is the custodian's confirmations.
        JobKind::TradeSettlement { blotter, .. } if tabular() => Some(
            extract::securities_csv::confirmations(input, &blotter.other_columns, &blotter.style)
                .map(|transactions| Extracted {
                    format: Format::Csv,
                    transactions,
                    ..Default::default()
                }),
        ),
        _ => None,
    }
}

/// A custodian's CSV holdings as statements: one per account and date.
fn custodian_statements(positions: Vec<Position>, input: &Input) -> Vec<HoldingStatement> {
    let mut by: BTreeMap<(String, NaiveDate), Vec<Position>> = BTreeMap::new();
    for p in positions {
        by.entry((p.account.clone(), p.as_of)).or_default().push(p);
    }
    by.into_iter()
        .map(|((account, statement_date), positions)| HoldingStatement {
            account,
            statement_date,
            statement_id: None,
            page: None,
            source: positions
                .first()
                .map(|p| p.source.clone())
                .unwrap_or_else(|| Source::at(std::sync::Arc::clone(&input.file_hash), None, 1)),
            positions,
        })
        .collect()
}

/// The snapshot of each account on `day`: of several files for the same account and day,
/// the last one received (a corrected file replaces the first).
fn snapshot(all: &[Position], day: NaiveDate) -> Vec<Position> {
    let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
    for p in all.iter().filter(|p| p.as_of == day) {
        latest.insert(&p.account, &p.source.file);
    }
    all.iter()
        .filter(|p| p.as_of == day && latest.get(p.account.as_str()) == Some(&&*p.source.file))
        .cloned()
        .collect()
}

fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Compares the books' and the custodian's positions on the latest day both have.
pub fn reconcile_positions_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    at: DateTime<Utc>,
) -> Result<RunOutcome, StoreError> {
    let JobKind::PositionReconciliation { rules, .. } = &job.kind else {
        return Ok(RunOutcome::default());
    };
    let book: Vec<Position> = bodies(u, &book_scope(&job.name), DocumentKind::Position, |_| true)?;
    let custodian: Vec<Position> = bodies(u, &job.name, DocumentKind::Position, |_| true)?;
    let custodian_days: BTreeSet<NaiveDate> = custodian.iter().map(|p| p.as_of).collect();
    let Some(day) = book
        .iter()
        .map(|p| p.as_of)
        .filter(|d| custodian_days.contains(d))
        .max()
    else {
        // One side has not arrived for any day the other has: nothing to compare yet.
        return Ok(RunOutcome::default());
    };
    let book = snapshot(&book, day);
    let custodian = snapshot(&custodian, day);
    let results = reconcile_positions(&book, &custodian, rules);
    let mut out = RunOutcome::default();
    let mut accounts = BTreeSet::new();
    let mut findings = Vec::new();
    for r in &results {
        accounts.insert(r.account.clone());
        let name = r
            .book
            .and_then(|p| p.security_name.as_deref())
            .or(r.custodian.and_then(|p| p.security_name.as_deref()))
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let b = r.book.map(|_| {
            crate::reconcile::positions::side_quantity(&book, &r.account, &r.isin, &rules.accounts)
        });
        let c = r.custodian.map(|_| {
            crate::reconcile::positions::side_quantity(
                &custodian,
                &r.account,
                &r.isin,
                &Default::default(),
            )
        });
        let valued = r
            .custodian
            .or(r.book)
            .and_then(|p| {
                let price = p.price.as_ref().map(|pr| {
                    format!(
                        "price {}{}",
                        pr.value.normalize(),
                        pr.currency.map(|c| format!(" {c}")).unwrap_or_default()
                    )
                });
                let value = p
                    .market_value
                    .as_ref()
                    .map(|m| format!("market value {} {}", m.amount, m.currency));
                let parts: Vec<String> = price.into_iter().chain(value).collect();
                (!parts.is_empty()).then(|| format!("; {}", parts.join(", ")))
            })
            .unwrap_or_default();
        let head = format!("{} {}{name} on {day}", r.account, r.isin);
        let source = r.book.or(r.custodian).map(|p| p.source.clone());
        let (reason, detail, difference) = match &r.finding {
            PositionFinding::Agrees => {
                out.matched += 1;
                continue;
            }
            PositionFinding::QuantityDifference { difference } => (
                BreakReason::QuantityDifference,
                format!(
                    "{head}: books {}, custodian {}, difference {}{valued}",
                    qty(b.unwrap_or_default()),
                    qty(c.unwrap_or_default()),
                    qty(*difference)
                ),
                Some(*difference),
            ),
            PositionFinding::MissingAtCustodian => (
                BreakReason::MissingAtCustodian,
                format!(
                    "{head}: books hold {}, the custodian reports none{valued}",
                    qty(b.unwrap_or_default())
                ),
                b,
            ),
            PositionFinding::MissingInBooks => (
                BreakReason::MissingInBooks,
                format!(
                    "{head}: the custodian reports {}, the books hold none{valued}",
                    qty(c.unwrap_or_default())
                ),
                c.map(|c| -c),
            ),
        };
        findings.push(Finding {
            subject: r.subject(),
            reason,
            detail,
            difference,
            amount: None,
            currency: None,
            since: day,
            source,
        });
    }
    let day_text = day.to_string();
    apply(
        u,
        job,
        run_id,
        at,
        findings,
        // Accounts not in today's comparison keep their breaks as they are.
        |subject| {
            subject
                .split('|')
                .nth(1)
                .is_some_and(|a| accounts.contains(a))
        },
        |_| format!("books and custodian agree on {day_text}"),
        &mut out,
    )?;
    Ok(out)
}

/// Settles trades against confirmations; due trades without one are failed settlements.
pub fn reconcile_settlement_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    today: NaiveDate,
    at: DateTime<Utc>,
) -> Result<RunOutcome, StoreError> {
    let JobKind::TradeSettlement { rules, .. } = &job.kind else {
        return Ok(RunOutcome::default());
    };
    let trades: Vec<Trade> = bodies(
        u,
        &book_scope(&job.name),
        DocumentKind::SecuritiesTransaction,
        |_| true,
    )?;
    // MT537 reports what is still pending: only settled confirmations settle a trade.
    let confirmations: Vec<SecuritiesTransaction> = bodies(
        u,
        &job.name,
        DocumentKind::SecuritiesTransaction,
        |identity| identity.starts_with("settled|"),
    )?;
    let outcome = reconcile_settlements(&trades, &confirmations, rules, today);
    let mut out = RunOutcome::default();
    let mut findings = Vec::new();
    let mut settled_by: BTreeMap<String, String> = BTreeMap::new();
    let conf_ref = |i: usize| {
        let c = &confirmations[i];
        c.custodian_reference
            .clone()
            .or_else(|| c.reference.clone())
            .unwrap_or_else(|| format!("line {}", c.source.row))
    };
    for (t, status) in trades.iter().zip(&outcome.trades) {
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
        let subject = format!("trade|{}", t.trade_id);
        let money = |d: Decimal| match t.currency {
            Some(c) => format!("{d} {c}"),
            None => d.to_string(),
        };
        let (reason, detail, difference) = match status {
            TradeStatus::Settled {
                confirmations: ids,
                days_late,
                ..
            } => {
                out.matched += 1;
                let refs: Vec<String> = ids.iter().map(|&i| conf_ref(i)).collect();
                let late = if *days_late > 0 {
                    format!(", {days_late} business days late")
                } else {
                    String::new()
                };
                settled_by.insert(subject, format!("settled ({}){late}", refs.join(", ")));
                continue;
            }
            TradeStatus::Pending => continue,
            TradeStatus::QuantityDifference {
                confirmations: ids,
                difference,
            } => (
                BreakReason::QuantityDifference,
                format!(
                    "{head}: the custodian settled {} ({}), difference {}",
                    qty(t.quantity - difference),
                    ids.iter()
                        .map(|&i| conf_ref(i))
                        .collect::<Vec<_>>()
                        .join(", "),
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
                    ids.iter()
                        .map(|&i| conf_ref(i))
                        .collect::<Vec<_>>()
                        .join(", "),
                    money(*difference)
                ),
                Some(*difference),
            ),
            TradeStatus::Failed { business_days } => (
                BreakReason::FailedSettlement,
                format!("{head}: not settled, {business_days} business days late"),
                None,
            ),
        };
        findings.push(Finding {
            subject,
            reason,
            detail,
            difference,
            amount: t.net_amount,
            currency: t.currency,
            // Aged from the day it should have settled, not from when clerk noticed.
            since: t.settlement_date,
            source: Some(t.source.clone()),
        });
    }
    for &i in &outcome.unclaimed {
        let c = &confirmations[i];
        let what = match c.direction {
            crate::model::securities::Direction::Receive => "received",
            crate::model::securities::Direction::Deliver => "delivered",
        };
        findings.push(Finding {
            subject: format!("confirmation|{}|{}", c.account, conf_ref(i)),
            reason: BreakReason::MissingInBooks,
            detail: format!(
                "the custodian {what} {} {} for {} on {} ({}), no trade in the blotter",
                qty(c.quantity),
                c.isin
                    .as_deref()
                    .or(c.security_id.as_deref())
                    .unwrap_or("?"),
                c.account,
                c.settlement_date
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "?".into()),
                conf_ref(i)
            ),
            difference: None,
            amount: c.settlement_amount.as_ref().map(|m| m.amount),
            currency: c.settlement_amount.as_ref().map(|m| m.currency),
            since: c.settlement_date.unwrap_or(today),
            source: Some(c.source.clone()),
        });
    }
    apply(
        u,
        job,
        run_id,
        at,
        findings,
        |_| true,
        |subject| {
            settled_by
                .get(subject)
                .cloned()
                .unwrap_or_else(|| "matched to a trade".to_string())
        },
        &mut out,
    )?;
    Ok(out)
}
