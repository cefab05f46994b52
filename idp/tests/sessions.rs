//! "Your sessions and devices" and "Recent sign-in activity" on the
//! Security page: the user's own browsers, signing one or all of the others
//! out (through the one session ending: gateway links stop, back-channel
//! logout goes out), and their own sign-in attempts only.

mod support;

use std::time::Duration;

use axum::http::{StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use support::{Browser, DEMO_EMAIL, DEMO_PASSWORD, Kit, admin_actor, kit, kit_with};
use tokio::sync::mpsc::UnboundedReceiver;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
const PHONE_IP: &str = "198.51.100.7";
const SECRET: &str = "sessions-secret-5f1c0d9e7a3b2c4d6e8f0a1b";
const CB: &str = "https://wiki.example.com/callback";

async fn browser_signed_in(k: &Kit, ua: &str, ip: Option<&str>) -> Browser {
    let mut b = match ip {
        Some(ip) => k.browser_from(ip),
        None => k.browser(),
    };
    b.user_agent = Some(ua.to_string());
    let res = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(res.location(), Some("/apps"), "{}", res.body);
    b
}

/// The `<li>` of the session list holding `text`.
fn session_item<'a>(body: &'a str, text: &str) -> &'a str {
    body.split("<li class=\"session-item\"")
        .skip(1)
        .map(|item| &item[..item.find("</li>").unwrap()])
        .find(|item| item.contains(text))
        .unwrap_or_else(|| panic!("no session item with {text:?} in {body}"))
}

/// The short id of the session whose item shows `text`.
fn session_id(body: &str, text: &str) -> String {
    let item = session_item(body, text);
    let start = item.find("data-session-id=\"").unwrap() + "data-session-id=\"".len();
    item[start..start + 16].to_string()
}

fn session_count(body: &str) -> usize {
    body.matches("<li class=\"session-item\"").count()
}

async fn still_signed_in(b: &mut Browser) -> bool {
    b.get("/security").await.status == StatusCode::OK
}

#[tokio::test]
async fn two_browsers_are_listed_with_this_one_marked() {
    let k = kit().await;
    let mut laptop = browser_signed_in(&k, FIREFOX, None).await;
    let mut phone = browser_signed_in(&k, PHONE, Some(PHONE_IP)).await;

    let page = laptop.get("/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("Your sessions and devices"));
    assert_eq!(session_count(&page.body), 2, "{}", page.body);
    let mine = session_item(&page.body, "Firefox on Linux");
    assert!(mine.contains("data-current") && mine.contains("This browser"));
    assert!(!mine.contains(">Sign out<"), "this one is ended by Log out");
    let other = session_item(&page.body, "Chrome on Android");
    assert!(!other.contains("This browser"));
    assert!(
        other.contains(PHONE_IP),
        "the address, and no guessed place"
    );
    assert!(other.contains(">Sign out<"));
    assert_eq!(page.body.matches("This browser").count(), 1);
    assert!(page.has("Sign out of all other sessions"));

    // The same two, from the other side.
    let page = phone.get("/security").await;
    assert!(session_item(&page.body, "Chrome on Android").contains("This browser"));
    assert!(!session_item(&page.body, "Firefox on Linux").contains("This browser"));
}

/// A client with a back-channel logout URI that needs the session's `sid`.
fn client(uri: &str) -> idp::oidc::ClientConfig {
    let hash = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(SECRET.as_bytes()))
    );
    serde_json::from_value(json!({
        "client_id": "wiki",
        "client_secret_hash": hash,
        "redirect_uris": [CB],
        "application": "Team Wiki",
        "backchannel_logout_uri": uri,
        "backchannel_logout_session_required": true,
    }))
    .unwrap()
}

