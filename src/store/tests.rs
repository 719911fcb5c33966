//! The store's contract, as one suite every backend must pass.

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
            },
            EntryLine {
                account: "1200".into(),
                currency: "EUR".parse().unwrap(),
                amount: -a,
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
    amounts_round_trip_exactly(store);
    a_failed_unit_leaves_nothing_behind(store);
    records_are_kept_once_per_identity(store);
    two_equal_lines_of_one_file_are_two_records(store);
    a_ledger_item_sent_again_with_other_content_is_a_new_version(store);
    statements_and_documents_are_kept(store);
    posting_is_idempotent_and_records_are_used_once(store);
    a_record_has_one_open_break(store);
    a_failed_file_is_replaced_by_one_of_its_name_processed_later(store);
    kpis_count_a_break_only_once_it_was_open_its_grace_period(store);
    a_subject_has_one_unresolved_break_that_updates_and_closes(store);
    outbox_keeps_each_message_once(store);
    schedules_remember_their_last_fire(store);
    mail_is_remembered_by_key_message_id_and_content(store);
    a_sound_store_reports_no_damage(store);
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

fn mail_is_remembered_by_key_message_id_and_content(store: &mut dyn Store) {
    let message = |key: &'static str, outcome: &'static str| NewMailMessage {
        mailbox: "box",
        key,
        message_id: Some("id-1@bank"),
        sender: Some("ops@bank.example"),
        subject: Some("May"),
        sent_at: None,
        at: at(7),
        outcome,
        attachments: 1,
        detail: None,
    };
    let origin = |key: &str, part: u32| MailOrigin {
        mailbox: "box".into(),
        key: key.into(),
        part,
        name: "may.sta".into(),
        about: String::new(),
    };
    let hashes = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Refused under this Message-ID: not "handled".
    in_unit(store, |u| u.add_mail_message(&message("k1", "refused"))).unwrap();
    assert!(!in_read(store, |u| u.mail_processed_with("id-1@bank", &hashes(&[]))).unwrap());
    // Processed with two attachments: handled for those contents only, in any order.
    in_unit(store, |u| {
        u.add_mail_attachment(&origin("k2", 0), "bbb", "bank", None)?;
        u.add_mail_attachment(&origin("k2", 1), "aaa", "bank", None)?;
        u.add_mail_message(&message("k2", "processed"))
    })
    .unwrap();
    let mut seen =
        |h: &[&str]| in_read(store, |u| u.mail_processed_with("id-1@bank", &hashes(h))).unwrap();
    assert!(seen(&["aaa", "bbb"]));
    assert!(seen(&["bbb", "aaa"]));
    assert!(!seen(&["aaa"]));
    assert!(!seen(&["aaa", "bbb", "ccc"]));
    assert!(
        !in_read(store, |u| u
            .mail_processed_with("id-2@bank", &hashes(&["aaa", "bbb"])))
        .unwrap()
    );
    // A refused message comes back and is taken: recorded anew. Any other is kept as it was.
    assert!(in_unit(store, |u| u.add_mail_message(&message("k1", "processed"))).unwrap());
    assert_eq!(
        in_read(store, |u| u.mail_message_outcome("box", "k1"))
            .unwrap()
            .as_deref(),
        Some("processed")
    );
    assert!(!in_unit(store, |u| u.add_mail_message(&message("k1", "failed"))).unwrap());
    assert_eq!(
        in_read(store, |u| u.mail_message_outcome("box", "k1"))
            .unwrap()
            .as_deref(),
        Some("processed")
    );
    // Tries: counted, taken back, noted; recording the message ends them.
    assert_eq!(in_unit(store, |u| u.add_mail_try("box", "k3")).unwrap(), 1);
    assert_eq!(in_unit(store, |u| u.add_mail_try("box", "k3")).unwrap(), 2);
    in_unit(store, |u| u.take_back_mail_try("box", "k3")).unwrap();
    in_unit(store, |u| u.note_mail_try_error("box", "k3", "panicked: x")).unwrap();
    assert_eq!(
        in_read(store, |u| u.mail_tries("box", "k3")).unwrap(),
        (1, Some("panicked: x".to_owned()))
    );
    assert_eq!(
        in_read(store, |u| u.mail_tries("box", "k4")).unwrap(),
        (0, None)
    );
    in_unit(store, |u| u.add_mail_message(&message("k3", "refused"))).unwrap();
    assert_eq!(
        in_read(store, |u| u.mail_tries("box", "k3")).unwrap(),
        (0, None)
    );
}

fn amounts_round_trip_exactly(store: &mut dyn Store) {
    seed(store, "1");
    let open = in_read(store, |u| u.open_records("main", Side::Ledger, None)).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].record.amount.to_string(),
        "12345678901234567.89",
        "money must not pass through a float"
    );
    assert_eq!(&*open[0].record.source.file, "sha-1");
    let filtered = in_read(store, |u| {
        u.open_records("main", Side::Ledger, Some("OTHER-ACCOUNT"))
    })
    .unwrap();
    assert!(filtered.is_empty());
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

