//! The gateway's identity assertion (`X-Portcullis-Assertion`): signed with
//! the provider's published keys, for one audience, short-lived, and refused
//! once tampered with. (The end-to-end suite verifies it with npm `jose`.)

mod support;

use idp::oidc::assertion::{ASSERTION_LIFETIME_SECS, ASSERTION_TYP, Subject};

#[tokio::test]
async fn an_assertion_verifies_against_the_published_keys_and_nothing_else() {
    let k = support::kit().await;
    let now = idp::clock::now();
    let groups = vec!["Staff".to_string()];
    let amr = vec!["pwd".to_string(), "otp".to_string()];
    let subject = Subject {
        user_id: "u-1",
        email: "a@example.com",
        groups: &groups,
        amr: &amr,
        auth_time: now - 10,
    };
    let (jwt, exp) = k
        .idp
        .sign_assertion(&subject, "https://wiki.localhost:8443", now)
        .await
        .unwrap();
    assert_eq!(exp, now + ASSERTION_LIFETIME_SECS);
    assert!(exp - now < 60, "under a minute");

    let keys = k.idp.oidc_keys().await.unwrap();
    let (typ, claims) = keys.verify(&jwt).expect("signed by a published key");
    assert_eq!(typ, ASSERTION_TYP);
    assert_eq!(claims["iss"], k.idp.issuer());
    assert_eq!(claims["aud"], "https://wiki.localhost:8443");
    assert_eq!(claims["sub"], "u-1");
    assert_eq!(claims["email"], "a@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["Staff"]));
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(claims["auth_time"], now - 10);
    assert_eq!(claims["exp"], exp);
    let header_b64 = jwt.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&idp::crypto::b64url_decode(header_b64).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let published = keys.jwks();
    assert!(
        published["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kid"] == header["kid"]),
        "its key is in the JWKS"
    );

    // Another subject's claims under this signature: refused.
    let mut parts: Vec<&str> = jwt.split('.').collect();
    let forged = idp::crypto::b64url(
        serde_json::to_string(
            &serde_json::json!({"sub": "admin", "aud": "https://wiki.localhost:8443"}),
        )
        .unwrap()
        .as_bytes(),
    );
    parts[1] = &forged;
    assert!(keys.verify(&parts.join(".")).is_none(), "tampered");
    // Two assertions for the same subject differ (jti): no replay cache collisions.
    let (again, _) = k
        .idp
        .sign_assertion(&subject, "https://wiki.localhost:8443", now)
        .await
        .unwrap();
    assert_ne!(again, jwt);
}
