//! The Security page: password, SSH keys and personal API keys.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::render::page;
use super::{ClientIp, CsrfToken, Form, Portal, PortalError, PortalResult, SignedIn, see_other};
use crate::account::AccountError;
use crate::clock;
use crate::credentials::{policy_checklist, policy_rules};
use crate::directory::User;
use crate::password::PasswordChangeError;

#[derive(Default)]
struct Feedback {
    status: Option<StatusCode>,
    flash: Option<&'static str>,
    password_errors: Vec<String>,
    ssh_error: Option<String>,
    /// What was typed into the refused SSH key form, given back.
    ssh_name: Option<String>,
    ssh_public_key: Option<String>,
    api_error: Option<String>,
    new_api_key: Option<String>,
    mfa_error: Option<&'static str>,
    new_recovery_codes: Option<Vec<String>>,
}

#[derive(Serialize)]
struct SshKeyView {
    id: String,
    name: String,
    algorithm: String,
    fingerprint: String,
    created: String,
}

/// A row of "Your sessions and devices".
#[derive(Serialize)]
struct SessionRow {
    id: String,
    device: String,
    /// Only the address: we ship no GeoIP database, so no place is shown.
    address: String,
    first_seen: String,
    last_seen: String,
    current: bool,
    applications: Vec<String>,
}

/// A row of "Recent sign-in activity".
#[derive(Serialize)]
struct AttemptRow {
    at: String,
    success: bool,
    method: String,
    note: Option<String>,
    address: String,
}

async fn session_rows(portal: &Portal, me: &SignedIn) -> PortalResult<Vec<SessionRow>> {
    Ok(portal
        .idp
        .own_sessions(&me.user, &me.session)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.view.id,
            device: s
                .view
                .device
                .unwrap_or_else(|| "Unknown browser".to_string()),
            address: s.view.source_ip.unwrap_or_else(|| "Unknown".to_string()),
            first_seen: clock::date_time(s.view.created_at),
            last_seen: clock::date_time(s.view.last_seen),
            current: s.current,
            applications: s
                .view
                .applications
                .into_iter()
                .chain(s.view.relying_parties)
                .collect(),
        })
        .collect())
}

async fn attempt_rows(portal: &Portal, me: &User) -> PortalResult<Vec<AttemptRow>> {
    Ok(portal
        .idp
        .sign_in_activity(me)
        .await?
        .into_iter()
        .map(|a| AttemptRow {
            at: clock::date_time(a.at),
            success: a.success,
            method: a.method,
            note: a.note,
            address: a.source_ip.unwrap_or_else(|| "Unknown".to_string()),
        })
        .collect())
}

#[derive(Serialize)]
struct ApiKeyView {
    id: String,
    name: String,
    prefix: String,
    created: String,
    expires: String,
    last_used: String,
    /// The applications the key is limited to, by name; empty: all.
    apps: String,
}

#[derive(Serialize)]
struct ApiAppView {
    id: String,
    name: String,
}

/// The provider a federated user signs in with: such users have no local
/// password to change.
async fn federated_provider(portal: &Portal, me: &User) -> PortalResult<Option<String>> {
    let links = portal.idp.store.federated_links_of(&me.id).await?;
    Ok(links.first().map(|l| {
        portal
            .idp
            .federation
            .get(&l.provider)
            .map(|p| p.common().name.clone())
            .unwrap_or_else(|| l.provider.clone())
    }))
}

