//! The IdP's metadata document: entity ID, every published signing
//! certificate (the signer and, through a rotation's overlap, its
//! predecessor), SSO and SLO endpoints for both bindings, NameID formats.

use crate::paths;

use super::config::{BINDING_POST, BINDING_REDIRECT, NAMEID_FORMATS};
use super::keys::SamlKeys;
use super::sps::NS_METADATA;
use super::wire::{NS_DSIG, esc};

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

impl crate::idp::Idp {
    /// This IdP's metadata document, with the current certificates.
    pub async fn saml_metadata(&self) -> crate::error::Result<String> {
        let keys = self.saml_keys().await?;
        Ok(document(&self.saml_entity_id(), &self.issuer(), &keys))
    }
}
