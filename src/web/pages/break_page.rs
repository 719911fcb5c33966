//! A break's page: the break, its record with the file, sheet and line it came from, why it is
//! open (what `clerk explain` says: the match, when there is one, with the candidates it
//! beat), its history, and the actions: assign, note, investigate, resolve, reopen. Each
//! action is the call `clerk exception ...` makes, with the logged-in person as the actor.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::{age_days, today, when};
use crate::config::Config;
use crate::jobs::workflow;
use crate::model::people::Role;
use crate::model::{Break, BreakEvent, BreakStatus, StoredRecord, break_label};
use crate::store::console::RecordOrigin;
use crate::store::{Approval, ApprovalStatus, BreakAction, MatchRow, StoreError, approval_label};
use crate::web::page::layout;
use crate::web::{AppState, Posted, User, WebError};

/// Everything the page shows, read in one snapshot.
pub struct BreakView {
    pub brk: Break,
    pub history: Vec<BreakEvent>,
    pub record: Option<(String, StoredRecord, bool)>,
    pub origin: Option<RecordOrigin>,
    pub matched: Option<MatchRow>,
    /// Proposals (four eyes) that named the break, whatever became of them.
    pub approvals: Vec<Approval>,
}

pub async fn show(
    State(console): State<AppState>,
    user: User,
    Path(id): Path<i64>,
) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let view = console
        .db
        .read(move |u| {
            let Some(brk) = u.break_by_id(id)? else {
                return Ok(None);
            };
            let history = u.break_history(id)?;
            let (record, origin, matched) = match brk.record_id {
                Some(r) => {
                    let matched = match u.match_of_record(r)? {
                        Some(m) => u.match_by_id(m)?,
                        None => None,
                    };
                    (u.record_by_id(r)?, u.record_origin(r)?, matched)
                }
                None => (None, None, None),
            };
            let approvals = u.approvals_for_break(id)?;
            Ok(Some(BreakView {
                approvals,
                brk,
                history,
                record,
                origin,
                matched,
            }))
        })
        .await?
        .ok_or_else(|| WebError::NotFound(format!("there is no exception E-{id}")))?;
    let title = format!("Exception {}", break_label(id));
    Ok(layout(&title, Some(&user), render(&config, &user, &view)))
}

pub fn render(config: &Config, user: &User, v: &BreakView) -> Markup {
    let b = &v.brk;
    let day = today(config, Utc::now());
    let operator = user.role.allows(Role::Operator);
    let resolved = b.status == BreakStatus::Resolved;
    html! {
        table {
            tr { th { "Job" } td { a href=(format!("/jobs/{}", super::encoded(&b.job))) { (b.job) } } }
            tr { th { "Reason" } td { (b.reason.as_str()) } }
            tr { th { "Status" } td { (b.status.as_str()) @if let Some(r) = &b.resolution { ": " (r) } } }
            tr { th { "What" } td { (b.detail) } }
            @if let Some(a) = b.amount {
                tr { th { "Amount" } td.num { (a) " " (b.currency.map(|c| c.to_string()).unwrap_or_default()) } }
            }
            @if let Some(d) = b.difference {
                tr { th { "Difference" } td.num { (d) } }
            }
            tr {
                th { "Since" }
                td {
                    (b.since) " (" (age_days(config, &b.job, b.since, day)) " business days)"
                    @if crate::jobs::escalation::is_escalated(config, b, day) {
                        " " span.escalated { "escalated: older than the job's escalation limit" }
                    }
                }
            }
            tr { th { "Owner" } td { (b.owner.as_deref().unwrap_or("nobody")) } }
            tr { th { "Opened" } td { (when(config, b.opened_at)) } }
            @if let Some(s) = &b.source { tr { th { "Source" } td { (s) } } }
        }
        @if let Some((scope, rec, _)) = &v.record {
            h2 { "Its record" }
            @let r = &rec.record;
            table {
                tr { th { "Record" } td { (rec.id) " in " (scope) } }
                tr { th { "Side" } td { (r.side.as_str()) } }
                tr { th { "Id" } td { (r.external_id) } }
                tr { th { "Amount" } td.num { (r.amount) " " (r.currency) } }
                tr { th { "Value date" } td { (r.value_date) } }
                @if let Some(x) = &r.account { tr { th { "Account" } td { (x) } } }
                @if let Some(x) = &r.reference { tr { th { "Reference" } td { (x) } } }
                @if let Some(x) = &r.counterparty { tr { th { "Counterparty" } td { (x) } } }
                @if let Some(x) = &r.remittance { tr { th { "Remittance" } td { (x) } } }
                @if let Some(o) = &v.origin {
                    tr {
                        th { "From" }
                        td {
                            a href=(format!("/files/{}", o.file_id)) { (o.file_name) }
                            @if let Some(s) = &o.sheet { ", sheet " (s) }
                            ", line " (o.row)
                        }
                    }
                }
            }
        }
        h2 { "Why" }
        (explain(v))
        @if !v.approvals.is_empty() {
            h2 { "Proposals (four eyes)" }
            table {
                tr { th { "Proposal" } th { "What" } th.num { "Amount" } th { "By" } th { "Status" } th { "Reason" } }
                @for a in &v.approvals {
                    tr {
                        td { a href="/approvals" { (approval_label(a.id)) } }
                        td { (a.kind.words()) }
                        td.num { (a.amount) " " (a.currency) }
                        td { (a.proposed_by) }
                        td {
                            @if a.status == ApprovalStatus::Pending { span.warn { "awaits approval" } }
                            @else { (a.status.as_str()) @if let Some(by) = &a.decided_by { " by " (by) } }
                        }
                        td { (a.reason) }
                    }
                }
            }
        }
        h2 { "History" }
        table {
            tr { th { "When" } th { "Who" } th { "What" } th { "Detail" } }
            @for h in &v.history {
                tr {
                    td { (when(config, h.at)) }
                    td { (h.actor) }
                    td { (h.action) }
                    td { (h.detail.as_deref().unwrap_or("")) }
                }
            }
        }
        @if operator {
            h2 { "Work it" }
            @let id = b.id;
            @if !resolved {
                form.inline method="post" action=(format!("/exceptions/{id}/assign")) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input type="hidden" name="to" value=(user.name);
                    button type="submit" { "Assign to me" }
                }
                form.inline method="post" action=(format!("/exceptions/{id}/assign")) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input name="to" placeholder="user" required size="12";
                    button.secondary type="submit" { "Assign" }
                }
                @if b.status != BreakStatus::Investigating {
                    form.inline method="post" action=(format!("/exceptions/{id}/investigate")) {
                        input type="hidden" name="csrf" value=(user.csrf);
                        button.secondary type="submit" { "Investigating" }
                    }
                }
                form.inline method="post" action=(format!("/exceptions/{id}/resolve")) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input name="reason" placeholder="why it is resolved" required size="40";
                    button type="submit" { "Resolve" }
                }
            } @else {
                form.inline method="post" action=(format!("/exceptions/{id}/reopen")) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button.secondary type="submit" { "Reopen" }
                }
            }
            @if let Some(m) = &v.matched {
                (super::reversal::button(user, id, m))
            }
            form.inline method="post" action=(format!("/exceptions/{id}/note")) {
                input type="hidden" name="csrf" value=(user.csrf);
                input name="text" placeholder="a note" required size="50";
                button.secondary type="submit" { "Add note" }
            }
        }
    }
}

