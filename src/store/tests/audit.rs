//! The contract for the audit chain: every entry and break action a unit writes is chained
//! when it commits, nothing of a failed unit is, and the chain reads back intact. Then, for
//! SQLite, what an intruder with the file does (edits through another connection), what an
//! older database gets on its first open, and a column added later.

use super::*;
use crate::store::audit::ChainProblem;

fn head_seq(store: &mut dyn Store) -> i64 {
    in_read(store, |u| u.chain_head())
        .unwrap()
        .map_or(0, |h| h.seq)
}

fn a_break(run: i64, subject: &str) -> NewBreak<'_> {
    NewBreak {
        job: "bank",
        run_id: run,
        reason: BreakReason::MissingInLedger,
        detail: "no ledger item",
        amount: Some("12.34".parse().unwrap()),
        currency: Some("EUR".parse().unwrap()),
        difference: None,
        since: "2026-03-02".parse().unwrap(),
        owner: None,
        record_id: None,
        source: None,
        at: at(8),
        subject: Some(subject),
    }
}

pub(super) fn every_entry_and_break_action_is_chained_once_and_a_failed_unit_not_at_all(
    store: &mut dyn Store,
) {
    let before = in_read(store, |u| u.verify_chain()).unwrap();
    assert!(before.intact(), "{:?}", before.findings);
    let seq = head_seq(store);

    let (run, l, s) = seed(store, "audit");
    let brk = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: &entry("key-audit", "12.34"),
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })?;
        let b = u.open_break(&a_break(run, "audit|one"))?.unwrap();
        u.resolve_break(b, "booked by hand", "alice", at(9))?;
        Ok(b)
    })
    .unwrap();
    // One entry and two break actions (opened, resolved): three links, the head moved on.
    let head = in_read(store, |u| u.chain_head()).unwrap().unwrap();
    assert_eq!(head.seq, seq + 3);
    assert_eq!(head.hash.len(), 64);
    assert_eq!(head.short(), &head.hash[..12]);

    // A unit that fails after writing chains nothing: the head stays.
    let failed = in_unit(store, |u| {
        u.work_break(brk, &BreakAction::Note("looked again"), "bob", at(10))?;
        Err::<(), _>(StoreError::Other("given up".into()))
    });
    assert!(failed.is_err());
    assert_eq!(
        in_read(store, |u| u.chain_head()).unwrap(),
        Some(head.clone())
    );

    // A unit that writes neither leaves the head where it was.
    in_unit(store, |u| u.totals().map(drop)).unwrap();
    assert_eq!(head_seq(store), head.seq);

    let after = in_read(store, |u| u.verify_chain()).unwrap();
    assert!(after.intact(), "{:?}", after.findings);
    assert_eq!(after.entries, before.entries + 1);
    assert_eq!(after.break_actions, before.break_actions + 2);
    assert_eq!(after.head, Some(head));
}

/// Posts `n` entries in one unit (each over a ledger item and a statement line of its own).
fn post_many(store: &mut dyn Store, tag: &str, n: usize) -> std::time::Duration {
    let (run, _, _) = seed(store, tag);
    let ledger: Vec<Record> = (0..n)
        .map(|k| record(Side::Ledger, &format!("{tag}-{k}"), "1.00"))
        .collect();
    let bank: Vec<Record> = (0..n)
        .map(|k| record(Side::Statement, &format!("{tag}-BK{k}"), "1.00"))
        .collect();
    let started = std::time::Instant::now();
    in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", &format!("sha-many-{tag}")))?;
        u.add_records("main", f, &ledger)?;
        u.add_records("bank", f, &bank)?;
        let l = u.open_records("main", Side::Ledger, None)?;
        let s = u.open_records("bank", Side::Statement, None)?;
        let l: Vec<i64> = l
            .iter()
            .filter(|r| r.record.external_id.starts_with(&format!("{tag}-")))
            .map(|r| r.id)
            .collect();
        let s: Vec<i64> = s
            .iter()
            .filter(|r| r.record.external_id.starts_with(&format!("{tag}-BK")))
            .map(|r| r.id)
            .collect();
        for (k, (l, s)) in l.iter().zip(&s).enumerate() {
            u.post_match(&NewMatch {
                job: "bank",
                run_id: run,
                pass: MatchPass::Reference,
                record_ids: &[*l, *s],
                entry: &entry(&format!("key-{tag}-{k}"), "1.00"),
                at: at(8),
                explanation: None,
                actor: None,
                reason: None,
            })?;
        }
        Ok(())
    })
    .unwrap();
    started.elapsed()
}

fn first_problem(store: &mut dyn Store) -> (ChainProblem, Option<i64>, String) {
    let r = in_read(store, |u| u.verify_chain()).unwrap();
    let f = r.findings.first().expect("a finding");
    (f.problem, f.row_id, f.text.clone())
}

