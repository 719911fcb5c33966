//! The journal: the entries clerk posted, as an accountant reads them: with their lines, where
//! each came from (file, sheet and line of the records it settles; the run and the match), and
//! the balances they add up to per account and currency (the trial balance).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::Result;
use crate::model::Currency;
pub use crate::model::journal::PostedEntry;

pub trait Journal {
    /// The entries the query selects, in posting order (posting date, then id).
    fn journal(&mut self, q: &JournalQuery<'_>) -> Result<Vec<PostedEntry>>;
    /// Every account's balance per currency over the entries posted up to `at` (all when
    /// `None`), summed exactly; accounts whose balance is zero are kept (they moved).
    fn trial_balance(&mut self, at: Option<NaiveDate>) -> Result<Vec<AccountBalance>>;
}

/// Which entries: of one job, dated within `from..=to`, touching one account.
#[derive(Debug, Clone, Default)]
pub struct JournalQuery<'a> {
    pub job: Option<&'a str>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub account: Option<&'a str>,
}

/// One account's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountBalance {
    pub account: String,
    pub currency: Currency,
    /// Debits positive, credits negative, as entry lines are kept.
    pub balance: Decimal,
    /// How many entry lines make it up.
    pub lines: u64,
}
