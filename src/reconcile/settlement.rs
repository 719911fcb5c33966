//! Trade settlement: the front office's trades against the custodian's settlement
//! confirmations (MT536/MT537, semt-style CSV). A trade that has not settled by the end of its
//! settlement date has failed; the break is aged from that date, not from when clerk noticed.
//!
//! Two passes, each deterministic whatever the order of the inputs:
//! 1. **reference**: the confirmation carries the trade id (`:20C::RELA//`); partial
//!    settlements with the same reference add up;
//! 2. **details**: same account, ISIN, direction and quantity, settled within a window of
//!    business days around the contractual date; the closest date wins, ties by the
//!    confirmation's own reference.
//!
//! A trade matched by reference whose quantity or cash amount disagrees is not settled: it is
//! a quantity or amount break with the difference.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::model::securities::{SecuritiesTransaction, Trade};
use crate::schedule::Calendar;

#[derive(Clone, Debug)]
pub struct SettlementRules {
    /// How many business days from the contractual settlement date a confirmation without
    /// the trade's reference may be and still match by its details.
    pub window_business_days: i64,
    pub amount_tolerance: Decimal,
    pub quantity_tolerance: Decimal,
    pub calendar: Calendar,
}

/// What became of one trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TradeStatus {
    /// Settled by these confirmations (indexes into the confirmations given).
    Settled {
        confirmations: Vec<usize>,
        by_reference: bool,
        /// Business days between the contractual and the actual settlement date.
        days_late: i64,
    },
    /// Confirmed by reference, but for another quantity: `trade - settled`.
    QuantityDifference {
        confirmations: Vec<usize>,
        difference: Decimal,
    },
    /// Confirmed by reference, quantity right, cash amount off: `trade - settled`.
    AmountDifference {
        confirmations: Vec<usize>,
        difference: Decimal,
    },
    /// Not settled, not due yet.
    Pending,
    /// Not settled by its settlement date; `business_days` late as of today.
    Failed { business_days: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementOutcome {
    /// One per trade, in the order given.
    pub trades: Vec<TradeStatus>,
    /// Confirmations no trade claimed: settled at the custodian, not in the blotter.
    pub unclaimed: Vec<usize>,
}

fn norm(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

fn isin_of(c: &SecuritiesTransaction) -> String {
    norm(c.isin.as_deref().or(c.security_id.as_deref()).unwrap_or(""))
}

/// A stable identity of a confirmation for tie-breaks (never its position in the input).
fn confirmation_key(c: &SecuritiesTransaction) -> (String, String, Option<NaiveDate>, String) {
    (
        c.custodian_reference.clone().unwrap_or_default(),
        c.reference.clone().unwrap_or_default(),
        c.settlement_date,
        c.quantity.to_string(),
    )
}

/// Pairs trades with the custodian's settlement confirmations: first by the trade id a
/// confirmation quotes, then, for trades still open, by their details; a trade left over is
/// pending or failed by its settlement date.
pub fn reconcile_settlements(
    trades: &[Trade],
    confirmations: &[SecuritiesTransaction],
    rules: &SettlementRules,
    today: NaiveDate,
) -> SettlementOutcome {
    let mut used = vec![false; confirmations.len()];
    let mut status: Vec<Option<TradeStatus>> = vec![None; trades.len()];
    // Trades in id order, so which trade gets a contested confirmation never depends on the
    // order of the blotter.
    let mut order: Vec<usize> = (0..trades.len()).collect();
    order.sort_by(|&a, &b| trades[a].trade_id.cmp(&trades[b].trade_id).then(a.cmp(&b)));

    // Pass 1: by reference.
    for &t in &order {
        let trade = &trades[t];
        let id = norm(&trade.trade_id);
        let mut ids: Vec<usize> = (0..confirmations.len())
            .filter(|&i| {
                !used[i] && confirmations[i].reference.as_deref().map(norm) == Some(id.clone())
            })
            .collect();
        if ids.is_empty() {
            continue;
        }
        ids.sort_by_key(|&i| confirmation_key(&confirmations[i]));
        for &i in &ids {
            used[i] = true;
        }
        status[t] = Some(by_reference(trade, ids, confirmations, rules));
    }

    // Pass 2: by details, closest settlement date first.
    for &t in &order {
        if status[t].is_some() {
            continue;
        }
        let trade = &trades[t];
        if let Some(i) = closest_by_details(trade, &used, confirmations, rules) {
            used[i] = true;
            status[t] = Some(TradeStatus::Settled {
                confirmations: vec![i],
                by_reference: false,
                days_late: days_late(trade, confirmations[i].settlement_date, rules),
            });
        }
    }

    let trades_status = trades
        .iter()
        .zip(status)
        .map(|(trade, s)| s.unwrap_or_else(|| unconfirmed(trade, today, rules)))
        .collect();
    let mut unclaimed: Vec<usize> = (0..confirmations.len()).filter(|&i| !used[i]).collect();
    unclaimed.sort_by_key(|&i| confirmation_key(&confirmations[i]));
    SettlementOutcome {
        trades: trades_status,
        unclaimed,
    }
}

/// A trade with the confirmations that quote its id: settled when together they deliver its
/// quantity (confirmations the other way count against) and its cash, else the difference.
fn by_reference(
    trade: &Trade,
    ids: Vec<usize>,
    confirmations: &[SecuritiesTransaction],
    rules: &SettlementRules,
) -> TradeStatus {
    let direction = trade.side.settles_as();
    let quantity: Decimal = ids
        .iter()
        .map(|&i| {
            let c = &confirmations[i];
            if c.direction == direction {
                c.quantity
            } else {
                -c.quantity
            }
        })
        .sum();
    let difference = trade.quantity - quantity;
    if difference.abs() > rules.quantity_tolerance {
        TradeStatus::QuantityDifference {
            confirmations: ids,
            difference,
        }
    } else if let Some(d) = amount_difference(trade, &ids, confirmations, rules) {
        TradeStatus::AmountDifference {
            confirmations: ids,
            difference: d,
        }
    } else {
        // Settled on the last confirmation's date.
        let settled_on = ids
            .iter()
            .filter_map(|&i| confirmations[i].settlement_date)
            .max();
        TradeStatus::Settled {
            days_late: days_late(trade, settled_on, rules),
            confirmations: ids,
            by_reference: true,
        }
    }
}

/// The unused confirmation that fits a trade on every detail (account, ISIN, direction,
/// quantity, cash) within the settlement window: the closest by settlement date, ties by the
/// confirmation's own references.
fn closest_by_details(
    trade: &Trade,
    used: &[bool],
    confirmations: &[SecuritiesTransaction],
    rules: &SettlementRules,
) -> Option<usize> {
    let isin = norm(&trade.isin);
    (0..confirmations.len())
        .filter(|&i| !used[i])
        .filter_map(|i| {
            let c = &confirmations[i];
            let date = c.settlement_date?;
            let gap = rules.calendar.business_days_between(
                trade.settlement_date.min(date),
                trade.settlement_date.max(date),
            );
            let fits = norm(&c.account) == norm(&trade.account)
                && isin_of(c) == isin
                && c.direction == trade.side.settles_as()
                && (c.quantity - trade.quantity).abs() <= rules.quantity_tolerance
                && gap <= rules.window_business_days
                && amount_difference(trade, &[i], confirmations, rules).is_none();
            fits.then(|| (gap, confirmation_key(c), i))
        })
        .min()
        .map(|(_, _, i)| i)
}

/// Business days after the intended settlement date that the trade settled (0 when on time
/// or early, or when no confirmation dates it).
fn days_late(trade: &Trade, settled_on: Option<NaiveDate>, rules: &SettlementRules) -> i64 {
    settled_on
        .map(|d| {
            rules
                .calendar
                .business_days_between(trade.settlement_date, d)
                .max(0)
        })
        .unwrap_or(0)
}

/// A trade no confirmation settles: failed once its settlement date has passed (at least one
/// business day), pending until then.
fn unconfirmed(trade: &Trade, today: NaiveDate, rules: &SettlementRules) -> TradeStatus {
    if today > trade.settlement_date {
        TradeStatus::Failed {
            business_days: rules
                .calendar
                .business_days_between(trade.settlement_date, today)
                .max(1),
        }
    } else {
        TradeStatus::Pending
    }
}

/// `trade - settled` cash, when both sides state it and they differ by more than the
/// tolerance. Signs differ between systems, so sizes are compared.
fn amount_difference(
    trade: &Trade,
    ids: &[usize],
    confirmations: &[SecuritiesTransaction],
    rules: &SettlementRules,
) -> Option<Decimal> {
    let expected = trade.net_amount?;
    let amounts: Vec<Decimal> = ids
        .iter()
        .filter_map(|&i| {
            confirmations[i]
                .settlement_amount
                .as_ref()
                .map(|m| m.amount.abs())
        })
        .collect();
    if amounts.is_empty() {
        return None;
    }
    let settled: Decimal = amounts.iter().sum();
    let d = expected.abs() - settled;
    (d.abs() > rules.amount_tolerance).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::model::securities::{Direction, Money, QuantityKind, TradeSide};
    use std::str::FromStr;
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn day(m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, dd).unwrap()
    }

    fn trade(id: &str, side: TradeSide, qty: &str, amount: &str, settle: NaiveDate) -> Trade {
        Trade {
            trade_id: id.into(),
            account: "SAFE-1".into(),
            isin: "DE0005557508".into(),
            side,
            quantity: d(qty),
            price: None,
            net_amount: Some(d(amount)),
            fees: None,
            accrued_interest: None,
            currency: Some("EUR".parse().unwrap()),
            trade_date: settle - chrono::Days::new(2),
            settlement_date: settle,
            counterparty: None,
            source: Source::at(Arc::from("blotter"), None, 2),
        }
    }

    fn conf(
        reference: Option<&str>,
        dir: Direction,
        qty: &str,
        amount: &str,
        settled: NaiveDate,
    ) -> SecuritiesTransaction {
        SecuritiesTransaction {
            account: "SAFE-1".into(),
            isin: Some("DE0005557508".into()),
            security_id: None,
            security_name: None,
            direction: dir,
            quantity: d(qty),
            quantity_kind: QuantityKind::Units,
            settlement_amount: Some(Money {
                amount: d(amount),
                currency: "EUR".parse().unwrap(),
            }),
            trade_date: None,
            settlement_date: Some(settled),
            reference: reference.map(str::to_owned),
            custodian_reference: Some(format!("C-{qty}-{settled}")),
            status: None,
            counterparty: None,
            source: Source::at(Arc::from("mt536"), None, 9),
        }
    }

    fn rules() -> SettlementRules {
        SettlementRules {
            window_business_days: 2,
            amount_tolerance: d("0.01"),
            quantity_tolerance: Decimal::ZERO,
            // 2026-11-27 is a Friday; the 30th a Monday.
            calendar: Calendar::weekends_only(),
        }
    }

    #[test]
    fn settled_by_reference_partials_add_up_and_lateness_counts_business_days() {
        let t = [trade("T1", TradeSide::Buy, "100", "1000.00", day(11, 27))];
        let c = [
            conf(Some("t1"), Direction::Receive, "60", "600.00", day(11, 27)),
            conf(Some("T1"), Direction::Receive, "40", "400.00", day(11, 30)),
        ];
        let o = reconcile_settlements(&t, &c, &rules(), day(12, 1));
        assert_eq!(
            o.trades,
            vec![TradeStatus::Settled {
                confirmations: vec![1, 0],
                by_reference: true,
                days_late: 1
            }]
        );
        assert!(o.unclaimed.is_empty());
    }

    #[test]
    fn reference_match_with_wrong_quantity_or_amount_is_a_break_with_the_difference() {
        let t = [
            trade("T1", TradeSide::Buy, "100", "1000.00", day(11, 27)),
            trade("T2", TradeSide::Sell, "50", "500.00", day(11, 27)),
            trade("T3", TradeSide::Sell, "50", "500.00", day(11, 27)),
        ];
        let c = [
            conf(Some("T1"), Direction::Receive, "90", "900.00", day(11, 27)),
            conf(Some("T2"), Direction::Deliver, "50", "-500.02", day(11, 27)),
            conf(Some("T3"), Direction::Deliver, "50", "-500.01", day(11, 27)), // at the tolerance
        ];
        let o = reconcile_settlements(&t, &c, &rules(), day(11, 27));
        assert_eq!(
            o.trades[0],
            TradeStatus::QuantityDifference {
                confirmations: vec![0],
                difference: d("10")
            }
        );
        assert_eq!(
            o.trades[1],
            TradeStatus::AmountDifference {
                confirmations: vec![1],
                difference: d("-0.02")
            }
        );
        assert!(matches!(o.trades[2], TradeStatus::Settled { .. }));
    }

    #[test]
    fn details_match_within_the_window_across_a_weekend_not_beyond() {
        let t = [
            trade("T1", TradeSide::Buy, "100", "1000.00", day(11, 26)),
            trade("T2", TradeSide::Buy, "200", "2000.00", day(11, 26)),
        ];
        let c = [
            // Thu 26 → Mon 30 is 2 business days: inside.
            conf(None, Direction::Receive, "100", "1000.00", day(11, 30)),
            // Thu 26 → Tue 1 Dec is 3: outside.
            conf(None, Direction::Receive, "200", "2000.00", day(12, 1)),
        ];
        let o = reconcile_settlements(&t, &c, &rules(), day(12, 1));
        assert_eq!(
            o.trades[0],
            TradeStatus::Settled {
                confirmations: vec![0],
                by_reference: false,
                days_late: 2
            }
        );
        assert_eq!(o.trades[1], TradeStatus::Failed { business_days: 3 });
        assert_eq!(o.unclaimed, vec![1]);
    }

    #[test]
    fn unsettled_trades_are_pending_until_their_date_then_failed() {
        let t = [trade("T1", TradeSide::Sell, "10", "100.00", day(11, 27))];
        assert_eq!(
            reconcile_settlements(&t, &[], &rules(), day(11, 27)).trades[0],
            TradeStatus::Pending
        );
        // Friday's trade is one business day late on Monday, not three.
        assert_eq!(
            reconcile_settlements(&t, &[], &rules(), day(11, 30)).trades[0],
            TradeStatus::Failed { business_days: 1 }
        );
    }

    #[test]
    fn a_wrong_direction_never_settles_a_trade() {
        let t = [trade("T1", TradeSide::Sell, "10", "100.00", day(11, 27))];
        let c = [conf(None, Direction::Receive, "10", "100.00", day(11, 27))];
        let o = reconcile_settlements(&t, &c, &rules(), day(11, 30));
        assert_eq!(o.trades[0], TradeStatus::Failed { business_days: 1 });
        assert_eq!(o.unclaimed, vec![0]);
    }

    #[test]
    fn contested_confirmations_go_the_same_way_whatever_the_input_order() {
        let mut t = vec![
            trade("T2", TradeSide::Buy, "100", "1000.00", day(11, 27)),
            trade("T1", TradeSide::Buy, "100", "1000.00", day(11, 27)),
        ];
        let c = [conf(
            None,
            Direction::Receive,
            "100",
            "1000.00",
            day(11, 27),
        )];
        let a = reconcile_settlements(&t, &c, &rules(), day(11, 30));
        // T1 sorts first and takes the one confirmation.
        assert!(matches!(a.trades[1], TradeStatus::Settled { .. }));
        assert_eq!(a.trades[0], TradeStatus::Failed { business_days: 1 });
        t.reverse();
        let b = reconcile_settlements(&t, &c, &rules(), day(11, 30));
        assert!(matches!(b.trades[0], TradeStatus::Settled { .. }));
        assert_eq!(b.trades[1], TradeStatus::Failed { business_days: 1 });
    }
}
