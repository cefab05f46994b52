//! The OpenID Connect engines called directly, without the router: each
//! outcome and each refusal of authorize, token, userinfo, introspection,
//! revocation and end-session, on a real store. Every test looks at what a
//! relying party or user would see (the outcome, the error code) and at
//! what the refusal left behind (whether a code or token still works).

mod support;

use base64::Engine;
use idp::directory::LockReason;
use idp::oidc::authorize::{Authorization, authorize};
use idp::oidc::clients::ClientAuth;
use idp::oidc::logout::{self, EndSession, LogoutRefusal, Pending, end_session};
use idp::oidc::wire::{ErrorCode, OAuthError, Params, TokenResponse};
use idp::oidc::{introspect, revoke, token, userinfo};
use idp::session::Presented;
use serde_json::{Value, json};
use sha2::Digest;
use support::{DEMO_EMAIL, Kit, kit_with};

const WIKI_SECRET: &str = "wiki-secret-5f1c0d9e7a3b2c4d6e8f0a1b2c3d4e5f";
const MACHINE_SECRET: &str = "machine-secret-0a9b8c7d6e5f4a3b2c1d0e9f8a7b";
const WIKI_CB: &str = "https://wiki.example.com/callback";
const WIKI_BYE: &str = "https://wiki.example.com/bye";
const SPA_CB: &str = "http://localhost:3000/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const HOUR: i64 = 3600;

fn sha(s: &str) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(s.as_bytes())))
}

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

fn now() -> i64 {
    idp::clock::now()
}

async fn engine_kit() -> Kit {
    engine_kit_with(|_| {}).await
}

async fn engine_kit_with(adjust: impl FnOnce(&mut idp::IdpConfig)) -> Kit {
    let client = |v: Value| -> idp::oidc::ClientConfig { serde_json::from_value(v).unwrap() };
    let k = kit_with(|c| {
        c.oidc.clients = vec![
            client(json!({
                "client_id": "wiki",
                "client_secret_hash": sha(WIKI_SECRET),
                "redirect_uris": [WIKI_CB],
                "post_logout_redirect_uris": [WIKI_BYE],
                "application": "Team Wiki",
            })),
            client(json!({
                "client_id": "spa",
                "redirect_uris": [SPA_CB],
                "application": "Team Wiki",
            })),
            client(json!({
                "client_id": "machine",
                "client_secret_hash": sha(MACHINE_SECRET),
                "grant_types": ["client_credentials"],
                "scopes": ["profile"],
            })),
            // Same secret and redirect URI as wiki: only the client id differs.
            client(json!({
                "client_id": "payroll",
                "client_secret_hash": sha(WIKI_SECRET),
                "redirect_uris": [WIKI_CB],
                "application": "Payroll",
            })),
            client(json!({
                "client_id": "secure",
                "client_secret_hash": sha(WIKI_SECRET),
                "redirect_uris": [WIKI_CB],
                "application": "Team Wiki",
                "require_mfa": true,
            })),
        ];
        adjust(c);
    })
    .await;
    // An application nobody is assigned to.
    k.unassigned_application("Payroll").await;
    // The sessions below begin in the past: the password predates them.
    let user = k.demo_user().await;
    k.idp
        .store
        .set_password_changed_at(&user.id, now() - 20 * HOUR)
        .await
        .unwrap();
    k
}

/// A portal session of the demo user, signed in with a password an hour
/// ago (and a second factor at `mfa_at`); returns the cookie's value.
async fn session(k: &Kit, mfa_at: Option<i64>) -> String {
    let user = k.demo_user().await;
    let amr = match mfa_at {
        Some(_) => vec!["pwd".to_string(), "otp".to_string()],
        None => vec!["pwd".to_string()],
    };
    let t = now();
    k.idp
        .sessions
        .create_with(&user.id, amr, None, t - HOUR, mfa_at, t)
        .await
        .unwrap()
        .0
}

/// An authorization request of `client_id` to `redirect`, with `extra`
/// parameters after the usual ones (a later `scope` etc. would be a repeat:
/// use `without` to leave one out).
fn request(client_id: &str, redirect: &str, without: &[&str], extra: &[(&str, &str)]) -> Params {
    let ch = challenge(VERIFIER);
    let base = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid profile email groups"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    Params::from_pairs(
        base.iter()
            .filter(|(k, _)| !without.contains(k))
            .chain(extra.iter())
            .map(|&(k, v)| (k.to_string(), v.to_string())),
    )
}

async fn run(k: &Kit, params: &Params, session: Option<&str>) -> Authorization {
    authorize(&k.idp, params, session, Some("192.0.2.7"), now())
        .await
        .unwrap()
}

/// The OAuth error sent back to the client; panics on any other outcome.
fn client_error(a: Authorization) -> OAuthError {
    match a {
        Authorization::Error { to, error } => {
            assert_eq!(to.state.as_deref(), Some("st-123"), "state is echoed");
            assert!(!to.iss.is_empty(), "iss is sent (RFC 9207)");
            error
        }
        other => panic!("expected an error for the client, got {other:?}"),
    }
}

/// A code for `client_id`, from a signed-in session.
async fn code(k: &Kit, client_id: &str, session_token: &str) -> String {
    match run(
        k,
        &request(client_id, WIKI_CB, &[], &[]),
        Some(session_token),
    )
    .await
    {
        Authorization::Code { code, .. } => code,
        other => panic!("expected a code, got {other:?}"),
    }
}

fn form(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|&(k, v)| (k, v)))
}

fn wiki() -> ClientAuth {
    ClientAuth::basic("wiki", WIKI_SECRET)
}

async fn exchange_at(
    k: &Kit,
    auth: &ClientAuth,
    pairs: &[(&str, &str)],
    at: i64,
) -> Result<TokenResponse, OAuthError> {
    token::exchange(&k.idp, auth, &form(pairs), Some("192.0.2.7"), at).await
}

async fn exchange(
    k: &Kit,
    auth: &ClientAuth,
    pairs: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    exchange_at(k, auth, pairs, now()).await
}