fn records_are_kept_once_per_identity(store: &mut dyn Store) {
    let added = in_unit(store, |u| {
        let f = u.add_file(&new_file("ledger", "sha-3"))?;
        u.add_records(
            "main",
            f,
            &[
                record(Side::Ledger, "1", "12345678901234567.89"),
                record(Side::Ledger, "2", "5.00"),
            ],
        )
    })
    .unwrap();
    assert_eq!(
        added,
        AddedRecords {
            inserted: 1,
            known: 1,
            changed: Vec::new(),
        }
    );
    let processed = in_read(store, |u| u.processed_file("ledger", "sha-3")).unwrap();
    assert!(processed.is_some());
    assert!(
        in_read(store, |u| u.processed_file("bank", "sha-3"))
            .unwrap()
            .is_none()
    );
}

fn two_equal_lines_of_one_file_are_two_records(store: &mut dyn Store) {
    // A bank that gives two lines the same reference, date and amount: two payments.
    let line = record(Side::Statement, "BK-SAME", "5.00");
    let first = in_unit(store, |u| {
        let f = u.add_file(&new_file("twins", "sha-twins-1"))?;
        u.add_records("twins", f, &[line.clone(), line.clone()])
    })
    .unwrap();
    assert_eq!(first.inserted, 2);
    // The same two lines in a file sent again are the same two records.
    let again = in_unit(store, |u| {
        let f = u.add_file(&new_file("twins", "sha-twins-2"))?;
        u.add_records("twins", f, &[line.clone(), line.clone()])
    })
    .unwrap();
    assert_eq!(
        again,
        AddedRecords {
            inserted: 0,
            known: 2,
            changed: Vec::new(),
        }
    );
    // A large file's records come in batches: the twin in the next batch is still the
    // second record, and sent again it is known, whatever the batches.
    let batches = in_unit(store, |u| {
        let f = u.add_file(&new_file("twins", "sha-twins-3"))?;
        let a = u.add_records("twins-batched", f, std::slice::from_ref(&line))?;
        let b = u.add_records("twins-batched", f, std::slice::from_ref(&line))?;
        Ok((a, b))
    })
    .unwrap();
    assert_eq!((batches.0.inserted, batches.1.inserted), (1, 1));
    let again = in_unit(store, |u| {
        let f = u.add_file(&new_file("twins", "sha-twins-4"))?;
        u.add_records("twins-batched", f, &[line.clone(), line.clone()])
    })
    .unwrap();
    assert_eq!(again.known, 2);
}

/// Adds ledger records to scope `versions` from a new file; the file id and what was added.
fn add_to_versions(store: &mut dyn Store, sha: &str, records: &[Record]) -> AddedRecords {
    in_unit(store, |u| {
        let f = u.add_file(&new_file("ledger", sha))?;
        u.add_records("versions", f, records)
    })
    .unwrap()
}

fn versions_open(store: &mut dyn Store) -> Vec<(i64, String)> {
    in_unit(store, |u| u.open_records("versions", Side::Ledger, None))
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.record.amount.to_string()))
        .collect()
}

