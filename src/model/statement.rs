//! Bank statements as banks send them: MT940/MT950 and camt.053 (end of day), MT942 and
//! camt.052 (intraday), camt.054 (debit/credit notifications).

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{BankCodes, Currency, Record, Side, Source};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// MT940, MT950, camt.053: the booked day, with opening and closing balances.
    EndOfDay,
    /// MT942, camt.052: movements so far today.
    Intraday,
    /// camt.054: single debit/credit notifications.
    Notification,
}

/// A balance as the bank states it. Signed: positive is credit (money on the account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: Currency,
    pub date: NaiveDate,
    /// An intermediate balance (`:60M:`/`:62M:`, camt `PRCD`/`ITBD`): the statement continues
    /// in the next message of the same number.
    pub intermediate: bool,
}

/// One statement (or report, or notification) for one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BankStatement {
    pub kind: StatementKind,
    /// The account as the bank names it: IBAN, or a domestic number (`:25:`, `Acct/Id`).
    pub account: String,
    /// The account's servicing bank, when given (`:25:` prefix, `Acct/Svcr`, block 1/2).
    pub servicer_bic: Option<String>,
    /// Account currency: from the balances, `Acct/Ccy`, or the entries.
    pub currency: Option<Currency>,
    /// The sender's reference of the message (`:20:`, `Stmt/Id`).
    pub statement_id: Option<String>,
    /// Statement number and page as given (`:28C:` `00123/001`, `ElctrncSeqNb`/`LglSeqNb`).
    pub number: Option<String>,
    pub created: Option<NaiveDateTime>,
    /// Period covered, when the document says (`FrToDt`).
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    /// `:60F:`/`:60M:`, camt `OPBD`/`PRCD`.
    pub opening: Option<Balance>,
    /// `:62F:`/`:62M:`, camt `CLBD`.
    pub closing: Option<Balance>,
    /// `:64:`, camt `CLAV`.
    pub closing_available: Option<Balance>,
    pub entries: Vec<StatementEntry>,
    /// What the reader noticed and decided without refusing the file (a balance without its
    /// credit/debit mark read as a credit, an unknown entry status, an IBAN with wrong check
    /// digits kept as written), each naming its line and element: staff see them in
    /// `clerk extract`, the statement is still checked and its booked lines reconciled.
    pub problems: Vec<StatementProblem>,
    /// Where the statement starts (its first line / element).
    pub source: Source,
}

/// Something a reader noticed in a statement it still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementProblem {
    /// Line of the element or field, 1-based.
    pub line: u32,
    /// The element (`Stmt[1]/Bal[2]`) or field (`message 1, :61: #3`) it is about.
    pub element: Option<String>,
    /// What was found and how it was read.
    pub message: String,
}

/// Whether a statement line is on the books. Only booked lines move the balance and are
/// reconciled; pending and informational lines are shown (`clerk extract`) but not matched,
/// since the bank may still change or drop them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// camt `BOOK`; every SWIFT MT940/MT950 line, and MT942 lines other than `E...` marks.
    Booked,
    /// camt `PDNG` (and `FUTR`, an expected entry); MT942 `EC`/`ED` (expected) lines.
    Pending,
    /// camt `INFO`: for information only, never booked as such.
    Info,
}

/// One movement on the account. A camt batch entry with several transaction details becomes
/// one `StatementEntry` per detail, each with its share of the amount and a `batch` link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementEntry {
    /// Signed: positive is a credit (money in), negative a debit. A reversal (`RC`/`RD`,
    /// `RvslInd`) carries the sign of its effect on the balance.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: Currency,
    pub value_date: NaiveDate,
    /// The bank gave no value date: `value_date` is the booking date (or the statement's day)
    /// put in its place, so matching has a date; shown so nobody takes it for the bank's.
    pub value_date_derived: bool,
    pub booking_date: Option<NaiveDate>,
    pub reversal: bool,
    /// camt `Sts`; SWIFT lines are booked except MT942 expected (`E...`) ones.
    pub status: EntryStatus,
    /// Transaction type: SWIFT `:61:` code (`NTRF`, `NMSC`, ...) or camt `BkTxCd` as
    /// `Domain/Family/SubFamily`, or its proprietary code.
    pub transaction_code: Option<String>,
    /// The payer's or our reference: `:61:` customer reference (not `NONREF`), SEPA
    /// end-to-end id, camt `EndToEndId`.
    pub reference: Option<String>,
    /// The bank's own reference: `:61:` after `//`, camt `AcctSvcrRef` / `NtryRef`.
    pub bank_reference: Option<String>,
    /// The free text as the bank gave it (`:86:` whole, camt `Ustrd` lines joined with
    /// spaces, or structured `Strd` references).
    pub remittance: String,
    /// What could be read out of the free text or the structured fields.
    pub details: EntryDetails,
    /// Set when this entry is one transaction of a batch entry.
    pub batch: Option<BatchLink>,
    pub source: Source,
}

