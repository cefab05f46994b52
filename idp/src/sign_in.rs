//! Password sign-in: the throttle, one user lookup, one hash verification,
//! expiry, the second factor owed, and one audit record per attempt.

use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::directory::{LockReason, User, normalize_email, valid_email};
use crate::error::Result;
use crate::idp::Idp;
use crate::mfa::Due;
use crate::password::{Expiry, expiry};
use crate::settings::{LockoutMode, Settings};
use crate::throttle::Keys as ThrottleKeys;

/// The id the failure counter of an unknown email is written under: no user
/// has it (ids are UUIDs), so the update matches nothing but costs the same.
const NO_USER: &str = "-";

/// How a sign-in attempt ended.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the new session's cookie value, and the days left when the
    /// password expires soon.
    Success {
        user: Box<User>,
        token: String,
        expires_in_days: Option<i64>,
    },
    /// The password was right and a second factor is due: no session yet.
    /// `enrol` when the policy requires one and none is enrolled.
    SecondFactor {
        user: Box<User>,
        enrol: bool,
        auth_time: i64,
    },
    /// Wrong password or no such account: the two are indistinguishable.
    Invalid,
    /// The password was empty or only spaces: a form to fill in, not an
    /// attempt. Nothing was counted.
    MissingPassword,
    /// Too many failures from this source, on this account or from this
    /// address or subnet: no password was checked. Seconds to wait.
    Throttled { retry_after: i64 },
    /// The password was right but the account is locked, for this reason
    /// (never `Expired`: that is [`SignIn::Expired`]).
    Locked(LockReason),
    /// The password was right but has expired; the account is now locked.
    Expired,
    /// The email's domain signs in at an upstream provider (this id) and
    /// local passwords are not allowed for it. Decided by the domain alone,
    /// so it tells nothing about whether the account exists.
    Federated(String),
}

/// What the shared first-factor check found.
#[derive(Debug)]
pub(crate) enum PasswordCheck {
    /// The right password of an account that may sign in.
    Right {
        user: Box<User>,
        expires_in_days: Option<i64>,
    },
    /// Refused, with the answer the portal gives.
    Refused(SignIn),
}

impl Idp {
    /// Checks email and password. Unknown emails cost one hash verification,
    /// like known ones, and answer [`SignIn::Invalid`] just the same.
    pub async fn sign_in(&self, email: &str, password: &str, ip: Option<&str>) -> Result<SignIn> {
        self.sign_in_at(email, password, ip, clock::now()).await
    }

    /// [`Idp::sign_in`] at a given time (tests step past a delay with it).
    pub async fn sign_in_at(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<SignIn> {
        let (user, expires_in_days) = match self
            .check_password(email, password, ip, now, "signin")
            .await?
        {
            PasswordCheck::Right {
                user,
                expires_in_days,
            } => (*user, expires_in_days),
            PasswordCheck::Refused(answer) => return Ok(answer),
        };

        let due = self.mfa_due(&user).await?;
        if due != Due::No {
            // No session yet, and the failure counter is not cleared: wrong
            // codes keep counting from where wrong passwords left off.
            audit::record(
                &self.store,
                now,
                Event::new("signin.password", Outcome::Success)
                    .about(&user)
                    .ip(ip)
                    .detail(if due == Due::Enrol {
                        "second factor enrolment required"
                    } else {
                        "second factor due"
                    }),
            )
            .await;
            return Ok(SignIn::SecondFactor {
                user: Box::new(user),
                enrol: due == Due::Enrol,
                auth_time: now,
            });
        }

        self.store.reset_failed_attempts(&user.id).await?;
        let (token, _) = self
            .sessions
            .create(&user.id, vec!["pwd".into()], ip.map(str::to_owned), now)
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("signin", Outcome::Success).about(&user).ip(ip),
        )
        .await;
        Ok(SignIn::Success {
            user: Box::new(user),
            token,
            expires_in_days,
        })
    }

