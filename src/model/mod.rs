//! The back office's nouns, shared by every stage: records read from files, matches, journal
//! entries and breaks. Plain data only: no I/O, no SQL, no formats.
//!
//! **Invariant:** money is `rust_decimal::Decimal`, never a float; a currency is a checked
//! three-letter code.
//!
//! Besides the flat [`Record`] every reconciliation works on, the documents banks, custodians
//! and suppliers send keep their own shape: [`statement`] (MT940/942/950, camt.05x),
//! [`securities`] (MT535/536/537, semt.002) and [`invoice`] (UBL, CII, Factur-X). [`ids`]
//! checks IBANs and ISINs.

pub mod costs;
pub mod fx;
pub mod ids;
pub mod invoice;
pub mod journal;
pub mod payables;
pub mod people;
pub mod rates;
pub mod securities;
pub mod statement;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// ISO 4217 currency code, three upper-case ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Number of minor-unit digits (ISO 4217): the most decimals an amount in this currency
    /// may be read with ([`check_minor_unit`]), and what a spreadsheet's float amount is
    /// rounded to. The lists are the currencies that differ from the usual two places.
    pub fn minor_units(self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"CLP" | b"ISK" | b"VND" | b"XOF" | b"XAF" | b"XPF" | b"PYG"
            | b"UGX" | b"BIF" | b"DJF" | b"GNF" | b"KMF" | b"RWF" | b"VUV" | b"UYI" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"LYD" | b"IQD" => 3,
            // Units of account (Chile's Unidad de Fomento, Uruguay's wage index unit).
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(Currency([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
                b[2].to_ascii_uppercase(),
            ]))
        } else {
            Err(format!(
                "expected a three-letter currency code such as EUR, found {t:?}"
            ))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which side of a reconciliation a record sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Our books: an open item expected to move cash (an invoice issued, a payment due).
    Ledger,
    /// What the bank says happened: a line of a bank statement.
    Statement,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Ledger => "ledger",
            Side::Statement => "statement",
        }
    }
}

impl FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ledger" => Ok(Side::Ledger),
            "statement" => Ok(Side::Statement),
            _ => Err(format!("unknown side {s:?}")),
        }
    }
}

/// Where a record came from, so every match, entry and break can be traced to a file and line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// SHA-256 of the file's content, hex: the file's identity (names change, content does not).
    pub file: Arc<str>,
    /// Worksheet name for spreadsheets; `None` for CSV.
    pub sheet: Option<Arc<str>>,
    /// 1-based line (CSV, SWIFT, XML) or row (spreadsheet) number as a person would see it.
    pub row: u32,
    /// Where inside a structured document, when a line is not enough: `message 2, :61: 3`
    /// for SWIFT, `Stmt[1]/Ntry[4]/NtryDtls/TxDtls[2]` for ISO 20022, `InvoiceLine[3]`.
    pub locator: Option<Arc<str>>,
}

impl Source {
    /// A source in a flat file: line or row only.
    pub fn at(file: Arc<str>, sheet: Option<Arc<str>>, row: u32) -> Source {
        Source {
            file,
            sheet,
            row,
            locator: None,
        }
    }
}

/// One normalised record: a ledger item or a statement line. Fields a format does not carry are
/// `None` or empty; which are required is decided by the job's mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub side: Side,
    /// The ledger item's id, or the bank's reference for a statement line.
    pub external_id: String,
    /// Ledger account or bank account (IBAN) the item belongs to, when known.
    pub account: Option<String>,
    pub value_date: NaiveDate,
    pub booking_date: Option<NaiveDate>,
    /// Signed: positive is money in (a receipt, a credit on the bank account).
    pub amount: Decimal,
    pub currency: Currency,
    /// Our reference (invoice number) on ledger items.
    pub reference: Option<String>,
    pub counterparty: Option<String>,
    /// Remittance information / payment details on statement lines (where references hide).
    pub remittance: Option<String>,
    /// The bank's codes for a statement line (transaction type, purpose, return reason), so a
    /// posting rule can take a fee or interest line no ledger item matches; `None` on ledger
    /// items and on lines whose bank gives none. Boxed: most records have none.
    pub codes: Option<Box<BankCodes>>,
    pub source: Source,
}

