//! `[federation]`, `[[federation.oidc]]` and `[[federation.saml]]`: the
//! upstream identity providers and the email domains each one owns.
//! Validation names the key, e.g. `federation.oidc[0].issuer`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::error::ConfigError;

/// `[federation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    pub oidc: Vec<OidcProviderConfig>,
    pub saml: Vec<SamlProviderConfig>,
    /// How often SAML metadata given by URL is fetched again.
    #[serde(with = "humantime_serde")]
    pub metadata_refresh: Duration,
    /// The longest wait for an upstream provider (discovery, token, metadata).
    #[serde(with = "humantime_serde")]
    pub http_timeout: Duration,
    /// How long a browser may spend at the provider before coming back.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            oidc: Vec::new(),
            saml: Vec::new(),
            metadata_refresh: Duration::from_secs(3600),
            http_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// What both kinds of provider share: who they are, which domains they own,
/// and what their sign-ins may do here.
#[derive(Debug, Clone)]
pub struct Common {
    /// Short name used in URLs (`/login/federation/<id>/...`) and the audit log.
    pub id: String,
    /// Shown to people ("Sign-in with Partner failed").
    pub name: String,
    pub domains: Vec<String>,
    /// Create an account on first sign-in when none has the email.
    pub provision: bool,
    /// Link an existing account that has the same (verified) email.
    pub link_by_email: bool,
    /// Local accounts of these domains may still sign in with a password.
    pub allow_local_password: bool,
    /// The provider's own MFA counts as ours when it says it was used.
    pub accept_upstream_mfa: bool,
    /// Upstream group -> local group.
    pub group_map: BTreeMap<String, String>,
    /// Local groups every user of this provider is put in.
    pub default_groups: Vec<String>,
    /// Portal sign-out also ends the session at the provider.
    pub logout_upstream: bool,
}

/// `[[federation.oidc]]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    /// The issuer; its `/.well-known/openid-configuration` is read.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone).
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: OidcClaims,
    /// Link by email only when the provider marks it `email_verified`.
    #[serde(default = "yes")]
    pub require_email_verified: bool,
    /// Also read the UserInfo endpoint for claims missing from the ID token.
    #[serde(default = "yes")]
    pub userinfo: bool,
    #[serde(default = "yes")]
    pub provision: bool,
    #[serde(default = "yes")]
    pub link_by_email: bool,
    #[serde(default)]
    pub allow_local_password: bool,
    #[serde(default)]
    pub accept_upstream_mfa: bool,
    /// `amr` values that mean a second factor was used.
    #[serde(default = "default_mfa_amr")]
    pub mfa_amr: Vec<String>,
    /// `acr` values that mean a second factor was used.
    #[serde(default)]
    pub mfa_acr: Vec<String>,
    #[serde(default)]
    pub group_map: BTreeMap<String, String>,
    #[serde(default)]
    pub default_groups: Vec<String>,
    #[serde(default)]
    pub logout_upstream: bool,
}

// By hand, so that printing the configuration never shows the client secret.
impl std::fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("domains", &self.domains)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("claims", &self.claims)
            .field("accept_upstream_mfa", &self.accept_upstream_mfa)
            .finish_non_exhaustive()
    }
}

/// Which ID token / UserInfo claims fill which account fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcClaims {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub groups: String,
}

impl Default for OidcClaims {
    fn default() -> Self {
        Self {
            email: "email".into(),
            first_name: "given_name".into(),
            last_name: "family_name".into(),
            groups: "groups".into(),
        }
    }
}

/// `[[federation.saml]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlProviderConfig {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    /// The IdP's metadata: a file (read at start-up) ...
    #[serde(default)]
    pub metadata_file: Option<PathBuf>,
    /// ... or a URL (fetched at start-up and every `federation.metadata_refresh`).
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// Our entity ID towards this IdP; defaults to
    /// `<public_url>/login/federation/<id>/metadata`.
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    #[serde(default)]
    pub attributes: SamlAttributes,
    #[serde(default = "yes")]
    pub provision: bool,
    #[serde(default = "yes")]
    pub link_by_email: bool,
    #[serde(default)]
    pub allow_local_password: bool,
    #[serde(default)]
    pub accept_upstream_mfa: bool,
    /// `AuthnContextClassRef` values that mean a second factor was used.
    #[serde(default)]
    pub mfa_authn_contexts: Vec<String>,
    #[serde(default)]
    pub group_map: BTreeMap<String, String>,
    #[serde(default)]
    pub default_groups: Vec<String>,
    #[serde(default)]
    pub logout_upstream: bool,
}

/// Which attributes (by Name or FriendlyName) fill which account fields.
/// Without an email attribute, a NameID that is an email address is used.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlAttributes {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub groups: String,
}

