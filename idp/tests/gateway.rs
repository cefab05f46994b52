//! `/gateway/authorize`: the portal's half of the application-host handshake.

mod support;

use axum::http::StatusCode;
use idp::handoff::GatewayApp;
use idp::session::SessionKey;
use support::{DEMO_EMAIL, DEMO_PASSWORD, kit};

const STATE: &str = "sssssssssssssssssssssssssssssssssssssssssss";

fn authorize(return_to: &str, app: &str, state: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("app", app)
        .append_pair("return_to", return_to)
        .append_pair("state", state)
        .finish();
    format!("/gateway/authorize?{q}")
}

#[tokio::test]
async fn codes_only_for_signed_in_users_and_the_apps_own_origin() {
    let k = kit().await;
    let handoffs = &k.idp.handoffs;
    handoffs.set_apps([GatewayApp {
        id: "wiki".into(),
        name: "Team Wiki".into(),
        origin: "https://wiki.localhost:8443".into(),
        path_prefix: "/".into(),
        idle: None,
        path_case: Default::default(),
        path_parameters: false,
    }]);
    let router = idp::web::router(k.idp.clone());
    let good = authorize("https://wiki.localhost:8443/page?a=1", "wiki", STATE);

    // Not signed in: to the sign-in page, coming back here afterwards.
    let mut anon = k.browser_with(router.clone());
    let res = anon.get(&good).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let login = res.location().unwrap();
    assert!(
        login.starts_with("/login?return_to=%2Fgateway%2Fauthorize"),
        "{login}"
    );

    let mut b = k.browser_with(router);
    let res = b.sign_in_to(DEMO_EMAIL, DEMO_PASSWORD, &good).await;
    assert_eq!(
        res.location(),
        Some(good.as_str()),
        "sign-in returns to authorize"
    );
    let session = b.cookies.get("__Host-portcullis_session").unwrap().clone();

    let res = b.get(&good).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let marker = "url=https://wiki.localhost:8443/.portcullis/callback?";
    let start = res.body.find(marker).expect("continues to the callback") + marker.len();
    let query = &res.body[start..start + res.body[start..].find('"').unwrap()];
    let query = query.replace("&amp;", "&");
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["state"], STATE);
    assert_eq!(params["return_to"], "/page?a=1");
    assert_eq!(params["app"], "wiki", "the callback names the application");
    assert!(
        !res.body.contains(&session),
        "the portal session id never leaves in a URL"
    );
    let grant = handoffs
        .redeem(&params["code"], "wiki", idp::clock::now())
        .await
        .unwrap()
        .expect("a live code");
    assert_eq!(grant.session, SessionKey::of_token(&session));
    assert!(
        handoffs
            .redeem(&params["code"], "wiki", idp::clock::now())
            .await
            .unwrap()
            .is_none()
    );

    for bad in [
        authorize("https://evil.example/", "wiki", STATE),
        authorize("https://wiki.localhost:8443.evil.example/", "wiki", STATE),
        authorize("http://wiki.localhost:8443/", "wiki", STATE),
        authorize("/apps", "wiki", STATE),
        authorize("https://wiki.localhost:8443/", "unknown", STATE),
        authorize("https://wiki.localhost:8443/", "wiki", "short"),
    ] {
        let res = b.get(&bad).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// A portal router knowing two applications: `vault`, with a five-minute
/// session idle override, and `wiki`, without one.
fn idle_router(k: &support::Kit) -> axum::Router {
    let handoffs = &k.idp.handoffs;
    handoffs.set_apps([
        GatewayApp {
            id: "vault".into(),
            name: "Vault".into(),
            origin: "https://vault.localhost:8443".into(),
            path_prefix: "/".into(),
            idle: Some(std::time::Duration::from_secs(300)),
            path_case: Default::default(),
            path_parameters: false,
        },
        GatewayApp {
            id: "wiki".into(),
            name: "Team Wiki".into(),
            origin: "https://wiki.localhost:8443".into(),
            path_prefix: "/".into(),
            idle: None,
            path_case: Default::default(),
            path_parameters: false,
        },
    ]);
    idp::web::router(k.idp.clone())
}

/// A browser holding a portal session whose password was given `pwd_ago`
/// seconds ago and whose second factor (if any) `mfa_ago` seconds ago.
async fn session_aged(
    k: &support::Kit,
    router: axum::Router,
    pwd_ago: i64,
    mfa_ago: Option<i64>,
) -> support::Browser {
    let now = idp::clock::now();
    let user = k.demo_user().await;
    // The demo password was set when the kit seeded it, and a password newer
    // than a session ends it: date it back before every session made here.
    k.idp
        .store
        .set_password_changed_at(&user.id, now - 4 * 3600)
        .await
        .unwrap();
    let amr = match mfa_ago {
        Some(_) => vec!["pwd".into(), "otp".into()],
        None => vec!["pwd".into()],
    };
    let (token, _) = k
        .idp
        .sessions
        .create_with(
            &user.id,
            amr,
            None,
            now - pwd_ago,
            mfa_ago.map(|a| now - a),
            now,
        )
        .await
        .unwrap();
    let mut b = k.browser_with(router);
    b.cookies.insert("__Host-portcullis_session".into(), token);
    b
}

const VAULT: &str = "https://vault.localhost:8443/report?q=1";

/// A code handed over: the page continuing to the application's callback.
fn assert_continues(res: &support::Page, origin: &str) {
    assert!(
        res.status == StatusCode::OK
            && res
                .body
                .contains(&format!("url={origin}/.portcullis/callback?")),
        "{} {:?} {}",
        res.status,
        res.location(),
        res.body
    );
}

#[tokio::test]
async fn an_idle_override_hands_codes_only_to_a_recent_sign_in() {
    let k = kit().await;
    let router = idle_router(&k);
    let vault = authorize(VAULT, "vault", STATE);

    // Signed in four minutes ago, within the five: silent.
    let mut recent = session_aged(&k, router.clone(), 240, None).await;
    let res = recent.get(&vault).await;
    assert_continues(&res, "https://vault.localhost:8443");

    // Signed in ten minutes ago: the sign-in form again, for this user,
    // coming back to this very request.
    let mut old = session_aged(&k, router.clone(), 600, None).await;
    let old_session = old.cookies["__Host-portcullis_session"].clone();
    let res = old.get(&vault).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let to = res.location().unwrap().to_string();
    let url = url::Url::parse(&format!("https://portal.localhost{to}")).unwrap();
    assert_eq!(url.path(), "/login");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["login_hint"], DEMO_EMAIL);
    assert_eq!(q["change"], "1");
    assert_eq!(q["return_to"], vault);
    assert!(
        !res.body.contains("callback") && !to.contains("code="),
        "no code handed out"
    );
    let form = old.get(&to).await;
    assert_eq!(
        form.status,
        StatusCode::OK,
        "the form shows to a signed-in browser"
    );
    assert!(
        form.has(&format!("value=\"{DEMO_EMAIL}\"")),
        "email filled in"
    );

    // The password again: a new session, back to authorize, and on silently
    // (no loop).
    let res = old.sign_in_to(DEMO_EMAIL, DEMO_PASSWORD, &vault).await;
    assert_eq!(res.location(), Some(vault.as_str()));
    assert_ne!(
        old.cookies["__Host-portcullis_session"], old_session,
        "a new session id"
    );
    let res = old.get(&vault).await;
    assert_continues(&res, "https://vault.localhost:8443");

    // An application without the override does not care how old it is.
    let mut old = session_aged(&k, router, 3 * 3600, None).await;
    let res = old
        .get(&authorize("https://wiki.localhost:8443/", "wiki", STATE))
        .await;
    assert_continues(&res, "https://wiki.localhost:8443");
}