/// What the bank says a statement line is, in its own codes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BankCodes {
    /// MT940 `:61:` transaction type (`NMSC`, `NCHG`), camt `BkTxCd` as
    /// `Domain/Family/SubFamily` (`PMNT/CCRD/CHRG`), or the bank's proprietary code.
    pub transaction: Option<String>,
    /// German business transaction code (GVC, `805`) or camt `Purp/Cd`.
    pub purpose: Option<String>,
    /// Why a payment came back: camt `RtrInf/Rsn/Cd`, or the SEPA code (`AC04`, `MD06`) an
    /// MT940 `:86:` gives.
    pub return_reason: Option<String>,
}

impl BankCodes {
    /// `None` when the bank gave no code at all, so records without codes stay small.
    pub fn boxed(self) -> Option<Box<BankCodes>> {
        (self != BankCodes::default()).then(|| Box::new(self))
    }
}

impl Record {
    /// What makes this record the same record when it arrives again in another file: a ledger
    /// item by its account and id, a statement line by its account, currency, bank reference,
    /// value date and amount. A line without a bank reference is known by what it says: account,
    /// currency, value date, signed amount (so its direction), reference and text. Never by the
    /// file or statement it came in: a bank that sends a statement again under a new `:20:`
    /// or file name sends the same lines, and they must not be taken twice (two such lines in
    /// one file are told apart by the store, `#2`). The store keeps one record per identity,
    /// and posting keys are built from identities.
    pub fn identity(&self) -> String {
        let account = self.account.as_deref().unwrap_or("");
        match self.side {
            Side::Ledger => format!("L|{account}|{}", self.external_id),
            Side::Statement if !self.external_id.is_empty() => format!(
                "S|{account}|{}|{}|{}|{}",
                self.currency, self.external_id, self.value_date, self.amount
            ),
            Side::Statement => format!(
                "S|{account}|{}||{}|{}|{}|{}",
                self.currency,
                self.value_date,
                self.amount,
                self.reference.as_deref().unwrap_or(""),
                self.remittance.as_deref().unwrap_or("")
            ),
        }
    }
}

/// Where an attachment came from: a mailbox, a message in it, a part of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailOrigin {
    pub mailbox: String,
    /// "UIDVALIDITY/UID" for IMAP, the Maildir id.
    pub key: String,
    pub part: u32,
    /// The attachment's (safe) file name.
    pub name: String,
    /// The mail as people know it (`mail from ops@bank.example, subject "May", sent
    /// 2026-05-31 07:00 UTC`), for breaks and alerts about the file; empty when not known (a
    /// file found staged after a crash: its name keeps only where it came from).
    pub about: String,
}

impl MailOrigin {
    /// The mail, for messages: as people know it, or by mailbox and message.
    pub fn describe(&self) -> String {
        if self.about.is_empty() {
            format!("a mail of mailbox {} (message {})", self.mailbox, self.key)
        } else {
            self.about.clone()
        }
    }
}

/// A record as held by the store: its row id plus the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredRecord {
    pub id: i64,
    pub record: Record,
}

/// Which rule paired records: the match pass. The names are those of `results.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchPass {
    /// Our reference found in the statement's remittance text, same currency and amount.
    Reference,
    /// Same currency and amount, value dates within the business-day window.
    AmountDate,
    /// One statement line paying several ledger items of one counterparty and day.
    Batch,
    /// Matched by a person (`clerk exception match`), with a reason.
    Manual,
    /// An invoice agreed with its purchase order and goods receipts (accounts payable).
    ThreeWay,
    /// An outgoing payment on the bank statement settled an open payable.
    Payment,
    /// A bank line no ledger item matched, posted by one of the job's `[[posting.rules]]`
    /// (a fee, interest, tax) on its codes or text.
    Rule,
    /// Goods received against a purchase order line, posted to GR/IR (accounts payable).
    GoodsReceipt,
    /// A trade of the blotter booked at its trade date against the settlement clearing.
    Trade,
    /// A trade's settlement the custodian confirmed, booked from the clearing against cash.
    Settlement,
}

impl MatchPass {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPass::Reference => "reference",
            MatchPass::AmountDate => "amount_date",
            MatchPass::Batch => "batch",
            MatchPass::Manual => "manual",
            MatchPass::ThreeWay => "three_way",
            MatchPass::Payment => "payment",
            MatchPass::Rule => "posting_rule",
            MatchPass::GoodsReceipt => "goods_receipt",
            MatchPass::Trade => "trade",
            MatchPass::Settlement => "settlement",
        }
    }
}

