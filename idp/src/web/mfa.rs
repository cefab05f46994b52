//! The second sign-in step ("Verify Your Identity") and TOTP enrolment.
//!
//! After a correct password, a user who owes a second factor gets no
//! session, only a short-lived signed "pending" cookie naming them. The
//! [`SignedIn`] extractor does not accept it, so no portal page or
//! application is reachable until the factor is verified (or, under a
//! required policy, enrolled); only then is a session created, with a new id.

use crate::paths;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::cookies::Name;
use super::flow::{Pending, open_pending, pending_cookie, pending_redirect};
use super::render::{message, page};
use super::{ClientIp, CsrfToken, Form, Portal, PortalError, PortalResult, SignedIn, see_other};
use crate::clock;
use crate::config::MfaPolicy;
use crate::directory::User;
use crate::mfa::{Check, Method};
use crate::session::resume::account_usable;
use crate::session::{Presented, Refusal, Session, SessionKey};

/// The pending sign-in and its user, while the account is still usable.
pub(super) async fn pending(
    portal: &Portal,
    headers: &HeaderMap,
) -> PortalResult<Option<(Pending, User)>> {
    let Some(p) = open_pending(portal, headers) else {
        return Ok(None);
    };
    if p.step_up.is_some() && step_up_session(portal, headers, &p).await?.is_none() {
        return Ok(None);
    }
    let user = portal.idp.store.user_by_id(&p.uid).await?;
    Ok(user
        .filter(|u| account_usable(u, p.auth_time).is_ok())
        .map(|u| (p, u)))
}

/// For a step-up, the session it raises, while this browser still holds it
/// and it is live and the same user's: a step-up is never a sign-in by the
/// second factor alone.
async fn step_up_session(
    portal: &Portal,
    headers: &HeaderMap,
    p: &Pending,
) -> PortalResult<Option<(SessionKey, Session)>> {
    let Some(want) = p.step_up.as_deref() else {
        return Ok(None);
    };
    let Some(token) = portal.cookies.get(headers, Name::Session) else {
        return Ok(None);
    };
    Ok(portal
        .idp
        .resume(Presented::Token(&token), clock::now())
        .await?
        .ok()
        .filter(|live| live.key.as_str() == want && live.user.id == p.uid)
        .map(|live| (live.key, live.session)))
}

pub(super) fn locked_page(portal: &Portal) -> Response {
    let mut res = message(
        StatusCode::FORBIDDEN,
        "Account locked",
        crate::directory::LockReason::FailedAttempts.advice(portal.idp.reset_unlocks()),
        Some((paths::LOGIN, "Back to sign in")),
    );
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Mfa));
    res
}

/// Ends the second step: the session (new id) replaces the pending cookie.
pub(super) async fn finish(
    portal: &Portal,
    headers: &HeaderMap,
    user: &User,
    p: &Pending,
    amr: Vec<String>,
    ip: Option<&str>,
) -> PortalResult {
    let mut amr = amr;
    if p.federated {
        // The first factor was the provider's, not a password here.
        amr.retain(|m| m != "pwd");
        amr.insert(0, crate::federation::provision::AMR_FEDERATED.to_string());
    }
    let mut replaced = None;
    if p.step_up.is_some() {
        // Step-up: the raised session must still be this browser's; its
        // methods are kept and the factor added, then it ends.
        let Some((key, old)) = step_up_session(portal, headers, p).await? else {
            return Ok(to_login(portal));
        };
        let mut all = old.amr.clone();
        for m in amr {
            if !all.contains(&m) {
                all.push(m);
            }
        }
        amr = all;
        replaced = Some(key);
    }
    let token = portal
        .idp
        .complete_sign_in(user, amr, p.auth_time, ip)
        .await?;
    if let Some(old) = replaced {
        // SAML service providers signed in through the old session are still
        // to be told at logout: their sessions follow the new id.
        let new = SessionKey::of_token(&token);
        portal
            .idp
            .store
            .move_saml_sessions(old.as_str(), new.as_str())
            .await?;
        portal.idp.sessions.end(&old).await?;
    }
    let notice = portal.idp.expiry_notice(user).await?.is_some();
    let mut res =
        super::complete::signed_in_response(portal, headers, &token, p.return_to.clone(), notice)
            .await;
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Mfa));
    Ok(res)
}

