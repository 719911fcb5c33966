//! The beancount export (`format = "beancount"`, beancount v3 syntax): one transaction per
//! entry, its narration clerk's narrative, its metadata where it came from:
//!
//! ```text
//! 2025-01-02 * "NORTHWIND SUPPLIES GMBH; INV-296741093"
//!   entry: "17"
//!   job: "bank-reconciliation"
//!   match: "5"
//!   pass: "reference"
//!   source: "ledger.csv line 3 | statement.csv line 2"
//!   Assets:1200-Bank  1789.03 EUR
//!   Assets:1400-Forderungen-aus-LuL  -1789.03 EUR
//! ```
//!
//! After the transactions, one `open` directive per account the batch uses, dated the day of
//! its first transaction in the batch, and one `commodity` per currency. Beancount orders
//! directives by date, not by their place in the file, so they can come last and transactions
//! are written as they arrive (a large batch is never held in memory). A ledger that takes
//! several batches (`include`) opens an account once (bean-check says "Duplicate open
//! directive" otherwise): there, set `open = false` and open the accounts in the main file (or
//! use beancount's `auto_accounts` plugin).
//!
//! **Account names.** The account map's name is used as it is if beancount accepts it (a root
//! `Assets`, `Liabilities`, `Equity`, `Income` or `Expenses`, then components each starting
//! with a capital letter or a digit, of letters, digits and dashes), else the entry is
//! refused. Without a map: the class's root, then clerk's account as one component: umlauts
//! and ß transliterated (ä → ae, Ö → Oe, ß → ss), every run of other characters (spaces,
//! `:`, `%`, accents beancount may not take) one dash, dashes at either end dropped, a first
//! lower-case letter made upper-case. "1200 Bank" in the chart as a bank account is
//! `Assets:1200-Bank`; "1576 Vorsteuer 19%" is `Assets:1576-Vorsteuer-19`.
//!
//! **Amounts** are written exactly as clerk keeps them. A line booked in the functional
//! currency from a foreign amount keeps the functional amount (what clerk's trial balance
//! says) and carries the foreign one as the posting's metadata `fx: "11.09 USD @ 0.9468"`.
//!
//! **Invariant:** every transaction balances per currency as written (clerk's entries do), and
//! every account is opened on or before its first use.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use chrono::NaiveDate;

use super::{Accounts, Batch, ExportError, Format, Naming, refuse_unknown_options};
use crate::model::journal::PostedEntry;

/// The beancount format. Its options: `operating_currency` (written as beancount's option, so
/// its reports convert to it) and `open` (false: no `open` and `commodity` directives).
#[derive(Debug)]
pub struct Beancount {
    operating_currency: Option<String>,
    /// Whether each file opens its accounts and declares its currencies.
    open: bool,
    /// Each account written, with the date of its first transaction.
    opened: BTreeMap<String, NaiveDate>,
    /// Each currency written, with the date it was first used.
    commodities: BTreeMap<String, NaiveDate>,
}

impl Default for Beancount {
    fn default() -> Self {
        Self {
            operating_currency: None,
            open: true,
            opened: BTreeMap::new(),
            commodities: BTreeMap::new(),
        }
    }
}

impl Beancount {
    /// From the export's `[exports.options]`, both optional: `operating_currency = "EUR"`,
    /// `open = false`.
    pub fn from_options(options: &toml::Table) -> Result<Self, String> {
        refuse_unknown_options("beancount", options, &["operating_currency", "open"])?;
        let mut format = Self::default();
        for (key, value) in options {
            match (key.as_str(), value) {
                ("open", toml::Value::Boolean(open)) => format.open = *open,
                ("open", _) => {
                    return Err(format!(
                        "beancount's open must be true or false, not {value}"
                    ));
                }
                ("operating_currency", toml::Value::String(c)) if commodity_name(c) => {
                    format.operating_currency = Some(c.clone());
                }
                ("operating_currency", _) => {
                    return Err(format!(
                        "beancount's operating_currency must be a currency code like \"EUR\", not {value}"
                    ));
                }
                _ => {
                    return Err(format!(
                        "format beancount takes only the option operating_currency, not `{key}`"
                    ));
                }
            }
        }
        Ok(format)
    }
}

