//! `idp::admin` as an engine: every write leaves exactly one audit row that
//! names its actor, and bad input is refused with a typed error before
//! anything is written.

mod support;

use idp::admin::{self, Actor, AdminError, Entity};
use support::{DEMO_EMAIL, DEMO_PASSWORD, Kit, kit};

const NEW_PASSWORD: &str = "Green-Valley-9134!";

fn alice() -> Actor {
    Actor::cli("alice")
}

fn console() -> Actor {
    Actor::User {
        user_id: "u-admin-1".into(),
        ip: Some("192.0.2.7".into()),
    }
}

/// Everything an administrative write can change, as one comparable value.
async fn snapshot(k: &Kit) -> String {
    let s = &k.idp.store;
    let mut users = Vec::new();
    for u in s.list_users().await.unwrap() {
        let groups = s.groups_of(&u.id).await.unwrap();
        users.push(format!("{u:?} {groups:?}"));
    }
    let apps: Vec<String> = s
        .list_applications()
        .await
        .unwrap()
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "users {users:?}\ngroups {:?}\napps {apps:?}\nsettings {:?}\naudit {}\nclients {:?}\nsps {:?}\nkeys {:?}\ncerts {:?}",
        s.list_groups().await.unwrap(),
        s.settings_raw().await.unwrap(),
        s.recent_audit(100_000).await.unwrap().len(),
        s.oidc_clients().await.unwrap(),
        s.saml_sps().await.unwrap(),
        s.oidc_key_ids().await.unwrap(),
        s.saml_certs()
            .await
            .unwrap()
            .iter()
            .map(|c| (&c.id, c.retired_at))
            .collect::<Vec<_>>(),
    )
}

async fn audit_len(k: &Kit) -> usize {
    k.idp.store.recent_audit(100_000).await.unwrap().len()
}

/// Asserts that exactly one row was written since `before`, for `event`, by `actor`.
async fn one_row(k: &Kit, before: usize, event: &str, actor: &Actor) -> idp::store::AuditRow {
    let rows = k.idp.store.recent_audit(100_000).await.unwrap();
    assert_eq!(
        rows.len(),
        before + 1,
        "{event}: {:?}",
        &rows[..rows.len() - before]
    );
    let row = rows[0].clone();
    assert_eq!(row.event, event);
    assert_eq!(row.outcome, "success");
    assert_eq!(row.actor.as_deref(), Some(actor.to_string().as_str()));
    row
}