/// A real HTTP receiver on loopback that reports every logout token.
async fn receiver() -> (String, UnboundedReceiver<String>) {
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
    (format!("http://{addr}/bcl"), rx)
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// An authorization code flow for the `wiki` client in browser `b`'s
/// session; returns the ID token's `sid`.
async fn grant(k: &Kit, b: &mut Browser) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", "wiki")
        .append_pair("redirect_uri", CB)
        .append_pair("scope", "openid")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1");
    let page = b.get(&format!("/oauth2/authorize?{}", q.finish())).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let code = url::Url::parse(page.location().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("wiki:{SECRET}"))
    );
    let body = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
    ])
    .unwrap();
    let res = k
        .browser()
        .send(
            axum::http::Request::post("/oauth2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, basic)
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let t: Value = serde_json::from_str(&res.body).unwrap();
    claims(t["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn signing_out_another_session_ends_it_its_gateway_links_and_tells_its_client() {
    let (uri, mut tokens) = receiver().await;
    let k = kit_with(move |c| {
        c.oidc.clients = vec![client(&uri)];
        c.oidc.backchannel_poll_interval = Duration::from_secs(60);
    })
    .await;
    let delivery = idp::oidc::backchannel::spawn_delivery(k.idp.clone());
    k.idp.handoffs.set_apps(vec![idp::handoff::GatewayApp {
        id: "grafana".into(),
        name: "Grafana".into(),
        origin: "https://grafana.example.com".into(),
        path_prefix: "/".into(),
        idle: None,
        path_case: Default::default(),
        path_parameters: false,
    }]);
    let mut laptop = browser_signed_in(&k, FIREFOX, None).await;
    let mut phone = browser_signed_in(&k, PHONE, Some(PHONE_IP)).await;
    let sid = grant(&k, &mut phone).await;
    // The gateway's handshake binds an application cookie to the session.
    let phone_cookie = phone
        .cookies
        .iter()
        .find(|(name, _)| name.ends_with("portcullis_session"))
        .map(|(_, v)| v.clone())
        .unwrap();
    let phone_key = idp::session::SessionKey::of_token(&phone_cookie);
    let app_cookie = k
        .idp
        .sessions
        .link_app(&phone_key, "grafana", i64::MAX)
        .await
        .unwrap();

    let page = laptop.get("/security").await;
    let item = session_item(&page.body, "Chrome on Android");
    assert!(item.contains("Grafana"), "the gateway application: {item}");
    assert!(item.contains("Team Wiki"), "the OIDC client: {item}");
    assert!(
        !session_item(&page.body, "Firefox on Linux").contains("Grafana"),
        "only the session that opened it"
    );
    let id = session_id(&page.body, "Chrome on Android");

    // First press: a confirmation, nothing ended yet.
    let confirm = laptop
        .post(&format!("/security/sessions/{id}/end"), &[])
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Sign out this session?"), "{}", confirm.body);
    assert!(confirm.has("Chrome on Android"));
    assert!(still_signed_in(&mut phone).await);

    let done = laptop
        .post(
            &format!("/security/sessions/{id}/end"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(
        done.location(),
        Some("/security?done=session-ended#sessions")
    );
    let page = laptop.get("/security?done=session-ended").await;
    assert!(page.has("That session was signed out."));
    assert_eq!(session_count(&page.body), 1);

    // The phone is signed out: the portal sends it to sign in again...
    let res = phone.get("/security").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.location().unwrap().starts_with("/login"));
    // ...its application cookie names a session that is gone...
    let link = k
        .idp
        .sessions
        .app_link(&app_cookie, idp::clock::now())
        .await
        .unwrap()
        .expect("the link itself is only a pointer");
    let resumed = k
        .idp
        .resume(
            idp::session::Presented::Key(&link.session),
            idp::clock::now(),
        )
        .await
        .unwrap();
    assert!(resumed.is_err(), "the gateway admits nothing through it");
    // ...and the client that signed in through it is told, by sid.
    let token = tokio::time::timeout(Duration::from_secs(10), tokens.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap();
    assert_eq!(claims(&token)["sid"], json!(sid));
    assert!(still_signed_in(&mut laptop).await, "this browser stays");
    let events = k.audit_events().await;
    assert!(events.contains(&("account.session.end".into(), "success".into())));
    delivery.abort();
}

#[tokio::test]
async fn someone_elses_session_and_this_one_are_not_found() {
    let k = kit().await;
    let mut laptop = browser_signed_in(&k, FIREFOX, None).await;
    let other = idp::admin::users::add(
        &k.idp,
        &admin_actor(),
        idp::admin::users::NewUser {
            email: "eve@example.com".into(),
            first_name: "Eve".into(),
            last_name: "Doe".into(),
            password: Some("Ev3-Passw0rd!long".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut eve = k.browser();
    let res = eve.sign_in("eve@example.com", "Ev3-Passw0rd!long").await;
    assert_eq!(res.location(), Some("/apps"));
    let eve_sessions = k.idp.session_views(&other.user.id).await.unwrap();
    let eve_id = eve_sessions[0].1.id.clone();

    let page = laptop.get("/security").await;
    assert!(!page.body.contains(&eve_id), "not in my list");
    for confirm in [&[][..], &[("confirm", "yes")][..]] {
        let res = laptop
            .post(&format!("/security/sessions/{eve_id}/end"), confirm)
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }
    assert!(
        still_signed_in(&mut eve).await,
        "Eve's session is untouched"
    );

    let mine = session_id(&laptop.get("/security").await.body, "This browser");
    let res = laptop
        .post(
            &format!("/security/sessions/{mine}/end"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "this one signs out instead"
    );
    for junk in ["zz", "0123456789abcdef0", "../../x"] {
        let res = laptop
            .post(
                &format!("/security/sessions/{junk}/end"),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{junk}");
    }
    assert!(still_signed_in(&mut laptop).await);
}

#[tokio::test]
async fn without_the_csrf_token_nothing_is_signed_out() {
    let k = kit().await;
    let mut laptop = browser_signed_in(&k, FIREFOX, None).await;
    let mut phone = browser_signed_in(&k, PHONE, None).await;
    let id = session_id(&laptop.get("/security").await.body, "Chrome on Android");
    let one = laptop
        .post_raw(
            &format!("/security/sessions/{id}/end"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(one.status, StatusCode::FORBIDDEN);
    let all = laptop
        .post_raw("/security/sessions/end-others", &[("confirm", "yes")])
        .await;
    assert_eq!(all.status, StatusCode::FORBIDDEN);
    let wrong = laptop
        .post_raw(
            "/security/sessions/end-others",
            &[("confirm", "yes"), ("csrf", "not-the-token")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(still_signed_in(&mut phone).await);
    assert_eq!(session_count(&laptop.get("/security").await.body), 2);
}

#[tokio::test]
async fn signing_out_all_others_keeps_this_browser() {
    let k = kit().await;
    let mut laptop = browser_signed_in(&k, FIREFOX, None).await;
    let mut phone = browser_signed_in(&k, PHONE, None).await;
    let mut tablet = browser_signed_in(&k, PHONE, Some(PHONE_IP)).await;
    assert_eq!(session_count(&laptop.get("/security").await.body), 3);

    let confirm = laptop.post("/security/sessions/end-others", &[]).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Sign out of all other sessions?"));
    assert!(
        still_signed_in(&mut phone).await,
        "not before it is confirmed"
    );

    let done = laptop
        .post("/security/sessions/end-others", &[("confirm", "yes")])
        .await;
    assert_eq!(
        done.location(),
        Some("/security?done=sessions-ended#sessions")
    );
    assert!(!still_signed_in(&mut phone).await);
    assert!(!still_signed_in(&mut tablet).await);
    let page = laptop.get("/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(session_count(&page.body), 1);
    assert!(page.has("You are not signed in anywhere else."));
    let events = k.audit_events().await;
    assert!(events.contains(&("account.session.end_others".into(), "success".into())));
}

#[tokio::test]
async fn activity_lists_the_users_own_attempts_only() {
    let k = kit().await;
    idp::admin::users::add(
        &k.idp,
        &admin_actor(),
        idp::admin::users::NewUser {
            email: "eve@example.com".into(),
            first_name: "Eve".into(),
            last_name: "Doe".into(),
            password: Some("Ev3-Passw0rd!long".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Eve fails from her own address: none of that is the demo user's.
    let mut eve = k.browser_from("203.0.113.9");
    let res = eve.sign_in("eve@example.com", "not her password").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    let mut me = k.browser_from("192.0.2.44");
    let res = me.sign_in(DEMO_EMAIL, "a wrong one").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = me.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(res.location(), Some("/apps"));

    let page = me.get("/security").await;
    assert!(page.has("Recent sign-in activity"));
    let table = &page.body[page.body.find("id=\"signin-activity\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let rows: Vec<&str> = table.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[0].contains("Signed in") && rows[0].contains("192.0.2.44"));
    assert!(rows[1].contains("Failed") && rows[1].contains("Wrong password"));
    assert!(!table.contains("203.0.113.9"), "Eve's attempt is not mine");

    // Eve sees her failure and not mine.
    let res = eve.sign_in("eve@example.com", "Ev3-Passw0rd!long").await;
    assert_eq!(res.location(), Some("/apps"));
    let page = eve.get("/security").await;
    assert!(page.has("203.0.113.9"));
    assert!(!page.has("192.0.2.44"));
}
