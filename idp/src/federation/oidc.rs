//! The OpenID Connect relying party: authorization code flow with PKCE
//! (S256), `state` and `nonce`, and ID token validation (signature, issuer,
//! audience, expiry, nonce) by the `openidconnect` crate.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use super::config::{Common, OidcProviderConfig};
use super::{FederationError, Identity};
use crate::{clock, crypto};

/// Discovery documents and keys are read again after this long, so a key
/// rotation upstream is picked up without a restart.
const METADATA_TTL: i64 = 10 * 60;

type Http = openidconnect::reqwest::Client;

/// What the browser carries (sealed) between the redirect and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcPending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

#[derive(Debug, Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    end_session_endpoint: Option<String>,
    fetched_at: i64,
}

#[derive(Debug)]
pub struct OidcProvider {
    pub common: Common,
    cfg: OidcProviderConfig,
    redirect_uri: String,
    discovered: RwLock<Option<Discovered>>,
    pub status: super::status::Tracker,
}

fn unreachable(e: impl std::fmt::Display) -> FederationError {
    FederationError::Unreachable(e.to_string())
}

impl OidcProvider {
    pub fn new(cfg: OidcProviderConfig, public_url: &url::Url) -> Self {
        let base = public_url.as_str().trim_end_matches('/');
        Self {
            common: cfg.common(),
            redirect_uri: format!("{base}/login/federation/{}/callback", cfg.id),
            cfg,
            discovered: RwLock::new(None),
            status: Default::default(),
        }
    }

    /// RFC 9207: the `iss` of an authorization response names this provider.
    pub fn issuer_matches(&self, iss: &str) -> bool {
        iss.trim_end_matches('/') == self.cfg.issuer.trim_end_matches('/')
    }

    /// Our redirect URI at this provider (register it there).
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The issuer as configured.
    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    /// Reads the discovery document and the JWKS now, and notes the outcome
    /// in [`Self::status`].
    pub async fn refresh(&self, http: &Http) -> Result<(), FederationError> {
        let res = self.fetch(http).await;
        match &res {
            Ok(()) => self.status.fetched(clock::now()),
            Err(e) => self.status.fetch_failed(clock::now(), e.to_string()),
        }
        res
    }

