//! The books as an accountant reads them: `clerk journal` (the entries posted, their lines and
//! where they came from), `clerk ledger balance` (the trial balance: every account per
//! currency, which must add up to zero in each) and `clerk ledger account A` (an account's
//! movements with a running balance); `clerk journal export` (a re-export on request) and
//! `clerk journal exports` (which file of which export target holds which entries).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::load_config;
use crate::model::Currency;
use crate::store::journal::{AccountBalance, JournalQuery};
use crate::store::{self, StoreError};

/// What `clerk journal` was asked for.
pub struct JournalArgs<'a> {
    pub job: Option<&'a str>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub account: Option<&'a str>,
    pub json: bool,
}

pub fn journal(config_path: &Path, a: &JournalArgs<'_>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let q = JournalQuery {
        job: a.job,
        from: a.from,
        to: a.to,
        account: a.account,
    };
    let entries = store::in_read(st.as_mut(), |u| u.journal(&q))?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        outln!("no entries posted that match");
    }
    for e in &entries {
        outln!(
            "entry {}  {}  job {}  run {}  match {} ({})",
            e.id,
            e.posting_date,
            e.job,
            e.run_id,
            e.match_id,
            e.pass
        );
        outln!("  {}", e.narrative);
        if let Some(d) = e.value_date {
            outln!(
                "  value date {d} (its period was closed: posted {})",
                e.posting_date
            );
        }
        if let Some(of) = e.reverses {
            outln!("  reverses {of}");
        }
        if let Some(by) = e.reversed_by {
            outln!("  reversed by {by}");
        }
        for l in &e.lines {
            let (debit, credit) = sides(l.amount);
            outln!(
                "    {:<32} {:>16} {:>16} {}",
                l.account,
                debit,
                credit,
                l.currency
            );
        }
        if !e.sources.is_empty() {
            outln!("  from {}", e.sources.join("; "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An amount as the debit or the credit column (debits positive, credits negative).
fn sides(amount: Decimal) -> (String, String) {
    if amount.is_sign_negative() {
        (String::new(), (-amount).to_string())
    } else {
        (amount.to_string(), String::new())
    }
}

#[derive(Serialize)]
struct TrialBalance {
    at: Option<NaiveDate>,
    accounts: Vec<AccountBalance>,
    /// Per currency, what the accounts add up to: zero when the books balance.
    totals: BTreeMap<Currency, Decimal>,
    balanced: bool,
}

/// `clerk ledger balance [--at D]`: exit code 1 when a currency does not add up to zero,
/// which clerk's own posting never allows (only a store changed by hand could do it).
pub fn balance(config_path: &Path, at: Option<NaiveDate>, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let accounts = store::in_read(st.as_mut(), |u| u.trial_balance(at))?;
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for a in &accounts {
        *totals.entry(a.currency).or_default() += a.balance;
    }
    let balanced = totals.values().all(Decimal::is_zero);
    let code = if balanced {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if json {
        let tb = TrialBalance {
            at,
            accounts,
            totals,
            balanced,
        };
        outln!("{}", serde_json::to_string_pretty(&tb)?);
        return Ok(code);
    }
    match at {
        Some(d) => outln!("trial balance at {d}"),
        None => outln!("trial balance, every entry posted"),
    }
    if accounts.is_empty() {
        outln!("no entries posted yet");
        return Ok(code);
    }
    for (currency, total) in &totals {
        outln!("");
        outln!(
            "{currency}  {:<32} {:>16} {:>16} {:>6}",
            "account",
            "debit",
            "credit",
            "lines"
        );
        let (mut debits, mut credits) = (Decimal::ZERO, Decimal::ZERO);
        for a in accounts.iter().filter(|a| a.currency == *currency) {
            let (d, c) = sides(a.balance);
            if a.balance.is_sign_negative() {
                credits -= a.balance;
            } else {
                debits += a.balance;
            }
            outln!("     {:<32} {d:>16} {c:>16} {:>6}", a.account, a.lines);
        }
        outln!(
            "     {:<32} {debits:>16} {credits:>16}  {}",
            "total",
            if total.is_zero() {
                "balanced".to_string()
            } else {
                format!("OUT OF BALANCE by {total}")
            }
        );
    }
    Ok(code)
}

#[derive(Serialize)]
struct Movement {
    entry: i64,
    date: NaiveDate,
    narrative: String,
    currency: Currency,
    amount: Decimal,
    balance: Decimal,
}

#[derive(Serialize)]
struct AccountStatement {
    account: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    opening: BTreeMap<Currency, Decimal>,
    movements: Vec<Movement>,
    closing: BTreeMap<Currency, Decimal>,
}

/// `clerk ledger account A [--from D] [--to D]`: the opening balance (everything before
/// `from`), each line on the account in posting order with the running balance, the closing.
pub fn account(
    config_path: &Path,
    account: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let (before, entries) = store::in_read(st.as_mut(), |u| {
        let before = match from.and_then(|d| d.pred_opt()) {
            Some(day_before) => u.trial_balance(Some(day_before))?,
            None => Vec::new(),
        };
        let entries = u.journal(&JournalQuery {
            job: None,
            from,
            to,
            account: Some(account),
        })?;
        Ok::<_, StoreError>((before, entries))
    })?;
    let opening: BTreeMap<Currency, Decimal> = before
        .into_iter()
        .filter(|b| b.account == account)
        .map(|b| (b.currency, b.balance))
        .collect();
    let mut running = opening.clone();
    let mut movements = Vec::new();
    for e in &entries {
        for l in e.lines.iter().filter(|l| l.account == account) {
            let balance = running.entry(l.currency).or_default();
            *balance += l.amount;
            movements.push(Movement {
                entry: e.id,
                date: e.posting_date,
                narrative: e.narrative.clone(),
                currency: l.currency,
                amount: l.amount,
                balance: *balance,
            });
        }
    }
    let statement = AccountStatement {
        account: account.to_string(),
        from,
        to,
        opening,
        movements,
        closing: running,
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&statement)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("account {account}");
    for (c, b) in &statement.opening {
        outln!("  opening {c} {b}");
    }
    if statement.movements.is_empty() {
        outln!("  no movements");
    }
    for m in &statement.movements {
        let (d, c) = sides(m.amount);
        outln!(
            "  {}  entry {:<8} {d:>16} {c:>16} {:>16} {}  {}",
            m.date,
            m.entry,
            m.balance,
            m.currency,
            m.narrative
        );
    }
    for (c, b) in &statement.closing {
        outln!("  closing {c} {b}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `clerk journal export --target T [--from D] [--to D]`: the entries posted in the range (all
/// without one) written again into a re-export file of the target, recorded as a re-export;
/// the target's cursor, and so its next regular batch, is not touched. Prints the file's path.
pub fn reexport(
    config_path: &Path,
    target: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let Some(t) = config.exports.iter().find(|t| t.name == target) else {
        let known: Vec<&str> = config.exports.iter().map(|t| t.name.as_str()).collect();
        anyhow::bail!(
            "no export target {target:?} in {}; its [[exports]] are: {}",
            config.file.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        anyhow::bail!("--from {f} is after --to {t}");
    }
    let mut st = store::open(&config.settings.store_path)?;
    match crate::jobs::exports::reexport(st.as_mut(), t, from, to, &chrono::Utc::now)? {
        Some((batch, path)) => {
            outln!("{}", path.display());
            eprintln!(
                "{} entries ({} to {}), sha256 {}",
                batch.entries, batch.first_entry, batch.last_entry, batch.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no entries posted in that range; nothing written");
            Ok(ExitCode::from(1))
        }
    }
}

/// `clerk journal exports [--target T] [--json]`: what went where, each batch with its file,
/// entries, checksum and when it was written (a batch recorded and not yet written shows as
/// pending: the daemon writes it at its next export).
pub fn exports(config_path: &Path, target: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let batches = store::in_read(st.as_mut(), |u| u.export_batches(target))?;
    if json {
        #[derive(Serialize)]
        struct Listed<'a> {
            #[serde(flatten)]
            batch: &'a crate::store::ExportBatch,
            /// Where the file is, when the target is still configured.
            path: Option<String>,
        }
        let listed: Vec<Listed<'_>> = batches
            .iter()
            .map(|b| Listed {
                batch: b,
                path: config
                    .exports
                    .iter()
                    .find(|t| t.name == b.target)
                    .map(|t| t.folder.join(&b.file_name).display().to_string()),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(ExitCode::SUCCESS);
    }
    if batches.is_empty() {
        outln!("nothing exported yet");
    }
    for b in &batches {
        let folder = config
            .exports
            .iter()
            .find(|t| t.name == b.target)
            .map(|t| t.folder.display().to_string())
            .unwrap_or_else(|| "(target no longer configured)".into());
        outln!(
            "{}  {}  {} entries ({} to {}, posted {} to {})  {}",
            b.target,
            b.file_name,
            b.entries,
            b.first_entry,
            b.last_entry,
            b.first_date,
            b.last_date,
            match b.written_at {
                Some(t) => format!("written {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
                None => "pending (written at the next export)".to_string(),
            }
        );
        outln!("  in {folder}  sha256 {}", b.sha256);
    }
    Ok(ExitCode::SUCCESS)
}
