//! `clerk bank [ACCOUNT] [--json]`: per bank account and currency, the book balance against
//! the latest statement's closing balance and what makes up the difference (README, "The
//! bank account in the books").

use std::path::Path;
use std::process::ExitCode;

use super::load_config;
use crate::jobs::bank::{BankPosition, describe, positions, unexplained};
use crate::store;

pub fn bank(config_path: &Path, account: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let shown = store::in_read(st.as_mut(), |u| positions(u, &config.jobs, account))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        match account {
            Some(a) => outln!("no statement with balances for bank account {a}"),
            None => outln!("no statement with balances taken yet"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    for p in &shown {
        print_position(p)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_position(p: &BankPosition) -> anyhow::Result<()> {
    outln!(
        "{} {} (job {}, books {})",
        p.account,
        p.currency,
        p.job,
        p.ledger_accounts.join(", ")
    );
    outln!(
        "  statement closing balance {:>16}  on {}{}",
        p.statement_balance,
        p.statement_date,
        p.statement_number
            .as_deref()
            .map(|n| format!(" (statement {n})"))
            .unwrap_or_default()
    );
    outln!(
        "  book balance              {:>16}  (brought forward {} on {})",
        p.book_balance,
        p.brought_forward,
        p.brought_forward_date
    );
    for l in &p.pending {
        outln!(
            "  pending, not booked by the bank yet (in neither balance): {} {} {} {}",
            l.amount,
            l.value_date,
            l.bank_reference.as_deref().unwrap_or("-"),
            l.text
        );
    }
    if p.agrees() {
        outln!(
            "  difference                {:>16}  the books agree with the bank",
            "0.00"
        );
        return Ok(());
    }
    outln!(
        "  difference                {:>16}  made up of:",
        p.difference
    );
    for l in &p.open_lines {
        outln!("    {}", describe(l));
    }
    if let Some(rest) = unexplained(p) {
        outln!("    {rest}");
    }
    Ok(())
}
