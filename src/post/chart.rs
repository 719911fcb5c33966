//! The chart of accounts: the accounts an entry may use, by number, and which chart account
//! each bank account (IBAN or the bank's account id) is.
//!
//! **Invariant:** with a chart, every account of a posted entry is one of its accounts, written
//! as the chart writes it (`number name`). A template's text is read by its number; the name
//! after it is the chart's, so two spellings of one account (`4930 Bürobedarf`, `4930
//! Buerobedarf`, `1600 Payables ACME GmbH`, `1600 Payables Acme GmbH`) are one account. An
//! account the chart does not have is refused, naming it and the chart's file, never posted as a
//! new account. Pure: the file is read by `config`, this parses its text.
//!
//! The file is CSV, `number,name,type[,currency]`, a header line allowed, `#` starts a comment:
//!
//! ```text
//! number,name,type,currency
//! 1200,Bank,bank
//! 1571,Abziehbare Vorsteuer 7 %,tax
//! 1600,Verbindlichkeiten aus Lieferungen und Leistungen,payable
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{Currency, EntryLine};

use super::{PostingRefused, PostingSpecError, PostingTemplate};

/// What kind of account: the types a chart line may give.
pub const ACCOUNT_TYPES: [&str; 9] = [
    "asset",
    "bank",
    "receivable",
    "liability",
    "payable",
    "tax",
    "equity",
    "income",
    "expense",
];

/// One account of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartAccount {
    pub number: String,
    pub name: String,
    /// One of [`ACCOUNT_TYPES`].
    pub kind: String,
    /// The only currency the account is kept in, when the chart says so.
    pub currency: Option<Currency>,
}

impl ChartAccount {
    /// How entries name the account: `number name`.
    pub fn label(&self) -> String {
        format!("{} {}", self.number, self.name)
    }
}

/// A checked chart of accounts and the bank accounts it maps.
#[derive(Clone, PartialEq, Eq)]
pub struct Chart {
    /// The file it was read from, for messages.
    pub file: String,
    accounts: BTreeMap<String, ChartAccount>,
    /// Compacted IBAN or account id → account number.
    banks: BTreeMap<String, String>,
}

/// The file and its size, not every account: a job's settings are printed whole.
impl std::fmt::Debug for Chart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chart")
            .field("file", &self.file)
            .field("accounts", &self.accounts.len())
            .field("bank_accounts", &self.banks.len())
            .finish()
    }
}

/// A problem in a chart file: its line (1-based) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ChartError {
    pub line: u64,
    pub message: String,
}

