//! `/metrics` drawn: the Prometheus text exposition format (version 0.0.4) of what the store
//! holds and the daemon's signs of life. Pure: the figures are read by `monitor.rs`.
//!
//! Every figure is counted from the store at scrape time, not kept in memory, so a restart
//! loses nothing and the counts equal `clerk status --json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::Beats;
use crate::config::Config;
use crate::store::metrics::{ARRIVAL_BUCKETS_MS, Histogram, Monitoring, PROCESSING_BUCKETS_MS};
use crate::store::{JobActivity, Totals};

/// What one scrape read from the store, on one snapshot.
#[derive(Default)]
pub struct Figures {
    pub totals: Totals,
    pub activity: Vec<JobActivity>,
    pub store: Monitoring,
    /// False when the store could not be read: the store's figures are then left out.
    pub store_ok: bool,
}

/// Age buckets of open breaks, in business days of the job's calendar: (label, up to).
const AGE_BUCKETS: &[(&str, i64)] = &[
    ("0-1", 1),
    ("2-5", 5),
    ("6-10", 10),
    ("11-30", 30),
    ("31+", i64::MAX),
];

/// The exposition of `f` and `beats`; `ready` is what `/readyz` would answer, the store aside.
pub fn render(
    config: &Config,
    f: &Figures,
    beats: &Beats,
    tasks_ready: bool,
    now: DateTime<Utc>,
) -> String {
    let mut x = Exposition::default();
    x.family(
        "clerk_store_up",
        "gauge",
        "1 when the store could be read for this scrape.",
    );
    x.sample("clerk_store_up", &[], u64::from(f.store_ok));
    let ready = f.store_ok && tasks_ready;
    x.family(
        "clerk_ready",
        "gauge",
        "1 when the store can be read and every task of the daemon shows life (as /readyz).",
    );
    x.sample("clerk_ready", &[], u64::from(ready));
    x.family(
        "clerk_tasks_alive",
        "gauge",
        "1 while every long-lived task of the daemon runs.",
    );
    x.sample("clerk_tasks_alive", &[], u64::from(beats.tasks_alive));
    beat_families(&mut x, beats);
    if f.store_ok {
        store_families(&mut x, config, f, now);
    }
    x.out
}

fn beat_families(x: &mut Exposition, beats: &Beats) {
    let secs = |ms: i64| Seconds(ms);
    x.family(
        "clerk_scanner_last_beat_timestamp_seconds",
        "gauge",
        "When the folder scanner last completed a pass (Unix time).",
    );
    // i64::MAX: the scanner has nothing to watch; no beat to report.
    if let Some(t) = beats.scanner.filter(|&t| t != i64::MAX) {
        x.sample("clerk_scanner_last_beat_timestamp_seconds", &[], secs(t));
    }
    x.family(
        "clerk_scheduler_last_beat_timestamp_seconds",
        "gauge",
        "When the scheduler last ticked (Unix time).",
    );
    if let Some(t) = beats.scheduler {
        x.sample("clerk_scheduler_last_beat_timestamp_seconds", &[], secs(t));
    }
    x.family(
        "clerk_worker_last_unit_timestamp_seconds",
        "gauge",
        "When the worker last finished a unit of work (Unix time).",
    );
    if let Some(t) = beats.worker {
        x.sample("clerk_worker_last_unit_timestamp_seconds", &[], secs(t));
    }
    x.family(
        "clerk_mailbox_last_poll_timestamp_seconds",
        "gauge",
        "When each mailbox reader last completed a poll (Unix time).",
    );
    for (name, beat) in &beats.mailboxes {
        if let Some(t) = beat {
            x.sample(
                "clerk_mailbox_last_poll_timestamp_seconds",
                &[("mailbox", name)],
                secs(*t),
            );
        }
    }
}

