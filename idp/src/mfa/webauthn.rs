//! Security keys and passkeys (WebAuthn) through `webauthn-rs`. Every
//! credential is registered as a passkey (user verification required, a
//! discoverable credential requested), so one registration serves both as a
//! second factor after the password and for "Log in with passkey".
//!
//! A ceremony's state waits in the store between the start and the finish
//! request and is taken once, so a response cannot be replayed.

use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::Check;
use crate::account::notice::SecurityChange;
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::directory::User;
use crate::error::{Error, Result};
use crate::idp::Idp;

/// How long a browser has between start and finish.
const CEREMONY_SECS: i64 = 5 * 60;
/// "Log in with passkey" starts without an account, so anyone can open
/// ceremonies; past this many open at once, new ones are refused instead of
/// letting the table grow without bound.
const MAX_OPEN_CEREMONIES: i64 = 10_000;

const REGISTER: &str = "register";
const SECOND_FACTOR: &str = "second-factor";
const PASSWORDLESS: &str = "passwordless";

/// Why a WebAuthn step was refused, worded for the person at the browser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebauthnError {
    #[error("This request has expired. Start again.")]
    NoCeremony,
    #[error("The security key's answer could not be read.")]
    Malformed,
    #[error("The security key's answer did not verify.")]
    Rejected,
    #[error("This security key is already registered.")]
    Duplicate,
    #[error("This passkey is not registered with any account.")]
    Unknown,
    #[error("Give the security key a name of at most 100 characters.")]
    BadName,
    #[error(transparent)]
    Internal(#[from] Error),
}

/// What a start request answers: the ceremony to finish, and the options
/// for `navigator.credentials.create/get`.
#[derive(Debug, serde::Serialize)]
pub struct Ceremony {
    pub ceremony: String,
    pub options: Value,
}

/// A stored key as the security page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

/// What became of a request to remove a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// No such key of this user's.
    NotFound,
    /// The password or code did not prove it is them; nothing removed.
    NotProved,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(e.to_string())
}

fn user_uuid(user: &User) -> Result<Uuid> {
    Uuid::parse_str(&user.id).map_err(corrupt)
}

impl Idp {
    fn webauthn(&self) -> Result<Webauthn> {
        let origin: &Url = &self.config.public_url;
        let rp_id = origin
            .host_str()
            .ok_or_else(|| Error::Invalid("public_url has no host".into()))?;
        WebauthnBuilder::new(rp_id, origin)
            .and_then(|b| b.rp_name(&self.config.mfa.issuer).build())
            .map_err(|e| Error::Invalid(format!("WebAuthn configuration: {e}")))
    }

    async fn put(
        &self,
        user: Option<&str>,
        kind: &str,
        state: &impl serde::Serialize,
    ) -> Result<String> {
        let now = clock::now();
        if self.store.open_ceremonies(now).await? >= MAX_OPEN_CEREMONIES {
            tracing::warn!("too many open WebAuthn ceremonies; refusing a new one");
            return Err(Error::Invalid(
                "too many sign-ins in progress; try again in a few minutes".into(),
            ));
        }
        let json = serde_json::to_string(state).map_err(corrupt)?;
        self.store
            .put_ceremony(user, kind, &json, now + CEREMONY_SECS)
            .await
    }

