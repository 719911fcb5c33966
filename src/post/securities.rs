//! Securities postings: a trade booked at its trade date against a settlement clearing
//! account, and each settlement the custodian confirms booked from that clearing account
//! against cash. The clearing account of a trade nets to zero once every confirmation of it is
//! booked; a failed settlement leaves it open, which is what the books should show.
//!
//! Buy, trade date:   Dr securities (price, plus fees when they are acquisition costs)
//!                    Dr fees (when booked as an expense)    Dr accrued interest (paid)
//!                    Cr settlement clearing (the trade's net amount)
//! Buy, settlement:   Dr settlement clearing   Cr cash (the amount the custodian confirms)
//! A sell is the mirror image: the clearing account is debited with the proceeds, the
//! securities account is credited with the proceeds net of fees (at the trade amount: the
//! realised result is not split out here, as clerk does not keep the lots' cost), accrued
//! interest received is credited to its account.
//!
//! Pure, refused unless balanced, keyed by the job and the trade id (and the confirmation's
//! identity for a settlement), so a blotter or MT536 sent again posts nothing twice.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::chart::Chart;
use super::{PostingRefused, check_balanced};
use crate::model::securities::{SecuritiesTransaction, Trade, TradeSide};
use crate::model::{Currency, EntryLine, JournalEntry};

/// The accounts a trade settlement job books trades to (`[settlement.accounts]`).
/// Placeholders in every template: `{currency}`, `{isin}`, `{account}` (the safekeeping
/// account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecuritiesAccounts {
    /// The securities held, at cost, e.g. `1510 Wertpapiere`.
    pub securities: String,
    /// What is owed to or by the broker between trade and settlement date, e.g.
    /// `1360 Geldtransit`.
    pub clearing: String,
    /// The cash account the custodian settles from, e.g. `1220 Depotbank Verrechnungskonto`.
    pub cash: String,
    /// Fees booked as an expense; `None`, or `fees_at_cost`, keeps them in the securities'
    /// cost (purchase) or proceeds (sale).
    pub fees: Option<String>,
    /// Accrued interest paid or received on a bond trade; `None` keeps it in the securities.
    pub accrued_interest: Option<String>,
    /// Fees are acquisition costs (§ 255 HGB: Anschaffungsnebenkosten): capitalised on a
    /// purchase, deducted from the proceeds of a sale.
    pub fees_at_cost: bool,
    /// The chart every account must be in, when the job has one.
    pub chart: Option<Arc<Chart>>,
}

impl SecuritiesAccounts {
    fn account(
        &self,
        template: &str,
        trade: &Trade,
        currency: Currency,
    ) -> Result<String, PostingRefused> {
        let text = template
            .replace("{currency}", currency.as_str())
            .replace("{isin}", &trade.isin)
            .replace("{account}", &trade.account);
        match &self.chart {
            Some(chart) => chart.resolve(&text, currency),
            None => Ok(text),
        }
    }
}

/// Why a trade cannot be booked: it lacks what an entry needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradeNotBooked {
    #[error("the blotter gives no net amount for trade {0}: nothing to book")]
    NoAmount(String),
    #[error("the blotter gives no currency for trade {0}: nothing to book")]
    NoCurrency(String),
    #[error(
        "trade {trade}: fees {fees} and accrued interest {accrued} exceed the net amount {net}"
    )]
    PartsExceedAmount {
        trade: String,
        net: Decimal,
        fees: Decimal,
        accrued: Decimal,
    },
    #[error(transparent)]
    Refused(#[from] PostingRefused),
}

