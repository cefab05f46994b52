//! The step-up page (`/login/step-up`): a signed-in user verifies a second
//! factor again for an application's MFA policy (OIDC `require_mfa`, the
//! gateway's `mfa` paths). TOTP codes come from Debian's `oathtool`.

mod support;

use idp::session::Presented;
use std::process::Command;

use axum::http::StatusCode;
use serde_json::json;
use support::{Browser, Kit, kit_with};

const WIKI_CB: &str = "https://wiki.example.com/callback";

fn oath(secret: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn now() -> i64 {
    idp::clock::now()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = body.find(start)? + start.len();
    let j = body[i..].find(end)? + i;
    Some(&body[i..j])
}

async fn stepup_kit() -> Kit {
    kit_with(|c| {
        c.oidc.clients = vec![
            serde_json::from_value(json!({
                "client_id": "secure",
                "redirect_uris": [WIKI_CB],
                "application": "Team Wiki",
                "require_mfa": true,
            }))
            .unwrap(),
        ];
    })
    .await
}

/// A signed-in browser (password only, no `mfa_at`) with TOTP enrolled.
async fn enrolled(k: &Kit) -> (Browser, String) {
    let mut b = k.signed_in().await;
    assert_eq!(b.get("/mfa/totp/setup").await.status, StatusCode::OK);
    b.post("/mfa/totp/setup", &[]).await;
    let scan = b.get("/mfa/totp/setup/scan").await;
    let key = between(&scan.body, "<code id=\"totp-key\">", "</code>")
        .unwrap()
        .to_string();
    b.get("/mfa/totp/setup/confirm").await;
    let done = b
        .post("/mfa/totp/setup/confirm", &[("code", &oath(&key, now()))])
        .await;
    assert_eq!(done.location(), Some("/security?done=totp-on#mfa"));
    (b, key)
}

fn session_token(b: &Browser) -> String {
    b.cookies
        .iter()
        .find(|(k, _)| k.ends_with("portcullis_session"))
        .map(|(_, v)| v.clone())
        .expect("a session cookie")
}

async fn session(k: &Kit, token: &str) -> Option<idp::session::Session> {
    k.idp
        .resume(Presented::Token(token), now())
        .await
        .unwrap()
        .ok()
        .map(|live| live.session)
}

fn authorize_url() -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "secure")
        .append_pair("redirect_uri", WIKI_CB)
        .append_pair("scope", "openid")
        .append_pair("state", "st-1")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("/oauth2/authorize?{q}")
}

