//! The authorization endpoint (`response_type=code` only). Errors go back to
//! the client's redirect URI only once client and redirect URI are known to
//! be valid (RFC 6749 section 4.1.2.1); before that the user gets a page,
//! so the endpoint can never be used as an open redirector.
//!
//! [`authorize`] takes the request's parameters (query or form, parsed by
//! the web layer) and the portal cookie's value, and answers with an
//! [`Authorization`]: what the browser is to be shown or sent to. Its steps:
//! [`client_and_target`] (failures are a page), [`AuthorizeRequest::parse`]
//! (the request against the client's registration), [`authenticate`] (the
//! session: sign in, again, or a second factor), [`admit`] (the
//! application's audience) and [`issue_code`] (the grant and its code).

use crate::paths;

use super::claims::ClaimsRequest;
use super::config::ClientConfig;
use super::wire::{ErrorCode, OAuthError, Params};
use crate::access::SecondFactor;
use crate::audit::{self, Event, Outcome};
use crate::crypto;
use crate::directory::User;
use crate::idp::Idp;
use crate::session::{Live, Presented, Refusal};
use crate::store::GrantRow;

/// `acr` values: password only, or password plus a second factor.
pub const ACR_PWD: &str = "pwd";
pub const ACR_MFA: &str = "mfa";

/// The longest `state` echoed back to a client.
pub const MAX_STATE_LEN: usize = 2048;

/// Where the answer to a valid client goes: its registered redirect URI,
/// with `state` echoed and `iss` (RFC 9207) added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRedirect {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub iss: String,
}

impl ClientRedirect {
    /// The query parameters to add to the redirect URI: `first`, then
    /// `state` (if sent) and `iss`.
    pub fn params<'a>(&'a self, first: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut p = first.to_vec();
        if let Some(s) = &self.state {
            p.push(("state", s));
        }
        p.push(("iss", &self.iss));
        p
    }
}

/// What an authorization request comes to.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// The client or its redirect URI cannot be trusted with an answer:
    /// the user is shown this reason, the client hears nothing.
    Invalid(&'static str),
    /// Back to the client with an authorization code.
    Code { to: ClientRedirect, code: String },
    /// Back to the client with an OAuth error.
    Error {
        to: ClientRedirect,
        error: OAuthError,
    },
    /// The user must sign in (again, when `force`), then come back to
    /// `resume` (this endpoint, with the request's parameters).
    Login {
        resume: String,
        login_hint: Option<String>,
        force: bool,
    },
    /// A passkey-only session must verify with the passkey again.
    Reverify { resume: String },
    /// A second factor must be verified in this session.
    StepUp { resume: String },
}

/// The authorization endpoint for a browser presenting `session_token`
/// (the portal cookie's value, if any). An error is a store failure before
/// the client was known: a page, not an answer to the client.
pub async fn authorize(
    idp: &Idp,
    params: &Params,
    session_token: Option<&str>,
    ip: Option<&str>,
    now: i64,
) -> crate::error::Result<Authorization> {
    // Step 1: who is asking and where to answer. Failures here get a page.
    let (client, redirect_uri) = match client_and_target(idp, params, ip, now).await? {
        Ok(v) => v,
        Err(why) => return Ok(Authorization::Invalid(why)),
    };
    // Step 2: from here every error goes back to the client. A repeated or
    // over-long state cannot be echoed: the request is refused, without it,
    // so that no code ever reaches the client without its state.
    let mut to = ClientRedirect {
        state: None,
        redirect_uri: redirect_uri.to_string(),
        iss: idp.issuer(),
    };
    match params.get("state") {
        Ok(state) if state.is_none_or(|s| s.len() <= MAX_STATE_LEN) => {
            to.state = state.map(str::to_string);
        }
        Ok(_) => {
            let error = OAuthError::invalid_request(format!(
                "state is longer than {MAX_STATE_LEN} characters"
            ));
            return Ok(Authorization::Error { to, error });
        }
        Err(error) => {
            return Ok(Authorization::Error {
                to,
                error: error.into(),
            });
        }
    }
    match decide(idp, &client, params, redirect_uri, session_token, ip, now).await {
        Ok(Decision::Code(code)) => Ok(Authorization::Code { to, code }),
        Ok(Decision::Interact(a)) => Ok(a),
        Err(error) => Ok(Authorization::Error { to, error }),
    }
}

