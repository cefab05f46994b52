//! The pingora proxy: every request passes through here. The portal host is
//! answered in-process by the portal's axum router; every other host with a
//! policy is checked in `request_filter` (session, groups, MFA freshness),
//! routed in `upstream_peer`, and given identity headers in
//! `upstream_request_filter`.

mod assertion;
pub mod cache;
pub mod framing;
pub mod headers;
pub mod keys;
mod pages;
mod portal;
mod route;

pub use pages::escape as pages_escape;
pub use route::{HostRoutes, Route, RouteTable};

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use std::borrow::Cow;

use http::{HeaderMap, header};
use idp::access::{self, Decision};
use idp::paths;
use idp::request_path::{self, PathOptions, PathRefusal};
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};

use crate::policy::{Access, IdentityHeaders, Policy};
use cache::{EdgeSessions, Identity};

const H_USER: http::HeaderName = http::HeaderName::from_static("x-portcullis-user");
const H_EMAIL: http::HeaderName = http::HeaderName::from_static("x-portcullis-email");
const H_GROUPS: http::HeaderName = http::HeaderName::from_static("x-portcullis-groups");
const H_ASSERTION: http::HeaderName = http::HeaderName::from_static("x-portcullis-assertion");
const H_CREDENTIAL: http::HeaderName = http::HeaderName::from_static("x-portcullis-credential");

/// Names of the cookies the gateway sets for one application on its host.
#[derive(Debug, Clone)]
pub struct CookieNames {
    pub app: String,
    pub state: String,
    secure: bool,
}

impl CookieNames {
    /// `portcullis_app` for an application owning its whole host (the names
    /// of before shared hosts existed, so cookies survive an upgrade);
    /// `portcullis_app_<id>` under a path prefix, so applications sharing a
    /// host never overwrite each other's cookie. Always `Path=/`, which
    /// `__Host-` requires; `__Host-` whenever the origin is HTTPS.
    pub fn for_policy(policy: &Policy) -> Self {
        let secure = policy.origin.starts_with("https://");
        let prefix = if secure { "__Host-" } else { "" };
        let suffix = if policy.path_prefix == "/" {
            String::new()
        } else {
            format!("_{}", policy.id)
        };
        Self {
            app: format!("{prefix}portcullis_app{suffix}"),
            state: format!("{prefix}portcullis_state{suffix}"),
            secure,
        }
    }

    fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }
}

/// The proxy.
pub struct Gateway {
    idp: Arc<idp::Idp>,
    metrics: Arc<crate::metrics::Metrics>,
    portal: axum::Router,
    portal_origin: String,
    routes: Arc<RouteTable>,
    sessions: Arc<EdgeSessions>,
    keys: Arc<keys::ApiKeys>,
    scheme: &'static str,
}

/// Per-request state shared between the phases.
pub struct Ctx {
    started: Instant,
    route: Option<Arc<Route>>,
    identity: Option<Arc<Identity>>,
    /// The signed `X-Portcullis-Assertion` for an allowed request.
    assertion: Option<http::HeaderValue>,
    /// `X-Portcullis-Credential` when an API key admitted the request.
    credential: Option<http::HeaderValue>,
    outcome: &'static str,
}

impl Gateway {
    pub fn new(
        idp: Arc<idp::Idp>,
        routes: Arc<RouteTable>,
        cache_ttl: std::time::Duration,
        outage_grace: std::time::Duration,
        cache_entries: usize,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let secure = idp.config.secure_cookies;
        let sessions = Arc::new(EdgeSessions::new(
            idp.clone(),
            cache_ttl,
            outage_grace,
            cache_entries,
            metrics.clone(),
        ));
        sessions.follow_revocations();
        sessions.sweep_expired();
        let keys = Arc::new(keys::ApiKeys::new(idp.clone(), cache_ttl, cache_entries));
        keys.follow();
        Self {
            idp: idp.clone(),
            metrics: metrics.clone(),
            portal: idp::web::router(idp.clone()),
            portal_origin: idp.config.public_url.origin().ascii_serialization(),
            routes,
            sessions,
            keys,
            scheme: if secure { "https" } else { "http" },
        }
    }

