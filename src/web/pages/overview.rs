//! The overview: per job, today's STP, open breaks by reason and by age, the last run and the
//! files waiting, failed or ignored in its folder; the mail queue; the daemon's health.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use maud::{Markup, html};

use super::{age_days, num, today, when};
use crate::config::Config;
use crate::jobs::folders::{FolderState, folder_states};
use crate::model::{BreakReason, stp_rate};
use crate::store::console::{MailQueue, OpenBreakDay};
use crate::store::{JobActivity, RunRow};
use crate::web::page::layout;
use crate::web::{AppState, Beats, User, WebError};

/// The ageing buckets, in business days of the job's calendar.
pub const AGE_BUCKETS: [&str; 4] = ["0–1", "2–5", "6–10", "over 10"];

pub fn bucket(age: i64) -> usize {
    match age {
        ..=1 => 0,
        2..=5 => 1,
        6..=10 => 2,
        _ => 3,
    }
}

/// What the overview shows, read at one moment.
pub struct Overview {
    pub now: DateTime<Utc>,
    pub today: Vec<JobActivity>,
    pub open: Vec<OpenBreakDay>,
    pub last_runs: Vec<RunRow>,
    pub mail: MailQueue,
    pub folders: Vec<FolderState>,
    pub beats: Beats,
    /// The audit chain's head, as the morning summary mails it.
    pub audit_head: Option<crate::store::audit::ChainHead>,
}

pub async fn show(State(console): State<AppState>, user: User) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let now = Utc::now();
    let since = start_of_day(&config, today(&config, now));
    let counting = crate::jobs::summary::break_counting(&config, now);
    let cfg = config.clone();
    let (today_activity, open, last_runs, mail, folders, audit_head) = console
        .db
        .read(move |u| {
            Ok((
                u.activity_since(since, &counting)?,
                u.open_break_days()?,
                u.last_runs()?,
                u.mail_queue()?,
                // Listing folders is file I/O: here, on the read's blocking thread.
                folder_states(&cfg),
                u.chain_head()?,
            ))
        })
        .await?;
    let data = Overview {
        now,
        today: today_activity,
        open,
        last_runs,
        mail,
        folders,
        beats: console.daemon.beats(),
        audit_head,
    };
    Ok(layout("Overview", Some(&user), render(&config, &data)))
}

/// Midnight of `day` on the daemon's wall clock.
fn start_of_day(config: &Config, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    config
        .settings
        .timezone
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

pub fn render(config: &Arc<Config>, d: &Overview) -> Markup {
    let day = today(config, d.now);
    // Per job: open breaks by reason, and by ageing bucket.
    let mut by_reason: BTreeMap<&str, BTreeMap<BreakReason, u64>> = BTreeMap::new();
    let mut by_age: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for o in &d.open {
        *by_reason
            .entry(&o.job)
            .or_default()
            .entry(o.reason)
            .or_default() += o.count;
        by_age.entry(&o.job).or_default()[bucket(age_days(config, &o.job, o.since, day))] +=
            o.count;
    }
    let mut jobs: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
    // Breaks of a job no longer configured are still open: shown, not hidden.
    for j in by_reason.keys() {
        if !jobs.contains(j) {
            jobs.push(j);
        }
    }
    html! {
        h2 { "Daemon" }
        (health(config, d))
        h2 { "Jobs" }
        div.cards {
            @for job in &jobs {
                @let activity = d.today.iter().find(|a| a.job == *job);
                @let last = d.last_runs.iter().find(|r| r.job == *job);
                @let folder = d.folders.iter().find(|f| f.job == *job);
                div.card {
                    h3 { a href=(format!("/jobs/{}", super::encoded(job))) { (job) } }
                    table {
                        tr {
                            th { "STP today" }
                            td.num { (percent(activity.and_then(|a| stp_rate(a.matched, a.breaks_opened)))) }
                        }
                        tr {
                            th { "Runs today" }
                            td.num { (activity.map_or(0, |a| a.runs)) }
                        }
                        tr {
                            th { "Last run" }
                            td.num {
                                @match last {
                                    Some(r) => {
                                        a href=(format!("/runs/{}", r.id)) { (when(config, r.started_at)) }
                                        " " span class=(status_class(&r.status)) { (r.status) }
                                    }
                                    None => span.muted { "never" },
                                }
                            }
                        }
                        @if let Some(f) = folder {
                            tr { th { "Files waiting" } (num(f.waiting.len())) }
                            tr {
                                th { "Files failed" }
                                td.num {
                                    @if f.failed.is_empty() { "0" } @else {
                                        a.bad href=(format!("/files?job={}&status=failed", super::encoded(job))) { (f.failed.len()) }
                                    }
                                }
                            }
                            tr { th { "Files ignored" } (num(f.ignored.len())) }
                            @if let Some(e) = &f.error {
                                tr { td.bad colspan="2" { "folder: " (e) } }
                            }
                        }
                    }
                    @let reasons = by_reason.get(job);
                    @let ages = by_age.get(job).copied().unwrap_or_default();
                    h4 { "Open breaks: " (ages.iter().sum::<u64>()) }
                    @if let Some(reasons) = reasons {
                        table {
                            tr { th { "Reason" } th.num { "Open" } }
                            @for (reason, n) in reasons {
                                tr {
                                    td {
                                        a href=(format!("/exceptions?job={}&reason={}", super::encoded(job), reason.as_str())) {
                                            (reason.as_str())
                                        }
                                    }
                                    (num(n))
                                }
                            }
                        }
                        table {
                            tr {
                                th { "Age (business days)" }
                                @for b in AGE_BUCKETS { th.num { (b) } }
                            }
                            tr {
                                td { "breaks" }
                                @for n in ages { (num(n)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn health(config: &Config, d: &Overview) -> Markup {
    let beat = |ms: Option<i64>| -> Markup {
        match ms.and_then(DateTime::<Utc>::from_timestamp_millis) {
            Some(t) => html! { (when(config, t)) },
            None => html! { span.warn { "not yet" } },
        }
    };
    html! {
        table {
            tr {
                th { "Store" } th { "Tasks" } th { "Last scan" } th { "Last schedule tick" }
                th { "Last unit of work" } th.num { "Mail queued" } th.num { "Mail failing" }
            }
            tr {
                // The page was read from the store: it answers.
                td.good { "ok" }
                td { @if d.beats.tasks_alive { span.good { "running" } } @else { span.bad { "a task stopped" } } }
                td { (beat(d.beats.scanner)) }
                td { (beat(d.beats.scheduler)) }
                td { (beat(d.beats.worker)) }
                (num(d.mail.queued))
                td.num { @if d.mail.failing > 0 { span.bad { (d.mail.failing) } } @else { "0" } }
            }
        }
        @if let Some(h) = &d.audit_head {
            p { "Audit chain head: seq " (h.seq) " " code title=(h.hash) { (h.short()) } }
        }
    }
}

pub fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{:.1} %", r * 100.0))
}

pub fn status_class(status: &str) -> &'static str {
    match status {
        "ok" => "good",
        "failed" => "bad",
        _ => "muted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_in_the_buckets_the_overview_shows() {
        let got: Vec<usize> = [0, 1, 2, 5, 6, 10, 11, 400].map(bucket).to_vec();
        assert_eq!(got, [0, 0, 1, 1, 2, 2, 3, 3]);
    }
}
