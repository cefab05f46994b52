//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) as an engine: typed requests
//! in, typed outcomes or a [`ScimError`] out, with no HTTP type. Resources
//! are worked on as their JSON form: a user or group is rendered
//! ([`users::render`], [`groups::render`]), filters, sorting, projection and
//! PATCH act on that form, and a changed form is read back into the
//! directory's fields, whose rules and audit trail are [`crate::admin`]'s.

pub mod groups;
pub mod service;
pub mod users;

// The input side (filters, PATCH, the schema) is `portcullis_wire::scim`,
// so the fuzz targets link it without the core.
pub use portcullis_wire::scim::{
    DEFAULT_COUNT, ENTERPRISE_SCHEMA, ERROR_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, MAX_FILTER,
    MAX_OPERATIONS, MAX_RESULTS, PATCH_SCHEMA, Refusal, SEARCH_SCHEMA, ScimType, USER_SCHEMA,
    filter, get_ci, key_ci, patch, schema,
};

use serde_json::{Value, json};

pub use service::{Client, ListQuery, ListResponse, Resource};

/// Why a SCIM request was refused; [`ScimError::status`] and
/// [`ScimError::body`] are its RFC 7644 §3.12 form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScimError {
    /// A 400 with a `scimType`.
    #[error("{detail}")]
    Bad { scim_type: ScimType, detail: String },
    /// 409 `uniqueness`.
    #[error("{0}")]
    Uniqueness(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The `If-Match` version is not the resource's.
    #[error("the resource changed since version {0}")]
    PreconditionFailed(String),
    /// No, wrong or revoked bearer token.
    #[error("a valid SCIM bearer token is required")]
    Unauthorized,
    #[error("{0} is not supported")]
    NotImplemented(&'static str),
    #[error("the request body is larger than the server accepts")]
    TooLarge,
    #[error(transparent)]
    Internal(crate::Error),
}

impl ScimError {
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::Bad {
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }

    pub fn value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Bad { .. } => 400,
            Self::Uniqueness(_) => 409,
            Self::NotFound(_) => 404,
            Self::PreconditionFailed(_) => 412,
            Self::Unauthorized => 401,
            Self::NotImplemented(_) => 501,
            Self::TooLarge => 413,
            Self::Internal(e) => match e.fault() {
                Some(crate::error::Fault::Unavailable) => 503,
                Some(crate::error::Fault::StorageFull) => 507,
                None => 500,
            },
        }
    }

    /// The error response's JSON. Internal errors say nothing of their cause.
    pub fn body(&self) -> Value {
        let detail = match self {
            Self::Internal(_) => "the request could not be completed".to_string(),
            e => e.to_string(),
        };
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status().to_string(),
            "detail": detail,
        });
        match self {
            Self::Bad { scim_type, .. } => body["scimType"] = json!(scim_type.as_str()),
            Self::Uniqueness(_) => body["scimType"] = json!(ScimType::Uniqueness.as_str()),
            _ => {}
        }
        body
    }
}

impl From<Refusal> for ScimError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Bad { scim_type, detail } => Self::Bad { scim_type, detail },
            r => Self::Internal(crate::Error::Invalid(r.to_string())),
        }
    }
}

impl From<crate::Error> for ScimError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Conflict(m) => Self::Uniqueness(format!("{m} already exists")),
            e => Self::Internal(e),
        }
    }
}

impl From<crate::admin::AdminError> for ScimError {
    fn from(e: crate::admin::AdminError) -> Self {
        use crate::admin::AdminError as A;
        match e {
            A::Conflict { .. } => Self::Uniqueness(e.to_string()),
            A::NotFound { .. } => Self::NotFound(e.to_string()),
            A::Internal(e) => Self::Internal(e),
            e => Self::value(e.to_string()),
        }
    }
}

pub type Result<T, E = ScimError> = std::result::Result<T, E>;

/// A weak entity tag over the resource's JSON form (without `meta`, which
/// carries the tag itself).
pub fn etag(resource: &Value) -> String {
    let mut v = resource.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
    }
    let text = serde_json::to_string(&v).unwrap_or_default();
    let hash = crate::crypto::sha256_hex(text.as_bytes());
    format!("W/\"{}\"", &hash[..16])
}

/// Whether an `If-Match` header value admits `current`.
pub fn if_match_admits(header: &str, current: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(current))
}

/// RFC 3339 in UTC, as SCIM's dateTime wants it.
pub fn datetime(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
