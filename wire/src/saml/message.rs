//! The SAML messages this IdP receives, read from the element tree of
//! [`super::decode`] into plain structs; and the timestamps of the ones it
//! writes. No decisions here. (Fresh IDs need randomness and stay in
//! `idp::saml::wire`, which re-exports this module.)

use super::decode::{self, DecodeError, Element};
use super::dsig::{self, DsigError, Placement};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_VERSION_MISMATCH: &str = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch";
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const STATUS_NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
pub const STATUS_INVALID_NAMEID_POLICY: &str =
    "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
pub const STATUS_UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";

/// Signature algorithms accepted from SPs: RSA with SHA-2 only; SHA-1 is refused.
pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SIG_ALGS: [&str; 3] = [
    SIG_RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
];
const DIGEST_ALGS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// Why a well-formed document is not a message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("expected a {0} message")]
    WrongMessage(&'static str),
    #[error("the message has no {0}")]
    Missing(&'static str),
    #[error("{0} is not valid")]
    BadValue(&'static str),
    #[error("only SAML version 2.0 is supported")]
    Version,
    #[error("the embedded signature is not acceptable: {0}")]
    Signature(&'static str),
    #[error("the embedded signature is not acceptable: {0}")]
    Dsig(#[from] DsigError),
}

/// Where an enveloped signature sits and what it uses; checked before xmlsec
/// verifies it, so that what is verified is the message root itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSignature;

/// A parsed `<samlp:AuthnRequest>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: i64,
    pub issuer: String,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u32>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// `RequestedAuthnContext`: the comparison and the class references.
    pub authn_context: Option<(String, Vec<String>)>,
    pub signed: Option<EmbeddedSignature>,
}

/// A parsed `<samlp:LogoutRequest>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issue_instant: i64,
    pub issuer: String,
    pub destination: Option<String>,
    pub not_on_or_after: Option<i64>,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    pub signed: Option<EmbeddedSignature>,
}

/// A parsed `<samlp:LogoutResponse>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub id: String,
    pub in_response_to: Option<String>,
    pub issue_instant: i64,
    pub issuer: String,
    pub destination: Option<String>,
    pub status: String,
    pub signed: Option<EmbeddedSignature>,
}

/// xs:dateTime in UTC as SAML requires, to unix seconds.
pub fn parse_instant(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Unix seconds as xs:dateTime, `2026-11-23T16:40:00Z`.
pub fn instant(ts: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(ts).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn id_ok(id: &str) -> bool {
    // xs:ID is an NCName; bounded so it can be stored and echoed safely.
    !id.is_empty()
        && id.len() <= 256
        && id
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn bool_attr(el: &Element, name: &'static str) -> Result<bool, MessageError> {
    match el.attr(name) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(MessageError::BadValue(name)),
    }
}

struct Common {
    id: String,
    issue_instant: i64,
    issuer: String,
    destination: Option<String>,
    signed: Option<EmbeddedSignature>,
}

fn common(root: &Element, name: &'static str) -> Result<Common, MessageError> {
    if !root.is(NS_PROTOCOL, name) {
        return Err(MessageError::WrongMessage(name));
    }
    if root.attr("Version") != Some("2.0") {
        return Err(MessageError::Version);
    }
    let id = root.attr("ID").ok_or(MessageError::Missing("ID"))?;
    if !id_ok(id) {
        return Err(MessageError::BadValue("ID"));
    }
    let issue_instant = parse_instant(
        root.attr("IssueInstant")
            .ok_or(MessageError::Missing("IssueInstant"))?,
    )
    .ok_or(MessageError::BadValue("IssueInstant"))?;
    let issuer = root
        .child(NS_ASSERTION, "Issuer")
        .map(|i| i.text.trim().to_string())
        .filter(|i| !i.is_empty())
        .ok_or(MessageError::Missing("Issuer"))?;
    if issuer.len() > 1024 {
        return Err(MessageError::BadValue("Issuer"));
    }
    // What xmlsec would be asked to do, before it is asked.
    dsig::check(root, Placement::Root)?;
    let signed = signature(root, id)?;
    Ok(Common {
        id: id.to_string(),
        issue_instant,
        issuer,
        destination: root.attr("Destination").map(str::to_string),
        signed,
    })
}

/// Checks the shape of an enveloped signature: at most one, a direct child
/// of the root, one reference to the root's own ID, SHA-2 algorithms.
fn signature(root: &Element, id: &str) -> Result<Option<EmbeddedSignature>, MessageError> {
    let mut sigs = root.children_named(NS_DSIG, "Signature");
    let Some(sig) = sigs.next() else {
        return Ok(None);
    };
    if sigs.next().is_some() {
        return Err(MessageError::Signature("more than one signature"));
    }
    let info = sig
        .child(NS_DSIG, "SignedInfo")
        .ok_or(MessageError::Signature("no SignedInfo"))?;
    let method = info
        .child(NS_DSIG, "SignatureMethod")
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(MessageError::Signature("no SignatureMethod"))?;
    if !SIG_ALGS.contains(&method) {
        return Err(MessageError::Signature(
            "the signature algorithm is not RSA with SHA-256/384/512",
        ));
    }
    let mut refs = info.children_named(NS_DSIG, "Reference");
    let reference = refs.next().ok_or(MessageError::Signature("no Reference"))?;
    if refs.next().is_some() {
        return Err(MessageError::Signature("more than one Reference"));
    }
    if reference.attr("URI") != Some(&format!("#{id}")) {
        return Err(MessageError::Signature(
            "the signature does not cover the message",
        ));
    }
    let digest = reference
        .child(NS_DSIG, "DigestMethod")
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(MessageError::Signature("no DigestMethod"))?;
    if !DIGEST_ALGS.contains(&digest) {
        return Err(MessageError::Signature(
            "the digest algorithm is not SHA-256/384/512",
        ));
    }
    Ok(Some(EmbeddedSignature))
}

impl AuthnRequest {
    pub fn parse(xml: &str) -> Result<Self, MessageError> {
        Self::from_element(&decode::parse(xml)?)
    }

    pub fn from_element(root: &Element) -> Result<Self, MessageError> {
        let c = common(root, "AuthnRequest")?;
        let acs_index = match root.attr("AssertionConsumerServiceIndex") {
            Some(i) => Some(
                i.parse::<u32>()
                    .map_err(|_| MessageError::BadValue("AssertionConsumerServiceIndex"))?,
            ),
            None => None,
        };
        let name_id_format = root
            .child(NS_PROTOCOL, "NameIDPolicy")
            .and_then(|p| p.attr("Format"))
            .map(str::to_string);
        let authn_context = root.child(NS_PROTOCOL, "RequestedAuthnContext").map(|r| {
            (
                r.attr("Comparison").unwrap_or("exact").to_string(),
                r.children_named(NS_ASSERTION, "AuthnContextClassRef")
                    .map(|c| c.text.trim().to_string())
                    .collect(),
            )
        });
        Ok(Self {
            id: c.id,
            issue_instant: c.issue_instant,
            issuer: c.issuer,
            destination: c.destination,
            acs_url: root.attr("AssertionConsumerServiceURL").map(str::to_string),
            acs_index,
            protocol_binding: root.attr("ProtocolBinding").map(str::to_string),
            force_authn: bool_attr(root, "ForceAuthn")?,
            is_passive: bool_attr(root, "IsPassive")?,
            name_id_format,
            authn_context,
            signed: c.signed,
        })
    }
}

impl LogoutRequest {
    pub fn parse(xml: &str) -> Result<Self, MessageError> {
        Self::from_element(&decode::parse(xml)?)
    }

    pub fn from_element(root: &Element) -> Result<Self, MessageError> {
        let c = common(root, "LogoutRequest")?;
        let not_on_or_after = match root.attr("NotOnOrAfter") {
            Some(t) => Some(parse_instant(t).ok_or(MessageError::BadValue("NotOnOrAfter"))?),
            None => None,
        };
        let name_id = root
            .child(NS_ASSERTION, "NameID")
            .map(|n| n.text.trim().to_string())
            .filter(|n| !n.is_empty())
            .ok_or(MessageError::Missing("NameID"))?;
        Ok(Self {
            id: c.id,
            issue_instant: c.issue_instant,
            issuer: c.issuer,
            destination: c.destination,
            not_on_or_after,
            name_id,
            session_indexes: root
                .children_named(NS_PROTOCOL, "SessionIndex")
                .map(|s| s.text.trim().to_string())
                .collect(),
            signed: c.signed,
        })
    }
}

impl LogoutResponse {
    pub fn parse(xml: &str) -> Result<Self, MessageError> {
        Self::from_element(&decode::parse(xml)?)
    }

    pub fn from_element(root: &Element) -> Result<Self, MessageError> {
        let c = common(root, "LogoutResponse")?;
        let status = root
            .child(NS_PROTOCOL, "Status")
            .and_then(|s| s.child(NS_PROTOCOL, "StatusCode"))
            .and_then(|s| s.attr("Value"))
            .ok_or(MessageError::Missing("Status"))?
            .to_string();
        Ok(Self {
            id: c.id,
            in_response_to: root.attr("InResponseTo").map(str::to_string),
            issue_instant: c.issue_instant,
            issuer: c.issuer,
            destination: c.destination,
            status,
            signed: c.signed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_abc" Version="2.0" IssueInstant="2026-11-23T16:40:00Z" AssertionConsumerServiceURL="https://sp/acs" ForceAuthn="true"><saml:Issuer>https://sp/meta</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"/><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#;

    #[test]
    fn reads_an_authn_request() {
        let r = AuthnRequest::parse(REQ).unwrap();
        assert_eq!(r.id, "_abc");
        assert_eq!(r.issuer, "https://sp/meta");
        assert_eq!(r.acs_url.as_deref(), Some("https://sp/acs"));
        assert!(r.force_authn && !r.is_passive);
        assert_eq!(instant(r.issue_instant), "2026-11-23T16:40:00Z");
        let (cmp, refs) = r.authn_context.unwrap();
        assert_eq!(cmp, "minimum");
        assert_eq!(refs, vec!["https://refeds.org/profile/mfa".to_string()]);
    }

    #[test]
    fn refuses_bad_requests() {
        for (from, to) in [
            ("Version=\"2.0\"", "Version=\"1.1\""),
            ("ID=\"_abc\"", "ID=\"1abc\""),
            ("2026-11-23T16:40:00Z", "yesterday"),
            ("<saml:Issuer>https://sp/meta</saml:Issuer>", ""),
            ("ForceAuthn=\"true\"", "ForceAuthn=\"yes\""),
            ("samlp:AuthnRequest xmlns", "samlp:LogoutRequest xmlns"),
        ] {
            let bad = REQ.replace(from, to);
            assert!(AuthnRequest::parse(&bad).is_err(), "{to}");
        }
    }

    #[test]
    fn signature_must_cover_the_root_with_sha2() {
        let sig = |uri: &str, alg: &str| {
            REQ.replace(
                "<samlp:NameIDPolicy",
                &format!(r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{alg}"/><ds:Reference URI="{uri}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference></ds:SignedInfo></ds:Signature><samlp:NameIDPolicy"#),
            )
        };
        assert!(
            AuthnRequest::parse(&sig("#_abc", SIG_RSA_SHA256))
                .unwrap()
                .signed
                .is_some()
        );
        assert!(AuthnRequest::parse(&sig("#_other", SIG_RSA_SHA256)).is_err());
        assert!(
            AuthnRequest::parse(&sig("#_abc", "http://www.w3.org/2000/09/xmldsig#rsa-sha1"))
                .is_err()
        );
    }
}
