//! Posting: a match becomes a balanced double-entry journal entry, from the job's template.
//!
//! **Invariant:** pure; an entry that does not balance in every currency is refused here, never
//! written. The idempotency key depends only on the job and the identities of the settled
//! records, so the same match always yields the same key.

pub mod payables;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::{Currency, EntryLine, JournalEntry, MatchPass, Record};

/// The `[posting]` table of a job file: what a match posts.
///
/// ```toml
/// [posting]
/// narrative = "Bank {bank_reference}: {pass} match of {ledger_ids}"
/// lines = [
///   { account = "1010 Bank {currency}", amount = "statement" },
///   { account = "1200 Receivables clearing", amount = "-ledger" },
/// ]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingSpec {
    /// Text of the entry. Placeholders: `{pass}`, `{ledger_ids}`, `{references}`,
    /// `{bank_reference}`, `{counterparty}`, `{currency}`.
    #[serde(default)]
    pub narrative: Option<String>,
    /// One line per account. Debits are positive amounts, credits negative.
    pub lines: Vec<PostingLineSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingLineSpec {
    /// Account to post to. Placeholders: `{currency}`, `{ledger_account}`, `{bank_account}`.
    pub account: String,
    /// `statement` (the sum of the statement lines), `ledger` (the sum of the ledger items),
    /// or either with a leading `-` for the opposite sign.
    pub amount: String,
}

/// A checked posting template.
#[derive(Debug, Clone)]
pub struct PostingTemplate {
    narrative: String,
    lines: Vec<TemplateLine>,
}

#[derive(Debug, Clone)]
struct TemplateLine {
    account: String,
    amount: AmountSource,
    negate: bool,
}

#[derive(Debug, Clone, Copy)]
enum AmountSource {
    Statement,
    Ledger,
}

const DEFAULT_NARRATIVE: &str = "{pass} match: bank {bank_reference}, ledger {ledger_ids}";
const PLACEHOLDERS: [&str; 8] = [
    "pass",
    "ledger_ids",
    "references",
    "bank_reference",
    "counterparty",
    "currency",
    "ledger_account",
    "bank_account",
];

/// A problem in a `[posting]` table, naming its key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PostingSpecError {
    pub key: String,
    pub message: String,
}

impl PostingSpec {
    pub fn check(&self) -> Result<PostingTemplate, PostingSpecError> {
        if self.lines.len() < 2 {
            return Err(PostingSpecError {
                key: "posting.lines".into(),
                message: "a double-entry posting needs at least two lines".into(),
            });
        }
        let narrative = self
            .narrative
            .clone()
            .unwrap_or_else(|| DEFAULT_NARRATIVE.to_string());
        check_placeholders(&narrative, "posting.narrative")?;
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let key = format!("posting.lines[{i}]");
            if l.account.trim().is_empty() {
                return Err(PostingSpecError {
                    key: format!("{key}.account"),
                    message: "the account must not be empty".into(),
                });
            }
            check_placeholders(&l.account, &format!("{key}.account"))?;
            let text = l.amount.trim();
            let (negate, name) = match text.strip_prefix('-') {
                Some(rest) => (true, rest.trim()),
                None => (false, text),
            };
            let amount = match name {
                "statement" => AmountSource::Statement,
                "ledger" => AmountSource::Ledger,
                _ => {
                    return Err(PostingSpecError {
                        key: format!("{key}.amount"),
                        message: format!(
                            "expected \"statement\", \"ledger\", \"-statement\" or \"-ledger\", found {text:?}"
                        ),
                    });
                }
            };
            lines.push(TemplateLine {
                account: l.account.clone(),
                amount,
                negate,
            });
        }
        Ok(PostingTemplate { narrative, lines })
    }
}

fn check_placeholders(text: &str, key: &str) -> Result<(), PostingSpecError> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(PostingSpecError {
                key: key.into(),
                message: format!("unclosed '{{' in {text:?}"),
            });
        };
        let name = &rest[open + 1..open + close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(PostingSpecError {
                key: key.into(),
                message: format!(
                    "unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ),
            });
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// Why a match cannot be posted. The records stay open and a break says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingRefused {
    #[error(
        "entry does not balance in {currency}: debits and credits differ by {difference} (ledger and statement amounts differ or are in other currencies)"
    )]
    Unbalanced {
        currency: Currency,
        difference: Decimal,
    },
    #[error("a match needs records on both sides")]
    Empty,
}

/// Builds the entry for one match of `job` between `ledger` items and `statement` lines,
/// refusing it unless it balances in every currency.
pub fn entry_for_match(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    ledger: &[&Record],
    statement: &[&Record],
) -> Result<JournalEntry, PostingRefused> {
    let entry = build_entry(job, template, pass, ledger, statement)?;
    check_balanced(&entry.lines)?;
    Ok(entry)
}

