//! Securities files from the firm's own systems, as CSV or XLSX: the portfolio system's positions
//! (the book side of a position reconciliation, or a custodian's CSV holdings) and the front
//! office's trade blotter. The job maps its column names onto these fields.

use rust_decimal::Decimal;

use super::rows::{CellStyle, Wanted, read_table};
use super::{ExtractError, Input};
use crate::model::securities::{
    Direction, Money, Position, Price, QuantityKind, SecuritiesTransaction, Trade, TradeSide,
    TransactionStatement,
};

/// The fields of a positions file: (key, required).
pub const POSITION_FIELDS: &[(&str, bool)] = &[
    ("account", true),
    ("isin", true),
    ("quantity", true),
    ("as_of", true),
    ("name", false),
    ("price", false),
    ("market_value", false),
    ("currency", false),
    ("book_value", false),
];

/// The fields of a trade blotter: (key, required).
pub const TRADE_FIELDS: &[(&str, bool)] = &[
    ("trade_id", true),
    ("account", true),
    ("isin", true),
    ("side", true),
    ("quantity", true),
    ("trade_date", true),
    ("settlement_date", true),
    ("price", false),
    ("net_amount", false),
    ("currency", false),
    ("counterparty", false),
    ("fees", false),
    ("accrued_interest", false),
];

/// The fields of a custodian's settlement confirmations as CSV: (key, required).
pub const CONFIRMATION_FIELDS: &[(&str, bool)] = &[
    ("account", true),
    ("isin", true),
    ("direction", true),
    ("quantity", true),
    ("settlement_date", true),
    ("reference", false),
    ("custodian_reference", false),
    ("settlement_amount", false),
    ("currency", false),
    ("trade_date", false),
    ("counterparty", false),
];

/// The columns to read: the job's mapping, each field's own name where the job maps none.
pub fn wanted(fields: &[(&'static str, bool)], mapping: &[(String, String)]) -> Vec<Wanted> {
    fields
        .iter()
        .map(|&(key, required)| Wanted {
            key,
            header: mapping
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, h)| h.clone())
                .unwrap_or_else(|| key.to_owned()),
            required,
        })
        .collect()
}