async fn redeem(k: &Kit, auth: &ClientAuth, code: &str) -> Result<TokenResponse, OAuthError> {
    exchange(
        k,
        auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WIKI_CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(k: &Kit, auth: &ClientAuth, rt: &str) -> Result<TokenResponse, OAuthError> {
    exchange(
        k,
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

/// Signed in, a code redeemed by wiki: its tokens.
async fn wiki_tokens(k: &Kit) -> TokenResponse {
    let s = session(k, None).await;
    let c = code(k, "wiki", &s).await;
    redeem(k, &wiki(), &c).await.unwrap()
}

fn code_of<T: std::fmt::Debug>(r: Result<T, OAuthError>) -> ErrorCode {
    r.expect_err("refused").code
}

async fn introspect_as(k: &Kit, auth: &ClientAuth, token_value: &str) -> Value {
    introspect::introspect(&k.idp, auth, &form(&[("token", token_value)]), now())
        .await
        .unwrap()
}

async fn audited(k: &Kit, event: &str, outcome: &str) -> bool {
    k.audit_events()
        .await
        .iter()
        .any(|(e, o)| e == event && o == outcome)
}

// ---------------------------------------------------------------- authorize

/// A request's parameters left out, those added, and the error the client hears.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], ErrorCode);
/// How the client authenticates, what else its form has, and the error.
type AuthCase<'a> = (ClientAuth, Vec<(&'a str, &'a str)>, ErrorCode);

#[tokio::test]
async fn authorize_gives_a_signed_in_user_a_code_for_the_client() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let Authorization::Code { to, code } =
        run(&k, &request("wiki", WIKI_CB, &[], &[]), Some(&s)).await
    else {
        panic!("no code");
    };
    assert_eq!(to.redirect_uri, WIKI_CB);
    assert_eq!(to.state.as_deref(), Some("st-123"));
    assert_eq!(to.iss, k.idp.issuer());
    assert_eq!(
        to.params(&[("code", &code)]),
        vec![
            ("code", code.as_str()),
            ("state", "st-123"),
            ("iss", to.iss.as_str())
        ]
    );
    assert!(audited(&k, "oidc.authorize", "success").await);
    // The code is good for exactly this client.
    let t = redeem(&k, &wiki(), &code).await.unwrap();
    assert!(t.id_token.is_some() && t.refresh_token.is_some());
    assert_eq!(t.scope, "openid profile email groups");
}

#[tokio::test]
async fn authorize_shows_the_user_an_unknown_client_and_tells_no_one() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let a = run(&k, &request("nobody", WIKI_CB, &[], &[]), Some(&s)).await;
    assert!(
        matches!(a, Authorization::Invalid(w) if w.contains("not registered")),
        "{a:?}"
    );
    let a = run(&k, &request("wiki", WIKI_CB, &["client_id"], &[]), Some(&s)).await;
    assert!(
        matches!(a, Authorization::Invalid(w) if w.contains("client_id")),
        "{a:?}"
    );
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &["redirect_uri"], &[]),
        Some(&s),
    )
    .await;
    assert!(
        matches!(a, Authorization::Invalid(w) if w.contains("redirect_uri")),
        "{a:?}"
    );
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("client_id", "wiki")]),
        Some(&s),
    )
    .await;
    assert!(
        matches!(a, Authorization::Invalid(w) if w.contains("repeated")),
        "{a:?}"
    );
}

#[tokio::test]
async fn authorize_never_redirects_to_an_unregistered_uri() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    // A prefix of, or a path below, the registered URI is not it.
    for uri in [
        "https://wiki.example.com/callback/evil",
        "https://wiki.example.com/callbac",
        "https://evil.example.com/callback",
    ] {
        let a = run(&k, &request("wiki", uri, &[], &[]), Some(&s)).await;
        assert!(
            matches!(a, Authorization::Invalid(w) if w.contains("redirect address")),
            "{uri}: {a:?}"
        );
    }
    assert!(audited(&k, "oidc.authorize", "failure").await);
}

#[tokio::test]
async fn authorize_sends_request_errors_back_to_the_client() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let cases: &[Case] = &[
        (
            &["response_type"],
            &[("response_type", "token")],
            ErrorCode::UnsupportedResponseType,
        ),
        (&["response_type"], &[], ErrorCode::InvalidRequest),
        (
            &[],
            &[("response_mode", "fragment")],
            ErrorCode::InvalidRequest,
        ),
        (
            &[],
            &[("request", "eyJ...")],
            ErrorCode::RequestNotSupported,
        ),
        (
            &[],
            &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            ErrorCode::RequestUriNotSupported,
        ),
        (
            &["scope"],
            &[("scope", "admin superuser")],
            ErrorCode::InvalidScope,
        ),
        (&[], &[("claims", "not json")], ErrorCode::InvalidRequest),
        (
            &[],
            &[("claims", r#"{"id_token": ["email"]}"#)],
            ErrorCode::InvalidRequest,
        ),
        (&["scope"], &[], ErrorCode::InvalidRequest),
        (&[], &[("prompt", "sometimes")], ErrorCode::InvalidRequest),
        (&[], &[("prompt", "none login")], ErrorCode::InvalidRequest),
        (&[], &[("max_age", "-1")], ErrorCode::InvalidRequest),
        (&[], &[("nonce", "twice")], ErrorCode::InvalidRequest),
    ];
    for (without, extra, want) in cases {
        let a = run(&k, &request("wiki", WIKI_CB, without, extra), Some(&s)).await;
        assert_eq!(
            client_error(a).code,
            *want,
            "without {without:?}, with {extra:?}"
        );
    }
}

#[tokio::test]
async fn authorize_requires_s256_pkce_from_a_public_client() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let no_pkce = request(
        "spa",
        SPA_CB,
        &["code_challenge", "code_challenge_method"],
        &[],
    );
    assert_eq!(
        client_error(run(&k, &no_pkce, Some(&s)).await).code,
        ErrorCode::InvalidRequest
    );
    let plain = request(
        "spa",
        SPA_CB,
        &["code_challenge_method"],
        &[("code_challenge_method", "plain")],
    );
    let e = client_error(run(&k, &plain, Some(&s)).await);
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.description.contains("S256"));
    let short = request(
        "spa",
        SPA_CB,
        &["code_challenge"],
        &[("code_challenge", "abc")],
    );
    assert_eq!(
        client_error(run(&k, &short, Some(&s)).await).code,
        ErrorCode::InvalidRequest
    );
    // A confidential client may go without.
    let a = run(
        &k,
        &request(
            "wiki",
            WIKI_CB,
            &["code_challenge", "code_challenge_method"],
            &[],
        ),
        Some(&s),
    )
    .await;
    assert!(matches!(a, Authorization::Code { .. }), "{a:?}");
}

