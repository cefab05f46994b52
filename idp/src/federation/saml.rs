//! The SAML service provider: AuthnRequests over HTTP-Redirect, responses
//! over HTTP-POST validated by `samael` (signature of the Response or the
//! Assertion against the IdP's metadata certificates, issuer, audience,
//! recipient, times, InResponseTo), plus what samael leaves to us: a
//! required audience restriction, persistent subjects, single-use request
//! IDs and a replay cache of assertion IDs.

use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING, NameIdFormat};
use samael::schema::{Assertion, Response};
use samael::service_provider::ServiceProvider;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use tokio::sync::RwLock;

use super::config::{Common, SamlProviderConfig};
use super::{FederationError, Identity};
use crate::directory::valid_email;
use crate::saml::decode::{self, Limits};
use crate::saml::dsig::{self, Placement};
use crate::saml::signature;
use crate::saml::wire::NS_PROTOCOL;
use crate::store::{RequestState, RequestUse, Store};
use crate::{clock, crypto};

type Http = openidconnect::reqwest::Client;

/// Larger posts are not SAML responses we asked for.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
/// How long an accepted assertion ID is remembered when the assertion
/// itself names no expiry.
const REPLAY_WINDOW: i64 = 24 * 3600;

/// What single logout needs from the sign-in (sealed in the store with the
/// portal session).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionFacts {
    name_id: String,
    format: Option<String>,
    session_index: Option<String>,
}

use crate::escape::markup as xml_escape;

/// What the browser carries (sealed) from the AuthnRequest to its return.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlPending {
    pub request_id: String,
}

#[derive(Debug)]
pub struct SamlProvider {
    pub common: Common,
    cfg: SamlProviderConfig,
    pub sp_entity_id: String,
    pub acs_url: String,
    metadata: RwLock<Option<EntityDescriptor>>,
    pub status: super::status::Tracker,
}

/// Parses IdP metadata and refuses what would make validation unsafe: no
/// entity ID, no signing certificate (samael would then skip the signature
/// check entirely), no HTTP-Redirect SSO endpoint.
pub fn parse_metadata(xml: &str) -> Result<EntityDescriptor, String> {
    // The one screen of SAML input: no DTD, entity or processing instruction.
    decode::screen(xml).map_err(|e| format!("metadata refused: {e}"))?;
    let md: EntityDescriptor = xml
        .parse()
        .map_err(|e| format!("metadata is not a SAML EntityDescriptor: {e}"))?;
    if md.entity_id.as_deref().is_none_or(str::is_empty) {
        return Err("metadata has no entityID".into());
    }
    let sp = ServiceProvider {
        idp_metadata: md.clone(),
        ..ServiceProvider::default()
    };
    match sp.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => {}
        Ok(_) => return Err("metadata has no signing certificate".into()),
        Err(e) => return Err(format!("metadata certificate: {e}")),
    }
    if sp.sso_binding_location(HTTP_REDIRECT_BINDING).is_none() {
        return Err("metadata has no HTTP-Redirect SingleSignOnService".into());
    }
    Ok(md)
}

impl SamlProvider {
    pub fn new(cfg: SamlProviderConfig, public_url: &url::Url) -> Result<Self, String> {
        let base = public_url.as_str().trim_end_matches('/');
        let metadata = match &cfg.metadata_file {
            Some(path) => {
                let xml = std::fs::read_to_string(path)
                    .map_err(|e| format!("metadata_file: {}: {e}", path.display()))?;
                Some(parse_metadata(&xml).map_err(|e| format!("metadata_file: {e}"))?)
            }
            None => None,
        };
        let status = super::status::Tracker::default();
        if let Some(md) = &metadata {
            let (entity_id, expiry) = super::status::metadata_facts(md);
            status.fetched_metadata(clock::now(), entity_id, expiry);
        }
        Ok(Self {
            common: cfg.common(),
            sp_entity_id: cfg
                .sp_entity_id
                .clone()
                .unwrap_or_else(|| format!("{base}/login/federation/{}/metadata", cfg.id)),
            acs_url: format!("{base}/login/federation/{}/acs", cfg.id),
            cfg,
            metadata: RwLock::new(metadata),
            status,
        })
    }

    /// Where the metadata comes from: its URL, or its file.
    pub fn metadata_source(&self) -> String {
        match (&self.cfg.metadata_url, &self.cfg.metadata_file) {
            (Some(u), _) => u.clone(),
            (None, Some(f)) => f.display().to_string(),
            (None, None) => String::new(),
        }
    }

