//! Errors of portal handlers, mapped to pages for people.

use crate::paths;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::render::message;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The state store or the session store does not answer.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] crate::Error),
    /// The database is full: nothing can be saved.
    #[error("storage full: {0}")]
    StorageFull(#[source] crate::Error),
    #[error(transparent)]
    Internal(crate::Error),
}

/// Seconds a client is asked to wait before trying again after an outage.
pub const RETRY_AFTER_SECS: u32 = 60;

impl From<crate::Error> for PortalError {
    fn from(e: crate::Error) -> Self {
        match e.fault() {
            Some(crate::error::Fault::Unavailable) => Self::Unavailable(e),
            Some(crate::error::Fault::StorageFull) => Self::StorageFull(e),
            None => Self::Internal(e),
        }
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => message(
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address.",
                Some((paths::APPS, "Go to your applications")),
            ),
            Self::Forbidden(why) => message(
                StatusCode::FORBIDDEN,
                "Not allowed",
                why,
                Some((paths::APPS, "Go to your applications")),
            ),
            Self::BadRequest(why) => message(
                StatusCode::BAD_REQUEST,
                "That did not work",
                &why,
                Some(("/", "Start again")),
            ),
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "store unavailable");
                let mut res = message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is temporarily unavailable",
                    "Signing in is not possible right now because a service it needs does not answer. Nothing is wrong with your account. Please try again in a minute.",
                    Some(("/", "Try again")),
                );
                res.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(RETRY_AFTER_SECS),
                );
                res
            }
            Self::StorageFull(e) => {
                tracing::error!(error = %e, "storage full: a write failed for want of space");
                let mut res = message(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "Changes cannot be saved right now",
                    "Our storage is full, so nothing can be saved at the moment (this includes signing in). Nothing is wrong with your account, and what you entered was not kept. It has been logged for the administrators; please try again later.",
                    Some(("/", "Start again")),
                );
                res.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(RETRY_AFTER_SECS),
                );
                res
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Something went wrong on our side. Please try again in a moment.",
                    Some(("/", "Start again")),
                )
            }
        }
    }
}

pub type PortalResult<T = Response> = Result<T, PortalError>;