#[tokio::test]
async fn authorize_without_a_session_asks_for_sign_in_or_tells_a_silent_client() {
    let k = engine_kit().await;
    let a = run(
        &k,
        &request(
            "wiki",
            WIKI_CB,
            &[],
            &[("prompt", "consent"), ("login_hint", "demo@example.com")],
        ),
        None,
    )
    .await;
    let Authorization::Login {
        resume,
        login_hint,
        force,
    } = a
    else {
        panic!("{a:?}");
    };
    assert!(!force);
    assert_eq!(login_hint.as_deref(), Some("demo@example.com"));
    assert!(resume.starts_with(idp::paths::OIDC_AUTHORIZE), "{resume}");
    assert!(
        resume.contains("client_id=wiki") && !resume.contains("prompt="),
        "{resume}"
    );
    // An unknown cookie value is no session either.
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[]),
        Some("not-a-session"),
    )
    .await;
    assert!(
        matches!(a, Authorization::Login { force: false, .. }),
        "{a:?}"
    );
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("prompt", "none")]),
        None,
    )
    .await;
    assert_eq!(client_error(a).code, ErrorCode::LoginRequired);
}

#[tokio::test]
async fn authorize_asks_for_a_fresh_sign_in_past_max_age_or_on_prompt_login() {
    let k = engine_kit().await;
    let s = session(&k, None).await; // signed in an hour ago
    for extra in [
        &[("max_age", "60")][..],
        &[("max_age", "0")],
        &[("prompt", "login")],
    ] {
        let a = run(&k, &request("wiki", WIKI_CB, &[], extra), Some(&s)).await;
        let Authorization::Login {
            resume,
            login_hint,
            force,
        } = a
        else {
            panic!("{extra:?}: {a:?}");
        };
        assert!(force);
        assert_eq!(login_hint.as_deref(), Some(support::DEMO_EMAIL));
        // The way back carries a max_age the fresh sign-in meets, no prompt.
        assert!(
            resume.contains("max_age=600") && !resume.contains("prompt="),
            "{resume}"
        );
    }
    // Young enough: a code.
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("max_age", "7200")]),
        Some(&s),
    )
    .await;
    assert!(matches!(a, Authorization::Code { .. }), "{a:?}");
    let a = run(
        &k,
        &request(
            "wiki",
            WIKI_CB,
            &[],
            &[("max_age", "60"), ("prompt", "none")],
        ),
        Some(&s),
    )
    .await;
    assert_eq!(client_error(a).code, ErrorCode::LoginRequired);
}

/// Gives the demo user a second factor to verify (recovery codes).
async fn enroll_factor(k: &Kit) {
    let user = k.demo_user().await;
    k.idp
        .store
        .replace_recovery_codes(&user.id, &["hash-of-a-recovery-code".into()], now())
        .await
        .unwrap();
}

/// The `acr` of the ID token a code of `client_id` gives.
async fn acr_of_code(k: &Kit, client_id: &str, a: Authorization) -> Value {
    let Authorization::Code { code, .. } = a else {
        panic!("expected a code, got {a:?}");
    };
    let t = redeem(k, &ClientAuth::basic(client_id, WIKI_SECRET), &code)
        .await
        .unwrap();
    let (_, claims) = k
        .idp
        .verify_jwt(&t.id_token.unwrap())
        .await
        .unwrap()
        .unwrap();
    claims["acr"].clone()
}

const ESSENTIAL_MFA: &str = r#"{"id_token": {"acr": {"essential": true, "values": ["mfa"]}}}"#;

#[tokio::test]
async fn authorize_steps_up_when_the_client_or_request_wants_a_second_factor() {
    let k = engine_kit().await;
    enroll_factor(&k).await;
    let s = session(&k, None).await;
    let a = run(&k, &request("secure", WIKI_CB, &[], &[]), Some(&s)).await;
    assert!(
        matches!(&a, Authorization::StepUp { resume } if resume.contains("client_id=secure")),
        "{a:?}"
    );
    // An essential acr in the claims parameter makes it mandatory too.
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("claims", ESSENTIAL_MFA)]),
        Some(&s),
    )
    .await;
    assert!(matches!(a, Authorization::StepUp { .. }), "{a:?}");
    // acr_values=mfa asks it of a user who can.
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("acr_values", "mfa")]),
        Some(&s),
    )
    .await;
    assert!(matches!(a, Authorization::StepUp { .. }), "{a:?}");
    let a = run(
        &k,
        &request("secure", WIKI_CB, &[], &[("prompt", "none")]),
        Some(&s),
    )
    .await;
    assert_eq!(client_error(a).code, ErrorCode::InteractionRequired);
    // With a second factor verified in the session: a code, and acr=mfa.
    let strong = session(&k, Some(now() - 60)).await;
    let a = run(&k, &request("secure", WIKI_CB, &[], &[]), Some(&strong)).await;
    assert_eq!(acr_of_code(&k, "secure", a).await, "mfa");
}

#[tokio::test]
async fn authorize_treats_acr_values_as_a_preference() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    // A password-only user (no factor to verify): a code saying what happened.
    for acr_values in ["pwd mfa", "mfa", "mfa pwd"] {
        let a = run(
            &k,
            &request("wiki", WIKI_CB, &[], &[("acr_values", acr_values)]),
            Some(&s),
        )
        .await;
        assert_eq!(acr_of_code(&k, "wiki", a).await, "pwd", "{acr_values}");
    }
    // With a factor enrolled, "pwd" first is met by the password; no prompt
    // for a silent request either.
    enroll_factor(&k).await;
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("acr_values", "pwd mfa")]),
        Some(&s),
    )
    .await;
    assert_eq!(acr_of_code(&k, "wiki", a).await, "pwd");
    let a = run(
        &k,
        &request(
            "wiki",
            WIKI_CB,
            &[],
            &[("acr_values", "mfa"), ("prompt", "none")],
        ),
        Some(&s),
    )
    .await;
    assert_eq!(acr_of_code(&k, "wiki", a).await, "pwd");
}

#[tokio::test]
async fn authorize_tells_the_client_when_a_mandatory_second_factor_cannot_be_met() {
    let k = engine_kit().await;
    // No factor enrolled: no step-up page that leads nowhere, an error
    // for the client.
    let s = session(&k, None).await;
    for (client_id, extra) in [
        ("secure", vec![]),
        ("secure", vec![("prompt", "none")]),
        ("wiki", vec![("claims", ESSENTIAL_MFA)]),
    ] {
        let a = run(&k, &request(client_id, WIKI_CB, &[], &extra), Some(&s)).await;
        assert_eq!(
            client_error(a).code,
            ErrorCode::UnmetAuthenticationRequirements,
            "{client_id} {extra:?}"
        );
    }
    assert_eq!(
        ErrorCode::UnmetAuthenticationRequirements.as_str(),
        "unmet_authentication_requirements"
    );
    // An essential acr that a password meets is no requirement.
    let a = run(
        &k,
        &request(
            "wiki",
            WIKI_CB,
            &[],
            &[(
                "claims",
                r#"{"id_token": {"acr": {"essential": true, "values": ["pwd", "mfa"]}}}"#,
            )],
        ),
        Some(&s),
    )
    .await;
    assert_eq!(acr_of_code(&k, "wiki", a).await, "pwd");
}

