//! `[saml]` and `[[saml.service_providers]]`: the identity provider's settings
//! and the service providers declared in the configuration file. Validation
//! names the key; SPs added with `portcullis admin saml-sps` pass the same checks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::oidc::config::check_redirect_uri;

pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// Every NameID format this IdP issues (published in the metadata).
pub const NAMEID_FORMATS: [&str; 4] = [
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
];

/// `[saml]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlConfig {
    /// The IdP's entity ID; defaults to `<server.public_url>/saml/metadata`.
    pub entity_id: Option<String>,
    /// How far an SP's clock may be off when its IssueInstant is checked.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// How long an AuthnRequest may wait for the user to sign in; its ID is
    /// remembered this long (plus the skew) to refuse a replay.
    #[serde(with = "humantime_serde")]
    pub request_lifetime: Duration,
    /// NotOnOrAfter of an assertion's conditions and bearer confirmation.
    #[serde(with = "humantime_serde")]
    pub assertion_lifetime: Duration,
    /// After `portcullis admin keys rotate-saml`, the new certificate is
    /// published this long before it signs, and the previous one stays in
    /// the metadata this long after, so SPs can pick up the change.
    #[serde(with = "humantime_serde")]
    pub cert_overlap: Duration,
    /// The metadata's `WantAuthnRequestsSigned` for every SP. Without it
    /// the shared metadata says true only when some SP must sign
    /// (`require_signed_requests`), and `/saml/metadata?sp=ENTITY_ID` says
    /// what applies to that SP.
    pub want_authn_requests_signed: bool,
    /// Validity of a generated signing certificate, in days.
    pub cert_validity_days: u32,
    /// Largest SAML message accepted, before and after inflating.
    pub max_message_bytes: usize,
    /// AuthnContextClassRef of a sign-in with a password only ...
    pub authn_context_password: String,
    /// ... and of one with a verified second factor.
    pub authn_context_mfa: String,
    pub service_providers: Vec<ServiceProviderConfig>,
}

impl Default for SamlConfig {
    fn default() -> Self {
        Self {
            entity_id: None,
            clock_skew: Duration::from_secs(180),
            request_lifetime: Duration::from_secs(15 * 60),
            assertion_lifetime: Duration::from_secs(5 * 60),
            cert_overlap: Duration::from_secs(7 * 86_400),
            want_authn_requests_signed: false,
            cert_validity_days: 3650,
            max_message_bytes: 64 * 1024,
            authn_context_password:
                "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
            authn_context_mfa: "https://refeds.org/profile/mfa".into(),
            service_providers: Vec::new(),
        }
    }
}

/// One assertion consumer service of an SP.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcsConfig {
    pub url: String,
    /// Only HTTP-POST: SAML does not allow a Response over HTTP-Redirect.
    #[serde(default = "default_acs_binding")]
    pub binding: String,
    #[serde(default)]
    pub index: Option<u32>,
    /// The ACS used when a request names none; else the first one.
    #[serde(default)]
    pub default: bool,
}

fn default_acs_binding() -> String {
    BINDING_POST.into()
}

/// What signatures a Response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignWhat {
    Response,
    Assertion,
    Both,
}

impl SignWhat {
    pub fn response(self) -> bool {
        matches!(self, Self::Response | Self::Both)
    }
    pub fn assertion(self) -> bool {
        matches!(self, Self::Assertion | Self::Both)
    }
}