fn a_ledger_item_sent_again_with_other_content_is_a_new_version(store: &mut dyn Store) {
    let sides = JobSides {
        book: "versions",
        account: None,
        job: "versions-bank",
    };
    let first = add_to_versions(store, "sha-v1", &[record(Side::Ledger, "248", "100.00")]);
    assert_eq!(first.inserted, 1);
    let v1 = versions_open(store)[0].0;

    // The same row again, its amount written otherwise but equal: known, no new version.
    let same = add_to_versions(store, "sha-v1b", &[record(Side::Ledger, "248", "100.0")]);
    assert_eq!((same.inserted, same.known, same.changed.len()), (0, 1, 0));

    // A corrected booking while the item is open: version 2 takes the place of version 1,
    // which is withdrawn (out of what is open, in what was withdrawn since the mark).
    let mark = in_read(store, |u| u.high_water()).unwrap().records;
    let mut corrected = record(Side::Ledger, "248", "120.00");
    corrected.reference = Some("INV-248-A".into());
    let second = add_to_versions(store, "sha-v2", std::slice::from_ref(&corrected));
    assert_eq!((second.inserted, second.known), (0, 0));
    let [change] = &second.changed[..] else {
        panic!("{second:?}");
    };
    assert_eq!((change.old.id, change.old_version), (v1, 1));
    assert_eq!(change.new_version, 2);
    assert_eq!(change.new.record.amount.to_string(), "120.00");
    assert_eq!(change.matched, None);
    let v2 = change.new.id;
    assert_eq!(versions_open(store), vec![(v2, "120.00".to_owned())]);
    assert_eq!(
        in_read(store, |u| u.open_records("versions", Side::Ledger, None))
            .unwrap()
            .len(),
        1,
        "the database agrees with what the unit keeps"
    );
    let withdrawn = in_read(store, |u| u.records_withdrawn_after(mark, &sides)).unwrap();
    assert_eq!(withdrawn.iter().map(|r| r.id).collect::<Vec<_>>(), vec![v1]);
    assert!(
        in_read(store, |u| u.records_withdrawn_after(v2, &sides))
            .unwrap()
            .is_empty()
    );

    // A withdrawn version is never posted.
    let s = add_to_versions(
        store,
        "sha-v-bank",
        &[record(Side::Statement, "BK248", "120.00")],
    );
    assert_eq!(s.inserted, 1);
    let (run, line) = in_unit(store, |u| {
        let run = u.start_run("versions-bank", Trigger::File, None, at(8))?;
        let f = u.add_file(&new_file("versions-bank", "sha-v-bank-2"))?;
        u.add_records(
            "versions-bank",
            f,
            &[record(Side::Statement, "BK248", "120.00")],
        )?;
        let line = u.open_records("versions-bank", Side::Statement, None)?[0].id;
        Ok((run, line))
    })
    .unwrap();
    let post = |store: &mut dyn Store, ledger: i64, key: &str| {
        in_unit(store, |u| {
            u.post_match(&NewMatch {
                job: "versions-bank",
                run_id: run,
                pass: MatchPass::Reference,
                record_ids: &[ledger, line],
                entry: &entry(key, "120.00"),
                at: at(9),
                explanation: None,
                actor: None,
                reason: None,
            })
        })
    };
    assert!(matches!(
        post(store, v1, "key-v1"),
        Err(StoreError::Conflict(_))
    ));
    let Posted::Posted { match_id, .. } = post(store, v2, "key-v2").unwrap() else {
        panic!("version 2 is posted");
    };

    // Changed after its match: version 3 is kept, out of matching, naming the matched one.
    let third = add_to_versions(store, "sha-v3", &[record(Side::Ledger, "248", "130.00")]);
    let [change] = &third.changed[..] else {
        panic!("{third:?}");
    };
    assert_eq!((change.old.id, change.new_version), (v2, 3));
    let matched = change.matched.as_ref().expect("the matched version");
    assert_eq!((matched.record.id, matched.version), (v2, 2));
    assert_eq!(matched.match_id, match_id);
    assert!(versions_open(store).is_empty());
    // The same again: known.
    let again = add_to_versions(store, "sha-v3b", &[record(Side::Ledger, "248", "130.00")]);
    assert_eq!((again.known, again.changed.len()), (1, 0));
    // Changed once more: the matched version is still the one that settles the item.
    let fourth = add_to_versions(store, "sha-v4", std::slice::from_ref(&corrected));
    let [change] = &fourth.changed[..] else {
        panic!("{fourth:?}");
    };
    assert_eq!((change.old_version, change.new_version), (3, 4));
    assert_eq!(change.matched.as_ref().map(|m| m.record.id), Some(v2));
    assert!(versions_open(store).is_empty());
    // Neither the withdrawn nor the waiting versions count as open.
    let open = in_read(store, |u| u.open_records("versions", Side::Ledger, None)).unwrap();
    assert!(open.is_empty(), "{open:?}");
}

