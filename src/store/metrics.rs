//! Monitoring, and the links mail gives: what `/metrics` reports that the other areas do not already read, each figure
//! counted from what the store holds (so it survives restarts and agrees with `clerk status`).

use chrono::{DateTime, NaiveDate, Utc};

use super::Result;

/// Upper bounds (milliseconds) of the processing-time histogram's buckets: a run takes from a
/// few milliseconds (a small ledger) to minutes (a large statement).
pub const PROCESSING_BUCKETS_MS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// Upper bounds (milliseconds) of the arrival-to-posting histogram's buckets: from a file put
/// in its folder to its entries posted, seconds when all is well, hours when clerk was down.
pub const ARRIVAL_BUCKETS_MS: &[u64] = &[
    1_000,
    5_000,
    15_000,
    60_000,
    300_000,
    900_000,
    3_600_000,
    4 * 3_600_000,
    24 * 3_600_000,
];

/// What monitoring reads (nothing here writes).
pub trait Metrics {
    /// One read of the figures below, on the unit's snapshot.
    fn monitoring(&mut self) -> Result<Monitoring>;
    /// For links from mail: each unresolved break's file (its record's file, or the file
    /// that failed), by break id.
    fn open_break_files(&mut self) -> Result<std::collections::HashMap<i64, i64>>;
}

/// The store's figures for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Monitoring {
    /// Files recorded, by job and status (`processed`, `failed`, `duplicate`, and `ignored`:
    /// files in a watched folder the job never takes as they are, each reported once).
    pub files: Vec<(String, String, u64)>,
    /// Journal entries posted, by job.
    pub entries: Vec<(String, u64)>,
    /// Unresolved breaks, by job, reason and the date they age from.
    pub open_breaks: Vec<OpenBreaks>,
    /// Duration of finished runs, by job.
    pub processing: Vec<(String, Histogram)>,
    /// From a file's arrival in its folder to the end of its run, by job.
    pub arrival_to_posting: Vec<(String, Histogram)>,
    /// The end of each job's last run that finished `ok`.
    pub last_success: Vec<(String, DateTime<Utc>)>,
    /// Mail not delivered yet.
    pub mail_queued: u64,
    /// Of it, mail whose last delivery attempt failed.
    pub mail_failing: u64,
    /// Delivery attempts that failed, over all mail ever queued.
    pub mail_delivery_failures: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBreaks {
    pub job: String,
    pub reason: String,
    pub since: NaiveDate,
    pub count: u64,
}

/// A histogram in Prometheus's shape: cumulative counts per upper bound, in the order of the
/// bounds it was read with, then the count and sum of all observations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_ms: u64,
}