fn to_login(portal: &Portal) -> Response {
    let mut res = see_other(paths::LOGIN);
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Mfa));
    res
}

/// GET /login/mfa: the chooser, or straight to the only method.
pub async fn chooser(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    headers: HeaderMap,
) -> PortalResult {
    let Some((p, user)) = pending(&portal, &headers).await? else {
        return Ok(to_login(&portal));
    };
    if p.enrol {
        return Ok(see_other(p.next()));
    }
    let methods = portal.idp.factors(&user.id).await?.methods();
    match methods.as_slice() {
        [] => Ok(to_login(&portal)),
        [only] => Ok(see_other(&format!("/login/mfa/{}", only.as_str()))),
        _ => Ok(page(
            StatusCode::OK,
            "mfa_verify.html",
            minijinja::value::merge_maps([
                context! {
                    title => "Verify Your Identity",
                    csrf => csrf.0,
                    methods => methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                },
                p.step_up_view(),
            ]),
        )),
    }
}

fn method_of(s: &str) -> Option<Method> {
    match s {
        "totp" => Some(Method::Totp),
        "webauthn" => Some(Method::Webauthn),
        "recovery" => Some(Method::Recovery),
        _ => None,
    }
}

fn code_page(
    portal: &Portal,
    p: &Pending,
    status: StatusCode,
    csrf: &CsrfToken,
    method: Method,
    several: bool,
    error: Option<&str>,
) -> Response {
    page(
        status,
        "mfa_code.html",
        minijinja::value::merge_maps([
            context! {
                title => "Verify Your Identity",
                csrf => csrf.0,
                method => method.as_str(),
                several => several,
                issuer => portal.idp.config.mfa.issuer,
                error => error,
            },
            p.step_up_view(),
        ]),
    )
}

/// GET /login/mfa/{method}
pub async fn code_form(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    headers: HeaderMap,
    Path(method): Path<String>,
) -> PortalResult {
    let Some((p, user)) = pending(&portal, &headers).await? else {
        return Ok(to_login(&portal));
    };
    let methods = portal.idp.factors(&user.id).await?.methods();
    let Some(method) = method_of(&method).filter(|m| !p.enrol && methods.contains(m)) else {
        return Ok(see_other(p.next()));
    };
    Ok(code_page(
        &portal,
        &p,
        StatusCode::OK,
        &csrf,
        method,
        methods.len() > 1,
        None,
    ))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// POST /login/mfa/{method}
pub async fn code_submit(
    State(portal): State<Portal>,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    ip: ClientIp,
    headers: HeaderMap,
    Path(method): Path<String>,
    Form(form): Form<CodeForm>,
) -> PortalResult {
    let Some(p) = open_pending(&portal, &headers) else {
        return Ok(to_login(&portal));
    };
    if p.step_up.is_some() && step_up_session(&portal, &headers, &p).await?.is_none() {
        return Ok(to_login(&portal));
    }
    // A locked account reads as locked here, not as a lost sign-in: the
    // user already proved the password.
    let user = portal.idp.store.user_by_id(&p.uid).await?;
    let Some(user) = user else {
        return Ok(to_login(&portal));
    };
    match account_usable(&user, p.auth_time) {
        Ok(()) => {}
        Err(Refusal::Locked) => return Ok(locked_page(&portal)),
        Err(_) => return Ok(to_login(&portal)),
    }
    let methods = portal.idp.factors(&user.id).await?.methods();
    let Some(method) = method_of(&method).filter(|m| !p.enrol && methods.contains(m)) else {
        return Ok(see_other(p.next()));
    };
    let error = match portal
        .idp
        .verify_code(&user, method, &form.code, ip.as_deref())
        .await?
    {
        Check::Ok(amr) => return finish(&portal, &headers, &user, &p, amr, ip.as_deref()).await,
        Check::Locked => return Ok(locked_page(&portal)),
        Check::Wrong => match method {
            Method::Totp => "That code is not correct. Check your app and try again.",
            Method::Recovery => "That recovery code is not correct or was already used.",
            Method::Webauthn => "Use the button to verify with your security key.",
        },
        Check::Replayed => {
            "That code was already used. Wait for your app to show a new one, then enter it."
        }
        // Not an attempt (issue 18): a validation message, nothing counted.
        Check::Empty => {
            return Ok(code_page(
                &portal,
                &p,
                StatusCode::BAD_REQUEST,
                &csrf,
                method,
                methods.len() > 1,
                Some(match method {
                    Method::Recovery => "Enter one of your recovery codes.",
                    _ => "Enter the code your authenticator app shows.",
                }),
            ));
        }
    };
    Ok(code_page(
        &portal,
        &p,
        StatusCode::UNAUTHORIZED,
        &csrf,
        method,
        methods.len() > 1,
        Some(error),
    ))
}

// ---- enrolment ---------------------------------------------------------

/// Someone allowed to enrol a factor: a signed-in user, or a sign-in held
/// back because the policy requires enrolment first.
pub struct Enroller {
    pub(super) user: User,
    pub(super) pending: Option<Pending>,
}

impl FromRequestParts<Portal> for Enroller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Response> {
        if let Ok(Some(me)) =
            <SignedIn as OptionalFromRequestParts<Portal>>::from_request_parts(parts, portal).await
        {
            return Ok(Self {
                user: me.user,
                pending: None,
            });
        }
        match pending(portal, &parts.headers).await {
            Ok(Some((p, user))) if p.enrol => Ok(Self {
                user,
                pending: Some(p),
            }),
            Ok(Some((p, _))) => Err(see_other(p.next())),
            Ok(None) => Err(to_login(portal)),
            Err(e) => Err(e.into_response()),
        }
    }
}

