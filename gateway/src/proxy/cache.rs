//! The proxy's view of sessions: application-host tokens and a bounded,
//! short-lived cache of who is behind them, so the per-request check reads
//! memory only. A miss (or an entry older than the TTL) asks the session
//! store and the directory once, then serves from memory again.
//!
//! When the store does not answer (an outage, not a refusal), an identity
//! confirmed earlier keeps being served for at most `store_outage_grace`
//! past its TTL, while one background task per session retries; a refusal
//! (signed out, locked, expired) still ends it at once, and nothing is
//! served past the grace or for a session never confirmed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use idp::Idp;
use idp::session::{AppLink, Live, Presented, Revocation, SessionKey};

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

/// When an application cookie was last used, as this instance knows it, for
/// applications with a session idle override. Requests update it in memory;
/// the store hears of it at most once per write-back period, so a busy
/// application costs no store write per request, and another instance
/// sharing the store learns of the activity within that period.
#[derive(Debug)]
pub struct LinkUse {
    last_used: AtomicI64,
    /// The `last_used` the store holds (or is being sent).
    written: AtomicI64,
}

/// What one request finds out about its cookie's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Unused for longer than the idle override: admits nobody.
    Idle,
    /// In use; `write_back`: this request sends the new last use to the store.
    Active { write_back: bool },
}

impl LinkUse {
    /// `stored`: the last use the store holds; `seen`: a newer one this
    /// instance may know of from an earlier cache entry.
    pub fn new(stored: i64, seen: i64) -> Self {
        Self {
            last_used: AtomicI64::new(stored.max(seen)),
            written: AtomicI64::new(stored),
        }
    }

    /// A request at `now`. An idle cookie stays idle (the refused request is
    /// no use), so only the handshake's new cookie lets the user back in.
    pub fn record(&self, now: i64, idle_secs: i64, period_secs: i64) -> Use {
        if now - self.last_used.load(Ordering::Relaxed) > idle_secs {
            return Use::Idle;
        }
        self.last_used.fetch_max(now, Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        // One request per period wins the exchange and writes; the others go on.
        let write_back = now - written >= period_secs
            && self
                .written
                .compare_exchange(written, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        Use::Active { write_back }
    }

    pub fn last_used(&self) -> i64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// A use the store has not heard of yet.
    fn pending(&self) -> bool {
        self.last_used() > self.written.load(Ordering::Relaxed)
    }
}

/// How often a link's last use is written back: a quarter of the idle
/// override, at most 30 s, so the store lags the truth by a small part of it.
pub fn write_back_period(idle_secs: i64) -> i64 {
    (idle_secs / 4).clamp(1, 30)
}

/// An application cookie's link with its use.
#[derive(Debug)]
struct LinkEntry {
    link: AppLink,
    usage: LinkUse,
}

/// How long a request waits for the refresh of an identity past its TTL
/// when a grace applies, before it is served the last confirmed identity
/// and the refresh goes on in the background.
pub const REFRESH_WAIT: Duration = Duration::from_millis(500);

/// The pause between two background refresh attempts during an outage
/// doubles from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

type IdentityMap = RwLock<HashMap<SessionKey, Cached<Arc<Identity>>>>;

/// When (unix seconds) an outage was last logged: one line per
/// [`OUTAGE_LOG_EVERY`] however many sessions fail to refresh.
static OUTAGE_LOGGED: AtomicI64 = AtomicI64::new(0);
const OUTAGE_LOG_EVERY: i64 = 10;

/// Whether this failure is the one to log in its period.
fn log_outage_now() -> bool {
    let now = idp::clock::now();
    let last = OUTAGE_LOGGED.load(Ordering::Relaxed);
    now - last >= OUTAGE_LOG_EVERY
        && OUTAGE_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Application-host cookies (linked to portal sessions in the session store,
/// so every instance honours them) and the identity cache.
#[derive(Debug)]
pub struct EdgeSessions {
    idp: Arc<Idp>,
    metrics: Arc<crate::metrics::Metrics>,
    ttl: Duration,
    /// How long past its TTL a confirmed identity is still served while the
    /// store does not answer; zero: never.
    grace: Duration,
    max_entries: usize,
    /// SHA-256 of the application cookie → its link, as last read from the
    /// store, and its use as this instance saw it.
    links: RwLock<HashMap<SessionKey, Cached<Arc<LinkEntry>>>>,
    /// Portal session → identity, refreshed after `ttl`.
    cache: Arc<IdentityMap>,
    /// Signed identity assertions, dropped with their sessions.
    pub assertions: super::assertion::Assertions,
    /// Bumped by every revocation: a store read that started before one may
    /// be stale and is not cached.
    epoch: Arc<AtomicU64>,
    /// Portal sessions whose identity a background task is refreshing.
    refreshing: Arc<Mutex<HashSet<SessionKey>>>,
}

/// What the first refresh attempt of a stale identity found.
enum Refreshed {
    Live(Arc<Identity>),
    Refused,
    Unavailable,
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
        grace: Duration,
        max_entries: usize,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            assertions: super::assertion::Assertions::new(idp.clone(), max_entries),
            idp,
            metrics,
            ttl,
            grace,
            max_entries,
            links: RwLock::new(HashMap::new()),
            cache: Arc::new(RwLock::new(HashMap::new())),
            epoch: Arc::new(AtomicU64::new(0)),
            refreshing: Arc::new(Mutex::new(HashSet::new())),
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
                let now = idp::clock::now();
                let max_idle = crate::policy::SESSION_IDLE_MAX.as_secs() as i64;
                if let Ok(mut links) = me.links.write() {
                    // A use not yet written back stays until the next request
                    // merges it into the store's (or the link ends), so the
                    // idle override never counts from an older use.
                    links.retain(|_, c| {
                        c.fetched.elapsed() < ttl
                            || (c.value.usage.pending()
                                && c.value.link.expires_at > now
                                && now - c.value.usage.last_used() <= max_idle)
                    });
                    links.shrink_to_fit();
                }
                if let Ok(mut cache) = me.cache.write() {
                    // Entries past their TTL stay for the outage grace: they
                    // are what a request is served while the store is away.
                    cache.retain(|_, c| {
                        let age = c.fetched.elapsed();
                        age < ttl || me.within_grace(&c.value, age)
                    });
                    cache.shrink_to_fit();
                }
                me.assertions.sweep(idp::clock::now());
            }
        });
    }