impl FromStr for MatchPass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reference" => Ok(MatchPass::Reference),
            "amount_date" => Ok(MatchPass::AmountDate),
            "batch" => Ok(MatchPass::Batch),
            "manual" => Ok(MatchPass::Manual),
            "three_way" => Ok(MatchPass::ThreeWay),
            "payment" => Ok(MatchPass::Payment),
            "posting_rule" => Ok(MatchPass::Rule),
            "goods_receipt" => Ok(MatchPass::GoodsReceipt),
            "trade" => Ok(MatchPass::Trade),
            "settlement" => Ok(MatchPass::Settlement),
            _ => Err(format!("unknown match pass {s:?}")),
        }
    }
}

/// A decision of the matcher: these ledger items and these statement lines belong together.
/// Indexes point into the slices the matcher was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub pass: MatchPass,
    pub ledger: Vec<usize>,
    pub statement: Vec<usize>,
    /// The name of the job's pass that made it (`None` for a match made by hand).
    pub rule: Option<Arc<str>>,
    /// Why, as JSON for the store and `clerk explain`: the compared values, differences,
    /// score and the candidates it beat.
    pub explanation: Option<String>,
}

/// One line of a journal entry. Debits are positive, credits negative, so an entry balances
/// when its lines sum to zero in every currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryLine {
    pub account: String,
    pub currency: Currency,
    pub amount: Decimal,
    /// In an entry booked in the functional currency (its records were in several currencies):
    /// what this line was in its transaction currency, and the rate; `currency` and `amount`
    /// are then the functional ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx: Option<fx::LineFx>,
}

/// A balanced double-entry journal entry, ready to post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// Derived from the job and the identities of the records it settles: posting the same
    /// match twice yields the same key, and the store refuses the second.
    pub idempotency_key: String,
    pub posting_date: NaiveDate,
    pub narrative: String,
    pub lines: Vec<EntryLine>,
}

/// Why a record or file needs a human.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// A ledger item the bank has not reported (`ledger_only`).
    MissingOnStatement,
    /// A statement line with no ledger item (`statement_only`).
    MissingInLedger,
    /// A match whose posting would not balance; nothing was posted.
    Unbalanced,
    /// A file clerk could not read; it was moved to `failed/`.
    Unreadable,
    /// A job run that failed for another reason (store, disk, configuration).
    JobFailed,
    /// A bank statement whose opening balance plus its movements is not its closing balance.
    StatementUnbalanced,
    /// A statement whose opening balance is not the previous statement's closing balance for
    /// the account (a statement missing in between, or two that overlap).
    StatementGap,
    /// The same statement (account, number, date) arrived again; its lines were not taken
    /// twice.
    DuplicateStatement,
    /// A statement that covers days an earlier statement of the account already covered (the
    /// same statement sent again under a new reference, or one that overlaps it): the lines
    /// already taken were not taken again.
    StatementOverlap,
    /// A file whose end is missing (its last message cut short): the rest was read, the cut
    /// part was not and must be sent again.
    IncompleteFile,
    /// An invoice whose lines, VAT and totals do not add up.
    InvoiceArithmetic,
    /// An IBAN or ISIN whose check digit is wrong: a typo or a damaged file.
    BadCheckDigit,
    /// A counterpart agrees on everything but the amount, which is outside the tolerance.
    AmountDifference,
    /// A counterpart agrees on everything but the quantity (positions, settlements).
    QuantityDifference,
    /// A position whose quantities agree but whose book values (books against custodian)
    /// differ beyond the job's `value_tolerance`.
    ValueDifference,
    /// A counterpart agrees on everything but the date, which is outside the window.
    DateOutsideWindow,
    /// The same item appears twice on one side.
    Duplicate,
    /// The account is not one the job knows.
    UnknownAccount,
    /// The security is not one the books hold.
    UnknownIsin,
    /// The supplier is not one the books know.
    UnknownSupplier,
    /// A trade that has not settled by its settlement date.
    FailedSettlement,
    /// A position or trade in the books that the custodian does not report.
    MissingAtCustodian,
    /// A position or settlement the custodian reports that is not in the books.
    MissingInBooks,
    /// A mail from a sender no job takes mail from.
    UnknownSender,
    /// A mail with no attachment any job takes.
    NoAttachment,
    /// A supplier invoice (or one of its lines) with no purchase order to match it against:
    /// no order reference, an unknown order, or a line the order does not have.
    NoPurchaseOrder,
    /// An invoiced unit price differs from the purchase order's beyond the tolerance.
    PriceDifference,
    /// A file in a watched folder that clerk never takes as it is (no pattern matches, a name
    /// that is not UTF-8, a link, a pipe, a folder); it stays where it is.
    IgnoredFile,
    /// A file that was written to after clerk had read it; set aside to `failed/`.
    FileChanged,
    /// A ledger item exported again with another amount, value date or reference after it was
    /// matched and posted: the new version waits for a person.
    RecordChangedAfterMatch,
    /// A ledger item paid in part (instalments quoting it) whose rest has not come within the
    /// pass's window since the first part; the break's amount is the open remainder.
    PartiallyPaid,
    /// Something a job expects by a deadline (`[[expect]]`: a bank statement, a file) did
    /// not arrive by it.
    FileMissing,
    /// A record whose match was reversed by a person: open again, held for a person to match
    /// by hand or write off (the matcher does not make the reversed match again).
    Reversed,
}

