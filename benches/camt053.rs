//! Throughput and memory of the streaming camt.053 reader.
//!
//! Writes a large camt.053.001.08 (a few statements with very many entries: SEPA credits and
//! debits with related parties, agents, structured and unstructured remittance, and every
//! 40th entry a batch of 5 transactions) into a temporary directory, reads it with
//! `read_statements` from a `BufReader<File>` into a sink that only counts, and reports MB/s
//! and the peak resident memory (`VmHWM`). A small file is read first, then the peak is reset
//! and the large one read: the two peaks show that memory does not grow with the file.
//!
//! Run: `cargo bench --bench camt053` (`CLERK_BENCH_MB=300` sets the size of the large file).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clerk::extract::ExtractError;
use clerk::extract::iso20022::{IsoMessage, read_statements};
use clerk::extract::sink::StatementSink;
use clerk::model::statement::{BankStatement, StatementEntry};
use rust_decimal::Decimal;

/// Statements in each generated file.
const STATEMENTS: usize = 4;
/// Every this many entries is a batch.
const BATCH_EVERY: usize = 40;
/// Transactions per batch.
const BATCH_SIZE: usize = 5;

#[derive(Default)]
struct Count {
    entries: u64,
    statements: u64,
    batch_transactions: u64,
    sum: Decimal,
}

impl StatementSink for Count {
    fn entry(&mut self, entry: StatementEntry) -> Result<(), ExtractError> {
        self.entries += 1;
        self.batch_transactions += u64::from(entry.batch.is_some());
        self.sum += entry.amount;
        Ok(())
    }

    fn statement(&mut self, _statement: BankStatement) -> Result<(), ExtractError> {
        self.statements += 1;
        Ok(())
    }
}

/// What a generated file holds, to check the reader against.
struct Written {
    bytes: u64,
    entries: u64,
    batch_transactions: u64,
    sum: Decimal,
}

fn cents(n: usize) -> i64 {
    // Deterministic, varied amounts from 0.01 to 99,999.99.
    ((n as i64).wrapping_mul(7_919).rem_euclid(9_999_999)) + 1
}

fn write_file(path: &Path, target_bytes: u64) -> std::io::Result<Written> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut written = Written {
        bytes: 0,
        entries: 0,
        batch_transactions: 0,
        sum: Decimal::ZERO,
    };
    let header = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>BENCH-20240331-0001</MsgId>
      <CreDtTm>2024-03-31T22:15:00+02:00</CreDtTm>
    </GrpHdr>
"#;
    w.write_all(header.as_bytes())?;
    let per_statement = target_bytes / STATEMENTS as u64;
    let mut n = 0usize;
    let mut out = header.len() as u64;
    for s in 0..STATEMENTS {
        let stmt_head = format!(
            r#"    <Stmt>
      <Id>BENCH-STMT-{s}</Id>
      <ElctrncSeqNb>{seq}</ElctrncSeqNb>
      <CreDtTm>2024-03-31T22:15:00+02:00</CreDtTm>
      <FrToDt><FrDtTm>2024-03-01T00:00:00+01:00</FrDtTm><ToDtTm>2024-03-31T23:59:59+02:00</ToDtTm></FrToDt>
      <Acct>
        <Id><IBAN>DE02100100109307118603</IBAN></Id>
        <Ccy>EUR</Ccy>
        <Ownr><Nm>Clerk Bench GmbH</Nm></Ownr>
        <Svcr><FinInstnId><BICFI>PBNKDEFFXXX</BICFI></FinInstnId></Svcr>
      </Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">1000000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2024-03-01</Dt></Dt>
      </Bal>
"#,
            seq = 100 + s
        );
        w.write_all(stmt_head.as_bytes())?;
        out += stmt_head.len() as u64;
        let stop = out + per_statement;
        while out < stop {
            let entry = entry_xml(n, &mut written);
            w.write_all(entry.as_bytes())?;
            out += entry.len() as u64;
            n += 1;
        }
        let tail = "    </Stmt>\n";
        w.write_all(tail.as_bytes())?;
        out += tail.len() as u64;
    }
    let end = "  </BkToCstmrStmt>\n</Document>\n";
    w.write_all(end.as_bytes())?;
    out += end.len() as u64;
    w.flush()?;
    written.bytes = out;
    Ok(written)
}

fn entry_xml(n: usize, written: &mut Written) -> String {
    let credit = !n.is_multiple_of(3);
    let ind = if credit { "CRDT" } else { "DBIT" };
    let day = 1 + n % 28;
    let batch = n % BATCH_EVERY == BATCH_EVERY - 1;
    let (txs, total) = if batch {
        let amounts: Vec<i64> = (0..BATCH_SIZE).map(|i| cents(n * 7 + i)).collect();
        let total: i64 = amounts.iter().sum();
        let txs: String = amounts
            .iter()
            .enumerate()
            .map(|(i, c)| tx_xml(n, i, *c, ind))
            .collect();
        written.entries += BATCH_SIZE as u64;
        written.batch_transactions += BATCH_SIZE as u64;
        (
            format!("<Btch><NbOfTxs>{BATCH_SIZE}</NbOfTxs></Btch>{txs}"),
            total,
        )
    } else {
        let c = cents(n);
        written.entries += 1;
        (tx_xml(n, 0, c, ind), c)
    };
    let sign = if credit { 1 } else { -1 };
    written.sum += Decimal::new(sign * total, 2);
    let amount = Decimal::new(total, 2);
    format!(
        r#"      <Ntry>
        <NtryRef>{n:010}</NtryRef>
        <Amt Ccy="EUR">{amount}</Amt>
        <CdtDbtInd>{ind}</CdtDbtInd>
        <RvslInd>false</RvslInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2024-03-{day:02}</Dt></BookgDt>
        <ValDt><Dt>2024-03-{day:02}</Dt></ValDt>
        <AcctSvcrRef>2024033{n:012}</AcctSvcrRef>
        <BkTxCd>
          <Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
          <Prtry><Cd>NTRF+166</Cd><Issr>DK</Issr></Prtry>
        </BkTxCd>
        <NtryDtls>{txs}</NtryDtls>
        <AddtlNtryInf>SEPA Credit Transfer</AddtlNtryInf>
      </Ntry>
"#
    )
}

