//! What custodians report: holdings (MT535, semt.002) and settled transactions (MT536,
//! MT537).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Currency, Source};

/// How a quantity is counted (SWIFT `:93B:` `UNIT`/`FAMT`/`AMOR`, ISO 20022 `Unit`/`FaceAmt`/
/// `AmtsdVal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityKind {
    /// Number of shares or units.
    Units,
    /// Face (nominal) amount of a bond.
    FaceAmount,
    /// Amortised value.
    AmortisedValue,
}

/// A custodian's statement of holdings for one safekeeping account on one date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingStatement {
    /// Safekeeping account (`:97A::SAFE//`, `SfkpgAcct/Id`).
    pub account: String,
    /// The date the holdings are stated for (`:98A::STAT//`, `StmtDtTm`).
    pub statement_date: NaiveDate,
    /// Sender's reference (`:20C::SEME//`, `StmtGnlDtls/Ref` or `MsgId`).
    pub statement_id: Option<String>,
    /// Page (`:28E:` `1/ONLY`, `Pgntn`).
    pub page: Option<String>,
    pub positions: Vec<Position>,
    pub source: Source,
}

/// One security held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub account: String,
    /// ISIN when the custodian gives one (`:35B:ISIN ...`, `FinInstrmId/ISIN`); otherwise
    /// `security_id` holds what it gave.
    pub isin: Option<String>,
    /// Another identifier (`/US/31392EXH8` CUSIP, a local code) when there is no ISIN.
    pub security_id: Option<String>,
    pub security_name: Option<String>,
    /// Aggregate balance (`:93B::AGGR//`, `AggtBal`). Signed: a short position is negative.
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub quantity_kind: QuantityKind,
    /// Available balance, when stated separately (`:93B::AVAI//`).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub available: Option<Decimal>,
    /// Price per unit, or a percentage of face for bonds (`:90A:`/`:90B:`, `PricDtls`).
    pub price: Option<Price>,
    /// Holding value (`:19A::HOLD//`, `HldgVal`), signed.
    pub market_value: Option<Money>,
    /// What the position stands at in the books (its cost, as the portfolio system keeps it;
    /// a custodian's CSV may state its own), signed. SWIFT and ISO 20022 holdings carry none.
    #[serde(default)]
    pub book_value: Option<Money>,
    pub as_of: NaiveDate,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    /// `None` when the price is a percentage (`:90A::MRKT//PRCT/`).
    pub currency: Option<Currency>,
    pub percentage: bool,
}

/// Receipt or delivery of securities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Receive,
    Deliver,
}

/// A custodian's statement of transactions (MT536) or of pending transactions (MT537).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStatement {
    pub account: String,
    pub statement_id: Option<String>,
    /// Period or date of the statement.
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    /// `true` for MT537 (pending, not settled).
    pub pending: bool,
    pub transactions: Vec<SecuritiesTransaction>,
    pub source: Source,
}

/// One settlement (or pending settlement) of a security.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecuritiesTransaction {
    pub account: String,
    pub isin: Option<String>,
    pub security_id: Option<String>,
    pub security_name: Option<String>,
    pub direction: Direction,
    /// Quantity settled (positive; `direction` says which way).
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub quantity_kind: QuantityKind,
    /// Settlement amount, signed as it moves cash (`:19A::PSTA//`), when given.
    pub settlement_amount: Option<Money>,
    pub trade_date: Option<NaiveDate>,
    /// Effective (`:98A::ESET//`) or contractual settlement date.
    pub settlement_date: Option<NaiveDate>,
    /// The account owner's reference (`:20C::RELA//`), usually the trade id.
    pub reference: Option<String>,
    /// The custodian's reference (`:20C::ASRF//`).
    pub custodian_reference: Option<String>,
    /// Status or reason codes as given (`:25D:`, `:24B:` for MT537).
    pub status: Option<String>,
    pub counterparty: Option<String>,
    pub source: Source,
}

/// Buy or sell, as the front office books a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeSide {
    Buy,
    Sell,
}

impl TradeSide {
    /// A buy settles as a receipt of securities, a sell as a delivery.
    pub fn settles_as(self) -> Direction {
        match self {
            TradeSide::Buy => Direction::Receive,
            TradeSide::Sell => Direction::Deliver,
        }
    }
}

/// One trade from the front office's blotter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub trade_id: String,
    /// Safekeeping account it settles into (or the portfolio the job maps to one).
    pub account: String,
    pub isin: String,
    pub side: TradeSide,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub price: Option<Decimal>,
    /// Cash that moves at settlement, positive (the side says which way): the price of the
    /// securities, plus (buy) or minus (sell) the fees, plus the accrued interest.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub net_amount: Option<Decimal>,
    /// Commissions and charges of the trade, positive, where the blotter gives them (they are
    /// in `net_amount`).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub fees: Option<Decimal>,
    /// Accrued interest (Stückzinsen) of a bond trade, positive: paid on a purchase, received
    /// on a sale (it is in `net_amount`).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub accrued_interest: Option<Decimal>,
    pub currency: Option<Currency>,
    pub trade_date: NaiveDate,
    pub settlement_date: NaiveDate,
    pub counterparty: Option<String>,
    pub source: Source,
}
