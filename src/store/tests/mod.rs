//! The store's contract, as one suite every backend must pass.

mod approvals;
mod arrivals;
mod audit;
mod bank;
mod breaks;
mod console;
mod documents;
mod exports;
mod mail;
mod monitoring;
mod records;
mod reversals;
mod users;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::model::{
    BreakReason, BreakStatus, Currency, EntryLine, JournalEntry, MatchPass, Record, Side, Source,
    StoredRecord,
};

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
}

fn record(side: Side, id: &str, amount: &str) -> Record {
    Record {
        side,
        external_id: id.into(),
        account: Some("CASH-EUR-01".into()),
        value_date: "2026-03-02".parse().unwrap(),
        booking_date: None,
        amount: amount.parse().unwrap(),
        currency: "EUR".parse().unwrap(),
        reference: Some(format!("INV-{id}")),
        counterparty: Some("ACME".into()),
        remittance: None,
        codes: None,
        source: Source {
            file: Arc::from("abc"),
            sheet: None,
            row: 2,
            locator: None,
        },
    }
}

fn new_file<'a>(job: &'a str, sha: &'a str) -> NewFile<'a> {
    NewFile {
        job,
        sha256: sha,
        name: "ledger.csv",
        size: 10,
        arrived_at: at(7),
        status: FileStatus::Processed,
        error: None,
        duplicate_of: None,
    }
}

fn entry(key: &str, amount: &str) -> JournalEntry {
    let a: Decimal = amount.parse().unwrap();
    JournalEntry {
        idempotency_key: key.into(),
        posting_date: "2026-03-02".parse().unwrap(),
        narrative: "test".into(),
        lines: vec![
            EntryLine {
                account: "1010".into(),
                currency: "EUR".parse().unwrap(),
                amount: a,
                fx: None,
            },
            EntryLine {
                account: "1200".into(),
                currency: "EUR".parse().unwrap(),
                amount: -a,
                fx: None,
            },
        ],
    }
}

/// Stores one ledger item and one statement line; returns (run, ledger id, statement id).
fn seed(store: &mut dyn Store, tag: &str) -> (i64, i64, i64) {
    let sha = format!("sha-{tag}");
    in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", &sha))?;
        let run = u.start_run("bank", Trigger::File, Some(f), at(7))?;
        u.add_records(
            "main",
            f,
            &[record(Side::Ledger, tag, "12345678901234567.89")],
        )?;
        u.add_records(
            "bank",
            f,
            &[record(
                Side::Statement,
                &format!("BK{tag}"),
                "12345678901234567.89",
            )],
        )?;
        let l = u
            .open_records("main", Side::Ledger, None)?
            .last()
            .unwrap()
            .id;
        let s = u
            .open_records("bank", Side::Statement, None)?
            .last()
            .unwrap()
            .id;
        Ok((run, l, s))
    })
    .unwrap()
}

pub fn conformance(store: &mut dyn Store) {
    records::amounts_round_trip_exactly(store);
    a_failed_unit_leaves_nothing_behind(store);
    records::records_are_kept_once_per_identity(store);
    records::two_equal_lines_of_one_file_are_two_records(store);
    records::a_ledger_item_sent_again_with_other_content_is_a_new_version(store);
    records::a_statement_line_keeps_its_bank_codes(store);
    bank::a_bank_account_is_proved_by_its_statements_entries_and_open_lines(store);
    documents::statements_and_documents_are_kept(store);
    breaks::posting_is_idempotent_and_records_are_used_once(store);
    breaks::an_entry_across_currencies_keeps_its_transaction_amounts_and_rates(store);
    breaks::a_record_has_one_open_break(store);
    breaks::a_failed_file_is_replaced_by_one_of_its_name_processed_later(store);
    breaks::kpis_count_a_break_only_once_it_was_open_its_grace_period(store);
    breaks::a_subject_has_one_unresolved_break_that_updates_and_closes(store);
    mail::outbox_keeps_each_message_once(store);
    mail::schedules_remember_their_last_fire(store);
    mail::mail_is_remembered_by_key_message_id_and_content(store);
    parts_posted_against_an_open_item_are_found_until_it_is_settled(store);
    users::users_are_kept_once_by_name_with_who_changed_them(store);
    users::sessions_end_on_logout_expiry_disable_and_new_password(store);
    approvals::a_break_has_one_pending_proposal_and_every_step_is_in_its_history(store);
    arrivals::arrivals_are_found_in_their_window_and_checks_are_remembered(store);
    console::the_queue_pages_every_break_once_in_each_order(store);
    monitoring::monitoring_counts_per_job_and_a_break_is_escalated_once(store);
    audit::every_entry_and_break_action_is_chained_once_and_a_failed_unit_not_at_all(store);
    exports::a_cursor_moves_once_with_its_batch_and_entries_come_in_id_order(store);
    reversals::a_reversal_undoes_its_match_once_and_holds_its_records_for_a_person(store);
    reversals::a_documents_entry_reversed_is_not_posted_again(store);
    reversals::a_reversal_proposal_names_its_entry(store);
    reversals::a_part_payment_reversed_pays_its_item_no_more(store);
    reversals::a_closed_period_moves_posting_to_the_first_open_day(store);
    a_sound_store_reports_no_damage(store);
}

