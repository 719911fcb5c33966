//! Integrity check: how long the store's checks take on a large store. `clerk run` runs the
//! quick one (`PRAGMA quick_check`, every page read once) before it takes any work, so this is
//! what it adds to the start; `clerk check` runs the thorough one (`integrity_check`, every
//! index checked against its table).
//!
//! `cargo bench --bench integrity` builds a store with 2,000,000 ledger records (about 0.6 GB)
//! through clerk's schema; `CLERK_INTEGRITY_RECORDS` for another size. The page cache is warm
//! (the store was just written), as it mostly is on a restart; a cold start reads the file from
//! disk first. `cargo test --benches` runs it on 20,000 records as a check that it works.

use std::time::Instant;

use clerk::store::{self, CheckDepth};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::var("CLERK_INTEGRITY_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 2_000_000 } else { 20_000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("clerk.db");
    drop(store::open(&path).expect("create the store"));

    let t = Instant::now();
    fill(&path, records);
    let size = std::fs::metadata(&path).expect("store size").len();
    let mb = size as f64 / 1e6;
    println!(
        "store: {records} records, {mb:.0} MB (built in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    let mut s = store::open(&path).expect("open the store");
    for (name, depth) in [
        ("quick_check (clerk run)", CheckDepth::Quick),
        ("integrity_check (clerk check)", CheckDepth::Thorough),
    ] {
        let t = Instant::now();
        let found = s.damage(depth).expect("check");
        let secs = t.elapsed().as_secs_f64();
        assert!(found.is_empty(), "{found:?}");
        println!(
            "{name:<32} {secs:>7.2} s  {:>6.0} MB/s",
            mb / secs.max(1e-9)
        );
    }
}

/// Ledger records of one file, written straight through SQL in one transaction: the point is
/// a store of a realistic shape and size, not the speed of the pipeline.
fn fill(path: &std::path::Path, records: u64) {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let tx = conn.transaction().expect("begin");
    tx.execute(
        "INSERT INTO files (id, job, sha256, name, size, arrived_at, status)
         VALUES (1, 'ledger-import', 'bench', 'ledger.csv', 0, '2026-03-02T07:00:00Z', 'processed')",
        [],
    )
    .expect("file");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO records (scope, side, identity, file_id, row, external_id, account,
                     value_date, amount, currency, reference, counterparty)
                 VALUES ('cash-eur', 'ledger', ?1, 1, ?2, ?3, 'CASH-EUR-01', '2026-03-02', ?4,
                     'EUR', ?5, ?6)",
            )
            .expect("prepare");
        for k in 0..records {
            insert
                .execute(rusqlite::params![
                    format!(
                        "ledger|{k:012}|{:016x}",
                        k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ),
                    k as i64,
                    k.to_string(),
                    format!("{}.{:02}", 100 + k % 100_000, k % 100),
                    format!("INV-{k:09}"),
                    format!("COUNTERPARTY {} GMBH", k % 5_000),
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}