/// What `clerk explain record` says of the break's record: the match that settled it, with
/// the matcher's reasons and the candidates it beat; else why it is open.
fn explain(v: &BreakView) -> Markup {
    let Some(m) = &v.matched else {
        return html! {
            p {
                @if v.record.is_some() { "Not matched: " } @else { "" }
                (v.brk.reason.as_str()) " — " (v.brk.detail)
            }
        };
    };
    let why: Option<serde_json::Value> = m
        .explanation
        .as_deref()
        .and_then(|e| serde_json::from_str(e).ok());
    html! {
        p {
            "Matched in match " (m.id) " (pass " (m.pass) ") by run "
            a href=(format!("/runs/{}", m.run_id)) { (m.run_id) }
            @if let Some(actor) = &m.actor { ", by hand by " (actor) ": " (m.reason.as_deref().unwrap_or("")) }
        }
        // What `clerk explain` prints: the keys, amounts and dates compared, the candidates
        // it beat ("beat ...").
        @if let Some(why) = &why {
            pre { (crate::jobs::explain::why_lines(why).join("\n")) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    to: String,
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    reason: String,
}

/// One action of a person on a break, as `clerk exception <action>` does it (the form's token
/// was checked by [`Posted`]); back to the break's page after. A resolve above the four-eyes
/// limit is only proposed: the page then shows the proposal.
async fn act(console: AppState, user: User, id: i64, what: Act) -> Result<Response, WebError> {
    user.require(Role::Operator)?;
    match &what {
        Act::Assign(to) => said(to, "to whom")?,
        Act::Note(text) => said(text, "what the note is")?,
        Act::Resolve(reason) => said(reason, "why (a resolution is kept with its reason)")?,
        Act::Investigate | Act::Reopen => (),
    }
    let actor = user.name.clone();
    let config = console.daemon.config();
    console
        .db
        .write(move |store| {
            let now = Utc::now();
            let done = match &what {
                Act::Assign(to) => workflow::work(store, id, &BreakAction::Assign(to), &actor, now),
                Act::Note(text) => workflow::work(store, id, &BreakAction::Note(text), &actor, now),
                Act::Investigate => {
                    workflow::work(store, id, &BreakAction::Investigate, &actor, now)
                }
                Act::Reopen => workflow::work(store, id, &BreakAction::Reopen, &actor, now),
                Act::Resolve(reason) => {
                    return workflow::resolve(&config, store, id, reason, &actor, now)
                        .map(|_| ())
                        .map_err(super::refused);
                }
            };
            done.map_err(|e| match e {
                StoreError::Conflict(m) => WebError::Refused(m),
                other => WebError::Store(other),
            })
        })
        .await?;
    Ok(Redirect::to(&format!("/exceptions/{id}")).into_response())
}

enum Act {
    Assign(String),
    Note(String),
    Investigate,
    Reopen,
    Resolve(String),
}

fn said(text: &str, what: &str) -> Result<(), WebError> {
    if text.trim().is_empty() {
        return Err(WebError::Refused(format!("say {what}")));
    }
    Ok(())
}

pub async fn assign(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted<AssignForm>,
) -> Result<Response, WebError> {
    act(console, user, id, Act::Assign(form.to.trim().into())).await
}

pub async fn note(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted<NoteForm>,
) -> Result<Response, WebError> {
    act(console, user, id, Act::Note(form.text.trim().into())).await
}

pub async fn investigate(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, .. }: Posted<NoFields>,
) -> Result<Response, WebError> {
    act(console, user, id, Act::Investigate).await
}

pub async fn reopen(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, .. }: Posted<NoFields>,
) -> Result<Response, WebError> {
    act(console, user, id, Act::Reopen).await
}

pub async fn resolve(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted<ResolveForm>,
) -> Result<Response, WebError> {
    act(console, user, id, Act::Resolve(form.reason.trim().into())).await
}
