//! Securities files from the firm's own systems, as CSV: the portfolio system's positions
//! (the book side of a position reconciliation, or a custodian's CSV holdings) and the front
//! office's trade blotter. The job maps its column names onto these fields.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::rows::{CellStyle, Wanted, read_csv};
use super::{ExtractError, Input};
use crate::model::Source;
use crate::model::securities::{Money, Position, Price, QuantityKind, Trade, TradeSide};

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

fn source(input: &Input, line: u32) -> Source {
    Source::at(Arc::clone(&input.file_hash), None, line)
}

pub fn positions(
    input: &Input,
    columns: &[Wanted],
    style: &CellStyle,
) -> Result<Vec<Position>, ExtractError> {
    let rows = read_csv(input, columns)?;
    rows.map(style, |r, s| {
        let account = r.text("account");
        let isin = r.text("isin").map(|i| i.to_ascii_uppercase());
        let quantity = r.decimal("quantity", s);
        let as_of = r.date("as_of", s);
        let name = r.text("name");
        let price = r.decimal("price", s);
        let market_value = r.decimal("market_value", s);
        let currency = match r.text("currency") {
            Some(c) => match c.parse() {
                Ok(c) => Some(c),
                Err(_) => {
                    r.refuse(
                        "currency",
                        format!("expected a currency code such as EUR, found {c:?}"),
                    );
                    None
                }
            },
            None => None,
        };
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
            as_of: as_of?,
            source: source(input, r.line),
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
    let rows = read_csv(input, columns)?;
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
        let counterparty = r.text("counterparty");
        let currency = match r.text("currency") {
            Some(c) => match c.parse() {
                Ok(c) => Some(c),
                Err(_) => {
                    r.refuse(
                        "currency",
                        format!("expected a currency code such as EUR, found {c:?}"),
                    );
                    None
                }
            },
            None => None,
        };
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
            currency,
            trade_date: trade_date?,
            settlement_date: settlement_date?,
            counterparty,
            source: source(input, r.line),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> Input<'_> {
        Input {
            name: "blotter.csv",
            bytes: text.as_bytes(),
            file_hash: Arc::from("h"),
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
