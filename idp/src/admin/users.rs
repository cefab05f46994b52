//! Accounts: create, set a password, lock, unlock, reset MFA, delete. Every
//! change that takes access away also ends the user's sessions everywhere.

use serde::Serialize;

use super::lookup;
use super::{Actor, AdminError, Entity, Record, Result, conflict_on};
use crate::credentials::check_policy;
use crate::directory::{FieldKind, LockReason, User, normalize_email, valid_email};
use crate::idp::Idp;

/// A new account as an administrator describes it.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Defaults to the part of the email before the @.
    pub username: Option<String>,
    /// Must meet the password policy; without one the user signs in by
    /// reset link or federation.
    pub password: Option<String>,
    pub groups: Vec<String>,
    /// An administrator role held as a directory attribute.
    pub role: Option<crate::roles::Role>,
}

/// A user with the names of their groups.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub user: User,
    pub groups: Vec<String>,
}

pub async fn add(idp: &Idp, actor: &Actor, new: NewUser) -> Result<UserView> {
    let email = normalize_email(&new.email);
    if !valid_email(&email) {
        return Err(AdminError::invalid(
            "email",
            format!("{email:?} is not an email address"),
        ));
    }
    let username = match new.username {
        Some(u) if !u.is_empty() => u,
        _ => email.split('@').next().unwrap_or_default().to_string(),
    };
    crate::directory::validate_field(FieldKind::Username, &username)
        .map_err(|m| AdminError::invalid("username", format!("username: {m}")))?;
    let password_hash = match &new.password {
        Some(pw) => {
            let settings = idp.settings().await?;
            let local = email.split('@').next().unwrap_or("");
            let unmet = check_policy(&settings.password, pw, &[&username, local]);
            if !unmet.is_empty() {
                return Err(AdminError::PasswordPolicy(unmet));
            }
            Some(idp.hasher.hash(pw).await?)
        }
        None => None,
    };
    let groups = lookup::groups(idp, &new.groups).await?;
    let user = idp
        .store
        .create_user(
            &crate::store::NewUser {
                email: email.clone(),
                first_name: new.first_name,
                last_name: new.last_name,
                username,
                password_hash,
                admin_role: new.role,
            },
            crate::clock::now(),
        )
        .await
        .map_err(conflict_on(Entity::User, &email))?;
    for g in &groups {
        idp.store.add_member(&g.id, &user.id).await?;
    }
    let names: Vec<String> = groups.into_iter().map(|g| g.name).collect();
    let detail = if names.is_empty() {
        String::new()
    } else {
        format!("groups: {}", names.join(", "))
    };
    Record::new("admin.user.add")
        .about(&user)
        .detail(detail)
        .write(idp, actor)
        .await;
    Ok(UserView {
        user,
        groups: names,
    })
}

pub async fn list(idp: &Idp) -> Result<Vec<UserView>> {
    let mut rows = Vec::new();
    for user in idp.store.list_users().await? {
        let groups = idp.store.groups_of(&user.id).await?;
        rows.push(UserView { user, groups });
    }
    Ok(rows)
}

pub async fn show(idp: &Idp, email: &str) -> Result<UserView> {
    let user = lookup::user(idp, email).await?;
    let groups = idp.store.groups_of(&user.id).await?;
    Ok(UserView { user, groups })
}

/// Sets a password (policy and history apply), lifts a lock caused by
/// failures or expiry (an administrator's lock stays), and ends the user's
/// sessions.
pub async fn set_password(idp: &Idp, actor: &Actor, email: &str, password: &str) -> Result<()> {
    let user = lookup::user(idp, email).await?;
    let settings = idp.settings().await?;
    let unmet = idp
        .password_problems(&user, &settings.password, password)
        .await?;
    if !unmet.is_empty() {
        return Err(AdminError::PasswordPolicy(unmet));
    }
    let now = crate::clock::now();
    let hash = idp.hasher.hash(password).await?;
    idp.store.set_password_hash(&user.id, &hash, now).await?;
    if matches!(
        user.locked,
        Some(LockReason::Expired | LockReason::FailedAttempts)
    ) {
        idp.store.unlock_user(&user.id, now).await?;
    }
    // The owner may sign in at once, even after a distributed-guessing delay.
    idp.throttle_forget_account(&user.email).await?;
    let ended = idp.end_user_sessions(&user.id).await?;
    Record::new("admin.user.set_password")
        .about(&user)
        .detail(format!("{ended} sessions ended"))
        .write(idp, actor)
        .await;
    Ok(())
}

/// Suspends the account and ends its sessions. False when it was locked
/// already (its sessions are ended all the same).
pub async fn lock(idp: &Idp, actor: &Actor, email: &str) -> Result<bool> {
    let user = lookup::user(idp, email).await?;
    let changed = idp.store.lock_user(&user.id, LockReason::Admin).await?;
    let ended = idp.end_user_sessions(&user.id).await?;
    Record::new("admin.user.lock")
        .about(&user)
        .detail(format!("{ended} sessions ended"))
        .write(idp, actor)
        .await;
    Ok(changed)
}

