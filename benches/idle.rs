//! Idle: the real daemon on a temp install with the shipped `config/clerk.toml` (2 s rescan,
//! 3 s settle, a Maildir polled every 10 s) and nothing to do. Reports the share of one CPU it
//! uses (its user + system time from `/proc/<pid>/stat` over wall time) while idle, and while
//! one small ledger file arrives per interval.
//!
//! `cargo bench --bench idle` measures a minute of each, one file a minute;
//! `CLERK_IDLE_SECS` for another length, `CLERK_IDLE_EVERY` for another interval between files
//! (seconds). `cargo test --benches` runs it for 3 s each as a check that it works.

#[allow(dead_code)]
#[path = "../tests/it/support/install.rs"]
mod install;

use std::time::{Duration, Instant};

use install::{Daemon, Install, wait_until};

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A one-item ledger file, numbered `k`.
fn ledger(k: usize) -> String {
    format!(
        "id,account,value_date,amount,currency,reference,counterparty\n\
         {k},CASH-EUR-01,2026-03-02,{}.{:02},EUR,INV-{k:09},CPTY {k}\n",
        10 + k / 100,
        k % 100
    )
}

/// CPU share of one core used by the daemon over `window`, calling `during` every 100 ms.
fn measure(d: &Daemon, window: Duration, mut during: impl FnMut(Duration)) -> (f64, Duration) {
    let (cpu0, wall0) = (d.cpu_time(), Instant::now());
    while wall0.elapsed() < window {
        during(wall0.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (used, wall) = (d.cpu_time() - cpu0, wall0.elapsed());
    (used.as_secs_f64() / wall.as_secs_f64(), used)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let secs = env_secs("CLERK_IDLE_SECS", if full { 60 } else { 3 });
    let every = env_secs("CLERK_IDLE_EVERY", 60).max(1);
    let window = Duration::from_secs(secs);

    let i = Install::shipped();
    let d = i.start_daemon();
    // Start-up done (schedules armed, the mailbox made) before measuring.
    assert!(wait_until(Duration::from_secs(30), || i
        .path("var/mail/back-office/new")
        .is_dir()));
    std::thread::sleep(Duration::from_secs(1));

    let (idle, idle_cpu) = measure(&d, window, |_| {});

    // One small file at the start of each interval, as a careful copy drops it.
    let mut dropped = 0usize;
    let (busy, busy_cpu) = measure(&d, window, |t| {
        if t.as_secs() / every >= dropped as u64 {
            i.drop_file(
                "var/inbox/ledger",
                &format!("l-{dropped}.csv"),
                ledger(dropped).as_bytes(),
            );
            dropped += 1;
        }
    });
    let processed = wait_until(Duration::from_secs(60), || {
        i.files_under("var/archive").len() == dropped
    });
    assert!(processed, "the files were not processed:\n{}", d.log());

    println!("clerk idle benchmark (shipped config: rescan 2 s, settle 3 s, Maildir poll 10 s)");
    println!(
        "  idle                      {:>6.3} % of a CPU  ({} ms CPU in {secs} s)",
        idle * 100.0,
        idle_cpu.as_millis()
    );
    println!(
        "  one file every {every:>3} s     {:>6.3} % of a CPU  ({} ms CPU in {secs} s, {dropped} file(s))",
        busy * 100.0,
        busy_cpu.as_millis()
    );
    d.stop();
}
