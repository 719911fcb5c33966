//! The contract for matches, breaks and the failed files whose breaks a processed file
//! closes.

use super::*;

pub(super) fn posting_is_idempotent_and_records_are_used_once(store: &mut dyn Store) {
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

pub(super) fn a_record_has_one_open_break(store: &mut dyn Store) {
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

pub(super) fn a_failed_file_is_replaced_by_one_of_its_name_processed_later(store: &mut dyn Store) {
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

/// The KPI counting rule: a break about a record counts as opened (and as closed) only if
/// `(closed_at or now) - opened_at` is at least its job's grace period.
pub(super) fn kpis_count_a_break_only_once_it_was_open_its_grace_period(store: &mut dyn Store) {
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

pub(super) fn a_subject_has_one_unresolved_break_that_updates_and_closes(store: &mut dyn Store) {
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

/// An entry booked in the functional currency keeps each line's transaction amount, currency
/// and rate; a line without them reads back without them.
pub(super) fn an_entry_across_currencies_keeps_its_transaction_amounts_and_rates(
    store: &mut dyn Store,
) {
    use crate::model::fx::LineFx;
    let (run, l, s) = seed(store, "fx");
    let d = |t: &str| t.parse::<Decimal>().unwrap();
    let (eur, usd): (Currency, Currency) = ("EUR".parse().unwrap(), "USD".parse().unwrap());
    let line = |account: &str, amount: &str, fx: Option<(&str, Currency, &str)>| EntryLine {
        account: account.into(),
        currency: eur,
        amount: d(amount),
        fx: fx.map(|(a, c, r)| LineFx {
            amount: d(a),
            currency: c,
            rate: d(r),
        }),
    };
    let e = JournalEntry {
        idempotency_key: "key-fx".into(),
        posting_date: "2026-03-10".parse().unwrap(),
        narrative: "fx".into(),
        lines: vec![
            line("1010 Bank EUR", "918.50", Some(("918.50", eur, "1"))),
            line(
                "1290 Receivables",
                "-900.00",
                Some(("-1000.00", usd, "0.90")),
            ),
            line("2660 Exchange differences", "-18.50", None),
        ],
    };
    in_unit(store, |u| {
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
    let entries = in_read(store, |u| u.entries_of_run(run)).unwrap();
    assert_eq!(entries[0].lines, e.lines);
}