#[tokio::test]
async fn step_up_with_totp_renews_the_session_and_oidc_then_issues_a_code() {
    let k = stepup_kit().await;
    let (mut b, key) = enrolled(&k).await;
    let old = session_token(&b);
    assert_eq!(session(&k, &old).await.unwrap().mfa_at, None);

    // The client requires MFA: the provider sends the browser to step-up.
    let auth = b.get(&authorize_url()).await;
    let step_up = auth.location().expect("a redirect").to_string();
    assert!(
        step_up.starts_with("/login/step-up?return_to="),
        "{step_up}"
    );

    let page = b.get(&step_up).await;
    assert_eq!(page.location(), Some("/login/mfa"), "{}", page.body);
    let chooser = b.get("/login/mfa").await;
    // TOTP and no other method: straight to its form.
    assert_eq!(chooser.location(), Some("/login/mfa/totp"));
    let form = b.get("/login/mfa/totp").await;
    assert!(form.has("Verify Your Identity") && form.has("Code from your authenticator app"));
    let done = b
        .post("/login/mfa/totp", &[("code", &oath(&key, now() + 30))])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let back = done.location().unwrap().to_string();
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");

    let new = session_token(&b);
    assert_ne!(new, old, "a new session id");
    assert!(session(&k, &old).await.is_none(), "the old session ended");
    let s = session(&k, &new).await.unwrap();
    assert!(s.mfa_at.is_some_and(|t| now() - t < 5), "{s:?}");
    for m in ["pwd", "otp", "mfa"] {
        assert!(s.amr.iter().any(|a| a == m), "{:?}", s.amr);
    }
    assert!(
        !b.cookies.keys().any(|k| k.ends_with("portcullis_mfa")),
        "the pending cookie is gone"
    );

    let issued = b.get(&back).await;
    let loc = issued.location().unwrap_or_default();
    assert!(loc.starts_with(WIKI_CB), "{loc} {}", issued.body);
    assert!(loc.contains("code="), "{loc}");
    // The portal still works with the new session.
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_code_leaves_the_session_as_it_was() {
    let k = stepup_kit().await;
    let (mut b, _key) = enrolled(&k).await;
    let old = session_token(&b);
    let before = session(&k, &old).await.unwrap();
    let page = b.get("/login/step-up?return_to=%2Fprofile").await;
    assert_eq!(page.location(), Some("/login/mfa"));
    b.get("/login/mfa/totp").await;
    let wrong = b.post("/login/mfa/totp", &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("That code is not correct. Check your app and try again."));
    assert_eq!(session_token(&b), old, "no new session");
    let after = session(&k, &old).await.expect("the old session is valid");
    assert_eq!(after.mfa_at, None);
    assert_eq!(after.amr, before.amr);
    assert_eq!(after.auth_time, before.auth_time);
    // The wrong code counted toward the lockout.
    assert!(k.demo_user().await.failed_attempts >= 1);
    // Abandoning the step-up: the portal still works with the old session.
    assert_eq!(b.get("/profile").await.status, StatusCode::OK);
    assert_eq!(session_token(&b), old);
}

#[tokio::test]
async fn no_factor_enrolled_explains_and_links_to_setup() {
    let k = stepup_kit().await;
    let mut b = k.signed_in().await;
    let old = session_token(&b);
    let page = b
        .get("/login/step-up?app=wiki&return_to=%2Fgateway%2Fauthorize%3Fapp%3Dwiki")
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // "wiki" is no application here: the link's text is not shown.
    assert!(
        page.has("This application asks for a second factor"),
        "{}",
        page.body
    );
    assert!(!page.has("wiki asks"));
    let body = page.body.replace("&#x2f;", "/");
    assert!(body.contains(r#"href="/security#mfa""#), "{body}");
    assert!(page.has("Try again"));
    assert!(body.contains("step-up?return_to="), "{body}");
    // A signed-in page: the portal's header, and a way back.
    assert!(page.has("account menu") && page.has("Back to Applications"));
    assert!(body.contains(r#"href="/apps""#));
    assert_eq!(session_token(&b), old);
    assert!(session(&k, &old).await.is_some());

    // A known application is named.
    let named = b
        .get("/login/step-up?app=Team%20Wiki&return_to=%2Fprofile")
        .await;
    assert!(
        named.has("Team Wiki asks for a second factor"),
        "{}",
        named.body
    );
}

#[tokio::test]
async fn the_step_up_pages_name_the_application_and_lead_back() {
    let k = stepup_kit().await;
    let (mut b, _key) = enrolled(&k).await;
    let page = b
        .get("/login/step-up?app=Team%20Wiki&return_to=%2Fprofile")
        .await;
    assert_eq!(page.location(), Some("/login/mfa"));
    let code = b.get("/login/mfa/totp").await;
    assert!(
        code.has("Team Wiki asks you to confirm it is you again"),
        "{}",
        code.body
    );
    assert!(code.has("Back to Applications"));
    assert!(
        !code.has("Sign in as someone else"),
        "the user is signed in"
    );
    // Text in the link that names no application is not repeated.
    b.get("/login/step-up?app=Your%20bank%20locked%20you&return_to=%2Fprofile")
        .await;
    let code = b.get("/login/mfa/totp").await;
    assert!(code.has("This application asks you to confirm"));
    assert!(!code.has("Your bank"));
}

#[tokio::test]
async fn an_unsafe_return_to_is_ignored() {
    let k = stepup_kit().await;
    let (mut b, key) = enrolled(&k).await;
    let page = b
        .get("/login/step-up?return_to=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(page.location(), Some("/login/mfa"));
    let done = b
        .post("/login/mfa/totp", &[("code", &oath(&key, now() + 30))])
        .await;
    assert_eq!(done.location(), Some("/apps"), "{}", done.body);
}

#[tokio::test]
async fn not_signed_in_goes_to_the_login_page() {
    let k = stepup_kit().await;
    let mut b = k.browser();
    let page = b.get("/login/step-up?return_to=%2Fprofile").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/login?return_to=%2Fprofile"));
    let page = b
        .get("/login/step-up?return_to=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(page.location(), Some("/login"));
}

#[tokio::test]
async fn a_step_up_cookie_without_its_session_signs_nobody_in() {
    let k = stepup_kit().await;
    let (mut b, key) = enrolled(&k).await;
    assert_eq!(
        b.get("/login/step-up?return_to=%2Fprofile")
            .await
            .location(),
        Some("/login/mfa")
    );
    // The session ends (e.g. elsewhere); the pending step-up is worthless.
    let old = session_token(&b);
    k.idp
        .sessions
        .end(&idp::session::SessionKey::of_token(&old))
        .await
        .unwrap();
    let done = b
        .post("/login/mfa/totp", &[("code", &oath(&key, now() + 30))])
        .await;
    assert_eq!(done.location(), Some("/login"));
    assert!(session(&k, &session_token(&b)).await.is_none());
}