/// Structured parts of an entry, where the bank provides them (German `?20`–`?63`
/// subfields, `/EREF/`-style keywords, camt `RltdPties`, `RmtInf`, `Refs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EntryDetails {
    pub end_to_end_id: Option<String>,
    pub mandate_id: Option<String>,
    pub creditor_id: Option<String>,
    /// The remittance (purpose) text alone, without the other subfields.
    pub purpose: Option<String>,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub counterparty_bic: Option<String>,
    /// German business transaction code (`GVC`, the three digits before `?00`), or camt
    /// `Purp/Cd`.
    pub purpose_code: Option<String>,
    /// Why a returned payment came back: camt `RtrInf/Rsn/Cd`, or a SEPA return code (`AC04`,
    /// `MD06`) in an MT940 `:86:` (`RTRN`, `SVWZ+`).
    pub return_reason: Option<String>,
}

/// Which batch an entry belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchLink {
    /// The batch entry's own reference or, without one, its position (`Ntry[4]`).
    pub entry: String,
    /// The batch entry's total amount (signed) and how many transactions it holds.
    #[serde(with = "rust_decimal::serde::str")]
    pub entry_amount: Decimal,
    pub transactions: u32,
    /// This transaction's position in the batch, from 1.
    pub index: u32,
}

impl BankStatement {
    /// Opening balance plus the movements minus the closing balance, when both balances are
    /// given and in the same currency; `Some(non-zero)` means the statement does not add up.
    /// Several published samples do not: clerk reads them and reports this as a break.
    pub fn balance_difference(&self) -> Option<Decimal> {
        let (open, close) = (self.opening.as_ref()?, self.closing.as_ref()?);
        if open.currency != close.currency {
            return None;
        }
        let moved: Decimal = self
            .entries
            .iter()
            .filter(|e| e.status == EntryStatus::Booked)
            .map(|e| e.amount)
            .sum();
        Some(open.amount + moved - close.amount)
    }

    /// The booked entries as records for reconciliation (side `Statement`): a pending or
    /// informational line is not money on the account yet, and matching it would close a
    /// ledger item the bank may never book.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.entries
            .iter()
            .filter(|e| e.status == EntryStatus::Booked)
            .map(move |e| Record {
                side: Side::Statement,
                // Transactions of one batch share the entry's reference: their position tells
                // them apart.
                external_id: match (&e.bank_reference, &e.batch) {
                    (Some(r), Some(b)) => format!("{r}#{}", b.index),
                    (Some(r), None) => r.clone(),
                    (None, _) => String::new(),
                },
                account: Some(self.account.clone()),
                value_date: e.value_date,
                booking_date: e.booking_date,
                amount: e.amount,
                currency: e.currency,
                reference: e.reference.clone(),
                counterparty: e.details.counterparty_name.clone(),
                remittance: Some(e.remittance.clone()).filter(|r| !r.is_empty()),
                codes: BankCodes {
                    transaction: e.transaction_code.clone(),
                    purpose: e.details.purpose_code.clone(),
                    return_reason: e.details.return_reason.clone(),
                }
                .boxed(),
                source: e.source.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn line(amount: &str, status: EntryStatus, bank_reference: &str) -> StatementEntry {
        let day = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        StatementEntry {
            amount: amount.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            value_date: day,
            value_date_derived: false,
            booking_date: Some(day),
            reversal: false,
            status,
            transaction_code: None,
            reference: None,
            bank_reference: Some(bank_reference.into()),
            remittance: String::new(),
            details: EntryDetails::default(),
            batch: None,
            source: Source::at(Arc::from("f"), None, 1),
        }
    }

    #[test]
    fn only_booked_lines_reconcile_and_move_the_balance() {
        let eur: Currency = "EUR".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let balance = |amount: &str| Balance {
            amount: amount.parse().unwrap(),
            currency: eur,
            date: day,
            intermediate: false,
        };
        let s = BankStatement {
            kind: StatementKind::Intraday,
            account: "DE89370400440532013000".into(),
            servicer_bic: None,
            currency: Some(eur),
            statement_id: None,
            number: None,
            created: None,
            from_date: None,
            to_date: None,
            opening: Some(balance("100.00")),
            closing: Some(balance("150.00")),
            closing_available: None,
            entries: vec![
                line("50.00", EntryStatus::Booked, "B1"),
                line("700.00", EntryStatus::Pending, "P1"),
                line("-20.00", EntryStatus::Info, "I1"),
            ],
            problems: Vec::new(),
            source: Source::at(Arc::from("f"), None, 1),
        };
        let ids: Vec<String> = s.records().map(|r| r.external_id).collect();
        assert_eq!(ids, ["B1"]);
        assert_eq!(s.balance_difference(), Some(Decimal::ZERO));

        // A line's codes go with its record; a line without any has none.
        assert_eq!(s.records().next().unwrap().codes, None);
        let mut fee = s.clone();
        fee.entries[0].transaction_code = Some("NCHG".into());
        fee.entries[0].details.purpose_code = Some("805".into());
        let codes = fee.records().next().unwrap().codes.expect("codes");
        assert_eq!(codes.transaction.as_deref(), Some("NCHG"));
        assert_eq!(codes.purpose.as_deref(), Some("805"));
        assert_eq!(codes.return_reason, None);
    }

    #[test]
    fn the_status_is_written_in_snake_case() {
        let json =
            serde_json::to_value([EntryStatus::Booked, EntryStatus::Pending, EntryStatus::Info])
                .unwrap();
        assert_eq!(json, serde_json::json!(["booked", "pending", "info"]));
    }
}