    /// The identity behind an application cookie, with the cookie's key;
    /// `Ok(None)` when the cookie, its portal session or its account is no
    /// longer good, or when `idle` (the application's session idle override)
    /// passed since the cookie was last used; `Err` when the store cannot
    /// tell (the caller fails closed).
    pub async fn identify(
        &self,
        token: &str,
        app: &str,
        idle: Option<Duration>,
    ) -> Result<Option<(SessionKey, Arc<Identity>)>, Unavailable> {
        if token.len() != 43 {
            return Ok(None);
        }
        let key = SessionKey::of_token(token);
        let epoch = self.epoch.load(Ordering::SeqCst);
        let cached_link = self.links.read().ok().and_then(|links| {
            links
                .get(&key)
                .map(|c| (c.value.clone(), c.fetched.elapsed() < self.ttl))
        });
        let (entry, from_store) = match cached_link {
            Some((entry, true)) => (entry, false),
            stale => match self
                .fetch_link(token, &key, epoch, stale.map(|(e, _)| e))
                .await?
            {
                Some(entry) => (entry, true),
                None => return Ok(None),
            },
        };
        if entry.link.app != app {
            return Ok(None);
        }
        if let Some(idle) = idle
            && !self
                .in_use(token, &key, epoch, entry.clone(), from_store, idle)
                .await?
        {
            return Ok(None);
        }
        let link = &entry.link;
        let found = self.cache.read().ok().and_then(|cache| {
            cache
                .get(&link.session)
                .map(|c| (c.value.clone(), c.fetched.elapsed()))
        });
        let stale = match found {
            Some((identity, age)) if age < self.ttl => {
                self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some((key, identity)));
            }
            Some((identity, age)) if self.within_grace(&identity, age) => Some(identity),
            _ => None,
        };
        self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        if let Some(last) = stale {
            return Ok(self
                .refresh_or_last(&link.session, epoch, last)
                .await
                .map(|identity| (key, identity)));
        }
        match load(&self.idp, &link.session).await? {
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

    /// Reads an application cookie's link from the store and caches it,
    /// keeping the newer of the stored last use and the one `previous` (this
    /// instance's expired entry) saw.
    async fn fetch_link(
        &self,
        token: &str,
        key: &SessionKey,
        epoch: u64,
        previous: Option<Arc<LinkEntry>>,
    ) -> Result<Option<Arc<LinkEntry>>, Unavailable> {
        let link = match self.idp.sessions.app_link(token, idp::clock::now()).await {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::error!(error = %e, "session store unavailable");
                return Err(Unavailable);
            }
        };
        let seen = previous.map_or(0, |p| p.usage.last_used());
        let entry = Arc::new(LinkEntry {
            usage: LinkUse::new(link.last_used, seen),
            link,
        });
        put(
            &self.links,
            self.max_entries,
            self.ttl,
            (&self.epoch, epoch),
            key.clone(),
            entry.clone(),
        );
        Ok(Some(entry))
    }