impl Chart {
    /// Reads a chart from the text of `file`. Every problem names its line.
    pub fn parse(file: &str, text: &str) -> Result<Chart, ChartError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let mut accounts: BTreeMap<String, ChartAccount> = BTreeMap::new();
        let mut lines: BTreeMap<String, u64> = BTreeMap::new();
        let mut first = true;
        for row in reader.records() {
            let row = row.map_err(|e| ChartError {
                line: e.position().map_or(0, |p| p.line()),
                message: format!("not CSV: {e}"),
            })?;
            let line = row.position().map_or(0, |p| p.line());
            let err = |message: String| ChartError { line, message };
            if row.iter().all(str::is_empty) {
                continue;
            }
            if std::mem::take(&mut first)
                && row.get(0).is_some_and(|f| f.eq_ignore_ascii_case("number"))
            {
                continue;
            }
            if !(3..=4).contains(&row.len()) {
                return Err(err(format!(
                    "expected number,name,type[,currency], found {} fields",
                    row.len()
                )));
            }
            let number = &row[0];
            if number.is_empty()
                || !number
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(err(format!(
                    "the account number must be letters, digits, '.', '-' or '_', found {number:?}"
                )));
            }
            let name = &row[1];
            if name.is_empty() {
                return Err(err(format!("account {number} has no name")));
            }
            let kind = row[2].to_ascii_lowercase();
            if !ACCOUNT_TYPES.contains(&kind.as_str()) {
                return Err(err(format!(
                    "unknown type {:?} of account {number}; expected one of {}",
                    &row[2],
                    ACCOUNT_TYPES.join(", ")
                )));
            }
            let currency = match row.get(3).filter(|c| !c.is_empty()) {
                None => None,
                Some(c) => Some(
                    c.parse::<Currency>()
                        .map_err(|e| err(format!("currency of account {number}: {e}")))?,
                ),
            };
            if let Some(before) = lines.insert(number.to_string(), line) {
                return Err(err(format!("account {number} is already on line {before}")));
            }
            accounts.insert(
                number.to_string(),
                ChartAccount {
                    number: number.to_string(),
                    name: name.to_string(),
                    kind,
                    currency,
                },
            );
        }
        if accounts.is_empty() {
            return Err(ChartError {
                line: 1,
                message: "no accounts: expected lines of number,name,type[,currency]".into(),
            });
        }
        Ok(Chart {
            file: file.to_string(),
            accounts,
            banks: BTreeMap::new(),
        })
    }

    /// How many accounts the chart has.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Never: a chart without accounts is refused when it is read.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Every account, by number (what exports classify accounts from).
    pub fn accounts(&self) -> impl Iterator<Item = &ChartAccount> {
        self.accounts.values()
    }

    /// The account of `number`.
    pub fn account(&self, number: &str) -> Option<&ChartAccount> {
        self.accounts.get(number)
    }

    /// Maps the bank account `id` (an IBAN, spaces and case ignored, or the bank's account id)
    /// to the chart's bank account `number`. Refused, saying why, unless `number` is an account
    /// of type `bank` and `id` is not mapped yet.
    pub fn map_bank(&mut self, id: &str, number: &str) -> Result<(), String> {
        let key = compact(id);
        if key.is_empty() {
            return Err("the bank account id is empty".into());
        }
        let Some(account) = self.accounts.get(number.trim()) else {
            return Err(format!(
                "account {number:?} is not in the chart {}",
                self.file
            ));
        };
        if account.kind != "bank" {
            return Err(format!(
                "{} is of type {} in the chart {}; a bank account maps to an account of type bank",
                account.label(),
                account.kind,
                self.file
            ));
        }
        if let Some(other) = self.banks.get(&key) {
            return Err(format!("{id} is mapped to {other} already"));
        }
        self.banks.insert(key, account.number.clone());
        Ok(())
    }

    /// The chart account a filled template text names, as entries write it: the account the
    /// text's bank account id maps to, else the account of the text's first word (its number).
    pub fn resolve(&self, text: &str, currency: Currency) -> Result<String, PostingRefused> {
        let refuse = |why: String| PostingRefused::NotInChart {
            account: text.trim().to_string(),
            chart: self.file.clone(),
            why,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(refuse(
                "the account is empty (a bank line naming no bank account: give the statement's \
                 IBAN or account id, e.g. [extract.defaults] account)"
                    .into(),
            ));
        }
        let account = match self.banks.get(&compact(text)) {
            Some(number) => &self.accounts[number],
            None => {
                let number = text.split_whitespace().next().unwrap_or_default();
                match self.accounts.get(number) {
                    Some(a) => a,
                    None if looks_like_bank_id(text) => {
                        return Err(refuse(
                            "no chart account for this bank account: map it in clerk.toml's \
                             [chart.bank_accounts] (or the job's [bank_accounts], with its own \
                             chart)"
                                .into(),
                        ));
                    }
                    None => {
                        return Err(refuse(format!("no account {number} in the chart")));
                    }
                }
            }
        };
        if let Some(only) = account.currency
            && only != currency
        {
            return Err(refuse(format!(
                "{} is kept in {only} only, the line is in {currency}",
                account.label()
            )));
        }
        Ok(account.label())
    }

    /// Each line's account, as [`Chart::resolve`] gives it.
    pub fn resolve_lines(&self, lines: &mut [EntryLine]) -> Result<(), PostingRefused> {
        for l in lines {
            l.account = self.resolve(&l.account, l.currency)?;
        }
        Ok(())
    }

    /// What can be known of a template's account before anything is posted: its number, when
    /// no placeholder makes it, is in the chart; its name, when written without placeholders,
    /// is the chart's (case, spaces, punctuation and `ue` for `ü` aside). `Err` says why not.
    pub fn check_template(&self, text: &str) -> Result<(), String> {
        let text = text.trim();
        let number = text.split_whitespace().next().unwrap_or_default();
        if number.is_empty() || number.contains('{') {
            return Ok(());
        }
        let Some(account) = self.accounts.get(number) else {
            return Err(format!(
                "{text:?}: no account {number} in the chart {}",
                self.file
            ));
        };
        let name = text[number.len()..].trim();
        if !name.is_empty() && !name.contains('{') && fold(name) != fold(&account.name) {
            return Err(format!(
                "{text:?}: {number} is \"{}\" in the chart {}; write {number:?} or \"{}\"",
                account.name,
                self.file,
                account.label()
            ));
        }
        Ok(())
    }
}

