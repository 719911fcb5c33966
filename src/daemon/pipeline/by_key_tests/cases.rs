//! Cases a reader can follow: a new file matched by its keys, groups losing members, an item
//! matched by hand, an item held for its grace, a unit that did not commit.

use super::*;

#[test]
fn a_new_files_records_are_matched_against_the_items_found_by_their_keys() {
    let mut i = Install::new(false);
    i.process("ledger-import", &backlog_csv(3000), at(0));
    i.process(
        "ledger-import",
        &ledger_csv(&[
            Item {
                id: 1,
                amount: 0,
                reference: 0,
                party: 0,
                day: 0,
                usd: false,
            },
            Item {
                id: 2,
                amount: 3,
                reference: 1,
                party: 1,
                day: 0,
                usd: false,
            },
        ]),
        at(1),
    );
    let before = i.runs();
    let outcome = i.process(
        BANK,
        &statement_csv(&[
            Line {
                bank: 1,
                amount: 0,
                plus: None,
                remittance: Remittance::One(0),
                day: 0,
                usd: false,
            },
            Line {
                bank: 2,
                amount: 3,
                plus: None,
                remittance: Remittance::Nothing,
                day: 1,
                usd: false,
            },
        ]),
        at(2),
    );
    let FileOutcome::Processed { summary, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(summary.contains("4 matched"), "{summary}");
    let after = i.runs();
    assert_eq!(after.by_key, before.by_key + 1, "{after:?}");
    assert_eq!(after.full, before.full);
    // The two lines and the two items they pay: not the 3,000 open beside them.
    assert_eq!(after.last_items, 4, "{after:?}");
}

#[test]
fn a_group_that_loses_members_to_an_earlier_pass_finds_the_line_paying_the_rest() {
    // ACME owes 10.00, 20.00 and 5.13 on one day; a bank line of 15.13 pays two of them
    // ("PAYRUN"), but the three together are 35.13: no batch yet.
    let items = [
        Item {
            id: 1,
            amount: 0,
            reference: 0,
            party: 0,
            day: 0,
            usd: false,
        },
        Item {
            id: 2,
            amount: 1,
            reference: 1,
            party: 0,
            day: 0,
            usd: false,
        },
        Item {
            id: 3,
            amount: 6,
            reference: 2,
            party: 0,
            day: 0,
            usd: false,
        },
    ];
    let payrun = "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
                  2026-03-02,2026-03-02,15.13,EUR,BK7,PAYRUN ACME\n";
    // Then the 20.00 is paid by reference: what is left of the group is 15.13, the line
    // waiting since the first file, which shares no key with anything in the new one.
    let paid = statement_csv(&[Line {
        bank: 8,
        amount: 1,
        plus: None,
        remittance: Remittance::One(1),
        day: 0,
        usd: false,
    }]);
    let mut by_key = Install::new(false);
    let mut full = Install::new(true);
    for i in [&mut by_key, &mut full] {
        i.process("ledger-import", &ledger_csv(&items), at(0));
        i.process(BANK, payrun, at(1));
        i.process(BANK, &paid, at(2));
    }
    assert_eq!(by_key.dump(), full.dump());
    let batches: i64 = by_key
        .db()
        .query_row(
            "SELECT COUNT(*) FROM matches WHERE pass = 'batch'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(batches, 1);
    assert_eq!(by_key.runs().full, 1, "{:?}", by_key.runs());
}

#[test]
fn an_item_matched_by_hand_leaves_its_group_to_pair_with_the_line_paying_the_rest() {
    let acme = |id, amount, reference| Item {
        id,
        amount,
        reference,
        party: 0,
        day: 0,
        usd: false,
    };
    // ACME owes 10.00, 20.00 and 5.13 on one day; a line of 15.13 pays two of them.
    let items = [acme(1, 0, 0), acme(2, 1, 1), acme(3, 6, 2)];
    let payrun = "booking_date,value_date,amount,currency,bank_reference,remittance_info\n\
                  2026-03-02,2026-03-02,15.13,EUR,BK7,PAYRUN ACME\n";
    // A week later a line of 20.00 without a reference: too late for the amount and date
    // pass; the items fall due and get their breaks.
    let late = |bank, amount| {
        statement_csv(&[Line {
            bank,
            amount,
            plus: None,
            remittance: Remittance::Nothing,
            day: 7,
            usd: false,
        }])
    };
    let mut by_key = Install::new(false);
    let mut full = Install::new(true);
    for i in [&mut by_key, &mut full] {
        i.process("ledger-import", &ledger_csv(&items), at(0));
        i.process(BANK, payrun, at(1));
        i.process(BANK, &late(8, 1), at(2));
        // Someone matches the 20.00 item with that line by hand.
        let item = i.open_breaks("ledger")[1];
        let line = *i.open_breaks("statement").last().unwrap();
        workflow::force_match(
            &i.config,
            i.store.as_mut(),
            &[item, line],
            "paid late, confirmed by the customer",
            "tester",
            None,
            at(3),
        )
        .unwrap();
        // The next file, about something else: what is left of ACME's group is 15.13.
        i.process(BANK, &late(9, 5), at(4));
    }
    assert_eq!(by_key.dump(), full.dump());
    let batches: i64 = by_key
        .db()
        .query_row(
            "SELECT COUNT(*) FROM matches WHERE pass = 'batch'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(batches, 1);
    assert_eq!(by_key.runs().full, 1, "{:?}", by_key.runs());
}

#[test]
fn an_unmatched_line_is_held_back_for_its_grace_and_its_counterpart_never_makes_a_break() {
    // Two bank lines: one the ledger export ten seconds later pays, one nobody pays.
    let lines = statement_csv(&[
        Line {
            bank: 1,
            amount: 0,
            plus: None,
            remittance: Remittance::One(0),
            day: 0,
            usd: false,
        },
        Line {
            bank: 2,
            amount: 5,
            plus: None,
            remittance: Remittance::Nothing,
            day: 0,
            usd: false,
        },
    ]);
    let paid = ledger_csv(&[Item {
        id: 1,
        amount: 0,
        reference: 0,
        party: 0,
        day: 0,
        usd: false,
    }]);
    let wake = |i: &mut Install, when| {
        let job = i.job(BANK);
        jobs::cash::reconcile_due(
            i.store.as_mut(),
            &job,
            jobs::cash::Hold::of(&job),
            Trigger::Due,
            &|| when,
        )
        .unwrap()
    };
    let mut by_key = Install::with_grace(false, "60s");
    let mut full = Install::with_grace(true, "60s");
    for i in [&mut by_key, &mut full] {
        let FileOutcome::Processed { summary, .. } = i.process(BANK, &lines, at(0)) else {
            panic!("not processed");
        };
        assert!(summary.contains("0 breaks opened"), "{summary}");
        let FileOutcome::Processed { summary, .. } = i.process("ledger-import", &paid, at(10))
        else {
            panic!("not processed");
        };
        assert!(summary.contains("0 breaks opened"), "{summary}");
        // Within the grace the daemon's look changes nothing and leaves no run.
        let runs = i
            .db()
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .unwrap();
        assert!(wake(i, at(59)).is_none());
        assert_eq!(
            i.db()
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            runs
        );
        assert!(i.open_breaks("statement").is_empty());
        // At its end the unpaid line is a break, dated from when its file was recorded.
        let (_, out) = wake(i, at(60)).expect("a run");
        assert_eq!((out.breaks_opened, out.matched), (1, 0));
        let (trigger, opened_at, breaks): (String, String, i64) = i
            .db()
            .query_row(
                "SELECT r.trigger, b.opened_at, (SELECT COUNT(*) FROM breaks)
                 FROM breaks b JOIN runs r ON r.id = b.opened_run_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((trigger.as_str(), breaks), ("due", 1));
        assert_eq!(opened_at, "2026-03-12T09:00:00.000000Z");
    }
    assert_eq!(by_key.dump(), full.dump());
    assert_eq!(by_key.runs().full, 1, "{:?}", by_key.runs());
}

#[test]
fn a_unit_that_did_not_commit_leaves_no_backlog_to_trust() {
    let items = [
        Item {
            id: 1,
            amount: 0,
            reference: 0,
            party: 0,
            day: 0,
            usd: false,
        },
        Item {
            id: 2,
            amount: 1,
            reference: 1,
            party: 1,
            day: 0,
            usd: false,
        },
    ];
    let statement = statement_csv(&[Line {
        bank: 1,
        amount: 0,
        plus: None,
        remittance: Remittance::One(0),
        day: 0,
        usd: false,
    }]);
    let mut by_key = Install::new(false);
    let mut full = Install::new(true);
    for i in [&mut by_key, &mut full] {
        i.process("ledger-import", &ledger_csv(&items), at(0));
    }
    // The statement is read while a writer changes the file: the unit, matches and all, is
    // rolled back. Its records get the same ids when the file is read again.
    let path = by_key.root.join("in/changing.csv");
    std::fs::write(&path, &statement).unwrap();
    let claimed = Claimed {
        path: path.clone(),
        name: "changing.csv".into(),
        arrived_at: at(1),
        origin: None,
    };
    let other = by_key.root.join("in/other.csv");
    std::fs::write(&other, "something else").unwrap();
    let before = crate::ingest::fingerprint(&other).ok();
    let job = by_key.job(BANK);
    let mut guard = crate::daemon::folders::ChangeGuard::new(by_key.store.as_mut(), &path, before);
    let rolled_back = pipeline::process_file(
        &by_key.config,
        &mut guard,
        &job,
        &claimed,
        Trigger::File,
        false,
        || at(1),
    );
    assert!(rolled_back.is_err(), "{rolled_back:?}");
    let runs = by_key.runs();
    for i in [&mut by_key, &mut full] {
        i.process(BANK, &statement, at(2));
    }
    assert_eq!(by_key.dump(), full.dump());
    // The run after the rolled-back one went over everything.
    assert_eq!(by_key.runs().full, runs.full + 1, "{:?}", by_key.runs());
}
