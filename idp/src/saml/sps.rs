//! Service providers: looked up in the configuration first, then among those
//! added through `admin::saml` (`portcullis admin saml-sps`); and reading an SP from its
//! metadata document.

use super::config::{
    AcsConfig, BINDING_POST, BINDING_REDIRECT, ServiceProviderConfig, binding_urn,
    name_id_format_urn,
};
use super::decode::{self, Element};
use super::wire::NS_DSIG;
use crate::error::{Error, Result};
use crate::idp::Idp;
use crate::paths;

pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

impl Idp {
    pub async fn saml_sp(&self, entity_id: &str) -> Result<Option<ServiceProviderConfig>> {
        if let Some(sp) = self
            .config
            .saml
            .service_providers
            .iter()
            .find(|s| s.entity_id == entity_id)
        {
            return Ok(Some(sp.clone()));
        }
        if entity_id.len() > 1024 {
            return Ok(None);
        }
        match self.store.saml_sp(entity_id).await? {
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("SAML SP {entity_id}: {e}"))),
            None => Ok(None),
        }
    }

    /// Every SP: configured ones, then stored ones (with their origin).
    pub async fn saml_sps(&self) -> Result<Vec<(ServiceProviderConfig, &'static str)>> {
        let mut all: Vec<_> = self
            .config
            .saml
            .service_providers
            .iter()
            .map(|s| (s.clone(), "config"))
            .collect();
        for (id, json) in self.store.saml_sps().await? {
            let sp: ServiceProviderConfig = serde_json::from_str(&json)
                .map_err(|e| Error::Corrupt(format!("SAML SP {id}: {e}")))?;
            all.push((sp, "store"));
        }
        Ok(all)
    }

    /// Start-up check of what only the store can tell: every linked
    /// application exists. The error names the configuration key.
    pub async fn check_saml_sps(&self) -> Result<()> {
        for (i, sp) in self.config.saml.service_providers.iter().enumerate() {
            if self
                .store
                .application_by_name(&sp.application)
                .await?
                .is_none()
            {
                return Err(Error::Invalid(format!(
                    "saml.service_providers[{i}].application: no portal application named {:?}",
                    sp.application
                )));
            }
        }
        Ok(())
    }

    /// Where the portal tile of `app_name` starts when a SAML SP is linked
    /// to it: the IdP-initiated endpoint for that SP.
    pub async fn saml_launch_url(&self, app_name: &str) -> Result<Option<String>> {
        Ok(self
            .saml_sps()
            .await?
            .into_iter()
            .find(|(sp, _)| sp.application == app_name)
            .map(|(sp, _)| {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("sp", &sp.entity_id)
                    .finish();
                format!("{}?{q}", paths::SAML_IDP_INIT)
            }))
    }
}

fn endpoints<'a>(desc: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    desc.children_named(NS_METADATA, name)
}

/// Reads an SP from its metadata (an `EntityDescriptor` with an
/// `SPSSODescriptor`): entity ID, HTTP-POST assertion consumer services,
/// single logout service, signing certificate, `AuthnRequestsSigned` and the
/// first NameID format this IdP issues. The result still has to pass
/// [`ServiceProviderConfig::validate`].
pub fn from_metadata(xml: &str, application: &str) -> Result<ServiceProviderConfig> {
    let bad = |why: &str| Error::Invalid(format!("SP metadata: {why}"));
    let root = decode::parse(xml).map_err(|e| bad(&e.to_string()))?;
    if !root.is(NS_METADATA, "EntityDescriptor") {
        return Err(bad("the document is not an EntityDescriptor"));
    }
    let entity_id = root
        .attr("entityID")
        .ok_or_else(|| bad("no entityID"))?
        .to_string();
    let desc = root
        .child(NS_METADATA, "SPSSODescriptor")
        .ok_or_else(|| bad("no SPSSODescriptor"))?;
    let acs: Vec<AcsConfig> = endpoints(desc, "AssertionConsumerService")
        .filter(|e| e.attr("Binding").and_then(binding_urn) == Some(BINDING_POST))
        .filter_map(|e| {
            Some(AcsConfig {
                url: e.attr("Location")?.to_string(),
                binding: BINDING_POST.into(),
                index: e.attr("index").and_then(|i| i.parse().ok()),
                default: e.attr("isDefault") == Some("true"),
            })
        })
        .collect();
    if acs.is_empty() {
        return Err(bad(
            "no AssertionConsumerService with the HTTP-POST binding",
        ));
    }
    // Redirect first: every SP library speaks it for logout.
    let slo = [BINDING_REDIRECT, BINDING_POST].iter().find_map(|b| {
        endpoints(desc, "SingleLogoutService")
            .find(|e| e.attr("Binding") == Some(*b))
            .and_then(|e| Some((e.attr("Location")?.to_string(), b.to_string())))
    });
    let certificate = endpoints(desc, "KeyDescriptor")
        .filter(|k| k.attr("use").is_none_or(|u| u == "signing"))
        .find_map(|k| {
            let data = k.child(NS_DSIG, "KeyInfo")?.child(NS_DSIG, "X509Data")?;
            let text = &data.child(NS_DSIG, "X509Certificate")?.text;
            let der = super::keys::parse_certificate(text)?;
            super::keys::der_to_pem(&der)
        });
    let name_id_format = endpoints(desc, "NameIDFormat")
        .find_map(|f| name_id_format_urn(f.text.trim()))
        .unwrap_or(super::config::NAMEID_EMAIL);
    let require_signed = desc.attr("AuthnRequestsSigned") == Some("true");
    let mut sp: ServiceProviderConfig = serde_json::from_value(serde_json::json!({
        "entity_id": entity_id,
        "acs": acs,
        "application": application,
    }))
    .map_err(|e| bad(&e.to_string()))?;
    sp.slo_url = slo.as_ref().map(|s| s.0.clone());
    if let Some((_, b)) = slo {
        sp.slo_binding = b;
    }
    sp.require_signed_requests = require_signed && certificate.is_some();
    sp.certificate = certificate;
    sp.name_id_format = name_id_format.to_string();
    Ok(sp)
}
