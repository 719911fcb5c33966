//! The accounting periods page (admins only): each period ever closed, open or closed now, with
//! its history; an admin closes a month or reopens one (saying why) here, as `clerk period
//! close|reopen` does, through `jobs::periods`.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use crate::jobs::periods;
use crate::model::people::Role;
use crate::web::page::layout;
use crate::web::{AppState, Posted, User, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/periods", get(show))
        .route("/periods/close", post(close))
        .route("/periods/reopen", post(reopen))
}

async fn show(State(console): State<AppState>, user: User) -> Result<Markup, WebError> {
    user.require(Role::Admin)?;
    let rows = console.db.read(|u| u.periods()).await?;
    Ok(layout(
        "Accounting periods",
        Some(&user),
        html! {
            p.muted {
                "Nothing is posted into a closed period: an entry dated in one is posted on the first \
                 day of the next open period, its own date kept as its value date. A month never \
                 closed is open."
            }
            form.inline method="post" action="/periods/close" {
                input type="hidden" name="csrf" value=(user.csrf);
                input name="period" placeholder="YYYY-MM" required size="8";
                button type="submit" { "Close period" }
            }
            table {
                thead { tr { th { "Period" } th { "Status" } th { "Changed" } th { "History" } th { "" } } }
                tbody {
                    @for p in &rows {
                        tr {
                            td { (p.period) }
                            td { @if p.status == "closed" { span.warn { "closed" } } @else { "open" } }
                            td.muted { (p.changed_at.format("%Y-%m-%d %H:%M")) " by " (p.changed_by) }
                            td {
                                @for h in &p.history {
                                    div {
                                        (h.at.format("%Y-%m-%d %H:%M")) " " (h.action) " by " (h.actor)
                                        @if let Some(r) = &h.reason { ": " (r) }
                                    }
                                }
                            }
                            td {
                                @if p.status == "closed" {
                                    form.inline method="post" action="/periods/reopen" {
                                        input type="hidden" name="csrf" value=(user.csrf);
                                        input type="hidden" name="period" value=(p.period);
                                        input name="reason" placeholder="why it is reopened" required size="30";
                                        button.secondary type="submit" { "Reopen" }
                                    }
                                } @else {
                                    form.inline method="post" action="/periods/close" {
                                        input type="hidden" name="csrf" value=(user.csrf);
                                        input type="hidden" name="period" value=(p.period);
                                        button.secondary type="submit" { "Close" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct PeriodForm {
    #[serde(default)]
    period: String,
    #[serde(default)]
    reason: String,
}

async fn close(
    State(console): State<AppState>,
    Posted { user, form }: Posted<PeriodForm>,
) -> Result<Response, WebError> {
    user.require(Role::Admin)?;
    let actor = user.name.clone();
    let period = form.period.trim().to_string();
    console
        .db
        .write(move |store| {
            periods::close(store, &period, &actor, Utc::now())
                .map(|_| ())
                .map_err(super::refused)
        })
        .await?;
    Ok(Redirect::to("/periods").into_response())
}

async fn reopen(
    State(console): State<AppState>,
    Posted { user, form }: Posted<PeriodForm>,
) -> Result<Response, WebError> {
    user.require(Role::Admin)?;
    let actor = user.name.clone();
    let period = form.period.trim().to_string();
    let reason = form.reason.trim().to_string();
    console
        .db
        .write(move |store| {
            periods::reopen(store, &period, &reason, &actor, Utc::now())
                .map(|_| ())
                .map_err(super::refused)
        })
        .await?;
    Ok(Redirect::to("/periods").into_response())
}
