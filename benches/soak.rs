//! Soak: the real daemon on a temp install, files dropped into three jobs' folders over time
//! (ledgers for `ledger-import`, the statements paying them for `bank-reconciliation`, UBL
//! invoices for `supplier-invoices`: two ledger/statement pairs and one invoice in every five
//! files), until all are processed. Reports files/s, records/s, arrival-to-posting latency
//! (p50, p99, max; from the store's `runs.arrival_to_done_ms`) and the daemon's resident
//! memory over time (from `/proc/<pid>/status`), with its growth over the second half of the
//! run (flat memory means that stays near zero).
//!
//! `cargo bench --bench soak` drops 10,000 files at 100 files/s; `CLERK_SOAK_FILES` for
//! another number, `CLERK_SOAK_RATE` for another rate (files per second; `burst` drops them as
//! fast as it can, 800/s, far more than one worker takes, to see a backlog drain).
//! `CLERK_SOAK_ORDER=statements-first` drops every statement before its ledger, so thousands
//! of bank lines wait open for their ledger items (a ledger feed that stopped for a day) and
//! every run works against that backlog.
//! `cargo test --benches` runs it with 40 as a check that it works.
//!
//! The latency includes the settle time (300 ms here): a file is taken only once its size has
//! been stable that long.
//!
//! `CLERK_SOAK_OPEN_ITEMS=200000` compares soaks as fast as they drain (`burst` unless
//! `CLERK_SOAK_RATE` says otherwise) on two installs: a fresh one, and one whose book already
//! holds that many open ledger items, a month old, each with its break (loaded as ledger files
//! of 10,000 items before the clock starts, then a bank statement that makes them fall due).
//! The two take turns for `CLERK_SOAK_ROUNDS` rounds (3; 1 under `cargo test`), so that both
//! see the same load on a shared machine. Each round prints the files/s of each, their ratio
//! and the daemon's CPU time a file; the last line the median ratios: a file's cost must not
//! depend on how many items are open.

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

