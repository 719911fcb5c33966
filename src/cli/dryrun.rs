//! `clerk reconcile`: a job's extraction and matching rules on two files, posting nothing.
//! For trying a rule change, or a new bank's file, before the daemon sees it.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::load_config;
use crate::config::{Config, JobKind};
use crate::daemon::pipeline::sha256_hex;
use crate::extract::{self, Extracted, Input, Layout};
use crate::model::{MatchPass, Record};
use crate::notify::csv_cell;
use crate::post::check_match;
use crate::reconcile::reconcile_cash;

#[derive(Serialize, Default)]
struct DryRun {
    job: String,
    ledger_records: usize,
    statement_records: usize,
    matched_reference: usize,
    matched_amount_date: usize,
    matched_batch: usize,
    ledger_only: usize,
    statement_only: usize,
    /// Matches whose entry would be refused (does not balance).
    postings_refused: usize,
    stp_rate: f64,
    read_ms: u64,
    match_ms: u64,
    write_ms: u64,
    out: String,
}

pub fn reconcile(
    config_path: &Path,
    job_name: &str,
    ledger_path: &Path,
    statement_path: &Path,
    out_path: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let Some(job) = config.job(job_name) else {
        bail!("no job {job_name:?}");
    };
    let JobKind::CashReconciliation {
        book,
        layout: statement_layout,
        rules,
        posting,
        ..
    } = &job.kind
    else {
        bail!(
            "job {job_name} is a {}, not a cash_reconciliation",
            job.kind.name()
        );
    };
    let ledger_layout = ledger_layout_for(&config, book)?;

    let started = Instant::now();
    let total = file_len(ledger_path)? + file_len(statement_path)?;
    let bar = progress(total);
    bar.set_message("reading files");
    let done = AtomicU64::new(0);
    let (ledger, statement) = std::thread::scope(|s| {
        let l = s.spawn(|| read(ledger_path, &ledger_layout, &done, &bar));
        let st = read(statement_path, statement_layout, &done, &bar);
        let l = l
            .join()
            .unwrap_or_else(|_| bail!("reading the ledger panicked"));
        (l, st)
    });
    let (ledger, statement) = (ledger?, statement?);
    let read_ms = started.elapsed().as_millis() as u64;

    bar.set_message("matching");
    let t = Instant::now();
    let outcome = reconcile_cash(&ledger.records, &statement.records, rules);
    let mut report = DryRun {
        job: job_name.to_string(),
        ledger_records: ledger.records.len(),
        statement_records: statement.records.len(),
        ledger_only: outcome.unmatched_ledger.len(),
        statement_only: outcome.unmatched_statement.len(),
        read_ms,
        ..Default::default()
    };
    let mut matched_records = 0usize;
    for m in &outcome.matches {
        let l: Vec<&Record> = m.ledger.iter().map(|&i| &ledger.records[i]).collect();
        let s: Vec<&Record> = m.statement.iter().map(|&i| &statement.records[i]).collect();
        if check_match(posting, &l, &s).is_err() {
            report.postings_refused += 1;
        }
        matched_records += l.len() + s.len();
        match m.pass {
            MatchPass::Reference => report.matched_reference += 1,
            MatchPass::AmountDate => report.matched_amount_date += 1,
            MatchPass::Batch | MatchPass::Manual | MatchPass::ThreeWay | MatchPass::Payment => {
                report.matched_batch += 1
            }
        }
    }
    let all = ledger.records.len() + statement.records.len();
    report.stp_rate = if all == 0 {
        0.0
    } else {
        matched_records as f64 / all as f64
    };
    report.match_ms = t.elapsed().as_millis() as u64;

    bar.set_message("writing results");
    let t = Instant::now();
    write_results(out_path, &ledger.records, &statement.records, &outcome)
        .with_context(|| format!("writing {}", out_path.display()))?;
    report.write_ms = t.elapsed().as_millis() as u64;
    report.out = out_path.display().to_string();
    bar.finish_and_clear();

    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!(
            "{job_name}: {} ledger items, {} statement lines",
            report.ledger_records,
            report.statement_records
        );
        outln!(
            "  matched: {} by reference, {} by amount and date, {} batch payments",
            report.matched_reference,
            report.matched_amount_date,
            report.matched_batch
        );
        outln!(
            "  breaks: {} ledger only, {} statement only; {} postings would be refused",
            report.ledger_only,
            report.statement_only,
            report.postings_refused
        );
        outln!(
            "  STP rate {:.2}%; read {} ms, match {} ms, write {} ms; pairs in {}",
            report.stp_rate * 100.0,
            report.read_ms,
            report.match_ms,
            report.write_ms,
            report.out
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The layout of the import job that loads `book`: how the ledger export is read.
fn ledger_layout_for(config: &Config, book: &str) -> anyhow::Result<Arc<Layout>> {
    config
        .jobs
        .iter()
        .find_map(|j| match &j.kind {
            JobKind::LedgerImport { book: b, layout } if b == book => Some(layout.clone()),
            _ => None,
        })
        .with_context(|| format!("no ledger_import job loads book {book:?}"))
}

fn file_len(p: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("reading {}", p.display()))?
        .len())
}

fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:18} [{bar:40}] {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn read(
    path: &Path,
    layout: &Layout,
    done: &AtomicU64,
    bar: &ProgressBar,
) -> anyhow::Result<Extracted> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hash: Arc<str> = Arc::from(sha256_hex(&bytes));
    // Bytes of this file already counted into the shared total.
    let seen = AtomicU64::new(0);
    let result = extract::extract_with_progress(
        layout,
        &Input {
            name: &name,
            bytes: &bytes,
            file_hash: hash,
        },
        &|d, _total| {
            let step = d.saturating_sub(seen.swap(d, Ordering::Relaxed));
            bar.set_position(done.fetch_add(step, Ordering::Relaxed) + step);
        },
    );
    result.map_err(|e| anyhow::anyhow!("{e}"))
}

fn write_results(
    path: &Path,
    ledger: &[Record],
    statement: &[Record],
    outcome: &crate::reconcile::Outcome,
) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(["ledger_id", "bank_reference", "match_pass"])?;
    let bank_ref = |r: &Record| -> String {
        if r.external_id.is_empty() {
            format!("line {}", r.source.row)
        } else {
            r.external_id.clone()
        }
    };
    for m in &outcome.matches {
        for &s in &m.statement {
            for &l in &m.ledger {
                w.write_record([
                    csv_cell(&ledger[l].external_id).as_ref(),
                    csv_cell(&bank_ref(&statement[s])).as_ref(),
                    m.pass.as_str(),
                ])?;
            }
        }
    }
    for &l in &outcome.unmatched_ledger {
        w.write_record([csv_cell(&ledger[l].external_id).as_ref(), "", "ledger_only"])?;
    }
    for &s in &outcome.unmatched_statement {
        w.write_record([
            "",
            csv_cell(&bank_ref(&statement[s])).as_ref(),
            "statement_only",
        ])?;
    }
    let mut inner = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    inner.flush()?;
    inner.get_ref().sync_all()?;
    Ok(())
}