/// The entry of a trade at its trade date. `source` names where the trade was read (the
/// blotter's file and line), for the narrative.
pub fn trade_entry(
    job: &str,
    trade: &Trade,
    accounts: &SecuritiesAccounts,
    source: &str,
) -> Result<JournalEntry, TradeNotBooked> {
    let net = trade
        .net_amount
        .ok_or_else(|| TradeNotBooked::NoAmount(trade.trade_id.clone()))?;
    let ccy = trade
        .currency
        .ok_or_else(|| TradeNotBooked::NoCurrency(trade.trade_id.clone()))?;
    let fees = trade.fees.unwrap_or_default();
    let accrued = trade.accrued_interest.unwrap_or_default();
    // The parts that go to their own accounts; what is left is the securities' own value.
    let fees_apart = match (&accounts.fees, accounts.fees_at_cost) {
        (Some(a), false) if !fees.is_zero() => Some((a, fees)),
        _ => None,
    };
    let accrued_apart = match &accounts.accrued_interest {
        Some(a) if !accrued.is_zero() => Some((a, accrued)),
        _ => None,
    };
    let fee_part = fees_apart.map_or(Decimal::ZERO, |(_, f)| f);
    let accrued_part = accrued_apart.map_or(Decimal::ZERO, |(_, a)| a);
    // Buy: net = price + fees + accrued. Sell: net = price - fees + accrued.
    let securities = match trade.side {
        TradeSide::Buy => net - fee_part - accrued_part,
        TradeSide::Sell => net + fee_part - accrued_part,
    };
    if securities < Decimal::ZERO {
        return Err(TradeNotBooked::PartsExceedAmount {
            trade: trade.trade_id.clone(),
            net,
            fees,
            accrued,
        });
    }
    // Debits positive for a buy; a sell turns every line but the fees round.
    let sign = match trade.side {
        TradeSide::Buy => Decimal::ONE,
        TradeSide::Sell => Decimal::NEGATIVE_ONE,
    };
    let mut lines = vec![EntryLine {
        account: accounts.account(&accounts.securities, trade, ccy)?,
        currency: ccy,
        amount: sign * securities,
        fx: None,
    }];
    if let Some((a, f)) = fees_apart {
        // Fees are an expense whichever way the trade goes.
        lines.push(EntryLine {
            account: accounts.account(a, trade, ccy)?,
            currency: ccy,
            amount: f,
            fx: None,
        });
    }
    if let Some((a, i)) = accrued_apart {
        lines.push(EntryLine {
            account: accounts.account(a, trade, ccy)?,
            currency: ccy,
            amount: sign * i,
            fx: None,
        });
    }
    lines.push(EntryLine {
        account: accounts.account(&accounts.clearing, trade, ccy)?,
        currency: ccy,
        amount: -sign * net,
        fx: None,
    });
    lines.retain(|l| !l.amount.is_zero());
    if lines.is_empty() {
        return Err(PostingRefused::Empty.into());
    }
    in_minor_units(&mut lines);
    check_balanced(&lines)?;
    let side = match trade.side {
        TradeSide::Buy => "buy",
        TradeSide::Sell => "sell",
    };
    Ok(JournalEntry {
        idempotency_key: key(job, "trade", &[&trade.trade_id]),
        posting_date: trade.trade_date,
        narrative: format!(
            "Trade {} {side} {} {} for {} ({source})",
            trade.trade_id,
            trade.quantity.normalize(),
            trade.isin,
            trade.account
        ),
        lines,
    })
}

/// The cash one confirmation settles of a trade, positive: what the custodian states when it
/// is in the trade's currency, else the trade's net amount in proportion to the quantity
/// settled (a free-of-payment confirmation, or one without an amount). Negative for a
/// confirmation that goes the other way (a delivery back against a buy).
pub fn settled_cash(trade: &Trade, confirmation: &SecuritiesTransaction) -> Option<Decimal> {
    let net = trade.net_amount?;
    let ccy = trade.currency?;
    let amount = match &confirmation.settlement_amount {
        Some(m) if m.currency == ccy && !m.amount.is_zero() => m.amount.abs(),
        _ if trade.quantity.is_zero() => return None,
        _ => (net * confirmation.quantity / trade.quantity).round_dp(ccy.minor_units()),
    };
    Some(if confirmation.direction == trade.side.settles_as() {
        amount
    } else {
        -amount
    })
}

/// Amounts written with the currency's minor units (a custodian's `12345,` is 12345.00 EUR),
/// as every other entry's are; never rounded, only padded.
fn in_minor_units(lines: &mut [EntryLine]) {
    for l in lines {
        let units = l.currency.minor_units();
        if l.amount.scale() < units {
            l.amount.rescale(units);
        }
    }
}

