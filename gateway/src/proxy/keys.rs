//! Personal API keys on application hosts (`api = { api_keys = true }`):
//! reading the key from `Authorization`, and a bounded, short-lived cache of
//! who holds it, so the per-request check reads memory only. A miss (or an
//! entry older than the TTL) asks the core's one key check
//! (`Idp::check_api_key`) once.
//!
//! Entries are found by an HMAC of the key under a key made at start-up and
//! never stored: nothing in memory could be replayed against the store's
//! SHA-256. Refused keys are remembered the same way, and store lookups for
//! keys not in either map are capped per second, so a flood of made-up keys
//! costs a bounded number of queries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use idp::Idp;
use idp::account::api_keys;
use idp::session::{Revocation, SessionKey};

use super::cache::{HeaderValues, Identity};

/// The longest `Authorization` value read: a key is 47 characters, Basic
/// adds a user name and base64; anything longer is refused unread.
pub const MAX_AUTHORIZATION: usize = 1024;

/// How often a key's last use is written back to the store, at most.
pub const LAST_USE_EVERY: i64 = 60;

/// Store lookups per second for keys this instance has no answer for; past
/// it a request is told to retry (503) instead of costing a query.
pub const LOOKUPS_PER_SECOND: i64 = 100;

/// The refused keys remembered, at most.
const REFUSED_MAX: usize = 4096;

/// What a request's `Authorization` header carries, for a policy that
/// accepts API keys.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// No header, or a scheme that is not ours (the cookie path applies).
    Nothing,
    /// Something shaped like one of our keys.
    Key(String),
    /// A credential we were meant to read and cannot (oversized, several
    /// headers, bad base64, a bearer value that is no key of ours): refused
    /// without any lookup.
    Malformed,
}

/// Reads the key from `Authorization: Bearer pcl_...` or from `Basic` with
/// the key as password (any user name).
pub fn presented(h: &HeaderMap) -> Presented {
    let mut all = h.get_all(header::AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Presented::Nothing;
    };
    if all.next().is_some() || value.len() > MAX_AUTHORIZATION {
        return Presented::Malformed;
    }
    let Ok(value) = value.to_str() else {
        return Presented::Malformed;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest) else {
            return Presented::Malformed;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return Presented::Malformed;
        };
        match raw.split_once(':') {
            // Someone else's Basic credential: not ours to judge.
            Some((_, pass)) if pass.starts_with(api_keys::PREFIX) => pass.to_string(),
            Some(_) => return Presented::Nothing,
            None => return Presented::Malformed,
        }
    } else {
        return Presented::Nothing;
    };
    if api_keys::well_formed(&key) {
        Presented::Key(key)
    } else {
        Presented::Malformed
    }
}

/// Whether `Authorization` may carry one of our keys, on a policy that does
/// not accept them: it is stripped all the same, so no upstream ever
/// receives a Portcullis credential.
pub fn carries_key(h: &HeaderMap) -> bool {
    h.get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| v.len() > MAX_AUTHORIZATION || !matches!(presented_one(v), Presented::Nothing))
}

fn presented_one(v: &HeaderValue) -> Presented {
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, v.clone());
    presented(&h)
}

/// A live key, as requests are admitted with it.
#[derive(Debug)]
pub struct KeyEntry {
    pub key_id: String,
    pub identity: Arc<Identity>,
    /// `api-key:<id>`, made once.
    pub credential: HeaderValue,
    /// Policy ids the key is limited to; None: all.
    pub apps: Option<Vec<String>>,
    expires_at: Option<i64>,
    /// The last use the store holds (or is being sent).
    written: AtomicI64,
}

impl KeyEntry {
    /// Whether the key may open the application `app`.
    pub fn allows(&self, app: &str) -> bool {
        self.apps
            .as_ref()
            .is_none_or(|apps| apps.iter().any(|a| a == app))
    }
}

/// What the cache says of a key.
#[derive(Debug)]
pub enum Found {
    Live(Arc<KeyEntry>),
    Refused,
    /// The store does not answer: nobody is admitted (fail closed).
    Unavailable,
    /// Too many lookups this second: retry shortly.
    Busy,
}

type Mac = [u8; 32];