    /// The portal URL that starts the handshake for `route`, coming back to
    /// `path_and_query` on the application host.
    fn authorize_path(&self, route: &Route, path_and_query: &str, state: &str) -> String {
        let return_to = format!("{}{path_and_query}", route.policy.origin);
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("app", &route.policy.id)
            .append_pair("return_to", &return_to)
            .append_pair("state", state)
            .finish();
        format!("/gateway/authorize?{q}")
    }

    async fn enforce(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: Arc<Route>,
    ) -> Result<bool> {
        let req = session.req_header();
        let access = route
            .policy
            .access_for(&request_path::without_parameters(req.uri.path()));
        if access == Access::Public {
            ctx.outcome = "public";
            return Ok(false);
        }
        if route.policy.api.api_keys {
            match keys::presented(&req.headers) {
                keys::Presented::Nothing => {}
                keys::Presented::Key(secret) => {
                    return self.enforce_key(session, ctx, route, access, &secret).await;
                }
                keys::Presented::Malformed => {
                    ctx.outcome = "bad_key";
                    return pages::invalid_token(session).await;
                }
            }
        }
        let json = !is_navigation(&req.headers);
        // Only the redirects below need it: the allowed path stays free of copies.
        let path_and_query = |session: &Session| {
            session
                .req_header()
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string())
        };
        let identity = match cookie(&req.headers, &route.cookies.app) {
            Some(t) => match self
                .sessions
                .identify(t, &route.policy.id, route.policy.session_idle)
                .await
            {
                Ok(found) => found,
                Err(cache::Unavailable) => {
                    ctx.outcome = "unavailable";
                    return self.unavailable(session, json).await;
                }
            },
            None => None,
        };
        let Some((link, identity)) = identity else {
            ctx.outcome = "no_session";
            if json {
                return pages::json(
                    session,
                    401,
                    "unauthenticated",
                    &format!("{}/login", self.portal_origin),
                )
                .await;
            }
            let state = idp::crypto::random_token();
            let to = format!(
                "{}{}",
                self.portal_origin,
                self.authorize_path(&route, &path_and_query(session), &state)
            );
            let set = route.cookies.set(&route.cookies.state, &state, Some(600));
            return pages::redirect(session, &to, Some(&set)).await;
        };
        let decision = access::decide(
            &route.policy.audience,
            &identity.groups,
            route.policy.required_proof(access),
            identity.mfa_at,
            &identity.amr,
            idp::clock::now(),
        );
        if decision == Decision::NotAssigned {
            ctx.outcome = "denied";
            if json {
                return pages::json(session, 403, "forbidden", "").await;
            }
            return pages::forbidden(session, &route.policy.name, &self.portal_origin).await;
        }
        if decision == Decision::SecondFactorDue {
            ctx.outcome = "step_up";
            if json {
                return pages::json(session, 403, "mfa_required", "").await;
            }
            let state = idp::crypto::random_token();
            let back = self.authorize_path(&route, &path_and_query(session), &state);
            let to = step_up_url(&self.portal_origin, &route.policy.id, &back);
            let set = route.cookies.set(&route.cookies.state, &state, Some(600));
            return pages::redirect(session, &to, Some(&set)).await;
        }
        ctx.outcome = "allowed";
        ctx.assertion = self
            .sessions
            .assertions
            .get(&link, &identity, &route.policy.base_url, idp::clock::now())
            .await;
        ctx.identity = Some(identity);
        Ok(false)
    }

    /// A request carrying a personal API key, on a policy that accepts
    /// them: the key instead of a cookie, then the same access decision. A
    /// script gets JSON whatever it asked for.
    async fn enforce_key(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: Arc<Route>,
        access: Access,
        secret: &str,
    ) -> Result<bool> {
        let entry = match self.keys.identify(secret).await {
            keys::Found::Live(entry) => entry,
            keys::Found::Refused => {
                ctx.outcome = "bad_key";
                return pages::invalid_token(session).await;
            }
            keys::Found::Unavailable | keys::Found::Busy => {
                ctx.outcome = "unavailable";
                return self.unavailable(session, true).await;
            }
        };
        let decision = if entry.allows(&route.policy.id) {
            access::decide(
                &route.policy.audience,
                &entry.identity.groups,
                route.policy.required_proof(access),
                entry.identity.mfa_at,
                &entry.identity.amr,
                idp::clock::now(),
            )
        } else {
            Decision::NotAssigned
        };
        match decision {
            Decision::NotAssigned => {
                ctx.outcome = "denied";
                return pages::json(session, 403, "forbidden", "").await;
            }
            Decision::SecondFactorDue => {
                ctx.outcome = "step_up";
                return pages::json(session, 403, "mfa_required", "").await;
            }
            _ => {}
        }
        ctx.outcome = "allowed";
        ctx.assertion = self
            .sessions
            .assertions
            .get(
                &entry.identity.session,
                &entry.identity,
                &route.policy.base_url,
                idp::clock::now(),
            )
            .await;
        ctx.credential = Some(entry.credential.clone());
        ctx.identity = Some(entry.identity.clone());
        Ok(false)
    }

    /// The session store does not answer: nobody gets in, and people are
    /// told so instead of being sent to a sign-in that cannot work either.
    async fn unavailable(&self, session: &mut Session, json: bool) -> Result<bool> {
        if json {
            return pages::json(session, 503, "temporarily_unavailable", "").await;
        }
        pages::message(
            session,
            503,
            "Sign-in is temporarily unavailable",
            "A service signing in needs does not answer. Nothing is wrong with your account. Please try again in a minute.",
            Some(("/", "Try again")),
        )
        .await
    }

    /// `/.portcullis/callback?app&code&state&return_to`: the application
    /// host's half of the handshake. The path is per host, not per
    /// application, so `app` picks the application among the host's.
    async fn callback(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        host: &HostRoutes,
    ) -> Result<bool> {
        ctx.outcome = "callback";
        let req = session.req_header();
        let mut app = None;
        let mut code = None;
        let mut state = None;
        let mut return_to = None;
        for (k, v) in url::form_urlencoded::parse(req.uri.query().unwrap_or("").as_bytes()) {
            match &*k {
                "app" => app = Some(v.into_owned()),
                "code" => code = Some(v.into_owned()),
                "state" => state = Some(v.into_owned()),
                "return_to" => return_to = Some(v.into_owned()),
                _ => {}
            }
        }
        let Some(route) = app.as_deref().and_then(|id| host.app(id)).cloned() else {
            ctx.outcome = "callback_refused";
            return pages::message(
                session,
                400,
                "Sign-in could not be completed",
                "This sign-in link is not for an application at this address.",
                Some((
                    &format!("{}/apps", self.portal_origin),
                    "Go to your applications",
                )),
            )
            .await;
        };
        ctx.route = Some(route.clone());
        let req = session.req_header();
        let expected_state = cookie(&req.headers, &route.cookies.state);
        // The state cookie ties the code to the browser that started the
        // round trip: a code from someone else's session cannot be planted.
        let state_ok = matches!((&state, &expected_state), (Some(a), Some(b)) if idp::crypto::ct_eq(a.as_bytes(), b.as_bytes()));
        let grant = match (&code, state_ok) {
            (Some(code), true) => match self
                .idp
                .handoffs
                .redeem(code, &route.policy.id, idp::clock::now())
                .await
            {
                Ok(g) => g,
                Err(e) => {
                    // The store is down: refused like a stale code, the
                    // browser's retry starts a fresh handshake.
                    tracing::error!(error = %e, "handshake code could not be redeemed");
                    None
                }
            }
            .filter(|g| {
                state
                    .as_deref()
                    .is_some_and(|s| idp::crypto::ct_eq(g.state.as_bytes(), s.as_bytes()))
            }),
            _ => None,
        };
        let Some(grant) = grant else {
            ctx.outcome = "callback_refused";
            return pages::message(
                session,
                400,
                "Sign-in could not be completed",
                &format!(
                    "The sign-in for {} expired or was started in another browser.",
                    route.policy.name
                ),
                Some((&route.policy.path_prefix, "Try again")),
            )
            .await;
        };
        let portal = match self.sessions.portal_session(&grant.session).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                ctx.outcome = "callback_refused";
                return pages::redirect(session, &route.policy.path_prefix, None).await;
            }
            Err(cache::Unavailable) => {
                ctx.outcome = "unavailable";
                return self.unavailable(session, false).await;
            }
        };
        let Some(token) = self
            .sessions
            .bind(&grant.session, &route.policy.id, portal.expires_at)
            .await
        else {
            ctx.outcome = "unavailable";
            return self.unavailable(session, false).await;
        };
        let target = return_to
            .filter(|r| local_path(r))
            .unwrap_or_else(|| route.policy.path_prefix.clone());
        let cookies = [
            route.cookies.set(&route.cookies.app, &token, None),
            route.cookies.set(&route.cookies.state, "", Some(0)),
        ];
        pages::redirect_with(session, &target, &cookies).await
    }
}