/// The entry the template gives for a match, balanced or not: for a person who books the
/// difference to an account of their choice before it is posted.
pub fn build_entry(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    ledger: &[&Record],
    statement: &[&Record],
) -> Result<JournalEntry, PostingRefused> {
    let (Some(first_ledger), Some(first_line)) = (ledger.first(), statement.first()) else {
        return Err(PostingRefused::Empty);
    };
    let sum_by_currency = |records: &[&Record]| {
        let mut sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for r in records {
            *sums.entry(r.currency).or_default() += r.amount;
        }
        sums
    };
    let statement_sums = sum_by_currency(statement);
    let ledger_sums = sum_by_currency(ledger);

    let fields = Fields {
        pass: pass.as_str().to_string(),
        ledger_ids: join(ledger.iter().map(|r| r.external_id.as_str())),
        references: join(ledger.iter().filter_map(|r| r.reference.as_deref())),
        bank_reference: join(statement.iter().map(|r| r.external_id.as_str())),
        counterparty: first_ledger.counterparty.clone().unwrap_or_default(),
        ledger_account: first_ledger.account.clone().unwrap_or_default(),
        bank_account: first_line.account.clone().unwrap_or_default(),
    };

    let mut lines = Vec::new();
    for t in &template.lines {
        let sums = match t.amount {
            AmountSource::Statement => &statement_sums,
            AmountSource::Ledger => &ledger_sums,
        };
        for (&currency, &sum) in sums {
            let amount = if t.negate { -sum } else { sum };
            lines.push(EntryLine {
                account: fields.fill(&t.account, currency),
                currency,
                amount,
            });
        }
    }
    let posting_date: NaiveDate = statement
        .iter()
        .map(|r| r.booking_date.unwrap_or(r.value_date))
        .max()
        .unwrap_or(first_line.value_date);
    Ok(JournalEntry {
        idempotency_key: idempotency_key(job, ledger, statement),
        posting_date,
        narrative: fields.fill(&template.narrative, first_line.currency),
        lines,
    })
}

/// Whether a match would post, without building the entry (no key, no narrative): what a dry
/// run needs to report refusals at the speed of the matcher.
pub fn check_match(
    template: &PostingTemplate,
    ledger: &[&Record],
    statement: &[&Record],
) -> Result<(), PostingRefused> {
    if ledger.is_empty() || statement.is_empty() {
        return Err(PostingRefused::Empty);
    }
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for t in &template.lines {
        let records = match t.amount {
            AmountSource::Statement => statement,
            AmountSource::Ledger => ledger,
        };
        for r in records {
            let a = if t.negate { -r.amount } else { r.amount };
            *totals.entry(r.currency).or_default() += a;
        }
    }
    match totals.into_iter().find(|(_, t)| !t.is_zero()) {
        Some((currency, difference)) => Err(PostingRefused::Unbalanced {
            currency,
            difference,
        }),
        None => Ok(()),
    }
}

/// Refuses an entry whose lines do not sum to zero in every currency.
pub fn check_balanced(lines: &[EntryLine]) -> Result<(), PostingRefused> {
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for l in lines {
        *totals.entry(l.currency).or_default() += l.amount;
    }
    match totals.into_iter().find(|(_, t)| !t.is_zero()) {
        Some((currency, difference)) => Err(PostingRefused::Unbalanced {
            currency,
            difference,
        }),
        None => Ok(()),
    }
}

