//! Export: 1,000,000 posted entries (two or three lines each, as the jobs post them) rendered
//! by each format clerk writes (`export::FORMATS`): MB/s of output and the process's peak
//! memory (VmHWM) after each format, which shows a format keeps nothing per entry.
//!
//! The entries are made one at a time as the format asks for them (as the store hands them
//! out a chunk at a time), and the bytes go to a counting sink: this measures the formats, not
//! the disk or SQLite. `cargo bench --bench export` runs 1,000,000 entries
//! (`CLERK_EXPORT_ENTRIES` for another count); `cargo test --benches` runs 20,000 as a check
//! that it works. A format that needs options it was not given (`[exports.options]`) is
//! reported as skipped, with the reason.
//!
//! Then the same entries the way the daemon exports them: posted into a real SQLite store
//! (written with SQL in one transaction, then chained by the audit trail's first unit), and
//! each format's target brought up to date by `jobs::exports::export_target` into a real
//! folder — read from the store a chunk at a time, rendered, fsynced, recorded, renamed. Peak
//! memory there is measured per format (VmHWM reset before each).

use std::io::{self, Write};
use std::str::FromStr;
use std::time::Instant;

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use clerk::export::{AccountClass, Accounts, Batch, FORMATS, format_for};
use clerk::model::journal::PostedEntry;
use clerk::model::{Currency, EntryLine};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let entries: u64 = std::env::var("CLERK_EXPORT_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let accounts = accounts();
    println!("export: {entries} entries per format, rendered (no store, no disk)");
    for name in FORMATS {
        let mut format = match format_for(name, &toml::Table::new()) {
            Ok(f) => f,
            Err(why) => {
                println!("{name:<10} skipped: {why}");
                continue;
            }
        };
        let batch = Batch {
            target: "bench",
            number: 1,
            created_at: Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap(),
            first_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            last_date: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            reexport: false,
        };
        let mut out = Counting(0);
        reset_peak();
        let t = Instant::now();
        format.begin(&mut out, &batch).expect("begin");
        let mut refused = 0u64;
        for id in 1..=entries as i64 {
            if format.entry(&mut out, &entry(id), &accounts).is_err() {
                refused += 1;
            }
        }
        format.finish(&mut out).expect("finish");
        let secs = t.elapsed().as_secs_f64();
        let mb = out.0 as f64 / 1e6;
        assert_eq!(refused, 0, "{name} refused {refused} entries");
        println!(
            "{name:<10} {mb:>9.1} MB in {secs:>6.2} s  {:>7.1} MB/s  {:>9.0} entries/s  peak {} MB",
            mb / secs.max(1e-9),
            entries as f64 / secs.max(1e-9),
            peak_mb().map_or("?".into(), |m| m.to_string())
        );
    }
    println!("export: the same through the store into files, as the daemon exports them");
    through_the_store(entries, &accounts);
}