/// Whether beancount takes `name` as a commodity (currency) name.
fn commodity_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit() || b"'._-".contains(c);
    (1..=24).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && (b.len() == 1
            || ((b[b.len() - 1].is_ascii_uppercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter().all(inner)))
}

/// Whether beancount takes `part` as one component of an account name.
fn valid_component(part: &str) -> bool {
    let mut chars = part.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether beancount takes `name` as an account name.
fn valid_account(name: &str) -> bool {
    let mut parts = name.split(':');
    matches!(
        parts.next(),
        Some("Assets" | "Liabilities" | "Equity" | "Income" | "Expenses")
    ) && {
        let rest: Vec<&str> = parts.collect();
        !rest.is_empty() && rest.iter().all(|p| valid_component(p))
    }
}

/// clerk's account as one beancount component (the module doc's rule); empty when nothing of
/// it is left.
fn component(account: &str) -> String {
    let mut out = String::with_capacity(account.len());
    let mut dash = false;
    for c in account.chars() {
        let spelled = match c {
            'ä' => "ae",
            'ö' => "oe",
            'ü' => "ue",
            'Ä' => "Ae",
            'Ö' => "Oe",
            'Ü' => "Ue",
            'ß' => "ss",
            c if c.is_ascii_alphanumeric() => {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c);
                continue;
            }
            _ => {
                dash = true;
                continue;
            }
        };
        if dash && !out.is_empty() {
            out.push('-');
        }
        dash = false;
        out.push_str(spelled);
    }
    if let Some(first) = out.get(..1)
        && first.as_bytes()[0].is_ascii_lowercase()
    {
        out.replace_range(..1, &first.to_ascii_uppercase());
    }
    out
}

/// How beancount names accounts (the module doc's rule).
const NAMING: Naming = Naming {
    tool: "beancount",
    rule: "Assets, Liabilities, Equity, Income or Expenses, then components of letters, digits and dashes, each starting with a capital letter or a digit",
    valid: valid_account,
    component,
    lower_case_root: false,
};

/// The beancount account for clerk's `account`, or why it cannot be written.
pub fn account_name(account: &str, accounts: &Accounts) -> Result<String, String> {
    NAMING.name(account, accounts)
}

