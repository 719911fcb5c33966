//! `clerk audit verify` and `clerk audit head`: the tamper evidence over entries and break
//! actions (see `store::audit`). Verify reads only, so it runs beside a working daemon; it
//! exits 1 when a row does not fit the chain, naming the first one as a person reads it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::load_config;
use crate::store::audit::{ChainFinding, ChainHead, ChainKind, ChainProblem};
use crate::store::{self, Unit};

/// A head as a mail carries it: its seq and its hash, short (a prefix) or full.
struct MailedHead {
    seq: i64,
    hash: String,
}

/// `SEQ:HASH`, as `--mailed` takes it.
fn parse_mailed(text: &str) -> anyhow::Result<MailedHead> {
    let (seq, hash) = text.split_once(':').with_context(|| {
        format!("--mailed {text:?}: expected SEQ:HASH, as the summary shows the head")
    })?;
    let seq: i64 = seq
        .trim()
        .parse()
        .with_context(|| format!("--mailed {text:?}: {seq:?} is not a seq number"))?;
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() < 12 || hash.len() > 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--mailed {text:?}: expected 12 to 64 hex digits of the hash after the colon");
    }
    Ok(MailedHead { seq, hash })
}

/// Whether the chain still holds a mailed head; a finding when it does not.
fn against_mail(u: &mut dyn Unit, m: &MailedHead) -> store::Result<Option<ChainFinding>> {
    let text = match u.chain_link(m.seq)? {
        Some(link) if link.hash.starts_with(&m.hash) => return Ok(None),
        Some(link) => format!(
            "the chain at seq {} is {}, not {} as mailed: the database was rewritten after that \
             mail (the link now was written {})",
            m.seq,
            link.short(),
            m.hash,
            link.chained_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => format!(
            "the chain has no seq {}, but a mail carried it: the chain was cut back or rewritten \
             after that mail",
            m.seq
        ),
    };
    Ok(Some(ChainFinding {
        problem: ChainProblem::DisagreesWithMail,
        seq: Some(m.seq),
        kind: None::<ChainKind>,
        row_id: None,
        text,
    }))
}

pub fn verify(config_path: &Path, mailed: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let mailed = mailed
        .iter()
        .map(|m| parse_mailed(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let report = store::in_read(st.as_mut(), |u| {
        let mut report = u.verify_chain()?;
        // A disagreement with a mail comes first: it is what a consistent rewrite leaves.
        let mut disagree = Vec::new();
        for m in &mailed {
            disagree.extend(against_mail(u, m)?);
        }
        disagree.append(&mut report.findings);
        report.findings = disagree;
        Ok(report)
    })?;
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
        for m in &mailed {
            outln!("agrees with the mailed head: seq {} {}", m.seq, m.hash);
        }
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