#[tokio::test]
async fn authorize_refuses_a_state_it_cannot_echo() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let long = "s".repeat(idp::oidc::authorize::MAX_STATE_LEN + 1);
    for extra in [vec![("state", "again")], vec![("state", long.as_str())]] {
        let without: &[&str] = if extra.len() == 1 && extra[0].1 == "again" {
            &[]
        } else {
            &["state"]
        };
        let a = run(&k, &request("wiki", WIKI_CB, without, &extra), Some(&s)).await;
        let Authorization::Error { to, error } = a else {
            panic!("expected an error for the client, got {a:?}");
        };
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        assert_eq!(to.state, None, "no state can be echoed");
        assert_eq!(to.redirect_uri, WIKI_CB);
    }
    // Nothing was granted.
    assert!(!audited(&k, "oidc.authorize", "success").await);
}

#[tokio::test]
async fn authorize_ignores_scopes_it_does_not_know_or_the_client_may_not_have() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let a = run(
        &k,
        &request(
            "wiki",
            WIKI_CB,
            &["scope"],
            &[(
                "scope",
                "openid admin profile https://graph.example.com/all",
            )],
        ),
        Some(&s),
    )
    .await;
    let Authorization::Code { code, .. } = a else {
        panic!("expected a code, got {a:?}");
    };
    let t = redeem(&k, &wiki(), &code).await.unwrap();
    assert_eq!(t.scope, "openid profile");
}

/// The demo user's profile with a work phone and only a home address.
async fn fill_profile(k: &Kit) {
    let user = k.demo_user().await;
    let mut profile = user.profile.clone();
    profile
        .0
        .retain(|f, _| !f.starts_with("work_") && !f.starts_with("home_"));
    for (f, v) in [
        ("work_phone", "+1 555 0100"),
        ("home_street", "1 Main Street"),
        ("home_city", "Springfield"),
        ("home_state", "IL"),
        ("home_zip", "62701"),
        ("home_country", "US"),
    ] {
        profile.0.insert(f.into(), v.into());
    }
    k.idp
        .store
        .update_profile(
            &user.id,
            &user.first_name,
            &user.last_name,
            &user.username,
            &profile,
        )
        .await
        .unwrap();
}

async fn tokens_for(k: &Kit, s: &str, without: &[&str], extra: &[(&str, &str)]) -> (Value, Value) {
    let a = run(k, &request("wiki", WIKI_CB, without, extra), Some(s)).await;
    let Authorization::Code { code, .. } = a else {
        panic!("expected a code, got {a:?}");
    };
    let t = redeem(k, &wiki(), &code).await.unwrap();
    let (_, id) = k
        .idp
        .verify_jwt(t.id_token.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    let info = userinfo::userinfo(&k.idp, &t.access_token, now())
        .await
        .unwrap();
    (id, info)
}

#[tokio::test]
async fn phone_and_address_scopes_release_the_profiles_fields() {
    let k = engine_kit().await;
    fill_profile(&k).await;
    let s = session(&k, None).await;
    let (id, info) = tokens_for(&k, &s, &["scope"], &[("scope", "openid phone address")]).await;
    for c in [&id, &info] {
        assert_eq!(c["phone_number"], "+1 555 0100");
        assert_eq!(c["phone_number_verified"], false);
        assert_eq!(
            c["address"],
            json!({
                "street_address": "1 Main Street",
                "locality": "Springfield",
                "region": "IL",
                "postal_code": "62701",
                "country": "US",
            })
        );
        assert!(c.get("email").is_none(), "{c}");
    }
    // Without the scopes, neither.
    let (id, info) = tokens_for(&k, &s, &[], &[]).await;
    for c in [&id, &info] {
        assert!(c.get("phone_number").is_none() && c.get("address").is_none());
    }
    let m = idp::oidc::discovery::metadata("https://sso.example.com");
    for scope in ["phone", "address"] {
        assert!(
            m["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope)),
            "{scope}"
        );
    }
    for claim in ["phone_number", "phone_number_verified", "address"] {
        assert!(
            m["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim)),
            "{claim}"
        );
    }
}

#[tokio::test]
async fn the_claims_parameter_releases_the_claims_it_names_where_it_names_them() {
    let k = engine_kit().await;
    fill_profile(&k).await;
    let s = session(&k, None).await;
    let claims = r#"{"id_token": {"email": {"essential": true}, "unknown_claim": null},
                     "userinfo": {"phone_number": null, "groups": null}}"#;
    let (id, info) = tokens_for(
        &k,
        &s,
        &["scope"],
        &[("scope", "openid"), ("claims", claims)],
    )
    .await;
    assert_eq!(id["email"], DEMO_EMAIL);
    assert!(id.get("phone_number").is_none() && id.get("unknown_claim").is_none());
    assert_eq!(info["phone_number"], "+1 555 0100");
    assert!(info["groups"].is_array(), "{info}");
    assert!(info.get("email").is_none(), "{info}");
    assert_eq!(
        idp::oidc::discovery::metadata("https://sso.example.com")["claims_parameter_supported"],
        true
    );
}

#[tokio::test]
async fn authorize_denies_a_user_outside_the_clients_application() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let a = run(&k, &request("payroll", WIKI_CB, &[], &[]), Some(&s)).await;
    let e = client_error(a);
    assert_eq!(e.code, ErrorCode::AccessDenied);
    assert!(audited(&k, "oidc.authorize", "failure").await);
    // Nothing was granted.
    assert!(!audited(&k, "oidc.authorize", "success").await);
}

#[tokio::test]
async fn authorize_treats_a_locked_users_session_as_none() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let user = k.demo_user().await;
    k.idp
        .store
        .lock_user(&user.id, LockReason::Admin)
        .await
        .unwrap();
    let a = run(&k, &request("wiki", WIKI_CB, &[], &[]), Some(&s)).await;
    assert!(
        matches!(a, Authorization::Login { force: false, .. }),
        "{a:?}"
    );
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("prompt", "none")]),
        Some(&s),
    )
    .await;
    assert_eq!(client_error(a).code, ErrorCode::LoginRequired);
}

// -------------------------------------------------------------------- token

#[tokio::test]
async fn token_refuses_a_reused_code_and_revokes_what_it_gave() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let c = code(&k, "wiki", &s).await;
    let first = redeem(&k, &wiki(), &c).await.unwrap();
    let again = redeem(&k, &wiki(), &c).await;
    assert_eq!(code_of(again), ErrorCode::InvalidGrant);
    assert!(audited(&k, "oidc.code.replayed", "failure").await);
    // The tokens issued from the code are dead.
    let rt = first.refresh_token.unwrap();
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, &first.access_token, now()).await),
        ErrorCode::InvalidToken
    );
}

