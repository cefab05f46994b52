//! The OpenID Connect provider, driven through the router in memory: every
//! endpoint with its success and error paths.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use support::{Browser, DEMO_EMAIL, DEMO_PASSWORD, Kit, Page, kit_with};

const WIKI_SECRET: &str = "wiki-secret-5f1c0d9e7a3b2c4d6e8f0a1b2c3d4e5f";
const MACHINE_SECRET: &str = "machine-secret-0a9b8c7d6e5f4a3b2c1d0e9f8a7b";
const WIKI_CB: &str = "https://wiki.example.com/callback";
const SPA_CB: &str = "http://localhost:3000/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn sha(s: &str) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(s.as_bytes())))
}

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

fn client(v: Value) -> idp::oidc::ClientConfig {
    serde_json::from_value(v).unwrap()
}

async fn oidc_kit() -> Kit {
    let k = kit_with(|c| {
        c.oidc.clients = vec![
            client(json!({
                "client_id": "wiki",
                "client_secret_hash": sha(WIKI_SECRET),
                "redirect_uris": [WIKI_CB],
                "post_logout_redirect_uris": ["https://wiki.example.com/bye"],
                "application": "Team Wiki",
            })),
            client(json!({
                "client_id": "spa",
                "redirect_uris": [SPA_CB],
                "application": "Team Wiki",
                "id_token_signed_response_alg": "ES256",
            })),
            client(json!({
                "client_id": "machine",
                "client_secret_hash": sha(MACHINE_SECRET),
                "grant_types": ["client_credentials"],
                "scopes": ["profile"],
            })),
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
    })
    .await;
    // An application nobody is assigned to.
    k.unassigned_application("Payroll").await;
    k
}

fn authorize_url(client_id: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid profile email groups")
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", q.finish())
}

/// The query parameters of a redirect to the client.
fn redirect_params(page: &Page) -> Vec<(String, String)> {
    let loc = page
        .location()
        .unwrap_or_else(|| panic!("no redirect: {page:?}"));
    let url = url::Url::parse(loc).unwrap();
    url.query_pairs().into_owned().collect()
}

fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn code_for(
    b: &mut Browser,
    client_id: &str,
    redirect: &str,
    extra: &[(&str, &str)],
) -> String {
    let page = b.get(&authorize_url(client_id, redirect, extra)).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let p = redirect_params(&page);
    assert!(page.location().unwrap().starts_with(redirect));
    assert_eq!(param(&p, "state"), Some("st-123"));
    assert_eq!(param(&p, "iss"), Some("https://portal.localhost"));
    param(&p, "code")
        .unwrap_or_else(|| panic!("no code: {p:?}"))
        .to_string()
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// POSTs a form to a client endpoint; returns status, headers and JSON body.
async fn post(
    k: &Kit,
    path: &str,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, Page, Value) {
    let mut b = k.browser();
    let mut req =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let page = b
        .send(
            req.body(Body::from(serde_urlencoded::to_string(form).unwrap()))
                .unwrap(),
        )
        .await;
    let json = serde_json::from_str(&page.body).unwrap_or(Value::Null);
    (page.status, page, json)
}

async fn exchange(k: &Kit, code: &str) -> (StatusCode, Value) {
    let (s, _, v) = post(
        k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WIKI_CB),
        ],
    )
    .await;
    (s, v)
}