async fn render(
    portal: &Portal,
    signed_in: &SignedIn,
    csrf: &CsrfToken,
    fb: Feedback,
) -> PortalResult {
    let me = &signed_in.user;
    let settings = portal.idp.settings().await?;
    let ssh: Vec<SshKeyView> = portal
        .idp
        .store
        .ssh_keys(&me.id)
        .await?
        .into_iter()
        .map(|k| SshKeyView {
            id: k.id,
            name: k.name,
            algorithm: k.algorithm,
            fingerprint: k.fingerprint,
            created: clock::date(k.created_at),
        })
        .collect();
    let api_apps = portal.idp.api_key_applications(me).await?;
    let app_name = |id: &str| {
        api_apps
            .iter()
            .find(|(p, _)| p == id)
            .map_or(id.to_string(), |(_, n)| n.clone())
    };
    let api: Vec<ApiKeyView> = portal
        .idp
        .store
        .api_keys(&me.id)
        .await?
        .into_iter()
        .map(|k| ApiKeyView {
            apps: k
                .apps
                .as_deref()
                .map(|a| {
                    a.split_whitespace()
                        .map(app_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            id: k.id,
            name: k.name,
            prefix: format!("{}…", k.prefix),
            created: clock::date(k.created_at),
            expires: k.expires_at.map(clock::date).unwrap_or_default(),
            last_used: k.last_used_at.map(clock::date).unwrap_or_default(),
        })
        .collect();
    let api_apps: Vec<ApiAppView> = api_apps
        .into_iter()
        .map(|(id, name)| ApiAppView { id, name })
        .collect();
    let chrome = portal.chrome(me, csrf, "security").await?;
    let factors = portal.idp.factors(&me.id).await?;
    let mfa_policy = portal.idp.mfa_policy().await?.0;
    let mut res = page(
        fb.status.unwrap_or(StatusCode::OK),
        "security.html",
        context! {
            title => "Security",
            flash => fb.flash,
            policy_rules => policy_rules(&settings.password),
            password_rules => policy_checklist(
                &settings.password,
                &[&me.username, me.email.split('@').next().unwrap_or("")],
            ),
            password_errors => fb.password_errors,
            password_expires_in_days => portal.idp.password_expires_in_days(me).await?,
            ssh_keys => ssh,
            ssh_error => fb.ssh_error,
            ssh_name => fb.ssh_name,
            ssh_public_key => fb.ssh_public_key,
            api_keys => api,
            api_apps => api_apps,
            new_api_key => fb.new_api_key,
            api_error => fb.api_error,
            federated => federated_provider(portal, me).await?,
            mfa_off => mfa_policy == crate::config::MfaPolicy::Off,
            mfa_required => portal.idp.mfa_required_for(me).await?,
            totp_on => factors.totp,
            webauthn_keys => portal.idp.webauthn_keys(&me.id).await?,
            recovery_left => factors.recovery_left,
            mfa_error => fb.mfa_error,
            new_recovery_codes => fb.new_recovery_codes,
            sessions => session_rows(portal, signed_in).await?,
            activity => attempt_rows(portal, me).await?,
            ..minijinja::Value::from_serialize(&chrome)
        },
    );
    if fb.new_api_key.is_some() || fb.new_recovery_codes.is_some() {
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(res)
}

#[derive(Deserialize, Default)]
pub struct SecurityQuery {
    done: Option<String>,
}

pub async fn show(
    State(portal): State<Portal>,
    me: SignedIn,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Query(q): Query<SecurityQuery>,
) -> PortalResult {
    // Flash messages are chosen from a fixed list, never echoed from the URL.
    let flash = match q.done.as_deref() {
        Some("ssh-added") => Some("SSH key added."),
        Some("ssh-deleted") => Some("SSH key deleted."),
        Some("api-revoked") => Some("API key revoked."),
        Some("totp-on") => {
            Some("Authenticator app set up. You will be asked for a code when you sign in.")
        }
        Some("totp-removed") => Some("Authenticator app removed."),
        Some("key-added") => Some("Security key added."),
        Some("key-removed") => Some("Security key removed."),
        Some("session-ended") => Some("That session was signed out."),
        Some("sessions-ended") => Some("Every other session was signed out."),
        _ => None,
    };
    render(
        &portal,
        &me,
        &csrf,
        Feedback {
            flash,
            ..Default::default()
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn change_password(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<PasswordForm>,
) -> PortalResult {
    if federated_provider(&portal, &me.user).await?.is_some() {
        return render(
            &portal,
            &me,
            &csrf,
            Feedback {
                status: Some(StatusCode::FORBIDDEN),
                password_errors: vec![
                    "Your password is managed by your identity provider; change it there."
                        .to_string(),
                ],
                ..Feedback::default()
            },
        )
        .await;
    }
    let result = portal
        .idp
        .change_password(
            &me.user,
            &form.current_password,
            &form.new_password,
            &form.confirm_password,
            ip.as_deref(),
        )
        .await;
    let errors = match result {
        Ok(()) => {
            let mut res = see_other("/login?changed=1");
            res.headers_mut()
                .append(header::SET_COOKIE, super::login::clear_session(&portal));
            return Ok(res);
        }
        Err(PasswordChangeError::WrongCurrent) => {
            vec!["Your current password is not correct.".to_string()]
        }
        Err(PasswordChangeError::Mismatch) => vec!["The new passwords do not match.".to_string()],
        Err(PasswordChangeError::Policy(unmet)) => unmet,
        Err(PasswordChangeError::Internal(e)) => return Err(e.into()),
    };
    render(
        &portal,
        &me,
        &csrf,
        Feedback {
            status: Some(StatusCode::BAD_REQUEST),
            password_errors: errors,
            ..Default::default()
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct SshKeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    public_key: String,
}

pub async fn add_ssh_key(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<SshKeyForm>,
) -> PortalResult {
    let error = match portal
        .idp
        .add_ssh_key(
            &me.user,
            &form.name,
            &form.public_key,
            ip.as_deref(),
            clock::now(),
        )
        .await
    {
        Ok(_) => return Ok(see_other("/security?done=ssh-added#ssh-keys")),
        Err(AccountError::Refused(e)) => e,
        Err(AccountError::Internal(e)) => return Err(e.into()),
    };
    render(
        &portal,
        &me,
        &csrf,
        Feedback {
            status: Some(StatusCode::BAD_REQUEST),
            ssh_error: Some(error),
            ssh_name: Some(form.name.clone()),
            ssh_public_key: Some(form.public_key.clone()),
            ..Default::default()
        },
    )
    .await
}

/// The second press of a destructive button: the confirmation page's form
/// says `confirm=yes`, and carries the proof when one is asked for.
#[derive(Deserialize, Default)]
pub struct ConfirmForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    pub(super) password: String,
    #[serde(default)]
    pub(super) code: String,
}

impl ConfirmForm {
    pub(super) fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// What the confirmation page asks.
pub(super) struct Confirm<'a> {
    pub heading: String,
    pub text: String,
    pub button: &'a str,
    /// Where the confirmed form posts: the same address as the first press.
    pub action: String,
    /// Back to the section of the Security page.
    pub back: &'a str,
    /// Ask for the password or a code ([`crate::idp::Idp::reauthenticate`]).
    pub proof: bool,
    pub error: Option<&'a str>,
}

/// The confirmation page; 400 when it comes back with an error.
pub(super) async fn confirm_page(
    portal: &Portal,
    me: &User,
    csrf: &CsrfToken,
    c: Confirm<'_>,
) -> PortalResult {
    let chrome = portal.chrome(me, csrf, "security").await?;
    let totp_on = c.proof && portal.idp.factors(&me.id).await?.totp;
    Ok(page(
        if c.error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "confirm.html",
        context! {
            title => c.heading.clone(),
            heading => c.heading,
            text => c.text,
            button => c.button,
            action => c.action,
            back => c.back,
            proof => c.proof,
            totp_on => totp_on,
            has_password => me.password_hash.is_some(),
            error => c.error,
            ..minijinja::Value::from_serialize(&chrome)
        },
    ))
}

pub async fn delete_ssh_key(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PortalResult {
    if !form.confirmed() {
        let keys = portal.idp.store.ssh_keys(&me.user.id).await?;
        let Some(key) = keys.iter().find(|k| k.id == id) else {
            return Err(PortalError::NotFound);
        };
        return confirm_page(
            &portal,
            &me.user,
            &csrf,
            Confirm {
                heading: "Delete this SSH key?".into(),
                text: format!(
                    "\"{}\" ({}) will no longer let you sign in to servers that look keys up here.",
                    key.name, key.fingerprint
                ),
                button: "Delete SSH key",
                action: format!("/security/ssh-keys/{id}/delete"),
                back: "/security#ssh-keys",
                proof: false,
                error: None,
            },
        )
        .await;
    }
    if !portal
        .idp
        .delete_ssh_key(&me.user, &id, ip.as_deref(), clock::now())
        .await?
    {
        return Err(PortalError::NotFound);
    }
    Ok(see_other("/security?done=ssh-deleted#ssh-keys"))
}

#[derive(Deserialize)]
pub struct ApiKeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_days: String,
    /// The "Applications" checkboxes, `app.<policy id>`; none ticked: all.
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

pub async fn create_api_key(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<ApiKeyForm>,
) -> PortalResult {
    // Anything but a number is no lifetime, which the core refuses.
    let days = form.expires_days.trim().parse().unwrap_or(0);
    let apps: Vec<String> = form
        .rest
        .keys()
        .filter_map(|k| k.strip_prefix("app."))
        .map(str::to_string)
        .collect();
    let fb = match portal
        .idp
        .create_scoped_api_key(
            &me.user,
            &form.name,
            days,
            Some(apps),
            ip.as_deref(),
            clock::now(),
        )
        .await
    {
        Ok(key) => Feedback {
            flash: Some("API key created."),
            new_api_key: Some(key.secret),
            ..Default::default()
        },
        Err(AccountError::Refused(e)) => Feedback {
            status: Some(StatusCode::BAD_REQUEST),
            api_error: Some(e),
            ..Default::default()
        },
        Err(AccountError::Internal(e)) => return Err(e.into()),
    };
    render(&portal, &me, &csrf, fb).await
}

pub async fn revoke_api_key(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PortalResult {
    if !form.confirmed() {
        let keys = portal.idp.store.api_keys(&me.user.id).await?;
        let Some(key) = keys.iter().find(|k| k.id == id) else {
            return Err(PortalError::NotFound);
        };
        return confirm_page(
            &portal,
            &me.user,
            &csrf,
            Confirm {
                heading: "Revoke this API key?".into(),
                text: format!(
                    "\"{}\" ({}…) stops working at once, for every script that uses it.",
                    key.name, key.prefix
                ),
                button: "Revoke API key",
                action: format!("/security/api-keys/{id}/revoke"),
                back: "/security#api-keys",
                proof: false,
                error: None,
            },
        )
        .await;
    }
    if !portal
        .idp
        .revoke_api_key(&me.user, &id, ip.as_deref(), clock::now())
        .await?
    {
        return Err(PortalError::NotFound);
    }
    Ok(see_other("/security?done=api-revoked#api-keys"))
}

#[derive(Deserialize)]
pub struct RemoveTotpForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// Removing the authenticator app needs the password or a current code, so
/// an unattended signed-in browser is not enough.
pub async fn remove_totp(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<RemoveTotpForm>,
) -> PortalResult {
    if portal
        .idp
        .remove_totp(&me.user, &form.password, &form.code, ip.as_deref())
        .await?
    {
        return Ok(see_other("/security?done=totp-removed#mfa"));
    }
    render(
        &portal,
        &me,
        &csrf,
        Feedback {
            status: Some(StatusCode::BAD_REQUEST),
            mfa_error: Some(
                "The authenticator app was not removed: enter your current password or a current code from the app.",
            ),
            ..Default::default()
        },
    )
    .await
}

/// New recovery codes, shown on this one response only.
pub async fn recovery_codes(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
) -> PortalResult {
    if !portal.idp.factors(&me.user.id).await?.any() {
        return render(
            &portal,
            &me,
            &csrf,
            Feedback {
                status: Some(StatusCode::BAD_REQUEST),
                mfa_error: Some("Set up an authenticator app before creating recovery codes."),
                ..Default::default()
            },
        )
        .await;
    }
    let codes = portal
        .idp
        .new_recovery_codes(&me.user, ip.as_deref())
        .await?;
    render(
        &portal,
        &me,
        &csrf,
        Feedback {
            flash: Some("New recovery codes created. Earlier codes no longer work."),
            new_recovery_codes: Some(codes),
            ..Default::default()
        },
    )
    .await
}

/// "Sign out" on one of the user's other sessions: a confirmation first,
/// then the core ends it everywhere. The current session and sessions that
/// are not this user's are not found.
pub async fn end_session(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> PortalResult {
    if !form.confirmed() {
        let sessions = portal.idp.own_sessions(&me.user, &me.session).await?;
        let Some(s) = sessions.iter().find(|s| s.view.id == id && !s.current) else {
            return Err(PortalError::NotFound);
        };
        let device = s.view.device.as_deref().unwrap_or("Unknown browser");
        let from = s.view.source_ip.as_deref().unwrap_or("an unknown address");
        return confirm_page(
            &portal,
            &me.user,
            &csrf,
            Confirm {
                heading: "Sign out this session?".into(),
                text: format!(
                    "{device} from {from}, last seen {}, will be signed out, and so will the applications it opened.",
                    clock::date_time(s.view.last_seen)
                ),
                button: "Sign out session",
                action: format!("/security/sessions/{id}/end"),
                back: "/security#sessions",
                proof: false,
                error: None,
            },
        )
        .await;
    }
    if !portal
        .idp
        .end_own_session(&me.user, &me.session, &id, ip.as_deref())
        .await?
    {
        return Err(PortalError::NotFound);
    }
    Ok(see_other("/security?done=session-ended#sessions"))
}

/// "Sign out of all other sessions", after a confirmation.
pub async fn end_other_sessions(
    State(portal): State<Portal>,
    me: SignedIn,
    ip: ClientIp,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<ConfirmForm>,
) -> PortalResult {
    if !form.confirmed() {
        return confirm_page(
            &portal,
            &me.user,
            &csrf,
            Confirm {
                heading: "Sign out of all other sessions?".into(),
                text: "Every browser and device signed in as you, except this one, will be signed out, and so will the applications they opened.".into(),
                button: "Sign out other sessions",
                action: "/security/sessions/end-others".into(),
                back: "/security#sessions",
                proof: false,
                error: None,
            },
        )
        .await;
    }
    portal
        .idp
        .end_other_sessions(&me.user, &me.session, ip.as_deref())
        .await?;
    Ok(see_other("/security?done=sessions-ended#sessions"))
}
