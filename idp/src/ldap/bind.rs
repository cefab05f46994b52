//! Simple binds: a user with their password (and, when `[ldap]
//! require_mfa` is on and they have an authenticator app, the current code
//! typed right after it), or a service account with its API key. User
//! binds go through the portal's own first-factor check
//! ([`Idp::check_password`]): the same throttle, lockout counter, argon2 on
//! the bounded pool, lock and expiry, read from the store at every bind.

use ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapBindResponse};

use super::dn::Dn;
use super::{Engine, Grants, Identity, LdapError, err, ok};
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::mfa::{Check, Method};
use crate::sign_in::{PasswordCheck, SignIn};
use crate::throttle::Keys as ThrottleKeys;

/// The prefix of a service account's API key.
pub const KEY_PREFIX: &str = "pcl_ldap_";

/// A TOTP code's length.
const CODE_LEN: usize = 6;

pub(super) fn response(outcome: Result<(), LdapError>) -> LdapBindResponse {
    LdapBindResponse {
        res: match outcome {
            Ok(()) => ok(),
            Err(e) => err(&e),
        },
        saslcreds: None,
    }
}

/// Who a bind DN names, before any credential is looked at.
enum Target {
    /// By email: `mail=<email>,ou=users,<base>`, or the bare email.
    Email(String),
    /// `uid=<username>,ou=users,<base>`.
    Username(String),
    Service(String),
    /// Nothing this directory has: checked like an unknown email, so it
    /// costs and answers the same.
    Unknown(String),
}

fn target(base: &Dn, name: &str) -> Target {
    let name = name.trim();
    let Ok(dn) = Dn::parse(name) else {
        return if name.contains('@') && !name.contains('=') {
            Target::Email(name.to_string())
        } else {
            Target::Unknown(name.to_string())
        };
    };
    let rel = dn.relative_to(base).unwrap_or_default();
    match rel {
        [(a, v), (ou, branch)] if ou == "ou" => {
            match (a.as_str(), branch.to_lowercase().as_str()) {
                ("mail", "users") => Target::Email(v.clone()),
                ("uid", "users") => Target::Username(v.clone()),
                ("cn", "services") => Target::Service(v.clone()),
                _ => Target::Unknown(name.to_string()),
            }
        }
        _ => Target::Unknown(name.to_string()),
    }
}

impl Engine {
    pub(super) async fn bind(
        &self,
        conn: &super::Connection,
        req: LdapBindRequest,
    ) -> Result<Identity, LdapError> {
        if req.version != 3 {
            return Err(LdapError::Protocol("only LDAP version 3 is supported"));
        }
        let LdapBindCred::Simple(password) = req.cred else {
            return Err(LdapError::AuthMethodNotSupported);
        };
        let ip = conn.peer.as_deref();
        if req.dn.is_empty() && password.is_empty() {
            return if self.config().allow_anonymous {
                Ok(Identity::Anonymous)
            } else {
                Err(LdapError::AnonymousRefused)
            };
        }
        if password.is_empty() {
            return Err(LdapError::UnauthenticatedBind);
        }
        match target(&self.base, &req.dn) {
            Target::Service(name) => self.bind_service(&name, &password, ip).await,
            Target::Email(email) => self.bind_user(&email, &password, ip).await,
            Target::Username(uid) => {
                // Usernames are not unique; only one that names exactly one
                // account binds. Otherwise the name is checked as given, as
                // an unknown account.
                let mut users = self.idp.store.users_by_username(&uid).await?;
                let email = match (users.pop(), users.is_empty()) {
                    (Some(u), true) => u.email,
                    _ => uid,
                };
                self.bind_user(&email, &password, ip).await
            }
            Target::Unknown(name) => self.bind_user(&name, &password, ip).await,
        }
    }

