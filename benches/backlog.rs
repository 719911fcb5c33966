//! Backlog: the real daemon on a temp install (the shipped `config/clerk.toml`: 2 s rescan,
//! 3 s settle, 30 s drain timeout), systemd's side of sd_notify played by a unix datagram socket
//! (`NOTIFY_SOCKET`, `WATCHDOG_USEC` = 10 s).
//!
//! 1. **Left in processing**: 5,000 files in `.clerk-processing/` before the start (a crash in
//!    the middle of a big drop). Reports the time to `READY=1`, the answer to SIGHUP (time to
//!    `READY=1` again) and to SIGTERM (time to exit) with most of the backlog still waiting,
//!    and the drain rate after the restart.
//! 2. **Dropped at once**: 20,000 files renamed into the inbox of a running daemon. Reports
//!    the time to the first file processed, SIGHUP's answer during the drain, the longest gap
//!    between watchdog pings, the drain rate, and SIGTERM's answer during the drain.
//!
//! The files are one-invoice UBL documents for `supplier-invoices` (no reconciliation, so the
//! cost of a file does not depend on the backlog and the figures show how clerk schedules;
//! `CLERK_BACKLOG_KIND=ledger` uses one-item ledger files instead). `CLERK_BACKLOG_LEFT` and
//! `CLERK_BACKLOG_DROP` change the numbers. `cargo test --benches` runs 40 and 80 as a check.

#[allow(dead_code)]
#[path = "../tests/it/support/install.rs"]
mod install;
#[allow(dead_code)]
#[path = "../tests/it/support/sdnotify.rs"]
mod sdnotify;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use install::{Daemon, Install, wait_until};
use sdnotify::NotifySocket;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kind of file: its folder, its name and content for number `k`.
struct Kind {
    ledger: bool,
}

impl Kind {
    fn folder(&self) -> &'static str {
        if self.ledger {
            "var/inbox/ledger"
        } else {
            "var/inbox/invoices"
        }
    }

    fn file(&self, k: usize) -> (String, String) {
        if self.ledger {
            let body = format!(
                "id,account,value_date,amount,currency,reference,counterparty\n\
                 {k},CASH-EUR-01,2026-03-02,{}.{:02},EUR,INV-{k:09},CPTY {k}\n",
                10 + k / 100,
                k % 100
            );
            (format!("l-{k:06}.csv"), body)
        } else {
            let body = include_str!("../tests/fixtures/payables/acme-INV-2026-0042.xml").replacen(
                "<cbc:ID>INV-2026-0042</cbc:ID>",
                &format!("<cbc:ID>BACKLOG-{k:07}</cbc:ID>"),
                1,
            );
            (format!("inv-{k:06}.xml"), body)
        }
    }
}

fn archived(i: &Install) -> usize {
    i.files_under("var/archive").len()
}

/// Files whose work is committed (archived a settle time later).
fn recorded(i: &Install) -> usize {
    i.db()
        .query_row("SELECT COUNT(*) FROM files", [], |r| r.get::<_, i64>(0))
        .unwrap_or(0) as usize
}

/// Waits for the process to end; how long it took.
fn exit_time(d: &mut Daemon, asked: Instant) -> Duration {
    assert!(
        wait_until(Duration::from_secs(120), || d.exited().is_some()),
        "no exit after SIGTERM:\n{}",
        d.log()
    );
    asked.elapsed()
}

/// Sends SIGHUP; the time until the daemon says it is ready again.
fn hup_time(d: &Daemon, notify: &NotifySocket) -> Duration {
    let before = notify.times_of("READY=1").len();
    let asked = Instant::now();
    d.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(120), || notify
            .times_of("READY=1")
            .len()
            > before),
        "no READY after SIGHUP:\n{}",
        d.log()
    );
    asked.elapsed()
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}

