//! Interoperability with the Rust `openidconnect` crate (an independent
//! relying-party library) against the real `portcullis` binary over HTTPS:
//! discovery, code + PKCE with state and nonce, ID token signature and
//! claims, userinfo, refresh rotation, introspection, revocation, client
//! credentials, and the failure cases. The browser's part (portal sign-in,
//! the authorization redirect) is played by a cookie-keeping HTTP client.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use idp::crypto::sha256_hex;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RevocationUrl, Scope, TokenIntrospectionResponse, TokenResponse,
};

const PASSWORD: &str = "Blue-Harbor-7421!";
const SECRET: &str = "rp-secret-7e6d5c4b3a29180f7e6d5c4b3a29180f";
const SVC_SECRET: &str = "svc-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const CB: &str = "https://rp.example.com/cb";

struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn url(&self) -> String {
        format!("https://portal.localhost:{}", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// An HTTPS client trusting the development CA, resolving portal.localhost to loopback.
    fn http(&self, cookies: bool) -> openidconnect::reqwest::Client {
        let ca = std::fs::read(self.dir.path().join("data/certs/ca.pem")).unwrap();
        openidconnect::reqwest::Client::builder()
            .add_root_certificate(openidconnect::reqwest::Certificate::from_pem(&ca).unwrap())
            .resolve("portal.localhost", self.addr())
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .cookie_store(cookies)
            .build()
            .unwrap()
    }
}

async fn start() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "https://portal.localhost:{port}"
[store]
data_dir = "data"
[passwords]
argon2_memory_kib = 8192
argon2_iterations = 1
[demo]
password = "{PASSWORD}"
[log]
level = "warn"
[[oidc.clients]]
client_id = "rp"
client_secret_hash = "sha256:{}"
redirect_uris = ["{CB}"]
application = "Team Wiki"
[[oidc.clients]]
client_id = "svc"
client_secret_hash = "sha256:{}"
grant_types = ["client_credentials"]
scopes = ["profile"]
"#,
        sha256_hex(SECRET.as_bytes()),
        sha256_hex(SVC_SECRET.as_bytes())
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port, dir };
    for _ in 0..300 {
        if server.dir.path().join("data/certs/ca.pem").exists()
            && let Ok(res) = server
                .http(false)
                .get(format!("{}/healthz", server.url()))
                .send()
                .await
            && res.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("portcullis did not become healthy");
}

