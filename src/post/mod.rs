//! Posting: a match becomes a balanced double-entry journal entry, from the job's template.
//!
//! **Invariant:** pure; an entry that does not balance in every currency is refused here, never
//! written. The idempotency key depends only on the job and the identities of the settled
//! records, so the same match always yields the same key.

pub mod chart;
pub mod grir;
pub mod payables;
pub mod returns;
pub mod rules;
pub mod securities;
pub mod vat;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::fx::{LineFx, RateSource};
use crate::model::{Currency, EntryLine, JournalEntry, MatchPass, Record};

/// The `[posting]` table of a job file: what a match posts.
///
/// One template for every match:
///
/// ```toml
/// [posting]
/// narrative = "Bank {bank_reference}: {pass} match of {ledger_ids}"
/// lines = [
///   { account = "1010 Bank {currency}", amount = "statement" },
///   { account = "1200 Receivables clearing", amount = "-ledger" },
/// ]
/// ```
///
/// or one per direction of the money, and, where a pass books differently, per pass:
///
/// ```toml
/// [posting.receipt]   # money in: debit the bank, credit receivables clearing
/// lines = [
///   { account = "1010 Bank {currency}", amount = "statement" },
///   { account = "1290 Receivables clearing", amount = "-item" },
/// ]
/// [posting.payment]   # money out: debit payables clearing, credit the bank
/// lines = [
///   { account = "1690 Payables clearing", amount = "-item" },
///   { account = "1010 Bank {currency}", amount = "statement" },
/// ]
/// [posting.pass.batch.receipt]
/// lines = [ ... ]
/// ```
///
/// A line `{ account = "6855 Bank charges", amount = "difference" }` books what a charge or a
/// tolerance leaves; `[posting.fx]` books matches across currencies in the functional one;
/// `[posting.manual]` limits what a person books as a difference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingSpec {
    /// Text of the entry. Placeholders: `{pass}`, `{ledger_ids}`, `{references}`,
    /// `{bank_reference}`, `{counterparty}`, `{currency}`.
    #[serde(default)]
    pub narrative: Option<String>,
    /// One line per account. Debits are positive amounts, credits negative. The template of
    /// both directions, unless `receipt` or `payment` gives its own.
    #[serde(default)]
    pub lines: Vec<PostingLineSpec>,
    /// What a receipt (money in: the statement lines add up to a credit on the bank account)
    /// posts.
    #[serde(default)]
    pub receipt: Option<DirectionSpec>,
    /// What a payment (money out: the statement lines add up to a debit) posts.
    #[serde(default)]
    pub payment: Option<DirectionSpec>,
    /// By the name of a `[[match.passes]]` (or `manual`, a match made by hand): what its
    /// matches post instead, for the directions it names.
    #[serde(default)]
    pub pass: BTreeMap<String, PassPostingSpec>,
    /// `[[posting.rules]]`: how bank lines no ledger item matches post (fees, interest, tax);
    /// see [`rules`].
    #[serde(default)]
    pub rules: Vec<rules::RuleSpec>,
    /// `[posting.fx]`: a match whose records are in more than one currency is booked in the
    /// functional currency, the exchange difference to its own account.
    #[serde(default)]
    pub fx: Option<FxPostingSpec>,
    /// `[posting.manual]`: what a person matching by hand may book as a difference.
    #[serde(default)]
    pub manual: Option<ManualSpec>,
}

/// `[posting.fx]`: how a match across currencies (an invoice in USD paid in EUR) is booked
/// (IAS 21, § 256a HGB).
///
/// ```toml
/// [posting.fx]
/// functional_currency = "EUR"
/// rates = "ecb"                                  # a table of [match.rates]
/// difference_account = "2660 Exchange differences"
/// ```
///
/// Each line is converted into the functional currency: a bank line at the rate of its value
/// date (the bank converted then), a ledger item at the rate of its booking date, else its
/// value date (what the invoice was booked at). The line keeps its own amount, currency and
/// the rate. The ledger items remeasured at the rate of the day they are settled give the
/// exchange difference, one line on `difference_account`; what is left beyond it goes to the
/// template's `difference` line, if it has one, else there too. Matches in one currency post
/// as before.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxPostingSpec {
    pub functional_currency: String,
    /// The name of a `[match.rates]` table.
    pub rates: String,
    /// The exchange gain/loss account (placeholders as on any line; `{currency}` is the
    /// functional currency).
    pub difference_account: String,
    /// Where a loss goes when the chart keeps losses apart from gains (SKR03: gains 2660,
    /// losses 2150); without it both go to `difference_account`.
    #[serde(default)]
    pub loss_account: Option<String>,
}

/// `[posting.manual]`: limits on a difference booked by hand (`clerk exception match ...
/// --difference-account`, or a `difference` line of `[posting.pass.manual]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualSpec {
    /// The largest difference, in each currency, a match by hand may book (`"50.00"`).
    /// Without it any difference may be booked.
    #[serde(default)]
    pub max_difference: Option<String>,
    /// The accounts a person may name for the difference; without them any account.
    #[serde(default)]
    pub difference_accounts: Vec<String>,
}

/// `[posting.receipt]` or `[posting.payment]`: the template of one direction.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionSpec {
    /// Default: the narrative of the table above.
    #[serde(default)]
    pub narrative: Option<String>,
    pub lines: Vec<PostingLineSpec>,
}

/// `[posting.pass.<name>]`: as `[posting]`, for the matches of one pass. What it leaves out
/// is the job's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassPostingSpec {
    #[serde(default)]
    pub narrative: Option<String>,
    /// Both directions of this pass, unless `receipt` or `payment` gives its own.
    #[serde(default)]
    pub lines: Vec<PostingLineSpec>,
    #[serde(default)]
    pub receipt: Option<DirectionSpec>,
    #[serde(default)]
    pub payment: Option<DirectionSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingLineSpec {
    /// Account to post to. Placeholders: `{currency}`, `{ledger_account}`, `{bank_account}`,
    /// `{counterparty}`; on an `item` line they are the settled item's own.
    pub account: String,
    /// `statement` (the sum of the statement lines: one bank line), `ledger` (the sum of the
    /// ledger items), `item` (one line per settled ledger item, each for its own amount), or
    /// any of them with a leading `-` for the opposite sign; or `difference`: what the other
    /// lines leave in each currency (a charge the bank deducted, what a tolerance let
    /// through), so the entry balances. At most one `difference` line per template.
    pub amount: String,
}

