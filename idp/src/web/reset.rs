//! "Reset User Password": the request form, the page an emailed link opens,
//! the second factor when the user has one, and the new password.
//!
//! The decisions live in [`crate::reset`]; this module only renders pages
//! and carries the token (from the link's query to hidden form fields).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::cookies::Name;
use super::render::{message, page};
use super::{ClientIp, CsrfToken, Form, Portal, PortalResult};
use crate::clock;
use crate::credentials::policy_checklist;
use crate::crypto;
use crate::directory::User;
use crate::mfa::{Check, Method};
use crate::reset::{ResetError, ResetRequest, token_hash};

/// Every answer to a reset request takes at least this long, so the time
/// does not tell a known account (a token stored, a mail queued) from an
/// unknown one.
const ANSWER_MIN: Duration = Duration::from_millis(250);
/// How long a verified second factor stands for the new-password form.
const PROOF_SECS: i64 = 10 * 60;
const PROOF_PURPOSE: &str = "reset-mfa";

fn request_page(csrf: &CsrfToken, status: StatusCode, error: Option<&str>) -> Response {
    page(
        status,
        "reset_request.html",
        context! { title => "Reset User Password", csrf => csrf.0, error => error },
    )
}

/// GET /password/reset
pub async fn request_form(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
) -> Response {
    if !portal.idp.config.reset.enabled {
        return disabled();
    }
    request_page(&csrf, StatusCode::OK, None)
}

fn disabled() -> Response {
    message(
        StatusCode::OK,
        "Reset your password",
        "Password reset by email is turned off here. Ask your administrator to set a new password for you.",
        Some(("/login", "Back to sign in")),
    )
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

/// POST /password/reset
pub async fn request_submit(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    ip: ClientIp,
    Form(form): Form<RequestForm>,
) -> PortalResult {
    if !portal.idp.config.reset.enabled {
        return Ok(disabled());
    }
    let deadline = tokio::time::Instant::now() + ANSWER_MIN;
    let email = form.email.trim();
    if email.is_empty() || email.len() > 254 {
        return Ok(request_page(
            &csrf,
            StatusCode::BAD_REQUEST,
            Some("Enter the email address of your account."),
        ));
    }
    let outcome = portal.idp.request_reset(email, ip.as_deref()).await?;
    tokio::time::sleep_until(deadline).await;
    Ok(match outcome {
        ResetRequest::Accepted => message(
            StatusCode::OK,
            "Check your email",
            "If an account exists for that address, we sent it a link to reset the password. The link works once and expires soon. Check your spam folder if it does not arrive.",
            Some(("/login", "Back to sign in")),
        ),
        ResetRequest::RateLimited => {
            let mut res = message(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Too many reset requests were made. Wait a few minutes, then try again.",
                Some(("/login", "Back to sign in")),
            );
            // At most one window: the counters are fixed windows.
            let window = portal.idp.config.reset.rate_window.as_secs().max(1);
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(window));
            res
        }
    })
}

/// The validation message for an empty code field (nothing was counted).
fn empty_code(method: Method) -> &'static str {
    match method {
        Method::Recovery => "Enter one of your recovery codes.",
        _ => "Enter the code your authenticator app shows.",
    }
}

fn invalid_link() -> Response {
    message(
        StatusCode::GONE,
        "This link does not work",
        "The reset link was already used, has expired or is incomplete. Ask for a new one.",
        Some(("/password/reset", "Ask for a new link")),
    )
}

fn locked() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Account locked",
        "An administrator has locked this account; a password reset does not unlock it. Contact your administrator.",
        Some(("/login", "Back to sign in")),
    )
}

/// The methods that can verify a reset: codes only, since the link may be
/// opened on a device without the security key's ceremony available.
fn code_methods(methods: &[Method]) -> Vec<Method> {
    methods
        .iter()
        .copied()
        .filter(|m| matches!(m, Method::Totp | Method::Recovery))
        .collect()
}

