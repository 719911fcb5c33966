//! The bank accounts' books: what `clerk bank` and the summary prove a bank account's book
//! balance with (the statements' balances, what the job posted, what is still open).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::Result;

/// What a unit of work reads of a bank account's books.
pub trait BankBooks {
    /// The accounts and currencies of the end-of-day statements with balances of the bank
    /// accounts job `job` reads (it took the statement, or has lines of the account): per
    /// account and currency the first statement's opening balance (what clerk's books start
    /// from) and the latest statement's closing balance.
    fn bank_balances(&mut self, job: &str) -> Result<Vec<StatementBalances>>;
    /// The sum, in `currency`, of the entry lines on `ledger_accounts` of the entries that
    /// posted job `job`'s lines of bank account `account`: its own, and those of another job
    /// that read the same statement and posted the line first (one match settles every
    /// job's copy).
    fn booked_on(
        &mut self,
        job: &str,
        account: &str,
        currency: &str,
        ledger_accounts: &[String],
    ) -> Result<Decimal>;
    /// The statement lines of bank account `account` in `currency` that job `job` has not
    /// posted, with value date on or before `until`, each with its open break if any.
    fn unposted_lines(
        &mut self,
        job: &str,
        account: &str,
        currency: &str,
        until: NaiveDate,
    ) -> Result<Vec<UnpostedLine>>;
    /// The lines the bank reported as pending (camt `PDNG`, MT942) for bank account
    /// `account` in `currency` with value date after `after`: not booked, so in neither
    /// balance, shown so nobody looks for them.
    fn pending_lines(
        &mut self,
        account: &str,
        currency: &str,
        after: NaiveDate,
    ) -> Result<Vec<PendingLine>>;
}

/// A line the bank has not booked yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingLine {
    pub bank_reference: Option<String>,
    pub value_date: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub text: String,
}

/// One bank account and currency as its statements state it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementBalances {
    pub account: String,
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub opening: Decimal,
    pub opening_date: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    pub closing: Decimal,
    pub closing_date: NaiveDate,
    /// The latest statement's number as the bank gives it.
    pub number: Option<String>,
}

/// A statement line not (yet) in the books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnpostedLine {
    pub record_id: i64,
    /// The bank's reference, empty when it gave none.
    pub bank_reference: String,
    pub value_date: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub text: Option<String>,
    /// The open break about it, when there is one: its id and reason.
    pub break_id: Option<i64>,
    pub reason: Option<String>,
}
