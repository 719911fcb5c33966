//! Posting rules: a bank line that no ledger item matches, but that the bank's codes or text
//! say what it is (a fee, interest, tax withheld), posts by a rule of the job to the accounts
//! the rule names. Whatever no rule takes stays unmatched and is a break: every line of the
//! statement reaches the books, by a match, by a rule, or by a person working its break.
//!
//! ```toml
//! [[posting.rules]]
//! name = "bank charges"
//! direction = "payment"                    # receipt | payment | any (the default)
//! codes = ["NCHG", "PMNT/CCRD/CHRG", "GVC:805"]   # any of them
//! text = '(?i)entgelt|fee'                 # and/or the line's text (a regular expression)
//! lines = [
//!   { account = "6855 Bank charges", amount = "-statement" },
//!   { account = "1010 Bank {currency}", amount = "statement" },
//! ]
//! ```
//!
//! A code is compared with the line's transaction code: the MT940 `:61:` type (`NCHG`), camt's
//! `Domain/Family/SubFamily` (`PMNT/CCRD/CHRG`; a shorter `PMNT/CCRD` takes the whole
//! family) or the bank's proprietary code (`NMSC+805`: its part before `+` or the whole).
//! `GVC:805` or `PURP:CHAR` is compared with the purpose code (the German GVC, camt
//! `Purp/Cd`, or the GVC after `+` in a proprietary code). Codes and text given together must
//! both agree. The rules are tried in their order; the first that takes a line posts it.
//!
//! **Invariant:** pure, as the rest of `post`; one entry per line, keyed by the job and the
//! line's identity, so a line posts once however often it is offered.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::{PostingLineSpec, PostingRefused, PostingSpecError, check_balanced, idempotency_key};
use crate::model::{Currency, EntryLine, JournalEntry, Record};

/// One `[[posting.rules]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Shown in the entry's narrative and in `clerk explain`.
    pub name: String,
    /// `receipt` (money in), `payment` (money out) or `any` (the default).
    #[serde(default)]
    pub direction: Option<String>,
    /// The bank's codes that take a line, any of them.
    #[serde(default)]
    pub codes: Vec<String>,
    /// A regular expression on the line's text (remittance, else counterparty).
    #[serde(default)]
    pub text: Option<String>,
    /// Placeholders: `{rule}`, `{bank_reference}`, `{bank_account}`, `{counterparty}`,
    /// `{currency}`, `{text}`.
    #[serde(default)]
    pub narrative: Option<String>,
    /// `amount` is `statement` (the line's signed amount) or `-statement`.
    pub lines: Vec<PostingLineSpec>,
}

