//! `/saml/sps`: SAML service providers, and `/federation`: the upstream
//! identity providers and their status. The same core as the console's
//! `web/admin/saml.rs`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    Admin, ApiResult, Json, MAX_BODY, Paging, Path, Problem, Query, if_match, json, json_tagged,
};
use crate::admin::federation::ProviderView;
use crate::admin::saml::{MetadataOptions, Release, SpEdit};
use crate::admin::{self, AdminError, Page};
use crate::roles::Permission;
use crate::saml::ServiceProviderConfig;
use crate::saml::attributes::{AttributeRule, Profile};
use crate::saml::config::{AcsConfig, BINDING_POST};
use crate::web::Portal;

pub fn routes() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list_sps, create_sp))
        .routes(routes!(get_sp, patch_sp, put_sp, delete_sp))
        .routes(routes!(federation))
}

/// One assertion consumer service (HTTP-POST).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acs {
    pub url: String,
    pub index: Option<u32>,
    /// The ACS used when a request names none (else the first).
    #[serde(default)]
    pub default: bool,
}

impl Acs {
    fn config(self) -> AcsConfig {
        AcsConfig {
            url: self.url,
            binding: BINDING_POST.into(),
            index: self.index,
            default: self.default,
        }
    }
}

/// One released attribute with its own NameFormat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// The SAML Name, e.g. `urn:oid:0.9.2342.19200300.100.1.3`.
    pub name: String,
    /// email, first_name, last_name, display_name, username, id, groups or
    /// profile.<field>.
    pub source: String,
    /// basic, uri, unspecified or a full URN; by default uri for a urn: name.
    pub name_format: Option<String>,
    pub friendly_name: Option<String>,
}

impl Attribute {
    fn of(r: &AttributeRule) -> Self {
        Self {
            name: r.name.clone(),
            source: r.source.clone(),
            name_format: r.name_format.clone(),
            friendly_name: r.friendly_name.clone(),
        }
    }
    fn rule(self) -> AttributeRule {
        AttributeRule {
            name: self.name,
            source: self.source,
            name_format: self.name_format,
            friendly_name: self.friendly_name,
        }
    }
}

/// The SP's certificate as read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Certificate {
    pub pem: String,
    /// Absent when the certificate cannot be read.
    pub subject: Option<String>,
    /// NotAfter, unix seconds.
    pub not_after: Option<i64>,
}

/// A SAML service provider as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpView {
    pub entity_id: String,
    pub acs: Vec<Acs>,
    pub application: String,
    pub slo_url: Option<String>,
    pub slo_binding: String,
    /// The NameID format URN.
    pub name_id_format: String,
    pub name_id_source: String,
    pub require_signed_requests: bool,
    /// response, assertion or both.
    pub sign: String,
    pub certificate: Option<Certificate>,
    pub require_mfa: bool,
    pub relay_state: Option<String>,
    /// Released in the basic NameFormat: name to source.
    pub attributes: BTreeMap<String, String>,
    pub attribute_map: Vec<Attribute>,
    /// `eduperson`, when the standard OIDs are released too.
    pub attribute_profile: Option<String>,
    /// The IdP metadata as this SP is told it.
    pub metadata_url: String,
    /// `config` (read-only here) or `store`.
    pub source: String,
}

fn sign_word(s: crate::saml::config::SignWhat) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl SpView {
    fn of(s: ServiceProviderConfig, source: &str) -> Self {
        let facts = admin::saml::certificate_facts(&s);
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sp", &s.entity_id)
            .finish();
        Self {
            acs: s
                .acs
                .iter()
                .map(|a| Acs {
                    url: a.url.clone(),
                    index: a.index,
                    default: a.default,
                })
                .collect(),
            name_id_format: s.name_id_format_urn().to_string(),
            slo_binding: s.slo_binding_urn().to_string(),
            sign: sign_word(s.sign),
            certificate: s.certificate.clone().map(|pem| Certificate {
                pem,
                subject: facts.as_ref().map(|f| f.subject.clone()),
                not_after: facts.as_ref().map(|f| f.not_after),
            }),
            attribute_map: s.attribute_map.iter().map(Attribute::of).collect(),
            attribute_profile: s.attribute_profile.map(|_| "eduperson".into()),
            metadata_url: format!("{}?{q}", crate::paths::SAML_METADATA),
            entity_id: s.entity_id,
            application: s.application,
            slo_url: s.slo_url,
            name_id_source: s.name_id_source,
            require_signed_requests: s.require_signed_requests,
            require_mfa: s.require_mfa,
            relay_state: s.relay_state,
            attributes: s.attributes,
            source: source.to_string(),
        }
    }
}