/// Which way the money went, by the statement lines of a match: what picks the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Money in: the statement lines add up to a credit on the bank account (zero included).
    Receipt,
    /// Money out: they add up to a debit.
    Payment,
}

impl Direction {
    /// The direction of a match's statement lines: the sign of their total in the first line's
    /// currency (a match's bank lines are on one account, so in one currency).
    pub fn of(statement: &[&Record]) -> Direction {
        let Some(first) = statement.first() else {
            return Direction::Receipt;
        };
        let total: Decimal = statement
            .iter()
            .filter(|r| r.currency == first.currency)
            .map(|r| r.amount)
            .sum();
        if total.is_sign_negative() && !total.is_zero() {
            Direction::Payment
        } else {
            Direction::Receipt
        }
    }
}

/// A job's checked posting templates: one per direction, and those of the passes that book
/// differently.
#[derive(Debug, Clone)]
pub struct PostingTemplate {
    job: ByDirection,
    passes: BTreeMap<String, ByDirection>,
    rules: rules::PostingRules,
    /// The chart every account must be in, when the job has one (`chart::Chart`).
    chart: Option<std::sync::Arc<chart::Chart>>,
    fx: Option<FxPosting>,
    manual: ManualLimits,
}

/// `[posting.fx]`, checked; the rates are given once the job's tables are loaded.
#[derive(Debug, Clone)]
struct FxPosting {
    functional: Currency,
    rates_name: String,
    account: String,
    loss_account: Option<String>,
    rates: Option<Arc<dyn RateSource>>,
}

/// `[posting.manual]`, checked.
#[derive(Debug, Clone, Default)]
pub struct ManualLimits {
    /// The largest difference in any one currency; `None`: no limit.
    pub max_difference: Option<Decimal>,
    /// The accounts a difference may go to; empty: any.
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone)]
struct ByDirection {
    receipt: Template,
    payment: Template,
}

/// The template of one direction: the entry's text and its lines.
#[derive(Debug, Clone)]
struct Template {
    narrative: String,
    lines: Vec<TemplateLine>,
}

#[derive(Debug, Clone)]
struct TemplateLine {
    account: String,
    amount: AmountSource,
    negate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AmountSource {
    Statement,
    Ledger,
    /// One line per ledger item: a batch credits each settled invoice on its own.
    Item,
    /// What the other lines leave, per currency, so the entry balances.
    Difference,
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
        let narrative = self.narrative.as_deref().unwrap_or(DEFAULT_NARRATIVE);
        check_placeholders(narrative, "posting.narrative")?;
        let both = check_lines(&self.lines, narrative, "posting")?;
        let direction = |spec: &Option<DirectionSpec>, name: &str| -> Result<_, PostingSpecError> {
            match (spec, &both) {
                (Some(d), _) => d.check(narrative, &format!("posting.{name}")).map(Some),
                (None, Some(t)) => Ok(Some(t.clone())),
                (None, None) => Ok(None),
            }
        };
        let (receipt, payment) = (
            direction(&self.receipt, "receipt")?,
            direction(&self.payment, "payment")?,
        );
        let job = match (receipt, payment) {
            (Some(receipt), Some(payment)) => ByDirection { receipt, payment },
            (None, None) => {
                return Err(PostingSpecError {
                    key: "posting.lines".into(),
                    message: "missing: give `lines` (every match), or [posting.receipt] and \
                              [posting.payment] (money in, money out)"
                        .into(),
                });
            }
            (Some(_), None) => return Err(missing_direction("posting", "payment", "money out")),
            (None, Some(_)) => return Err(missing_direction("posting", "receipt", "money in")),
        };
        if both.is_some() && self.receipt.is_some() && self.payment.is_some() {
            return Err(PostingSpecError {
                key: "posting.lines".into(),
                message: "not used: [posting.receipt] and [posting.payment] both have their \
                          own lines; remove `lines` or one of them"
                    .into(),
            });
        }
        let mut passes = BTreeMap::new();
        for (name, p) in &self.pass {
            passes.insert(name.clone(), p.check(name, narrative, &job)?);
        }
        let fx = self.fx.as_ref().map(FxPostingSpec::check).transpose()?;
        let manual = self
            .manual
            .as_ref()
            .map(ManualSpec::check)
            .transpose()?
            .unwrap_or_default();
        let rules = rules::check(&self.rules)?;
        Ok(PostingTemplate {
            job,
            passes,
            rules,
            chart: None,
            fx,
            manual,
        })
    }
}

impl FxPostingSpec {
    fn check(&self) -> Result<FxPosting, PostingSpecError> {
        let err = |key: &str, message: String| PostingSpecError {
            key: format!("posting.fx.{key}"),
            message,
        };
        let functional = self.functional_currency.parse().map_err(|_| {
            err(
                "functional_currency",
                format!(
                    "expected a currency code such as \"EUR\", found {:?}",
                    self.functional_currency
                ),
            )
        })?;
        if self.rates.trim().is_empty() {
            return Err(err(
                "rates",
                "expected the name of a [match.rates] table".into(),
            ));
        }
        if self.difference_account.trim().is_empty() {
            return Err(err(
                "difference_account",
                "the exchange difference account must not be empty".into(),
            ));
        }
        check_placeholders(&self.difference_account, "posting.fx.difference_account")?;
        if let Some(loss) = &self.loss_account {
            if loss.trim().is_empty() {
                return Err(err(
                    "loss_account",
                    "the exchange loss account must not be empty (leave it out to book losses \
                     to difference_account)"
                        .into(),
                ));
            }
            check_placeholders(loss, "posting.fx.loss_account")?;
        }
        Ok(FxPosting {
            functional,
            rates_name: self.rates.clone(),
            account: self.difference_account.clone(),
            loss_account: self.loss_account.clone(),
            rates: None,
        })
    }
}

impl ManualSpec {
    fn check(&self) -> Result<ManualLimits, PostingSpecError> {
        let max_difference = match &self.max_difference {
            None => None,
            Some(text) => match text.trim().parse::<Decimal>() {
                Ok(d) if !d.is_sign_negative() => Some(d),
                _ => {
                    return Err(PostingSpecError {
                        key: "posting.manual.max_difference".into(),
                        message: format!(
                            "expected an amount not below zero in quotes, such as \"50.00\", found {text:?}"
                        ),
                    });
                }
            },
        };
        for (i, a) in self.difference_accounts.iter().enumerate() {
            if a.trim().is_empty() {
                return Err(PostingSpecError {
                    key: format!("posting.manual.difference_accounts[{i}]"),
                    message: "an account must not be empty".into(),
                });
            }
        }
        Ok(ManualLimits {
            max_difference,
            accounts: self.difference_accounts.clone(),
        })
    }
}

