//! The authorization endpoint (`response_type=code` only). Errors go back to
//! the client's redirect URI only once client and redirect URI are known to
//! be valid (RFC 6749 section 4.1.2.1); before that the user gets a page,
//! so the endpoint can never be used as an open redirector.

use crate::paths;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::config::ClientConfig;
use super::wire::{ErrorCode, OAuthError, Params};
use crate::access::SecondFactor;
use crate::audit::{self, Event, Outcome};
use crate::clock;
use crate::crypto;
use crate::session::{Live, Refusal};
use crate::store::GrantRow;
use crate::web::render::message;
use crate::web::{ClientIp, Portal};

/// `acr` values: password only, or password plus a second factor.
pub const ACR_PWD: &str = "pwd";
pub const ACR_MFA: &str = "mfa";

pub async fn handle_get(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let raw = uri.query().unwrap_or("");
    if raw.len() > 8 * 1024 {
        return error_page("The sign-in request is too large.");
    }
    authorize(
        &portal,
        &headers,
        &Params::parse(raw.as_bytes()),
        ip.as_deref(),
    )
    .await
}

/// OIDC Core 3.1.2.1: the endpoint must accept POST as well.
pub async fn handle_post(
    State(portal): State<Portal>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > 8 * 1024 {
        return error_page("The sign-in request is too large.");
    }
    authorize(&portal, &headers, &Params::parse(&body), ip.as_deref()).await
}

fn error_page(why: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "This sign-in request is not valid",
        why,
        Some((paths::APPS, "Go to your applications")),
    )
}

/// A redirect to the client with `params` added to its redirect URI.
fn to_client(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return error_page("The application's address is not valid."),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.as_str())]).into_response()
}

/// The validated request, enough to answer with a redirect.
struct Request<'a> {
    client: ClientConfig,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    iss: String,
}

impl Request<'_> {
    fn error(&self, e: OAuthError) -> Response {
        let mut p = vec![
            ("error", e.code.as_str()),
            ("error_description", e.description.as_str()),
        ];
        if let Some(s) = self.state {
            p.push(("state", s));
        }
        p.push(("iss", &self.iss));
        to_client(self.redirect_uri, &p)
    }
}

async fn authorize(
    portal: &Portal,
    headers: &HeaderMap,
    params: &Params,
    ip: Option<&str>,
) -> Response {
    // Step 1: who is asking and where to answer. Failures here get a page.
    let (client_id, redirect_uri) = match (params.get("client_id"), params.get("redirect_uri")) {
        (Ok(Some(c)), Ok(Some(r))) => (c, r),
        (Ok(None), _) => {
            return error_page("The request does not name an application (client_id).");
        }
        (_, Ok(None)) => return error_page("The request has no redirect_uri."),
        _ => return error_page("A parameter is repeated or too long."),
    };
    let client = match portal.idp.oidc_client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return error_page("The application (client_id) is not registered."),
        Err(e) => return crate::web::PortalError::from(e).into_response(),
    };
    // Exact string comparison: no prefix, wildcard or normalisation (RFC 9700).
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        audit::record(
            &portal.idp.store,
            clock::now(),
            Event::new("oidc.authorize", Outcome::Failure)
                .subject(&client.client_id)
                .ip(ip)
                .detail("unregistered redirect_uri"),
        )
        .await;
        return error_page("The application's redirect address is not registered.");
    }
    // Step 2: from here every error goes back to the client.
    let req = Request {
        state: params.get("state").ok().flatten(),
        redirect_uri,
        iss: portal.idp.issuer(),
        client,
    };
    match decide(portal, headers, params, &req, ip).await {
        Ok(res) => res,
        Err(e) => req.error(e),
    }
}

