//! Federated sign-in in memory: routing at the email step, the local
//! password rule, the account decision (provision, link by subject, link by
//! verified email, group mapping, MFA) and the failure pages of every
//! endpoint for bad input. The real providers are exercised end to end in
//! tests/e2e/federation.test.mjs.

mod support;

use axum::http::StatusCode;
use idp::federation::{FederationError, Identity};
use idp::session::Presented;
use idp::sign_in::SignIn;
use support::{Kit, kit_with};

/// A public certificate made for these tests (no key is kept anywhere).
const CERT: &str = "MIIDBzCCAe+gAwIBAgIUQDUxSWQCggqS7/BRKbEkqgXVPzwwDQYJKoZIhvcNAQELBQAwEzERMA8GA1UEAwwIdGVzdC1pZHAwHhcNMjYxMTIzMTY0NDIwWhcNMzYxMTIwMTY0NDIwWjATMREwDwYDVQQDDAh0ZXN0LWlkcDCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAINV9oH2UZ9FU1OFqsOBY15KyElW5SowlxVz82M98uVnxoqAnebdxxbzf9Ar/DqJ7Ny15Y+BBRNw1g6rMauwvwoY1uBYABabsxBIfql+Wy5iRIAdP5yti00yjXAimt2CjfVtqdNKM70Z62RUlkwSFCIWKBFUMFVW34Oxn0diCncEoSklSjW0m0e9FqVVqG2Pp/RbVrdHg/wGBywcOWHb4ZBPIDMqaXCImKFF6BukupMObssw0HRf6jV+xU6j/4U1KjNfmClbVp7XoT+bXP3GUilHsVNlNSnE5SpaHAFfdBXLTakHVE4e0qCGHIuSdnp3YUOpkn8AlxtDNbng7ieZ06sCAwEAAaNTMFEwHQYDVR0OBBYEFN3EFzOR8yomoM+ksBcbAhjxLF3ZMB8GA1UdIwQYMBaAFN3EFzOR8yomoM+ksBcbAhjxLF3ZMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBAIAYe69bst3Wv/LtVv8zCGfaDBfQHbiiRRLjPeHMbSGmAEMre1Hvfe682JQqqf9C1LjkAboi5tW1FBTjQz6Skfyjl2iLyoBBdmkeCr+Hpk8RjB6CTZ3xpFsKOXCqlQ58vcbMQzXoHRjtg8hNWMUYKA+7kftmdiIaCpPX89d88fc61F+I0cUGLvNtXE1wYnyWMNf1gTzTrPb9Eggq9rejP96+bwRoDeD9yJtdqe8iUyGMRJLVB7baLdr53CgdytXBIiItKj+43MVzjVHJSH2V9FOLd+UcAdtcybIqfhv+u5ZibuP9XvXXQsNKs8aA05JklDyK27vTFmxh4r7XRHxc67Q=";

fn metadata() -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.saml.example/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.saml.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// Providers nobody answers for: an OIDC issuer on a closed port and a SAML
/// IdP known from a metadata file.
async fn fed_kit(extra: &str) -> (Kit, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(&md, metadata()).unwrap();
    let text = format!(
        r#"
[[oidc]]
id = "partner"
name = "Partner"
domains = ["partner.example"]
issuer = "http://127.0.0.1:1"
client_id = "portcullis"
client_secret = "0123456789abcdef"
group_map = {{ "eng" = "Engineers" }}
default_groups = ["Partners"]
{extra}

[[saml]]
id = "saml"
name = "SAML Partner"
domains = ["saml.example"]
metadata_file = "{}"
"#,
        md.display()
    );
    let fed: idp::federation::FederationConfig = toml::from_str(&text).unwrap();
    fed.validate().unwrap();
    let kit = kit_with(|c| c.federation = fed).await;
    (kit, dir)
}

fn identity(subject: &str, email: &str) -> Identity {
    Identity {
        provider: "partner".into(),
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: true,
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        groups: vec![],
        upstream_mfa: false,
        logout_hint: None,
    }
}

async fn sign_in(kit: &Kit, id: &Identity) -> Result<SignIn, FederationError> {
    let p = kit.idp.federation.get(&id.provider).unwrap();
    kit.idp.federated_sign_in(p.common(), id, None).await
}