/// Puts the request's path in its normalised form ([`request_path`]), so
/// routing, rules and the upstream all see one path; refuses a path that has
/// none, or a request-target that is not UTF-8. `;` parameters pass here and
/// are refused after routing, for applications that did not opt in.
fn normalize_target(req: &mut RequestHeader) -> std::result::Result<(), PathRefusal> {
    if !req.raw_path_is_utf8() {
        return Err(PathRefusal::BadEncoding);
    }
    let normal = request_path::normalize(req.uri.path(), PathOptions { parameters: true })?;
    let query = req.uri.query();
    // An absolute-form target is kept verbatim for the wire; rebuild it so
    // the upstream gets the path decided on, not the client's bytes.
    let verbatim = req.raw_path()
        != req
            .uri
            .path_and_query()
            .map_or(&b"/"[..], |p| p.as_str().as_bytes());
    if matches!(normal, Cow::Borrowed(_)) && !verbatim {
        return Ok(());
    }
    let target = match query {
        Some(q) => format!("{normal}?{q}"),
        None => normal.into_owned(),
    };
    let mut parts = req.uri.clone().into_parts();
    parts.path_and_query = Some(target.parse().map_err(|_| PathRefusal::BadEncoding)?);
    let uri = http::Uri::from_parts(parts).map_err(|_| PathRefusal::BadEncoding)?;
    req.set_uri(uri);
    Ok(())
}

