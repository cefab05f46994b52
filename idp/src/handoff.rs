//! The handshake that gives each protected application host its own cookie.
//!
//! A browser without a cookie for an application host is sent to the portal
//! (`/gateway/authorize`). When it has a portal session there, the portal
//! issues a single-use code bound to that session and the application, and
//! sends the browser back to the application host, where the gateway redeems
//! the code inside this process. The portal session id never appears in a
//! URL; the code is worthless after one use or [`CODE_TTL_SECS`].

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use crate::crypto;
use crate::session::SessionKey;

/// How long a code may wait to be redeemed: one redirect's worth.
pub const CODE_TTL_SECS: i64 = 60;
/// Codes waiting at once; beyond this the oldest are dropped, so a flood of
/// authorize requests cannot grow memory without bound.
const MAX_PENDING: usize = 10_000;

/// An application the gateway protects, as the portal needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayApp {
    /// The policy's identifier (its file name without `.toml`).
    pub id: String,
    /// Display name, for pages.
    pub name: String,
    /// `scheme://host[:port]` as browsers reach the application.
    pub origin: String,
}

/// What a redeemed code proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub session: SessionKey,
    pub app: String,
    /// The browser-bound state the gateway set before the round trip.
    pub state: String,
}

#[derive(Debug)]
struct Pending {
    grant: Grant,
    expires_at: i64,
}

/// The protected applications and the codes in flight.
#[derive(Debug, Default)]
pub struct Handoffs {
    apps: RwLock<HashMap<String, GatewayApp>>,
    /// Keyed by the SHA-256 of the code, so lookups reveal nothing through timing.
    pending: Mutex<HashMap<String, Pending>>,
}

impl Handoffs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the set of applications (at start-up and on reload).
    pub fn set_apps(&self, apps: impl IntoIterator<Item = GatewayApp>) {
        let map = apps.into_iter().map(|a| (a.id.clone(), a)).collect();
        if let Ok(mut guard) = self.apps.write() {
            *guard = map;
        }
    }

    pub fn app(&self, id: &str) -> Option<GatewayApp> {
        self.apps.read().ok()?.get(id).cloned()
    }

    /// A new single-use code for `grant`.
    pub fn issue(&self, grant: Grant, now: i64) -> String {
        let code = crypto::random_token();
        let key = crypto::sha256_hex(code.as_bytes());
        if let Ok(mut pending) = self.pending.lock() {
            if pending.len() >= MAX_PENDING {
                pending.retain(|_, p| p.expires_at > now);
            }
            if pending.len() >= MAX_PENDING {
                // Still full of live codes: someone is flooding; the oldest
                // lose, a real browser simply retries.
                if let Some(oldest) = pending
                    .iter()
                    .min_by_key(|(_, p)| p.expires_at)
                    .map(|(k, _)| k.clone())
                {
                    pending.remove(&oldest);
                }
            }
            pending.insert(
                key,
                Pending {
                    grant,
                    expires_at: now + CODE_TTL_SECS,
                },
            );
        }
        code
    }

    /// Redeems `code` for application `app`: at most once, before it expires.
    pub fn redeem(&self, code: &str, app: &str, now: i64) -> Option<Grant> {
        if code.len() != 43 {
            return None;
        }
        let key = crypto::sha256_hex(code.as_bytes());
        let pending = self.pending.lock().ok()?.remove(&key)?;
        (pending.expires_at > now && pending.grant.app == app).then_some(pending.grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(app: &str) -> Grant {
        Grant {
            session: SessionKey::of_token("t"),
            app: app.into(),
            state: "s".into(),
        }
    }

    #[test]
    fn codes_are_single_use_bound_and_short_lived() {
        let h = Handoffs::new();
        let code = h.issue(grant("wiki"), 100);
        assert_eq!(h.redeem(&code, "wiki", 101), Some(grant("wiki")));
        assert_eq!(h.redeem(&code, "wiki", 101), None, "second use");

        let code = h.issue(grant("wiki"), 100);
        assert_eq!(h.redeem(&code, "other", 101), None, "other application");
        assert_eq!(h.redeem(&code, "wiki", 101), None, "burnt by the wrong try");

        let code = h.issue(grant("wiki"), 100);
        assert_eq!(
            h.redeem(&code, "wiki", 100 + CODE_TTL_SECS),
            None,
            "expired"
        );
        assert_eq!(h.redeem("short", "wiki", 100), None);
    }

    #[test]
    fn pending_codes_are_bounded() {
        let h = Handoffs::new();
        for _ in 0..MAX_PENDING + 10 {
            h.issue(grant("wiki"), 100);
        }
        assert!(h.pending.lock().unwrap().len() <= MAX_PENDING);
    }
}
