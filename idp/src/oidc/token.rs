//! The token endpoint: `authorization_code` (single use; a replay revokes
//! what the code produced), `refresh_token` (rotated on every use; reuse
//! revokes the family) and `client_credentials`.
//!
//! The order is fixed: authenticate the client, check the binding (the code
//! or refresh token is this client's; redirect URI and PKCE verifier match),
//! and only then spend, with the spend and the new refresh token in one
//! transaction. A request failing a check changes nothing in the store.

use serde_json::{Value, json};

use super::claims::{ClaimsRequest, Target};
use super::clients::ClientAuth;
use super::config::ClientConfig;
use super::wire::{ErrorCode, OAuthError, Params, TokenResponse};
use crate::audit::{self, Event, Outcome};
use crate::crypto;
use crate::directory::User;
use crate::idp::Idp;
use crate::store::{CodeRow, GrantRow, Lookup, NewRefresh, Spend};

/// The `typ` of RFC 9068 access tokens.
pub const AT_TYP: &str = "at+jwt";

/// What a token request asks for, read from its form once the client is
/// known and may use the grant type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    AuthorizationCode {
        code: String,
        redirect_uri: String,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        /// A narrower scope than the grant's, if asked, as read from the
        /// form: a repeated or oversized `scope` is refused only once the
        /// token was looked at, so presenting a used token is a reuse even
        /// in a malformed request.
        scope: Result<Option<String>, OAuthError>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
}

impl Grant {
    /// The grant of `grant_type` (one of [`super::config::GRANTS`]) from the form.
    pub fn parse(grant_type: &str, params: &Params) -> Result<Self, OAuthError> {
        let owned = |v: Option<&str>| v.map(str::to_string);
        Ok(match grant_type {
            "authorization_code" => Self::AuthorizationCode {
                code: params.require("code")?.to_string(),
                redirect_uri: params.require("redirect_uri")?.to_string(),
                code_verifier: owned(params.get("code_verifier")?),
            },
            "refresh_token" => Self::RefreshToken {
                refresh_token: params.require("refresh_token")?.to_string(),
                scope: params.get("scope").map(owned).map_err(OAuthError::from),
            },
            _ => Self::ClientCredentials {
                scope: owned(params.get("scope")?),
            },
        })
    }
}

/// The token endpoint: authenticates the client, checks it may use the
/// grant type, answers the grant and records the outcome.
pub async fn exchange(
    idp: &Idp,
    auth: &ClientAuth,
    params: &Params,
    ip: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params.require("grant_type")?.to_string();
    let client = authenticate(idp, auth, params, ip, now).await?;
    grant_type_allowed(&client, &grant_type)?;
    let result = match Grant::parse(&grant_type, params) {
        Ok(grant) => answer(idp, &client, grant, now).await,
        Err(e) => Err(e),
    };
    let (outcome, detail) = match &result {
        Ok(_) => (Outcome::Success, grant_type.clone()),
        Err(e) => (
            Outcome::Failure,
            format!("{grant_type}: {}", e.code.as_str()),
        ),
    };
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.token", outcome)
            .subject(&client.client_id)
            .ip(ip)
            .detail(detail),
    )
    .await;
    result
}

/// The client of a token request; a failed authentication is recorded.
async fn authenticate(
    idp: &Idp,
    auth: &ClientAuth,
    params: &Params,
    ip: Option<&str>,
    now: i64,
) -> Result<ClientConfig, OAuthError> {
    match idp.authenticate_client(auth, params).await {
        Ok(c) => Ok(c),
        Err(e) => {
            if e.code == ErrorCode::InvalidClient {
                let id = params.get("client_id").ok().flatten().unwrap_or("");
                audit::record(
                    &idp.store,
                    now,
                    Event::new("oidc.token", Outcome::Failure)
                        .subject(id)
                        .ip(ip)
                        .detail("client authentication failed"),
                )
                .await;
            }
            Err(e)
        }
    }
}

/// That `grant_type` is one we know and this client may use.
pub fn grant_type_allowed(client: &ClientConfig, grant_type: &str) -> Result<(), OAuthError> {
    if !super::config::GRANTS.contains(&grant_type) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "supported: authorization_code, refresh_token, client_credentials",
        ));
    }
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant_type} grant"),
        ));
    }
    Ok(())
}

