//! Personal API keys: `pcl_` + 256 random bits, shown once; only a SHA-256
//! of the secret is kept, looked up by that hash.

use super::{AccountError, key_name};
use crate::audit::{self, Event, Outcome};
use crate::crypto;
use crate::directory::User;
use crate::error::Result;
use crate::idp::Idp;

pub const PREFIX: &str = "pcl_";

/// A fresh key: (secret to show once, short prefix to list, hash to store).
pub fn generate() -> (String, String, String) {
    let secret = format!("{PREFIX}{}", crypto::random_token());
    let shown = secret[..PREFIX.len() + 6].to_string();
    let hash = hash(&secret);
    (secret, shown, hash)
}

pub fn hash(secret: &str) -> String {
    crypto::sha256_hex(secret.as_bytes())
}

/// The lifetimes, in days, a user may give a key.
pub const LIFETIMES_DAYS: [i64; 3] = [30, 90, 365];

/// A key just made: its secret is shown this once and never again.
#[derive(Debug)]
pub struct NewKey {
    pub id: String,
    pub secret: String,
}

impl Idp {
    /// Makes a personal API key for the user, living `days` (one of
    /// [`LIFETIMES_DAYS`]).
    pub async fn create_api_key(
        &self,
        user: &User,
        name: &str,
        days: i64,
        ip: Option<&str>,
        now: i64,
    ) -> std::result::Result<NewKey, AccountError> {
        let name = key_name(name)?;
        if !LIFETIMES_DAYS.contains(&days) {
            return Err(AccountError::Refused("Choose when the key expires.".into()));
        }
        let (secret, prefix, hash) = generate();
        let id = self
            .store
            .add_api_key(
                &user.id,
                &name,
                &prefix,
                &hash,
                Some(now + days * 86_400),
                now,
            )
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("api_key.create", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("{name} ({prefix}…), {days} days")),
        )
        .await;
        Ok(NewKey { id, secret })
    }

    /// The owner of a live key (not revoked, not expired), marking it used;
    /// None for anything else, and for an owner who is gone or locked, so
    /// a suspended account's keys stop working at once.
    pub async fn api_key_owner(&self, secret: &str, now: i64) -> Result<Option<User>> {
        // Only our own keys are looked up: anything else costs no query.
        if !secret.starts_with(PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let Some(key) = self.store.use_api_key(&hash(secret), now).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .user_by_id(&key.user_id)
            .await?
            .filter(|u| u.locked.is_none()))
    }

    /// Revokes one of the user's keys; false when they have no such live key.
    pub async fn revoke_api_key(
        &self,
        user: &User,
        key_id: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        if !self.store.revoke_api_key(&user.id, key_id, now).await? {
            return Ok(false);
        }
        audit::record(
            &self.store,
            now,
            Event::new("api_key.revoke", Outcome::Success)
                .about(user)
                .ip(ip),
        )
        .await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hashed() {
        let (a, prefix, h) = generate();
        let (b, _, _) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() > 40);
        assert!(a.starts_with(&prefix));
        assert_eq!(h, hash(&a));
        assert!(!h.contains(&a[PREFIX.len()..]));
    }
}
