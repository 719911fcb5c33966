//! `clerk audit verify` and `clerk audit head`: the tamper evidence over entries and break
//! actions (see `store::audit`). Verify reads only, so it runs beside a working daemon; it
//! exits 1 when a row does not fit the chain, naming the first one as a person reads it.

use std::path::Path;
use std::process::ExitCode;

use super::load_config;
use crate::store::{self, audit::ChainHead};

pub fn verify(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let report = store::in_read(st.as_mut(), |u| u.verify_chain())?;
    let code = if report.intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if json {
        let mut value = serde_json::to_value(&report)?;
        value["intact"] = report.intact().into();
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(code);
    }
    if report.intact() {
        outln!(
            "chain intact: {} entries, {} break actions, head {}",
            report.entries,
            report.break_actions,
            head_text(report.head.as_ref())
        );
        return Ok(code);
    }
    let mut findings = report.findings.iter();
    if let Some(first) = findings.next() {
        outln!("chain broken: {}", first.text);
    }
    for more in findings {
        outln!("  also: {}", more.text);
    }
    outln!(
        "walked {} entries, {} break actions, head {}",
        report.entries,
        report.break_actions,
        head_text(report.head.as_ref())
    );
    Ok(code)
}

pub fn head(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let head = store::in_read(st.as_mut(), |u| u.chain_head())?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&head)?);
    } else {
        outln!("{}", head_text(head.as_ref()));
    }
    Ok(ExitCode::SUCCESS)
}

/// "<seq> <hash>", or that nothing is chained yet.
fn head_text(head: Option<&ChainHead>) -> String {
    match head {
        Some(h) => format!("{} {}", h.seq, h.hash),
        None => "none (nothing chained yet)".into(),
    }
}
