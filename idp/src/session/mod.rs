//! Portal sessions. The cookie carries a random 256-bit id; stores only ever
//! see its SHA-256, so a leaked store or log reveals no usable session.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{RwLock, broadcast};

pub mod device;
pub mod end;
pub mod resume;
pub mod view;

use crate::config::SessionConfig;
use crate::crypto;
use crate::directory::User;
use crate::error::Result;

/// The hash of a session id: the key stores use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

/// What an application-host cookie stands for: the portal session it was
/// issued from (by the gateway's handshake) and the application. Kept in the
/// session store so every instance behind a load balancer honours it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLink {
    pub session: SessionKey,
    pub app: String,
    /// The portal session's absolute end; the link is worthless after it.
    pub expires_at: i64,
    /// When the cookie was last used on its application, for policies with
    /// a session idle override. Written back by the gateway now and then, so
    /// instances sharing the store see each other's activity; links stored
    /// before the field existed read as never used.
    #[serde(default)]
    pub last_used: i64,
}

/// A session (or all of a user's) ending. Announced so that caches in front
/// of the store, the gateway's on every instance, drop it at once instead of
/// when their entry's lifetime runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Revocation {
    Session(SessionKey),
    User(String),
    /// Announcements may have been missed (the channel between instances
    /// was down or a listener fell behind): forget everything cached.
    All,
}

/// Announcements kept for a slow listener before it is told to forget all.
const REVOCATION_BACKLOG: usize = 1024;

/// Links kept by the embedded store at most; beyond, expired ones go first,
/// then all (their browsers silently repeat the handshake).
const MAX_LINKS: usize = 200_000;

impl SessionKey {
    pub fn of_token(token: &str) -> Self {
        Self(crypto::sha256_hex(token.as_bytes()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The key whose hash was stored earlier with [`SessionKey::as_str`].
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }
}

/// What a store keeps for one signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub created_at: i64,
    /// When the user last proved who they are (password, later MFA).
    pub auth_time: i64,
    /// Authentication methods references (RFC 8176): `pwd`, later `otp`, `hwk`...
    pub amr: Vec<String>,
    /// When a second factor was last verified.
    pub mfa_at: Option<i64>,
    /// Absolute end.
    pub expires_at: i64,
    pub last_seen: i64,
    pub source_ip: Option<String>,
    /// The browser and system the session began in ("Firefox on Linux",
    /// [`device::describe`]), for the user's list of sessions. Sessions
    /// stored before the field existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The gateway applications this session opened (policy ids), in the
    /// order first opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
}

impl Session {
    pub fn idle_deadline(&self, idle_secs: i64) -> i64 {
        (self.last_seen + idle_secs).min(self.expires_at)
    }
}

/// Where sessions live. The embedded store is in-process and persisted to
/// the state database; a shared Redis store implements the same trait.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<()>;
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>>;
    /// Records activity; stores may persist it lazily.
    async fn touch(&self, key: &SessionKey, now: i64) -> Result<()>;
    async fn remove(&self, key: &SessionKey) -> Result<()>;
    /// Stores `session` under `key` only if a session is stored there now:
    /// an annotation (device, applications opened) never brings back a
    /// session that ended meanwhile.
    async fn replace(&self, key: &SessionKey, session: &Session) -> Result<()>;
    /// Ends every session of the user; returns how many ended.
    async fn revoke_user(&self, user_id: &str) -> Result<usize>;
    /// The user's sessions, for the admin console; expired ones may be
    /// among them (the caller filters).
    async fn of_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>>;
    /// Stores an application-host cookie's link (keyed by the cookie's hash).
    async fn insert_link(&self, key: &SessionKey, link: &AppLink) -> Result<()>;
    async fn get_link(&self, key: &SessionKey) -> Result<Option<AppLink>>;
    /// Tells the other instances sharing this store about a revocation. An
    /// in-process store has nobody to tell.
    async fn announce(&self, _revocation: &Revocation) -> Result<()> {
        Ok(())
    }
    /// Forwards the other instances' announcements to `tx` from now on.
    fn listen(&self, _tx: broadcast::Sender<Revocation>) {}
}

/// In-process sessions, written through to the state store so a restart
/// keeps everyone signed in. Reads never touch the database.
#[derive(Debug)]
pub struct EmbeddedStore {
    db: crate::store::Store,
    map: RwLock<HashMap<RawKey, Entry>>,
    /// In memory only: after a restart browsers repeat the (silent) handshake.
    links: RwLock<HashMap<SessionKey, AppLink>>,
}