/// One service provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceProviderConfig {
    pub entity_id: String,
    pub acs: Vec<AcsConfig>,
    /// Where LogoutRequests and LogoutResponses go; no single logout without it.
    #[serde(default)]
    pub slo_url: Option<String>,
    /// HTTP-Redirect (the default) or HTTP-POST, for `slo_url`.
    #[serde(default = "default_slo_binding")]
    pub slo_binding: String,
    /// The SP's signing certificate (PEM), for its signed requests.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Refuse AuthnRequests without a valid signature.
    #[serde(default)]
    pub require_signed_requests: bool,
    /// `emailAddress`, `persistent`, `transient`, `unspecified` or a full URN.
    #[serde(default = "default_name_id_format")]
    pub name_id_format: String,
    /// Where the NameID value comes from (see [`SOURCES`]); persistent and
    /// transient formats ignore it.
    #[serde(default = "default_name_id_source")]
    pub name_id_source: String,
    /// SAML attribute name to source, e.g. `{ mail = "email", groups = "groups" }`.
    #[serde(default = "default_attributes")]
    pub attributes: BTreeMap<String, String>,
    /// Attributes with their own NameFormat and FriendlyName
    /// (`[[saml.service_providers.attribute_map]]`), released as well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_map: Vec<super::attributes::AttributeRule>,
    /// `eduperson`: the standard inetOrgPerson and eduPerson OIDs as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_profile: Option<super::attributes::Profile>,
    /// `response`, `assertion` or `both`.
    #[serde(default = "default_sign")]
    pub sign: SignWhat,
    /// The portal application whose group assignments decide who may sign in.
    pub application: String,
    /// Every sign-in to this SP needs a verified second factor ...
    #[serde(default)]
    pub require_mfa: bool,
    /// ... no older than this, when set.
    #[serde(default, with = "humantime_serde::option")]
    pub mfa_max_age: Option<Duration>,
    /// RelayState of an IdP-initiated sign-in from the portal tile.
    #[serde(default)]
    pub relay_state: Option<String>,
}

fn default_slo_binding() -> String {
    BINDING_REDIRECT.into()
}
fn default_name_id_format() -> String {
    "emailAddress".into()
}
fn default_name_id_source() -> String {
    "email".into()
}
fn default_sign() -> SignWhat {
    SignWhat::Both
}
fn default_attributes() -> BTreeMap<String, String> {
    [
        ("email", "email"),
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("groups", "groups"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// Where attribute and NameID values come from; `profile.<field>` names any
/// profile field.
pub const SOURCES: [&str; 7] = [
    "email",
    "first_name",
    "last_name",
    "display_name",
    "username",
    "id",
    "groups",
];

pub fn valid_source(s: &str) -> bool {
    SOURCES.contains(&s)
        || s.strip_prefix("profile.").is_some_and(|f| {
            crate::directory::PROFILE_FIELDS
                .iter()
                .any(|(name, _, _)| *name == f)
        })
}

/// A binding given as a short name or URN, as its URN.
pub fn binding_urn(b: &str) -> Option<&'static str> {
    match b {
        "HTTP-POST" | "post" | BINDING_POST => Some(BINDING_POST),
        "HTTP-Redirect" | "redirect" | BINDING_REDIRECT => Some(BINDING_REDIRECT),
        _ => None,
    }
}

/// A NameID format given as a short name or URN, as its URN.
pub fn name_id_format_urn(f: &str) -> Option<&'static str> {
    match f {
        "emailAddress" | "email" | NAMEID_EMAIL => Some(NAMEID_EMAIL),
        "persistent" | NAMEID_PERSISTENT => Some(NAMEID_PERSISTENT),
        "transient" | NAMEID_TRANSIENT => Some(NAMEID_TRANSIENT),
        "unspecified" | NAMEID_UNSPECIFIED => Some(NAMEID_UNSPECIFIED),
        _ => None,
    }
}

/// An entity ID: an absolute URI (URL or URN) of at most 1024 characters (SAML core 8.3.6).
pub fn valid_entity_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 1024
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(id).is_ok()
}

impl ServiceProviderConfig {
    /// The ACS a request without one is answered at.
    pub fn default_acs(&self) -> Option<&AcsConfig> {
        self.acs.iter().find(|a| a.default).or(self.acs.first())
    }