fn tx_xml(n: usize, i: usize, cents: i64, ind: &str) -> String {
    let amount = Decimal::new(cents, 2);
    let rmt = if n.is_multiple_of(2) {
        format!(
            "<Ustrd>Invoice RE-2024-{n:07}-{i} customer 4711 thank you for your order</Ustrd><Ustrd>Zahlung fuer Lieferung vom 2024-03-{:02}</Ustrd>",
            1 + n % 28
        )
    } else {
        format!(
            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>RF18{n:014}</Ref></CdtrRefInf><AddtlRmtInf>Order {n}</AddtlRmtInf></Strd>"
        )
    };
    format!(
        r#"
          <TxDtls>
            <Refs>
              <AcctSvcrRef>TX{n:010}{i}</AcctSvcrRef>
              <EndToEndId>E2E-{n:010}-{i}</EndToEndId>
              <MndtId>MNDT-{n}</MndtId>
            </Refs>
            <Amt Ccy="EUR">{amount}</Amt>
            <CdtDbtInd>{ind}</CdtDbtInd>
            <RltdPties>
              <Dbtr><Pty><Nm>Muster Handels GmbH {n}</Nm><PstlAdr><StrtNm>Hauptstrasse</StrtNm><BldgNb>{i}</BldgNb><PstCd>10115</PstCd><TwnNm>Berlin</TwnNm><Ctry>DE</Ctry></PstlAdr></Pty></Dbtr>
              <DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
              <Cdtr><Pty><Nm>Clerk Bench GmbH</Nm></Pty></Cdtr>
              <CdtrAcct><Id><IBAN>DE02100100109307118603</IBAN></Id></CdtrAcct>
            </RltdPties>
            <RltdAgts>
              <DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>
            </RltdAgts>
            <Purp><Cd>GDDS</Cd></Purp>
            <RmtInf>{rmt}</RmtInf>
          </TxDtls>"#
    )
}

/// Peak resident set size in MB, from `/proc/self/status` (`VmHWM`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak resident set size to the current one (Linux: `5` into `clear_refs`).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn run(dir: &Path, mb: u64, baseline: bool) -> (f64, Option<f64>) {
    let path = dir.join(format!("camt053-{mb}mb.xml"));
    let t = Instant::now();
    let written = write_file(&path, mb << 20).expect("write the bench file");
    let gen_secs = t.elapsed().as_secs_f64();
    let reset = reset_peak();
    let t = Instant::now();
    let mut count = Count::default();
    let file = File::open(&path).expect("open");
    let kind = read_statements(
        BufReader::with_capacity(1 << 16, file),
        "bench.xml",
        Arc::from("bench"),
        &mut count,
        None,
    )
    .expect("read the bench file");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(kind, IsoMessage::Camt053);
    assert_eq!(count.statements, STATEMENTS as u64, "statements");
    assert_eq!(count.entries, written.entries, "entries");
    assert_eq!(
        count.batch_transactions, written.batch_transactions,
        "batch transactions"
    );
    assert_eq!(count.sum, written.sum, "sum of amounts");
    let size_mb = written.bytes as f64 / (1u64 << 20) as f64;
    let peak = peak_rss_mb();
    println!(
        "camt053 {size_mb:>7.1} MB ({} entries, {} in batches; written in {gen_secs:.1} s): read in {secs:.2} s = {:.1} MB/s, {:.0} entries/s; peak RSS {}{}",
        count.entries,
        count.batch_transactions,
        size_mb / secs,
        count.entries as f64 / secs,
        peak.map_or("unknown".to_string(), |p| format!("{p:.1} MB")),
        if reset {
            ""
        } else {
            " (peak not reset: includes earlier work)"
        },
    );
    if baseline {
        // For scale: the XML tokenizer alone over the same file, building nothing.
        let t = Instant::now();
        let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(
            1 << 16,
            File::open(&path).expect("open"),
        ));
        let mut buf = Vec::new();
        let mut events = 0u64;
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => events += 1,
                Err(e) => panic!("{e}"),
            }
            buf.clear();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "         (tokenizer alone, no tree: {events} events in {secs:.2} s = {:.1} MB/s)",
            size_mb / secs
        );
    }
    let _ = std::fs::remove_file(&path);
    (size_mb / secs, peak)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, with a small file.
    let testing = !std::env::args().any(|a| a == "--bench");
    let large: u64 = std::env::var("CLERK_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if testing { 4 } else { 300 });
    let dir = tempfile::tempdir().expect("temp dir");
    let small = (large / 10).max(1);
    let (_, small_peak) = run(dir.path(), small, false);
    let (_, large_peak) = run(dir.path(), large, !testing);
    if let (Some(s), Some(l)) = (small_peak, large_peak) {
        println!(
            "peak RSS: {s:.1} MB reading {small} MB, {l:.1} MB reading {large} MB (file {}x larger)",
            large / small
        );
        // Memory is bounded by the largest entry, not the file: a tenfold file may not
        // need much more than the small one's peak.
        assert!(
            l < s * 1.5 + 16.0,
            "peak memory grew with the file: {s:.1} MB -> {l:.1} MB"
        );
    }
}