    /// The idle override's check for one request: records the use, writes it
    /// back now and then without making the request wait, and refuses a
    /// cookie unused for longer than `idle`. Before refusing on what this
    /// instance remembers, it asks the store, where another instance may
    /// have recorded a use it did not see.
    async fn in_use(
        &self,
        token: &str,
        key: &SessionKey,
        epoch: u64,
        entry: Arc<LinkEntry>,
        from_store: bool,
        idle: Duration,
    ) -> Result<bool, Unavailable> {
        let idle_secs = idle.as_secs() as i64;
        let period = write_back_period(idle_secs);
        let now = idp::clock::now();
        let mut entry = entry;
        let mut decision = entry.usage.record(now, idle_secs, period);
        if decision == Use::Idle && !from_store {
            entry = match self.fetch_link(token, key, epoch, Some(entry)).await? {
                Some(e) => e,
                None => return Ok(false),
            };
            decision = entry.usage.record(now, idle_secs, period);
        }
        match decision {
            Use::Idle => {
                tracing::debug!(app = %entry.link.app, "application cookie unused beyond the policy's session idle; refused");
                Ok(false)
            }
            Use::Active { write_back } => {
                if write_back {
                    let mut link = entry.link.clone();
                    link.last_used = entry.usage.last_used().max(now);
                    let sessions = self.idp.sessions.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        if let Err(e) = sessions.record_link_use(&key, &link).await {
                            // Only other instances' view lags; this one
                            // keeps the use in memory and tries next period.
                            tracing::warn!(error = %e, "could not write back an application cookie's last use");
                        }
                    });
                }
                Ok(true)
            }
        }
    }

    /// Whether an identity last confirmed `age` ago may still be served
    /// while the store does not answer: within the grace past its TTL, and
    /// before its session's absolute end.
    fn within_grace(&self, identity: &Identity, age: Duration) -> bool {
        !self.grace.is_zero()
            && age < self.ttl + self.grace
            && identity.expires_at > idp::clock::now()
    }

    /// An identity past its TTL, within the grace: refreshed, waiting at
    /// most [`REFRESH_WAIT`] for the answer. A refusal ends it now; when
    /// the store does not answer in time, `last` is served and one
    /// background task per session keeps retrying until the store answers,
    /// a revocation drops the entry, or the grace ends.
    async fn refresh_or_last(
        &self,
        portal: &SessionKey,
        epoch: u64,
        last: Arc<Identity>,
    ) -> Option<Arc<Identity>> {
        let started = self
            .refreshing
            .lock()
            .map(|mut r| r.insert(portal.clone()))
            .unwrap_or(false);
        if !started {
            // A refresh is under way: its answer replaces or drops the entry.
            return Some(last);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = Refresh {
            idp: self.idp.clone(),
            cache: self.cache.clone(),
            epoch: self.epoch.clone(),
            refreshing: self.refreshing.clone(),
            max_entries: self.max_entries,
            ttl: self.ttl,
            // Past the grace the entry is not served anyway.
            until: Instant::now() + self.grace,
            portal: portal.clone(),
        };
        tokio::spawn(task.run(epoch, tx));
        match tokio::time::timeout(REFRESH_WAIT, rx).await {
            Ok(Ok(Refreshed::Live(identity))) => Some(identity),
            Ok(Ok(Refreshed::Refused)) => None,
            // The store does not answer, or not in time: the last identity,
            // which the background refresh replaces or drops.
            _ => Some(last),
        }
    }

    /// The identity behind a portal session, if it is live.
    pub async fn portal_session(
        &self,
        portal: &SessionKey,
    ) -> Result<Option<Identity>, Unavailable> {
        load(&self.idp, portal).await
    }
}

