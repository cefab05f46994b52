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
    #[error(transparent)]
    Internal(#[from] crate::Error),
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
            Self::Internal(crate::Error::SessionStore(e)) => {
                tracing::error!(error = %e, "session store unavailable");
                message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is unavailable",
                    "Signing in is not possible right now because the session service does not answer. Please try again in a few minutes.",
                    Some(("/", "Try again")),
                )
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