#[tokio::test]
async fn token_refuses_an_expired_code() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let c = code(&k, "wiki", &s).await;
    let later = now() + k.idp.config.oidc.code_lifetime.as_secs() as i64 + 1;
    let r = exchange_at(
        &k,
        &wiki(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", WIKI_CB),
            ("code_verifier", VERIFIER),
        ],
        later,
    )
    .await;
    let e = r.expect_err("expired");
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.contains("expired"));
}

#[tokio::test]
async fn token_refuses_a_code_presented_wrongly_without_spending_it() {
    let k = engine_kit().await;
    let s = session(&k, None).await;
    let c = code(&k, "wiki", &s).await;
    let grant = |code: &str, uri: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", uri.to_string()),
            ("code_verifier", verifier.to_string()),
        ]
    };
    let wrong: Vec<(ClientAuth, Vec<(&str, String)>)> = vec![
        // Another client, with the same redirect URI and secret.
        (
            ClientAuth::basic("payroll", WIKI_SECRET),
            grant(&c, WIKI_CB, VERIFIER),
        ),
        // Another redirect URI.
        (
            wiki(),
            grant(&c, "https://wiki.example.com/other", VERIFIER),
        ),
        // The wrong verifier.
        (wiki(), grant(&c, WIKI_CB, &"x".repeat(43))),
    ];
    for (auth, pairs) in &wrong {
        let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            code_of(exchange(&k, auth, &p).await),
            ErrorCode::InvalidGrant,
            "{p:?}"
        );
    }
    // No verifier at all, for a code with a challenge.
    let r = exchange(
        &k,
        &wiki(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", WIKI_CB),
        ],
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::InvalidGrant);
    assert!(!audited(&k, "oidc.code.replayed", "failure").await);
    // The owner still gets its tokens.
    redeem(&k, &wiki(), &c).await.unwrap();
}

#[tokio::test]
async fn token_rotates_refresh_tokens_and_a_reuse_ends_the_family() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let rt1 = t.refresh_token.unwrap();
    let t2 = refresh(&k, &wiki(), &rt1).await.unwrap();
    let rt2 = t2.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt2);
    assert!(
        userinfo::userinfo(&k.idp, &t2.access_token, now())
            .await
            .is_ok()
    );
    // The client got rt2 and used it; then rt1 comes back: someone holds a
    // copy. The whole family ends, the newest too.
    let t3 = refresh(&k, &wiki(), &rt2).await.unwrap();
    let rt3 = t3.refresh_token.clone().unwrap();
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt1).await),
        ErrorCode::InvalidGrant
    );
    assert!(audited(&k, "oidc.refresh.reused", "failure").await);
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt3).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, &t3.access_token, now()).await),
        ErrorCode::InvalidToken
    );
}

#[tokio::test]
async fn token_answers_a_lost_rotation_once_and_then_ends_the_family() {
    let k = engine_kit().await;
    let rt1 = wiki_tokens(&k).await.refresh_token.unwrap();
    // The rotation's answer never reached the client (the instance died):
    // rt2 exists but was never used.
    let rt2 = refresh(&k, &wiki(), &rt1)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    // The client retries with rt1 within the grace: a new successor, once.
    let again = refresh(&k, &wiki(), &rt1).await.unwrap();
    let rt2b = again.refresh_token.clone().unwrap();
    assert_ne!(rt2b, rt2);
    assert!(audited(&k, "oidc.refresh_reissued", "success").await);
    assert!(!audited(&k, "oidc.refresh.reused", "failure").await);
    // The successor nobody received is gone; the new one works.
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt2).await),
        ErrorCode::InvalidGrant
    );
    let rt3 = refresh(&k, &wiki(), &rt2b)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    // rt1 a third time: the grace is spent; a reuse ends the family.
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt1).await),
        ErrorCode::InvalidGrant
    );
    assert!(audited(&k, "oidc.refresh.reused", "failure").await);
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt3).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn token_without_a_grace_ends_the_family_on_any_second_use() {
    let k = engine_kit_with(|c| c.oidc.refresh_reuse_grace = std::time::Duration::ZERO).await;
    let rt1 = wiki_tokens(&k).await.refresh_token.unwrap();
    let rt2 = refresh(&k, &wiki(), &rt1)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt1).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt2).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn token_refuses_a_refresh_token_from_another_client_without_spending_it() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let rt = t.refresh_token.unwrap();
    let other = refresh(&k, &ClientAuth::basic("payroll", WIKI_SECRET), &rt).await;
    assert_eq!(code_of(other), ErrorCode::InvalidGrant);
    // The owner's next use is a normal rotation, not a reuse.
    refresh(&k, &wiki(), &rt).await.unwrap();
    assert!(!audited(&k, "oidc.refresh.reused", "failure").await);
}

#[tokio::test]
async fn token_lets_a_refresh_narrow_the_scope_but_not_widen_it() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let rt = t.refresh_token.unwrap();
    let wide = exchange(
        &k,
        &wiki(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    assert_eq!(code_of(wide), ErrorCode::InvalidScope);
    let narrow = exchange(
        &k,
        &wiki(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid email"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(narrow.scope, "openid email");
}

#[tokio::test]
async fn token_refuses_a_locked_users_grant() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let user = k.demo_user().await;
    k.idp
        .store
        .lock_user(&user.id, LockReason::Admin)
        .await
        .unwrap();
    let e = refresh(&k, &wiki(), t.refresh_token.as_deref().unwrap())
        .await
        .expect_err("locked");
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, &t.access_token, now()).await),
        ErrorCode::InvalidToken
    );
}

#[tokio::test]
async fn token_client_credentials_for_a_confidential_client_only() {
    let k = engine_kit().await;
    let machine = ClientAuth::basic("machine", MACHINE_SECRET);
    let t = exchange(
        &k,
        &machine,
        &[("grant_type", "client_credentials"), ("scope", "profile")],
    )
    .await
    .unwrap();
    assert!(t.refresh_token.is_none() && t.id_token.is_none());
    let c = introspect_as(&k, &machine, &t.access_token).await;
    assert_eq!(c["active"], true);
    assert_eq!(c["sub"], "machine");
    // No user, so no user scopes.
    let r = exchange(
        &k,
        &machine,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::InvalidScope);
    // A public client may not.
    let spa = exchange(
        &k,
        &ClientAuth::none(),
        &[("grant_type", "client_credentials"), ("client_id", "spa")],
    )
    .await;
    assert_eq!(code_of(spa), ErrorCode::UnauthorizedClient);
    // Nor may a client for a grant it is not registered for.
    let r = exchange(
        &k,
        &machine,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::UnauthorizedClient);
    let r = exchange(&k, &machine, &[("grant_type", "password")]).await;
    assert_eq!(code_of(r), ErrorCode::UnsupportedGrantType);
}