/// The job's checked posting rules, in their order.
#[derive(Debug, Clone, Default)]
pub struct PostingRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    direction: RuleDirection,
    codes: Vec<Code>,
    text: Option<Regex>,
    narrative: String,
    lines: Vec<(String, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDirection {
    Receipt,
    Payment,
    Any,
}

#[derive(Debug, Clone)]
enum Code {
    Transaction(String),
    Purpose(String),
}

const DEFAULT_NARRATIVE: &str = "{rule}: bank {bank_reference} {text}";
const PLACEHOLDERS: [&str; 6] = [
    "rule",
    "bank_reference",
    "bank_account",
    "counterparty",
    "currency",
    "text",
];

/// Checks `[[posting.rules]]`, naming the key of the first problem.
pub fn check(specs: &[RuleSpec]) -> Result<PostingRules, PostingSpecError> {
    let mut rules = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let key = format!("posting.rules[{i}]");
        let err = |k: &str, message: String| PostingSpecError {
            key: format!("{key}.{k}"),
            message,
        };
        if s.name.trim().is_empty() {
            return Err(err("name", "a rule needs a name".into()));
        }
        if rules.iter().any(|r: &Rule| r.name == s.name) {
            return Err(err(
                "name",
                format!("{:?} names an earlier rule too", s.name),
            ));
        }
        let direction = match s.direction.as_deref().unwrap_or("any") {
            "receipt" => RuleDirection::Receipt,
            "payment" => RuleDirection::Payment,
            "any" => RuleDirection::Any,
            other => {
                return Err(err(
                    "direction",
                    format!("expected \"receipt\", \"payment\" or \"any\", found {other:?}"),
                ));
            }
        };
        let mut codes = Vec::with_capacity(s.codes.len());
        for (j, c) in s.codes.iter().enumerate() {
            let c = c.trim();
            let code = match c.split_once(':') {
                Some((kind, v))
                    if kind.eq_ignore_ascii_case("GVC") || kind.eq_ignore_ascii_case("PURP") =>
                {
                    Code::Purpose(v.trim().to_ascii_uppercase())
                }
                Some(_) => {
                    return Err(err(
                        &format!("codes[{j}]"),
                        format!(
                            "expected a transaction code (NCHG, PMNT/CCRD/CHRG) or GVC:<code> / PURP:<code>, found {c:?}"
                        ),
                    ));
                }
                None => Code::Transaction(c.to_ascii_uppercase()),
            };
            if matches!(&code, Code::Purpose(v) | Code::Transaction(v) if v.is_empty()) {
                return Err(err(
                    &format!("codes[{j}]"),
                    "an empty code takes nothing".into(),
                ));
            }
            codes.push(code);
        }
        let text = match &s.text {
            Some(t) => Some(
                RegexBuilder::new(t)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| err("text", format!("not a regular expression: {e}")))?,
            ),
            None => None,
        };
        if codes.is_empty() && text.is_none() {
            return Err(err(
                "codes",
                "give `codes` or `text`: a rule that takes every line would hide every break"
                    .into(),
            ));
        }
        let narrative = s.narrative.as_deref().unwrap_or(DEFAULT_NARRATIVE);
        placeholders(narrative, &format!("{key}.narrative"))?;
        if s.lines.len() < 2 {
            return Err(err(
                "lines",
                "a double-entry posting needs at least two lines".into(),
            ));
        }
        let mut lines = Vec::with_capacity(s.lines.len());
        let mut total = 0i32;
        for (j, l) in s.lines.iter().enumerate() {
            if l.account.trim().is_empty() {
                return Err(err(
                    &format!("lines[{j}].account"),
                    "the account must not be empty".into(),
                ));
            }
            placeholders(&l.account, &format!("{key}.lines[{j}].account"))?;
            let negate = match l.amount.trim() {
                "statement" => false,
                "-statement" => true,
                other => {
                    return Err(err(
                        &format!("lines[{j}].amount"),
                        format!(
                            "expected \"statement\" or \"-statement\" (a rule posts the bank line alone), found {other:?}"
                        ),
                    ));
                }
            };
            total += if negate { -1 } else { 1 };
            lines.push((l.account.clone(), negate));
        }
        if total != 0 {
            return Err(err(
                "lines",
                "does not balance: as many lines with \"statement\" as with \"-statement\"".into(),
            ));
        }
        rules.push(Rule {
            name: s.name.clone(),
            direction,
            codes,
            text,
            narrative: narrative.to_owned(),
            lines,
        });
    }
    Ok(PostingRules { rules })
}

fn placeholders(text: &str, key: &str) -> Result<(), PostingSpecError> {
    super::check_placeholders_of(text, key, &PLACEHOLDERS)
}

impl PostingRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Each rule's line accounts, with the key that names them (`posting.rules[0].lines[1]`):
    /// what a chart of accounts checks when the job loads.
    pub fn accounts(&self) -> impl Iterator<Item = (String, &str)> {
        self.rules.iter().enumerate().flat_map(|(r, rule)| {
            rule.lines.iter().enumerate().map(move |(l, (account, _))| {
                (
                    format!("posting.rules[{r}].lines[{l}].account"),
                    account.as_str(),
                )
            })
        })
    }

    /// The first rule that takes bank line `line`, with what it agreed on (`code NCHG`,
    /// `text "Entgelt"`).
    pub fn take(&self, line: &Record) -> Option<(&Rule, String)> {
        self.rules
            .iter()
            .find_map(|r| r.takes(line).map(|why| (r, why)))
    }
}

