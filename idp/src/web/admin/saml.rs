//! SAML service providers: the list, registering one from its metadata
//! (pasted or uploaded, with a preview of what was read before it is
//! saved), its detail page with every field it has, editing those through
//! `admin::saml::update`, and its removal, confirmed with a fresh second
//! factor. Every rule is the core's; this file turns form fields into the
//! core's types and its errors back into messages beside the fields.

use std::collections::BTreeMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::users::Confirm;
use super::{
    Admin, Configure, ConfigureFresh, Need, Read, confirm_page, failed, render, segment, when,
};
use crate::admin::saml::{MetadataOptions, Release, SpEdit};
use crate::admin::{self, AdminError};
use crate::paths;
use crate::roles::Permission;
use crate::saml::ServiceProviderConfig;
use crate::saml::attributes::{AttributeRule, Profile};
use crate::saml::config::AcsConfig;
use crate::web::{Form, Portal, PortalResult, see_other};

fn sp_path(entity_id: &str) -> String {
    format!("{}/{}", paths::ADMIN_SAML, segment(entity_id))
}

/// The IdP metadata as this SP is told it (`/saml/metadata?sp=`).
fn metadata_link(entity_id: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sp", entity_id)
        .finish();
    format!("{}?{q}", paths::SAML_METADATA)
}

/// The form field a core validation error is about: `sp.acs[0].url` is
/// the `acs` field. `None` when the message belongs above the form.
fn field_of(e: &AdminError) -> Option<String> {
    match e {
        AdminError::Invalid { field: Some(f), .. } => {
            let f = f.strip_prefix("sp.").unwrap_or(f);
            let end = f.find(['.', '[']).unwrap_or(f.len());
            Some(f[..end].to_string())
        }
        AdminError::NotFound {
            entity: admin::Entity::Application,
            ..
        } => Some("application".into()),
        _ => None,
    }
}

fn yes(v: &Option<String>) -> bool {
    v.is_some()
}

// ---- the list and registration -----------------------------------------

#[derive(Serialize)]
struct Row {
    entity_id: String,
    path: String,
    source: &'static str,
    acs: String,
    application: String,
    name_id_format: String,
}

/// The registration form as sent, to show again with its error.
#[derive(Serialize, Default, Clone)]
struct NewForm {
    metadata: String,
    application: String,
    sign: String,
    require_mfa: bool,
}

/// What the metadata says, shown before it is saved.
#[derive(Serialize)]
struct Preview {
    entity_id: String,
    acs: Vec<AcsRow>,
    name_id_format: String,
    slo: String,
    require_signed_requests: bool,
    certificate: Option<CertRow>,
}

#[derive(Serialize)]
struct ListPage {
    sps: Vec<Row>,
    apps: Vec<String>,
    can_configure: bool,
    form: NewForm,
    error: Option<String>,
    error_field: Option<String>,
    preview: Option<Preview>,
    max_kib: usize,
    flash: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

async fn list_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    status: StatusCode,
    form: NewForm,
    error: Option<AdminError>,
    preview: Option<Preview>,
    flash: Option<&'static str>,
) -> PortalResult {
    let idp = &portal.idp;
    let sps = match admin::saml::list(idp).await {
        Ok(s) => s,
        Err(e) => return Ok(failed(e)),
    };
    let apps = match admin::apps::list(idp).await {
        Ok(a) => a.into_iter().map(|a| a.name).collect(),
        Err(e) => return Ok(failed(e)),
    };
    let error_field = error.as_ref().map(|e| {
        field_of(e)
            .filter(|f| f == "application" || f == "sign")
            .unwrap_or_else(|| "metadata".into())
    });
    render(
        portal,
        me,
        status,
        "admin_saml.html",
        "saml",
        "SAML service providers",
        ListPage {
            sps: sps
                .into_iter()
                .map(|(s, source)| Row {
                    path: sp_path(&s.entity_id),
                    acs: s.default_acs().map(|a| a.url.clone()).unwrap_or_default(),
                    name_id_format: s.name_id_format.clone(),
                    application: s.application,
                    entity_id: s.entity_id,
                    source,
                })
                .collect(),
            apps,
            can_configure: me.role.allows(Permission::Configure),
            form,
            error: error.map(|e| e.to_string()),
            error_field,
            preview,
            max_kib: admin::saml::MAX_METADATA_BYTES / 1024,
            flash,
        },
    )
    .await
}