/// The entries through the store into files, per format, as the daemon exports them.
fn through_the_store(entries: u64, accounts: &Accounts) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("clerk.db");
    drop(clerk::store::SqliteStore::open(&path).expect("a store"));
    reset_peak();
    let t = Instant::now();
    {
        let mut db = rusqlite::Connection::open(&path).expect("the store's file");
        let tx = db.transaction().expect("a transaction");
        tx.execute(
            "INSERT INTO runs (id, job, trigger, started_at) VALUES (1, 'bench', 'file', '2026-12-01T06:00:00Z')",
            [],
        )
        .expect("a run");
        {
            let mut m = tx
                .prepare("INSERT INTO matches (id, job, run_id, pass, created_at) VALUES (?1, 'bench', 1, 'reference', '2026-12-01T06:00:00Z')")
                .unwrap();
            let mut e = tx
                .prepare("INSERT INTO entries (id, idempotency_key, job, run_id, match_id, posting_date, narrative, posted_at) VALUES (?1, ?2, 'bench', 1, ?1, ?3, ?4, '2026-12-01T06:00:00Z')")
                .unwrap();
            let mut l = tx
                .prepare("INSERT INTO entry_lines (entry_id, line_no, account, currency, amount) VALUES (?1, ?2, ?3, ?4, ?5)")
                .unwrap();
            for id in 1..=entries as i64 {
                let en = entry(id);
                m.execute([id]).unwrap();
                e.execute(rusqlite::params![
                    id,
                    format!("bench-{id}"),
                    en.posting_date.to_string(),
                    en.narrative
                ])
                .unwrap();
                for (n, line) in en.lines.iter().enumerate() {
                    l.execute(rusqlite::params![
                        id,
                        n as i64 + 1,
                        line.account,
                        line.currency.as_str(),
                        line.amount.to_string()
                    ])
                    .unwrap();
                }
            }
        }
        tx.commit().expect("commit");
    }
    let posted = t.elapsed().as_secs_f64();
    let posting_peak = peak_mb();
    reset_peak();
    let t = Instant::now();
    let mut store = clerk::store::SqliteStore::open(&path).expect("the store");
    // The audit chain links rows as a unit commits: the first unit links all of them.
    clerk::store::in_unit(&mut store, |_| Ok(())).expect("chained");
    println!(
        "store: {entries} entries posted in {posted:.1} s (peak {} MB), chained in {:.1} s (peak {} MB)",
        posting_peak.map_or("?".into(), |m| m.to_string()),
        t.elapsed().as_secs_f64(),
        peak_mb().map_or("?".into(), |m| m.to_string())
    );
    for name in FORMATS {
        let Ok(format) = format_for(name, &toml::Table::new()) else {
            continue;
        };
        let folder = dir.path().join(name);
        let target = clerk::config::ExportTarget {
            name: format!("bench-{name}"),
            format: name.to_string(),
            folder: folder.clone(),
            schedule: None,
            accounts: accounts.clone(),
            options: toml::Table::new(),
            extension: format.extension(),
        };
        reset_peak();
        let t = Instant::now();
        let done = clerk::jobs::exports::export_target(&mut store, &target, &Utc::now, usize::MAX)
            .expect("exported");
        let secs = t.elapsed().as_secs_f64();
        let bytes: u64 = std::fs::read_dir(&folder)
            .unwrap()
            .map(|f| f.unwrap().metadata().unwrap().len())
            .sum();
        let exported: u64 = done.written.iter().map(|b| b.entries).sum();
        assert_eq!(exported, entries, "{name}: every entry once");
        let mb = bytes as f64 / 1e6;
        println!(
            "{name:<10} {mb:>9.1} MB in {secs:>6.2} s  {:>7.1} MB/s  {:>9.0} entries/s  {} files  peak {} MB",
            mb / secs.max(1e-9),
            entries as f64 / secs.max(1e-9),
            done.written.len(),
            peak_mb().map_or("?".into(), |m| m.to_string())
        );
    }
}

/// Resets VmHWM to the present size (Linux: `5` into clear_refs), so the next peak is one
/// format's own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The accounts the entries use, classed as a chart would, so formats that prefix the class
/// (hledger, beancount) have it.
fn accounts() -> Accounts {
    let mut a = Accounts::default();
    for (account, class) in [
        ("1200 Bank", AccountClass::Asset),
        ("1400 Receivables", AccountClass::Asset),
        ("4900 Bank fees", AccountClass::Expense),
        ("8400 Revenue", AccountClass::Income),
    ] {
        a.classes.insert(account.to_string(), class);
    }
    a
}

/// Entry `id`: a receipt (bank against receivables), every third with a fee line, amounts and
/// dates spread as a year of statements would be.
fn entry(id: i64) -> PostedEntry {
    let cents = 100 + (id * 7919) % 1_000_000;
    let amount = Decimal::new(cents, 2);
    let eur = Currency::from_str("EUR").unwrap();
    let line = |account: &str, amount: Decimal| EntryLine {
        account: account.to_string(),
        currency: eur,
        amount,
        fx: None,
    };
    let mut lines = vec![line("1200 Bank", amount)];
    if id % 3 == 0 {
        let fee = Decimal::new(150, 2);
        lines[0].amount -= fee;
        lines.push(line("4900 Bank fees", fee));
    }
    lines.push(line("1400 Receivables", -amount));
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new((id % 365) as u64);
    PostedEntry {
        id,
        job: "bank-reconciliation".into(),
        posting_date: day,
        narrative: format!("Payment INV-{id:09} ACME GmbH"),
        posted_at: Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap(),
        run_id: 1 + id / 1000,
        match_id: id,
        pass: "reference".into(),
        lines,
        sources: vec![
            format!("statement-{}.csv line {}", id / 1000, 2 + id % 1000),
            format!("ledger-{}.csv line {}", id / 1000, 2 + id % 1000),
        ],
        reverses: None,
        reversed_by: None,
        value_date: None,
    }
}

/// The process's peak resident memory (VmHWM), in MB.
fn peak_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Counts the bytes written, keeps none.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
