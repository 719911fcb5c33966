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