/// Whether `raw` is a path on this host (not `//host`, not a URL).
fn local_path(raw: &str) -> bool {
    raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.chars().any(|c| c.is_control() || c == '\\')
        && raw.len() <= 4096
}

/// The portal's step-up page for `app`, continuing to `back` (a portal path
/// that repeats the handshake, so the fresher session reaches the app).
pub fn step_up_url(portal_origin: &str, app: &str, back: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("app", app)
        .append_pair("return_to", back)
        .finish();
    format!("{portal_origin}{}?{q}", paths::LOGIN_STEP_UP)
}

/// Browsers navigating get pages and redirects; scripts and API clients get
/// status codes with JSON.
/// The longest request target (path and query) decided on: twice what
/// nginx and Apache accept by default, and below the 64 KiB past which the
/// HTTP library cannot represent a URI at all (pingora then answers a bare
/// 400 before any of this runs).
const MAX_TARGET: usize = 16 * 1024;

fn target_len(req: &pingora::http::RequestHeader) -> usize {
    req.uri.path_and_query().map_or(0, |p| p.as_str().len())
}

fn is_navigation(h: &HeaderMap) -> bool {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(mode) = h.get("sec-fetch-mode").and_then(|v| v.to_str().ok()) {
        return mode == "navigate";
    }
    !(get("accept").contains("application/json")
        || get("x-requested-with").eq_ignore_ascii_case("xmlhttprequest"))
}

