//! The README says what clerk does: its "Try it" gives the numbers its JSON example shows, and
//! what it quotes (alerts, commands, what `tests/run` installs) is what clerk and the scripts do.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::install::{Install, wait_until};

fn readme() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The first number after `"key": ` in `text`.
fn number_after(text: &str, key: &str) -> f64 {
    let at = text
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("README's status example has no {key}"));
    let rest = &text[at + key.len() + 4..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

#[test]
fn try_it_gives_the_numbers_the_readme_shows() {
    let readme = readme();
    let start = readme
        .find("`clerk status --json` prints one object")
        .unwrap();
    let example = &readme[start..start + readme[start..].find("```\n\n").unwrap()];

    let i = Install::new();
    let d = i.start_daemon();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gen_cash");
    i.drop_file(
        "var/inbox/ledger",
        "ledger.csv",
        &fs::read(fixtures.join("ledger.csv")).unwrap(),
    );
    i.drop_file(
        "var/inbox/bank",
        "statement.csv",
        &fs::read(fixtures.join("statement.csv")).unwrap(),
    );
    let mut status = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(60), || {
            status = i.status();
            status["files_processed"] == 2
                && status["open_exceptions"].as_f64()
                    == Some(number_after(example, "open_exceptions"))
        }),
        "{status:#}"
    );
    d.stop();
    for key in [
        "files_processed",
        "records",
        "records_open",
        "entries_posted",
        "open_exceptions",
    ] {
        assert_eq!(
            status[key].as_f64(),
            Some(number_after(example, key)),
            "README's {key} is not what Try it gives"
        );
    }
    let jobs = status["jobs"].as_array().unwrap();
    let bank = jobs
        .iter()
        .find(|j| j["job"] == "bank-reconciliation")
        .unwrap();
    let job_example = &example[example.find("\"jobs\"").unwrap()..];
    for key in [
        "runs",
        "files_processed",
        "records",
        "matched",
        "entries_posted",
        "breaks_opened",
    ] {
        assert_eq!(
            bank[key].as_f64(),
            Some(number_after(job_example, key)),
            "README's bank-reconciliation {key} is not what Try it gives"
        );
    }
    let stp = bank["stp_rate"].as_f64().unwrap();
    assert!(
        (stp - number_after(job_example, "stp_rate")).abs() < 0.00005,
        "{stp}"
    );
}

#[test]
fn the_readme_quotes_what_clerk_and_its_scripts_do() {
    let readme = readme();
    // The alert subject as rendered.
    let alert = clerk::notify::render_alert(
        "bank-reconciliation",
        Some(12),
        "statement.csv line 3: amount \"x\" is not a number",
        chrono::DateTime::parse_from_rfc3339("2026-12-07T06:03:00Z")
            .unwrap()
            .into(),
        chrono_tz::Europe::Berlin,
    );
    assert_eq!(
        alert.subject,
        "clerk ALERT: job bank-reconciliation failed (run 12) — 2026-12-07 07:03 CET"
    );
    assert!(readme.contains("`clerk ALERT: job <job> failed (run <n>) — <local time>`"));

    // What tests/run installs, the README names.
    let run = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run")).unwrap();
    for package in ["python3-aiosmtpd", "openssl", "dovecot-imapd"] {
        assert!(
            run.contains(package),
            "tests/run no longer installs {package}"
        );
        assert!(
            readme.contains(package),
            "README does not say tests/run installs {package}"
        );
    }

    // The options the commands require, the README shows.
    let i = Install::new();
    for (action, option) in [("resolve", "--reason"), ("match", "--reason")] {
        let out = i.clerk(&["exception", action, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(option), "{help}");
        assert!(
            readme.contains(&format!("`clerk exception {action} ID")) && readme.contains(option),
            "README's command table lacks {action} {option}"
        );
    }
    // The settle time "Try it" waits for is the shipped one.
    let shipped =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/clerk.toml"))
            .unwrap();
    let settle = shipped
        .lines()
        .find_map(|l| l.strip_prefix("settle_time = \""))
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert!(
        readme.contains(&format!(
            "(`settle_time = \"{settle}\"` in the shipped config"
        )),
        "README's Try it does not state the shipped settle time {settle}"
    );
}
