//! Second factors: TOTP, recovery codes, and the policy deciding who must
//! use one. The operations here check, store and audit; the portal only
//! carries their results to and from forms. No HTTP here.

pub mod recovery;
pub mod totp;
pub mod webauthn;

use crate::account::notice::SecurityChange;
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::config::MfaPolicy;
use crate::directory::User;
use crate::error::{Error, Result};
use crate::idp::Idp;

/// Failures specific to second factors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    #[error("TOTP parameters rejected: {0}")]
    Totp(String),
}

impl From<MfaError> for Error {
    fn from(e: MfaError) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// A way to pass the second step, as offered by the chooser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Totp,
    Webauthn,
    Recovery,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Webauthn => "webauthn",
            Self::Recovery => "recovery",
        }
    }
}

/// What a user has enrolled.
#[derive(Debug, Clone, Default)]
pub struct Factors {
    pub totp: bool,
    pub totp_last_used: Option<i64>,
    /// Registered security keys and passkeys.
    pub webauthn: usize,
    pub webauthn_last_used: Option<i64>,
    pub recovery_left: usize,
    pub recovery_last_used: Option<i64>,
}

impl Factors {
    /// Whether any factor other than recovery codes is enrolled. Recovery
    /// codes alone are a fallback, not a factor one enrols.
    pub fn any(&self) -> bool {
        self.totp || self.webauthn > 0
    }

    /// The chooser's options, the most recently used first.
    pub fn methods(&self) -> Vec<Method> {
        let mut m: Vec<(Method, Option<i64>)> = Vec::new();
        if self.totp {
            m.push((Method::Totp, self.totp_last_used));
        }
        if self.webauthn > 0 {
            m.push((Method::Webauthn, self.webauthn_last_used));
        }
        if self.recovery_left > 0 {
            m.push((Method::Recovery, self.recovery_last_used));
        }
        // Stable sort: ties keep the order above (apps before recovery codes).
        m.sort_by_key(|(_, used)| std::cmp::Reverse(used.unwrap_or(0)));
        m.into_iter().map(|(m, _)| m).collect()
    }
}

/// What sign-in must do after a correct password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing: the password is enough.
    No,
    /// Verify an enrolled factor.
    Verify,
    /// The policy requires a factor and none is enrolled: enrol first.
    Enrol,
}

/// How a code check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Verified; the `amr` values the session gets (RFC 8176).
    Ok(Vec<String>),
    Wrong,
    /// The code was right but its time step was already used.
    Replayed,
    /// The account is locked (possibly by this very failure).
    Locked,
    /// Nothing was typed: a form to fill in, not an attempt. Not counted.
    Empty,
}

impl Idp {
    /// The policy in force: the administrator setting, else the config file.
    pub async fn mfa_policy(&self) -> Result<(MfaPolicy, Vec<String>)> {
        let s = self.settings().await?;
        Ok((
            s.mfa_policy.unwrap_or(self.config.mfa.policy),
            s.mfa_required_groups
                .unwrap_or_else(|| self.config.mfa.required_groups.clone()),
        ))
    }

    /// Whether the policy requires this user to have a second factor.
    pub async fn mfa_required_for(&self, user: &User) -> Result<bool> {
        let (policy, groups) = self.mfa_policy().await?;
        if policy != MfaPolicy::Required {
            return Ok(false);
        }
        if groups.is_empty() {
            return Ok(true);
        }
        let mine = self.store.groups_of(&user.id).await?;
        Ok(mine.iter().any(|g| groups.iter().any(|r| r == g)))
    }

    pub async fn factors(&self, user_id: &str) -> Result<Factors> {
        let totp = self.store.totp(user_id).await?;
        let active = totp.as_ref().filter(|t| t.activated_at.is_some());
        let keys = self.store.webauthn_keys(user_id).await?;
        Ok(Factors {
            totp: active.is_some(),
            totp_last_used: active.and_then(|t| t.last_used_at),
            webauthn: keys.len(),
            webauthn_last_used: keys.iter().filter_map(|k| k.last_used_at).max(),
            recovery_left: self.store.unused_recovery_codes(user_id).await?.len(),
            recovery_last_used: self.store.recovery_last_used(user_id).await?,
        })
    }

    /// What a correct password leads to for this user.
    pub async fn mfa_due(&self, user: &User) -> Result<Due> {
        let (policy, _) = self.mfa_policy().await?;
        if policy == MfaPolicy::Off {
            return Ok(Due::No);
        }
        if self.factors(&user.id).await?.any() {
            Ok(Due::Verify)
        } else if self.mfa_required_for(user).await? {
            Ok(Due::Enrol)
        } else {
            Ok(Due::No)
        }
    }

    fn totp_secret(&self, sealed: &str) -> Result<Vec<u8>> {
        self.keys.secret_box().open(sealed)
    }