/// The client and the redirect URI, exactly as registered (no prefix,
/// wildcard or normalisation, RFC 9700), or the reason shown to the user.
pub async fn client_and_target<'p>(
    idp: &Idp,
    params: &'p Params,
    ip: Option<&str>,
    now: i64,
) -> crate::error::Result<Result<(ClientConfig, &'p str), &'static str>> {
    let (client_id, redirect_uri) = match (params.get("client_id"), params.get("redirect_uri")) {
        (Ok(Some(c)), Ok(Some(r))) => (c, r),
        (Ok(None), _) => {
            return Ok(Err("The request does not name an application (client_id)."));
        }
        (_, Ok(None)) => return Ok(Err("The request has no redirect_uri.")),
        _ => return Ok(Err("A parameter is repeated or too long.")),
    };
    let Some(client) = idp.oidc_client(client_id).await? else {
        return Ok(Err("The application (client_id) is not registered."));
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        audit::record(
            &idp.store,
            now,
            Event::new("oidc.authorize", Outcome::Failure)
                .subject(&client.client_id)
                .ip(ip)
                .detail("unregistered redirect_uri"),
        )
        .await;
        return Ok(Err("The application's redirect address is not registered."));
    }
    Ok(Ok((client, redirect_uri)))
}

/// A request checked against its client's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest<'a> {
    /// The requested scopes the client may have, without duplicates;
    /// others are ignored (RFC 6749 section 3.3).
    pub scope: String,
    /// The PKCE S256 challenge.
    pub code_challenge: Option<&'a str>,
    /// `prompt=none`: no interaction; what would need one is an error.
    pub prompt_none: bool,
    /// `prompt=login`: sign in again.
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub nonce: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    /// A second factor is mandatory: by the client's policy, or an
    /// essential `acr` in the `claims` parameter that only `mfa` meets.
    pub requires_mfa: bool,
    /// A second factor is asked for, voluntarily (`acr_values` preferring
    /// `mfa`, OIDC Core 3.1.2.1): done when the user can, else the code
    /// says `acr=pwd`.
    pub prefers_mfa: bool,
    /// The `claims` parameter (OIDC Core 5.5), if sent.
    pub claims: Option<ClaimsRequest>,
}

impl<'a> AuthorizeRequest<'a> {
    /// Reads and checks the parameters for `client`, in a fixed order; the
    /// first failure is the answer.
    pub fn parse(params: &'a Params, client: &ClientConfig) -> Result<Self, OAuthError> {
        if params.get("request_uri")?.is_some() {
            return Err(OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        if params.get("request")?.is_some() {
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
        let scope = scopes(params, client)?;
        let code_challenge = pkce(params, client)?;
        let (prompt_none, prompt_login) = prompt(params)?;
        let max_age = match params.get("max_age")? {
            Some(m) => Some(m.parse::<u32>().map_err(|_| {
                OAuthError::invalid_request("max_age must be a non-negative integer")
            })? as i64),
            None => None,
        };
        let nonce = params.get("nonce")?;
        let login_hint = params.get("login_hint")?.filter(|h| h.len() <= 254);
        let claims = params
            .get("claims")?
            .map(ClaimsRequest::parse)
            .transpose()?;
        // acr_values is a preference, in order (OIDC Core 3.1.2.1): the
        // first value we know decides.
        let prefers_mfa = params
            .get("acr_values")?
            .unwrap_or("")
            .split(' ')
            .find(|a| *a == ACR_MFA || *a == ACR_PWD)
            == Some(ACR_MFA);
        let requires_mfa = client.require_mfa
            || client.mfa_max_age.is_some()
            || claims.as_ref().is_some_and(ClaimsRequest::essential_mfa);
        Ok(Self {
            scope,
            code_challenge,
            prompt_none,
            prompt_login,
            max_age,
            nonce,
            login_hint,
            requires_mfa,
            prefers_mfa,
            claims,
        })
    }
}

/// Scopes: those the client may have, without duplicates. Unknown values
/// and scopes not allowed for the client are ignored (RFC 6749 section
/// 3.3 lets the server grant less; the token response names what was
/// granted); a request left with no scope at all is `invalid_scope`.
fn scopes(params: &Params, client: &ClientConfig) -> Result<String, OAuthError> {
    let requested = params
        .get("scope")?
        .ok_or_else(|| OAuthError::invalid_request("scope is missing"))?;
    let mut scopes: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if client.scopes.iter().any(|c| c == s) && !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if scopes.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "none of the requested scopes is available to this client",
        ));
    }
    Ok(scopes.join(" "))
}

