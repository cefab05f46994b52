//! Accounts: create, set a password, lock, unlock, reset MFA, delete. Every
//! change that takes access away also ends the user's sessions everywhere.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::lookup;
use super::{Actor, AdminError, Entity, Page, Record, Result, conflict_on, page_limit};
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
/// left alone): the one write path for an account's fields, behind
/// [`update`] (console, API) and SCIM. A new email is a new sign-in name,
/// so the user's sessions end. One audit row lists the changed fields,
/// never their values.
pub async fn replace(idp: &Idp, actor: &Actor, user_id: &str, new: UserRecord) -> Result<User> {
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
            .set_email(&user.id, &email)
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
    // The statement also clears the failure counter of an unlocked
    // account, so it always touches the row: what changed is the lock.
    idp.store.unlock_user(&user.id, crate::clock::now()).await?;
    let changed = user.locked.is_some();
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

/// Which users a search finds; every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserQuery {
    /// Found (without regard to case) in the email, the name or the username.
    pub text: Option<String>,
    /// A member of this group.
    pub group: Option<String>,
    pub locked: Option<bool>,
    /// Holds exactly this role (the strongest one they hold, from the
    /// attribute or a configured group).
    pub role: Option<crate::roles::Role>,
    #[serde(default)]
    pub offset: u64,
    /// 0 for the default page (50); at most [`super::MAX_PAGE`].
    #[serde(default)]
    pub limit: u64,
}

/// The longest search text, in characters.
pub const MAX_SEARCH: usize = 200;

/// One page of the users the query finds, by email; filtered and paged in
/// the database, so it stays fast with many users.
pub async fn search(idp: &Idp, q: &UserQuery) -> Result<Page<UserView>> {
    use crate::roles::Role;
    let limit = page_limit(q.limit);
    let text = q
        .text
        .as_deref()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty());
    if text
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_SEARCH)
    {
        return Err(AdminError::invalid(
            "text",
            format!("search text: at most {MAX_SEARCH} characters"),
        ));
    }
    let mut filter = crate::store::UserFilter {
        text,
        group: q.group.clone().filter(|g| !g.is_empty()),
        locked: q.locked,
        ..Default::default()
    };
    if let Some(role) = q.role {
        // The role a user holds is the strongest of the attribute and the
        // configured groups (`roles::of`): this role from either, and no
        // stronger one from either.
        let cfg = &idp.config.admin;
        let groups_of = |r: Role| -> Vec<String> {
            match r {
                Role::Admin => cfg.admin_groups.clone(),
                Role::Helpdesk => cfg.helpdesk_groups.clone(),
                Role::Auditor => cfg.auditor_groups.clone(),
            }
            .into_iter()
            .filter(|g| cfg.role_of_group(g) == Some(r))
            .collect()
        };
        filter.role_in = Some((vec![role.as_str()], groups_of(role)));
        let stronger: Vec<Role> = Role::ALL.into_iter().filter(|r| *r > role).collect();
        if !stronger.is_empty() {
            filter.role_not_in = Some((
                stronger.iter().map(|r| r.as_str()).collect(),
                stronger.iter().flat_map(|r| groups_of(*r)).collect(),
            ));
        }
    }
    let (users, total) = idp.store.search_users(&filter, q.offset, limit).await?;
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let mut groups = idp.store.groups_of_many(&ids).await?;
    let items = users
        .into_iter()
        .map(|user| UserView {
            groups: groups.remove(&user.id).unwrap_or_default(),
            user,
        })
        .collect();
    Ok(Page {
        items,
        total,
        offset: q.offset,
        limit,
    })
}

/// The version of a user as [`show`] gives it, for `If-Match`.
pub fn etag(view: &UserView) -> String {
    super::etag(view)
}

