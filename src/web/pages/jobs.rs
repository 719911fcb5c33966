//! Jobs: each job as configured (its kind, folder, schedule with the next time it fires, its
//! rules), and its last 30 days as charts drawn on the server: STP, breaks opened and closed,
//! and the ageing of what is open.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use chrono::{Duration, NaiveDate, Utc};
use maud::{Markup, html};

use super::overview::{AGE_BUCKETS, bucket};
use super::svg::{Series, bar_chart, line_chart};
use super::{age_days, today, when};
use crate::config::{Config, Job, JobKind};
use crate::model::stp_rate;
use crate::store::console::{JobDay, OpenBreakDay};
use crate::web::page::layout;
use crate::web::{AppState, User, WebError};

/// How many days the charts cover.
pub const KPI_DAYS: i64 = 30;

pub async fn list(State(console): State<AppState>, user: User) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let now = Utc::now();
    Ok(layout(
        "Jobs",
        Some(&user),
        html! {
            table {
                tr { th { "Job" } th { "Kind" } th { "Folder" } th { "Schedule" } th { "Next run" } th { "Owner" } }
                @for j in &config.jobs {
                    tr {
                        td { a href=(format!("/jobs/{}", super::encoded(&j.name))) { (j.name) } }
                        td { (j.kind.name()) }
                        td { (j.watch.as_ref().map(|w| w.folder.display().to_string()).unwrap_or_default()) }
                        td { (j.schedule.as_ref().map(|s| s.to_string()).unwrap_or_default()) }
                        td { (j.schedule.as_ref().and_then(|s| s.next_after(now)).map(|t| when(&config, t)).unwrap_or_default()) }
                        td { (j.owner.as_deref().unwrap_or("")) }
                    }
                }
            }
        },
    ))
}

pub async fn show(
    State(console): State<AppState>,
    user: User,
    Path(name): Path<String>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let Some(job) = config.job(&name).cloned() else {
        return Err(WebError::NotFound(format!("there is no job {name}")));
    };
    let now = Utc::now();
    let day = today(&config, now);
    let from = day - Duration::days(KPI_DAYS - 1);
    let j = name.clone();
    let (days, open, runs) = console
        .db
        .read(move |u| {
            let open: Vec<OpenBreakDay> = u
                .open_break_days()?
                .into_iter()
                .filter(|o| o.job == j)
                .collect();
            Ok((
                u.job_days(&j, from)?,
                open,
                u.runs_page(Some(&j), None, 10)?,
            ))
        })
        .await?;
    let next = job.schedule.as_ref().and_then(|s| s.next_after(now));
    Ok(layout(
        &format!("Job {name}"),
        Some(&user),
        html! {
            table {
                tr { th { "Kind" } td { (job.kind.name()) } }
                @if let Some(d) = &job.description { tr { th { "What" } td { (d) } } }
                tr { th { "Job file" } td { (job.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()) } }
                @if let Some(w) = &job.watch {
                    tr { th { "Folder" } td { (w.folder.display()) " (" (w.patterns.join(", ")) ")" } }
                }
                @if let Some(s) = &job.schedule {
                    tr { th { "Schedule" } td { (s.to_string()) } }
                    tr { th { "Next run" } td { (next.map(|t| when(&config, t)).unwrap_or_else(|| "never".into())) } }
                }
                @if let Some(o) = &job.owner { tr { th { "Owner" } td { (o) } } }
            }
            h2 { "Last " (KPI_DAYS) " days" }
            (charts(&config, &job, &days, &open, from, day))
            h2 { "Rules as configured" }
            (rules(&job))
            h2 { "Latest runs" }
            (super::runs::table(&config, &runs))
            p { a href=(format!("/runs?job={}", super::encoded(&name))) { "All runs of this job" } }
        },
    ))
}

/// Every day from `from` to `to`, with what the job did on it (nothing on a day without runs).
pub fn every_day(days: &[JobDay], from: NaiveDate, to: NaiveDate) -> Vec<JobDay> {
    let by_day: BTreeMap<NaiveDate, &JobDay> = days.iter().map(|d| (d.day, d)).collect();
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|d| {
            by_day.get(&d).map_or_else(
                || JobDay {
                    day: d,
                    ..Default::default()
                },
                |x| (*x).clone(),
            )
        })
        .collect()
}