fn env(notify: &NotifySocket) -> [(&'static str, &str); 2] {
    [
        ("NOTIFY_SOCKET", notify.path()),
        ("WATCHDOG_USEC", "10000000"),
    ]
}

fn left_in_processing(kind: &Kind, n: usize) {
    let i = Install::shipped();
    let processing: PathBuf = i.path(kind.folder()).join(".clerk-processing");
    fs::create_dir_all(&processing).unwrap();
    for k in 0..n {
        let (name, body) = kind.file(k);
        fs::write(processing.join(name), body).unwrap();
    }
    let notify = NotifySocket::bind();
    let started = Instant::now();
    let mut d = i.spawn_daemon_with(&env(&notify));
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(600))
        .unwrap_or_else(|| panic!("no READY with {n} files left in processing:\n{}", d.log()))
        - started;
    let hup = hup_time(&d, &notify);
    // SIGTERM with most of the backlog waiting.
    assert!(wait_until(Duration::from_secs(600), || recorded(&i) >= n / 10));
    let asked = Instant::now();
    d.signal("TERM");
    let term = exit_time(&mut d, asked);
    let done_before = recorded(&i);

    let notify = NotifySocket::bind();
    let started = Instant::now();
    let d = i.spawn_daemon_with(&env(&notify));
    let ready_again = notify
        .wait_for("READY=1", Duration::from_secs(600))
        .expect("READY after the restart")
        - started;
    let from = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3600), || recorded(&i) == n),
        "not drained:\n{}",
        d.log()
    );
    let drained = from.elapsed();
    assert!(
        wait_until(Duration::from_secs(600), || archived(&i) == n),
        "not all archived:\n{}",
        d.log()
    );
    println!("left in processing at start: {n} files");
    println!(
        "  time to READY                {:>9.3} s",
        ready.as_secs_f64()
    );
    println!(
        "  SIGHUP answered (READY)      {:>9.3} s",
        hup.as_secs_f64()
    );
    println!(
        "  SIGTERM answered (exit)      {:>9.3} s  ({} of {n} done, drain timeout 30 s)",
        term.as_secs_f64(),
        done_before
    );
    println!(
        "  restart: READY in            {:>9.3} s, the other {} drained in {:.1} s: {:.0} files/s",
        ready_again.as_secs_f64(),
        n - done_before,
        drained.as_secs_f64(),
        rate(n - done_before, drained)
    );
    d.stop();
}

fn dropped_at_once(kind: &Kind, n: usize) {
    let i = Install::shipped();
    let notify = NotifySocket::bind();
    let mut d = i.start_daemon_with(&env(&notify));
    let staging = i.path("var/staging");
    fs::create_dir_all(&staging).unwrap();
    let inbox = i.path(kind.folder());
    fs::create_dir_all(&inbox).unwrap();
    let mut names = Vec::with_capacity(n);
    for k in 0..n {
        let (name, body) = kind.file(k);
        fs::write(staging.join(&name), body).unwrap();
        names.push(name);
    }
    let dropped = Instant::now();
    for name in &names {
        fs::rename(staging.join(name), inbox.join(name)).unwrap();
    }
    let drop_took = dropped.elapsed();
    assert!(wait_until(Duration::from_secs(600), || recorded(&i) >= 1));
    let first = dropped.elapsed();
    assert!(wait_until(Duration::from_secs(3600), || recorded(&i) >= n / 4));
    let hup = hup_time(&d, &notify);
    assert!(wait_until(Duration::from_secs(3600), || recorded(&i) >= n * 9 / 10));
    let nine_tenths = dropped.elapsed();
    let done = recorded(&i);
    let asked = Instant::now();
    d.signal("TERM");
    let term = exit_time(&mut d, asked);
    let pings = notify.times_of("WATCHDOG=1");
    let longest = pings
        .windows(2)
        .filter(|w| w[0] >= dropped)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "dropped at once into a running daemon: {n} files (renamed in {:.1} s)",
        drop_took.as_secs_f64()
    );
    println!(
        "  first file processed after   {:>9.3} s (settle time 3 s)",
        first.as_secs_f64()
    );
    println!(
        "  SIGHUP answered (READY)      {:>9.3} s  (at a quarter)",
        hup.as_secs_f64()
    );
    println!(
        "  {done} processed in {:.1} s after the first: {:.0} files/s",
        (nine_tenths - first).as_secs_f64(),
        rate(done - 1, nine_tenths - first)
    );
    println!(
        "  watchdog pings: {}, longest gap {:.1} s (WATCHDOG_USEC 10 s: clerk pings every 5 s)",
        pings.len(),
        longest.as_secs_f64()
    );
    println!(
        "  SIGTERM answered (exit)      {:>9.3} s  (drain timeout 30 s)",
        term.as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let kind = Kind {
        ledger: std::env::var("CLERK_BACKLOG_KIND").is_ok_and(|v| v == "ledger"),
    };
    let left = env_count("CLERK_BACKLOG_LEFT", if full { 5_000 } else { 40 });
    let dropped = env_count("CLERK_BACKLOG_DROP", if full { 20_000 } else { 80 });
    println!(
        "clerk backlog benchmark ({} files, shipped config)",
        if kind.ledger {
            "one-item ledger"
        } else {
            "one-invoice UBL"
        }
    );
    if left > 0 {
        left_in_processing(&kind, left);
    }
    if dropped > 0 {
        dropped_at_once(&kind, dropped);
    }
}
