//! Cash discount terms (Skonto) of an invoice's payment terms: UBL's
//! `PaymentTerms/SettlementDiscountPercent` with its `SettlementPeriod`, CII's
//! `SpecifiedTradePaymentTerms/ApplicableTradePaymentDiscountTerms`, and the XRechnung
//! convention both syntaxes carry in the terms' note (`#SKONTO#TAGE=14#PROZENT=2.00#`).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Cx, parse_decimal};
use crate::extract::xml::Element;
use crate::model::invoice::CashDiscount;

/// The first cash discount of a UBL invoice's payment terms.
pub(super) fn ubl(root: &Element, cx: &mut Cx<'_>) -> Option<CashDiscount> {
    for t in root.children("PaymentTerms") {
        if let Some(percent) = cx.amount(t, "SettlementDiscountPercent", "a discount percentage") {
            let until = cx.iso_date(t, "SettlementPeriod/EndDate", "the discount's last day");
            let days = t
                .find("SettlementPeriod/DurationMeasure")
                .filter(|d| d.attr("unitCode").is_none_or(|u| u.trim() == "DAY"))
                .and_then(|d| days(d, cx));
            if until.is_some() || days.is_some() {
                return Some(CashDiscount {
                    percent,
                    days,
                    until,
                });
            }
            cx.missing(
                t,
                "SettlementPeriod",
                "the period the discount is granted for",
            );
            return None;
        }
        if let Some(note) = t.text_at("Note")
            && let Some(d) = xrechnung(note)
        {
            return Some(d);
        }
    }
    None
}

/// The first cash discount of a CII invoice's payment terms.
pub(super) fn cii(settlement: &Element, cx: &mut Cx<'_>) -> Option<CashDiscount> {
    for t in settlement.children("SpecifiedTradePaymentTerms") {
        if let Some(d) = t.child("ApplicableTradePaymentDiscountTerms") {
            let percent = cx.amount(d, "CalculationPercent", "a discount percentage")?;
            let days = d
                .child("BasisPeriodMeasure")
                .filter(|m| m.attr("unitCode").is_none_or(|u| u.trim() == "DAY"))
                .and_then(|m| days(m, cx));
            let basis = cx.cii_date(d, "BasisDateTime", "the discount's basis date");
            // A basis date with a period: the discount runs that many days from it.
            let until = match (basis, days) {
                (Some(b), Some(n)) => b.checked_add_days(chrono::Days::new(u64::from(n))),
                _ => None,
            };
            if until.is_none() && days.is_none() {
                cx.missing(
                    d,
                    "BasisPeriodMeasure",
                    "the days the discount is granted for",
                );
                return None;
            }
            return Some(CashDiscount {
                percent,
                days,
                until,
            });
        }
        if let Some(note) = t.text_at("Description")
            && let Some(d) = xrechnung(note)
        {
            return Some(d);
        }
    }
    None
}

/// A whole number of days; a problem otherwise.
fn days(e: &Element, cx: &mut Cx<'_>) -> Option<u32> {
    let v = cx.amount_of(e, "a number of days")?;
    let n = u32::try_from(v.trunc().mantissa())
        .ok()
        .filter(|_| v.fract().is_zero());
    if n.is_none() {
        cx.problem(e, format!("expected a whole number of days, found {v}"));
    }
    n
}

/// XRechnung's `#SKONTO#TAGE=14#PROZENT=2.00#` (the first such line).
pub(crate) fn xrechnung(note: &str) -> Option<CashDiscount> {
    let at = note.find("#SKONTO#")?;
    let rest = &note[at + "#SKONTO#".len()..];
    let (mut days, mut percent) = (None, None);
    for field in rest.split('#').take_while(|f| !f.contains('\n')) {
        match field.split_once('=') {
            Some(("TAGE", v)) => days = v.trim().parse::<u32>().ok(),
            Some(("PROZENT", v)) => percent = parse_decimal(v.trim()).ok(),
            _ => {}
        }
    }
    Some(CashDiscount {
        percent: percent.filter(|p: &Decimal| !p.is_sign_negative())?,
        days: Some(days?),
        until: None::<NaiveDate>,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrechnung_notes_carry_the_discount() {
        let d = xrechnung("#SKONTO#TAGE=14#PROZENT=2.00#\n").unwrap();
        assert_eq!((d.days, d.percent), (Some(14), "2.00".parse().unwrap()));
        assert!(xrechnung("Zahlbar in 30 Tagen").is_none());
        assert!(xrechnung("#SKONTO#PROZENT=2.00#").is_none());
    }
}
