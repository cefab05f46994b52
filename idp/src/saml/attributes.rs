//! What an SP is told about the user: attribute release. Three sources,
//! released together: `attributes` (names in the `basic` NameFormat, the
//! simple map most SPs use), `attribute_map` (each rule with its own
//! NameFormat and FriendlyName, e.g. `urn:oid:` names in the `uri` format
//! that Shibboleth's standard attribute map expects) and
//! `attribute_profile = "eduperson"` (the usual inetOrgPerson and eduPerson
//! OIDs at once).

use serde::{Deserialize, Serialize};

use crate::directory::User;

pub const FORMAT_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
pub const FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
pub const FORMAT_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";

/// One released attribute with its own name format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeRule {
    /// The SAML `Name`, e.g. `urn:oid:0.9.2342.19200300.100.1.3`.
    pub name: String,
    /// Where the values come from (`config::SOURCES` or `profile.<field>`).
    pub source: String,
    /// `basic`, `uri`, `unspecified` or a full URN; by default `uri` for a
    /// `urn:` name and `basic` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
}

impl AttributeRule {
    /// The NameFormat URN, or None when `name_format` is not one.
    pub fn format_urn(&self) -> Option<&str> {
        match self.name_format.as_deref() {
            None if self.name.starts_with("urn:") => Some(FORMAT_URI),
            None | Some("basic") => Some(FORMAT_BASIC),
            Some("uri") => Some(FORMAT_URI),
            Some("unspecified") => Some(FORMAT_UNSPECIFIED),
            Some(u) if u.starts_with("urn:") => Some(u),
            Some(_) => None,
        }
    }

    /// `NAME=SOURCE`, as the CLI takes a rule.
    pub fn parse(spec: &str) -> Option<Self> {
        let (name, source) = spec.split_once('=')?;
        let (name, source) = (name.trim(), source.trim());
        if name.is_empty() || source.is_empty() {
            return None;
        }
        let friendly_name = Profile::Eduperson
            .rules()
            .into_iter()
            .find(|r| r.name == name)
            .and_then(|r| r.friendly_name);
        Some(Self {
            name: name.into(),
            source: source.into(),
            name_format: None,
            friendly_name,
        })
    }
}

/// A named set of standard attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// inetOrgPerson and eduPerson by OID in the `uri` format, with friendly
    /// names: what Shibboleth SPs and research federations expect.
    Eduperson,
}

impl Profile {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "eduperson" => Some(Self::Eduperson),
            _ => None,
        }
    }

    pub fn rules(self) -> Vec<AttributeRule> {
        let rule = |oid: &str, friendly: &str, source: &str| AttributeRule {
            name: format!("urn:oid:{oid}"),
            source: source.into(),
            name_format: Some("uri".into()),
            friendly_name: Some(friendly.into()),
        };
        match self {
            Self::Eduperson => vec![
                rule("0.9.2342.19200300.100.1.3", "mail", "email"),
                rule("2.5.4.42", "givenName", "first_name"),
                rule("2.5.4.4", "sn", "last_name"),
                rule("2.16.840.1.113730.3.1.241", "displayName", "display_name"),
                rule("2.5.4.3", "cn", "display_name"),
                rule("0.9.2342.19200300.100.1.1", "uid", "username"),
                rule(
                    "1.3.6.1.4.1.5923.1.1.1.6",
                    "eduPersonPrincipalName",
                    "email",
                ),
                rule("1.3.6.1.4.1.5923.1.5.1.1", "isMemberOf", "groups"),
                rule("2.5.4.20", "telephoneNumber", "profile.work_phone"),
            ],
        }
    }
}

/// One attribute of an assertion, with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub name: String,
    pub name_format: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

/// Every attribute the SP is given for `user`; attributes without a value
/// are left out. A name released twice keeps its first rule, in the order
/// basic map, `attribute_map`, profile: an explicit rule overrides the
/// profile's.
pub fn release(
    sp: &super::config::ServiceProviderConfig,
    user: &User,
    groups: &[String],
) -> Vec<Released> {
    let basic = sp.attributes.iter().map(|(name, source)| AttributeRule {
        name: name.clone(),
        source: source.clone(),
        name_format: Some("basic".into()),
        friendly_name: None,
    });
    let profile = sp.attribute_profile.map(Profile::rules).unwrap_or_default();
    let mut out: Vec<Released> = Vec::new();
    for rule in basic.chain(sp.attribute_map.iter().cloned()).chain(profile) {
        let Some(format) = rule.format_urn() else {
            continue;
        };
        if out
            .iter()
            .any(|r| r.name == rule.name && r.name_format == format)
        {
            continue;
        }
        let values = source_values(user, groups, &rule.source);
        if values.is_empty() {
            continue;
        }
        out.push(Released {
            name: rule.name.clone(),
            name_format: format.to_string(),
            friendly_name: rule.friendly_name.clone(),
            values,
        });
    }
    out
}

/// The values of one source for `user`.
pub fn source_values(user: &User, groups: &[String], source: &str) -> Vec<String> {
    let one = |s: &str| {
        if s.is_empty() {
            Vec::new()
        } else {
            vec![s.to_string()]
        }
    };
    match source {
        "email" => one(&user.email),
        "first_name" => one(&user.first_name),
        "last_name" => one(&user.last_name),
        "display_name" => one(&user.display_name()),
        "username" => one(&user.username),
        "id" => one(&user.id),
        "groups" => groups.to_vec(),
        other => other
            .strip_prefix("profile.")
            .map(|f| one(user.profile.get(f)))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let r = |name: &str, f: Option<&str>| AttributeRule {
            name: name.into(),
            source: "email".into(),
            name_format: f.map(str::to_string),
            friendly_name: None,
        };
        assert_eq!(r("mail", None).format_urn(), Some(FORMAT_BASIC));
        assert_eq!(r("urn:oid:2.5.4.3", None).format_urn(), Some(FORMAT_URI));
        assert_eq!(
            r("x", Some("unspecified")).format_urn(),
            Some(FORMAT_UNSPECIFIED)
        );
        assert_eq!(r("x", Some("fancy")).format_urn(), None);
        let p = AttributeRule::parse("urn:oid:0.9.2342.19200300.100.1.3=email").unwrap();
        assert_eq!(p.friendly_name.as_deref(), Some("mail"));
        assert!(AttributeRule::parse("=email").is_none());
        assert!(AttributeRule::parse("mail").is_none());
    }
}