impl Rule {
    /// Whether this rule takes `line`, and on what.
    fn takes(&self, line: &Record) -> Option<String> {
        let money_in = !line.amount.is_sign_negative() || line.amount.is_zero();
        match self.direction {
            RuleDirection::Receipt if !money_in => return None,
            RuleDirection::Payment if money_in => return None,
            _ => {}
        }
        let mut why = Vec::new();
        if !self.codes.is_empty() {
            let codes = line.codes.as_deref()?;
            let upper = |s: &Option<String>| s.as_deref().map(|s| s.trim().to_ascii_uppercase());
            let (transaction, purpose) = (upper(&codes.transaction), upper(&codes.purpose));
            let hit = self.codes.iter().find_map(|c| match c {
                Code::Transaction(want) => {
                    let t = transaction.as_deref()?;
                    let head = t.split('+').next().unwrap_or(t);
                    (t == want
                        || head == want
                        || t.strip_prefix(want.as_str())
                            .is_some_and(|rest| rest.starts_with('/')))
                    .then(|| format!("code {t}"))
                }
                Code::Purpose(want) => {
                    let in_proprietary = transaction
                        .as_deref()
                        .and_then(|t| t.split_once('+'))
                        .is_some_and(|(_, p)| p == want);
                    (purpose.as_deref() == Some(want.as_str()) || in_proprietary)
                        .then(|| format!("purpose code {want}"))
                }
            })?;
            why.push(hit);
        }
        if let Some(re) = &self.text {
            let text = text_of(line);
            let m = re.find(text)?;
            why.push(format!("text {:?}", m.as_str()));
        }
        Some(why.join(" and "))
    }

    /// The entry this rule posts for bank line `line` of `job`: each line of the rule for the
    /// line's amount (or its opposite), in its currency; refused unless it balances.
    pub fn entry(&self, job: &str, line: &Record) -> Result<JournalEntry, PostingRefused> {
        let fill = |t: &str, currency: Currency| {
            t.replace("{rule}", &self.name)
                .replace("{bank_reference}", &line.external_id)
                .replace("{bank_account}", line.account.as_deref().unwrap_or(""))
                .replace("{counterparty}", line.counterparty.as_deref().unwrap_or(""))
                .replace("{currency}", currency.as_str())
                .replace("{text}", text_of(line))
                .trim()
                .to_owned()
        };
        let lines: Vec<EntryLine> = self
            .lines
            .iter()
            .map(|(account, negate)| EntryLine {
                account: fill(account, line.currency),
                currency: line.currency,
                amount: if *negate { -line.amount } else { line.amount },
                fx: None,
            })
            .collect();
        check_balanced(&lines)?;
        Ok(JournalEntry {
            idempotency_key: idempotency_key(job, &[], &[line]),
            posting_date: line.booking_date.unwrap_or(line.value_date),
            narrative: fill(&self.narrative, line.currency),
            lines,
        })
    }
}

/// What a text rule reads: the payment details, else the counterparty.
fn text_of(line: &Record) -> &str {
    line.remittance
        .as_deref()
        .or(line.counterparty.as_deref())
        .unwrap_or("")
}