/// A beancount string: quotes and backslashes escaped, on one line.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Format for Beancount {
    fn extension(&self) -> &'static str {
        "beancount"
    }

    fn begin(&mut self, out: &mut dyn Write, batch: &Batch<'_>) -> Result<(), ExportError> {
        let mut text = format!(
            "; clerk export {}, batch {}{}, entries dated {} to {}\n",
            batch.target.replace(['\r', '\n'], " "),
            batch.number,
            if batch.reexport { " (re-export)" } else { "" },
            batch.first_date,
            batch.last_date
        );
        if let Some(c) = &self.operating_currency {
            let _ = writeln!(text, "option \"operating_currency\" \"{c}\"");
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
        Ok(())
    }

    fn entry(
        &mut self,
        out: &mut dyn Write,
        entry: &PostedEntry,
        accounts: &Accounts,
    ) -> Result<(), ExportError> {
        let refuse = |what: String| ExportError::Entry {
            entry: entry.id,
            what,
        };
        let mut names = Vec::with_capacity(entry.lines.len());
        for line in &entry.lines {
            names.push(account_name(&line.account, accounts).map_err(refuse)?);
            if !commodity_name(line.currency.as_str()) {
                return Err(refuse(format!(
                    "account {:?}: currency {} is not a beancount commodity name",
                    line.account, line.currency
                )));
            }
        }
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{} * {}",
            entry.posting_date,
            string(&entry.narrative)
        );
        let _ = writeln!(text, "  entry: \"{}\"", entry.id);
        let _ = writeln!(text, "  job: {}", string(&entry.job));
        let _ = writeln!(text, "  match: \"{}\"", entry.match_id);
        let _ = writeln!(text, "  pass: {}", string(&entry.pass));
        if let Some(original) = entry.reverses {
            let _ = writeln!(text, "  reverses: \"{original}\"");
        }
        if let Some(value_date) = entry.value_date {
            let _ = writeln!(text, "  value_date: {value_date}");
        }
        if !entry.sources.is_empty() {
            let _ = writeln!(text, "  source: {}", string(&entry.sources.join(" | ")));
        }
        for (line, name) in entry.lines.iter().zip(&names) {
            let _ = writeln!(text, "  {name}  {} {}", line.amount, line.currency);
            // Only a line that was in another currency: the rest have their own amount at 1.
            if let Some(fx) = line.fx.as_ref().filter(|fx| fx.currency != line.currency) {
                let _ = writeln!(
                    text,
                    "    fx: \"{} {} @ {}\"",
                    fx.amount, fx.currency, fx.rate
                );
            }
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
        for (line, name) in entry.lines.iter().zip(names) {
            let first = self.opened.entry(name).or_insert(entry.posting_date);
            *first = (*first).min(entry.posting_date);
            let first = self
                .commodities
                .entry(line.currency.as_str().to_string())
                .or_insert(entry.posting_date);
            *first = (*first).min(entry.posting_date);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        if !self.open {
            return Ok(());
        }
        let mut text = String::from("; The currencies and accounts this batch uses.\n");
        for (commodity, date) in &self.commodities {
            let _ = writeln!(text, "{date} commodity {commodity}");
        }
        for (account, date) in &self.opened {
            let _ = writeln!(text, "{date} open {account}");
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample::{render, two_entries};
    use super::*;

    #[test]
    fn two_entries_are_written_as_beancount_transactions_with_their_accounts_opened() {
        let (entries, accounts) = two_entries();
        let text = render(&mut Beancount::default(), &entries, &accounts).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"; clerk export books, batch 3, entries dated 2025-01-02 to 2025-01-03

2025-01-02 * "NORTHWIND SUPPLIES GMBH; INV-296741093"
  entry: "17"
  job: "bank-reconciliation"
  match: "5"
  pass: "reference"
  source: "ledger.csv line 3 | statement.csv line 2"
  Assets:1200-Bank  1789.03 EUR
  Assets:1400-Forderungen-aus-LuL  -1789.03 EUR

2025-01-03 * "Kontoführung Dezember \"Premium\""
  entry: "18"
  job: "bank-reconciliation"
  match: "6"
  pass: "fees"
  source: "statement.csv line 4"
  Expenses:4970-Nebenkosten-des-Geldverkehrs  10.50 EUR
    fx: "11.09 USD @ 0.9468"
  Assets:1576-Vorsteuer-19  2.00 EUR
  Assets:1200-Bank  -12.50 EUR

; The currencies and accounts this batch uses.
2025-01-02 commodity EUR
2025-01-02 open Assets:1200-Bank
2025-01-02 open Assets:1400-Forderungen-aus-LuL
2025-01-03 open Assets:1576-Vorsteuer-19
2025-01-03 open Expenses:4970-Nebenkosten-des-Geldverkehrs
"#
        );
    }

    #[test]
    fn names_are_made_valid_for_beancount_and_a_bad_mapped_name_is_refused() {
        assert_eq!(component("4930 Bürobedarf"), "4930-Buerobedarf");
        assert_eq!(component("  kasse: Straße (alt) "), "Kasse-Strasse-alt");
        assert_eq!(component("%%"), "");
        assert!(valid_account("Assets:Bank:DE-1200"));
        assert!(!valid_account("Assets:bank"));
        assert!(!valid_account("Cash:Bank"));
        let mut accounts = Accounts::default();
        accounts
            .map
            .insert("1200 Bank".into(), "Assets:bank".into());
        let (mut entries, _) = two_entries();
        entries.truncate(1);
        let err = render(&mut Beancount::default(), &entries, &accounts).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("entry 17:") && text.contains("\"1200 Bank\""),
            "{text}"
        );
        assert!(Beancount::from_options(&toml::toml! { operating_currency = "eur" }).is_err());
        assert!(Beancount::from_options(&toml::toml! { operating_currency = "EUR" }).is_ok());
        let mut quiet = Beancount::from_options(&toml::toml! { open = false }).unwrap();
        let (entries, accounts) = two_entries();
        let text = String::from_utf8(render(&mut quiet, &entries, &accounts).unwrap()).unwrap();
        assert!(
            !text.contains(" open ") && !text.contains(" commodity "),
            "{text}"
        );
        assert!(text.contains("Assets:1200-Bank  -12.50 EUR"));
    }
}
