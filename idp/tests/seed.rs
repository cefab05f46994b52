//! The demo seed of a new database: all of it or nothing, and never in the
//! way of what an administrator or a gateway policy already made.

mod support;

use std::sync::Arc;

use idp::Idp;
use idp::admin::{apps, groups, users};
use support::{DEMO_EMAIL, DEMO_PASSWORD, admin_actor, test_config, test_store};

async fn unseeded() -> (Arc<Idp>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let idp = Idp::with_store(test_config(dir.path()), test_store().await)
        .await
        .unwrap();
    (idp, dir)
}

#[tokio::test]
async fn seeding_uses_an_existing_group_and_leaves_an_existing_tile_alone() {
    let (idp, _dir) = unseeded().await;
    // An administrator prepared the directory before any user existed.
    groups::add(&idp, &admin_actor(), "Staff").await.unwrap();
    apps::add(
        &idp,
        &admin_actor(),
        apps::NewApp {
            name: "Team Wiki".into(),
            launch_url: "https://wiki.corp.test/".into(),
            description: "Ours".into(),
            detail_url: None,
            logo_url: None,
            groups: vec![],
        },
    )
    .await
    .unwrap();

    let seeded = idp::seed::seed_if_new(&idp).await.unwrap().unwrap();
    assert_eq!(seeded.email, DEMO_EMAIL);

    let demo = users::show(&idp, DEMO_EMAIL).await.unwrap();
    assert_eq!(demo.groups, vec!["Staff".to_string()]);
    let all = apps::list(&idp).await.unwrap();
    let wiki = all.iter().find(|a| a.name == "Team Wiki").unwrap();
    assert_eq!(
        wiki.launch_url, "https://wiki.corp.test/",
        "not overwritten"
    );
    assert!(all.iter().any(|a| a.name == "Expense Reports"));
    let tiles = idp
        .store
        .applications_for_user(&demo.user.id)
        .await
        .unwrap();
    assert_eq!(
        tiles.iter().map(|a| a.0.name.as_str()).collect::<Vec<_>>(),
        ["Expense Reports"],
        "the demo user sees the demo tile, not the administrator's unassigned one"
    );
    // The demo user can sign in with the announced password.
    assert!(matches!(
        idp.sign_in(DEMO_EMAIL, DEMO_PASSWORD, None).await.unwrap(),
        idp::sign_in::SignIn::Success { .. }
    ));
}

#[tokio::test]
async fn a_database_with_a_user_is_not_seeded_again() {
    let (idp, _dir) = unseeded().await;
    assert!(idp::seed::seed_if_new(&idp).await.unwrap().is_some());
    assert!(idp::seed::seed_if_new(&idp).await.unwrap().is_none());
    assert_eq!(users::list(&idp).await.unwrap().len(), 1);
    let (idp, _dir) = unseeded().await;
    users::add(
        &idp,
        &admin_actor(),
        users::NewUser {
            email: "first@example.com".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(idp::seed::seed_if_new(&idp).await.unwrap().is_none());
    assert!(idp::admin::lookup::user(&idp, DEMO_EMAIL).await.is_err());
}