fn method_of(s: &str) -> Option<Method> {
    match s {
        "totp" => Some(Method::Totp),
        "recovery" => Some(Method::Recovery),
        _ => None,
    }
}

fn proof(portal: &Portal, token: &str, exp: i64) -> String {
    let data = format!("{}.{exp}", token_hash(token));
    let tag = crypto::b64url(&portal.idp.keys.mac(PROOF_PURPOSE, data.as_bytes()));
    format!("{exp}.{tag}")
}

fn proof_ok(portal: &Portal, token: &str, proof: &str) -> bool {
    let Some((exp, tag)) = proof.split_once('.') else {
        return false;
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return false;
    };
    let Some(tag) = crypto::b64url_decode(tag) else {
        return false;
    };
    let data = format!("{}.{exp}", token_hash(token));
    exp > clock::now()
        && portal
            .idp
            .keys
            .verify_mac(PROOF_PURPOSE, data.as_bytes(), &tag)
}

async fn password_page(
    portal: &Portal,
    csrf: &CsrfToken,
    status: StatusCode,
    token: &str,
    proof: &str,
    user: &User,
    errors: &[String],
) -> PortalResult<Response> {
    let settings = portal.idp.settings().await?;
    let local = user.email.split('@').next().unwrap_or("");
    let rules = policy_checklist(&settings.password, &[&user.username, local]);
    Ok(page(
        status,
        "reset_password.html",
        context! {
            title => "Reset Password",
            csrf => csrf.0,
            token => token,
            proof => proof,
            email => user.email,
            errors => errors,
            password_rules => rules,
        },
    ))
}

fn code_page(
    portal: &Portal,
    csrf: &CsrfToken,
    status: StatusCode,
    token: &str,
    method: Option<Method>,
    methods: &[Method],
    error: Option<&str>,
) -> Response {
    page(
        status,
        "reset_mfa.html",
        context! {
            title => "Verify Your Identity",
            csrf => csrf.0,
            token => token,
            // For links back to this page; the query form of the token.
            token_q => url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>(),
            method => method.map(|m| m.as_str()),
            methods => methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            issuer => portal.idp.config.mfa.issuer,
            error => error,
        },
    )
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    method: String,
}

/// GET /password/reset/new?token=…: the second factor first when the user
/// has one (straight to it when there is one method, a chooser otherwise),
/// then the new password.
pub async fn link(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> PortalResult {
    if !portal.idp.config.reset.enabled {
        return Ok(disabled());
    }
    let Ok(Query(q)) = query else {
        return Ok(invalid_link());
    };
    let Some(user) = portal.idp.reset_target(&q.token).await? else {
        return Ok(invalid_link());
    };
    if !portal.idp.reset_allowed(&user) {
        return Ok(locked());
    }
    let all = portal.idp.factors(&user.id).await?.methods();
    if all.is_empty() {
        return password_page(&portal, &csrf, StatusCode::OK, &q.token, "", &user, &[]).await;
    }
    let methods = code_methods(&all);
    let chosen = method_of(&q.method).filter(|m| methods.contains(m));
    Ok(match (methods.as_slice(), chosen) {
        ([], _) => message(
            StatusCode::FORBIDDEN,
            "Verify with your administrator",
            "Your account is protected by a security key only, which a reset link cannot check. Ask your administrator to reset your password.",
            Some(("/login", "Back to sign in")),
        ),
        ([only], _) => code_page(
            &portal,
            &csrf,
            StatusCode::OK,
            &q.token,
            Some(*only),
            &methods,
            None,
        ),
        (_, Some(m)) => code_page(
            &portal,
            &csrf,
            StatusCode::OK,
            &q.token,
            Some(m),
            &methods,
            None,
        ),
        (_, None) => code_page(
            &portal,
            &csrf,
            StatusCode::OK,
            &q.token,
            None,
            &methods,
            None,
        ),
    })
}

#[derive(Deserialize)]
pub struct MfaForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
}

