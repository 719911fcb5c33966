//! The console's "Reverse match" action on a break a match closed: what `clerk exception
//! unmatch E-12` does (the match's entry reversed, its records open again and held for a
//! person, its breaks reopened), with the logged-in operator as the actor and the reason they
//! give; above the four-eyes limit it is only proposed.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use crate::jobs::workflow::reversal;
use crate::model::people::Role;
use crate::store::MatchRow;
use crate::web::{AppState, Posted, User, WebError};

/// The button, on the page of break `break_id` whose record match `m` settles.
pub fn button(user: &User, break_id: i64, m: &MatchRow) -> Markup {
    html! {
        @if user.role.allows(Role::Operator) {
            form.inline method="post" action=(format!("/exceptions/{break_id}/unmatch")) {
                input type="hidden" name="csrf" value=(user.csrf);
                input name="reason" placeholder=(format!("why match {} is wrong", m.id)) required size="40";
                button.secondary type="submit" { "Reverse match" }
            }
        }
    }
}

/// The button under entry `entry_id` on the page of run `run_id`.
pub fn entry_button(user: &User, run_id: i64, entry_id: i64) -> Markup {
    html! {
        @if user.role.allows(Role::Operator) {
            form.inline method="post" action=(format!("/runs/{run_id}/entries/{entry_id}/reverse")) {
                input type="hidden" name="csrf" value=(user.csrf);
                input name="reason" placeholder=(format!("why entry {entry_id} is wrong")) required size="40";
                button.secondary type="submit" { "Reverse entry" }
            }
        }
    }
}

/// `clerk journal reverse ENTRY` from a run's page; back to it after.
pub async fn reverse_entry(
    State(console): State<AppState>,
    Path((run_id, entry_id)): Path<(i64, i64)>,
    Posted { user, form }: Posted<ReverseForm>,
) -> Result<Response, WebError> {
    user.require(Role::Operator)?;
    let reason = form.reason.trim().to_string();
    if reason.is_empty() {
        return Err(WebError::Refused(
            "say why (a reversal is kept with its reason)".into(),
        ));
    }
    let actor = user.name.clone();
    let config = console.daemon.config();
    console
        .db
        .write(move |store| {
            reversal::reverse_entry(&config, store, entry_id, &reason, &actor, Utc::now())
                .map(|_| ())
                .map_err(super::refused)
        })
        .await?;
    Ok(Redirect::to(&format!("/runs/{run_id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ReverseForm {
    #[serde(default)]
    reason: String,
}

pub async fn unmatch(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted<ReverseForm>,
) -> Result<Response, WebError> {
    user.require(Role::Operator)?;
    let reason = form.reason.trim().to_string();
    if reason.is_empty() {
        return Err(WebError::Refused(
            "say why (a reversal is kept with its reason)".into(),
        ));
    }
    let actor = user.name.clone();
    let config = console.daemon.config();
    console
        .db
        .write(move |store| {
            let m = reversal::match_of_break(store, id).map_err(super::refused)?;
            reversal::unmatch(&config, store, m, &reason, &actor, Utc::now())
                .map(|_| ())
                .map_err(super::refused)
        })
        .await?;
    Ok(Redirect::to(&format!("/exceptions/{id}")).into_response())
}