fn statements_and_documents_are_kept(store: &mut dyn Store) {
    use crate::model::statement::{Balance, BankStatement, StatementKind};
    let eur: Currency = "EUR".parse().unwrap();
    let balance = |amount: &str, day: &str| Balance {
        amount: amount.parse().unwrap(),
        currency: eur,
        date: day.parse().unwrap(),
        intermediate: false,
    };
    let statement = BankStatement {
        kind: StatementKind::EndOfDay,
        account: "DE89370400440532013000".into(),
        servicer_bic: None,
        currency: Some(eur),
        statement_id: None,
        number: Some("1".into()),
        created: None,
        from_date: None,
        to_date: None,
        opening: Some(balance("10.00", "2026-03-01")),
        closing: Some(balance("12.50", "2026-03-02")),
        closing_available: None,
        entries: Vec::new(),
        problems: Vec::new(),
        source: Source::at(Arc::from("s"), None, 1),
    };
    in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", "sha-stmt"))?;
        u.add_statement(&NewStatement {
            job: "bank",
            file_id: f,
            identity: "id-1",
            format: "mt940",
            statement: &statement,
        })
    })
    .unwrap();
    assert!(in_read(store, |u| u.statement_seen("id-1")).unwrap());
    assert!(!in_read(store, |u| u.statement_seen("id-2")).unwrap());
    let prev = in_read(store, |u| {
        u.previous_statement(
            "DE89370400440532013000",
            "EUR",
            "2026-03-02".parse().unwrap(),
        )
    })
    .unwrap()
    .expect("found");
    assert_eq!(prev.closing_amount.to_string(), "12.50");
    assert!(
        in_read(store, |u| {
            u.previous_statement(
                "DE89370400440532013000",
                "EUR",
                "2026-03-01".parse().unwrap(),
            )
        })
        .unwrap()
        .is_none(),
        "a statement closing later is not the previous one"
    );

    let invoice = r#"{"kind":"invoice","number":"INV-1","issue_date":"2026-03-02","due_date":null,
        "currency":"EUR","supplier":{"name":null,"vat_id":"VAT1","id":null,"iban":null,"country":null},
        "customer":{"name":null,"vat_id":null,"id":null,"iban":null,"country":null},
        "order_reference":null,"payment_reference":null,"lines":[],"tax":[],"line_total":null,
        "allowance_total":null,"charge_total":null,"tax_exclusive":null,"tax_total":null,
        "tax_inclusive":null,"prepaid":null,"rounding":null,"payable":"119.00",
        "source":{"file":"sha-inv","sheet":null,"row":0,"locator":null}}"#;
    let doc = NewDocument {
        identity: "VAT1|INV-1".into(),
        account: Some("VAT1".into()),
        key: Some("INV-1".into()),
        as_of: Some("2026-03-02".parse().unwrap()),
        body: Document::Invoice(serde_json::from_str(invoice).unwrap()),
    };
    let added = in_unit(store, |u| {
        let f = u.add_file(&new_file("invoices", "sha-inv"))?;
        u.add_documents("main", f, &[doc.clone(), doc.clone()])
    })
    .unwrap();
    assert_eq!(
        added,
        AddedRecords {
            inserted: 1,
            known: 1,
            changed: Vec::new(),
        }
    );
    let docs = in_read(store, |u| u.documents("main", DocumentKind::Invoice)).unwrap();
    assert_eq!(docs, vec![doc]);
}