/// PKCE (RFC 7636): S256 only; required for public clients.
fn pkce<'a>(params: &'a Params, client: &ClientConfig) -> Result<Option<&'a str>, OAuthError> {
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
    Ok(challenge)
}

/// `prompt`: (none, login). `consent` and `select_account` are accepted
/// and change nothing.
fn prompt(params: &Params) -> Result<(bool, bool), OAuthError> {
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
    let none = prompt.contains(&"none");
    if none && prompt.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok((none, prompt.contains(&"login")))
}

/// What the request came to once the client is known to be valid.
enum Decision {
    Code(String),
    Interact(Authorization),
}

async fn decide(
    idp: &Idp,
    client: &ClientConfig,
    params: &Params,
    redirect_uri: &str,
    session_token: Option<&str>,
    ip: Option<&str>,
    now: i64,
) -> Result<Decision, OAuthError> {
    let req = AuthorizeRequest::parse(params, client)?;
    let live = match authenticate(idp, client, &req, params, session_token, now).await? {
        Ok(live) => live,
        Err(interact) => return Ok(Decision::Interact(interact)),
    };
    admit(idp, client, &live.user, ip, now).await?;
    let code = issue_code(idp, client, &req, &live, redirect_uri, now).await?;
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.authorize", Outcome::Success)
            .about(&live.user)
            .ip(ip)
            .detail(client.client_id.clone()),
    )
    .await;
    Ok(Decision::Code(code))
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

