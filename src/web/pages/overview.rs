//! The overview: per job, today's STP, open breaks by reason and age, the last run; the files
//! waiting or failed; the mail queue; the daemon's health.

use axum::extract::State;
use maud::{Markup, html};

use crate::web::page::layout;
use crate::web::{AppState, User, WebError};

pub async fn show(State(console): State<AppState>, user: User) -> Result<Markup, WebError> {
    let config = console.daemon.config();
    let jobs: Vec<String> = config.jobs.iter().map(|j| j.name.clone()).collect();
    Ok(layout(
        "Overview",
        Some(&user),
        html! {
            ul { @for j in &jobs { li { (j) } } }
        },
    ))
}
