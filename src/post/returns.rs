//! A payment and its return, paired within the statement (a `within = "statement"` pass): one
//! entry books both bank lines, so the bank account in the books shows the money that came and
//! went back, and nets to zero; neither line is a break.
//!
//! The template is the one of the pass (`[posting.pass.<name>]`, which may name a returned
//! payments clearing account), else the job's, for the direction of the *payment* (the earlier
//! line), applied to each line for its own amount: a returned receipt debits the bank and
//! credits receivables clearing, then credits the bank and debits receivables clearing again.
//! On its lines `statement`, `ledger` and `item` all mean the bank line's own amount (there is
//! no ledger item). The return reason the bank quotes in the text (SEPA `AC04`, `MD06`, …)
//! is kept in the entry's narrative.

use std::sync::LazyLock;

use regex::Regex;

use super::{Direction, Fields, PostingRefused, PostingTemplate, check_balanced, idempotency_key};
use crate::model::{EntryLine, JournalEntry, MatchPass, Record};

/// ISO 20022 return reason codes (ExternalReturnReason1Code: the SEPA R-transaction reasons)
/// as banks quote them in a return's text (`RETURN AC04 ...`, `/RTRN/MD06/`).
static REASON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(AC0[1-9]|AC1[0-9]|AG0[1-9]|AG1[0-3]|AM0[1-9]|AM1[0-9]|BE0[1-9]|BE1[0-9]|CNOR|CURR|CUST|DNOR|DUPL|ED0[1-5]|EMVL|ERIN|FF0[1-9]|FOCR|FR01|FRAD|MD0[1-9]|MS0[23]|NARR|NOAS|NOOR|PINL|RC0[1-9]|RF01|RR0[1-9]|RR1[0-2]|RUTA|SL0[1-3]|SL1[1-4]|SP0[12]|SVNR|TM01|UPAY)\b",
    )
    .expect("a valid pattern")
});

/// The return reason code of a bank line: the bank's own (camt `RtrInf/Rsn/Cd`, read into
/// its codes), else the code its text quotes, if any.
pub fn return_reason(r: &Record) -> Option<&str> {
    if let Some(code) = r.codes.as_ref().and_then(|c| c.return_reason.as_deref()) {
        return Some(code);
    }
    let text = r.remittance.as_deref()?;
    REASON.find(text).map(|m| m.as_str())
}

/// The entry of `job` for bank line `paid` returned by bank line `returned` (matched by pass
/// `rule`, filed as `pass`), refused unless it balances in every currency.
pub fn entry_for_return(
    job: &str,
    template: &PostingTemplate,
    pass: MatchPass,
    rule: &str,
    paid: &Record,
    returned: &Record,
) -> Result<JournalEntry, PostingRefused> {
    let own = template.passes.contains_key(rule);
    let t = template.for_match(rule, Direction::of(&[paid]));
    let fields = |line: &Record| Fields {
        pass: pass.as_str().to_string(),
        ledger_ids: String::new(),
        references: String::new(),
        bank_reference: line.external_id.clone(),
        counterparty: line.counterparty.clone().unwrap_or_default(),
        ledger_account: String::new(),
        bank_account: line.account.clone().unwrap_or_default(),
    };
    let mut lines = Vec::new();
    for line in [paid, returned] {
        let f = fields(line);
        for tl in &t.lines {
            lines.push(EntryLine {
                account: f.fill(&tl.account, line.currency),
                currency: line.currency,
                amount: if tl.negate { -line.amount } else { line.amount },
                fx: None,
            });
        }
    }
    // The accounts are the chart's, when the job posts to one.
    if let Some(chart) = template.chart() {
        chart.resolve_lines(&mut lines)?;
    }
    check_balanced(&lines)?;
    // The return is usually the later line; a return that came before the line it cancels
    // (the original taken by the books earlier, then paid again) carries it on the first.
    let reason = return_reason(returned)
        .or_else(|| return_reason(paid))
        .map(|c| format!(", return reason {c}"))
        .unwrap_or_default();
    let narrative = if own {
        let f = Fields {
            bank_reference: format!("{},{}", paid.external_id, returned.external_id),
            ..fields(paid)
        };
        format!("{}{reason}", f.fill(&t.narrative, paid.currency))
    } else {
        format!(
            "{rule}: bank {} {} and bank {} {} {} cancel out{reason}",
            paid.external_id, paid.amount, returned.external_id, returned.amount, returned.currency
        )
    };
    let posting_date = [paid, returned]
        .iter()
        .map(|r| r.booking_date.unwrap_or(r.value_date))
        .max()
        .unwrap_or(returned.value_date);
    Ok(JournalEntry {
        idempotency_key: idempotency_key(job, &[], &[paid, returned]),
        posting_date,
        narrative,
        lines,
    })
}
