//! The hledger export (`format = "hledger"`): a journal in hledger's syntax, which ledger-cli
//! reads too, for the plain-text-accounting crowd. One transaction per entry:
//!
//! ```text
//! 2025-01-02 * (17) NORTHWIND SUPPLIES GMBH INV-296741093  ; job:bank-reconciliation, match:5, pass:reference
//!     ; source: statement.csv line 3
//!     assets:1200 Bank  1789.03 EUR
//!     assets:1400 Forderungen aus Lieferungen und Leistungen  -1789.03 EUR
//! ```
//!
//! The transaction's code, in parentheses, is clerk's entry id; the tags `job`, `match` and `pass`
//! and one `source` comment per settled record say where it came from. After the transactions,
//! every account the batch uses is declared (`account`) and every currency (`commodity`), so the
//! file passes `hledger check --strict`; hledger reads declarations wherever they stand in the
//! file, so they come last and the transactions are written as they arrive (a large batch is
//! never held in memory).
//!
//! **Account names.** The account map's name is used as it is, if hledger can read it back as
//! one account (no two spaces in a row, no tab, no `;`, nothing before or after it). Without a
//! map the name is the account's class (`assets:`, `liabilities:`, `equity:`, `income:`,
//! `expenses:`) then clerk's account, with what hledger would read otherwise replaced: a
//! control character or a run of spaces becomes one space, `;` becomes `,` (it starts a
//! comment), `:` becomes `-` (it would make sub-accounts), spaces at either end are dropped.
//! "1200 Bank" in the chart as a bank account is `assets:1200 Bank`.
//!
//! **Amounts** are written exactly as clerk keeps them (`-1789.03 EUR`), never rounded. A line
//! booked in the functional currency from a foreign amount (its `fx`) is written in the
//! functional currency, as clerk's trial balance has it; the foreign amount and the rate follow
//! in the posting's comment (`; fx: 100.00 USD @ 0.92`), since hledger's `@` would put the foreign
//! currency on the account and its balance would no longer be clerk's.
//!
//! **Invariant:** every transaction written balances per currency as hledger reads it (clerk's
//! entries do: the lines sum to zero per currency), and every name written is declared.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;

use super::{Accounts, Batch, ExportError, Format, Naming, refuse_unknown_options};
use crate::model::journal::PostedEntry;

/// The hledger format. It takes no options.
#[derive(Debug, Default)]
pub struct Hledger {
    /// The accounts written so far (hledger's names), declared at the end.
    accounts: BTreeSet<String>,
    /// The currencies written so far.
    commodities: BTreeSet<String>,
}

impl Hledger {
    /// From the export's `[exports.options]`: hledger takes none, so any key is a mistake.
    pub fn from_options(options: &toml::Table) -> Result<Self, String> {
        refuse_unknown_options("hledger", options, &[])?;
        Ok(Self::default())
    }
}

