//! Accounts: create, set a password, lock, unlock, reset MFA, delete. Every
//! change that takes access away also ends the user's sessions everywhere.

use serde::Serialize;

use super::lookup;
use super::{Actor, AdminError, Entity, Record, Result, conflict_on};
use crate::credentials::check_policy;
use crate::directory::{
    DIRECTORY_FIELDS, FieldKind, LockReason, NAME_FIELDS, PROFILE_FIELDS, Profile, User,
    normalize_email, valid_email, validate_field,
};
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
    /// Profile and directory fields (see [`check_profile`]).
    pub profile: Profile,
    /// The provisioning system's key for the user.
    pub external_id: Option<String>,
}

/// What an administrator or a provisioning system may change about an
/// account, as the whole new state: [`update`] writes what differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRecord {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub profile: Profile,
    pub external_id: Option<String>,
}

impl UserRecord {
    pub fn of(user: &User) -> Self {
        Self {
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            username: user.username.clone(),
            profile: user.profile.clone(),
            external_id: user.external_id.clone(),
        }
    }
}

/// The longest external id, in characters.
pub const MAX_EXTERNAL_ID: usize = 255;

fn check_email(email: &str) -> Result<String> {
    let email = normalize_email(email);
    if !valid_email(&email) {
        return Err(AdminError::invalid(
            "email",
            format!("{email:?} is not an email address"),
        ));
    }
    Ok(email)
}

fn check_username(username: &str) -> Result<()> {
    validate_field(FieldKind::Username, username)
        .map_err(|m| AdminError::invalid("username", format!("username: {m}")))
}

/// Names may be empty (a provisioned account may have none yet).
fn check_name(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    validate_field(FieldKind::Name, value)
        .map_err(|m| AdminError::invalid(field, format!("{field}: {m}")))
}

fn check_external_id(value: Option<&str>) -> Result<()> {
    match value {
        Some(v)
            if v.is_empty()
                || v.chars().count() > MAX_EXTERNAL_ID
                || v.chars().any(char::is_control) =>
        {
            Err(AdminError::invalid(
                "external_id",
                format!("external_id: 1 to {MAX_EXTERNAL_ID} characters, no control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// Every key must be a profile or directory field (names have their own
/// columns) and every value must pass that field's check; empty values are
/// not kept.
pub fn check_profile(profile: &Profile) -> Result<Profile> {
    let mut kept = Profile::default();
    for (key, value) in &profile.0 {
        let kind = PROFILE_FIELDS
            .iter()
            .chain(DIRECTORY_FIELDS)
            .find(|(name, _, _)| name == key && !NAME_FIELDS.contains(name))
            .map(|(_, _, kind)| *kind)
            .ok_or_else(|| {
                AdminError::invalid(key.clone(), format!("unknown profile field {key:?}"))
            })?;
        let value = value.trim();
        validate_field(kind, value)
            .map_err(|m| AdminError::invalid(key.clone(), format!("{key}: {m}")))?;
        if !value.is_empty() {
            kept.0.insert(key.clone(), value.to_string());
        }
    }
    Ok(kept)
}

/// A user with the names of their groups.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub user: User,
    pub groups: Vec<String>,
}

pub async fn add(idp: &Idp, actor: &Actor, new: NewUser) -> Result<UserView> {
    let email = check_email(&new.email)?;
    let username = match new.username {
        Some(u) if !u.is_empty() => u,
        _ => email.split('@').next().unwrap_or_default().to_string(),
    };
    check_username(&username)?;
    check_name("first_name", &new.first_name)?;
    check_name("last_name", &new.last_name)?;
    check_external_id(new.external_id.as_deref())?;
    let profile = check_profile(&new.profile)?;
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
    let user = if profile.0.is_empty() && new.external_id.is_none() {
        user
    } else {
        idp.store
            .update_profile(
                &user.id,
                &user.first_name,
                &user.last_name,
                &user.username,
                &profile,
            )
            .await?;
        idp.store
            .set_user_external_id(&user.id, new.external_id.as_deref())
            .await?;
        lookup::user_by_id(idp, &user.id).await?
    };
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

/// Changes the account to `new` (the whole new state; what is equal is
/// left alone). A new email is a new sign-in name, so the user's sessions
/// end. One audit row lists the changed fields, never their values.
pub async fn update(idp: &Idp, actor: &Actor, user_id: &str, new: UserRecord) -> Result<User> {
    let user = lookup::user_by_id(idp, user_id).await?;
    let email = check_email(&new.email)?;
    check_username(&new.username)?;
    check_name("first_name", &new.first_name)?;
    check_name("last_name", &new.last_name)?;
    check_external_id(new.external_id.as_deref())?;
    let profile = check_profile(&new.profile)?;
    let old = UserRecord::of(&user);
    let mut changed: Vec<&str> = Vec::new();
    if email != old.email {
        changed.push("email");
    }
    for (field, a, b) in [
        ("first_name", &old.first_name, &new.first_name),
        ("last_name", &old.last_name, &new.last_name),
        ("username", &old.username, &new.username),
    ] {
        if a != b {
            changed.push(field);
        }
    }
    let keys: std::collections::BTreeSet<&String> =
        old.profile.0.keys().chain(profile.0.keys()).collect();
    let profile_changed: Vec<&str> = keys
        .into_iter()
        .filter(|k| old.profile.0.get(*k) != profile.0.get(*k))
        .map(String::as_str)
        .collect();
    changed.extend(profile_changed.iter().copied());
    if old.external_id != new.external_id {
        changed.push("external_id");
    }
    if changed.is_empty() {
        return Ok(user);
    }
    if email != old.email {
        idp.store
            .set_user_email(&user.id, &email)
            .await
            .map_err(conflict_on(Entity::User, &email))?;
    }
    idp.store
        .update_profile(
            &user.id,
            &new.first_name,
            &new.last_name,
            &new.username,
            &profile,
        )
        .await?;
    if old.external_id != new.external_id {
        idp.store
            .set_user_external_id(&user.id, new.external_id.as_deref())
            .await?;
    }
    let mut detail = format!("fields: {}", changed.join(", "));
    if email != old.email {
        let ended = idp.end_user_sessions(&user.id).await?;
        detail.push_str(&format!("; {ended} sessions ended"));
    }
    let updated = lookup::user_by_id(idp, &user.id).await?;
    Record::new("admin.user.update")
        .about(&updated)
        .detail(detail)
        .write(idp, actor)
        .await;
    Ok(updated)
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
