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

// ---------------------------------------------------------------------
// The HTTP API through the real portal router.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const API: &str = "/api/admin/v1";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status, and gives it back.
    fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        for key in ["type", "title", "detail"] {
            assert!(self.body[key].is_string(), "{key} in {}", self.text);
        }
        assert_eq!(self.body["status"], status, "{}", self.text);
        &self.body
    }
}

async fn call_with(
    k: &Kit,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    extra: &[(header::HeaderName, &str)],
    body: Option<Body>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(b) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
    }
    for (name, value) in extra {
        req = req.header(name, *value);
    }
    let res = k
        .router
        .clone()
        .oneshot(req.body(body.unwrap_or_else(Body::empty)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

async fn call(k: &Kit, method: Method, path: &str, bearer: &str, body: Option<Value>) -> Answer {
    match body {
        Some(v) => {
            call_with(
                k,
                method,
                path,
                Some(bearer),
                &[(header::CONTENT_TYPE, "application/json")],
                Some(Body::from(v.to_string())),
            )
            .await
        }
        None => call_with(k, method, path, Some(bearer), &[], None).await,
    }
}

fn url(path: &str) -> String {
    format!("{API}{path}")
}

/// A personal API key of a user (made by the portal's own function).
async fn key_of(k: &Kit, email: &str) -> String {
    let user = k.idp.user_by_email(email).await.unwrap();
    k.idp
        .create_api_key(&user, "api test", 30, None, idp::clock::now())
        .await
        .unwrap()
        .secret
}

/// A user holding `role` (or none) and their API key.
async fn key_for_role(k: &Kit, email: &str, role: Option<Role>) -> String {
    admin::users::add(
        &k.idp,
        &admin_actor(),
        admin::users::NewUser {
            email: email.into(),
            first_name: "Role".into(),
            last_name: "Holder".into(),
            role,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    key_of(k, email).await
}

/// A client_credentials client with these scopes, and a token for `ask`.
async fn client_token(k: &Kit, id: &str, scopes: &[&str], ask: Option<&str>) -> Answer {
    let (_, secret) = admin::oidc::add(
        &k.idp,
        &admin_actor(),
        admin::oidc::NewClient {
            client_id: id.into(),
            grants: vec!["client_credentials".into()],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            alg: "RS256".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{}", secret.unwrap()));
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = ask {
        form.push(("scope", s));
    }
    call_with(
        k,
        Method::POST,
        "/oauth2/token",
        None,
        &[
            (header::AUTHORIZATION, &format!("Basic {basic}")),
            (header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
        ],
        Some(Body::from(serde_urlencoded::to_string(&form).unwrap())),
    )
    .await
}

#[tokio::test]
async fn no_or_bad_credentials_are_401_with_a_bearer_challenge() {
    let k = kit().await;
    let none = call_with(&k, Method::GET, &url("/users"), None, &[], None).await;
    none.problem(401);
    assert_eq!(
        none.header(header::WWW_AUTHENTICATE),
        Some("Bearer realm=\"portcullis-admin\"")
    );
    for bad in ["pcl_not-a-key", "eyJhbGciOiJub25lIn0.e30.", "x"] {
        let a = call(&k, Method::GET, &url("/users"), bad, None).await;
        a.problem(401);
        assert!(
            a.header(header::WWW_AUTHENTICATE)
                .unwrap()
                .contains("invalid_token")
        );
    }
    let basic = call_with(
        &k,
        Method::GET,
        &url("/users"),
        None,
        &[(header::AUTHORIZATION, "Basic ZGVtbzpwdw==")],
        None,
    )
    .await;
    basic.problem(401);
    // Authentication comes before the body is read: a huge body from a
    // stranger is still a 401.
    let big = call_with(
        &k,
        Method::POST,
        &url("/users"),
        None,
        &[(header::CONTENT_TYPE, "application/json")],
        Some(Body::from(vec![b' '; 2 * 1024 * 1024])),
    )
    .await;
    big.problem(401);
}

#[tokio::test]
async fn a_locked_or_deleted_owners_key_stops_working() {
    let k = kit().await;
    let key = key_for_role(&k, "ops@example.com", Some(Role::Admin)).await;
    assert_eq!(
        call(&k, Method::GET, &url("/me"), &key, None).await.status,
        200
    );
    admin::users::lock(&k.idp, &admin_actor(), "ops@example.com")
        .await
        .unwrap();
    call(&k, Method::GET, &url("/users"), &key, None)
        .await
        .problem(401);
    admin::users::unlock(&k.idp, &admin_actor(), "ops@example.com")
        .await
        .unwrap();
    assert_eq!(
        call(&k, Method::GET, &url("/users"), &key, None)
            .await
            .status,
        200
    );
    admin::users::delete(&k.idp, &admin_actor(), "ops@example.com")
        .await
        .unwrap();
    call(&k, Method::GET, &url("/users"), &key, None)
        .await
        .problem(401);
}

/// Every route family with a request an ordinary user's key must not get
/// through (reads and writes alike).
fn every_route() -> Vec<(Method, String, Option<Value>)> {
    let e = "demo%40example.com";
    vec![
        (Method::GET, url("/users"), None),
        (
            Method::POST,
            url("/users"),
            Some(json!({"email": "n@example.com"})),
        ),
        (Method::GET, url(&format!("/users/{e}")), None),
        (Method::PATCH, url(&format!("/users/{e}")), Some(json!({}))),
        (
            Method::PUT,
            url(&format!("/users/{e}")),
            Some(json!({"first_name": "a", "last_name": "b", "username": "c"})),
        ),
        (Method::DELETE, url(&format!("/users/{e}")), None),
        (Method::POST, url(&format!("/users/{e}/lock")), None),
        (Method::POST, url(&format!("/users/{e}/unlock")), None),
        (Method::POST, url(&format!("/users/{e}/reset-mfa")), None),
        (Method::POST, url(&format!("/users/{e}/reset-link")), None),
        (
            Method::PUT,
            url(&format!("/users/{e}/password")),
            Some(json!({"password": "Green-Valley-9134!"})),
        ),
        (
            Method::PUT,
            url(&format!("/users/{e}/role")),
            Some(json!({"role": null})),
        ),
        (Method::GET, url("/groups"), None),
        (Method::POST, url("/groups"), Some(json!({"name": "g"}))),
        (Method::GET, url("/groups/g"), None),
        (Method::DELETE, url("/groups/g"), None),
        (Method::GET, url("/groups/g/members"), None),
        (Method::PUT, url(&format!("/groups/g/members/{e}")), None),
        (Method::DELETE, url(&format!("/groups/g/members/{e}")), None),
        (Method::GET, url("/applications"), None),
        (
            Method::POST,
            url("/applications"),
            Some(json!({"name": "A", "launch_url": "https://a.example.com/"})),
        ),
        (Method::GET, url("/applications/A"), None),
        (Method::PUT, url("/applications/A/groups/g"), None),
        (Method::GET, url("/oidc/clients"), None),
        (
            Method::POST,
            url("/oidc/clients"),
            Some(json!({"client_id": "c"})),
        ),
        (Method::GET, url("/oidc/clients/c"), None),
        (Method::DELETE, url("/oidc/clients/c"), None),
        (Method::GET, url("/saml/sps"), None),
        (
            Method::POST,
            url("/saml/sps"),
            Some(json!({"application": "A"})),
        ),
        (Method::GET, url("/saml/sps/x"), None),
        (Method::PATCH, url("/saml/sps/x"), Some(json!({}))),
        (
            Method::PUT,
            url("/saml/sps/x"),
            Some(json!({"acs": [], "application": "A"})),
        ),
        (Method::DELETE, url("/saml/sps/x"), None),
        (Method::GET, url("/federation"), None),
        (Method::GET, url("/settings"), None),
        (
            Method::PUT,
            url("/settings/password.min_length"),
            Some(json!({"value": "12"})),
        ),
        (Method::GET, url("/keys"), None),
        (Method::POST, url("/keys/oidc/rotate"), Some(json!({}))),
        (Method::POST, url("/keys/saml/rotate"), None),
        (Method::GET, url("/audit"), None),
    ]
}

#[tokio::test]
async fn an_ordinary_users_key_gets_403_on_every_route() {
    let k = kit().await;
    let key = key_for_role(&k, "plain@example.com", None).await;
    let before = k.idp.store.recent_audit(10_000).await.unwrap().len();
    for (method, path, body) in every_route() {
        let a = call(&k, method.clone(), &path, &key, body).await;
        assert_eq!(a.status, 403, "{method} {path}: {}", a.text);
        a.problem(403);
    }
    // /me answers any valid credential: it says there is no role.
    let me = call(&k, Method::GET, &url("/me"), &key, None).await;
    assert_eq!(me.body["role"], Value::Null);
    assert_eq!(
        k.idp.store.recent_audit(10_000).await.unwrap().len(),
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn an_auditor_reads_everything_and_writes_nothing() {
    let k = kit().await;
    let key = key_for_role(&k, "aud@example.com", Some(Role::Auditor)).await;
    for (method, path, body) in every_route() {
        let a = call(&k, method.clone(), &path, &key, body).await;
        if method == Method::GET {
            // A read is allowed: found or not, never 403.
            assert!(
                a.status == 200 || a.status == 404,
                "{method} {path}: {}",
                a.text
            );
        } else {
            assert_eq!(a.status, 403, "{method} {path}: {}", a.text);
        }
    }
}

#[tokio::test]
async fn helpdesk_unlocks_and_resets_mfa_but_creates_nothing() {
    let k = kit().await;
    let key = key_for_role(&k, "help@example.com", Some(Role::Helpdesk)).await;
    admin::users::lock(&k.idp, &admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let e = "demo%40example.com";
    let unlock = call(
        &k,
        Method::POST,
        &url(&format!("/users/{e}/unlock")),
        &key,
        None,
    )
    .await;
    assert_eq!(unlock.status, 200, "{}", unlock.text);
    assert_eq!(unlock.body["changed"], true);
    let again = call(
        &k,
        Method::POST,
        &url(&format!("/users/{e}/unlock")),
        &key,
        None,
    )
    .await;
    assert_eq!(again.body["changed"], false, "a retry is harmless");
    let reset = call(
        &k,
        Method::POST,
        &url(&format!("/users/{e}/reset-mfa")),
        &key,
        None,
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    let link = call(
        &k,
        Method::POST,
        &url(&format!("/users/{e}/reset-link")),
        &key,
        None,
    )
    .await;
    assert_eq!(link.status, 204, "{}", link.text);
    admin::users::lock(&k.idp, &admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let suspended = call(
        &k,
        Method::POST,
        &url(&format!("/users/{e}/reset-link")),
        &key,
        None,
    )
    .await;
    assert!(
        suspended.problem(422)["detail"]
            .as_str()
            .unwrap()
            .contains("unlock it first")
    );
    let client = call(
        &k,
        Method::POST,
        &url("/oidc/clients"),
        &key,
        Some(json!({"client_id": "c", "grant_types": ["client_credentials"]})),
    )
    .await;
    client.problem(403);
    call(
        &k,
        Method::POST,
        &url(&format!("/users/{e}/lock")),
        &key,
        None,
    )
    .await
    .problem(403);
    call(
        &k,
        Method::POST,
        &url("/users"),
        &key,
        Some(json!({"email": "x@example.com"})),
    )
    .await
    .problem(403);
    // Its writes name the helpdesk user as actor.
    let help = k.idp.user_by_email("help@example.com").await.unwrap();
    let rows = admin::audit::query(
        &k.idp,
        &admin::audit::AuditQuery {
            actor: Some(format!("user:{}", help.id)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let events: Vec<&str> = rows.items.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "admin.user.reset_link",
            "admin.user.reset_mfa",
            "admin.user.unlock",
            "admin.user.unlock"
        ]
    );
}

#[tokio::test]
async fn client_credentials_with_a_role_scope_and_without() {
    let k = kit().await;
    let tok = client_token(&k, "robot", &["portcullis:admin"], Some("portcullis:admin")).await;
    assert_eq!(tok.status, 200, "{}", tok.text);
    let token = tok.body["access_token"].as_str().unwrap().to_string();
    let me = call(&k, Method::GET, &url("/me"), &token, None).await;
    assert_eq!(me.body, json!({"actor": "client:robot", "role": "admin"}));
    let created = call(
        &k,
        Method::POST,
        &url("/users"),
        &token,
        Some(json!({"email": "made.by.robot@example.com", "first_name": "M", "last_name": "R"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let row = &k.idp.store.recent_audit(1).await.unwrap()[0];
    assert_eq!(
        (row.event.as_str(), row.actor.as_deref()),
        ("admin.user.add", Some("client:robot"))
    );

    // The same client asking for no scope gets a token with no role.
    let plain = client_token(&k, "robot2", &["portcullis:admin"], None).await;
    let plain = plain.body["access_token"].as_str().unwrap().to_string();
    call(&k, Method::GET, &url("/users"), &plain, None)
        .await
        .problem(403);

    // An audit-scoped client reads, and may not write.
    let aud = client_token(
        &k,
        "reader",
        &["portcullis:audit"],
        Some("portcullis:audit"),
    )
    .await;
    let aud = aud.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&k, Method::GET, &url("/audit"), &aud, None)
            .await
            .status,
        200
    );
    call(
        &k,
        Method::POST,
        &url("/groups"),
        &aud,
        Some(json!({"name": "x"})),
    )
    .await
    .problem(403);
    // A scope the client was not given is refused at the token endpoint.
    let wider = client_token(
        &k,
        "reader2",
        &["portcullis:audit"],
        Some("portcullis:admin"),
    )
    .await;
    assert_eq!(wider.status, 400, "{}", wider.text);
    assert_eq!(wider.body["error"], "invalid_scope");

    // Removing the client ends its tokens.
    admin::oidc::remove(&k.idp, &admin_actor(), "robot")
        .await
        .unwrap();
    call(&k, Method::GET, &url("/users"), &token, None)
        .await
        .problem(401);

    // A role scope is for machine clients only.
    let interactive = call(
        &k,
        Method::POST,
        &url("/oidc/clients"),
        &plain_admin_key(&k).await,
        Some(json!({
            "client_id": "web",
            "redirect_uris": ["https://app.example.com/cb"],
            "grant_types": ["authorization_code"],
            "scopes": ["openid", "portcullis:admin"],
            "application": "Wiki"
        })),
    )
    .await;
    let p = interactive.problem(422);
    assert!(
        p["detail"].as_str().unwrap().contains("client_credentials"),
        "{p}"
    );
}

async fn plain_admin_key(k: &Kit) -> String {
    key_of(k, DEMO_EMAIL).await
}

#[tokio::test]
async fn users_create_read_edit_with_versions_and_delete() {
    let k = kit().await;
    let key = plain_admin_key(&k).await;
    let bad = call(
        &k,
        Method::POST,
        &url("/users"),
        &key,
        Some(json!({"email": "nope"})),
    )
    .await;
    assert_eq!(bad.problem(422)["field"], "email");
    let weak = call(
        &k,
        Method::POST,
        &url("/users"),
        &key,
        Some(json!({"email": "w@example.com", "password": "short"})),
    )
    .await;
    assert!(!weak.problem(422)["errors"].as_array().unwrap().is_empty());

    let made = call(
        &k,
        Method::POST,
        &url("/users"),
        &key,
        Some(json!({"email": "Lee@Example.com", "first_name": "Lee", "last_name": "Park"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(
        made.header(header::LOCATION),
        Some("/api/admin/v1/users/lee%40example.com")
    );
    assert!(made.body["user"].get("password_hash").is_none());
    let dup = call(
        &k,
        Method::POST,
        &url("/users"),
        &key,
        Some(json!({"email": "lee@example.com"})),
    )
    .await;
    dup.problem(409);

    let path = url("/users/lee%40example.com");
    let got = call(&k, Method::GET, &path, &key, None).await;
    assert_eq!(got.status, 200);
    let tag = got.header(header::ETAG).unwrap().to_string();
    assert!(tag.starts_with('"'));

    let invalid = call_with(
        &k,
        Method::PATCH,
        &path,
        Some(&key),
        &[(header::CONTENT_TYPE, "application/json")],
        Some(Body::from(
            json!({"first_name": "", "profile": {"work_phone": "call me", "shoe_size": "9"}})
                .to_string(),
        )),
    )
    .await;
    let fields: Vec<&str> = invalid.problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["first_name", "shoe_size", "work_phone"]);

    let edit = json!({"last_name": "Park-Kim", "profile": {"home_city": "Oslo"}}).to_string();
    let patched = call_with(
        &k,
        Method::PATCH,
        &path,
        Some(&key),
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::IF_MATCH, &tag),
        ],
        Some(Body::from(edit.clone())),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["user"]["last_name"], "Park-Kim");
    assert_ne!(patched.header(header::ETAG), Some(tag.as_str()));
    // The same If-Match again is stale now: 412, and nothing changes.
    let stale = call_with(
        &k,
        Method::PATCH,
        &path,
        Some(&key),
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::IF_MATCH, &tag),
        ],
        Some(Body::from(json!({"first_name": "Other"}).to_string())),
    )
    .await;
    stale.problem(412);
    let now = call(&k, Method::GET, &path, &key, None).await;
    assert_eq!(now.body["user"]["first_name"], "Lee");

    // PUT is idempotent: twice gives the same record and version.
    let full = json!({"first_name": "Lee", "last_name": "Park", "username": "lpark",
        "profile": {"work_phone": "+47 555 0100"}});
    let p1 = call(&k, Method::PUT, &path, &key, Some(full.clone())).await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    assert_eq!(
        p1.body["user"]["profile"],
        json!({"work_phone": "+47 555 0100"}),
        "home_city cleared"
    );
    let p2 = call(&k, Method::PUT, &path, &key, Some(full)).await;
    assert_eq!(p1.header(header::ETAG), p2.header(header::ETAG));

    // Company email change moves the resource.
    let moved = call(
        &k,
        Method::PATCH,
        &path,
        &key,
        Some(json!({"email": "lee.park@example.com"})),
    )
    .await;
    assert_eq!(moved.body["user"]["email"], "lee.park@example.com");
    call(&k, Method::GET, &path, &key, None).await.problem(404);
    let path = url("/users/lee.park%40example.com");

    let pw = call(
        &k,
        Method::PUT,
        &format!("{path}/password"),
        &key,
        Some(json!({"password": "Green-Valley-9134!"})),
    )
    .await;
    assert_eq!(pw.status, 204, "{}", pw.text);
    let lock = call(&k, Method::POST, &format!("{path}/lock"), &key, None).await;
    assert_eq!(lock.body["changed"], true);
    let role = call(
        &k,
        Method::PUT,
        &format!("{path}/role"),
        &key,
        Some(json!({"role": "helpdesk"})),
    )
    .await;
    assert_eq!(role.body["user"]["admin_role"], "helpdesk", "{}", role.text);
    let bad_role = call(
        &k,
        Method::PUT,
        &format!("{path}/role"),
        &key,
        Some(json!({"role": "root"})),
    )
    .await;
    bad_role.problem(422);

    let tag = call(&k, Method::GET, &path, &key, None)
        .await
        .header(header::ETAG)
        .unwrap()
        .to_string();
    let wrong = call_with(
        &k,
        Method::DELETE,
        &path,
        Some(&key),
        &[(header::IF_MATCH, "\"0000\"")],
        None,
    )
    .await;
    wrong.problem(412);
    let gone = call_with(
        &k,
        Method::DELETE,
        &path,
        Some(&key),
        &[(header::IF_MATCH, &tag)],
        None,
    )
    .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    call(&k, Method::DELETE, &path, &key, None)
        .await
        .problem(404);
}

#[tokio::test]
async fn user_list_pages_and_filters() {
    let k = kit().await;
    let key = plain_admin_key(&k).await;
    admin::groups::add(&k.idp, &admin_actor(), "sales")
        .await
        .unwrap();
    for i in 0..7 {
        let g: &[&str] = if i < 3 { &["sales"] } else { &[] };
        add_user(
            &k,
            &format!("s{i}@example.com"),
            "Sam",
            &format!("Ng{i}"),
            g,
        )
        .await;
    }
    let page = call(&k, Method::GET, &url("/users?offset=2&limit=3"), &key, None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["total"], 8);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        (page.body["offset"].clone(), page.body["limit"].clone()),
        (json!(2), json!(3))
    );
    let sales = call(
        &k,
        Method::GET,
        &url("/users?group=sales&text=sam"),
        &key,
        None,
    )
    .await;
    assert_eq!(sales.body["total"], 3);
    let admins = call(&k, Method::GET, &url("/users?role=admin"), &key, None).await;
    assert_eq!(admins.body["total"], 1);
    let locked = call(&k, Method::GET, &url("/users?locked=true"), &key, None).await;
    assert_eq!(locked.body["total"], 0);
    call(&k, Method::GET, &url("/users?limit=lots"), &key, None)
        .await
        .problem(400);
    call(&k, Method::GET, &url("/users?role=root"), &key, None)
        .await
        .problem(400);
    let members = call(
        &k,
        Method::GET,
        &url("/groups/sales/members?limit=2"),
        &key,
        None,
    )
    .await;
    assert_eq!(
        (
            members.body["total"].clone(),
            members.body["items"].as_array().unwrap().len()
        ),
        (json!(3), 2)
    );
}

#[tokio::test]
async fn groups_apps_clients_sps_settings_keys_and_audit() {
    let k = kit().await;
    let key = plain_admin_key(&k).await;
    // Groups.
    call(
        &k,
        Method::POST,
        &url("/groups"),
        &key,
        Some(json!({"name": ""})),
    )
    .await
    .problem(422);
    let g = call(
        &k,
        Method::POST,
        &url("/groups"),
        &key,
        Some(json!({"name": "ops"})),
    )
    .await;
    assert_eq!(g.status, 201, "{}", g.text);
    let tag = g.header(header::ETAG).unwrap().to_string();
    let add = call(
        &k,
        Method::PUT,
        &url("/groups/ops/members/demo%40example.com"),
        &key,
        None,
    )
    .await;
    assert_eq!(add.status, 204, "{}", add.text);
    let again = call(
        &k,
        Method::PUT,
        &url("/groups/ops/members/demo%40example.com"),
        &key,
        None,
    )
    .await;
    assert_eq!(again.status, 204, "idempotent");
    call(
        &k,
        Method::PUT,
        &url("/groups/ops/members/nobody%40example.com"),
        &key,
        None,
    )
    .await
    .problem(404);
    let shown = call(&k, Method::GET, &url("/groups/ops"), &key, None).await;
    assert_eq!(shown.body["members"], 1);
    call_with(
        &k,
        Method::DELETE,
        &url("/groups/ops"),
        Some(&key),
        &[(header::IF_MATCH, &tag)],
        None,
    )
    .await
    .problem(412);
    let list = call(&k, Method::GET, &url("/groups"), &key, None).await;
    assert!(list.body["total"].as_u64().unwrap() >= 1);

    // Applications.
    let bad = call(
        &k,
        Method::POST,
        &url("/applications"),
        &key,
        Some(json!({"name": "Evil", "launch_url": "javascript:alert(1)"})),
    )
    .await;
    assert_eq!(bad.problem(422)["field"], "launch_url");
    let app = call(
        &k,
        Method::POST,
        &url("/applications"),
        &key,
        Some(json!({"name": "Tickets", "launch_url": "https://tickets.example.com/"})),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.text);
    let assign = call(
        &k,
        Method::PUT,
        &url("/applications/Tickets/groups/ops"),
        &key,
        None,
    )
    .await;
    assert_eq!(assign.body["changed"], true, "{}", assign.text);
    let ops = call(&k, Method::GET, &url("/groups/ops"), &key, None).await;
    assert_eq!(ops.body["applications"], json!(["Tickets"]));

    // OIDC clients: the secret is in the creation answer only.
    let c = call(
        &k,
        Method::POST,
        &url("/oidc/clients"),
        &key,
        Some(json!({"client_id": "svc", "grant_types": ["client_credentials"], "scopes": ["portcullis:audit"]})),
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert!(c.body["client_secret"].as_str().unwrap().len() > 20);
    let shown = call(&k, Method::GET, &url("/oidc/clients/svc"), &key, None).await;
    assert!(
        !shown
            .text
            .contains(c.body["client_secret"].as_str().unwrap())
    );
    assert!(!shown.text.contains("secret_hash"));
    call(
        &k,
        Method::POST,
        &url("/oidc/clients"),
        &key,
        Some(json!({"client_id": "svc2", "grant_types": ["password"]})),
    )
    .await
    .problem(422);
    assert_eq!(
        call(&k, Method::DELETE, &url("/oidc/clients/svc"), &key, None)
            .await
            .status,
        204
    );
    call(&k, Method::DELETE, &url("/oidc/clients/svc"), &key, None)
        .await
        .problem(404);

    // SAML SPs.
    let sp = call(
        &k,
        Method::POST,
        &url("/saml/sps"),
        &key,
        Some(json!({"entity_id": "https://sp.example.com/metadata",
            "acs": ["https://sp.example.com/acs"], "application": "Tickets"})),
    )
    .await;
    assert_eq!(sp.status, 201, "{}", sp.text);
    let enc = "https%3A%2F%2Fsp.example.com%2Fmetadata";
    let got = call(
        &k,
        Method::GET,
        &url(&format!("/saml/sps/{enc}")),
        &key,
        None,
    )
    .await;
    assert_eq!(
        got.body["acs"],
        json!([{"url": "https://sp.example.com/acs", "index": 0, "default": false}]),
        "{}",
        got.text
    );
    call(
        &k,
        Method::POST,
        &url("/saml/sps"),
        &key,
        Some(json!({"application": "Tickets"})),
    )
    .await
    .problem(422);
    call(
        &k,
        Method::POST,
        &url("/saml/sps"),
        &key,
        Some(json!({"metadata": "<not xml", "application": "Tickets"})),
    )
    .await
    .problem(422);

    // Settings.
    let set = call(
        &k,
        Method::PUT,
        &url("/settings/password.min_length"),
        &key,
        Some(json!({"value": "14"})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let all = call(&k, Method::GET, &url("/settings"), &key, None).await;
    let min = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "password.min_length")
        .unwrap();
    assert_eq!(min["value"], "14");
    let bad = call(
        &k,
        Method::PUT,
        &url("/settings/password.min_length"),
        &key,
        Some(json!({"value": "3"})),
    )
    .await;
    assert_eq!(bad.problem(422)["field"], "password.min_length");
    call(
        &k,
        Method::PUT,
        &url("/settings/no.such"),
        &key,
        Some(json!({"value": "1"})),
    )
    .await
    .problem(404);

    // Keys.
    let before = call(&k, Method::GET, &url("/keys"), &key, None).await;
    let n = before.body["total"].as_u64().unwrap();
    let rot = call(
        &k,
        Method::POST,
        &url("/keys/oidc/rotate"),
        &key,
        Some(json!({"alg": "ES256"})),
    )
    .await;
    assert_eq!(rot.status, 200, "{}", rot.text);
    assert_eq!(rot.body[0]["alg"], "ES256");
    let after = call(&k, Method::GET, &url("/keys"), &key, None).await;
    assert_eq!(after.body["total"].as_u64().unwrap(), n + 1);
    call(
        &k,
        Method::POST,
        &url("/keys/oidc/rotate"),
        &key,
        Some(json!({"alg": "HS256"})),
    )
    .await
    .problem(422);

    // Audit: the API's writes, with the key owner as actor.
    let demo = k.demo_user().await;
    let q = format!("/audit?actor=user:{}&event=admin.&limit=100", demo.id);
    let audit = call(&k, Method::GET, &url(&q), &key, None).await;
    let events: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"admin.settings.set"), "{events:?}");
    assert!(events.contains(&"admin.oidc.key.rotate"), "{events:?}");
    assert_eq!(audit.body["total"].as_u64().unwrap() as usize, events.len());
    call(&k, Method::GET, &url("/audit?outcome=maybe"), &key, None)
        .await
        .problem(422);
    call(&k, Method::GET, &url("/audit?since=yesterday"), &key, None)
        .await
        .problem(400);
}

#[tokio::test]
async fn every_failure_is_a_problem() {
    let k = kit().await;
    let key = plain_admin_key(&k).await;
    call(&k, Method::GET, &url("/nothing/here"), &key, None)
        .await
        .problem(404);
    call(&k, Method::GET, API, &key, None).await.problem(404);
    call(&k, Method::PATCH, &url("/users"), &key, Some(json!({})))
        .await
        .problem(405);
    call(
        &k,
        Method::GET,
        &url("/users/nobody%40example.com"),
        &key,
        None,
    )
    .await
    .problem(404);
    let no_type = call_with(
        &k,
        Method::POST,
        &url("/groups"),
        Some(&key),
        &[(header::CONTENT_TYPE, "text/plain")],
        Some(Body::from("{\"name\": \"x\"}")),
    )
    .await;
    no_type.problem(415);
    let broken = call_with(
        &k,
        Method::POST,
        &url("/groups"),
        Some(&key),
        &[(header::CONTENT_TYPE, "application/json")],
        Some(Body::from("{\"name\": ")),
    )
    .await;
    broken.problem(400);
    call(
        &k,
        Method::POST,
        &url("/groups"),
        &key,
        Some(json!({"name": 5})),
    )
    .await
    .problem(422);
    call(
        &k,
        Method::POST,
        &url("/groups"),
        &key,
        Some(json!({"name": "a", "extra": 1})),
    )
    .await
    .problem(422);
    let huge = call_with(
        &k,
        Method::POST,
        &url("/groups"),
        Some(&key),
        &[(header::CONTENT_TYPE, "application/json")],
        Some(Body::from(format!(
            "{{\"name\": \"{}\"}}",
            "x".repeat(600 * 1024)
        ))),
    )
    .await;
    huge.problem(413);
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route() {
    let k = kit().await;
    let a = call_with(&k, Method::GET, &url("/openapi.json"), None, &[], None).await;
    assert_eq!(a.status, 200);
    assert!(
        a.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        a.body["openapi"]
    );
    let paths = a.body["paths"].as_object().unwrap();
    for p in [
        "/api/admin/v1/users",
        "/api/admin/v1/users/{email}",
        "/api/admin/v1/users/{email}/unlock",
        "/api/admin/v1/groups/{name}/members/{email}",
        "/api/admin/v1/oidc/clients",
        "/api/admin/v1/saml/sps/{entity_id}",
        "/api/admin/v1/federation",
        "/api/admin/v1/settings/{key}",
        "/api/admin/v1/keys/saml/rotate",
        "/api/admin/v1/audit",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    assert!(a.body["components"]["securitySchemes"]["bearer"].is_object());
    // Every route the tests call is documented (the method too).
    for (method, path, _) in every_route() {
        let templ = paths.keys().find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            let ps: Vec<&str> = path.split('/').collect();
            ts.len() == ps.len()
                && ts
                    .iter()
                    .zip(&ps)
                    .all(|(t, p)| t.starts_with('{') || t == p)
        });
        let templ = templ.unwrap_or_else(|| panic!("{path} is not documented"));
        assert!(
            paths[templ].get(method.as_str().to_lowercase()).is_some(),
            "{method} {templ}"
        );
    }
}

// ---- SAML service providers and federation status -------------------

/// The SP metadata fixture the console tests register too.
const WIKI_SP: &str = include_str!("fixtures/saml/sp-metadata.xml");
const WIKI_SP_PATH: &str = "https%3A%2F%2Fwiki.example.com%2Fshibboleth";

async fn post_xml(k: &Kit, path: &str, key: &str, xml: &str) -> Answer {
    call_with(
        k,
        Method::POST,
        path,
        Some(key),
        &[(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        Some(Body::from(xml.to_string())),
    )
    .await
}

async fn sp_count(k: &Kit) -> usize {
    admin::saml::list(&k.idp).await.unwrap().len()
}

#[tokio::test]
async fn saml_sps_from_metadata_edited_with_if_match_and_removed() {
    let k = kit().await;
    let key = plain_admin_key(&k).await;
    let sps = url("/saml/sps");

    // The metadata itself as the body; the application in the query.
    let no_app = post_xml(&k, &sps, &key, WIKI_SP).await;
    assert_eq!(no_app.problem(422)["field"], "application");
    let created = post_xml(&k, &format!("{sps}?application=Team%20Wiki"), &key, WIKI_SP).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let sp = &created.body;
    assert_eq!(sp["entity_id"], "https://wiki.example.com/shibboleth");
    assert_eq!(
        sp["acs"],
        json!([
            {"url": "https://wiki.example.com/Shibboleth.sso/SAML2/POST", "index": 1, "default": true},
            {"url": "https://wiki.example.com/Shibboleth.sso/SAML2/POST-alt", "index": 3, "default": false}
        ])
    );
    assert_eq!(
        sp["name_id_format"],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    );
    assert_eq!(sp["require_signed_requests"], true);
    assert_eq!(sp["certificate"]["subject"], "CN=test-idp");
    assert_eq!(sp["certificate"]["not_after"], 2_110_812_260);
    assert_eq!(
        sp["metadata_url"],
        "/saml/metadata?sp=https%3A%2F%2Fwiki.example.com%2Fshibboleth"
    );
    assert_eq!(sp["source"], "store");
    let tag = created.header(header::ETAG).unwrap().to_string();

    // Twice: a conflict.
    post_xml(&k, &format!("{sps}?application=Team%20Wiki"), &key, WIKI_SP)
        .await
        .problem(409);
    // A DOCTYPE is refused by the SAML parser, and nothing is stored.
    let evil = WIKI_SP
        .replace(
            "https://wiki.example.com/shibboleth",
            "https://evil.example.com/sp",
        )
        .replacen(
            "<md:EntityDescriptor",
            "<!DOCTYPE x [<!ENTITY e \"boom\">]>\n<md:EntityDescriptor",
            1,
        );
    let before = sp_count(&k).await;
    let refused = post_xml(&k, &format!("{sps}?application=Team%20Wiki"), &key, &evil).await;
    assert!(
        refused.problem(422)["detail"]
            .as_str()
            .unwrap()
            .contains("DTD"),
        "{}",
        refused.text
    );
    let refused = call(
        &k,
        Method::POST,
        &sps,
        &key,
        Some(json!({"metadata": evil, "application": "Team Wiki"})),
    )
    .await;
    refused.problem(422);
    assert_eq!(sp_count(&k).await, before);

    // Read, with its version.
    let one = url(&format!("/saml/sps/{WIKI_SP_PATH}"));
    let got = call(&k, Method::GET, &one, &key, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header(header::ETAG), Some(tag.as_str()));

    // An ACS URL the core refuses names the field; nothing changes.
    let bad = call_with(
        &k,
        Method::PATCH,
        &one,
        Some(&key),
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::IF_MATCH, &tag),
        ],
        Some(Body::from(
            json!({"acs": [{"url": "http://wiki.example.com/acs"}]}).to_string(),
        )),
    )
    .await;
    assert_eq!(bad.problem(422)["field"], "sp.acs[0].url", "{}", bad.text);
    // A good edit with the version read.
    let patched = call_with(
        &k,
        Method::PATCH,
        &one,
        Some(&key),
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::IF_MATCH, &tag),
        ],
        Some(Body::from(
            json!({
                "sign": "assertion",
                "attribute_map": [{"name": "urn:oid:2.5.4.10", "source": "profile.work_city"}],
                "attribute_profile": "eduperson"
            })
            .to_string(),
        )),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["sign"], "assertion");
    assert_eq!(patched.body["attribute_profile"], "eduperson");
    assert_eq!(patched.body["acs"][0]["index"], 1, "kept");
    let new_tag = patched.header(header::ETAG).unwrap().to_string();
    assert_ne!(new_tag, tag);
    // The version read before that edit is stale now.
    let stale = call_with(
        &k,
        Method::PATCH,
        &one,
        Some(&key),
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::IF_MATCH, &tag),
        ],
        Some(Body::from(json!({"require_mfa": true}).to_string())),
    )
    .await;
    stale.problem(412);
    // PUT replaces: what it leaves out gets a new SP's defaults.
    let put = call_with(
        &k,
        Method::PUT,
        &one,
        Some(&key),
        &[(header::CONTENT_TYPE, "application/json"), (header::IF_MATCH, &new_tag)],
        Some(Body::from(
            json!({"acs": [{"url": "https://wiki.example.com/acs", "index": 0}], "application": "Team Wiki"})
                .to_string(),
        )),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["sign"], "both");
    assert_eq!(put.body["certificate"], Value::Null);
    assert_eq!(put.body["attribute_map"], json!([]));
    assert_eq!(
        put.body["name_id_format"],
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    );
    let events: Vec<String> = k
        .idp
        .store
        .recent_audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| e.starts_with("admin.saml"))
        .collect();
    assert_eq!(
        events,
        vec![
            "admin.saml.sp.update",
            "admin.saml.sp.update",
            "admin.saml.sp.add"
        ],
        "one row per write, newest first"
    );

    // An auditor reads it but may not change or remove it.
    let aud = key_for_role(&k, "aud@example.com", Some(Role::Auditor)).await;
    assert_eq!(call(&k, Method::GET, &one, &aud, None).await.status, 200);
    call(&k, Method::DELETE, &one, &aud, None)
        .await
        .problem(403);
    call(
        &k,
        Method::PATCH,
        &one,
        &aud,
        Some(json!({"require_mfa": true})),
    )
    .await
    .problem(403);

    // Removal: a stale version is refused, the current one removes it.
    call_with(
        &k,
        Method::DELETE,
        &one,
        Some(&key),
        &[(header::IF_MATCH, &tag)],
        None,
    )
    .await
    .problem(412);
    assert_eq!(call(&k, Method::DELETE, &one, &key, None).await.status, 204);
    call(&k, Method::GET, &one, &key, None).await.problem(404);
}

#[tokio::test]
async fn federation_status_is_read_by_any_admin_role() {
    let dir = tempfile::tempdir().unwrap();
    let cert = WIKI_SP
        .split_once("<ds:X509Certificate>")
        .unwrap()
        .1
        .split_once("</ds:X509Certificate>")
        .unwrap()
        .0;
    let md = dir.path().join("idp.xml");
    std::fs::write(
        &md,
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.saml.example/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.saml.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
    )
    .unwrap();
    let fed: idp::federation::FederationConfig = toml::from_str(&format!(
        "[[saml]]\nid = \"saml\"\nname = \"SAML Partner\"\ndomains = [\"saml.example\"]\nmetadata_file = \"{}\"\n",
        md.display()
    ))
    .unwrap();
    let k = support::kit_with(|c| c.federation = fed).await;
    let aud = key_for_role(&k, "aud@example.com", Some(Role::Auditor)).await;
    let a = call(&k, Method::GET, &url("/federation"), &aud, None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let p = &a.body[0];
    assert_eq!(p["id"], "saml");
    assert_eq!(p["kind"], "saml");
    assert_eq!(p["domains"], json!(["saml.example"]));
    assert_eq!(p["issuer"], "https://idp.saml.example/metadata");
    assert!(p["fetched_at"].as_i64().unwrap() > 0);
    assert_eq!(p["error"], Value::Null);
    assert_eq!(p["cert_not_after"], 2_110_812_260);
    let plain = key_for_role(&k, "plain@example.com", None).await;
    call(&k, Method::GET, &url("/federation"), &plain, None)
        .await
        .problem(403);
}
