//! The exception queue: filters (job, reason, status, owner, age, amount, text), three
//! orders, keyset paging 50 at a time, and the force-match form over the checked breaks.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{PAGE_ROWS, age_days, given, next_link, oldest_day_for, today};
use crate::config::Config;
use crate::jobs::workflow;
use crate::model::people::Role;
use crate::model::{Break, BreakReason, BreakStatus, break_label};
use crate::store::StatusFilter;
use crate::store::console::{AgeCutoff, OwnerFilter, QueueCursor, QueueQuery, QueueSort};
use crate::web::page::layout;
use crate::web::{AppState, Posted, User, WebError};

/// The queue's parameters as the filter form sends them (every one optional).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    pub job: Option<String>,
    pub reason: Option<String>,
    /// open, investigating, resolved, unresolved (the default) or all.
    pub status: Option<String>,
    /// A user name, `me` or `nobody`.
    pub owner: Option<String>,
    /// At least this many business days old.
    pub min_age: Option<String>,
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    pub text: Option<String>,
    /// age (default), amount or job.
    pub sort: Option<String>,
    pub after: Option<String>,
}

impl Filters {
    fn params(&self) -> Vec<(&'static str, String)> {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        vec![
            ("job", v(&self.job)),
            ("reason", v(&self.reason)),
            ("status", v(&self.status)),
            ("owner", v(&self.owner)),
            ("min_age", v(&self.min_age)),
            ("min_amount", v(&self.min_amount)),
            ("max_amount", v(&self.max_amount)),
            ("text", v(&self.text)),
            ("sort", v(&self.sort)),
        ]
    }
}

/// The filters read into a store query; a value that does not read is said back to the person.
pub fn query<'a>(
    config: &Config,
    f: &'a Filters,
    user: &'a User,
    today: chrono::NaiveDate,
) -> Result<QueueQuery<'a>, WebError> {
    let refuse = |m: String| WebError::Refused(m);
    let sort = match given(&f.sort) {
        None | Some("age") => QueueSort::Age,
        Some("amount") => QueueSort::Amount,
        Some("job") => QueueSort::Job,
        Some(s) => return Err(refuse(format!("sort by age, amount or job, not {s:?}"))),
    };
    let status = match given(&f.status) {
        None | Some("unresolved") => StatusFilter::Unresolved,
        Some("all") => StatusFilter::Any,
        Some(s) => StatusFilter::Is(s.parse::<BreakStatus>().map_err(|e| {
            refuse(format!(
                "status: {e}; use open, investigating, resolved, unresolved or all"
            ))
        })?),
    };
    let owner = match given(&f.owner) {
        None => OwnerFilter::Anyone,
        Some("me") => OwnerFilter::Is(&user.name),
        Some("nobody") => OwnerFilter::Nobody,
        Some(o) => OwnerFilter::Is(o),
    };
    let reason = given(&f.reason)
        .map(|r| r.parse::<BreakReason>())
        .transpose()
        .map_err(|e| refuse(format!("reason: {e}")))?;
    let amount = |v: &Option<String>, what: &str| -> Result<Option<Decimal>, WebError> {
        given(v)
            .map(|a| a.replace([',', ' '], "").parse::<Decimal>())
            .transpose()
            .map_err(|_| refuse(format!("{what}: write an amount such as 1000.00")))
    };
    let dated_by = match given(&f.min_age) {
        None => None,
        Some(n) => {
            let n: i64 = n
                .parse()
                .ok()
                .filter(|n| (0..=3650).contains(n))
                .ok_or_else(|| refuse("minimum age: a number of business days".into()))?;
            Some(AgeCutoff {
                per_job: config
                    .jobs
                    .iter()
                    .map(|j| (j.name.clone(), oldest_day_for(config, &j.name, n, today)))
                    .collect(),
                // A job no longer configured ages by the default calendar.
                other: oldest_day_for(config, "", n, today),
            })
        }
    };
    let after = given(&f.after)
        .map(|a| {
            QueueCursor::from_param(sort, a).ok_or_else(|| {
                refuse("this page link is damaged; start from the first page".into())
            })
        })
        .transpose()?;
    Ok(QueueQuery {
        job: given(&f.job),
        reason,
        status,
        owner,
        dated_by,
        amount_min: amount(&f.min_amount, "minimum amount")?,
        amount_max: amount(&f.max_amount, "maximum amount")?,
        text: given(&f.text),
        sort,
        after,
        // One more than shown: whether there is a next page.
        limit: PAGE_ROWS + 1,
    })
}

