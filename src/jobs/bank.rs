//! The proof a controller signs: per bank account and currency, the book balance against the
//! statement's closing balance, and what makes up any difference. Shown by `clerk bank` and
//! in the summary mail.
//!
//! clerk's book of a bank account starts from the opening balance of the first statement a
//! cash reconciliation took for it (the balance brought forward from the books before clerk)
//! and moves by the lines of the entries the job posted for that account's statement lines on
//! the bank's ledger account: the `statement` lines of the job's posting templates, filled
//! for the account and currency. Every booked line of a statement is posted (matched, or by
//! a posting rule) or still open; the open ones, with their breaks, make up the difference.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::cash::settings_of;
use crate::config::Job;
use crate::model::Currency;
use crate::store::bank::{PendingLine, UnpostedLine};
use crate::store::{StoreError, Unit};

/// One bank account and currency of one cash reconciliation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BankPosition {
    pub job: String,
    /// The account as the bank names it (IBAN).
    pub account: String,
    pub currency: String,
    /// The ledger accounts its money is posted to.
    pub ledger_accounts: Vec<String>,
    /// The latest statement's closing balance, its date and number.
    #[serde(with = "rust_decimal::serde::str")]
    pub statement_balance: Decimal,
    pub statement_date: NaiveDate,
    pub statement_number: Option<String>,
    /// The balance brought forward: the first statement's opening balance.
    #[serde(with = "rust_decimal::serde::str")]
    pub brought_forward: Decimal,
    pub brought_forward_date: NaiveDate,
    /// Brought forward plus what the job posted on the ledger accounts.
    #[serde(with = "rust_decimal::serde::str")]
    pub book_balance: Decimal,
    /// Statement balance minus book balance: zero when the books agree with the bank.
    #[serde(with = "rust_decimal::serde::str")]
    pub difference: Decimal,
    /// The statement's lines not in the books: what the difference is made of.
    pub open_lines: Vec<UnpostedLine>,
    /// What the open lines do not explain (lines posted to other accounts, statements
    /// missing in between): zero when the list is the whole story.
    #[serde(with = "rust_decimal::serde::str")]
    pub unexplained: Decimal,
    /// Lines the bank reported after the statement but has not booked (pending): in neither
    /// balance, shown for information.
    pub pending: Vec<PendingLine>,
}

impl BankPosition {
    pub fn agrees(&self) -> bool {
        self.difference.is_zero()
    }
}

/// The positions of every bank account of the cash reconciliations among `jobs`, or of
/// `account` alone (IBAN, or a ledger account the bank's money is posted to).
pub fn positions(
    u: &mut dyn Unit,
    jobs: &[Job],
    account: Option<&str>,
) -> Result<Vec<BankPosition>, StoreError> {
    let mut out = Vec::new();
    for job in jobs {
        let Some(settings) = settings_of(job) else {
            continue;
        };
        for b in u.bank_balances(&job.name)? {
            let Ok(currency) = b.currency.parse::<Currency>() else {
                continue;
            };
            let ledger_accounts = settings.posting.bank_ledger_accounts(&b.account, currency);
            if account.is_some_and(|a| a != b.account && !ledger_accounts.iter().any(|l| l == a)) {
                continue;
            }
            let posted = u.booked_on(&job.name, &b.account, &b.currency, &ledger_accounts)?;
            let open_lines =
                u.unposted_lines(&job.name, &b.account, &b.currency, b.closing_date)?;
            let book_balance = b.opening + posted;
            let difference = b.closing - book_balance;
            let open: Decimal = open_lines.iter().map(|l| l.amount).sum();
            let pending = u.pending_lines(&b.account, &b.currency, b.closing_date)?;
            out.push(BankPosition {
                job: job.name.clone(),
                account: b.account,
                currency: b.currency,
                ledger_accounts,
                statement_balance: b.closing,
                statement_date: b.closing_date,
                statement_number: b.number,
                brought_forward: b.opening,
                brought_forward_date: b.opening_date,
                book_balance,
                difference,
                unexplained: difference - open,
                open_lines,
                pending,
            });
        }
    }
    Ok(out)
}

/// One open line as `clerk bank` and the summary list it: amount, value date, the bank's
/// reference, its break (or that it has none yet) and its text.
pub fn describe(l: &UnpostedLine) -> String {
    let state = match (&l.break_id, &l.reason) {
        (Some(id), Some(reason)) => format!("break {id} ({reason})"),
        _ => "no break yet: held back for its grace period".into(),
    };
    let reference = if l.bank_reference.is_empty() {
        format!("record {}", l.record_id)
    } else {
        l.bank_reference.clone()
    };
    format!(
        "{} {} {reference} {state}: {}",
        l.amount,
        l.value_date,
        l.text.as_deref().unwrap_or("")
    )
}

/// The line about what the open lines do not explain, when something is left.
pub fn unexplained(p: &BankPosition) -> Option<String> {
    (!p.unexplained.is_zero()).then(|| {
        format!(
            "{} not explained by an open line (posted elsewhere, or a statement missing)",
            p.unexplained
        )
    })
}
