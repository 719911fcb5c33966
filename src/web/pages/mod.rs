//! The console's pages, one file each, and the actions their forms post.

mod overview;
mod users;

use axum::Router;
use axum::routing::get;

use super::AppState;
use super::page;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/static/clerk.css", get(page::style))
        .route("/static/clerk.js", get(page::script))
        .merge(users::routes())
}
