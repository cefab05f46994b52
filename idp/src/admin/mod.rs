//! Administration: every administrative write, its validation and its audit
//! record, for every front end (the CLI today, the admin console and REST
//! API later). Front ends parse and print; they never touch the store, so the
//! rules and the audit trail cannot differ between them.
//!
//! Each write takes the [`Actor`] who asked for it and records exactly one
//! audit row naming that actor, after the change succeeded. Bad input is
//! refused with an [`AdminError`] before anything is written.

pub mod apps;
pub mod audit;
pub mod caller;
pub mod dashboard;
pub mod federation;
pub mod groups;
pub mod keys;
pub mod ldap_accounts;
pub mod lookup;
pub mod oidc;
pub mod roles;
pub mod saml;
pub mod scim_clients;
pub mod sessions;
pub mod settings;
pub mod users;

use std::fmt;

use serde::Serialize;

use crate::audit::{Event, Outcome};
use crate::directory::User;
use crate::error::Error;
use crate::idp::Idp;

/// Who performed an administrative action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// `portcullis admin` on the server, run by this operating-system user.
    Cli { os_user: String },
    /// A signed-in administrator (the admin console).
    User { user_id: String, ip: Option<String> },
    /// An API or SCIM client.
    Client {
        client_id: String,
        ip: Option<String>,
    },
}

impl Actor {
    pub fn cli(os_user: impl Into<String>) -> Self {
        Self::Cli {
            os_user: os_user.into(),
        }
    }

    /// What the audit row shows as the source address. The CLI has none;
    /// "admin-cli" is what earlier rows carried, so filters keep working.
    fn source(&self) -> Option<&str> {
        match self {
            Self::Cli { .. } => Some("admin-cli"),
            Self::User { ip, .. } | Self::Client { ip, .. } => ip.as_deref(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cli { os_user } => write!(f, "cli:{os_user}"),
            Self::User { user_id, .. } => write!(f, "user:{user_id}"),
            Self::Client { client_id, .. } => write!(f, "client:{client_id}"),
        }
    }
}

/// What an administrative operation is about, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    Group,
    Application,
    OidcClient,
    SamlSp,
    /// A user named by their username rather than their email.
    Username,
    ScimClient,
    LdapAccount,
}

impl Entity {
    /// The noun and the key the entity is named by in messages.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::User => ("user", "email"),
            Self::Group => ("group", "name"),
            Self::Application => ("application", "name"),
            Self::OidcClient => ("client", "id"),
            Self::SamlSp => ("service provider", "entity ID"),
            Self::Username => ("user", "username"),
            Self::ScimClient => ("SCIM client", "name"),
            Self::LdapAccount => ("service account", "name"),
        }
    }
}

fn no(entity: &Entity, name: &str) -> String {
    let (noun, key) = entity.words();
    format!("no {noun} with {key} {name:?}")
}

fn taken(entity: &Entity, name: &str) -> String {
    let (noun, key) = entity.words();
    format!("a {noun} with {key} {name:?} already exists")
}

/// Why an administrative operation was refused. The variants are the
/// classes a REST API maps to problem details (see [`AdminError::status`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("{}", no(entity, name))]
    NotFound { entity: Entity, name: String },
    #[error("{}", taken(entity, name))]
    Conflict { entity: Entity, name: String },
    /// A value failed validation; `field` names it when one field is at fault.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// Several fields failed validation (a profile edit): a message per field.
    #[error("some fields are not valid: {}", .errors.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(" "))]
    Fields {
        errors: std::collections::BTreeMap<String, String>,
    },
    /// The caller edited a version that is no longer the current one
    /// (an `If-Match` that does not match [`etag`]).
    #[error("the {} changed since it was read; read it again", .entity.words().0)]
    Stale { entity: Entity, name: String },
    /// The password does not meet the policy: every unmet rule.
    #[error("password: {}", .0.join(" "))]
    PasswordPolicy(Vec<String>),
    #[error("unknown setting {key:?}; known settings: {}", crate::settings::KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "))]
    UnknownSetting { key: String },
    #[error("{message}")]
    InvalidSetting { key: String, message: String },
    /// Declared in the configuration file, so only an edit there removes it.
    #[error("{name} is declared in the configuration file: remove it there")]
    DeclaredInConfig { entity: Entity, name: String },
    /// The caller's role does not allow the operation.
    #[error("your role does not allow this ({need:?} is needed)")]
    Forbidden { need: crate::roles::Permission },
    #[error(transparent)]
    Internal(Error),
}

