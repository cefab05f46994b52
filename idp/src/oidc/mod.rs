//! The OpenID Connect provider: discovery, keys, the authorization code flow
//! with PKCE, refresh with rotation, client credentials, userinfo,
//! introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.
//!
//! One file per concern; wire types live in [`wire`]. The routes are merged
//! into the portal router *outside* its CSRF layer: clients call the token,
//! introspection and revocation endpoints without a browser form token, and
//! authenticate themselves instead.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod clients;
pub mod config;
pub mod cors;
pub mod discovery;
pub mod hooks;
pub mod introspect;
pub mod keys;
pub mod logout;
pub mod revoke;
pub mod token;
pub mod userinfo;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::RwLock;

use crate::accounts::Idp;
use crate::clock;
use crate::error::Result;
use crate::portal::Portal;
pub use config::{ClientConfig, OidcConfig};
use keys::KeySet;

/// Where each endpoint lives, relative to the issuer.
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
pub const JWKS_PATH: &str = "/oauth2/jwks";
pub const INTROSPECT_PATH: &str = "/oauth2/introspect";
pub const REVOKE_PATH: &str = "/oauth2/revoke";
pub const END_SESSION_PATH: &str = "/oauth2/logout";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Keys are re-read from the store this often, so a rotation made by
/// `portcullis admin keys rotate` (another process) reaches running instances.
const KEY_REFRESH_SECS: i64 = 60;

/// The provider's runtime state: the cached key set and the HTTP client for
/// back-channel logout.
#[derive(Debug, Default)]
pub struct Provider {
    keys: RwLock<Option<(i64, Arc<KeySet>)>>,
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Idp {
    /// The issuer identifier: the portal's public URL without the trailing slash.
    pub fn issuer(&self) -> String {
        self.config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// The current key set, generating keys on first use.
    pub async fn oidc_keys(&self) -> Result<Arc<KeySet>> {
        let now = clock::now();
        if let Some((at, keys)) = &*self.oidc.keys.read().await
            && now - at < KEY_REFRESH_SECS
        {
            return Ok(keys.clone());
        }
        let mut slot = self.oidc.keys.write().await;
        if let Some((at, keys)) = &*slot
            && now - at < KEY_REFRESH_SECS
        {
            return Ok(keys.clone());
        }
        let retention = self.config.oidc.key_retention.as_secs() as i64;
        self.store.drop_retired_oidc_keys(now - retention).await?;
        // Housekeeping rides on the key refresh: once a minute per instance.
        // Access tokens outlive nothing here: the longest lives 24h, and a
        // grant expires with its refresh lifetime.
        let purged = self.store.purge_oidc(now).await?;
        if purged > 0 {
            tracing::debug!(purged, "expired OIDC codes, tokens and grants removed");
        }
        let keys =
            Arc::new(KeySet::load_or_create(&self.store, &self.keys.secret_box(), now).await?);
        *slot = Some((now, keys.clone()));
        Ok(keys)
    }

    /// Forgets the cached keys (after a rotation in this process).
    pub async fn reload_oidc_keys(&self) {
        *self.oidc.keys.write().await = None;
    }
}

/// The provider's routes, merged into the portal router outside its CSRF layer.
pub fn routes(portal: Portal) -> Router<Portal> {
    // What browser-based clients call with fetch gets CORS for their origins.
    let api = Router::new()
        .route(TOKEN_PATH, post(token::handle))
        .route(
            USERINFO_PATH,
            get(userinfo::handle_get).post(userinfo::handle_post),
        )
        .route(INTROSPECT_PATH, post(introspect::handle))
        .route(REVOKE_PATH, post(revoke::handle))
        .layer(axum::middleware::from_fn_with_state(portal, cors::layer));
    Router::new()
        .route(DISCOVERY_PATH, get(discovery::configuration))
        .route(JWKS_PATH, get(discovery::jwks))
        .route(
            AUTHORIZE_PATH,
            get(authorize::handle_get).post(authorize::handle_post),
        )
        .route(
            END_SESSION_PATH,
            get(logout::handle_get).post(logout::handle_post),
        )
        .merge(api)
}