fn tagged(status: StatusCode, sp: ServiceProviderConfig, source: &str) -> axum::response::Response {
    let tag = admin::etag(&sp);
    json_tagged(status, &SpView::of(sp, source), &tag)
}

/// A new SP as JSON: from its metadata XML (`metadata`), or described by
/// hand (`entity_id` and `acs`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSp {
    /// The SP's metadata document; when given, `entity_id`, `acs`, `slo_url`,
    /// `certificate` and `name_id_format` come from it.
    pub metadata: Option<String>,
    pub entity_id: Option<String>,
    /// ACS URLs, indexed in order.
    #[serde(default)]
    pub acs: Vec<String>,
    /// The portal application whose assignments decide who may sign in.
    pub application: String,
    pub slo_url: Option<String>,
    /// HTTP-Redirect (default) or HTTP-POST.
    pub slo_binding: Option<String>,
    /// PEM.
    pub certificate: Option<String>,
    #[serde(default)]
    pub require_signed_requests: bool,
    /// emailAddress (default), persistent, transient or unspecified.
    pub name_id_format: Option<String>,
    /// response, assertion or both (default).
    pub sign: Option<String>,
    #[serde(default)]
    pub require_mfa: bool,
    pub relay_state: Option<String>,
    #[serde(default)]
    pub attribute_map: Vec<Attribute>,
    /// `eduperson`
    pub attribute_profile: Option<String>,
}

/// What an XML body (`POST /saml/sps` with the metadata itself) is
/// registered with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct XmlOptions {
    /// Needed with an XML body: the portal application of the SP.
    pub application: Option<String>,
    /// response, assertion or both (default).
    pub sign: Option<String>,
    #[serde(default)]
    pub require_mfa: bool,
}

/// The body of `POST /saml/sps`: the metadata document itself (an XML
/// content type), or [`CreateSp`] as JSON.
pub enum SpBody {
    Xml(String),
    Json(Box<CreateSp>),
}

fn is_xml(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/xml" || v == "text/xml" || v == "application/samlmetadata+xml"
        })
}

impl<S: Send + Sync> FromRequest<S> for SpBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_xml(req.headers()) {
            return Json::<CreateSp>::from_request(req, state)
                .await
                .map(|Json(b)| Self::Json(Box::new(b)));
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(BytesRejection::FailedToBufferBody(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    format!("the body may have at most {MAX_BODY} bytes"),
                ));
            }
            Err(e) => return Err(Problem::bad_request(e.body_text())),
        };
        String::from_utf8(bytes.to_vec())
            .map(Self::Xml)
            .map_err(|_| Problem::invalid(Some("metadata".into()), "the metadata is not UTF-8"))
    }
}

fn profile(p: Option<String>) -> Result<Option<Profile>, AdminError> {
    match p.as_deref().map(str::trim) {
        None | Some("") | Some("none") => Ok(None),
        Some(v) => Profile::parse(v)
            .map(Some)
            .ok_or_else(|| AdminError::invalid("attribute_profile", "none or eduperson")),
    }
}

/// Every SAML SP (from the configuration file and the store).
#[utoipa::path(get, path = "/saml/sps", tag = "saml", params(Paging),
    responses((status = 200, body = Page<SpView>), (status = 401, body = Problem)))]
pub async fn list_sps(admin: Admin, State(p): State<Portal>, Query(q): Query<Paging>) -> ApiResult {
    admin.require(Permission::Read)?;
    let all: Vec<SpView> = admin::saml::list(&p.idp)
        .await?
        .into_iter()
        .map(|(s, src)| SpView::of(s, src))
        .collect();
    Ok(json(StatusCode::OK, &Page::slice(all, q.offset, q.limit)))
}