pub async fn show(
    State(console): State<AppState>,
    user: User,
    Query(f): Query<Filters>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let day = today(&config, Utc::now());
    let q = query(&config, &f, &user, day)?;
    let sort = q.sort;
    let owned = OwnedQuery::from(&q);
    let mut breaks = console.db.read(move |u| u.queue(&owned.as_query())).await?;
    let more = breaks.len() > PAGE_ROWS;
    breaks.truncate(PAGE_ROWS);
    let next = more.then(|| {
        let last = breaks.last().expect("a full page");
        next_link(
            "/exceptions",
            &f.params(),
            "after",
            &sort.cursor_after(last).to_param(),
        )
    });
    Ok(layout(
        "Exceptions",
        Some(&user),
        render(&config, &user, &f, &breaks, day, next.as_deref()),
    ))
}

/// A query that owns its words, for the read's thread.
struct OwnedQuery {
    job: Option<String>,
    owner: OwnerFilterOwned,
    text: Option<String>,
    rest: QueueQuery<'static>,
}

enum OwnerFilterOwned {
    Anyone,
    Nobody,
    Is(String),
}

impl OwnedQuery {
    fn from(q: &QueueQuery<'_>) -> OwnedQuery {
        OwnedQuery {
            job: q.job.map(str::to_owned),
            owner: match q.owner {
                OwnerFilter::Anyone => OwnerFilterOwned::Anyone,
                OwnerFilter::Nobody => OwnerFilterOwned::Nobody,
                OwnerFilter::Is(o) => OwnerFilterOwned::Is(o.to_owned()),
            },
            text: q.text.map(str::to_owned),
            rest: QueueQuery {
                job: None,
                owner: OwnerFilter::Anyone,
                text: None,
                reason: q.reason,
                status: q.status,
                dated_by: q.dated_by.clone(),
                amount_min: q.amount_min,
                amount_max: q.amount_max,
                sort: q.sort,
                after: q.after.clone(),
                limit: q.limit,
            },
        }
    }

    fn as_query(&self) -> QueueQuery<'_> {
        QueueQuery {
            job: self.job.as_deref(),
            owner: match &self.owner {
                OwnerFilterOwned::Anyone => OwnerFilter::Anyone,
                OwnerFilterOwned::Nobody => OwnerFilter::Nobody,
                OwnerFilterOwned::Is(o) => OwnerFilter::Is(o),
            },
            text: self.text.as_deref(),
            ..self.rest.clone()
        }
    }
}

