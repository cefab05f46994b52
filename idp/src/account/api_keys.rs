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

/// The length of every key [`generate`] makes: the prefix and 256 bits in
/// unpadded base64url.
pub const LEN: usize = PREFIX.len() + 43;

/// Whether `secret` has the shape of one of our keys, so anything else is
/// refused without a lookup.
pub fn well_formed(secret: &str) -> bool {
    secret.len() == LEN
        && secret.starts_with(PREFIX)
        && secret[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A live key and who holds it, as the gateway caches it.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    pub key_id: String,
    pub user: User,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// The policy ids (applications) the key is limited to; None: every
    /// application that accepts API keys.
    pub apps: Option<Vec<String>>,
}

/// Why a key admits nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Not one of ours, or no such key.
    Unknown,
    Revoked,
    Expired,
    UserGone,
    Locked,
    /// The owner's password changed after the key was made: the same rule
    /// that ends the sessions begun before it.
    PasswordChanged,
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
        self.create_scoped_api_key(user, name, days, None, ip, now)
            .await
    }

    /// As [`Idp::create_api_key`], limited to `apps` (policy ids of
    /// applications the user may open that accept API keys) when given.
    pub async fn create_scoped_api_key(
        &self,
        user: &User,
        name: &str,
        days: i64,
        apps: Option<Vec<String>>,
        ip: Option<&str>,
        now: i64,
    ) -> std::result::Result<NewKey, AccountError> {
        let name = key_name(name)?;
        if !LIFETIMES_DAYS.contains(&days) {
            return Err(AccountError::Refused("Choose when the key expires.".into()));
        }
        let apps = match apps {
            Some(apps) if !apps.is_empty() => {
                let open = self.store.api_key_applications(&user.id).await?;
                if let Some(bad) = apps.iter().find(|a| !open.iter().any(|(id, _)| id == *a)) {
                    return Err(AccountError::Refused(format!(
                        "{bad:?} is not an application of yours that accepts API keys."
                    )));
                }
                let mut apps = apps;
                apps.sort();
                apps.dedup();
                Some(apps.join(" "))
            }
            _ => None,
        };
        let (secret, prefix, hash) = generate();
        let id = self
            .store
            .add_api_key(
                &crate::store::NewApiKey {
                    user_id: &user.id,
                    name: &name,
                    prefix: &prefix,
                    secret_hash: &hash,
                    expires_at: Some(now + days * 86_400),
                    apps: apps.as_deref(),
                },
                now,
            )
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("api_key.create", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(match &apps {
                    Some(apps) => format!("{name} ({prefix}…), {days} days, for {apps}"),
                    None => format!("{name} ({prefix}…), {days} days"),
                }),
        )
        .await;
        Ok(NewKey { id, secret })
    }

    /// The owner of a live, unscoped key, marking it used; None for
    /// anything else, and for an owner who is gone or locked, so a
    /// suspended account's keys stop working at once. A key limited to
    /// applications is no admin credential.
    pub async fn api_key_owner(&self, secret: &str, now: i64) -> Result<Option<User>> {
        let holder = match self.check_api_key(secret, now).await? {
            Ok(h) if h.apps.is_none() => h,
            _ => return Ok(None),
        };
        self.store.record_api_key_use(&holder.key_id, now).await?;
        Ok(Some(holder.user))
    }

    /// THE API-key check: the key's holder when it is live (not revoked,
    /// not expired) and its owner may still use it (the account rules of
    /// sessions, with the key's creation as its sign-in), else why not.
    /// One read; it writes nothing (the gateway records uses now and then,
    /// [`Idp::record_api_key_use`]).
    pub async fn check_api_key(
        &self,
        secret: &str,
        now: i64,
    ) -> Result<std::result::Result<KeyHolder, KeyRefusal>> {
        // Only our own keys are looked up: anything else costs no query.
        if !well_formed(secret) {
            return Ok(Err(KeyRefusal::Unknown));
        }
        let Some(key) = self.store.api_key_by_hash(&hash(secret)).await? else {
            return Ok(Err(KeyRefusal::Unknown));
        };
        if key.revoked_at.is_some() {
            return Ok(Err(KeyRefusal::Revoked));
        }
        if key.expires_at.is_some_and(|e| e <= now) {
            return Ok(Err(KeyRefusal::Expired));
        }
        let Some(user) = self.store.user_by_id(&key.user_id).await? else {
            return Ok(Err(KeyRefusal::UserGone));
        };
        match crate::session::resume::account_usable(&user, key.created_at) {
            Ok(()) => {}
            Err(crate::session::Refusal::Locked) => return Ok(Err(KeyRefusal::Locked)),
            Err(_) => return Ok(Err(KeyRefusal::PasswordChanged)),
        }
        Ok(Ok(KeyHolder {
            key_id: key.id,
            user,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            apps: key
                .apps
                .map(|a| a.split_whitespace().map(str::to_string).collect()),
        }))
    }

    /// Records that a key was used at `at` (the gateway calls this at most
    /// once per period per key, not per request).
    pub async fn record_api_key_use(&self, key_id: &str, at: i64) -> Result<()> {
        self.store.record_api_key_use(key_id, at).await
    }

    /// The applications the user may limit a key to: (policy id, name).
    pub async fn api_key_applications(&self, user: &User) -> Result<Vec<(String, String)>> {
        self.store.api_key_applications(&user.id).await
    }

    /// Whether a gateway policy's application accepts API keys (said by
    /// the policy, set at start-up and reload beside its binding).
    pub async fn set_policy_api_keys(&self, policy_id: &str, on: bool) -> Result<()> {
        self.store.set_application_api_keys(policy_id, on).await
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
        assert!(well_formed(&a) && well_formed(&b));
    }

    #[test]
    fn only_our_shape_is_well_formed() {
        let (a, _, _) = generate();
        for bad in [
            "",
            "pcl_",
            &a[..LEN - 1],
            &format!("{a}x"),
            &format!("pcx_{}", &a[4..]),
            &format!("{}!", &a[..LEN - 1]),
            &format!("{}é", &a[..LEN - 2]),
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