/// The tokens for an authenticated client's grant. Nothing is recorded in
/// the audit log here but a replay or reuse; [`exchange`] records the outcome.
pub async fn answer(
    idp: &Idp,
    client: &ClientConfig,
    grant: Grant,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    match grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            code_grant(
                idp,
                client,
                &code,
                &redirect_uri,
                code_verifier.as_deref(),
                now,
            )
            .await
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => refresh_grant(idp, client, &refresh_token, scope, now).await,
        Grant::ClientCredentials { scope } => {
            client_credentials(idp, client, scope.as_deref(), now).await
        }
    }
}

/// S256 of the verifier, compared in constant time (RFC 7636 section 4.6).
fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    use sha2::{Digest, Sha256};
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid
        && crypto::ct_eq(
            crypto::b64url(&Sha256::digest(verifier)).as_bytes(),
            challenge.as_bytes(),
        )
}

async fn code_grant(
    idp: &Idp,
    client: &ClientConfig,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let code_hash = crypto::sha256_hex(code.as_bytes());
    // Looked at, not spent: a request that is not the owner's (another
    // client, another redirect URI, the wrong verifier) changes nothing, so
    // a leaked code cannot be used to destroy the owner's grant.
    let (row, used) = match idp.store.find_code(&code_hash).await? {
        Lookup::Unused(row) => (row, false),
        Lookup::Used(row) => (row, true),
        Lookup::Revoked => return Err(OAuthError::invalid_grant("the grant was revoked")),
        Lookup::Unknown => return Err(OAuthError::invalid_grant("unknown code")),
    };
    code_binding(&row, client, redirect_uri, verifier)?;
    if used {
        return Err(code_replayed(idp, client, &row.grant_id, now).await);
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    let grant = client_grant(idp, &row.grant_id, client).await?;
    live_grant(idp, &grant, now).await?;
    let issued = issue(idp, client, &grant, now, true).await?;
    // Spend and store the refresh token in one transaction.
    match idp
        .store
        .redeem_code(&code_hash, now, issued.refresh.as_ref())
        .await?
    {
        Spend::Fresh => Ok(issued.response),
        // A concurrent request with the same code won.
        Spend::Replayed { grant_id } => Err(code_replayed(idp, client, &grant_id, now).await),
        Spend::Revoked => Err(OAuthError::invalid_grant("the grant was revoked")),
        Spend::Unknown => Err(OAuthError::invalid_grant("unknown code")),
    }
}

/// That the code was issued to this client for this redirect URI, and that
/// the verifier matches its challenge. Nothing is changed when it fails.
fn code_binding(
    row: &CodeRow,
    client: &ClientConfig,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    if row.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&row.code_challenge, verifier) {
        (Some(ch), Some(v)) if pkce_ok(v, ch) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("PKCE verification failed")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        // A verifier without a challenge: something is wrong on the client side.
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "no code_challenge was sent for this code",
        )),
        (None, None) => Ok(()),
    }
}

/// RFC 6749 section 4.1.2: a code used twice (by its own client, with its
/// redirect URI and verifier) revokes the tokens issued from it; someone
/// else may hold them.
async fn code_replayed(idp: &Idp, client: &ClientConfig, grant_id: &str, now: i64) -> OAuthError {
    if let Err(e) = idp.store.revoke_grant(grant_id, now).await {
        return e.into();
    }
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.code.replayed", Outcome::Failure)
            .subject(&client.client_id)
            .detail("tokens issued from the code revoked"),
    )
    .await;
    OAuthError::invalid_grant("the code was already used")
}