/// Register an SP: send its metadata document itself (an XML content type,
/// with `application` in the query), or JSON.
#[utoipa::path(post, path = "/saml/sps", tag = "saml", params(XmlOptions),
    request_body(content(
        (CreateSp = "application/json"),
        (String = "application/samlmetadata+xml")
    )),
    responses((status = 201, body = SpView), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn create_sp(
    admin: Admin,
    State(p): State<Portal>,
    Query(q): Query<XmlOptions>,
    body: SpBody,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let b = match body {
        SpBody::Json(b) => *b,
        SpBody::Xml(xml) => CreateSp {
            metadata: Some(xml),
            entity_id: None,
            acs: Vec::new(),
            application: q.application.ok_or_else(|| {
                AdminError::invalid(
                    "application",
                    "name the SP's portal application (?application=) with an XML body",
                )
            })?,
            slo_url: None,
            slo_binding: None,
            certificate: None,
            require_signed_requests: false,
            name_id_format: None,
            sign: q.sign,
            require_mfa: q.require_mfa,
            relay_state: None,
            attribute_map: Vec::new(),
            attribute_profile: None,
        },
    };
    let sign = b.sign.unwrap_or_else(|| "both".into());
    let release = Release {
        attribute_map: b.attribute_map.into_iter().map(Attribute::rule).collect(),
        attribute_profile: profile(b.attribute_profile)?,
    };
    let sp = match b.metadata {
        Some(xml) => {
            admin::saml::import_metadata(
                &p.idp,
                admin.actor(),
                &xml,
                MetadataOptions {
                    application: b.application,
                    sign,
                    require_mfa: b.require_mfa,
                    relay_state: b.relay_state,
                    release,
                },
            )
            .await?
        }
        None => {
            let entity_id = b.entity_id.ok_or_else(|| {
                AdminError::invalid("entity_id", "entity_id is needed without metadata")
            })?;
            admin::saml::add(
                &p.idp,
                admin.actor(),
                admin::saml::NewSp {
                    entity_id,
                    acs: b.acs,
                    application: b.application,
                    slo_url: b.slo_url,
                    slo_binding: b.slo_binding.unwrap_or_else(|| "HTTP-Redirect".into()),
                    certificate: b.certificate,
                    require_signed_requests: b.require_signed_requests,
                    name_id_format: b.name_id_format.unwrap_or_else(|| "emailAddress".into()),
                    sign,
                    require_mfa: b.require_mfa,
                    relay_state: b.relay_state,
                    release,
                },
            )
            .await?
        }
    };
    Ok(tagged(StatusCode::CREATED, sp, "store"))
}

#[utoipa::path(get, path = "/saml/sps/{entity_id}", tag = "saml",
    params(("entity_id" = String, Path, description = "percent-encoded")),
    responses((status = 200, body = SpView), (status = 404, body = Problem)))]
pub async fn get_sp(admin: Admin, State(p): State<Portal>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::Read)?;
    let (sp, source) = admin::saml::show(&p.idp, &id).await?;
    Ok(tagged(StatusCode::OK, sp, source))
}

/// Fields of a stored SP to change; those left out keep their value. An
/// empty string removes `slo_url`, `certificate`, `relay_state` and
/// `attribute_profile`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpPatch {
    pub acs: Option<Vec<Acs>>,
    pub application: Option<String>,
    pub slo_url: Option<String>,
    /// HTTP-Redirect or HTTP-POST.
    pub slo_binding: Option<String>,
    /// PEM.
    pub certificate: Option<String>,
    pub require_signed_requests: Option<bool>,
    /// emailAddress, persistent, transient or unspecified (or the URN).
    pub name_id_format: Option<String>,
    pub name_id_source: Option<String>,
    /// response, assertion or both.
    pub sign: Option<String>,
    pub require_mfa: Option<bool>,
    pub relay_state: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub attribute_map: Option<Vec<Attribute>>,
    /// `eduperson`, or empty for none.
    pub attribute_profile: Option<String>,
}

