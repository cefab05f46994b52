//! The proxy's view of sessions: application-host tokens and a bounded,
//! short-lived cache of who is behind them, so the per-request check reads
//! memory only. A miss (or an entry older than the TTL) asks the session
//! store and the directory once, then serves from memory again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use idp::Idp;
use idp::session::{AppLink, SessionKey};

/// Who a request comes from, as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub groups: Vec<String>,
    pub mfa_at: Option<i64>,
    pub amr: Vec<String>,
    /// The portal session's absolute end.
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
struct Cached<T> {
    value: T,
    fetched: Instant,
}

/// Application-host cookies (linked to portal sessions in the session store,
/// so every instance honours them) and the identity cache.
#[derive(Debug)]
pub struct EdgeSessions {
    idp: Arc<Idp>,
    metrics: Arc<crate::metrics::Metrics>,
    ttl: Duration,
    max_entries: usize,
    /// SHA-256 of the application cookie → its link, as last read from the store.
    links: RwLock<HashMap<SessionKey, Cached<AppLink>>>,
    /// Portal session → identity, refreshed after `ttl`.
    cache: RwLock<HashMap<SessionKey, Cached<Arc<Identity>>>>,
}

/// Inserts into a bounded cache: expired entries go first, then everything.
fn put<T>(
    map: &RwLock<HashMap<SessionKey, Cached<T>>>,
    max: usize,
    ttl: Duration,
    key: SessionKey,
    value: T,
) {
    if let Ok(mut m) = map.write() {
        if m.len() >= max {
            m.retain(|_, c| c.fetched.elapsed() < ttl);
            if m.len() >= max {
                m.clear();
            }
        }
        m.insert(
            key,
            Cached {
                value,
                fetched: Instant::now(),
            },
        );
    }
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
            links: RwLock::new(HashMap::new()),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// A new application cookie value linked to `portal` for `app`.
    pub async fn bind(&self, portal: &SessionKey, app: &str, expires_at: i64) -> Option<String> {
        match self.idp.sessions.link_app(portal, app, expires_at).await {
            Ok(token) => Some(token),
            Err(e) => {
                tracing::error!(error = %e, "session store unavailable: cannot link an application cookie");
                None
            }
        }
    }

    /// The identity behind an application cookie, or None when the cookie,
    /// its portal session or its account is no longer good.
    pub async fn identify(&self, token: &str, app: &str) -> Option<Arc<Identity>> {
        if token.len() != 43 {
            return None;
        }
        let key = SessionKey::of_token(token);
        let cached_link = self
            .links
            .read()
            .ok()?
            .get(&key)
            .filter(|c| c.fetched.elapsed() < self.ttl)
            .map(|c| c.value.clone());
        let link = match cached_link {
            Some(l) => l,
            None => {
                let l = match self.idp.sessions.app_link(token, idp::clock::now()).await {
                    Ok(l) => l?,
                    Err(e) => {
                        // Fail closed: an unreadable store admits nobody.
                        tracing::error!(error = %e, "session store unavailable");
                        return None;
                    }
                };
                put(&self.links, self.max_entries, self.ttl, key, l.clone());
                l
            }
        };
        if link.app != app {
            return None;
        }
        if let Some(hit) = self
            .cache
            .read()
            .ok()?
            .get(&link.session)
            .filter(|c| c.fetched.elapsed() < self.ttl)
        {
            self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Some(hit.value.clone());
        }
        self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        match self.load(&link.session).await {
            Some(identity) => {
                let identity = Arc::new(identity);
                put(
                    &self.cache,
                    self.max_entries,
                    self.ttl,
                    link.session,
                    identity.clone(),
                );
                Some(identity)
            }
            None => {
                if let Ok(mut cache) = self.cache.write() {
                    cache.remove(&link.session);
                }
                None
            }
        }
    }

    /// The identity behind a portal session, if it is live.
    pub async fn portal_session(&self, portal: &SessionKey) -> Option<Identity> {
        self.load(portal).await
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
            expires_at: session.expires_at,
        })
    }
}