#[tokio::test]
async fn token_refuses_a_client_that_does_not_authenticate() {
    let k = engine_kit().await;
    let cases: Vec<AuthCase> = vec![
        (
            ClientAuth::basic("wiki", "wrong"),
            vec![],
            ErrorCode::InvalidClient,
        ),
        (
            ClientAuth::basic("nobody", WIKI_SECRET),
            vec![],
            ErrorCode::InvalidClient,
        ),
        (ClientAuth::none(), vec![], ErrorCode::InvalidClient),
        // A confidential client without its secret.
        (
            ClientAuth::none(),
            vec![("client_id", "wiki")],
            ErrorCode::InvalidClient,
        ),
        (
            ClientAuth::none(),
            vec![("client_id", "wiki"), ("client_secret", "wrong")],
            ErrorCode::InvalidClient,
        ),
        // Two methods at once.
        (
            wiki(),
            vec![("client_secret", WIKI_SECRET)],
            ErrorCode::InvalidRequest,
        ),
        (
            ClientAuth {
                authorization: vec!["Basic !!".into()],
            },
            vec![],
            ErrorCode::InvalidClient,
        ),
    ];
    for (auth, extra, want) in cases {
        let mut pairs = vec![("grant_type", "client_credentials")];
        pairs.extend(extra.iter().copied());
        let e = exchange(&k, &auth, &pairs).await.expect_err("refused");
        assert_eq!(e.code, want, "{auth:?} {pairs:?}");
        if want == ErrorCode::InvalidClient {
            assert_eq!(e.status(), 401);
            assert_eq!(e.www_authenticate(), Some("Basic realm=\"portcullis\""));
        }
    }
    assert!(audited(&k, "oidc.token", "failure").await);
    // The right secret, posted in the form, works.
    exchange(
        &k,
        &ClientAuth::none(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "machine"),
            ("client_secret", MACHINE_SECRET),
        ],
    )
    .await
    .unwrap();
}

// ------------------------------------------------- userinfo and introspection

#[tokio::test]
async fn userinfo_releases_the_scopes_claims_to_a_live_token_only() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let c = userinfo::userinfo(&k.idp, &t.access_token, now())
        .await
        .unwrap();
    assert_eq!(c["email"], support::DEMO_EMAIL);
    assert!(c.get("groups").is_some());
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, "garbage", now()).await),
        ErrorCode::InvalidToken
    );
    // Past its expiry.
    let later = now() + 2 * 24 * HOUR;
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, &t.access_token, later).await),
        ErrorCode::InvalidToken
    );
    // A token without openid gets nothing.
    let narrow = exchange(
        &k,
        &wiki(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh_token.as_deref().unwrap()),
            ("scope", "email"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, &narrow.access_token, now()).await),
        ErrorCode::InvalidToken
    );
}

#[tokio::test]
async fn introspection_tells_a_client_only_about_its_own_live_tokens() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let at = introspect_as(&k, &wiki(), &t.access_token).await;
    assert_eq!(at["active"], true);
    assert_eq!(at["client_id"], "wiki");
    let rt = introspect_as(&k, &wiki(), t.refresh_token.as_deref().unwrap()).await;
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    // Another client learns nothing.
    let payroll = ClientAuth::basic("payroll", WIKI_SECRET);
    assert_eq!(
        introspect_as(&k, &payroll, &t.access_token).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect_as(&k, &payroll, t.refresh_token.as_deref().unwrap()).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect_as(&k, &wiki(), "unknown").await,
        json!({"active": false})
    );
    // A public client may not introspect.
    let r = introspect::introspect(
        &k.idp,
        &ClientAuth::none(),
        &form(&[("client_id", "spa"), ("token", &t.access_token)]),
        now(),
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::InvalidClient);
}

// --------------------------------------------------------------- revocation

#[tokio::test]
async fn revoking_a_refresh_token_ends_the_family_and_introspection_sees_it() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let rt = t.refresh_token.clone().unwrap();
    // Another client's attempt is answered alike and changes nothing.
    let payroll = ClientAuth::basic("payroll", WIKI_SECRET);
    revoke::revoke(&k.idp, &payroll, &form(&[("token", &rt)]), now())
        .await
        .unwrap();
    assert_eq!(introspect_as(&k, &wiki(), &rt).await["active"], true);
    revoke::revoke(&k.idp, &wiki(), &form(&[("token", &rt)]), now())
        .await
        .unwrap();
    assert!(audited(&k, "oidc.revoke", "success").await);
    assert_eq!(
        introspect_as(&k, &wiki(), &rt).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect_as(&k, &wiki(), &t.access_token).await,
        json!({"active": false})
    );
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn revoking_an_access_token_ends_it_alone() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    revoke::revoke(&k.idp, &wiki(), &form(&[("token", &t.access_token)]), now())
        .await
        .unwrap();
    assert_eq!(
        introspect_as(&k, &wiki(), &t.access_token).await,
        json!({"active": false})
    );
    assert_eq!(
        code_of(userinfo::userinfo(&k.idp, &t.access_token, now()).await),
        ErrorCode::InvalidToken
    );
    // The refresh token still works.
    refresh(&k, &wiki(), t.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    // An unknown token is no error; a missing one is.
    revoke::revoke(&k.idp, &wiki(), &form(&[("token", "unknown")]), now())
        .await
        .unwrap();
    let r = revoke::revoke(&k.idp, &wiki(), &form(&[]), now()).await;
    assert_eq!(code_of(r), ErrorCode::InvalidRequest);
}

// -------------------------------------------------------------- end session

async fn signed_in_with_id_token(k: &Kit) -> (String, TokenResponse) {
    let s = session(k, None).await;
    let c = code(k, "wiki", &s).await;
    (s.clone(), redeem(k, &wiki(), &c).await.unwrap())
}

async fn session_alive(k: &Kit, token_value: &str) -> bool {
    k.idp
        .resume(Presented::Token(token_value), now())
        .await
        .unwrap()
        .is_ok()
}

