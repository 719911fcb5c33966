//! The `clerk` command as sysadmins and scripts use it.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::support::install::Install;

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Pairs (ledger_id, bank_reference) and break ids of a results.csv or truth.csv.
struct Pairs {
    pairs: HashSet<(String, String)>,
    ledger_only: HashSet<String>,
    statement_only: HashSet<String>,
}

fn read_pairs(path: &Path) -> Pairs {
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut p = Pairs {
        pairs: HashSet::new(),
        ledger_only: HashSet::new(),
        statement_only: HashSet::new(),
    };
    for row in r.records() {
        let row = row.unwrap();
        let (l, b) = (row[0].to_string(), row[1].to_string());
        match (l.is_empty(), b.is_empty()) {
            (false, false) => {
                p.pairs.insert((l, b));
            }
            (false, true) => {
                p.ledger_only.insert(l);
            }
            (true, false) => {
                p.statement_only.insert(b);
            }
            _ => panic!("empty row in {}", path.display()),
        }
    }
    p
}

#[test]
fn reconcile_dry_run_on_generator_data_finds_every_pair_and_posts_nothing() {
    let i = Install::new();
    let out = i.path("results.csv");
    let o = i.clerk(&[
        "reconcile",
        "bank-reconciliation",
        "--ledger",
        fixture("gen_cash/ledger.csv").to_str().unwrap(),
        "--statement",
        fixture("gen_cash/statement.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["postings_refused"], 0);

    let header = fs::read_to_string(&out).unwrap();
    assert_eq!(
        header.lines().next(),
        Some("ledger_id,bank_reference,match_pass")
    );
    let got = read_pairs(&out);
    let truth = read_pairs(&fixture("gen_cash/truth.csv"));
    let correct = got.pairs.intersection(&truth.pairs).count();
    assert_eq!(correct, truth.pairs.len(), "recall must be 1.0");
    assert_eq!(got.pairs.len(), truth.pairs.len(), "precision must be 1.0");
    assert_eq!(got.ledger_only, truth.ledger_only);
    assert_eq!(got.statement_only, truth.statement_only);

    // A dry run posts nothing and takes no files.
    assert_eq!(i.status()["entries_posted"], 0);
    assert_eq!(i.status()["files_processed"], 0);
}

#[test]
fn check_passes_on_the_shipped_jobs() {
    let i = Install::new();
    let o = i.clerk(&["check"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("daily-summary"), "{text}");
    assert!(text.contains("next run"), "{text}");
}

#[test]
fn check_names_file_line_and_key_of_every_problem() {
    let i = Install::new();
    let cfg = fs::read_to_string(i.config())
        .unwrap()
        .replace("Europe/Berlin", "Europe/Berln");
    fs::write(i.config(), cfg).unwrap();
    let job = fs::read_to_string(i.path("jobs/daily-summary.toml"))
        .unwrap()
        .replace("0 7 * * 1-5", "0 7 * * 1-8");
    fs::write(i.path("jobs/daily-summary.toml"), job).unwrap();
    let bank = fs::read_to_string(i.path("jobs/bank-reconciliation.toml"))
        .unwrap()
        .replace("amount = \"-ledger\"", "amount = \"-ledgr\"");
    fs::write(i.path("jobs/bank-reconciliation.toml"), bank).unwrap();

    let o = i.clerk(&["check"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    let line_of = |file: &str, needle: &str| {
        fs::read_to_string(i.path(file))
            .unwrap()
            .lines()
            .position(|l| l.contains(needle))
            .unwrap()
            + 1
    };
    let tz_line = line_of("config/clerk.toml", "Europe/Berln");
    assert!(
        text.contains(&format!(
            "clerk.toml:{tz_line}: key `daemon.timezone`: unknown time zone"
        )),
        "{text}"
    );
    let cron_line = line_of("jobs/daily-summary.toml", "1-8");
    assert!(
        text.contains(&format!(
            "daily-summary.toml:{cron_line}: key `schedule.cron`"
        )),
        "{text}"
    );
    assert!(text.contains("day of week 8"), "{text}");
    assert!(
        text.contains("bank-reconciliation.toml") && text.contains("posting.lines[1].amount"),
        "{text}"
    );

    // JSON for scripts says the same.
    let o = i.clerk(&["check", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["config_problems"].as_array().unwrap().len(), 3);
}

#[test]
fn check_refuses_unknown_keys_with_their_line() {
    let i = Install::new();
    let job = fs::read_to_string(i.path("jobs/ledger-import.toml"))
        .unwrap()
        .replace("[watch]", "[watch]\nfolders = \"typo\"");
    fs::write(i.path("jobs/ledger-import.toml"), job).unwrap();
    let o = i.clerk(&["check"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("ledger-import.toml:"), "{text}");
    assert!(text.contains("folders"), "{text}");
}

#[test]
fn jobs_lists_triggers_and_the_next_run_in_local_time() {
    let i = Install::new();
    let v = i.json(&["jobs"]);
    let jobs = v.as_array().unwrap();
    assert_eq!(jobs.len(), 7, "the shipped jobs");
    let summary = jobs.iter().find(|j| j["name"] == "daily-summary").unwrap();
    assert_eq!(summary["schedule"], "0 7 * * 1-5");
    assert_eq!(summary["timezone"], "Europe/Berlin");
    let next: chrono::DateTime<chrono::Utc> =
        summary["next_run"].as_str().unwrap().parse().unwrap();
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%H:%M").to_string(), "07:00");
    use chrono::Datelike;
    assert!(local.weekday().num_days_from_monday() < 5);
    let bank = jobs
        .iter()
        .find(|j| j["name"] == "bank-reconciliation")
        .unwrap();
    assert!(bank["folder"].as_str().unwrap().ends_with("var/inbox/bank"));
}

#[test]
fn output_piped_into_a_pager_that_quits_early_is_not_an_error() {
    let i = Install::new();
    // Enough open breaks to fill the pipe.
    let o = i.clerk(&[
        "job",
        "run",
        "bank-reconciliation",
        fixture("gen_cash/statement.csv").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clerk"))
        .arg("--config")
        .arg(i.config())
        .arg("exceptions")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then hang up, as `head -1` does.
    {
        use std::io::BufRead;
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("reason"), "{first}");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
