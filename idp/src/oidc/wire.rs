//! What goes over the wire: request parameters, token responses, and the
//! RFC 6749 error codes with their HTTP status. No decisions here, and no
//! HTTP types: the web layer turns these into responses.

use serde::Serialize;

/// RFC 6749 section 4.1.2.1 / 5.2 and OIDC Core 3.1.2.6 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// OpenID Connect Core Unmet Authentication Requirements 1.0: the
    /// authentication the request makes mandatory cannot be performed.
    UnmetAuthenticationRequirements,
    InvalidToken,
    /// A protected resource was called without any token (RFC 6750 3.1):
    /// a 401 whose challenge carries no error code.
    MissingToken,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidToken => "invalid_token",
            // Never sent as an error code: the answer has none.
            Self::MissingToken => "invalid_request",
            Self::ServerError => "server_error",
        }
    }
}

/// An OAuth error: a code and a description safe to show the client (never
/// a token or secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

impl From<crate::Error> for OAuthError {
    fn from(e: crate::Error) -> Self {
        tracing::error!(error = %e, "oidc request failed");
        Self::server_error()
    }
}

/// The JSON body of an error answer (RFC 6749 section 5.2).
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub error_description: &'a str,
}

impl OAuthError {
    /// The HTTP status of a token-endpoint style answer (RFC 6749 section
    /// 5.2, RFC 6750 section 3.1).
    pub fn status(&self) -> u16 {
        match self.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken | ErrorCode::MissingToken => 401,
            ErrorCode::ServerError => 500,
            _ => 400,
        }
    }

    /// The `WWW-Authenticate` challenge that goes with the error, if any.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self.code {
            ErrorCode::InvalidClient => Some("Basic realm=\"portcullis\""),
            ErrorCode::InvalidToken => Some("Bearer realm=\"portcullis\", error=\"invalid_token\""),
            // RFC 6750 3.1: no error code when no token was sent.
            ErrorCode::MissingToken => Some("Bearer realm=\"portcullis\""),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
        }
    }
}

/// RFC 6749 section 5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// Form parameters live in `portcullis_wire::form`, so the fuzz targets
/// link them without the core; a refused one is an `invalid_request`.
pub use portcullis_wire::form::{MAX_PARAM_LEN, ParamError, Params};

impl From<ParamError> for OAuthError {
    fn from(e: ParamError) -> Self {
        Self::invalid_request(e.to_string())
    }
}

/// A token that cannot be signed is the server's fault, logged as one.
impl From<super::keys::KeyError> for OAuthError {
    fn from(e: super::keys::KeyError) -> Self {
        crate::Error::from(e).into()
    }
}