/// The signed-in session good enough for this request, or the interaction
/// that would make it so (an error under `prompt=none`).
pub async fn authenticate(
    idp: &Idp,
    client: &ClientConfig,
    req: &AuthorizeRequest<'_>,
    params: &Params,
    session_token: Option<&str>,
    now: i64,
) -> Result<Result<Live, Authorization>, OAuthError> {
    let resumed = match session_token {
        Some(token) => idp.resume(Presented::Token(token), now).await?,
        None => Err(Refusal::Unknown),
    };
    let live = match resumed {
        Ok(live) => live,
        Err(why) => {
            if req.prompt_none {
                return Err(OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user is not signed in",
                ));
            }
            let resume = continuation(params, &["prompt"], &[]);
            if why == Refusal::PasskeyReverify {
                return Ok(Err(Authorization::Reverify { resume }));
            }
            return Ok(Err(Authorization::Login {
                resume,
                login_hint: req.login_hint.map(str::to_string),
                force: false,
            }));
        }
    };
    // prompt=login, max_age=0 or an older sign-in than max_age allows: sign
    // in again. The continuation drops prompt and carries a max_age the
    // fresh sign-in meets, so the browser does not loop.
    let session = &live.session;
    let too_old = req.max_age.is_some_and(|m| now - session.auth_time > m);
    if req.prompt_login || req.max_age == Some(0) || too_old {
        if req.prompt_none {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "a fresh sign-in is needed",
            ));
        }
        let resume = continuation(params, &["prompt", "max_age"], &[("max_age", "600".into())]);
        return Ok(Err(Authorization::Login {
            resume,
            login_hint: Some(req.login_hint.unwrap_or(&live.user.email).to_string()),
            force: true,
        }));
    }
    let need = SecondFactor {
        max_age: client.mfa_max_age,
        methods: Vec::new(),
    };
    let met = need.met_by(session.mfa_at, &session.amr, now);
    if req.requires_mfa && !met {
        // Mandatory: step up when the user has a factor to verify; an
        // error for the client when they have none, or no interaction is
        // allowed. Never a dead end for the user.
        let enrolled = !idp.factors(&live.user.id).await?.methods().is_empty();
        if !enrolled {
            return Err(OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "a second factor is required and the user has none",
            ));
        }
        if req.prompt_none {
            return Err(OAuthError::new(
                ErrorCode::InteractionRequired,
                "a second factor must be verified",
            ));
        }
        return Ok(Err(Authorization::StepUp {
            resume: continuation(params, &["prompt"], &[]),
        }));
    }
    let voluntary = SecondFactor {
        max_age: None,
        methods: Vec::new(),
    };
    if req.prefers_mfa
        && !req.prompt_none
        && !voluntary.met_by(session.mfa_at, &session.amr, now)
        && !idp.factors(&live.user.id).await?.methods().is_empty()
    {
        // Voluntary: asked of a user who can.
        return Ok(Err(Authorization::StepUp {
            resume: continuation(params, &["prompt"], &[]),
        }));
    }
    Ok(Ok(live))
}

/// Application access rules: only users in the linked application's
/// audience; a refusal is recorded.
pub async fn admit(
    idp: &Idp,
    client: &ClientConfig,
    user: &User,
    ip: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    let allowed = match &client.application {
        Some(name) => idp.may_open(&user.id, name).await?.is_some(),
        None => false,
    };
    if allowed {
        return Ok(());
    }
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.authorize", Outcome::Failure)
            .about(user)
            .ip(ip)
            .detail(format!(
                "{}: not assigned to the application",
                client.client_id
            )),
    )
    .await;
    Err(OAuthError::new(
        ErrorCode::AccessDenied,
        "the user is not assigned to this application",
    ))
}

/// Stores the grant for the session and a code for it; returns the code.
async fn issue_code(
    idp: &Idp,
    client: &ClientConfig,
    req: &AuthorizeRequest<'_>,
    live: &Live,
    redirect_uri: &str,
    now: i64,
) -> Result<String, OAuthError> {
    let session = &live.session;
    let acr = if session.mfa_at.is_some() {
        ACR_MFA
    } else {
        ACR_PWD
    };
    let grant = GrantRow {
        id: crypto::random_token(),
        client_id: client.client_id.clone(),
        user_id: live.user.id.clone(),
        session_hash: Some(live.key.as_str().to_string()),
        scope: req.scope.clone(),
        nonce: req.nonce.map(str::to_string),
        auth_time: session.auth_time,
        amr: session.amr.join(" "),
        acr: Some(acr.to_string()),
        created_at: now,
        expires_at: now + client.refresh_token_lifetime.as_secs() as i64,
        revoked_at: None,
    };
    idp.store.insert_grant(&grant).await?;
    if let Some(claims) = req.claims.as_ref().filter(|c| !c.is_empty()) {
        idp.store
            .set_grant_claims(&grant.id, &claims.to_stored())
            .await?;
    }
    let code = crypto::random_token();
    idp.store
        .insert_code(
            &crypto::sha256_hex(code.as_bytes()),
            &grant.id,
            &client.client_id,
            redirect_uri,
            req.code_challenge,
            now + idp.config.oidc.code_lifetime.as_secs() as i64,
        )
        .await?;
    Ok(code)
}
