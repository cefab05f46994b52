//! The proxy's view of sessions: application-host tokens and a bounded,
//! short-lived cache of who is behind them, so the per-request check reads
//! memory only. A miss (or an entry older than the TTL) asks the session
//! store and the directory once, then serves from memory again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use idp::Idp;
use idp::session::{AppLink, Revocation, SessionKey};

/// Who a request comes from, as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The portal session it comes from.
    pub session: SessionKey,
    pub user_id: String,
    pub email: String,
    pub groups: Vec<String>,
    pub mfa_at: Option<i64>,
    pub amr: Vec<String>,
    /// When the user last proved who they are.
    pub auth_time: i64,
    /// The portal session's absolute end.
    pub expires_at: i64,
    pub headers: HeaderValues,
}

/// The identity headers' values, made once per cache fill rather than per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderValues {
    pub user: http::HeaderValue,
    pub email: http::HeaderValue,
    /// None when a group name cannot be sent in a header (logged once per fill).
    pub groups: Option<http::HeaderValue>,
}

impl HeaderValues {
    pub fn new(user: &str, email: &str, groups: &[String]) -> Option<Self> {
        Some(Self {
            user: http::HeaderValue::from_str(user).ok()?,
            email: http::HeaderValue::from_str(email).ok()?,
            groups: http::HeaderValue::from_str(&groups.join(",")).ok(),
        })
    }
}

/// The session store or the directory did not answer: nobody is admitted
/// (fail closed), and the person is told the service is unavailable rather
/// than sent to a sign-in that cannot work either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

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
    links: RwLock<HashMap<SessionKey, Cached<Arc<AppLink>>>>,
    /// Portal session → identity, refreshed after `ttl`.
    cache: RwLock<HashMap<SessionKey, Cached<Arc<Identity>>>>,
    /// Signed identity assertions, dropped with their sessions.
    pub assertions: super::assertion::Assertions,
    /// Bumped by every revocation: a store read that started before one may
    /// be stale and is not cached.
    epoch: AtomicU64,
}

