//! The IdP's metadata document: entity ID, every published signing
//! certificate (the signer and, through a rotation's overlap, its
//! predecessor), SSO and SLO endpoints for both bindings, NameID formats.

use crate::paths;

use super::config::{BINDING_POST, BINDING_REDIRECT, NAMEID_FORMATS};
use super::keys::SamlKeys;
use super::sps::NS_METADATA;
use super::wire::{NS_DSIG, esc};

/// The metadata XML for `entity_id` with endpoints under `base`.
/// `want_signed` is what `WantAuthnRequestsSigned` says: SPs such as
/// python3-saml and samlify decide from it whether to sign at all.
pub fn document(entity_id: &str, base: &str, keys: &SamlKeys, want_signed: bool) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="{NS_METADATA}" xmlns:ds="{NS_DSIG}" entityID="{}"><md:IDPSSODescriptor WantAuthnRequestsSigned="{want_signed}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
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
    /// This IdP's metadata document, with the current certificates. For
    /// one SP (`sp`, its entity ID) `WantAuthnRequestsSigned` is that SP's
    /// own rule; the shared document says true when `[saml]
    /// want_authn_requests_signed` is set or any SP must sign, because an SP
    /// reading it may be that one. An unknown `sp` gets the shared document.
    pub async fn saml_metadata(&self, sp: Option<&str>) -> crate::error::Result<String> {
        let keys = self.saml_keys().await?;
        let global = self.config.saml.want_authn_requests_signed;
        let one = match sp {
            Some(entity) => self.saml_sp(entity).await?,
            None => None,
        };
        let want_signed = match one {
            Some(sp) => global || sp.require_signed_requests,
            None => {
                global
                    || self
                        .saml_sps()
                        .await?
                        .iter()
                        .any(|(sp, _)| sp.require_signed_requests)
            }
        };
        Ok(document(
            &self.saml_entity_id(),
            &self.issuer(),
            &keys,
            want_signed,
        ))
    }
}