#[tokio::test]
async fn a_recent_second_factor_counts_as_proving_who_one_is() {
    let k = kit().await;
    let router = idle_router(&k);
    let vault = authorize(VAULT, "vault", STATE);

    // Password two hours ago, a step-up a minute ago: silent.
    let mut stepped_up = session_aged(&k, router.clone(), 7200, Some(60)).await;
    let res = stepped_up.get(&vault).await;
    assert_continues(&res, "https://vault.localhost:8443");

    // Both older than the override: the password again.
    let mut stale = session_aged(&k, router, 7200, Some(600)).await;
    let res = stale.get(&vault).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.location()
            .unwrap()
            .starts_with("/login?return_to=%2Fgateway%2Fauthorize"),
        "{:?}",
        res.location()
    );
}

/// Two applications on one host, told apart by path prefix: a code is only
/// for a `return_to` inside the application's own prefix, and the callback
/// names the application so the gateway picks the right one on the host.
#[tokio::test]
async fn on_a_shared_host_codes_only_inside_the_apps_prefix() {
    let k = kit().await;
    let handoffs = &k.idp.handoffs;
    let app = |id: &str| GatewayApp {
        id: id.into(),
        name: id.to_uppercase(),
        origin: "https://apps.localhost:8443".into(),
        path_prefix: format!("/{id}"),
        idle: None,
        path_case: Default::default(),
        path_parameters: false,
    };
    handoffs.set_apps([app("a"), app("b")]);
    let router = idp::web::router(k.idp.clone());
    let mut b = k.browser_with(router);
    b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;

    for inside in [
        "https://apps.localhost:8443/a",
        "https://apps.localhost:8443/a/",
        "https://apps.localhost:8443/a/x?y=1",
    ] {
        let res = b.get(&authorize(inside, "a", STATE)).await;
        assert_eq!(res.status, StatusCode::OK, "{inside}: {}", res.body);
        let marker = "url=https://apps.localhost:8443/.portcullis/callback?";
        let start = res.body.find(marker).expect("continues to the callback") + marker.len();
        let query =
            res.body[start..start + res.body[start..].find('"').unwrap()].replace("&amp;", "&");
        let params: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(params["app"], "a", "the callback names the application");
        assert_eq!(
            params["return_to"],
            inside.trim_start_matches("https://apps.localhost:8443")
        );
        // The code is for `a` only.
        assert!(
            handoffs
                .redeem(&params["code"], "b", idp::clock::now())
                .await
                .unwrap()
                .is_none()
        );
    }

    for outside in [
        authorize("https://apps.localhost:8443/", "a", STATE),
        authorize("https://apps.localhost:8443/b/x", "a", STATE),
        authorize("https://apps.localhost:8443/ab", "a", STATE),
        authorize("https://apps.localhost:8443/a/../b/x", "a", STATE),
        authorize("https://apps.localhost:8443/a/x", "b", STATE),
    ] {
        let res = b.get(&outside).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{outside}");
        assert!(res.has("This sign-in link is not valid."), "{}", res.body);
    }
}