    /// Starts a TOTP enrolment with a fresh secret. Returns false when an
    /// authenticator app is already active (it must be removed first).
    pub async fn begin_totp(&self, user: &User) -> Result<bool> {
        let secret = totp::new_secret();
        let sealed = self.keys.secret_box().seal(&secret);
        self.store.begin_totp(&user.id, &sealed, clock::now()).await
    }

    /// The QR code and key of an enrolment in progress; None when there is
    /// none (or it is already active: the key is never shown again).
    pub async fn totp_enrolment(&self, user: &User) -> Result<Option<totp::Enrolment>> {
        let Some(row) = self.store.totp(&user.id).await? else {
            return Ok(None);
        };
        if row.activated_at.is_some() {
            return Ok(None);
        }
        let secret = self.totp_secret(&row.secret_sealed)?;
        Ok(Some(totp::enrolment(
            &secret,
            &self.config.mfa,
            &user.email,
        )?))
    }

    /// Activates the enrolment in progress when `code` verifies. A wrong code
    /// leaves it inactive; it does not count toward lockout because the user
    /// has already proved who they are.
    pub async fn confirm_totp(&self, user: &User, code: &str, ip: Option<&str>) -> Result<bool> {
        let now = clock::now();
        let row = self.store.totp(&user.id).await?;
        let Some(row) = row.filter(|r| r.activated_at.is_none()) else {
            return Ok(false);
        };
        let secret = self.totp_secret(&row.secret_sealed)?;
        let step = totp::matching_step(&secret, &self.config.mfa, code, now)?;
        let ok = match step {
            Some(step) => {
                self.store
                    .accept_totp_step(&user.id, step, now, true)
                    .await?
            }
            None => false,
        };
        let e = if ok {
            Event::new("mfa.totp.enrol", Outcome::Success)
        } else {
            Event::new("mfa.totp.enrol", Outcome::Failure).detail("wrong confirmation code")
        };
        audit::record(&self.store, now, e.about(user).ip(ip)).await;
        if ok {
            self.mail_security_change(user, SecurityChange::TotpAdded, ip)
                .await;
        }
        Ok(ok)
    }

    /// Checks a second-factor code at sign-in. Wrong and replayed codes count
    /// toward the lockout threshold together with wrong passwords.
    pub async fn verify_code(
        &self,
        user: &User,
        method: Method,
        code: &str,
        ip: Option<&str>,
    ) -> Result<Check> {
        let now = clock::now();
        if user.locked.is_some() {
            return Ok(Check::Locked);
        }
        // A stray Enter is not a wrong code: no check, no count.
        if code.trim().is_empty() && method != Method::Webauthn {
            return Ok(Check::Empty);
        }
        let outcome = match method {
            Method::Totp => self.check_totp(user, code, now).await?,
            Method::Recovery => self.check_recovery(user, code, now).await?,
            // Keys answer through `webauthn_verify_finish`, never with a code.
            Method::Webauthn => return Ok(Check::Wrong),
        };
        let name = match method {
            Method::Totp => "mfa.totp.verify",
            Method::Webauthn => "mfa.webauthn.verify",
            Method::Recovery => "mfa.recovery.verify",
        };
        match &outcome {
            Check::Ok(_) => {
                audit::record(
                    &self.store,
                    now,
                    Event::new(name, Outcome::Success).about(user).ip(ip),
                )
                .await;
                if method == Method::Recovery {
                    let left = self.store.unused_recovery_codes(&user.id).await?.len();
                    audit::record(
                        &self.store,
                        now,
                        Event::new("mfa.recovery.used", Outcome::Success)
                            .about(user)
                            .ip(ip)
                            .detail(format!("{left} codes left")),
                    )
                    .await;
                }
                Ok(outcome)
            }
            Check::Wrong | Check::Replayed => {
                let detail = if outcome == Check::Replayed {
                    "code already used"
                } else {
                    "wrong code"
                };
                audit::record(
                    &self.store,
                    now,
                    Event::new(name, Outcome::Failure)
                        .about(user)
                        .ip(ip)
                        .detail(detail),
                )
                .await;
                if self.count_failure(user, ip, now).await? {
                    return Ok(Check::Locked);
                }
                Ok(outcome)
            }
            Check::Locked | Check::Empty => Ok(outcome),
        }
    }

    async fn check_totp(&self, user: &User, code: &str, now: i64) -> Result<Check> {
        let row = self.store.totp(&user.id).await?;
        let Some(row) = row.filter(|r| r.activated_at.is_some()) else {
            return Ok(Check::Wrong);
        };
        let secret = self.totp_secret(&row.secret_sealed)?;
        let Some(step) = totp::matching_step(&secret, &self.config.mfa, code, now)? else {
            return Ok(Check::Wrong);
        };
        if self
            .store
            .accept_totp_step(&user.id, step, now, false)
            .await?
        {
            Ok(Check::Ok(vec!["pwd".into(), "otp".into(), "mfa".into()]))
        } else {
            Ok(Check::Replayed)
        }
    }