/// clerk's account as one hledger account-name component (the module doc's rule).
fn component(account: &str) -> String {
    let mut out = String::with_capacity(account.len());
    for c in account.chars() {
        let c = match c {
            ';' => ',',
            ':' => '-',
            c if c.is_control() || c.is_whitespace() => ' ',
            c => c,
        };
        // One space at most: two end the account name in a posting.
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Whether hledger reads `name` back as this one account.
fn readable(name: &str) -> bool {
    !name.is_empty()
        && name.trim() == name
        && !name.contains("  ")
        && !name.contains(';')
        && !name.chars().any(char::is_control)
        && !name.starts_with(['(', '['])
}

/// How hledger names accounts (the module doc's rule).
const NAMING: Naming = Naming {
    tool: "hledger",
    rule: "no two spaces in a row, no tab, no `;`, no space at either end",
    valid: readable,
    component,
    lower_case_root: true,
};

/// The hledger account for clerk's `account`, or why it cannot be written.
pub fn account_name(account: &str, accounts: &Accounts) -> Result<String, String> {
    NAMING.name(account, accounts)
}

/// Text on one line, without `;` (which would start a comment in a transaction's first line).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ';' => ',',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A tag's value: one line, and no `,` (which ends a tag's value).
fn tag_value(text: &str) -> String {
    one_line(text).replace(',', " ")
}

impl Format for Hledger {
    fn extension(&self) -> &'static str {
        "journal"
    }

    fn begin(&mut self, out: &mut dyn Write, batch: &Batch<'_>) -> Result<(), ExportError> {
        writeln!(
            out,
            "; clerk export {}, batch {}{}, entries dated {} to {}\n",
            one_line(batch.target),
            batch.number,
            if batch.reexport { " (re-export)" } else { "" },
            batch.first_date,
            batch.last_date
        )?;
        Ok(())
    }

    fn entry(
        &mut self,
        out: &mut dyn Write,
        entry: &PostedEntry,
        accounts: &Accounts,
    ) -> Result<(), ExportError> {
        // The whole transaction is rendered before a byte is written: refused whole or written
        // whole.
        let mut names = Vec::with_capacity(entry.lines.len());
        for line in &entry.lines {
            names.push(account_name(&line.account, accounts).map_err(|what| {
                ExportError::Entry {
                    entry: entry.id,
                    what,
                }
            })?);
        }
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{} * ({}) {}  ; job:{}, match:{}, pass:{}",
            entry.posting_date,
            entry.id,
            one_line(&entry.narrative),
            tag_value(&entry.job),
            entry.match_id,
            tag_value(&entry.pass)
        );
        if let Some(original) = entry.reverses {
            let _ = writeln!(text, "    ; reverses:{original}");
        }
        if let Some(value_date) = entry.value_date {
            let _ = writeln!(text, "    ; value-date:{value_date}");
        }
        for source in &entry.sources {
            let _ = writeln!(text, "    ; source: {}", tag_value(source));
        }
        for (line, name) in entry.lines.iter().zip(&names) {
            let _ = write!(
                text,
                "    {name}  {} {}",
                line.amount,
                line.currency.as_str()
            );
            // Only a line that was in another currency: the rest have their own amount at 1.
            if let Some(fx) = line.fx.as_ref().filter(|fx| fx.currency != line.currency) {
                let _ = write!(
                    text,
                    "  ; fx: {} {} @ {}",
                    fx.amount,
                    fx.currency.as_str(),
                    fx.rate
                );
            }
            text.push('\n');
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
        for (line, name) in entry.lines.iter().zip(names) {
            self.accounts.insert(name);
            self.commodities.insert(line.currency.as_str().to_string());
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> Result<(), ExportError> {
        let mut text = String::from("; The accounts and currencies this batch uses.\n");
        for account in &self.accounts {
            let _ = writeln!(text, "account {account}");
        }
        for commodity in &self.commodities {
            // No sample amount: hledger then shows every amount with the decimals it has.
            let _ = writeln!(text, "commodity {commodity}");
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
    fn two_entries_are_written_as_hledger_transactions_with_their_accounts_declared() {
        let (entries, accounts) = two_entries();
        let text = render(&mut Hledger::default(), &entries, &accounts).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"; clerk export books, batch 3, entries dated 2025-01-02 to 2025-01-03

2025-01-02 * (17) NORTHWIND SUPPLIES GMBH, INV-296741093  ; job:bank-reconciliation, match:5, pass:reference
    ; source: ledger.csv line 3
    ; source: statement.csv line 2
    assets:1200 Bank  1789.03 EUR
    assets:1400 Forderungen aus LuL  -1789.03 EUR

2025-01-03 * (18) Kontoführung Dezember "Premium"  ; job:bank-reconciliation, match:6, pass:fees
    ; source: statement.csv line 4
    expenses:4970 Nebenkosten des Geldverkehrs  10.50 EUR  ; fx: 11.09 USD @ 0.9468
    assets:1576 Vorsteuer 19%  2.00 EUR
    assets:1200 Bank  -12.50 EUR

; The accounts and currencies this batch uses.
account assets:1200 Bank
account assets:1400 Forderungen aus LuL
account assets:1576 Vorsteuer 19%
account expenses:4970 Nebenkosten des Geldverkehrs
commodity EUR
"#
        );
    }

    #[test]
    fn names_hledger_cannot_read_are_made_readable_or_refused_when_mapped() {
        assert_eq!(
            component("  1200  Bank;\tEUR: main "),
            "1200 Bank, EUR- main"
        );
        let mut accounts = Accounts::default();
        accounts
            .map
            .insert("1200 Bank".into(), "assets:bank  checking".into());
        let err = account_name("1200 Bank", &accounts).unwrap_err();
        assert!(
            err.contains("\"1200 Bank\"") && err.contains("two spaces"),
            "{err}"
        );
        accounts
            .map
            .insert("1200 Bank".into(), "assets:bank:checking".into());
        assert_eq!(
            account_name("1200 Bank", &accounts).unwrap(),
            "assets:bank:checking"
        );
        assert!(Hledger::from_options(&toml::toml! { x = 1 }).is_err());
    }
}
