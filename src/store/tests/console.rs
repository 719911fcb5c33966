//! The console's reads: the exception queue paged by key.

use super::*;
use crate::store::console::{OwnerFilter, QueueQuery, QueueSort};

/// 130 breaks of one job, on a few days, some without an amount, several of equal amount and
/// day: paged 50 at a time in each order, every break comes exactly once, in order.
pub(super) fn the_queue_pages_every_break_once_in_each_order(store: &mut dyn Store) {
    let ids = in_unit(store, |u| {
        let run = u.start_run("queue", Trigger::Manual, None, at(7))?;
        let mut ids = Vec::new();
        for n in 0..130u32 {
            let amount = match n % 7 {
                0 => None,
                k => Some(Decimal::new(i64::from(k) * 1000 - 3500, 2)),
            };
            let id = u.open_break(&NewBreak {
                job: "queue",
                run_id: run,
                reason: BreakReason::MissingInLedger,
                detail: &format!("line {n}"),
                amount,
                currency: Some("EUR".parse().unwrap()),
                difference: None,
                since: chrono::NaiveDate::from_ymd_opt(2026, 3, 1 + n % 5).unwrap(),
                owner: (n % 3 == 0).then_some("anna"),
                record_id: None,
                source: None,
                at: at(7),
                subject: Some(&format!("queue|{n}")),
            })?;
            ids.push(id.unwrap());
        }
        Ok(ids)
    })
    .unwrap();
    for sort in [QueueSort::Age, QueueSort::Amount, QueueSort::Job] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = in_read(store, |u| {
                u.queue(&QueueQuery {
                    job: Some("queue"),
                    sort,
                    after: after.clone(),
                    limit: 50,
                    ..Default::default()
                })
            })
            .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(sort.cursor_after(last));
            seen.extend(page);
        }
        let got: Vec<i64> = seen.iter().map(|b| b.id).collect();
        let mut unique = got.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(got.len(), ids.len(), "{sort:?}");
        assert_eq!(unique, ids, "{sort:?}: every break exactly once");
        match sort {
            QueueSort::Age | QueueSort::Job => assert!(
                seen.windows(2)
                    .all(|w| (w[0].since, w[0].id) < (w[1].since, w[1].id)),
                "{sort:?}"
            ),
            QueueSort::Amount => {
                let key = |b: &crate::model::Break| b.amount.map(|a| a.abs());
                assert!(
                    seen.windows(2).all(|w| key(&w[0]) >= key(&w[1])),
                    "largest first, those without an amount last"
                );
            }
        }
    }
    let nobody = in_read(store, |u| {
        u.queue(&QueueQuery {
            job: Some("queue"),
            owner: OwnerFilter::Nobody,
            amount_min: Some(Decimal::new(2500, 2)),
            text: Some("line 1"),
            limit: 500,
            ..Default::default()
        })
    })
    .unwrap();
    assert!(!nobody.is_empty());
    assert!(nobody.iter().all(|b| b.owner.is_none()
        && b.amount.is_some_and(|a| a.abs() >= Decimal::new(2500, 2))
        && b.detail.starts_with("line 1")));
}
