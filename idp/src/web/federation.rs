//! Federated sign-in pages: the routing note, the redirect to the provider,
//! the OIDC callback, the SAML ACS and the browser's return after it, and
//! the failure page naming the provider. Decisions live in
//! [`crate::federation`]; the session is made by the same code as a local
//! sign-in ([`super::complete::session_response`]).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::cookies::Name;
use super::render::{message, page};
use super::{ClientIp, Form, Portal, PortalError, PortalResult, see_other};
use crate::clock;
use crate::federation::flow::Started;
use crate::federation::oidc::OidcPending;
use crate::federation::routing::Provider;
use crate::federation::saml::SamlPending;
use crate::federation::{FederationError, Identity};
use crate::session::SessionKey;

/// The sign-in in flight at the provider, sealed (it holds the PKCE
/// verifier and nonce) in a `SameSite=Lax` cookie: the provider's return
/// is a top-level navigation, so the cookie comes back with it.
#[derive(Debug, Serialize, Deserialize)]
struct Flight {
    provider: String,
    #[serde(default)]
    oidc: Option<OidcPending>,
    #[serde(default)]
    saml: Option<SamlPending>,
    return_to: Option<String>,
    exp: i64,
}

fn seal_flight(portal: &Portal, f: &Flight) -> String {
    portal
        .idp
        .keys
        .secret_box()
        .seal(&serde_json::to_vec(f).unwrap_or_default())
}

fn open_flight(portal: &Portal, headers: &HeaderMap, provider: &str) -> Option<Flight> {
    let raw = portal.cookies.get(headers, Name::Federation)?;
    let plain = portal.idp.keys.secret_box().open(&raw).ok()?;
    let f: Flight = serde_json::from_slice(&plain).ok()?;
    (f.exp > clock::now() && f.provider == provider).then_some(f)
}

fn provider(portal: &Portal, id: &str) -> PortalResult<Arc<Provider>> {
    portal.idp.federation.get(id).ok_or(PortalError::NotFound)
}

/// The page for a failed federated sign-in: names the provider, offers the
/// way back, and is audited. Nothing was created before this point.
async fn failure(
    portal: &Portal,
    p: &Provider,
    err: FederationError,
    ip: Option<&str>,
    subject: Option<&str>,
) -> Response {
    portal
        .idp
        .federation_refused(p.common(), &err, ip, subject)
        .await;
    refused_page(portal, p, err)
}