/// A background refresh of one stale identity.
struct Refresh {
    idp: Arc<Idp>,
    cache: Arc<IdentityMap>,
    epoch: Arc<AtomicU64>,
    refreshing: Arc<Mutex<HashSet<SessionKey>>>,
    max_entries: usize,
    ttl: Duration,
    /// No attempt starts after this: the entry is no longer served anyway.
    until: Instant,
    portal: SessionKey,
}

impl Refresh {
    async fn run(self, mut epoch: u64, first: tokio::sync::oneshot::Sender<Refreshed>) {
        let mut first = Some(first);
        let mut pause = RETRY_FIRST;
        loop {
            let outcome = match load(&self.idp, &self.portal).await {
                Ok(Some(identity)) => {
                    let identity = Arc::new(identity);
                    put(
                        &self.cache,
                        self.max_entries,
                        self.ttl,
                        (&self.epoch, epoch),
                        self.portal.clone(),
                        identity.clone(),
                    );
                    Refreshed::Live(identity)
                }
                Ok(None) => {
                    if let Ok(mut cache) = self.cache.write() {
                        cache.remove(&self.portal);
                    }
                    Refreshed::Refused
                }
                Err(Unavailable) => Refreshed::Unavailable,
            };
            let done = !matches!(outcome, Refreshed::Unavailable);
            if let Some(tx) = first.take() {
                let _ = tx.send(outcome);
            }
            // Stop once answered, once the grace is over, or once a
            // revocation dropped the entry (nothing left to keep alive).
            let dropped = self
                .cache
                .read()
                .map(|c| !c.contains_key(&self.portal))
                .unwrap_or(true);
            if done || dropped || Instant::now() + pause >= self.until {
                break;
            }
            if log_outage_now() {
                tracing::warn!(
                    "store unavailable: serving last confirmed identities (within gateway.store_outage_grace) while retrying"
                );
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
            epoch = self.epoch.load(Ordering::SeqCst);
        }
        if let Ok(mut r) = self.refreshing.lock() {
            r.remove(&self.portal);
        }
    }
}

/// The session and account, checked as the portal checks them.
async fn load(idp: &Idp, portal: &SessionKey) -> Result<Option<Identity>, Unavailable> {
    {
        let now = idp::clock::now();
        let Live { user, session, .. } = match idp.resume(Presented::Key(portal), now).await {
            Ok(Ok(live)) => live,
            Ok(Err(why)) => {
                tracing::debug!(?why, "portal session not usable");
                return Ok(None);
            }
            Err(e) => {
                if log_outage_now() {
                    tracing::error!(error = %e, "session store or directory unavailable");
                }
                return Err(Unavailable);
            }
        };
        let groups = match idp.groups_of(&user.id).await {
            Ok(g) => g,
            Err(e) => {
                if log_outage_now() {
                    tracing::error!(error = %e, "directory unavailable");
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: i64 = 60;
    const PERIOD: i64 = 15;

    #[test]
    fn use_within_idle_passes_and_extends_it() {
        let u = LinkUse::new(1000, 0);
        assert!(matches!(u.record(1060, IDLE, PERIOD), Use::Active { .. }));
        // The use at 1060 moved the deadline: 1115 is 55 s after it.
        assert!(matches!(u.record(1115, IDLE, PERIOD), Use::Active { .. }));
        assert_eq!(u.last_used(), 1115);
    }

    #[test]
    fn idle_refuses_and_stays_refused() {
        let u = LinkUse::new(1000, 0);
        assert_eq!(u.record(1061, IDLE, PERIOD), Use::Idle);
        assert_eq!(u.last_used(), 1000, "a refused request is no use");
        assert_eq!(u.record(1062, IDLE, PERIOD), Use::Idle);
        // Links stored before `last_used` existed read as never used.
        assert_eq!(LinkUse::new(0, 0).record(1000, IDLE, PERIOD), Use::Idle);
    }

    #[test]
    fn write_back_at_most_once_per_period() {
        let u = LinkUse::new(1000, 0);
        let writes = (1001..=1059)
            .filter(|t| u.record(*t, IDLE, PERIOD) == Use::Active { write_back: true })
            .collect::<Vec<_>>();
        assert_eq!(writes, vec![1015, 1030, 1045]);
        assert!(u.pending(), "the uses after 1045 are not written yet");
        assert_eq!(
            u.record(1060, IDLE, PERIOD),
            Use::Active { write_back: true }
        );
        assert!(!u.pending());
    }

    #[test]
    fn a_refreshed_entry_keeps_the_newer_use() {
        // The store lags this instance's memory: memory wins, and is pending.
        let u = LinkUse::new(1000, 1050);
        assert_eq!(u.last_used(), 1050);
        assert!(u.pending());
        assert!(matches!(u.record(1100, IDLE, PERIOD), Use::Active { .. }));
        // Another instance wrote a newer use: the store wins.
        let u = LinkUse::new(1050, 1000);
        assert_eq!(u.last_used(), 1050);
        assert!(!u.pending());
    }

    /// An identity behind a fresh portal session, and an application cookie
    /// for `vault` linked to it, on one embedded store.
    async fn linked() -> (Arc<Idp>, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = idp::store::Store::open_in_memory().await.unwrap();
        let idp = Idp::with_store(
            idp::IdpConfig::for_data_dir(dir.path().to_path_buf()),
            store,
        )
        .await
        .unwrap();
        let now = idp::clock::now();
        let user = idp::admin::users::add(
            &idp,
            &idp::admin::Actor::cli("test"),
            idp::admin::users::NewUser {
                email: "a@example.com".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .user;
        let (portal, _) = idp
            .sessions
            .create(&user.id, vec!["pwd".into()], None, now)
            .await
            .unwrap();
        let app = idp
            .sessions
            .link_app(&SessionKey::of_token(&portal), "vault", now + 3600)
            .await
            .unwrap();
        (idp, app, dir)
    }

    /// Another instance on the same store: its own caches.
    fn instance(idp: &Arc<Idp>) -> EdgeSessions {
        let metrics = Arc::new(crate::metrics::Metrics::new(["vault"]));
        EdgeSessions::new(
            idp.clone(),
            Duration::from_secs(60),
            Duration::ZERO,
            100,
            metrics,
        )
    }

    /// Stores the cookie's last use as another instance would write it back.
    async fn store_last_use(idp: &Idp, token: &str, at: i64) {
        let mut link = idp.sessions.app_link(token, at).await.unwrap().unwrap();
        link.last_used = at;
        idp.sessions
            .record_link_use(&SessionKey::of_token(token), &link)
            .await
            .unwrap();
    }

    const OVERRIDE: Option<Duration> = Some(Duration::from_secs(60));

    #[tokio::test]
    async fn identify_applies_the_override_from_the_stored_last_use() {
        let (idp, token, _dir) = linked().await;
        let now = idp::clock::now();
        let a = instance(&idp);
        assert!(
            a.identify(&token, "vault", OVERRIDE)
                .await
                .unwrap()
                .is_some()
        );

        // Unused for two minutes as far as the store knows: a fresh instance
        // refuses it for the override's application, and only for it.
        store_last_use(&idp, &token, now - 120).await;
        let b = instance(&idp);
        assert!(
            b.identify(&token, "vault", OVERRIDE)
                .await
                .unwrap()
                .is_none()
        );
        assert!(b.identify(&token, "vault", None).await.unwrap().is_some());
        assert!(
            a.identify(&token, "vault", OVERRIDE)
                .await
                .unwrap()
                .is_some(),
            "the instance that saw the use keeps it in memory"
        );
    }

    #[tokio::test]
    async fn a_use_is_written_back_once_the_period_passed() {
        let (idp, token, _dir) = linked().await;
        let now = idp::clock::now();
        // Last written 20 s ago: past the 15 s period of a one-minute override.
        store_last_use(&idp, &token, now - 20).await;
        let a = instance(&idp);
        assert!(
            a.identify(&token, "vault", OVERRIDE)
                .await
                .unwrap()
                .is_some()
        );
        // Written in a spawned task, never awaited by the request.
        let mut stored = 0;
        for _ in 0..100 {
            stored = idp
                .sessions
                .app_link(&token, now)
                .await
                .unwrap()
                .unwrap()
                .last_used;
            if stored >= now {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(stored >= now, "the store heard of the use");

        // Without the override nothing is written.
        store_last_use(&idp, &token, now - 20).await;
        let b = instance(&idp);
        assert!(b.identify(&token, "vault", None).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stored = idp
            .sessions
            .app_link(&token, now)
            .await
            .unwrap()
            .unwrap()
            .last_used;
        assert_eq!(stored, now - 20);
    }

    /// An instance whose entries are always past their TTL (every request
    /// refreshes), with `grace`.
    fn refreshing_instance(idp: &Arc<Idp>, grace: Duration) -> EdgeSessions {
        let metrics = Arc::new(crate::metrics::Metrics::new(["vault"]));
        EdgeSessions::new(idp.clone(), Duration::ZERO, grace, 100, metrics)
    }

    #[tokio::test]
    async fn an_outage_serves_the_last_confirmed_identity_within_the_grace() {
        let (idp, token, _dir) = linked().await;
        let a = refreshing_instance(&idp, Duration::from_secs(60));
        let confirmed = a.identify(&token, "vault", None).await.unwrap().unwrap().1;

        idp.close_store().await;
        let started = Instant::now();
        let (_, served) = a.identify(&token, "vault", None).await.unwrap().unwrap();
        assert_eq!(served, confirmed, "the last confirmed identity");
        assert!(started.elapsed() < REFRESH_WAIT + Duration::from_secs(2));
    }

    #[tokio::test]
    async fn without_a_grace_an_outage_fails_closed() {
        let (idp, token, _dir) = linked().await;
        let a = refreshing_instance(&idp, Duration::ZERO);
        assert!(a.identify(&token, "vault", None).await.unwrap().is_some());
        idp.close_store().await;
        assert_eq!(
            a.identify(&token, "vault", None).await.unwrap_err(),
            Unavailable
        );
    }

    #[tokio::test]
    async fn an_identity_never_confirmed_is_not_served_in_an_outage() {
        let (idp, token, _dir) = linked().await;
        let a = refreshing_instance(&idp, Duration::from_secs(60));
        idp.close_store().await;
        assert_eq!(
            a.identify(&token, "vault", None).await.unwrap_err(),
            Unavailable
        );
    }

    #[tokio::test]
    async fn a_refusal_still_ends_a_session_within_the_grace() {
        let (idp, token, _dir) = linked().await;
        let a = refreshing_instance(&idp, Duration::from_secs(60));
        let (_, identity) = a.identify(&token, "vault", None).await.unwrap().unwrap();
        // Ended where this instance does not hear of it (no revocation
        // follower): only the refresh can tell.
        idp.sessions.end(&identity.session).await.unwrap();
        assert!(a.identify(&token, "vault", None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn past_the_grace_nothing_is_served() {
        let (idp, token, _dir) = linked().await;
        let a = refreshing_instance(&idp, Duration::from_millis(1));
        assert!(a.identify(&token, "vault", None).await.unwrap().is_some());
        idp.close_store().await;
        // The entry's age passes the 1 ms grace (the first refusal below may
        // come from the background refresh still running, which is the same).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match a.identify(&token, "vault", None).await {
                Err(Unavailable) => break,
                Ok(Some(_)) if Instant::now() < deadline => tokio::task::yield_now().await,
                other => panic!("expected Unavailable past the grace, got {other:?}"),
            }
        }
    }

    #[test]
    fn write_back_period_follows_the_idle_override() {
        assert_eq!(write_back_period(60), 15);
        assert_eq!(write_back_period(15 * 60), 30);
        assert_eq!(write_back_period(24 * 3600), 30);
    }
}
