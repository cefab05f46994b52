//! `[oidc]` and `[[oidc.clients]]`: the provider's settings and the relying
//! parties declared in the configuration file. Validation names the key.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::keys::Alg;
use crate::config::error::ConfigError;

/// `[oidc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// How long an authorization code may wait for its exchange.
    #[serde(with = "humantime_serde")]
    pub code_lifetime: Duration,
    /// How long a retired signing key stays in the JWKS after rotation; must
    /// cover the longest ID/access token lifetime.
    #[serde(with = "humantime_serde")]
    pub key_retention: Duration,
    /// Back-channel logout delivery: attempts per token before it is given
    /// up (and audited) ...
    pub backchannel_max_attempts: u32,
    /// ... the wait after the first failed attempt, doubled after each
    /// further one (at most an hour) ...
    #[serde(with = "humantime_serde")]
    pub backchannel_retry_backoff: Duration,
    /// ... and how often a serving instance looks for tokens queued by
    /// another process (the admin CLI, another instance). Tokens queued by
    /// the instance itself are sent at once.
    #[serde(with = "humantime_serde")]
    pub backchannel_poll_interval: Duration,
    /// How long after a rotation the old refresh token may be presented
    /// once more, when its successor was never used: the client did not get
    /// the answer (an instance died, the connection dropped). Within it a
    /// second use gets a new successor instead of ending the family. 0 turns
    /// it off: every second use ends the family.
    #[serde(with = "humantime_serde")]
    pub refresh_reuse_grace: Duration,
    pub clients: Vec<ClientConfig>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            code_lifetime: Duration::from_secs(60),
            key_retention: Duration::from_secs(24 * 3600),
            // 10s, 20s, ... 21 minutes in all: an RP restarting or briefly
            // down still gets its tokens, a dead one stops costing requests.
            backchannel_max_attempts: 8,
            backchannel_retry_backoff: Duration::from_secs(10),
            backchannel_poll_interval: Duration::from_secs(2),
            refresh_reuse_grace: Duration::from_secs(10),
            clients: Vec::new(),
        }
    }
}

/// One relying party.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// `sha256:<hex>` of a high-entropy secret, or an argon2id PHC string.
    /// Absent: a public client (PKCE required, no secret).
    #[serde(default)]
    pub client_secret_hash: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_access", with = "humantime_serde")]
    pub access_token_lifetime: Duration,
    #[serde(default = "default_access", with = "humantime_serde")]
    pub id_token_lifetime: Duration,
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh_token_lifetime: Duration,
    #[serde(default = "default_alg")]
    pub id_token_signed_response_alg: String,
    /// The portal application whose group assignments decide who may sign
    /// in; absent only for machine clients (client_credentials only).
    #[serde(default)]
    pub application: Option<String>,
    /// Every sign-in to this client needs a verified second factor ...
    #[serde(default)]
    pub require_mfa: bool,
    /// ... no older than this, when set.
    #[serde(default, with = "humantime_serde::option")]
    pub mfa_max_age: Option<Duration>,
    /// Where the portal tile sends the browser to start the client's login
    /// (OIDC third-party initiated login).
    #[serde(default)]
    pub initiate_login_uri: Option<String>,
    /// OIDC back-channel logout endpoint of the client.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs a `sid` in every logout token (Back-Channel Logout
    /// 1.0 `backchannel_logout_session_required`; false when omitted, as
    /// the specification says). When all of a user's sessions end, such a
    /// client gets one token per OP session it took part in; the others get
    /// one `sub`-only token.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

pub const GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
pub const SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "groups",
    "offline_access",
];

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}
fn default_scopes() -> Vec<String> {
    SCOPES.iter().map(|s| s.to_string()).collect()
}
fn default_access() -> Duration {
    Duration::from_secs(600)
}
fn default_refresh() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn default_alg() -> String {
    "RS256".into()
}

impl ClientConfig {
    pub fn is_public(&self) -> bool {
        self.client_secret_hash.is_none()
    }
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
    pub fn alg(&self) -> Alg {
        Alg::parse(&self.id_token_signed_response_alg).unwrap_or(Alg::RS256)
    }