fn posting_is_idempotent_and_records_are_used_once(store: &mut dyn Store) {
    let (run, l, s) = seed(store, "20");
    let e = entry("key-1", "12345678901234567.89");
    let posted = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: &e,
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })
    })
    .unwrap();
    assert!(matches!(posted, Posted::Posted { .. }));

    // The same entry again: nothing changes.
    let again = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: &e,
            at: at(9),
            explanation: None,
            actor: None,
            reason: None,
        })
    })
    .unwrap();
    assert_eq!(again, Posted::AlreadyPosted);

    // Another entry over an already matched record is refused, and nothing of it stays.
    let other = entry("key-2", "1.00");
    let refused = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::AmountDate,
            record_ids: &[l],
            entry: &other,
            at: at(9),
            explanation: None,
            actor: None,
            reason: None,
        })
    });
    assert!(matches!(refused, Err(StoreError::Conflict(_))));

    let entries = in_read(store, |u| u.entries_of_run(run)).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].lines[1].amount.to_string(),
        "-12345678901234567.89"
    );

    // An unbalanced entry never reaches the books.
    let (run2, l2, s2) = {
        in_unit(store, |u| {
            let f = u.add_file(&new_file("bank", "sha-4"))?;
            let run = u.start_run("bank", Trigger::File, Some(f), at(7))?;
            u.add_records("main", f, &[record(Side::Ledger, "7", "3.00")])?;
            u.add_records("bank", f, &[record(Side::Statement, "BK7", "3.00")])?;
            let l = u.open_records("main", Side::Ledger, None)?;
            let s = u.open_records("bank", Side::Statement, None)?;
            Ok((run, l.last().unwrap().id, s.last().unwrap().id))
        })
        .unwrap()
    };
    let mut bad = entry("key-3", "3.00");
    bad.lines[1].amount = "-2.99".parse().unwrap();
    let refused = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run2,
            pass: MatchPass::AmountDate,
            record_ids: &[l2, s2],
            entry: &bad,
            at: at(9),
            explanation: None,
            actor: None,
            reason: None,
        })
    });
    assert!(matches!(refused, Err(StoreError::Conflict(_))));
    assert!(
        in_read(store, |u| u.entries_of_run(run2))
            .unwrap()
            .is_empty()
    );
}

/// Records a failed file of `job` named `name` with its break, as the pipeline does.
fn fail_file(store: &mut dyn Store, job: &str, name: &str, sha: &str, reason: BreakReason) -> i64 {
    in_unit(store, |u| {
        let f = u.add_file(&NewFile {
            name,
            status: FileStatus::Failed,
            error: Some("line 3: not an amount"),
            ..new_file(job, sha)
        })?;
        let run = u.start_run(job, Trigger::File, Some(f), at(7))?;
        u.open_break(&NewBreak {
            job,
            run_id: run,
            reason,
            detail: "moved to failed/: line 3: not an amount",
            amount: None,
            currency: None,
            difference: None,
            since: "2026-03-02".parse().unwrap(),
            owner: None,
            record_id: None,
            source: Some(name),
            at: at(7),
            subject: None,
        })
        .map(|b| b.unwrap())
    })
    .unwrap()
}

fn a_failed_file_is_replaced_by_one_of_its_name_processed_later(store: &mut dyn Store) {
    let unreadable = fail_file(store, "rep", "stmt.csv", "sha-r1", BreakReason::Unreadable);
    let changed = fail_file(store, "rep", "stmt.csv", "sha-r2", BreakReason::FileChanged);
    let other_name = fail_file(store, "rep", "other.csv", "sha-r3", BreakReason::Unreadable);
    let other_job = fail_file(
        store,
        "rep-2",
        "stmt.csv",
        "sha-r4",
        BreakReason::Unreadable,
    );
    assert_eq!(
        in_read(store, |u| u.failed_files_named("rep", "stmt.csv")).unwrap(),
        vec![("sha-r1".to_owned(), false), ("sha-r2".to_owned(), false)]
    );
    let replace = |store: &mut dyn Store, sha: &str| {
        in_unit(store, |u| {
            let f = u.add_file(&NewFile {
                name: "stmt.csv",
                ..new_file("rep", sha)
            })?;
            let run = u.start_run("rep", Trigger::File, Some(f), at(9))?;
            u.replace_failed_files("rep", "stmt.csv", f, "replaced by stmt.csv", run, at(9))
        })
        .unwrap()
    };
    let done = replace(store, "sha-r5");
    assert_eq!(
        done,
        ReplacedFiles {
            files: 2,
            breaks_closed: 2
        }
    );
    for id in [unreadable, changed] {
        let b = in_read(store, |u| u.break_by_id(id)).unwrap().unwrap();
        assert_eq!(b.status, BreakStatus::Resolved);
        assert_eq!(b.resolution.as_deref(), Some("replaced by stmt.csv"));
    }
    for id in [other_name, other_job] {
        let b = in_read(store, |u| u.break_by_id(id)).unwrap().unwrap();
        assert_eq!(b.status, BreakStatus::Open, "another file's break stays");
    }
    assert_eq!(
        in_read(store, |u| u.failed_files_named("rep", "stmt.csv")).unwrap(),
        vec![("sha-r1".to_owned(), true), ("sha-r2".to_owned(), true)]
    );
    // Failing again after that: a new failure, replaced only by the next good file.
    fail_file(store, "rep", "stmt.csv", "sha-r6", BreakReason::Unreadable);
    assert_eq!(
        in_read(store, |u| u.failed_files_named("rep", "stmt.csv"))
            .unwrap()
            .last(),
        Some(&("sha-r6".to_owned(), false))
    );
    assert_eq!(replace(store, "sha-r7").files, 1);
    assert_eq!(replace(store, "sha-r8"), ReplacedFiles::default());
}