impl Default for SamlAttributes {
    fn default() -> Self {
        Self {
            email: "mail".into(),
            first_name: "givenName".into(),
            last_name: "sn".into(),
            groups: "groups".into(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn default_mfa_amr() -> Vec<String> {
    vec!["mfa".into()]
}

impl OidcProviderConfig {
    pub fn common(&self) -> Common {
        Common {
            id: self.id.clone(),
            name: self.name.clone(),
            domains: lower(&self.domains),
            provision: self.provision,
            link_by_email: self.link_by_email,
            allow_local_password: self.allow_local_password,
            accept_upstream_mfa: self.accept_upstream_mfa,
            group_map: self.group_map.clone(),
            default_groups: self.default_groups.clone(),
            logout_upstream: self.logout_upstream,
        }
    }
}

impl SamlProviderConfig {
    pub fn common(&self) -> Common {
        Common {
            id: self.id.clone(),
            name: self.name.clone(),
            domains: lower(&self.domains),
            provision: self.provision,
            link_by_email: self.link_by_email,
            allow_local_password: self.allow_local_password,
            accept_upstream_mfa: self.accept_upstream_mfa,
            group_map: self.group_map.clone(),
            default_groups: self.default_groups.clone(),
            logout_upstream: self.logout_upstream,
        }
    }
}

fn lower(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .collect()
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A DNS name as people type it after the `@`: labels of letters, digits
/// and hyphens, at least one dot.
pub fn valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An upstream URL: HTTPS, or plain HTTP to loopback only (tests and
/// a provider on the same host).
pub fn valid_upstream_url(raw: &str) -> bool {
    let Ok(u) = url::Url::parse(raw) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host_str().is_some(),
        "http" => matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

impl FederationConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.http_timeout < Duration::from_secs(1)
            || self.http_timeout > Duration::from_secs(120)
        {
            return Err(ConfigError::new(
                "federation.http_timeout",
                "must be between 1s and 2m",
            ));
        }
        if self.metadata_refresh < Duration::from_secs(60) {
            return Err(ConfigError::new(
                "federation.metadata_refresh",
                "must be at least 1m",
            ));
        }
        if self.login_timeout < Duration::from_secs(60)
            || self.login_timeout > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                "federation.login_timeout",
                "must be between 1m and 1h",
            ));
        }
        let mut ids = HashSet::new();
        let mut domains = HashSet::new();
        let commons = self
            .oidc
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("federation.oidc[{i}]"), p.common()))
            .chain(
                self.saml
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("federation.saml[{i}]"), p.common())),
            );
        for (key, c) in commons {
            if !valid_id(&c.id) {
                return Err(ConfigError::new(
                    format!("{key}.id"),
                    "must be 1 to 32 lowercase letters, digits or hyphens",
                ));
            }
            if !ids.insert(c.id.clone()) {
                return Err(ConfigError::new(
                    format!("{key}.id"),
                    format!("{:?} names another provider already", c.id),
                ));
            }
            if c.name.trim().is_empty() || c.name.len() > 80 {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    "must be 1 to 80 characters",
                ));
            }
            if c.domains.is_empty() {
                return Err(ConfigError::new(
                    format!("{key}.domains"),
                    "must list at least one email domain",
                ));
            }
            for d in &c.domains {
                if !valid_domain(d) {
                    return Err(ConfigError::new(
                        format!("{key}.domains"),
                        format!("{d:?} is not a domain such as \"example.com\""),
                    ));
                }
                if !domains.insert(d.clone()) {
                    return Err(ConfigError::new(
                        format!("{key}.domains"),
                        format!("{d:?} belongs to another provider already"),
                    ));
                }
            }
            for (from, to) in &c.group_map {
                if from.trim().is_empty() || to.trim().is_empty() {
                    return Err(ConfigError::new(
                        format!("{key}.group_map"),
                        "names an empty group",
                    ));
                }
            }
            if c.default_groups.iter().any(|g| g.trim().is_empty()) {
                return Err(ConfigError::new(
                    format!("{key}.default_groups"),
                    "names an empty group",
                ));
            }
        }
        for (i, p) in self.oidc.iter().enumerate() {
            let key = |k: &str| format!("federation.oidc[{i}].{k}");
            if !valid_upstream_url(&p.issuer) {
                return Err(ConfigError::new(
                    key("issuer"),
                    "must be an https:// URL (http:// only to loopback)",
                ));
            }
            if p.client_id.trim().is_empty() {
                return Err(ConfigError::new(key("client_id"), "must not be empty"));
            }
            if p.client_secret.as_deref().is_some_and(|s| s.len() < 8) {
                return Err(ConfigError::new(
                    key("client_secret"),
                    "is too short to be a client secret",
                ));
            }
            if !p.scopes.iter().any(|s| s == "openid") {
                return Err(ConfigError::new(key("scopes"), "must include \"openid\""));
            }
            if p.claims.email.trim().is_empty() {
                return Err(ConfigError::new(key("claims.email"), "must not be empty"));
            }
            if p.accept_upstream_mfa && p.mfa_amr.is_empty() && p.mfa_acr.is_empty() {
                return Err(ConfigError::new(
                    key("accept_upstream_mfa"),
                    "needs mfa_amr or mfa_acr values that mean a second factor was used",
                ));
            }
        }
        for (i, p) in self.saml.iter().enumerate() {
            let key = |k: &str| format!("federation.saml[{i}].{k}");
            match (&p.metadata_file, &p.metadata_url) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(ConfigError::new(
                        key("metadata_file"),
                        "set exactly one of metadata_file and metadata_url",
                    ));
                }
                (Some(f), None) if !f.is_file() => {
                    return Err(ConfigError::new(
                        key("metadata_file"),
                        format!("{} is not a readable file", f.display()),
                    ));
                }
                (None, Some(u)) if !valid_upstream_url(u) => {
                    return Err(ConfigError::new(
                        key("metadata_url"),
                        "must be an https:// URL (http:// only to loopback)",
                    ));
                }
                _ => {}
            }
            if let Some(e) = &p.sp_entity_id
                && e.trim().is_empty()
            {
                return Err(ConfigError::new(key("sp_entity_id"), "must not be empty"));
            }
            if p.accept_upstream_mfa && p.mfa_authn_contexts.is_empty() {
                return Err(ConfigError::new(
                    key("accept_upstream_mfa"),
                    "needs mfa_authn_contexts that mean a second factor was used",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FederationConfig, String> {
        #[derive(Deserialize)]
        struct File {
            federation: FederationConfig,
        }
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        f.federation.validate().map_err(|e| e.to_string())?;
        Ok(f.federation)
    }

    const OIDC: &str = r#"
[[federation.oidc]]
id = "partner"
name = "Partner"
domains = ["Partner.example"]
issuer = "https://idp.partner.example"
client_id = "portcullis"
client_secret = "s3cret-value"
"#;

    #[test]
    fn a_minimal_provider_gets_defaults() {
        let f = parse(OIDC).unwrap();
        let p = &f.oidc[0];
        assert_eq!(p.scopes, ["openid", "email", "profile"]);
        assert!(p.provision && p.link_by_email && p.require_email_verified);
        assert!(!p.allow_local_password && !p.accept_upstream_mfa);
        assert_eq!(p.common().domains, ["partner.example"]);
        assert_eq!(f.http_timeout, Duration::from_secs(10));
        assert!(!format!("{p:?}").contains("s3cret-value"));
    }

    #[test]
    fn errors_name_the_key() {
        let saml = "[[federation.saml]]\nid = \"s\"\nname = \"S\"\ndomains = [\"s.example\"]\n";
        for (text, key) in [
            (
                OIDC.replace("partner\"", "Partner!\""),
                "federation.oidc[0].id",
            ),
            (
                OIDC.replace("[\"Partner.example\"]", "[]"),
                "federation.oidc[0].domains",
            ),
            (
                OIDC.replace("Partner.example", "nodot"),
                "federation.oidc[0].domains",
            ),
            (
                OIDC.replace("https://idp", "http://idp"),
                "federation.oidc[0].issuer",
            ),
            (
                OIDC.replace("client_id = \"portcullis\"", "client_id = \"\""),
                "federation.oidc[0].client_id",
            ),
            (
                format!("{OIDC}scopes = [\"email\"]"),
                "federation.oidc[0].scopes",
            ),
            (
                format!("{OIDC}accept_upstream_mfa = true\nmfa_amr = []"),
                "federation.oidc[0].accept_upstream_mfa",
            ),
            (format!("{OIDC}{OIDC}"), "federation.oidc[1].id"),
            (format!("{OIDC}bogus = 1"), "bogus"),
            (saml.to_string(), "federation.saml[0].metadata_file"),
            (
                format!("{saml}metadata_file = \"/nonexistent.xml\""),
                "federation.saml[0].metadata_file",
            ),
            (
                format!("{saml}metadata_url = \"ftp://x\""),
                "federation.saml[0].metadata_url",
            ),
            (
                format!(
                    "{saml}metadata_url = \"https://s.example/md\"\naccept_upstream_mfa = true"
                ),
                "federation.saml[0].accept_upstream_mfa",
            ),
            (
                format!(
                    "{OIDC}{}",
                    saml.replace("s.example", "partner.example")
                        + "metadata_url = \"https://s.example/md\"\n"
                ),
                "federation.saml[0].domains",
            ),
            (
                "[federation]\nhttp_timeout = \"0s\"".to_string(),
                "federation.http_timeout",
            ),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn loopback_http_is_allowed_for_tests_only() {
        assert!(valid_upstream_url("http://127.0.0.1:9000/op"));
        assert!(valid_upstream_url("https://idp.example.com"));
        assert!(!valid_upstream_url("http://idp.example.com"));
        assert!(!valid_upstream_url("javascript:alert(1)"));
    }
}
