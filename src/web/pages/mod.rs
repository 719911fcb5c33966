//! The console's pages, one file each, and the actions their forms post.
//!
//! What they share is here: dates shown on the daemon's wall clock (`[daemon] timezone`), a
//! break's age in business days of its job's calendar, amounts right-aligned as the store
//! keeps them (exact decimals, never floats), paging links, and how a refusal of
//! `jobs::workflow` is said. A posted form's CSRF token is checked by `auth::Posted`.

mod approvals;
mod break_page;
mod exceptions;
mod files;
mod jobs;
mod overview;
mod periods;
mod reversal;
mod runs;
pub mod svg;
mod users;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};

use super::page;
use super::{AppState, WebError};
use crate::config::Config;
use crate::schedule::Calendar;

/// Rows on a page of the queue, of files and of runs.
pub const PAGE_ROWS: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/exceptions", get(exceptions::show))
        .route("/exceptions/match", post(exceptions::force_match))
        .route("/exceptions/{id}", get(break_page::show))
        .route("/exceptions/{id}/assign", post(break_page::assign))
        .route("/exceptions/{id}/note", post(break_page::note))
        .route(
            "/exceptions/{id}/investigate",
            post(break_page::investigate),
        )
        .route("/exceptions/{id}/resolve", post(break_page::resolve))
        .route("/exceptions/{id}/reopen", post(break_page::reopen))
        .route("/exceptions/{id}/unmatch", post(reversal::unmatch))
        .route("/approvals", get(approvals::show))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route("/approvals/{id}/withdraw", post(approvals::withdraw))
        .route("/files", get(files::list))
        .route("/files/{id}", get(files::show))
        .route("/files/{id}/original", get(files::original))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::show))
        .route(
            "/runs/{run}/entries/{entry}/reverse",
            post(reversal::reverse_entry),
        )
        .route("/jobs", get(jobs::list))
        .route("/jobs/{name}", get(jobs::show))
        .route("/static/clerk.css", get(page::style))
        .route("/static/clerk.js", get(page::script))
        .merge(users::routes())
        .merge(periods::routes())
}

/// The calendar a job's breaks age by: its own (a cash reconciliation's), else the default.
pub fn calendar_of<'c>(config: &'c Config, job: &str) -> &'c Calendar {
    config
        .job(job)
        .and_then(crate::jobs::ageing_calendar)
        .unwrap_or_else(|| config.default_calendar())
}

/// Today on the daemon's wall clock.
pub fn today(config: &Config, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&config.settings.timezone).date_naive()
}

/// A break's age: business days from the day it dates from to today, on its job's calendar
/// (what `clerk exceptions` and the summary show).
pub fn age_days(config: &Config, job: &str, since: NaiveDate, today: NaiveDate) -> i64 {
    calendar_of(config, job)
        .business_days_between(since, today)
        .max(0)
}

/// The latest day a break of `job` may date from to be at least `min` business days old
/// today. Ages grow as the day goes back, so this is the first day, walking back from today,
/// that is old enough.
pub fn oldest_day_for(config: &Config, job: &str, min: i64, today: NaiveDate) -> NaiveDate {
    let calendar = calendar_of(config, job);
    let mut day = today;
    // A business day at least every few days; the bound only stops a calendar that has none.
    for _ in 0..(min.max(0) * 7 + 14) {
        if calendar.business_days_between(day, today) >= min {
            return day;
        }
        day = day.pred_opt().unwrap_or(day);
    }
    day
}