/// One cookie's value; a name sent twice counts as absent.
fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    idp::cookie::find(h.get_all(header::COOKIE), name)
}

/// The Cookie header without Portcullis' own cookies, or None when nothing is left.
fn strip_our_cookies(h: &HeaderMap) -> Option<String> {
    let kept: Vec<&str> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(';'))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(k, _)| k);
            let base = name.strip_prefix("__Host-").unwrap_or(name);
            !base.starts_with("portcullis_")
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The request's host, lower-case and without port.
/// 400 for a request whose body framing is ambiguous (see `framing`); the
/// connection ends with it, since where the next request starts is unknown.
async fn refuse_framing(
    session: &mut Session,
    ctx: &mut Ctx,
    why: framing::Ambiguous,
) -> Result<bool> {
    tracing::debug!(reason = %why, "request framing refused");
    ctx.outcome = "bad_framing";
    session.set_keepalive(None);
    pages::text(session, 400, "Bad request: ambiguous Content-Length").await
}

fn request_host(req: &RequestHeader) -> String {
    let raw = req
        .uri
        .host()
        .map(str::to_string)
        .or_else(|| {
            req.headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let host = if raw.starts_with('[') {
        raw.split_inclusive(']').next().unwrap_or("").to_string()
    } else {
        raw.split(':').next().unwrap_or("").to_string()
    };
    host.to_ascii_lowercase()
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {
        // pingora's default adds a compression module switched off; nothing
        // here compresses, and every module costs a context per request.
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        _ctx: &mut Ctx,
        prev: Box<dyn std::any::Any + Send + Sync>,
    ) {
        // The accept loop hands each HTTP/1.1 request this before its header
        // is read; here the header is in, so its deadline ends.
        crate::listener::header_arrived(prev);
    }

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            route: None,
            identity: None,
            assertion: None,
            credential: None,
            outcome: "",
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if let Err(why) = framing::prepare(session) {
            return refuse_framing(session, ctx, why).await;
        }
        if target_len(session.req_header()) > MAX_TARGET {
            ctx.outcome = "uri_too_long";
            let json = !is_navigation(&session.req_header().headers);
            return pages::uri_too_long(session, json).await;
        }
        let host = request_host(session.req_header());
        match self.routes.get(&host) {
            Some(apps) => {
                // One path for every decision below and for the upstream.
                if let Err(why) = normalize_target(session.req_header_mut()) {
                    tracing::debug!(reason = %why, "request path refused");
                    ctx.outcome = "bad_path";
                    let json = !is_navigation(&session.req_header().headers);
                    return pages::bad_path(session, json, &self.portal_origin).await;
                }
                let path = request_path::without_parameters(session.req_header().uri.path());
                // Before prefix routing: the handshake's path is the host's,
                // whatever applications share it.
                if path == paths::GATEWAY_CALLBACK {
                    return self.callback(session, ctx, &apps).await;
                }
                let Some(route) = apps.find(&path).cloned() else {
                    // A known host but no application here: never the
                    // portal, never another application's upstream.
                    ctx.outcome = "no_app";
                    let json = !is_navigation(&session.req_header().headers);
                    return pages::no_app(session, json, &self.portal_origin).await;
                };
                if !route.policy.path_options.parameters
                    && session.req_header().uri.path().contains(';')
                {
                    ctx.route = Some(route);
                    ctx.outcome = "bad_path";
                    let json = !is_navigation(&session.req_header().headers);
                    return pages::bad_path(session, json, &self.portal_origin).await;
                }
                ctx.route = Some(route.clone());
                self.enforce(session, ctx, route).await
            }
            None if session.req_header().uri.path() == "/readyz" => {
                // Ready when the state store answers (within a second) and
                // takes writes: without it nobody can sign in, so a load
                // balancer should look elsewhere.
                ctx.outcome = "readyz";
                match self.idp.ready().await {
                    Ok(()) => pages::text(session, 200, "ready").await,
                    Err(e @ idp::health::NotReady::StorageFull) => {
                        tracing::warn!(error = %e, "not ready");
                        pages::text(session, 503, "store full").await
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "not ready");
                        pages::text(session, 503, "store unavailable").await
                    }
                }
            }
            None => {
                // The portal host, and any host no policy names (health
                // checks by address, for one).
                ctx.outcome = "portal";
                portal::serve(&self.portal, session).await
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let route = ctx
            .route
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route for the request"))?;
        match route.peer() {
            Some(peer) => Ok(Box::new(peer)),
            None => Error::e_explain(
                ErrorType::ConnectNoRoute,
                "every upstream address failed its health check",
            ),
        }
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        headers::strip_owned(upstream);
        // The client's credential was for us: an upstream never sees it (on
        // a policy without API keys, only our own keys are taken out).
        if upstream.headers.contains_key(header::AUTHORIZATION)
            && (ctx.route.as_ref().is_some_and(|r| r.policy.api.api_keys)
                || keys::carries_key(&upstream.headers))
        {
            upstream.remove_header(&header::AUTHORIZATION);
        }
        if upstream.headers.contains_key(header::COOKIE) {
            match strip_our_cookies(&upstream.headers) {
                Some(rest) => {
                    upstream.insert_header(header::COOKIE, rest)?;
                }
                None => {
                    upstream.remove_header(&header::COOKIE);
                }
            }
        }
        let wanted = ctx
            .route
            .as_ref()
            .map_or(IdentityHeaders::ALL, |r| r.policy.headers);
        if let Some(id) = &ctx.identity {
            // Values were made once when the identity was cached.
            if wanted.user {
                upstream.insert_header(H_USER, id.headers.user.clone())?;
            }
            if wanted.email {
                upstream.insert_header(H_EMAIL, id.headers.email.clone())?;
            }
            if wanted.groups
                && let Some(groups) = &id.headers.groups
            {
                upstream.insert_header(H_GROUPS, groups.clone())?;
            }
        }
        if let Some(assertion) = ctx.assertion.take()
            && wanted.assertion
        {
            upstream.insert_header(H_ASSERTION, assertion)?;
        }
        if let Some(credential) = ctx.credential.take() {
            upstream.insert_header(H_CREDENTIAL, credential)?;
        }
        if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
            let ip = addr.ip().to_string();
            upstream.insert_header("X-Forwarded-For", ip.clone())?;
            upstream.insert_header("X-Real-IP", ip)?;
        }
        upstream.insert_header("X-Forwarded-Proto", self.scheme)?;
        let req = session.req_header();
        if let Some(host) = req
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| req.headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        {
            let host = host.to_string();
            upstream.insert_header("X-Forwarded-Host", host)?;
        }
        Ok(())
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        let micros = ctx.started.elapsed().as_micros() as u64;
        self.metrics.record(
            ctx.route.as_ref().map_or(0, |r| r.index),
            ctx.outcome,
            micros,
            e.is_some() && ctx.route.is_some(),
        );
        let req = session.req_header();
        // The path only: queries can carry handshake codes.
        tracing::info!(
            target: "access",
            method = %req.method,
            host = %request_host(req),
            path = %req.uri.path(),
            status,
            // A refusal on an application host before routing is nobody's:
            // not the portal's.
            app = ctx.route.as_ref().map_or(
                if matches!(ctx.outcome, "no_app" | "bad_path" | "bad_framing") {
                    ""
                } else {
                    "portal"
                },
                |r| r.policy.id.as_str()
            ),
            outcome = ctx.outcome,
            user = ctx.identity.as_ref().map(|i| i.user_id.as_str()).unwrap_or(""),
            micros,
            error = e.map(|e| e.to_string()).unwrap_or_default(),
            "request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn step_up_seam() {
        let url = step_up_url(
            "https://portal.localhost:8443",
            "wiki",
            "/gateway/authorize?app=wiki&x=1",
        );
        assert_eq!(
            url,
            "https://portal.localhost:8443/login/step-up?app=wiki&return_to=%2Fgateway%2Fauthorize%3Fapp%3Dwiki%26x%3D1"
        );
    }

    #[test]
    fn navigation_or_not() {
        let mut h = HeaderMap::new();
        assert!(is_navigation(&h));
        h.insert("accept", HeaderValue::from_static("application/json"));
        assert!(!is_navigation(&h));
        let mut h = HeaderMap::new();
        h.insert(
            "x-requested-with",
            HeaderValue::from_static("XMLHttpRequest"),
        );
        assert!(!is_navigation(&h));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        h.insert("accept", HeaderValue::from_static("text/html"));
        assert!(is_navigation(&h));
        h.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
        assert!(!is_navigation(&h));
    }

    #[test]
    fn cookies_are_read_once_and_ours_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-portcullis_app=T; portcullis_session=S; b=2"),
        );
        assert_eq!(cookie(&h, "__Host-portcullis_app"), Some("T"));
        assert_eq!(strip_our_cookies(&h).as_deref(), Some("a=1; b=2"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-portcullis_app=U"),
        );
        assert_eq!(cookie(&h, "__Host-portcullis_app"), None, "duplicates");
        let mut only = HeaderMap::new();
        only.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-portcullis_app=T"),
        );
        assert_eq!(strip_our_cookies(&only), None);
        // The per-application names on a shared host are ours too.
        let mut shared = HeaderMap::new();
        shared.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "__Host-portcullis_app_a=T; x=1; __Host-portcullis_state_b=S; portcullis_app_c=U",
            ),
        );
        assert_eq!(strip_our_cookies(&shared).as_deref(), Some("x=1"));
        assert_eq!(cookie(&shared, "__Host-portcullis_app_a"), Some("T"));
        assert_eq!(cookie(&shared, "__Host-portcullis_app"), None);
    }

    fn target(raw: &str) -> std::result::Result<String, PathRefusal> {
        let mut req = RequestHeader::build("GET", raw.as_bytes(), None).unwrap();
        normalize_target(&mut req)?;
        Ok(String::from_utf8(req.raw_path().to_vec()).unwrap())
    }

    #[test]
    fn the_upstream_gets_the_path_that_was_decided_on() {
        for (raw, sent) in [
            ("/mfa/x?q=%2F..", "/mfa/x?q=%2F.."),
            ("//mfa/x", "/mfa/x"),
            ("/%6dfa/x?a=1", "/mfa/x?a=1"),
            ("/a;b", "/a;b"),
            ("http://app.localhost/%6dfa//x?y", "/mfa/x?y"),
        ] {
            assert_eq!(target(raw).as_deref(), Ok(sent), "{raw}");
        }
        for raw in [
            "/mfa%2fx",
            "/public/..%2fadmin/",
            "/a/../b",
            "/public/..\\admin",
        ] {
            assert!(target(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn local_paths_only() {
        assert!(local_path("/a?b=c"));
        for bad in ["//evil", "https://evil", "/\\evil", "", "/a\nb"] {
            assert!(!local_path(bad), "{bad:?}");
        }
    }
}