fn a_record_has_one_open_break(store: &mut dyn Store) {
    let (run, l, _) = in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", "sha-5"))?;
        let run = u.start_run("bank", Trigger::File, Some(f), at(7))?;
        u.add_records("main", f, &[record(Side::Ledger, "50", "8.00")])?;
        let l = u.open_records("main", Side::Ledger, None)?;
        Ok((run, l.last().unwrap().id, f))
    })
    .unwrap();
    let b = |detail: &'static str| NewBreak {
        job: "bank",
        run_id: run,
        reason: BreakReason::MissingOnStatement,
        detail,
        amount: Some("8.00".parse().unwrap()),
        currency: Some("EUR".parse().unwrap()),
        difference: None,
        since: "2026-03-02".parse().unwrap(),
        owner: Some("cash-ops"),
        record_id: Some(l),
        source: Some("ledger.csv line 2"),
        at: at(8),
        subject: None,
    };
    assert!(
        in_unit(store, |u| u.open_break(&b("first")))
            .unwrap()
            .is_some()
    );
    assert!(
        in_unit(store, |u| u.open_break(&b("second")))
            .unwrap()
            .is_none()
    );
    let open = in_read(store, |u| {
        u.breaks(&BreakFilter {
            status: StatusFilter::Is(BreakStatus::Open),
            ..Default::default()
        })
    })
    .unwrap();
    let mine: Vec<_> = open.iter().filter(|x| x.record_id == Some(l)).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].detail, "first");
    assert_eq!(mine[0].amount.unwrap().to_string(), "8.00");

    let closed = in_unit(store, |u| {
        u.close_breaks_of_records(&[l], "matched later", run, at(9))
    })
    .unwrap();
    assert_eq!(closed, 1);
    let resolved = in_read(store, |u| {
        u.breaks(&BreakFilter {
            status: StatusFilter::Is(BreakStatus::Resolved),
            ..Default::default()
        })
    })
    .unwrap();
    assert!(
        resolved
            .iter()
            .any(|x| x.record_id == Some(l) && x.resolution.as_deref() == Some("matched later"))
    );
    // Once resolved, a new break may open for the record again.
    assert!(
        in_unit(store, |u| u.open_break(&b("third")))
            .unwrap()
            .is_some()
    );
}

