//! The contract for reversals and accounting periods.

use super::*;
use crate::store::reversals::NewReversal;

fn negated(e: &JournalEntry, key: &str) -> JournalEntry {
    JournalEntry {
        idempotency_key: key.into(),
        posting_date: e.posting_date,
        narrative: "Reversal".into(),
        lines: e
            .lines
            .iter()
            .map(|l| EntryLine {
                amount: -l.amount,
                ..l.clone()
            })
            .collect(),
    }
}

pub(super) fn a_reversal_undoes_its_match_once_and_holds_its_records_for_a_person(
    store: &mut dyn Store,
) {
    let (run, l, s) = seed(store, "rev");
    let original = entry("key-rev", "5.00");
    let post = |u: &mut dyn Unit, e: &JournalEntry| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: e,
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })
    };
    let Posted::Posted { match_id, entry_id } = in_unit(store, |u| post(u, &original)).unwrap()
    else {
        panic!("not posted")
    };
    assert_eq!(
        in_read(store, |u| u.entry_of_match(match_id)).unwrap(),
        Some(entry_id)
    );
    let reversal = negated(&original, "reversal of key-rev");
    let reverse = |u: &mut dyn Unit, of: i64| {
        u.post_reversal(&NewReversal {
            reverses: of,
            entry: &reversal,
            run_id: run,
            actor: "marc",
            reason: "wrong customer",
            at: at(9),
        })
    };
    let done = in_unit(store, |u| reverse(u, entry_id)).unwrap();
    assert_eq!(done.match_id, match_id);
    assert_eq!(done.records, [l, s]);
    assert!(done.reopened.is_empty(), "neither record had a break");
    assert_eq!(done.opened.len(), 2);
    // Linked both ways; every line negated.
    let back = in_read(store, |u| u.entry_to_reverse(done.entry_id))
        .unwrap()
        .unwrap();
    assert_eq!(back.reverses, Some(entry_id));
    assert_eq!(back.lines, reversal.lines);
    let first = in_read(store, |u| u.entry_to_reverse(entry_id))
        .unwrap()
        .unwrap();
    assert_eq!(first.reversed_by, Some(done.entry_id));
    assert!(first.record_ids.is_empty(), "the match holds no record now");
    // Open again, with a `reversed` break each, but held from the matcher.
    for id in [l, s] {
        assert_eq!(in_read(store, |u| u.match_of_record(id)).unwrap(), None);
        let (b, resolved) = in_read(store, |u| u.latest_break_of_record(id))
            .unwrap()
            .unwrap();
        assert!(!resolved);
        let b = in_read(store, |u| u.break_by_id(b)).unwrap().unwrap();
        assert_eq!(b.reason, BreakReason::Reversed);
        assert!(
            b.detail.contains("reversed by marc: wrong customer"),
            "{}",
            b.detail
        );
    }
    let open = in_unit(store, |u| {
        let mut ids: Vec<i64> = u
            .open_records("main", Side::Ledger, None)?
            .iter()
            .map(|r| r.id)
            .collect();
        ids.extend(u.open_records_by_id(&[l, s])?.iter().map(|r| r.id));
        Ok(ids)
    })
    .unwrap();
    assert!(!open.contains(&l) && !open.contains(&s), "{open:?}");
    // Once; a reversal never.
    for of in [entry_id, done.entry_id] {
        let again = in_unit(store, |u| reverse(u, of));
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    }
    // Matched again (by a person): posted under a key after the reversal's, once.
    let rematched = in_unit(store, |u| post(u, &original)).unwrap();
    assert!(matches!(rematched, Posted::Posted { .. }), "{rematched:?}");
    assert_eq!(
        in_unit(store, |u| post(u, &original)).unwrap(),
        Posted::AlreadyPosted
    );
}

/// An entry of documents (no records: a goods receipt, a trade) reversed is not posted again
/// when its documents are worked again.
pub(super) fn a_documents_entry_reversed_is_not_posted_again(store: &mut dyn Store) {
    let (run, _, _) = seed(store, "revdoc");
    let original = entry("key-receipt", "7.00");
    let post = |u: &mut dyn Unit| {
        u.post_match(&NewMatch {
            job: "payables",
            run_id: run,
            pass: MatchPass::GoodsReceipt,
            record_ids: &[],
            entry: &original,
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })
    };
    let Posted::Posted { entry_id, .. } = in_unit(store, post).unwrap() else {
        panic!("not posted")
    };
    let reversal = negated(&original, "reversal of key-receipt");
    in_unit(store, |u| {
        u.post_reversal(&NewReversal {
            reverses: entry_id,
            entry: &reversal,
            run_id: run,
            actor: "marc",
            reason: "received twice in the ERP",
            at: at(9),
        })
    })
    .unwrap();
    assert_eq!(in_unit(store, post).unwrap(), Posted::AlreadyPosted);
}

