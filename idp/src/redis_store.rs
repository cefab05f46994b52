//! Sessions in Redis, shared by several `portcullis` instances. Layout:
//! `{prefix}s:{sha256}` holds the session as JSON and expires with it;
//! `{prefix}a:{sha256}` links an application-host cookie to its portal session;
//! `{prefix}u:{user_id}` is the set of that user's session keys, so
//! `revoke_user` reaches every instance's sessions at once.
//!
//! Revocations are also published on `{prefix}revoked`, so every instance's
//! gateway drops its cached copy at once; `gateway.session_cache_ttl` stays
//! the bound for anything missed while the subscription was down.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::session::{AppLink, Revocation, Session, SessionKey, Store};

/// Pause between attempts to subscribe again after Redis went away.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// A Redis session store; reconnects by itself after Redis comes back.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> Error {
    Error::SessionStore(e.to_string())
}

/// Whether `e` says the connection itself failed (dropped, reset, refused, a
/// broken pipe), as opposed to an answer from Redis. After such an error the
/// connection manager has started a new connection, so one retry goes to it.
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// Runs `op`, and once more when it failed on the connection. Only for
/// operations that may run twice with the same effect: reads, and writes that
/// set a key to a value (a write that reached Redis before its connection
/// broke is simply written again).
///
/// Why: a `ConnectionManager` that was idle while Redis restarted still holds
/// the old connection and only learns it is dead from the next command, which
/// fails ("broken pipe"). Without a retry that first request after Redis is
/// back would fail closed with a 503 although Redis answers.
async fn retry_once<T, F, Fut>(mut op: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match op().await {
        Err(e) if is_connection_error(&e) => {
            tracing::debug!(error = %e, "redis connection error; retrying once on a new connection");
            op().await
        }
        other => other,
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); fails when Redis does not answer.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        // Fail fast while Redis is away: a request waits at most about a
        // second for an answer (then fails closed) instead of queueing behind
        // a long reconnection backoff; the next request tries again.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn channel(&self) -> String {
        format!("{}revoked", self.prefix)
    }

    fn session_key(&self, key: &SessionKey) -> String {
        format!("{}s:{}", self.prefix, key.as_str())
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}u:{user_id}", self.prefix)
    }
}

fn to_json(s: &Session) -> Result<String> {
    serde_json::to_string(s).map_err(|e| Error::Corrupt(e.to_string()))
}