#[tokio::test]
async fn end_session_with_a_hint_signs_out_and_returns_to_the_client() {
    let k = engine_kit().await;
    let (s, t) = signed_in_with_id_token(&k).await;
    let id_token = t.id_token.unwrap();
    let params = form(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", WIKI_BYE),
        ("state", "bye-1"),
    ]);
    let out = end_session(&k.idp, &params, Some(&s), now()).await.unwrap();
    assert_eq!(
        out,
        EndSession::Done {
            signed_out: true,
            redirect: Some(format!("{WIKI_BYE}?state=bye-1")),
        }
    );
    assert!(!session_alive(&k, &s).await);
    // The grants made through the session end with it.
    assert_eq!(
        code_of(refresh(&k, &wiki(), t.refresh_token.as_deref().unwrap()).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn end_session_refuses_an_unknown_hint_and_ends_nothing() {
    let k = engine_kit().await;
    let (s, t) = signed_in_with_id_token(&k).await;
    // Our own ID token for another user: a good hint, but not this
    // session's user, so nothing is ended.
    let other_user = k
        .idp
        .oidc_keys()
        .await
        .unwrap()
        .sign(
            idp::oidc::keys::Alg::RS256,
            "JWT",
            &json!({"iss": k.idp.issuer(), "sub": "someone-else", "aud": "wiki"}),
        )
        .unwrap();
    let out = end_session(
        &k.idp,
        &form(&[("id_token_hint", &other_user)]),
        Some(&s),
        now(),
    )
    .await
    .unwrap();
    assert!(matches!(out, EndSession::Confirm(_)), "{out:?}");
    // The same token with its signature altered is unknown.
    let mut forged = other_user.clone().into_bytes();
    let i = forged.len() - 10; // inside the signature
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    // And one that names another issuer.
    let foreign = k
        .idp
        .oidc_keys()
        .await
        .unwrap()
        .sign(
            idp::oidc::keys::Alg::RS256,
            "JWT",
            &json!({"iss": "https://elsewhere.example.com", "sub": "x"}),
        )
        .unwrap();
    for hint in ["not-a-jwt", forged.as_str(), foreign.as_str()] {
        let out = end_session(&k.idp, &form(&[("id_token_hint", hint)]), Some(&s), now())
            .await
            .unwrap();
        assert_eq!(
            out,
            EndSession::Refused {
                why: LogoutRefusal::UnknownIdToken,
                signed_out: false
            }
        );
    }
    assert!(session_alive(&k, &s).await);
    // A client_id naming another client than the token.
    let id_token = t.id_token.unwrap();
    let out = end_session(
        &k.idp,
        &form(&[("id_token_hint", &id_token), ("client_id", "payroll")]),
        Some(&s),
        now(),
    )
    .await
    .unwrap();
    assert!(matches!(
        out,
        EndSession::Refused {
            why: LogoutRefusal::ClientMismatch,
            ..
        }
    ));
    // An address not registered for the client.
    let out = end_session(
        &k.idp,
        &form(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ]),
        Some(&s),
        now(),
    )
    .await
    .unwrap();
    assert!(matches!(
        out,
        EndSession::Refused {
            why: LogoutRefusal::UnregisteredRedirect,
            ..
        }
    ));
    assert!(session_alive(&k, &s).await);
}

#[tokio::test]
async fn end_session_without_a_hint_for_this_session_asks_the_user() {
    let k = engine_kit().await;
    let (s, t) = signed_in_with_id_token(&k).await;
    let keys = k.idp.oidc_keys().await.unwrap();
    let sign = |claims: Value| {
        keys.sign(idp::oidc::keys::Alg::RS256, "JWT", &claims)
            .unwrap()
    };
    let user = k.demo_user().await;
    // Our ID tokens, but of another user, or of this user's other session.
    let other_user = sign(json!({"iss": k.idp.issuer(), "sub": "someone-else", "aud": "wiki"}));
    let other_session = sign(json!({
        "iss": k.idp.issuer(), "sub": user.id, "aud": "wiki", "sid": "another-session"
    }));
    let pending = |client: Option<&str>, uri: Option<&str>, state: Option<&str>| {
        EndSession::Confirm(Pending {
            client_id: client.map(str::to_string),
            post_logout_redirect_uri: uri.map(str::to_string),
            state: state.map(str::to_string),
        })
    };
    let cases: Vec<(Vec<(&str, &str)>, EndSession)> = vec![
        (vec![], pending(None, None, None)),
        (vec![("state", "s1")], pending(None, None, Some("s1"))),
        (
            vec![("client_id", "wiki")],
            pending(Some("wiki"), None, None),
        ),
        // An unknown client is not named on the page.
        (vec![("client_id", "nobody")], pending(None, None, None)),
        (
            vec![
                ("client_id", "wiki"),
                ("post_logout_redirect_uri", WIKI_BYE),
                ("state", "s2"),
            ],
            pending(Some("wiki"), Some(WIKI_BYE), Some("s2")),
        ),
        (
            vec![("id_token_hint", &other_user)],
            pending(Some("wiki"), None, None),
        ),
        (
            vec![
                ("id_token_hint", &other_session),
                ("post_logout_redirect_uri", WIKI_BYE),
            ],
            pending(Some("wiki"), Some(WIKI_BYE), None),
        ),
    ];
    for (pairs, want) in cases {
        let out = end_session(&k.idp, &form(&pairs), Some(&s), now())
            .await
            .unwrap();
        assert_eq!(out, want, "{pairs:?}");
        assert!(session_alive(&k, &s).await, "{pairs:?}");
    }
    // The grant made through the session lives on.
    assert!(
        refresh(&k, &wiki(), t.refresh_token.as_deref().unwrap())
            .await
            .is_ok()
    );
    let out = end_session(
        &k.idp,
        &form(&[("state", "a"), ("state", "b")]),
        Some(&s),
        now(),
    )
    .await
    .unwrap();
    assert!(matches!(
        out,
        EndSession::Refused {
            why: LogoutRefusal::Malformed,
            ..
        }
    ));
}

#[tokio::test]
async fn end_session_takes_only_an_id_token_as_the_hint() {
    let k = engine_kit().await;
    let (s, t) = signed_in_with_id_token(&k).await;
    // An access token of the same user and session is not an ID token.
    let out = end_session(
        &k.idp,
        &form(&[("id_token_hint", &t.access_token)]),
        Some(&s),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        EndSession::Refused {
            why: LogoutRefusal::UnknownIdToken,
            signed_out: false
        }
    );
    assert!(session_alive(&k, &s).await);
}

#[tokio::test]
async fn end_session_with_nobody_signed_in_returns_to_the_client() {
    let k = engine_kit().await;
    let out = end_session(
        &k.idp,
        &form(&[
            ("client_id", "wiki"),
            ("post_logout_redirect_uri", WIKI_BYE),
            ("state", "s3"),
        ]),
        None,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        EndSession::Done {
            signed_out: false,
            redirect: Some(format!("{WIKI_BYE}?state=s3")),
        }
    );
}

#[tokio::test]
async fn a_confirmed_sign_out_ends_the_session_and_returns_to_the_client() {
    let k = engine_kit().await;
    let (s, t) = signed_in_with_id_token(&k).await;
    // An address without a client, or not registered: refused, nothing ended.
    for pairs in [
        vec![("post_logout_redirect_uri", WIKI_BYE)],
        vec![
            ("client_id", "wiki"),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ],
    ] {
        let out = logout::confirm(&k.idp, &form(&pairs), Some(&s), now())
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                EndSession::Refused {
                    why: LogoutRefusal::UnregisteredRedirect,
                    signed_out: false
                }
            ),
            "{out:?}"
        );
        assert!(session_alive(&k, &s).await);
    }
    let out = logout::confirm(
        &k.idp,
        &form(&[
            ("client_id", "wiki"),
            ("post_logout_redirect_uri", WIKI_BYE),
            ("state", "s4"),
        ]),
        Some(&s),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        EndSession::Done {
            signed_out: true,
            redirect: Some(format!("{WIKI_BYE}?state=s4")),
        }
    );
    assert!(!session_alive(&k, &s).await);
    // The grants made through the session end with it.
    assert_eq!(
        code_of(refresh(&k, &wiki(), t.refresh_token.as_deref().unwrap()).await),
        ErrorCode::InvalidGrant
    );
    assert!(audited(&k, "signout", "success").await);
    // Confirmed without a return address: a page.
    let s2 = session(&k, None).await;
    let out = logout::confirm(&k.idp, &form(&[]), Some(&s2), now())
        .await
        .unwrap();
    assert_eq!(
        out,
        EndSession::Done {
            signed_out: true,
            redirect: None
        }
    );
    assert!(!session_alive(&k, &s2).await);
}