/// Signs in through the portal's two-step form with `browser`.
async fn sign_in(server: &Server, browser: &openidconnect::reqwest::Client) {
    let page = browser
        .get(format!("{}/login", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let res = browser
        .post(format!("{}/login", server.url()))
        .form(&[("csrf", csrf), ("email", "demo@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = browser
        .post(format!("{}/login/password", server.url()))
        .form(&[("csrf", csrf), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/apps");
}

/// Follows the authorization URL in the signed-in browser; returns the callback's query.
async fn authorize(
    browser: &openidconnect::reqwest::Client,
    url: &openidconnect::url::Url,
) -> Vec<(String, String)> {
    let res = browser.get(url.as_str()).send().await.unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(CB), "{loc}");
    openidconnect::url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn openidconnect_crate_interoperates() {
    let server = start().await;
    let http = server.http(false);
    let browser = server.http(true);
    sign_in(&server, &browser).await;

    // Discovery.
    let issuer = IssuerUrl::new(server.url()).unwrap();
    let meta = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        meta.clone(),
        ClientId::new("rp".into()),
        Some(ClientSecret::new(SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap())
    .set_introspection_url(
        IntrospectionUrl::new(format!("{}/oauth2/introspect", server.url())).unwrap(),
    )
    .set_revocation_url(RevocationUrl::new(format!("{}/oauth2/revoke", server.url())).unwrap());

    // Code + PKCE, state and nonce; ID token signature and claims.
    let code_flow = |rp: &CoreClient<_, _, _, _, _, _>| {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        (url, state, nonce, verifier)
    };
    let (url, state, nonce, verifier) = code_flow(&rp);
    let q = authorize(&browser, &url).await;
    assert_eq!(get(&q, "state"), Some(state.secret().as_str()));
    assert_eq!(get(&q, "iss"), Some(server.url().as_str()));
    let code = get(&q, "code").unwrap().to_string();
    let verifier_again = PkceCodeVerifier::new(verifier.secret().clone());
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("ID token verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("demo@example.com"));
    assert!(claims.auth_time().is_some());
    let sub = claims.subject().clone();

    // Replayed code without the verifier: refused, and nothing revoked (a
    // leaked code alone cannot end the grant).
    let replay = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(replay.is_err());
    let intro = rp
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(intro.active());
    // Replayed with it, as the client itself would.
    let replay = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier_again)
        .request_async(&http)
        .await;
    assert!(replay.is_err());
    // ... which revoked what the code produced.
    let intro = rp
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!intro.active());

    // A fresh flow for the rest.
    let (url, _, nonce, verifier) = code_flow(&rp);
    let q = authorize(&browser, &url).await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(get(&q, "code").unwrap().into()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &nonce)
        .unwrap();

    // UserInfo.
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), Some(sub.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("demo@example.com"));
    // An unknown token is refused.
    assert!(
        rp.user_info(AccessToken::new("nope".into()), None)
            .unwrap()
            .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http)
            .await
            .is_err()
    );

    // Introspection.
    let intro = rp
        .introspect(tokens.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(intro.active());

    // Refresh rotation; reuse revokes the family.
    let rt1 = tokens.refresh_token().unwrap().clone();
    let next = rp
        .exchange_refresh_token(&rt1)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let rt2 = next.refresh_token().unwrap().clone();
    assert_ne!(rt1.secret(), rt2.secret());
    // The RP uses its new token, then the old one comes back: the family ends.
    let rt3 = rp
        .exchange_refresh_token(&rt2)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh with the new token")
        .refresh_token()
        .unwrap()
        .clone();
    assert!(
        rp.exchange_refresh_token(&rt1)
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );
    assert!(
        rp.exchange_refresh_token(&rt3)
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );

    // Revocation.
    let (url, _, _, verifier) = code_flow(&rp);
    let q = authorize(&browser, &url).await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(get(&q, "code").unwrap().into()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let rt: RefreshToken = tokens.refresh_token().unwrap().clone();
    rp.revoke_token(openidconnect::core::CoreRevocableToken::RefreshToken(
        rt.clone(),
    ))
    .unwrap()
    .request_async(&http)
    .await
    .expect("revocation");
    assert!(
        rp.exchange_refresh_token(&rt)
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );

    // PKCE verifier mismatch.
    let (url, _, _, _) = code_flow(&rp);
    let q = authorize(&browser, &url).await;
    assert!(
        rp.exchange_code(AuthorizationCode::new(get(&q, "code").unwrap().into()))
            .unwrap()
            .set_pkce_verifier(PkceCodeVerifier::new("y".repeat(43)))
            .request_async(&http)
            .await
            .is_err()
    );

    // Wrong redirect URI: a page for the user, no redirect.
    let bad = rp
        .clone()
        .set_redirect_uri(RedirectUrl::new("https://rp.example.com/evil".into()).unwrap());
    let (url, _, _, _) = code_flow(&bad);
    let res = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());

    // Client credentials, and a wrong secret.
    let svc = CoreClient::from_provider_metadata(
        meta.clone(),
        ClientId::new("svc".into()),
        Some(ClientSecret::new(SVC_SECRET.into())),
    );
    let t = svc
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("profile".into()))
        .request_async(&http)
        .await
        .expect("client credentials");
    assert!(t.refresh_token().is_none());
    let wrong = CoreClient::from_provider_metadata(
        meta,
        ClientId::new("svc".into()),
        Some(ClientSecret::new("wrong".into())),
    );
    let err = wrong
        .exchange_client_credentials()
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_client"), "{err:?}");
}
