//! Sign-in, sessions, lockout, expiry and sign-out, driven through the router.

mod support;

use axum::http::StatusCode;
use support::{DEMO_EMAIL, DEMO_PASSWORD, kit};

#[tokio::test]
async fn two_step_sign_in_lands_on_applications() {
    let k = kit().await;
    let mut b = k.browser();
    let home = b.get("/").await;
    assert_eq!(home.location(), Some("/login"));
    let login = b.get("/login").await;
    assert!(login.has("User Login") && login.has("Remember me") && login.has("Continue"));

    let step1 = b
        .post(
            "/login",
            &[("email", "Demo@Example.com "), ("remember", "on")],
        )
        .await;
    assert_eq!(step1.status, StatusCode::SEE_OTHER);
    let step2 = b.get("/login/password").await;
    assert!(step2.has(DEMO_EMAIL), "the email is shown on step 2");
    assert!(step2.has("Change") && step2.has("Reset User Password"));

    let done = b
        .post("/login/password", &[("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(done.location(), Some("/apps"));
    let session = done
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-portcullis_session="))
        .expect("session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    assert!(!session.contains("Domain"), "host-only cookie");

    let apps = b.get("/apps").await;
    assert_eq!(apps.status, StatusCode::OK);
    assert!(apps.has("Team Wiki") && apps.has("Expense Reports"));
    assert!(apps.has("DR"), "initials in the account menu");
    assert!(
        k.audit_events()
            .await
            .contains(&("signin".into(), "success".into()))
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let k = kit().await;
    let mut a = k.browser();
    let wrong = a.sign_in(DEMO_EMAIL, "Wrong-Passw0rd!").await;
    let mut b = k.browser();
    let unknown = b.sign_in("nobody@example.com", "Wrong-Passw0rd!").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert!(wrong.has("Incorrect email or password."));
    // The pages differ only in the email echoed back and the form token.
    let normalize = |p: &support::Page, email: &str, token: &str| {
        p.body.replace(email, "EMAIL").replace(token, "TOKEN")
    };
    assert_eq!(
        normalize(&wrong, DEMO_EMAIL, a.csrf.as_deref().unwrap()),
        normalize(&unknown, "nobody@example.com", b.csrf.as_deref().unwrap())
    );
    assert!(!a.cookies.keys().any(|c| c.contains("session")));
    assert!(!b.cookies.keys().any(|c| c.contains("session")));
}

#[tokio::test]
async fn lockout_at_threshold_and_admin_unlock() {
    let k = kit().await;
    // The seed's lock; progressive delays are in tests/lockout.rs.
    k.set("lockout.mode", "hard").await;
    k.set("lockout.threshold", "3").await;
    let mut b = k.browser();
    // Failures below the threshold are forgotten after a success.
    for _ in 0..2 {
        b.sign_in(DEMO_EMAIL, "Wrong-Passw0rd!").await;
    }
    assert_eq!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
    assert_eq!(k.demo_user().await.failed_attempts, 0);

    for _ in 0..3 {
        let p = b.sign_in(DEMO_EMAIL, "Wrong-Passw0rd!").await;
        assert!(p.has("Incorrect email or password."));
    }
    assert!(k.demo_user().await.locked.is_some());
    // The session from before the lock no longer works.
    assert_eq!(
        b.get("/apps").await.location(),
        Some("/login?return_to=%2Fapps")
    );
    // The right password now meets the lock.
    let locked = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(locked.has("This account is locked after too many failed attempts. Reset your password (Reset User Password) to unlock it, or ask your administrator to unlock it."), "{}", locked.body);
    assert!(locked.location().is_none());
    assert!(
        k.audit_events()
            .await
            .contains(&("account.locked".into(), "success".into()))
    );

    idp::admin::users::unlock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
}

#[tokio::test]
async fn admin_lock_blocks_even_the_right_password() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    idp::admin::users::lock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );
    let p = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(
        p.has("This account is suspended by an administrator."),
        "{}",
        p.body
    );
    idp::admin::users::unlock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
}

#[tokio::test]
async fn expiry_notice_then_expired_lock() {
    let k = kit().await;
    k.set("password.max_age_days", "30").await;
    let user = k.demo_user().await;
    let now = idp::clock::now();
    k.idp
        .store
        .set_password_changed_at(&user.id, now - 25 * 86_400)
        .await
        .unwrap();

    let mut b = k.browser();
    let p = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    let to = p.location().unwrap().to_string();
    assert!(to.starts_with("/login/notice"), "{to}");
    let notice = b.get(&to).await;
    assert!(notice.has("5 days"), "{}", notice.body);
    assert!(notice.has("/security#password"));
    // Every signed-in page carries the reminder.
    assert!(b.get("/apps").await.has("5 days"));

    k.idp
        .store
        .set_password_changed_at(&user.id, now - 31 * 86_400)
        .await
        .unwrap();
    let mut c = k.browser();
    let expired = c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(expired.has("Your password has expired. Set a new one with Reset User Password, or ask your administrator."), "{}", expired.body);
    assert!(k.demo_user().await.locked.is_some());
    // Unlocking restores it with a fresh password age.
    idp::admin::users::unlock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(
        c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
}

#[tokio::test]
async fn sign_in_issues_a_new_session_id() {
    let k = kit().await;
    let mut b = k.browser();
    // A session id planted before sign-in (fixation) is never adopted.
    b.cookies
        .insert("__Host-portcullis_session".into(), "A".repeat(43));
    b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    let first = b.cookies["__Host-portcullis_session"].clone();
    assert_ne!(first, "A".repeat(43));
    b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_ne!(b.cookies["__Host-portcullis_session"], first);
    // The replaced session is over, not merely forgotten by the browser.
    let mut old = k.browser();
    old.cookies
        .insert("__Host-portcullis_session".into(), first);
    assert!(
        old.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn return_to_is_honoured_only_for_safe_targets() {
    let k = kit().await;
    let mut b = k.browser();
    let p = b.get("/profile").await;
    assert_eq!(p.location(), Some("/login?return_to=%2Fprofile"));
    b.get("/login?return_to=%2Fprofile").await;
    b.post(
        "/login",
        &[("email", DEMO_EMAIL), ("return_to", "/profile")],
    )
    .await;
    b.get("/login/password").await;
    let p = b
        .post("/login/password", &[("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(p.location(), Some("/profile"));

    // An application's origin is a fine target too.
    let mut c = k.browser();
    let p = c
        .sign_in_to(DEMO_EMAIL, DEMO_PASSWORD, "https://wiki.example.com/page")
        .await;
    assert_eq!(p.location(), Some("https://wiki.example.com/page"));

    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "https://wiki.example.com.evil.example/",
        "javascript:alert(1)",
    ] {
        let mut c = k.browser();
        let p = c.sign_in_to(DEMO_EMAIL, DEMO_PASSWORD, evil).await;
        assert_eq!(p.location(), Some("/apps"), "{evil}");
    }
}

#[tokio::test]
async fn csrf_missing_wrong_or_cross_origin_is_refused() {
    let k = kit().await;
    let mut b = k.browser();
    b.get("/login").await;
    let missing = b.post_raw("/login", &[("email", DEMO_EMAIL)]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.has("This form has expired"));
    let wrong = b
        .post_raw("/login", &[("email", DEMO_EMAIL), ("csrf", "forged")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    // A token is bound to its cookie: another browser's token fails.
    let mut other = k.browser();
    other.get("/login").await;
    let theirs = other.csrf.clone().unwrap();
    let p = b
        .post_raw("/login", &[("email", DEMO_EMAIL), ("csrf", &theirs)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);

    // Signed in, a forged profile change changes nothing.
    let mut s = k.signed_in().await;
    s.get("/profile").await;
    let p = s
        .post_raw("/profile", &[("first_name", "Mallory"), ("csrf", "nope")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(k.demo_user().await.first_name, "Dana");

    // A browser's own post carries our origin and passes.
    s.get("/apps").await;
    let token = s.csrf.clone().unwrap();
    let p = s
        .send(
            axum::http::Request::post("/logout")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://portal.localhost")
                .body(axum::body::Body::from(format!("csrf={token}")))
                .unwrap(),
        )
        .await;
    assert_eq!(p.location(), Some("/login?signed_out=1"));
    let mut s = k.signed_in().await;
    s.get("/profile").await;

    // The right token from another origin is refused as well.
    let token = s.csrf.clone().unwrap();
    let body = serde_urlencoded::to_string([
        ("first_name", "Mallory"),
        ("last_name", "X"),
        ("username", "m"),
        ("csrf", &token),
    ])
    .unwrap();
    let p = s
        .send(
            axum::http::Request::post("/profile")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://evil.example")
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(k.demo_user().await.first_name, "Dana");
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    let stolen = b.cookies["__Host-portcullis_session"].clone();
    b.get("/apps").await;
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.location(), Some("/login?signed_out=1"));
    assert!(!b.cookies.contains_key("__Host-portcullis_session"));
    // Replaying the old cookie does not work either.
    b.cookies.insert("__Host-portcullis_session".into(), stolen);
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn remember_me_prefills_the_email() {
    let k = kit().await;
    let mut b = k.browser();
    b.get("/login").await;
    b.post("/login", &[("email", DEMO_EMAIL), ("remember", "on")])
        .await;
    let again = b.get("/login").await;
    assert!(again.has(&format!("value=\"{DEMO_EMAIL}\"")));
    let remembered = b
        .cookies
        .keys()
        .find(|k| k.contains("email"))
        .unwrap()
        .clone();
    assert!(!b.cookies[&remembered].contains("Passw0rd"));
    // Unticking it forgets the email.
    b.post("/login", &[("email", DEMO_EMAIL)]).await;
    assert!(
        !b.get("/login")
            .await
            .has(&format!("value=\"{DEMO_EMAIL}\""))
    );
}

#[tokio::test]
async fn bad_inputs_get_pages_not_panics() {
    let k = kit().await;
    let mut b = k.browser();
    b.get("/login").await;
    let p = b.post("/login", &[("email", "not an email")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.has("role=\"alert\""));
    // Step 2 without step 1, or with a tampered flow cookie, goes back to step 1.
    assert_eq!(b.get("/login/password").await.location(), Some("/login"));
    b.cookies
        .insert("__Host-portcullis_login".into(), "eyJ9.AAAA".into());
    assert_eq!(
        b.post("/login/password", &[("password", "x")])
            .await
            .location(),
        Some("/login")
    );
    assert_eq!(b.get("/nope").await.status, StatusCode::NOT_FOUND);
    let huge = "x".repeat(100_000);
    let p = b.post("/login", &[("email", &huge)]).await;
    assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn security_headers_on_every_page() {
    let k = kit().await;
    let mut b = k.browser();
    for path in ["/login", "/nope", "/healthz"] {
        let p = b.get(path).await;
        let h = &p.headers;
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h.contains_key("referrer-policy"));
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
    }
    assert_eq!(b.get("/login").await.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn each_lock_says_what_lifts_it_to_whoever_knows_the_password() {
    let k = kit().await;
    idp::admin::users::lock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let mut b = k.browser();
    let suspended = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(
        suspended.has("This account is suspended by an administrator. Ask your administrator to restore it; a password reset does not lift a suspension."),
        "{}",
        suspended.body
    );
    // A wrong password learns nothing about the lock.
    let guess = b.sign_in(DEMO_EMAIL, "Wrong-Passw0rd!").await;
    assert!(guess.has("Incorrect email or password."));
    assert!(!guess.has("suspended"));

    // Without password reset, a failures lock is the administrator's to lift.
    let k = support::kit_with(|c| c.reset.enabled = false).await;
    k.set("lockout.mode", "hard").await;
    k.set("lockout.threshold", "2").await;
    let mut b = k.browser();
    for _ in 0..2 {
        b.sign_in(DEMO_EMAIL, "Wrong-Passw0rd!").await;
    }
    let locked = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(
        locked.has("This account is locked after too many failed attempts. Ask your administrator to unlock it."),
        "{}",
        locked.body
    );
}