async fn refresh(k: &Kit, rt: &str) -> (StatusCode, Value) {
    let (s, _, v) = post(
        k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    (s, v)
}

async fn userinfo(k: &Kit, at: &str) -> (StatusCode, Value) {
    let mut b = k.browser();
    let page = b
        .send(
            Request::get("/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {at}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or(Value::Null),
    )
}

async fn verify(k: &Kit, jwt: &str) -> (String, Value) {
    let keys = k.idp.oidc_keys().await.unwrap();
    keys.verify(jwt).expect("signature verifies")
}

fn header_of(jwt: &str) -> Value {
    let h = jwt.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn discovery_and_jwks_list_what_is_implemented() {
    let k = oidc_kit().await;
    let mut b = k.browser();
    let d: Value =
        serde_json::from_str(&b.get("/.well-known/openid-configuration").await.body).unwrap();
    assert_eq!(d["issuer"], "https://portal.localhost");
    assert_eq!(
        d["authorization_endpoint"],
        "https://portal.localhost/oauth2/authorize"
    );
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let jwks: Value = serde_json::from_str(&b.get("/oauth2/jwks").await.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .any(|k| k["kty"] == "RSA" && k["alg"] == "RS256" && k["kid"].is_string())
    );
    assert!(
        keys.iter()
            .any(|k| k["kty"] == "EC" && k["crv"] == "P-256" && k["alg"] == "ES256")
    );
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );
    // Private halves are stored sealed.
    for row in k.idp.store.oidc_keys().await.unwrap() {
        assert!(row.private_sealed.starts_with("v1:"));
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_key_published() {
    let k = oidc_kit().await;
    let before = k.idp.oidc_keys().await.unwrap();
    let old_kid = header_of(
        &before
            .sign(idp::oidc::keys::Alg::RS256, "JWT", &json!({"a":1}))
            .unwrap(),
    )["kid"]
        .clone();
    let new_kid = idp::oidc::keys::rotate(
        &k.idp.store,
        &k.idp.keys.secret_box(),
        idp::oidc::keys::Alg::RS256,
        idp::clock::now(),
    )
    .await
    .unwrap();
    k.idp.reload_oidc_keys().await;
    let after = k.idp.oidc_keys().await.unwrap();
    let signed = after
        .sign(idp::oidc::keys::Alg::RS256, "JWT", &json!({"a":1}))
        .unwrap();
    assert_eq!(header_of(&signed)["kid"], json!(new_kid));
    let jwks = after.jwks();
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert!(kids.contains(&&old_kid) && kids.len() == 3);
    // A token signed by the retired key still verifies.
    let old_token = before
        .sign(idp::oidc::keys::Alg::RS256, "JWT", &json!({"a":1}))
        .unwrap();
    assert!(after.verify(&old_token).is_some());
}

#[tokio::test]
async fn code_flow_issues_verifiable_tokens_with_the_claims() {
    let k = oidc_kit().await;
    let user = k.demo_user().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (s, t) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["refresh_token"].is_string());
    let (typ, id) = verify(&k, t["id_token"].as_str().unwrap()).await;
    assert_eq!(typ, "JWT");
    assert_eq!(header_of(t["id_token"].as_str().unwrap())["alg"], "RS256");
    assert_eq!(id["iss"], "https://portal.localhost");
    assert_eq!(
        id["sub"],
        json!(user.id),
        "sub is the stable id, not the email"
    );
    assert_eq!(id["aud"], "wiki");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], "pwd");
    assert!(id["auth_time"].is_i64() && id["exp"].as_i64() > id["iat"].as_i64());
    assert!(id["sid"].is_string());
    assert_eq!(id["email"], DEMO_EMAIL);
    assert!(id["groups"].as_array().unwrap().contains(&json!("Staff")));
    assert!(id["name"].is_string());

    let at = t["access_token"].as_str().unwrap();
    let (typ, claims) = verify(&k, at).await;
    assert_eq!(typ, "at+jwt", "RFC 9068");
    assert_eq!(claims["client_id"], "wiki");
    assert_eq!(claims["sub"], json!(user.id));

    let (s, info) = userinfo(&k, at).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info["sub"], json!(user.id));
    assert_eq!(info["email"], DEMO_EMAIL);
    // POST with the token in the body works too.
    let (s, _, info2) = post(&k, "/oauth2/userinfo", None, &[("access_token", at)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info2, info);
    // A forged signature is refused.
    let mut forged = at.to_string();
    forged.push('A');
    let (s, e) = userinfo(&k, &forged).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"], "invalid_token");
    let (s, _) = userinfo(&k, "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let events = k.audit_events().await;
    assert!(events.contains(&("oidc.token".into(), "success".into())));
    // No token in the audit trail.
    for r in k.idp.store.recent_audit(1000).await.unwrap() {
        assert!(!r.detail.contains(at) && !r.detail.contains(&code));
    }
}

#[tokio::test]
async fn replayed_code_fails_and_revokes_its_tokens() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (s, t) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    let (s, _) = refresh(&k, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "refresh token from the replayed code is dead"
    );
    let (s, _) = userinfo(&k, t["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "access token too");
    let (s, e) = exchange(&k, "no-such-code").await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn code_is_bound_to_client_and_redirect_uri() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://wiki.example.com/other"),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("payroll", WIKI_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WIKI_CB),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

/// An RFC 6749 section 5.2 error answer: status, `error`, no caching, and for
/// `invalid_client` a `WWW-Authenticate` challenge.
fn assert_oauth_error(
    got: &(StatusCode, Page, Value),
    status: StatusCode,
    error: &str,
    what: &str,
) {
    let (s, page, e) = got;
    assert_eq!(
        (*s, e["error"].as_str()),
        (status, Some(error)),
        "{what}: {}",
        page.body
    );
    assert!(e["error_description"].is_string(), "{what}");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store", "{what}");
    if error == "invalid_client" {
        assert!(
            page.headers.contains_key(header::WWW_AUTHENTICATE),
            "{what}: 401 names the scheme"
        );
    }
}

/// How many audit events of `kind` there are so far.
async fn count_events(k: &Kit, kind: &str) -> usize {
    k.audit_events()
        .await
        .iter()
        .filter(|(e, _)| e == kind)
        .count()
}

/// A token request that must fail, and how.
struct Attempt {
    what: &'static str,
    auth: Option<String>,
    form: Vec<(&'static str, String)>,
    status: StatusCode,
    error: &'static str,
}

impl Attempt {
    fn new(what: &'static str, auth: Option<String>, form: &[(&'static str, &str)]) -> Self {
        Self {
            what,
            auth,
            form: form.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
        }
    }

    fn invalid_client(mut self) -> Self {
        self.status = StatusCode::UNAUTHORIZED;
        self.error = "invalid_client";
        self
    }

    async fn fails(&self, k: &Kit) {
        let form: Vec<(&str, &str)> = self.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = post(k, "/oauth2/token", self.auth.as_deref(), &form).await;
        assert_oauth_error(&got, self.status, self.error, self.what);
    }
}

#[tokio::test]
async fn a_code_presented_by_anyone_else_is_not_spent() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut f = grant.to_vec();
        f.extend_from_slice(extra);
        f
    };
    let wiki = || Some(basic("wiki", WIKI_SECRET));
    let attempts = [
        Attempt::new(
            "confidential client, wrong secret (Basic)",
            Some(basic("wiki", "not-the-secret")),
            &form(&[("redirect_uri", WIKI_CB)]),
        )
        .invalid_client(),
        Attempt::new(
            "confidential client, wrong secret (post)",
            None,
            &form(&[
                ("redirect_uri", WIKI_CB),
                ("client_id", "wiki"),
                ("client_secret", "not-the-secret"),
            ]),
        )
        .invalid_client(),
        Attempt::new(
            "confidential client id without its secret",
            None,
            &form(&[("redirect_uri", WIKI_CB), ("client_id", "wiki")]),
        )
        .invalid_client(),
        Attempt::new(
            "another registered client, properly authenticated",
            Some(basic("payroll", WIKI_SECRET)),
            &form(&[("redirect_uri", WIKI_CB)]),
        ),
        Attempt::new(
            "a public client id",
            None,
            &form(&[("redirect_uri", WIKI_CB), ("client_id", "spa")]),
        ),
        Attempt::new(
            "the owner, another redirect_uri",
            wiki(),
            &form(&[("redirect_uri", "https://wiki.example.com/other")]),
        ),
        Attempt::new(
            "the owner, redirect_uri with a trailing slash",
            wiki(),
            &form(&[("redirect_uri", "https://wiki.example.com/callback/")]),
        ),
        Attempt::new(
            "the owner, a verifier for a code without a challenge",
            wiki(),
            &form(&[("redirect_uri", WIKI_CB), ("code_verifier", VERIFIER)]),
        ),
    ];
    for a in &attempts {
        a.fails(&k).await;
    }
    // None of that spent the code: the owner redeems it.
    let (s, t) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(count_events(&k, "oidc.code.replayed").await, 0);

    // Used now. Presented again by anyone but its owner it is refused the
    // same way, without counting as a replay: the owner's tokens live on.
    for a in &attempts {
        a.fails(&k).await;
    }
    assert_eq!(count_events(&k, "oidc.code.replayed").await, 0);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&k, at).await.0, StatusCode::OK);
    let (s, t2) = refresh(&k, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    // The owner replaying it is a replay, as before: the grant is revoked.
    let (s, e) = exchange(&k, &code).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(count_events(&k, "oidc.code.replayed").await, 1);
    assert_eq!(userinfo(&k, at).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&k, t2["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_pkce_code_with_the_wrong_verifier_is_not_spent() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let ch = challenge(VERIFIER);
    let s256 = [
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = code_for(&mut b, "spa", SPA_CB, &s256).await;
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        f.extend_from_slice(extra);
        f
    };
    let other_verifier = "B".repeat(43);
    let mut wrong = form(&[("redirect_uri", SPA_CB), ("client_id", "spa")]);
    wrong.push(("code_verifier", &other_verifier));
    let right = form(&[
        ("redirect_uri", SPA_CB),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ]);
    let attempts = [
        Attempt::new("the owner, wrong verifier", None, &wrong),
        Attempt::new(
            "the owner, verifier too short",
            None,
            &form(&[
                ("redirect_uri", SPA_CB),
                ("client_id", "spa"),
                ("code_verifier", "short"),
            ]),
        ),
        Attempt::new(
            "the owner, no verifier",
            None,
            &form(&[("redirect_uri", SPA_CB), ("client_id", "spa")]),
        ),
        Attempt::new(
            "the owner, right verifier, another redirect_uri",
            None,
            &form(&[
                ("redirect_uri", WIKI_CB),
                ("client_id", "spa"),
                ("code_verifier", VERIFIER),
            ]),
        ),
        Attempt::new(
            "another client with the right verifier",
            Some(basic("wiki", WIKI_SECRET)),
            &form(&[("redirect_uri", SPA_CB), ("code_verifier", VERIFIER)]),
        ),
        Attempt::new(
            "the public client with a secret",
            Some(basic("spa", "x")),
            &form(&[("redirect_uri", SPA_CB), ("code_verifier", VERIFIER)]),
        )
        .invalid_client(),
    ];
    for a in &attempts {
        a.fails(&k).await;
    }
    let (s, _, t) = post(&k, "/oauth2/token", None, &right).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    // A replay without the verifier is no replay: nothing is revoked.
    for a in &attempts {
        a.fails(&k).await;
    }
    assert_eq!(count_events(&k, "oidc.code.replayed").await, 0);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&k, at).await.0, StatusCode::OK);
    // With it, it is: the tokens issued from the code are revoked.
    let got = post(&k, "/oauth2/token", None, &right).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant", "replay");
    assert_eq!(count_events(&k, "oidc.code.replayed").await, 1);
    assert_eq!(userinfo(&k, at).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let (s, t2) = refresh(&k, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    assert!(t2["id_token"].is_string());
    // Narrowing the scope is allowed, widening is not.
    let (s, t3) = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "openid email"),
        ],
    )
    .await
    .2
    .pipe(|v| (StatusCode::OK, v));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t3["scope"], "openid email");
    let rt3 = t3["refresh_token"].as_str().unwrap().to_string();
    // rt1 again: reuse. The whole family dies, rt3 included.
    let (s, e) = refresh(&k, &rt1).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, _) = refresh(&k, &rt3).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = userinfo(&k, t3["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        k.audit_events()
            .await
            .contains(&("oidc.refresh.reused".into(), "failure".into()))
    );
}