async fn setup_page(
    portal: &Portal,
    who: &Enroller,
    csrf: &CsrfToken,
    status: StatusCode,
    step: u8,
    extra: minijinja::Value,
) -> PortalResult {
    let chrome = match who.pending {
        None => Some(portal.chrome(&who.user, csrf, "security").await?),
        Some(_) => None,
    };
    let base = context! {
        title => "Set Up Verification Code (TOTP)",
        csrf => csrf.0,
        step => step,
        forced => who.pending.is_some(),
        period => portal.idp.config.mfa.totp_period,
        ..extra
    };
    let mut res = page(
        status,
        "totp_setup.html",
        minijinja::value::merge_maps([base, minijinja::Value::from_serialize(&chrome)]),
    );
    // The key is on step 2; no step of enrolment belongs in a cache.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

async fn refuse_when_off(portal: &Portal) -> PortalResult<()> {
    if portal.idp.mfa_policy().await?.0 == MfaPolicy::Off {
        return Err(PortalError::Forbidden(
            "Multi-factor authentication is turned off by your administrator.",
        ));
    }
    Ok(())
}

async fn already_active(portal: &Portal, who: &Enroller) -> PortalResult<bool> {
    Ok(portal.idp.factors(&who.user.id).await?.totp)
}

/// GET /mfa/totp/setup: step 1.
pub async fn setup_intro(
    State(portal): State<Portal>,
    who: Enroller,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
) -> PortalResult {
    refuse_when_off(&portal).await?;
    if already_active(&portal, &who).await? {
        return Ok(see_other("/security#mfa"));
    }
    setup_page(&portal, &who, &csrf, StatusCode::OK, 1, context! {}).await
}

/// POST /mfa/totp/setup: a new secret, then step 2.
pub async fn setup_start(State(portal): State<Portal>, who: Enroller) -> PortalResult {
    refuse_when_off(&portal).await?;
    if !portal.idp.begin_totp(&who.user).await? {
        return Ok(see_other("/security#mfa"));
    }
    Ok(see_other(paths::MFA_TOTP_SETUP_SCAN))
}

/// GET /mfa/totp/setup/scan: step 2, the QR code and key.
pub async fn setup_scan(
    State(portal): State<Portal>,
    who: Enroller,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
) -> PortalResult {
    refuse_when_off(&portal).await?;
    let Some(e) = portal.idp.totp_enrolment(&who.user).await? else {
        return Ok(see_other(paths::MFA_TOTP_SETUP));
    };
    setup_page(
        &portal,
        &who,
        &csrf,
        StatusCode::OK,
        2,
        context! { qr => e.qr_png_base64, key => e.key_base32 },
    )
    .await
}

/// GET /mfa/totp/setup/confirm: step 3.
pub async fn setup_confirm_form(
    State(portal): State<Portal>,
    who: Enroller,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
) -> PortalResult {
    refuse_when_off(&portal).await?;
    if portal.idp.totp_enrolment(&who.user).await?.is_none() {
        return Ok(see_other(paths::MFA_TOTP_SETUP));
    }
    setup_page(&portal, &who, &csrf, StatusCode::OK, 3, context! {}).await
}

/// POST /mfa/totp/setup/confirm: activates only on a verifying code.
pub async fn setup_confirm(
    State(portal): State<Portal>,
    who: Enroller,
    ip: ClientIp,
    headers: HeaderMap,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    Form(form): Form<CodeForm>,
) -> PortalResult {
    refuse_when_off(&portal).await?;
    if portal.idp.totp_enrolment(&who.user).await?.is_none() {
        return Ok(see_other(paths::MFA_TOTP_SETUP));
    }
    if !portal
        .idp
        .confirm_totp(&who.user, &form.code, ip.as_deref())
        .await?
    {
        return setup_page(
            &portal,
            &who,
            &csrf,
            StatusCode::BAD_REQUEST,
            3,
            context! { error => "That code did not match. Check that the app shows the account you just added and enter its current code." },
        )
        .await;
    }
    match &who.pending {
        Some(p) => {
            let amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
            finish(&portal, &headers, &who.user, p, amr, ip.as_deref()).await
        }
        None => Ok(see_other("/security?done=totp-on#mfa")),
    }
}

// ---- step-up -----------------------------------------------------------

#[derive(Deserialize)]
pub struct StepUpQuery {
    return_to: Option<String>,
    /// The gateway policy asking for it; kept in the retry link.
    app: Option<String>,
}

/// GET /login/step-up: a signed-in user verifies a second factor again
/// (an application's MFA policy wants a fresher one). The existing
/// verification runs from a step-up pending cookie; only its success
/// replaces the session (new id, `mfa_at` now). Until then, and when it
/// fails or is abandoned, the session stays as it was.
pub async fn step_up(
    State(portal): State<Portal>,
    me: Option<SignedIn>,
    headers: HeaderMap,
    axum::Extension(csrf): axum::Extension<CsrfToken>,
    axum::extract::Query(q): axum::extract::Query<StepUpQuery>,
) -> PortalResult {
    let return_to = super::flow::checked_return_to(&portal, q.return_to.as_deref()).await?;
    let Some(me) = me else {
        // Half-way through a sign-in: that step first.
        if let Some(next) = pending_redirect(&portal, &headers) {
            return Ok(see_other(next));
        }
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(r) = &return_to {
            q.append_pair("return_to", r);
        }
        let q = q.finish();
        return Ok(see_other(&if q.is_empty() {
            paths::LOGIN.to_string()
        } else {
            format!("/login?{q}")
        }));
    };
    // Named on the pages only when it is an application we know: the link's
    // text is never shown as it came.
    let app = match q.app.as_deref().filter(|a| !a.is_empty() && a.len() <= 200) {
        Some(name) => portal
            .idp
            .store
            .application_by_name(name)
            .await?
            .map(|a| a.name),
        None => None,
    };
    let methods = portal.idp.factors(&me.user.id).await?.methods();
    if methods.is_empty() {
        // Signed in, so the page says so: the portal's header and menu.
        let chrome = portal.chrome(&me.user, &csrf, "apps").await?;
        let mut retry = url::form_urlencoded::Serializer::new(String::new());
        if let Some(r) = &return_to {
            retry.append_pair("return_to", r);
        }
        if let Some(app) = q.app.as_deref().filter(|a| !a.is_empty()) {
            retry.append_pair("app", app);
        }
        let retry = format!("/login/step-up?{}", retry.finish());
        let what = app.as_deref().unwrap_or("This application");
        return Ok(page(
            StatusCode::FORBIDDEN,
            "message.html",
            minijinja::value::merge_maps([
                context! {
                    title => "Second factor required",
                    heading => "Second factor required",
                    message => format!("{what} asks for a second factor, and your account has none yet. Set up an authenticator app or a security key on the Security page, then try again."),
                    link_href => "/security#mfa",
                    link_text => "Set up a second factor",
                    second_href => retry,
                    second_text => "Try again",
                    third_href => paths::APPS,
                    third_text => "Back to Applications",
                },
                minijinja::Value::from_serialize(&chrome),
            ]),
        ));
    }
    let mut p = Pending::step_up(&me.user.id, me.auth_time, &me.session, return_to);
    p.app = app;
    let mut res = see_other(p.next());
    res.headers_mut()
        .append(header::SET_COOKIE, pending_cookie(&portal, &p));
    Ok(res)
}
