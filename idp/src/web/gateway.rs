//! `/gateway/authorize`: the portal's half of the application-host cookie
//! handshake (see [`crate::handoff`]).

use crate::paths;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Portal, PortalError, PortalResult, SignedIn};
use crate::clock;
use crate::handoff::Grant;

#[derive(Deserialize)]
pub struct AuthorizeQuery {
    app: Option<String>,
    return_to: Option<String>,
    state: Option<String>,
}

/// Signed in: a single-use code and back to the application host. Not
/// signed in: the [`SignedIn`] extractor sends the browser to `/login` with
/// this very URL as `return_to`, so it comes back here afterwards. For an
/// application with a session idle override, a sign-in older than the
/// override (the newest of password and second factor) counts as not signed
/// in for it: the user gives the password again first.
pub async fn authorize(
    State(portal): State<Portal>,
    me: SignedIn,
    Query(q): Query<AuthorizeQuery>,
) -> PortalResult<Response> {
    let bad = || PortalError::BadRequest("This sign-in link is not valid.".into());
    let app_id = q.app.as_deref().ok_or_else(bad)?;
    let app = portal.idp.handoffs.app(app_id).ok_or_else(bad)?;
    let state = q
        .state
        .filter(|s| {
            s.len() == 43
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(bad)?;
    // Only a URL on the application's own origin and path prefix: anything
    // else would turn the portal into an open redirect carrying a live code,
    // or hand it to another application sharing the host.
    let target = q
        .return_to
        .as_deref()
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| app.contains(u))
        .filter(|u| u.username().is_empty() && u.password().is_none())
        .ok_or_else(bad)?;
    if let Some(idle) = app.idle
        && clock::now() - me.proved_at() > idle.as_secs() as i64
    {
        return Ok(fresh_sign_in(
            &app.id,
            target.as_str(),
            &state,
            &me.user.email,
        ));
    }
    let mut path = target.path().to_string();
    if let Some(query) = target.query() {
        path.push('?');
        path.push_str(query);
    }
    let code = portal
        .idp
        .handoffs
        .issue(
            Grant {
                session: me.session,
                app: app.id.clone(),
                state: state.clone(),
            },
            clock::now(),
        )
        .await?;
    // `app` because the callback path is per host, and a host may carry
    // several applications: it picks the one the code is for.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("app", &app.id)
        .append_pair("code", &code)
        .append_pair("state", &state)
        .append_pair("return_to", &path)
        .finish();
    Ok(continue_page(
        &format!("{}{}?{query}", app.origin, paths::GATEWAY_CALLBACK),
        &app.name,
    ))
}

/// The sign-in form again (OIDC `prompt=login`'s way: `change=1` shows it
/// to a signed-in browser, the email filled in), coming back to this very
/// request. The sign-in makes a new session whose `auth_time` is now, so the
/// second visit passes the idle check and goes on silently: no loop.
fn fresh_sign_in(app: &str, return_to: &str, state: &str, email: &str) -> Response {
    let back = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("app", app)
        .append_pair("return_to", return_to)
        .append_pair("state", state)
        .finish();
    let to = super::login_url(
        &format!("{}?{back}", paths::GATEWAY_AUTHORIZE),
        Some(email),
        true,
    );
    Redirect::to(&to).into_response()
}

/// A page that moves on to `to` at once. Not a redirect: this request is
/// often the tail of the sign-in form's redirect chain, and browsers apply
/// the form page's CSP `form-action 'self'` to every hop of that chain, so a
/// 303 to the application's origin would be blocked.
fn continue_page(to: &str, app: &str) -> Response {
    let to = escape(to);
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Continuing to {app}</title></head>\
<body><p><a href=\"{to}\">Continue to {app}</a></p></body></html>",
        app = escape(app)
    );
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

use crate::escape::markup as escape;