pub fn render(
    config: &Config,
    user: &User,
    f: &Filters,
    breaks: &[Break],
    day: chrono::NaiveDate,
    next: Option<&str>,
) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let status = v(&f.status);
    let sort = v(&f.sort);
    let operator = user.role.allows(Role::Operator);
    html! {
        form.filters method="get" action="/exceptions" {
            label { "Job"
                select name="job" {
                    option value="" { "all" }
                    @for j in &config.jobs {
                        option value=(j.name) selected[f.job.as_deref() == Some(j.name.as_str())] { (j.name) }
                    }
                }
            }
            label { "Reason" input name="reason" value=(v(&f.reason)) placeholder="missing_in_ledger" size="18"; }
            label { "Status"
                select name="status" {
                    @for s in ["unresolved", "open", "investigating", "resolved", "all"] {
                        option value=(s) selected[status == s] { (s) }
                    }
                }
            }
            label { "Owner" input name="owner" value=(v(&f.owner)) placeholder="me, nobody, a name" size="12"; }
            label { "Min. age (business days)" input name="min_age" value=(v(&f.min_age)) size="4"; }
            label { "Amount from" input name="min_amount" value=(v(&f.min_amount)) size="9"; }
            label { "to" input name="max_amount" value=(v(&f.max_amount)) size="9"; }
            label { "Text" input name="text" value=(v(&f.text)) size="16"; }
            label { "Sort"
                select name="sort" {
                    @for (s, shown) in [("age", "oldest first"), ("amount", "largest first"), ("job", "by job")] {
                        option value=(s) selected[sort == s] { (shown) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a href="/exceptions" { "Clear" }
        }
        form method="post" action="/exceptions/match" {
            input type="hidden" name="csrf" value=(user.csrf);
            table {
                tr {
                    @if operator { th { input type="checkbox" id="select-all" aria-label="select all"; } }
                    th { "Id" } th { "Job" } th { "Reason" } th { "Status" } th.num { "Age" }
                    th.num { "Amount" } th { "Ccy" } th { "Owner" } th { "What" }
                }
                @for b in breaks {
                    tr {
                        @if operator {
                            td { input type="checkbox" name="break" value=(b.id) aria-label=(break_label(b.id)); }
                        }
                        td { a href=(format!("/exceptions/{}", b.id)) { (break_label(b.id)) } }
                        td { (b.job) }
                        td { (b.reason.as_str()) }
                        td { (b.status.as_str()) }
                        td.num {
                            (age_days(config, &b.job, b.since, day))
                            // Older than its job's [escalation] allows for its reason.
                            @if crate::jobs::escalation::is_escalated(config, b, day) {
                                " " span.escalated title="escalated: older than the job's escalation limit" { "escalated" }
                            }
                        }
                        td.num { (b.amount.map(|a| a.to_string()).unwrap_or_default()) }
                        td { (b.currency.map(|c| c.to_string()).unwrap_or_default()) }
                        td { (b.owner.as_deref().unwrap_or("")) }
                        td {
                            (b.detail)
                            @if let Some(s) = &b.source { " " span.muted { "[" (s) "]" } }
                        }
                    }
                }
                @if breaks.is_empty() {
                    tr { td colspan="10" { span.muted { "no exceptions match" } } }
                }
            }
            div.pager {
                @if f.after.is_some() { a href="/exceptions" { "First page" } }
                @if let Some(n) = next { a href=(n) rel="next" { "Next page" } }
            }
            @if operator && !breaks.is_empty() {
                h2 { "Match the checked exceptions by hand" }
                div.filters {
                    label { "Reason (kept with the match)" input name="reason" required size="40"; }
                    label { "Difference account (if the amounts differ)" input name="difference_account" size="12"; }
                    button type="submit" { "Force-match" }
                }
            }
        }
    }
}

/// The force-match form: the checked breaks (repeated `break` fields), why, and where a
/// difference goes.
#[derive(Debug, Default, Deserialize)]
pub struct MatchForm {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub difference_account: String,
    #[serde(default, rename = "break")]
    pub breaks: Vec<i64>,
}

/// Matches the checked breaks by hand, as `clerk exception match` does; above the four-eyes
/// limit it is only proposed, and the person sees the proposal among the approvals.
pub async fn force_match(
    State(console): State<AppState>,
    Posted { user, form }: Posted<MatchForm>,
) -> Result<Response, WebError> {
    user.require(Role::Operator)?;
    let config = console.daemon.config();
    let actor = user.name.clone();
    let outcome = console
        .db
        .write(move |store| {
            let account = Some(form.difference_account.trim()).filter(|a| !a.is_empty());
            workflow::force_match(
                &config,
                store,
                &form.breaks,
                &form.reason,
                &actor,
                account,
                Utc::now(),
            )
            .map_err(super::refused)
        })
        .await?;
    let to = match outcome {
        workflow::Outcome::Done(forced) => format!("/runs/{}", forced.run_id),
        workflow::Outcome::Proposed(_) => "/approvals".to_string(),
    };
    Ok(Redirect::to(&to).into_response())
}
