//! `clerk reconcile`: a job's extraction and matching rules on two files, posting nothing.
//! For trying a rule change, or a new bank's file, before the daemon sees it; with
//! `--compare`, what a changed job file would change (replay).
//!
//! Big plain CSV exports (comma-separated, header on line 1, ISO dates, plain decimal
//! amounts) are read straight into the engine's columns; anything else, or a file that turns
//! out not to be that plain, goes through `extract` as the daemon reads it.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::load_config;
use crate::config::Config;
use crate::digest::sha256_hex;
use crate::extract::{self, Extracted, Input, Layout};
use crate::jobs;
use crate::model::{MatchPass, Record};
use crate::notify::csv_cell;
use crate::post::check_match;
use crate::reconcile::CashRules;
use crate::reconcile::engine::{
    self, CsvColumn, CsvKind, CsvLayout, MatchSpec, RunOptions, Table, TextStorage, load_csv,
};

#[derive(Serialize, Default)]
struct DryRun {
    job: String,
    /// `columns` (the fast CSV path) or `records` (read as the daemon reads).
    read_as: &'static str,
    ledger_records: usize,
    statement_records: usize,
    matched_reference: usize,
    matched_amount_date: usize,
    matched_batch: usize,
    /// Matches by the name of the pass that made them.
    matched_by_pass: Vec<(String, usize)>,
    ledger_only: usize,
    statement_only: usize,
    /// Unmatched items by reason (missing_counterpart, amount_difference, ...).
    breaks_by_reason: Vec<(String, usize)>,
    /// Matches whose entry would be refused (does not balance); not checked on the fast path.
    postings_refused: Option<usize>,
    /// Statement lines no pass matched that the job's posting rules would post (a fee,
    /// interest): not breaks; not checked on the fast path.
    posted_by_rule: Option<usize>,
    stp_rate: f64,
    warnings: Vec<String>,
    read_ms: u64,
    match_ms: u64,
    write_ms: u64,
    out: String,
}

/// Both sides as the engine sees them, and as records when read the daemon's way.
struct Sides {
    ours: Table,
    theirs: Table,
    records: Option<(Vec<Record>, Vec<Record>)>,
}

/// What the user asked of `clerk reconcile`.
pub struct Args<'a> {
    pub job: &'a str,
    pub ledger: &'a Path,
    pub statement: &'a Path,
    pub out: Option<&'a Path>,
    /// Another version of the job file: show what its [match] would change.
    pub compare: Option<&'a Path>,
    pub json: bool,
}

