//! Personal API keys as the gateway checks them (`Idp::check_api_key`): why
//! a key admits nobody, and keys limited to applications that accept them.

mod support;

use axum::http::StatusCode;
use idp::access::Audience;
use idp::account::api_keys::KeyRefusal;
use support::{DEMO_EMAIL, admin_actor, kit};

#[tokio::test]
async fn the_key_check_says_why_a_key_admits_nobody() {
    let k = kit().await;
    let demo = k.demo_user().await;
    let now = idp::clock::now();
    let make = |name: &'static str| {
        let idp = k.idp.clone();
        let demo = demo.clone();
        async move {
            idp.create_api_key(&demo, name, 30, None, now)
                .await
                .unwrap()
        }
    };
    let live = make("live").await;
    let holder = k
        .idp
        .check_api_key(&live.secret, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.key_id, live.id);
    assert_eq!(holder.user.id, demo.id);
    assert_eq!(holder.apps, None);
    assert_eq!(holder.expires_at, Some(now + 30 * 86_400));
    // The check writes nothing: last use is recorded on its own, now and then.
    assert_eq!(holder.last_used_at, None);
    k.idp.record_api_key_use(&live.id, now).await.unwrap();
    let again = k
        .idp
        .check_api_key(&live.secret, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.last_used_at, Some(now));

    let check = |secret: String, at: i64| {
        let idp = k.idp.clone();
        async move { idp.check_api_key(&secret, at).await.unwrap().err() }
    };
    assert_eq!(
        check(live.secret.clone(), now + 30 * 86_400).await,
        Some(KeyRefusal::Expired)
    );
    assert_eq!(
        check(format!("{}x", live.secret), now).await,
        Some(KeyRefusal::Unknown)
    );
    assert_eq!(
        check(format!("pcl_{}", "A".repeat(43)), now).await,
        Some(KeyRefusal::Unknown)
    );
    let revoked = make("revoked").await;
    assert!(
        k.idp
            .revoke_api_key(&demo, &revoked.id, None, now)
            .await
            .unwrap()
    );
    assert_eq!(
        check(revoked.secret.clone(), now).await,
        Some(KeyRefusal::Revoked)
    );

    idp::admin::users::lock(&k.idp, &admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(
        check(live.secret.clone(), now).await,
        Some(KeyRefusal::Locked)
    );
    assert!(
        k.idp
            .api_key_owner(&live.secret, now)
            .await
            .unwrap()
            .is_none()
    );
    idp::admin::users::unlock(&k.idp, &admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(check(live.secret.clone(), now).await, None);

    // A new password ends what began before it: sessions, and keys.
    let later = make("after").await;
    let changed_at = idp::clock::now() + 1;
    while idp::clock::now() < changed_at {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    idp::admin::users::set_password(&k.idp, &admin_actor(), DEMO_EMAIL, "An0ther-Passw0rd!x")
        .await
        .unwrap();
    assert_eq!(
        check(later.secret.clone(), changed_at).await,
        Some(KeyRefusal::PasswordChanged)
    );
    let fresh = k
        .idp
        .create_api_key(&demo, "fresh", 30, None, idp::clock::now())
        .await
        .unwrap();
    assert_eq!(check(fresh.secret.clone(), changed_at).await, None);

    idp::admin::users::delete(&k.idp, &admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert!(
        check(fresh.secret, changed_at).await.is_some(),
        "a deleted owner's key"
    );
}

#[tokio::test]
async fn keys_are_limited_to_applications_that_accept_them() {
    let k = kit().await;
    let demo = k.demo_user().await;
    let now = idp::clock::now();
    for (id, name, keys) in [("tools", "Tools", true), ("plain", "Plain", false)] {
        k.idp
            .reconcile_policy_application(
                id,
                name,
                "",
                &format!("https://{id}.localhost/"),
                &Audience::Everyone,
            )
            .await
            .unwrap();
        k.idp.set_policy_api_keys(id, keys).await.unwrap();
    }
    k.idp
        .reconcile_policy_application(
            "closed",
            "Closed",
            "",
            "https://closed.localhost/",
            &Audience::Groups(vec!["Key Test Nobody".into()]),
        )
        .await
        .unwrap();
    k.idp.set_policy_api_keys("closed", true).await.unwrap();
    assert_eq!(
        k.idp.api_key_applications(&demo).await.unwrap(),
        vec![("tools".to_string(), "Tools".to_string())],
        "only applications the user may open and that accept keys"
    );
    for bad in ["plain", "closed", "nope"] {
        assert!(
            k.idp
                .create_scoped_api_key(&demo, "x", 30, Some(vec![bad.into()]), None, now)
                .await
                .is_err(),
            "{bad}"
        );
    }
    let scoped = k
        .idp
        .create_scoped_api_key(
            &demo,
            "tools only",
            30,
            Some(vec!["tools".into()]),
            None,
            now,
        )
        .await
        .unwrap();
    let holder = k
        .idp
        .check_api_key(&scoped.secret, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.apps, Some(vec!["tools".to_string()]));
    // A scoped key is no admin credential; an unscoped one is (for an admin).
    assert!(
        k.idp
            .api_key_owner(&scoped.secret, now)
            .await
            .unwrap()
            .is_none()
    );
    let all = k
        .idp
        .create_api_key(&demo, "all", 30, None, now)
        .await
        .unwrap();
    assert!(
        k.idp
            .api_key_owner(&all.secret, now)
            .await
            .unwrap()
            .is_some()
    );

    // The Security page offers the choice and shows it.
    let mut b = k.signed_in().await;
    let page = b.get("/security").await;
    assert!(page.has("name=\"app.tools\""), "{}", page.body);
    assert!(!page.has("name=\"app.plain\""));
    let made = b
        .post(
            "/security/api-keys",
            &[
                ("name", "from page"),
                ("expires_days", "30"),
                ("app.tools", "on"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let refused = b
        .post(
            "/security/api-keys",
            &[("name", "bad"), ("expires_days", "30"), ("app.plain", "on")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let rows = k.idp.store.api_keys(&demo.id).await.unwrap();
    let from_page = rows.iter().find(|r| r.name == "from page").unwrap();
    assert_eq!(from_page.apps.as_deref(), Some("tools"));
    assert!(!rows.iter().any(|r| r.name == "bad"));
}