/// POST /password/reset/mfa: the same code check as at sign-in (wrong codes
/// count towards the lock), then the new-password form.
pub async fn mfa_submit(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    ip: ClientIp,
    Form(form): Form<MfaForm>,
) -> PortalResult {
    if !portal.idp.config.reset.enabled {
        return Ok(disabled());
    }
    let Some(user) = portal.idp.reset_target(&form.token).await? else {
        return Ok(invalid_link());
    };
    if !portal.idp.reset_allowed(&user) {
        return Ok(locked());
    }
    let methods = code_methods(&portal.idp.factors(&user.id).await?.methods());
    let Some(method) = method_of(&form.method).filter(|m| methods.contains(m)) else {
        return Ok(invalid_link());
    };
    let error = match portal
        .idp
        .verify_code(&user, method, &form.code, ip.as_deref())
        .await?
    {
        Check::Ok(_) => {
            let p = proof(&portal, &form.token, clock::now() + PROOF_SECS);
            return password_page(&portal, &csrf, StatusCode::OK, &form.token, &p, &user, &[])
                .await;
        }
        Check::Locked => {
            return Ok(message(
                StatusCode::FORBIDDEN,
                "Account locked",
                // Found while resetting: the reset cannot go on, so it is no way out.
                crate::directory::LockReason::FailedAttempts.advice(false),
                Some(("/login", "Back to sign in")),
            ));
        }
        Check::Wrong => match method {
            Method::Recovery => "That recovery code is not correct or was already used.",
            _ => "That code is not correct. Check your app and try again.",
        },
        Check::Replayed => {
            "That code was already used. Wait for your app to show a new one, then enter it."
        }
        Check::Empty => {
            return Ok(code_page(
                &portal,
                &csrf,
                StatusCode::BAD_REQUEST,
                &form.token,
                Some(method),
                &methods,
                Some(empty_code(method)),
            ));
        }
    };
    Ok(code_page(
        &portal,
        &csrf,
        StatusCode::UNAUTHORIZED,
        &form.token,
        Some(method),
        &methods,
        Some(error),
    ))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    proof: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// POST /password/reset/new
pub async fn password_submit(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    ip: ClientIp,
    Form(form): Form<PasswordForm>,
) -> PortalResult {
    if !portal.idp.config.reset.enabled {
        return Ok(disabled());
    }
    let verified = proof_ok(&portal, &form.token, &form.proof);
    let result = portal
        .idp
        .complete_reset(
            &form.token,
            &form.password,
            &form.confirm,
            verified,
            ip.as_deref(),
        )
        .await;
    let errors = match result {
        Ok(_) => {
            let mut res = message(
                StatusCode::OK,
                "Password reset",
                "Your password was changed and every session was signed out. Sign in with the new password.",
                Some(("/login", "Sign in")),
            );
            // This browser's session, if any, ended with the others.
            res.headers_mut()
                .append(header::SET_COOKIE, portal.cookies.clear(Name::Session));
            return Ok(res);
        }
        Err(ResetError::InvalidLink) => return Ok(invalid_link()),
        Err(ResetError::Locked) => return Ok(locked()),
        Err(ResetError::MfaRequired) => {
            return Ok(super::see_other(&format!(
                "/password/reset/new?token={}",
                url::form_urlencoded::byte_serialize(form.token.as_bytes()).collect::<String>()
            )));
        }
        Err(ResetError::Mismatch) => vec!["The two passwords do not match.".to_string()],
        Err(ResetError::Policy(unmet)) => unmet,
        Err(ResetError::Internal(e)) => return Err(e.into()),
    };
    let Some(user) = portal.idp.reset_target(&form.token).await? else {
        return Ok(invalid_link());
    };
    password_page(
        &portal,
        &csrf,
        StatusCode::UNPROCESSABLE_ENTITY,
        &form.token,
        &form.proof,
        &user,
        &errors,
    )
    .await
}
