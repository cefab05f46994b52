//! The admin REST API (`/api/admin/v1`) through the real router, and the
//! core reads and writes it shares with the console: user search, user
//! edit, audit query, entity versions.

mod support;

use idp::admin::{self, AdminError, users::UserQuery};
use idp::roles::Role;
use support::{DEMO_EMAIL, Kit, admin_actor, kit};

async fn add_user(k: &Kit, email: &str, first: &str, last: &str, groups: &[&str]) {
    admin::users::add(
        &k.idp,
        &admin_actor(),
        admin::users::NewUser {
            email: email.into(),
            first_name: first.into(),
            last_name: last.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn search_filters_and_pages_in_the_store() {
    let k = kit().await;
    admin::groups::add(&k.idp, &admin_actor(), "engineering")
        .await
        .unwrap();
    for i in 0..12 {
        let g: &[&str] = if i % 3 == 0 { &["engineering"] } else { &[] };
        add_user(
            &k,
            &format!("user{i:02}@example.com"),
            "Pat",
            &format!("Lee{i}"),
            g,
        )
        .await;
    }
    add_user(&k, "zoe@example.com", "Zoë", "100%_Done", &[]).await;
    let search = |q: UserQuery| {
        let idp = k.idp.clone();
        async move { admin::users::search(&idp, &q).await.unwrap() }
    };
    let all = search(UserQuery::default()).await;
    assert_eq!(all.total, 14, "12 + zoe + the demo user");
    let page = search(UserQuery {
        offset: 10,
        limit: 3,
        ..Default::default()
    })
    .await;
    assert_eq!((page.total, page.items.len(), page.limit), (14, 3, 3));
    assert_eq!(page.items[0].user.email, "user09@example.com");
    let big = search(UserQuery {
        limit: 100_000,
        ..Default::default()
    })
    .await;
    assert_eq!(big.limit, admin::MAX_PAGE);

    let by_name = search(UserQuery {
        text: Some("pat lee1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_name.total, 3, "Lee1, Lee10, Lee11");
    // LIKE wildcards in the text are literal.
    let literal = search(UserQuery {
        text: Some("100%_".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(literal.total, 1);
    let none = search(UserQuery {
        text: Some("%".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(none.total, 1, "only the name with a % in it");

    let members = search(UserQuery {
        group: Some("engineering".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(members.total, 4);
    assert!(
        members
            .items
            .iter()
            .all(|v| v.groups == vec!["engineering".to_string()])
    );

    admin::users::lock(&k.idp, &admin_actor(), "user03@example.com")
        .await
        .unwrap();
    let locked = search(UserQuery {
        locked: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(locked.total, 1);
    assert_eq!(locked.items[0].user.email, "user03@example.com");

    let admins = search(UserQuery {
        role: Some(Role::Admin),
        ..Default::default()
    })
    .await;
    assert_eq!(
        admins.items[0].user.email, DEMO_EMAIL,
        "the demo user is an admin"
    );
    let auditors = search(UserQuery {
        role: Some(Role::Auditor),
        ..Default::default()
    })
    .await;
    assert_eq!(auditors.total, 0);

    let long = admin::users::search(
        &k.idp,
        &UserQuery {
            text: Some("x".repeat(201)),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(long, Err(AdminError::Invalid { .. })));
}

#[tokio::test]
async fn a_role_from_a_group_counts_and_the_stronger_one_wins() {
    let k = support::kit_with(|c| {
        c.admin.auditor_groups = vec!["audit".into()];
        c.admin.admin_groups = vec!["it".into()];
    })
    .await;
    for g in ["audit", "it"] {
        admin::groups::add(&k.idp, &admin_actor(), g).await.unwrap();
    }
    add_user(&k, "aud@example.com", "A", "U", &["audit"]).await;
    add_user(&k, "both@example.com", "B", "O", &["audit", "it"]).await;
    let q = |role| UserQuery {
        role: Some(role),
        ..Default::default()
    };
    let auditors = admin::users::search(&k.idp, &q(Role::Auditor))
        .await
        .unwrap();
    let emails: Vec<&str> = auditors
        .items
        .iter()
        .map(|v| v.user.email.as_str())
        .collect();
    assert_eq!(emails, ["aud@example.com"]);
    let admins = admin::users::search(&k.idp, &q(Role::Admin)).await.unwrap();
    let emails: Vec<&str> = admins.items.iter().map(|v| v.user.email.as_str()).collect();
    assert_eq!(emails, ["both@example.com", DEMO_EMAIL]);
}

#[tokio::test]
async fn update_validates_like_the_profile_and_audits_once() {
    let k = kit().await;
    add_user(&k, "dana@example.com", "Dana", "Reyes", &[]).await;
    let before = admin::users::show(&k.idp, "dana@example.com")
        .await
        .unwrap();
    let tag = admin::users::etag(&before);
    assert_eq!(tag, admin::users::etag(&before), "stable");

    let bad = admin::users::update(
        &k.idp,
        &admin_actor(),
        "dana@example.com",
        admin::users::UserEdit {
            first_name: Some(String::new()),
            email: Some("not-an-email".into()),
            profile: [("work_phone".to_string(), "call me".to_string())].into(),
            ..Default::default()
        },
        None,
    )
    .await;
    let Err(AdminError::Fields { errors }) = bad else {
        panic!("{bad:?}")
    };
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["email", "first_name", "work_phone"]
    );

    let audit_before = k.idp.store.recent_audit(1000).await.unwrap().len();
    let after = admin::users::update(
        &k.idp,
        &admin_actor(),
        "dana@example.com",
        admin::users::UserEdit {
            last_name: Some("Reyes-Okafor".into()),
            email: Some("Dana.Reyes@Example.com".into()),
            profile: [("work_phone".to_string(), "+1 555 0100".to_string())].into(),
            ..Default::default()
        },
        Some(&tag),
    )
    .await
    .unwrap();
    assert_eq!(after.user.email, "dana.reyes@example.com");
    assert_eq!(after.user.last_name, "Reyes-Okafor");
    assert_eq!(after.user.profile.get("work_phone"), "+1 555 0100");
    assert_eq!(after.user.first_name, "Dana", "untouched");
    let rows = k.idp.store.recent_audit(1000).await.unwrap();
    assert_eq!(rows.len(), audit_before + 1);
    assert_eq!(rows[0].event, "admin.user.update");
    assert!(
        rows[0].detail.contains("email, last_name, work_phone"),
        "{}",
        rows[0].detail
    );

    // The tag read before the change is stale now.
    let stale = admin::users::update(
        &k.idp,
        &admin_actor(),
        "dana.reyes@example.com",
        admin::users::UserEdit::default(),
        Some(&tag),
    )
    .await;
    assert!(matches!(stale, Err(AdminError::Stale { .. })), "{stale:?}");
    assert_eq!(stale.unwrap_err().status(), 412);

    let taken = admin::users::update(
        &k.idp,
        &admin_actor(),
        "dana.reyes@example.com",
        admin::users::UserEdit {
            email: Some(DEMO_EMAIL.into()),
            ..Default::default()
        },
        None,
    )
    .await;
    assert!(
        matches!(taken, Err(AdminError::Conflict { .. })),
        "{taken:?}"
    );
}

#[tokio::test]
async fn audit_query_filters_and_pages() {
    let k = kit().await;
    for i in 0..5 {
        add_user(&k, &format!("a{i}@example.com"), "A", "B", &[]).await;
    }
    admin::users::lock(&k.idp, &admin_actor(), "a1@example.com")
        .await
        .unwrap();
    let q = |f: fn(&mut admin::audit::AuditQuery)| {
        let mut q = admin::audit::AuditQuery::default();
        f(&mut q);
        let idp = k.idp.clone();
        async move { admin::audit::query(&idp, &q).await.unwrap() }
    };
    let adds = q(|q| q.event = Some("admin.user.add".into())).await;
    assert_eq!(adds.total, 5);
    assert_eq!(
        adds.items[0].subject.as_deref(),
        Some("a4@example.com"),
        "newest first"
    );
    let user_prefix = q(|q| q.event = Some("admin.user.".into())).await;
    assert_eq!(user_prefix.total, 6);
    let about = q(|q| q.user = Some("A1@example.com".into())).await;
    assert_eq!(about.total, 2, "add and lock");
    let by_actor = q(|q| q.actor = Some("cli:test".into())).await;
    assert_eq!(by_actor.total, 6);
    let page = q(|q| {
        q.actor = Some("cli:test".into());
        q.offset = 4;
        q.limit = 4;
    })
    .await;
    assert_eq!((page.total, page.items.len()), (6, 2));
    let future = q(|q| q.since = Some(i64::MAX / 2)).await;
    assert_eq!(future.total, 0);
    let bad = admin::audit::query(
        &k.idp,
        &admin::audit::AuditQuery {
            outcome: Some("maybe".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(bad, Err(AdminError::Invalid { .. })));
}

#[tokio::test]
async fn group_versions_and_delete() {
    let k = kit().await;
    admin::groups::add(&k.idp, &admin_actor(), "ops")
        .await
        .unwrap();
    let v = admin::groups::show(&k.idp, "ops").await.unwrap();
    let tag = admin::groups::etag(&v);
    admin::groups::add_member(&k.idp, &admin_actor(), "ops", DEMO_EMAIL)
        .await
        .unwrap();
    let v2 = admin::groups::show(&k.idp, "ops").await.unwrap();
    assert_eq!(v2.members, 1);
    assert_ne!(
        admin::groups::etag(&v2),
        tag,
        "a member changes the version"
    );
    let stale = admin::groups::delete(&k.idp, &admin_actor(), "ops", Some(&tag)).await;
    assert!(matches!(stale, Err(AdminError::Stale { .. })));
    admin::groups::delete(
        &k.idp,
        &admin_actor(),
        "ops",
        Some(&admin::groups::etag(&v2)),
    )
    .await
    .unwrap();
    assert!(matches!(
        admin::groups::show(&k.idp, "ops").await,
        Err(AdminError::NotFound { .. })
    ));
    assert!(k.demo_user().await.id.len() > 1);
    let groups = k
        .idp
        .store
        .groups_of(&k.demo_user().await.id)
        .await
        .unwrap();
    assert!(!groups.contains(&"ops".to_string()));
}