    /// Checks one client; `key` is its dotted prefix, e.g. `oidc.clients[0]`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let id = &self.client_id;
        if id.is_empty()
            || id.len() > 128
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ConfigError::new(
                k("client_id"),
                "must be 1-128 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        if let Some(h) = &self.client_secret_hash {
            let ok = match h.strip_prefix("sha256:") {
                Some(hex) => hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
                None => h.starts_with("$argon2id$"),
            };
            if !ok {
                return Err(ConfigError::new(
                    k("client_secret_hash"),
                    "must be sha256:<64 hex digits> or an argon2id PHC string ($argon2id$...)",
                ));
            }
        }
        for g in &self.grant_types {
            if !GRANTS.contains(&g.as_str()) {
                return Err(ConfigError::new(
                    k("grant_types"),
                    format!("unknown grant type {g:?} (known: {})", GRANTS.join(", ")),
                ));
            }
        }
        if self.grant_types.is_empty() {
            return Err(ConfigError::new(k("grant_types"), "must not be empty"));
        }
        if self.is_public() && self.allows_grant("client_credentials") {
            return Err(ConfigError::new(
                k("grant_types"),
                "client_credentials needs a confidential client (client_secret_hash)",
            ));
        }
        for s in &self.scopes {
            if crate::roles::Role::from_scope(s).is_some() {
                // An administrator role is for a machine acting as itself,
                // never for a token a user's sign-in produced.
                if self.grant_types.iter().any(|g| g != "client_credentials") {
                    return Err(ConfigError::new(
                        k("scopes"),
                        format!("{s:?} is granted only to a client_credentials-only client"),
                    ));
                }
                continue;
            }
            if !SCOPES.contains(&s.as_str()) {
                return Err(ConfigError::new(
                    k("scopes"),
                    format!(
                        "unknown scope {s:?} (known: {}, and for client_credentials {})",
                        SCOPES.join(", "),
                        crate::roles::Role::ALL.map(|r| r.scope()).join(", ")
                    ),
                ));
            }
        }
        let interactive = self.allows_grant("authorization_code");
        if interactive && self.redirect_uris.is_empty() {
            return Err(ConfigError::new(
                k("redirect_uris"),
                "must list at least one URI for the authorization_code grant",
            ));
        }
        if interactive && self.application.is_none() {
            return Err(ConfigError::new(
                k("application"),
                "must name the portal application whose assignments decide who may sign in",
            ));
        }
        for (field, list) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
        ] {
            for u in list {
                check_redirect_uri(u)
                    .map_err(|why| ConfigError::new(k(field), format!("{u:?}: {why}")))?;
            }
        }
        for (field, u) in [
            ("initiate_login_uri", &self.initiate_login_uri),
            ("backchannel_logout_uri", &self.backchannel_logout_uri),
        ] {
            if let Some(u) = u {
                check_redirect_uri(u)
                    .map_err(|why| ConfigError::new(k(field), format!("{u:?}: {why}")))?;
            }
        }
        if self.backchannel_logout_session_required && self.backchannel_logout_uri.is_none() {
            return Err(ConfigError::new(
                k("backchannel_logout_session_required"),
                "needs a backchannel_logout_uri",
            ));
        }
        if Alg::parse(&self.id_token_signed_response_alg).is_none() {
            return Err(ConfigError::new(
                k("id_token_signed_response_alg"),
                "must be RS256 or ES256",
            ));
        }
        for (field, d) in [
            ("access_token_lifetime", self.access_token_lifetime),
            ("id_token_lifetime", self.id_token_lifetime),
        ] {
            if d < Duration::from_secs(30) || d > Duration::from_secs(24 * 3600) {
                return Err(ConfigError::new(k(field), "must be between 30s and 24h"));
            }
        }
        if self.refresh_token_lifetime < Duration::from_secs(60) {
            return Err(ConfigError::new(
                k("refresh_token_lifetime"),
                "must be at least 1m",
            ));
        }
        Ok(())
    }
}

/// Redirect URIs must be absolute, without fragment or credentials; plain
/// http only for loopback hosts (RFC 8252 native apps, local development).
pub fn check_redirect_uri(u: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(u).map_err(|_| "is not an absolute URL")?;
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            Some(h) if h.ends_with(".localhost") => Ok(()),
            _ => Err("http is only allowed for loopback hosts; use https"),
        },
        _ => Err("must use https (or http on loopback)"),
    }
}

impl OidcConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.code_lifetime < Duration::from_secs(10)
            || self.code_lifetime > Duration::from_secs(600)
        {
            return Err(ConfigError::new(
                "oidc.code_lifetime",
                "must be between 10s and 10m",
            ));
        }
        if self.refresh_reuse_grace > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "oidc.refresh_reuse_grace",
                "must be at most 60s (0s turns it off): longer weakens the detection of stolen refresh tokens",
            ));
        }
        if !(1..=50).contains(&self.backchannel_max_attempts) {
            return Err(ConfigError::new(
                "oidc.backchannel_max_attempts",
                "must be between 1 and 50",
            ));
        }
        // Whole seconds: the outbox schedules in the store's unit, unix seconds.
        if self.backchannel_retry_backoff < Duration::from_secs(1)
            || self.backchannel_retry_backoff > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                "oidc.backchannel_retry_backoff",
                "must be between 1s and 1h",
            ));
        }
        if self.backchannel_poll_interval < Duration::from_millis(10)
            || self.backchannel_poll_interval > Duration::from_secs(300)
        {
            return Err(ConfigError::new(
                "oidc.backchannel_poll_interval",
                "must be between 10ms and 5m",
            ));
        }
        let longest = self
            .clients
            .iter()
            .map(|c| c.access_token_lifetime.max(c.id_token_lifetime))
            .max()
            .unwrap_or_default();
        if self.key_retention < longest {
            return Err(ConfigError::new(
                "oidc.key_retention",
                "must be at least the longest access/ID token lifetime of any client",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("oidc.clients[{i}]");
            c.validate(&key)?;
            if !seen.insert(c.client_id.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.client_id"),
                    format!("{:?} is declared twice", c.client_id),
                ));
            }
        }
        Ok(())
    }
}
