//! semt.002 (securities balance custody report, `SctiesBalCtdyRpt`): a custodian's statement
//! of holdings into [`HoldingStatement`]s with one [`Position`] per security and account.
//!
//! Read by local name as for camt; the shapes of .001.08 to .001.11 differ only in how deep a
//! quantity sits (`AggtBal/Qty/Qty/Qty/Unit` in the published schemas, one level less in
//! some renderings), so a balance's quantity is the first `Unit`, `FaceAmt` or `AmtsdVal`
//! inside it. Positions come from `BalForAcct` (the safekeeping account) and from
//! `SubAcctDtls/BalForSubAcct` (each sub-account under its own `SfkpgAcct/Id`). A message that
//! wraps accounts in `SfkpgAcctAndHldgs` (as semt.041 does) gives one statement per account.

use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::value::{boolean, date_choice, money, problem, quantity, required};
use crate::extract::Problem;
use crate::extract::xml::Element;
use crate::model::Source;
use crate::model::securities::{HoldingStatement, Money, Position, Price, QuantityKind};

/// The message element (`SctiesBalCtdyRpt`) at or below `root`, looked for a few levels deep
/// to see through envelopes.
pub(super) fn message(root: &Element) -> Option<&Element> {
    fn find(e: &Element, depth: usize) -> Option<&Element> {
        if is_message(&e.name) {
            return Some(e);
        }
        if depth == 0 {
            return None;
        }
        e.children.iter().find_map(|c| find(c, depth - 1))
    }
    find(root, 4)
}

