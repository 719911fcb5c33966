//! Running clerk as operators do: configuration values out of range, read commands that need
//! no secret, and the modes of what clerk writes whatever the umask.

use std::fs;

use crate::support::install::Install;

/// Replaces one line of the install's `clerk.toml` (found by its start) with `line`.
fn set_config_line(i: &Install, starts_with: &str, line: &str) {
    let text = fs::read_to_string(i.config()).unwrap();
    let mut found = false;
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with(starts_with) {
                found = true;
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "no line starting {starts_with:?} in the config");
    fs::write(i.config(), edited.join("\n") + "\n").unwrap();
}

/// The line (1-based) of the config that starts with `prefix`.
fn line_of(i: &Install, prefix: &str) -> usize {
    fs::read_to_string(i.config())
        .unwrap()
        .lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .expect("line in config")
        + 1
}

#[test]
fn check_refuses_numbers_out_of_range_naming_file_line_and_key_and_nothing_panics() {
    let i = Install::new();
    set_config_line(
        &i,
        "rescan_interval",
        "rescan_interval = \"18446744073709551615s1s\"",
    );
    set_config_line(
        &i,
        "drain_timeout",
        "drain_timeout = \"18446744073709551615s\"",
    );
    fs::write(
        i.config(),
        fs::read_to_string(i.config()).unwrap().replace(
            "[daemon]\n",
            "[daemon]\nmax_file_size_mb = 17592186044416\n",
        ),
    )
    .unwrap();
    let config = i.config().display().to_string();
    let out = i.clerk(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for (key, prefix, says) in [
        ("daemon.rescan_interval", "rescan_interval", "is too long"),
        ("daemon.drain_timeout", "drain_timeout", "expected 0s to 1h"),
        (
            "daemon.max_file_size_mb",
            "max_file_size_mb",
            "expected 1 to 16384 (MB), found 17592186044416",
        ),
    ] {
        let want = format!("{config}:{}: key `{key}`: ", line_of(&i, prefix));
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&want) && l.contains(says)),
            "no line with {want:?} and {says:?}:\n{stdout}"
        );
    }

    // The same through --json, for scripts.
    let out = i.clerk(&["check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = v["config_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3, "{v}");
    assert!(
        problems
            .iter()
            .all(|p| p["key"].is_string() && p["line"].is_u64() && p["file"] == config.as_str())
    );

    // The daemon refuses the same configuration at once instead of panicking on SIGTERM.
    let out = i.clerk(&["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("daemon.drain_timeout") && !stderr.contains("panicked"));
}

#[test]
fn a_type_error_names_the_key_and_says_what_is_expected_in_words() {
    let i = Install::new();
    set_config_line(
        &i,
        "drain_timeout",
        "drain_timeout = \"10s\"\nmax_file_size_mb = -1",
    );
    let out = i.clerk(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "{}:{}: key `daemon.max_file_size_mb`: expected 1 to 16384 (MB), found -1",
        i.config().display(),
        line_of(&i, "max_file_size_mb")
    );
    assert!(stdout.contains(&want), "{stdout}");

    // A string where a number belongs is a type error from the TOML reader: it names the key
    // too, and no Rust type.
    set_config_line(&i, "max_file_size_mb", "max_file_size_mb = \"2048\"");
    let out = i.clerk(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "{}:{}: key `daemon.max_file_size_mb`: ",
        i.config().display(),
        line_of(&i, "max_file_size_mb")
    );
    assert!(stdout.contains(&want), "{stdout}");
    assert!(stdout.contains("expected a whole number"), "{stdout}");
    assert!(!stdout.contains("i64"), "{stdout}");

    // In a job file: the file, its line and the key.
    set_config_line(&i, "max_file_size_mb", "max_file_size_mb = 2048");
    let job = i.path("jobs/daily-summary.toml");
    let text = fs::read_to_string(&job).unwrap();
    assert!(text.contains("\noldest = 10"), "{text}");
    fs::write(&job, text.replace("\noldest = 10", "\noldest = 100000")).unwrap();
    let out = i.clerk(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = fs::read_to_string(&job)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("oldest"))
        .unwrap()
        + 1;
    let want = format!(
        "{}:{line}: key `summary.oldest`: expected 0 to 1000 (breaks), found 100000",
        job.display()
    );
    assert!(stdout.contains(&want), "{stdout}");
}

/// SMTP and IMAP passwords clerk cannot read: a file that is not there, and a folder where the
/// file should be (as root, a file's permissions would not stop the read).
const UNREADABLE_SECRETS: &str = r#"
[mail.smtp]
host = "127.0.0.1"
port = 2525
security = "none"
username = "clerk"
password_file = "config/no-such-smtp-password"

[mailboxes.custodians]
kind = "imap"
host = "imap.example.com"
username = "statements@example.com"
password_file = "config"
"#;

#[test]
fn read_commands_work_without_the_passwords_and_check_and_run_report_them() {
    let i = Install::with_config(UNREADABLE_SECRETS);
    for args in [
        &["status"][..],
        &["exceptions"],
        &["jobs"],
        &["status", "--json"],
        &["exceptions", "--json"],
    ] {
        let out = i.clerk(args);
        assert!(
            out.status.success(),
            "clerk {args:?} needed a secret: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = i.clerk(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let smtp = i.path("config/no-such-smtp-password");
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL")
            && l.contains("mail.smtp.password_file")
            && l.contains(&format!("cannot read {}", smtp.display()))),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL")
            && l.contains("mailboxes.custodians.password_file")
            && l.contains("cannot read")),
        "{stdout}"
    );

    // The daemon needs them: it refuses to start, naming file, line and key.
    let out = i.clerk(&["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = fs::read_to_string(i.config())
        .unwrap()
        .lines()
        .position(|l| l.starts_with("password_file = \"config/no-such"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!(
            "{}:{line}: key `mail.smtp.password_file`: cannot read",
            i.config().display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("mailboxes.custodians.password_file"),
        "{stderr}"
    );
}