/// The entry of one confirmation of a trade's settlement: for a buy, the clearing account
/// debited and cash credited by what the custodian settled; the reverse for a sell. Dated the
/// day it settled. `identity` is the confirmation's identity as stored, `source` where it was
/// read.
pub fn settlement_entry(
    job: &str,
    trade: &Trade,
    confirmation: &SecuritiesTransaction,
    identity: &str,
    accounts: &SecuritiesAccounts,
    source: &str,
) -> Result<JournalEntry, TradeNotBooked> {
    let ccy = trade
        .currency
        .ok_or_else(|| TradeNotBooked::NoCurrency(trade.trade_id.clone()))?;
    let cash = settled_cash(trade, confirmation)
        .ok_or_else(|| TradeNotBooked::NoAmount(trade.trade_id.clone()))?;
    if cash.is_zero() {
        return Err(PostingRefused::Empty.into());
    }
    let sign = match trade.side {
        TradeSide::Buy => Decimal::ONE,
        TradeSide::Sell => Decimal::NEGATIVE_ONE,
    };
    let mut lines = vec![
        EntryLine {
            account: accounts.account(&accounts.clearing, trade, ccy)?,
            currency: ccy,
            amount: sign * cash,
            fx: None,
        },
        EntryLine {
            account: accounts.account(&accounts.cash, trade, ccy)?,
            currency: ccy,
            amount: -sign * cash,
            fx: None,
        },
    ];
    in_minor_units(&mut lines);
    check_balanced(&lines)?;
    let reference = confirmation
        .custodian_reference
        .as_deref()
        .or(confirmation.reference.as_deref())
        .unwrap_or("no reference");
    Ok(JournalEntry {
        idempotency_key: key(job, "settlement", &[&trade.trade_id, identity]),
        posting_date: confirmation
            .settlement_date
            .unwrap_or(trade.settlement_date),
        narrative: format!(
            "Settlement of trade {} ({reference}), {} {} for {} ({source})",
            trade.trade_id,
            confirmation.quantity.normalize(),
            trade.isin,
            trade.account
        ),
        lines,
    })
}