pub fn positions(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<Position>, ExtractError> {
    let rows = read_table(input, columns)?;
    rows.map(style, |r, s| {
        let account = r.text("account");
        let isin = r.text("isin").map(|i| i.to_ascii_uppercase());
        let quantity = r.decimal("quantity", s);
        let as_of = r.date("as_of", s);
        let name = r.text("name");
        let price = r.decimal("price", s);
        let market_value = r.decimal("market_value", s);
        let book_value = r.decimal("book_value", s);
        let currency = r.currency("currency");
        Some(Position {
            account: account?,
            isin: Some(isin?),
            security_id: None,
            security_name: name,
            quantity: quantity?,
            quantity_kind: QuantityKind::Units,
            available: None,
            price: price.map(|value| Price {
                value,
                currency,
                percentage: false,
            }),
            market_value: market_value
                .zip(currency)
                .map(|(amount, currency)| Money { amount, currency }),
            book_value: book_value
                .zip(currency)
                .map(|(amount, currency)| Money { amount, currency }),
            as_of: as_of?,
            source: r.source(input),
        })
    })
}

pub fn trades(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<Trade>, ExtractError> {
    const SIDES: &[(&str, TradeSide)] = &[
        ("B", TradeSide::Buy),
        ("BUY", TradeSide::Buy),
        ("S", TradeSide::Sell),
        ("SELL", TradeSide::Sell),
    ];
    let rows = read_table(input, columns)?;
    rows.map(style, |r, s| {
        let trade_id = r.text("trade_id");
        let account = r.text("account");
        let isin = r.text("isin").map(|i| i.to_ascii_uppercase());
        let side = r.choice("side", SIDES, "B, BUY, S or SELL");
        let quantity = r.decimal("quantity", s);
        let trade_date = r.date("trade_date", s);
        let settlement_date = r.date("settlement_date", s);
        let price = r.decimal("price", s);
        let net_amount = r.decimal("net_amount", s).map(|a| a.abs());
        let fees = r.decimal("fees", s).map(|a| a.abs());
        let accrued_interest = r.decimal("accrued_interest", s).map(|a| a.abs());
        let counterparty = r.text("counterparty");
        let currency = r.currency("currency");
        if let Some(q) = quantity
            && q <= Decimal::ZERO
        {
            r.refuse(
                "quantity",
                format!("expected a positive quantity (the side says buy or sell), found {q}"),
            );
            return None;
        }
        if let (Some(t), Some(sd)) = (trade_date, settlement_date)
            && sd < t
        {
            r.refuse(
                "settlement_date",
                format!("settlement date {sd} is before the trade date {t}"),
            );
            return None;
        }
        Some(Trade {
            trade_id: trade_id?,
            account: account?,
            isin: isin?,
            side: side?,
            quantity: quantity?,
            price,
            net_amount,
            fees,
            accrued_interest,
            currency,
            trade_date: trade_date?,
            settlement_date: settlement_date?,
            counterparty,
            source: r.source(input),
        })
    })
}

/// A custodian's CSV of settled transactions, as one statement per account.
pub fn confirmations(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<TransactionStatement>, ExtractError> {
    const DIRECTIONS: &[(&str, Direction)] = &[
        ("RECE", Direction::Receive),
        ("RECEIVE", Direction::Receive),
        ("R", Direction::Receive),
        ("DELI", Direction::Deliver),
        ("DELIVER", Direction::Deliver),
        ("D", Direction::Deliver),
    ];
    let rows = read_table(input, columns)?;
    let txs = rows.map(style, |r, s| {
        let account = r.text("account");
        let isin = r.text("isin").map(|i| i.to_ascii_uppercase());
        let direction = r.choice(
            "direction",
            DIRECTIONS,
            "RECE, RECEIVE, R, DELI, DELIVER or D",
        );
        let quantity = r.decimal("quantity", s);
        let settlement_date = r.date("settlement_date", s);
        let trade_date = r.date("trade_date", s);
        let amount = r.decimal("settlement_amount", s);
        let currency = r.currency("currency");
        if amount.is_some() && currency.is_none() {
            r.refuse("currency", "a settlement amount needs its currency");
            return None;
        }
        Some(SecuritiesTransaction {
            account: account?,
            isin: Some(isin?),
            security_id: None,
            security_name: None,
            direction: direction?,
            quantity: quantity?.abs(),
            quantity_kind: QuantityKind::Units,
            settlement_amount: amount
                .zip(currency)
                .map(|(amount, currency)| Money { amount, currency }),
            trade_date,
            settlement_date: Some(settlement_date?),
            reference: r.text("reference"),
            custodian_reference: r.text("custodian_reference"),
            status: None,
            counterparty: r.text("counterparty"),
            source: r.source(input),
        })
    })?;
    let mut by: std::collections::BTreeMap<String, Vec<SecuritiesTransaction>> = Default::default();
    for t in txs {
        by.entry(t.account.clone()).or_default().push(t);
    }
    Ok(by
        .into_iter()
        .map(|(account, transactions)| TransactionStatement {
            account,
            statement_id: None,
            from_date: transactions.iter().filter_map(|t| t.settlement_date).min(),
            to_date: transactions.iter().filter_map(|t| t.settlement_date).max(),
            pending: false,
            source: transactions[0].source.clone(),
            transactions,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> Input<'_> {
        Input {
            name: "blotter.csv",
            bytes: text.as_bytes(),
            file_hash: std::sync::Arc::from("h"),
        }
    }

    #[test]
    fn a_blotter_with_mapped_headers_becomes_trades_with_their_lines() {
        let mapping = vec![
            ("trade_id".to_string(), "Trade Ref".to_string()),
            ("side".to_string(), "B/S".to_string()),
        ];
        let cols = wanted(TRADE_FIELDS, &mapping);
        let text = "Trade Ref,account,isin,B/S,quantity,price,net_amount,currency,trade_date,settlement_date\n\
                    T-1,SAFE-1,de0005557508,buy,100,12.5,1250.00,EUR,2026-11-24,2026-11-26\n\
                    T-2,SAFE-1,US0378331005,S,10,,-1800.00,USD,2026-11-24,2026-11-26\n";
        let t = trades(&input(text), &cols, &CellStyle::default()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].trade_id, "T-1");
        assert_eq!(t[0].isin, "DE0005557508");
        assert_eq!(t[0].side, TradeSide::Buy);
        assert_eq!(t[0].source.row, 2);
        assert_eq!(t[1].side, TradeSide::Sell);
        assert_eq!(
            t[1].net_amount,
            Some("1800.00".parse().unwrap()),
            "sizes, not signs"
        );
        assert_eq!(t[1].price, None);
    }

    #[test]
    fn bad_trades_are_refused_naming_line_and_column() {
        let cols = wanted(TRADE_FIELDS, &[]);
        let text = "trade_id,account,isin,side,quantity,trade_date,settlement_date\n\
                    T-1,SAFE-1,DE0005557508,HOLD,100,2026-11-24,2026-11-26\n\
                    T-2,SAFE-1,DE0005557508,B,-5,2026-11-24,2026-11-26\n\
                    T-3,SAFE-1,DE0005557508,B,5,2026-11-24,2026-11-20\n";
        let e = trades(&input(text), &cols, &CellStyle::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2, column \"side\": expected B, BUY, S or SELL, found \"HOLD\""),
            "{e}"
        );
        assert!(
            e.contains("line 3, column \"quantity\": expected a positive quantity"),
            "{e}"
        );
        assert!(
            e.contains("line 4, column \"settlement_date\": settlement date 2026-11-20 is before"),
            "{e}"
        );
    }

    #[test]
    fn confirmations_become_settled_transactions_per_account() {
        let cols = wanted(CONFIRMATION_FIELDS, &[]);
        let text = "account,isin,direction,quantity,settlement_date,reference,settlement_amount,currency\n\
                    SAFE-2,DE0005557508,RECE,100,2026-11-26,T-1,-1250.00,EUR\n\
                    SAFE-1,DE0005557508,deli,5,2026-11-26,,,\n";
        let s = confirmations(&input(text), &cols, &CellStyle::default()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].account, "SAFE-1");
        assert!(!s[0].pending);
        assert_eq!(s[0].transactions[0].direction, Direction::Deliver);
        let t = &s[1].transactions[0];
        assert_eq!(t.reference.as_deref(), Some("T-1"));
        assert_eq!(
            t.settlement_amount.as_ref().unwrap().amount,
            "-1250.00".parse().unwrap()
        );
        let bad = "account,isin,direction,quantity,settlement_date,settlement_amount\nS,DE0005557508,X,1,2026-11-26,5\n";
        let e = confirmations(&input(bad), &cols, &CellStyle::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("column \"direction\": expected RECE"), "{e}");
    }

    #[test]
    fn positions_with_price_and_market_value() {
        let cols = wanted(POSITION_FIELDS, &[("account".into(), "Portfolio".into())]);
        let text = "Portfolio;isin;quantity;price;market_value;currency;as_of\nPF-1;DE0005557508;1.000;12,40;12.400,00;EUR;26.11.2026\n";
        let style = CellStyle::new(',', Some('.'), &["%d.%m.%Y".to_string()]).unwrap();
        let p = positions(&input(text), &cols, &style).unwrap();
        assert_eq!(p[0].account, "PF-1");
        assert_eq!(p[0].quantity, Decimal::from(1000));
        assert_eq!(
            p[0].market_value.as_ref().unwrap().amount,
            "12400.00".parse().unwrap()
        );
        assert_eq!(p[0].as_of.to_string(), "2026-11-26");
    }
}