    async fn fetch(&self, http: &Http) -> Result<(), FederationError> {
        let issuer = IssuerUrl::new(self.cfg.issuer.clone())
            .map_err(|e| FederationError::Invalid(format!("issuer: {e}")))?;
        // The crate checks that the document names the same issuer.
        let metadata = CoreProviderMetadata::discover_async(issuer, http)
            .await
            .map_err(unreachable)?;
        // RP-initiated logout is not in the core metadata type.
        let end_session_endpoint = if self.common.logout_upstream {
            let url = format!(
                "{}/.well-known/openid-configuration",
                self.cfg.issuer.trim_end_matches('/')
            );
            let body = http
                .get(url)
                .send()
                .await
                .map_err(unreachable)?
                .bytes()
                .await
                .map_err(unreachable)?;
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| FederationError::Invalid(format!("discovery: {e}")))?;
            doc.get("end_session_endpoint")
                .and_then(Value::as_str)
                .filter(|u| super::config::valid_upstream_url(u))
                .map(str::to_owned)
        } else {
            None
        };
        *self.discovered.write().await = Some(Discovered {
            metadata,
            end_session_endpoint,
            fetched_at: clock::now(),
        });
        Ok(())
    }

    async fn discovered(&self, http: &Http) -> Result<Discovered, FederationError> {
        if let Some(d) = self.discovered.read().await.as_ref()
            && clock::now() - d.fetched_at < METADATA_TTL
        {
            return Ok(d.clone());
        }
        self.refresh(http).await?;
        self.discovered
            .read()
            .await
            .clone()
            .ok_or_else(|| FederationError::Unreachable("no metadata".into()))
    }

    fn client_id(&self) -> ClientId {
        ClientId::new(self.cfg.client_id.clone())
    }

    fn client_secret(&self) -> Option<ClientSecret> {
        self.cfg.client_secret.clone().map(ClientSecret::new)
    }

    fn redirect(&self) -> Result<RedirectUrl, FederationError> {
        RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| FederationError::Invalid(format!("redirect URI: {e}")))
    }

    /// The provider's authorization URL and what the callback must match.
    pub async fn start(
        &self,
        http: &Http,
        login_hint: Option<&str>,
    ) -> Result<(url::Url, OidcPending), FederationError> {
        let d = self.discovered(http).await?;
        let client =
            CoreClient::from_provider_metadata(d.metadata, self.client_id(), self.client_secret())
                .set_redirect_uri(self.redirect()?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in self.cfg.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        if let Some(hint) = login_hint {
            req = req.add_extra_param("login_hint", hint.to_string());
        }
        let (url, state, nonce) = req.url();
        Ok((
            url,
            OidcPending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Redeems the code and validates the ID token; the claims are then
    /// mapped to an [`Identity`].
    pub async fn finish(
        &self,
        http: &Http,
        pending: OidcPending,
        code: &str,
    ) -> Result<Identity, FederationError> {
        let d = self.discovered(http).await?;
        let client = CoreClient::from_provider_metadata(
            d.metadata.clone(),
            self.client_id(),
            self.client_secret(),
        )
        .set_redirect_uri(self.redirect()?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| FederationError::Invalid(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => FederationError::ProviderError {
                    code: r.error().to_string(),
                },
                RequestTokenError::Request(e) => unreachable(e),
                other => FederationError::Invalid(format!("token response: {other}")),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| FederationError::Invalid("no ID token in the token response".into()))?;
        let verifier = client.id_token_verifier().set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EcdsaP384Sha384,
            CoreJwsSigningAlgorithm::EdDsa,
        ]);
        let verified = id_token
            .claims(&verifier, &Nonce::new(pending.nonce))
            .map_err(|e| FederationError::Invalid(format!("ID token: {e}")))?;
        let subject = verified.subject().to_string();
        // The token is verified: its payload can now be read as plain JSON
        // for the configurable claims the typed struct does not carry.
        let mut claims = jwt_payload(&id_token.to_string())
            .ok_or_else(|| FederationError::Invalid("ID token payload".into()))?;
        if self.cfg.userinfo
            && let Some(endpoint) = d.metadata.userinfo_endpoint()
        {
            let info = http
                .get(endpoint.url().as_str())
                .bearer_auth(tokens.access_token().secret())
                .send()
                .await
                .map_err(unreachable)?
                .error_for_status()
                .map_err(|e| FederationError::Invalid(format!("userinfo: {e}")))?
                .bytes()
                .await
                .map_err(unreachable)?;
            let info: Value = serde_json::from_slice(&info)
                .map_err(|e| FederationError::Invalid(format!("userinfo: {e}")))?;
            // OIDC Core 5.3.2: a UserInfo answer about someone else is refused.
            if info.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
                return Err(FederationError::Invalid(
                    "userinfo is about another subject".into(),
                ));
            }
            if let Value::Object(extra) = info {
                for (k, v) in extra {
                    claims.entry(k).or_insert(v);
                }
            }
        }
        let logout_hint = (self.common.logout_upstream && d.end_session_endpoint.is_some())
            .then(|| id_token.to_string());
        Ok(self.identity(subject, &claims, logout_hint))
    }

    /// Maps verified claims to an identity, applying the MFA rule.
    pub fn identity(
        &self,
        subject: String,
        claims: &Map<String, Value>,
        logout_hint: Option<String>,
    ) -> Identity {
        let c = &self.cfg.claims;
        let amr = string_list(claims.get("amr"));
        let acr = claims.get("acr").and_then(Value::as_str).unwrap_or("");
        let upstream_mfa = self.common.accept_upstream_mfa
            && (amr.iter().any(|a| self.cfg.mfa_amr.contains(a))
                || (!acr.is_empty() && self.cfg.mfa_acr.iter().any(|m| m == acr)));
        let verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Identity {
            provider: self.common.id.clone(),
            subject,
            email: text(claims, &c.email),
            email_verified: verified || !self.cfg.require_email_verified,
            first_name: text(claims, &c.first_name).unwrap_or_default(),
            last_name: text(claims, &c.last_name).unwrap_or_default(),
            groups: string_list(claims.get(&c.groups)),
            upstream_mfa,
            logout_hint,
        }
    }

    /// Where the browser goes to end the upstream session, when the
    /// provider supports RP-initiated logout and the config asks for it.
    pub async fn logout_url(&self, http: &Http, id_token: &str, back_to: &str) -> Option<String> {
        let d = self.discovered(http).await.ok()?;
        let mut url = url::Url::parse(d.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("post_logout_redirect_uri", back_to);
        Some(url.to_string())
    }
}

fn jwt_payload(jwt: &str) -> Option<Map<String, Value>> {
    let body = jwt.split('.').nth(1)?;
    match serde_json::from_slice(&crypto::b64url_decode(body)?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(|s| s.trim().chars().take(200).collect::<String>())
        .filter(|s| !s.is_empty())
}

/// A claim that may be one string or an array of strings.
fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .take(200)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(extra: &str) -> OidcProvider {
        let cfg: OidcProviderConfig = toml::from_str(&format!(
            "id = \"p\"\nname = \"P\"\ndomains = [\"p.example\"]\nissuer = \"https://p.example\"\nclient_id = \"c\"\n{extra}"
        ))
        .unwrap();
        OidcProvider::new(cfg, &url::Url::parse("https://portal.localhost").unwrap())
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn redirect_uri_is_under_the_portal() {
        assert_eq!(
            provider("").redirect_uri(),
            "https://portal.localhost/login/federation/p/callback"
        );
    }

    #[test]
    fn upstream_mfa_counts_only_when_configured() {
        let c = claims(serde_json::json!({"amr": ["pwd", "mfa"], "email": "a@p.example"}));
        assert!(!provider("").identity("s".into(), &c, None).upstream_mfa);
        let accepting = provider("accept_upstream_mfa = true");
        assert!(accepting.identity("s".into(), &c, None).upstream_mfa);
        let pwd_only = claims(serde_json::json!({"amr": ["pwd"]}));
        assert!(!accepting.identity("s".into(), &pwd_only, None).upstream_mfa);
        let by_acr = provider("accept_upstream_mfa = true\nmfa_acr = [\"urn:mfa\"]");
        let c = claims(serde_json::json!({"acr": "urn:mfa"}));
        assert!(by_acr.identity("s".into(), &c, None).upstream_mfa);
    }

    #[test]
    fn claims_map_and_email_verification() {
        let p = provider("");
        let c = claims(serde_json::json!({
            "email": "Ann@P.example", "email_verified": true,
            "given_name": "Ann", "family_name": "Lee", "groups": ["eng", 5, "ops"]
        }));
        let id = p.identity("sub-1".into(), &c, None);
        assert_eq!(id.email.as_deref(), Some("Ann@P.example"));
        assert!(id.email_verified);
        assert_eq!(id.groups, ["eng", "ops"]);
        let unverified = claims(serde_json::json!({"email": "a@p.example"}));
        assert!(!p.identity("s".into(), &unverified, None).email_verified);
        let lax = provider("require_email_verified = false");
        assert!(lax.identity("s".into(), &unverified, None).email_verified);
    }

    #[test]
    fn jwt_payload_reads_only_objects() {
        let body = crypto::b64url(br#"{"sub":"x"}"#);
        assert_eq!(
            jwt_payload(&format!("h.{body}.s")).unwrap()["sub"],
            Value::from("x")
        );
        assert!(jwt_payload("garbage").is_none());
        assert!(jwt_payload(&format!("h.{}.s", crypto::b64url(b"[1]"))).is_none());
    }
}
