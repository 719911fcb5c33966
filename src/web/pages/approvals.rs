//! Approvals (four eyes, maker–checker): the forced matches and write-offs above the limit
//! that one person proposed and another must approve. An approver sees approve and reject
//! buttons on other people's proposals only, the maker a withdraw button on their own; the
//! server refuses anyway (`jobs::workflow::approve` refuses the maker whatever the page shows).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::{refused, when};
use crate::config::Config;
use crate::jobs::workflow;
use crate::model::break_label;
use crate::model::people::Role;
use crate::store::{Approval, approval_label};
use crate::web::page::layout;
use crate::web::{AppState, Posted, User, WebError};

pub async fn show(State(console): State<AppState>, user: User) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let pending = console.db.read(|u| u.pending_approvals()).await?;
    Ok(layout(
        "Approvals",
        Some(&user),
        render(&config, &user, &pending),
    ))
}

pub fn render(config: &Config, user: &User, pending: &[Approval]) -> Markup {
    let approver = user.role.allows(Role::Approver);
    html! {
        @if pending.is_empty() { p.muted { "No proposal waits for approval." } }
        @else {
            table {
                tr {
                    th { "Proposal" } th { "What" } th { "Job" } th { "Exceptions" } th.num { "Amount" }
                    th { "Reason" } th { "Proposed by" } th { "When" } th { "Decide" }
                }
                @for a in pending {
                    @let own = a.proposed_by == user.name;
                    tr {
                        td { (approval_label(a.id)) }
                        td { (a.kind.words()) }
                        td { (a.job) }
                        td {
                            @for (i, b) in a.break_ids.iter().enumerate() {
                                @if i > 0 { ", " }
                                a href=(format!("/exceptions/{b}")) { (break_label(*b)) }
                            }
                        }
                        td.num { (a.amount) " " (a.currency) }
                        td { (a.reason) @if let Some(d) = &a.difference_account { span.muted { " (difference to " (d) ")" } } }
                        td { (a.proposed_by) }
                        td { (when(config, a.proposed_at)) }
                        td {
                            @if own {
                                form.inline method="post" action=(format!("/approvals/{}/withdraw", a.id)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    span.muted { "yours: another person approves it " }
                                    button.secondary type="submit" { "Withdraw" }
                                }
                            } @else if approver {
                                form.inline method="post" action=(format!("/approvals/{}/approve", a.id)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    button type="submit" { "Approve" }
                                }
                                form.inline method="post" action=(format!("/approvals/{}/reject", a.id)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    input name="note" placeholder="why not" required size="20";
                                    button.secondary type="submit" { "Reject" }
                                }
                            } @else {
                                span.muted { "an approver decides" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

/// Approves another person's proposal: it is done (posted) in the same transaction.
pub async fn approve(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, .. }: Posted<NoteForm>,
) -> Result<Response, WebError> {
    decide(console, user, Role::Approver, move |config, store, by| {
        workflow::approve(config, store, id, by, Utc::now()).map(|_| ())
    })
    .await
}

pub async fn reject(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted<NoteForm>,
) -> Result<Response, WebError> {
    decide(console, user, Role::Approver, move |config, store, by| {
        workflow::reject(config, store, id, by, form.note.trim(), Utc::now())
    })
    .await
}

/// The maker takes back their own proposal (an operator may: they made it).
pub async fn withdraw(
    State(console): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, .. }: Posted<NoteForm>,
) -> Result<Response, WebError> {
    decide(console, user, Role::Operator, move |config, store, by| {
        workflow::withdraw(config, store, id, by, Utc::now())
    })
    .await
}

/// One decision on a proposal by `user`, whose role must allow `needed`, through the
/// console's writable connection; then back to the list. `jobs::workflow` refuses what the
/// rule forbids (nobody approves their own), whatever the role.
async fn decide(
    console: AppState,
    user: User,
    needed: Role,
    act: impl FnOnce(&Config, &mut dyn crate::store::Store, &str) -> Result<(), workflow::WorkflowError>
    + Send
    + 'static,
) -> Result<Response, WebError> {
    user.require(needed)?;
    let config = console.daemon.config();
    console
        .db
        .write(move |store| act(&config, store, &user.name).map_err(refused))
        .await?;
    Ok(Redirect::to("/approvals").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ApprovalKind, ApprovalStatus};

    fn proposal(by: &str) -> Approval {
        Approval {
            id: 3,
            kind: ApprovalKind::Resolve,
            job: "bank-reconciliation".into(),
            break_ids: vec![7],
            reason: "written off".into(),
            difference_account: None,
            currency: "EUR".parse().unwrap(),
            amount: "2000.00".parse().unwrap(),
            proposed_by: by.into(),
            proposed_at: "2026-03-05T10:00:00Z".parse().unwrap(),
            status: ApprovalStatus::Pending,
            decided_by: None,
            decided_at: None,
            decision_note: None,
            entry_id: None,
        }
    }

    fn page(name: &str, role: Role) -> String {
        let (_dir, config) = super::super::tests::config();
        let user = User {
            name: name.into(),
            role,
            csrf: "tok".into(),
        };
        render(&config, &user, &[proposal("anna")]).into_string()
    }

    #[test]
    fn only_another_approver_is_offered_approve_and_the_maker_may_withdraw() {
        let own = page("anna", Role::Approver);
        assert!(
            !own.contains(">Approve<") && own.contains(">Withdraw<"),
            "{own}"
        );
        let other = page("otto", Role::Approver);
        assert!(
            other.contains(">Approve<") && other.contains(">Reject<"),
            "{other}"
        );
        assert!(!other.contains(">Withdraw<"));
        let operator = page("olga", Role::Operator);
        assert!(!operator.contains(">Approve<") && !operator.contains(">Withdraw<"));
        assert!(other.contains("href=\"/exceptions/7\""));
    }
}
