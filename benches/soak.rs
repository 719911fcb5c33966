//! Soak: the real daemon on a temp install, small ledgers and statements dropped into two
//! jobs' folders in waves over time, until all are processed. Reports files/s, records/s,
//! arrival-to-posting latency (p50, p99, max; from the store's `runs.arrival_to_done_ms`) and
//! the daemon's resident memory over time (from `/proc/<pid>/status`).
//!
//! `cargo bench --bench soak` drops 10,000 files (`CLERK_SOAK_FILES` for another number);
//! `cargo test --benches` runs it with 40 as a check that it works.
//!
//! The latency includes the settle time (300 ms here): a file is taken only once its size has
//! been stable that long.

#[allow(dead_code)]
#[path = "../tests/it/support/install.rs"]
mod install;

use std::time::{Duration, Instant};

use install::{Install, wait_until};

/// Items per file.
const ITEMS: usize = 5;

fn ledger(n: usize) -> String {
    let mut s = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    for k in 0..ITEMS {
        let id = n * ITEMS + k;
        s.push_str(&format!(
            "{id},CASH-EUR-01,2026-03-02,{}.{:02},EUR,INV-{id:09},CPTY {id}\n",
            1000 + id / 100,
            id % 100
        ));
    }
    s
}

fn statement(n: usize) -> String {
    let mut s =
        String::from("booking_date,value_date,amount,currency,bank_reference,remittance_info\n");
    for k in 0..ITEMS {
        let id = n * ITEMS + k;
        s.push_str(&format!(
            "2026-03-02,2026-03-02,{}.{:02},EUR,BK{id:09},PAYMENT INV-{id:09}\n",
            1000 + id / 100,
            id % 100
        ));
    }
    s
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let files: usize = std::env::var("CLERK_SOAK_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 40 });
    let pairs = files / 2;
    let wave = 100.min(pairs.max(1));
    let i = Install::new();
    let d = i.start_daemon();
    let pid = d.pid();

    let started = Instant::now();
    let mut rss: Vec<(f64, u64)> = Vec::new();
    let mut next_sample = Instant::now();
    let mut sample = |rss: &mut Vec<(f64, u64)>| {
        if Instant::now() >= next_sample {
            if let Some(kb) = rss_kb(pid) {
                rss.push((started.elapsed().as_secs_f64(), kb));
            }
            next_sample = Instant::now() + Duration::from_millis(500);
        }
    };
    // Waves of `wave` ledgers and as many statements, a quarter of a second apart.
    let mut dropped = 0;
    while dropped < pairs {
        let end = (dropped + wave).min(pairs);
        for n in dropped..end {
            i.drop_file(
                "var/inbox/ledger",
                &format!("l{n}.csv"),
                ledger(n).as_bytes(),
            );
            i.drop_file(
                "var/inbox/bank",
                &format!("s{n}.csv"),
                statement(n).as_bytes(),
            );
        }
        dropped = end;
        sample(&mut rss);
        std::thread::sleep(Duration::from_millis(250));
    }
    let total = (2 * pairs) as i64;
    let count = |sql: &str| -> i64 { i.db().query_row(sql, [], |r| r.get(0)).unwrap_or_default() };
    let done = wait_until(Duration::from_secs(3600), || {
        sample(&mut rss);
        count("SELECT COUNT(*) FROM files WHERE status = 'processed'") >= total
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert!(done, "not all files processed:\n{}", d.log());
    sample(&mut rss);

    let records = count("SELECT COUNT(*) FROM records");
    let entries = count("SELECT COUNT(*) FROM entries");
    assert_eq!(records, total * ITEMS as i64, "every record once");
    assert_eq!(
        entries,
        pairs as i64 * ITEMS as i64,
        "every item matched once"
    );
    let mut latency: Vec<i64> = {
        let db = i.db();
        let mut stmt = db
            .prepare(
                "SELECT arrival_to_done_ms FROM runs
                 WHERE arrival_to_done_ms IS NOT NULL AND file_id IS NOT NULL",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    latency.sort_unstable();
    let (first, peak, last) = (
        rss.first().map_or(0, |s| s.1),
        rss.iter().map(|s| s.1).max().unwrap_or(0),
        rss.last().map_or(0, |s| s.1),
    );
    println!(
        "soak: {total} files ({pairs} ledgers, {pairs} statements, {ITEMS} items each) in {elapsed:.1} s"
    );
    println!(
        "soak: {:.1} files/s, {:.0} records/s, {entries} entries posted",
        total as f64 / elapsed,
        records as f64 / elapsed
    );
    println!(
        "soak: arrival to posting p50 {} ms, p99 {} ms, max {} ms ({} runs)",
        percentile(&latency, 0.50),
        percentile(&latency, 0.99),
        latency.last().copied().unwrap_or(0),
        latency.len()
    );
    println!(
        "soak: daemon RSS {first} KB at start, {peak} KB peak, {last} KB at the end ({} samples)",
        rss.len()
    );
    let step = (rss.len() / 10).max(1);
    let curve: Vec<String> = rss
        .iter()
        .step_by(step)
        .map(|(t, kb)| format!("{t:.0}s:{}MB", kb / 1024))
        .collect();
    println!("soak: RSS over time {}", curve.join(" "));
    d.stop();
}