impl PassPostingSpec {
    /// The pass's templates; what it leaves out is the job's `job`.
    fn check(
        &self,
        name: &str,
        job_narrative: &str,
        job: &ByDirection,
    ) -> Result<ByDirection, PostingSpecError> {
        let key = format!("posting.pass.{name}");
        if self.lines.is_empty() && self.receipt.is_none() && self.payment.is_none() {
            return Err(PostingSpecError {
                key,
                message: "empty: give `lines`, or [receipt] or [payment] for this pass".into(),
            });
        }
        let narrative = match &self.narrative {
            Some(n) => {
                check_placeholders(n, &format!("{key}.narrative"))?;
                n.as_str()
            }
            None => job_narrative,
        };
        let both = check_lines(&self.lines, narrative, &key)?;
        let pick = |spec: &Option<DirectionSpec>, dir: &str, job: &Template| match (spec, &both) {
            (Some(d), _) => d.check(narrative, &format!("{key}.{dir}")),
            (None, Some(t)) => Ok(t.clone()),
            (None, None) => Ok(job.clone()),
        };
        Ok(ByDirection {
            receipt: pick(&self.receipt, "receipt", &job.receipt)?,
            payment: pick(&self.payment, "payment", &job.payment)?,
        })
    }
}

impl DirectionSpec {
    fn check(&self, narrative: &str, key: &str) -> Result<Template, PostingSpecError> {
        let narrative = match &self.narrative {
            Some(n) => {
                check_placeholders(n, &format!("{key}.narrative"))?;
                n.as_str()
            }
            None => narrative,
        };
        match check_lines(&self.lines, narrative, key)? {
            Some(t) => Ok(t),
            None => Err(PostingSpecError {
                key: format!("{key}.lines"),
                message: "a double-entry posting needs at least two lines".into(),
            }),
        }
    }
}

fn missing_direction(table: &str, direction: &str, what: &str) -> PostingSpecError {
    PostingSpecError {
        key: format!("{table}.{direction}"),
        message: format!(
            "missing: a {direction} ({what}) has no template; add [{table}.{direction}], or \
             `lines` for both directions"
        ),
    }
}