fn store_families(x: &mut Exposition, config: &Config, f: &Figures, now: DateTime<Utc>) {
    let s = &f.store;
    x.family(
        "clerk_files_total",
        "counter",
        "Files by job and status: processed, failed, duplicate, and ignored (in a watched folder, never taken as it is; each reported once).",
    );
    for (job, status, n) in &s.files {
        x.sample("clerk_files_total", &[("job", job), ("status", status)], *n);
    }
    x.family(
        "clerk_records",
        "gauge",
        "Records (statement and ledger lines) stored.",
    );
    x.sample("clerk_records", &[], f.totals.records);
    x.family(
        "clerk_records_open",
        "gauge",
        "Records stored that no match settled yet.",
    );
    x.sample("clerk_records_open", &[], f.totals.records_open);
    x.family(
        "clerk_records_read_total",
        "counter",
        "Records read by each job's runs.",
    );
    for a in &f.activity {
        x.sample("clerk_records_read_total", &[("job", &a.job)], a.records);
    }
    x.family(
        "clerk_matches_total",
        "counter",
        "Records matched without a human, by job and the pass that matched them.",
    );
    for a in &f.activity {
        for (pass, n) in &a.matched_by_pass {
            x.sample(
                "clerk_matches_total",
                &[("job", &a.job), ("pass", pass)],
                *n,
            );
        }
    }
    x.family(
        "clerk_entries_posted_total",
        "counter",
        "Journal entries posted, by job.",
    );
    for (job, n) in &s.entries {
        x.sample("clerk_entries_posted_total", &[("job", job)], *n);
    }
    open_breaks(x, config, s, now);
    x.family(
        "clerk_stp_ratio",
        "gauge",
        "Of the records each job decided on, the share matched and posted with no human touch.",
    );
    for a in &f.activity {
        if let Some(r) = crate::model::stp_rate(a.matched, a.breaks_opened) {
            x.sample("clerk_stp_ratio", &[("job", &a.job)], Ratio(r));
        }
    }
    histogram(
        x,
        "clerk_run_duration_seconds",
        "How long each job's runs took.",
        PROCESSING_BUCKETS_MS,
        &s.processing,
    );
    histogram(
        x,
        "clerk_arrival_to_posting_seconds",
        "From a file's arrival in its folder to its run's end (entries posted).",
        ARRIVAL_BUCKETS_MS,
        &s.arrival_to_posting,
    );
    x.family(
        "clerk_mail_queued",
        "gauge",
        "Mail waiting to be delivered.",
    );
    x.sample("clerk_mail_queued", &[], s.mail_queued);
    x.family(
        "clerk_mail_failing",
        "gauge",
        "Mail waiting whose last delivery attempt failed.",
    );
    x.sample("clerk_mail_failing", &[], s.mail_failing);
    x.family(
        "clerk_mail_delivery_failures_total",
        "counter",
        "Delivery attempts that failed.",
    );
    x.sample(
        "clerk_mail_delivery_failures_total",
        &[],
        s.mail_delivery_failures,
    );
    x.family(
        "clerk_last_success_timestamp_seconds",
        "gauge",
        "When each job's last successful run ended (Unix time).",
    );
    for (job, t) in &s.last_success {
        x.sample(
            "clerk_last_success_timestamp_seconds",
            &[("job", job)],
            Seconds(t.timestamp_millis()),
        );
    }
}

/// Open breaks by job, reason and age in business days of the job's calendar (the ages
/// people and the summary speak of).
fn open_breaks(x: &mut Exposition, config: &Config, s: &Monitoring, now: DateTime<Utc>) {
    let today = now.with_timezone(&config.settings.timezone).date_naive();
    let mut counts: BTreeMap<(&str, &str, usize), u64> = BTreeMap::new();
    for b in &s.open_breaks {
        let calendar = config
            .job(&b.job)
            .and_then(crate::jobs::ageing_calendar)
            .unwrap_or_else(|| config.default_calendar());
        let age = calendar.business_days_between(b.since, today).max(0);
        let bucket = AGE_BUCKETS
            .iter()
            .position(|&(_, upto)| age <= upto)
            .unwrap_or(AGE_BUCKETS.len() - 1);
        *counts.entry((&b.job, &b.reason, bucket)).or_default() += b.count;
    }
    x.family(
        "clerk_breaks_open",
        "gauge",
        "Unresolved breaks, by job, reason and age in business days.",
    );
    for ((job, reason, bucket), n) in counts {
        x.sample(
            "clerk_breaks_open",
            &[
                ("job", job),
                ("reason", reason),
                ("age", AGE_BUCKETS[bucket].0),
            ],
            n,
        );
    }
}

fn histogram(
    x: &mut Exposition,
    name: &str,
    help: &str,
    bounds_ms: &[u64],
    per_job: &[(String, Histogram)],
) {
    x.family(name, "histogram", help);
    let bucket = format!("{name}_bucket");
    for (job, h) in per_job {
        for (bound, n) in bounds_ms.iter().zip(&h.cumulative) {
            let le = Seconds(*bound as i64).to_string();
            x.sample(&bucket, &[("job", job), ("le", &le)], *n);
        }
        x.sample(&bucket, &[("job", job), ("le", "+Inf")], h.count);
        x.sample(
            &format!("{name}_sum"),
            &[("job", job)],
            Seconds(h.sum_ms as i64),
        );
        x.sample(&format!("{name}_count"), &[("job", job)], h.count);
    }
}

/// Milliseconds written as seconds, exactly (no float on the way).
struct Seconds(i64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, ms) = (self.0.div_euclid(1000), self.0.rem_euclid(1000));
        if ms == 0 {
            write!(f, "{s}")
        } else {
            let frac = format!("{ms:03}");
            write!(f, "{s}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// A share between 0 and 1, to six places.
struct Ratio(f64);

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = format!("{:.6}", self.0);
        let v = v.trim_end_matches('0').trim_end_matches('.');
        f.write_str(v)
    }
}

/// The text format being written: one `# HELP` and `# TYPE` per family, then its samples.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_per_the_format() {
        let mut x = Exposition::default();
        x.sample("m", &[("job", "a\\b\"c\nd")], 1);
        assert_eq!(x.out, "m{job=\"a\\\\b\\\"c\\nd\"} 1\n");
    }

    #[test]
    fn milliseconds_print_as_exact_seconds() {
        assert_eq!(Seconds(50).to_string(), "0.05");
        assert_eq!(Seconds(2_500).to_string(), "2.5");
        assert_eq!(Seconds(60_000).to_string(), "60");
        assert_eq!(Seconds(1_765_000_000_123).to_string(), "1765000000.123");
        assert_eq!(Ratio(0.75).to_string(), "0.75");
        assert_eq!(Ratio(1.0).to_string(), "1");
        assert_eq!(Ratio(0.0).to_string(), "0");
    }
}