    /// Fetches the metadata URL again (a file is read once, at start-up).
    /// A failed fetch keeps the metadata already loaded. The outcome is
    /// noted in [`Self::status`].
    pub async fn refresh(&self, http: &Http) -> Result<(), FederationError> {
        let Some(url) = &self.cfg.metadata_url else {
            return Ok(());
        };
        let res = self.fetch(http, url).await;
        if let Err(e) = &res {
            self.status.fetch_failed(clock::now(), e.to_string());
        }
        res
    }

    async fn fetch(&self, http: &Http, url: &str) -> Result<(), FederationError> {
        let res = http
            .get(url)
            .send()
            .await
            .map_err(|e| FederationError::Unreachable(e.to_string()))?
            .error_for_status()
            .map_err(|e| FederationError::Unreachable(e.to_string()))?;
        let xml = res
            .text()
            .await
            .map_err(|e| FederationError::Unreachable(e.to_string()))?;
        let md = parse_metadata(&xml).map_err(FederationError::Invalid)?;
        let (entity_id, expiry) = super::status::metadata_facts(&md);
        *self.metadata.write().await = Some(md);
        self.status
            .fetched_metadata(clock::now(), entity_id, expiry);
        Ok(())
    }

    async fn idp_metadata(&self, http: &Http) -> Result<EntityDescriptor, FederationError> {
        if let Some(md) = self.metadata.read().await.as_ref() {
            return Ok(md.clone());
        }
        self.refresh(http).await?;
        self.metadata
            .read()
            .await
            .clone()
            .ok_or_else(|| FederationError::Unreachable("no metadata".into()))
    }

    fn service_provider(&self, md: EntityDescriptor) -> ServiceProvider {
        ServiceProvider {
            entity_id: Some(self.sp_entity_id.clone()),
            metadata_url: Some(self.sp_entity_id.clone()),
            acs_url: Some(self.acs_url.clone()),
            slo_url: Some(self.acs_url.replace("/acs", "/slo")),
            idp_metadata: md,
            authn_name_id_format: Some(NameIdFormat::PersistentNameIDFormat.value().into()),
            allow_idp_initiated: false,
            allowed_signature_algorithms: Some(vec![
                samael::crypto::AllowedSignatureAlgorithm::RsaSha256,
                samael::crypto::AllowedSignatureAlgorithm::RsaSha384,
                samael::crypto::AllowedSignatureAlgorithm::RsaSha512,
                samael::crypto::AllowedSignatureAlgorithm::EcdsaSha256,
                samael::crypto::AllowedSignatureAlgorithm::EcdsaSha384,
                samael::crypto::AllowedSignatureAlgorithm::EcdsaSha512,
            ]),
            ..ServiceProvider::default()
        }
    }

    /// Our SP metadata, for the IdP's administrator.
    pub async fn sp_metadata(&self, http: &Http) -> Result<String, FederationError> {
        use samael::traits::ToXml;
        let md = self.idp_metadata(http).await.unwrap_or_default();
        let sp = self.service_provider(md);
        let mut ours = sp
            .metadata()
            .map_err(|e| FederationError::Invalid(e.to_string()))?;
        // samael publishes an HTTP-POST SingleLogoutService; ours is a GET
        // (the IdP's LogoutResponse over HTTP-Redirect) and a POST there
        // would meet the CSRF layer. Publish only what works.
        for d in ours.sp_sso_descriptors.iter_mut().flatten() {
            for slo in d.single_logout_services.iter_mut().flatten() {
                slo.binding = HTTP_REDIRECT_BINDING.to_string();
                slo.response_location = None;
            }
        }
        ours.to_string()
            .map_err(|e| FederationError::Invalid(e.to_string()))
    }

    /// An AuthnRequest: the redirect URL to the IdP, its ID recorded as
    /// open for `ttl` seconds.
    pub async fn start(
        &self,
        http: &Http,
        store: &Store,
        ttl: i64,
    ) -> Result<(url::Url, SamlPending), FederationError> {
        let md = self.idp_metadata(http).await?;
        let sp = self.service_provider(md);
        let sso = sp
            .sso_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or_else(|| FederationError::Invalid("no HTTP-Redirect endpoint".into()))?;
        let (url, id) = {
            // samael's own IDs are 32 random bits; ours are 256.
            let mut req = sp
                .make_authentication_request(&sso)
                .map_err(|e| FederationError::Invalid(e.to_string()))?;
            req.id = format!("_{}", hex::encode(crypto::random_bytes::<32>()));
            let url = req
                .redirect("")
                .map_err(|e| FederationError::Invalid(e.to_string()))?
                .ok_or_else(|| FederationError::Invalid("no destination".into()))?;
            (url, req.id)
        };
        let now = clock::now();
        store
            .put_federation_request(&id, &self.common.id, now, now + ttl)
            .await?;
        Ok((url, SamlPending { request_id: id }))
    }

