//! `/gateway/authorize`: the portal's half of the application-host handshake.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use idp::handoff::{GatewayApp, Handoffs};
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
    let handoffs = Arc::new(Handoffs::new(k.idp.store.clone()));
    handoffs.set_apps([GatewayApp {
        id: "wiki".into(),
        name: "Team Wiki".into(),
        origin: "https://wiki.localhost:8443".into(),
    }]);
    let router = idp::portal::router_with_gateway(k.idp.clone(), handoffs.clone());
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