#[tokio::test]
async fn user_writes_each_leave_one_row_naming_the_actor() {
    let k = kit().await;
    let a = alice();

    let n = audit_len(&k).await;
    let v = admin::users::add(
        &k.idp,
        &a,
        admin::users::NewUser {
            email: "Eve@Example.com".into(),
            first_name: "Eve".into(),
            last_name: "Doe".into(),
            password: Some("Ev3-Passw0rd!long".into()),
            groups: vec!["Staff".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(v.user.email, "eve@example.com");
    assert_eq!(v.user.username, "eve");
    assert_eq!(v.groups, vec!["Staff".to_string()]);
    let row = one_row(&k, n, "admin.user.add", &a).await;
    assert_eq!(row.actor.as_deref(), Some("cli:alice"));
    assert_eq!(row.source_ip.as_deref(), Some("admin-cli"));
    assert_eq!(row.user_id.as_deref(), Some(v.user.id.as_str()));
    assert_eq!(row.detail, "groups: Staff");

    let n = audit_len(&k).await;
    admin::users::set_password(&k.idp, &a, "eve@example.com", NEW_PASSWORD)
        .await
        .unwrap();
    one_row(&k, n, "admin.user.set_password", &a).await;

    let n = audit_len(&k).await;
    assert!(
        admin::users::lock(&k.idp, &a, "eve@example.com")
            .await
            .unwrap()
    );
    one_row(&k, n, "admin.user.lock", &a).await;
    let n = audit_len(&k).await;
    assert!(
        !admin::users::lock(&k.idp, &a, "eve@example.com")
            .await
            .unwrap()
    );
    one_row(&k, n, "admin.user.lock", &a).await;

    let n = audit_len(&k).await;
    assert!(
        admin::users::unlock(&k.idp, &a, "EVE@example.com")
            .await
            .unwrap()
    );
    one_row(&k, n, "admin.user.unlock", &a).await;

    let n = audit_len(&k).await;
    assert_eq!(
        admin::users::reset_mfa(&k.idp, &a, "eve@example.com")
            .await
            .unwrap(),
        0
    );
    let row = one_row(&k, n, "admin.user.reset_mfa", &a).await;
    assert_eq!(row.detail, "0 factor records removed");

    // The console's actor: its own id and address, not the CLI's.
    let c = console();
    let n = audit_len(&k).await;
    admin::users::delete(&k.idp, &c, "eve@example.com")
        .await
        .unwrap();
    let row = one_row(&k, n, "admin.user.delete", &c).await;
    assert_eq!(row.actor.as_deref(), Some("user:u-admin-1"));
    assert_eq!(row.source_ip.as_deref(), Some("192.0.2.7"));
    assert!(
        k.idp
            .store
            .user_by_email("eve@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let listed = admin::users::list(&k.idp).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user.email, DEMO_EMAIL);
    let shown = admin::users::show(&k.idp, DEMO_EMAIL).await.unwrap();
    assert_eq!(shown.groups, vec!["Staff".to_string()]);
}

#[tokio::test]
async fn lock_set_password_reset_mfa_and_delete_end_the_users_sessions() {
    let k = kit().await;
    for op in ["lock", "set_password", "reset_mfa", "delete"] {
        let mut b = k.signed_in().await;
        assert_eq!(b.get("/apps").await.status, 200, "{op}");
        match op {
            "lock" => {
                admin::users::lock(&k.idp, &alice(), DEMO_EMAIL)
                    .await
                    .unwrap();
            }
            "set_password" => {
                admin::users::set_password(&k.idp, &alice(), DEMO_EMAIL, NEW_PASSWORD)
                    .await
                    .unwrap();
            }
            "reset_mfa" => {
                admin::users::reset_mfa(&k.idp, &alice(), DEMO_EMAIL)
                    .await
                    .unwrap();
            }
            _ => {
                admin::users::delete(&k.idp, &alice(), DEMO_EMAIL)
                    .await
                    .unwrap();
            }
        }
        let page = b.get("/apps").await;
        assert_eq!(page.status, 303, "{op}: the session ended");
        if op == "lock" {
            admin::users::unlock(&k.idp, &alice(), DEMO_EMAIL)
                .await
                .unwrap();
        }
        if op == "set_password" {
            // Back to the password the kit signs in with.
            k.set("password.history", "0").await;
            admin::users::set_password(&k.idp, &alice(), DEMO_EMAIL, DEMO_PASSWORD)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn directory_and_settings_writes_each_leave_one_row() {
    let k = kit().await;
    let a = alice();

    let n = audit_len(&k).await;
    let g = admin::groups::add(&k.idp, &a, "  Finance ").await.unwrap();
    assert_eq!(g.name, "Finance");
    one_row(&k, n, "admin.group.add", &a).await;

    let n = audit_len(&k).await;
    assert!(
        admin::groups::add_member(&k.idp, &a, "Finance", DEMO_EMAIL)
            .await
            .unwrap()
    );
    let row = one_row(&k, n, "admin.group.add_member", &a).await;
    assert_eq!(row.detail, format!("{DEMO_EMAIL} to Finance"));
    assert!(row.user_id.is_some(), "the row is about the member");

    let n = audit_len(&k).await;
    assert!(
        admin::groups::remove_member(&k.idp, &a, "Finance", DEMO_EMAIL)
            .await
            .unwrap()
    );
    one_row(&k, n, "admin.group.remove_member", &a).await;

    let n = audit_len(&k).await;
    let app = admin::apps::add(
        &k.idp,
        &a,
        admin::apps::NewApp {
            name: "Payroll".into(),
            launch_url: "https://payroll.example.com/".into(),
            logo_url: Some("data:image/png;base64,AAAA".into()),
            groups: vec!["Finance".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(app.name, "Payroll");
    one_row(&k, n, "admin.app.add", &a).await;

    let n = audit_len(&k).await;
    assert!(
        admin::apps::assign(&k.idp, &a, "Payroll", "Staff")
            .await
            .unwrap()
    );
    one_row(&k, n, "admin.app.assign", &a).await;
    assert!(
        admin::apps::list(&k.idp)
            .await
            .unwrap()
            .iter()
            .any(|x| x.name == "Payroll")
    );

    let n = audit_len(&k).await;
    let s = admin::settings::set(&k.idp, &a, "lockout.threshold", " 3 ")
        .await
        .unwrap();
    assert_eq!(s.lockout_threshold, 3);
    let row = one_row(&k, n, "admin.settings.set", &a).await;
    assert_eq!(row.detail, "lockout.threshold = 3");
    assert_eq!(
        admin::settings::show(&k.idp)
            .await
            .unwrap()
            .lockout_threshold,
        3
    );
}

const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://meta.example.com/sp"><md:SPSSODescriptor AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://meta.example.com/acs" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>"#;

fn new_sp(entity_id: &str) -> admin::saml::NewSp {
    admin::saml::NewSp {
        entity_id: entity_id.into(),
        acs: vec!["https://sp.example.com/acs".into()],
        application: "Team Wiki".into(),
        slo_url: None,
        slo_binding: "HTTP-Redirect".into(),
        certificate: None,
        require_signed_requests: false,
        name_id_format: "emailAddress".into(),
        sign: "both".into(),
        require_mfa: false,
        relay_state: None,
        release: Default::default(),
    }
}

fn new_client(id: &str) -> admin::oidc::NewClient {
    admin::oidc::NewClient {
        client_id: id.into(),
        redirect_uris: vec!["https://rp.example.com/cb".into()],
        application: Some("Team Wiki".into()),
        alg: "RS256".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn client_sp_and_key_writes_each_leave_one_row() {
    let k = kit().await;
    let a = alice();

    let n = audit_len(&k).await;
    let (client, secret) = admin::oidc::add(&k.idp, &a, new_client("payroll"))
        .await
        .unwrap();
    let secret = secret.expect("a confidential client gets a secret");
    assert!(
        !client
            .client_secret_hash
            .as_deref()
            .unwrap()
            .contains(&secret),
        "only the hash is kept"
    );
    one_row(&k, n, "admin.oidc.client.add", &a).await;
    assert!(
        admin::oidc::list(&k.idp)
            .await
            .unwrap()
            .iter()
            .any(|(c, from)| c.client_id == "payroll" && *from == "store")
    );
    let n = audit_len(&k).await;
    admin::oidc::remove(&k.idp, &a, "payroll").await.unwrap();
    one_row(&k, n, "admin.oidc.client.remove", &a).await;

    let n = audit_len(&k).await;
    let sp = admin::saml::add(
        &k.idp,
        &a,
        admin::saml::NewSp {
            acs: vec![
                "https://sp.example.com/acs".into(),
                "https://sp.example.com/acs2".into(),
            ],
            ..new_sp("https://sp.example.com/")
        },
    )
    .await
    .unwrap();
    one_row(&k, n, "admin.saml.sp.add", &a).await;
    // Indexed in order, as metadata would: an AuthnRequest naming index 1 reaches the second.
    let indexes: Vec<_> = sp.acs.iter().map(|a| (a.url.as_str(), a.index)).collect();
    assert_eq!(
        indexes,
        [
            ("https://sp.example.com/acs", Some(0)),
            ("https://sp.example.com/acs2", Some(1))
        ]
    );
    let n = audit_len(&k).await;
    let sp = admin::saml::import_metadata(
        &k.idp,
        &a,
        METADATA,
        admin::saml::MetadataOptions {
            application: "Expense Reports".into(),
            sign: "assertion".into(),
            require_mfa: true,
            relay_state: Some("tile".into()),
            release: Default::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(sp.entity_id, "https://meta.example.com/sp");
    assert!(sp.require_mfa);
    one_row(&k, n, "admin.saml.sp.add", &a).await;
    let n = audit_len(&k).await;
    admin::saml::remove(&k.idp, &a, "https://sp.example.com/")
        .await
        .unwrap();
    one_row(&k, n, "admin.saml.sp.remove", &a).await;
    assert_eq!(admin::saml::list(&k.idp).await.unwrap().len(), 1);

    // Both algorithms in one rotation: still one row, naming both keys.
    admin::keys::list(&k.idp).await.unwrap();
    let n = audit_len(&k).await;
    let kids = admin::keys::rotate_oidc(&k.idp, &a, None).await.unwrap();
    assert_eq!(kids.len(), 2);
    let row = one_row(&k, n, "admin.oidc.key.rotate", &a).await;
    for (_, kid) in &kids {
        assert!(row.detail.contains(kid.as_str()), "{}", row.detail);
    }
    let n = audit_len(&k).await;
    admin::keys::rotate_oidc(&k.idp, &a, Some("ES256"))
        .await
        .unwrap();
    one_row(&k, n, "admin.oidc.key.rotate", &a).await;

    let n = audit_len(&k).await;
    let (id, _) = admin::keys::rotate_saml(&k.idp, &a).await.unwrap();
    let row = one_row(&k, n, "admin.saml.key.rotate", &a).await;
    assert!(
        row.detail.starts_with(&format!("{id} (standby")),
        "{}",
        row.detail
    );
    let keys = admin::keys::list(&k.idp).await.unwrap();
    assert!(keys.iter().any(|k| k.saml && k.kid == id));
    assert!(keys.iter().any(|k| k.saml && k.retired_at.is_some()));
}

/// Runs `op`, expects it refused, and checks that nothing changed.
macro_rules! refused {
    ($k:expr, $op:expr, $pat:pat) => {{
        let before = snapshot(&$k).await;
        let got = $op.await;
        let err = match got {
            Ok(_) => panic!("{}: accepted", stringify!($op)),
            Err(e) => e,
        };
        assert!(matches!(err, $pat), "{}: {err:?}", stringify!($op));
        assert_eq!(
            snapshot(&$k).await,
            before,
            "{}: the store changed",
            stringify!($op)
        );
        err
    }};
}

#[tokio::test]
async fn bad_input_is_refused_with_a_typed_error_and_changes_nothing() {
    let k = kit().await;
    let a = alice();
    // Keys exist before the snapshot, so a refused rotation cannot look
    // like a change.
    admin::keys::list(&k.idp).await.unwrap();

    // Unknown user, for every write that names one.
    let nobody = "nobody@example.com";
    let e = refused!(
        k,
        admin::users::lock(&k.idp, &a, nobody),
        AdminError::NotFound {
            entity: Entity::User,
            ..
        }
    );
    assert_eq!(e.status(), 404);
    assert_eq!(e.to_string(), format!("no user with email {nobody:?}"));
    refused!(
        k,
        admin::users::unlock(&k.idp, &a, nobody),
        AdminError::NotFound { .. }
    );
    refused!(
        k,
        admin::users::delete(&k.idp, &a, nobody),
        AdminError::NotFound { .. }
    );
    refused!(
        k,
        admin::users::reset_mfa(&k.idp, &a, nobody),
        AdminError::NotFound { .. }
    );
    refused!(
        k,
        admin::users::set_password(&k.idp, &a, nobody, NEW_PASSWORD),
        AdminError::NotFound { .. }
    );
    refused!(
        k,
        admin::groups::add_member(&k.idp, &a, "Staff", nobody),
        AdminError::NotFound {
            entity: Entity::User,
            ..
        }
    );

    // A password below the policy, for a new and an existing account.
    let e = refused!(
        k,
        admin::users::set_password(&k.idp, &a, DEMO_EMAIL, "short"),
        AdminError::PasswordPolicy(_)
    );
    assert_eq!(e.status(), 422);
    refused!(
        k,
        admin::users::add(
            &k.idp,
            &a,
            admin::users::NewUser {
                email: "weak@example.com".into(),
                password: Some("password".into()),
                ..Default::default()
            },
        ),
        AdminError::PasswordPolicy(_)
    );
    refused!(
        k,
        admin::users::add(
            &k.idp,
            &a,
            admin::users::NewUser {
                email: "not an email".into(),
                ..Default::default()
            },
        ),
        AdminError::Invalid { .. }
    );
    // Duplicates.
    refused!(
        k,
        admin::users::add(
            &k.idp,
            &a,
            admin::users::NewUser {
                email: DEMO_EMAIL.to_uppercase(),
                ..Default::default()
            },
        ),
        AdminError::Conflict {
            entity: Entity::User,
            ..
        }
    );
    let e = refused!(
        k,
        admin::groups::add(&k.idp, &a, "Staff"),
        AdminError::Conflict {
            entity: Entity::Group,
            ..
        }
    );
    assert_eq!(e.status(), 409);
    refused!(
        k,
        admin::groups::add(&k.idp, &a, "   "),
        AdminError::Invalid { .. }
    );
    // An unknown group named among others: not even the account is created.
    refused!(
        k,
        admin::users::add(
            &k.idp,
            &a,
            admin::users::NewUser {
                email: "gus@example.com".into(),
                groups: vec!["Staff".into(), "Nope".into()],
                ..Default::default()
            },
        ),
        AdminError::NotFound {
            entity: Entity::Group,
            ..
        }
    );
    refused!(
        k,
        admin::groups::remove_member(&k.idp, &a, "Nope", DEMO_EMAIL),
        AdminError::NotFound {
            entity: Entity::Group,
            ..
        }
    );

    // Applications: bad URLs, duplicates, unknown names.
    let app = |name: &str, url: &str| admin::apps::NewApp {
        name: name.into(),
        launch_url: url.into(),
        ..Default::default()
    };
    for url in [
        "javascript:alert(1)",
        "/relative",
        "data:image/png;base64,AA",
    ] {
        let e = refused!(
            k,
            admin::apps::add(&k.idp, &a, app("Payroll", url)),
            AdminError::Invalid { .. }
        );
        assert!(
            matches!(&e, AdminError::Invalid { field: Some(f), .. } if f == "launch_url"),
            "{e:?}"
        );
    }
    refused!(
        k,
        admin::apps::add(
            &k.idp,
            &a,
            admin::apps::NewApp {
                detail_url: Some("ftp://x.example.com/".into()),
                ..app("Payroll", "https://payroll.example.com/")
            },
        ),
        AdminError::Invalid { .. }
    );
    refused!(
        k,
        admin::apps::add(
            &k.idp,
            &a,
            admin::apps::NewApp {
                groups: vec!["Nope".into()],
                ..app("Payroll", "https://payroll.example.com/")
            },
        ),
        AdminError::NotFound {
            entity: Entity::Group,
            ..
        }
    );
    refused!(
        k,
        admin::apps::add(&k.idp, &a, app("Team Wiki", "https://w.example.com/")),
        AdminError::Conflict {
            entity: Entity::Application,
            ..
        }
    );
    refused!(
        k,
        admin::apps::assign(&k.idp, &a, "Nope", "Staff"),
        AdminError::NotFound {
            entity: Entity::Application,
            ..
        }
    );

    // Settings: unknown key, bad values.
    let e = refused!(
        k,
        admin::settings::set(&k.idp, &a, "lockout.thresold", "3"),
        AdminError::UnknownSetting { .. }
    );
    assert!(e.to_string().contains("lockout.threshold"), "{e}");
    for (key, value) in [
        ("lockout.threshold", "-1"),
        ("password.min_length", "4"),
        ("profile.self_edit", "maybe"),
        ("mfa.policy", "sometimes"),
    ] {
        refused!(
            k,
            admin::settings::set(&k.idp, &a, key, value),
            AdminError::InvalidSetting { .. }
        );
    }

    // Clients: a bad redirect URI, an unknown application, a duplicate, an
    // unknown or configured one to remove.
    refused!(
        k,
        admin::oidc::add(
            &k.idp,
            &a,
            admin::oidc::NewClient {
                redirect_uris: vec!["not a url".into()],
                ..new_client("payroll")
            },
        ),
        AdminError::Invalid { .. }
    );
    refused!(
        k,
        admin::oidc::add(
            &k.idp,
            &a,
            admin::oidc::NewClient {
                application: Some("Nope".into()),
                ..new_client("payroll")
            },
        ),
        AdminError::NotFound {
            entity: Entity::Application,
            ..
        }
    );
    refused!(
        k,
        admin::oidc::add(
            &k.idp,
            &a,
            admin::oidc::NewClient {
                alg: "HS256".into(),
                ..new_client("payroll")
            },
        ),
        AdminError::Invalid { .. }
    );
    admin::oidc::add(&k.idp, &a, new_client("payroll"))
        .await
        .unwrap();
    refused!(
        k,
        admin::oidc::add(&k.idp, &a, new_client("payroll")),
        AdminError::Conflict {
            entity: Entity::OidcClient,
            ..
        }
    );
    refused!(
        k,
        admin::oidc::remove(&k.idp, &a, "nope"),
        AdminError::NotFound {
            entity: Entity::OidcClient,
            ..
        }
    );

    // SAML SPs: a bad ACS URL, an unknown application, bad metadata, a bad
    // `sign`, a duplicate, an unknown one to remove.
    refused!(
        k,
        admin::saml::add(
            &k.idp,
            &a,
            admin::saml::NewSp {
                acs: vec!["javascript:alert(1)".into()],
                ..new_sp("https://sp.example.com/")
            },
        ),
        AdminError::Invalid { .. }
    );
    refused!(
        k,
        admin::saml::add(
            &k.idp,
            &a,
            admin::saml::NewSp {
                application: "Nope".into(),
                ..new_sp("https://sp.example.com/")
            },
        ),
        AdminError::NotFound {
            entity: Entity::Application,
            ..
        }
    );
    refused!(
        k,
        admin::saml::add(
            &k.idp,
            &a,
            admin::saml::NewSp {
                sign: "neither".into(),
                ..new_sp("https://sp.example.com/")
            },
        ),
        AdminError::Invalid { .. }
    );
    let options = || admin::saml::MetadataOptions {
        application: "Team Wiki".into(),
        sign: "both".into(),
        require_mfa: false,
        relay_state: None,
        release: Default::default(),
    };
    refused!(
        k,
        admin::saml::add(
            &k.idp,
            &a,
            admin::saml::NewSp {
                release: admin::saml::Release {
                    attribute_map: vec![
                        idp::saml::attributes::AttributeRule::parse("urn:oid:2.5.4.3=shoe_size")
                            .unwrap()
                    ],
                    attribute_profile: None,
                },
                ..new_sp("https://sp.example.com/")
            },
        ),
        AdminError::Invalid { .. }
    );
    refused!(
        k,
        admin::saml::import_metadata(&k.idp, &a, "<not-metadata/>", options()),
        AdminError::Invalid { .. }
    );
    admin::saml::add(&k.idp, &a, new_sp("https://sp.example.com/"))
        .await
        .unwrap();
    refused!(
        k,
        admin::saml::add(&k.idp, &a, new_sp("https://sp.example.com/")),
        AdminError::Conflict {
            entity: Entity::SamlSp,
            ..
        }
    );
    refused!(
        k,
        admin::saml::remove(&k.idp, &a, "https://nope.example.com/"),
        AdminError::NotFound {
            entity: Entity::SamlSp,
            ..
        }
    );

    // Keys: an unknown algorithm.
    refused!(
        k,
        admin::keys::rotate_oidc(&k.idp, &a, Some("HS256")),
        AdminError::Invalid { .. }
    );
}

#[tokio::test]
async fn clients_and_sps_of_the_configuration_file_are_not_removed() {
    let k = support::kit_with(|c| {
        c.oidc.clients = vec![
            serde_json::from_value(serde_json::json!({
                "client_id": "filed",
                "redirect_uris": ["https://rp.example.com/cb"],
                "application": "Team Wiki",
            }))
            .unwrap(),
        ];
    })
    .await;
    let before = snapshot(&k).await;
    let e = admin::oidc::remove(&k.idp, &alice(), "filed")
        .await
        .unwrap_err();
    assert!(matches!(e, AdminError::DeclaredInConfig { .. }), "{e:?}");
    assert_eq!(e.status(), 409);
    assert_eq!(snapshot(&k).await, before);
    let e = admin::oidc::add(&k.idp, &alice(), new_client("filed"))
        .await
        .unwrap_err();
    assert!(matches!(e, AdminError::Conflict { .. }), "{e:?}");
}

#[tokio::test]
async fn a_client_that_needs_sid_in_logout_tokens_says_so_with_its_uri() {
    let k = kit().await;
    let a = alice();
    let (client, _) = admin::oidc::add(
        &k.idp,
        &a,
        admin::oidc::NewClient {
            backchannel_logout_uri: Some("https://rp.example.com/bcl".into()),
            backchannel_logout_session_required: true,
            ..new_client("strict")
        },
    )
    .await
    .unwrap();
    assert!(client.backchannel_logout_session_required);
    let n = audit_len(&k).await;
    let e = admin::oidc::add(
        &k.idp,
        &a,
        admin::oidc::NewClient {
            backchannel_logout_session_required: true,
            ..new_client("nouri")
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("backchannel_logout"), "{e}");
    assert_eq!(audit_len(&k).await, n, "nothing written");
}

#[tokio::test]
async fn a_role_comes_from_the_attribute_or_a_configured_group_and_the_stronger_applies() {
    use idp::roles::{Permission, Role};
    let k = support::kit_with(|c| {
        c.admin.helpdesk_groups = vec!["Staff".into()];
        c.admin.auditor_groups = vec!["Auditors".into()];
    })
    .await;
    // The demo user is an admin by attribute, and in Staff (help desk).
    let demo = k.demo_user().await;
    assert_eq!(demo.admin_role, Some(Role::Admin));
    assert_eq!(
        admin::roles::of(&k.idp, &demo).await.unwrap(),
        Some(Role::Admin)
    );

    let a = alice();
    let plain = admin::users::add(
        &k.idp,
        &a,
        admin::users::NewUser {
            email: "pat@example.com".into(),
            first_name: "Pat".into(),
            last_name: "Lee".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .user;
    assert_eq!(admin::roles::of(&k.idp, &plain).await.unwrap(), None);
    assert!(matches!(
        admin::roles::require(None, Permission::Read),
        Err(AdminError::Forbidden { .. })
    ));

    admin::groups::add_member(&k.idp, &a, "Staff", "pat@example.com")
        .await
        .unwrap();
    let role = admin::roles::of(&k.idp, &plain).await.unwrap();
    assert_eq!(role, Some(Role::Helpdesk));
    assert!(admin::roles::require(role, Permission::SupportUsers).is_ok());
    let refused = admin::roles::require(role, Permission::Configure).unwrap_err();
    assert_eq!(refused.status(), 403);

    // The attribute raises it above the group's grant.
    let n = audit_len(&k).await;
    let u = admin::roles::set(&k.idp, &a, "pat@example.com", Some(Role::Admin))
        .await
        .unwrap();
    let row = one_row(&k, n, "admin.user.role", &a).await;
    assert_eq!(row.detail, "none -> admin");
    assert_eq!(
        admin::roles::of(&k.idp, &u).await.unwrap(),
        Some(Role::Admin)
    );
}

#[tokio::test]
async fn taking_a_role_away_ends_the_users_sessions_and_an_unknown_user_changes_nothing() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    assert_eq!(b.get("/apps").await.status, 200);

    let before = snapshot(&k).await;
    let e = admin::roles::set(&k.idp, &alice(), "nobody@example.com", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            AdminError::NotFound {
                entity: Entity::User,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(snapshot(&k).await, before);

    let u = admin::roles::set(&k.idp, &alice(), DEMO_EMAIL, None)
        .await
        .unwrap();
    assert_eq!(u.admin_role, None);
    let page = b.get("/apps").await;
    assert_eq!(page.status, 303, "the session outlived the role");
}

#[test]
fn admin_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = support::test_config(dir.path());
    c.admin.confirm_max_age = std::time::Duration::from_secs(3600);
    let e = c.validate().unwrap_err();
    assert_eq!(e.key, "admin.confirm_max_age");
    let mut c = support::test_config(dir.path());
    c.admin.step_up_max_age = std::time::Duration::ZERO;
    assert_eq!(c.validate().unwrap_err().key, "admin.step_up_max_age");
}

#[tokio::test]
async fn provisioning_writes_each_leave_one_row_and_bad_input_changes_nothing() {
    let k = kit().await;
    let a = console();

    // SCIM clients: add (the token is shown once, only its hash is kept), revoke.
    let n = audit_len(&k).await;
    let c = admin::scim_clients::add(&k.idp, &a, "workday")
        .await
        .unwrap();
    assert!(c.token.starts_with(admin::scim_clients::PREFIX));
    let row = one_row(&k, n, "admin.scim_client.add", &a).await;
    assert!(!row.detail.contains(&c.token));
    assert!(matches!(
        admin::scim_clients::add(&k.idp, &a, "workday").await,
        Err(AdminError::Conflict {
            entity: Entity::ScimClient,
            ..
        })
    ));
    let n = audit_len(&k).await;
    admin::scim_clients::revoke(&k.idp, &a, "workday")
        .await
        .unwrap();
    one_row(&k, n, "admin.scim_client.revoke", &a).await;
    // The name is free again once revoked.
    admin::scim_clients::add(&k.idp, &a, "workday")
        .await
        .unwrap();

    // A user's record, as a whole new state: one row listing the changed fields.
    let demo = k.demo_user().await;
    let mut record = admin::users::UserRecord::of(&demo);
    record.profile.0.insert("department".into(), "Ops".into());
    record.external_id = Some("E-1".into());
    let n = audit_len(&k).await;
    let after = admin::users::replace(&k.idp, &a, &demo.id, record.clone())
        .await
        .unwrap();
    let row = one_row(&k, n, "admin.user.update", &a).await;
    assert_eq!(row.detail, "fields: department, external_id");
    assert_eq!(after.profile.get("department"), "Ops");
    // The same state again writes nothing.
    let n = audit_len(&k).await;
    admin::users::replace(&k.idp, &a, &demo.id, record.clone())
        .await
        .unwrap();
    assert_eq!(audit_len(&k).await, n);

    // Groups: rename and external id in one row, delete in one row.
    let n = audit_len(&k).await;
    admin::groups::add(&k.idp, &a, "Temp").await.unwrap();
    one_row(&k, n, "admin.group.add", &a).await;
    let n = audit_len(&k).await;
    admin::groups::update(&k.idp, &a, "Temp", "Temporary", Some("G-1"))
        .await
        .unwrap();
    one_row(&k, n, "admin.group.update", &a).await;
    let n = audit_len(&k).await;
    admin::groups::delete(&k.idp, &a, "Temporary", None)
        .await
        .unwrap();
    one_row(&k, n, "admin.group.delete", &a).await;

    // Refusals: a typed error and nothing written.
    let before = snapshot(&k).await;
    let bad = |f: fn(&mut admin::users::UserRecord)| {
        let mut r = record.clone();
        f(&mut r);
        r
    };
    for r in [
        bad(|r| r.email = "nope".into()),
        bad(|r| r.username = "has space".into()),
        bad(|r| r.first_name = "x".repeat(101)),
        bad(|r| {
            r.profile.0.insert("shoe_size".into(), "44".into());
        }),
        bad(|r| {
            r.profile.0.insert("work_phone".into(), "call me".into());
        }),
        bad(|r| r.external_id = Some("a\u{0}b".into())),
    ] {
        assert!(
            matches!(
                admin::users::replace(&k.idp, &a, &demo.id, r.clone()).await,
                Err(AdminError::Invalid { .. })
            ),
            "{r:?}"
        );
    }
    assert!(matches!(
        admin::users::replace(&k.idp, &a, "no-such-id", record.clone()).await,
        Err(AdminError::NotFound { .. })
    ));
    assert!(matches!(
        admin::scim_clients::add(&k.idp, &a, "bad name!").await,
        Err(AdminError::Invalid { .. })
    ));
    assert!(matches!(
        admin::scim_clients::revoke(&k.idp, &a, "nobody").await,
        Err(AdminError::NotFound {
            entity: Entity::ScimClient,
            ..
        })
    ));
    assert!(matches!(
        admin::groups::update(&k.idp, &a, "Staff", "", None).await,
        Err(AdminError::Invalid { .. })
    ));
    assert!(matches!(
        admin::groups::delete(&k.idp, &a, "Nope", None).await,
        Err(AdminError::NotFound { .. })
    ));
    assert_eq!(snapshot(&k).await, before);
}
