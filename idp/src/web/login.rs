//! The two-step sign-in: email, then password; sign-out.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::complete::session_response;
use super::cookies::Name;
use super::flow::{FLOW_SECS, Flow, checked_return_to, open_flow, seal_flow};
use super::render::{message, page};
use super::{ClientIp, CsrfToken, Form, Portal, PortalResult, SignedIn, see_other};
use crate::clock;
use crate::crypto;
use crate::directory::{LockReason, normalize_email, valid_email};
use crate::sign_in::SignIn;

/// Where the email step continues: the provider that owns the domain, or
/// the password page.
fn next_step(portal: &Portal, email: &str) -> String {
    match portal.idp.federation.for_email(email) {
        Some(p) => format!("/login/federation/{}", p.common().id),
        None => "/login/password".to_string(),
    }
}

fn remembered_email(portal: &Portal, headers: &HeaderMap) -> Option<String> {
    let raw = portal.cookies.get(headers, Name::Email)?;
    String::from_utf8(crypto::b64url_decode(&raw)?)
        .ok()
        .filter(|e| valid_email(e))
}

pub async fn home(signed_in: Option<SignedIn>) -> Response {
    see_other(if signed_in.is_some() {
        "/apps"
    } else {
        "/login"
    })
}

/// The sign-in page coming back to `return_to`, the email pre-filled with
/// `login_hint`. `again`: show the form even to a signed-in browser (its
/// `change` mode), for a sign-in that must be fresh (OIDC `prompt=login`,
/// SAML `ForceAuthn`, a gateway application's session idle override).
pub fn login_url(return_to: &str, login_hint: Option<&str>, again: bool) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", return_to);
    if let Some(hint) = login_hint {
        q.append_pair("login_hint", hint);
    }
    if again {
        q.append_pair("change", "1");
    }
    format!("/login?{}", q.finish())
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    return_to: Option<String>,
    change: Option<String>,
    changed: Option<String>,
    signed_out: Option<String>,
    reverify: Option<String>,
    /// OIDC `login_hint`: pre-fills the email.
    login_hint: Option<String>,
}

fn login_page(
    status: StatusCode,
    csrf: &CsrfToken,
    email: &str,
    remember: bool,
    return_to: &str,
    error: Option<&str>,
    info: Option<&str>,
) -> Response {
    page(
        status,
        "login.html",
        context! {
            title => "Sign in",
            csrf => csrf.0,
            email => email,
            remember => remember,
            return_to => return_to,
            error => error,
            info => info,
        },
    )
}

pub async fn email_page(
    State(portal): State<Portal>,
    signed_in: Option<SignedIn>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> PortalResult {
    let return_to = checked_return_to(&portal, q.return_to.as_deref()).await?;
    if signed_in.is_some() && q.change.is_none() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/apps")));
    }
    let remembered = remembered_email(&portal, &headers);
    let email = match (&q.change, open_flow(&portal, &headers)) {
        (Some(_), Some(flow)) => flow.email,
        _ => q
            .login_hint
            .as_deref()
            .map(normalize_email)
            .filter(|e| valid_email(e))
            .or_else(|| remembered.clone())
            .unwrap_or_default(),
    };
    let info = if q.changed.is_some() {
        Some("Your password was changed. Sign in with your new password.")
    } else if q.signed_out.is_some() {
        Some("You have signed out.")
    } else if q.reverify.is_some() {
        Some(
            "It has been a while since you signed in with your passkey. Verify with it again to continue.",
        )
    } else {
        None
    };
    Ok(login_page(
        StatusCode::OK,
        &csrf,
        &email,
        remembered.is_some(),
        return_to.as_deref().unwrap_or(""),
        None,
        info,
    ))
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    remember: Option<String>,
    #[serde(default)]
    return_to: String,
}

pub async fn email_submit(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<EmailForm>,
) -> PortalResult {
    let email = normalize_email(&form.email);
    let remember = form.remember.is_some();
    let return_to = checked_return_to(&portal, Some(&form.return_to)).await?;
    if !valid_email(&email) {
        return Ok(login_page(
            StatusCode::BAD_REQUEST,
            &csrf,
            form.email.trim(),
            remember,
            return_to.as_deref().unwrap_or(""),
            Some("Enter your email address, such as name@example.com."),
            None,
        ));
    }
    let flow = Flow {
        email: email.clone(),
        return_to,
        exp: clock::now() + FLOW_SECS,
    };
    let mut res = see_other(&next_step(&portal, &email));
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        portal
            .cookies
            .set(Name::Login, &seal_flow(&portal, &flow), Some(FLOW_SECS)),
    );
    let remember_secs = portal.idp.config.sessions.remember_email.as_secs() as i64;
    h.append(
        header::SET_COOKIE,
        if remember {
            portal.cookies.set(
                Name::Email,
                &crypto::b64url(email.as_bytes()),
                Some(remember_secs),
            )
        } else {
            portal.cookies.clear(Name::Email)
        },
    );
    Ok(res)
}

fn password_page(
    status: StatusCode,
    csrf: &CsrfToken,
    email: &str,
    error: Option<&str>,
) -> Response {
    page(
        status,
        "password.html",
        context! { title => "Sign in", csrf => csrf.0, email => email, error => error },
    )
}