/// The page for a refused federated sign-in, once the core has audited it.
fn refused_page(portal: &Portal, p: &Provider, err: FederationError) -> Response {
    let c = p.common();
    if let FederationError::Internal(e) = &err {
        tracing::error!(provider = %c.id, error = %e, "federated sign-in failed");
    }
    let status = match err {
        FederationError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        FederationError::NoAccount
        | FederationError::Locked(_)
        | FederationError::AlreadyLinked
        | FederationError::ForeignDomain
        | FederationError::EmailNotVerified
        | FederationError::NoEmail => StatusCode::FORBIDDEN,
        FederationError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = message(
        status,
        &format!("Sign-in with {} failed", c.name),
        &err.message(&c.name),
        Some(("/login?change=1", "Back to sign in")),
    );
    res.headers_mut()
        .append(header::SET_COOKIE, portal.cookies.clear(Name::Federation));
    res
}

/// GET /login/federation/{id}: "You will be routed to your identity
/// provider's login page", then on to the provider by itself.
pub async fn note(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> PortalResult {
    let p = provider(&portal, &id)?;
    let c = p.common();
    let email = super::flow::email(&portal, &headers);
    Ok(page(
        StatusCode::OK,
        "federation.html",
        context! {
            title => "Sign in",
            provider => c.name,
            email => email,
            start => format!("/login/federation/{}/start", c.id),
            allow_password => c.allow_local_password && email.is_some(),
        },
    ))
}

/// GET /login/federation/{id}/start: the redirect to the provider.
pub async fn start(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
) -> PortalResult {
    let p = provider(&portal, &id)?;
    let (email, return_to) = super::flow::parts(&portal, &headers);
    let ttl = portal.idp.federation.config.login_timeout.as_secs() as i64;
    let Started { url, oidc, saml } = match portal
        .idp
        .start_federation(&p, email.as_deref(), ip.as_deref())
        .await
    {
        Ok(s) => s,
        // Audited by the core already.
        Err(e) => return Ok(refused_page(&portal, &p, e)),
    };
    let flight = Flight {
        provider: id,
        oidc,
        saml,
        return_to,
        exp: clock::now() + ttl,
    };
    let mut res = see_other(url.as_str());
    res.headers_mut().append(
        header::SET_COOKIE,
        portal
            .cookies
            .set(Name::Federation, &seal_flight(&portal, &flight), Some(ttl)),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// GET /login/federation/{id}/callback: the OIDC provider's answer.
pub async fn callback(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> PortalResult {
    let p = provider(&portal, &id)?;
    let Provider::Oidc(o) = p.as_ref() else {
        return Err(PortalError::NotFound);
    };
    let ip = ip.as_deref();
    let Some(flight) = open_flight(&portal, &headers, &id) else {
        return Ok(failure(&portal, &p, FederationError::FlowLost, ip, None).await);
    };
    let Some(pending) = flight.oidc else {
        return Ok(failure(&portal, &p, FederationError::FlowLost, ip, None).await);
    };
    // The state is checked first: an error answer to someone else's
    // request is not ours to show.
    if !q
        .state
        .as_deref()
        .is_some_and(|s| crate::crypto::ct_eq(s.as_bytes(), pending.state.as_bytes()))
    {
        let e = FederationError::Invalid("state does not match".into());
        return Ok(failure(&portal, &p, e, ip, None).await);
    }
    if let Some(err) = q.error {
        let code: String = err
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Ok(failure(
            &portal,
            &p,
            FederationError::ProviderError { code },
            ip,
            None,
        )
        .await);
    }
    if let Some(iss) = &q.iss
        && !o.issuer_matches(iss)
    {
        let e = FederationError::Invalid("iss does not name the provider (RFC 9207)".into());
        return Ok(failure(&portal, &p, e, ip, None).await);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        let e = FederationError::Invalid("no code".into());
        return Ok(failure(&portal, &p, e, ip, None).await);
    };
    match o.finish(&portal.idp.federation.http, pending, &code).await {
        Ok(identity) => complete(&portal, &p, &headers, identity, flight.return_to, ip).await,
        Err(e) => Ok(failure(&portal, &p, e, ip, None).await),
    }
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
}

/// POST /login/federation/{id}/acs: the SAML IdP's answer. A cross-site
/// POST carries no `SameSite=Lax` cookie, so the verified identity waits
/// in the store for the browser's own return (GET) with its cookie.
pub async fn acs(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    ip: ClientIp,
    Form(form): Form<AcsForm>,
) -> PortalResult {
    let p = provider(&portal, &id)?;
    let Provider::Saml(s) = p.as_ref() else {
        return Err(PortalError::NotFound);
    };
    let sb = portal.idp.keys.secret_box();
    let accepted = s
        .accept(
            &portal.idp.federation.http,
            &portal.idp.store,
            &form.saml_response,
            |identity| sb.seal(&serde_json::to_vec(identity).unwrap_or_default()),
        )
        .await;
    match accepted {
        Ok(_) => Ok(see_other(&format!("/login/federation/{id}/return"))),
        Err(e) => Ok(failure(&portal, &p, e, ip.as_deref(), None).await),
    }
}

/// GET /login/federation/{id}/return: the browser that sent the
/// AuthnRequest takes the ACS's verified identity, once.
pub async fn saml_return(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    ip: ClientIp,
    headers: HeaderMap,
) -> PortalResult {
    let p = provider(&portal, &id)?;
    let ip = ip.as_deref();
    let Some(flight) = open_flight(&portal, &headers, &id) else {
        return Ok(failure(&portal, &p, FederationError::FlowLost, ip, None).await);
    };
    let Some(pending) = flight.saml else {
        return Ok(failure(&portal, &p, FederationError::FlowLost, ip, None).await);
    };
    let taken = portal
        .idp
        .store
        .take_federation_result(&pending.request_id, &id, clock::now())
        .await?;
    let identity = taken
        .and_then(|sealed| portal.idp.keys.secret_box().open(&sealed).ok())
        .and_then(|plain| serde_json::from_slice::<Identity>(&plain).ok());
    match identity {
        Some(identity) => complete(&portal, &p, &headers, identity, flight.return_to, ip).await,
        None => Ok(failure(&portal, &p, FederationError::FlowLost, ip, None).await),
    }
}

/// GET /login/federation/{id}/metadata: our SP metadata for a SAML IdP.
pub async fn metadata(State(portal): State<Portal>, Path(id): Path<String>) -> PortalResult {
    let p = provider(&portal, &id)?;
    let Provider::Saml(s) = p.as_ref() else {
        return Err(PortalError::NotFound);
    };
    match s.sp_metadata(&portal.idp.federation.http).await {
        Ok(xml) => Ok((
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response()),
        Err(e) => Err(PortalError::Internal(crate::Error::Invalid(e.to_string()))),
    }
}

/// The verified identity becomes a sign-in: the account decision, then the
/// same session (or second-factor) answer as a password sign-in.
async fn complete(
    portal: &Portal,
    p: &Provider,
    headers: &HeaderMap,
    identity: Identity,
    return_to: Option<String>,
    ip: Option<&str>,
) -> PortalResult {
    let c = p.common();
    let outcome = match portal.idp.federated_sign_in(c, &identity, ip).await {
        Ok(o) => o,
        Err(e) => {
            return Ok(failure(portal, p, e, ip, identity.email.as_deref()).await);
        }
    };
    if let crate::sign_in::SignIn::Success { token, .. } = &outcome
        && let Some(hint) = &identity.logout_hint
    {
        let key = SessionKey::of_token(token);
        let sealed = portal.idp.keys.secret_box().seal(hint.as_bytes());
        let exp = clock::now() + portal.idp.config.sessions.lifetime.as_secs() as i64;
        portal
            .idp
            .store
            .put_federated_session(key.as_str(), &c.id, &sealed, exp)
            .await?;
    }
    let mut res =
        match super::complete::session_response(portal, headers, outcome, return_to, true).await? {
            Ok(res) => res,
            Err(_) => return Err(PortalError::Forbidden("This sign-in cannot continue.")),
        };
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, portal.cookies.clear(Name::Federation));
    h.append(header::SET_COOKIE, portal.cookies.clear(Name::Login));
    Ok(res)
}

/// Where sign-out continues when the session began upstream and the
/// provider's session should end too.
pub async fn upstream_logout(portal: &Portal, key: &SessionKey) -> Option<String> {
    let (provider, sealed) = portal
        .idp
        .store
        .take_federated_session(key.as_str(), clock::now())
        .await
        .ok()??;
    let p = portal.idp.federation.get(&provider)?;
    if !p.common().logout_upstream {
        return None;
    }
    let hint = String::from_utf8(portal.idp.keys.secret_box().open(&sealed).ok()?).ok()?;
    let back = format!(
        "{}/login?signed_out=1",
        portal.idp.config.public_url.as_str().trim_end_matches('/')
    );
    let upstream = match p.as_ref() {
        Provider::Oidc(o) => {
            o.logout_url(&portal.idp.federation.http, &hint, &back)
                .await
        }
        Provider::Saml(s) => s.logout_url(&portal.idp.federation.http, &hint).await,
    }?;
    // Not a redirect straight from the logout form's POST: Chromium holds
    // every redirect after a submission to the form page's `form-action
    // 'self'`, and the provider's origin is not ours. A same-origin page
    // moves on by link instead. The URL travels sealed, so this page can
    // send the browser nowhere else.
    let sealed = portal.idp.keys.secret_box().seal(upstream.as_bytes());
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("to", &sealed)
        .finish();
    Some(format!(
        "{}?{q}",
        crate::paths::LOGIN_FEDERATION_ID_LEAVE.replace("{id}", &provider)
    ))
}

#[derive(Deserialize)]
pub struct LeaveQuery {
    to: Option<String>,
}

/// GET /login/federation/{id}/leave: the page that moves the signed-out
/// browser on to the provider's logout (by link, so no form-action applies).
pub async fn leave(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Query(q): Query<LeaveQuery>,
) -> PortalResult {
    provider(&portal, &id)?;
    let to =
        q.to.filter(|t| t.len() <= 8192)
            .and_then(|t| portal.idp.keys.secret_box().open(&t).ok())
            .and_then(|plain| String::from_utf8(plain).ok())
            .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")));
    let Some(to) = to else {
        return Ok(see_other("/login?signed_out=1"));
    };
    Ok(page(
        StatusCode::OK,
        "saml_post.html",
        context! {
            title => "Signing out",
            heading => "Signing you out",
            method => "get",
            action => to,
        },
    ))
}

/// GET /login/federation/{id}/slo: where the IdP's LogoutResponse lands.
/// The portal session ended before the browser left; nothing is left to do
/// but say so.
pub async fn slo_return(State(portal): State<Portal>, Path(id): Path<String>) -> PortalResult {
    provider(&portal, &id)?;
    Ok(see_other("/login?signed_out=1"))
}