/// Lifts any lock and clears the failure counter. False when it was not locked.
pub async fn unlock(idp: &Idp, actor: &Actor, email: &str) -> Result<bool> {
    let user = lookup::user(idp, email).await?;
    let changed = idp.store.unlock_user(&user.id, crate::clock::now()).await?;
    // An unlock also lifts a distributed-guessing delay on the account.
    idp.throttle_forget_account(&user.email).await?;
    Record::new("admin.user.unlock")
        .about(&user)
        .write(idp, actor)
        .await;
    Ok(changed)
}

pub async fn delete(idp: &Idp, actor: &Actor, email: &str) -> Result<()> {
    let user = lookup::user(idp, email).await?;
    // Sessions first: a session must not outlive the account it points to.
    idp.end_user_sessions(&user.id).await?;
    idp.store.delete_user(&user.id).await?;
    Record::new("admin.user.delete")
        .about(&user)
        .write(idp, actor)
        .await;
    Ok(())
}

/// Removes every second factor (authenticator apps, security keys,
/// passkeys, recovery codes) and ends the user's sessions; they enrol again
/// at the next sign-in when MFA is required. Returns the records removed.
pub async fn reset_mfa(idp: &Idp, actor: &Actor, email: &str) -> Result<u64> {
    let user = lookup::user(idp, email).await?;
    let removed = idp.store.delete_all_factors(&user.id).await?;
    idp.end_user_sessions(&user.id).await?;
    Record::new("admin.user.reset_mfa")
        .about(&user)
        .detail(format!("{removed} factor records removed"))
        .write(idp, actor)
        .await;
    Ok(removed)
}

/// The longest reason an administrator may give for a lock or an unlock.
pub const MAX_REASON: usize = 500;

fn reason_detail(reason: &str, ended: Option<usize>) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(AdminError::invalid(
            "reason",
            format!("give a reason of 1 to {MAX_REASON} characters"),
        ));
    }
    Ok(match ended {
        Some(n) => format!("{reason} ({n} sessions ended)"),
        None => reason.to_string(),
    })
}

/// [`lock`] with the administrator's reason in the audit row; the reason is
/// required, so the trail says why an account stopped working.
pub async fn lock_because(idp: &Idp, actor: &Actor, email: &str, reason: &str) -> Result<bool> {
    reason_detail(reason, None)?;
    let user = lookup::user(idp, email).await?;
    let changed = idp.store.lock_user(&user.id, LockReason::Admin).await?;
    let ended = idp.end_user_sessions(&user.id).await?;
    Record::new("admin.user.lock")
        .about(&user)
        .detail(reason_detail(reason, Some(ended))?)
        .write(idp, actor)
        .await;
    Ok(changed)
}

/// [`unlock`] with the administrator's reason in the audit row.
pub async fn unlock_because(idp: &Idp, actor: &Actor, email: &str, reason: &str) -> Result<bool> {
    let detail = reason_detail(reason, None)?;
    let user = lookup::user(idp, email).await?;
    let changed = idp.store.unlock_user(&user.id, crate::clock::now()).await?;
    idp.throttle_forget_account(&user.email).await?;
    Record::new("admin.user.unlock")
        .about(&user)
        .detail(detail)
        .write(idp, actor)
        .await;
    Ok(changed)
}

/// Mails the user a single-use password reset link, as their own request
/// would (without its rate limits: an administrator asked). Refused when
/// the account may not reset: locked by an administrator, or signing in
/// through an upstream provider.
pub async fn send_reset_link(idp: &Idp, actor: &Actor, email: &str) -> Result<()> {
    let user = lookup::user(idp, email).await?;
    if !idp.reset_allowed(&user) {
        return Err(AdminError::invalid(
            "user",
            "this account is locked by an administrator; unlock it first",
        ));
    }
    if !idp.store.federated_links_of(&user.id).await?.is_empty() {
        return Err(AdminError::invalid(
            "user",
            "this account signs in through an upstream provider and has no local password",
        ));
    }
    idp.mail_reset_link(&user, crate::clock::now()).await?;
    Record::new("admin.user.send_reset_link")
        .about(&user)
        .write(idp, actor)
        .await;
    Ok(())
}

/// The applications the user may launch, by name.
pub async fn applications(idp: &Idp, email: &str) -> Result<Vec<crate::directory::Application>> {
    let user = lookup::user(idp, email).await?;
    Ok(idp
        .store
        .applications_for_user(&user.id)
        .await?
        .into_iter()
        .map(|(a, _)| a)
        .collect())
}
