//! The `<samlp:Response>` this IdP sends: an assertion with Conditions
//! (NotBefore, NotOnOrAfter, AudienceRestriction), a bearer
//! SubjectConfirmation (Recipient, NotOnOrAfter, InResponseTo), an
//! AuthnStatement (AuthnInstant, SessionIndex, AuthnContextClassRef) and the
//! SP's attributes; signed on the Response, the Assertion or both. Error
//! responses carry a status and no assertion.

use super::config::SignWhat;
use super::keys::SamlCert;
use super::signature::{self, SignatureError};
use super::wire::{NS_ASSERTION, NS_PROTOCOL, STATUS_SUCCESS, esc, instant, new_id};

/// Everything an assertion states.
#[derive(Debug, Clone)]
pub struct AssertionFacts {
    pub issuer: String,
    pub audience: String,
    pub acs_url: String,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: String,
    pub authn_instant: i64,
    pub authn_context: String,
    pub attributes: Vec<super::attributes::Released>,
    pub now: i64,
    pub lifetime: i64,
    /// How far NotBefore lies before `now`, for SPs whose clock runs behind.
    pub not_before_allowance: i64,
    pub session_not_on_or_after: i64,
    pub sign: SignWhat,
}

fn assertion_xml(f: &AssertionFacts, id: &str, sig: Option<&str>) -> String {
    let irt = f
        .in_response_to
        .as_deref()
        .map(|r| format!(r#" InResponseTo="{}""#, esc(r)))
        .unwrap_or_default();
    let until = instant(f.now + f.lifetime);
    let mut attrs = String::new();
    if !f.attributes.is_empty() {
        attrs.push_str("<saml:AttributeStatement>");
        for a in &f.attributes {
            let friendly = a
                .friendly_name
                .as_deref()
                .map(|f| format!(r#" FriendlyName="{}""#, esc(f)))
                .unwrap_or_default();
            attrs.push_str(&format!(
                r#"<saml:Attribute Name="{}" NameFormat="{}"{friendly}>"#,
                esc(&a.name),
                esc(&a.name_format)
            ));
            for v in &a.values {
                attrs.push_str(&format!(
                    "<saml:AttributeValue>{}</saml:AttributeValue>",
                    esc(v)
                ));
            }
            attrs.push_str("</saml:Attribute>");
        }
        attrs.push_str("</saml:AttributeStatement>");
    }
    format!(
        concat!(
            r#"<saml:Assertion xmlns:saml="{ns_a}" ID="{id}" Version="2.0" IssueInstant="{now}">"#,
            "<saml:Issuer>{issuer}</saml:Issuer>{sig}",
            r#"<saml:Subject><saml:NameID Format="{fmt}" SPNameQualifier="{aud}">{name_id}</saml:NameID>"#,
            r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData{irt} NotOnOrAfter="{until}" Recipient="{acs}"/>"#,
            "</saml:SubjectConfirmation></saml:Subject>",
            r#"<saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{until}">"#,
            "<saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>",
            r#"<saml:AuthnStatement AuthnInstant="{authn}" SessionIndex="{sidx}" SessionNotOnOrAfter="{snoa}">"#,
            "<saml:AuthnContext><saml:AuthnContextClassRef>{ctx}</saml:AuthnContextClassRef></saml:AuthnContext>",
            "</saml:AuthnStatement>{attrs}</saml:Assertion>"
        ),
        ns_a = NS_ASSERTION,
        id = id,
        now = instant(f.now),
        not_before = instant(f.now - f.not_before_allowance.max(0)),
        issuer = esc(&f.issuer),
        sig = sig.unwrap_or(""),
        fmt = esc(&f.name_id_format),
        aud = esc(&f.audience),
        name_id = esc(&f.name_id),
        irt = irt,
        until = until,
        acs = esc(&f.acs_url),
        authn = instant(f.authn_instant),
        sidx = esc(&f.session_index),
        snoa = instant(f.session_not_on_or_after),
        ctx = esc(&f.authn_context),
        attrs = attrs,
    )
}

/// The status part of a Response: a top-level code, an optional second-level
/// code and a message for people.
#[derive(Debug, Clone)]
pub struct Status {
    pub code: &'static str,
    pub sub: Option<&'static str>,
    pub message: Option<String>,
}

impl Status {
    pub fn success() -> Self {
        Self {
            code: STATUS_SUCCESS,
            sub: None,
            message: None,
        }
    }

    pub fn error(
        code: &'static str,
        sub: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            sub,
            message: Some(message.into()),
        }
    }

    pub fn xml(&self) -> String {
        let inner = self
            .sub
            .map(|s| format!(r#"<samlp:StatusCode Value="{s}"/>"#))
            .unwrap_or_default();
        let msg = self
            .message
            .as_deref()
            .map(|m| format!("<samlp:StatusMessage>{}</samlp:StatusMessage>", esc(m)))
            .unwrap_or_default();
        format!(
            r#"<samlp:Status><samlp:StatusCode Value="{}">{inner}</samlp:StatusCode>{msg}</samlp:Status>"#,
            self.code
        )
    }
}

/// A protocol message (`Response`, `LogoutRequest`, `LogoutResponse`) with
/// `body` after its Issuer, optionally signed enveloped.
pub fn protocol_message(
    element: &str,
    attrs: &str,
    issuer: &str,
    body: &str,
    signer: Option<&SamlCert>,
) -> Result<String, SignatureError> {
    protocol_message_id(element, &new_id(), attrs, issuer, body, signer)
}

/// [`protocol_message`] with a given ID (a logout chain looks it up later).
pub fn protocol_message_id(
    element: &str,
    id: &str,
    attrs: &str,
    issuer: &str,
    body: &str,
    signer: Option<&SamlCert>,
) -> Result<String, SignatureError> {
    let sig = signer
        .map(|c| signature::template(id, &c.cert_b64()))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:{element} xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0"{attrs}><saml:Issuer>{}</saml:Issuer>{sig}{body}</samlp:{element}>"#,
        esc(issuer)
    );
    match signer {
        Some(c) => signature::sign_enveloped(&xml, &c.private_der),
        None => Ok(xml),
    }
}

/// A signed Response carrying one assertion.
pub fn success(f: &AssertionFacts, cert: &SamlCert) -> Result<String, SignatureError> {
    let aid = new_id();
    let assertion = if f.sign.assertion() {
        let tpl = signature::template(&aid, &cert.cert_b64());
        signature::sign_enveloped(&assertion_xml(f, &aid, Some(&tpl)), &cert.private_der)?
    } else {
        assertion_xml(f, &aid, None)
    };
    let attrs = response_attrs(&f.acs_url, f.in_response_to.as_deref(), f.now);
    let body = format!("{}{assertion}", Status::success().xml());
    protocol_message(
        "Response",
        &attrs,
        &f.issuer,
        &body,
        f.sign.response().then_some(cert),
    )
}

/// A signed Response with an error status and no assertion.
pub fn failure(
    issuer: &str,
    acs_url: &str,
    in_response_to: Option<&str>,
    status: &Status,
    now: i64,
    cert: &SamlCert,
) -> Result<String, SignatureError> {
    let attrs = response_attrs(acs_url, in_response_to, now);
    protocol_message("Response", &attrs, issuer, &status.xml(), Some(cert))
}

fn response_attrs(destination: &str, in_response_to: Option<&str>, now: i64) -> String {
    let irt = in_response_to
        .map(|r| format!(r#" InResponseTo="{}""#, esc(r)))
        .unwrap_or_default();
    format!(
        r#" IssueInstant="{}" Destination="{}"{irt}"#,
        instant(now),
        esc(destination)
    )
}