#[tokio::test]
async fn a_refresh_token_presented_by_another_client_is_not_spent() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let attempts = |rt: &str| {
        let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut f = form.to_vec();
            f.extend_from_slice(extra);
            f
        };
        [
            Attempt::new(
                "confidential client, wrong secret",
                Some(basic("wiki", "not-the-secret")),
                &form,
            )
            .invalid_client(),
            Attempt::new(
                "confidential client id without its secret",
                None,
                &with(&[("client_id", "wiki")]),
            )
            .invalid_client(),
            Attempt::new(
                "another registered client, properly authenticated",
                Some(basic("payroll", WIKI_SECRET)),
                &form,
            ),
            Attempt::new("a public client id", None, &with(&[("client_id", "spa")])),
        ]
    };
    for a in &attempts(&rt1) {
        a.fails(&k).await;
    }
    // The owner may also fail without losing the token: a wider scope.
    let got = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("scope", "openid offline_access admin"),
        ],
    )
    .await;
    assert_oauth_error(
        &got,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        "wider scope",
    );
    // Nothing was spent: the owner refreshes, and the family lives.
    let (s, t2) = refresh(&k, &rt1).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(count_events(&k, "oidc.refresh.reused").await, 0);

    // rt1 is used now. Another client presenting it is refused, and that
    // is not taken as a reuse: the family is not revoked.
    for a in &attempts(&rt1) {
        a.fails(&k).await;
    }
    assert_eq!(count_events(&k, "oidc.refresh.reused").await, 0);
    let at2 = t2["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&k, at2).await.0, StatusCode::OK);
    let (s, t3) = refresh(&k, &rt2).await;
    assert_eq!(s, StatusCode::OK, "{t3}");
    let rt3 = t3["refresh_token"].as_str().unwrap().to_string();

    // The owner itself presenting the rotated rt1 is a genuine reuse: the
    // family is revoked, as before.
    let (s, e) = refresh(&k, &rt1).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(count_events(&k, "oidc.refresh.reused").await, 1);
    assert_eq!(refresh(&k, &rt3).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        userinfo(&k, t3["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The hash under which the store keeps a code or refresh token.
fn stored(secret: &str) -> String {
    idp::crypto::sha256_hex(secret.as_bytes())
}

#[tokio::test]
async fn rotation_is_one_transaction() {
    let k = oidc_kit().await;
    let store = &k.idp.store;
    let mut b = k.signed_in().await;
    let (_, other) = exchange(&k, &code_for(&mut b, "wiki", WIKI_CB, &[]).await).await;
    // A successor whose insert must fail: its hash is taken by a live token.
    let taken = idp::store::NewRefresh {
        token_hash: stored(other["refresh_token"].as_str().unwrap()),
        expires_at: idp::clock::now() + 3600,
    };

    // A code: the insert of its first refresh token fails, so the spend
    // is rolled back and the code is still unused.
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let now = idp::clock::now();
    assert!(
        store
            .redeem_code(&stored(&code), now, Some(&taken))
            .await
            .is_err(),
        "the duplicate successor makes the insert fail"
    );
    assert!(matches!(
        store.find_code(&stored(&code)).await.unwrap(),
        idp::store::Lookup::Unused(_)
    ));
    let (s, t) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::OK, "{t}");

    // A refresh token: the same failure leaves it unspent, so the client's
    // next refresh is no reuse and its family lives.
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    assert!(
        store
            .rotate_refresh(&stored(&rt), now, Some(&taken))
            .await
            .is_err()
    );
    assert!(matches!(
        store.find_refresh(&stored(&rt)).await.unwrap(),
        idp::store::Lookup::Unused(_)
    ));
    assert!(
        store
            .refresh_token_grant(&stored(&rt), now)
            .await
            .unwrap()
            .is_some()
    );
    let (s, t2) = refresh(&k, &rt).await;
    assert_eq!(s, StatusCode::OK, "{t2}");
    assert_eq!(count_events(&k, "oidc.refresh.reused").await, 0);
    assert_eq!(
        userinfo(&k, t2["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );

    // Success spends the old token and stores the new one, together.
    let rt2 = t2["refresh_token"].as_str().unwrap();
    let next = idp::store::NewRefresh {
        token_hash: stored("the-successor"),
        expires_at: now + 3600,
    };
    assert!(matches!(
        store
            .rotate_refresh(&stored(rt2), now, Some(&next))
            .await
            .unwrap(),
        idp::store::Spend::Fresh
    ));
    assert!(matches!(
        store.find_refresh(&stored(rt2)).await.unwrap(),
        idp::store::Lookup::Used(_)
    ));
    assert!(matches!(
        store.find_refresh(&next.token_hash).await.unwrap(),
        idp::store::Lookup::Unused(_)
    ));
    let (s, _) = refresh(&k, "the-successor").await;
    assert_eq!(s, StatusCode::OK);
    // And a second rotation of the same token is a replay, storing nothing.
    let again = idp::store::NewRefresh {
        token_hash: stored("never-stored"),
        expires_at: now + 3600,
    };
    assert!(matches!(
        store
            .rotate_refresh(&stored(rt2), now, Some(&again))
            .await
            .unwrap(),
        idp::store::Spend::Replayed { .. }
    ));
    assert!(matches!(
        store.find_refresh(&again.token_hash).await.unwrap(),
        idp::store::Lookup::Unknown
    ));
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

#[tokio::test]
async fn public_client_needs_s256_pkce() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    // No challenge: error back to the (valid) redirect URI.
    let page = b.get(&authorize_url("spa", SPA_CB, &[])).await;
    let p = redirect_params(&page);
    assert_eq!(param(&p, "error"), Some("invalid_request"));
    assert_eq!(param(&p, "state"), Some("st-123"));
    assert_eq!(param(&p, "iss"), Some("https://portal.localhost"));
    // plain is refused.
    let page = b
        .get(&authorize_url(
            "spa",
            SPA_CB,
            &[
                ("code_challenge", VERIFIER),
                ("code_challenge_method", "plain"),
            ],
        ))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("invalid_request")
    );

    let ch = challenge(VERIFIER);
    let s256 = [
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = code_for(&mut b, "spa", SPA_CB, &s256).await;
    // Wrong verifier.
    let wrong = "A".repeat(43);
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_CB),
            ("client_id", "spa"),
            ("code_verifier", &wrong),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Right verifier, fresh code, no secret (token_endpoint_auth_method none).
    let code = code_for(&mut b, "spa", SPA_CB, &s256).await;
    let (s, _, t) = post(
        &k,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_CB),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(header_of(t["id_token"].as_str().unwrap())["alg"], "ES256");
    verify(&k, t["id_token"].as_str().unwrap()).await;
    // Missing verifier for a code with a challenge.
    let code = code_for(&mut b, "spa", SPA_CB, &s256).await;
    let (s, _, _) = post(
        &k,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_CB),
            ("client_id", "spa"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A public client presenting a secret is refused.
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("spa", "x")),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn invalid_client_or_redirect_uri_gets_a_page_not_a_redirect() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    for url in [
        authorize_url("wiki", "https://evil.example/cb", &[]),
        authorize_url("wiki", "https://wiki.example.com/callback/", &[]),
        authorize_url("nobody", WIKI_CB, &[]),
        "/oauth2/authorize?response_type=code&client_id=wiki".to_string(),
        "/oauth2/authorize?client_id=wiki&client_id=spa&redirect_uri=x".to_string(),
        format!(
            "/oauth2/authorize?client_id={}&redirect_uri=x",
            "a".repeat(5000)
        ),
        "/oauth2/authorize".to_string(),
        "/oauth2/authorize?%zz=%ff&&==".to_string(),
    ] {
        let page = b.get(&url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(page.location().is_none(), "{url}");
    }
    // Valid client and redirect URI: the rest of the errors go to the client.
    for (extra, err) in [
        (vec![("response_type", "token")], "invalid_request"), // repeated
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("request", "eyJ")], "request_not_supported"),
    ] {
        let page = b.get(&authorize_url("wiki", WIKI_CB, &extra)).await;
        assert_eq!(
            param(&redirect_params(&page), "error"),
            Some(err),
            "{extra:?}"
        );
    }
    let page = b
        .get(
            &authorize_url("wiki", WIKI_CB, &[])
                .replace("response_type=code", "response_type=token"),
        )
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("unsupported_response_type")
    );
    // Unknown scopes are ignored; a request left with none is refused.
    let page = b
        .get(&authorize_url("wiki", WIKI_CB, &[]).replace("scope=openid", "scope=openid+admin"))
        .await;
    assert!(param(&redirect_params(&page), "code").is_some(), "{page:?}");
    let page = b
        .get(
            &authorize_url("wiki", WIKI_CB, &[])
                .replace("scope=openid+profile+email+groups", "scope=admin+superuser"),
        )
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("invalid_scope")
    );
    let page = b.get(&authorize_url("machine", WIKI_CB, &[])).await;
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "machine has no redirect URIs"
    );
}

#[tokio::test]
async fn without_a_session_the_portal_signs_in_and_returns() {
    let k = oidc_kit().await;
    let mut b = k.browser();
    let url = authorize_url("wiki", WIKI_CB, &[("prompt", "none")]);
    let page = b.get(&url).await;
    let p = redirect_params(&page);
    assert_eq!(param(&p, "error"), Some("login_required"));
    assert_eq!(param(&p, "state"), Some("st-123"));

    let url = authorize_url("wiki", WIKI_CB, &[("login_hint", DEMO_EMAIL)]);
    let page = b.get(&url).await;
    let loc = page.location().unwrap().to_string();
    assert!(loc.starts_with("/login?return_to="), "{loc}");
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(loc.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let return_to = param(&q, "return_to").unwrap().to_string();
    assert!(return_to.starts_with("/oauth2/authorize?"));
    let login = b.get(&loc).await;
    assert!(login.has(DEMO_EMAIL), "login_hint pre-fills the email");
    let done = b.sign_in_to(DEMO_EMAIL, DEMO_PASSWORD, &return_to).await;
    assert_eq!(done.location(), Some(return_to.as_str()));
    let back = b.get(&return_to).await;
    assert!(param(&redirect_params(&back), "code").is_some());
}

#[tokio::test]
async fn prompt_login_and_max_age_force_a_new_sign_in() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    for extra in [vec![("prompt", "login")], vec![("max_age", "0")]] {
        let page = b.get(&authorize_url("wiki", WIKI_CB, &extra)).await;
        let loc = page.location().unwrap();
        assert!(
            loc.starts_with("/login?") && loc.contains("change=1"),
            "{loc}"
        );
        assert!(!loc.contains("prompt%3Dlogin"));
    }
    let page = b
        .get(&authorize_url("wiki", WIKI_CB, &[("max_age", "3600")]))
        .await;
    assert!(param(&redirect_params(&page), "code").is_some());
    let page = b
        .get(&authorize_url(
            "wiki",
            WIKI_CB,
            &[("prompt", "none"), ("max_age", "0")],
        ))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("login_required")
    );
}