/// Refuses with [`AdminError::Stale`] unless `if_match` (when given) is the
/// user's current [`etag`]; for writes that take no version themselves
/// (lock, delete, role...), checked just before them.
pub async fn require_version(idp: &Idp, email: &str, if_match: Option<&str>) -> Result<()> {
    if if_match.is_none() {
        return Ok(());
    }
    let view = show(idp, email).await?;
    super::check_version(&view, if_match, Entity::User, email)
}

/// What an administrator changes about a user; `None` keeps a value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserEdit {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// The company email, which is also the sign-in name.
    pub email: Option<String>,
    /// Profile fields by form name (`work_phone`, `home_city`, ...); an
    /// empty value clears one.
    #[serde(default)]
    pub profile: BTreeMap<String, String>,
}

/// Changes names, profile fields and the company email, with the same
/// validation as the user's own profile edit. `if_match`, when given, must
/// be the current [`etag`]. One audit row names the fields changed.
pub async fn update(
    idp: &Idp,
    actor: &Actor,
    email: &str,
    edit: UserEdit,
    if_match: Option<&str>,
) -> Result<UserView> {
    let before = show(idp, email).await?;
    super::check_version(&before, if_match, Entity::User, email)?;
    let user = &before.user;
    let known = |k: &str| {
        crate::directory::PROFILE_FIELDS
            .iter()
            .any(|(n, _, _)| *n == k)
    };
    let mut errors = BTreeMap::new();
    for k in edit.profile.keys() {
        if !known(k) || crate::directory::NAME_FIELDS.contains(&k.as_str()) {
            errors.insert(k.clone(), "Not a profile field.".to_string());
        }
    }
    let mut entered: HashMap<String, String> =
        crate::account::profile::values(user).into_iter().collect();
    entered.extend(edit.profile.clone());
    for (k, v) in [
        ("first_name", &edit.first_name),
        ("last_name", &edit.last_name),
        ("username", &edit.username),
    ] {
        if let Some(v) = v {
            entered.insert(k.to_string(), v.clone());
        }
    }
    let new_email = match &edit.email {
        Some(e) => {
            let e = normalize_email(e);
            if !valid_email(&e) {
                errors.insert(
                    "email".into(),
                    "Enter an email address such as name@example.com.".into(),
                );
            }
            (e != user.email).then_some(e)
        }
        None => None,
    };
    let checked = match crate::account::profile::check(user, &entered) {
        Ok(c) if errors.is_empty() => c,
        Ok(_) => return Err(AdminError::Fields { errors }),
        Err((_, more)) => {
            errors.extend(more);
            return Err(AdminError::Fields { errors });
        }
    };
    let record = UserRecord {
        email: new_email.clone().unwrap_or_else(|| user.email.clone()),
        first_name: checked.first_name,
        last_name: checked.last_name,
        username: checked.username,
        profile: checked.profile,
        external_id: user.external_id.clone(),
    };
    let updated = replace(idp, actor, &user.id, record).await?;
    show(idp, &updated.email).await
}

/// Mails the user a password reset link, as "forgot password" would but
/// without its rate limits. Refused for an account an administrator
/// suspended (unlock it first), one a reset would not open, and one that
/// signs in through federation (it has no local password).
pub async fn send_reset_link(idp: &Idp, actor: &Actor, email: &str) -> Result<()> {
    let user = lookup::user(idp, email).await?;
    if !idp.reset_allowed(&user) {
        return Err(AdminError::invalid(
            "email",
            format!(
                "{} is locked; a reset link would not open it: unlock it first",
                user.email
            ),
        ));
    }
    if !idp.store.federated_links_of(&user.id).await?.is_empty() {
        return Err(AdminError::invalid(
            "email",
            format!(
                "{} signs in through federation and has no password here",
                user.email
            ),
        ));
    }
    idp.send_reset_link(&user, crate::clock::now()).await?;
    Record::new("admin.user.reset_link")
        .about(&user)
        .write(idp, actor)
        .await;
    Ok(())
}