/// A bank line posted as part of a ledger item that stays open is linked to it, and found
/// with it while the item is open; once the item is settled, no longer.
fn parts_posted_against_an_open_item_are_found_until_it_is_settled(store: &mut dyn Store) {
    let (run, item, part) = seed(store, "part");
    let post = |u: &mut dyn Unit, ids: &[i64], key: &str| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Batch,
            record_ids: ids,
            entry: &entry(key, "1.00"),
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })
    };
    in_unit(store, |u| {
        post(u, &[part], "key-part")?;
        u.link_parts("bank", item, &[part])
    })
    .unwrap();
    let found = in_unit(store, |u| u.parts_of_open_items("bank")).unwrap();
    let found: Vec<(i64, i64)> = found.iter().map(|(i, r)| (*i, r.id)).collect();
    assert_eq!(found, [(item, part)]);
    assert!(
        in_unit(store, |u| u.parts_of_open_items("other-job"))
            .unwrap()
            .is_empty()
    );
    in_unit(store, |u| post(u, &[item], "key-rest").map(|_| ())).unwrap();
    assert!(
        in_unit(store, |u| u.parts_of_open_items("bank"))
            .unwrap()
            .is_empty()
    );
}

fn a_sound_store_reports_no_damage(store: &mut dyn Store) {
    assert_eq!(
        store.damage(CheckDepth::Quick).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.damage(CheckDepth::Thorough).unwrap(),
        Vec::<String>::new()
    );
}

fn a_failed_unit_leaves_nothing_behind(store: &mut dyn Store) {
    let before = in_read(store, |u| u.totals()).unwrap();
    let result = in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", "sha-2"))?;
        u.add_records("main", f, &[record(Side::Ledger, "99", "1.00")])?;
        Err::<(), _>(StoreError::Other("disk on fire".into()))
    });
    assert!(result.is_err());
    let after = in_read(store, |u| u.totals()).unwrap();
    assert_eq!(before.records, after.records);
    assert_eq!(before.files_processed, after.files_processed);
}

#[test]
fn sqlite_passes_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("clerk.db");
    let mut store = SqliteStore::open(&path).unwrap();
    conformance(&mut store);
}

#[test]
fn sqlite_keeps_everything_across_reopen_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clerk.db");
    {
        let mut store = SqliteStore::open(&path).unwrap();
        seed(&mut store, "1");
    }
    let mut store = SqliteStore::open(&path).unwrap();
    let totals = in_read(&mut store, |u| u.totals()).unwrap();
    assert_eq!(totals.records, 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        // Written by its owner, read by the group (staff's read commands), nobody else.
        assert_eq!(
            mode & 0o777,
            0o640,
            "the database must be the owner's and the group's only"
        );
    }
}

#[test]
fn sqlite_refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clerk.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&path).err().expect("must fail");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[test]
fn sqlite_finds_pages_overwritten_in_the_middle_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clerk.db");
    {
        let mut store = SqliteStore::open(&path).unwrap();
        for tag in 0..20 {
            seed(&mut store, &tag.to_string());
        }
    }
    // Closed: the WAL is checkpointed into the file. Three pages in the middle (never the
    // header page) become garbage, as a failing disk or a stray write would leave them.
    let bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 10, "{pages} pages");
    let mut damaged = bytes;
    for page in pages / 2 - 1..=pages / 2 + 1 {
        damaged[page * 4096..(page + 1) * 4096].fill(0xA5);
    }
    std::fs::write(&path, damaged).unwrap();

    // Either opening finds it (the pages hold part of the schema the store reads first), or
    // the checks do; never a store that opens and reports nothing.
    let mut store = match SqliteStore::open(&path) {
        Ok(store) => store,
        Err(StoreError::Corrupt(_)) => return,
        Err(other) => panic!("{other:?}"),
    };
    for depth in [CheckDepth::Quick, CheckDepth::Thorough] {
        let found = store.damage(depth).unwrap();
        assert!(!found.is_empty(), "{depth:?} found nothing");
    }
}

/// Open items as a unit of work sees them, and as the database has them: they must agree.
fn open_ids(store: &mut dyn Store, side: Side, scope: &str) -> (Vec<i64>, Vec<i64>) {
    let ids = |v: Vec<StoredRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let in_work = in_unit(store, |u| u.open_records(scope, side, None)).unwrap();
    let in_db = in_read(store, |u| u.open_records(scope, side, None)).unwrap();
    (ids(in_work), ids(in_db))
}