    /// Validates a posted `SAMLResponse` and answers its request with the
    /// identity (sealed by the caller's `seal`). Returns the request ID the
    /// browser must hold to take the result.
    pub async fn accept(
        &self,
        http: &Http,
        store: &Store,
        saml_response: &str,
        seal: impl FnOnce(&Identity) -> String,
    ) -> Result<(String, Identity), FederationError> {
        let invalid = |m: &str| FederationError::Invalid(m.to_string());
        if saml_response.len() > MAX_RESPONSE_BYTES {
            return Err(invalid("SAMLResponse too large"));
        }
        use base64::Engine as _;
        // The POST binding allows line breaks inside the base64 text.
        let compact: String = saml_response
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| invalid("SAMLResponse is not base64"))?;
        let xml = String::from_utf8(raw).map_err(|_| invalid("SAMLResponse is not UTF-8"))?;
        let _root = screen_response(&xml).map_err(FederationError::Invalid)?;
        // Read (not trusted) only to find which request this answers and
        // to tell an IdP's error status from a forgery.
        let peek: Response = xml
            .parse()
            .map_err(|_| invalid("SAMLResponse is not a SAML Response"))?;
        if let Some(code) = peek
            .status
            .as_ref()
            .and_then(|s| s.status_code.value.as_deref())
            && code != "urn:oasis:names:tc:SAML:2.0:status:Success"
        {
            return Err(FederationError::ProviderError {
                code: code.rsplit(':').next().unwrap_or(code).to_string(),
            });
        }
        let request_id = peek
            .in_response_to
            .clone()
            .ok_or_else(|| invalid("unsolicited response (no InResponseTo)"))?;
        let now = clock::now();
        match store
            .federation_request_state(&request_id, &self.common.id, now)
            .await?
        {
            RequestState::Open => {}
            RequestState::Answered => return Err(FederationError::Replayed),
            RequestState::Expired => return Err(FederationError::FlowLost),
            RequestState::Unknown => return Err(FederationError::UnknownRequest),
        }
        let md = self.idp_metadata(http).await?;
        let sp = self.service_provider(md);
        let rid = request_id.clone();
        // xmlsec is CPU work and not async: the bounded pool, with a deadline.
        let assertion = signature::on_pool(move || {
            sp.parse_xml_response(&xml, Some(&[rid.as_str()]))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| FederationError::Invalid(format!("signature check: {e}")))?
        .map_err(FederationError::Invalid)?;
        self.check_audience(&assertion)?;
        let mut identity = self.identity(&assertion)?;
        if self.common.logout_upstream
            && self
                .service_provider(self.idp_metadata(http).await?)
                .slo_binding_location(HTTP_REDIRECT_BINDING)
                .is_some()
        {
            identity.logout_hint = session_facts(&assertion);
        }
        let expires = assertion
            .conditions
            .as_ref()
            .and_then(|c| c.not_on_or_after)
            .map(|t| t.timestamp() + 300)
            .unwrap_or(now + REPLAY_WINDOW);
        if !store
            .remember_assertion(&self.common.id, &assertion.id, expires, now)
            .await?
        {
            return Err(FederationError::Replayed);
        }
        match store
            .answer_federation_request(&request_id, &self.common.id, &seal(&identity), now)
            .await?
        {
            RequestUse::Accepted => Ok((request_id, identity)),
            RequestUse::Unknown => Err(FederationError::Replayed),
        }
    }