async fn refresh_grant(
    idp: &Idp,
    client: &ClientConfig,
    token: &str,
    scope: Result<Option<String>, OAuthError>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let token_hash = crypto::sha256_hex(token.as_bytes());
    // Looked at, not spent: another client presenting the token changes
    // nothing, and in particular does not make the owner's next use a reuse.
    let (row, used) = match idp.store.find_refresh(&token_hash).await? {
        Lookup::Unused(row) => (row, false),
        Lookup::Used(row) => (row, true),
        Lookup::Revoked => return Err(OAuthError::invalid_grant("the grant was revoked")),
        Lookup::Unknown => return Err(OAuthError::invalid_grant("unknown refresh token")),
    };
    let mut grant = client_grant(idp, &row.grant_id, client).await?;
    let grace = idp.config.oidc.refresh_reuse_grace.as_secs() as i64;
    if used && grace == 0 {
        return Err(refresh_reused(idp, client, &grant, now).await);
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    live_grant(idp, &grant, now).await?;
    let scope = match (scope, used) {
        // A spent token in a malformed request is still a spent token.
        (Err(_), true) => return Err(refresh_reused(idp, client, &grant, now).await),
        (scope, _) => scope?,
    };
    if let Some(scope) = scope {
        // A refresh may narrow the scope, never widen it (RFC 6749 section 6).
        let granted: Vec<&str> = grant.scope.split(' ').collect();
        if !scope.split(' ').all(|s| granted.contains(&s)) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "scope exceeds the original grant",
            ));
        }
        grant.scope = scope.to_string();
    }
    let issued = issue(idp, client, &grant, now, false).await?;
    if used {
        return reissue(idp, client, &grant, &token_hash, now - grace, now, issued).await;
    }
    // Spend the old token and store its successor in one transaction: a
    // process killed in between leaves the old one usable, never a family
    // whose newest token already counts as used.
    match idp
        .store
        .rotate_refresh(&token_hash, now, issued.refresh.as_ref())
        .await?
    {
        Spend::Fresh => Ok(issued.response),
        // A concurrent request with the same token won.
        Spend::Replayed { .. } => Err(refresh_reused(idp, client, &grant, now).await),
        Spend::Revoked => Err(OAuthError::invalid_grant("the grant was revoked")),
        Spend::Unknown => Err(OAuthError::invalid_grant("unknown refresh token")),
    }
}

/// A spent refresh token came back from its own client within the grace.
/// If its successor was never used, the client most likely never got it
/// (the instance that rotated died before answering, or the connection
/// dropped): the successor is replaced, once, and the family lives on.
/// Otherwise the client or a thief holds a copy: a reuse.
async fn reissue(
    idp: &Idp,
    client: &ClientConfig,
    grant: &GrantRow,
    token_hash: &str,
    spent_after: i64,
    now: i64,
    issued: Issued,
) -> Result<TokenResponse, OAuthError> {
    let Some(new) = issued.refresh.as_ref() else {
        return Err(refresh_reused(idp, client, grant, now).await);
    };
    if !idp
        .store
        .reissue_refresh(token_hash, spent_after, now, new)
        .await?
    {
        return Err(refresh_reused(idp, client, grant, now).await);
    }
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.refresh_reissued", Outcome::Success)
            .user(&grant.user_id)
            .subject(&client.client_id)
            .detail("a rotated refresh token came back before its successor was used"),
    )
    .await;
    Ok(issued.response)
}

/// An old refresh token came back from its own client: either the client or
/// a thief holds a copy. Ending the whole family stops both.
async fn refresh_reused(
    idp: &Idp,
    client: &ClientConfig,
    grant: &GrantRow,
    now: i64,
) -> OAuthError {
    if let Err(e) = idp.store.revoke_grant(&grant.id, now).await {
        return e.into();
    }
    audit::record(
        &idp.store,
        now,
        Event::new("oidc.refresh.reused", Outcome::Failure)
            .user(&grant.user_id)
            .subject(&client.client_id)
            .detail("refresh token family revoked"),
    )
    .await;
    OAuthError::invalid_grant("the refresh token was already used")
}

/// The grant of a code or refresh token, if it belongs to the client.
async fn client_grant(
    idp: &Idp,
    grant_id: &str,
    client: &ClientConfig,
) -> Result<GrantRow, OAuthError> {
    idp.store
        .grant(grant_id)
        .await?
        .filter(|g| g.client_id == client.client_id)
        .ok_or_else(|| OAuthError::invalid_grant("the grant belongs to another client"))
}

/// Whether the grant has not expired and its user may still sign in.
/// Revocation is not looked at here: the spend checks it in the same
/// statement that marks the code or refresh token used, so a revocation
/// after the look-up still wins, and a revocation since the spend (a
/// concurrent reuse of the same secret revoking the family) cannot undo its
/// win. What is issued then is dead on arrival anyway: every use checks the
/// grant.
async fn live_grant(idp: &Idp, grant: &GrantRow, now: i64) -> Result<(), OAuthError> {
    if grant.expires_at <= now {
        return Err(OAuthError::invalid_grant("the grant has expired"));
    }
    match idp.store.user_by_id(&grant.user_id).await? {
        Some(u) if u.locked.is_none() => Ok(()),
        _ => Err(OAuthError::invalid_grant("the user can no longer sign in")),
    }
}

