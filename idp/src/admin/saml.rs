//! SAML service providers kept in the store (those of the configuration
//! file are read-only here).

use serde_json::json;

use super::{Actor, AdminError, Entity, Record, Result};
use crate::idp::Idp;
use crate::saml::ServiceProviderConfig;
use crate::saml::config::SignWhat;

/// A service provider as an administrator registers it by hand. Short
/// names are accepted where the configuration file accepts them.
#[derive(Debug, Clone)]
pub struct NewSp {
    pub entity_id: String,
    /// HTTP-POST assertion consumer service URLs; the first is the default.
    pub acs: Vec<String>,
    /// The portal application whose assignments decide who may sign in.
    pub application: String,
    pub slo_url: Option<String>,
    /// HTTP-Redirect or HTTP-POST.
    pub slo_binding: String,
    /// The SP's signing certificate, PEM.
    pub certificate: Option<String>,
    pub require_signed_requests: bool,
    /// emailAddress, persistent, transient or unspecified.
    pub name_id_format: String,
    /// response, assertion or both.
    pub sign: String,
    pub require_mfa: bool,
    /// RelayState of an IdP-initiated sign-in from the portal tile.
    pub relay_state: Option<String>,
    pub release: Release,
}

/// Attributes released beyond the basic set (see `saml::attributes`).
#[derive(Debug, Clone, Default)]
pub struct Release {
    pub attribute_map: Vec<crate::saml::attributes::AttributeRule>,
    pub attribute_profile: Option<crate::saml::attributes::Profile>,
}

/// What metadata does not say and the administrator adds.
#[derive(Debug, Clone)]
pub struct MetadataOptions {
    pub application: String,
    /// response, assertion or both.
    pub sign: String,
    pub require_mfa: bool,
    pub relay_state: Option<String>,
    pub release: Release,
}

fn sign_what(s: &str) -> Result<SignWhat> {
    serde_json::from_value(json!(s)).map_err(|_| {
        AdminError::invalid("sign", format!("sign {s:?}: response, assertion or both"))
    })
}

pub async fn add(idp: &Idp, actor: &Actor, new: NewSp) -> Result<ServiceProviderConfig> {
    let sign = sign_what(&new.sign)?;
    // Through serde, so the defaults are those of a configured SP.
    let mut sp: ServiceProviderConfig = serde_json::from_value(json!({
        "entity_id": new.entity_id,
        // Indexed in order, so SPs that name their ACS by index (as their
        // metadata would) reach the one they mean.
        "acs": new
            .acs
            .iter()
            .enumerate()
            .map(|(i, u)| json!({"url": u, "index": i}))
            .collect::<Vec<_>>(),
        "application": new.application,
        "slo_url": new.slo_url,
        "slo_binding": new.slo_binding,
        "certificate": new.certificate,
        "require_signed_requests": new.require_signed_requests,
        "name_id_format": new.name_id_format,
        "require_mfa": new.require_mfa,
        "relay_state": new.relay_state,
    }))
    .map_err(|e| AdminError::invalid("sp", e.to_string()))?;
    sp.sign = sign;
    sp.attribute_map = new.release.attribute_map;
    sp.attribute_profile = new.release.attribute_profile;
    register(idp, actor, &sp).await?;
    Ok(sp)
}

/// An SP from its metadata XML: ACS, SLO, certificate,
/// `AuthnRequestsSigned` and NameID format come from the document.
pub async fn import_metadata(
    idp: &Idp,
    actor: &Actor,
    xml: &str,
    options: MetadataOptions,
) -> Result<ServiceProviderConfig> {
    let sign = sign_what(&options.sign)?;
    let mut sp = crate::saml::sps::from_metadata(xml, &options.application)?;
    sp.sign = sign;
    sp.require_mfa = options.require_mfa;
    sp.relay_state = options.relay_state;
    sp.attribute_map = options.release.attribute_map;
    sp.attribute_profile = options.release.attribute_profile;
    register(idp, actor, &sp).await?;
    Ok(sp)
}

/// Stores an SP after validating it like a configured one.
pub async fn register(idp: &Idp, actor: &Actor, sp: &ServiceProviderConfig) -> Result<()> {
    sp.validate("sp")?;
    if idp.saml_sp(&sp.entity_id).await?.is_some() {
        return Err(AdminError::Conflict {
            entity: Entity::SamlSp,
            name: sp.entity_id.clone(),
        });
    }
    super::apps::find(idp, &sp.application).await?;
    let json = serde_json::to_string(sp).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
    idp.store
        .add_saml_sp(&sp.entity_id, &json, crate::clock::now())
        .await
        .map_err(super::conflict_on(Entity::SamlSp, &sp.entity_id))?;
    Record::new("admin.saml.sp.add")
        .subject(&sp.entity_id)
        .detail(&sp.entity_id)
        .write(idp, actor)
        .await;
    Ok(())
}

/// Every SP with where it comes from ("config" or "store").
pub async fn list(idp: &Idp) -> Result<Vec<(ServiceProviderConfig, &'static str)>> {
    Ok(idp.saml_sps().await?)
}

/// Removes a stored SP and ends the SAML sessions made with it.
pub async fn remove(idp: &Idp, actor: &Actor, entity_id: &str) -> Result<()> {
    if idp
        .config
        .saml
        .service_providers
        .iter()
        .any(|s| s.entity_id == entity_id)
    {
        return Err(AdminError::DeclaredInConfig {
            entity: Entity::SamlSp,
            name: entity_id.to_string(),
        });
    }
    if !idp
        .store
        .remove_saml_sp(entity_id, crate::clock::now())
        .await?
    {
        return Err(AdminError::not_found(Entity::SamlSp, entity_id));
    }
    Record::new("admin.saml.sp.remove")
        .subject(entity_id)
        .detail(entity_id)
        .write(idp, actor)
        .await;
    Ok(())
}

/// The SP with this entity ID and where it comes from, or [`AdminError::NotFound`].
pub async fn show(idp: &Idp, entity_id: &str) -> Result<(ServiceProviderConfig, &'static str)> {
    list(idp)
        .await?
        .into_iter()
        .find(|(s, _)| s.entity_id == entity_id)
        .ok_or_else(|| AdminError::not_found(Entity::SamlSp, entity_id))
}