/// A session key as the 32 bytes its hex spells: half the size of the hex
/// string and no allocation of its own.
type RawKey = [u8; 32];

/// A stored key back to raw bytes; keys are always our SHA-256 hex, so
/// anything else names no session.
fn raw_key(key: &SessionKey) -> Option<RawKey> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(key.as_str(), &mut raw).ok()?;
    Some(raw)
}

/// A [`Session`] as the embedded store keeps it. Boxed strings and the amr
/// list as one string make an entry about half of a `Session`'s size, which
/// is what keeps 100,000 sessions within a few tens of MB.
#[derive(Debug, Clone)]
struct Entry {
    user_id: Box<str>,
    /// The amr values joined by [`AMR_SEPARATOR`].
    amr: Box<str>,
    source_ip: Option<Box<str>>,
    device: Option<Box<str>>,
    /// The applications opened, joined by [`AMR_SEPARATOR`].
    apps: Box<str>,
    created_at: i64,
    auth_time: i64,
    mfa_at: Option<i64>,
    expires_at: i64,
    last_seen: i64,
    /// `last_seen` as last written to the database.
    persisted_seen: i64,
}

impl Entry {
    fn new(s: &Session) -> Self {
        Self {
            user_id: s.user_id.as_str().into(),
            amr: s.amr.join(AMR_SEPARATOR).into_boxed_str(),
            source_ip: s.source_ip.as_deref().map(Into::into),
            device: s.device.as_deref().map(Into::into),
            apps: s.apps.join(AMR_SEPARATOR).into_boxed_str(),
            created_at: s.created_at,
            auth_time: s.auth_time,
            mfa_at: s.mfa_at,
            expires_at: s.expires_at,
            last_seen: s.last_seen,
            persisted_seen: s.last_seen,
        }
    }