    pub fn name_id_format_urn(&self) -> &'static str {
        name_id_format_urn(&self.name_id_format).unwrap_or(NAMEID_UNSPECIFIED)
    }

    pub fn slo_binding_urn(&self) -> &'static str {
        binding_urn(&self.slo_binding).unwrap_or(BINDING_REDIRECT)
    }

    /// Checks one SP; `key` is its dotted prefix, e.g. `saml.service_providers[0]`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if !valid_entity_id(&self.entity_id) {
            return Err(ConfigError::new(
                k("entity_id"),
                "must be an absolute URI (URL or URN) of at most 1024 characters",
            ));
        }
        if self.acs.is_empty() {
            return Err(ConfigError::new(
                k("acs"),
                "must list at least one assertion consumer service",
            ));
        }
        if self.acs.iter().filter(|a| a.default).count() > 1 {
            return Err(ConfigError::new(
                k("acs"),
                "at most one assertion consumer service may be the default",
            ));
        }
        let mut indexes = std::collections::HashSet::new();
        for (i, a) in self.acs.iter().enumerate() {
            let ak = |f: &str| format!("{key}.acs[{i}].{f}");
            check_redirect_uri(&a.url)
                .map_err(|why| ConfigError::new(ak("url"), format!("{:?}: {why}", a.url)))?;
            if binding_urn(&a.binding) != Some(BINDING_POST) {
                return Err(ConfigError::new(
                    ak("binding"),
                    "must be HTTP-POST (responses are not sent over other bindings)",
                ));
            }
            if let Some(ix) = a.index
                && !indexes.insert(ix)
            {
                return Err(ConfigError::new(ak("index"), format!("{ix} is used twice")));
            }
        }
        if let Some(u) = &self.slo_url {
            check_redirect_uri(u)
                .map_err(|why| ConfigError::new(k("slo_url"), format!("{u:?}: {why}")))?;
        }
        if binding_urn(&self.slo_binding).is_none() {
            return Err(ConfigError::new(
                k("slo_binding"),
                "must be HTTP-Redirect or HTTP-POST",
            ));
        }
        match &self.certificate {
            Some(pem) if super::keys::parse_certificate(pem).is_none() => {
                return Err(ConfigError::new(
                    k("certificate"),
                    "is not a PEM (or base64 DER) X.509 certificate",
                ));
            }
            Some(_) => {}
            None if self.require_signed_requests => {
                return Err(ConfigError::new(
                    k("certificate"),
                    "is needed to check signed requests (require_signed_requests = true)",
                ));
            }
            None => {}
        }
        if name_id_format_urn(&self.name_id_format).is_none() {
            return Err(ConfigError::new(
                k("name_id_format"),
                "must be emailAddress, persistent, transient or unspecified",
            ));
        }
        if !valid_source(&self.name_id_source) || self.name_id_source == "groups" {
            return Err(ConfigError::new(
                k("name_id_source"),
                format!(
                    "must be one of {} (not groups) or profile.<field>",
                    SOURCES.join(", ")
                ),
            ));
        }
        for (name, source) in &self.attributes {
            if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    k("attributes"),
                    format!("{name:?} is not a usable attribute name"),
                ));
            }
            if !valid_source(source) {
                return Err(ConfigError::new(
                    k(&format!("attributes.{name}")),
                    format!(
                        "{source:?} is not a source (one of {} or profile.<field>)",
                        SOURCES.join(", ")
                    ),
                ));
            }
        }
        for (i, rule) in self.attribute_map.iter().enumerate() {
            let key = |f: &str| k(&format!("attribute_map[{i}].{f}"));
            if rule.name.is_empty()
                || rule.name.len() > 256
                || rule.name.chars().any(char::is_control)
            {
                return Err(ConfigError::new(
                    key("name"),
                    format!("{:?} is not a usable attribute name", rule.name),
                ));
            }
            if !valid_source(&rule.source) {
                return Err(ConfigError::new(
                    key("source"),
                    format!(
                        "{:?} is not a source (one of {} or profile.<field>)",
                        rule.source,
                        SOURCES.join(", ")
                    ),
                ));
            }
            if rule.format_urn().is_none() {
                return Err(ConfigError::new(
                    key("name_format"),
                    "must be basic, uri, unspecified or a full urn:",
                ));
            }
            if rule
                .friendly_name
                .as_ref()
                .is_some_and(|f| f.is_empty() || f.len() > 256 || f.chars().any(char::is_control))
            {
                return Err(ConfigError::new(
                    key("friendly_name"),
                    "must be 1 to 256 printable characters",
                ));
            }
        }
        if self.application.trim().is_empty() {
            return Err(ConfigError::new(
                k("application"),
                "must name the portal application whose assignments decide who may sign in",
            ));
        }
        if self.relay_state.as_ref().is_some_and(|r| r.len() > 80) {
            // SAML bindings 3.4.3: RelayState must not exceed 80 bytes.
            return Err(ConfigError::new(
                k("relay_state"),
                "must be at most 80 bytes",
            ));
        }
        Ok(())
    }
}