impl SpPatch {
    fn edit(self) -> Result<SpEdit, AdminError> {
        let some = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        Ok(SpEdit {
            acs: self.acs.map(|v| v.into_iter().map(Acs::config).collect()),
            application: self.application,
            slo_url: self.slo_url.map(some),
            slo_binding: self.slo_binding,
            certificate: self.certificate.map(some),
            require_signed_requests: self.require_signed_requests,
            name_id_format: self.name_id_format,
            name_id_source: self.name_id_source,
            sign: self.sign,
            require_mfa: self.require_mfa,
            relay_state: self.relay_state.map(some),
            attributes: self.attributes,
            attribute_map: self
                .attribute_map
                .map(|v| v.into_iter().map(Attribute::rule).collect()),
            attribute_profile: match self.attribute_profile {
                Some(p) => Some(profile(Some(p))?),
                None => None,
            },
        })
    }
}

/// Change some fields of a stored SP.
#[utoipa::path(patch, path = "/saml/sps/{entity_id}", tag = "saml", request_body = SpPatch,
    params(("entity_id" = String, Path, description = "percent-encoded"), ("If-Match" = Option<String>, Header, description = "the ETag read")),
    responses((status = 200, body = SpView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_sp(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SpPatch>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let sp = admin::saml::update(
        &p.idp,
        admin.actor(),
        &id,
        body.edit()?,
        if_match(&headers).as_deref(),
    )
    .await?;
    Ok(tagged(StatusCode::OK, sp, "store"))
}

/// A stored SP's whole definition (its entity ID is the path's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpPut {
    pub acs: Vec<Acs>,
    pub application: String,
    pub slo_url: Option<String>,
    pub slo_binding: Option<String>,
    pub certificate: Option<String>,
    pub require_signed_requests: Option<bool>,
    pub name_id_format: Option<String>,
    pub name_id_source: Option<String>,
    pub sign: Option<String>,
    pub require_mfa: Option<bool>,
    pub relay_state: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub attribute_map: Option<Vec<Attribute>>,
    pub attribute_profile: Option<String>,
}

/// Replace a stored SP's definition; fields left out get a new SP's
/// defaults.
#[utoipa::path(put, path = "/saml/sps/{entity_id}", tag = "saml", request_body = SpPut,
    params(("entity_id" = String, Path, description = "percent-encoded"), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = SpView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_sp(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<SpPut>,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    let mut edit = SpEdit::replacing(&id, b.acs.into_iter().map(Acs::config).collect())?;
    let given = SpPatch {
        acs: None,
        application: Some(b.application),
        slo_url: b.slo_url,
        slo_binding: b.slo_binding,
        certificate: b.certificate,
        require_signed_requests: b.require_signed_requests,
        name_id_format: b.name_id_format,
        name_id_source: b.name_id_source,
        sign: b.sign,
        require_mfa: b.require_mfa,
        relay_state: b.relay_state,
        attributes: b.attributes,
        attribute_map: b.attribute_map,
        attribute_profile: b.attribute_profile,
    }
    .edit()?;
    macro_rules! over {
        ($($f:ident),*) => { $( if given.$f.is_some() { edit.$f = given.$f; } )* };
    }
    over!(
        application,
        slo_url,
        slo_binding,
        certificate,
        require_signed_requests,
        name_id_format,
        name_id_source,
        sign,
        require_mfa,
        relay_state,
        attributes,
        attribute_map,
        attribute_profile
    );
    let sp = admin::saml::update(
        &p.idp,
        admin.actor(),
        &id,
        edit,
        if_match(&headers).as_deref(),
    )
    .await?;
    Ok(tagged(StatusCode::OK, sp, "store"))
}

/// Remove a stored SP and end the SAML sessions made with it.
#[utoipa::path(delete, path = "/saml/sps/{entity_id}", tag = "saml",
    params(("entity_id" = String, Path, description = "percent-encoded"), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_sp(
    admin: Admin,
    State(p): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    admin.require(Permission::Configure)?;
    admin::saml::require_version(&p.idp, &id, if_match(&headers).as_deref()).await?;
    admin::saml::remove(&p.idp, admin.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Every upstream identity provider of `[federation]` and how it is doing
/// on the instance that answers: last metadata read, last error, last
/// refused sign-in, certificate expiry.
#[utoipa::path(get, path = "/federation", tag = "federation",
    responses((status = 200, body = Vec<ProviderView>), (status = 401, body = Problem)))]
pub async fn federation(admin: Admin, State(p): State<Portal>) -> ApiResult {
    admin.require(Permission::Read)?;
    Ok(json(StatusCode::OK, &admin::federation::list(&p.idp)))
}