    async fn bind_user(
        &self,
        email: &str,
        typed: &str,
        ip: Option<&str>,
    ) -> Result<Identity, LdapError> {
        let idp = &self.idp;
        let now = clock::now();
        // With MFA required, an account with an authenticator app types its
        // code after the password. Whether it has one is only asked when the
        // typed text could hold a code, so other binds cost the same.
        let mut code = None;
        let mut password = typed;
        if self.config().require_mfa
            && typed.len() > CODE_LEN
            && let Some(split) = typed.len().checked_sub(CODE_LEN)
            && typed.is_char_boundary(split)
            && typed[split..].bytes().all(|b| b.is_ascii_digit())
            && let Some(user) = idp
                .store
                .user_by_email(&crate::directory::normalize_email(email))
                .await?
            && idp.factors(&user.id).await?.totp
        {
            password = &typed[..split];
            code = Some(&typed[split..]);
        }
        let user = match idp
            .check_password(email, password, ip, now, "ldap.bind")
            .await?
        {
            PasswordCheck::Right { user, .. } => *user,
            PasswordCheck::Refused(answer) => {
                return Err(match answer {
                    SignIn::Throttled { retry_after } => LdapError::Throttled(retry_after),
                    SignIn::MissingPassword => LdapError::UnauthenticatedBind,
                    SignIn::Locked(_) => LdapError::InvalidCredentials("account locked"),
                    SignIn::Expired => LdapError::InvalidCredentials("password expired"),
                    SignIn::Federated(_) => LdapError::InvalidCredentials(
                        "this account signs in at its identity provider",
                    ),
                    _ => LdapError::InvalidCredentials("invalid credentials"),
                });
            }
        };
        if self.config().require_mfa {
            let has_totp = idp.factors(&user.id).await?.totp;
            if has_totp {
                let Some(code) = code else {
                    audit::record(
                        &idp.store,
                        now,
                        Event::new("ldap.bind", Outcome::Failure)
                            .about(&user)
                            .ip(ip)
                            .detail("one-time code missing"),
                    )
                    .await;
                    return Err(LdapError::InvalidCredentials(
                        "type the one-time code right after the password",
                    ));
                };
                match idp.verify_code(&user, Method::Totp, code, ip).await? {
                    Check::Ok(_) => {}
                    Check::Locked => return Err(LdapError::InvalidCredentials("account locked")),
                    _ => return Err(LdapError::InvalidCredentials("invalid credentials")),
                }
            }
        }
        idp.store.reset_failed_attempts(&user.id).await?;
        audit::record(
            &idp.store,
            now,
            Event::new("ldap.bind", Outcome::Success)
                .about(&user)
                .ip(ip),
        )
        .await;
        Ok(Identity::User {
            id: user.id.clone(),
            dn: super::view::user_dn(&self.base, &user.email),
        })
    }

    /// A service account: the key is compared by hash in constant time. A
    /// wrong key counts on the same throttle as passwords (the account's
    /// own counter, the address and the subnet). Failures are audited;
    /// successes are not, since some consumers bind once per request.
    async fn bind_service(
        &self,
        name: &str,
        key: &str,
        ip: Option<&str>,
    ) -> Result<Identity, LdapError> {
        let idp = &self.idp;
        let now = clock::now();
        let subject = format!("ldap-service:{}", name.to_lowercase());
        let keys = ThrottleKeys::new(&idp.keys, &subject, ip);
        if let Some(retry_after) = idp.throttled(&keys, now).await? {
            return Err(LdapError::Throttled(retry_after));
        }
        let row = idp.store.ldap_account(&name.to_lowercase()).await?;
        let presented = crypto::sha256_hex(key.as_bytes());
        // An unknown name is compared against a hash no key has, so it
        // takes the same time.
        let stored = row
            .as_ref()
            .map_or_else(|| "0".repeat(64), |r| r.key_hash.clone());
        let matches = crypto::ct_eq(presented.as_bytes(), stored.as_bytes());
        let live = row.as_ref().filter(|r| r.revoked_at.is_none());
        match (matches, live) {
            (true, Some(r)) => {
                idp.throttle_success(&keys).await?;
                let grants = Grants::parse(&r.grants).unwrap_or_default();
                Ok(Identity::Service {
                    name: r.name.clone(),
                    dn: Dn::child(&Dn::child(&self.base, "ou", "services"), "cn", &r.name)
                        .to_string(),
                    grants,
                })
            }
            _ => {
                let settings = idp.settings().await?;
                idp.throttle_failure(&keys, &settings, now).await?;
                let detail = match (&row, matches) {
                    (None, _) => "unknown service account",
                    (Some(_), false) => "wrong key",
                    (Some(_), true) => "service account revoked",
                };
                audit::record(
                    &idp.store,
                    now,
                    Event::new("ldap.bind", Outcome::Failure)
                        .subject(&subject)
                        .ip(ip)
                        .detail(detail),
                )
                .await;
                Err(LdapError::InvalidCredentials("invalid credentials"))
            }
        }
    }
}
