//! Relying parties: looked up in the configuration first, then among those
//! added through `admin::oidc` (`portcullis admin clients add`); and client authentication
//! (`client_secret_basic`, `client_secret_post`, `none`).

use base64::Engine;

use super::config::ClientConfig;
use super::wire::{OAuthError, Params};
use crate::crypto;
use crate::error::{Error, Result};
use crate::idp::Idp;

impl Idp {
    pub async fn oidc_client(&self, client_id: &str) -> Result<Option<ClientConfig>> {
        if let Some(c) = self
            .config
            .oidc
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
        {
            return Ok(Some(c.clone()));
        }
        if client_id.len() > 128 {
            return Ok(None);
        }
        match self.store.oidc_client(client_id).await? {
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("client {client_id}: {e}"))),
            None => Ok(None),
        }
    }

    /// Every client: configured ones, then stored ones (with their origin).
    pub async fn oidc_clients(&self) -> Result<Vec<(ClientConfig, &'static str)>> {
        let mut all: Vec<_> = self
            .config
            .oidc
            .clients
            .iter()
            .map(|c| (c.clone(), "config"))
            .collect();
        for (id, json) in self.store.oidc_clients().await? {
            let c: ClientConfig = serde_json::from_str(&json)
                .map_err(|e| Error::Corrupt(format!("client {id}: {e}")))?;
            all.push((c, "store"));
        }
        Ok(all)
    }

    /// Start-up check of what only the store can tell: every linked
    /// application exists. The error names the configuration key.
    pub async fn check_oidc_clients(&self) -> Result<()> {
        for (i, c) in self.config.oidc.clients.iter().enumerate() {
            if let Some(app) = &c.application
                && self.store.application_by_name(app).await?.is_none()
            {
                return Err(Error::Invalid(format!(
                    "oidc.clients[{i}].application: no portal application named {app:?}"
                )));
            }
        }
        Ok(())
    }

    /// Checks a presented secret against the stored hash in constant time.
    async fn client_secret_ok(&self, client: &ClientConfig, secret: &str) -> Result<bool> {
        let Some(hash) = &client.client_secret_hash else {
            return Ok(false);
        };
        if let Some(hex) = hash.strip_prefix("sha256:") {
            let got = crypto::sha256_hex(secret.as_bytes());
            return Ok(crypto::ct_eq(
                got.as_bytes(),
                hex.to_ascii_lowercase().as_bytes(),
            ));
        }
        self.hasher.verify(secret, Some(hash)).await
    }

    /// Authenticates the client of a token, introspection or revocation
    /// request. Every failure is the same `invalid_client`.
    pub async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        params: &Params,
    ) -> Result<ClientConfig, OAuthError> {
        let basic = basic_credentials(auth)?;
        let post_id = params.get("client_id")?;
        let post_secret = params.get("client_secret")?;
        let (id, secret) = match (basic, post_id, post_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not several",
                ));
            }
            (Some((id, secret)), post_id, None) => {
                if post_id.is_some_and(|p| p != id) {
                    return Err(OAuthError::invalid_request("client_id does not match"));
                }
                (id, Some(secret))
            }
            (None, Some(id), secret) => (id.to_string(), secret.map(str::to_string)),
            (None, None, _) => return Err(OAuthError::invalid_client()),
        };
        let Some(client) = self.oidc_client(&id).await? else {
            return Err(OAuthError::invalid_client());
        };
        match (client.is_public(), secret) {
            (true, None) => Ok(client),
            (false, Some(s)) if self.client_secret_ok(&client, &s).await? => Ok(client),
            _ => Err(OAuthError::invalid_client()),
        }
    }
}

/// What a client's request carries besides its form: the values of its
/// `Authorization` headers, in order (a value that is not visible ASCII is
/// given as an empty string). The form's `client_id` and `client_secret`
/// are read from the request's [`Params`].
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub authorization: Vec<String>,
}

impl ClientAuth {
    /// No `Authorization` header: `client_secret_post` or a public client.
    pub fn none() -> Self {
        Self::default()
    }

    /// `client_secret_basic` with id and secret (form-urlencoded as RFC 6749
    /// section 2.3.1 asks).
    pub fn basic(id: &str, secret: &str) -> Self {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let raw = format!("{}:{}", enc(id), enc(secret));
        Self {
            authorization: vec![format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )],
        }
    }
}

/// `Authorization: Basic`, with id and secret form-urlencoded inside
/// (RFC 6749 section 2.3.1).
fn basic_credentials(auth: &ClientAuth) -> Result<Option<(String, String)>, OAuthError> {
    let mut values = auth.authorization.iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_request("Authorization header repeated"));
    }
    let Some(b64) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        // A bearer token or other scheme is not client authentication.
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((dec(id), dec(secret))))
}

impl Idp {
    /// Where the portal tile of `app_name` starts: the initiate-login URI of
    /// an OIDC client linked to that application (OIDC Core 4, third-party
    /// initiated login), with `iss` and `login_hint`; None for other apps.
    pub async fn oidc_launch_url(
        &self,
        app_name: &str,
        login_hint: &str,
    ) -> Result<Option<String>> {
        let clients = self.oidc_clients().await?;
        let Some(uri) = clients.iter().find_map(|(c, _)| {
            (c.application.as_deref() == Some(app_name))
                .then_some(c.initiate_login_uri.as_deref())
                .flatten()
        }) else {
            return Ok(None);
        };
        let Ok(mut url) = url::Url::parse(uri) else {
            return Ok(None);
        };
        url.query_pairs_mut()
            .append_pair("iss", &self.issuer())
            .append_pair("login_hint", login_hint);
        Ok(Some(url.to_string()))
    }
}

impl Idp {
    /// True when `origin` is the origin of some client's registered redirect URI.
    pub async fn oidc_origin_allowed(&self, origin: &str) -> bool {
        let Ok(clients) = self.oidc_clients().await else {
            return false;
        };
        clients.iter().any(|(c, _)| {
            c.redirect_uris.iter().any(|u| {
                url::Url::parse(u).is_ok_and(|u| u.origin().ascii_serialization() == origin)
            })
        })
    }
}
