//! `clerk check`: is the configuration right, and does everything it names work?

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::runtime;
use crate::config::{self, Config, Job, Settings};
use crate::daemon::lock;
use crate::fsx;
use crate::notify::{Delivery, Mailer};
use crate::store::{self, CheckDepth, StoreError};

#[derive(Serialize)]
struct Check {
    check: &'static str,
    target: String,
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct ConfigProblem {
    file: String,
    line: Option<usize>,
    key: Option<String>,
    message: String,
}

pub fn check(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = match config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            if json {
                let problems: Vec<ConfigProblem> = errors
                    .0
                    .iter()
                    .map(|e| ConfigProblem {
                        file: e.file.display().to_string(),
                        line: e.line,
                        key: e.key.clone(),
                        message: e.message.clone(),
                    })
                    .collect();
                outln!(
                    "{}",
                    serde_json::json!({ "ok": false, "config_problems": problems, "checks": [] })
                );
            } else {
                outln!("configuration: {} problem(s)", errors.0.len());
                for e in &errors.0 {
                    outln!("  {e}");
                }
            }
            return Ok(ExitCode::from(1));
        }
    };
    let checks = health_checks(&config)?;
    let ok = checks.iter().all(|c| c.ok);
    if json {
        outln!(
            "{}",
            serde_json::json!({ "ok": ok, "config_problems": [], "checks": checks })
        );
    } else {
        outln!(
            "configuration: ok ({}, {} job(s))",
            config.file.display(),
            config.jobs.len()
        );
        for c in &checks {
            outln!(
                "{:<5} {:<8} {}: {}",
                if c.ok { "ok" } else { "FAIL" },
                c.check,
                c.target,
                c.detail
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Everything `clerk check` looks at, in the order it prints them: the jobs, the folders the
/// daemon writes, the store, the lock, the secrets, mail delivery and the mailboxes.
fn health_checks(config: &Config) -> anyhow::Result<Vec<Check>> {
    let mut checks = Vec::new();
    checks.extend(config.jobs.iter().map(job_check));
    checks.extend(config.exports.iter().map(export_check));
    checks.extend(folder_checks(config));
    checks.push(store_check(&config.settings));
    checks.push(lock_check(&config.settings));
    if let Some(c) = console_check(config) {
        checks.push(c);
    }
    // Read commands never read a secret; the daemon reads them all at start. So here.
    for (key, secret) in config.secrets() {
        let (ok, detail) = match secret.read() {
            Ok(_) => (true, format!("readable ({})", secret.describe())),
            Err(e) => (false, e),
        };
        checks.push(Check {
            check: "secret",
            target: key,
            ok,
            detail,
        });
    }
    checks.push(mail_check(config)?);
    for (name, mb) in &config.mailboxes {
        let rt = runtime()?;
        let (ok, detail) = match rt.block_on(crate::ingest::mail::health_check(mb)) {
            Ok(d) => (true, d),
            Err(e) => (false, e.to_string()),
        };
        checks.push(Check {
            check: "mailbox",
            target: format!("{name}: {}", mb.describe()),
            ok,
            detail,
        });
    }
    Ok(checks)
}

/// A job is always fine; its kind and next scheduled run are told, and a schedule that
/// never fires is warned about.
fn job_check(job: &Job) -> Check {
    let mut detail = job.kind.name().to_string();
    if let Some(s) = &job.schedule {
        match s.next_after(chrono::Utc::now()) {
            Some(t) => detail.push_str(&format!(
                ", next run {}",
                t.with_timezone(&s.timezone()).format("%Y-%m-%d %H:%M %Z")
            )),
            None => detail.push_str(", WARNING: the schedule never fires"),
        }
    }
    let chart = match &job.kind {
        crate::config::JobKind::CashReconciliation { posting, .. } => posting.chart(),
        crate::config::JobKind::AccountsPayable { accounts, .. } => accounts.chart.as_deref(),
        _ => None,
    };
    if let Some(c) = chart {
        detail.push_str(&format!(
            ", posts to the chart of accounts {} ({} accounts)",
            c.file,
            c.len()
        ));
    }
    Check {
        check: "job",
        target: job.name.clone(),
        ok: true,
        detail,
    }
}

/// An export target as configured: its format, folder and when it runs (its folder is
/// checked with the others).
fn export_check(target: &crate::config::ExportTarget) -> Check {
    let mut detail = format!(
        "{} into {}, {}",
        target.format,
        target.folder.display(),
        target.when()
    );
    if !target.accounts.map.is_empty() {
        detail.push_str(&format!(
            ", {} account(s) mapped",
            target.accounts.map.len()
        ));
    }
    Check {
        check: "export",
        target: target.name.clone(),
        ok: true,
        detail,
    }
}

/// Every folder the daemon writes to (state, archive, failed, outbox, each job's inbox),
/// created if missing and written to once.
fn folder_checks(config: &Config) -> Vec<Check> {
    let s = &config.settings;
    let mut folders: Vec<(String, &Path, u32)> = vec![
        ("state".into(), s.state_dir.as_path(), fsx::DIR_MODE),
        ("archive".into(), s.archive_dir.as_path(), fsx::DIR_MODE),
        ("failed".into(), s.failed_dir.as_path(), fsx::DIR_MODE),
    ];
    if let Delivery::Outbox(dir) = &config.mail.delivery {
        folders.push(("outbox".into(), dir.as_path(), fsx::DIR_MODE));
    }
    for job in &config.jobs {
        if let Some(w) = &job.watch {
            folders.push((
                format!("inbox of {}", job.name),
                w.folder.as_path(),
                fsx::DROP_DIR_MODE,
            ));
        }
    }
    for target in &config.exports {
        folders.push((
            format!("export folder of {}", target.name),
            target.folder.as_path(),
            fsx::DIR_MODE,
        ));
    }
    folders
        .into_iter()
        .map(|(what, dir, mode)| {
            let (ok, detail) = match writable(dir, mode) {
                Ok(()) => (true, format!("{what}: writable")),
                Err(e) => (false, format!("{what}: {e}")),
            };
            Check {
                check: "folder",
                target: dir.display().to_string(),
                ok,
                detail,
            }
        })
        .collect()
}

/// Every page and index is read (`integrity_check`): a damaged store is refused here, not
/// found out by a failing summary.
fn store_check(s: &Settings) -> Check {
    let (ok, detail) = match store::open(&s.store_path).and_then(|mut st| {
        let found = st.damage(CheckDepth::Thorough)?;
        let totals = if found.is_empty() {
            Some(store::in_unit(st.as_mut(), |u| u.totals())?)
        } else {
            None
        };
        Ok((st, found, totals))
    }) {
        Ok((st, _, Some(t))) => (
            true,
            format!(
                "{}: sound (integrity check), opens and accepts writes ({} records, {} open \
                 exceptions)",
                st.describe(),
                t.records,
                t.open_exceptions
            ),
        ),
        Ok((st, found, None)) => (
            false,
            format!(
                "{}: DAMAGED. {} SQLite's integrity check found: {}",
                st.describe(),
                crate::daemon::RESTORE_ADVICE,
                found.join("; ")
            ),
        ),
        Err(StoreError::Corrupt(why)) => (
            false,
            format!("DAMAGED: {why}. {}", crate::daemon::RESTORE_ADVICE),
        ),
        Err(e) => (false, e.to_string()),
    };
    Check {
        check: "store",
        target: s.store_path.display().to_string(),
        ok,
        detail,
    }
}

/// The console, when `[http] listen` is set: where it is, whether its certificate loads, who
/// can log in. No users is said, not failed: the daemon works without anyone logged in.
fn console_check(config: &Config) -> Option<Check> {
    let http = &config.http;
    let addr = http.listen?;
    let mut problems = Vec::new();
    if let Some(tls) = &http.tls {
        for (what, path) in [("certificate", &tls.cert), ("key", &tls.key)] {
            if let Err(e) = std::fs::metadata(path).and_then(|_| std::fs::File::open(path)) {
                problems.push(format!(
                    "the TLS {what} {} cannot be read: {e}",
                    path.display()
                ));
            }
        }
    }
    if let Some(token) = &http.metrics_token_file
        && let Err(e) = std::fs::read_to_string(token)
    {
        problems.push(format!(
            "the metrics token file {} cannot be read: {e}",
            token.display()
        ));
    }
    let users = store::open_for_reading(&config.settings.store_path)
        .and_then(|mut st| store::in_read(st.as_mut(), |u| u.users()));
    let who = match users {
        Ok(users) => {
            let active: Vec<_> = users.iter().filter(|u| !u.disabled).collect();
            if active.is_empty() {
                "no users yet: nobody can log in (clerk user add NAME --role admin)".to_string()
            } else {
                format!("{} user(s) can log in", active.len())
            }
        }
        Err(e) => format!("users not read: {e}"),
    };
    let scheme = if http.tls.is_some() { "https" } else { "http" };
    let limit = match &http.approval.above {
        Some(above) => format!("four eyes above {above}"),
        None => "no four-eyes limit".to_string(),
    };
    Some(Check {
        check: "console",
        target: format!("{scheme}://{addr}/"),
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{who}; {limit}")
        } else {
            problems.join("; ")
        },
    })
}

/// Informational: a daemon at work is not a problem for any check here.
fn lock_check(s: &Settings) -> Check {
    let (ok, detail) = match lock::holder(s) {
        Ok(Some(holder)) => (true, format!("held by {holder}")),
        Ok(None) => (
            true,
            "free: no clerk daemon runs on this install".to_owned(),
        ),
        Err(e) => (false, e.to_string()),
    };
    Check {
        check: "lock",
        target: s.state_dir.join(lock::LOCK_FILE).display().to_string(),
        ok,
        detail,
    }
}

/// Mail delivery is reachable (the SMTP server answers, or the outbox can be written).
fn mail_check(config: &Config) -> anyhow::Result<Check> {
    let mailer = Mailer::new(config.mail.delivery.clone());
    let (target, ok, detail) = match mailer {
        Ok(m) => {
            let rt = runtime()?;
            match rt.block_on(m.health_check()) {
                Ok(()) => (m.describe(), true, "reachable".to_string()),
                Err(e) => (m.describe(), false, e.to_string()),
            }
        }
        Err(e) => ("mail".to_string(), false, e.to_string()),
    };
    Ok(Check {
        check: "mail",
        target,
        ok,
        detail,
    })
}

/// Creates the folder if missing (as the daemon would) and proves a file can be written and
/// removed in it.
fn writable(dir: &Path, mode: u32) -> std::io::Result<()> {
    fsx::create_dir_all_with(dir, mode)?;
    let probe = dir.join(format!(".clerk-check-{}", std::process::id()));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}