async fn client_credentials(
    idp: &Idp,
    client: &ClientConfig,
    scope: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let scope = match scope {
        Some(s) => {
            for part in s.split(' ') {
                // No user is involved: user-claim scopes make no sense here.
                if part == "openid"
                    || part == "offline_access"
                    || !client.scopes.iter().any(|c| c == part)
                {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("scope {part:?} is not available"),
                    ));
                }
            }
            s.to_string()
        }
        None => String::new(),
    };
    let ttl = client.access_token_lifetime.as_secs() as i64;
    let mut claims = json!({
        "iss": idp.issuer(),
        "sub": client.client_id,
        "aud": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": crypto::random_token(),
    });
    if !scope.is_empty() {
        claims["scope"] = Value::from(scope.clone());
    }
    let keys = idp.oidc_keys().await?;
    Ok(TokenResponse {
        access_token: keys.sign(client.alg(), AT_TYP, &claims)?,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: None,
        id_token: None,
        scope,
    })
}

/// The pairwise-free `sid` of a portal session: a MAC of the session's store
/// key, so the key itself never leaves the server.
pub fn sid_of(idp: &Idp, session_hash: &str) -> String {
    crypto::b64url(&idp.keys.mac("oidc-sid", session_hash.as_bytes())[..16])
}

fn has_scope(scope: &str, s: &str) -> bool {
    scope.split(' ').any(|x| x == s)
}

/// User claims released for `scope` (OIDC Core 5.4), shared by the ID token and userinfo.
pub async fn user_claims(idp: &Idp, user: &User, scope: &str) -> crate::error::Result<Value> {
    let mut c = json!({ "sub": user.id });
    if has_scope(scope, "profile") {
        c["name"] = Value::from(user.display_name());
        c["given_name"] = Value::from(user.first_name.clone());
        c["family_name"] = Value::from(user.last_name.clone());
        c["preferred_username"] = Value::from(user.username.clone());
    }
    if has_scope(scope, "email") {
        c["email"] = Value::from(user.email.clone());
        // Company addresses are set by administrators, not self-asserted.
        c["email_verified"] = Value::from(true);
    }
    if has_scope(scope, "phone")
        && let Some(phone) = phone_number(user)
    {
        c["phone_number"] = Value::from(phone);
        // Typed by the user into their profile; nobody checked it.
        c["phone_number_verified"] = Value::from(false);
    }
    if has_scope(scope, "address")
        && let Some(address) = address(user)
    {
        c["address"] = address;
    }
    if has_scope(scope, "groups") {
        c["groups"] = Value::from(idp.store.groups_of(&user.id).await?);
    }
    Ok(c)
}