#[derive(Debug)]
struct Cached<T> {
    value: T,
    fetched: Instant,
}

/// The bounded maps; an insert into a full one drops the expired entries,
/// then everything (as the session cache does).
fn put<T>(map: &RwLock<HashMap<Mac, Cached<T>>>, max: usize, ttl: Duration, key: Mac, value: T) {
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

/// The API-key cache of one gateway instance.
#[derive(Debug)]
pub struct ApiKeys {
    idp: Arc<Idp>,
    /// Made at start-up, never stored or logged.
    mac: idp::crypto::Keys,
    ttl: Duration,
    max_entries: usize,
    live: RwLock<HashMap<Mac, Cached<Arc<KeyEntry>>>>,
    refused: RwLock<HashMap<Mac, Cached<()>>>,
    /// Bumped by every revocation: a lookup that started before one may be
    /// stale and is not cached.
    epoch: AtomicU64,
    /// The second `lookups` counts in.
    window: AtomicI64,
    lookups: AtomicI64,
}

impl ApiKeys {
    pub fn new(idp: Arc<Idp>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            idp,
            mac: idp::crypto::Keys::new(idp::crypto::random_bytes::<32>()),
            ttl,
            max_entries: max_entries.max(1),
            live: RwLock::new(HashMap::new()),
            refused: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            window: AtomicI64::new(0),
            lookups: AtomicI64::new(0),
        }
    }

    fn mac_of(&self, secret: &str) -> Mac {
        self.mac.mac("gateway api key", secret.as_bytes())
    }

    /// The holder of `secret`, from memory when known within the TTL.
    pub async fn identify(&self, secret: &str) -> Found {
        let mac = self.mac_of(secret);
        let now = idp::clock::now();
        let hit = self.live.read().ok().and_then(|m| {
            m.get(&mac)
                .filter(|c| c.fetched.elapsed() < self.ttl)
                .map(|c| c.value.clone())
        });
        if let Some(entry) = hit {
            // Expiry is exact, not up to a TTL late.
            if entry.expires_at.is_some_and(|e| e <= now) {
                return Found::Refused;
            }
            self.record_use(&entry, now);
            return Found::Live(entry);
        }
        let known_bad = self
            .refused
            .read()
            .ok()
            .is_some_and(|m| m.get(&mac).is_some_and(|c| c.fetched.elapsed() < self.ttl));
        if known_bad {
            return Found::Refused;
        }
        if !self.may_look_up(now) {
            return Found::Busy;
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let holder = match self.idp.check_api_key(secret, now).await {
            Ok(Ok(holder)) => holder,
            Ok(Err(why)) => {
                tracing::debug!(?why, "API key refused");
                if let Ok(mut live) = self.live.write() {
                    live.remove(&mac);
                }
                // A refusal is remembered for the TTL (an unlocked owner's
                // key works again within it), so repeating it costs no query.
                put(&self.refused, REFUSED_MAX, self.ttl, mac, ());
                return Found::Refused;
            }
            Err(e) => {
                tracing::error!(error = %e, "store unavailable: cannot check an API key");
                return Found::Unavailable;
            }
        };
        let groups = match self.idp.groups_of(&holder.user.id).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable: cannot check an API key");
                return Found::Unavailable;
            }
        };
        let Some(headers) = HeaderValues::new(&holder.user.id, &holder.user.email, &groups) else {
            tracing::warn!(user = %holder.user.id, "user id or email not valid in a header; refused");
            return Found::Refused;
        };
        let Ok(credential) = HeaderValue::from_str(&format!("api-key:{}", holder.key_id)) else {
            return Found::Refused;
        };
        let entry = Arc::new(KeyEntry {
            identity: Arc::new(Identity {
                // Assertions are cached per credential: one per key.
                session: SessionKey::from_stored(format!("api-key:{}", holder.key_id)),
                user_id: holder.user.id,
                email: holder.user.email,
                groups,
                // A key proves no second factor.
                mfa_at: None,
                amr: Vec::new(),
                auth_time: holder.created_at,
                expires_at: holder.expires_at.unwrap_or(i64::MAX),
                headers,
            }),
            key_id: holder.key_id,
            credential,
            apps: holder.apps,
            expires_at: holder.expires_at,
            written: AtomicI64::new(holder.last_used_at.unwrap_or(0)),
        });
        self.record_use(&entry, now);
        if let Ok(mut live) = self.live.write() {
            // Checked under the lock `forget` takes: no revoked entry slips in.
            if self.epoch.load(Ordering::SeqCst) == epoch {
                if live.len() >= self.max_entries {
                    live.retain(|_, c| c.fetched.elapsed() < self.ttl);
                    if live.len() >= self.max_entries {
                        live.clear();
                    }
                }
                live.insert(
                    mac,
                    Cached {
                        value: entry.clone(),
                        fetched: Instant::now(),
                    },
                );
            }
        }
        Found::Live(entry)
    }

    /// One lookup of the second's budget, if any is left.
    fn may_look_up(&self, now: i64) -> bool {
        let window = self.window.load(Ordering::Relaxed);
        if window != now
            && self
                .window
                .compare_exchange(window, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.lookups.store(0, Ordering::Relaxed);
        }
        self.lookups.fetch_add(1, Ordering::Relaxed) < LOOKUPS_PER_SECOND
    }

    /// Writes the key's last use back at most once per [`LAST_USE_EVERY`],
    /// without making the request wait.
    fn record_use(&self, entry: &Arc<KeyEntry>, now: i64) {
        let written = entry.written.load(Ordering::Relaxed);
        if now - written < LAST_USE_EVERY
            || entry
                .written
                .compare_exchange(written, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let idp = self.idp.clone();
        let id = entry.key_id.clone();
        tokio::spawn(async move {
            if let Err(e) = idp.record_api_key_use(&id, now).await {
                tracing::warn!(error = %e, "could not record an API key's last use");
            }
        });
    }

    /// Drops what a revocation ends: a locked, deleted or signed-out-
    /// everywhere user's keys are checked again on their next request.
    pub fn forget(&self, revocation: &Revocation) {
        if let Ok(mut live) = self.live.write() {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            match revocation {
                Revocation::Session(_) => {}
                Revocation::User(user) => live.retain(|_, c| &c.value.identity.user_id != user),
                Revocation::All => live.clear(),
            }
        }
    }

    /// Applies revocations (this instance's and the others') for as long as
    /// the process runs, and drops expired entries now and then, so memory
    /// follows the keys in use.
    pub fn follow(self: &Arc<Self>) {
        let mut rx = self.idp.sessions.revocations();
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let revocation = match rx.recv().await {
                    Ok(r) => r,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Revocation::All,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(me) = me.upgrade() else { return };
                me.forget(&revocation);
            }
        });
        let me = Arc::downgrade(self);
        let every = self.ttl.max(Duration::from_secs(5));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = me.upgrade() else { return };
                me.sweep();
            }
        });
    }

    fn sweep(&self) {
        if let Ok(mut live) = self.live.write() {
            live.retain(|_, c| c.fetched.elapsed() < self.ttl);
            live.shrink_to_fit();
        }
        if let Ok(mut refused) = self.refused.write() {
            refused.retain(|_, c| c.fetched.elapsed() < self.ttl);
            refused.shrink_to_fit();
        }
    }

    /// How many keys are remembered, live and refused.
    pub fn len(&self) -> (usize, usize) {
        (
            self.live.read().map_or(0, |m| m.len()),
            self.refused.read().map_or(0, |m| m.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    fn key() -> String {
        idp::account::api_keys::generate().0
    }

    #[test]
    fn bearer_and_basic_carry_the_key() {
        let k = key();
        assert_eq!(
            presented(&auth(&format!("Bearer {k}"))),
            Presented::Key(k.clone())
        );
        assert_eq!(
            presented(&auth(&format!("bearer  {k} "))),
            Presented::Key(k.clone())
        );
        for user in ["", "me", "me@example.com"] {
            let basic = STANDARD.encode(format!("{user}:{k}"));
            assert_eq!(
                presented(&auth(&format!("Basic {basic}"))),
                Presented::Key(k.clone()),
                "{user:?}"
            );
        }
        assert_eq!(presented(&HeaderMap::new()), Presented::Nothing);
    }

    #[test]
    fn other_credentials_are_not_ours_and_bad_ones_are_refused_unread() {
        // Someone else's scheme, or a Basic password that is no key: the
        // cookie path decides, as before.
        for v in [
            "Digest username=\"a\"".to_string(),
            format!("Basic {}", STANDARD.encode("me:hunter2")),
        ] {
            assert_eq!(presented(&auth(&v)), Presented::Nothing, "{v}");
        }
        let k = key();
        for v in [
            "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig".to_string(),
            "Bearer".to_string(),
            format!("Bearer {}", &k[..k.len() - 1]),
            "Basic !!!not-base64!!!".to_string(),
            format!("Basic {}", STANDARD.encode(&k)),
            format!("Basic {}", STANDARD.encode(format!("me:{k}x"))),
            format!("Bearer {}", "pcl_".repeat(300)),
        ] {
            assert_eq!(presented(&auth(&v)), Presented::Malformed, "{v}");
        }
        // Oversized: refused before any parsing.
        let long = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{k}", "u".repeat(2000)))
        );
        assert!(long.len() > MAX_AUTHORIZATION);
        assert_eq!(presented(&auth(&long)), Presented::Malformed);
        // Two headers: which one counts is ambiguous.
        let mut two = auth(&format!("Bearer {k}"));
        two.append(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {k}")).unwrap(),
        );
        assert_eq!(presented(&two), Presented::Malformed);
    }

    #[test]
    fn our_keys_are_recognised_for_stripping() {
        let k = key();
        assert!(carries_key(&auth(&format!("Bearer {k}"))));
        assert!(carries_key(&auth(&format!(
            "Basic {}",
            STANDARD.encode(format!("x:{k}"))
        ))));
        assert!(!carries_key(&auth("Basic bWU6aHVudGVyMg==")));
        assert!(!carries_key(&HeaderMap::new()));
    }

    async fn idp() -> (Arc<Idp>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = idp::store::Store::open_in_memory().await.unwrap();
        let idp = Idp::with_store(
            idp::IdpConfig::for_data_dir(dir.path().to_path_buf()),
            store,
        )
        .await
        .unwrap();
        (idp, dir)
    }

    #[tokio::test]
    async fn the_cache_stays_bounded_and_remembers_refusals() {
        let (idp, _dir) = idp().await;
        let keys = ApiKeys::new(idp.clone(), Duration::from_secs(60), 3);
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
        let now = idp::clock::now();
        let mut secrets = Vec::new();
        for i in 0..5 {
            let k = idp
                .create_api_key(&user, &format!("k{i}"), 30, None, now)
                .await
                .unwrap();
            assert!(matches!(keys.identify(&k.secret).await, Found::Live(_)));
            assert!(keys.len().0 <= 3, "live entries stay within the bound");
            secrets.push(k.secret);
        }
        // Made-up keys are remembered as refused, by MAC, within their bound.
        for _ in 0..(REFUSED_MAX + 10) {
            let mac = keys.mac_of(&key());
            put(&keys.refused, REFUSED_MAX, keys.ttl, mac, ());
        }
        assert!(keys.len().1 <= REFUSED_MAX);
        let bogus = key();
        assert!(matches!(keys.identify(&bogus).await, Found::Refused));
        let before = keys.lookups.load(Ordering::Relaxed);
        assert!(matches!(keys.identify(&bogus).await, Found::Refused));
        assert_eq!(
            keys.lookups.load(Ordering::Relaxed),
            before,
            "a refused key is answered from memory"
        );
        // A lock reaches the cache at once through the revocation.
        keys.forget(&Revocation::User(user.id.clone()));
        assert_eq!(keys.len().0, 0);
    }

    #[tokio::test]
    async fn lookups_are_capped_per_second() {
        let (idp, _dir) = idp().await;
        let keys = ApiKeys::new(idp, Duration::from_secs(60), 10);
        let now = idp::clock::now();
        let allowed = (0..LOOKUPS_PER_SECOND * 2)
            .filter(|_| keys.may_look_up(now))
            .count() as i64;
        assert_eq!(allowed, LOOKUPS_PER_SECOND);
        assert!(
            keys.may_look_up(now + 1),
            "the next second has its own budget"
        );
    }
}