pub async fn password_page_get(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    match open_flow(&portal, &headers) {
        Some(flow) => match portal.idp.federation.for_email(&flow.email) {
            Some(p) if !p.common().allow_local_password => {
                see_other(&format!("/login/federation/{}", p.common().id))
            }
            _ => password_page(StatusCode::OK, &csrf, &flow.email, None),
        },
        None => see_other("/login"),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

pub async fn password_submit(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    ip: ClientIp,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> PortalResult {
    let Some(flow) = open_flow(&portal, &headers) else {
        return Ok(see_other("/login"));
    };
    let outcome = portal
        .idp
        .sign_in(&flow.email, &form.password, ip.as_deref())
        .await?;
    let outcome = match session_response(&portal, &headers, outcome, flow.return_to, false).await? {
        Ok(mut res) => {
            res.headers_mut()
                .append(header::SET_COOKIE, portal.cookies.clear(Name::Login));
            return Ok(res);
        }
        Err(other) => other,
    };
    let (status, error) = match outcome {
        SignIn::Success { .. } | SignIn::SecondFactor { .. } => (
            StatusCode::UNAUTHORIZED,
            "Something went wrong on our side. Please try again.".to_string(),
        ),
        SignIn::Invalid => (
            StatusCode::UNAUTHORIZED,
            "Incorrect email or password.".into(),
        ),
        SignIn::MissingPassword => (StatusCode::BAD_REQUEST, "Enter your password.".into()),
        SignIn::Throttled { retry_after } => {
            // Said the same way whoever the email belongs to: the delay is
            // decided before any account is looked up.
            let mut res = password_page(
                StatusCode::TOO_MANY_REQUESTS,
                &csrf,
                &flow.email,
                Some(&format!(
                    "Too many failed sign-in attempts. Wait {} before you try again.",
                    wait_words(retry_after)
                )),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            return Ok(res);
        }
        SignIn::Locked(reason) => (
            StatusCode::UNAUTHORIZED,
            reason.advice(portal.idp.reset_unlocks()).into(),
        ),
        SignIn::Expired => (
            StatusCode::UNAUTHORIZED,
            LockReason::Expired
                .advice(portal.idp.reset_unlocks())
                .into(),
        ),
        SignIn::Federated(id) => {
            return Ok(see_other(&format!("/login/federation/{id}")));
        }
    };
    Ok(password_page(status, &csrf, &flow.email, Some(&error)))
}

/// A wait for people: "45 seconds", "1 minute", "15 minutes" (rounded up,
/// so waiting as long as it says is always enough).
fn wait_words(secs: i64) -> String {
    let secs = secs.max(1);
    let (n, unit) = if secs < 60 {
        (secs, "second")
    } else if secs < 3600 {
        ((secs + 59) / 60, "minute")
    } else {
        ((secs + 3599) / 3600, "hour")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

pub async fn notice(
    State(portal): State<Portal>,
    me: SignedIn,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Query(q): Query<NoticeQuery>,
) -> PortalResult {
    let continue_to = checked_return_to(&portal, q.continue_to.as_deref())
        .await?
        .unwrap_or_else(|| "/apps".into());
    let Some(days) = portal.idp.expiry_notice(&me.user).await? else {
        return Ok(see_other(&continue_to));
    };
    let chrome = portal.chrome(&me.user, &csrf, "security").await?;
    Ok(page(
        StatusCode::OK,
        "notice.html",
        context! { title => "Password expires soon", days_left => days, continue_to => continue_to, ..minijinja::Value::from_serialize(&chrome) },
    ))
}

pub async fn logout(State(portal): State<Portal>, headers: HeaderMap) -> PortalResult {
    let mut to = "/login?signed_out=1".to_string();
    let mut not_ended = None;
    if let Some(token) = portal.cookies.get(&headers, Name::Session) {
        let key = crate::session::SessionKey::of_token(&token);
        // SAML service providers signed in through this session are told
        // one after another (front channel), then the sign-in page follows.
        // The upstream provider's logout is used when no SAML chain runs:
        // the chain ends on our sign-in page, not at the provider.
        let upstream = super::federation::upstream_logout(&portal, &key).await;
        match portal.idp.saml_start_logout(&key).await {
            Ok(Some(chain)) => to = chain,
            Ok(None) => {
                if let Some(upstream) = upstream {
                    to = upstream;
                }
            }
            // The browser is signed out below all the same.
            Err(e) => tracing::warn!(error = %e, "could not start the SAML logout chain"),
        }
        // Ends the grants made through this session too; queued when the
        // session store is away.
        if let Err(e) = portal.idp.sign_out(&key, clock::now()).await {
            not_ended = Some(e);
        }
    }
    // The browser's cookies go whatever happened to the session on our side.
    let mut res = match not_ended {
        None => see_other(&to),
        Some(e) => {
            tracing::error!(error = %e, "sign-out could not be recorded: the session may outlive it");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Signed out in this browser only",
                "This browser is signed out. Some of our services did not answer, so the sign-out may not have reached everything signed in through this session. If you fear someone else has it, sign in again later and change your password on the Security page: that ends every session.",
                Some(("/login", "Sign in again")),
            )
        }
    };
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Session));
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Mfa));
    Ok(res)
}

/// Used by other handlers to end the browser's session cookie.
pub fn clear_session(portal: &Portal) -> HeaderValue {
    portal.cookies.clear(Name::Session)
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_are_rounded_up_in_words() {
        assert_eq!(super::wait_words(1), "1 second");
        assert_eq!(super::wait_words(45), "45 seconds");
        assert_eq!(super::wait_words(60), "1 minute");
        assert_eq!(super::wait_words(61), "2 minutes");
        assert_eq!(super::wait_words(900), "15 minutes");
        assert_eq!(super::wait_words(3601), "2 hours");
    }
}