impl super::PostingTemplate {
    /// The job's posting rules.
    pub fn rules(&self) -> &PostingRules {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{BankCodes, Side, Source};

    fn specs(toml: &str) -> Vec<RuleSpec> {
        #[derive(Deserialize)]
        struct Wrap {
            rules: Vec<RuleSpec>,
        }
        toml::from_str::<Wrap>(toml).unwrap().rules
    }

    const RULES: &str = r#"
        [[rules]]
        name = "bank charges"
        direction = "payment"
        codes = ["NCHG", "PMNT/CCRD", "GVC:805"]
        lines = [
          { account = "6855 Bank charges", amount = "-statement" },
          { account = "1010 Bank {currency}", amount = "statement" },
        ]
        [[rules]]
        name = "interest"
        direction = "receipt"
        text = '(?i)zinsen|interest'
        lines = [
          { account = "1010 Bank {currency}", amount = "statement" },
          { account = "2650 Interest income", amount = "-statement" },
        ]
    "#;

    fn line(amount: &str, transaction: Option<&str>, purpose: Option<&str>, text: &str) -> Record {
        Record {
            side: Side::Statement,
            external_id: "BK1".into(),
            account: Some("DE89370400440532013000".into()),
            value_date: "2026-03-02".parse().unwrap(),
            booking_date: None,
            amount: amount.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            reference: None,
            counterparty: None,
            remittance: Some(text.into()),
            codes: BankCodes {
                transaction: transaction.map(Into::into),
                purpose: purpose.map(Into::into),
                return_reason: None,
            }
            .boxed(),
            source: Source::at(Arc::from("f"), None, 1),
        }
    }

    #[test]
    fn codes_text_and_direction_pick_the_rule() {
        let rules = check(&specs(RULES)).unwrap();
        let name = |r: &Record| rules.take(r).map(|(rule, _)| rule.name.clone());
        let fee = line("-12.50", Some("NCHG"), None, "Kontofuehrung");
        assert_eq!(name(&fee).as_deref(), Some("bank charges"));
        // A camt family takes its sub-families; a GVC in a proprietary code counts.
        assert_eq!(
            name(&line("-3", Some("PMNT/CCRD/CHRG"), None, "")).as_deref(),
            Some("bank charges")
        );
        assert_eq!(
            name(&line("-3", Some("NMSC+805"), None, "")).as_deref(),
            Some("bank charges")
        );
        assert_eq!(
            name(&line("-3", Some("NMSC"), Some("805"), "")).as_deref(),
            Some("bank charges")
        );
        // A fee code on money in is not a charge; a supplier payment is no rule's.
        assert_eq!(name(&line("12.50", Some("NCHG"), None, "")), None);
        assert_eq!(name(&line("-214.20", Some("NTRF"), None, "INV-1")), None);
        let interest = line("4.10", None, None, "Habenzinsen Q1");
        assert_eq!(name(&interest).as_deref(), Some("interest"));

        let (rule, why) = rules.take(&fee).unwrap();
        assert_eq!(why, "code NCHG");
        let entry = rule.entry("bank", &fee).unwrap();
        assert_eq!(entry.lines[0].account, "6855 Bank charges");
        assert_eq!(entry.lines[0].amount, "12.50".parse().unwrap());
        assert_eq!(entry.lines[1].account, "1010 Bank EUR");
        assert_eq!(entry.lines[1].amount, "-12.50".parse().unwrap());
        assert_eq!(
            entry.idempotency_key,
            rule.entry("bank", &fee).unwrap().idempotency_key,
            "the same line always has the same key"
        );
    }

    #[test]
    fn a_rule_that_takes_everything_or_does_not_balance_is_refused() {
        let bad = |toml: &str| check(&specs(toml)).unwrap_err().to_string();
        let open = r#"[[rules]]
            name = "all"
            lines = [ { account = "a", amount = "statement" }, { account = "b", amount = "-statement" } ]"#;
        assert!(
            bad(open).starts_with("posting.rules[0].codes:"),
            "{}",
            bad(open)
        );
        let one_sided = r#"[[rules]]
            name = "x"
            codes = ["NCHG"]
            lines = [ { account = "a", amount = "statement" }, { account = "b", amount = "statement" } ]"#;
        assert!(bad(one_sided).starts_with("posting.rules[0].lines:"));
        let item = r#"[[rules]]
            name = "x"
            codes = ["NCHG"]
            lines = [ { account = "a", amount = "item" }, { account = "b", amount = "-statement" } ]"#;
        assert!(bad(item).starts_with("posting.rules[0].lines[0].amount:"));
        let regex = r#"[[rules]]
            name = "x"
            text = "(fee"
            lines = [ { account = "a", amount = "statement" }, { account = "b", amount = "-statement" } ]"#;
        assert!(bad(regex).starts_with("posting.rules[0].text:"));
    }
}
