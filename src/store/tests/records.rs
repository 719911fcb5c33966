//! The contract for records: identities, versions, exact amounts.

use super::*;

pub(super) fn amounts_round_trip_exactly(store: &mut dyn Store) {
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

pub(super) fn records_are_kept_once_per_identity(store: &mut dyn Store) {
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

pub(super) fn two_equal_lines_of_one_file_are_two_records(store: &mut dyn Store) {
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

pub(super) fn a_ledger_item_sent_again_with_other_content_is_a_new_version(store: &mut dyn Store) {
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

pub(super) fn a_statement_line_keeps_its_bank_codes(store: &mut dyn Store) {
    let mut line = record(Side::Statement, "FEE-1", "-12.50");
    line.codes = crate::model::BankCodes {
        transaction: Some("NCHG".into()),
        purpose: Some("805".into()),
        return_reason: Some("AC04".into()),
    }
    .boxed();
    let plain = record(Side::Statement, "RCPT-1", "40.00");
    in_unit(store, |u| {
        let f = u.add_file(&new_file("bank", "sha-codes"))?;
        u.add_records("codes", f, &[line.clone(), plain.clone()])
    })
    .unwrap();
    let open = in_read(store, |u| u.open_records("codes", Side::Statement, None)).unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(
        open[0].record.codes, line.codes,
        "a fee line's codes are kept"
    );
    assert_eq!(open[1].record.codes, None, "a line without codes has none");
}
