//! The IdP's metadata document: entity ID, every published signing
//! certificate (the signer and, through a rotation's overlap, its
//! predecessor), SSO and SLO endpoints for both bindings, NameID formats.

use crate::paths;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::config::{BINDING_POST, BINDING_REDIRECT, NAMEID_FORMATS};
use super::keys::SamlKeys;
use super::sps::NS_METADATA;
use super::wire::{NS_DSIG, esc};
use crate::web::Portal;

/// The metadata XML for `entity_id` with endpoints under `base`.
pub fn document(entity_id: &str, base: &str, keys: &SamlKeys) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="{NS_METADATA}" xmlns:ds="{NS_DSIG}" entityID="{}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
        esc(entity_id)
    );
    for cert in keys.published() {
        xml.push_str(&format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            cert.cert_b64()
        ));
    }
    for binding in [BINDING_REDIRECT, BINDING_POST] {
        xml.push_str(&format!(
            r#"<md:SingleLogoutService Binding="{binding}" Location="{}"/>"#,
            esc(&format!("{base}{}", paths::SAML_SLO))
        ));
    }
    for f in NAMEID_FORMATS {
        xml.push_str(&format!("<md:NameIDFormat>{f}</md:NameIDFormat>"));
    }
    for binding in [BINDING_REDIRECT, BINDING_POST] {
        xml.push_str(&format!(
            r#"<md:SingleSignOnService Binding="{binding}" Location="{}"/>"#,
            esc(&format!("{base}{}", paths::SAML_SSO))
        ));
    }
    xml.push_str("</md:IDPSSODescriptor></md:EntityDescriptor>");
    xml
}

pub async fn handle(State(portal): State<Portal>) -> Response {
    let idp = &portal.idp;
    match idp.saml_keys().await {
        Ok(keys) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            document(&idp.saml_entity_id(), &idp.issuer(), &keys),
        )
            .into_response(),
        Err(e) => crate::web::PortalError::from(e).into_response(),
    }
}