/// The URL that resumes this request after sign-in, with `drop` removed and
/// `add` appended.
fn continuation(params: &Params, drop: &[&str], add: &[(&str, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.pairs() {
        if !drop.contains(&k.as_str()) {
            q.append_pair(k, v);
        }
    }
    for (k, v) in add {
        q.append_pair(k, v);
    }
    format!("{}?{}", paths::OIDC_AUTHORIZE, q.finish())
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn to_login(cont: &str, login_hint: Option<&str>, force: bool) -> Response {
    redirect(&crate::web::login_url(cont, login_hint, force))
}

async fn decide(
    portal: &Portal,
    headers: &HeaderMap,
    params: &Params,
    req: &Request<'_>,
    ip: Option<&str>,
) -> Result<Response, OAuthError> {
    let idp = &portal.idp;
    let client = &req.client;
    if params.get("request")?.is_some() || params.get("request_uri")?.is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    match params.get("response_type")? {
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        None => return Err(OAuthError::invalid_request("response_type is missing")),
    }
    if params.get("response_mode")?.is_some_and(|m| m != "query") {
        return Err(OAuthError::invalid_request(
            "only response_mode=query is supported",
        ));
    }
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    // Scopes: each must be allowed for the client; duplicates collapse.
    let requested = params
        .get("scope")?
        .ok_or_else(|| OAuthError::invalid_request("scope is missing"))?;
    let mut scopes: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !client.scopes.iter().any(|c| c == s) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope {s:?} is not available to this client"),
            ));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let scope = scopes.join(" ");

    // PKCE (RFC 7636): S256 only; required for public clients.
    let challenge = params.get("code_challenge")?;
    match (challenge, params.get("code_challenge_method")?) {
        (Some(_), Some("S256")) => {}
        (Some(_), Some("plain") | None) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("unknown code_challenge_method"));
        }
        (None, Some(_)) => return Err(OAuthError::invalid_request("code_challenge is missing")),
        (None, None) if client.is_public() => {
            return Err(OAuthError::invalid_request(
                "PKCE with S256 is required for public clients",
            ));
        }
        (None, None) => {}
    }
    if let Some(c) = challenge
        && !(c.len() == 43 && crypto::b64url_decode(c).is_some_and(|b| b.len() == 32))
    {
        return Err(OAuthError::invalid_request(
            "code_challenge is not a base64url SHA-256",
        ));
    }

    let prompt: Vec<&str> = params
        .get("prompt")?
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    for p in &prompt {
        if !matches!(*p, "none" | "login" | "consent" | "select_account") {
            return Err(OAuthError::invalid_request(format!(
                "unknown prompt value {p:?}"
            )));
        }
    }
    let prompt_none = prompt.contains(&"none");
    if prompt_none && prompt.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age =
        match params.get("max_age")? {
            Some(m) => Some(m.parse::<u32>().map_err(|_| {
                OAuthError::invalid_request("max_age must be a non-negative integer")
            })? as i64),
            None => None,
        };
    let nonce = params.get("nonce")?;
    let login_hint = params.get("login_hint")?.filter(|h| h.len() <= 254);
    let acr_values = params.get("acr_values")?.unwrap_or("");

    // Who is signed in.
    let now = clock::now();
    let Live { user, key, session } = match crate::web::auth::session_of(portal, headers).await? {
        Ok(live) => live,
        Err(why) => {
            if prompt_none {
                return Err(OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user is not signed in",
                ));
            }
            let cont = continuation(params, &["prompt"], &[]);
            if why == Refusal::PasskeyReverify {
                return Ok(redirect(&crate::web::auth::reverify_url(Some(&cont))));
            }
            return Ok(to_login(&cont, login_hint, false));
        }
    };
    // prompt=login, max_age=0 or an older sign-in than max_age allows: sign
    // in again. The continuation drops prompt and carries a max_age the
    // fresh sign-in meets, so the browser does not loop.
    let too_old = max_age.is_some_and(|m| now - session.auth_time > m);
    if prompt.contains(&"login") || max_age == Some(0) || too_old {
        if prompt_none {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "a fresh sign-in is needed",
            ));
        }
        let cont = continuation(params, &["prompt", "max_age"], &[("max_age", "600".into())]);
        return Ok(to_login(&cont, login_hint.or(Some(&user.email)), true));
    }

    // MFA: the client's policy, whatever the request asks, or acr_values=mfa.
    let wants_mfa = client.require_mfa
        || client.mfa_max_age.is_some()
        || acr_values.split(' ').any(|a| a == ACR_MFA);
    let need = SecondFactor {
        max_age: client.mfa_max_age,
        methods: Vec::new(),
    };
    if wants_mfa && !need.met_by(session.mfa_at, &session.amr, now) {
        if prompt_none {
            return Err(OAuthError::new(
                ErrorCode::InteractionRequired,
                "a second factor must be verified",
            ));
        }
        let cont = continuation(params, &["prompt"], &[]);
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &cont)
            .finish();
        return Ok(redirect(&format!("{}?{q}", paths::LOGIN_STEP_UP)));
    }
    let acr = if session.mfa_at.is_some() {
        ACR_MFA
    } else {
        ACR_PWD
    };

    // Application access rules: only users in the linked application's audience.
    let allowed = match &client.application {
        Some(name) => idp.may_open(&user.id, name).await?.is_some(),
        None => false,
    };
    if !allowed {
        audit::record(
            &idp.store,
            now,
            Event::new("oidc.authorize", Outcome::Failure)
                .about(&user)
                .ip(ip)
                .detail(format!(
                    "{}: not assigned to the application",
                    client.client_id
                )),
        )
        .await;
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user is not assigned to this application",
        ));
    }

    let grant = GrantRow {
        id: crypto::random_token(),
        client_id: client.client_id.clone(),
        user_id: user.id.clone(),
        session_hash: Some(key.as_str().to_string()),
        scope,
        nonce: nonce.map(str::to_string),
        auth_time: session.auth_time,
        amr: session.amr.join(" "),
        acr: Some(acr.to_string()),
        created_at: now,
        expires_at: now + client.refresh_token_lifetime.as_secs() as i64,
        revoked_at: None,
    };
    idp.store.insert_grant(&grant).await?;
    let code = crypto::random_token();
    idp.store
        .insert_code(
            &crypto::sha256_hex(code.as_bytes()),
            &grant.id,
            &client.client_id,
            req.redirect_uri,
            challenge,
            now + idp.config.oidc.code_lifetime.as_secs() as i64,
        )
        .await?;
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.authorize", Outcome::Success)
            .about(&user)
            .ip(ip)
            .detail(client.client_id.clone()),
    )
    .await;
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = req.state {
        p.push(("state", s));
    }
    p.push(("iss", &req.iss));
    Ok(to_client(req.redirect_uri, &p))
}
