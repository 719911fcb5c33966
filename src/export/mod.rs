//! Exports: posted entries written in a format a general ledger imports (`[[exports]]` in
//! clerk.toml). A stage: entries in, bytes out, no store and no I/O but the writer it is handed.
//!
//! **Invariants:** rendering is deterministic (the same entries, batch and settings give the same
//! bytes, so a batch written again after a crash has the checksum the store recorded); amounts
//! are written exactly as the decimals they are, never through a float; an entry that cannot be
//! written (an account the target cannot name) is refused whole with the entry and the account
//! named, never half written.
//!
//! A new format is one file: a type implementing [`Format`], and one arm in [`format_for`].

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::journal::PostedEntry;

pub mod beancount;
pub mod csv;
pub mod datev;
pub mod hledger;
#[cfg(test)]
mod sample;

/// The formats clerk writes, by the name `format = "..."` takes.
pub const FORMATS: &[&str] = &["csv", "hledger", "beancount", "datev"];

/// One file's worth of entries for one export target.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// The target's `name`.
    pub target: &'a str,
    /// The batch's number within its target (1, 2, …); a re-export has its own numbering.
    pub number: u64,
    /// When the batch was first planned (kept in the store, so a batch written again has the
    /// same bytes).
    pub created_at: DateTime<Utc>,
    /// The earliest and latest posting date among its entries.
    pub first_date: NaiveDate,
    pub last_date: NaiveDate,
    /// A re-export on request (`clerk journal export`), not the next batch of the target.
    pub reexport: bool,
}

/// What kind of account, for formats whose account names say it (hledger's `assets:`,
/// beancount's `Assets:`). From the chart's type: asset, bank, receivable → asset; liability,
/// payable, tax → liability; equity; income; expense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccountClass {
    Asset,
    Liability,
    Equity,
    Income,
    Expense,
}

impl AccountClass {
    /// From a chart line's type (`post::chart::ACCOUNT_TYPES`); `None` for a type it lacks.
    pub fn from_chart_type(kind: &str) -> Option<Self> {
        Some(match kind {
            "asset" | "bank" | "receivable" => Self::Asset,
            "liability" | "payable" | "tax" => Self::Liability,
            "equity" => Self::Equity,
            "income" => Self::Income,
            "expense" => Self::Expense,
            _ => return None,
        })
    }
}

impl AccountClass {
    /// The root account plain-text accounting gives the class (`Assets`, `Liabilities`,
    /// `Equity`, `Income`, `Expenses`; hledger writes them in lower case).
    pub fn root(self) -> &'static str {
        match self {
            Self::Asset => "Assets",
            Self::Liability => "Liabilities",
            Self::Equity => "Equity",
            Self::Income => "Income",
            Self::Expense => "Expenses",
        }
    }
}

/// How a plain-text-accounting format (hledger, beancount) names accounts: which mapped names
/// it can read back as one account, and how it makes one component of clerk's account.
pub(crate) struct Naming {
    /// The tool, for messages.
    pub tool: &'static str,
    /// What a mapped name must be, for the message refusing one that is not.
    pub rule: &'static str,
    pub valid: fn(&str) -> bool,
    pub component: fn(&str) -> String,
    pub lower_case_root: bool,
}

impl Naming {
    /// The account map's name for `account` (if the tool can read it), else the class's root
    /// and clerk's account as one component; or why neither can be written.
    pub(crate) fn name(&self, account: &str, accounts: &Accounts) -> Result<String, String> {
        let tool = self.tool;
        if let Some(mapped) = accounts.mapped(account) {
            return if (self.valid)(mapped) {
                Ok(mapped.to_string())
            } else {
                Err(format!(
                    "account {account:?} is mapped to {mapped:?}, which {tool} cannot read as one account name ({})",
                    self.rule
                ))
            };
        }
        let part = (self.component)(account);
        if part.is_empty() {
            return Err(format!(
                "account {account:?} has nothing {tool} can name; map it in [exports.accounts]"
            ));
        }
        let root = accounts.class(account).root();
        Ok(if self.lower_case_root {
            format!("{}:{part}", root.to_ascii_lowercase())
        } else {
            format!("{root}:{part}")
        })
    }
}

/// How the target names clerk's accounts: the export's account map first, else a name the
/// format derives from clerk's (and the account's class, from the chart).
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// clerk's account → the target's, from `[exports.accounts]`.
    pub map: BTreeMap<String, String>,
    /// clerk's account → its class, from the chart of accounts of the jobs.
    pub classes: BTreeMap<String, AccountClass>,
}

impl Accounts {
    /// The target's name for `account` from the account map, if it has one.
    pub fn mapped(&self, account: &str) -> Option<&str> {
        self.map.get(account).map(String::as_str)
    }

    /// The account's class; an account no chart knows is taken as an asset (README, "The
    /// books", says so), which only matters to formats that prefix the class.
    pub fn class(&self, account: &str) -> AccountClass {
        self.classes
            .get(account)
            .copied()
            .unwrap_or(AccountClass::Asset)
    }
}

/// Why an entry or a batch could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("entry {entry}: {what}")]
    Entry { entry: i64, what: String },
    #[error("writing the export: {0}")]
    Io(#[from] io::Error),
}

/// One export format. Called as `begin`, `entry` for each entry in posting order, `finish`;
/// a format keeps what it needs between calls (DATEV's running numbers) in `self`.
pub trait Format: Send {
    /// The file name's extension, without the dot.
    fn extension(&self) -> &'static str;
    /// Anything the file starts with (a header record, options).
    fn begin(&mut self, out: &mut dyn Write, batch: &Batch<'_>) -> Result<(), ExportError>;
    /// One entry, with all its lines.
    fn entry(
        &mut self,
        out: &mut dyn Write,
        entry: &PostedEntry,
        accounts: &Accounts,
    ) -> Result<(), ExportError>;
    /// Anything the file ends with.
    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError>;

    /// The dates one file may hold, for a format whose files must lie within one span (DATEV:
    /// one fiscal year): the span holding `date`. A target's batch ends before the first entry
    /// outside the span of its first entry. `None` (the default): any dates.
    fn batch_bounds(&self, _date: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        None
    }
}

/// The format named `name`, set up from the export's `[exports.options]` table. Each format
/// reads its own keys and refuses one it does not know, naming it; an unknown format name is
/// refused with the list of those clerk writes ([`FORMATS`]). The error is a sentence for the
/// configuration check to put after the file and line.
pub fn format_for(name: &str, options: &toml::Table) -> Result<Box<dyn Format>, String> {
    match name {
        "csv" => Ok(Box::new(csv::Csv::from_options(options)?)),
        "hledger" => Ok(Box::new(hledger::Hledger::from_options(options)?)),
        "beancount" => Ok(Box::new(beancount::Beancount::from_options(options)?)),
        "datev" => Ok(Box::new(datev::Datev::from_options(options)?)),
        _ => Err(format!(
            "unknown export format {name:?}; clerk writes {}",
            FORMATS.join(", ")
        )),
    }
}

/// Refuses any key of `options` not in `known`, naming it and the format's keys: a misspelt
/// option must not be silently ignored.
pub fn refuse_unknown_options(
    format: &str,
    options: &toml::Table,
    known: &[&str],
) -> Result<(), String> {
    match options.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) if known.is_empty() => Err(format!(
            "the {format} export takes no options, but [exports.options] has {key:?}"
        )),
        Some(key) => Err(format!(
            "the {format} export has no option {key:?}; it takes {}",
            known.join(", ")
        )),
    }
}
