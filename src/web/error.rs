//! What a request can fail with, and the page or status each failure shows. A failure's page
//! says what happened in words; it never shows a secret, a path outside the install or SQL.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::error;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not logged in (or the session ended): the login page.
    #[error("please log in")]
    LoginNeeded { next: String },
    /// Logged in, but the role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be done as asked (a refused action, a bad form); said to the person.
    #[error("{0}")]
    Refused(String),
    /// A form without the session's CSRF token, or with another's.
    #[error("this form has expired or did not come from clerk; reload the page and try again")]
    BadToken,
    #[error("too many attempts; wait a few minutes and try again")]
    TooMany,
    /// A request body above the console's limit (a form is never that big).
    #[error("this form is too large")]
    TooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::LoginNeeded { .. } => StatusCode::SEE_OTHER,
            WebError::Forbidden(_) | WebError::BadToken => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::TooMany => StatusCode::TOO_MANY_REQUESTS,
            WebError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Store(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Store(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::LoginNeeded { next } = &self {
            return super::auth::to_login(next);
        }
        let status = self.status();
        let message = match &self {
            WebError::Store(e) if !e.is_transient() => {
                error!(error = %e, "the console could not read or write the store");
                "clerk could not read its store; the error is in clerk's log".to_string()
            }
            WebError::Internal(m) => {
                error!(error = %m, "console request failed");
                "something went wrong inside clerk; the error is in clerk's log".to_string()
            }
            other => other.to_string(),
        };
        (status, super::page::error_page(status, &message)).into_response()
    }
}

/// axum's own refusals (a path, query or form that does not read) come as plain text that
/// repeats what was sent, `<script>` and all. A browser with `nosniff` shows it as text, but a
/// page must never carry a sender's text as it came: they are answered with clerk's error page
/// instead, saying what was wrong in clerk's words. Refusals of clerk's own (HTML pages, the
/// monitoring endpoints' 401 and 503) pass as they are.
pub async fn plain_refusals(response: Response) -> Response {
    let status = response.status();
    let axums = matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::UNPROCESSABLE_ENTITY
    ) && response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !axums {
        return response;
    }
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge.to_string()
    } else {
        "this address or form is not one clerk reads; go back and try again from the page".into()
    };
    (status, super::page::error_page(status, &message)).into_response()
}
