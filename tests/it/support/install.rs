//! A throwaway clerk installation per test: its own root with `config/clerk.toml`, the
//! project's real `jobs/`, a `var/` for state, and the real `clerk` binary to run against it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub struct Install {
    _dir: TempDir,
    pub root: PathBuf,
}

/// Costs for the tests of the per-transaction cost: staff time only, 60 EUR an hour, ten
/// minutes per exception (`Install::with_config(STAFF_COSTS)`).
#[allow(dead_code)]
pub const STAFF_COSTS: &str = "[costs]\ncurrency = \"EUR\"\nmachine_per_hour = \"0\"\nstaff_per_hour = \"60\"\nminutes_per_exception = 10\n";

/// Fast folder settings so tests do not wait: the product defaults are seconds. Unmatched
/// items are breaks at once (no grace period), as most tests expect; the tests of the grace
/// period set their own (`set_break_grace`).
const CONFIG: &str = r#"
[daemon]
jobs = "jobs"
state = "var"
timezone = "Europe/Berlin"
rescan_interval = "100ms"
settle_time = "300ms"
drain_timeout = "10s"
break_grace = "0s"

[mail]
from = "clerk@example.com"
alerts_to = ["ops@example.com"]

[calendars.default]
weekend = ["Sat", "Sun"]
holidays = ["2026-12-25"]

[mailboxes.back-office]
kind = "maildir"
path = "var/mail/back-office"
poll_interval = "200ms"
"#;

impl Install {
    /// A root with the shipped jobs and a fast config that mails into `var/outbox`.
    pub fn new() -> Install {
        Self::with_mail("")
    }

    /// As `new`, with extra `[mail.smtp]` settings appended to the config.
    pub fn with_mail(extra: &str) -> Install {
        Self::with_config(extra)
    }

