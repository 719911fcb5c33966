//! Throughput and memory of the streaming MT940 reader.
//!
//! Writes a ~300 MB MT940 file (many messages, German `:86:` with `?20` subfields and SEPA
//! keywords) into a temp dir, reads it with `swift::read_statements` from a `BufReader<File>`
//! into a sink that only counts, and reports MB/s and the peak resident memory (`VmHWM`).
//!
//! Run: `cargo bench --bench mt940` (set `CLERK_BENCH_MB` for another size).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use clerk::extract::ExtractError;
use clerk::extract::sink::StatementSink;
use clerk::extract::swift;
use clerk::model::statement::{BankStatement, StatementEntry};
use rust_decimal::Decimal;

const ENTRIES_PER_MESSAGE: usize = 200;

#[derive(Default)]
struct Count {
    entries: u64,
    statements: u64,
    /// Sum of amounts, so the work cannot be optimised away and the data is checked.
    total: Decimal,
}

impl StatementSink for Count {
    fn entry(&mut self, e: StatementEntry) -> Result<(), ExtractError> {
        self.entries += 1;
        self.total += e.amount;
        Ok(())
    }

    fn statement(&mut self, _: BankStatement) -> Result<(), ExtractError> {
        self.statements += 1;
        Ok(())
    }
}

/// Writes messages until the file reaches `target` bytes; returns (entries, their sum).
fn generate(path: &std::path::Path, target: u64) -> std::io::Result<(u64, Decimal)> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut written: u64 = 0;
    let mut entries: u64 = 0;
    let mut total = Decimal::ZERO;
    let mut balance: i64 = 100_000_000; // cents
    let mut msg = 0u64;
    let mut buf = String::with_capacity(ENTRIES_PER_MESSAGE * 400);
    while written < target {
        msg += 1;
        buf.clear();
        let day = 1 + (msg % 28);
        buf.push_str(&format!(
            "{{1:F01BANKDEFFAXXX0000000000}}{{2:O9401200250{day:02}BANKDEFFAXXX00000000002501011200N}}{{4:\r\n\
             :20:STMT{msg:010}\r\n:25:37040044/0532013000\r\n:28C:{}/1\r\n:60F:{}2501{day:02}EUR{},{:02}\r\n",
            msg % 100_000,
            if balance < 0 { 'D' } else { 'C' },
            balance.abs() / 100,
            balance.abs() % 100
        ));
        for k in 0..ENTRIES_PER_MESSAGE as u64 {
            let cents = ((msg * 7919 + k * 104_729) % 500_000) as i64 + 1;
            let credit = !(msg + k).is_multiple_of(3);
            balance += if credit { cents } else { -cents };
            let amount = Decimal::new(if credit { cents } else { -cents }, 2);
            total += amount;
            entries += 1;
            buf.push_str(&format!(
                ":61:2501{day:02}01{day:02}{}R{},{:02}NTRFNONREF//{msg:08}{k:08}\r\n\
                 :86:166?00SEPA-UEBERWEISUNG?109310?20EREF+E2E-{msg}-{k}?21SVWZ+RE\r\n\
                 ?22CHNUNG INV-{:09} VOM 2025-01-{day:02} KUNDE 4711?23 DANKE?30COBADEFFXXX\r\n\
                 ?31DE89370400440532013000?32MUSTERMANN GMBH UND CO KOMMA?33NDITGESELLSCHAFT?34997\r\n",
                if credit { 'C' } else { 'D' },
                cents / 100,
                cents % 100,
                msg * 1000 + k
            ));
        }
        buf.push_str(&format!(
            ":62F:{}2501{day:02}EUR{},{:02}\r\n-}}{{5:{{CHK:123456789ABC}}}}\r\n",
            if balance < 0 { 'D' } else { 'C' },
            balance.abs() / 100,
            balance.abs() % 100
        ));
        w.write_all(buf.as_bytes())?;
        written += buf.len() as u64;
    }
    w.flush()?;
    Ok((entries, total))
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this too, and then a
    // small file is enough to check the bench still works.
    let testing = !std::env::args().any(|a| a == "--bench");
    let mb: u64 = std::env::var("CLERK_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if testing { 2 } else { 300 });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.sta");
    let t = Instant::now();
    let (want_entries, want_total) = generate(&path, mb * 1_000_000).expect("write the file");
    let size = std::fs::metadata(&path).expect("size").len();
    println!(
        "generated {:.1} MB, {want_entries} entries in {:.1} s",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_kib();
    let mut sink = Count::default();
    let t = Instant::now();
    let reader = BufReader::with_capacity(1 << 16, File::open(&path).expect("open"));
    let (ty, cut_short) =
        swift::read_statements(reader, "bench.sta", Arc::from("bench"), &mut sink)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cut_short, None);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(ty, swift::MtType::Mt940);
    assert_eq!(sink.entries, want_entries, "entry count");
    assert_eq!(sink.total, want_total, "sum of amounts");
    println!(
        "read {} statements, {} entries in {secs:.2} s: {:.1} MB/s, {:.0} entries/s",
        sink.statements,
        sink.entries,
        size as f64 / 1e6 / secs,
        sink.entries as f64 / secs
    );
    match (rss_before, peak_rss_kib()) {
        (Some(b), Some(a)) => println!(
            "peak RSS {:.1} MB (before reading {:.1} MB)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        ),
        _ => println!("peak RSS: /proc/self/status not available"),
    }
}