/// The template `lines` under `table` give, `None` when there are none; fewer than two is
/// not an entry.
fn check_lines(
    specs: &[PostingLineSpec],
    narrative: &str,
    table: &str,
) -> Result<Option<Template>, PostingSpecError> {
    if specs.is_empty() {
        return Ok(None);
    }
    if specs.len() < 2 {
        return Err(PostingSpecError {
            key: format!("{table}.lines"),
            message: "a double-entry posting needs at least two lines".into(),
        });
    }
    let mut lines = Vec::with_capacity(specs.len());
    for (i, l) in specs.iter().enumerate() {
        let key = format!("{table}.lines[{i}]");
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
            "item" => AmountSource::Item,
            "difference" if negate => {
                return Err(PostingSpecError {
                    key: format!("{key}.amount"),
                    message: "\"difference\" takes no sign: it is what balances the entry".into(),
                });
            }
            "difference"
                if lines
                    .iter()
                    .any(|l: &TemplateLine| l.amount == AmountSource::Difference) =>
            {
                return Err(PostingSpecError {
                    key: format!("{key}.amount"),
                    message: "a template has at most one \"difference\" line".into(),
                });
            }
            "difference" => AmountSource::Difference,
            _ => {
                return Err(PostingSpecError {
                    key: format!("{key}.amount"),
                    message: format!(
                        "expected \"statement\", \"ledger\", \"item\" (or one of them with a leading \"-\") or \"difference\", found {text:?}"
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
    Ok(Some(Template {
        narrative: narrative.to_string(),
        lines,
    }))
}

impl PostingTemplate {
    /// The passes that have templates of their own, by name, for the configuration to check
    /// against the job's passes.
    pub fn pass_names(&self) -> impl Iterator<Item = &str> {
        self.passes.keys().map(String::as_str)
    }

    /// The `[match.rates]` table `[posting.fx]` converts with, if the job books across
    /// currencies: the configuration loads it and hands it over with [`Self::set_rates`].
    pub fn fx_rates_name(&self) -> Option<&str> {
        self.fx.as_ref().map(|f| f.rates_name.as_str())
    }

    /// The rates `[posting.fx]` converts with.
    pub fn set_rates(&mut self, rates: Arc<dyn RateSource>) {
        if let Some(fx) = &mut self.fx {
            fx.rates = Some(rates);
        }
    }

    /// `[posting.manual]`: the limits on a difference booked by hand.
    pub fn manual_limits(&self) -> &ManualLimits {
        &self.manual
    }

    /// The template for a match of pass `rule` whose money went `direction`.
    fn for_match(&self, rule: &str, direction: Direction) -> &Template {
        let set = self.passes.get(rule).unwrap_or(&self.job);
        match direction {
            Direction::Receipt => &set.receipt,
            Direction::Payment => &set.payment,
        }
    }
}

fn check_placeholders(text: &str, key: &str) -> Result<(), PostingSpecError> {
    check_placeholders_of(text, key, &PLACEHOLDERS)
}

/// Each `{name}` in `text` is one of `known`; else the problem, named by `key`.
fn check_placeholders_of(text: &str, key: &str, known: &[&str]) -> Result<(), PostingSpecError> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(PostingSpecError {
                key: key.into(),
                message: format!("unclosed '{{' in {text:?}"),
            });
        };
        let name = &rest[open + 1..open + close];
        if !known.contains(&name) {
            return Err(PostingSpecError {
                key: key.into(),
                message: format!(
                    "unknown placeholder {{{name}}}; known: {}",
                    known
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

impl PostingTemplate {
    /// The ledger accounts the job posts bank account `bank_account`'s money in `currency` to:
    /// the `statement` lines of its templates (per direction and pass) filled for that
    /// account (and resolved by the chart), where the book balance of the bank account is kept
    /// (`clerk bank`).
    pub fn bank_ledger_accounts(&self, bank_account: &str, currency: Currency) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let sets = std::iter::once(&self.job).chain(self.passes.values());
        for set in sets {
            for t in [&set.receipt, &set.payment] {
                for l in &t.lines {
                    if l.amount != AmountSource::Statement {
                        continue;
                    }
                    let mut a = l
                        .account
                        .replace("{currency}", currency.as_str())
                        .replace("{bank_account}", bank_account);
                    // As posted: the chart's account, when the job posts to one.
                    if let Some(chart) = &self.chart
                        && let Ok(resolved) = chart.resolve(&a, currency)
                    {
                        a = resolved;
                    }
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
        out
    }
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
    /// An account the job's chart of accounts does not have (`chart.rs`).
    #[error("account {account:?} cannot be posted: {why} (chart of accounts {chart})")]
    NotInChart {
        account: String,
        chart: String,
        why: String,
    },
    #[error(
        "no {from}→{to} rate on or before {date} in the rates table {table:?} of [posting.fx]: the entry cannot be booked in {to}"
    )]
    NoRate {
        from: Currency,
        to: Currency,
        date: NaiveDate,
        table: String,
    },
    /// VAT an invoice shows or owes that cannot be booked as it stands (`vat.rs`).
    #[error(transparent)]
    Vat(#[from] vat::VatRefused),
}

/// Builds the entry for one match of `job` between `ledger` items and `statement` lines,
/// refusing it unless it balances in every currency. The template is the one of the pass
/// kind `pass` (`[posting.pass.<kind>]`, else the job's) for the match's direction.
pub fn entry_for_match(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    ledger: &[&Record],
    statement: &[&Record],
) -> Result<JournalEntry, PostingRefused> {
    entry_for_rule(job, template, pass, pass.as_str(), ledger, statement)
}

/// As [`entry_for_match`], for a match made by the job's pass named `rule`: its
/// `[posting.pass.<rule>]` templates, when it has them.
pub fn entry_for_rule(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    rule: &str,
    ledger: &[&Record],
    statement: &[&Record],
) -> Result<JournalEntry, PostingRefused> {
    let entry = build_entry_for_rule(job, template, pass, rule, ledger, statement, true)?;
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
    build_entry_for_rule(job, template, pass, pass.as_str(), ledger, statement, true)
}

/// As [`build_entry`], leaving out the template's `difference` line: what is left unbalanced
/// is the difference, for a person to book (within `[posting.manual]`'s limits). An entry
/// across currencies still books its exchange difference.
pub fn build_entry_without_difference(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    ledger: &[&Record],
    statement: &[&Record],
) -> Result<JournalEntry, PostingRefused> {
    build_entry_for_rule(job, template, pass, pass.as_str(), ledger, statement, false)
}

/// One line before conversion: the records it sums (each with the line's sign), for the
/// rates of an entry across currencies.
struct Built<'r> {
    line: EntryLine,
    from: Vec<&'r Record>,
    negate: bool,
}

fn build_entry_for_rule(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    rule: &str,
    ledger: &[&Record],
    statement: &[&Record],
    book_difference: bool,
) -> Result<JournalEntry, PostingRefused> {
    let (Some(first_ledger), Some(first_line)) = (ledger.first(), statement.first()) else {
        return Err(PostingRefused::Empty);
    };
    let chart = template.chart.as_deref();
    let fx = template.fx.as_ref();
    let t = template.for_match(rule, Direction::of(statement));
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

    let mut built: Vec<Built<'_>> = Vec::new();
    // Where the template's `difference` line goes, and its account.
    let mut difference: Option<(usize, &str)> = None;
    for tl in &t.lines {
        let sign = |a: Decimal| if tl.negate { -a } else { a };
        let (sums, records) = match tl.amount {
            AmountSource::Statement => (&statement_sums, statement),
            AmountSource::Ledger => (&ledger_sums, ledger),
            AmountSource::Difference => {
                difference = Some((built.len(), tl.account.as_str()));
                continue;
            }
            AmountSource::Item => {
                // Each settled item on its own line, named by its own fields: the clearing
                // account shows which invoice the money settled, not the batch's total.
                for item in ledger {
                    built.push(Built {
                        line: EntryLine {
                            account: fields.for_item(item).fill(&tl.account, item.currency),
                            currency: item.currency,
                            amount: sign(item.amount),
                            fx: None,
                        },
                        from: vec![item],
                        negate: tl.negate,
                    });
                }
                continue;
            }
        };
        for (&currency, &sum) in sums {
            built.push(Built {
                line: EntryLine {
                    account: fields.fill(&tl.account, currency),
                    currency,
                    amount: sign(sum),
                    fx: None,
                },
                from: records
                    .iter()
                    .copied()
                    .filter(|r| r.currency == currency)
                    .collect(),
                negate: tl.negate,
            });
        }
    }
    let across_currencies = ledger
        .iter()
        .chain(statement)
        .any(|r| r.currency != first_line.currency);
    let mut lines = match fx {
        // Records in several currencies: everything in the functional currency, the
        // exchange difference on its own line.
        Some(fx) if across_currencies => {
            let settled = statement
                .iter()
                .map(|r| r.value_date)
                .max()
                .unwrap_or(first_line.value_date);
            lines_in_functional(fx, &fields, built, difference, settled, book_difference)?
        }
        _ => {
            let mut lines: Vec<EntryLine> = built.into_iter().map(|b| b.line).collect();
            // A difference is booked in the match's one currency: amounts in several,
            // without [posting.fx], are no charge to book but a conversion to configure.
            if let (Some((at, account)), true, false) =
                (difference, book_difference, across_currencies)
            {
                let mut left: BTreeMap<Currency, Decimal> = BTreeMap::new();
                for l in &lines {
                    *left.entry(l.currency).or_default() += l.amount;
                }
                let extra: Vec<EntryLine> = left
                    .into_iter()
                    .filter(|(_, d)| !d.is_zero())
                    .map(|(currency, d)| EntryLine {
                        account: fields.fill(account, currency),
                        currency,
                        amount: -d,
                        fx: None,
                    })
                    .collect();
                lines.splice(at..at, extra);
            }
            lines
        }
    };
    if let Some(chart) = chart {
        chart.resolve_lines(&mut lines)?;
    }
    let posting_date: NaiveDate = statement
        .iter()
        .map(|r| r.booking_date.unwrap_or(r.value_date))
        .max()
        .unwrap_or(first_line.value_date);
    Ok(JournalEntry {
        idempotency_key: idempotency_key(job, ledger, statement),
        posting_date,
        narrative: fields.fill(&t.narrative, first_line.currency),
        lines,
    })
}

/// A line's amount in the functional currency and the rate: each of its records converted at
/// the rate of its day (a bank line's value date, when the bank converted; a ledger item's
/// booking date, else its value date, what it was booked at), or of the day `on` when given,
/// the sum rounded to the functional currency's minor unit.
fn functional_of(
    fx: &FxPosting,
    b: &Built<'_>,
    on: Option<NaiveDate>,
) -> Result<(Decimal, Decimal), PostingRefused> {
    let to = fx.functional;
    let mut functional = Decimal::ZERO;
    let mut rates = Vec::with_capacity(b.from.len());
    for r in &b.from {
        let date = on.unwrap_or(match r.side {
            crate::model::Side::Statement => r.value_date,
            crate::model::Side::Ledger => r.booking_date.unwrap_or(r.value_date),
        });
        let rate = if r.currency == to {
            Some(Decimal::ONE)
        } else {
            fx.rates.as_ref().and_then(|t| t.rate(date, r.currency, to))
        };
        let Some(rate) = rate else {
            return Err(PostingRefused::NoRate {
                from: r.currency,
                to,
                date,
                table: fx.rates_name.clone(),
            });
        };
        functional += r.amount * rate;
        rates.push(rate);
    }
    let functional = functional.round_dp_with_strategy(
        to.minor_units(),
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    );
    let functional = if b.negate { -functional } else { functional };
    let rate = match rates.split_first() {
        Some((first, rest)) if rest.iter().all(|r| r == first) => *first,
        _ if !b.line.amount.is_zero() => (functional / b.line.amount).round_dp(10),
        _ => Decimal::ONE,
    };
    Ok((functional, rate))
}

/// The entry's lines in the functional currency. A ledger item's line is what it was booked
/// at; remeasured at the rate of the day it is settled (the latest bank line's value date),
/// the change is the realised exchange difference, on its own line at the end. What is left
/// beyond it (a charge, the bank's spread) goes to the template's `difference` line, else
/// with the exchange difference; unless `book_difference` is false (a person books it).
fn lines_in_functional(
    fx: &FxPosting,
    fields: &Fields,
    built: Vec<Built<'_>>,
    difference: Option<(usize, &str)>,
    settled: NaiveDate,
    book_difference: bool,
) -> Result<Vec<EntryLine>, PostingRefused> {
    let to = fx.functional;
    let mut lines = Vec::with_capacity(built.len() + 2);
    // Booked minus remeasured at the settlement day, over the ledger items' lines.
    let mut exchange = Decimal::ZERO;
    for b in built {
        let (functional, rate) = functional_of(fx, &b, None)?;
        if b.from.iter().all(|r| r.side == crate::model::Side::Ledger) {
            exchange += functional - functional_of(fx, &b, Some(settled))?.0;
        }
        lines.push(EntryLine {
            account: b.line.account,
            currency: to,
            amount: functional,
            fx: Some(LineFx {
                amount: b.line.amount,
                currency: b.line.currency,
                rate,
            }),
        });
    }
    let total: Decimal = lines.iter().map(|l| l.amount).sum();
    let rest = total - exchange;
    let in_functional = |account: String, amount: Decimal| EntryLine {
        account,
        currency: to,
        amount,
        fx: Some(LineFx {
            amount,
            currency: to,
            rate: Decimal::ONE,
        }),
    };
    let exchange_line = match (book_difference, difference) {
        (false, _) => -exchange,
        (true, Some((at, account))) => {
            if !rest.is_zero() {
                lines.insert(at, in_functional(fields.fill(account, to), -rest));
            }
            -exchange
        }
        (true, None) => -total,
    };
    if !exchange_line.is_zero() {
        // A debit is a loss: to its own account when the chart keeps one.
        let account = match &fx.loss_account {
            Some(loss) if exchange_line.is_sign_positive() => loss,
            _ => &fx.account,
        };
        lines.push(in_functional(fields.fill(account, to), exchange_line));
    }
    Ok(lines)
}

fn sum_by_currency(records: &[&Record]) -> BTreeMap<Currency, Decimal> {
    let mut sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for r in records {
        *sums.entry(r.currency).or_default() += r.amount;
    }
    sums
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
    let t = template.for_match("", Direction::of(statement));
    // A `difference` line, a match across currencies booked in the functional currency, or a
    // chart of accounts the filled accounts must be in: only building the entry tells.
    let across_currencies = || {
        let first = statement[0].currency;
        ledger.iter().chain(statement).any(|r| r.currency != first)
    };
    if t.lines.iter().any(|l| l.amount == AmountSource::Difference)
        || template.chart.is_some()
        || (template.fx.is_some() && across_currencies())
    {
        let e = build_entry("", template, MatchPass::Manual, ledger, statement)?;
        return check_balanced(&e.lines);
    }
    let template = t;
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for t in &template.lines {
        let records = match t.amount {
            AmountSource::Statement => statement,
            AmountSource::Ledger | AmountSource::Item => ledger,
            AmountSource::Difference => continue,
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

/// The key of an entry built from documents rather than records (an invoice, a goods receipt, a
/// trade): SHA-256 of the job, the family and kind of entry (`ap-` `invoice`, `securities-`
/// `trade`) and the identities it settles. The prefix keeps an invoice's key from ever
/// equalling its payment's, or a trade's its settlement's.
pub(crate) fn document_key(job: &str, family: &str, kind: &str, identities: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(job.as_bytes());
    h.update(b"\n");
    h.update(family.as_bytes());
    h.update(kind.as_bytes());
    for id in identities {
        h.update(b"\n");
        h.update(id.as_bytes());
    }
    crate::digest::to_hex(&h.finalize())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

#[derive(Clone)]
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
    /// The fields as one settled item gives them: its id, reference, counterparty, account.
    fn for_item(&self, item: &Record) -> Fields {
        Fields {
            ledger_ids: item.external_id.clone(),
            references: item.reference.clone().unwrap_or_default(),
            counterparty: item.counterparty.clone().unwrap_or_default(),
            ledger_account: item.account.clone().unwrap_or_default(),
            ..self.clone()
        }
    }

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
            codes: None,
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
            ..PostingSpec::default()
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
            ..PostingSpec::default()
        };
        let e = bad.check().unwrap_err();
        assert_eq!(e.key, "posting.lines[1].account");
        let one = PostingSpec {
            narrative: None,
            lines: vec![PostingLineSpec {
                account: "1010".into(),
                amount: "statment".into(),
            }],
            ..PostingSpec::default()
        };
        assert_eq!(one.check().unwrap_err().key, "posting.lines");
    }

    fn lines(pairs: &[(&str, &str)]) -> Vec<PostingLineSpec> {
        pairs
            .iter()
            .map(|(account, amount)| PostingLineSpec {
                account: account.to_string(),
                amount: amount.to_string(),
            })
            .collect()
    }

    fn direction(pairs: &[(&str, &str)]) -> Option<DirectionSpec> {
        Some(DirectionSpec {
            narrative: None,
            lines: lines(pairs),
        })
    }

    /// Money in credits receivables clearing, money out debits payables clearing, one line
    /// per settled item.
    fn by_direction() -> PostingSpec {
        PostingSpec {
            receipt: direction(&[
                ("1010 Bank {currency}", "statement"),
                ("1290 Receivables clearing", "-item"),
            ]),
            payment: direction(&[
                ("1690 Payables clearing", "-item"),
                ("1010 Bank {currency}", "statement"),
            ]),
            ..PostingSpec::default()
        }
    }

    fn accounts(e: &JournalEntry) -> Vec<(&str, String)> {
        e.lines
            .iter()
            .map(|l| (l.account.as_str(), l.amount.to_string()))
            .collect()
    }

    #[test]
    fn the_direction_of_the_money_picks_the_template() {
        let t = by_direction().check().unwrap();
        let invoice = record(Side::Ledger, "1", "500.00", "EUR");
        let receipt = record(Side::Statement, "BK1", "500.00", "EUR");
        let e = entry_for_match("bank", &t, MatchPass::Reference, &[&invoice], &[&receipt]);
        assert_eq!(
            accounts(&e.unwrap()),
            [
                ("1010 Bank EUR", "500.00".to_string()),
                ("1290 Receivables clearing", "-500.00".to_string())
            ]
        );
        let bill = record(Side::Ledger, "2", "-214.20", "EUR");
        let payment = record(Side::Statement, "BK2", "-214.20", "EUR");
        let e = entry_for_match("bank", &t, MatchPass::Reference, &[&bill], &[&payment]);
        assert_eq!(
            accounts(&e.unwrap()),
            [
                ("1690 Payables clearing", "214.20".to_string()),
                ("1010 Bank EUR", "-214.20".to_string())
            ]
        );
        assert_eq!(Direction::of(&[&payment]), Direction::Payment);
        assert_eq!(Direction::of(&[&receipt, &payment]), Direction::Receipt);
    }

    #[test]
    fn a_batch_posts_one_clearing_line_per_settled_item_against_one_bank_line() {
        let t = by_direction().check().unwrap();
        let mut a = record(Side::Ledger, "1", "10.00", "EUR");
        a.counterparty = Some("Bolt AG".into());
        let b = record(Side::Ledger, "2", "20.25", "EUR");
        let c = record(Side::Ledger, "3", "5.00", "USD");
        let eur = record(Side::Statement, "BK1", "30.25", "EUR");
        let usd = record(Side::Statement, "BK2", "5.00", "USD");
        let e =
            entry_for_match("bank", &t, MatchPass::Batch, &[&a, &b, &c], &[&eur, &usd]).unwrap();
        assert_eq!(
            accounts(&e),
            [
                ("1010 Bank EUR", "30.25".to_string()),
                ("1010 Bank USD", "5.00".to_string()),
                ("1290 Receivables clearing", "-10.00".to_string()),
                ("1290 Receivables clearing", "-20.25".to_string()),
                ("1290 Receivables clearing", "-5.00".to_string()),
            ]
        );
        check_balanced(&e.lines).unwrap();

        // An item line's placeholders are the item's own.
        let mut spec = by_direction();
        spec.receipt = direction(&[
            ("1010 Bank", "statement"),
            ("1290 {counterparty} {ledger_account}", "-item"),
        ]);
        let e = entry_for_match(
            "bank",
            &spec.check().unwrap(),
            MatchPass::Batch,
            &[&a, &b],
            &[&eur],
        )
        .unwrap();
        assert_eq!(e.lines[1].account, "1290 Bolt AG CASH-01");
        assert_eq!(e.lines[2].account, "1290 ACME CASH-01");

        // Several bank lines settling one item: one bank line per currency, one item line.
        let part1 = record(Side::Statement, "BK3", "12.00", "EUR");
        let part2 = record(Side::Statement, "BK4", "18.25", "EUR");
        let whole = record(Side::Ledger, "4", "30.25", "EUR");
        let e =
            entry_for_match("bank", &t, MatchPass::Batch, &[&whole], &[&part1, &part2]).unwrap();
        assert_eq!(
            accounts(&e),
            [
                ("1010 Bank EUR", "30.25".to_string()),
                ("1290 Receivables clearing", "-30.25".to_string()),
            ]
        );
        // And a batch whose items do not add up to the bank line is refused, as before.
        let short = record(Side::Statement, "BK5", "30.00", "EUR");
        assert!(entry_for_match("bank", &t, MatchPass::Batch, &[&a, &b], &[&short]).is_err());
    }

    #[test]
    fn a_pass_with_its_own_template_posts_by_it_and_the_others_by_the_jobs() {
        let mut spec = by_direction();
        spec.pass.insert(
            "fees".into(),
            PassPostingSpec {
                payment: direction(&[("6855 Bank charges", "-ledger"), ("1010 Bank", "statement")]),
                ..PassPostingSpec::default()
            },
        );
        let t = spec.check().unwrap();
        let fee = record(Side::Ledger, "F1", "-12.50", "EUR");
        let line = record(Side::Statement, "BK9", "-12.50", "EUR");
        let e = entry_for_rule("bank", &t, MatchPass::AmountDate, "fees", &[&fee], &[&line]);
        assert_eq!(e.unwrap().lines[0].account, "6855 Bank charges");
        let e = entry_for_rule(
            "bank",
            &t,
            MatchPass::AmountDate,
            "other",
            &[&fee],
            &[&line],
        );
        assert_eq!(e.unwrap().lines[0].account, "1690 Payables clearing");
        // The pass names no receipt: a receipt of that pass posts by the job's.
        let refund = record(Side::Statement, "BK10", "12.50", "EUR");
        let back = record(Side::Ledger, "F2", "12.50", "EUR");
        let e = entry_for_rule(
            "bank",
            &t,
            MatchPass::AmountDate,
            "fees",
            &[&back],
            &[&refund],
        );
        assert_eq!(e.unwrap().lines[1].account, "1290 Receivables clearing");

        // A match made by hand posts by `[posting.pass.manual]`, when there is one.
        let mut spec = by_direction();
        spec.pass.insert(
            "manual".into(),
            PassPostingSpec {
                lines: lines(&[("1010 Bank", "statement"), ("1299 Suspense", "-ledger")]),
                ..PassPostingSpec::default()
            },
        );
        let t = spec.check().unwrap();
        let e = entry_for_match("bank", &t, MatchPass::Manual, &[&fee], &[&line]);
        assert_eq!(e.unwrap().lines[1].account, "1299 Suspense");
    }

    /// The bank deducted a charge: a `difference` line books what is left, so the entry
    /// posts; without one it is refused as before.
    #[test]
    fn a_difference_line_books_what_the_bank_deducted() {
        let mut spec = by_direction();
        spec.receipt = direction(&[
            ("1010 Bank {currency}", "statement"),
            ("1290 Receivables clearing", "-item"),
            ("6855 Bank charges", "difference"),
        ]);
        spec.payment = direction(&[
            ("1690 Payables clearing", "-item"),
            ("1010 Bank {currency}", "statement"),
            ("6855 Bank charges", "difference"),
        ]);
        let t = spec.check().unwrap();
        let invoice = record(Side::Ledger, "1", "1000.00", "EUR");
        let receipt = record(Side::Statement, "BK1", "985.00", "EUR");
        let e = entry_for_match("bank", &t, MatchPass::AmountDate, &[&invoice], &[&receipt]);
        assert_eq!(
            accounts(&e.unwrap()),
            [
                ("1010 Bank EUR", "985.00".to_string()),
                ("1290 Receivables clearing", "-1000.00".to_string()),
                ("6855 Bank charges", "15.00".to_string()),
            ]
        );
        assert_eq!(check_match(&t, &[&invoice], &[&receipt]), Ok(()));
        // A payment with the bank's fee on top.
        let bill = record(Side::Ledger, "2", "-500.00", "EUR");
        let paid = record(Side::Statement, "BK2", "-507.50", "EUR");
        let e = entry_for_match("bank", &t, MatchPass::AmountDate, &[&bill], &[&paid]).unwrap();
        assert_eq!(
            e.lines[2],
            EntryLine {
                account: "6855 Bank charges".into(),
                currency: "EUR".parse().unwrap(),
                amount: "7.50".parse().unwrap(),
                fx: None,
            }
        );
        // Amounts that agree post no difference line.
        let exact = record(Side::Statement, "BK3", "1000.00", "EUR");
        let e = entry_for_match("bank", &t, MatchPass::AmountDate, &[&invoice], &[&exact]);
        assert_eq!(e.unwrap().lines.len(), 2);
        // Without the line, the same match is refused.
        assert!(matches!(
            entry_for_match(
                "bank",
                &by_direction().check().unwrap(),
                MatchPass::AmountDate,
                &[&invoice],
                &[&receipt]
            ),
            Err(PostingRefused::Unbalanced { .. })
        ));
        // Amounts in two currencies without [posting.fx] are not a charge: refused.
        let dollars = record(Side::Statement, "BK4", "1080.00", "USD");
        assert!(matches!(
            entry_for_match("bank", &t, MatchPass::AmountDate, &[&invoice], &[&dollars]),
            Err(PostingRefused::Unbalanced { .. })
        ));
        assert!(check_match(&t, &[&invoice], &[&dollars]).is_err());
        // ... and a person's match leaves the difference out, for them to book.
        let bare =
            build_entry_without_difference("bank", &t, MatchPass::Manual, &[&invoice], &[&receipt]);
        assert_eq!(bare.unwrap().lines.len(), 2);
    }

    #[test]
    fn a_difference_line_takes_no_sign_and_comes_once() {
        let mut spec = by_direction();
        spec.receipt = direction(&[
            ("1010 Bank", "statement"),
            ("1290", "-item"),
            ("6855", "-difference"),
        ]);
        assert_eq!(
            spec.check().unwrap_err().key,
            "posting.receipt.lines[2].amount"
        );
        spec.receipt = direction(&[
            ("1010 Bank", "statement"),
            ("1290", "-item"),
            ("6855", "difference"),
            ("6856", "difference"),
        ]);
        let e = spec.check().unwrap_err();
        assert_eq!(e.key, "posting.receipt.lines[3].amount");
        assert!(e.message.contains("at most one"), "{}", e.message);
    }

    #[derive(Debug)]
    struct TestRates(Vec<(&'static str, &'static str, &'static str)>);

    impl RateSource for TestRates {
        fn rate(&self, date: NaiveDate, from: Currency, to: Currency) -> Option<Decimal> {
            assert_eq!(to.as_str(), "EUR");
            self.0
                .iter()
                .rev()
                .find(|(d, c, _)| d.parse::<NaiveDate>().unwrap() <= date && *c == from.as_str())
                .map(|(_, _, r)| r.parse().unwrap())
        }
    }

    fn fx_template() -> PostingTemplate {
        let mut spec = by_direction();
        spec.fx = Some(FxPostingSpec {
            functional_currency: "EUR".into(),
            rates: "ecb".into(),
            difference_account: "2660 Exchange differences".into(),
            loss_account: Some("2150 Exchange losses".into()),
        });
        let mut t = spec.check().unwrap();
        assert_eq!(t.fx_rates_name(), Some("ecb"));
        t.set_rates(Arc::new(TestRates(vec![
            ("2026-03-02", "USD", "0.90"),
            ("2026-03-10", "USD", "0.92"),
        ])));
        t
    }

    /// The dollar fell: a USD invoice booked at 0.90 and paid at 0.88 is an exchange loss,
    /// booked on the loss account when the job names one (gains and losses apart, as SKR03
    /// keeps them).
    #[test]
    fn an_exchange_loss_goes_to_the_loss_account() {
        let mut t = fx_template();
        t.set_rates(Arc::new(TestRates(vec![
            ("2026-03-02", "USD", "0.90"),
            ("2026-03-10", "USD", "0.88"),
        ])));
        let invoice = record(Side::Ledger, "1", "1000.00", "USD");
        let mut receipt = record(Side::Statement, "BK1", "880.00", "EUR");
        receipt.value_date = "2026-03-10".parse().unwrap();
        let e = entry_for_match("bank", &t, MatchPass::Reference, &[&invoice], &[&receipt]);
        assert_eq!(
            accounts(&e.unwrap()),
            [
                ("1010 Bank EUR", "880.00".to_string()),
                ("1290 Receivables clearing", "-900.00".to_string()),
                ("2150 Exchange losses", "20.00".to_string()),
            ]
        );
    }

    /// A USD invoice booked at 0.90 and paid in EUR at 0.92: everything in EUR, each line
    /// with its own amount and rate, the gain on the exchange difference account.
    #[test]
    fn a_match_across_currencies_books_in_the_functional_currency() {
        let t = fx_template();
        let invoice = record(Side::Ledger, "1", "1000.00", "USD");
        let mut receipt = record(Side::Statement, "BK1", "918.50", "EUR");
        receipt.value_date = "2026-03-10".parse().unwrap();
        let e =
            entry_for_match("bank", &t, MatchPass::Reference, &[&invoice], &[&receipt]).unwrap();
        let eur: Currency = "EUR".parse().unwrap();
        let usd: Currency = "USD".parse().unwrap();
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            e.lines,
            [
                EntryLine {
                    account: "1010 Bank EUR".into(),
                    currency: eur,
                    amount: d("918.50"),
                    fx: Some(LineFx {
                        amount: d("918.50"),
                        currency: eur,
                        rate: d("1")
                    }),
                },
                EntryLine {
                    account: "1290 Receivables clearing".into(),
                    currency: eur,
                    amount: d("-900.00"),
                    fx: Some(LineFx {
                        amount: d("-1000.00"),
                        currency: usd,
                        rate: d("0.90")
                    }),
                },
                EntryLine {
                    account: "2660 Exchange differences".into(),
                    currency: eur,
                    amount: d("-18.50"),
                    fx: Some(LineFx {
                        amount: d("-18.50"),
                        currency: eur,
                        rate: d("1")
                    }),
                },
            ]
        );
        assert_eq!(check_match(&t, &[&invoice], &[&receipt]), Ok(()));
        // With a `difference` line, the exchange difference is the invoice remeasured at the
        // payment day's rate (900.00 → 920.00: a 20.00 gain); the 1.50 the bank kept beyond it
        // goes to the difference line. A person's match leaves the 1.50 for them to book.
        let mut spec = by_direction();
        spec.receipt = direction(&[
            ("1010 Bank {currency}", "statement"),
            ("1290 Receivables clearing", "-item"),
            ("6855 Bank charges", "difference"),
        ]);
        spec.fx = Some(FxPostingSpec {
            functional_currency: "EUR".into(),
            rates: "ecb".into(),
            difference_account: "2660 Exchange differences".into(),
            loss_account: None,
        });
        let mut with_difference = spec.check().unwrap();
        with_difference.set_rates(Arc::new(TestRates(vec![
            ("2026-03-02", "USD", "0.90"),
            ("2026-03-10", "USD", "0.92"),
        ])));
        let e = entry_for_match(
            "bank",
            &with_difference,
            MatchPass::Reference,
            &[&invoice],
            &[&receipt],
        );
        assert_eq!(
            accounts(&e.unwrap()),
            [
                ("1010 Bank EUR", "918.50".to_string()),
                ("1290 Receivables clearing", "-900.00".to_string()),
                ("6855 Bank charges", "1.50".to_string()),
                ("2660 Exchange differences", "-20.00".to_string()),
            ]
        );
        let bare = build_entry_without_difference(
            "bank",
            &with_difference,
            MatchPass::Manual,
            &[&invoice],
            &[&receipt],
        )
        .unwrap();
        assert_eq!(
            bare.lines.last().unwrap().amount,
            "-20.00".parse::<Decimal>().unwrap()
        );
        assert_eq!(
            check_balanced(&bare.lines),
            Err(PostingRefused::Unbalanced {
                currency: eur,
                difference: "-1.50".parse().unwrap()
            })
        );
        // A match in one currency posts as before, untouched.
        let eur_invoice = record(Side::Ledger, "2", "918.50", "EUR");
        let e = entry_for_match(
            "bank",
            &t,
            MatchPass::Reference,
            &[&eur_invoice],
            &[&receipt],
        )
        .unwrap();
        assert!(e.lines.iter().all(|l| l.fx.is_none()));
        // No rate that early: refused, naming the pair, the day and the table.
        let mut old = invoice.clone();
        old.value_date = "2026-01-02".parse().unwrap();
        let err =
            entry_for_match("bank", &t, MatchPass::Reference, &[&old], &[&receipt]).unwrap_err();
        assert!(matches!(err, PostingRefused::NoRate { .. }));
        assert!(
            err.to_string()
                .contains("USD→EUR rate on or before 2026-01-02"),
            "{err}"
        );
        // Without [posting.fx] the same match is refused as unbalanced, as before.
        assert!(matches!(
            entry_for_match(
                "bank",
                &by_direction().check().unwrap(),
                MatchPass::Reference,
                &[&invoice],
                &[&receipt]
            ),
            Err(PostingRefused::Unbalanced { .. })
        ));
    }

    #[test]
    fn one_template_still_serves_every_match() {
        let t = template();
        let l = record(Side::Ledger, "1", "-40.00", "EUR");
        let s = record(Side::Statement, "BK1", "-40.00", "EUR");
        let e = entry_for_match("bank", &t, MatchPass::Reference, &[&l], &[&s]).unwrap();
        assert_eq!(
            accounts(&e),
            [
                ("1010 Bank EUR", "-40.00".to_string()),
                ("1200 Clearing", "40.00".to_string())
            ]
        );
    }

    #[test]
    fn a_direction_without_a_template_is_refused_naming_its_key() {
        let mut spec = by_direction();
        spec.payment = None;
        let e = spec.check().unwrap_err();
        assert_eq!(e.key, "posting.payment");
        // `lines` stands in for the direction that has no table of its own.
        spec.lines = lines(&[("1010 Bank", "statement"), ("1200 Clearing", "-ledger")]);
        spec.check().unwrap();
        // Both have their own: `lines` would do nothing.
        let mut spec = by_direction();
        spec.lines = lines(&[("1010 Bank", "statement"), ("1200 Clearing", "-ledger")]);
        assert_eq!(spec.check().unwrap_err().key, "posting.lines");
        assert_eq!(
            PostingSpec::default().check().unwrap_err().key,
            "posting.lines"
        );
        let mut spec = by_direction();
        spec.receipt = direction(&[("1010 Bank", "statement"), ("1290", "-items")]);
        assert_eq!(
            spec.check().unwrap_err().key,
            "posting.receipt.lines[1].amount"
        );
        let mut spec = by_direction();
        spec.pass.insert("batch".into(), PassPostingSpec::default());
        assert_eq!(spec.check().unwrap_err().key, "posting.pass.batch");
    }
}