/// Inserts into a bounded cache: expired entries go first, then everything.
/// Nothing is inserted when a revocation came since `read_at` (checked under
/// the lock `forget` takes too, so none can slip in between).
fn put<T>(
    map: &RwLock<HashMap<SessionKey, Cached<T>>>,
    max: usize,
    ttl: Duration,
    (epoch, read_at): (&AtomicU64, u64),
    key: SessionKey,
    value: T,
) {
    if let Ok(mut m) = map.write() {
        if epoch.load(Ordering::SeqCst) != read_at {
            return;
        }
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
            assertions: super::assertion::Assertions::new(idp.clone(), max_entries),
            idp,
            metrics,
            ttl,
            max_entries,
            links: RwLock::new(HashMap::new()),
            cache: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
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

    /// Drops what a revocation ends, so the next request asks the store.
    pub fn forget(&self, revocation: &Revocation) {
        if let Ok(mut cache) = self.cache.write() {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            match revocation {
                Revocation::Session(key) => {
                    cache.remove(key);
                }
                Revocation::User(user) => cache.retain(|_, c| &c.value.user_id != user),
                Revocation::All => cache.clear(),
            }
        }
        // Links only point at portal sessions, which are checked again on a
        // miss; dropping them all matters only when everything may be stale.
        match revocation {
            Revocation::Session(key) => self.assertions.forget_session(key),
            Revocation::User(user) => self.assertions.forget_user(user),
            Revocation::All => self.assertions.clear(),
        }
        if matches!(revocation, Revocation::All)
            && let Ok(mut links) = self.links.write()
        {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            links.clear();
        }
    }

    /// Applies this instance's and the other instances' revocations to the
    /// cache for as long as the process runs.
    pub fn follow_revocations(self: &Arc<Self>) {
        let mut rx = self.idp.sessions.revocations();
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let revocation = match rx.recv().await {
                    Ok(r) => r,
                    // Fell behind: some revocations are lost, forget all.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Revocation::All,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(me) = me.upgrade() else { return };
                me.forget(&revocation);
            }
        });
    }

    /// Drops expired entries now and then, so memory follows the sessions in
    /// use rather than the largest burst since start-up (inserts only evict
    /// once a map is full).
    pub fn sweep_expired(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        let every = self.ttl.max(Duration::from_secs(5));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = me.upgrade() else { return };
                let ttl = me.ttl;
                if let Ok(mut links) = me.links.write() {
                    links.retain(|_, c| c.fetched.elapsed() < ttl);
                    links.shrink_to_fit();
                }
                if let Ok(mut cache) = me.cache.write() {
                    cache.retain(|_, c| c.fetched.elapsed() < ttl);
                    cache.shrink_to_fit();
                }
                me.assertions.sweep(idp::clock::now());
            }
        });
    }

    /// The identity behind an application cookie, with the cookie's key;
    /// `Ok(None)` when the cookie, its portal session or its account is no
    /// longer good, `Err` when the store cannot tell (the caller fails closed).
    pub async fn identify(
        &self,
        token: &str,
        app: &str,
    ) -> Result<Option<(SessionKey, Arc<Identity>)>, Unavailable> {
        if token.len() != 43 {
            return Ok(None);
        }
        let key = SessionKey::of_token(token);
        let epoch = self.epoch.load(Ordering::SeqCst);
        let cached_link = self.links.read().ok().and_then(|links| {
            links
                .get(&key)
                .filter(|c| c.fetched.elapsed() < self.ttl)
                .map(|c| c.value.clone())
        });
        let link = match cached_link {
            Some(l) => l,
            None => {
                let l = match self.idp.sessions.app_link(token, idp::clock::now()).await {
                    Ok(Some(l)) => Arc::new(l),
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        tracing::error!(error = %e, "session store unavailable");
                        return Err(Unavailable);
                    }
                };
                put(
                    &self.links,
                    self.max_entries,
                    self.ttl,
                    (&self.epoch, epoch),
                    key.clone(),
                    l.clone(),
                );
                l
            }
        };
        if link.app != app {
            return Ok(None);
        }
        let hit = self.cache.read().ok().and_then(|cache| {
            cache
                .get(&link.session)
                .filter(|c| c.fetched.elapsed() < self.ttl)
                .map(|c| c.value.clone())
        });
        if let Some(identity) = hit {
            self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some((key, identity)));
        }
        self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        match self.load(&link.session).await? {
            Some(identity) => {
                let identity = Arc::new(identity);
                put(
                    &self.cache,
                    self.max_entries,
                    self.ttl,
                    (&self.epoch, epoch),
                    link.session.clone(),
                    identity.clone(),
                );
                Ok(Some((key, identity)))
            }
            None => {
                if let Ok(mut cache) = self.cache.write() {
                    cache.remove(&link.session);
                }
                Ok(None)
            }
        }
    }

    /// The identity behind a portal session, if it is live.
    pub async fn portal_session(
        &self,
        portal: &SessionKey,
    ) -> Result<Option<Identity>, Unavailable> {
        self.load(portal).await
    }

    /// The session and account, checked as the portal checks them.
    async fn load(&self, portal: &SessionKey) -> Result<Option<Identity>, Unavailable> {
        let now = idp::clock::now();
        let session = match self.idp.sessions.resume_key(portal, now).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::error!(error = %e, "session store unavailable");
                return Err(Unavailable);
            }
        };
        let user = match self.idp.store.user_by_id(&session.user_id).await {
            Ok(Some(u)) => u,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable");
                return Err(Unavailable);
            }
        };
        if user.locked.is_some()
            || user
                .password_changed_at
                .is_some_and(|t| t > session.auth_time)
        {
            return Ok(None);
        }
        let groups = match self.idp.store.groups_of(&user.id).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable");
                return Err(Unavailable);
            }
        };
        let Some(headers) = HeaderValues::new(&user.id, &user.email, &groups) else {
            tracing::warn!(user = %user.id, "user id or email not valid in a header; refused");
            return Ok(None);
        };
        if headers.groups.is_none() {
            tracing::warn!(user = %user.id, "group names not valid in a header; X-Portcullis-Groups left out");
        }
        Ok(Some(Identity {
            headers,
            session: portal.clone(),
            user_id: user.id,
            email: user.email,
            groups,
            mfa_at: session.mfa_at,
            amr: session.amr,
            auth_time: session.auth_time,
            expires_at: session.expires_at,
        }))
    }
}
