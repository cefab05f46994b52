//! The one authorization model: a gateway policy's binding reconciled into
//! the directory, so a user sees a tile exactly when they may open the
//! application, and OIDC clients or SAML SPs linked to it answer the same.

mod support;

use idp::access::Audience;
use support::{DEMO_EMAIL, kit};

#[tokio::test]
async fn a_policy_binding_is_the_directory_binding() {
    let k = kit().await;
    let user = k.demo_user().await;
    let tiles = |k: &support::Kit| {
        let idp = k.idp.clone();
        let uid = user.id.clone();
        async move {
            let mut names: Vec<String> = idp
                .store
                .applications_for_user(&uid)
                .await
                .unwrap()
                .into_iter()
                .map(|(a, _)| a.name)
                .collect();
            names.sort();
            names
        }
    };
    let finance = Audience::Groups(vec!["Finance".into()]);
    let id = k
        .idp
        .reconcile_policy_application("books", "Books", "", "https://books.localhost/", &finance)
        .await
        .unwrap();
    // The group is created (empty), the demo user (Staff) is not in it.
    assert!(
        k.idp
            .store
            .group_by_name("Finance")
            .await
            .unwrap()
            .is_some()
    );
    assert!(!tiles(&k).await.contains(&"Books".to_string()), "no tile");
    assert!(k.idp.may_open(&user.id, "Books").await.unwrap().is_none());
    assert_eq!(k.idp.audience(&id).await.unwrap(), Some(finance));

    // The policy now admits Staff: the same application, a tile, access.
    let staff = Audience::Groups(vec!["Staff".into()]);
    let again = k
        .idp
        .reconcile_policy_application("books", "Books", "d", "https://books.localhost/", &staff)
        .await
        .unwrap();
    assert_eq!(again, id, "found by policy id");
    assert!(tiles(&k).await.contains(&"Books".to_string()));
    assert!(k.idp.may_open(&user.id, "Books").await.unwrap().is_some());
    assert_eq!(
        k.idp.audience(&id).await.unwrap(),
        Some(staff),
        "Finance unbound"
    );

    // Everyone, said explicitly: a user in no group sees it too.
    let other = idp::admin::users::add(
        &k.idp,
        &support::admin_actor(),
        idp::admin::users::NewUser {
            email: "nogroup@example.com".into(),
            first_name: "No".into(),
            last_name: "Group".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .user;
    k.idp
        .reconcile_policy_application(
            "open",
            "Open",
            "",
            "https://open.localhost/",
            &Audience::Everyone,
        )
        .await
        .unwrap();
    assert!(k.idp.may_open(&other.id, "Open").await.unwrap().is_some());
    assert!(k.idp.may_open(&other.id, "Books").await.unwrap().is_none());
    assert_eq!(k.idp.user_by_email(DEMO_EMAIL).await.unwrap().id, user.id);

    // The binding of a policy's application is the policy's: assigning it
    // another group by hand is refused and changes nothing.
    let e = idp::admin::apps::assign(&k.idp, &support::admin_actor(), "Books", "Staff")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("policies/books.toml"), "{e}");
}

#[tokio::test]
async fn a_policy_named_like_a_seeded_tile_adopts_it_instead_of_failing() {
    let k = kit().await;
    let before = k
        .idp
        .store
        .application_by_name("Team Wiki")
        .await
        .unwrap()
        .unwrap();
    let id = k
        .idp
        .reconcile_policy_application(
            "wiki",
            "Team Wiki",
            "",
            "https://wiki.localhost:8443/",
            &Audience::Groups(vec!["Staff".into()]),
        )
        .await
        .unwrap();
    assert_eq!(id, before.id);
    let after = k
        .idp
        .store
        .application_by_name("Team Wiki")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.launch_url, "https://wiki.localhost:8443/");
    // A second policy with the same name is a conflict, named as such.
    let e = k
        .idp
        .reconcile_policy_application(
            "wiki2",
            "Team Wiki",
            "",
            "https://w2.localhost/",
            &Audience::Everyone,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Team Wiki"), "{e}");
}
