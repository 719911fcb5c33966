//! The contract for exports: a target's cursor moves with the batch that records the file, once;
//! entries are handed out in id order, chunk by chunk, with their lines.

use super::*;

fn post(store: &mut dyn Store, tag: &str, date: &str) -> i64 {
    let (run, l, s) = seed(store, tag);
    let mut e = entry(&format!("key-{tag}"), "10.05");
    e.posting_date = date.parse().unwrap();
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
    in_read(store, |u| u.last_entry_id()).unwrap()
}

fn batch<'a>(
    target: &'a str,
    number: u64,
    span: EntrySpan,
    cursor_was: i64,
    reexport: bool,
) -> NewExportBatch<'a> {
    NewExportBatch {
        target,
        number,
        reexport,
        file_name: "erp-000001.csv",
        sha256: "ab12",
        span,
        from: None,
        to: None,
        created_at: at(9),
        cursor_was,
    }
}

pub(super) fn a_cursor_moves_once_with_its_batch_and_entries_come_in_id_order(
    store: &mut dyn Store,
) {
    let start = in_read(store, |u| u.last_entry_id()).unwrap();
    let first = post(store, "exp-a", "2026-03-05");
    let second = post(store, "exp-b", "2026-03-01");
    let third = post(store, "exp-c", "2026-03-03");
    assert!(start < first && first < second && second < third);

    assert_eq!(in_read(store, |u| u.export_cursor("erp")).unwrap(), 0);
    // Two of the three, from where this suite's earlier entries end.
    let sel = EntrySelection {
        after: start,
        up_to: None,
        from: None,
        to: None,
        limit: 2,
    };
    let span = in_read(store, |u| u.export_span(&sel)).unwrap().unwrap();
    assert_eq!(
        span,
        EntrySpan {
            first_entry: first,
            last_entry: second,
            entries: 2,
            first_date: "2026-03-01".parse().unwrap(),
            last_date: "2026-03-05".parse().unwrap(),
        }
    );
    // In id order (not posting order), with lines and sources, one chunk or many.
    let mut seen = Vec::new();
    in_read(store, |u| {
        u.for_each_export_entry(&sel, &mut |e| {
            assert_eq!(e.lines.len(), 2);
            assert_eq!(e.lines[0].amount, "10.05".parse::<Decimal>().unwrap());
            assert!(!e.sources.is_empty(), "{:?}", e.sources);
            seen.push(e.id);
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(seen, [first, second]);

    let number = in_read(store, |u| u.next_export_number("erp", false)).unwrap();
    assert_eq!(number, 1);
    let recorded = in_unit(store, |u| {
        u.record_export_batch(&batch("erp", 1, span, 0, false))
    })
    .unwrap();
    assert_eq!(recorded.written_at, None);
    assert_eq!(recorded.selection().after, first - 1);
    assert_eq!(in_read(store, |u| u.export_cursor("erp")).unwrap(), second);
    // Planned from a cursor that has moved since: refused, and nothing changes.
    let again = in_unit(store, |u| {
        u.record_export_batch(&batch("erp", 2, span, 0, false))
    });
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        in_read(store, |u| u.export_batches(Some("erp")))
            .unwrap()
            .len(),
        1
    );
    // Recorded, not yet written: found as such until marked.
    let unwritten = in_read(store, |u| u.unwritten_export_batches(None)).unwrap();
    assert_eq!(unwritten.len(), 1);
    assert_eq!(unwritten[0], recorded);
    in_unit(store, |u| u.mark_export_written(recorded.id, at(10))).unwrap();
    assert!(
        in_read(store, |u| u.unwritten_export_batches(Some("erp")))
            .unwrap()
            .is_empty()
    );
    // The rest from the cursor on.
    let rest = EntrySelection {
        after: second,
        up_to: None,
        from: None,
        to: None,
        limit: 100,
    };
    let span = in_read(store, |u| u.export_span(&rest)).unwrap().unwrap();
    assert_eq!((span.first_entry, span.entries), (third, 1));

    // A re-export by date leaves the cursor alone and is numbered on its own.
    // (From this suite's entries on: earlier tests posted on 2026-03-02 too.)
    let by_date = EntrySelection {
        after: first - 1,
        up_to: None,
        from: Some("2026-03-01".parse().unwrap()),
        to: Some("2026-03-03".parse().unwrap()),
        limit: 100,
    };
    let span = in_read(store, |u| u.export_span(&by_date))
        .unwrap()
        .unwrap();
    assert_eq!((span.first_entry, span.last_entry), (second, third));
    assert_eq!(
        in_read(store, |u| u.next_export_number("erp", true)).unwrap(),
        1
    );
    let mut re = batch("erp", 1, span, 0, true);
    re.from = by_date.from;
    re.to = by_date.to;
    let re = in_unit(store, |u| u.record_export_batch(&re)).unwrap();
    assert!(re.reexport);
    assert_eq!(re.selection().from, by_date.from);
    assert_eq!(in_read(store, |u| u.export_cursor("erp")).unwrap(), second);
    let listed = in_read(store, |u| u.export_batches(None)).unwrap();
    assert_eq!(
        listed.iter().map(|b| b.reexport).collect::<Vec<_>>(),
        [false, true]
    );
    // Another target has its own cursor.
    assert_eq!(in_read(store, |u| u.export_cursor("other")).unwrap(), 0);
}
