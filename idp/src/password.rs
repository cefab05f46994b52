//! The password's life after sign-in: expiry, the policy with history, and
//! the user's own change (which ends every session).

use crate::account::notice::SecurityChange;
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::credentials::check_policy;
use crate::directory::User;
use crate::error::{Error, Result};
use crate::idp::Idp;
use crate::settings::PasswordPolicy;

/// Days before expiry from which every sign-in shows a notice.
pub const EXPIRY_NOTICE_DAYS: i64 = 7;
const DAY: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is not correct")]
    WrongCurrent,
    #[error("the new passwords do not match")]
    Mismatch,
    #[error("the new password does not meet the policy")]
    Policy(Vec<String>),
    #[error(transparent)]
    Internal(#[from] Error),
}

impl Idp {
    /// Days until the user's password expires, when that is within the notice window.
    pub async fn expiry_notice(&self, user: &User) -> Result<Option<i64>> {
        let settings = self.settings().await?;
        Ok(match expiry(&settings.password, user, clock::now()) {
            Expiry::Soon(d) => Some(d),
            _ => None,
        })
    }

    /// Days until expiry, whatever the window (None when passwords never expire).
    pub async fn password_expires_in_days(&self, user: &User) -> Result<Option<i64>> {
        let settings = self.settings().await?;
        let max_age = i64::from(settings.password.max_age_days);
        Ok(match (max_age, user.password_changed_at) {
            (0, _) | (_, None) => None,
            (d, Some(changed)) => Some(days_left(changed + d * DAY, clock::now())),
        })
    }

    /// Every unmet rule for `new` as the user's next password, history included.
    pub async fn password_problems(
        &self,
        user: &User,
        policy: &PasswordPolicy,
        new: &str,
    ) -> Result<Vec<String>> {
        let local = user.email.split('@').next().unwrap_or("");
        let mut unmet = check_policy(policy, new, &[&user.username, local]);
        if unmet.is_empty() && policy.history > 0 {
            for old in self
                .store
                .password_history(&user.id, policy.history as i64)
                .await?
            {
                if self.hasher.verify(new, Some(&old)).await? {
                    unmet.push(format!(
                        "Choose a password you have not used in your last {} passwords.",
                        policy.history
                    ));
                    break;
                }
            }
        }
        Ok(unmet)
    }

    /// The user's own password change: checks the current password, the
    /// confirmation and the policy, then ends every session of the user.
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        confirm: &str,
        ip: Option<&str>,
    ) -> Result<(), PasswordChangeError> {
        let now = clock::now();
        let fail = |detail: &'static str| {
            Event::new("password.change", Outcome::Failure)
                .about(user)
                .ip(ip)
                .detail(detail)
        };
        if !self
            .hasher
            .verify(current, user.password_hash.as_deref())
            .await?
        {
            audit::record(&self.store, now, fail("wrong current password")).await;
            return Err(PasswordChangeError::WrongCurrent);
        }
        if new != confirm {
            return Err(PasswordChangeError::Mismatch);
        }
        let settings = self.settings().await?;
        let unmet = self
            .password_problems(user, &settings.password, new)
            .await?;
        if !unmet.is_empty() {
            audit::record(&self.store, now, fail("policy not met")).await;
            return Err(PasswordChangeError::Policy(unmet));
        }
        let hash = self.hasher.hash(new).await?;
        self.store.set_password_hash(&user.id, &hash, now).await?;
        let ended = self.end_user_sessions(&user.id).await?;
        audit::record(
            &self.store,
            now,
            Event::new("password.change", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("{ended} sessions ended")),
        )
        .await;
        self.mail_security_change(user, SecurityChange::PasswordChanged, ip)
            .await;
        Ok(())
    }
}

pub(crate) enum Expiry {
    NotSoon,
    Soon(i64),
    Expired,
}

fn days_left(expires_at: i64, now: i64) -> i64 {
    // Rounded up: an expiry 30 hours away is "2 days".
    (expires_at - now + DAY - 1).div_euclid(DAY)
}

pub(crate) fn expiry(policy: &PasswordPolicy, user: &User, now: i64) -> Expiry {
    let (Some(changed), max_age) = (user.password_changed_at, i64::from(policy.max_age_days))
    else {
        return Expiry::NotSoon;
    };
    if max_age == 0 {
        return Expiry::NotSoon;
    }
    let expires_at = changed + max_age * DAY;
    if now >= expires_at {
        Expiry::Expired
    } else if expires_at - now <= EXPIRY_NOTICE_DAYS * DAY {
        Expiry::Soon(days_left(expires_at, now))
    } else {
        Expiry::NotSoon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_up() {
        assert_eq!(days_left(100 * DAY, 99 * DAY), 1);
        assert_eq!(days_left(100 * DAY, 99 * DAY - 3600 * 6), 2);
        assert_eq!(days_left(100 * DAY, 93 * DAY), 7);
    }
}