impl BreakReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakReason::MissingOnStatement => "missing_on_statement",
            BreakReason::MissingInLedger => "missing_in_ledger",
            BreakReason::Unbalanced => "unbalanced",
            BreakReason::Unreadable => "unreadable",
            BreakReason::JobFailed => "job_failed",
            BreakReason::StatementUnbalanced => "statement_unbalanced",
            BreakReason::StatementGap => "statement_gap",
            BreakReason::StatementOverlap => "statement_overlap",
            BreakReason::DuplicateStatement => "duplicate_statement",
            BreakReason::IncompleteFile => "incomplete_file",
            BreakReason::InvoiceArithmetic => "invoice_arithmetic",
            BreakReason::BadCheckDigit => "bad_check_digit",
            BreakReason::AmountDifference => "amount_difference",
            BreakReason::QuantityDifference => "quantity_difference",
            BreakReason::ValueDifference => "value_difference",
            BreakReason::DateOutsideWindow => "date_outside_window",
            BreakReason::Duplicate => "duplicate",
            BreakReason::UnknownAccount => "unknown_account",
            BreakReason::UnknownIsin => "unknown_isin",
            BreakReason::UnknownSupplier => "unknown_supplier",
            BreakReason::FailedSettlement => "failed_settlement",
            BreakReason::MissingAtCustodian => "missing_at_custodian",
            BreakReason::MissingInBooks => "missing_in_books",
            BreakReason::UnknownSender => "unknown_sender",
            BreakReason::NoAttachment => "no_attachment",
            BreakReason::NoPurchaseOrder => "no_purchase_order",
            BreakReason::PriceDifference => "price_difference",
            BreakReason::IgnoredFile => "ignored_file",
            BreakReason::FileChanged => "file_changed",
            BreakReason::RecordChangedAfterMatch => "record_changed_after_match",
            BreakReason::PartiallyPaid => "partially_paid",
            BreakReason::FileMissing => "file_missing",
            BreakReason::Reversed => "reversed",
        }
    }

    /// The words a manager reads in the summary.
    pub fn label(self) -> &'static str {
        match self {
            BreakReason::MissingOnStatement => "In the books, not on the bank statement",
            BreakReason::MissingInLedger => "On the bank statement, not in the books",
            BreakReason::Unbalanced => "Posting would not balance",
            BreakReason::Unreadable => "File could not be read",
            BreakReason::JobFailed => "Job failed",
            BreakReason::StatementUnbalanced => "Statement does not add up",
            BreakReason::StatementGap => "Statement does not follow the previous one",
            BreakReason::StatementOverlap => "Statement overlaps an earlier one",
            BreakReason::DuplicateStatement => "Statement received twice",
            BreakReason::IncompleteFile => "File cut short: its end was not read",
            BreakReason::InvoiceArithmetic => "Invoice does not add up",
            BreakReason::BadCheckDigit => "Wrong check digit (IBAN/ISIN)",
            BreakReason::AmountDifference => "Amount differs beyond tolerance",
            BreakReason::QuantityDifference => "Quantity differs",
            BreakReason::ValueDifference => "Book value differs",
            BreakReason::DateOutsideWindow => "Date outside the window",
            BreakReason::Duplicate => "Duplicate",
            BreakReason::UnknownAccount => "Unknown account",
            BreakReason::UnknownIsin => "Unknown security (ISIN)",
            BreakReason::UnknownSupplier => "Unknown supplier",
            BreakReason::FailedSettlement => "Failed settlement",
            BreakReason::MissingAtCustodian => "In the books, not at the custodian",
            BreakReason::MissingInBooks => "At the custodian, not in the books",
            BreakReason::UnknownSender => "Mail from an unknown sender",
            BreakReason::NoAttachment => "Mail without a usable attachment",
            BreakReason::NoPurchaseOrder => "Invoice without a matching purchase order",
            BreakReason::PriceDifference => "Price differs from the purchase order",
            BreakReason::IgnoredFile => "File in a watched folder that clerk does not take",
            BreakReason::FileChanged => "File changed after clerk read it",
            BreakReason::RecordChangedAfterMatch => "Ledger item changed after its match",
            BreakReason::PartiallyPaid => "Paid in part, the rest overdue",
            BreakReason::FileMissing => "Expected statement or file not arrived by its deadline",
            BreakReason::Reversed => "Match reversed: open again, for a person to match",
        }
    }
}