    async fn take<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        kind: &str,
        user: Option<&str>,
    ) -> Result<T, WebauthnError> {
        let Some((owner, state)) = self.store.take_ceremony(id, kind, clock::now()).await? else {
            return Err(WebauthnError::NoCeremony);
        };
        // A ceremony started for one user cannot be finished for another.
        if owner.as_deref() != user {
            return Err(WebauthnError::NoCeremony);
        }
        serde_json::from_str(&state).map_err(|e| WebauthnError::Internal(corrupt(e)))
    }

    fn passkeys(rows: &[crate::store::WebauthnRow]) -> Vec<(String, Passkey)> {
        rows.iter()
            .filter_map(|r| match serde_json::from_str::<Passkey>(&r.passkey) {
                Ok(pk) => Some((r.id.clone(), pk)),
                Err(e) => {
                    tracing::warn!(key = %r.id, error = %e, "skipping unreadable stored passkey");
                    None
                }
            })
            .collect()
    }

    pub async fn webauthn_keys(&self, user_id: &str) -> Result<Vec<KeyView>> {
        Ok(self
            .store
            .webauthn_keys(user_id)
            .await?
            .into_iter()
            .map(|r| KeyView {
                id: r.id,
                name: r.name,
                created: clock::date(r.created_at),
                last_used: r.last_used_at.map(clock::date).unwrap_or_default(),
            })
            .collect())
    }

    /// Starts registering a key for a signed-in user.
    pub async fn webauthn_register_start(&self, user: &User) -> Result<Ceremony> {
        let existing = Self::passkeys(&self.store.webauthn_keys(&user.id).await?);
        let exclude = existing
            .iter()
            .map(|(_, pk)| pk.cred_id().clone())
            .collect();
        let (ccr, state): (_, PasskeyRegistration) = self
            .webauthn()?
            .start_passkey_registration(
                user_uuid(user)?,
                &user.email,
                &user.display_name(),
                Some(exclude),
            )
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut options = serde_json::to_value(&ccr).map_err(corrupt)?;
        // Ask for a discoverable credential, so the same key also works for
        // "Log in with passkey". The finish step does not depend on it.
        if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection") {
            sel["residentKey"] = Value::from("required");
            sel["requireResidentKey"] = Value::from(true);
        }
        let ceremony = self.put(Some(&user.id), REGISTER, &state).await?;
        Ok(Ceremony { ceremony, options })
    }

    pub async fn webauthn_register_finish(
        &self,
        user: &User,
        ceremony: &str,
        name: &str,
        credential: &str,
        ip: Option<&str>,
    ) -> Result<(), WebauthnError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(WebauthnError::BadName);
        }
        let state: PasskeyRegistration = self.take(ceremony, REGISTER, Some(&user.id)).await?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| WebauthnError::Malformed)?;
        let now = clock::now();
        let passkey = match self.webauthn()?.finish_passkey_registration(&reg, &state) {
            Ok(pk) => pk,
            Err(e) => {
                tracing::info!(error = %e, "WebAuthn registration refused");
                audit::record(
                    &self.store,
                    now,
                    Event::new("mfa.webauthn.register", Outcome::Failure)
                        .about(user)
                        .ip(ip)
                        .detail("registration did not verify"),
                )
                .await;
                return Err(WebauthnError::Rejected);
            }
        };
        let cred_id = crypto::b64url(passkey.cred_id());
        if self
            .store
            .webauthn_key_by_credential(&cred_id)
            .await?
            .is_some()
        {
            return Err(WebauthnError::Duplicate);
        }
        let json = serde_json::to_string(&passkey).map_err(corrupt)?;
        self.store
            .add_webauthn_key(&user.id, name, &cred_id, &json, now)
            .await?;
        audit::record(
            &self.store,
            now,
            Event::new("mfa.webauthn.register", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("key {name:?}")),
        )
        .await;
        self.mail_security_change(user, SecurityChange::KeyAdded(name.to_string()), ip)
            .await;
        Ok(())
    }

    /// Removes one of the user's security keys or passkeys after a fresh
    /// proof ([`Idp::reauthenticate`]), like the authenticator app.
    pub async fn webauthn_remove(
        &self,
        user: &User,
        id: &str,
        password: &str,
        code: &str,
        ip: Option<&str>,
    ) -> Result<Removal> {
        if !self
            .store
            .webauthn_keys(&user.id)
            .await?
            .iter()
            .any(|k| k.id == id)
        {
            return Ok(Removal::NotFound);
        }
        if !self
            .reauthenticate(user, password, code, ip, "mfa.webauthn.remove")
            .await?
        {
            return Ok(Removal::NotProved);
        }
        let Some(name) = self.store.delete_webauthn_key(&user.id, id).await? else {
            return Ok(Removal::NotFound);
        };
        audit::record(
            &self.store,
            clock::now(),
            Event::new("mfa.webauthn.remove", Outcome::Success)
                .about(user)
                .ip(ip)
                .detail(format!("key {name:?}")),
        )
        .await;
        self.mail_security_change(user, SecurityChange::KeyRemoved(name), ip)
            .await;
        Ok(Removal::Removed)
    }

    /// Starts the second step with one of the user's keys.
    pub async fn webauthn_verify_start(&self, user: &User) -> Result<Ceremony> {
        let keys: Vec<Passkey> = Self::passkeys(&self.store.webauthn_keys(&user.id).await?)
            .into_iter()
            .map(|(_, pk)| pk)
            .collect();
        let (rcr, state): (_, PasskeyAuthentication) = self
            .webauthn()?
            .start_passkey_authentication(&keys)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let options = serde_json::to_value(&rcr).map_err(corrupt)?;
        let ceremony = self.put(Some(&user.id), SECOND_FACTOR, &state).await?;
        Ok(Ceremony { ceremony, options })
    }

    /// Finishes the second step. A refused assertion counts toward lockout
    /// like a wrong code.
    pub async fn webauthn_verify_finish(
        &self,
        user: &User,
        ceremony: &str,
        credential: &str,
        ip: Option<&str>,
    ) -> Result<Check, WebauthnError> {
        let now = clock::now();
        if user.locked.is_some() {
            return Ok(Check::Locked);
        }
        let state: PasskeyAuthentication =
            self.take(ceremony, SECOND_FACTOR, Some(&user.id)).await?;
        let cred: PublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| WebauthnError::Malformed)?;
        let verified = self
            .webauthn()?
            .finish_passkey_authentication(&cred, &state);
        let row = self
            .store
            .webauthn_key_by_credential(&crypto::b64url(cred.get_credential_id()))
            .await?
            .filter(|r| r.user_id == user.id);
        match (verified, row) {
            (Ok(res), Some(row)) => {
                self.record_key_use(&row, &res, now).await?;
                audit::record(
                    &self.store,
                    now,
                    Event::new("mfa.webauthn.verify", Outcome::Success)
                        .about(user)
                        .ip(ip)
                        .detail(format!("key {:?}", row.name)),
                )
                .await;
                // `hwk`: proof of a key held by the user (RFC 8176 cannot tell
                // a platform authenticator from a roaming one here); `user`:
                // the authenticator tested presence and verification.
                let mut amr = vec!["pwd".to_string(), "hwk".into()];
                if res.user_verified() {
                    amr.push("user".into());
                }
                amr.push("mfa".into());
                Ok(Check::Ok(amr))
            }
            (res, _) => {
                if let Err(e) = res {
                    tracing::info!(error = %e, "WebAuthn assertion refused");
                }
                audit::record(
                    &self.store,
                    now,
                    Event::new("mfa.webauthn.verify", Outcome::Failure)
                        .about(user)
                        .ip(ip)
                        .detail("assertion did not verify"),
                )
                .await;
                if self.count_failure(user, ip, now).await? {
                    return Ok(Check::Locked);
                }
                Ok(Check::Wrong)
            }
        }
    }

    async fn record_key_use(
        &self,
        row: &crate::store::WebauthnRow,
        res: &webauthn_rs::prelude::AuthenticationResult,
        now: i64,
    ) -> Result<()> {
        let mut pk: Passkey = serde_json::from_str(&row.passkey).map_err(corrupt)?;
        pk.update_credential(res);
        let json = serde_json::to_string(&pk).map_err(corrupt)?;
        self.store.touch_webauthn_key(&row.id, &json, now).await
    }

    /// Starts "Log in with passkey": no user yet, the authenticator says who.
    pub async fn passkey_start(&self) -> Result<Ceremony> {
        let (rcr, state): (_, DiscoverableAuthentication) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut options = serde_json::to_value(&rcr).map_err(corrupt)?;
        // The library asks for conditional mediation (autofill); this is an
        // explicit button, so the browser's normal prompt is wanted.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        let ceremony = self.put(None, PASSWORDLESS, &state).await?;
        Ok(Ceremony { ceremony, options })
    }

    /// Finishes "Log in with passkey": the user and the session's `amr`.
    /// User verification was required, so the passkey alone is two factors.
    pub async fn passkey_finish(
        &self,
        ceremony: &str,
        credential: &str,
        ip: Option<&str>,
    ) -> Result<(User, Vec<String>), WebauthnError> {
        let now = clock::now();
        let state: DiscoverableAuthentication = self.take(ceremony, PASSWORDLESS, None).await?;
        let cred: PublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| WebauthnError::Malformed)?;
        let wa = self.webauthn()?;
        let (uuid, cred_id) = wa
            .identify_discoverable_authentication(&cred)
            .map_err(|_| WebauthnError::Malformed)?;
        let row = self
            .store
            .webauthn_key_by_credential(&crypto::b64url(cred_id))
            .await?
            .filter(|r| Uuid::parse_str(&r.user_id).ok() == Some(uuid))
            .ok_or(WebauthnError::Unknown)?;
        let user = self
            .store
            .user_by_id(&row.user_id)
            .await?
            .ok_or(WebauthnError::Unknown)?;
        let pk: Passkey = serde_json::from_str(&row.passkey).map_err(corrupt)?;
        let key = DiscoverableKey::from(&pk);
        let fail = |detail: &'static str| {
            Event::new("signin.passkey", Outcome::Failure)
                .about(&user)
                .ip(ip)
                .detail(detail)
        };
        let res = match wa.finish_discoverable_authentication_v2(&cred, state, &key) {
            Ok(res) => res,
            Err(e) => {
                tracing::info!(error = %e, "passkey assertion refused");
                audit::record(&self.store, now, fail("assertion did not verify")).await;
                return Err(WebauthnError::Rejected);
            }
        };
        if user.locked.is_some() {
            audit::record(&self.store, now, fail("account locked")).await;
            return Err(WebauthnError::Rejected);
        }
        self.record_key_use(&row, &res, now).await?;
        audit::record(
            &self.store,
            now,
            Event::new("signin.passkey", Outcome::Success)
                .about(&user)
                .ip(ip)
                .detail(format!("key {:?}", row.name)),
        )
        .await;
        Ok((user, vec!["hwk".into(), "user".into(), "mfa".into()]))
    }
}

/// Whether a session was started by a passkey alone (no password), and so
/// must verify again after `[mfa] passkey_reverify`.
pub fn is_passwordless(amr: &[String]) -> bool {
    amr.iter().any(|a| a == "hwk") && !amr.iter().any(|a| a == "pwd")
}