pub async fn list(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("deleted") => Some("Service provider removed; its SAML sessions ended."),
        _ => None,
    };
    let form = NewForm {
        sign: "both".into(),
        ..Default::default()
    };
    list_page(&portal, &me, StatusCode::OK, form, None, None, flash).await
}

/// POST /admin/saml, `multipart/form-data` (the CSRF layer has checked the
/// token and capped the body): the metadata pasted into `metadata` or
/// uploaded as `metadata_file`; `step=preview` shows what was read,
/// anything else registers it.
pub async fn create(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    mut body: Multipart,
) -> PortalResult {
    let mut form = NewForm::default();
    let mut file = String::new();
    let mut step = String::new();
    let mut unreadable = false;
    while let Ok(Some(field)) = body.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let Ok(text) = field.text().await else {
            // Not UTF-8: no SAML metadata.
            unreadable = true;
            continue;
        };
        match name.as_str() {
            "metadata" => form.metadata = text,
            "metadata_file" => file = text,
            "application" => form.application = text,
            "sign" => form.sign = text,
            "require_mfa" => form.require_mfa = true,
            "step" => step = text,
            _ => {}
        }
    }
    if !file.trim().is_empty() {
        form.metadata = file;
    }
    if unreadable && form.metadata.trim().is_empty() {
        let e = AdminError::invalid("metadata", "the file is not a text (XML) document");
        return list_page(
            &portal,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            Some(e),
            None,
            None,
        )
        .await;
    }
    let options = MetadataOptions {
        application: form.application.trim().to_string(),
        sign: form.sign.clone(),
        require_mfa: form.require_mfa,
        relay_state: None,
        release: Release::default(),
    };
    let idp = &portal.idp;
    if step == "preview" {
        return match admin::saml::preview(idp, &form.metadata, options).await {
            Ok(sp) => {
                let preview = Preview {
                    entity_id: sp.entity_id.clone(),
                    acs: acs_rows(&sp),
                    name_id_format: sp.name_id_format.clone(),
                    slo: sp.slo_url.clone().unwrap_or_default(),
                    require_signed_requests: sp.require_signed_requests,
                    certificate: cert_row(&sp),
                };
                list_page(
                    &portal,
                    &me,
                    StatusCode::OK,
                    form,
                    None,
                    Some(preview),
                    None,
                )
                .await
            }
            Err(e @ AdminError::Internal(_)) => Ok(failed(e)),
            Err(e) => {
                list_page(
                    &portal,
                    &me,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    form,
                    Some(e),
                    None,
                    None,
                )
                .await
            }
        };
    }
    match admin::saml::import_metadata(idp, &me.actor, &form.metadata, options).await {
        Ok(sp) => Ok(see_other(&format!(
            "{}?done=created",
            sp_path(&sp.entity_id)
        ))),
        Err(e @ AdminError::Internal(_)) => Ok(failed(e)),
        Err(e) => {
            list_page(
                &portal,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                Some(e),
                None,
                None,
            )
            .await
        }
    }
}

// ---- one SP --------------------------------------------------------------

#[derive(Serialize)]
struct AcsRow {
    index: String,
    url: String,
    default: bool,
}

fn acs_rows(sp: &ServiceProviderConfig) -> Vec<AcsRow> {
    let default = sp.default_acs().map(|a| a.url.clone());
    sp.acs
        .iter()
        .map(|a| AcsRow {
            index: a.index.map(|i| i.to_string()).unwrap_or_default(),
            url: a.url.clone(),
            default: Some(&a.url) == default.as_ref(),
        })
        .collect()
}

#[derive(Serialize)]
struct CertRow {
    subject: String,
    expires: String,
    expired: bool,
}

fn cert_row(sp: &ServiceProviderConfig) -> Option<CertRow> {
    admin::saml::certificate_facts(sp).map(|f| CertRow {
        subject: f.subject,
        expires: when(f.not_after),
        expired: f.not_after < crate::clock::now(),
    })
}

#[derive(Serialize)]
struct RuleRow {
    name: String,
    format: String,
    friendly_name: String,
    source: String,
}

fn rule_rows(rules: &[AttributeRule]) -> Vec<RuleRow> {
    rules
        .iter()
        .map(|r| RuleRow {
            name: r.name.clone(),
            format: r.format_urn().unwrap_or_default().to_string(),
            friendly_name: r.friendly_name.clone().unwrap_or_default(),
            source: r.source.clone(),
        })
        .collect()
}

