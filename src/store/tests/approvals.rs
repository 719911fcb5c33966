//! The contract for proposals waiting for a second person (four eyes).

use super::*;

/// Opens two breaks about subjects (no record needed); returns their ids.
fn two_breaks(store: &mut dyn Store) -> (i64, i64) {
    in_unit(store, |u| {
        let run = u.start_run("bank", Trigger::Manual, None, at(7))?;
        let mut ids = Vec::new();
        for subject in ["approval|1", "approval|2"] {
            let id = u.open_break(&NewBreak {
                job: "bank",
                run_id: run,
                reason: BreakReason::MissingOnStatement,
                detail: "waits",
                amount: Some("1500.00".parse().unwrap()),
                currency: Some("EUR".parse().unwrap()),
                difference: None,
                since: "2026-03-02".parse().unwrap(),
                owner: None,
                record_id: None,
                source: None,
                at: at(7),
                subject: Some(subject),
            })?;
            ids.push(id.expect("a new subject opens a break"));
        }
        Ok((ids[0], ids[1]))
    })
    .unwrap()
}

pub(super) fn a_break_has_one_pending_proposal_and_every_step_is_in_its_history(
    store: &mut dyn Store,
) {
    let (a, b) = two_breaks(store);
    fn proposal<'a>(ids: &'a [i64], by: &'a str) -> NewApproval<'a> {
        NewApproval {
            kind: ApprovalKind::ForceMatch,
            job: "bank",
            break_ids: ids,
            reason: "same payment",
            difference_account: Some("4970"),
            currency: "EUR".parse().unwrap(),
            amount: "1500.00".parse().unwrap(),
            proposed_by: by,
            at: at(9),
            history: "force-match awaits approval",
        }
    }
    let ids = [b, a];
    let id = in_unit(store, |u| u.propose(&proposal(&ids, "anna"))).unwrap();
    let kept = in_read(store, |u| u.approval(id)).unwrap().unwrap();
    assert_eq!(kept.break_ids, [b, a], "kept in the order named");
    assert_eq!(kept.status, ApprovalStatus::Pending);
    assert_eq!(kept.amount.to_string(), "1500.00");
    assert_eq!(kept.currency.as_str(), "EUR");
    assert_eq!(kept.difference_account.as_deref(), Some("4970"));
    assert_eq!(kept.proposed_by, "anna");
    assert_eq!(kept.proposed_at, at(9));

    // A second proposal naming one of its breaks is refused, and nothing of it stays.
    let only_a = [a];
    let again = in_unit(store, |u| u.propose(&proposal(&only_a, "marc")));
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let pending = in_read(store, |u| u.pending_approvals()).unwrap();
    assert_eq!(pending.iter().map(|p| p.id).collect::<Vec<_>>(), [id]);

    // Decided once; a second decision finds nothing pending.
    let approve = |by: &'static str| Decision {
        status: ApprovalStatus::Approved,
        by,
        at: at(10),
        note: None,
        entry_id: None,
        history: "approved",
    };
    assert!(in_unit(store, |u| u.decide_approval(id, &approve("marc"))).unwrap());
    assert!(!in_unit(store, |u| u.decide_approval(id, &approve("olga"))).unwrap());
    let decided = in_read(store, |u| u.approval(id)).unwrap().unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("marc"));
    assert_eq!(decided.decided_at, Some(at(10)));
    assert!(
        in_read(store, |u| u.pending_approvals())
            .unwrap()
            .is_empty()
    );

    // Once decided, the break may be proposed again.
    let next = in_unit(store, |u| u.propose(&proposal(&only_a, "marc"))).unwrap();
    let withdrawn = Decision {
        status: ApprovalStatus::Withdrawn,
        by: "marc",
        at: at(11),
        note: Some("wrong item"),
        entry_id: None,
        history: "withdrawn",
    };
    assert!(in_unit(store, |u| u.decide_approval(next, &withdrawn)).unwrap());
    let of_a = in_read(store, |u| u.approvals_for_break(a)).unwrap();
    assert_eq!(of_a.iter().map(|p| p.id).collect::<Vec<_>>(), [id, next]);
    assert_eq!(of_a[1].decision_note.as_deref(), Some("wrong item"));
    let history: Vec<(String, String)> = in_read(store, |u| u.break_history(a))
        .unwrap()
        .into_iter()
        .map(|h| (h.actor, h.action))
        .collect();
    let pairs: Vec<(&str, &str)> = history
        .iter()
        .map(|(w, a)| (w.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("clerk", "opened"),
            ("anna", "proposed"),
            ("marc", "approved"),
            ("marc", "proposed"),
            ("marc", "withdrawn"),
        ]
    );
    assert!(
        in_read(store, |u| u.approval(next + 100))
            .unwrap()
            .is_none()
    );
}
