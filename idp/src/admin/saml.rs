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
    let sp = read_metadata(xml, options)?;
    register(idp, actor, &sp).await?;
    Ok(sp)
}

/// What registering this metadata would store, checked as
/// [`import_metadata`] checks it, with nothing written: what the console
/// shows before the administrator saves.
pub async fn preview(
    idp: &Idp,
    xml: &str,
    options: MetadataOptions,
) -> Result<ServiceProviderConfig> {
    let sp = read_metadata(xml, options)?;
    check_new(idp, &sp).await?;
    Ok(sp)
}

/// The largest SP metadata document read: one SP's descriptor is a few
/// KiB, and the console's upload and the API's body fit this with room.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

fn read_metadata(xml: &str, options: MetadataOptions) -> Result<ServiceProviderConfig> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(AdminError::invalid(
            "metadata",
            format!(
                "SP metadata may have at most {} KiB",
                MAX_METADATA_BYTES / 1024
            ),
        ));
    }
    if xml.trim().is_empty() {
        return Err(AdminError::invalid(
            "metadata",
            "paste the SP's metadata or choose its file",
        ));
    }
    let sign = sign_what(&options.sign)?;
    let mut sp = crate::saml::sps::from_metadata(xml, &options.application)?;
    sp.sign = sign;
    sp.require_mfa = options.require_mfa;
    sp.relay_state = options.relay_state;
    sp.attribute_map = options.release.attribute_map;
    sp.attribute_profile = options.release.attribute_profile;
    Ok(sp)
}

/// A new SP is valid like a configured one, its entity ID is free, and its
/// application exists.
async fn check_new(idp: &Idp, sp: &ServiceProviderConfig) -> Result<()> {
    sp.validate("sp")?;
    if idp.saml_sp(&sp.entity_id).await?.is_some() {
        return Err(AdminError::Conflict {
            entity: Entity::SamlSp,
            name: sp.entity_id.clone(),
        });
    }
    super::apps::find(idp, &sp.application).await?;
    Ok(())
}

/// Stores an SP after validating it like a configured one.
pub async fn register(idp: &Idp, actor: &Actor, sp: &ServiceProviderConfig) -> Result<()> {
    check_new(idp, sp).await?;
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

/// The certificate of an SP as an administrator reads it.
pub fn certificate_facts(sp: &ServiceProviderConfig) -> Option<crate::saml::keys::CertFacts> {
    let der = crate::saml::keys::parse_certificate(sp.certificate.as_deref()?)?;
    crate::saml::keys::certificate_facts(&der)
}

/// What an administrator changes about a stored SP; `None` keeps a value.
/// The entity ID is the SP's name and does not change.
#[derive(Debug, Clone, Default)]
pub struct SpEdit {
    pub acs: Option<Vec<crate::saml::config::AcsConfig>>,
    pub application: Option<String>,
    /// `Some(None)` removes single logout.
    pub slo_url: Option<Option<String>>,
    pub slo_binding: Option<String>,
    /// `Some(None)` removes the certificate.
    pub certificate: Option<Option<String>>,
    pub require_signed_requests: Option<bool>,
    pub name_id_format: Option<String>,
    pub name_id_source: Option<String>,
    /// response, assertion or both.
    pub sign: Option<String>,
    pub require_mfa: Option<bool>,
    pub relay_state: Option<Option<String>>,
    /// The basic-format attributes, name to source.
    pub attributes: Option<std::collections::BTreeMap<String, String>>,
    pub attribute_map: Option<Vec<crate::saml::attributes::AttributeRule>>,
    /// `Some(None)` removes the profile.
    pub attribute_profile: Option<Option<crate::saml::attributes::Profile>>,
}

impl SpEdit {
    /// An edit that sets every field to what a new SP gets when its
    /// definition leaves the field out: the base of a replacement (PUT),
    /// so the result does not depend on what was there before.
    pub fn replacing(entity_id: &str, acs: Vec<crate::saml::config::AcsConfig>) -> Result<Self> {
        let d: ServiceProviderConfig = serde_json::from_value(json!({
            "entity_id": entity_id,
            "acs": [],
            "application": "",
        }))
        .map_err(|e| AdminError::invalid("sp", e.to_string()))?;
        Ok(Self {
            acs: Some(acs),
            application: Some(d.application),
            slo_url: Some(d.slo_url),
            slo_binding: Some(d.slo_binding),
            certificate: Some(d.certificate),
            require_signed_requests: Some(d.require_signed_requests),
            name_id_format: Some(d.name_id_format),
            name_id_source: Some(d.name_id_source),
            sign: serde_json::to_value(d.sign)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
            require_mfa: Some(d.require_mfa),
            relay_state: Some(d.relay_state),
            attributes: Some(d.attributes),
            attribute_map: Some(d.attribute_map),
            attribute_profile: Some(d.attribute_profile),
        })
    }

    /// The names of the fields this edit sets, for the audit row.
    fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut note = |set: bool, name| {
            if set {
                out.push(name);
            }
        };
        note(self.acs.is_some(), "acs");
        note(self.application.is_some(), "application");
        note(self.slo_url.is_some(), "slo_url");
        note(self.slo_binding.is_some(), "slo_binding");
        note(self.certificate.is_some(), "certificate");
        note(
            self.require_signed_requests.is_some(),
            "require_signed_requests",
        );
        note(self.name_id_format.is_some(), "name_id_format");
        note(self.name_id_source.is_some(), "name_id_source");
        note(self.sign.is_some(), "sign");
        note(self.require_mfa.is_some(), "require_mfa");
        note(self.relay_state.is_some(), "relay_state");
        note(self.attributes.is_some(), "attributes");
        note(self.attribute_map.is_some(), "attribute_map");
        note(self.attribute_profile.is_some(), "attribute_profile");
        out
    }
}