/// The key of a securities entry ([`super::document_key`]).
fn key(job: &str, kind: &str, identities: &[&str]) -> String {
    super::document_key(job, "securities-", kind, identities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::model::securities::{Direction, Money, QuantityKind};
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn accounts(fees: Option<&str>, accrued: Option<&str>, at_cost: bool) -> SecuritiesAccounts {
        SecuritiesAccounts {
            securities: "1510 Wertpapiere".into(),
            clearing: "1360 Geldtransit".into(),
            cash: "1220 Depotbank".into(),
            fees: fees.map(Into::into),
            accrued_interest: accrued.map(Into::into),
            fees_at_cost: at_cost,
            chart: None,
        }
    }

    fn trade(side: TradeSide, net: &str, fees: Option<&str>, accrued: Option<&str>) -> Trade {
        Trade {
            trade_id: "T-1".into(),
            account: "DEPOT-4711".into(),
            isin: "DE0001102580".into(),
            side,
            quantity: d("10000"),
            price: Some(d("99.5")),
            net_amount: Some(d(net)),
            fees: fees.map(d),
            accrued_interest: accrued.map(d),
            currency: Some("EUR".parse().unwrap()),
            trade_date: NaiveDate::from_ymd_opt(2026, 3, 27).unwrap(),
            settlement_date: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
            counterparty: None,
            source: Source::at(Arc::from("blotter"), None, 2),
        }
    }

    fn amounts(e: &JournalEntry) -> Vec<(String, Decimal)> {
        e.lines
            .iter()
            .map(|l| (l.account.clone(), l.amount))
            .collect()
    }

    #[test]
    fn a_bond_purchase_capitalises_fees_and_books_the_accrued_interest_apart() {
        // Price 9,950.00 + fees 25.00 + accrued interest 120.00 = 10,095.00 paid.
        let t = trade(TradeSide::Buy, "10095.00", Some("25.00"), Some("120.00"));
        let a = accounts(Some("4970 Fees"), Some("2655 Stückzinsen"), true);
        let e = trade_entry("j", &t, &a, "blotter.csv line 2").unwrap();
        assert_eq!(
            amounts(&e),
            vec![
                ("1510 Wertpapiere".into(), d("9975.00")),
                ("2655 Stückzinsen".into(), d("120.00")),
                ("1360 Geldtransit".into(), d("-10095.00")),
            ]
        );
        assert_eq!(e.posting_date, t.trade_date);
        assert!(
            e.narrative.contains("blotter.csv line 2"),
            "{}",
            e.narrative
        );
        // Fees as an expense instead.
        let a = accounts(Some("4970 Fees"), Some("2655 Stückzinsen"), false);
        let e = trade_entry("j", &t, &a, "x").unwrap();
        assert_eq!(amounts(&e)[0], ("1510 Wertpapiere".into(), d("9950.00")));
        assert_eq!(amounts(&e)[1], ("4970 Fees".into(), d("25.00")));
        // No accounts of their own: the whole amount is the securities' cost.
        let e = trade_entry("j", &t, &accounts(None, None, false), "x").unwrap();
        assert_eq!(
            amounts(&e),
            vec![
                ("1510 Wertpapiere".into(), d("10095.00")),
                ("1360 Geldtransit".into(), d("-10095.00")),
            ]
        );
    }

    #[test]
    fn a_sale_credits_the_securities_with_its_proceeds_and_debits_the_clearing() {
        // Price 9,950.00 - fees 25.00 + accrued interest 120.00 = 10,045.00 received.
        let t = trade(TradeSide::Sell, "10045.00", Some("25.00"), Some("120.00"));
        let a = accounts(Some("4970 Fees"), Some("2655 Stückzinsen"), false);
        let e = trade_entry("j", &t, &a, "x").unwrap();
        assert_eq!(
            amounts(&e),
            vec![
                ("1510 Wertpapiere".into(), d("-9950.00")),
                ("4970 Fees".into(), d("25.00")),
                ("2655 Stückzinsen".into(), d("-120.00")),
                ("1360 Geldtransit".into(), d("10045.00")),
            ]
        );
    }

    #[test]
    fn partial_settlements_clear_their_share_and_a_trade_without_amount_is_not_booked() {
        let t = trade(TradeSide::Buy, "10000.00", None, None);
        let conf = SecuritiesTransaction {
            account: "DEPOT-4711".into(),
            isin: Some("DE0001102580".into()),
            security_id: None,
            security_name: None,
            direction: Direction::Receive,
            quantity: d("4000"),
            quantity_kind: QuantityKind::FaceAmount,
            settlement_amount: None,
            trade_date: None,
            settlement_date: NaiveDate::from_ymd_opt(2026, 4, 1),
            reference: Some("T-1".into()),
            custodian_reference: Some("C-1".into()),
            status: None,
            counterparty: None,
            source: Source::at(Arc::from("mt536"), None, 20),
        };
        let a = accounts(None, None, true);
        let e = settlement_entry("j", &t, &conf, "settled|C-1", &a, "x").unwrap();
        assert_eq!(
            amounts(&e),
            vec![
                ("1360 Geldtransit".into(), d("4000.00")),
                ("1220 Depotbank".into(), d("-4000.00")),
            ]
        );
        assert_eq!(e.posting_date, NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
        let stated = SecuritiesTransaction {
            settlement_amount: Some(Money {
                amount: d("-4001.50"),
                currency: "EUR".parse().unwrap(),
            }),
            ..conf.clone()
        };
        let e2 = settlement_entry("j", &t, &stated, "settled|C-2", &a, "x").unwrap();
        assert_eq!(e2.lines[0].amount, d("4001.50"));
        assert_ne!(e.idempotency_key, e2.idempotency_key);
        // A custodian's whole amount (`:19A::PSTA//EUR4001,`) is written in cents, as every
        // other entry's amounts are.
        let whole = SecuritiesTransaction {
            settlement_amount: Some(Money {
                amount: d("-4001"),
                currency: "EUR".parse().unwrap(),
            }),
            ..conf.clone()
        };
        let e3 = settlement_entry("j", &t, &whole, "settled|C-3", &a, "x").unwrap();
        assert_eq!(e3.lines[0].amount.to_string(), "4001.00");
        assert_eq!(e3.lines[1].amount.to_string(), "-4001.00");
        let mut none = t.clone();
        none.net_amount = None;
        assert!(matches!(
            trade_entry("j", &none, &a, "x"),
            Err(TradeNotBooked::NoAmount(_))
        ));
    }
}