impl FromStr for BreakReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "missing_on_statement" => BreakReason::MissingOnStatement,
            "missing_in_ledger" => BreakReason::MissingInLedger,
            "unbalanced" => BreakReason::Unbalanced,
            "unreadable" => BreakReason::Unreadable,
            "job_failed" => BreakReason::JobFailed,
            "statement_unbalanced" => BreakReason::StatementUnbalanced,
            "statement_gap" => BreakReason::StatementGap,
            "statement_overlap" => BreakReason::StatementOverlap,
            "duplicate_statement" => BreakReason::DuplicateStatement,
            "incomplete_file" => BreakReason::IncompleteFile,
            "invoice_arithmetic" => BreakReason::InvoiceArithmetic,
            "bad_check_digit" => BreakReason::BadCheckDigit,
            "amount_difference" => BreakReason::AmountDifference,
            "quantity_difference" => BreakReason::QuantityDifference,
            "value_difference" => BreakReason::ValueDifference,
            "date_outside_window" => BreakReason::DateOutsideWindow,
            "duplicate" => BreakReason::Duplicate,
            "unknown_account" => BreakReason::UnknownAccount,
            "unknown_isin" => BreakReason::UnknownIsin,
            "unknown_supplier" => BreakReason::UnknownSupplier,
            "failed_settlement" => BreakReason::FailedSettlement,
            "missing_at_custodian" => BreakReason::MissingAtCustodian,
            "missing_in_books" => BreakReason::MissingInBooks,
            "unknown_sender" => BreakReason::UnknownSender,
            "no_attachment" => BreakReason::NoAttachment,
            "no_purchase_order" => BreakReason::NoPurchaseOrder,
            "price_difference" => BreakReason::PriceDifference,
            "ignored_file" => BreakReason::IgnoredFile,
            "file_changed" => BreakReason::FileChanged,
            "record_changed_after_match" => BreakReason::RecordChangedAfterMatch,
            "partially_paid" => BreakReason::PartiallyPaid,
            "file_missing" => BreakReason::FileMissing,
            "reversed" => BreakReason::Reversed,
            _ => return Err(format!("unknown break reason {s:?}")),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakStatus {
    Open,
    /// Someone is looking into it.
    Investigating,
    Resolved,
}

impl BreakStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakStatus::Open => "open",
            BreakStatus::Investigating => "investigating",
            BreakStatus::Resolved => "resolved",
        }
    }
}

impl FromStr for BreakStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(BreakStatus::Open),
            "investigating" => Ok(BreakStatus::Investigating),
            "resolved" => Ok(BreakStatus::Resolved),
            _ => Err(format!("unknown break status {s:?}")),
        }
    }
}

/// One thing that happened to a break: opened, assigned, noted, investigated, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BreakEvent {
    pub at: chrono::DateTime<chrono::Utc>,
    /// A person's login, or `clerk` for what the daemon did.
    pub actor: String,
    pub action: String,
    pub detail: Option<String>,
}