    /// The first factor every password channel shares (the portal, LDAP
    /// binds): federation's refusal, the throttle, one user lookup, one hash
    /// verification on the bounded pool, the failure counters and lockout,
    /// lock and expiry. Failures are audited under `event`; a right password
    /// is not (the caller records how the attempt ended). Known and unknown
    /// emails take the same path up to the answer: the same throttle read,
    /// one user lookup, one hash verification, the same counter writes, one
    /// audit record. Only a right password differs.
    pub(crate) async fn check_password(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
        now: i64,
        event: &'static str,
    ) -> Result<PasswordCheck> {
        let email = normalize_email(email);
        if let Some(p) = self.federation.for_email(&email)
            && !p.common().allow_local_password
        {
            audit::record(
                &self.store,
                now,
                Event::new(event, Outcome::Failure)
                    .subject(&email)
                    .ip(ip)
                    .detail(format!(
                        "local password refused: domain signs in at provider {}",
                        p.common().id
                    )),
            )
            .await;
            return Ok(PasswordCheck::Refused(SignIn::Federated(
                p.common().id.clone(),
            )));
        }
        // A stray Enter is not a guess: nothing is looked up or counted.
        if password.trim().is_empty() {
            return Ok(PasswordCheck::Refused(SignIn::MissingPassword));
        }
        let settings = self.settings().await?;
        let keys = ThrottleKeys::new(&self.keys, &email, ip);
        // Decided on the typed email and the address alone, before the
        // password is checked: the same for an unknown email, and a right
        // password from a delayed source is not an oracle.
        if let Some(retry_after) = self.throttled(&keys, now).await? {
            audit::record(
                &self.store,
                now,
                Event::new(event, Outcome::Failure)
                    .subject(&email)
                    .ip(ip)
                    .detail(format!("throttled for {retry_after}s")),
            )
            .await;
            return Ok(PasswordCheck::Refused(SignIn::Throttled { retry_after }));
        }
        let user = if valid_email(&email) {
            self.store.user_by_email(&email).await?
        } else {
            None
        };
        let ok = self
            .hasher
            .verify(
                password,
                user.as_ref().and_then(|u| u.password_hash.as_deref()),
            )
            .await?;
        if !ok || user.is_none() {
            self.count_password_failure(&email, user.as_ref(), &keys, &settings, ip, now)
                .await?;
            let e = Event::new(event, Outcome::Failure).ip(ip);
            let e = match &user {
                Some(u) => e.about(u).detail("wrong password"),
                None => e.subject(&email).detail("unknown account"),
            };
            audit::record(&self.store, now, e).await;
            // Whether the account exists or is locked is only told to someone
            // who knows the password.
            return Ok(PasswordCheck::Refused(SignIn::Invalid));
        }
        let Some(user) = user else {
            return Ok(PasswordCheck::Refused(SignIn::Invalid));
        };
        let fail = |detail: &'static str| {
            Event::new(event, Outcome::Failure)
                .about(&user)
                .ip(ip)
                .detail(detail)
        };
        // The right password: this source's guessing is over.
        self.throttle_success(&keys).await?;

        match user.locked {
            Some(LockReason::Expired) => {
                audit::record(&self.store, now, fail("password expired")).await;
                return Ok(PasswordCheck::Refused(SignIn::Expired));
            }
            Some(reason) => {
                audit::record(&self.store, now, fail("account locked")).await;
                return Ok(PasswordCheck::Refused(SignIn::Locked(reason)));
            }
            None => {}
        }

        let expires_in_days = match expiry(&settings.password, &user, now) {
            Expiry::Expired => {
                self.store.lock_user(&user.id, LockReason::Expired).await?;
                audit::record(&self.store, now, fail("password expired")).await;
                audit::record(
                    &self.store,
                    now,
                    Event::new("account.locked", Outcome::Success)
                        .about(&user)
                        .detail("password expired"),
                )
                .await;
                return Ok(PasswordCheck::Refused(SignIn::Expired));
            }
            Expiry::Soon(days) => Some(days),
            Expiry::NotSoon => None,
        };
        Ok(PasswordCheck::Right {
            user: Box::new(user),
            expires_in_days,
        })
    }

    /// Counts one wrong password (or a password for an unknown email) on
    /// the throttle counters and, in hard mode, toward the account's lock.
    /// Both kinds of email run the same statements: the lock counter of an
    /// unknown email is an update that matches no row, and reaching the
    /// threshold costs the same lock and session work for it.
    async fn count_password_failure(
        &self,
        email: &str,
        user: Option<&User>,
        keys: &ThrottleKeys,
        settings: &Settings,
        ip: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let account_failures = self.throttle_failure(keys, settings, now).await?;
        if settings.lockout.mode != LockoutMode::Hard {
            return Ok(());
        }
        let limit = i64::from(settings.lockout_threshold);
        let id = user.map_or(NO_USER, |u| u.id.as_str());
        let n = self.store.record_failed_attempt(id).await?;
        let reached = match (user, n) {
            (Some(u), Some(n)) => u.locked.is_none() && limit > 0 && n >= limit,
            _ => limit > 0 && account_failures == limit,
        };
        if !reached {
            return Ok(());
        }
        let locked = self.store.lock_user(id, LockReason::FailedAttempts).await?;
        if locked {
            self.end_user_sessions(id).await?;
        } else {
            // An unknown email (or a lock that raced): the same session
            // work, on an id that has none.
            self.end_user_sessions(NO_USER).await?;
        }
        let e = match user {
            Some(_) if !locked => return Ok(()),
            Some(u) => Event::new("account.locked", Outcome::Success)
                .about(u)
                .detail(format!("{limit} consecutive failed sign-ins")),
            None => Event::new("signin", Outcome::Failure)
                .subject(email)
                .detail("lockout threshold reached for an unknown account"),
        };
        let e = e.ip(ip);
        audit::record(&self.store, now, e).await;
        Ok(())
    }

    /// Counts one failed second factor (a wrong or replayed code, a key that
    /// did not verify) and locks the account at the threshold, in either
    /// mode: whoever reaches this step knew the password. True when it
    /// locked now.
    pub(crate) async fn count_failure(
        &self,
        user: &User,
        ip: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        if user.locked.is_some() {
            return Ok(false);
        }
        let settings = self.settings().await?;
        let n = self
            .store
            .record_failed_attempt(&user.id)
            .await?
            .unwrap_or(0);
        let limit = i64::from(settings.lockout_threshold);
        if limit > 0
            && n >= limit
            && self
                .store
                .lock_user(&user.id, LockReason::FailedAttempts)
                .await?
        {
            self.end_user_sessions(&user.id).await?;
            audit::record(
                &self.store,
                now,
                Event::new("account.locked", Outcome::Success)
                    .about(user)
                    .ip(ip)
                    .detail(format!("{n} consecutive failed sign-ins")),
            )
            .await;
            return Ok(true);
        }
        Ok(false)
    }
}
