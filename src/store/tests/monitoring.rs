//! The contract for what monitoring reads and for escalations.

use chrono::Duration;

use super::*;
use crate::store::metrics::{ARRIVAL_BUCKETS_MS, PROCESSING_BUCKETS_MS};

/// Files, runs (their durations in cumulative buckets), breaks by reason and date, the last
/// success, for one job among whatever else the store holds; a break escalated once.
pub(super) fn monitoring_counts_per_job_and_a_break_is_escalated_once(store: &mut dyn Store) {
    let job = "monitored";
    let (failed_break, record_break, file) = in_unit(store, |u| {
        let file = u.add_file(&new_file(job, "sha-monitored"))?;
        let mut failed = new_file(job, "sha-monitored-bad");
        failed.status = FileStatus::Failed;
        let bad = u.add_file(&failed)?;
        // One run of 0.3 s, 90 s from arrival to posting; one failed run of an hour.
        let ok = u.start_run(job, Trigger::File, Some(file), at(7))?;
        u.finish_run(
            ok,
            &RunOutcome {
                status: Some(RunStatus::Ok),
                finished_at: Some(at(7) + Duration::milliseconds(300)),
                arrival_to_done_ms: Some(90_000),
                ..Default::default()
            },
        )?;
        let failed_run = u.start_run(job, Trigger::File, Some(bad), at(8))?;
        u.finish_run(
            failed_run,
            &RunOutcome {
                status: Some(RunStatus::Failed),
                finished_at: Some(at(9)),
                ..Default::default()
            },
        )?;
        u.add_records(
            "monitored-book",
            file,
            &[record(Side::Ledger, "m1", "5.00")],
        )?;
        let rec = u
            .open_records("monitored-book", Side::Ledger, None)?
            .last()
            .unwrap()
            .id;
        let brk = |reason, record_id, run_id| NewBreak {
            job,
            run_id,
            reason,
            detail: "d",
            amount: None,
            currency: None,
            difference: None,
            since: "2026-03-02".parse().unwrap(),
            owner: None,
            record_id,
            source: None,
            at: at(9),
            subject: None,
        };
        let failed_break = u
            .open_break(&brk(BreakReason::Unreadable, None, failed_run))?
            .unwrap();
        let record_break = u
            .open_break(&brk(BreakReason::MissingOnStatement, Some(rec), ok))?
            .unwrap();
        Ok((failed_break, record_break, (file, bad)))
    })
    .unwrap();

    let m = in_read(store, |u| u.monitoring()).unwrap();
    let files: Vec<_> = m.files.iter().filter(|f| f.0 == job).collect();
    assert_eq!(
        files,
        [
            &(job.to_string(), "failed".to_string(), 1),
            &(job.to_string(), "processed".to_string(), 1)
        ]
    );
    let open: Vec<_> = m
        .open_breaks
        .iter()
        .filter(|b| b.job == job)
        .map(|b| (b.reason.as_str(), b.since.to_string(), b.count))
        .collect();
    assert_eq!(
        open,
        [
            ("missing_on_statement", "2026-03-02".to_string(), 1),
            ("unreadable", "2026-03-02".to_string(), 1)
        ]
    );
    let (_, processing) = m.processing.iter().find(|(j, _)| j == job).unwrap();
    assert_eq!((processing.count, processing.sum_ms), (2, 3_600_300));
    assert_eq!(processing.cumulative.len(), PROCESSING_BUCKETS_MS.len());
    // 300 ms is in every bucket from 500 ms up; the hour in none.
    let at_500 = PROCESSING_BUCKETS_MS
        .iter()
        .position(|&b| b == 500)
        .unwrap();
    assert_eq!(processing.cumulative[at_500 - 1], 0);
    assert_eq!(processing.cumulative[at_500], 1);
    assert_eq!(*processing.cumulative.last().unwrap(), 1);
    let (_, arrival) = m.arrival_to_posting.iter().find(|(j, _)| j == job).unwrap();
    assert_eq!(arrival.count, 1);
    assert_eq!(arrival.cumulative.len(), ARRIVAL_BUCKETS_MS.len());
    let last = m.last_success.iter().find(|(j, _)| j == job).unwrap().1;
    assert_eq!(last, at(7) + Duration::milliseconds(300));

    // Each open break's file: its record's, or the run's that failed.
    let files_of = in_read(store, |u| u.open_break_files()).unwrap();
    assert_eq!(files_of.get(&record_break), Some(&file.0));
    assert_eq!(files_of.get(&failed_break), Some(&file.1));

    // Escalated once: a second marking changes nothing.
    let first = in_unit(store, |u| u.mark_escalated(&[record_break], at(10))).unwrap();
    assert_eq!(first, [record_break]);
    let again = in_unit(store, |u| {
        u.mark_escalated(&[record_break, failed_break], at(11))
    })
    .unwrap();
    assert_eq!(again, [failed_break]);
    let kept = in_read(store, |u| u.escalated_breaks(job)).unwrap();
    assert_eq!(kept.get(&record_break), Some(&at(10)));
    assert_eq!(kept.len(), 2);
}
