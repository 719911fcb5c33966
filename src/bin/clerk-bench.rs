//! The benchmark's matcher: `clerk-bench LEDGER STATEMENT OUT` reads the two CSVs of
//! `shared/bench/gen_cash.py` straight into columns, runs the classic three passes (reference
//! `INV-\d{9}`, amount and date within 2 days, batch by counterparty, value date and
//! currency) and writes `results.csv` as the contract in `shared/bench/README.md` asks.
//! The contract counts calendar days, so every day is a business day here.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clerk::reconcile::engine::{
    self, Context, CsvColumn, CsvKind, CsvLayout, MatchDecision, MatchSpec, RunOptions, Table,
    TextStorage, load_csv,
};
use clerk::schedule::CalendarSpec;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn ledger_layout() -> CsvLayout {
    CsvLayout {
        identity: "id".into(),
        columns: vec![
            CsvColumn::new("value_date", "value_date", CsvKind::Date),
            CsvColumn::new("amount", "amount", CsvKind::Decimal),
            CsvColumn::new("currency", "currency", CsvKind::Currency),
            // Nearly unique: kept plain, the engine builds its code space when matching.
            CsvColumn::new("reference", "reference", CsvKind::Text(TextStorage::Plain)),
            // Only grouped on, by the batch pass, over the few rows still open then: a
            // dictionary of a million values would cost more than it saves.
            CsvColumn::new(
                "counterparty",
                "counterparty",
                CsvKind::Text(TextStorage::Plain),
            ),
        ],
    }
}

fn statement_layout() -> CsvLayout {
    CsvLayout {
        identity: "bank_reference".into(),
        columns: vec![
            CsvColumn::new("value_date", "value_date", CsvKind::Date),
            CsvColumn::new("amount", "amount", CsvKind::Decimal),
            CsvColumn::new("currency", "currency", CsvKind::Currency),
            CsvColumn::new(
                "remittance_info",
                "remittance",
                CsvKind::Text(TextStorage::Plain),
            ),
        ],
    }
}

fn load(path: &str, layout: &CsvLayout) -> anyhow::Result<Table> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let size = f.metadata().ok().map(|m| m.len());
    load_csv(f, layout, size).with_context(|| format!("reading {path}"))
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let timings = args.iter().any(|a| a == "--timings");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--timings").collect();
    let [ledger, statement, out] = args[..] else {
        anyhow::bail!("usage: clerk-bench LEDGER STATEMENT OUT [--timings]");
    };
    let t = Instant::now();
    let (ours, theirs) = std::thread::scope(|s| {
        let l = s.spawn(|| load(ledger, &ledger_layout()));
        let st = load(statement, &statement_layout());
        (l.join().expect("loading the ledger panicked"), st)
    });
    let (ours, theirs) = (ours?, theirs?);
    let read = t.elapsed();

    let t = Instant::now();
    let spec = MatchSpec {
        passes: Vec::new(),
        reference_pattern: Some(r"INV-\d{9}".into()),
        window_business_days: Some(2),
        ..engine::legacy_spec("", 0)
    };
    let plan = spec
        .check(&ours.schema(), &theirs.schema())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let every_day = CalendarSpec {
        weekend: Vec::new(),
        holidays: Vec::new(),
    }
    .check()
    .map_err(anyhow::Error::msg)?;
    let ctx = Context::new(&every_day).with_options(RunOptions {
        threads: 0,
        explain: false,
    });
    let outcome = engine::run(&plan, &ours, &theirs, &ctx)?;
    let matched = t.elapsed();

    let t = Instant::now();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    w.write_all(b"ledger_id,bank_reference,match_pass\n")?;
    // Plain byte writes: a million formatted lines cost more than the matching of them. The
    // contract leaves row order free: two threads format half of the matches each, in blocks
    // of about 1 MiB, written as they come.
    const BLOCK: usize = 1 << 20;
    let format = |ms: &[MatchDecision], tx: std::sync::mpsc::SyncSender<Vec<u8>>| {
        let mut block = Vec::with_capacity(BLOCK + 256);
        for m in ms {
            for &s in m.theirs.iter() {
                for &l in m.ours.iter() {
                    block.extend_from_slice(ours.identity(l as usize).as_bytes());
                    block.push(b',');
                    block.extend_from_slice(theirs.identity(s as usize).as_bytes());
                    block.push(b',');
                    block.extend_from_slice(m.pass.as_bytes());
                    block.push(b'\n');
                }
            }
            if block.len() >= BLOCK {
                let full = std::mem::replace(&mut block, Vec::with_capacity(BLOCK + 256));
                if tx.send(full).is_err() {
                    return; // the writer stopped on an error
                }
            }
        }
        let _ = tx.send(block);
    };
    std::thread::scope(|s| -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let (a, b) = outcome.matches.split_at(outcome.matches.len() / 2);
        let tx2 = tx.clone();
        s.spawn(move || format(a, tx2));
        s.spawn(move || format(b, tx));
        for block in rx {
            w.write_all(&block)?;
        }
        Ok(())
    })?;
    for u in &outcome.unmatched_ours {
        w.write_all(ours.identity(u.row as usize).as_bytes())?;
        w.write_all(b",,ledger_only\n")?;
    }
    for u in &outcome.unmatched_theirs {
        w.write_all(b",")?;
        w.write_all(theirs.identity(u.row as usize).as_bytes())?;
        w.write_all(b",statement_only\n")?;
    }
    // No fsync: the contract times a matcher, not the disk (the engines compared do not sync).
    w.flush()?;
    if timings {
        eprintln!(
            "read {:?}, match {:?}, write {:?}; {} matches; {}",
            read,
            matched,
            t.elapsed(),
            outcome.matches.len(),
            outcome.warnings.join("; ")
        );
    }
    // The process ends here: its memory goes back whole, without freeing a million matches
    // and two tables piece by piece first.
    std::mem::forget((outcome, ours, theirs));
    Ok(())
}