impl AdminError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    fn not_found(entity: Entity, name: &str) -> Self {
        Self::NotFound {
            entity,
            name: name.to_string(),
        }
    }

    /// The HTTP status an API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Forbidden { .. } => 403,
            Self::Conflict { .. } | Self::DeclaredInConfig { .. } => 409,
            Self::Stale { .. } => 412,
            Self::Invalid { .. }
            | Self::Fields { .. }
            | Self::PasswordPolicy(_)
            | Self::UnknownSetting { .. }
            | Self::InvalidSetting { .. } => 422,
            Self::Internal(_) => 500,
        }
    }
}

impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        match e {
            // Validation done deeper in the core (client and SP configs,
            // metadata) reports itself this way.
            Error::Invalid(message) => Self::Invalid {
                field: None,
                message,
            },
            e => Self::Internal(e),
        }
    }
}

pub type Result<T, E = AdminError> = std::result::Result<T, E>;

/// The largest page a listing returns, whatever the caller asks for.
pub const MAX_PAGE: u64 = 200;

/// One page of a listing: `items` from `offset` on, at most `limit` of
/// them, out of `total` that match.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

impl<T> Page<T> {
    /// A page of a listing that is short enough to read whole (groups,
    /// applications, clients, SPs, keys).
    pub fn slice(all: Vec<T>, offset: u64, limit: u64) -> Self {
        let limit = page_limit(limit);
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Self {
            items,
            total,
            offset,
            limit,
        }
    }
}

/// A limit of 0 means the default page, 50; more than [`MAX_PAGE`] is cut.
pub(crate) fn page_limit(limit: u64) -> u64 {
    match limit {
        0 => 50,
        n => n.min(MAX_PAGE),
    }
}

/// The version of what an administrator read: a strong entity tag (quoted,
/// as HTTP writes it) over its serialized form, so every front end that
/// shows an entity and later writes it can tell whether someone else
/// changed it in between. The same view gives the same tag on every
/// instance.
pub fn etag<T: Serialize>(view: &T) -> String {
    let json = serde_json::to_vec(view).unwrap_or_default();
    format!("\"{}\"", &crate::crypto::sha256_hex(&json)[..32])
}

/// Refuses with [`AdminError::Stale`] unless `expected` (an `If-Match`
/// value: one or more tags, or `*`) names the current version `view`.
pub fn check_version<T: Serialize>(
    view: &T,
    expected: Option<&str>,
    entity: Entity,
    name: &str,
) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let current = etag(view);
    // If-Match uses the strong comparison: a weak tag never matches.
    let matches = expected
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current);
    if matches {
        Ok(())
    } else {
        Err(AdminError::Stale {
            entity,
            name: name.to_string(),
        })
    }
}

/// Maps the store's unique-key refusal to a conflict on `name`.
fn conflict_on(entity: Entity, name: &str) -> impl FnOnce(Error) -> AdminError + '_ {
    move |e| match e {
        Error::Conflict(_) => AdminError::Conflict {
            entity,
            name: name.to_string(),
        },
        e => e.into(),
    }
}

/// A configuration-shaped validation failure (client or SP) as [`AdminError::Invalid`].
impl From<crate::config::ConfigError> for AdminError {
    fn from(e: crate::config::ConfigError) -> Self {
        let message = e.to_string();
        Self::Invalid {
            field: Some(e.key),
            message,
        }
    }
}

/// The one audit row of a successful write.
struct Record<'a> {
    event: &'static str,
    user: Option<&'a User>,
    subject: Option<&'a str>,
    detail: String,
}

impl<'a> Record<'a> {
    fn new(event: &'static str) -> Self {
        Self {
            event,
            user: None,
            subject: None,
            detail: String::new(),
        }
    }
    fn about(mut self, user: &'a User) -> Self {
        self.user = Some(user);
        self
    }
    fn subject(mut self, subject: &'a str) -> Self {
        self.subject = Some(subject);
        self
    }
    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    async fn write(self, idp: &Idp, actor: &Actor) {
        let actor_name = actor.to_string();
        let mut e = Event::new(self.event, Outcome::Success)
            .ip(actor.source())
            .actor(&actor_name)
            .detail(self.detail);
        if let Some(u) = self.user {
            e = e.about(u);
        }
        if let Some(s) = self.subject {
            e = e.subject(s);
        }
        crate::audit::record(&idp.store, crate::clock::now(), e).await;
    }
}