/// The KPI counting rule: a break about a record counts as opened (and as closed) only if
/// `(closed_at or now) - opened_at` is at least its job's grace period.
fn kpis_count_a_break_only_once_it_was_open_its_grace_period(store: &mut dyn Store) {
    let minute = chrono::Duration::minutes(1);
    let ids = in_unit(store, |u| {
        let f = u.add_file(&new_file("kpi", "sha-kpi"))?;
        let run = u.start_run("kpi", Trigger::File, Some(f), at(7))?;
        let items: Vec<Record> = ["k1", "k2", "k3"]
            .iter()
            .map(|id| record(Side::Ledger, id, "5.00"))
            .collect();
        u.add_records("kpi-book", f, &items)?;
        let ids: Vec<i64> = u
            .open_records("kpi-book", Side::Ledger, None)?
            .iter()
            .map(|r| r.id)
            .collect();
        // k1 and k2 open with their file; k3 a minute before ten.
        for (&id, opened) in ids.iter().zip([at(7), at(7), at(10) - minute]) {
            u.open_break(&NewBreak {
                job: "kpi",
                run_id: run,
                reason: BreakReason::MissingOnStatement,
                detail: "not on any bank statement",
                amount: Some("5.00".parse().unwrap()),
                currency: Some("EUR".parse().unwrap()),
                difference: None,
                since: "2026-03-02".parse().unwrap(),
                owner: None,
                record_id: Some(id),
                source: None,
                at: opened,
                subject: None,
            })?;
        }
        u.finish_run(
            run,
            &RunOutcome {
                finished_at: Some(at(7)),
                breaks_opened: 3,
                ..Default::default()
            },
        )?;
        Ok(ids)
    })
    .unwrap();
    // k1's counterpart comes a second later (a break of one second); k2's two hours later.
    for (id, closed) in [
        (ids[0], at(7) + chrono::Duration::seconds(1)),
        (ids[1], at(9)),
    ] {
        in_unit(store, |u| {
            let run = u.start_run("kpi", Trigger::File, None, closed)?;
            let n = u.close_breaks_of_records(&[id], "matched", run, closed)?;
            u.finish_run(
                run,
                &RunOutcome {
                    finished_at: Some(closed),
                    breaks_closed: n,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    }
    assert_eq!(
        in_read(store, |u| u.file_recorded_at("sha-kpi")).unwrap(),
        Some(at(7)),
        "a file's records are recorded when its first run starts"
    );
    let kpis = |store: &mut dyn Store, now: DateTime<Utc>, grace: u64| {
        let counting = BreakCounting {
            now,
            grace: [("kpi".to_string(), std::time::Duration::from_secs(grace))].into(),
        };
        let a = in_read(store, |u| u.activity_since(at(0), &counting)).unwrap();
        let a = a.into_iter().find(|a| a.job == "kpi").unwrap();
        (a.breaks_opened, a.breaks_closed)
    };
    // Without a grace period every break counts, as before.
    assert_eq!(kpis(store, at(10), 0), (3, 2));
    // With five minutes: k1 (one second) never counts, opened or closed; k3, open for a
    // minute at ten, not yet; at eleven it does.
    assert_eq!(kpis(store, at(10), 300), (1, 1));
    assert_eq!(kpis(store, at(11), 300), (2, 1));
}

fn a_subject_has_one_unresolved_break_that_updates_and_closes(store: &mut dyn Store) {
    let run = in_unit(store, |u| {
        u.start_run("positions", Trigger::Schedule, None, at(9))
    })
    .unwrap();
    let b = |detail: &'static str, subject: &'static str| NewBreak {
        job: "positions",
        run_id: run,
        reason: BreakReason::QuantityDifference,
        detail,
        amount: None,
        currency: None,
        difference: Some("10".parse().unwrap()),
        since: "2026-11-26".parse().unwrap(),
        owner: None,
        record_id: None,
        source: None,
        at: at(9),
        subject: Some(subject),
    };
    let first = in_unit(store, |u| {
        u.open_break(&b("off by 10", "position|S1|DE0005557508"))
    })
    .unwrap()
    .expect("opened");
    // The same subject again is no second break; another subject is.
    assert!(
        in_unit(store, |u| u
            .open_break(&b("again", "position|S1|DE0005557508")))
        .unwrap()
        .is_none()
    );
    assert!(
        in_unit(store, |u| u
            .open_break(&b("other", "position|S1|US0378331005")))
        .unwrap()
        .is_some()
    );
    // Another job may have a break about the same subject.
    let mut elsewhere = b("elsewhere", "position|S1|DE0005557508");
    elsewhere.job = "positions-2";
    assert!(
        in_unit(store, |u| u.open_break(&elsewhere))
            .unwrap()
            .is_some()
    );

    let subjects = in_read(store, |u| u.open_subjects("positions")).unwrap();
    assert_eq!(
        subjects.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        vec!["position|S1|DE0005557508", "position|S1|US0378331005"]
    );
    let diff = Some("4".parse().unwrap());
    let changed = in_unit(store, |u| {
        u.update_break(
            first,
            BreakReason::QuantityDifference,
            "off by 4",
            diff,
            at(10),
        )
    })
    .unwrap();
    assert!(changed);
    let unchanged = in_unit(store, |u| {
        u.update_break(
            first,
            BreakReason::QuantityDifference,
            "off by 4",
            diff,
            at(11),
        )
    })
    .unwrap();
    assert!(!unchanged, "the same finding again is no new history");
    let shown = in_read(store, |u| u.break_by_id(first)).unwrap().unwrap();
    assert_eq!(shown.detail, "off by 4");
    assert_eq!(shown.difference, diff);
    assert_eq!(
        shown.since.to_string(),
        "2026-11-26",
        "an update keeps the break's age"
    );

    assert!(
        in_unit(store, |u| u.close_break(
            first,
            "agrees as of 2026-11-27",
            run,
            at(12)
        ))
        .unwrap()
    );
    assert!(!in_unit(store, |u| u.close_break(first, "twice", run, at(12))).unwrap());
    let history = in_read(store, |u| u.break_history(first)).unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["opened", "updated", "resolved"]);
    // Resolved, the subject may open a new break.
    assert!(
        in_unit(store, |u| u
            .open_break(&b("off again", "position|S1|DE0005557508")))
        .unwrap()
        .is_some()
    );
    // Whether a subject ever had a break, resolved or not, per job.
    let about = |store: &mut dyn Store, job: &'static str, subject: &'static str| {
        in_read(store, |u| u.break_about(job, subject)).unwrap()
    };
    assert!(about(store, "positions", "position|S1|US0378331005"));
    assert!(about(store, "positions-2", "position|S1|DE0005557508"));
    assert!(!about(store, "positions", "position|S9|DE0005557508"));
    assert!(!about(store, "positions-3", "position|S1|DE0005557508"));
}

fn outbox_keeps_each_message_once(store: &mut dyn Store) {
    let to = vec!["manager@example.com".to_string()];
    let mail = NewMail {
        message_id: "<summary-1@clerk>",
        purpose: "summary",
        from: "clerk@example.com",
        recipients: &to,
        subject: "summary",
        raw: b"raw message",
        at: at(7),
    };
    assert!(in_unit(store, |u| u.enqueue_mail(&mail)).unwrap());
    assert!(!in_unit(store, |u| u.enqueue_mail(&mail)).unwrap());
    let due = in_unit(store, |u| u.lease_mail(at(7), at(10), 10)).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].recipients, to);
    assert_eq!(due[0].raw, b"raw message");
    // Leased: nobody else takes it until the lease ends.
    let leased = in_unit(store, |u| u.lease_mail(at(8), at(12), 10)).unwrap();
    assert!(leased.is_empty());
    // The sender was killed holding the lease: the next daemon releases it at start-up.
    assert_eq!(in_unit(store, |u| u.release_mail_leases(at(9))).unwrap(), 1);
    assert_eq!(in_read(store, |u| u.next_mail_due()).unwrap(), Some(at(9)));
    let released = in_unit(store, |u| u.lease_mail(at(9), at(10), 10)).unwrap();
    assert_eq!(released.len(), 1);
    let again = in_unit(store, |u| u.lease_mail(at(10), at(11), 10)).unwrap();
    assert_eq!(
        again.len(),
        1,
        "a lease that ran out (the sender died) makes the message due again"
    );

    in_unit(store, |u| {
        u.mail_failed(due[0].id, "connection refused", at(12))
    })
    .unwrap();
    let early = in_unit(store, |u| u.lease_mail(at(11), at(13), 10)).unwrap();
    assert!(early.is_empty());
    assert_eq!(in_read(store, |u| u.next_mail_due()).unwrap(), Some(at(12)));
    let retry = in_unit(store, |u| u.lease_mail(at(12), at(13), 10)).unwrap();
    assert_eq!(retry[0].attempts, 1);
    in_unit(store, |u| u.mail_sent(retry[0].id, at(12))).unwrap();
    assert_eq!(
        in_unit(store, |u| u.release_mail_leases(at(13))).unwrap(),
        0,
        "a sent message is not released"
    );
    let after = in_unit(store, |u| u.lease_mail(at(23), at(23), 10)).unwrap();
    assert!(after.is_empty());
    assert_eq!(in_read(store, |u| u.next_mail_due()).unwrap(), None);
}

fn schedules_remember_their_last_fire(store: &mut dyn Store) {
    assert_eq!(in_read(store, |u| u.last_fired("summary")).unwrap(), None);
    in_unit(store, |u| u.set_last_fired("summary", at(7))).unwrap();
    in_unit(store, |u| u.set_last_fired("summary", at(8))).unwrap();
    assert_eq!(
        in_read(store, |u| u.last_fired("summary")).unwrap(),
        Some(at(8))
    );
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

    let mut store = SqliteStore::open(&path).unwrap();
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
