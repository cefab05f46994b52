//! The OpenID Connect provider: discovery, keys, the authorization code flow
//! with PKCE, refresh with rotation, client credentials, userinfo,
//! introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.
//!
//! One file per concern; wire types live in [`wire`]. These are the
//! engines: functions over typed requests ([`wire::Params`], the portal
//! cookie's value, [`clients::ClientAuth`]) returning typed outcomes (an
//! [`authorize::Authorization`], a [`wire::TokenResponse`], an
//! [`wire::OAuthError`], an [`logout::EndSession`]), with no HTTP types.
//! The request handlers, routes and CORS live in the web layer.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod clients;
pub mod config;
pub mod discovery;
pub mod introspect;
pub mod keys;
pub mod logout;
pub mod provider;
pub mod revoke;
pub mod token;
pub mod userinfo;
pub mod wire;

use std::sync::Arc;

use crate::clock;
use crate::error::Result;
use crate::idp::Idp;
pub use config::{ClientConfig, OidcConfig};
use keys::KeySet;
use provider::CachedKeys;
pub use provider::Provider;

/// How often an instance asks the store whether the set of keys changed (a
/// rotation by another instance or by `portcullis admin keys rotate`): one
/// cheap query of key ids. The keys themselves are reloaded only on a change.
const KEY_CHECK_SECS: i64 = 5;
/// Housekeeping (retired keys, expired codes and tokens) this often per instance.
const HOUSEKEEPING_SECS: i64 = 60;
/// A token naming a key id we do not know reloads the keys at once, at most
/// this often, so forged kids cannot turn every request into a reload.
const UNKNOWN_KID_RELOAD_SECS: i64 = 1;

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
        if let Some(c) = &*self.oidc.keys.read().await
            && now - c.checked_at < KEY_CHECK_SECS
        {
            return Ok(c.keys.clone());
        }
        let mut slot = self.oidc.keys.write().await;
        if let Some(c) = &mut *slot
            && now - c.checked_at < KEY_CHECK_SECS
        {
            return Ok(c.keys.clone());
        }
        let housekeeping = slot
            .as_ref()
            .is_none_or(|c| now - c.housekept_at >= HOUSEKEEPING_SECS);
        if housekeeping {
            let retention = self.config.oidc.key_retention.as_secs() as i64;
            self.store.drop_retired_oidc_keys(now - retention).await?;
            // Access tokens outlive nothing here: the longest lives 24h, and a
            // grant expires with its refresh lifetime.
            let purged = self.store.purge_oidc(now).await?;
            if purged > 0 {
                tracing::debug!(purged, "expired OIDC codes, tokens and grants removed");
            }
        }
        let kids = self.store.oidc_key_ids().await?;
        if let Some(c) = &mut *slot
            && c.kids == kids
            && !kids.is_empty()
        {
            c.checked_at = now;
            if housekeeping {
                c.housekept_at = now;
            }
            return Ok(c.keys.clone());
        }
        let keys = Arc::new(keys::load_or_create(&self.store, &self.keys.secret_box(), now).await?);
        if slot.is_some() {
            tracing::info!("OIDC signing keys changed in the store; reloaded");
        }
        *slot = Some(CachedKeys {
            checked_at: now,
            housekept_at: if housekeeping {
                now
            } else {
                slot.as_ref().map_or(now, |c| c.housekept_at)
            },
            kids: self.store.oidc_key_ids().await?,
            keys: keys.clone(),
        });
        Ok(keys)
    }

    /// Forgets the cached keys (after a rotation in this process).
    pub async fn reload_oidc_keys(&self) {
        if let Some(c) = &mut *self.oidc.keys.write().await {
            c.checked_at = i64::MIN / 2;
        }
    }

    /// Verifies a JWT made by one of our keys (see [`KeySet::verify`]). A
    /// token signed by a key another instance has just created is not
    /// refused: an unknown key id reloads the keys once before giving up.
    pub async fn verify_jwt(&self, jwt: &str) -> Result<Option<(String, serde_json::Value)>> {
        let keys = self.oidc_keys().await?;
        if let Some(v) = keys.verify(jwt) {
            return Ok(Some(v));
        }
        let Some(kid) = keys::kid_of(jwt) else {
            return Ok(None);
        };
        if keys.knows(&kid) {
            return Ok(None);
        }
        let now = clock::now();
        let last = &self.oidc.forced_reload_at;
        if now - last.load(std::sync::atomic::Ordering::SeqCst) < UNKNOWN_KID_RELOAD_SECS {
            return Ok(None);
        }
        last.store(now, std::sync::atomic::Ordering::SeqCst);
        self.reload_oidc_keys().await;
        Ok(self.oidc_keys().await?.verify(jwt))
    }
}