/// The edit form's fields, as text (what the admin typed, on an error).
#[derive(Serialize, Deserialize, Default)]
pub struct EditForm {
    #[serde(default)]
    acs: String,
    #[serde(default)]
    application: String,
    #[serde(default)]
    slo_url: String,
    #[serde(default)]
    slo_binding: String,
    #[serde(default)]
    name_id_format: String,
    #[serde(default)]
    name_id_source: String,
    #[serde(default)]
    attributes: String,
    #[serde(default)]
    attribute_map: String,
    #[serde(default)]
    attribute_profile: String,
    #[serde(default)]
    require_signed_requests: Option<String>,
    #[serde(default)]
    sign: String,
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    require_mfa: Option<String>,
    #[serde(default)]
    relay_state: String,
    #[serde(default)]
    version: String,
}

impl EditForm {
    fn of(sp: &ServiceProviderConfig) -> Self {
        Self {
            acs: sp
                .acs
                .iter()
                .map(|a| {
                    let mut line = String::new();
                    if let Some(i) = a.index {
                        line.push_str(&format!("{i} "));
                    }
                    line.push_str(&a.url);
                    if a.default {
                        line.push_str(" default");
                    }
                    line
                })
                .collect::<Vec<_>>()
                .join("\n"),
            application: sp.application.clone(),
            slo_url: sp.slo_url.clone().unwrap_or_default(),
            slo_binding: sp.slo_binding_urn().to_string(),
            name_id_format: sp.name_id_format_urn().to_string(),
            name_id_source: sp.name_id_source.clone(),
            attributes: sp
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            attribute_map: sp
                .attribute_map
                .iter()
                .map(|r| format!("{}={}", r.name, r.source))
                .collect::<Vec<_>>()
                .join("\n"),
            attribute_profile: match sp.attribute_profile {
                Some(Profile::Eduperson) => "eduperson".into(),
                None => String::new(),
            },
            require_signed_requests: sp.require_signed_requests.then(|| "1".into()),
            sign: serde_json::to_value(sp.sign)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            certificate: sp.certificate.clone().unwrap_or_default(),
            require_mfa: sp.require_mfa.then(|| "1".into()),
            relay_state: sp.relay_state.clone().unwrap_or_default(),
            version: admin::etag(sp),
        }
    }

    /// The core's edit. Lines that do not parse are refused here, naming
    /// the field; what the values may be is the core's to say.
    fn edit(&self, before: &ServiceProviderConfig) -> Result<SpEdit, AdminError> {
        let mut acs = Vec::new();
        for (n, line) in lines(&self.acs).enumerate() {
            let mut words = line.split_whitespace().peekable();
            let index = match words.peek().map(|w| w.parse::<u32>()) {
                Some(Ok(i)) => {
                    words.next();
                    Some(i)
                }
                _ => None,
            };
            let Some(url) = words.next() else {
                return Err(AdminError::invalid(
                    "sp.acs",
                    format!("line {}: give the URL", n + 1),
                ));
            };
            let default = match words.next() {
                None => false,
                Some("default") if words.next().is_none() => true,
                Some(_) => {
                    return Err(AdminError::invalid(
                        "sp.acs",
                        format!(
                            "line {}: write an index (optional), the URL, and \"default\" (optional)",
                            n + 1
                        ),
                    ));
                }
            };
            acs.push(AcsConfig {
                url: url.to_string(),
                binding: crate::saml::config::BINDING_POST.into(),
                index,
                default,
            });
        }
        let mut attributes = BTreeMap::new();
        for line in lines(&self.attributes) {
            let rule = AttributeRule::parse(line).ok_or_else(|| {
                AdminError::invalid("sp.attributes", format!("{line:?}: write NAME=SOURCE"))
            })?;
            attributes.insert(rule.name, rule.source);
        }
        let mut attribute_map = Vec::new();
        for line in lines(&self.attribute_map) {
            let rule = AttributeRule::parse(line).ok_or_else(|| {
                AdminError::invalid("sp.attribute_map", format!("{line:?}: write NAME=SOURCE"))
            })?;
            // A rule kept as it was keeps its NameFormat and FriendlyName,
            // which the NAME=SOURCE line does not show.
            let kept = before
                .attribute_map
                .iter()
                .find(|r| r.name == rule.name && r.source == rule.source);
            attribute_map.push(kept.cloned().unwrap_or(rule));
        }
        let attribute_profile = match self.attribute_profile.trim() {
            "" => None,
            p => Some(Profile::parse(p).ok_or_else(|| {
                AdminError::invalid("sp.attribute_profile", "choose none or eduPerson")
            })?),
        };
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(SpEdit {
            acs: Some(acs),
            application: Some(self.application.trim().to_string()),
            slo_url: Some(opt(&self.slo_url)),
            slo_binding: Some(self.slo_binding.trim().to_string()),
            certificate: Some(opt(&self.certificate)),
            require_signed_requests: Some(yes(&self.require_signed_requests)),
            name_id_format: Some(self.name_id_format.trim().to_string()),
            name_id_source: Some(self.name_id_source.trim().to_string()),
            sign: Some(self.sign.trim().to_string()),
            require_mfa: Some(yes(&self.require_mfa)),
            relay_state: Some(opt(&self.relay_state)),
            attributes: Some(attributes),
            attribute_map: Some(attribute_map),
            attribute_profile: Some(attribute_profile),
        })
    }
}

fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty())
}

#[derive(Serialize)]
struct SpPage {
    entity_id: String,
    path: String,
    source: &'static str,
    editable: bool,
    acs: Vec<AcsRow>,
    name_id_format: String,
    name_id_source: String,
    slo_url: String,
    slo_binding: String,
    basic: Vec<(String, String)>,
    rules: Vec<RuleRow>,
    profile: Option<String>,
    profile_rules: Vec<RuleRow>,
    require_signed_requests: bool,
    sign: String,
    certificate: Option<CertRow>,
    has_certificate: bool,
    require_mfa: bool,
    relay_state: String,
    application: String,
    metadata_link: String,
    apps: Vec<String>,
    form: EditForm,
    can_configure: bool,
    flash: Option<&'static str>,
    error: Option<String>,
    error_field: Option<String>,
}

async fn sp_page<N: Need>(
    portal: &Portal,
    me: &Admin<N>,
    entity_id: &str,
    status: StatusCode,
    flash: Option<&'static str>,
    typed: Option<(EditForm, AdminError)>,
) -> PortalResult {
    let idp = &portal.idp;
    let (sp, source) = match admin::saml::show(idp, entity_id).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(e)),
    };
    let apps = match admin::apps::list(idp).await {
        Ok(a) => a.into_iter().map(|a| a.name).collect(),
        Err(e) => return Ok(failed(e)),
    };
    let (form, error) = match typed {
        Some((f, e)) => (f, Some(e)),
        None => (EditForm::of(&sp), None),
    };
    let error_field = error.as_ref().and_then(field_of);
    let certificate = cert_row(&sp);
    render(
        portal,
        me,
        status,
        "admin_saml_sp.html",
        "saml",
        sp.entity_id.clone(),
        SpPage {
            path: sp_path(&sp.entity_id),
            source,
            editable: source == "store",
            acs: acs_rows(&sp),
            name_id_format: sp.name_id_format_urn().to_string(),
            name_id_source: sp.name_id_source.clone(),
            slo_url: sp.slo_url.clone().unwrap_or_default(),
            slo_binding: sp.slo_binding_urn().to_string(),
            basic: sp
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            rules: rule_rows(&sp.attribute_map),
            profile: sp.attribute_profile.map(|_| "eduPerson".to_string()),
            profile_rules: sp
                .attribute_profile
                .map(|p| rule_rows(&p.rules()))
                .unwrap_or_default(),
            require_signed_requests: sp.require_signed_requests,
            sign: form_sign_words(sp.sign),
            has_certificate: sp.certificate.is_some(),
            certificate,
            require_mfa: sp.require_mfa,
            relay_state: sp.relay_state.clone().unwrap_or_default(),
            application: sp.application.clone(),
            metadata_link: metadata_link(&sp.entity_id),
            apps,
            form,
            can_configure: me.role.allows(Permission::Configure),
            flash,
            error: error.map(|e| e.to_string()),
            error_field,
            entity_id: sp.entity_id,
        },
    )
    .await
}

fn form_sign_words(s: crate::saml::config::SignWhat) -> String {
    use crate::saml::config::SignWhat;
    match s {
        SignWhat::Response => "the Response".into(),
        SignWhat::Assertion => "the Assertion".into(),
        SignWhat::Both => "the Response and the Assertion".into(),
    }
}