/// Same job and same records (in any order) give the same key.
pub fn idempotency_key(job: &str, ledger: &[&Record], statement: &[&Record]) -> String {
    let mut ids: Vec<String> = ledger
        .iter()
        .chain(statement.iter())
        .map(|r| r.identity())
        .collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    h.update(job.as_bytes());
    for id in &ids {
        h.update(b"\n");
        h.update(id.as_bytes());
    }
    let digest = h.finalize();
    let mut key = String::with_capacity(64);
    for b in digest {
        let _ = write!(key, "{b:02x}");
    }
    key
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

struct Fields {
    pass: String,
    ledger_ids: String,
    references: String,
    bank_reference: String,
    counterparty: String,
    ledger_account: String,
    bank_account: String,
}

impl Fields {
    fn fill(&self, template: &str, currency: Currency) -> String {
        template
            .replace("{pass}", &self.pass)
            .replace("{ledger_ids}", &self.ledger_ids)
            .replace("{references}", &self.references)
            .replace("{bank_reference}", &self.bank_reference)
            .replace("{counterparty}", &self.counterparty)
            .replace("{currency}", currency.as_str())
            .replace("{ledger_account}", &self.ledger_account)
            .replace("{bank_account}", &self.bank_account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Side, Source};
    use std::sync::Arc;

    fn record(side: Side, id: &str, amount: &str, ccy: &str) -> Record {
        Record {
            side,
            external_id: id.into(),
            account: Some("CASH-01".into()),
            value_date: "2026-03-02".parse().unwrap(),
            booking_date: None,
            amount: amount.parse().unwrap(),
            currency: ccy.parse().unwrap(),
            reference: Some(format!("INV-{id}")),
            counterparty: Some("ACME".into()),
            remittance: None,
            source: Source {
                file: Arc::from("f"),
                sheet: None,
                row: 1,
                locator: None,
            },
        }
    }

    fn template() -> PostingTemplate {
        PostingSpec {
            narrative: Some("{pass} {bank_reference} {ledger_ids}".into()),
            lines: vec![
                PostingLineSpec {
                    account: "1010 Bank {currency}".into(),
                    amount: "statement".into(),
                },
                PostingLineSpec {
                    account: "1200 Clearing".into(),
                    amount: "-ledger".into(),
                },
            ],
        }
        .check()
        .unwrap()
    }

    #[test]
    fn a_receipt_debits_the_bank_and_credits_clearing() {
        let l = record(Side::Ledger, "1", "100.50", "EUR");
        let s = record(Side::Statement, "BK1", "100.50", "EUR");
        let e = entry_for_match("bank", &template(), MatchPass::Reference, &[&l], &[&s]).unwrap();
        assert_eq!(e.lines.len(), 2);
        assert_eq!(e.lines[0].account, "1010 Bank EUR");
        assert_eq!(e.lines[0].amount, "100.50".parse::<Decimal>().unwrap());
        assert_eq!(e.lines[1].amount, "-100.50".parse::<Decimal>().unwrap());
        assert_eq!(e.narrative, "reference BK1 1");
    }

    #[test]
    fn a_batch_posts_the_sum_of_its_items() {
        let a = record(Side::Ledger, "1", "10.00", "EUR");
        let b = record(Side::Ledger, "2", "20.25", "EUR");
        let s = record(Side::Statement, "BK1", "30.25", "EUR");
        let e = entry_for_match("bank", &template(), MatchPass::Batch, &[&a, &b], &[&s]).unwrap();
        assert_eq!(e.lines[1].amount, "-30.25".parse::<Decimal>().unwrap());
    }

    #[test]
    fn an_unbalanced_entry_is_refused() {
        let l = record(Side::Ledger, "1", "100.00", "EUR");
        let s = record(Side::Statement, "BK1", "99.99", "EUR");
        let err =
            entry_for_match("bank", &template(), MatchPass::AmountDate, &[&l], &[&s]).unwrap_err();
        assert_eq!(
            err,
            PostingRefused::Unbalanced {
                currency: "EUR".parse().unwrap(),
                difference: "-0.01".parse().unwrap()
            }
        );
    }

    #[test]
    fn check_match_agrees_with_building_the_entry() {
        let t = template();
        let l = record(Side::Ledger, "1", "100.00", "EUR");
        for (amount, ccy) in [("100.00", "EUR"), ("99.99", "EUR"), ("100.00", "USD")] {
            let s = record(Side::Statement, "BK1", amount, ccy);
            assert_eq!(
                check_match(&t, &[&l], &[&s]),
                entry_for_match("bank", &t, MatchPass::AmountDate, &[&l], &[&s]).map(|_| ())
            );
        }
    }

    #[test]
    fn currencies_balance_separately() {
        let l = record(Side::Ledger, "1", "100.00", "EUR");
        let s = record(Side::Statement, "BK1", "100.00", "USD");
        assert!(matches!(
            entry_for_match("bank", &template(), MatchPass::AmountDate, &[&l], &[&s]),
            Err(PostingRefused::Unbalanced { .. })
        ));
    }

    #[test]
    fn the_key_ignores_order_and_depends_on_job_and_records() {
        let a = record(Side::Ledger, "1", "10.00", "EUR");
        let b = record(Side::Ledger, "2", "20.00", "EUR");
        let s = record(Side::Statement, "BK1", "30.00", "EUR");
        let k1 = idempotency_key("bank", &[&a, &b], &[&s]);
        assert_eq!(k1, idempotency_key("bank", &[&b, &a], &[&s]));
        assert_ne!(k1, idempotency_key("other", &[&a, &b], &[&s]));
        assert_ne!(k1, idempotency_key("bank", &[&a], &[&s]));
    }

    #[test]
    fn template_errors_name_the_key() {
        let bad = PostingSpec {
            narrative: None,
            lines: vec![
                PostingLineSpec {
                    account: "1010".into(),
                    amount: "statement".into(),
                },
                PostingLineSpec {
                    account: "1200 {nope}".into(),
                    amount: "ledger".into(),
                },
            ],
        };
        let e = bad.check().unwrap_err();
        assert_eq!(e.key, "posting.lines[1].account");
        let one = PostingSpec {
            narrative: None,
            lines: vec![PostingLineSpec {
                account: "1010".into(),
                amount: "statment".into(),
            }],
        };
        assert_eq!(one.check().unwrap_err().key, "posting.lines");
    }
}