fn is_message(name: &str) -> bool {
    name == "SctiesBalCtdyRpt"
        || name
            .strip_prefix("SctiesBalCtdyRpt")
            .is_some_and(|v| v.starts_with('V') && v[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// The holdings of one message, or every problem found in it.
pub(super) fn holdings(
    msg: &Element,
    file: &Arc<str>,
    problems: &mut Vec<Problem>,
) -> Vec<HoldingStatement> {
    let general = match required(msg, "StmtGnlDtls") {
        Ok(g) => g,
        Err(p) => {
            problems.push(p);
            return Vec::new();
        }
    };
    let as_of = match required(general, "StmtDtTm").and_then(|d| date_choice(d, None)) {
        Ok(d) => d,
        Err(p) => {
            problems.push(p);
            return Vec::new();
        }
    };
    let statement_id = general.text_at("StmtId").map(str::to_string);
    let page = msg.child("Pgntn").and_then(|p| {
        let nb = p.text_at("PgNb")?;
        let last = p
            .text_at("LastPgInd")
            .is_some_and(|l| l == "true" || l == "1");
        // As SWIFT's `:28E:` writes it: `1/ONLY`, `3/LAST`, `2/MORE`.
        let mark = match (last, nb.trim_start_matches('0')) {
            (true, "1") => "ONLY",
            (true, _) => "LAST",
            (false, _) => "MORE",
        };
        Some(format!("{nb}/{mark}"))
    });

    let wrapped: Vec<&Element> = msg.children("SfkpgAcctAndHldgs").collect();
    let containers = if wrapped.is_empty() {
        vec![msg]
    } else {
        wrapped
    };
    let mut out = Vec::new();
    for holder in containers {
        let account = match required(holder, "SfkpgAcct").and_then(|a| {
            a.text_at("Id")
                .map(str::to_string)
                .ok_or_else(|| problem(a, "expected <Id> in <SfkpgAcct>, found none"))
        }) {
            Ok(a) => a,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let mut positions = Vec::new();
        for bal in holder.children("BalForAcct") {
            match position(bal, &account, as_of, file) {
                Ok(p) => positions.push(p),
                Err(p) => problems.push(p),
            }
        }
        for sub in holder.children("SubAcctDtls") {
            let sub_account = sub
                .text_at("SfkpgAcct/Id")
                .map(str::to_string)
                .unwrap_or_else(|| account.clone());
            for bal in sub.children("BalForSubAcct") {
                match position(bal, &sub_account, as_of, file) {
                    Ok(p) => positions.push(p),
                    Err(p) => problems.push(p),
                }
            }
        }
        out.push(HoldingStatement {
            account,
            statement_date: as_of,
            statement_id: statement_id.clone(),
            page: page.clone(),
            positions,
            source: source(holder, file),
        });
    }
    out
}

fn source(at: &Element, file: &Arc<str>) -> Source {
    Source {
        file: file.clone(),
        sheet: None,
        row: at.line,
        locator: Some(Arc::from(at.locator.as_str())),
    }
}

fn position(
    bal: &Element,
    account: &str,
    as_of: NaiveDate,
    file: &Arc<str>,
) -> Result<Position, Problem> {
    let id = required(bal, "FinInstrmId")?;
    let isin = id.text_at("ISIN").map(str::to_string);
    let security_id = id.text_at("OthrId/Id").map(str::to_string);
    if isin.is_none() && security_id.is_none() {
        return Err(problem(
            id,
            "expected <ISIN> or <OthrId><Id> in <FinInstrmId>, found neither",
        ));
    }
    let (quantity, quantity_kind) = balance(required(bal, "AggtBal")?)?;
    let available = match bal.child("AvlblBal") {
        Some(a) => Some(balance(a)?.0),
        None => None,
    };
    let price = match bal.child("PricDtls") {
        Some(p) => price(p)?,
        None => None,
    };
    let market_value = match bal.find("AcctBaseCcyAmts/HldgVal") {
        Some(v) => {
            let (amount, currency) = money(required(v, "Amt")?)?;
            let positive = v.child("Sgn").map(boolean).transpose()?.unwrap_or(true);
            Some(Money {
                amount: if positive { amount } else { -amount },
                currency,
            })
        }
        None => None,
    };
    Ok(Position {
        account: account.to_string(),
        isin,
        security_id,
        security_name: id.text_at("Desc").map(str::to_string),
        quantity,
        quantity_kind,
        available,
        price,
        market_value,
        book_value: None,
        as_of,
        source: source(bal, file),
    })
}

/// A balance's quantity, negative when `ShrtLngInd` says `SHOR`.
fn balance(bal: &Element) -> Result<(Decimal, QuantityKind), Problem> {
    let (q, kind) = first_quantity(bal).ok_or_else(|| {
        problem(
            bal,
            format!(
                "expected <Unit>, <FaceAmt> or <AmtsdVal> in <{}>, found none",
                bal.name
            ),
        )
    })?;
    let value = quantity(q)?;
    let short = match bal.child("ShrtLngInd") {
        None => false,
        Some(s) => match s.text.trim() {
            "SHOR" => true,
            "LONG" => false,
            other => {
                return Err(problem(
                    s,
                    format!("expected SHOR or LONG, found {other:?}"),
                ));
            }
        },
    };
    Ok((if short { -value } else { value }, kind))
}

fn first_quantity(at: &Element) -> Option<(&Element, QuantityKind)> {
    for c in &at.children {
        let kind = match c.name.as_str() {
            "Unit" => Some(QuantityKind::Units),
            "FaceAmt" => Some(QuantityKind::FaceAmount),
            "AmtsdVal" => Some(QuantityKind::AmortisedValue),
            _ => None,
        };
        if let Some(kind) = kind {
            return Some((c, kind));
        }
        if let Some(found) = first_quantity(c) {
            return Some(found);
        }
    }
    None
}

/// `PricDtls/Val`: a `Rate` is a percentage of face, an `Amt` a price per unit; an unknown
/// price (`UknwnInd`) is no price.
fn price(p: &Element) -> Result<Option<Price>, Problem> {
    let val = required(p, "Val")?;
    if let Some(rate) = val.child("Rate") {
        let value = super::value::decimal(&rate.text, true).ok_or_else(|| {
            problem(
                rate,
                format!(
                    "expected a rate such as 101.25 in <Rate>, found {:?}",
                    rate.text.trim()
                ),
            )
        })?;
        return Ok(Some(Price {
            value: super::value::within_magnitude(rate, value)?,
            currency: None,
            percentage: true,
        }));
    }
    if let Some(amt) = val.child("Amt") {
        let (value, currency) = money(amt)?;
        return Ok(Some(Price {
            value,
            currency: Some(currency),
            percentage: false,
        }));
    }
    Ok(None)
}
