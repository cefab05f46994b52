//! The proxy's view of sessions: application-host tokens and a bounded,
//! short-lived cache of who is behind them, so the per-request check reads
//! memory only. A miss (or an entry older than the TTL) asks the session
//! store and the directory once, then serves from memory again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use idp::Idp;
use idp::session::SessionKey;

/// Who a request comes from, as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub groups: Vec<String>,
    pub mfa_at: Option<i64>,
    pub amr: Vec<String>,
}

/// One application-host cookie: bound to a portal session and one application.
#[derive(Debug, Clone)]
struct AppSession {
    portal: SessionKey,
    app: String,
}

#[derive(Debug, Clone)]
struct Cached {
    identity: Arc<Identity>,
    fetched: Instant,
}

/// Application-host sessions and the identity cache.
#[derive(Debug)]
pub struct EdgeSessions {
    idp: Arc<Idp>,
    metrics: Arc<crate::metrics::Metrics>,
    ttl: Duration,
    max_entries: usize,
    /// SHA-256 of the application cookie → the portal session behind it.
    apps: RwLock<HashMap<SessionKey, AppSession>>,
    /// Portal session → identity, refreshed after `ttl`.
    cache: RwLock<HashMap<SessionKey, Cached>>,
}

impl EdgeSessions {
    pub fn new(
        idp: Arc<Idp>,
        ttl: Duration,
        max_entries: usize,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            idp,
            metrics,
            ttl,
            max_entries,
            apps: RwLock::new(HashMap::new()),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// A new application cookie value bound to `portal` for `app`.
    pub fn bind(&self, portal: SessionKey, app: &str) -> String {
        let token = idp::crypto::random_token();
        if let Ok(mut apps) = self.apps.write() {
            if apps.len() >= self.max_entries {
                // Full: start over rather than grow. Browsers whose cookie is
                // dropped go through the (silent) handshake again.
                tracing::warn!(
                    entries = apps.len(),
                    "application session table full; clearing it"
                );
                apps.clear();
            }
            apps.insert(
                SessionKey::of_token(&token),
                AppSession {
                    portal,
                    app: app.to_string(),
                },
            );
        }
        token
    }

    /// The identity behind an application cookie, or None when the cookie,
    /// its portal session or its account is no longer good.
    pub async fn identify(&self, token: &str, app: &str) -> Option<Arc<Identity>> {
        if token.len() != 43 {
            return None;
        }
        let key = SessionKey::of_token(token);
        let bound = self.apps.read().ok()?.get(&key).cloned()?;
        if bound.app != app {
            return None;
        }
        if let Some(hit) = self
            .cache
            .read()
            .ok()?
            .get(&bound.portal)
            .filter(|c| c.fetched.elapsed() < self.ttl)
        {
            self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Some(hit.identity.clone());
        }
        self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        match self.load(&bound.portal).await {
            Some(identity) => {
                let identity = Arc::new(identity);
                if let Ok(mut cache) = self.cache.write() {
                    if cache.len() >= self.max_entries {
                        let ttl = self.ttl;
                        cache.retain(|_, c| c.fetched.elapsed() < ttl);
                        if cache.len() >= self.max_entries {
                            cache.clear();
                        }
                    }
                    cache.insert(
                        bound.portal.clone(),
                        Cached {
                            identity: identity.clone(),
                            fetched: Instant::now(),
                        },
                    );
                }
                Some(identity)
            }
            None => {
                // The portal session ended: every cookie bound to it is void.
                if let Ok(mut cache) = self.cache.write() {
                    cache.remove(&bound.portal);
                }
                if let Ok(mut apps) = self.apps.write() {
                    apps.retain(|_, a| a.portal != bound.portal);
                }
                None
            }
        }
    }

    /// Whether the portal session behind a handshake is still live.
    pub async fn portal_session_live(&self, portal: &SessionKey) -> bool {
        self.load(portal).await.is_some()
    }

    /// The session and account, checked as the portal checks them.
    async fn load(&self, portal: &SessionKey) -> Option<Identity> {
        let now = idp::clock::now();
        let session = match self.idp.sessions.resume_key(portal, now).await {
            Ok(s) => s?,
            Err(e) => {
                // Fail closed: an unreadable store admits nobody.
                tracing::error!(error = %e, "session store unavailable");
                return None;
            }
        };
        let user = match self.idp.store.user_by_id(&session.user_id).await {
            Ok(u) => u?,
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable");
                return None;
            }
        };
        if user.locked.is_some()
            || user
                .password_changed_at
                .is_some_and(|t| t > session.auth_time)
        {
            return None;
        }
        let groups = match self.idp.store.groups_of(&user.id).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable");
                return None;
            }
        };
        Some(Identity {
            user_id: user.id,
            email: user.email,
            groups,
            mfa_at: session.mfa_at,
            amr: session.amr,
        })
    }
}