/// An instant on the daemon's wall clock, to the minute.
pub fn when(config: &Config, t: DateTime<Utc>) -> String {
    t.with_timezone(&config.settings.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A number cell: right-aligned, tabular figures.
pub fn num(v: impl std::fmt::Display) -> Markup {
    html! { td.num { (v) } }
}

/// A link to the page after this one, keeping the page's other parameters.
pub fn next_link(path: &str, params: &[(&str, String)], after_key: &str, after: &str) -> String {
    let mut q: Vec<String> = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && *k != after_key)
        .map(|(k, v)| format!("{k}={}", encoded(v)))
        .collect();
    q.push(format!("{after_key}={}", encoded(after)));
    format!("{path}?{}", q.join("&"))
}

/// `s` as a URL query value.
pub fn encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A refusal of `jobs::workflow` is said to the person; a store failure is the store's.
pub fn refused(e: crate::jobs::workflow::WorkflowError) -> WebError {
    match e {
        crate::jobs::workflow::WorkflowError::Refused(m) => WebError::Refused(m),
        crate::jobs::workflow::WorkflowError::Store(e) => WebError::Store(e),
    }
}

/// An empty form field is no filter.
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::User;

    fn user(csrf: &str) -> User {
        User {
            name: "anna".into(),
            role: crate::model::people::Role::Operator,
            csrf: csrf.into(),
        }
    }

    #[test]
    fn the_next_page_link_keeps_the_filters_and_encodes_them() {
        let link = next_link(
            "/exceptions",
            &[
                ("job", "bank".into()),
                ("text", "a&b c".into()),
                ("owner", String::new()),
                ("after", "old".into()),
            ],
            "after",
            "2026-03-05,7",
        );
        assert_eq!(
            link,
            "/exceptions?job=bank&text=a%26b%20c&after=2026-03-05%2C7"
        );
    }

    /// A configuration with no job, in a temp folder.
    pub(super) fn config() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        for d in ["config", "jobs"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let toml = "[daemon]\njobs = \"jobs\"\nstate = \"var\"\ntimezone = \"Europe/Berlin\"\n\n\
                    [mail]\nfrom = \"clerk@example.com\"\n\n[calendars.default]\nweekend = [\"Sat\", \"Sun\"]\n";
        std::fs::write(dir.path().join("config/clerk.toml"), toml).unwrap();
        let config = crate::config::load(&dir.path().join("config/clerk.toml")).unwrap();
        (dir, config)
    }

    #[test]
    fn the_minimum_age_finds_the_latest_day_that_is_old_enough() {
        let (_dir, config) = config();
        let calendar = config.default_calendar();
        // A Monday: the weekend before it is no business day.
        let today: NaiveDate = "2026-03-09".parse().unwrap();
        for min in 0..30 {
            let day = oldest_day_for(&config, "no-such-job", min, today);
            assert!(calendar.business_days_between(day, today) >= min, "{min}");
            let later = day.succ_opt().unwrap();
            assert!(
                later > today || calendar.business_days_between(later, today) < min,
                "{min}: {day} is not the latest day old enough"
            );
        }
    }

    const HOSTILE: &str = "<script>alert(1)</script>";

    fn hostile_break() -> crate::model::Break {
        crate::model::Break {
            id: 7,
            job: "bank-reconciliation".into(),
            reason: crate::model::BreakReason::MissingInLedger,
            status: crate::model::BreakStatus::Open,
            detail: format!("statement line BK7: {HOSTILE}"),
            amount: Some("49.95".parse().unwrap()),
            currency: Some("EUR".parse().unwrap()),
            difference: None,
            since: "2026-03-05".parse().unwrap(),
            owner: Some(HOSTILE.into()),
            opened_at: "2026-03-05T10:00:00Z".parse().unwrap(),
            closed_at: None,
            resolution: None,
            record_id: None,
            source: Some(format!("{HOSTILE}.csv line 2")),
        }
    }

    fn escaped_only(page: &str) {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }

    #[test]
    fn text_from_files_and_people_is_escaped_on_the_queue_and_the_break_page() {
        let (_dir, config) = config();
        let u = user("tok");
        let b = hostile_break();
        let queue = exceptions::render(
            &config,
            &u,
            &exceptions::Filters {
                text: Some(HOSTILE.into()),
                ..Default::default()
            },
            std::slice::from_ref(&b),
            "2026-03-09".parse().unwrap(),
            None,
        )
        .into_string();
        escaped_only(&queue);
        let view = break_page::BreakView {
            brk: b,
            history: vec![crate::model::BreakEvent {
                at: "2026-03-05T10:00:00Z".parse().unwrap(),
                actor: "anna".into(),
                action: "note".into(),
                detail: Some(HOSTILE.into()),
            }],
            record: None,
            origin: None,
            matched: None,
            approvals: Vec::new(),
        };
        let page = break_page::render(&config, &u, &view).into_string();
        escaped_only(&page);
        // An operator sees the forms, each with the session's token.
        assert!(page.contains("action=\"/exceptions/7/resolve\""));
        assert_eq!(
            page.matches("name=\"csrf\" value=\"tok\"").count(),
            page.matches("<form").count()
        );
    }

    #[test]
    fn a_viewer_sees_no_action_form_and_no_checkbox() {
        let (_dir, config) = config();
        let viewer = User {
            role: crate::model::people::Role::Viewer,
            ..user("tok")
        };
        let b = hostile_break();
        let queue = exceptions::render(
            &config,
            &viewer,
            &exceptions::Filters::default(),
            std::slice::from_ref(&b),
            "2026-03-09".parse().unwrap(),
            None,
        )
        .into_string();
        assert!(!queue.contains("name=\"break\""));
        assert!(!queue.contains("Force-match"));
    }
}
