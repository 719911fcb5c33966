//! Running clerk as operators do: configuration values out of range, read commands that need
//! no secret, and the modes of what clerk writes whatever the umask.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::daemon::LEDGER;
use crate::support::install::{Install, wait_until};

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

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Files directly in `dir` whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

/// A ledger export with an amount clerk cannot read: it fails, with a note and an alert.
fn bad_ledger() -> String {
    LEDGER.replace("250.50", "25O.50")
}

/// Asserts the modes clerk means on what it made for a failed ledger file and its alert.
fn assert_modes_of_a_failure(i: &Install) {
    let failed = i.path("var/failed/ledger-import");
    let notes = files_ending(&failed, ".error.txt");
    assert_eq!(notes.len(), 1, "{:?}", i.files_under("var/failed"));
    let mails = files_ending(&i.path("var/outbox"), ".eml");
    assert!(!mails.is_empty(), "{:?}", i.files_under("var"));
    let mut want: Vec<(std::path::PathBuf, u32)> = vec![
        (i.path("var"), 0o750),
        (i.path("var/archive"), 0o750),
        (i.path("var/failed"), 0o750),
        (failed.clone(), 0o750),
        (i.path("var/outbox"), 0o750),
        (i.path("var/clerk.db"), 0o640),
        (i.path("var/inbox"), 0o750),
        // A folder to drop files into: the group writes, files take its group.
        (i.path("var/inbox/ledger"), 0o2770),
        // Inside it, clerk's own folder, with the group carried down.
        (i.path("var/inbox/ledger/.clerk-processing"), 0o2750),
        (notes[0].clone(), 0o640),
    ];
    want.extend(mails.into_iter().map(|m| (m, 0o640)));
    let wrong: Vec<String> = want
        .iter()
        .filter(|(p, m)| mode(p) != *m)
        .map(|(p, m)| format!("{}: {:o}, want {m:o}", p.display(), mode(p)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_daemon_under_umask_022_writes_folders_0750_and_files_0640() {
    let i = Install::new();
    let d = i.start_daemon_under_umask("022");
    i.drop_file("var/inbox/ledger", "bad.csv", bad_ledger().as_bytes());
    let done = wait_until(Duration::from_secs(60), || {
        !files_ending(&i.path("var/failed/ledger-import"), ".error.txt").is_empty()
            && !files_ending(&i.path("var/outbox"), ".eml").is_empty()
    });
    assert!(done, "{}", d.log());
    assert!(d.stop().success());
    assert_modes_of_a_failure(&i);
    // The journal of sent mail, and the store's WAL files, which stay for readers.
    for f in [
        "var/mail-sent.journal",
        "var/clerk.db-wal",
        "var/clerk.db-shm",
        "var/clerk.lock",
    ] {
        assert_eq!(mode(&i.path(f)), 0o640, "{f}");
    }
}

#[test]
fn job_run_under_umask_077_still_lets_the_group_read() {
    let i = Install::new();
    let bad = i.path("bad.csv");
    fs::write(&bad, bad_ledger()).unwrap();
    // A file named on the command line is copied: the copy gets clerk's mode, not the
    // original's.
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg("umask 077 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_clerk"))
        .arg("--config")
        .arg(i.config())
        .args(["job", "run", "ledger-import"])
        .arg(&bad)
        .current_dir(&i.root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_modes_of_a_failure(&i);
    assert_eq!(mode(&i.path("var/failed/ledger-import/bad.csv")), 0o640);
}

/// A group for staff, by number (no entry in /etc/group is needed for permissions).
const STAFF_GID: u32 = 48_213;
/// `nobody`: a user who is not clerk's.
const STAFF_UID: u32 = 65_534;

/// Runs `clerk args...` as a staff member: another user, in clerk's group only.
fn clerk_as_staff(i: &Install, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    Command::new(env!("CARGO_BIN_EXE_clerk"))
        .arg("--config")
        .arg(i.config())
        .args(args)
        .current_dir(&i.root)
        .env_remove("CLERK_LOG")
        .uid(STAFF_UID)
        .gid(STAFF_GID)
        .output()
        .unwrap()
}

/// Runs a shell command as a staff member; whether it succeeded.
fn sh_as_staff(i: &Install, script: &str) -> bool {
    use std::os::unix::process::CommandExt;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(&i.root)
        .uid(STAFF_UID)
        .gid(STAFF_GID)
        .status()
        .unwrap()
        .success()
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// README "Staff access": the state folder belongs to the staff group with setgid, so
/// everything clerk makes in it is the group's to read; staff drop files into the watched
/// folders and run read commands, while the daemon runs and after it stopped, but write
/// nothing else.
#[test]
fn staff_in_the_group_drop_files_and_run_read_commands_without_write_access() {
    let i = Install::new();
    let root_owned = running_as_root();
    if root_owned {
        // As the README sets it up: the install readable by the group, the state folder the
        // group's with setgid.
        std::os::unix::fs::chown(&i.root, None, Some(STAFF_GID)).unwrap();
        fs::set_permissions(&i.root, fs::Permissions::from_mode(0o750)).unwrap();
        fs::create_dir(i.path("var")).unwrap();
        std::os::unix::fs::chown(i.path("var"), None, Some(STAFF_GID)).unwrap();
        fs::set_permissions(i.path("var"), fs::Permissions::from_mode(0o2750)).unwrap();
    }
    let d = i.start_daemon();
    i.drop_file("var/inbox/ledger", "bad.csv", bad_ledger().as_bytes());
    let failed = wait_until(Duration::from_secs(60), || {
        !files_ending(&i.path("var/failed/ledger-import"), ".error.txt").is_empty()
    });
    assert!(failed, "{}", d.log());

    if !root_owned {
        // Not root: no other user to become. The owner without write permission stands in.
        d.stop();
        let lock = |m| {
            for f in ["var/clerk.db", "var/clerk.db-wal", "var/clerk.db-shm"] {
                fs::set_permissions(i.path(f), fs::Permissions::from_mode(m)).unwrap();
            }
        };
        lock(0o440);
        fs::set_permissions(i.path("var"), fs::Permissions::from_mode(0o550)).unwrap();
        let out = i.clerk(&["exceptions", "--json"]);
        fs::set_permissions(i.path("var"), fs::Permissions::from_mode(0o750)).unwrap();
        lock(0o640);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }

    let read_commands = |when: &str| {
        for args in [
            &["status", "--json"][..],
            &["exceptions", "--json"],
            &["jobs"],
        ] {
            let out = clerk_as_staff(&i, args);
            assert!(
                out.status.success(),
                "{when}: staff cannot run clerk {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = clerk_as_staff(&i, &["exceptions", "--json"]);
        let breaks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            breaks.to_string().contains("bad.csv"),
            "{when}: the break about bad.csv is not listed: {breaks}"
        );
    };
    read_commands("while the daemon runs");

    // Staff drop a file into the watched folder; clerk takes it.
    let ledger = i.path("ledger.csv");
    fs::write(&ledger, LEDGER).unwrap();
    assert!(sh_as_staff(
        &i,
        &format!(
            "cat {} > var/inbox/ledger/ledger.csv.part && mv var/inbox/ledger/ledger.csv.part var/inbox/ledger/ledger.csv",
            ledger.display()
        )
    ));
    let taken = wait_until(Duration::from_secs(60), || {
        i.files_under("var/archive")
            .iter()
            .any(|f| f.ends_with("ledger.csv"))
    });
    assert!(taken, "{}", d.log());
    // ...but write nowhere else: not clerk's folders, not the store.
    for target in ["var/archive/x", "var/failed/x", "var/outbox/x", "var/x"] {
        assert!(!sh_as_staff(&i, &format!("echo x > {target}")), "{target}");
    }
    assert!(!sh_as_staff(&i, "echo x >> var/clerk.db"));
    // Exception work writes the store: not for the group.
    let out = clerk_as_staff(&i, &["exception", "note", "1", "looked at it"]);
    assert!(!out.status.success());

    assert!(d.stop().success());
    read_commands("after the daemon stopped");
}
