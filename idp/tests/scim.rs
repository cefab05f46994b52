//! SCIM 2.0 provisioning through the portal router: bearer tokens per
//! client, Users and Groups CRUD, filters, sorting and pages, ETags, the
//! PATCH bodies Entra ID and Okta send (`tests/fixtures/scim/`), and
//! deactivation ending the user's sessions, with every write audited under
//! the client's name.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::{DEMO_EMAIL, DEMO_PASSWORD, Kit, admin_actor, kit};
use tower::ServiceExt;

const USERS: &str = "/scim/v2/Users";
const GROUPS: &str = "/scim/v2/Groups";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error with this status (and scimType, when given).
    #[track_caller]
    fn error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.json);
        assert_eq!(
            self.json["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
        assert_eq!(self.json["status"], json!(status.to_string()));
        assert_eq!(self.json["scimType"].as_str(), scim_type, "{}", self.json);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/scim+json")
        );
    }
}

async fn send(
    k: &Kit,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<String>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/scim+json");
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = k
        .router
        .clone()
        .oneshot(
            req.body(body.map(Body::from).unwrap_or_else(Body::empty))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        json,
    }
}

/// A provisioning client with its token.
struct Scim<'a> {
    k: &'a Kit,
    bearer: String,
    name: String,
}

impl<'a> Scim<'a> {
    async fn new(k: &'a Kit, name: &str) -> Self {
        let c = idp::admin::scim_clients::add(&k.idp, &admin_actor(), name)
            .await
            .unwrap();
        Self {
            k,
            bearer: format!("Bearer {}", c.token),
            name: name.into(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        send(
            self.k,
            method,
            path,
            Some(&self.bearer),
            body.map(|b| b.to_string()),
            &[],
        )
        .await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, Some(body)).await
    }

    async fn create_user(&self, user_name: &str, email: &str) -> Value {
        let r = self
            .post(
                USERS,
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name, "emails": [{"value": email, "type": "work"}],
                    "name": {"givenName": "Given", "familyName": user_name}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json
    }

    fn actor(&self) -> String {
        format!("client:scim:{}", self.name)
    }
}

/// A fixture body with its placeholders filled.
fn fixture(name: &str, ids: &[(&str, &str)]) -> Value {
    let path = format!("{}/tests/fixtures/scim/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (k, v) in ids {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    serde_json::from_str(&text).unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["userName"]
                .as_str()
                .or(r["displayName"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn requests_without_a_provisioning_token_are_refused_before_any_work() {
    let k = kit().await;
    let scim = Scim::new(&k, "hr").await;
    let users_before = k.idp.store.count_users().await.unwrap();
    let body = json!({"userName": "x", "emails": [{"value": "x@example.com"}]}).to_string();

    // No token, a wrong one, a malformed header: 401 with a SCIM error, and nothing created.
    for auth in [
        None,
        Some("Bearer pcs_not-a-real-token".to_string()),
        Some("Basic aHI6aHI=".to_string()),
        Some("Bearer".to_string()),
    ] {
        let r = send(&k, "POST", USERS, auth.as_deref(), Some(body.clone()), &[]).await;
        r.error(401, None);
        assert!(
            r.header(header::WWW_AUTHENTICATE)
                .is_some_and(|v| v.starts_with("Bearer"))
        );
    }
    // The real token works.
    assert_eq!(scim.get(USERS).await.status, StatusCode::OK);

    // A personal API key is not a provisioning token.
    let demo = k.demo_user().await;
    let key = k
        .idp
        .create_api_key(&demo, "mine", 30, None, idp::clock::now())
        .await
        .unwrap();
    send(
        &k,
        "GET",
        USERS,
        Some(&format!("Bearer {}", key.secret)),
        None,
        &[],
    )
    .await
    .error(401, None);

    // Nor is a signed-in portal session.
    let mut b = k.signed_in().await;
    let page = b.get(USERS).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    // A SCIM token is refused outside /scim: the OIDC userinfo endpoint.
    let r = send(&k, "GET", "/oauth2/userinfo", Some(&scim.bearer), None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A revoked client's token stops working at once.
    idp::admin::scim_clients::revoke(&k.idp, &admin_actor(), "hr")
        .await
        .unwrap();
    scim.get(USERS).await.error(401, None);
    assert_eq!(k.idp.store.count_users().await.unwrap(), users_before);

    // Unknown endpoints under the base are SCIM 404s once authenticated.
    let other = Scim::new(&k, "hr").await;
    other.get("/scim/v2/Nope").await.error(404, None);
}

#[tokio::test]
async fn users_crud_with_etags_and_audit_rows_naming_the_client() {
    let k = kit().await;
    let scim = Scim::new(&k, "workday").await;

    let created = scim
        .post(
            USERS,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "ann.lee@example.com",
                "externalId": "W-1001",
                "name": {"givenName": "Ann", "familyName": "Lee"},
                "title": "Engineer",
                "emails": [{"value": "Ann.Lee@Example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops", "employeeNumber": "1001"},
                "password": "Never-Stored-1!"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_string();
    let loc = format!("https://portal.localhost/scim/v2/Users/{id}");
    assert_eq!(created.header(header::LOCATION), Some(loc.as_str()));
    assert_eq!(created.json["meta"]["location"], json!(loc));
    let etag = created.header(header::ETAG).unwrap().to_string();
    assert!(etag.starts_with("W/\""));
    assert_eq!(created.json["meta"]["version"], json!(etag));
    assert_eq!(
        created.json["emails"],
        json!([{"value": "ann.lee@example.com", "type": "work"}])
    );
    assert_eq!(
        created.json["phoneNumbers"],
        json!([{"value": "+1 555 0100", "type": "mobile"}])
    );
    assert_eq!(
        created.json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        json!("Ops")
    );
    assert!(created.json.get("password").is_none());

    // The directory holds the mapped fields, and no password.
    let user = k.idp.store.user_by_id(&id).await.unwrap().unwrap();
    assert_eq!(user.email, "ann.lee@example.com");
    assert_eq!(user.username, "ann.lee@example.com");
    assert_eq!(user.first_name, "Ann");
    assert_eq!(user.external_id.as_deref(), Some("W-1001"));
    assert_eq!(user.profile.get("work_cell"), "+1 555 0100");
    assert_eq!(user.profile.get("department"), "Ops");
    assert!(user.password_hash.is_none());
    // ...and the admin CLI's view shows them.
    let view = idp::admin::users::show(&k.idp, "ann.lee@example.com")
        .await
        .unwrap();
    assert_eq!(view.user.id, id);

    // The audit row names the client as actor.
    let rows = k.idp.store.recent_audit(10).await.unwrap();
    let add = rows.iter().find(|r| r.event == "admin.user.add").unwrap();
    assert_eq!(add.actor.as_deref(), Some(scim.actor().as_str()));
    assert_eq!(add.user_id.as_deref(), Some(id.as_str()));

    // GET, and a conditional GET.
    let got = scim.get(&format!("{USERS}/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header(header::ETAG), Some(etag.as_str()));
    let same = send(
        &k,
        "GET",
        &format!("{USERS}/{id}"),
        Some(&scim.bearer),
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);

    // attributes / excludedAttributes.
    let only = scim
        .get(&format!("{USERS}/{id}?attributes=userName,name.givenName"))
        .await;
    assert_eq!(only.json["userName"], json!("ann.lee@example.com"));
    assert_eq!(only.json["name"], json!({"givenName": "Ann"}));
    assert!(only.json.get("emails").is_none() && only.json["id"] == json!(id));
    let without = scim
        .get(&format!("{USERS}/{id}?excludedAttributes=emails,id"))
        .await;
    assert!(without.json.get("emails").is_none());
    assert_eq!(without.json["id"], json!(id), "id is always returned");

    // PUT replaces: what is left out is cleared (title, phone), the rest kept.
    let put = scim
        .call(
            "PUT",
            &format!("{USERS}/{id}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": id, "userName": "ann.lee@example.com", "name": {"givenName": "Anne", "familyName": "Lee"},
                "emails": [{"value": "ann.lee@example.com", "type": "work"}], "active": true})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json);
    assert!(put.json.get("title").is_none() && put.json.get("phoneNumbers").is_none());
    assert_eq!(put.json["name"]["givenName"], json!("Anne"));
    assert!(put.json.get("externalId").is_none());
    let new_etag = put.header(header::ETAG).unwrap().to_string();
    assert_ne!(new_etag, etag);
    let rows = k.idp.store.recent_audit(10).await.unwrap();
    let update = rows
        .iter()
        .find(|r| r.event == "admin.user.update")
        .unwrap();
    assert_eq!(update.actor.as_deref(), Some(scim.actor().as_str()));

    // If-Match: the old version is refused with 412 and nothing changes; the current one works.
    let stale_patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]});
    let stale = send(
        &k,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(&scim.bearer),
        Some(stale_patch.to_string()),
        &[("if-match", &etag)],
    )
    .await;
    stale.error(412, None);
    assert_eq!(
        k.idp
            .store
            .user_by_id(&id)
            .await
            .unwrap()
            .unwrap()
            .profile
            .get("title"),
        ""
    );
    let fresh = send(
        &k,
        "PATCH",
        &format!("{USERS}/{id}"),
        Some(&scim.bearer),
        Some(stale_patch.to_string()),
        &[("if-match", &new_etag)],
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.json);
    assert_eq!(fresh.json["title"], json!("Lead"));
    let stale_delete = send(
        &k,
        "DELETE",
        &format!("{USERS}/{id}"),
        Some(&scim.bearer),
        None,
        &[("if-match", &etag)],
    )
    .await;
    stale_delete.error(412, None);

    // Uniqueness, bad values, bad JSON.
    scim.post(
        USERS,
        json!({"userName": "ANN.LEE@example.com", "emails": [{"value": "other@example.com"}]}),
    )
    .await
    .error(409, Some("uniqueness"));
    scim.post(
        USERS,
        json!({"userName": "someone", "emails": [{"value": "ann.lee@example.com"}]}),
    )
    .await
    .error(409, Some("uniqueness"));
    scim.post(USERS, json!({"emails": [{"value": "x@example.com"}]}))
        .await
        .error(400, Some("invalidValue"));
    scim.post(USERS, json!({"userName": "nomail"}))
        .await
        .error(400, Some("invalidValue"));
    scim.post(
        USERS,
        json!({"userName": "bad", "emails": [{"value": "not-an-email"}]}),
    )
    .await
    .error(400, Some("invalidValue"));
    scim.post(
        USERS,
        json!({"userName": "bad", "emails": [{"value": "b@example.com"}], "active": "maybe"}),
    )
    .await
    .error(400, Some("invalidValue"));
    let huge = format!(r#"{{"userName": "{}"}}"#, "x".repeat(5 * 1024 * 1024));
    send(&k, "POST", USERS, Some(&scim.bearer), Some(huge), &[])
        .await
        .error(413, None);
    let r = send(
        &k,
        "POST",
        USERS,
        Some(&scim.bearer),
        Some("{not json".into()),
        &[],
    )
    .await;
    r.error(400, Some("invalidSyntax"));
    scim.patch(
        &format!("{USERS}/{id}"),
        json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
    )
    .await
    .error(400, Some("mutability"));
    scim.patch(
        &format!("{USERS}/{id}"),
        json!({"Operations": [{"op": "remove"}]}),
    )
    .await
    .error(400, Some("noTarget"));
    scim.patch(
        &format!("{USERS}/{id}"),
        json!({"Operations": [{"op": "add", "path": "emails[type eq", "value": "x"}]}),
    )
    .await
    .error(400, Some("invalidPath"));

    // DELETE, then it is gone.
    let del = scim.call("DELETE", &format!("{USERS}/{id}"), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    scim.get(&format!("{USERS}/{id}")).await.error(404, None);
    scim.call("DELETE", &format!("{USERS}/{id}"), None)
        .await
        .error(404, None);
    let rows = k.idp.store.recent_audit(10).await.unwrap();
    assert_eq!(rows[0].event, "admin.user.delete");
    assert_eq!(rows[0].actor.as_deref(), Some(scim.actor().as_str()));
}

#[tokio::test]
async fn filters_sorting_and_pages() {
    let k = kit().await;
    let scim = Scim::new(&k, "hr").await;
    for n in ["carol", "alice", "bob", "dave", "erin"] {
        scim.create_user(n, &format!("{n}@corp.example")).await;
    }
    let q = |f: &str| {
        let enc: String = url::form_urlencoded::byte_serialize(f.as_bytes()).collect();
        format!("{USERS}?filter={enc}&sortBy=userName")
    };
    let names = |r: &Reply| ids(&r.json);

    assert_eq!(names(&scim.get(&q(r#"userName eq "BOB""#)).await), ["bob"]);
    assert_eq!(
        names(
            &scim
                .get(&q(
                    r#"userName ne "bob" and emails.value ew "corp.example""#
                ))
                .await
        ),
        ["alice", "carol", "dave", "erin"]
    );
    assert_eq!(
        names(&scim.get(&q(r#"userName co "a""#)).await),
        ["alice", "carol", "dave"]
    );
    assert_eq!(names(&scim.get(&q(r#"userName sw "e""#)).await), ["erin"]);
    assert_eq!(
        names(
            &scim
                .get(&q(
                    r#"emails[type eq "work" and value eq "dave@corp.example"]"#
                ))
                .await
        ),
        ["dave"]
    );
    assert_eq!(
        names(
            &scim
                .get(&q(
                    r#"emails eq "carol@corp.example" or userName eq "erin""#
                ))
                .await
        ),
        ["carol", "erin"]
    );
    assert_eq!(
        names(&scim.get(&q(r#"not (userName pr) "#)).await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &scim
                .get(&q(
                    r#"(userName eq "bob" or userName eq "dave") and active eq true"#
                ))
                .await
        ),
        ["bob", "dave"]
    );
    assert_eq!(
        names(
            &scim
                .get(&q(
                    r#"meta.created gt "2000-01-01T00:00:00Z" and name.familyName eq "alice""#
                ))
                .await
        ),
        ["alice"]
    );
    assert_eq!(
        names(
            &scim
                .get(&q(r#"meta.created lt "2000-01-01T00:00:00Z""#))
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&scim.get(&q(r#"externalId pr"#)).await),
        Vec::<String>::new()
    );

    // Users in a list carry their groups, filtered or not.
    let demo = scim.get(&q(r#"userName eq "dreyes""#)).await;
    assert_eq!(
        demo.json["Resources"][0]["groups"][0]["display"],
        json!("Staff")
    );
    let plain = scim.get(USERS).await;
    let listed = plain.json["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["userName"] == "dreyes")
        .unwrap();
    assert_eq!(listed["groups"][0]["display"], json!("Staff"));
    let by_group = scim.get(&q(r#"groups.display eq "Staff""#)).await;
    assert_eq!(names(&by_group), ["dreyes"]);

    // Bad filters are invalidFilter, never a crash.
    for bad in [
        r#"userName eq"#,
        r#"userName xx "a""#,
        r#"(userName eq "a""#,
        "active gt true",
        "\u{0}",
    ] {
        scim.get(&q(bad)).await.error(400, Some("invalidFilter"));
    }
    scim.get(&format!("{USERS}?count=ten"))
        .await
        .error(400, Some("invalidValue"));
    scim.get(&format!("{USERS}?sortOrder=sideways"))
        .await
        .error(400, Some("invalidValue"));

    // Sorting, both ways.
    let all = scim
        .get(&format!(
            "{USERS}?filter=userName%20ew%20%22%22&sortBy=userName&sortOrder=descending"
        ))
        .await;
    assert_eq!(names(&all)[..5], ["erin", "dreyes", "dave", "carol", "bob"]);

    // Pages: startIndex is 1-based, count bounds the page, totalResults counts all.
    let page = scim.get(&format!("{USERS}?startIndex=2&count=2")).await;
    assert_eq!(page.json["totalResults"], json!(6));
    assert_eq!(page.json["startIndex"], json!(2));
    assert_eq!(page.json["itemsPerPage"], json!(2));
    let sorted_page = scim
        .get(&format!("{USERS}?sortBy=userName&startIndex=2&count=2"))
        .await;
    assert_eq!(names(&sorted_page), ["bob", "carol"]);
    let none = scim.get(&format!("{USERS}?count=0")).await;
    assert_eq!(none.json["totalResults"], json!(6));
    assert_eq!(none.json["Resources"], json!([]));
    let past = scim.get(&format!("{USERS}?startIndex=100")).await;
    assert_eq!(past.json["Resources"], json!([]));

    // POST .search with the same filter.
    let found = scim
        .post(
            &format!("{USERS}/.search"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"alice\"", "attributes": ["userName"]}),
        )
        .await;
    assert_eq!(names(&found), ["alice"]);
    assert!(found.json["Resources"][0].get("emails").is_none());
}

#[tokio::test]
async fn entra_and_okta_request_bodies() {
    let k = kit().await;
    let scim = Scim::new(&k, "entra").await;

    // Entra: create, then look up by userName the way it checks for a match.
    let created = scim
        .post(USERS, fixture("entra-user-create.json", &[]))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.json["externalId"],
        json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")
    );
    let enc: String = url::form_urlencoded::byte_serialize(
        br#"userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com""#,
    )
    .collect();
    let found = scim.get(&format!("{USERS}?filter={enc}")).await;
    assert_eq!(found.json["totalResults"], json!(1));

    let u = |path: &str| format!("{USERS}/{path}");
    let r = scim
        .patch(&u(&id), fixture("entra-user-update.json", &[]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(
        r.json["emails"][0]["value"],
        json!("updatedemail@microsoft.com")
    );
    assert_eq!(r.json["name"]["familyName"], json!("updatedFamilyName"));

    let manager = scim.create_user("boss", "boss@example.com").await;
    let manager_id = manager["id"].as_str().unwrap();
    let r = scim
        .patch(
            &u(&id),
            fixture(
                "entra-user-add-attributes.json",
                &[("manager_id", manager_id)],
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let ext = &r.json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(ext["department"], json!("Finance"));
    assert_eq!(ext["employeeNumber"], json!("1234"));
    assert_eq!(ext["manager"]["value"], json!(manager_id));
    assert_eq!(r.json["displayName"], json!("Ann Lee"));
    assert_eq!(
        r.json["phoneNumbers"],
        json!([{"value": "+1 425 555 0100", "type": "mobile"}])
    );
    assert_eq!(
        r.json["addresses"],
        json!([{"locality": "Redmond", "country": "US", "type": "work"}])
    );
    let user = k.idp.store.user_by_id(&id).await.unwrap().unwrap();
    assert_eq!(user.profile.get("work_city"), "Redmond");
    assert_eq!(user.profile.get("manager_id"), manager_id);

    let r = scim
        .patch(&u(&id), fixture("entra-user-disable.json", &[]))
        .await;
    assert_eq!(r.json["active"], json!(false), "{}", r.json);
    assert!(
        k.idp
            .store
            .user_by_id(&id)
            .await
            .unwrap()
            .unwrap()
            .locked
            .is_some()
    );
    let r = scim
        .patch(&u(&id), fixture("entra-user-enable.json", &[]))
        .await;
    assert_eq!(r.json["active"], json!(true), "{}", r.json);
    assert!(
        k.idp
            .store
            .user_by_id(&id)
            .await
            .unwrap()
            .unwrap()
            .locked
            .is_none()
    );

    // Entra groups: create, look up without members, add and remove a member, rename.
    let g = scim
        .post(GROUPS, fixture("entra-group-create.json", &[]))
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.json);
    let gid = g.json["id"].as_str().unwrap().to_string();
    let gu = |path: &str| format!("{GROUPS}/{path}");
    let looked = scim
        .get(&format!(
            "{GROUPS}?excludedAttributes=members&filter=displayName%20eq%20%22displayName%22"
        ))
        .await;
    assert_eq!(looked.json["totalResults"], json!(1), "{}", looked.json);
    let r = scim
        .patch(
            &gu(&gid),
            fixture("entra-group-add-member.json", &[("user_id", &id)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["members"][0]["value"], json!(id));
    assert_eq!(
        k.idp.store.groups_of(&id).await.unwrap(),
        vec!["displayName".to_string()]
    );
    let with_member = scim.get(&u(&id)).await;
    assert_eq!(with_member.json["groups"][0]["value"], json!(gid));
    let r = scim
        .patch(
            &gu(&gid),
            fixture("entra-group-remove-member.json", &[("user_id", &id)]),
        )
        .await;
    assert!(r.json.get("members").is_none(), "{}", r.json);
    let r = scim
        .patch(&gu(&gid), fixture("entra-group-rename.json", &[]))
        .await;
    assert_eq!(
        r.json["displayName"],
        json!("1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName")
    );
    let audit = k.idp.store.recent_audit(50).await.unwrap();
    for event in [
        "admin.group.add",
        "admin.group.add_member",
        "admin.group.remove_member",
        "admin.group.update",
    ] {
        let row = audit
            .iter()
            .find(|r| r.event == event)
            .unwrap_or_else(|| panic!("{event}"));
        assert_eq!(row.actor.as_deref(), Some(scim.actor().as_str()), "{event}");
    }

    // Okta: create (its password is not kept), PUT, deactivate with a path-less replace.
    let okta = Scim::new(&k, "okta").await;
    let created = okta
        .post(USERS, fixture("okta-user-create.json", &[]))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let oid = created.json["id"].as_str().unwrap().to_string();
    assert!(
        k.idp
            .store
            .user_by_id(&oid)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .is_none()
    );
    let r = okta
        .call(
            "PUT",
            &u(&oid),
            Some(fixture("okta-user-put.json", &[("user_id", &oid)])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["name"]["givenName"], json!("Another"));
    assert_eq!(r.json["displayName"], json!("Another User"));

    let og = okta.post(GROUPS, json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Okta group", "members": []})).await;
    let ogid = og.json["id"].as_str().unwrap().to_string();
    let r = okta
        .patch(
            &gu(&ogid),
            fixture("okta-group-rename.json", &[("group_id", &ogid)]),
        )
        .await;
    assert_eq!(r.json["displayName"], json!("Test SCIMv2"), "{}", r.json);
    let r = okta
        .patch(
            &gu(&ogid),
            fixture("okta-group-add-member.json", &[("user_id", &oid)]),
        )
        .await;
    assert_eq!(
        r.json["members"],
        json!([{"value": oid, "$ref": format!("https://portal.localhost/scim/v2/Users/{oid}")}])
    );
    let r = okta
        .patch(
            &gu(&ogid),
            fixture("okta-group-remove-member.json", &[("user_id", &oid)]),
        )
        .await;
    assert!(r.json.get("members").is_none(), "{}", r.json);
    let r = okta
        .patch(&u(&oid), fixture("okta-user-deactivate.json", &[]))
        .await;
    assert_eq!(r.json["active"], json!(false), "{}", r.json);

    // Groups: PUT replaces members; a member that does not exist is refused; DELETE.
    let r = okta
        .call(
            "PUT",
            &gu(&ogid),
            Some(json!({"displayName": "Test SCIMv2", "members": [{"value": id}, {"value": oid}]})),
        )
        .await;
    assert_eq!(r.json["members"].as_array().unwrap().len(), 2, "{}", r.json);
    okta.call(
        "PUT",
        &gu(&ogid),
        Some(json!({"displayName": "Test SCIMv2", "members": [{"value": "nobody"}]})),
    )
    .await
    .error(400, Some("invalidValue"));
    okta.post(GROUPS, json!({"displayName": "Test SCIMv2"}))
        .await
        .error(409, Some("uniqueness"));
    assert_eq!(
        okta.call("DELETE", &gu(&ogid), None).await.status,
        StatusCode::NO_CONTENT
    );
    okta.get(&gu(&ogid)).await.error(404, None);
}

#[tokio::test]
async fn deactivation_ends_the_users_sessions_and_activation_lets_them_back() {
    let k = kit().await;
    let scim = Scim::new(&k, "hr").await;
    let mut b = k.signed_in().await;
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
    let demo = k.demo_user().await;

    let r = scim
        .patch(
            &format!("{USERS}/{}", demo.id),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["active"], json!(false));

    // The portal session is over, and the password no longer signs in.
    let after = b.get("/apps").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().unwrap().starts_with("/login"));
    let mut again = k.browser();
    let res = again.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_ne!(res.location(), Some("/apps"));
    let rows = k.idp.store.recent_audit(20).await.unwrap();
    let lock = rows.iter().find(|r| r.event == "admin.user.lock").unwrap();
    assert_eq!(lock.actor.as_deref(), Some(scim.actor().as_str()));
    assert!(lock.detail.contains("1 sessions ended"), "{}", lock.detail);

    // Active again: the password works again.
    let r = scim
        .patch(
            &format!("{USERS}/{}", demo.id),
            json!({"Operations": [{"op": "replace", "value": {"active": true}}]}),
        )
        .await;
    assert_eq!(r.json["active"], json!(true), "{}", r.json);
    let mut back = k.browser();
    let res = back.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(res.location(), Some("/apps"), "{}", res.body);
}

#[tokio::test]
async fn discovery_endpoints() {
    let k = kit().await;
    let scim = Scim::new(&k, "hr").await;
    let spc = scim.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(
        spc.header(header::CONTENT_TYPE),
        Some("application/scim+json")
    );
    assert_eq!(spc.json["patch"]["supported"], json!(true));
    assert_eq!(spc.json["bulk"]["supported"], json!(false));
    assert_eq!(spc.json["etag"]["supported"], json!(true));
    let types = scim.get("/scim/v2/ResourceTypes").await;
    assert_eq!(types.json["totalResults"], json!(2));
    assert_eq!(
        scim.get("/scim/v2/ResourceTypes/User").await.json["endpoint"],
        json!("/Users")
    );
    let schemas = scim.get("/scim/v2/Schemas").await;
    assert_eq!(schemas.json["totalResults"], json!(3));
    let user = scim
        .get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(user.json["attributes"][0]["name"], json!("userName"));
    scim.get("/scim/v2/Schemas/urn:nope").await.error(404, None);
    // Unauthenticated discovery is refused like everything else.
    send(&k, "GET", "/scim/v2/Schemas", None, None, &[])
        .await
        .error(401, None);
}

#[tokio::test]
async fn the_users_own_profile_page_keeps_provisioned_fields() {
    let k = kit().await;
    let scim = Scim::new(&k, "hr").await;
    let demo = k.demo_user().await;
    let r = scim
        .patch(
            &format!("{USERS}/{}", demo.id),
            json!({"Operations": [{"op": "add", "value": {
                "title": "Analyst",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}}}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);

    let mut b = k.signed_in().await;
    b.get("/profile").await;
    let saved = b
        .post(
            "/profile",
            &[
                ("first_name", "Dana"),
                ("last_name", "Reyes"),
                ("username", "dreyes"),
                ("work_city", "Lisbon"),
            ],
        )
        .await;
    assert_eq!(saved.location(), Some("/profile?saved=1"), "{}", saved.body);
    let after = k.demo_user().await;
    assert_eq!(after.profile.get("work_city"), "Lisbon");
    assert_eq!(after.profile.get("department"), "Ops");
    assert_eq!(after.profile.get("title"), "Analyst");
    let got = scim.get(&format!("{USERS}/{}", demo.id)).await;
    assert_eq!(
        got.json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        json!("Ops")
    );
}

/// Waits, on the clock itself, until a whole second has passed since `t`:
/// timestamps are in seconds, so only then can a change show as later.
async fn next_second_after(t: i64) {
    while idp::clock::now() <= t {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn meta_time(v: &Value, field: &str) -> i64 {
    let s = v["meta"][field]
        .as_str()
        .unwrap_or_else(|| panic!("meta.{field}: {v}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("meta.{field} {s}: {e}"))
        .unix_timestamp()
}

#[tokio::test]
async fn last_modified_moves_with_a_change_and_not_without_one() {
    let k = kit().await;
    let scim = Scim::new(&k, "hr").await;
    let user = scim.create_user("lee", "lee@example.com").await;
    let id = user["id"].as_str().unwrap().to_string();
    let created = meta_time(&user, "created");
    assert_eq!(meta_time(&user, "lastModified"), created);
    let group = scim
        .post(
            GROUPS,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Crew"}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.json);
    let group_id = group.json["id"].as_str().unwrap().to_string();
    next_second_after(created.max(meta_time(&group.json, "created"))).await;

    // Reading changes nothing.
    let read = scim.get(&format!("{USERS}/{id}")).await;
    assert_eq!(meta_time(&read.json, "lastModified"), created);

    let patched = scim
        .patch(
            &format!("{USERS}/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "name.givenName", "value": "Leigh"}]}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json);
    assert!(
        meta_time(&patched.json, "lastModified") > created,
        "{}",
        patched.json
    );
    assert_eq!(meta_time(&patched.json, "created"), created);

    // A member added is a change of the group.
    let before = meta_time(
        &scim.get(&format!("{GROUPS}/{group_id}")).await.json,
        "lastModified",
    );
    let added = scim
        .patch(
            &format!("{GROUPS}/{group_id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
        )
        .await;
    assert!(added.status.is_success(), "{}", added.json);
    let after = scim.get(&format!("{GROUPS}/{group_id}")).await;
    assert!(
        meta_time(&after.json, "lastModified") > before,
        "{}",
        after.json
    );
}
