//! The users page (admins only): who may log in, with what role; an admin changes a role or
//! disables and enables a user here, as `clerk user role|disable|enable` does. Adding a user
//! and setting a password stay on the command line, where the password never crosses a form.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use tracing::info;

use crate::model::people::Role;
use crate::store::{self, users::Change};
use crate::web::page::layout;
use crate::web::{AppState, Posted, User, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(show))
        .route("/users/{name}/role", post(set_role))
        .route("/users/{name}/disable", post(disable))
        .route("/users/{name}/enable", post(enable))
}

async fn show(State(console): State<AppState>, user: User) -> Result<Markup, WebError> {
    user.require(Role::Admin)?;
    let users = console.db.read(|u| u.users()).await?;
    Ok(layout(
        "Users",
        Some(&user),
        html! {
            p.muted {
                "Add a user or set a password with " code { "clerk user add NAME --role ROLE" }
                " and " code { "clerk user passwd NAME" } " on the server."
            }
            table {
                thead { tr {
                    th { "User" } th { "Role" } th { "Login" } th { "State" } th { "Changed" } th { "" }
                } }
                tbody {
                    @for u in &users {
                        tr {
                            td { (u.name) }
                            td {
                                form.inline method="post" action=(format!("/users/{}/role", u.name)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    select name="role" aria-label="role" {
                                        @for r in Role::ALL {
                                            option value=(r.as_str()) selected[r == u.role] { (r.as_str()) }
                                        }
                                    }
                                    button.secondary type="submit" { "Set" }
                                }
                            }
                            td { @if u.password_hash.is_some() { "password" } @else { "single sign-on" } }
                            td {
                                @if u.disabled { span.bad { "disabled" } } @else { "active" }
                            }
                            td.muted { (u.updated_at.format("%Y-%m-%d %H:%M")) " by " (u.updated_by) }
                            td {
                                @let (action, label) = if u.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
                                form.inline method="post" action=(format!("/users/{}/{action}", u.name)) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    button.secondary type="submit" { (label) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

async fn set_role(
    State(console): State<AppState>,
    Path(name): Path<String>,
    Posted { user, form }: Posted<RoleForm>,
) -> Result<Response, WebError> {
    user.require(Role::Admin)?;
    let role: Role = form.role.parse().map_err(WebError::Refused)?;
    if name.eq_ignore_ascii_case(&user.name) && role != Role::Admin {
        return Err(WebError::Refused(
            "you cannot take your own admin role; another admin can".into(),
        ));
    }
    let by = user.name.clone();
    let who = name.clone();
    let found = console
        .db
        .write(move |st| {
            let change = Change {
                at: Utc::now(),
                by: &by,
            };
            Ok(store::in_unit(st, |u| u.set_role(&who, role, change))?)
        })
        .await?;
    if !found {
        return Err(WebError::NotFound(format!("there is no user {name}")));
    }
    info!(user = %name, role = %role, by = %user.name, "role changed in the console");
    Ok(Redirect::to("/users").into_response())
}

async fn disable(
    State(console): State<AppState>,
    Path(name): Path<String>,
    Posted { user, .. }: Posted<Empty>,
) -> Result<Response, WebError> {
    if name.eq_ignore_ascii_case(&user.name) {
        user.require(Role::Admin)?;
        return Err(WebError::Refused(
            "you cannot disable yourself; another admin can".into(),
        ));
    }
    switch(console, user, name, true).await
}

async fn enable(
    State(console): State<AppState>,
    Path(name): Path<String>,
    Posted { user, .. }: Posted<Empty>,
) -> Result<Response, WebError> {
    switch(console, user, name, false).await
}

#[derive(Deserialize)]
struct Empty {}

async fn switch(
    console: AppState,
    user: User,
    name: String,
    disabled: bool,
) -> Result<Response, WebError> {
    user.require(Role::Admin)?;
    let by = user.name.clone();
    let who = name.clone();
    let done = console
        .db
        .write(move |st| {
            let change = Change {
                at: Utc::now(),
                by: &by,
            };
            Ok(store::in_unit(st, |u| {
                u.set_disabled(&who, disabled, change)
            })?)
        })
        .await?;
    let Some(ended) = done else {
        return Err(WebError::NotFound(format!("there is no user {name}")));
    };
    if disabled {
        info!(user = %name, by = %user.name, sessions_ended = ended, "user disabled in the console");
    } else {
        info!(user = %name, by = %user.name, "user enabled in the console");
    }
    Ok(Redirect::to("/users").into_response())
}