// ---------------------------------------------------------------- discovery

#[test]
fn discovery_lists_the_endpoints_under_the_issuer() {
    let m = idp::oidc::discovery::metadata("https://sso.example.com");
    assert_eq!(m["issuer"], "https://sso.example.com");
    assert_eq!(
        m["token_endpoint"],
        format!("https://sso.example.com{}", idp::paths::OIDC_TOKEN)
    );
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
}

#[test]
fn discovery_advertises_only_what_is_implemented() {
    let m = idp::oidc::discovery::metadata("https://sso.example.com");
    // consent and select_account change nothing; userinfo is never signed.
    assert_eq!(m["prompt_values_supported"], json!(["none", "login"]));
    assert!(m.get("userinfo_signing_alg_values_supported").is_none());
    assert_eq!(m["request_parameter_supported"], false);
    assert_eq!(m["request_uri_parameter_supported"], false);
    assert_eq!(m["response_types_supported"], json!(["code"]));
}

#[test]
fn a_request_without_a_token_hears_no_error_code() {
    // RFC 6750 3.1: no error in the challenge when no token was sent.
    let missing = OAuthError::new(ErrorCode::MissingToken, "no access token was sent");
    assert_eq!(missing.status(), 401);
    let challenge = missing.www_authenticate().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error"), "{challenge}");
    let invalid = OAuthError::new(ErrorCode::InvalidToken, "the access token is not valid");
    assert!(
        invalid
            .www_authenticate()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

#[tokio::test]
async fn authorize_sends_a_passkey_session_due_to_reverify_back_to_the_passkey() {
    let k = engine_kit().await;
    let user = k.demo_user().await;
    let t = now();
    // Passkey-only, signed in 13 h ago: past the default 12 h re-verification.
    let (s, _) = k
        .idp
        .sessions
        .create_with(
            &user.id,
            vec!["hwk".into()],
            None,
            t - 13 * HOUR,
            Some(t - 13 * HOUR),
            t,
        )
        .await
        .unwrap();
    let a = run(&k, &request("wiki", WIKI_CB, &[], &[]), Some(&s)).await;
    assert!(
        matches!(&a, Authorization::Reverify { resume } if resume.contains("client_id=wiki")),
        "{a:?}"
    );
    let a = run(
        &k,
        &request("wiki", WIKI_CB, &[], &[("prompt", "none")]),
        Some(&s),
    )
    .await;
    assert_eq!(client_error(a).code, ErrorCode::LoginRequired);
}

#[tokio::test]
async fn token_forms_must_be_urlencoded_and_name_each_parameter_once() {
    let body = b"grant_type=client_credentials";
    for ct in [None, Some("application/json"), Some("text/plain")] {
        // What the client sees: the refusal as an OAuth error.
        let e = OAuthError::from(Params::from_form(ct, body).expect_err("refused"));
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{ct:?}");
        assert_eq!(e.status(), 400);
    }
    let p = Params::from_form(
        Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        body,
    )
    .unwrap();
    assert_eq!(p.require("grant_type").unwrap(), "client_credentials");
    let big = vec![b'a'; 64 * 1024 + 1];
    assert!(Params::from_form(Some("application/x-www-form-urlencoded"), &big).is_err());

    let k = engine_kit().await;
    let machine = ClientAuth::basic("machine", MACHINE_SECRET);
    let r = exchange(
        &k,
        &machine,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::InvalidRequest);
    // Two Authorization headers are refused, not picked from.
    let twice = ClientAuth {
        authorization: [machine.authorization.clone(), machine.authorization].concat(),
    };
    let r = exchange(&k, &twice, &[("grant_type", "client_credentials")]).await;
    assert_eq!(code_of(r), ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn token_detects_a_refresh_reuse_even_in_a_malformed_request() {
    let k = engine_kit().await;
    let t = wiki_tokens(&k).await;
    let rt1 = t.refresh_token.unwrap();
    let rt2 = refresh(&k, &wiki(), &rt1)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    // The used token comes back with a repeated scope: still a reuse.
    let r = exchange(
        &k,
        &wiki(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("scope", "openid"),
            ("scope", "email"),
        ],
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::InvalidGrant);
    assert_eq!(
        code_of(refresh(&k, &wiki(), &rt2).await),
        ErrorCode::InvalidGrant
    );
    // A live token with a repeated scope is refused and stays good.
    let t = wiki_tokens(&k).await;
    let rt = t.refresh_token.unwrap();
    let r = exchange(
        &k,
        &wiki(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid"),
            ("scope", "email"),
        ],
    )
    .await;
    assert_eq!(code_of(r), ErrorCode::InvalidRequest);
    refresh(&k, &wiki(), &rt).await.unwrap();
}