impl SamlConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(id) = &self.entity_id
            && !valid_entity_id(id)
        {
            return Err(ConfigError::new(
                "saml.entity_id",
                "must be an absolute URI (URL or URN) of at most 1024 characters",
            ));
        }
        if self.clock_skew > Duration::from_secs(600) {
            return Err(ConfigError::new("saml.clock_skew", "must be at most 10m"));
        }
        if self.request_lifetime < Duration::from_secs(60)
            || self.request_lifetime > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                "saml.request_lifetime",
                "must be between 1m and 1h",
            ));
        }
        if self.assertion_lifetime < Duration::from_secs(30)
            || self.assertion_lifetime > Duration::from_secs(3600)
        {
            return Err(ConfigError::new(
                "saml.assertion_lifetime",
                "must be between 30s and 1h",
            ));
        }
        if self.cert_overlap < Duration::from_secs(3600)
            || self.cert_overlap > Duration::from_secs(365 * 86_400)
        {
            return Err(ConfigError::new(
                "saml.cert_overlap",
                "must be between 1h and 365d",
            ));
        }
        if !(1..=36_500).contains(&self.cert_validity_days) {
            return Err(ConfigError::new(
                "saml.cert_validity_days",
                "must be between 1 and 36500",
            ));
        }
        if !(4 * 1024..=1024 * 1024).contains(&self.max_message_bytes) {
            return Err(ConfigError::new(
                "saml.max_message_bytes",
                "must be between 4096 and 1048576",
            ));
        }
        for (key, v) in [
            ("saml.authn_context_password", &self.authn_context_password),
            ("saml.authn_context_mfa", &self.authn_context_mfa),
        ] {
            if url::Url::parse(v).is_err() {
                return Err(ConfigError::new(key, "must be an absolute URI"));
            }
        }
        if self.authn_context_password == self.authn_context_mfa {
            return Err(ConfigError::new(
                "saml.authn_context_mfa",
                "must differ from saml.authn_context_password",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, sp) in self.service_providers.iter().enumerate() {
            let key = format!("saml.service_providers[{i}]");
            sp.validate(&key)?;
            if !seen.insert(sp.entity_id.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.entity_id"),
                    format!("{:?} is declared twice", sp.entity_id),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(extra: &str) -> String {
        format!(
            "entity_id = \"https://sp.example.com/metadata\"\napplication = \"Wiki\"\n\
             acs = [{{ url = \"https://sp.example.com/acs\" }}]\n{extra}"
        )
    }

    fn parse(text: &str) -> Result<SamlConfig, String> {
        let c: SamlConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn defaults_and_a_minimal_sp() {
        let c = parse(&format!("[[service_providers]]\n{}", sp(""))).unwrap();
        assert_eq!(c.clock_skew.as_secs(), 180);
        let s = &c.service_providers[0];
        assert_eq!(s.sign, SignWhat::Both);
        assert_eq!(s.name_id_format_urn(), NAMEID_EMAIL);
        assert_eq!(s.slo_binding_urn(), BINDING_REDIRECT);
        assert_eq!(s.default_acs().unwrap().url, "https://sp.example.com/acs");
        assert_eq!(s.attributes.get("firstName").unwrap(), "first_name");
        assert!(s.attribute_map.is_empty() && s.attribute_profile.is_none());
    }

    #[test]
    fn attribute_maps_and_profiles() {
        let text = format!(
            "[[service_providers]]\n{}\nattribute_profile = \"eduperson\"\n[[service_providers.attribute_map]]\nname = \"urn:oid:2.5.4.10\"\nsource = \"profile.work_city\"\nfriendly_name = \"o\"",
            sp("")
        );
        let c = parse(&text).unwrap();
        let s = &c.service_providers[0];
        assert_eq!(
            s.attribute_profile,
            Some(super::super::attributes::Profile::Eduperson)
        );
        assert_eq!(
            s.attribute_map[0].format_urn(),
            Some(super::super::attributes::FORMAT_URI)
        );
        for (rule, key) in [
            (
                "name = \"x\"\nsource = \"shoe_size\"",
                "attribute_map[0].source",
            ),
            (
                "name = \"x\"\nsource = \"email\"\nname_format = \"fancy\"",
                "attribute_map[0].name_format",
            ),
            ("name = \"\"\nsource = \"email\"", "attribute_map[0].name"),
        ] {
            let text = format!(
                "[[service_providers]]\n{}\n[[service_providers.attribute_map]]\n{rule}",
                sp("")
            );
            let e = parse(&text).unwrap_err();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("clock_skew = \"1h\"", "saml.clock_skew"),
            ("cert_overlap = \"1s\"", "saml.cert_overlap"),
            ("request_lifetime = \"2h\"", "saml.request_lifetime"),
            ("max_message_bytes = 10", "saml.max_message_bytes"),
            ("entity_id = \"not a uri\"", "saml.entity_id"),
            (
                "authn_context_mfa = \"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport\"",
                "saml.authn_context_mfa",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("").replace("https://sp.example.com/metadata", "nope")
                ),
                "saml.service_providers[0].entity_id",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("").replace("https://sp.example.com/acs", "http://sp.example.com/acs")
                ),
                "saml.service_providers[0].acs[0].url",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("").replace("/acs\" }", "/acs\", binding = \"HTTP-Redirect\" }")
                ),
                "saml.service_providers[0].acs[0].binding",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("require_signed_requests = true")
                ),
                "saml.service_providers[0].certificate",
            ),
            (
                &format!("[[service_providers]]\n{}", sp("certificate = \"junk\"")),
                "saml.service_providers[0].certificate",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("name_id_format = \"kerberos\"")
                ),
                "saml.service_providers[0].name_id_format",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("name_id_source = \"groups\"")
                ),
                "saml.service_providers[0].name_id_source",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("attributes = { mail = \"shoe_size\" }")
                ),
                "saml.service_providers[0].attributes.mail",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp("slo_url = \"ftp://sp.example.com/slo\"")
                ),
                "saml.service_providers[0].slo_url",
            ),
            (
                &format!("[[service_providers]]\n{}", sp("slo_binding = \"SOAP\"")),
                "saml.service_providers[0].slo_binding",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}",
                    sp(&format!("relay_state = \"{}\"", "x".repeat(81)))
                ),
                "saml.service_providers[0].relay_state",
            ),
            (
                &format!(
                    "[[service_providers]]\n{}\n[[service_providers]]\n{}",
                    sp(""),
                    sp("")
                ),
                "saml.service_providers[1].entity_id",
            ),
            (
                &format!("[[service_providers]]\n{}", sp("sign = \"neither\"")),
                "sign",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn profile_fields_are_sources() {
        assert!(valid_source("profile.work_city"));
        assert!(!valid_source("profile.nope"));
        assert!(valid_source("groups"));
    }
}