impl PostingTemplate {
    /// The chart the template posts to, when it has one.
    pub fn chart(&self) -> Option<&Chart> {
        self.chart.as_deref()
    }

    /// The template posting to `chart`'s accounts only: each line's account that can be
    /// checked now is (see [`Chart::check_template`]), the others when an entry is built.
    pub fn with_chart(mut self, chart: Arc<Chart>) -> Result<PostingTemplate, PostingSpecError> {
        let mut sets: Vec<(String, &super::ByDirection)> = vec![("posting".into(), &self.job)];
        for (name, set) in &self.passes {
            sets.push((format!("posting.pass.{name}"), set));
        }
        for (table, set) in sets {
            for (dir, t) in [("receipt", &set.receipt), ("payment", &set.payment)] {
                for (i, line) in t.lines.iter().enumerate() {
                    chart
                        .check_template(&line.account)
                        .map_err(|message| PostingSpecError {
                            key: format!("{table}.{dir}.lines[{i}].account"),
                            message,
                        })?;
                }
            }
        }
        for (key, account) in self.rules.accounts() {
            chart
                .check_template(account)
                .map_err(|message| PostingSpecError { key, message })?;
        }
        self.chart = Some(chart);
        Ok(self)
    }
}

/// An IBAN or account id as the map keys it: no spaces, upper case.
fn compact(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Whether a text that is no chart number looks like a bank account id (one word of letters
/// and digits with at least six digits, as IBANs and account numbers are).
fn looks_like_bank_id(text: &str) -> bool {
    let c = compact(text);
    c.chars().all(|c| c.is_ascii_alphanumeric())
        && c.chars().filter(char::is_ascii_digit).count() >= 6
}

/// A name as it is compared: lower case, `ä ö ü ß` as `ae oe ue ss`, letters and digits only.
fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKR03: &str = "\
# a small SKR03
number,name,type,currency
1200,Bank,bank
1210,Bank USD,bank,USD
1576,Abziehbare Vorsteuer 19 %,tax
1600,Verbindlichkeiten aus Lieferungen und Leistungen,payable
4930,Bürobedarf,expense
";

    fn chart() -> Chart {
        Chart::parse("skr03.csv", SKR03).unwrap()
    }

    fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    #[test]
    fn chart_errors_name_the_line_and_what_was_expected() {
        let cases = [
            ("1200,Bank\n", 1, "expected number,name,type"),
            ("1200,Bank,bank\n1200,Bank 2,bank\n", 2, "already on line 1"),
            (
                "1200,Bank,bank\n4930,Bürobedarf,costs\n",
                2,
                "unknown type \"costs\"",
            ),
            ("number,name,type\n12 00,Bank,bank\n", 2, "account number"),
            ("1200,,bank\n", 1, "has no name"),
            ("1200,Bank,bank,EURO\n", 1, "currency of account 1200"),
            ("# nothing\n", 1, "no accounts"),
        ];
        for (text, line, message) in cases {
            let e = Chart::parse("c.csv", text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(message), "{text:?}: {e}");
        }
    }

    #[test]
    fn two_spellings_of_one_account_are_one_account() {
        let c = chart();
        for text in ["1600 Payables ACME GmbH", "1600 Payables Acme GmbH", "1600"] {
            assert_eq!(
                c.resolve(text, eur()).unwrap(),
                "1600 Verbindlichkeiten aus Lieferungen und Leistungen"
            );
        }
        assert_eq!(
            c.resolve("4930 Buerobedarf", eur()).unwrap(),
            "4930 Bürobedarf"
        );
        assert_eq!(
            c.resolve("4930 Bürobedarf", eur()).unwrap(),
            "4930 Bürobedarf"
        );
        // Checked before anything posts: a name other than the chart's is a mistake.
        c.check_template("4930 BUEROBEDARF").unwrap();
        c.check_template("1600 Payables {supplier}").unwrap();
        c.check_template("{bank_account}").unwrap();
        let e = c.check_template("1576 Input VAT 7%").unwrap_err();
        assert!(e.contains("1576 is \"Abziehbare Vorsteuer 19 %\""), "{e}");
        let e = c.check_template("1010 Bank {currency}").unwrap_err();
        assert!(e.contains("no account 1010 in the chart skr03.csv"), "{e}");
    }

    #[test]
    fn an_account_not_in_the_chart_is_refused_naming_it_and_the_chart() {
        let c = chart();
        let e = c.resolve("1010 Bank EUR", eur()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "account \"1010 Bank EUR\" cannot be posted: no account 1010 in the chart \
             (chart of accounts skr03.csv)"
        );
        let e = c.resolve("", eur()).unwrap_err();
        assert!(e.to_string().contains("the account is empty"), "{e}");
        // A chart account kept in one currency takes no other.
        let e = c.resolve("1210", eur()).unwrap_err();
        assert!(e.to_string().contains("kept in USD only"), "{e}");
    }

    #[test]
    fn each_bank_account_maps_to_its_own_chart_account() {
        let mut c = chart();
        c.map_bank("DE89 3704 0044 0532 0130 00", "1200").unwrap();
        c.map_bank("US64SVBKUS6S3300958879", "1210").unwrap();
        assert_eq!(
            c.resolve("DE89370400440532013000", eur()).unwrap(),
            "1200 Bank"
        );
        assert_eq!(
            c.resolve("us64svbkus6s3300958879", "USD".parse().unwrap())
                .unwrap(),
            "1210 Bank USD"
        );
        let e = c.resolve("DE02120300000000202051", eur()).unwrap_err();
        assert!(e.to_string().contains("[chart.bank_accounts]"), "{e}");
        assert!(
            c.map_bank("DE02120300000000202051", "1600")
                .unwrap_err()
                .contains("type bank")
        );
        assert!(
            c.map_bank("DE02120300000000202051", "1010")
                .unwrap_err()
                .contains("not in the chart")
        );
        assert!(
            c.map_bank("DE89370400440532013000", "1210")
                .unwrap_err()
                .contains("already")
        );
    }

    #[test]
    fn a_match_posts_to_chart_accounts_only() {
        use crate::model::{MatchPass, Record, Side, Source};
        use crate::post::{PostingLineSpec, PostingSpec, entry_for_match};
        let mut c = chart();
        c.map_bank("DE89370400440532013000", "1200").unwrap();
        let c = Arc::new(c);
        let spec = |clearing: &str| PostingSpec {
            lines: vec![
                PostingLineSpec {
                    account: "{bank_account}".into(),
                    amount: "statement".into(),
                },
                PostingLineSpec {
                    account: clearing.into(),
                    amount: "-ledger".into(),
                },
            ],
            ..PostingSpec::default()
        };
        let record = |side, account: Option<&str>| Record {
            side,
            external_id: "1".into(),
            account: account.map(Into::into),
            value_date: "2026-03-02".parse().unwrap(),
            booking_date: None,
            amount: "-10.00".parse().unwrap(),
            currency: eur(),
            reference: None,
            counterparty: Some("Acme GmbH".into()),
            remittance: None,
            codes: None,
            source: Source::at(Arc::from("f"), None, 1),
        };
        let bill = record(Side::Ledger, None);
        let paid = record(Side::Statement, Some("DE89 3704 0044 0532 0130 00"));
        let t = spec("1600 Payables {counterparty}")
            .check()
            .unwrap()
            .with_chart(c.clone())
            .unwrap();
        let e = entry_for_match("ap", &t, MatchPass::Reference, &[&bill], &[&paid]).unwrap();
        let accounts: Vec<_> = e.lines.iter().map(|l| l.account.as_str()).collect();
        assert_eq!(
            accounts,
            [
                "1200 Bank",
                "1600 Verbindlichkeiten aus Lieferungen und Leistungen"
            ]
        );
        // The placeholder fills an account the chart lacks: refused at posting, not a new account.
        let t = spec("{counterparty}")
            .check()
            .unwrap()
            .with_chart(c.clone())
            .unwrap();
        let e = entry_for_match("ap", &t, MatchPass::Reference, &[&bill], &[&paid]).unwrap_err();
        assert!(
            matches!(&e, PostingRefused::NotInChart { account, .. } if account == "Acme GmbH"),
            "{e}"
        );
        // A bank account with no chart account is refused too.
        let other = record(Side::Statement, Some("DE02120300000000202051"));
        let t = spec("1600").check().unwrap().with_chart(c.clone()).unwrap();
        assert!(entry_for_match("ap", &t, MatchPass::Reference, &[&bill], &[&other]).is_err());
        // What can be checked before anything posts is checked when the job is loaded.
        let e = spec("1690 Payables clearing")
            .check()
            .unwrap()
            .with_chart(c)
            .unwrap_err();
        assert_eq!(e.key, "posting.receipt.lines[1].account");
        assert!(e.message.contains("no account 1690"), "{}", e.message);
    }
}