    fn session(&self) -> Session {
        Session {
            user_id: self.user_id.to_string(),
            created_at: self.created_at,
            auth_time: self.auth_time,
            amr: self
                .amr
                .split(AMR_SEPARATOR)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
            mfa_at: self.mfa_at,
            expires_at: self.expires_at,
            last_seen: self.last_seen,
            source_ip: self.source_ip.as_deref().map(str::to_string),
            device: self.device.as_deref().map(str::to_string),
            apps: self
                .apps
                .split(AMR_SEPARATOR)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// Joins amr values in an [`Entry`]: a control character, because values
/// relayed from an upstream provider are not ours to restrict.
const AMR_SEPARATOR: &str = "\u{1f}";

/// Applications one session records at most: a list for a person to read,
/// not an access log.
const MAX_APPS: usize = 50;

/// Activity is written back at most this often per session, to keep page
/// views from turning into database writes.
const TOUCH_PERSIST_SECS: i64 = 60;

impl EmbeddedStore {
    /// Loads the unexpired sessions from the database.
    pub async fn load(db: crate::store::Store, now: i64) -> Result<Self> {
        let mut map = HashMap::new();
        db.load_sessions(now, |hash, json| {
            let Some(key) = raw_key(&SessionKey(hash)) else {
                tracing::warn!("dropping a stored session with a malformed key");
                return;
            };
            match serde_json::from_str::<Session>(&json) {
                Ok(session) => {
                    map.insert(key, Entry::new(&session));
                }
                Err(e) => tracing::warn!(error = %e, "dropping unreadable stored session"),
            }
        })
        .await?;
        map.shrink_to_fit();
        Ok(Self {
            db,
            map: RwLock::new(map),
            links: RwLock::new(HashMap::new()),
        })
    }

    async fn persist(&self, key: &SessionKey, s: &Session) -> Result<()> {
        let json = serde_json::to_string(s).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        self.db
            .save_session(key.as_str(), &s.user_id, &json, s.expires_at)
            .await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<()> {
        let raw = raw_key(key)
            .ok_or_else(|| crate::Error::Corrupt("session key is not a SHA-256 hex".into()))?;
        self.persist(key, session).await?;
        self.map.write().await.insert(raw, Entry::new(session));
        Ok(())
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<Session>> {
        let Some(raw) = raw_key(key) else {
            return Ok(None);
        };
        Ok(self.map.read().await.get(&raw).map(Entry::session))
    }

    async fn touch(&self, key: &SessionKey, now: i64) -> Result<()> {
        let Some(raw) = raw_key(key) else {
            return Ok(());
        };
        let to_persist = {
            let mut map = self.map.write().await;
            let Some(entry) = map.get_mut(&raw) else {
                return Ok(());
            };
            entry.last_seen = now;
            if now - entry.persisted_seen >= TOUCH_PERSIST_SECS {
                entry.persisted_seen = now;
                Some(entry.session())
            } else {
                None
            }
        };
        if let Some(s) = to_persist {
            self.persist(key, &s).await?;
        }
        Ok(())
    }

    async fn replace(&self, key: &SessionKey, session: &Session) -> Result<()> {
        let Some(raw) = raw_key(key) else {
            return Ok(());
        };
        {
            let mut map = self.map.write().await;
            let Some(entry) = map.get_mut(&raw) else {
                return Ok(());
            };
            // Activity recorded since the caller read the session stays.
            let last_seen = entry.last_seen.max(session.last_seen);
            *entry = Entry::new(session);
            entry.last_seen = last_seen;
        }
        self.persist(key, session).await
    }

    async fn remove(&self, key: &SessionKey) -> Result<()> {
        if let Some(raw) = raw_key(key) {
            self.map.write().await.remove(&raw);
        }
        self.db.delete_session(key.as_str()).await
    }

    async fn revoke_user(&self, user_id: &str) -> Result<usize> {
        let n = {
            let mut map = self.map.write().await;
            let before = map.len();
            map.retain(|_, e| &*e.user_id != user_id);
            before - map.len()
        };
        self.db.delete_user_sessions(user_id).await?;
        Ok(n)
    }

    async fn of_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>> {
        // A scan: the map has no index by user, and only an administrator's
        // page asks, one user at a time.
        Ok(self
            .map
            .read()
            .await
            .iter()
            .filter(|(_, e)| &*e.user_id == user_id)
            .map(|(k, e)| (SessionKey(hex::encode(k)), e.session()))
            .collect())
    }

    async fn insert_link(&self, key: &SessionKey, link: &AppLink) -> Result<()> {
        let mut links = self.links.write().await;
        if links.len() >= MAX_LINKS {
            let now = crate::clock::now();
            links.retain(|_, l| l.expires_at > now);
            if links.len() >= MAX_LINKS {
                tracing::warn!(
                    links = links.len(),
                    "application link table full; clearing it"
                );
                links.clear();
            }
        }
        links.insert(key.clone(), link.clone());
        Ok(())
    }

    async fn get_link(&self, key: &SessionKey) -> Result<Option<AppLink>> {
        Ok(self.links.read().await.get(key).cloned())
    }
}

/// Session rules on top of a store: creation, lifetime checks, revocation.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    idle_secs: i64,
    lifetime_secs: i64,
    revoked: broadcast::Sender<Revocation>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, cfg: &SessionConfig) -> Self {
        let (revoked, _) = broadcast::channel(REVOCATION_BACKLOG);
        store.listen(revoked.clone());
        Self {
            store,
            idle_secs: cfg.idle_timeout.as_secs() as i64,
            lifetime_secs: cfg.lifetime.as_secs() as i64,
            revoked,
        }
    }

    /// Revocations made by this instance and, with a shared store, by the
    /// others. A receiver that falls behind gets `Lagged` and should forget
    /// everything it caches.
    pub fn revocations(&self) -> broadcast::Receiver<Revocation> {
        self.revoked.subscribe()
    }

    /// Tells this instance's listeners, then the other instances. The store
    /// change is already made: a failed announcement only delays the others
    /// until their cache entries expire, so it is logged, not returned.
    async fn announce(&self, revocation: Revocation) {
        if let Err(e) = self.store.announce(&revocation).await {
            tracing::warn!(error = %e, "could not announce a revocation to the other instances");
        }
        // No receiver (no gateway in this process) is not an error.
        let _ = self.revoked.send(revocation);
    }

    /// Starts a session with a new random id, returned for the cookie.
    pub async fn create(
        &self,
        user_id: &str,
        amr: Vec<String>,
        source_ip: Option<String>,
        now: i64,
    ) -> Result<(String, Session)> {
        self.create_with(user_id, amr, source_ip, now, None, now)
            .await
    }

    /// Starts a session with a new random id and explicit authentication
    /// times: after a second factor, `auth_time` is when the password was
    /// checked and `mfa_at` when the second factor was.
    pub async fn create_with(
        &self,
        user_id: &str,
        amr: Vec<String>,
        source_ip: Option<String>,
        auth_time: i64,
        mfa_at: Option<i64>,
        now: i64,
    ) -> Result<(String, Session)> {
        let token = crypto::random_token();
        let session = Session {
            user_id: user_id.to_string(),
            created_at: now,
            auth_time,
            amr,
            mfa_at,
            expires_at: now + self.lifetime_secs,
            last_seen: now,
            source_ip,
            device: None,
            apps: Vec::new(),
        };
        self.store
            .insert(&SessionKey::of_token(&token), &session)
            .await?;
        Ok((token, session))
    }

    /// The live session for a cookie value, recording the activity. Expired
    /// or idle sessions are removed and read as absent.
    pub(crate) async fn resume(
        &self,
        token: &str,
        now: i64,
    ) -> Result<std::result::Result<(SessionKey, Session), Refusal>> {
        if token.len() != 43 {
            return Ok(Err(Refusal::Unknown));
        }
        let key = SessionKey::of_token(token);
        Ok(self.resume_key(&key, now).await?.map(|s| (key, s)))
    }

    /// Like [`Self::resume`] for a caller that holds only the key (the
    /// gateway, which never sees the portal cookie). Activity is recorded at
    /// most once a second per session, so a burst of proxied requests does
    /// not turn into a burst of store writes.
    pub(crate) async fn resume_key(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> Result<std::result::Result<Session, Refusal>> {
        let Some(session) = self.store.get(key).await? else {
            return Ok(Err(Refusal::Unknown));
        };
        if now >= session.expires_at {
            self.end(key).await?;
            return Ok(Err(Refusal::Unknown));
        }
        if now >= session.idle_deadline(self.idle_secs) {
            self.end(key).await?;
            return Ok(Err(Refusal::Idle));
        }
        if now > session.last_seen {
            self.store.touch(key, now).await?;
        }
        Ok(Ok(session))
    }

    /// A new application-host cookie value linked to `session` for `app`.
    pub async fn link_app(
        &self,
        session: &SessionKey,
        app: &str,
        expires_at: i64,
    ) -> Result<String> {
        let token = crypto::random_token();
        let link = AppLink {
            session: session.clone(),
            app: app.to_string(),
            expires_at,
            last_used: crate::clock::now(),
        };
        self.store
            .insert_link(&SessionKey::of_token(&token), &link)
            .await?;
        self.record_app(session, app).await?;
        Ok(token)
    }

    /// Notes that `session` opened `app`, for the user's list of sessions:
    /// a write the first time only, so the silent handshakes that follow
    /// cost nothing.
    async fn record_app(&self, key: &SessionKey, app: &str) -> Result<()> {
        let Some(mut session) = self.store.get(key).await? else {
            return Ok(());
        };
        if session.apps.iter().any(|a| a == app) || session.apps.len() >= MAX_APPS {
            return Ok(());
        }
        session.apps.push(app.to_string());
        self.store.replace(key, &session).await
    }

    /// Records the browser a new session began in ([`device::describe`] of
    /// its `User-Agent`): once, when the sign-in completes.
    pub async fn describe(&self, key: &SessionKey, user_agent: &str) -> Result<()> {
        let Some(mut session) = self.store.get(key).await? else {
            return Ok(());
        };
        session.device = Some(device::describe(user_agent));
        self.store.replace(key, &session).await
    }

    /// The link behind an application-host cookie value, while it lasts.
    pub async fn app_link(&self, token: &str, now: i64) -> Result<Option<AppLink>> {
        if token.len() != 43 {
            return Ok(None);
        }
        let link = self.store.get_link(&SessionKey::of_token(token)).await?;
        Ok(link.filter(|l| l.expires_at > now))
    }

    /// Stores `link` again under its cookie's hash: how the gateway writes a
    /// newer `last_used` back. Last write wins; the writers throttle
    /// themselves, so a lost update costs at most one write-back period.
    pub async fn record_link_use(&self, key: &SessionKey, link: &AppLink) -> Result<()> {
        self.store.insert_link(key, link).await
    }

    /// Tells this instance's listeners (its gateway cache) only: for a
    /// revocation the store could not take yet.
    pub fn forget_here(&self, revocation: Revocation) {
        let _ = self.revoked.send(revocation);
    }

    pub async fn end(&self, key: &SessionKey) -> Result<()> {
        self.store.remove(key).await?;
        self.announce(Revocation::Session(key.clone())).await;
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn of_user(&self, user_id: &str, now: i64) -> Result<Vec<(SessionKey, Session)>> {
        let mut all: Vec<(SessionKey, Session)> = self
            .store
            .of_user(user_id)
            .await?
            .into_iter()
            .filter(|(_, s)| now < s.expires_at && now < s.idle_deadline(self.idle_secs))
            .collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.1.created_at));
        Ok(all)
    }

    pub async fn revoke_user(&self, user_id: &str) -> Result<usize> {
        let n = self.store.revoke_user(user_id).await?;
        self.announce(Revocation::User(user_id.to_string())).await;
        Ok(n)
    }

    pub fn idle_secs(&self) -> i64 {
        self.idle_secs
    }
}

/// A live session and the usable account behind it.
#[derive(Debug, Clone)]
pub struct Live {
    pub key: SessionKey,
    pub session: Session,
    pub user: User,
}

impl Live {
    /// When the user last proved who they are, by any means: a step-up
    /// counts as much as the sign-in itself.
    pub fn proved_at(&self) -> i64 {
        self.session
            .mfa_at
            .map_or(self.session.auth_time, |m| m.max(self.session.auth_time))
    }
}

/// Why a session is not good (any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such session, or past its absolute lifetime.
    Unknown,
    /// Unused for longer than the idle timeout.
    Idle,
    /// The account was deleted.
    UserGone,
    /// The account is locked (by an administrator, failed attempts or expiry).
    Locked,
    /// A password was set after this session began.
    PasswordChanged,
    /// A passkey-only session past `[mfa] passkey_reverify`: the user must
    /// verify with the passkey again. The session itself is kept: the new
    /// passkey sign-in replaces it.
    PasskeyReverify,
}

/// Which session to check.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// The portal cookie's value (the portal, OIDC, SAML).
    Token(&'a str),
    /// Its key, for the gateway, which never sees the portal cookie.
    Key(&'a SessionKey),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn setup() -> (crate::store::Store, Sessions, String) {
        let db = crate::store::Store::open_in_memory().await.unwrap();
        let user = db
            .create_user(
                &crate::store::NewUser {
                    email: "a@example.com".into(),
                    ..Default::default()
                },
                0,
            )
            .await
            .unwrap();
        let store = Arc::new(EmbeddedStore::load(db.clone(), 0).await.unwrap());
        let cfg = SessionConfig {
            idle_timeout: Duration::from_secs(600),
            lifetime: Duration::from_secs(3600),
            remember_email: Duration::from_secs(60),
            ..SessionConfig::default()
        };
        (db, Sessions::new(store, &cfg), user.id)
    }

    #[tokio::test]
    async fn idle_and_absolute_expiry() {
        let (_db, s, uid) = setup().await;
        let (token, _) = s
            .create(&uid, vec!["pwd".into()], None, 1000)
            .await
            .unwrap();
        assert!(s.resume(&token, 1500).await.unwrap().is_ok());
        // Activity at 1500 pushed the idle deadline to 2100.
        assert!(s.resume(&token, 2000).await.unwrap().is_ok());
        assert!(s.resume(&token, 2700).await.unwrap().is_err(), "idle");
        assert!(
            s.resume(&token, 2000).await.unwrap().is_err(),
            "removed for good"
        );

        let (token, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        for t in (1500..4600).step_by(500) {
            let live = s.resume(&token, t).await.unwrap().is_ok();
            assert_eq!(live, t < 4600, "at {t}");
        }
        assert!(
            s.resume(&token, 4600).await.unwrap().is_err(),
            "absolute lifetime"
        );
        assert!(s.resume("not-a-token", 1000).await.unwrap().is_err());
    }

    #[tokio::test]
    async fn compact_entries_give_back_the_session_they_were_given() {
        let (db, s, uid) = setup().await;
        let (token, made) = s
            .create_with(
                &uid,
                vec!["pwd".into(), "otp".into(), "urn:upstream method".into()],
                Some("2001:db8::1".into()),
                990,
                Some(995),
                1000,
            )
            .await
            .unwrap();
        let key = SessionKey::of_token(&token);
        let fresh = EmbeddedStore::load(db, 1001).await.unwrap();
        for store in [&*s.store, &fresh as &dyn Store] {
            assert_eq!(store.get(&key).await.unwrap().as_ref(), Some(&made));
        }
        let (bare, bare_made) = s.create(&uid, vec![], None, 1000).await.unwrap();
        let got = s.store.get(&SessionKey::of_token(&bare)).await.unwrap();
        assert_eq!(got, Some(bare_made), "no amr, no address");
        let not_hex = SessionKey::from_stored("not a key".into());
        assert_eq!(s.store.get(&not_hex).await.unwrap(), None);
        s.store.touch(&not_hex, 1002).await.unwrap();
        s.store.remove(&not_hex).await.unwrap();
    }

    #[tokio::test]
    async fn the_browser_and_applications_survive_a_restart() {
        let (db, s, uid) = setup().await;
        let (token, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        let key = SessionKey::of_token(&token);
        s.describe(
            &key,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1",
        )
        .await
        .unwrap();
        for app in ["wiki", "grafana", "wiki"] {
            s.link_app(&key, app, i64::MAX).await.unwrap();
        }
        let fresh = EmbeddedStore::load(db, 1001).await.unwrap();
        let got = fresh.get(&key).await.unwrap().unwrap();
        assert_eq!(got.device.as_deref(), Some("Safari on iPhone"));
        assert_eq!(got.apps, vec!["wiki".to_string(), "grafana".to_string()]);
        // An ended session is not brought back by a late annotation.
        s.end(&key).await.unwrap();
        s.describe(&key, "curl/8").await.unwrap();
        assert!(s.store.get(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn survives_restart_and_revokes_per_user() {
        let (db, s, uid) = setup().await;
        let (a, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        let (b, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        // A new process loads the same sessions from the database.
        let reloaded = Sessions::new(
            Arc::new(EmbeddedStore::load(db.clone(), 1001).await.unwrap()),
            &SessionConfig::default(),
        );
        assert!(reloaded.resume(&a, 1002).await.unwrap().is_ok());
        assert_eq!(s.revoke_user(&uid).await.unwrap(), 2);
        assert!(s.resume(&a, 1003).await.unwrap().is_err());
        assert!(s.resume(&b, 1003).await.unwrap().is_err());
        let again = EmbeddedStore::load(db, 1004).await.unwrap();
        assert!(
            again
                .get(&SessionKey::of_token(&a))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn links_carry_their_last_use() {
        let (_db, s, uid) = setup().await;
        let (portal, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        let portal = SessionKey::of_token(&portal);
        let before = crate::clock::now();
        let token = s.link_app(&portal, "wiki", i64::MAX).await.unwrap();
        let mut link = s.app_link(&token, before).await.unwrap().unwrap();
        assert!(link.last_used >= before, "used when issued");
        link.last_used += 30;
        let key = SessionKey::of_token(&token);
        s.record_link_use(&key, &link).await.unwrap();
        assert_eq!(s.app_link(&token, before).await.unwrap(), Some(link));
        // Links written before the field existed: never used.
        let old: AppLink =
            serde_json::from_str(r#"{"session":"ab","app":"wiki","expires_at":5}"#).unwrap();
        assert_eq!(old.last_used, 0);
    }

    #[tokio::test]
    async fn endings_are_announced_and_nothing_else() {
        let (_db, s, uid) = setup().await;
        let mut rx = s.revocations();
        let (token, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        assert!(s.resume(&token, 1001).await.unwrap().is_ok());
        assert!(
            rx.try_recv().is_err(),
            "creating and resuming announce nothing"
        );
        let key = SessionKey::of_token(&token);
        s.end(&key).await.unwrap();
        assert_eq!(rx.try_recv().unwrap(), Revocation::Session(key));

        let (idle, _) = s.create(&uid, vec![], None, 1000).await.unwrap();
        assert!(s.resume(&idle, 1000 + 601).await.unwrap().is_err());
        assert_eq!(
            rx.try_recv().unwrap(),
            Revocation::Session(SessionKey::of_token(&idle)),
            "an idle session found ended"
        );

        s.revoke_user(&uid).await.unwrap();
        assert_eq!(rx.try_recv().unwrap(), Revocation::User(uid.clone()));
        assert!(rx.try_recv().is_err());
    }
}