    /// As `new`, with extra tables (e.g. `[costs]`) appended to the config.
    pub fn with_config(extra: &str) -> Install {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        fs::create_dir_all(root.join("config")).unwrap();
        fs::write(root.join("config/clerk.toml"), format!("{CONFIG}\n{extra}")).unwrap();
        // The shipped charts of accounts, for a config that names one (`with_shipped_chart`).
        let charts = root.join("config/charts");
        fs::create_dir_all(&charts).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/charts");
        for entry in fs::read_dir(shipped).unwrap() {
            let p = entry.unwrap().path();
            fs::copy(&p, charts.join(p.file_name().unwrap())).unwrap();
        }
        let jobs = root.join("jobs");
        fs::create_dir_all(&jobs).unwrap();
        for entry in fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs")).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                fs::copy(&p, jobs.join(p.file_name().unwrap())).unwrap();
            }
        }
        Install { _dir: dir, root }
    }

    /// As `with_config`, posting to the shipped chart of accounts with its bank accounts
    /// (the shipped `config/clerk.toml`'s `[chart]` tables), as the shipped jobs are written for.
    #[allow(dead_code)]
    pub fn with_shipped_chart(extra: &str) -> Install {
        Self::with_config(&format!("{extra}\n{}", shipped_chart()))
    }

    /// A root with the shipped jobs and the shipped `config/clerk.toml` as it is: its
    /// intervals (a 2 s rescan, a 10 s mailbox poll) are what an idle daemon runs with.
    pub fn shipped() -> Install {
        let i = Self::new();
        let shipped =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/clerk.toml"))
                .unwrap();
        // Tests run side by side: each console on a port of the system's choosing.
        let config = shipped.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
        fs::write(i.config(), config).unwrap();
        i
    }

    /// Rewrites the install's `jobs/<job>.toml`, replacing the first `from` (which must be in
    /// it) with `to`: a shipped job given a setting of its own.
    #[allow(dead_code)]
    pub fn edit_job(&self, job: &str, from: &str, to: &str) {
        let path = self.path(&format!("jobs/{job}.toml"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} is not in {}", path.display());
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// Sets the daemon's grace period (`[daemon] break_grace`) for unmatched items.
    #[allow(dead_code)]
    pub fn set_break_grace(&self, grace: &str) {
        let text = fs::read_to_string(self.config()).unwrap();
        let set = text.replace(
            "break_grace = \"0s\"",
            &format!("break_grace = \"{grace}\""),
        );
        assert_ne!(text, set, "the test config sets break_grace");
        fs::write(self.config(), set).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config/clerk.toml")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Runs `clerk --config <this> args...` to completion.
    pub fn clerk(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_clerk"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(&self.root)
            .env_remove("CLERK_LOG")
            .output()
            .expect("run clerk")
    }

    /// Runs a read command with `--json` and parses its output; panics with its stderr on failure.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.clerk(&all);
        assert!(
            out.status.success(),
            "clerk {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "clerk {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn status(&self) -> serde_json::Value {
        self.json(&["status"])
    }

    /// How many files the store has processed (`files_processed` of `clerk status`).
    pub fn files_processed(&self) -> u64 {
        self.status()["files_processed"].as_u64().unwrap()
    }

    /// Drops a file at `path` (`<folder>/<name>`, as `drop_file` does) and waits until the
    /// store has processed `processed` files in all: a test's data loaded file after file.
    #[allow(dead_code)]
    pub fn drop_until_processed(
        &self,
        d: &Daemon,
        path: &str,
        bytes: impl AsRef<[u8]>,
        processed: u64,
    ) {
        let (folder, name) = path.rsplit_once('/').expect("<folder>/<name>");
        self.drop_file(folder, name, bytes.as_ref());
        assert!(
            wait_until(Duration::from_secs(20), || self.files_processed()
                == processed),
            "{path} dropped: {} files processed, not {processed}:\n{}",
            self.files_processed(),
            d.log()
        );
    }

    /// How many of a job's latest runs finished `ok` (of the 10 `clerk status` lists).
    pub fn runs_ok(&self, job: &str) -> usize {
        self.status()["recent_runs"].as_array().map_or(0, |runs| {
            runs.iter()
                .filter(|r| r["job"] == job && r["status"] == "ok")
                .count()
        })
    }

    /// Starts `clerk run` in the background; it is killed when the returned value drops.
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_with(&[])
    }

    /// As `start_daemon`, with extra environment variables (`CLERK_LOG` overrides `info`).
    pub fn start_daemon_with(&self, env: &[(&str, &str)]) -> Daemon {
        let d = self.spawn_daemon_with(env);
        let ready = wait_until(Duration::from_secs(30), || {
            d.log().contains("clerk running")
        });
        assert!(ready, "daemon did not start:\n{}", d.log());
        d
    }

    /// Starts `clerk run` without waiting for it to be ready (a test that watches it start).
    pub fn spawn_daemon_with(&self, env: &[(&str, &str)]) -> Daemon {
        let log = self.root.join(format!("daemon-{}.log", unique()));
        let file = fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_clerk"))
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .current_dir(&self.root)
            .env("CLERK_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start clerk run");
        Daemon { child, log }
    }

    /// Starts `clerk run` under `umask` (as an admin's shell would start it, not the unit) and
    /// waits until it is running.
    pub fn start_daemon_under_umask(&self, umask: &str) -> Daemon {
        let log = self.root.join(format!("daemon-{}.log", unique()));
        let file = fs::File::create(&log).unwrap();
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_clerk"))
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .current_dir(&self.root)
            .env("CLERK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start clerk run");
        let d = Daemon { child, log };
        let ready = wait_until(Duration::from_secs(30), || {
            d.log().contains("clerk running")
        });
        assert!(ready, "daemon did not start:\n{}", d.log());
        d
    }

    /// Puts a file into a folder the way a careful copy does: written under a temp name that
    /// no job takes, then renamed.
    pub fn drop_file(&self, folder: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(folder);
        fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!("{name}.part"));
        fs::write(&tmp, bytes).unwrap();
        fs::rename(&tmp, dir.join(name)).unwrap();
    }

    /// Files (recursively) under a folder of the install, relative names.
    pub fn files_under(&self, rel: &str) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root.join(rel), &self.root.join(rel), &mut out);
        out.sort();
        out
    }

    /// The counts of tries the daemon keeps in `var/attempts`: one marker per file in work
    /// (`tries=N`, `job=`, `file=`), written just before the file's unit of work starts and
    /// removed once the work returns.
    pub fn tries(&self) -> Vec<String> {
        self.files_under("var/attempts")
            .iter()
            .filter(|n| !n.ends_with(".tmp"))
            .filter_map(|n| fs::read_to_string(self.path("var/attempts").join(n)).ok())
            .collect()
    }

    /// Whether the worker is in the unit of work of file `name` (its try is counted).
    pub fn in_work(&self, name: &str) -> bool {
        let file = format!("file={name}\n");
        self.tries().iter().any(|t| t.contains(&file))
    }

    /// One number from the store (`SELECT COUNT(*) ...`).
    #[allow(dead_code)]
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Opens the store for assertions on what was posted.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.root.join("var/clerk.db")).unwrap()
    }
}

/// The `[chart]` and `[chart.*]` tables of the shipped `config/clerk.toml`.
#[allow(dead_code)]
pub fn shipped_chart() -> String {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/clerk.toml"))
        .unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with('[') {
            inside = line.starts_with("[chart]") || line.starts_with("[chart.");
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains("[chart]"),
        "the shipped clerk.toml names a chart"
    );
    out
}

/// One job's KPIs in the output of `clerk status --json`.
#[allow(dead_code)]
pub fn job_kpis<'a>(status: &'a serde_json::Value, job: &str) -> &'a serde_json::Value {
    status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == job)
        .unwrap_or_else(|| panic!("no KPIs for {job}: {status}"))
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(base, &p, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, for /proc (the soak benchmark samples its memory).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the process has used so far (user + system), from `/proc/<pid>/stat`.
    #[allow(dead_code)]
    pub fn cpu_time(&self) -> Duration {
        cpu_time_of(self.child.id())
    }

    /// Sends a signal by name (`HUP`, `TERM`) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} failed");
    }

    /// Whether the process has exited (and with what).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL: no chance to clean up, as in a crash or an OOM kill.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon ignored SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time a process has used (user + system), from `/proc/<pid>/stat`; zero once it is gone.
#[allow(dead_code)]
pub fn cpu_time_of(pid: u32) -> Duration {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&k| fields.get(k)?.parse::<u64>().ok())
        .sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

/// The kernel's USER_HZ (`getconf CLK_TCK`), 100 on every Linux build in practice.
fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `clerk` command's standard output, after asserting it succeeded (its output shown if not).
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a `clerk` command was refused: exit 1 with `words` in its error.
pub fn refused(o: &Output, words: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(words), "{words:?} not in: {err}");
}