pub async fn show(
    State(portal): State<Portal>,
    me: Admin<Read>,
    Path(entity_id): Path<String>,
    Query(q): Query<Done>,
) -> PortalResult {
    let flash = match q.done.as_deref() {
        Some("created") => Some("Service provider registered."),
        Some("saved") => Some("Service provider saved."),
        _ => None,
    };
    sp_page(&portal, &me, &entity_id, StatusCode::OK, flash, None).await
}

pub async fn update(
    State(portal): State<Portal>,
    me: Admin<Configure>,
    Path(entity_id): Path<String>,
    Form(f): Form<EditForm>,
) -> PortalResult {
    let idp = &portal.idp;
    let before = match admin::saml::show(idp, &entity_id).await {
        Ok((sp, _)) => sp,
        Err(e) => return Ok(failed(e)),
    };
    let version = Some(f.version.clone()).filter(|v| !v.is_empty());
    let res = match f.edit(&before) {
        Ok(edit) => admin::saml::update(idp, &me.actor, &entity_id, edit, version.as_deref()).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(sp) => Ok(see_other(&format!("{}?done=saved", sp_path(&sp.entity_id)))),
        Err(e @ (AdminError::Invalid { .. } | AdminError::Stale { .. })) => {
            sp_page(
                &portal,
                &me,
                &entity_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((f, e)),
            )
            .await
        }
        Err(e @ AdminError::NotFound { .. }) if field_of(&e).is_some() => {
            sp_page(
                &portal,
                &me,
                &entity_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((f, e)),
            )
            .await
        }
        Err(e) => Ok(failed(e)),
    }
}

pub async fn delete_confirm(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(entity_id): Path<String>,
) -> PortalResult {
    let sp = match admin::saml::show(&portal.idp, &entity_id).await {
        Ok((sp, _)) => sp,
        Err(e) => return Ok(failed(e)),
    };
    let path = sp_path(&sp.entity_id);
    confirm_page(
        &portal,
        &me,
        "saml",
        "Remove service provider",
        Confirm {
            heading: format!("Remove {}?", sp.entity_id),
            message: "Nobody can sign in to it from here any more, and the SAML sessions made with it end (it is sent no logout). Registering it again needs its metadata.".into(),
            action: format!("{path}/delete"),
            button: "Remove service provider",
            cancel: path,
            fields: vec![],
        },
    )
    .await
}

pub async fn delete(
    State(portal): State<Portal>,
    me: Admin<ConfigureFresh>,
    Path(entity_id): Path<String>,
    Form(_): Form<super::users::Empty>,
) -> PortalResult {
    match admin::saml::remove(&portal.idp, &me.actor, &entity_id).await {
        Ok(()) => Ok(see_other(&format!("{}?done=deleted", paths::ADMIN_SAML))),
        Err(e) => Ok(failed(e)),
    }
}

// ---- federation ------------------------------------------------------------

#[derive(Serialize)]
struct ProviderRow {
    id: String,
    name: String,
    kind: &'static str,
    domains: String,
    issuer: String,
    metadata: String,
    fetched: String,
    error: Option<String>,
    error_at: String,
    signin_failure: Option<String>,
    signin_failure_at: String,
    cert_expires: String,
    cert_expired: bool,
}

#[derive(Serialize)]
struct FederationPage {
    providers: Vec<ProviderRow>,
}

/// GET /admin/federation: each upstream provider and how it is doing on
/// this instance.
pub async fn federation(State(portal): State<Portal>, me: Admin<Read>) -> PortalResult {
    let now = crate::clock::now();
    let providers = admin::federation::list(&portal.idp)
        .into_iter()
        .map(|p| ProviderRow {
            kind: match p.kind {
                "oidc" => "OpenID Connect",
                _ => "SAML",
            },
            domains: p.domains.join(", "),
            issuer: p.issuer.unwrap_or_default(),
            metadata: p.metadata,
            fetched: p.fetched_at.map(when).unwrap_or_else(|| "not yet".into()),
            error_at: p.error_at.map(when).unwrap_or_default(),
            error: p.error,
            signin_failure_at: p.signin_failure_at.map(when).unwrap_or_default(),
            signin_failure: p.signin_failure,
            cert_expires: p.cert_not_after.map(when).unwrap_or_default(),
            cert_expired: p.cert_not_after.is_some_and(|t| t < now),
            id: p.id,
            name: p.name,
        })
        .collect();
    render(
        &portal,
        &me,
        StatusCode::OK,
        "admin_federation.html",
        "federation",
        "Federation providers",
        FederationPage { providers },
    )
    .await
}
