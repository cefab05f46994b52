//! Sessions in Redis, shared by several `portcullis` instances. Layout:
//! `{prefix}s:{sha256}` holds the session as JSON and expires with it;
//! `{prefix}a:{sha256}` links an application-host cookie to its portal session;
//! `{prefix}u:{user_id}` is the set of that user's session keys, so
//! `revoke_user` reaches every instance's sessions at once. Instances cache
//! sessions for at most `gateway.session_cache_ttl`, so a revocation reaches
//! every proxy within that bound without a message bus.

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::error::{Error, Result};
use crate::session::{AppLink, Session, SessionKey, Store};

/// A Redis session store; reconnects by itself after Redis comes back.
#[derive(Clone)]
pub struct RedisStore {
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

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); fails when Redis does not answer.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let conn = client.get_connection_manager().await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
        })
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
        let mut c = self.conn.clone();
        let skey = self.session_key(key);
        let ukey = self.user_key(&session.user_id);
        redis::pipe()
            .atomic()
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
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: &SessionKey) -> Result<Option<Session>> {
        let mut c = self.conn.clone();
        let raw: Option<String> = c.get(self.session_key(key)).await.map_err(unavailable)?;
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
        let mut c = self.conn.clone();
        // XX: never resurrect a session removed meanwhile; KEEPTTL: the
        // absolute expiry stays.
        redis::cmd("SET")
            .arg(self.session_key(key))
            .arg(to_json(&session)?)
            .arg("XX")
            .arg("KEEPTTL")
            .query_async::<()>(&mut c)
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
        let members: Vec<String> = c.smembers(&ukey).await.map_err(unavailable)?;
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

    async fn insert_link(&self, key: &SessionKey, link: &AppLink) -> Result<()> {
        let mut c = self.conn.clone();
        let json = serde_json::to_string(link).map_err(|e| Error::Corrupt(e.to_string()))?;
        redis::cmd("SET")
            .arg(format!("{}a:{}", self.prefix, key.as_str()))
            .arg(json)
            .arg("EXAT")
            .arg(link.expires_at)
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn get_link(&self, key: &SessionKey) -> Result<Option<AppLink>> {
        let mut c = self.conn.clone();
        let raw: Option<String> = c
            .get(format!("{}a:{}", self.prefix, key.as_str()))
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