/// How people write a break's id: `E-21`. A bare `#21` in a mail is read as an issue or a
/// row number; `E-` says "exception" and is what `clerk exception show` takes back.
pub fn break_label(id: i64) -> String {
    format!("E-{id}")
}

/// A break id as a person may type it: `E-21`, `e21`, `#21` or `21`.
pub fn parse_break_label(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let digits = t
        .strip_prefix(['E', 'e'])
        .map(|r| r.strip_prefix('-').unwrap_or(r))
        .or_else(|| t.strip_prefix('#'))
        .unwrap_or(t);
    match digits.parse::<i64>() {
        Ok(id) if id > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(format!(
            "{s:?} is not an exception id: write it as the summary and `clerk exceptions` \
             show it, e.g. E-21"
        )),
    }
}

/// An exception ("break") as people see it: in the summary, in `clerk exceptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Break {
    pub id: i64,
    pub job: String,
    pub reason: BreakReason,
    pub status: BreakStatus,
    /// What is wrong, in words, naming the file and line where there is one.
    pub detail: String,
    pub amount: Option<Decimal>,
    pub currency: Option<Currency>,
    /// The difference behind an amount or quantity break.
    pub difference: Option<Decimal>,
    /// The business date the break dates from (value date of the record, or the day a file
    /// failed): its age is counted from here in business days.
    pub since: NaiveDate,
    pub owner: Option<String>,
    pub opened_at: chrono::DateTime<chrono::Utc>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How it was resolved, when it was.
    pub resolution: Option<String>,
    /// The record it is about, if any.
    pub record_id: Option<i64>,
    /// File name and line, for the people who have to look.
    pub source: Option<String>,
}

/// Digits an amount, quantity or price read from a file may have before the decimal point.
///
/// `Decimal` holds 28 or 29 digits, and `+`, `-`, `*` panic beyond that. Capping what comes
/// in at 18 (a quintillion: more than any real amount in any currency) keeps the arithmetic
/// downstream (sums over a file, differences, VAT at a rate) far from the edge; a product of
/// two such values (quantity × price) is still checked where it is made.
pub const MAX_INTEGER_DIGITS: u32 = 18;

/// 10^18: the first magnitude beyond [`MAX_INTEGER_DIGITS`].
const MAGNITUDE_LIMIT: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0);

/// Whether a number read from a file is within what clerk computes with.
pub fn within_magnitude(d: Decimal) -> bool {
    d.abs() < MAGNITUDE_LIMIT
}

/// The number, or the words for one beyond [`MAX_INTEGER_DIGITS`].
pub fn checked_magnitude(d: Decimal) -> Result<Decimal, String> {
    if within_magnitude(d) {
        Ok(d)
    } else {
        Err(format!(
            "{d} is too large: clerk reads amounts, quantities and prices of at most {MAX_INTEGER_DIGITS} digits before the decimal point"
        ))
    }
}

/// The rule for an amount read from a file with its currency: it must be a whole number of
/// the currency's minor unit ([`Currency::minor_units`], ISO 4217: EUR 2, JPY 0, KWD 3).
///
/// An amount written with more decimals than its currency has (`100.005` EUR, `1000.5` JPY)
/// is refused, never rounded: a bank or ledger file that carries a third euro decimal is
/// wrong at its source, and rounding it in silence would post a figure no document shows
/// and change the books by what was cut off. Extra decimals that are zeros (`100.000` EUR,
/// `1000.00` JPY) say the same amount and are read, trimmed to the minor unit.
///
/// This applies to money that is posted or proves a posting: ledger and statement line
/// amounts, debit and credit columns, balances. Not to unit prices, quantities, rates or
/// fees per unit, which legally carry more decimals (an invoice line's price of 0.0125).
///
/// The one exception is a spreadsheet's number cell: it holds a binary float, not the figure
/// as anyone wrote it (0.1 + 0.2 is 0.30000000000000004), so its figure is the cell rounded
/// to the minor unit half away from zero, as the cell shows it in a currency format and as
/// Excel's ROUND does (`extract::amount::from_float`). A spreadsheet's text cell follows
/// this rule like any other text.
pub fn check_minor_unit(amount: Decimal, currency: Currency) -> Result<Decimal, String> {
    let minor = currency.minor_units();
    if amount.scale() <= minor {
        return Ok(amount);
    }
    let at_minor = amount.trunc_with_scale(minor);
    if at_minor != amount {
        let written = amount.normalize();
        let places = |n: u32| match n {
            0 => "no decimals".to_owned(),
            1 => "1 decimal".to_owned(),
            n => format!("{n} decimals"),
        };
        return Err(format!(
            "{currency} has {}; {written} has {}: clerk does not round amounts read from a \
             file, correct the amount where it was written",
            places(minor),
            written.scale()
        ));
    }
    Ok(at_minor)
}