pub fn reconcile(config_path: &Path, a: &Args<'_>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let job_name = a.job;
    let Some(job) = config.job(job_name) else {
        bail!("no job {job_name:?}");
    };
    let Some(jobs::cash::Settings {
        book,
        layout: statement_layout,
        rules,
        posting,
        ..
    }) = jobs::cash::settings_of(job)
    else {
        bail!(
            "job {job_name} is a {}, not a cash_reconciliation",
            job.kind.name()
        );
    };
    let ledger_layout = ledger_layout_for(&config, book)?;
    let other_rules = match a.compare {
        Some(p) => Some(rules_of_job_file(&config, p)?),
        None => None,
    };

    let started = Instant::now();
    let total = file_len(a.ledger)? + file_len(a.statement)?;
    let bar = progress(total);
    bar.set_message("reading files");
    let sides = read_sides(a, &ledger_layout, statement_layout, &bar)?;
    let read_ms = started.elapsed().as_millis() as u64;

    bar.set_message("matching");
    let t = Instant::now();
    let run = |rules: &CashRules| -> anyhow::Result<engine::Outcome> {
        let ctx = rules.context(RunOptions {
            threads: 0,
            explain: false,
        });
        Ok(engine::run(&rules.plan, &sides.ours, &sides.theirs, &ctx)?)
    };
    let outcome = run(rules)?;
    let mut report = summarise(job_name, &sides, rules, &outcome);
    report.postings_refused = sides.records.as_ref().map(|(ledger, statement)| {
        outcome
            .matches
            .iter()
            // A payment and its return post without a ledger item.
            .filter(|m| !m.ours.is_empty())
            .filter(|m| {
                let l: Vec<&Record> = m.ours.iter().map(|&i| &ledger[i as usize]).collect();
                let s: Vec<&Record> = m.theirs.iter().map(|&i| &statement[i as usize]).collect();
                check_match(posting, &l, &s).is_err()
            })
            .count()
    });
    if !posting.rules().is_empty() {
        report.posted_by_rule = sides.records.as_ref().map(|(_, statement)| {
            outcome
                .unmatched_theirs
                .iter()
                .filter(|u| posting.rules().take(&statement[u.row as usize]).is_some())
                .count()
        });
    }
    report.read_ms = read_ms;
    report.match_ms = t.elapsed().as_millis() as u64;

    if let (Some(other), Some(path)) = (&other_rules, a.compare) {
        let after = run(other)?;
        bar.finish_and_clear();
        let replay = replay(&sides, rules, &outcome, other, &after, path);
        print_replay(&report, &replay, a.json)?;
        return Ok(ExitCode::SUCCESS);
    }

    if let Some(out_path) = a.out {
        bar.set_message("writing results");
        let t = Instant::now();
        write_results(out_path, &sides, &outcome)
            .with_context(|| format!("writing {}", out_path.display()))?;
        report.write_ms = t.elapsed().as_millis() as u64;
        report.out = out_path.display().to_string();
    }
    bar.finish_and_clear();

    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(job_name, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What a dry run found, for people: counts by pass and by reason, the STP rate and timings.
fn print_report(job_name: &str, report: &DryRun) -> anyhow::Result<()> {
    outln!(
        "{job_name}: {} ledger items, {} statement lines (read as {})",
        report.ledger_records,
        report.statement_records,
        report.read_as
    );
    let by_pass: Vec<String> = report
        .matched_by_pass
        .iter()
        .map(|(p, n)| format!("{n} by {p}"))
        .collect();
    outln!("  matched: {}", by_pass.join(", "));
    let why: Vec<String> = report
        .breaks_by_reason
        .iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect();
    outln!(
        "  breaks: {} ledger only, {} statement only ({}); {} postings would be refused",
        report.ledger_only,
        report.statement_only,
        why.join(", "),
        report
            .postings_refused
            .map_or_else(|| "unchecked".to_owned(), |n| n.to_string())
    );
    if let Some(n) = report.posted_by_rule {
        outln!("  of the statement-only lines, {n} would post by the job's posting rules");
    }
    for w in &report.warnings {
        outln!("  warning: {w}");
    }
    outln!(
        "  STP rate {:.2}%; read {} ms, match {} ms, write {} ms{}",
        report.stp_rate * 100.0,
        report.read_ms,
        report.match_ms,
        report.write_ms,
        if report.out.is_empty() {
            String::new()
        } else {
            format!("; pairs in {}", report.out)
        }
    );
    Ok(())
}

/// The `[match]` of another version of a job file, checked like the real one.
fn rules_of_job_file(config: &Config, path: &Path) -> anyhow::Result<CashRules> {
    #[derive(Deserialize)]
    struct JustMatch {
        #[serde(rename = "match")]
        matching: Option<MatchSpec>,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // Only [match] matters here; the rest of the file is checked when it is deployed.
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let only: toml::Table = table.into_iter().filter(|(k, _)| k == "match").collect();
    let spec = JustMatch::deserialize(only)
        .with_context(|| format!("{}: [match]", path.display()))?
        .matching
        .with_context(|| format!("{} has no [match]", path.display()))?;
    let calendar_name = spec.calendar.as_deref().unwrap_or("default");
    let calendar = config
        .calendars
        .get(calendar_name)
        .with_context(|| format!("no calendar {calendar_name:?} in the configuration"))?
        .clone();
    let read = |f: &str| {
        std::fs::read_to_string(crate::config::resolve(&config.root, f))
            .map_err(|e| format!("cannot read: {e}"))
    };
    CashRules::from_spec(&spec, calendar, &read).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!(
            "{}: [match] has problems:\n{}",
            path.display(),
            lines.join("\n")
        )
    })
}

fn summarise(job: &str, sides: &Sides, rules: &CashRules, o: &engine::Outcome) -> DryRun {
    let mut report = DryRun {
        job: job.to_owned(),
        read_as: if sides.records.is_some() {
            "records"
        } else {
            "columns"
        },
        ledger_records: sides.ours.len(),
        statement_records: sides.theirs.len(),
        ledger_only: o.unmatched_ours.len(),
        statement_only: o.unmatched_theirs.len(),
        warnings: o.warnings.clone(),
        ..Default::default()
    };
    let mut by_pass: Vec<(String, usize)> =
        rules.plan.pass_names().map(|n| (n.to_owned(), 0)).collect();
    let mut matched_records = 0usize;
    for m in &o.matches {
        matched_records += m.ours.len() + m.theirs.len();
        if let Some(p) = by_pass.get_mut(m.rule as usize) {
            p.1 += 1;
        }
        match crate::reconcile::cash::pass_category(&rules.plan, m.rule) {
            MatchPass::Reference => report.matched_reference += 1,
            MatchPass::AmountDate => report.matched_amount_date += 1,
            MatchPass::Batch
            | MatchPass::Manual
            | MatchPass::ThreeWay
            | MatchPass::Payment
            | MatchPass::Rule
            | MatchPass::GoodsReceipt => report.matched_batch += 1,
            MatchPass::Trade | MatchPass::Settlement => report.matched_batch += 1,
        }
    }
    report.matched_by_pass = by_pass;
    let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    for u in o.unmatched_ours.iter().chain(&o.unmatched_theirs) {
        *reasons.entry(u.reason.as_str()).or_default() += 1;
    }
    report.breaks_by_reason = reasons
        .into_iter()
        .map(|(r, n)| (r.to_owned(), n))
        .collect();
    let all = sides.ours.len() + sides.theirs.len();
    report.stp_rate = if all == 0 {
        0.0
    } else {
        matched_records as f64 / all as f64
    };
    report
}

/// One match as the records it pairs, by identity: comparable across two runs.
type Pair = (Vec<String>, Vec<String>);

#[derive(Serialize)]
struct Replay {
    compared_with: String,
    stp_rate_before: f64,
    stp_rate_after: f64,
    matches_before: usize,
    matches_after: usize,
    /// Matches only the changed rules make: (ledger ids, bank references, pass).
    new_matches: Vec<(Vec<String>, Vec<String>, String)>,
    /// Matches only the current rules make.
    lost_matches: Vec<(Vec<String>, Vec<String>, String)>,
    /// Items matched now that the changed rules leave open: (side, id, reason).
    new_breaks: Vec<(String, String, String)>,
    /// Items open now that the changed rules match.
    resolved_breaks: Vec<(String, String)>,
}

fn replay(
    sides: &Sides,
    rules_before: &CashRules,
    before: &engine::Outcome,
    rules_after: &CashRules,
    after: &engine::Outcome,
    path: &Path,
) -> Replay {
    let ids = |t: &Table, rows: &[u32]| -> Vec<String> {
        let mut v: Vec<String> = rows
            .iter()
            .map(|&r| t.identity(r as usize).to_owned())
            .collect();
        v.sort();
        v
    };
    let pairs = |o: &engine::Outcome| -> std::collections::BTreeMap<Pair, String> {
        o.matches
            .iter()
            .map(|m| {
                (
                    (ids(&sides.ours, &m.ours), ids(&sides.theirs, &m.theirs)),
                    m.pass.to_string(),
                )
            })
            .collect()
    };
    let (pb, pa) = (pairs(before), pairs(after));
    let diff = |x: &std::collections::BTreeMap<Pair, String>,
                y: &std::collections::BTreeMap<Pair, String>| {
        x.iter()
            .filter(|(k, _)| !y.contains_key(*k))
            .map(|((l, s), p)| (l.clone(), s.clone(), p.clone()))
            .collect::<Vec<_>>()
    };
    let open = |o: &engine::Outcome| -> BTreeSet<(String, String)> {
        o.unmatched_ours
            .iter()
            .map(|u| {
                (
                    "ledger".to_owned(),
                    sides.ours.identity(u.row as usize).to_owned(),
                )
            })
            .chain(o.unmatched_theirs.iter().map(|u| {
                (
                    "statement".to_owned(),
                    sides.theirs.identity(u.row as usize).to_owned(),
                )
            }))
            .collect()
    };
    let (ob, oa) = (open(before), open(after));
    let reason_after = |side: &str, id: &str| -> String {
        let (list, t) = if side == "ledger" {
            (&after.unmatched_ours, &sides.ours)
        } else {
            (&after.unmatched_theirs, &sides.theirs)
        };
        list.iter()
            .find(|u| t.identity(u.row as usize) == id)
            .map_or("", |u| u.reason.as_str())
            .to_owned()
    };
    let stp = |o: &engine::Outcome| {
        let all = sides.ours.len() + sides.theirs.len();
        let open = o.unmatched_ours.len() + o.unmatched_theirs.len();
        if all == 0 {
            0.0
        } else {
            (all - open) as f64 / all as f64
        }
    };
    let _ = (rules_before, rules_after);
    Replay {
        compared_with: path.display().to_string(),
        stp_rate_before: stp(before),
        stp_rate_after: stp(after),
        matches_before: before.matches.len(),
        matches_after: after.matches.len(),
        new_matches: diff(&pa, &pb),
        lost_matches: diff(&pb, &pa),
        new_breaks: oa
            .difference(&ob)
            .map(|(side, id)| (side.clone(), id.clone(), reason_after(side, id)))
            .collect(),
        resolved_breaks: ob.difference(&oa).cloned().collect(),
    }
}

/// How many changes the text output lists of each kind; `--json` has them all.
const SHOWN: usize = 20;

fn print_replay(report: &DryRun, r: &Replay, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    outln!(
        "{}: {} ledger items, {} statement lines; current rules against {}",
        report.job,
        report.ledger_records,
        report.statement_records,
        r.compared_with
    );
    outln!(
        "  STP rate {:.2}% -> {:.2}%; matches {} -> {}",
        r.stp_rate_before * 100.0,
        r.stp_rate_after * 100.0,
        r.matches_before,
        r.matches_after
    );
    let show = |title: &str, items: Vec<String>| -> anyhow::Result<()> {
        outln!("  {title}: {}", items.len());
        for i in items.iter().take(SHOWN) {
            outln!("    {i}");
        }
        if items.len() > SHOWN {
            outln!("    ... {} more (--json lists all)", items.len() - SHOWN);
        }
        Ok(())
    };
    let fmt = |(l, s, p): &(Vec<String>, Vec<String>, String)| {
        format!("ledger {} <-> bank {} ({p})", l.join("+"), s.join("+"))
    };
    show("new matches", r.new_matches.iter().map(fmt).collect())?;
    show("lost matches", r.lost_matches.iter().map(fmt).collect())?;
    show(
        "new breaks",
        r.new_breaks
            .iter()
            .map(|(side, id, why)| format!("{side} {id}: {why}"))
            .collect(),
    )?;
    show(
        "breaks resolved",
        r.resolved_breaks
            .iter()
            .map(|(side, id)| format!("{side} {id}"))
            .collect(),
    )?;
    Ok(())
}

/// Files at least this big are tried on the fast path when their layout allows it.
const FAST_FROM_BYTES: u64 = 16 << 20;

fn read_sides(
    a: &Args<'_>,
    ledger_layout: &Layout,
    statement_layout: &Layout,
    bar: &ProgressBar,
) -> anyhow::Result<Sides> {
    let big = file_len(a.ledger)? + file_len(a.statement)? >= FAST_FROM_BYTES;
    if big && let (Some(lf), Some(sf)) = (fast_layout(ledger_layout), fast_layout(statement_layout))
    {
        let (l, s) = std::thread::scope(|sc| {
            let l = sc.spawn(|| load_fast(a.ledger, &lf));
            let s = load_fast(a.statement, &sf);
            (l.join().ok().and_then(Result::ok), s.ok())
        });
        if let (Some(ours), Some(theirs)) = (l, s) {
            return Ok(Sides {
                ours,
                theirs,
                records: None,
            });
        }
        // Not as plain as the layout promised: read it the daemon's way.
    }
    let done = AtomicU64::new(0);
    let (ledger, statement) = std::thread::scope(|s| {
        let l = s.spawn(|| read(a.ledger, ledger_layout, &done, bar));
        let st = read(a.statement, statement_layout, &done, bar);
        let l = l
            .join()
            .unwrap_or_else(|_| bail!("reading the ledger panicked"));
        (l, st)
    });
    let (ledger, statement) = (ledger?.records, statement?);
    // A structured statement (MT940, camt) is read into statements: their booked lines are
    // the records, as the daemon takes them.
    let mut statement_records = statement.records;
    statement_records.extend(statement.statements.iter().flat_map(|s| s.records()));
    let statement = statement_records;
    Ok(Sides {
        ours: Table::from_records(&ledger)?,
        theirs: Table::from_records(&statement)?,
        records: Some((ledger, statement)),
    })
}

fn load_fast(path: &Path, layout: &CsvLayout) -> anyhow::Result<Table> {
    let f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = f.metadata().ok().map(|m| m.len());
    Ok(load_csv(f, layout, size)?)
}

/// The columns of a job's CSV layout for the fast loader, when the layout reads plain CSV:
/// one signed amount column, comma-separated, header on the first line, an id column, and
/// no defaults to fill in. Amounts and dates the fast loader cannot read make it fail, and
/// the caller falls back; what it does read, it reads as `extract` would.
fn fast_layout(l: &Layout) -> Option<CsvLayout> {
    use crate::extract::{Field, Money};
    let plain = l.tabular
        && l.money == Money::Signed
        && l.amounts == Default::default()
        && matches!(l.delimiter, None | Some(b','))
        && matches!(l.header_row, None | Some(1))
        && matches!(l.format, None | Some(extract::Format::Csv))
        && l.sheet.is_none()
        && l.default_currency.is_none()
        && l.default_account.is_none();
    if !plain {
        return None;
    }
    let identity = l.column(Field::Id)?.shown.clone();
    let fields = [
        (
            Field::Account,
            "account",
            CsvKind::Text(TextStorage::Dictionary),
        ),
        (Field::ValueDate, "value_date", CsvKind::Date),
        (Field::BookingDate, "booking_date", CsvKind::Date),
        (Field::Amount, "amount", CsvKind::Decimal),
        (Field::Currency, "currency", CsvKind::Currency),
        // Nearly unique: plain (the engine builds the code space of a key when it runs).
        (
            Field::Reference,
            "reference",
            CsvKind::Text(TextStorage::Plain),
        ),
        (
            Field::Counterparty,
            "counterparty",
            CsvKind::Text(TextStorage::Dictionary),
        ),
        (
            Field::Remittance,
            "remittance",
            CsvKind::Text(TextStorage::Plain),
        ),
    ];
    let columns: Vec<CsvColumn> = fields
        .into_iter()
        .filter_map(|(f, name, kind)| l.column(f).map(|c| CsvColumn::new(&c.shown, name, kind)))
        .collect();
    l.column(Field::Amount)?;
    l.column(Field::Currency)?;
    l.column(Field::ValueDate)?;
    Some(CsvLayout { identity, columns })
}

/// The layout of the import job that loads `book`: how the ledger export is read.
fn ledger_layout_for(config: &Config, book: &str) -> anyhow::Result<Arc<Layout>> {
    jobs::ledger_layout(&config.jobs, book)
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

fn write_results(path: &Path, sides: &Sides, outcome: &engine::Outcome) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
    w.write_record(["ledger_id", "bank_reference", "match_pass"])?;
    // The ledger's id and the bank's reference as the user knows them (the identity on the
    // record path carries the account too).
    let ledger_id = |r: u32| -> String {
        match &sides.records {
            Some((l, _)) => l[r as usize].external_id.clone(),
            None => sides.ours.identity(r as usize).to_owned(),
        }
    };
    let bank_ref = |r: u32| -> String {
        match &sides.records {
            Some((_, s)) if s[r as usize].external_id.is_empty() => {
                format!("line {}", s[r as usize].source.row)
            }
            Some((_, s)) => s[r as usize].external_id.clone(),
            None => sides.theirs.identity(r as usize).to_owned(),
        }
    };
    for m in &outcome.matches {
        // Bank lines paired with each other (a payment and its return): no ledger item.
        if m.ours.is_empty() {
            for &s in m.theirs.iter() {
                w.write_record(["", csv_cell(&bank_ref(s)).as_ref(), &*m.pass])?;
            }
        }
        for &s in m.theirs.iter() {
            for &l in m.ours.iter() {
                w.write_record([
                    csv_cell(&ledger_id(l)).as_ref(),
                    csv_cell(&bank_ref(s)).as_ref(),
                    &*m.pass,
                ])?;
            }
        }
    }
    for u in &outcome.unmatched_ours {
        w.write_record([csv_cell(&ledger_id(u.row)).as_ref(), "", "ledger_only"])?;
    }
    for u in &outcome.unmatched_theirs {
        w.write_record(["", csv_cell(&bank_ref(u.row)).as_ref(), "statement_only"])?;
    }
    let mut inner = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    inner.flush()?;
    inner.get_ref().sync_all()?;
    Ok(())
}