#[test]
fn sqlite_open_items_kept_between_units_agree_with_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clerk.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let (run, l, s) = seed(&mut store, "1");
    // First read loads and keeps them.
    let (work, db) = open_ids(&mut store, Side::Ledger, "main");
    assert_eq!((work.clone(), db), (vec![l], vec![l]));

    // Added in a later unit, then read again in that unit and after it.
    let added = in_unit(&mut store, |u| {
        let f = u.add_file(&new_file("ledger", "sha-k2"))?;
        u.add_records("main", f, &[record(Side::Ledger, "k2", "5.00")])?;
        let seen = u.open_records("main", Side::Ledger, None)?;
        assert_eq!(seen.len(), 2, "the unit sees its own insert");
        assert_eq!(&*seen[1].record.source.file, "sha-k2");
        Ok(seen[1].id)
    })
    .unwrap();
    assert_eq!(
        open_ids(&mut store, Side::Ledger, "main"),
        (vec![l, added], vec![l, added])
    );

    // A unit that fails changes nothing that is kept.
    let failed = in_unit(&mut store, |u| {
        let f = u.add_file(&new_file("ledger", "sha-k3"))?;
        u.add_records("main", f, &[record(Side::Ledger, "k3", "6.00")])?;
        u.open_records("main", Side::Ledger, None)?;
        Err::<(), _>(StoreError::Other("disk on fire".into()))
    });
    assert!(failed.is_err());
    assert_eq!(
        open_ids(&mut store, Side::Ledger, "main"),
        (vec![l, added], vec![l, added])
    );

    // Matched in a unit: gone from what is kept, on both sides.
    in_unit(&mut store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: &entry("key-k", "12345678901234567.89"),
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })?;
        assert_eq!(u.open_records("main", Side::Ledger, None)?.len(), 1);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        open_ids(&mut store, Side::Ledger, "main"),
        (vec![added], vec![added])
    );
    assert_eq!(
        open_ids(&mut store, Side::Statement, "bank"),
        (vec![], vec![])
    );

    // Another connection (a person at the CLI) adds an item: the next unit sees it.
    {
        let mut other = SqliteStore::open(&path).unwrap();
        in_unit(&mut other, |u| {
            let f = u.add_file(&new_file("ledger", "sha-k4"))?;
            u.add_records("main", f, &[record(Side::Ledger, "k4", "7.00")])
        })
        .unwrap();
    }
    let (work, db) = open_ids(&mut store, Side::Ledger, "main");
    assert_eq!(work.len(), 2, "{work:?}");
    assert_eq!(work, db);
}

#[test]
fn sqlite_keeps_no_book_side_over_its_limit_and_still_reads_it_right() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("clerk.db")).unwrap();
    store.keep_open_items_up_to(2);
    let (_, l, _) = seed(&mut store, "1");
    assert_eq!(
        open_ids(&mut store, Side::Ledger, "main"),
        (vec![l], vec![l])
    );
    // The ledger item and the statement line (seeding read both sides).
    assert_eq!(store.kept_open_items(), 2);
    // Three open items: over the limit, so read from the database every time, and right.
    let more = in_unit(&mut store, |u| {
        let f = u.add_file(&new_file("ledger", "sha-m"))?;
        u.add_records(
            "main",
            f,
            &[
                record(Side::Ledger, "m1", "1.00"),
                record(Side::Ledger, "m2", "2.00"),
            ],
        )?;
        Ok(u.open_records("main", Side::Ledger, None)?
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>())
    })
    .unwrap();
    assert_eq!(more.len(), 3);
    assert_eq!(
        open_ids(&mut store, Side::Ledger, "main"),
        (more.clone(), more)
    );
    assert_eq!(
        store.kept_open_items(),
        1,
        "the ledger side is over the limit and not kept; the bank side still is"
    );

    // A kept side (one item) that gets more inserts in one unit than are kept: given up at
    // once, read from the database for the rest of the unit, not kept after it.
    in_unit(&mut store, |u| {
        let f = u.add_file(&new_file("other", "sha-o"))?;
        u.add_records("other", f, &[record(Side::Ledger, "o0", "1.00")])
    })
    .unwrap();
    assert_eq!(open_ids(&mut store, Side::Ledger, "other").0.len(), 1);
    assert_eq!(store.kept_open_items(), 2);
    let seen = in_unit(&mut store, |u| {
        let f = u.add_file(&new_file("other", "sha-p"))?;
        let three: Vec<Record> = (1..=3)
            .map(|k| record(Side::Ledger, &format!("o{k}"), "1.00"))
            .collect();
        u.add_records("other", f, &three)?;
        Ok(u.open_records("other", Side::Ledger, None)?.len())
    })
    .unwrap();
    assert_eq!(seen, 4);
    assert_eq!(store.kept_open_items(), 1, "only the bank side is kept");
    let (work, db) = open_ids(&mut store, Side::Ledger, "other");
    assert_eq!((work.len(), work), (4, db));
}
