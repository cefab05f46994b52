//! `X-Portcullis-Assertion` for proxied requests: one signed JWT per
//! application cookie (a session and an application), reused while it has
//! time left and the identity it describes is unchanged, so the proxied path
//! signs about once a minute per session instead of once per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::HeaderValue;
use idp::Idp;
use idp::oidc::assertion::{ASSERTION_LIFETIME_SECS, Subject};
use idp::session::SessionKey;

use super::cache::Identity;

/// An assertion with less than this left is replaced: it must still be valid
/// when the application checks it, after a slow upload or a clock skew.
const MIN_REMAINING_SECS: i64 = ASSERTION_LIFETIME_SECS / 2;

#[derive(Debug)]
struct Entry {
    identity: Arc<Identity>,
    audience: String,
    value: HeaderValue,
    exp: i64,
}

/// Signed assertions by application cookie.
#[derive(Debug)]
pub struct Assertions {
    idp: Arc<Idp>,
    max_entries: usize,
    map: RwLock<HashMap<SessionKey, Entry>>,
}

impl Assertions {
    pub fn new(idp: Arc<Idp>, max_entries: usize) -> Self {
        Self {
            idp,
            max_entries: max_entries.max(1),
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The assertion for `identity` reaching `audience` through the
    /// application cookie `key`: the cached one when still good, else a new one.
    /// None only when signing fails (logged); the request then goes without.
    pub async fn get(
        &self,
        key: &SessionKey,
        identity: &Arc<Identity>,
        audience: &str,
        now: i64,
    ) -> Option<HeaderValue> {
        if let Ok(map) = self.map.read()
            && let Some(e) = map.get(key)
            && e.exp - now >= MIN_REMAINING_SECS
            && e.audience == audience
            // The identity cache hands out a new Arc at every refresh; the
            // content decides (groups or MFA may have changed).
            && (Arc::ptr_eq(&e.identity, identity) || e.identity == *identity)
        {
            return Some(e.value.clone());
        }
        let subject = Subject {
            user_id: &identity.user_id,
            email: &identity.email,
            groups: &identity.groups,
            amr: &identity.amr,
            auth_time: identity.auth_time,
        };
        let (jwt, exp) = match self.idp.sign_assertion(&subject, audience, now).await {
            Ok(signed) => signed,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign the identity assertion");
                return None;
            }
        };
        let value = HeaderValue::from_str(&jwt).ok()?;
        if let Ok(mut map) = self.map.write() {
            if map.len() >= self.max_entries {
                map.retain(|_, e| e.exp - now >= MIN_REMAINING_SECS);
                if map.len() >= self.max_entries {
                    map.clear();
                }
            }
            map.insert(
                key.clone(),
                Entry {
                    identity: identity.clone(),
                    audience: audience.to_string(),
                    value: value.clone(),
                    exp,
                },
            );
        }
        Some(value)
    }

    /// Revocations: an assertion must not outlive its session in the cache.
    pub fn forget_session(&self, session: &SessionKey) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, e| &e.identity.session != session);
        }
    }

    pub fn forget_user(&self, user: &str) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, e| e.identity.user_id != user);
        }
    }

    /// Drops the assertions that would be replaced on their next use anyway.
    pub fn sweep(&self, now: i64) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, e| e.exp - now >= MIN_REMAINING_SECS);
            map.shrink_to_fit();
        }
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }
}