#[async_trait]
impl Store for RedisStore {
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<()> {
        let skey = self.session_key(key);
        let ukey = self.user_key(&session.user_id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(&skey)
            .arg(to_json(session)?)
            .arg("EXAT")
            .arg(session.expires_at)
            .ignore()
            .sadd(&ukey, key.as_str())
            .ignore()
            .cmd("EXPIREAT")
            .arg(&ukey)
            .arg(session.expires_at)
            .arg("GT")
            .ignore()
            // A new set has no expiry, which "GT" treats as infinite; give it one.
            .cmd("EXPIREAT")
            .arg(&ukey)
            .arg(session.expires_at)
            .arg("NX")
            .ignore();
        // Idempotent: the same SET, SADD and EXPIREATs a second time change nothing.
        retry_once(|| {
            let mut c = self.conn.clone();
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut c).await }
        })
        .await
        .map_err(unavailable)
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<Session>> {
        let skey = self.session_key(key);
        let raw: Option<String> = retry_once(|| {
            let mut c = self.conn.clone();
            let skey = skey.clone();
            async move { c.get(skey).await }
        })
        .await
        .map_err(unavailable)?;
        match raw {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::Corrupt(e.to_string())),
        }
    }

    async fn touch(&self, key: &SessionKey, now: i64) -> Result<()> {
        let Some(mut session) = self.get(key).await? else {
            return Ok(());
        };
        session.last_seen = now;
        // XX: never resurrect a session removed meanwhile; KEEPTTL: the
        // absolute expiry stays. Setting the same value twice is harmless.
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.session_key(key))
            .arg(to_json(&session)?)
            .arg("XX")
            .arg("KEEPTTL");
        retry_once(|| {
            let mut c = self.conn.clone();
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut c).await }
        })
        .await
        .map_err(unavailable)
    }

    async fn replace(&self, key: &SessionKey, session: &Session) -> Result<()> {
        // XX and KEEPTTL as in `touch`: never a session back from the dead,
        // and the absolute expiry stays.
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.session_key(key))
            .arg(to_json(session)?)
            .arg("XX")
            .arg("KEEPTTL");
        retry_once(|| {
            let mut c = self.conn.clone();
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut c).await }
        })
        .await
        .map_err(unavailable)
    }

    async fn remove(&self, key: &SessionKey) -> Result<()> {
        let mut c = self.conn.clone();
        let existing = self.get(key).await.ok().flatten();
        let mut pipe = redis::pipe();
        pipe.del(self.session_key(key)).ignore();
        if let Some(s) = existing {
            pipe.srem(self.user_key(&s.user_id), key.as_str()).ignore();
        }
        pipe.query_async::<()>(&mut c).await.map_err(unavailable)
    }

    async fn revoke_user(&self, user_id: &str) -> Result<usize> {
        let mut c = self.conn.clone();
        let ukey = self.user_key(user_id);
        let members: Vec<String> = retry_once(|| {
            let mut c = self.conn.clone();
            let ukey = ukey.clone();
            async move { c.smembers(ukey).await }
        })
        .await
        .map_err(unavailable)?;
        if members.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for m in &members {
            pipe.del(format!("{}s:{m}", self.prefix));
        }
        pipe.del(&ukey).ignore();
        let deleted: Vec<usize> = pipe.query_async(&mut c).await.map_err(unavailable)?;
        Ok(deleted.into_iter().sum())
    }

    async fn of_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>> {
        let ukey = self.user_key(user_id);
        let members: Vec<String> = retry_once(|| {
            let mut c = self.conn.clone();
            let ukey = ukey.clone();
            async move { c.smembers(ukey).await }
        })
        .await
        .map_err(unavailable)?;
        let mut all = Vec::with_capacity(members.len());
        for m in members {
            let key = SessionKey::from_stored(m);
            // A member whose session expired is only a stale index entry.
            if let Some(s) = self.get(&key).await? {
                all.push((key, s));
            }
        }
        Ok(all)
    }

    async fn insert_link(&self, key: &SessionKey, link: &AppLink) -> Result<()> {
        let json = serde_json::to_string(link).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}a:{}", self.prefix, key.as_str()))
            .arg(json)
            .arg("EXAT")
            .arg(link.expires_at);
        // An upsert: the same SET twice is the same state.
        retry_once(|| {
            let mut c = self.conn.clone();
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut c).await }
        })
        .await
        .map_err(unavailable)
    }

    async fn announce(&self, revocation: &Revocation) -> Result<()> {
        let mut c = self.conn.clone();
        let json = serde_json::to_string(revocation).map_err(|e| Error::Corrupt(e.to_string()))?;
        c.publish::<_, _, ()>(self.channel(), json)
            .await
            .map_err(unavailable)
    }

    fn listen(&self, tx: broadcast::Sender<Revocation>) {
        tokio::spawn(subscribe_forever(self.client.clone(), self.channel(), tx));
    }

    async fn get_link(&self, key: &SessionKey) -> Result<Option<AppLink>> {
        let lkey = format!("{}a:{}", self.prefix, key.as_str());
        let raw: Option<String> = retry_once(|| {
            let mut c = self.conn.clone();
            let lkey = lkey.clone();
            async move { c.get(lkey).await }
        })
        .await
        .map_err(unavailable)?;
        match raw {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::Corrupt(e.to_string())),
        }
    }
}

/// Forwards announcements from `channel` to `tx` for as long as anyone
/// listens, subscribing again whenever Redis comes back. Each (re)subscription
/// starts with `All`: what was published while we were away is lost.
async fn subscribe_forever(
    client: redis::Client,
    channel: String,
    tx: broadcast::Sender<Revocation>,
) {
    let mut was_down = false;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    if was_down {
                        tracing::info!("revocation channel subscribed again");
                    }
                    was_down = false;
                    let _ = tx.send(Revocation::All);
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<Revocation>(&payload) {
                            Ok(r) => {
                                let _ = tx.send(r);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring an unreadable revocation message")
                            }
                        }
                    }
                }
                Err(e) => log_down(&mut was_down, &e),
            },
            Err(e) => log_down(&mut was_down, &e),
        }
        if !was_down {
            // Cached entries stay until their lifetime ends; the `All` sent
            // when the subscription is back covers what was missed meanwhile.
            tracing::warn!("revocation channel lost; caches fall back to their lifetime");
            was_down = true;
        }
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

fn log_down(was_down: &mut bool, e: &redis::RedisError) {
    if !*was_down {
        tracing::warn!(error = %e, "cannot subscribe to the revocation channel");
        *was_down = true;
    }
}
