//! Runs: every run of every job, newest first, a page at a time; a run's page with what it
//! did and the entries it posted.

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::overview::status_class;
use super::{PAGE_ROWS, given, next_link, num, when};
use crate::config::Config;
use crate::store::{PostedEntry, RunRow};
use crate::web::page::layout;
use crate::web::{AppState, User, WebError};

#[derive(Debug, Default, Deserialize)]
pub struct RunFilters {
    pub job: Option<String>,
    pub before: Option<String>,
}

pub async fn list(
    State(console): State<AppState>,
    user: User,
    Query(f): Query<RunFilters>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let before = given(&f.before)
        .map(|b| b.parse::<i64>())
        .transpose()
        .map_err(|_| WebError::Refused("this page link is damaged".into()))?;
    let job = given(&f.job).map(str::to_owned);
    let mut runs = console
        .db
        .read(move |u| u.runs_page(job.as_deref(), before, PAGE_ROWS + 1))
        .await?;
    let more = runs.len() > PAGE_ROWS;
    runs.truncate(PAGE_ROWS);
    let next = more.then(|| {
        next_link(
            "/runs",
            &[("job", f.job.clone().unwrap_or_default())],
            "before",
            &runs[runs.len() - 1].id.to_string(),
        )
    });
    Ok(layout(
        "Runs",
        Some(&user),
        html! {
            (table(&config, &runs))
            div.pager {
                @if f.before.is_some() { a href="/runs" { "First page" } }
                @if let Some(n) = &next { a href=(n) { "Next page" } }
            }
        },
    ))
}

/// Runs as a table (the runs page, a file's page, a job's page).
pub fn table(config: &Config, runs: &[RunRow]) -> Markup {
    html! {
        table {
            tr {
                th.num { "Run" } th { "Started" } th { "Job" } th { "Trigger" } th { "Status" } th { "File" }
                th.num { "Records" } th.num { "Matched" } th.num { "Entries" } th.num { "Breaks opened" }
                th.num { "Closed" } th.num { "ms" }
            }
            @for r in runs {
                tr {
                    td.num { a href=(format!("/runs/{}", r.id)) { (r.id) } }
                    td { (when(config, r.started_at)) }
                    td { (r.job) }
                    td { (r.trigger) }
                    td { span class=(status_class(&r.status)) { (r.status) } }
                    td { (r.file.as_deref().unwrap_or("")) }
                    (num(r.records_in)) (num(r.matched)) (num(r.entries_posted))
                    (num(r.breaks_opened)) (num(r.breaks_closed))
                    td.num { (r.duration_ms.map(|d| d.to_string()).unwrap_or_default()) }
                }
                @if let Some(e) = &r.error {
                    tr { td {} td.bad colspan="11" { (e) } }
                }
            }
            @if runs.is_empty() { tr { td colspan="12" { span.muted { "no runs" } } } }
        }
    }
}

pub async fn show(
    State(console): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let (run, entries) = console
        .db
        .read(move |u| Ok((u.run_row(id)?, u.entries_of_run(id)?)))
        .await?;
    let run = run.ok_or_else(|| WebError::NotFound(format!("there is no run {id}")))?;
    Ok(layout(
        &format!("Run {id}"),
        Some(&user),
        render_run(&config, &user, &run, &entries),
    ))
}

pub fn render_run(config: &Config, user: &User, run: &RunRow, entries: &[PostedEntry]) -> Markup {
    html! {
        (table(config, std::slice::from_ref(run)))
        h2 { "Entries posted" }
        @if entries.is_empty() { p.muted { "none" } }
        @for e in entries {
            h3 { "Entry " (e.id) " on " (e.posting_date) }
            p { (e.narrative) }
            (super::reversal::entry_button(user, run.id, e.id))
            table {
                tr { th { "Account" } th { "Ccy" } th.num { "Debit" } th.num { "Credit" } }
                @for l in &e.lines {
                    tr {
                        td { (l.account) }
                        td { (l.currency) }
                        td.num { @if l.amount.is_sign_positive() { (l.amount) } }
                        td.num { @if l.amount.is_sign_negative() { (-l.amount) } }
                    }
                }
            }
        }
    }
}