    /// SP-initiated single logout over HTTP-Redirect: the IdP's SLO URL
    /// with an (unsigned) LogoutRequest for the NameID and SessionIndex of
    /// the sign-in. None when the IdP publishes no such endpoint.
    pub async fn logout_url(&self, http: &Http, facts: &str) -> Option<String> {
        use base64::Engine as _;
        let facts: SessionFacts = serde_json::from_str(facts).ok()?;
        let md = self.idp_metadata(http).await.ok()?;
        let slo = self
            .service_provider(md)
            .slo_binding_location(HTTP_REDIRECT_BINDING)?;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .ok()?;
        let format = facts
            .format
            .as_deref()
            .map(|f| format!(" Format=\"{}\"", xml_escape(f)))
            .unwrap_or_default();
        let index = facts
            .session_index
            .as_deref()
            .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(i)))
            .unwrap_or_default();
        let xml = format!(
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{}\" Version=\"2.0\" \
             IssueInstant=\"{now}\" Destination=\"{}\"><saml:Issuer>{}</saml:Issuer>\
             <saml:NameID{format}>{}</saml:NameID>{index}</samlp:LogoutRequest>",
            hex::encode(crypto::random_bytes::<32>()),
            xml_escape(&slo),
            xml_escape(&self.sp_entity_id),
            xml_escape(&facts.name_id),
        );
        let mut deflated =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflated.write_all(xml.as_bytes()).ok()?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(deflated.finish().ok()?);
        let mut url = url::Url::parse(&slo).ok()?;
        url.query_pairs_mut().append_pair("SAMLRequest", &encoded);
        Some(url.to_string())
    }

    /// samael checks an audience restriction only when there is one; an
    /// assertion for anyone is not one for us.
    fn check_audience(&self, a: &Assertion) -> Result<(), FederationError> {
        let ours = a
            .conditions
            .as_ref()
            .and_then(|c| c.audience_restrictions.as_ref())
            .is_some_and(|rs| {
                rs.iter()
                    .all(|r| r.audience.iter().any(|x| x == &self.sp_entity_id))
                    && !rs.is_empty()
            });
        if ours {
            Ok(())
        } else {
            Err(FederationError::Invalid(
                "the assertion is not restricted to our entity ID".into(),
            ))
        }
    }

    fn identity(&self, a: &Assertion) -> Result<Identity, FederationError> {
        let name_id = a
            .subject
            .as_ref()
            .and_then(|s| s.name_id.as_ref())
            .ok_or_else(|| FederationError::Invalid("no NameID".into()))?;
        if name_id.format.as_deref() == Some(TRANSIENT) || name_id.value.trim().is_empty() {
            return Err(FederationError::Invalid(
                "a transient or empty NameID cannot identify an account".into(),
            ));
        }
        let attrs = &self.cfg.attributes;
        let values = |name: &str| -> Vec<String> {
            a.attribute_statements
                .iter()
                .flatten()
                .flat_map(|s| s.attributes.iter())
                .filter(|at| {
                    at.name.as_deref() == Some(name) || at.friendly_name.as_deref() == Some(name)
                })
                .flat_map(|at| at.values.iter().filter_map(|v| v.value.clone()))
                .map(|v| v.trim().chars().take(200).collect::<String>())
                .filter(|v| !v.is_empty())
                .take(200)
                .collect()
        };
        let first = |name: &str| values(name).into_iter().next().unwrap_or_default();
        let email = values(&attrs.email)
            .into_iter()
            .next()
            .or_else(|| Some(name_id.value.trim().to_string()).filter(|v| valid_email(v)));
        let contexts: Vec<String> = a
            .authn_statements
            .iter()
            .flatten()
            .filter_map(|s| s.authn_context.as_ref()?.value.as_ref()?.value.clone())
            .collect();
        let upstream_mfa = self.common.accept_upstream_mfa
            && contexts
                .iter()
                .any(|c| self.cfg.mfa_authn_contexts.iter().any(|m| m == c.trim()));
        Ok(Identity {
            provider: self.common.id.clone(),
            subject: name_id.value.trim().to_string(),
            email,
            // The IdP is trusted for the domains it owns; the domain is
            // checked before any account is touched.
            email_verified: true,
            first_name: first(&attrs.first_name),
            last_name: first(&attrs.last_name),
            groups: values(&attrs.groups),
            upstream_mfa,
            logout_hint: None,
        })
    }
}

/// What every posted Response passes before samael or xmlsec see it: the
/// one screen (no DTD, entity or processing instruction), a bounded tree,
/// a `<samlp:Response>` root, and signatures only on the Response and its
/// assertions, each asking only for the enveloped-signature transform and
/// canonicalisation ([`dsig`]).
pub fn screen_response(xml: &str) -> Result<decode::Element, String> {
    let root = decode::parse_with(xml, Limits::RESPONSE)
        .map_err(|e| format!("SAMLResponse refused: {e}"))?;
    if !root.is(NS_PROTOCOL, "Response") {
        return Err("SAMLResponse is not a SAML Response".into());
    }
    dsig::check(&root, Placement::ResponseAndAssertions)
        .map_err(|e| format!("SAMLResponse signature refused: {e}"))?;
    Ok(root)
}

fn session_facts(a: &Assertion) -> Option<String> {
    let name_id = a.subject.as_ref()?.name_id.as_ref()?;
    let facts = SessionFacts {
        name_id: name_id.value.trim().to_string(),
        format: name_id.format.clone(),
        session_index: a
            .authn_statements
            .iter()
            .flatten()
            .find_map(|s| s.session_index.clone()),
    };
    serde_json::to_string(&facts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_without_signing_certificate_is_refused() {
        let xml = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;
        let e = parse_metadata(xml).unwrap_err();
        assert!(e.contains("signing certificate"), "{e}");
        assert!(parse_metadata("<nope/>").is_err());
        assert!(parse_metadata("not xml").is_err());
    }
}