pub fn charts(
    config: &Config,
    job: &Job,
    days: &[JobDay],
    open: &[OpenBreakDay],
    from: NaiveDate,
    to: NaiveDate,
) -> Markup {
    let days = every_day(days, from, to);
    let labels: Vec<String> = days.iter().map(|d| d.day.to_string()).collect();
    // A day without runs has no STP: drawn as 0 would read as "nothing went through"; the
    // line is drawn over the days that had work only.
    let worked: Vec<&JobDay> = days
        .iter()
        .filter(|d| stp_rate(d.matched, d.breaks_opened).is_some())
        .collect();
    let stp_labels: Vec<String> = worked.iter().map(|d| d.day.to_string()).collect();
    let stp: Vec<f64> = worked
        .iter()
        .filter_map(|d| stp_rate(d.matched, d.breaks_opened))
        .collect();
    let mut ages = [0u64; 4];
    for o in open {
        ages[bucket(age_days(config, &job.name, o.since, to))] += o.count;
    }
    let opened: Vec<f64> = days.iter().map(|d| d.breaks_opened as f64).collect();
    let closed: Vec<f64> = days.iter().map(|d| d.breaks_closed as f64).collect();
    let top = opened.iter().chain(&closed).copied().fold(0.0, f64::max);
    html! {
        h3 { "Straight-through processing per day" }
        (line_chart(
            "STP per day",
            &stp_labels,
            &[Series { name: "STP", colour: "#1f5fbf", values: stp }],
            Some(1.0),
            "100 %",
        ))
        h3 { "Breaks opened and closed per day" }
        (line_chart(
            "Breaks opened and closed per day",
            &labels,
            &[
                Series { name: "opened", colour: "#b3261e", values: opened },
                Series { name: "closed", colour: "#1a7f37", values: closed },
            ],
            None,
            &format!("{top}"),
        ))
        h3 { "Open breaks by age (business days)" }
        (bar_chart(
            "Open breaks by age",
            &AGE_BUCKETS.iter().zip(ages).map(|(b, n)| (b.to_string(), n)).collect::<Vec<_>>(),
        ))
    }
}

/// The job's rules as clerk read them from its file (passes, tolerances, windows, the
/// posting template). What is secret in a configuration never prints (`secret::Secret`).
fn rules(job: &Job) -> Markup {
    let shown = match &job.kind {
        JobKind::CashReconciliation {
            book,
            account,
            rules,
            posting,
            break_grace,
            ..
        } => format!(
            "book: {book}\naccount: {}\nbreak grace: {break_grace:?}\n\nmatching:\n{rules:#?}\n\nposting:\n{posting:#?}",
            account.as_deref().unwrap_or("any")
        ),
        JobKind::PositionReconciliation { rules, .. } => format!("{rules:#?}"),
        JobKind::TradeSettlement { rules, .. } => format!("{rules:#?}"),
        JobKind::AccountsPayable {
            rules, accounts, ..
        } => {
            format!("{rules:#?}\n\naccounts:\n{accounts:#?}")
        }
        JobKind::LedgerImport { book, .. }
        | JobKind::CustodyImport { book, .. }
        | JobKind::InvoiceImport { book, .. } => format!("loads the book {book}"),
        JobKind::Summary {
            to,
            oldest,
            largest,
            ..
        } => format!(
            "to: {}\noldest listed: {oldest}\nlargest listed: {largest}",
            to.join(", ")
        ),
    };
    html! { pre { (shown) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_of_the_period_is_charted_once() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 3, n).unwrap();
        let days = every_day(
            &[JobDay {
                day: d(3),
                matched: 9,
                breaks_opened: 1,
                ..Default::default()
            }],
            d(1),
            d(5),
        );
        assert_eq!(days.len(), 5);
        assert_eq!(days[2].matched, 9);
        assert_eq!(
            days[0],
            JobDay {
                day: d(1),
                ..Default::default()
            }
        );
    }
}