    async fn check_recovery(&self, user: &User, code: &str, now: i64) -> Result<Check> {
        let wanted = recovery::hash(&self.keys, &user.id, code);
        let mut hit = None;
        // Every stored hash is compared, in constant time each, so the time
        // taken does not tell which code matched.
        for (id, h) in self.store.unused_recovery_codes(&user.id).await? {
            if crate::crypto::ct_eq(h.as_bytes(), wanted.as_bytes()) {
                hit = Some(id);
            }
        }
        match hit {
            // RFC 8176 has no value for recovery codes; `mfa` says a second
            // factor was used, without claiming an OTP device.
            Some(id) if self.store.use_recovery_code(&id, now).await? => {
                Ok(Check::Ok(vec!["pwd".into(), "mfa".into()]))
            }
            _ => Ok(Check::Wrong),
        }
    }

    /// A fresh proof before taking a factor away: the password, or a
    /// current code from the authenticator app, so an unattended signed-in
    /// browser is not enough. A failure is audited under `event` and counted
    /// like a failed sign-in, so the form cannot be used to guess without
    /// limit; an empty form is only refused.
    pub async fn reauthenticate(
        &self,
        user: &User,
        password: &str,
        code: &str,
        ip: Option<&str>,
        event: &'static str,
    ) -> Result<bool> {
        let now = clock::now();
        let mut proved = false;
        if !password.is_empty() {
            proved = self
                .hasher
                .verify(password, user.password_hash.as_deref())
                .await?;
        } else if !code.trim().is_empty() {
            proved = matches!(self.check_totp(user, code, now).await?, Check::Ok(_));
        }
        if !proved {
            audit::record(
                &self.store,
                now,
                Event::new(event, Outcome::Failure)
                    .about(user)
                    .ip(ip)
                    .detail("re-authentication failed"),
            )
            .await;
            if !password.is_empty() || !code.trim().is_empty() {
                self.count_failure(user, ip, now).await?;
            }
        }
        Ok(proved)
    }

    /// Removes the authenticator app after re-authentication with the
    /// password or a current code. False (and nothing removed) otherwise.
    pub async fn remove_totp(
        &self,
        user: &User,
        password: &str,
        code: &str,
        ip: Option<&str>,
    ) -> Result<bool> {
        let now = clock::now();
        if !self
            .reauthenticate(user, password, code, ip, "mfa.totp.remove")
            .await?
        {
            return Ok(false);
        }
        self.store.delete_totp(&user.id).await?;
        audit::record(
            &self.store,
            now,
            Event::new("mfa.totp.remove", Outcome::Success)
                .about(user)
                .ip(ip),
        )
        .await;
        self.mail_security_change(user, SecurityChange::TotpRemoved, ip)
            .await;
        Ok(true)
    }

    /// Ten new recovery codes, replacing any earlier ones. The caller shows
    /// them once; only their hashes are kept.
    pub async fn new_recovery_codes(&self, user: &User, ip: Option<&str>) -> Result<Vec<String>> {
        let now = clock::now();
        let codes: Vec<String> = (0..recovery::COUNT).map(|_| recovery::generate()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| recovery::hash(&self.keys, &user.id, c))
            .collect();
        self.store
            .replace_recovery_codes(&user.id, &hashes, now)
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("mfa.recovery.generate", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("{} codes", codes.len())),
        )
        .await;
        Ok(codes)
    }

    /// Ends a sign-in whose second step is done: a new session with a new id,
    /// `mfa_at` now, and the failure counter cleared.
    pub async fn complete_sign_in(
        &self,
        user: &User,
        amr: Vec<String>,
        auth_time: i64,
        ip: Option<&str>,
    ) -> Result<String> {
        let now = clock::now();
        self.store.reset_failed_attempts(&user.id).await?;
        let (token, _) = self
            .sessions
            .create_with(
                &user.id,
                amr.clone(),
                ip.map(str::to_owned),
                auth_time,
                Some(now),
                now,
            )
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("signin", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("amr {}", amr.join(" "))),
        )
        .await;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooser_lists_last_used_first() {
        let f = Factors {
            totp: true,
            totp_last_used: Some(10),
            recovery_left: 3,
            recovery_last_used: Some(20),
            ..Factors::default()
        };
        assert_eq!(f.methods(), vec![Method::Recovery, Method::Totp]);
        let f = Factors {
            recovery_last_used: None,
            ..f
        };
        assert_eq!(f.methods(), vec![Method::Totp, Method::Recovery]);
        assert!(Factors::default().methods().is_empty());
        let f = Factors {
            webauthn: 1,
            webauthn_last_used: Some(30),
            ..f
        };
        assert_eq!(
            f.methods(),
            vec![Method::Webauthn, Method::Totp, Method::Recovery]
        );
    }
}