#[test]
fn sqlite_names_an_edited_line_an_edited_link_and_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clerk.db");
    let mut store = SqliteStore::open(&path).unwrap();
    post_many(&mut store, "t", 3);
    let intruder = rusqlite::Connection::open(&path).unwrap();
    let entry: i64 = intruder
        .query_row("SELECT min(id) FROM entries", [], |r| r.get(0))
        .unwrap();

    let account: String = intruder
        .query_row(
            "SELECT account FROM entry_lines WHERE entry_id = ? AND line_no = 1",
            [entry],
            |r| r.get(0),
        )
        .unwrap();
    intruder
        .execute(
            "UPDATE entry_lines SET account = '9999' WHERE entry_id = ? AND line_no = 1",
            [entry],
        )
        .unwrap();
    let (problem, row, text) = first_problem(&mut store);
    assert_eq!((problem, row), (ChainProblem::Changed, Some(entry)));
    assert!(
        text.starts_with(&format!(
            "entry {entry} (job bank, posted 2026-03-02): changed after it was posted"
        )),
        "{text}"
    );
    intruder
        .execute(
            "UPDATE entry_lines SET account = ?2 WHERE entry_id = ?1 AND line_no = 1",
            rusqlite::params![entry, account],
        )
        .unwrap();
    assert!(in_read(&mut store, |u| u.verify_chain()).unwrap().intact());

    // A chain row's hash overwritten: that row no longer follows from its fields, and the
    // next one no longer links to it.
    intruder
        .execute(
            "UPDATE audit_chain SET hash = ? WHERE seq = 1",
            ["f".repeat(64)],
        )
        .unwrap();
    let r = in_read(&mut store, |u| u.verify_chain()).unwrap();
    let problems: Vec<(ChainProblem, Option<i64>)> =
        r.findings.iter().map(|f| (f.problem, f.seq)).collect();
    assert_eq!(
        problems,
        [
            (ChainProblem::LinkEdited, Some(1)),
            (ChainProblem::LinkBroken, Some(2))
        ]
    );

    // A chain row deleted: the gap is named.
    let mut store = SqliteStore::open(&path).unwrap();
    intruder
        .execute("DELETE FROM audit_chain WHERE seq = 2", [])
        .unwrap();
    let r = in_read(&mut store, |u| u.verify_chain()).unwrap();
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem == ChainProblem::LinkMissing && f.seq == Some(3)),
        "{:?}",
        r.findings
    );
}

#[test]
fn sqlite_chains_an_older_database_on_its_first_open_and_a_column_added_later_keeps_old_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clerk.db");
    let n = 1000;
    {
        let mut store = SqliteStore::open(&path).unwrap();
        let with_chain = post_many(&mut store, "m", n);
        eprintln!("a unit posting {n} entries, chained as it commits: {with_chain:?}");
    }
    // As an older clerk left it: the schema before the chain's migration, so no chain yet
    // (the tables of that migration and of every later one dropped, to be made again).
    let migrations = crate::store::sqlite::MIGRATIONS;
    let chain = migrations
        .iter()
        .position(|m| m.contains("CREATE TABLE audit_chain"))
        .unwrap();
    let created = |sql: &&str| -> Vec<String> {
        sql.split("CREATE TABLE ")
            .skip(1)
            .map(|name| name.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    // A later migration may rebuild an older table (SQLite cannot change a CHECK in place);
    // that table stays, the migration runs again over it.
    let older: Vec<String> = migrations[..chain].iter().flat_map(created).collect();
    let old = rusqlite::Connection::open(&path).unwrap();
    for sql in &migrations[chain..] {
        for name in created(sql).iter().filter(|n| !older.contains(n)) {
            old.execute_batch(&format!("DROP TABLE IF EXISTS {name}"))
                .unwrap();
        }
    }
    old.pragma_update(None, "user_version", chain as i64)
        .unwrap();
    drop(old);
    let started = std::time::Instant::now();
    let mut store = SqliteStore::open(&path).unwrap();
    eprintln!(
        "the first open after migrating chains {} rows in {:?}",
        n + 1,
        started.elapsed()
    );
    let r = in_read(&mut store, |u| u.verify_chain()).unwrap();
    assert!(r.intact(), "{:?}", r.findings);
    assert_eq!(r.entries, n as u64);
    assert_eq!(
        r.head.as_ref().unwrap().seq,
        r.entries as i64 + r.break_actions as i64
    );

    // Another migration adds a column, NULL in the rows already there: their hashes stand.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("ALTER TABLE entries ADD COLUMN later_note TEXT")
        .unwrap();
    assert!(in_read(&mut store, |u| u.verify_chain()).unwrap().intact());
    // Filling it in later is a change like any other.
    other
        .execute(
            "UPDATE entries SET later_note = 'x' WHERE id = (SELECT max(id) FROM entries)",
            [],
        )
        .unwrap();
    let (problem, _, text) = first_problem(&mut store);
    assert_eq!(problem, ChainProblem::Changed, "{text}");
    // New rows are chained with the new column in their content.
    other
        .execute("UPDATE entries SET later_note = NULL", [])
        .unwrap();
    post_many(&mut store, "n", 2);
    let r = in_read(&mut store, |u| u.verify_chain()).unwrap();
    assert!(r.intact(), "{:?}", r.findings);
    assert_eq!(r.entries, n as u64 + 2);
}