/// Changes a stored SP after the same validation as a configured one. With
/// `if_match`, refuses with [`AdminError::Stale`] unless it names the
/// version read ([`super::etag`] of the SP's definition).
pub async fn update(
    idp: &Idp,
    actor: &Actor,
    entity_id: &str,
    edit: SpEdit,
    if_match: Option<&str>,
) -> Result<ServiceProviderConfig> {
    let (before, source) = show(idp, entity_id).await?;
    if source == "config" {
        return Err(AdminError::DeclaredInConfig {
            entity: Entity::SamlSp,
            name: entity_id.to_string(),
        });
    }
    super::check_version(&before, if_match, Entity::SamlSp, entity_id)?;
    let fields = edit.fields();
    let mut sp = before;
    if let Some(v) = edit.acs {
        sp.acs = v;
    }
    if let Some(v) = edit.application {
        sp.application = v.trim().to_string();
    }
    if let Some(v) = edit.slo_url {
        sp.slo_url = v.filter(|u| !u.trim().is_empty());
    }
    if let Some(v) = edit.slo_binding {
        sp.slo_binding = v;
    }
    if let Some(v) = edit.certificate {
        sp.certificate = v.filter(|c| !c.trim().is_empty());
    }
    if let Some(v) = edit.require_signed_requests {
        sp.require_signed_requests = v;
    }
    if let Some(v) = edit.name_id_format {
        sp.name_id_format = v;
    }
    if let Some(v) = edit.name_id_source {
        sp.name_id_source = v;
    }
    if let Some(v) = edit.sign {
        sp.sign = sign_what(&v)?;
    }
    if let Some(v) = edit.require_mfa {
        sp.require_mfa = v;
    }
    if let Some(v) = edit.relay_state {
        sp.relay_state = v.filter(|r| !r.is_empty());
    }
    if let Some(v) = edit.attributes {
        sp.attributes = v;
    }
    if let Some(v) = edit.attribute_map {
        sp.attribute_map = v;
    }
    if let Some(v) = edit.attribute_profile {
        sp.attribute_profile = v;
    }
    sp.validate("sp")?;
    super::apps::find(idp, &sp.application).await?;
    let json = serde_json::to_string(&sp).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
    if !idp.store.update_saml_sp(entity_id, &json).await? {
        return Err(AdminError::not_found(Entity::SamlSp, entity_id));
    }
    Record::new("admin.saml.sp.update")
        .subject(entity_id)
        .detail(format!("{entity_id}: {}", fields.join(", ")))
        .write(idp, actor)
        .await;
    Ok(sp)
}

/// Refuses with [`AdminError::Stale`] unless `if_match` (when given)
/// names the SP's current version: for a write that carries no edit (a
/// removal).
pub async fn require_version(idp: &Idp, entity_id: &str, if_match: Option<&str>) -> Result<()> {
    if if_match.is_none() {
        return Ok(());
    }
    let (sp, _) = show(idp, entity_id).await?;
    super::check_version(&sp, if_match, Entity::SamlSp, entity_id)
}
