//! The one session check (`Idp::resume`), seen through each of its callers:
//! the portal, an OpenID Connect authorization, a SAML SSO and the gateway's
//! lookup by key. Each refuses a session whose account was locked or whose
//! password was set after it began (written straight to the store, as an
//! administrator's CLI in another process does, so no revocation reaches
//! this one), and a passkey-only session past `[mfa] passkey_reverify`.

mod support;

use axum::http::StatusCode;
use idp::directory::LockReason;
use idp::session::{Presented, Refusal};
use serde_json::json;
use support::{Browser, Kit, kit_with};

const CB: &str = "https://wiki.example.com/callback";
const SP: &str = "https://sp.example.com/metadata";
const ACS: &str = "https://sp.example.com/acs";
const HOUR: i64 = 3600;

async fn resume_kit() -> Kit {
    kit_with(|c| {
        c.oidc.clients = vec![
            serde_json::from_value(json!({
                "client_id": "spa",
                "redirect_uris": [CB],
                "application": "Team Wiki",
            }))
            .unwrap(),
        ];
        c.saml.service_providers = vec![
            serde_json::from_value(json!({
                "entity_id": SP,
                "acs": [{"url": ACS}],
                "application": "Team Wiki",
            }))
            .unwrap(),
        ];
    })
    .await
}

/// Which way the session went bad.
#[derive(Debug, Clone, Copy)]
enum Bad {
    Locked,
    PasswordChanged,
    PasskeyDue,
}

/// A browser holding a session that is good until `bad` happens to it;
/// returns the browser and the session's cookie value.
async fn session(k: &Kit, bad: Option<Bad>) -> (Browser, String) {
    let now = idp::clock::now();
    let user = k.demo_user().await;
    k.idp
        .store
        .set_password_changed_at(&user.id, now - 20 * HOUR)
        .await
        .unwrap();
    // Passkey-only, signed in 13 h ago: past the default 12 h re-verification.
    let (amr, auth_time) = match bad {
        Some(Bad::PasskeyDue) => (vec!["hwk".to_string()], now - 13 * HOUR),
        _ => (vec!["pwd".to_string()], now - HOUR),
    };
    let mfa_at = matches!(bad, Some(Bad::PasskeyDue)).then_some(auth_time);
    let (token, _) = k
        .idp
        .sessions
        .create_with(&user.id, amr, None, auth_time, mfa_at, now)
        .await
        .unwrap();
    match bad {
        Some(Bad::Locked) => {
            k.idp
                .store
                .lock_user(&user.id, LockReason::Admin)
                .await
                .unwrap();
        }
        Some(Bad::PasswordChanged) => {
            k.idp
                .store
                .set_password_changed_at(&user.id, now)
                .await
                .unwrap();
        }
        _ => {}
    }
    let mut b = k.browser();
    b.cookies
        .insert("__Host-portcullis_session".into(), token.clone());
    (b, token)
}

/// Why the gateway's lookup by key refuses the session now.
async fn refusal(k: &Kit, token: &str) -> Refusal {
    let key = idp::session::SessionKey::of_token(token);
    k.idp
        .resume(Presented::Key(&key), idp::clock::now())
        .await
        .unwrap()
        .expect_err("refused")
}

fn authorize() -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "spa")
        .append_pair("redirect_uri", CB)
        .append_pair("scope", "openid")
        .append_pair("state", "s1")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("/oauth2/authorize?{q}")
}

fn idp_init() -> String {
    format!(
        "/saml/idp-init?sp={}",
        url::form_urlencoded::byte_serialize(SP.as_bytes()).collect::<String>()
    )
}

/// Where each caller sends the browser: (portal, OIDC, SAML).
async fn answers(b: &mut Browser) -> [String; 3] {
    let portal = b.get("/apps").await;
    let oidc = b.get(&authorize()).await;
    let saml = b.get(&idp_init()).await;
    [portal, oidc, saml].map(|p| match p.location() {
        Some(l) => l.to_string(),
        None => format!("{} page", p.status),
    })
}

#[tokio::test]
async fn a_good_session_passes_every_caller() {
    let k = resume_kit().await;
    let (mut b, token) = session(&k, None).await;
    let [portal, oidc, saml] = answers(&mut b).await;
    assert_eq!(portal, "200 OK page", "the portal's applications");
    assert!(oidc.starts_with(CB) && oidc.contains("code="), "{oidc}");
    assert_eq!(saml, "200 OK page", "the SAML Response form");
    let key = idp::session::SessionKey::of_token(&token);
    let live = k
        .idp
        .resume(Presented::Key(&key), idp::clock::now())
        .await
        .unwrap();
    assert!(live.is_ok(), "the gateway's lookup by key: {live:?}");
}

#[tokio::test]
async fn a_locked_account_or_a_newer_password_ends_the_session_for_every_caller() {
    for bad in [Bad::Locked, Bad::PasswordChanged] {
        // Each caller on its own session: the first refusal ends it.
        for caller in 0..4 {
            let k = resume_kit().await;
            let (mut b, token) = session(&k, Some(bad)).await;
            match caller {
                0 => {
                    let page = b.get("/apps").await;
                    assert!(
                        page.location().unwrap().starts_with("/login"),
                        "{bad:?}: portal"
                    );
                }
                1 => {
                    let page = b.get(&authorize()).await;
                    let to = page.location().unwrap();
                    assert!(
                        to.starts_with("/login"),
                        "{bad:?}: OIDC sent to sign in, not {to}"
                    );
                    assert!(!to.contains("code="));
                }
                2 => {
                    let page = b.get(&idp_init()).await;
                    assert!(
                        page.location().unwrap().starts_with("/login"),
                        "{bad:?}: SAML sent to sign in"
                    );
                    assert!(!page.body.contains("SAMLResponse"));
                }
                _ => {
                    let why = refusal(&k, &token).await;
                    let want = match bad {
                        Bad::Locked => Refusal::Locked,
                        _ => Refusal::PasswordChanged,
                    };
                    assert_eq!(why, want, "the gateway's lookup");
                }
            }
            // Whichever caller saw it, the session is gone for all.
            let after = refusal(&k, &token).await;
            assert_eq!(
                after,
                Refusal::Unknown,
                "{bad:?}: caller {caller} ended the session"
            );
        }
    }
}

#[tokio::test]
async fn a_passkey_session_past_reverification_is_sent_to_verify_by_every_caller() {
    let k = resume_kit().await;
    let (mut b, token) = session(&k, Some(Bad::PasskeyDue)).await;
    let [portal, oidc, saml] = answers(&mut b).await;
    for (who, to) in [("portal", &portal), ("OIDC", &oidc), ("SAML", &saml)] {
        assert!(
            to.starts_with("/login?reverify=1"),
            "{who}: to the passkey re-verification, not {to}"
        );
    }
    assert!(oidc.contains("return_to=%2Foauth2%2Fauthorize"), "{oidc}");
    assert!(saml.contains("return_to=%2Fsaml%2Fidp-init"), "{saml}");
    let why = refusal(&k, &token).await;
    assert_eq!(why, Refusal::PasskeyReverify, "the gateway's lookup");
    // Kept (the passkey sign-in replaces it): still due, not unknown.
    let again = refusal(&k, &token).await;
    assert_eq!(again, Refusal::PasskeyReverify);
    let page = b.get("/login?reverify=1").await;
    assert_eq!(page.status, StatusCode::OK);
}
