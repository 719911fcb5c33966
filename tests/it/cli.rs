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
fn a_pending_camt_line_is_shown_with_its_status_but_not_reconciled() {
    let i = Install::new();
    let report = fixture("documents/camt052-pending.xml");
    // clerk extract shows both lines, each with its status. Read for the job, the pending
    // line's booking time (23:30 UTC on 2 March) falls on 3 March, the daemon's Berlin day;
    // it has no value date of its own.
    let v = i.json(&[
        "extract",
        report.to_str().unwrap(),
        "--job",
        "bank-reconciliation",
    ]);
    let entries = &v["statements"][0]["entries"];
    assert_eq!(entries[0]["status"], "booked", "{v}");
    assert_eq!(entries[1]["status"], "pending", "{v}");
    assert_eq!(entries[1]["booking_date"], "2026-03-03", "{v}");
    assert_eq!(entries[1]["value_date_derived"], true, "{v}");
    assert_eq!(entries[0]["value_date_derived"], false, "{v}");
    assert_eq!(
        v["statements"][0]["balance_difference"],
        serde_json::Value::Null
    );

    // The dry run matches the booked line; the pending one is no bank line yet, so the item
    // it quotes stays open and the line is not reported as missing in the ledger.
    let ledger = i.path("ledger.csv");
    fs::write(&ledger, crate::daemon::LEDGER).unwrap();
    let out = i.path("results.csv");
    let o = i.clerk(&[
        "reconcile",
        "bank-reconciliation",
        "--ledger",
        ledger.to_str().unwrap(),
        "--statement",
        report.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = read_pairs(&out);
    assert_eq!(
        got.pairs,
        HashSet::from([("1".to_string(), "BANK-P1".to_string())])
    );
    assert!(got.statement_only.is_empty(), "{:?}", got.statement_only);
    assert!(got.ledger_only.contains("2"), "{:?}", got.ledger_only);
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

/// The shipped `config/clerk.toml` as it is, with its chart of accounts: every shipped job
/// loads against it, and the posting ones say which chart they post to.
#[test]
fn check_passes_on_the_shipped_config_and_its_chart_of_accounts() {
    let i = Install::shipped();
    let o = i.clerk(&["check"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("configuration: ok"),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for job in ["bank-reconciliation", "accounts-payable"] {
        assert!(
            text.lines().any(|l| l.contains(job)
                && l.contains("posts to the chart of accounts")
                && l.contains("skr03.csv")),
            "{text}"
        );
    }
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
        .replacen(
            "Leistungen\", amount = \"-item\"",
            "Leistungen\", amount = \"-itme\"",
            1,
        );
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
        text.contains("bank-reconciliation.toml")
            && text.contains("posting.receipt.lines[1].amount"),
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
    let shipped = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(jobs.len(), shipped);
    assert!(shipped >= 8, "the shipped jobs: {jobs:?}");
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

/// An install whose bank job has read the sample statement with no ledger: every line of it
/// is an open break.
fn with_bank_lines_open() -> Install {
    let i = Install::new();
    let o = i.clerk(&[
        "job",
        "run",
        "bank-reconciliation",
        fixture("gen_cash/statement.csv").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    i
}

#[test]
fn output_piped_into_a_pager_that_quits_early_is_not_an_error() {
    // Enough open breaks to fill the pipe.
    let i = with_bank_lines_open();
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

#[test]
fn reconcile_compare_shows_what_a_changed_job_file_would_change() {
    let i = Install::new();
    // The same job with no room for value dates to differ: the amount_date and batch passes
    // lose what they found on days apart.
    let changed = fs::read_to_string(i.path("jobs/bank-reconciliation.toml"))
        .unwrap()
        .replace("window_business_days = 2 }", "window_business_days = 0 }");
    let changed_path = i.path("bank-window-0.toml");
    fs::write(&changed_path, changed).unwrap();
    let o = i.clerk(&[
        "reconcile",
        "bank-reconciliation",
        "--ledger",
        fixture("gen_cash/ledger.csv").to_str().unwrap(),
        "--statement",
        fixture("gen_cash/statement.csv").to_str().unwrap(),
        "--compare",
        changed_path.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lost = r["lost_matches"].as_array().unwrap();
    assert!(!lost.is_empty(), "{r}");
    assert!(lost.iter().all(|m| m[2] == "amount_date"), "{r}");
    assert_eq!(r["new_matches"].as_array().unwrap().len(), 0, "{r}");
    assert!(
        r["stp_rate_after"].as_f64() < r["stp_rate_before"].as_f64(),
        "{r}"
    );
    // Every item the change leaves open is one it matched before, now out of the window.
    let new_breaks = r["new_breaks"].as_array().unwrap();
    assert_eq!(new_breaks.len(), 2 * lost.len(), "{r}");
    assert!(
        new_breaks.iter().all(|b| b[2] == "date_outside_window"),
        "{r}"
    );
}

#[test]
fn explain_says_which_pass_matched_a_record_and_why_another_is_open() {
    use crate::daemon::{LEDGER, STATEMENT};
    let i = Install::new();
    let (l, s) = (i.path("ledger.csv"), i.path("statement.csv"));
    fs::write(&l, LEDGER).unwrap();
    fs::write(&s, STATEMENT).unwrap();
    for (job, f) in [("ledger-import", &l), ("bank-reconciliation", &s)] {
        let o = i.clerk(&["job", "run", job, f.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let id_of = |side: &str, amount: &str| -> i64 {
        i.db()
            .query_row(
                "SELECT id FROM records WHERE side = ?1 AND amount = ?2",
                [side, amount],
                |r| r.get(0),
            )
            .unwrap()
    };
    // GAMMA AG's two items, paid together by one line.
    let gamma = id_of("ledger", "10.00");
    let why = i.json(&["explain", "record", &gamma.to_string()]);
    let m = &why["matched"];
    assert_eq!(m["why"]["pass"], "batch", "{why}");
    assert_eq!(m["why"]["grouping"], "many_to_one", "{why}");
    assert_eq!(m["why"]["amount"]["difference"], "0.00", "{why}");
    assert_eq!(m["record_ids"].as_array().unwrap().len(), 3, "{why}");
    let text = i.clerk(&["explain", "match", &m["id"].to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("pass batch (many_to_one)"), "{text}");

    // The reference pass explains the key it found in the remittance text.
    let acme = id_of("ledger", "100.00");
    let why = i.json(&["explain", "record", &acme.to_string()]);
    let key = &why["matched"]["why"]["keys"][0];
    assert_eq!(key["method"], "pattern", "{why}");
    assert_eq!(key["agreed_on"][0], "INV-000000001", "{why}");

    // The bank fee has no counterpart: it is open, and says so.
    let fee = id_of("statement", "12.34");
    let why = i.json(&["explain", "record", &fee.to_string()]);
    assert!(why["matched"].is_null(), "{why}");
    assert_eq!(why["breaks"][0]["reason"], "missing_in_ledger", "{why}");

    // Stored with the match: the rule and score columns read out of the explanation.
    let (rule, score): (String, f64) = i
        .db()
        .query_row(
            "SELECT rule, score FROM matches WHERE id = ?1",
            [m["id"].as_i64().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rule.as_str(), score), ("batch", 1.0));
}

#[test]
fn the_exception_list_keeps_its_columns_in_line() {
    let i = with_bank_lines_open();
    let o = i.clerk(&["exceptions"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let detail = header.find("detail").unwrap();
    let owner = header.find("owner").unwrap();
    let mut rows = 0;
    for row in lines {
        // Every row's owner and detail start under their headers, whatever their lengths.
        assert_eq!(row.find("cash-ops@"), Some(owner), "{header}\n{row}");
        assert_eq!(row.find("bank line"), Some(detail), "{header}\n{row}");
        rows += 1;
    }
    assert!(rows > 10, "{text}");
}
