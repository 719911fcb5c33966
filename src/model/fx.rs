//! Foreign currency in the books (IAS 21, § 256a HGB): an entry whose lines are in more than one
//! currency is booked in the functional currency, each line keeping what it was in its own
//! (transaction) currency and the rate that converted it; the exchange difference is a line of
//! its own.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::Currency;

/// What an entry line was in its transaction currency, when the entry is booked in the
/// functional currency: `amount` in `currency`, times `rate`, is the line's functional amount
/// (before rounding to the functional currency's minor unit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineFx {
    pub amount: Decimal,
    pub currency: Currency,
    /// Functional currency per unit of `currency` (1 for a line already in it).
    pub rate: Decimal,
}

/// Exchange rates by day, for posting: whatever table the job loaded.
pub trait RateSource: Send + Sync + fmt::Debug {
    /// The rate that converts one unit of `from` into `to` on `date` (the latest on or before
    /// it); 1 when they are the same currency.
    fn rate(&self, date: NaiveDate, from: Currency, to: Currency) -> Option<Decimal>;
}
