//! SCIM 2.0 input (RFC 7643, RFC 7644) as pure functions over JSON: the
//! filter grammar ([`filter`]), PATCH bodies and their application to a
//! resource's JSON form ([`patch`]), and the attribute schema ([`schema`]).
//! `idp::scim` re-exports these and maps a [`Refusal`] into its
//! `ScimError`; mapping resources onto the directory stays there.

pub mod filter;
pub mod patch;
pub mod schema;

use serde_json::Value;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The largest page a list answers with (`ServiceProviderConfig.filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;
/// The page size when the client asks for none.
pub const DEFAULT_COUNT: usize = 100;
/// The most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;
/// The longest filter, in bytes.
pub const MAX_FILTER: usize = 4096;

/// The `scimType` of an error (RFC 7644 §3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
        }
    }
}

/// Why SCIM input is refused. `idp::scim::ScimError` carries it to the
/// client as a 400 with its `scimType` (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A 400 with a `scimType`.
    #[error("{detail}")]
    Bad { scim_type: ScimType, detail: String },
    /// PATCH was given a resource that is not a JSON object: the server's
    /// fault (resources are rendered by the server), a 500.
    #[error("resource is not an object")]
    NotAnObject,
}

impl Refusal {
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

    /// The HTTP status the client sees.
    pub fn status(&self) -> u16 {
        match self {
            Self::Bad { .. } => 400,
            Self::NotAnObject => 500,
        }
    }
}

pub type Result<T, E = Refusal> = std::result::Result<T, E>;

/// The member of a JSON object named `name`, compared without regard to
/// case (SCIM attribute names are case-insensitive).
pub fn get_ci<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The actual key under which `name` is stored in `obj`, if any.
pub fn key_ci(obj: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}
