//! Approvals (four eyes): what one person proposed above the limit and another must approve.
//! The proposals themselves come with the four-eyes work in `jobs::workflow`; until it is
//! merged this page says so.

use axum::extract::State;
use maud::{Markup, html};

use crate::web::page::layout;
use crate::web::{AppState, User, WebError};

pub async fn show(State(_console): State<AppState>, user: User) -> Result<Markup, WebError> {
    Ok(layout(
        "Approvals",
        Some(&user),
        html! { p.muted { "No proposal waits for approval." } },
    ))
}