#[tokio::test]
async fn the_email_step_routes_federated_domains_to_their_provider() {
    let (kit, _d) = fed_kit("").await;
    let mut b = kit.browser();
    b.get("/login").await;
    let step = b
        .post(
            "/login",
            &[("email", "Ann@Partner.example"), ("return_to", "")],
        )
        .await;
    assert_eq!(step.location(), Some("/login/federation/partner"));
    let note = b.get("/login/federation/partner").await;
    assert!(
        note.has("You will be routed to your identity provider's login page"),
        "{}",
        note.body
    );
    assert!(note.has("Continue to Partner"));
    assert!(!note.has("Use a password instead"));
    // The password page is not for this domain.
    assert_eq!(
        b.get("/login/password").await.location(),
        Some("/login/federation/partner")
    );
    // Other domains continue as before.
    let mut other = kit.browser();
    other.get("/login").await;
    let step = other
        .post(
            "/login",
            &[("email", "demo@example.com"), ("return_to", "")],
        )
        .await;
    assert_eq!(step.location(), Some("/login/password"));
    assert_eq!(
        kit.browser().get("/login/federation/nobody").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_unreachable_provider_gets_a_page_naming_it_and_creates_nothing() {
    let (kit, _d) = fed_kit("").await;
    let mut b = kit.browser();
    b.get("/login").await;
    b.post(
        "/login",
        &[("email", "ann@partner.example"), ("return_to", "")],
    )
    .await;
    let page = b.get("/login/federation/partner/start").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.has("Sign-in with Partner failed"), "{}", page.body);
    assert!(page.has("Back to sign in"));
    assert!(
        kit.idp
            .store
            .user_by_email("ann@partner.example")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        kit.audit_events()
            .await
            .contains(&("federation.signin".into(), "failure".into()))
    );
}

#[tokio::test]
async fn local_passwords_are_refused_for_federated_domains_unless_allowed() {
    let (kit, _d) = fed_kit("").await;
    let out = kit
        .idp
        .sign_in("someone@partner.example", "whatever", None)
        .await
        .unwrap();
    assert!(
        matches!(out, SignIn::Federated(ref p) if p == "partner"),
        "{out:?}"
    );
    let (open, _d2) = fed_kit("allow_local_password = true").await;
    let out = open
        .idp
        .sign_in("someone@partner.example", "whatever", None)
        .await
        .unwrap();
    assert!(matches!(out, SignIn::Invalid), "{out:?}");
}

#[tokio::test]
async fn first_sign_in_provisions_and_later_ones_match_the_subject() {
    let (kit, _d) = fed_kit("").await;
    let mut id = identity("sub-1", "ann@partner.example");
    id.groups = vec!["eng".into(), "unmapped".into()];
    let SignIn::Success { user, token, .. } = sign_in(&kit, &id).await.unwrap() else {
        panic!("no session");
    };
    assert_eq!(user.email, "ann@partner.example");
    assert!(
        user.password_hash.is_none(),
        "federated users have no local password"
    );
    let mut groups = kit.idp.store.groups_of(&user.id).await.unwrap();
    groups.sort();
    assert_eq!(groups, ["Engineers", "Partners"]);
    let session = kit
        .idp
        .resume(Presented::Token(&token), idp::clock::now())
        .await
        .unwrap()
        .unwrap()
        .session;
    assert_eq!(session.amr, ["fed"]);
    assert_eq!(session.mfa_at, None);

    // Same subject, new email upstream: the same account, groups follow.
    let mut again = identity("sub-1", "ann.lee@partner.example");
    again.groups = vec![];
    let SignIn::Success { user: same, .. } = sign_in(&kit, &again).await.unwrap() else {
        panic!("no session");
    };
    assert_eq!(same.id, user.id);
    assert_eq!(
        kit.idp.store.groups_of(&user.id).await.unwrap(),
        ["Partners"]
    );
    assert!(
        kit.idp
            .store
            .user_by_email("ann.lee@partner.example")
            .await
            .unwrap()
            .is_none()
    );

    // Another subject claiming Ann's email cannot take her account.
    let err = sign_in(&kit, &identity("sub-2", "ann@partner.example"))
        .await
        .unwrap_err();
    assert!(matches!(err, FederationError::AlreadyLinked), "{err:?}");
    let events = kit.audit_events().await;
    assert!(events.contains(&("federation.provision".into(), "success".into())));
    assert!(events.contains(&("federation.groups".into(), "success".into())));
}

#[tokio::test]
async fn existing_accounts_are_linked_by_verified_email_only() {
    let (kit, _d) = fed_kit("").await;
    let local = idp::admin::users::add(
        &kit.idp,
        &support::admin_actor(),
        idp::admin::users::NewUser {
            email: "bob@partner.example".into(),
            first_name: "Bob".into(),
            last_name: "Local".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .user;
    let mut unverified = identity("sub-b", "bob@partner.example");
    unverified.email_verified = false;
    let err = sign_in(&kit, &unverified).await.unwrap_err();
    assert!(matches!(err, FederationError::EmailNotVerified), "{err:?}");
    assert!(
        kit.idp
            .store
            .federated_links_of(&local.id)
            .await
            .unwrap()
            .is_empty()
    );
    let SignIn::Success { user, .. } = sign_in(&kit, &identity("sub-b", "bob@partner.example"))
        .await
        .unwrap()
    else {
        panic!("no session");
    };
    assert_eq!(user.id, local.id);
    assert_eq!(user.last_name, "Local");
    let links = kit.idp.store.federated_links_of(&local.id).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].subject, "sub-b");
}

#[tokio::test]
async fn a_provider_speaks_only_for_its_own_domains() {
    let (kit, _d) = fed_kit("").await;
    let err = sign_in(&kit, &identity("sub-x", "demo@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, FederationError::ForeignDomain), "{err:?}");
    let mut none = identity("sub-x", "");
    none.email = None;
    assert!(matches!(
        sign_in(&kit, &none).await.unwrap_err(),
        FederationError::NoEmail
    ));
    let (closed, _d2) = fed_kit("provision = false").await;
    let err = sign_in(&closed, &identity("sub-y", "new@partner.example"))
        .await
        .unwrap_err();
    assert!(matches!(err, FederationError::NoAccount), "{err:?}");
    assert!(
        closed
            .idp
            .store
            .user_by_email("new@partner.example")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn upstream_mfa_counts_only_when_the_provider_is_trusted_for_it() {
    let (kit, _d) = fed_kit("").await;
    kit.set("mfa.policy", "required").await;
    let mut id = identity("sub-m", "mia@partner.example");
    id.upstream_mfa = true; // claimed, but this provider is not trusted for it
    let out = sign_in(&kit, &id).await.unwrap();
    assert!(
        matches!(out, SignIn::SecondFactor { enrol: true, .. }),
        "{out:?}"
    );

    let (trusting, _d2) = fed_kit("accept_upstream_mfa = true").await;
    trusting.set("mfa.policy", "required").await;
    let SignIn::Success { token, .. } = sign_in(&trusting, &id).await.unwrap() else {
        panic!("upstream MFA was not accepted");
    };
    let s = trusting
        .idp
        .resume(Presented::Token(&token), idp::clock::now())
        .await
        .unwrap()
        .unwrap()
        .session;
    assert_eq!(s.amr, ["fed", "mfa"]);
    assert!(s.mfa_at.is_some());
    id.upstream_mfa = false;
    let out = sign_in(&trusting, &id).await.unwrap();
    assert!(matches!(out, SignIn::SecondFactor { .. }), "{out:?}");
}

#[tokio::test]
async fn locked_accounts_get_no_session() {
    let (kit, _d) = fed_kit("").await;
    let SignIn::Success { user, .. } = sign_in(&kit, &identity("sub-l", "lee@partner.example"))
        .await
        .unwrap()
    else {
        panic!("no session");
    };
    idp::admin::users::lock(&kit.idp, &support::admin_actor(), &user.email)
        .await
        .unwrap();
    let err = sign_in(&kit, &identity("sub-l", "lee@partner.example"))
        .await
        .unwrap_err();
    assert!(matches!(err, FederationError::Locked(_)), "{err:?}");
}

#[tokio::test]
async fn the_security_page_says_federated_users_have_no_password() {
    let (kit, _d) = fed_kit("").await;
    let SignIn::Success { token, .. } = sign_in(&kit, &identity("sub-s", "sam@partner.example"))
        .await
        .unwrap()
    else {
        panic!("no session");
    };
    let mut b = kit.browser();
    b.cookies.insert("__Host-portcullis_session".into(), token);
    let page = b.get("/security").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.has("You sign in with Partner, so you have no password here"));
    assert!(!page.has("action=\"/security/password\""));
    let refused = b
        .post(
            "/security/password",
            &[
                ("current_password", ""),
                ("new_password", "Xx-123456789!"),
                ("confirm_password", "Xx-123456789!"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn callbacks_without_their_browser_state_are_refused() {
    let (kit, _d) = fed_kit("").await;
    let mut b = kit.browser();
    let page = b
        .get("/login/federation/partner/callback?code=abc&state=xyz")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.has("Sign-in with Partner failed"));
    let page = b
        .get("/login/federation/partner/callback?error=access_denied")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = b.get("/login/federation/saml/return").await;
    assert!(page.has("Sign-in with SAML Partner failed"));
    // The SAML endpoints do not exist for an OIDC provider and vice versa.
    assert_eq!(
        b.get("/login/federation/saml/callback?code=a").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_saml_posts_get_a_page_and_change_nothing() {
    let (kit, _d) = fed_kit("").await;
    let mut b = kit.browser();
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let forged = b64(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" InResponseTo="_never-sent" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>https://idp.saml.example/metadata</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>"#,
    );
    let error_status = b64(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" InResponseTo="_x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/></samlp:Status></samlp:Response>"#,
    );
    let huge = "A".repeat(300 * 1024);
    for (body, status, text) in [
        ("", StatusCode::BAD_REQUEST, "could not be accepted"),
        (
            "%%%not-base64",
            StatusCode::BAD_REQUEST,
            "could not be accepted",
        ),
        (
            b64("<not-saml/>").as_str(),
            StatusCode::BAD_REQUEST,
            "could not be accepted",
        ),
        (
            b64("\u{0}\u{1}").as_str(),
            StatusCode::BAD_REQUEST,
            "could not be accepted",
        ),
        (
            forged.as_str(),
            StatusCode::BAD_REQUEST,
            "could not be accepted",
        ),
        (
            error_status.as_str(),
            StatusCode::BAD_REQUEST,
            "did not sign you in",
        ),
        (
            huge.as_str(),
            StatusCode::BAD_REQUEST,
            "could not be accepted",
        ),
    ] {
        let page = b
            .post_raw("/login/federation/saml/acs", &[("SAMLResponse", body)])
            .await;
        assert_eq!(page.status, status, "{}", &body[..body.len().min(40)]);
        assert!(
            page.has("Sign-in with SAML Partner failed"),
            "{}",
            page.body
        );
        assert!(page.has(text), "{}", page.body);
    }
    assert_eq!(
        kit.idp.store.list_users().await.unwrap().len(),
        1,
        "only the demo user"
    );
}

#[tokio::test]
async fn sp_metadata_names_our_acs() {
    let (kit, _d) = fed_kit("").await;
    let page = kit.browser().get("/login/federation/saml/metadata").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.has("https://portal.localhost/login/federation/saml/acs"));
    assert!(page.has("entityID=\"https://portal.localhost/login/federation/saml/metadata\""));
}

#[tokio::test]
async fn sp_metadata_publishes_only_the_logout_binding_that_works() {
    let (kit, _d) = fed_kit("").await;
    let page = kit.browser().get("/login/federation/saml/metadata").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let root =
        idp::saml::decode::parse_with(&page.body, idp::saml::decode::Limits::RESPONSE).unwrap();
    let sp = root
        .children
        .iter()
        .find(|c| c.name == "SPSSODescriptor")
        .expect("an SPSSODescriptor");
    let slos: Vec<_> = sp
        .children
        .iter()
        .filter(|c| c.name == "SingleLogoutService")
        .collect();
    assert!(!slos.is_empty());
    for slo in &slos {
        assert_eq!(
            slo.attr("Binding"),
            Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
        );
        assert_eq!(
            slo.attr("Location"),
            Some("https://portal.localhost/login/federation/saml/slo")
        );
    }
    // And that endpoint answers a GET (a POST there would meet the CSRF layer).
    let res = kit.browser().get("/login/federation/saml/slo").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_saml_metadata_file_without_a_signing_certificate_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(
        &md,
        metadata().replace("use=\"signing\"", "use=\"encryption\""),
    )
    .unwrap();
    let fed: idp::federation::FederationConfig = toml::from_str(&format!(
        "[[saml]]\nid = \"s\"\nname = \"S\"\ndomains = [\"s.example\"]\nmetadata_file = \"{}\"\n",
        md.display()
    ))
    .unwrap();
    let mut config = idp::IdpConfig::for_data_dir(dir.path().to_path_buf());
    config.federation = fed;
    let store = idp::store::Store::open_in_memory().await.unwrap();
    let err = idp::Idp::with_store(config, store).await.unwrap_err();
    assert!(err.to_string().contains("federation.saml[0]"), "{err}");
    assert!(err.to_string().contains("signing certificate"), "{err}");
}

#[tokio::test]
async fn federated_accounts_get_no_password_reset_link() {
    let (kit, _d) = fed_kit("allow_local_password = true").await;
    let SignIn::Success { .. } = sign_in(&kit, &identity("sub-r", "rae@partner.example"))
        .await
        .unwrap()
    else {
        panic!("no session");
    };
    kit.idp
        .request_reset("rae@partner.example", None)
        .await
        .unwrap();
    let (strict, _d2) = fed_kit("").await;
    idp::admin::users::add(
        &strict.idp,
        &support::admin_actor(),
        idp::admin::users::NewUser {
            email: "old@partner.example".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    strict
        .idp
        .request_reset("old@partner.example", None)
        .await
        .unwrap();
    for k in [&kit, &strict] {
        let rows = k.idp.store.recent_audit(50).await.unwrap();
        let reset = rows
            .iter()
            .find(|r| r.event == "password.reset.request")
            .unwrap();
        assert_eq!(reset.outcome, "failure");
        assert_eq!(reset.detail, "no account that may reset");
    }
}

#[tokio::test]
async fn saml_requests_are_answered_once_and_assertions_accepted_once() {
    use idp::store::RequestUse;
    let store = idp::store::Store::open_in_memory().await.unwrap();
    let now = 1_000_000;
    store
        .put_federation_request("_r1", "saml", now, now + 600)
        .await
        .unwrap();
    assert!(
        store
            .federation_request_open("_r1", "saml", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .federation_request_open("_r1", "other", now)
            .await
            .unwrap(),
        "bound to its provider"
    );
    assert!(
        !store
            .federation_request_open("_r1", "saml", now + 601)
            .await
            .unwrap(),
        "expired"
    );
    assert_eq!(
        store
            .answer_federation_request("_r1", "saml", "sealed", now)
            .await
            .unwrap(),
        RequestUse::Accepted
    );
    assert_eq!(
        store
            .answer_federation_request("_r1", "saml", "again", now)
            .await
            .unwrap(),
        RequestUse::Unknown,
        "a second answer to the same request"
    );
    assert!(
        store
            .take_federation_result("_r1", "other", now)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .take_federation_result("_r1", "saml", now)
            .await
            .unwrap()
            .as_deref(),
        Some("sealed")
    );
    assert!(
        store
            .take_federation_result("_r1", "saml", now)
            .await
            .unwrap()
            .is_none(),
        "taken once"
    );
    assert!(
        store
            .remember_assertion("saml", "_a1", now + 60, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remember_assertion("saml", "_a1", now + 60, now)
            .await
            .unwrap(),
        "replay"
    );
    assert!(
        store
            .remember_assertion("other", "_a1", now + 60, now)
            .await
            .unwrap(),
        "per provider"
    );
    // Forgotten only once it could not be accepted anyway.
    assert!(
        store
            .remember_assertion("saml", "_a1", now + 400, now + 61)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn portal_logout_reaches_the_upstream_idp_through_a_same_origin_page() {
    // Chromium holds every redirect after the logout form's POST to the
    // form page's `form-action 'self'`: the hop to the upstream IdP must
    // not be one of them.
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(
        &md,
        metadata().replace(
            "<md:SingleSignOnService",
            r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.saml.example/slo"/><md:SingleSignOnService"#,
        ),
    )
    .unwrap();
    let text = format!(
        r#"
[[saml]]
id = "saml"
name = "SAML Partner"
domains = ["saml.example"]
metadata_file = "{}"
logout_upstream = true
"#,
        md.display()
    );
    let fed: idp::federation::FederationConfig = toml::from_str(&text).unwrap();
    fed.validate().unwrap();
    let kit = kit_with(|c| c.federation = fed).await;
    let mut b = kit.signed_in().await;
    let token = b.cookies.get("portcullis_session").cloned().or_else(|| {
        b.cookies
            .iter()
            .find(|(k, _)| k.contains("session"))
            .map(|(_, v)| v.clone())
    });
    let key = idp::session::SessionKey::of_token(&token.expect("a session cookie"));
    let hint = r#"{"name_id":"upstream-alice","format":null,"session_index":"_si"}"#;
    let sealed = kit.idp.keys.secret_box().seal(hint.as_bytes());
    kit.idp
        .store
        .put_federated_session(key.as_str(), "saml", &sealed, idp::clock::now() + 3600)
        .await
        .unwrap();
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
    let res = b.post("/logout", &[]).await;
    let to = res.location().expect("a redirect").to_string();
    assert!(
        to.starts_with("/login/federation/saml/leave?to="),
        "the logout answers with a same-origin hop, not {to}"
    );
    let page = b.get(&to).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = page.body.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(
        body.contains("data-saml-auto href=\"https://idp.saml.example/slo?SAMLRequest="),
        "{body}"
    );
    // The page sends the browser only where a logout of ours sealed.
    let forged = b
        .get("/login/federation/saml/leave?to=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(forged.location(), Some("/login?signed_out=1"));
    assert!(!forged.has("evil.example"));
}