pub(super) fn a_reversal_proposal_names_its_entry(store: &mut dyn Store) {
    let (run, l, s) = seed(store, "rev-proposed");
    let Posted::Posted { entry_id, .. } = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: &entry("key-rev-proposed", "7.00"),
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })
    })
    .unwrap() else {
        panic!("not posted")
    };
    let p = NewApproval {
        kind: ApprovalKind::Reverse,
        job: "bank",
        break_ids: &[],
        reason: "wrong customer",
        difference_account: None,
        currency: "EUR".parse().unwrap(),
        amount: "7.00".parse().unwrap(),
        proposed_by: "anna",
        at: at(9),
        history: "awaits approval",
    };
    let id = in_unit(store, |u| u.propose_reversal(&p, entry_id)).unwrap();
    let kept = in_read(store, |u| u.approval(id)).unwrap().unwrap();
    assert_eq!(kept.kind, ApprovalKind::Reverse);
    assert_eq!(kept.status, ApprovalStatus::Pending);
    assert_eq!(
        in_read(store, |u| u.reversal_proposed(id)).unwrap(),
        Some(entry_id)
    );
    let second = in_unit(store, |u| u.propose_reversal(&p, entry_id));
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
}

pub(super) fn a_closed_period_moves_posting_to_the_first_open_day(store: &mut dyn Store) {
    let p = |s: &str| s.parse::<Period>().unwrap();
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    in_unit(store, |u| {
        u.close_period(p("2026-03"), "carla", at(10))?;
        u.close_period(p("2026-04"), "carla", at(10))
    })
    .unwrap();
    let twice = in_unit(store, |u| u.close_period(p("2026-03"), "carla", at(11)));
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    assert_eq!(
        in_read(store, |u| u.open_posting_date(day("2026-03-15"))).unwrap(),
        day("2026-05-01")
    );
    assert_eq!(
        in_read(store, |u| u.open_posting_date(day("2026-02-28"))).unwrap(),
        day("2026-02-28")
    );
    // Posted into the closed March: on May 1st, its date kept.
    let (run, l, s) = seed(store, "period");
    let Posted::Posted { entry_id, .. } = in_unit(store, |u| {
        u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Reference,
            record_ids: &[l, s],
            entry: &entry("key-period", "3.00"),
            at: at(12),
            explanation: None,
            actor: None,
            reason: None,
        })
    })
    .unwrap() else {
        panic!("not posted")
    };
    let posted = in_read(store, |u| {
        u.journal(&journal::JournalQuery {
            from: Some(day("2026-05-01")),
            to: Some(day("2026-05-01")),
            ..Default::default()
        })
    })
    .unwrap();
    let e = posted
        .iter()
        .find(|e| e.id == entry_id)
        .expect("on May 1st");
    assert_eq!(e.value_date, Some(day("2026-03-02")));
    assert!(
        e.narrative
            .ends_with("(dated 2026-03-02; period 2026-03 closed)"),
        "{}",
        e.narrative
    );
    // Reopened (with a reason): April takes entries again.
    let not_closed = in_unit(store, |u| {
        u.reopen_period(p("2026-06"), "root", "x", at(13))
    });
    assert!(matches!(not_closed, Err(StoreError::Conflict(_))));
    in_unit(store, |u| {
        u.reopen_period(p("2026-04"), "root", "late invoices", at(13))
    })
    .unwrap();
    assert_eq!(
        in_read(store, |u| u.open_posting_date(day("2026-03-15"))).unwrap(),
        day("2026-04-01")
    );
    let periods = in_read(store, |u| u.periods()).unwrap();
    let april = periods.iter().find(|r| r.period == "2026-04").unwrap();
    assert_eq!(april.status, "open");
    assert_eq!(april.changed_by, "root");
    let actions: Vec<(&str, Option<&str>)> = april
        .history
        .iter()
        .map(|h| (h.action.as_str(), h.reason.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [("closed", None), ("reopened", Some("late invoices"))]
    );
    // Leave the store open for whatever runs next.
    in_unit(store, |u| {
        u.reopen_period(p("2026-03"), "root", "test done", at(14))
    })
    .unwrap();
}

/// A part payment reversed no longer pays its ledger item: the item is owed in full again.
pub(super) fn a_part_payment_reversed_pays_its_item_no_more(store: &mut dyn Store) {
    let (run, item, part) = seed(store, "rev-part");
    let paid = entry("key-rev-part", "1.00");
    let Posted::Posted { entry_id, .. } = in_unit(store, |u| {
        let p = u.post_match(&NewMatch {
            job: "bank",
            run_id: run,
            pass: MatchPass::Batch,
            record_ids: &[part],
            entry: &paid,
            at: at(8),
            explanation: None,
            actor: None,
            reason: None,
        })?;
        u.link_parts("bank", item, &[part])?;
        Ok(p)
    })
    .unwrap() else {
        panic!("not posted")
    };
    let parts = |store: &mut dyn Store| {
        in_unit(store, |u| u.parts_of_open_items("bank"))
            .unwrap()
            .iter()
            .map(|(i, r)| (*i, r.id))
            .collect::<Vec<_>>()
    };
    assert!(parts(store).contains(&(item, part)));
    in_unit(store, |u| {
        u.post_reversal(&NewReversal {
            reverses: entry_id,
            entry: &negated(&paid, "reversal of key-rev-part"),
            run_id: run,
            actor: "marc",
            reason: "not this customer's",
            at: at(9),
        })
    })
    .unwrap();
    assert!(!parts(store).contains(&(item, part)));
}
