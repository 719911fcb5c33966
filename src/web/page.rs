//! The frame every page shares: head, navigation, who is logged in, and the style sheet. maud
//! escapes every value put into a page, so a remittance text with `<script>` shows as text.

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use maud::{DOCTYPE, Markup, html};

use super::User;

/// Only clerk's own style sheet and script; no inline script, no frames, forms post to clerk.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; script-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// A whole page: `title`, the navigation for `user` (none on the login page), `body`.
pub fn layout(title: &str, user: Option<&User>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · clerk" }
                link rel="stylesheet" href="/static/clerk.css";
                // No icon file: a browser asking for /favicon.ico would log a 404 on every page.
                link rel="icon" href="data:,";
                script src="/static/clerk.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "clerk" }
                    @if let Some(user) = user {
                        nav {
                            a href="/" { "Overview" }
                            a href="/exceptions" { "Exceptions" }
                            a href="/approvals" { "Approvals" }
                            a href="/files" { "Files" }
                            a href="/runs" { "Runs" }
                            a href="/jobs" { "Jobs" }
                            @if user.role.allows(crate::model::people::Role::Admin) {
                                a href="/users" { "Users" }
                                a href="/periods" { "Periods" }
                            }
                        }
                        form.who method="post" action="/logout" {
                            span { (user.name) " (" (user.role) ")" }
                            input type="hidden" name="csrf" value=(user.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page of a failed request.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        None,
        html! {
            p.error { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    )
}

const STYLE: &str = include_str!("static/clerk.css");
const SCRIPT: &str = include_str!("static/clerk.js");

pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        SCRIPT,
    )
}