/// The user's preferred telephone number (OIDC Core 5.1 `phone_number`):
/// the first profile phone filled in, work numbers first.
fn phone_number(user: &User) -> Option<String> {
    ["work_phone", "work_cell", "personal_cell", "home_phone"]
        .iter()
        .map(|f| user.profile.get(f).trim())
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

/// The user's postal address (OIDC Core 5.1.1): the work address when any
/// of its fields is filled in, else the home address; only fields that
/// have a value.
fn address(user: &User) -> Option<Value> {
    let filled = |prefix: &str| {
        ["street", "po_box", "city", "state", "zip", "country"]
            .iter()
            .any(|f| !user.profile.get(&format!("{prefix}_{f}")).trim().is_empty())
    };
    let prefix = ["work", "home"].into_iter().find(|p| filled(p))?;
    let field = |f: &str| {
        user.profile
            .get(&format!("{prefix}_{f}"))
            .trim()
            .to_string()
    };
    let mut a = serde_json::Map::new();
    let street: Vec<String> = [field("street"), field("po_box")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !street.is_empty() {
        a.insert("street_address".into(), Value::from(street.join("\n")));
    }
    for (claim, f) in [
        ("locality", "city"),
        ("region", "state"),
        ("postal_code", "zip"),
        ("country", "country"),
    ] {
        let v = field(f);
        if !v.is_empty() {
            a.insert(claim.into(), Value::from(v));
        }
    }
    Some(Value::Object(a))
}

/// The claims for `target`: those of `scope`, and those the grant's
/// `claims` request names that the client's allowed scopes cover.
pub async fn released_claims(
    idp: &Idp,
    client: &ClientConfig,
    user: &User,
    grant_id: Option<&str>,
    scope: &str,
    target: Target,
) -> crate::error::Result<Value> {
    let mut c = user_claims(idp, user, scope).await?;
    let Some(gid) = grant_id else {
        return Ok(c);
    };
    let request = ClaimsRequest::from_stored(idp.store.grant_claims(gid).await?.as_deref());
    if !request.names(target).is_empty() {
        let held = user_claims(idp, user, &client.scopes.join(" ")).await?;
        request.release(target, &held, &mut c);
    }
    Ok(c)
}

/// Tokens made for a user grant, not yet valid: the refresh token (if any)
/// is stored by the spend that they are issued for.
struct Issued {
    response: TokenResponse,
    refresh: Option<NewRefresh>,
}

/// Access token, ID token and (when the client may refresh) a new refresh
/// token for a user grant. Writes nothing.
async fn issue(
    idp: &Idp,
    client: &ClientConfig,
    grant: &GrantRow,
    now: i64,
    with_nonce: bool,
) -> Result<Issued, OAuthError> {
    let user = idp
        .store
        .user_by_id(&grant.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let keys = idp.oidc_keys().await?;
    let iss = idp.issuer();
    let amr: Vec<&str> = grant.amr.split(' ').filter(|s| !s.is_empty()).collect();
    let sid = grant.session_hash.as_deref().map(|h| sid_of(idp, h));
    let ttl = client.access_token_lifetime.as_secs() as i64;
    let mut at = json!({
        "iss": iss,
        "sub": user.id,
        "aud": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": crypto::random_token(),
        "scope": grant.scope,
        "auth_time": grant.auth_time,
        "amr": amr,
        // Lets userinfo and introspection see a revoked family at once.
        "gid": grant.id,
    });
    if let Some(acr) = &grant.acr {
        at["acr"] = Value::from(acr.clone());
    }
    let access_token = keys.sign(client.alg(), AT_TYP, &at)?;

    let id_token = if has_scope(&grant.scope, "openid") {
        let mut c = released_claims(
            idp,
            client,
            &user,
            Some(&grant.id),
            &grant.scope,
            Target::IdToken,
        )
        .await?;
        let id_ttl = client.id_token_lifetime.as_secs() as i64;
        c["iss"] = Value::from(iss.clone());
        c["aud"] = Value::from(client.client_id.clone());
        c["azp"] = Value::from(client.client_id.clone());
        c["iat"] = Value::from(now);
        c["exp"] = Value::from(now + id_ttl);
        c["auth_time"] = Value::from(grant.auth_time);
        c["amr"] = json!(amr);
        if let Some(acr) = &grant.acr {
            c["acr"] = Value::from(acr.clone());
        }
        if let Some(sid) = &sid {
            c["sid"] = Value::from(sid.clone());
        }
        // The nonce belongs to the authentication; OIDC Core 12.2 lets a
        // refreshed ID token carry it or not. We only put it in the first.
        if with_nonce && let Some(n) = &grant.nonce {
            c["nonce"] = Value::from(n.clone());
        }
        Some(keys.sign(client.alg(), "JWT", &c)?)
    } else {
        None
    };

    let (refresh_token, refresh) = if client.allows_grant("refresh_token") {
        let rt = crypto::random_token();
        let new = NewRefresh {
            token_hash: crypto::sha256_hex(rt.as_bytes()),
            expires_at: (now + client.refresh_token_lifetime.as_secs() as i64)
                .min(grant.expires_at),
        };
        (Some(rt), Some(new))
    } else {
        (None, None)
    };
    Ok(Issued {
        response: TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token,
            id_token,
            scope: grant.scope.clone(),
        },
        refresh,
    })
}

/// A verified, live access token's claims, or why not. Used by userinfo and introspection.
pub async fn check_access_token(
    idp: &Idp,
    token: &str,
    now: i64,
) -> crate::error::Result<Option<Value>> {
    let Some((typ, claims)) = idp.verify_jwt(token).await? else {
        return Ok(None);
    };
    let iss = idp.issuer();
    if typ != AT_TYP
        || claims.get("iss").and_then(Value::as_str) != Some(iss.as_str())
        || claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|e| e <= now)
    {
        return Ok(None);
    }
    // A removed client's tokens die with it (client_credentials tokens name no grant).
    match claims.get("client_id").and_then(Value::as_str) {
        Some(cid) if idp.oidc_client(cid).await?.is_some() => {}
        _ => return Ok(None),
    }
    if let Some(jti) = claims.get("jti").and_then(Value::as_str)
        && idp.store.jti_revoked(jti).await?
    {
        return Ok(None);
    }
    if let Some(gid) = claims.get("gid").and_then(Value::as_str) {
        match idp.store.grant(gid).await? {
            Some(g) if g.revoked_at.is_none() => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(claims))
}