/// Straight-through-processing rate: of the records clerk decided on (matched, or made a
/// break), the share it matched with no human touch. `None` before any decision. The breaks
/// are those that lasted their job's grace period: an item matched once its counterpart came
/// a moment later was decided with no human touch.
pub fn stp_rate(auto_matched: u64, breaks_opened: u64) -> Option<f64> {
    let decided = auto_matched + breaks_opened;
    (decided > 0).then(|| auto_matched as f64 / decided as f64)
}

/// Error rate: of the records clerk decided on, the share that needs a human (became a break).
pub fn error_rate(auto_matched: u64, breaks_opened: u64) -> Option<f64> {
    stp_rate(auto_matched, breaks_opened).map(|s| 1.0 - s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn break_labels_read_back_however_people_type_them() {
        assert_eq!(super::break_label(21), "E-21");
        for typed in ["E-21", "e-21", "E21", "#21", "21", " E-21 "] {
            assert_eq!(super::parse_break_label(typed), Ok(21), "{typed}");
        }
        for bad in ["E-", "E--21", "-21", "0", "E-2x", "", "F-21"] {
            let err = super::parse_break_label(bad).unwrap_err();
            assert!(err.contains("E-21"), "{bad}: {err}");
        }
    }

    use super::*;

    #[test]
    fn a_statement_line_without_bank_reference_is_known_by_what_it_says_not_its_file() {
        let line = |file: &str, row: u32, amount: &str, text: &str| Record {
            side: Side::Statement,
            external_id: String::new(),
            account: Some("DE89370400440532013000".into()),
            value_date: NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
            booking_date: None,
            amount: Decimal::from_str(amount).unwrap(),
            currency: "EUR".parse().unwrap(),
            reference: None,
            counterparty: None,
            remittance: Some(text.into()),
            codes: None,
            source: Source::at(Arc::from(file), None, row),
        };
        let first = line("stmt-0305.sta", 5, "500.00", "PAYMENT INV-7");
        // The same line in a statement sent again, elsewhere in another file.
        assert_eq!(
            first.identity(),
            line("stmt-0305-resent.sta", 9, "500.00", "PAYMENT INV-7").identity()
        );
        // Another direction, amount or text is another line.
        for other in [
            line("a", 5, "-500.00", "PAYMENT INV-7"),
            line("a", 5, "500.01", "PAYMENT INV-7"),
            line("a", 5, "500.00", "PAYMENT INV-8"),
        ] {
            assert_ne!(first.identity(), other.identity());
        }
    }

    #[test]
    fn the_magnitude_limit_is_ten_to_the_eighteenth() {
        let just_below = Decimal::from_str("999999999999999999.99").unwrap();
        assert!(within_magnitude(just_below));
        assert!(within_magnitude(-just_below));
        let limit = Decimal::from_str("1000000000000000000").unwrap();
        assert_eq!(MAGNITUDE_LIMIT, limit);
        assert!(!within_magnitude(limit));
        assert!(!within_magnitude(-limit));
        assert_eq!(checked_magnitude(just_below), Ok(just_below));
        assert!(
            checked_magnitude(limit)
                .unwrap_err()
                .contains("at most 18 digits")
        );
    }

    #[test]
    fn currency_parses_case_insensitively_and_rejects_junk() {
        assert_eq!("eur".parse::<Currency>().unwrap().as_str(), "EUR");
        assert_eq!(" USD ".parse::<Currency>().unwrap().as_str(), "USD");
        assert!("EU".parse::<Currency>().is_err());
        assert!("EU1".parse::<Currency>().is_err());
        assert!("EURO".parse::<Currency>().is_err());
    }

    #[test]
    fn an_amount_is_read_only_in_whole_minor_units_of_its_currency() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let cur = |s: &str| s.parse::<Currency>().unwrap();
        // (amount as read, currency, what is posted or the refusal)
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("100.00", "EUR", Ok("100.00")),
            ("100.5", "EUR", Ok("100.5")),
            ("100", "EUR", Ok("100")),
            ("-0.01", "EUR", Ok("-0.01")),
            ("100.000", "EUR", Ok("100.00")),
            ("8.850", "EUR", Ok("8.85")),
            ("100.005", "EUR", Err("EUR has 2 decimals; 100.005 has 3")),
            (
                "-100.0050",
                "EUR",
                Err("EUR has 2 decimals; -100.005 has 3"),
            ),
            ("0.001", "USD", Err("USD has 2 decimals; 0.001 has 3")),
            ("1000", "JPY", Ok("1000")),
            ("1000.00", "JPY", Ok("1000")),
            ("1000.5", "JPY", Err("JPY has no decimals; 1000.5 has 1")),
            ("1000.05", "KRW", Err("KRW has no decimals; 1000.05 has 2")),
            ("1.234", "KWD", Ok("1.234")),
            ("1.2340", "BHD", Ok("1.234")),
            ("1.2345", "BHD", Err("BHD has 3 decimals; 1.2345 has 4")),
            ("1.2345", "TND", Err("TND has 3 decimals; 1.2345 has 4")),
            ("500", "XPF", Ok("500")),
            ("500.5", "XPF", Err("XPF has no decimals; 500.5 has 1")),
            ("1.2345", "CLF", Ok("1.2345")),
        ];
        for (amount, currency, want) in cases {
            let got = check_minor_unit(d(amount), cur(currency));
            match want {
                Ok(w) => {
                    let got = got.unwrap_or_else(|e| panic!("{amount} {currency}: {e}"));
                    assert_eq!(got, d(w), "{amount} {currency}");
                    assert_eq!(
                        got.to_string(),
                        *w,
                        "{amount} {currency}: trimmed to the unit"
                    );
                }
                Err(w) => {
                    let e = got.expect_err(&format!("{amount} {currency} is refused"));
                    assert!(e.starts_with(w), "{amount} {currency}: {e}");
                }
            }
        }
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_units(), 0);
        assert_eq!("KWD".parse::<Currency>().unwrap().minor_units(), 3);
        assert_eq!("EUR".parse::<Currency>().unwrap().minor_units(), 2);
    }

    #[test]
    fn rates_share_one_denominator_and_never_exceed_one() {
        assert_eq!(stp_rate(0, 0), None);
        assert_eq!(stp_rate(9, 1), Some(0.9));
        assert_eq!(error_rate(9, 1).map(|e| (e * 10.0).round()), Some(1.0));
        assert_eq!(stp_rate(5, 0), Some(1.0));
    }

    #[test]
    fn enum_names_round_trip() {
        for r in [
            BreakReason::MissingOnStatement,
            BreakReason::MissingInLedger,
            BreakReason::Unbalanced,
            BreakReason::Unreadable,
            BreakReason::JobFailed,
            BreakReason::StatementUnbalanced,
            BreakReason::StatementGap,
            BreakReason::StatementOverlap,
            BreakReason::DuplicateStatement,
            BreakReason::IncompleteFile,
            BreakReason::InvoiceArithmetic,
            BreakReason::BadCheckDigit,
            BreakReason::AmountDifference,
            BreakReason::QuantityDifference,
            BreakReason::ValueDifference,
            BreakReason::DateOutsideWindow,
            BreakReason::Duplicate,
            BreakReason::UnknownAccount,
            BreakReason::UnknownIsin,
            BreakReason::UnknownSupplier,
            BreakReason::FailedSettlement,
            BreakReason::MissingAtCustodian,
            BreakReason::MissingInBooks,
            BreakReason::UnknownSender,
            BreakReason::NoAttachment,
            BreakReason::NoPurchaseOrder,
            BreakReason::PriceDifference,
        ] {
            assert_eq!(r.as_str().parse::<BreakReason>().unwrap(), r);
        }
        for p in [
            MatchPass::Reference,
            MatchPass::AmountDate,
            MatchPass::Batch,
        ] {
            assert_eq!(p.as_str().parse::<MatchPass>().unwrap(), p);
        }
    }
}
