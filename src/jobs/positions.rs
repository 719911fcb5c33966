//! A position reconciliation: the books' positions against the custodian's holdings, per
//! safekeeping account and ISIN. Here: what it takes from a file, how it reads its CSV sides,
//! and its run, which turns the pure comparison of [`crate::reconcile::positions`] into
//! breaks about positions that carry over from run to run (`jobs::subjects`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::book_scope;
use super::subjects::{Finding, JobRun, apply, bodies};
use super::{Holds, Room, WorkError};
use crate::config::{Job, JobKind};
use crate::extract::{self, ExtractError, Extracted, Format, Input};
use crate::model::securities::{HoldingStatement, Position};
use crate::model::{BreakReason, Source};
use crate::reconcile::positions::{
    PositionFinding, PositionResult, PositionRules, reconcile_positions, side_quantity,
};
use crate::store::{DocumentKind, RunOutcome, Unit};

pub static ROOM: Room = Room {
    takes: &[Holds::Holdings, Holds::BookPositions],
    wants: "the books' positions (CSV named as [positions] book_files says) or the custodian's holdings (MT535, semt.002, CSV)",
};

/// Reads a CSV file by the job's rules: the books' positions when named so, otherwise a
/// custodian's CSV holdings; `None` when the file is for the structured readers (MT535,
/// semt.002) or the job is not a position reconciliation.
pub fn read(job: &Job, input: &Input) -> Option<Result<Extracted, ExtractError>> {
    let JobKind::PositionReconciliation { book, .. } = &job.kind else {
        return None;
    };
    let own = book.files.matches(input.name);
    if !own && !extract::recognise(input.bytes).is_some_and(Format::is_tabular) {
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

/// A quantity as staff write it: no trailing zeros.
pub(super) fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Compares the books' and the custodian's positions on the latest day both have.
pub fn reconcile_positions_job(
    u: &mut dyn Unit,
    job: &Job,
    run_id: i64,
    at: DateTime<Utc>,
) -> Result<RunOutcome, WorkError> {
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
    let compared = compare_on(
        day,
        &snapshot(&book, day),
        &snapshot(&custodian, day),
        rules,
    );
    let mut out = RunOutcome {
        matched: compared.agreed,
        ..RunOutcome::default()
    };
    let day_text = day.to_string();
    let accounts = compared.accounts;
    apply(
        u,
        &JobRun { job, run_id, at },
        compared.findings,
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

/// What one day's comparison found: how many positions agree, the accounts compared, and a
/// finding, worded for staff, about each position that does not agree.
struct DayComparison {
    agreed: u64,
    accounts: BTreeSet<String>,
    findings: Vec<Finding>,
}

/// Compares the day's snapshots of both sides. Pure: nothing is written.
fn compare_on(
    day: NaiveDate,
    book: &[Position],
    custodian: &[Position],
    rules: &PositionRules,
) -> DayComparison {
    let mut compared = DayComparison {
        agreed: 0,
        accounts: BTreeSet::new(),
        findings: Vec::new(),
    };
    for r in &reconcile_positions(book, custodian, rules) {
        compared.accounts.insert(r.account.clone());
        match position_finding(day, r, book, custodian, rules) {
            Some(f) => compared.findings.push(f),
            None => compared.agreed += 1,
        }
    }
    compared
}

/// The finding about one position; `None` when both sides agree.
fn position_finding(
    day: NaiveDate,
    r: &PositionResult,
    book: &[Position],
    custodian: &[Position],
    rules: &PositionRules,
) -> Option<Finding> {
    let name = r
        .book
        .and_then(|p| p.security_name.as_deref())
        .or(r.custodian.and_then(|p| p.security_name.as_deref()))
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let b = r
        .book
        .map(|_| side_quantity(book, &r.account, &r.isin, &rules.accounts));
    let c = r
        .custodian
        .map(|_| side_quantity(custodian, &r.account, &r.isin, &Default::default()));
    let valued = r
        .custodian
        .or(r.book)
        .and_then(valuation)
        .unwrap_or_default();
    let head = format!("{} {}{name} on {day}", r.account, r.isin);
    let source = r.book.or(r.custodian).map(|p| p.source.clone());
    let (reason, detail, difference) = match &r.finding {
        PositionFinding::Agrees => return None,
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
        PositionFinding::ValueDifference {
            book,
            custodian,
            difference,
        } => {
            let detail = format!(
                "{head}: quantities agree ({}), book value in the books {} {}, at the custodian \
                 {} {}, difference {} {}",
                qty(b.unwrap_or_default()),
                book.amount,
                book.currency,
                custodian.amount,
                custodian.currency,
                difference,
                book.currency
            );
            return Some(Finding {
                subject: r.subject(),
                reason: BreakReason::ValueDifference,
                detail,
                difference: Some(*difference),
                // What a correcting entry would move, and what the approval limit weighs.
                amount: Some(*difference),
                currency: Some(book.currency),
                since: day,
                source,
            });
        }
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
    Some(Finding {
        subject: r.subject(),
        reason,
        detail,
        difference,
        amount: None,
        currency: None,
        since: day,
        source,
    })
}

/// "; price 101.5 EUR, market value 1015.00 EUR" from what a position says it is worth;
/// `None` when it says neither.
fn valuation(p: &Position) -> Option<String> {
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
}