#[tokio::test]
async fn users_not_assigned_to_the_application_are_denied() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let page = b.get(&authorize_url("payroll", WIKI_CB, &[])).await;
    let p = redirect_params(&page);
    assert_eq!(param(&p, "error"), Some("access_denied"));
    assert!(param(&p, "code").is_none());
}

/// Gives the demo user a second factor to verify (recovery codes).
async fn enroll_factor(k: &Kit) {
    let user = k.demo_user().await;
    k.idp
        .store
        .replace_recovery_codes(
            &user.id,
            &["hash-of-a-recovery-code".into()],
            idp::clock::now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_second_factor_that_cannot_be_met_is_an_error_for_the_client_not_a_page() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    // The demo user has no factor: the client hears why, the user is not
    // left on a 403 page.
    let essential = r#"{"id_token": {"acr": {"essential": true, "value": "mfa"}}}"#;
    for (client_id, extra) in [("secure", vec![]), ("wiki", vec![("claims", essential)])] {
        let page = b.get(&authorize_url(client_id, WIKI_CB, &extra)).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        let p = redirect_params(&page);
        assert!(page.location().unwrap().starts_with(WIKI_CB));
        assert_eq!(
            param(&p, "error"),
            Some("unmet_authentication_requirements")
        );
        assert_eq!(param(&p, "state"), Some("st-123"));
        assert!(param(&p, "code").is_none());
    }
    // acr_values is only a preference: a code, and the ID token says pwd.
    let code = code_for(&mut b, "wiki", WIKI_CB, &[("acr_values", "pwd mfa")]).await;
    let (s, t) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (_, id) = verify(&k, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["acr"], "pwd");
}

#[tokio::test]
async fn mfa_policy_sends_to_step_up_or_refuses() {
    let k = oidc_kit().await;
    enroll_factor(&k).await;
    let mut b = k.signed_in().await;
    let page = b.get(&authorize_url("secure", WIKI_CB, &[])).await;
    let loc = page.location().unwrap();
    assert!(
        loc.starts_with("/login/step-up?return_to=%2Foauth2%2Fauthorize"),
        "{loc}"
    );
    let page = b
        .get(&authorize_url("secure", WIKI_CB, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("interaction_required")
    );
    // acr_values=mfa asks the same of any client, for a user who can.
    let page = b
        .get(&authorize_url("wiki", WIKI_CB, &[("acr_values", "mfa")]))
        .await;
    assert!(page.location().unwrap().starts_with("/login/step-up"));
}

#[tokio::test]
async fn client_credentials_and_client_authentication() {
    let k = oidc_kit().await;
    let (s, _, t) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", MACHINE_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    let at = t["access_token"].as_str().unwrap().to_string();
    let (_, claims) = verify(&k, &at).await;
    assert_eq!(claims["sub"], "machine");
    // client_secret_post works too.
    let (s, _, _) = post(
        &k,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "machine"),
            ("client_secret", MACHINE_SECRET),
            ("scope", "profile"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Wrong secret: 401 with WWW-Authenticate.
    let (s, page, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(page.headers.get(header::WWW_AUTHENTICATE).is_some());
    assert_eq!(page.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    // Both methods at once, unknown client, no client.
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", MACHINE_SECRET)),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", MACHINE_SECRET),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (s, _, _) = post(
        &k,
        "/oauth2/token",
        Some(&basic("ghost", "x")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = post(
        &k,
        "/oauth2/token",
        None,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Grants the client may not use, unknown grants, bad scopes, repeats.
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &[("grant_type", "password")],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", MACHINE_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", MACHINE_SECRET)),
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (s, _, e) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", MACHINE_SECRET)),
        &[],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let big = "x".repeat(70_000);
    let (s, _, _) = post(
        &k,
        "/oauth2/token",
        Some(&basic("machine", MACHINE_SECRET)),
        &[("grant_type", &big)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Not a form body.
    let mut b = k.browser();
    let page = b
        .send(
            Request::post("/oauth2/token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        k.audit_events()
            .await
            .contains(&("oidc.token".into(), "failure".into()))
    );
}

#[tokio::test]
async fn introspection_tells_only_the_owning_client() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let wiki = basic("wiki", WIKI_SECRET);
    let (s, _, v) = post(&k, "/oauth2/introspect", Some(&wiki), &[("token", at)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], "wiki");
    assert!(v["exp"].is_i64() && v["scope"].is_string());
    let (_, _, v) = post(
        &k,
        "/oauth2/introspect",
        Some(&wiki),
        &[("token", rt), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(v["active"], true);
    let (_, _, v) = post(
        &k,
        "/oauth2/introspect",
        Some(&basic("machine", MACHINE_SECRET)),
        &[("token", at)],
    )
    .await;
    assert_eq!(v, json!({"active": false}), "another client's token");
    let (_, _, v) = post(
        &k,
        "/oauth2/introspect",
        Some(&wiki),
        &[("token", "garbage")],
    )
    .await;
    assert_eq!(v, json!({"active": false}));
    let (s, _, _) = post(
        &k,
        "/oauth2/introspect",
        Some(&basic("wiki", "bad")),
        &[("token", at)],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = post(
        &k,
        "/oauth2/introspect",
        None,
        &[("token", at), ("client_id", "spa")],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "public clients cannot introspect"
    );
}

#[tokio::test]
async fn revocation_of_refresh_and_access_tokens() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let wiki = basic("wiki", WIKI_SECRET);
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let (s, _, _) = post(
        &k,
        "/oauth2/revoke",
        Some(&wiki),
        &[("token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        userinfo(&k, t["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );

    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let at = t["access_token"].as_str().unwrap();
    // Another client cannot revoke it; unknown tokens still answer 200.
    let (s, _, _) = post(
        &k,
        "/oauth2/revoke",
        Some(&basic("machine", MACHINE_SECRET)),
        &[("token", at)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(userinfo(&k, at).await.0, StatusCode::OK);
    let (s, _, _) = post(&k, "/oauth2/revoke", Some(&wiki), &[("token", at)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(userinfo(&k, at).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::OK,
        "only the access token"
    );
    let (s, _, _) = post(&k, "/oauth2/revoke", Some(&wiki), &[("token", "unknown")]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = post(
        &k,
        "/oauth2/revoke",
        Some(&basic("wiki", "bad")),
        &[("token", "unknown")],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ending_sessions_revokes_refresh_tokens() {
    let k = oidc_kit().await;
    // Lock by the administrator: every grant of the user.
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    idp::admin::users::lock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    idp::admin::users::unlock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();

    // Portal sign-out: the grants of that session.
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let mut other = k.signed_in().await;
    let code2 = code_for(&mut other, "wiki", WIKI_CB, &[]).await;
    let (_, t2) = exchange(&k, &code2).await;
    b.get("/apps").await;
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        refresh(&k, t2["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::OK,
        "other session untouched"
    );

    // Password change: every grant.
    let code = code_for(&mut other, "wiki", WIKI_CB, &[]).await;
    let (_, t3) = exchange(&k, &code).await;
    idp::admin::users::set_password(
        &k.idp,
        &support::admin_actor(),
        DEMO_EMAIL,
        "Green-Valley-9134!",
    )
    .await
    .unwrap();
    assert_eq!(
        refresh(&k, t3["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn rp_initiated_logout() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let id_token = t["id_token"].as_str().unwrap();
    // Unregistered target: a page, nothing ended.
    let q = |target: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", target)
            .append_pair("state", "bye-1")
            .finish()
    };
    let page = b
        .get(&format!("/oauth2/logout?{}", q("https://evil.example/")))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
    // Forged hint.
    let page = b
        .get("/oauth2/logout?id_token_hint=eyJhbGciOiJub25lIn0.e30.")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // No hint: nothing is ended; the user is asked.
    let page = b.get("/oauth2/logout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("/oauth2/logout/confirm"), "{}", page.body);
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);

    let page = b
        .get(&format!(
            "/oauth2/logout?{}",
            q("https://wiki.example.com/bye")
        ))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        page.location(),
        Some("https://wiki.example.com/bye?state=bye-1")
    );
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login"),
        "portal session ended"
    );
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn client_config_validation_names_the_key() {
    let mut c = idp::IdpConfig::for_data_dir("/tmp/x".into());
    for (v, key) in [
        (
            json!({"client_id": "a b", "redirect_uris": [WIKI_CB], "application": "x"}),
            "oidc.clients[0].client_id",
        ),
        (
            json!({"client_id": "a", "application": "x"}),
            "oidc.clients[0].redirect_uris",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["http://evil.example/cb"], "application": "x"}),
            "oidc.clients[0].redirect_uris",
        ),
        (
            json!({"client_id": "a", "redirect_uris": ["https://a.example/cb#x"], "application": "x"}),
            "oidc.clients[0].redirect_uris",
        ),
        (
            json!({"client_id": "a", "redirect_uris": [WIKI_CB]}),
            "oidc.clients[0].application",
        ),
        (
            json!({"client_id": "a", "redirect_uris": [WIKI_CB], "application": "x", "client_secret_hash": "plain"}),
            "oidc.clients[0].client_secret_hash",
        ),
        (
            json!({"client_id": "a", "redirect_uris": [WIKI_CB], "application": "x", "grant_types": ["implicit"]}),
            "oidc.clients[0].grant_types",
        ),
        (
            json!({"client_id": "a", "grant_types": ["client_credentials"]}),
            "oidc.clients[0].grant_types",
        ),
        (
            json!({"client_id": "a", "redirect_uris": [WIKI_CB], "application": "x", "scopes": ["admin"]}),
            "oidc.clients[0].scopes",
        ),
        (
            json!({"client_id": "a", "redirect_uris": [WIKI_CB], "application": "x", "id_token_signed_response_alg": "HS256"}),
            "oidc.clients[0].id_token_signed_response_alg",
        ),
    ] {
        c.oidc.clients = vec![client(v.clone())];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with(key), "{v}: {e}");
    }
    let ok = json!({"client_id": "a", "redirect_uris": [WIKI_CB], "application": "x"});
    c.oidc.clients = vec![client(ok.clone()), client(ok)];
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("declared twice")
    );
}

#[tokio::test]
async fn portal_tile_starts_the_clients_login() {
    let k = kit_with(|c| {
        c.oidc.clients = vec![client(json!({
            "client_id": "wiki",
            "client_secret_hash": sha(WIKI_SECRET),
            "redirect_uris": [WIKI_CB],
            "application": "Team Wiki",
            "initiate_login_uri": "https://wiki.example.com/oidc/login",
        }))];
    })
    .await;
    let mut b = k.signed_in().await;
    let apps = k.idp.store.list_applications().await.unwrap();
    let wiki = apps.iter().find(|a| a.name == "Team Wiki").unwrap();
    let other = apps.iter().find(|a| a.name != "Team Wiki").unwrap();
    let page = b.get(&format!("/apps/{}/launch", wiki.id)).await;
    let loc = url::Url::parse(page.location().unwrap()).unwrap();
    assert_eq!(loc.path(), "/oidc/login");
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert_eq!(param(&q, "iss"), Some("https://portal.localhost"));
    assert_eq!(param(&q, "login_hint"), Some(DEMO_EMAIL));
    // Other tiles keep their launch URL.
    let page = b.get(&format!("/apps/{}/launch", other.id)).await;
    assert_eq!(page.location(), Some(other.launch_url.as_str()));
}

#[tokio::test]
async fn expired_or_foreign_access_tokens_are_refused_at_userinfo() {
    let k = oidc_kit().await;
    let user = k.demo_user().await;
    let keys = k.idp.oidc_keys().await.unwrap();
    let now = idp::clock::now();
    let claims = |iss: &str, exp: i64| {
        json!({"iss": iss, "sub": user.id, "aud": "wiki", "client_id": "wiki",
               "iat": now - 700, "exp": exp, "jti": "j1", "scope": "openid email"})
    };
    let rs = idp::oidc::keys::Alg::RS256;
    let live = keys
        .sign(rs, "at+jwt", &claims("https://portal.localhost", now + 60))
        .unwrap();
    assert_eq!(userinfo(&k, &live).await.0, StatusCode::OK);
    let expired = keys
        .sign(rs, "at+jwt", &claims("https://portal.localhost", now - 1))
        .unwrap();
    let (s, e) = userinfo(&k, &expired).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let foreign = keys
        .sign(rs, "at+jwt", &claims("https://other.example", now + 60))
        .unwrap();
    assert_eq!(userinfo(&k, &foreign).await.0, StatusCode::UNAUTHORIZED);
    // A token naming a client that does not exist (e.g. removed) is refused.
    let mut c = claims("https://portal.localhost", now + 60);
    c["client_id"] = json!("removed");
    let orphan = keys.sign(rs, "at+jwt", &c).unwrap();
    assert_eq!(userinfo(&k, &orphan).await.0, StatusCode::UNAUTHORIZED);
    // An ID token is not an access token.
    let id = keys
        .sign(rs, "JWT", &claims("https://portal.localhost", now + 60))
        .unwrap();
    assert_eq!(userinfo(&k, &id).await.0, StatusCode::UNAUTHORIZED);
}

/// A one-route HTTP server on loopback recording each back-channel logout token.
async fn logout_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let _ = tx.send(token);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{}/bcl", addr.port()), rx)
}

async fn next_token(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap()
}

#[tokio::test]
async fn backchannel_logout_tokens_on_sign_out_and_password_change() {
    let (uri, mut rx) = logout_receiver().await;
    let k = kit_with(|c| {
        c.oidc.clients = vec![client(json!({
            "client_id": "wiki",
            "client_secret_hash": sha(WIKI_SECRET),
            "redirect_uris": [WIKI_CB],
            "application": "Team Wiki",
            "backchannel_logout_uri": uri,
        }))];
    })
    .await;
    // Tokens are queued in the store and sent by the serving instance's task.
    let delivery = idp::oidc::backchannel::spawn_delivery(k.idp.clone());
    let user = k.demo_user().await;
    // Portal sign-out: a token naming the user and the session.
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let (_, id) = verify(&k, t["id_token"].as_str().unwrap()).await;
    b.get("/apps").await;
    b.post("/logout", &[]).await;
    let token = next_token(&mut rx).await;
    assert_eq!(header_of(&token)["typ"], "logout+jwt");
    let (_, c) = verify(&k, &token).await;
    assert_eq!(c["aud"], "wiki");
    assert_eq!(c["sub"], json!(user.id));
    assert_eq!(c["sid"], id["sid"], "the sid of the ID token");
    assert!(c["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(c.get("nonce").is_none() && c["jti"].is_string());

    // Password change: every session; this client registered no session
    // requirement, so one token and no sid.
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    exchange(&k, &code).await;
    idp::admin::users::set_password(
        &k.idp,
        &support::admin_actor(),
        DEMO_EMAIL,
        "Green-Valley-9134!",
    )
    .await
    .unwrap();
    let (_, c) = verify(&k, &next_token(&mut rx).await).await;
    assert_eq!(c["sub"], json!(user.id));
    assert!(c.get("sid").is_none());
    delivery.abort();
}

#[tokio::test]
async fn purge_removes_only_what_expired() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let now = idp::clock::now();
    assert_eq!(
        k.idp.store.purge_oidc(now).await.unwrap(),
        0,
        "nothing expired yet"
    );
    // Two months on, the code, refresh token and (a day after it ends) the grant go.
    assert!(k.idp.store.purge_oidc(now + 62 * 86_400).await.unwrap() >= 3);
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn cors_only_for_registered_origins() {
    let k = oidc_kit().await;
    let mut b = k.browser();
    let preflight = |origin: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/oauth2/token")
            .header(header::ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap()
    };
    let ok = b.send(preflight("http://localhost:3000")).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(
        ok.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(ok.headers.contains_key("access-control-allow-methods"));
    let evil = b.send(preflight("https://evil.example")).await;
    assert!(!evil.headers.contains_key("access-control-allow-origin"));
    // The actual request carries the header too.
    let page = b
        .send(
            Request::post("/oauth2/token")
                .header(header::ORIGIN, "http://localhost:3000")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    "grant_type=refresh_token&refresh_token=x&client_id=spa",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        page.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[tokio::test]
async fn a_state_that_cannot_be_echoed_is_refused_without_a_code() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let long = "s".repeat(5000);
    for extra in [vec![("state", "again")], vec![("state", long.as_str())]] {
        let url = authorize_url("wiki", WIKI_CB, &extra);
        let url = if extra[0].1 == "again" {
            url
        } else {
            url.replace("state=st-123&", "")
        };
        let page = b.get(&url).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        assert!(page.location().unwrap().starts_with(WIKI_CB));
        let p = redirect_params(&page);
        assert_eq!(param(&p, "error"), Some("invalid_request"), "{p:?}");
        assert!(param(&p, "code").is_none() && param(&p, "state").is_none());
    }
    // request_uri (until PAR) has its own error.
    let page = b
        .get(&authorize_url(
            "wiki",
            WIKI_CB,
            &[("request_uri", "urn:ietf:params:oauth:request_uri:abc")],
        ))
        .await;
    assert_eq!(
        param(&redirect_params(&page), "error"),
        Some("request_uri_not_supported")
    );
}

#[tokio::test]
async fn phone_address_and_the_claims_parameter_over_http() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let claims = r#"{"userinfo": {"email": null}}"#;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[("claims", claims)]).await;
    let (s, t) = exchange(&k, &code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, info) = userinfo(&k, t["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(info["email"], DEMO_EMAIL);
    let page = b.get("/.well-known/openid-configuration").await;
    let m: Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(m["claims_parameter_supported"], true);
    for scope in ["phone", "address"] {
        assert!(
            m["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope))
        );
    }
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let good = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WIKI_CB),
    ];
    let (s, ok, _) = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &good,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Used: an error now, which must not be cached either.
    let (s, err, _) = post(
        &k,
        "/oauth2/token",
        Some(&basic("wiki", WIKI_SECRET)),
        &good,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for page in [&ok, &err] {
        let h = |n| page.headers.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(h(header::CACHE_CONTROL), Some("no-store"));
        assert_eq!(h(header::PRAGMA), Some("no-cache"));
    }
}

#[tokio::test]
async fn userinfo_without_a_token_is_challenged_without_an_error_code() {
    let k = oidc_kit().await;
    let mut b = k.browser();
    let page = b
        .send(
            Request::get("/oauth2/userinfo")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let challenge = page
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    assert!(!challenge.contains("error"), "{challenge:?}");
    // A bad token is named as such.
    let page = b
        .send(
            Request::get("/oauth2/userinfo")
                .header(header::AUTHORIZATION, "Bearer not-a-token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

/// The secret recipe in config.example.toml gives secrets any RP can send
/// in a Basic header or a form unchanged: hex, never base64 (`+`, `/`, `=`).
#[test]
fn the_documented_client_secret_recipe_gives_url_safe_secrets() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config.example.toml"
    ))
    .unwrap();
    let at = example
        .find("client_secret_hash")
        .expect("the example documents client_secret_hash");
    let around = &example[at.saturating_sub(600)..(at + 600).min(example.len())];
    assert!(around.contains("openssl rand -hex"), "{around}");
    assert!(!around.contains("rand -base64"), "{around}");
    // The CLI's generated secrets are base64url: letters, digits, - and _.
    let s = idp::crypto::random_token();
    assert!(
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{s}"
    );
}

#[tokio::test]
async fn rp_initiated_logout_without_a_hint_asks_the_user_and_checks_the_form() {
    let k = oidc_kit().await;
    let mut b = k.signed_in().await;
    let code = code_for(&mut b, "wiki", WIKI_CB, &[]).await;
    let (_, t) = exchange(&k, &code).await;
    let bye = "https://wiki.example.com/bye";
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "wiki")
        .append_pair("post_logout_redirect_uri", bye)
        .append_pair("state", "s-9")
        .finish();
    // Asked, not sent back as if signed out.
    let page = b.get(&format!("/oauth2/logout?{q}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.location().is_none());
    assert!(
        page.has("action=\"/oauth2/logout/confirm\""),
        "{}",
        page.body
    );
    assert!(page.has("name=\"state\" value=\"s-9\""));
    assert!(page.has("/static/portal.css"), "the portal's look");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' https://wiki.example.com"),
        "{csp}"
    );
    assert_eq!(
        b.get("/apps").await.status,
        StatusCode::OK,
        "still signed in"
    );
    // An access token is no hint.
    let page = b
        .get(&format!(
            "/oauth2/logout?id_token_hint={}",
            t["access_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let fields = [
        ("client_id", "wiki"),
        ("post_logout_redirect_uri", bye),
        ("state", "s-9"),
    ];
    // Without the form's token, or from another origin: refused.
    let page = b.post_raw("/oauth2/logout/confirm", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let mut with_token: Vec<(&str, &str)> = fields.to_vec();
    let token = b.csrf.clone().unwrap();
    with_token.push(("csrf", &token));
    let page = b
        .send(
            Request::post("/oauth2/logout/confirm")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, "https://evil.example.com")
                .body(Body::from(
                    serde_urlencoded::to_string(&with_token).unwrap(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.get("/apps").await.status,
        StatusCode::OK,
        "still signed in"
    );
    // Confirmed: signed out, back to the client with its state.
    let page = b.post("/oauth2/logout/confirm", &fields).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    assert_eq!(
        page.location(),
        Some("https://wiki.example.com/bye?state=s-9")
    );
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login"),
        "portal session ended"
    );
    assert_eq!(
        refresh(&k, t["refresh_token"].as_str().unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    // Nobody signed in: straight back to the client.
    let mut anon = k.browser();
    let page = anon.get(&format!("/oauth2/logout?{q}")).await;
    assert_eq!(
        page.location(),
        Some("https://wiki.example.com/bye?state=s-9")
    );
}
