//! RFC 9457 problem details: the body of every failure of the admin API,
//! from a refused credential to an unknown route.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::AdminError;

/// A problem details object (`application/problem+json`). Boxed: it is
/// the error of every handler, and results stay small.
#[derive(Debug, Clone)]
pub struct Problem(Box<Details>);

impl std::ops::Deref for Problem {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

impl utoipa::PartialSchema for Problem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        Details::schema()
    }
}

impl ToSchema for Problem {
    fn name() -> std::borrow::Cow<'static, str> {
        "Problem".into()
    }
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        Details::schemas(schemas)
    }
}

/// The members of a problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Details {
    /// A URI naming the kind of problem (`urn:portcullis:problem:<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The one request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field at fault with its message (validation failures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    challenge: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(Details {
            kind: format!("urn:portcullis:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            challenge: None,
        }))
    }

    /// 401 with the `WWW-Authenticate: Bearer` challenge (RFC 6750): no
    /// credential, or one that is not (or no longer) valid.
    pub fn unauthenticated(presented: bool) -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            if presented {
                "the bearer credential is not valid (expired, revoked, or unknown)"
            } else {
                "send an access token or an API key as `Authorization: Bearer ...`"
            },
        );
        p.challenge = Some(if presented {
            "Bearer realm=\"portcullis-admin\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"portcullis-admin\""
        });
        p
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "there is no such resource in the admin API",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "this resource does not answer that method",
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn invalid(field: Option<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail.clone());
        if let Some(f) = field {
            p.errors.push(FieldError {
                field: f.clone(),
                message: detail,
            });
            p.field = Some(f);
        }
        p
    }

    fn fields(errors: BTreeMap<String, String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "some fields are not valid",
        );
        p.errors = errors
            .into_iter()
            .map(|(field, message)| FieldError { field, message })
            .collect();
        if p.errors.len() == 1 {
            p.field = Some(p.errors[0].field.clone());
        }
        p
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match e {
            AdminError::Fields { errors } => Self::fields(errors),
            AdminError::Invalid { field, message } => Self::invalid(field, message),
            AdminError::InvalidSetting { key, message } => Self::invalid(Some(key), message),
            AdminError::UnknownSetting { .. } => {
                Self::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            AdminError::PasswordPolicy(ref unmet) => {
                let mut p = Self::new(status, "invalid", e.to_string());
                let unmet = unmet.clone();
                p.field = Some("password".into());
                p.errors = unmet
                    .into_iter()
                    .map(|message| FieldError {
                        field: "password".into(),
                        message,
                    })
                    .collect();
                p
            }
            AdminError::NotFound { .. } => Self::new(status, "not-found", e.to_string()),
            AdminError::Conflict { .. } | AdminError::DeclaredInConfig { .. } => {
                Self::new(status, "conflict", e.to_string())
            }
            AdminError::Stale { .. } => Self::new(status, "precondition-failed", e.to_string()),
            AdminError::Forbidden { .. } => Self::new(status, "forbidden", e.to_string()),
            AdminError::Internal(inner) => {
                let fault = inner.fault();
                tracing::error!(error = %inner, "admin API request failed");
                match fault {
                    Some(crate::error::Fault::Unavailable) => Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the store does not answer; try again later",
                    ),
                    Some(crate::error::Fault::StorageFull) => Self::new(
                        StatusCode::INSUFFICIENT_STORAGE,
                        "storage-full",
                        "the store is full; nothing was saved",
                    ),
                    None => Self::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "something went wrong on our side",
                    ),
                }
            }
        }
    }
}

impl From<crate::Error> for Problem {
    fn from(e: crate::Error) -> Self {
        AdminError::from(e).into()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.0).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(c) = self.challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::INSUFFICIENT_STORAGE {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::web::error::RETRY_AFTER_SECS),
            );
        }
        res
    }
}

pub type ApiResult<T = Response> = Result<T, Problem>;
