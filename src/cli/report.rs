//! The read commands: `clerk jobs`, `clerk status`, `clerk exceptions`. Each prints a table
//! for people or, with `--json`, one JSON document for scripts (shapes documented in README).

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::load_config;
use crate::config::Config;
use crate::ingest;
use crate::model::costs::{CostModel, Costs};
use crate::store::{self, JobActivity};

#[derive(Serialize)]
struct JobLine {
    name: String,
    kind: &'static str,
    description: Option<String>,
    folder: Option<String>,
    patterns: Vec<String>,
    schedule: Option<String>,
    timezone: Option<String>,
    next_run: Option<DateTime<Utc>>,
    mailbox: Option<String>,
}

pub fn jobs(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let now = Utc::now();
    let lines: Vec<JobLine> = config
        .jobs
        .iter()
        .map(|j| JobLine {
            name: j.name.clone(),
            kind: j.kind.name(),
            description: j.description.clone(),
            folder: j.watch.as_ref().map(|w| w.folder.display().to_string()),
            patterns: j
                .watch
                .as_ref()
                .map(|w| w.patterns.clone())
                .unwrap_or_default(),
            schedule: j.schedule.as_ref().map(|s| s.expression().to_string()),
            timezone: j.schedule.as_ref().map(|s| s.timezone().to_string()),
            next_run: j.schedule.as_ref().and_then(|s| s.next_after(now)),
            mailbox: j.mail.as_ref().map(|m| m.mailbox().to_string()),
        })
        .collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(ExitCode::SUCCESS);
    }
    let tz = config.settings.timezone;
    for l in &lines {
        outln!("{} ({})", l.name, l.kind);
        if let Some(d) = &l.description {
            outln!("    {d}");
        }
        if let Some(f) = &l.folder {
            outln!("    takes files {} from {f}", l.patterns.join(" "));
        }
        if let Some(m) = &l.mailbox {
            outln!("    takes attachments from mailbox {m}");
        }
        if let Some(s) = &l.schedule {
            let next = l
                .next_run
                .map(|t| {
                    t.with_timezone(&tz)
                        .format("%a %Y-%m-%d %H:%M %Z")
                        .to_string()
                })
                .unwrap_or_else(|| "never".into());
            outln!(
                "    runs at \"{s}\" ({}), next {next}",
                l.timezone.as_deref().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// KPIs of one job, derived from its activity.
#[derive(Serialize)]
struct JobKpis {
    #[serde(flatten)]
    activity: JobActivity,
    /// Of the records decided on, the share matched and posted with no human touch.
    stp_rate: Option<f64>,
    /// Of the records decided on, the share that became a break.
    error_rate: Option<f64>,
    avg_processing_ms: Option<u64>,
    /// From the `[costs]` model: machine and staff cost, and per transaction.
    costs: Option<Costs>,
}

impl JobKpis {
    fn from(activity: JobActivity, model: Option<&CostModel>) -> Self {
        JobKpis {
            stp_rate: crate::model::stp_rate(activity.matched, activity.breaks_opened),
            error_rate: crate::model::error_rate(activity.matched, activity.breaks_opened),
            avg_processing_ms: (activity.runs > 0).then(|| activity.processing_ms / activity.runs),
            costs: model.map(|m| m.costs(activity.workload())),
            activity,
        }
    }
}

/// What is in one watched folder now, as the folder itself shows it.
#[derive(Serialize)]
struct FolderLine {
    job: String,
    folder: String,
    /// Files the job takes, not taken yet (settling, or waiting for the worker).
    waiting: Vec<String>,
    /// Taken and not finished yet.
    processing: Vec<String>,
    /// Still being written under a temporary name (`*.part`, `~$*`): taken once renamed.
    temporary: Vec<String>,
    /// Files the job never takes as they are, each with why.
    ignored: Vec<IgnoredLine>,
    /// In `failed/<job>/`, each with its `.error.txt`.
    failed: Vec<String>,
    /// Why the folder could not be listed (a share gone).
    error: Option<String>,
}

#[derive(Serialize)]
struct IgnoredLine {
    name: String,
    why: String,
}

fn folder_lines(config: &Config) -> Vec<FolderLine> {
    config
        .jobs
        .iter()
        .filter_map(|j| j.watch.as_ref().map(|w| (j, w)))
        .map(|(job, w)| {
            let mut line = FolderLine {
                job: job.name.clone(),
                folder: w.folder.display().to_string(),
                waiting: Vec::new(),
                processing: ingest::in_processing(w).unwrap_or_default(),
                temporary: Vec::new(),
                ignored: Vec::new(),
                failed: ingest::failed_files(&config.settings.failed_dir, &job.name)
                    .unwrap_or_default(),
                error: None,
            };
            match ingest::list_folder(w) {
                Ok(listing) => {
                    line.waiting = listing
                        .candidates
                        .into_iter()
                        .map(|c| ingest::safe_name(&c.name))
                        .collect();
                    line.waiting.sort();
                    line.temporary = listing.temporary;
                    line.temporary.sort();
                    line.ignored = listing
                        .ignored
                        .iter()
                        .map(|i| IgnoredLine {
                            name: i.name.clone(),
                            why: i.why_text(w),
                        })
                        .collect();
                    line.ignored.sort_by(|a, b| a.name.cmp(&b.name));
                }
                Err(e) => line.error = Some(e.to_string()),
            }
            line
        })
        .collect()
}

/// Up to ten names, and how many more.
fn some_names(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn print_folders(folders: &[FolderLine]) -> std::io::Result<()> {
    outln!("folders:");
    for f in folders {
        if let Some(e) = &f.error {
            outln!("  {:<24} {}: cannot be listed: {e}", f.job, f.folder);
            continue;
        }
        outln!(
            "  {:<24} {}: {} waiting, {} in processing, {} ignored, {} failed",
            f.job,
            f.folder,
            f.waiting.len(),
            f.processing.len(),
            f.ignored.len(),
            f.failed.len()
        );
        let lists = [
            ("waiting", &f.waiting),
            ("in processing", &f.processing),
            ("being written", &f.temporary),
        ];
        for (what, names) in lists {
            if !names.is_empty() {
                outln!("      {what}: {}", some_names(names));
            }
        }
        for i in &f.ignored {
            outln!("      ignored: {} ({})", i.name, i.why);
        }
        if !f.failed.is_empty() {
            outln!(
                "      failed (see the .error.txt beside each): {}",
                some_names(&f.failed)
            );
        }
    }
    Ok(())
}

pub fn status(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut st = store::open_for_reading(&config.settings.store_path)?;
    let (totals, activity, runs) = store::in_read(st.as_mut(), |u| {
        Ok((
            u.totals()?,
            // Breaks open less than their job's grace period do not count (see
            // `store::BreakCounting`).
            u.activity_since(
                DateTime::<Utc>::UNIX_EPOCH,
                &crate::jobs::summary::break_counting(&config, Utc::now()),
            )?,
            u.recent_runs(10)?,
        ))
    })?;
    let jobs: Vec<JobKpis> = activity
        .into_iter()
        .map(|a| JobKpis::from(a, config.costs.as_ref()))
        .collect();
    if json {
        let mut doc = serde_json::to_value(&totals)?;
        doc["jobs"] = serde_json::to_value(&jobs)?;
        doc["recent_runs"] = serde_json::to_value(&runs)?;
        doc["folders"] = serde_json::to_value(folder_lines(&config))?;
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "files processed {}  failed {}  duplicates {}  records {} ({} open)  entries posted {}  open exceptions {}  mail queued {}",
        totals.files_processed,
        totals.files_failed,
        totals.files_duplicate,
        totals.records,
        totals.records_open,
        totals.entries_posted,
        totals.open_exceptions,
        totals.mail_queued
    );
    outln!();
    outln!(
        "{:<24} {:>6} {:>7} {:>9} {:>9} {:>7} {:>7} {:>10} {:>9} {:>9} {:>12} {:>14}",
        "job",
        "runs",
        "files",
        "records",
        "matched",
        "STP",
        "errors",
        "avg time",
        "reading",
        "matching",
        "to posting",
        "cost/txn"
    );
    let pct = |r: Option<f64>| {
        r.map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or("-".into())
    };
    for j in &jobs {
        let a = &j.activity;
        let ms = |v: Option<u64>| v.map(|ms| format!("{ms} ms")).unwrap_or("-".into());
        let share = |part: u64| {
            if a.processing_ms > 0 {
                format!("{:.0}%", part as f64 * 100.0 / a.processing_ms as f64)
            } else {
                "-".into()
            }
        };
        outln!(
            "{:<24} {:>6} {:>7} {:>9} {:>9} {:>7} {:>7} {:>10} {:>9} {:>9} {:>12} {:>14}",
            a.job,
            a.runs,
            a.files_processed,
            a.records,
            a.matched,
            pct(j.stp_rate),
            pct(j.error_rate),
            ms(j.avg_processing_ms),
            share(a.extract_ms),
            share(a.match_ms),
            ms(a.arrival_to_done_avg_ms),
            j.costs
                .as_ref()
                .map(Costs::per_transaction_text)
                .unwrap_or("-".into())
        );
        if !a.matched_by_pass.is_empty() {
            let passes: Vec<String> = a
                .matched_by_pass
                .iter()
                .map(|(pass, n)| format!("{pass} {n}"))
                .collect();
            outln!("{:<24} matched by pass: {}", "", passes.join(", "));
        }
        if a.records_changed > 0 {
            outln!(
                "{:<24} ledger rows changed: {} ({} replaced, {} after their match: see the exceptions)",
                "",
                a.records_changed,
                a.records_withdrawn,
                a.records_changed.saturating_sub(a.records_withdrawn)
            );
        }
    }
    outln!();
    let tz = config.settings.timezone;
    // Times in the daemon's zone, named, so nobody reads them as the server's UTC.
    outln!("latest runs ({tz}):");
    for r in &runs {
        outln!(
            "  #{:<6} {} {:<22} {:<9} {:<9} {}{}",
            r.id,
            r.started_at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
            r.job,
            r.trigger,
            r.status,
            r.file.as_deref().unwrap_or(""),
            r.error
                .as_deref()
                .map(|e| format!(" — {}", e.lines().next().unwrap_or("")))
                .unwrap_or_default()
        );
    }
    outln!();
    print_folders(&folder_lines(&config))?;
    Ok(ExitCode::SUCCESS)
}