/// A supplier's UBL invoice, numbered `n` (the shipped fixture with another number).
fn invoice(n: usize) -> String {
    include_str!("../tests/fixtures/payables/acme-INV-2026-0042.xml").replacen(
        "<cbc:ID>INV-2026-0042</cbc:ID>",
        &format!("<cbc:ID>SOAK-{n:07}</cbc:ID>"),
        1,
    )
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

/// A ledger file of `n` items from `first` on, a month old, that nothing in the soak pays:
/// amounts, references and customers of their own (40 items per customer and day, so the
/// batch pass has groups to file).
fn old_ledger(first: usize, n: usize) -> String {
    let mut s = String::from("id,account,value_date,amount,currency,reference,counterparty\n");
    for id in first..first + n {
        s.push_str(&format!(
            "OLD{id},CASH-EUR-01,2026-02-02,{}.{:02},EUR,INV-9{id:08},OLD CUSTOMER {}\n",
            5000 + id / 100,
            id % 100,
            id % 5000
        ));
    }
    s
}

/// What one soak measured.
struct Figures {
    files: i64,
    elapsed: f64,
    /// The daemon's CPU time over the soak, seconds.
    cpu: f64,
    lines: Vec<String>,
}

impl Figures {
    fn files_per_s(&self) -> f64 {
        self.files as f64 / self.elapsed
    }

    fn cpu_ms_per_file(&self) -> f64 {
        self.cpu * 1000.0 / self.files as f64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Loads `open` open items into the install's book and waits until each has its break.
fn seed(i: &Install, d: &install::Daemon, open: usize) {
    const PER_FILE: usize = 10_000;
    let started = Instant::now();
    let count = |sql: &str| -> i64 { i.db().query_row(sql, [], |r| r.get(0)).unwrap_or_default() };
    let files = open.div_ceil(PER_FILE);
    for f in 0..files {
        let first = f * PER_FILE;
        let n = PER_FILE.min(open - first);
        i.drop_file(
            "var/inbox/ledger",
            &format!("old{f}.csv"),
            old_ledger(first, n).as_bytes(),
        );
    }
    let loaded = wait_until(Duration::from_secs(3600), || {
        count("SELECT COUNT(*) FROM files WHERE status = 'processed'") >= files as i64
    });
    assert!(
        loaded,
        "the old ledger files were not processed:\n{}",
        d.log()
    );
    // A statement a month later: every old item falls due and gets its break.
    i.drop_file(
        "var/inbox/bank",
        "old-statement.csv",
        b"booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
          2026-03-02,2026-03-02,1.00,EUR,FEE0001,ACCOUNT FEE\n",
    );
    let due = wait_until(Duration::from_secs(3600), || {
        count("SELECT COUNT(*) FROM breaks WHERE status = 'open'") > open as i64
    });
    assert!(due, "the old items did not fall due:\n{}", d.log());
    println!(
        "soak: {open} open items loaded, each with its break, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let files: usize = std::env::var("CLERK_SOAK_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 40 });
    let open_items: Option<usize> = std::env::var("CLERK_SOAK_OPEN_ITEMS").ok().map(|v| {
        v.parse()
            .expect("CLERK_SOAK_OPEN_ITEMS: a number of open items")
    });
    let rate: Option<f64> = match std::env::var("CLERK_SOAK_RATE").ok().as_deref() {
        Some("burst") => None,
        Some(v) => Some(
            v.parse()
                .expect("CLERK_SOAK_RATE: files per second or `burst`"),
        ),
        // Comparing throughput: as fast as the files drain.
        None if open_items.is_some() => None,
        None => Some(100.0),
    };
    let statements_first = std::env::var("CLERK_SOAK_ORDER").is_ok_and(|v| v == "statements-first");
    let Some(open) = open_items else {
        let i = Install::new();
        let d = i.start_daemon();
        let f = soak(&i, &d, files, 0, rate, statements_first);
        for l in &f.lines {
            println!("{l}");
        }
        d.stop();
        return;
    };
    // Both installs run side by side (an idle daemon costs nothing) and take turns: on a
    // shared machine the load changes from minute to minute, and rounds in turn see the same.
    let rounds: usize = std::env::var("CLERK_SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 3 } else { 1 });
    let none = Install::new();
    let none_daemon = none.start_daemon();
    let many = Install::new();
    let many_daemon = many.start_daemon();
    seed(&many, &many_daemon, open);
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for round in 0..rounds {
        let mut figures = Vec::new();
        for (label, i, d) in [
            ("no", &none, &none_daemon),
            (&*open.to_string(), &many, &many_daemon),
        ] {
            let f = soak(i, d, files, round * files, rate, statements_first);
            println!("round {}, {label} open items:", round + 1);
            for l in &f.lines {
                println!("  {l}");
            }
            figures.push(f);
        }
        let (a, b) = (&figures[0], &figures[1]);
        ratios.push(b.files_per_s() / a.files_per_s());
        cpu_ratios.push(a.cpu_ms_per_file() / b.cpu_ms_per_file());
        println!(
            "soak round {}: {:.1} files/s with no open items, {:.1} files/s with {open} open items: ratio {:.2} (the daemon's CPU a file: {:.2} ms and {:.2} ms)",
            round + 1,
            a.files_per_s(),
            b.files_per_s(),
            b.files_per_s() / a.files_per_s(),
            a.cpu_ms_per_file(),
            b.cpu_ms_per_file()
        );
    }
    println!(
        "soak: throughput with {open} open items against none, median of {rounds} rounds: ratio {:.2} in files/s, {:.2} in the daemon's CPU a file",
        median(ratios),
        median(cpu_ratios)
    );
    none_daemon.stop();
    many_daemon.stop();
}

/// Drops `files` files at `rate` (per second; `None`: as fast as it can) into a running
/// daemon and waits until they are processed; what it measured, as lines to print. Files are
/// numbered from `first` on (a later round drops other files).
fn soak(
    i: &Install,
    d: &install::Daemon,
    files: usize,
    first: usize,
    rate: Option<f64>,
    statements_first: bool,
) -> Figures {
    // Per five files: ledger, statement, ledger, statement, invoice.
    let invoices = files / 5;
    let pairs = (files - invoices) / 2;
    // Drops happen every quarter second; a burst drops 200 files each time.
    let per_tick = rate.map_or(200.0, |r| r / 4.0);
    let pid = d.pid();
    let count = |sql: &str| -> i64 { i.db().query_row(sql, [], |r| r.get(0)).unwrap_or_default() };
    // What the install held before: the soak counts what it adds.
    let base = count;
    let files_before = base("SELECT COUNT(*) FROM files WHERE status = 'processed'");
    let records_before = base("SELECT COUNT(*) FROM records");
    let entries_before = base("SELECT COUNT(*) FROM entries");
    let runs_before = base("SELECT COALESCE(MAX(id), 0) FROM runs");
    let documents_before = base("SELECT COUNT(*) FROM documents WHERE kind = 'invoice'");
    let mut lines = Vec::new();
    let cpu_before = d.cpu_time();

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
    let (mut ledgers, mut statements, mut invoiced) = (0, 0, 0);
    let mut owed = 0.0;
    let mut tick = 0u32;
    while ledgers < pairs || statements < pairs || invoiced < invoices {
        owed += per_tick;
        while owed >= 1.0 && (ledgers < pairs || statements < pairs || invoiced < invoices) {
            owed -= 1.0;
            let k = ledgers + statements + invoiced;
            if (k % 5 == 4 || (ledgers >= pairs && statements >= pairs)) && invoiced < invoices {
                i.drop_file(
                    "var/inbox/invoices",
                    &format!("i{}.xml", first + invoiced),
                    invoice(first + invoiced).as_bytes(),
                );
                invoiced += 1;
            } else if statements_first && statements < pairs {
                let name = format!("s{}.csv", first + statements);
                i.drop_file(
                    "var/inbox/bank",
                    &name,
                    statement(first + statements).as_bytes(),
                );
                statements += 1;
            } else if (statements_first || ledgers == statements) && ledgers < pairs {
                let name = format!("l{}.csv", first + ledgers);
                i.drop_file(
                    "var/inbox/ledger",
                    &name,
                    ledger(first + ledgers).as_bytes(),
                );
                ledgers += 1;
            } else if statements < pairs {
                let name = format!("s{}.csv", first + statements);
                i.drop_file(
                    "var/inbox/bank",
                    &name,
                    statement(first + statements).as_bytes(),
                );
                statements += 1;
            }
        }
        sample(&mut rss);
        tick += 1;
        // Sleep to the next quarter second of the schedule, not a quarter second after the
        // drops: the rate stays the rate however long dropping took.
        let next = started + Duration::from_millis(250) * tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let dropping = started.elapsed().as_secs_f64();
    let total = (2 * pairs + invoices) as i64;
    let done = wait_until(Duration::from_secs(3600), || {
        sample(&mut rss);
        count("SELECT COUNT(*) FROM files WHERE status = 'processed'") - files_before >= total
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (d.cpu_time() - cpu_before).as_secs_f64();
    assert!(done, "not all files processed:\n{}", d.log());
    sample(&mut rss);

    let records = count("SELECT COUNT(*) FROM records") - records_before;
    let entries = count("SELECT COUNT(*) FROM entries") - entries_before;
    let documents =
        count("SELECT COUNT(*) FROM documents WHERE kind = 'invoice'") - documents_before;
    assert_eq!(records, (2 * pairs * ITEMS) as i64, "every record once");
    assert_eq!(documents, invoices as i64, "every invoice once");
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
                 WHERE arrival_to_done_ms IS NOT NULL AND file_id IS NOT NULL AND id > ?1",
            )
            .unwrap();
        stmt.query_map([runs_before], |r| r.get(0))
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
    lines.push(format!(
        "soak: {total} files ({pairs} ledgers and {pairs} statements of {ITEMS} items, {invoices} invoices{}) dropped over {dropping:.1} s ({}), all processed after {elapsed:.1} s",
        if statements_first {
            ", statements first"
        } else {
            ""
        },
        rate.map_or_else(|| "burst".to_string(), |r| format!("{r} files/s"))
    ));
    lines.push(format!(
        "soak: {:.1} files/s, {:.0} records/s, {entries} entries posted; the daemon's CPU {:.2} ms a file",
        total as f64 / elapsed,
        (records + documents) as f64 / elapsed,
        cpu * 1000.0 / total as f64
    ));
    lines.push(format!(
        "soak: arrival to posting p50 {} ms, p99 {} ms, max {} ms ({} runs)",
        percentile(&latency, 0.50),
        percentile(&latency, 0.99),
        latency.last().copied().unwrap_or(0),
        latency.len()
    ));
    lines.push(format!(
        "soak: daemon RSS {first} KB at start, {peak} KB peak, {last} KB at the end ({} samples)",
        rss.len()
    ));
    // Growth over the second half: a leak or a cost growing with the files shows here, the
    // warm-up (caches, the first pages of the store) does not.
    let half = rss.len() / 2;
    let mid = rss.get(half).map_or(0, |s| s.1);
    let second_half_max = rss[half.min(rss.len())..]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    lines.push(format!(
        "soak: RSS growth over the second half: {} KB ({mid} KB at the middle, {second_half_max} KB highest after it)",
        second_half_max.saturating_sub(mid)
    ));
    let step = (rss.len() / 10).max(1);
    let curve: Vec<String> = rss
        .iter()
        .step_by(step)
        .map(|(t, kb)| format!("{t:.0}s:{}MB", kb / 1024))
        .collect();
    lines.push(format!("soak: RSS over time {}", curve.join(" ")));
    Figures {
        files: total,
        elapsed,
        cpu,
        lines,
    }
}
