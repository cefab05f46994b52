//! Password reset by emailed link, and expiry reminders. No HTTP here: the
//! portal's pages call these operations.
//!
//! A reset link carries a random 256-bit token; the store keeps only its
//! SHA-256, so a copy of the database resets nobody's password. A link works
//! once and for `[reset] token_lifetime`.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::directory::{LockReason, User, normalize_email, valid_email};
use crate::error::{Error, Result};
use crate::idp::Idp;
use crate::mail::{self, Outgoing};

const DAY: i64 = 86_400;

/// How a reset request was answered. The page is the same for an unknown
/// and a known account; only a rate limit shows.
#[derive(Debug, PartialEq, Eq)]
pub enum ResetRequest {
    Accepted,
    RateLimited,
}

/// Why a new password was not set from a link.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Used, expired, unknown or tampered: the page offers to ask again.
    #[error("the reset link is not valid")]
    InvalidLink,
    /// An administrator suspended the account (or resets do not unlock).
    #[error("the account is locked")]
    Locked,
    /// The user has a second factor and did not verify it.
    #[error("the second factor was not verified")]
    MfaRequired,
    #[error("the new passwords do not match")]
    Mismatch,
    #[error("the new password does not meet the policy")]
    Policy(Vec<String>),
    #[error(transparent)]
    Internal(#[from] Error),
}

/// Counts a reset request on each key (per account, per address) in the
/// shared store and says whether all stayed within their maximum in the
/// window. Shared by every instance and kept across restarts. A refused
/// request still counts, so hammering does not reopen the window. Keys are
/// MACed so the table lists no typed email or address.
async fn within_limits(idp: &Idp, keys: &[(String, u32)], window: i64, now: i64) -> Result<bool> {
    let mut ok = true;
    for (key, max) in keys {
        let key = crypto::b64url(&idp.keys.mac("reset-rate-limit", key.as_bytes()));
        if idp.store.hit_rate_limit(&key, now, window).await? > i64::from(*max) {
            ok = false;
        }
    }
    // Housekeeping rides on the requests: counters of closed windows go.
    if now % 64 == 0 {
        idp.store.purge_rate_limits(now - window).await?;
    }
    Ok(ok)
}

/// The SHA-256 under which a link's token is stored.
pub fn token_hash(token: &str) -> String {
    crypto::sha256_hex(token.as_bytes())
}

impl Idp {
    pub(crate) fn portal_link(&self, path: &str) -> String {
        self.config
            .public_url
            .join(path)
            .map(String::from)
            .unwrap_or_else(|_| {
                format!("{}{}", self.config.public_url, path.trim_start_matches('/'))
            })
    }

    pub(crate) async fn mail_user(
        &self,
        user: &User,
        kind: &'static str,
        template: &str,
        subject: &str,
        ctx: minijinja::Value,
    ) {
        let mut to = vec![user.email.clone()];
        let recovery = normalize_email(user.profile.get("recovery_email"));
        if kind != "password_expiry" && valid_email(&recovery) && recovery != user.email {
            to.push(recovery);
        }
        let (text, html) = match mail::render(template, &ctx) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "mail template failed");
                return;
            }
        };
        // One message per address: the company mailbox does not learn the
        // recovery address, nor the other way round.
        for addr in to {
            let out = Outgoing {
                kind,
                user_id: Some(user.id.clone()),
                to: vec![addr],
                subject: subject.to_string(),
                text: text.clone(),
                html: html.clone(),
            };
            if let Err(e) = self.mailer.send(out).await {
                tracing::error!(kind, error = %e, "mail not queued");
            }
        }
    }

    /// Makes a single-use reset link for the user and mails it (to the
    /// company and recovery addresses). The caller decided that the user may
    /// reset, and writes the audit row.
    pub(crate) async fn send_reset_link(&self, user: &User, now: i64) -> Result<()> {
        let cfg = &self.config.reset;
        let token = crypto::random_token();
        let expires_at = now + cfg.token_lifetime.as_secs() as i64;
        self.store
            .create_reset(&token_hash(&token), &user.id, now, expires_at)
            .await?;
        let link = self.portal_link(&format!("/password/reset/new?token={token}"));
        self.mail_user(
            user,
            "password_reset",
            "reset",
            "Reset your Portcullis password",
            minijinja::context! {
                name => user.display_name(),
                link => link,
                minutes => cfg.token_lifetime.as_secs() / 60,
            },
        )
        .await;
        Ok(())
    }

    /// "Send Reset Request": emails a link when the account exists and may
    /// reset. The caller shows the same page either way.
    pub async fn request_reset(&self, email: &str, ip: Option<&str>) -> Result<ResetRequest> {
        let now = clock::now();
        let email = normalize_email(email);
        let cfg = &self.config.reset;
        let window = cfg.rate_window.as_secs() as i64;
        // The owner's budget is per typed email *and* requesting address, so
        // a stranger elsewhere spends only their own; the address limit
        // bounds one source over many emails. Keyed on the typed email,
        // known or not: the limit itself does not tell whether an account
        // exists.
        let source = ip.unwrap_or("-");
        let mut keys = vec![(format!("a:{email}|{source}"), cfg.max_per_account)];
        if let Some(ip) = ip {
            keys.push((format!("i:{ip}"), cfg.max_per_address));
        }
        let mut within = within_limits(self, &keys, window, now).await?;
        // The email across all addresses (a distributed mail flood) is
        // counted only for requests that passed their own address's limits,
        // so one hammering source cannot spend it for everyone.
        if within && cfg.max_per_email > 0 {
            within = within_limits(
                self,
                &[(format!("e:{email}"), cfg.max_per_email)],
                window,
                now,
            )
            .await?;
        }
        if !within {
            audit::record(
                &self.store,
                now,
                Event::new("password.reset.request", Outcome::Failure)
                    .subject(&email)
                    .ip(ip)
                    .detail("rate limited"),
            )
            .await;
            return Ok(ResetRequest::RateLimited);
        }
        // A domain that signs in upstream has no local passwords to reset,
        // nor has an account linked to an upstream identity.
        let federated_only = self
            .federation
            .for_email(&email)
            .is_some_and(|p| !p.common().allow_local_password);
        let user = if valid_email(&email) && !federated_only {
            self.store.user_by_email(&email).await?
        } else {
            None
        };
        let user = match user {
            Some(u) if self.store.federated_links_of(&u.id).await?.is_empty() => Some(u),
            _ => None,
        };
        let Some(user) = user.filter(|u| {
            u.locked != Some(LockReason::Admin) && (cfg.unlocks_account || u.locked.is_none())
        }) else {
            audit::record(
                &self.store,
                now,
                Event::new("password.reset.request", Outcome::Failure)
                    .subject(&email)
                    .ip(ip)
                    .detail("no account that may reset"),
            )
            .await;
            return Ok(ResetRequest::Accepted);
        };
        self.send_reset_link(&user, now).await?;
        audit::record(
            &self.store,
            now,
            Event::new("password.reset.request", Outcome::Success)
                .about(&user)
                .ip(ip),
        )
        .await;
        Ok(ResetRequest::Accepted)
    }

    /// The user a link resets, while it is unused and unexpired.
    pub async fn reset_target(&self, token: &str) -> Result<Option<User>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let Some(row) = self
            .store
            .live_reset(&token_hash(token), clock::now())
            .await?
        else {
            return Ok(None);
        };
        self.store.user_by_id(&row.user_id).await
    }

    /// Whether a password reset by email lifts a failure or expiry lock:
    /// what the lock messages tell people to do.
    pub fn reset_unlocks(&self) -> bool {
        self.config.reset.enabled && self.config.reset.unlocks_account
    }

    /// Whether the account may be reset at all (an admin suspension stays).
    pub fn reset_allowed(&self, user: &User) -> bool {
        match user.locked {
            None => true,
            Some(LockReason::Admin) => false,
            Some(_) => self.config.reset.unlocks_account,
        }
    }

    /// Sets the new password from a link. `mfa_verified` says whether the
    /// portal checked the user's second factor for this link.
    pub async fn complete_reset(
        &self,
        token: &str,
        new: &str,
        confirm: &str,
        mfa_verified: bool,
        ip: Option<&str>,
    ) -> Result<User, ResetError> {
        let now = clock::now();
        let user = self
            .reset_target(token)
            .await?
            .ok_or(ResetError::InvalidLink)?;
        if !self.reset_allowed(&user) {
            return Err(ResetError::Locked);
        }
        if !mfa_verified && self.factors(&user.id).await?.any() {
            return Err(ResetError::MfaRequired);
        }
        if new != confirm {
            return Err(ResetError::Mismatch);
        }
        let settings = self.settings().await?;
        let unmet = self
            .password_problems(&user, &settings.password, new)
            .await?;
        if !unmet.is_empty() {
            return Err(ResetError::Policy(unmet));
        }
        let hash = self.hasher.hash(new).await?;
        // The link is spent before anything changes: of two concurrent
        // submissions only one gets past this.
        if !self.store.consume_reset(&token_hash(token), now).await? {
            return Err(ResetError::InvalidLink);
        }
        if matches!(
            user.locked,
            Some(LockReason::FailedAttempts | LockReason::Expired)
        ) {
            self.store.unlock_user(&user.id, now).await?;
        }
        self.store.set_password_hash(&user.id, &hash, now).await?;
        self.store.reset_failed_attempts(&user.id).await?;
        // The owner proved the mailbox: a distributed-guessing delay on the
        // account lifts too (per-address delays stay with their sources).
        self.throttle_forget_account(&user.email).await?;
        self.store.void_resets(&user.id, now).await?;
        let ended = self.end_user_sessions(&user.id).await?;
        audit::record(
            &self.store,
            now,
            Event::new("password.reset", Outcome::Success)
                .about(&user)
                .ip(ip)
                .detail(format!("{ended} sessions ended")),
        )
        .await;
        self.mail_user(
            &user,
            "password_reset_done",
            "reset_done",
            "Your Portcullis password was reset",
            minijinja::context! {
                name => user.display_name(),
                portal => self.portal_link("/"),
            },
        )
        .await;
        Ok(user)
    }

    /// Sends the due expiry reminders: to each user whose password expires
    /// within [`crate::password::EXPIRY_NOTICE_DAYS`] days, at most one a
    /// day. Returns how many were queued.
    pub async fn send_expiry_reminders(&self) -> Result<usize> {
        let now = clock::now();
        let mut sent = 0;
        for user in self.store.list_users().await? {
            if user.locked.is_some() {
                continue;
            }
            let Some(days) = self.expiry_notice(&user).await? else {
                continue;
            };
            // A little under a day, so a reminder run that drifts by a few
            // seconds still sends the next day's.
            if !self
                .store
                .claim_expiry_reminder(&user.id, now, DAY - 600)
                .await?
            {
                continue;
            }
            self.mail_user(
                &user,
                "password_expiry",
                "expiry",
                &format!(
                    "Your Portcullis password expires in {days} day{}",
                    if days == 1 { "" } else { "s" }
                ),
                minijinja::context! {
                    name => user.display_name(),
                    days => days,
                    link => self.portal_link("/security"),
                },
            )
            .await;
            audit::record(
                &self.store,
                now,
                Event::new("password.expiry_reminder", Outcome::Success)
                    .about(&user)
                    .detail(format!("{days} days left")),
            )
            .await;
            sent += 1;
        }
        Ok(sent)
    }
}

/// Runs [`Idp::send_expiry_reminders`] now and then every `every`, for the
/// life of the server.
pub fn spawn_expiry_reminders(idp: Arc<Idp>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match idp.send_expiry_reminders().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "password expiry reminders sent"),
                Err(e) => {
                    tracing::warn!(error = %e, "password expiry reminders failed; will retry")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_count_per_key_and_window_in_the_store() {
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::IdpConfig::for_data_dir(dir.path().to_path_buf());
        config.secrets.master_key = Some(crypto::b64url(&[7u8; 32]));
        let idp = Idp::with_store(config, store).await.unwrap();
        let k = |s: &str| vec![(s.to_string(), 2)];
        assert!(within_limits(&idp, &k("a"), 60, 100).await.unwrap());
        assert!(within_limits(&idp, &k("a"), 60, 101).await.unwrap());
        assert!(!within_limits(&idp, &k("a"), 60, 102).await.unwrap());
        assert!(within_limits(&idp, &k("b"), 60, 102).await.unwrap());
        // A new window after the old one ends: requests pass again.
        assert!(within_limits(&idp, &k("a"), 60, 300).await.unwrap());
    }
}
