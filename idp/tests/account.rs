//! Applications, Profile and Security pages, driven through the router.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use support::{DEMO_EMAIL, DEMO_PASSWORD, kit};

fn app_id(body: &str, name: &str) -> String {
    // Tiles link to /apps/{id}/launch; find the one after the tile's name.
    let tile = body
        .find(&format!("data-app-name=\"{name}\""))
        .expect("tile");
    let rest = &body[tile..];
    let start = rest.find("/apps/").unwrap() + 6;
    let end = rest[start..].find('/').unwrap() + start;
    rest[start..end].to_string()
}

#[tokio::test]
async fn favorites_tabs_search_and_launch() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    let all = b.get("/apps").await;
    let wiki = app_id(&all.body, "Team Wiki");
    let favs = b.get("/apps?tab=favorites").await;
    assert!(!favs.has("data-app-name=\"Team Wiki\""));

    let p = b
        .post(
            &format!("/apps/{wiki}/favorite"),
            &[("tab", "all"), ("q", "")],
        )
        .await;
    assert_eq!(p.location(), Some("/apps?tab=all&q="));
    let favs = b.get("/apps?tab=favorites").await;
    assert!(favs.has("data-app-name=\"Team Wiki\""));
    assert!(!favs.has("data-app-name=\"Expense Reports\""));
    assert!(favs.has("Remove Team Wiki from favorites"));

    // The star's fetch gets JSON; a second toggle removes the favorite.
    let token = b.csrf.clone().unwrap();
    let body =
        serde_urlencoded::to_string([("csrf", token.as_str()), ("tab", "favorites"), ("q", "")])
            .unwrap();
    let p = b
        .send(
            Request::post(format!("/apps/{wiki}/favorite"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(p.body, r#"{"favorite":false}"#);
    assert!(
        !b.get("/apps?tab=favorites")
            .await
            .has("data-app-name=\"Team Wiki\"")
    );

    // Search filters within the current tab, by name or description.
    let found = b.get("/apps?tab=all&q=expense").await;
    assert!(found.has("data-app-name=\"Expense Reports\""));
    assert!(!found.has("data-app-name=\"Team Wiki\""));
    let by_description = b.get("/apps?q=receipts").await;
    assert!(by_description.has("data-app-name=\"Expense Reports\""));
    let none = b.get("/apps?tab=favorites&q=expense").await;
    assert!(none.has("No applications match your search."));

    let launch = b.get(&format!("/apps/{wiki}/launch")).await;
    assert_eq!(launch.location(), Some("https://wiki.example.com/"));
    assert!(
        k.audit_events()
            .await
            .contains(&("app.launch".into(), "success".into()))
    );
}

#[tokio::test]
async fn applications_not_assigned_cannot_be_seen_or_launched() {
    let k = kit().await;
    let hidden = k.unassigned_application("Payroll").await;
    let mut b = k.signed_in().await;
    assert!(!b.get("/apps").await.has("Payroll"));
    assert_eq!(
        b.get(&format!("/apps/{}/launch", hidden.id)).await.status,
        StatusCode::NOT_FOUND
    );
    b.get("/apps").await;
    let p = b.post(&format!("/apps/{}/favorite", hidden.id), &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

const PROFILE_FORM: &[(&str, &str)] = &[
    ("first_name", "Dana"),
    ("last_name", "Reyes"),
    ("username", "dreyes"),
    ("alternate_email", "dana@home.example"),
    ("work_phone", "+1 555 0199"),
    ("home_city", "Braga"),
    ("work_city", "Lisbon"),
    ("recovery_email", "dana.recovery@example.net"),
];

#[tokio::test]
async fn profile_edits_are_validated_and_saved() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    let page = b.get("/profile").await;
    for legend in [
        "Profile Details",
        "Personal Information",
        "Employment Information",
        "Recovery Email",
    ] {
        assert!(page.has(legend), "{legend}");
    }
    assert!(page.has(DEMO_EMAIL));
    assert!(
        !page.has("name=\"email\""),
        "company email is not a form field"
    );

    let saved = b.post("/profile", PROFILE_FORM).await;
    assert_eq!(saved.location(), Some("/profile?saved=1"));
    let after = b.get("/profile?saved=1").await;
    assert!(after.has("Profile saved."));
    let user = k.demo_user().await;
    assert_eq!(user.profile.get("work_city"), "Lisbon");
    assert_eq!(user.profile.get("home_city"), "Braga");
    assert_eq!(user.profile.get("work_phone"), "+1 555 0199");
    assert!(
        k.audit_events()
            .await
            .contains(&("profile.change".into(), "success".into()))
    );

    // Bad values: errors beside the fields, nothing saved.
    let mut bad = PROFILE_FORM.to_vec();
    bad[3] = ("alternate_email", "not-an-email");
    bad[4] = ("work_phone", "call me maybe");
    bad[0] = ("first_name", "");
    let p = b.post("/profile", &bad).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.has("Enter an email address"));
    assert!(p.has("Enter a phone number"));
    assert!(p.has("Required."));
    assert!(p.has("call me maybe"), "what the user typed is kept");
    let user = k.demo_user().await;
    assert_eq!(user.profile.get("alternate_email"), "dana@home.example");
    assert_eq!(user.first_name, "Dana");
}

#[tokio::test]
async fn company_email_cannot_be_changed_through_the_form() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    b.get("/profile").await;
    let mut forged = PROFILE_FORM.to_vec();
    forged.push(("email", "mallory@evil.example"));
    forged.push(("company_email", "mallory@evil.example"));
    forged.push(("id", "someone-else"));
    b.post("/profile", &forged).await;
    let user = k.demo_user().await;
    assert_eq!(user.email, DEMO_EMAIL);
    assert!(!user.profile.0.contains_key("email") && !user.profile.0.contains_key("company_email"));
}

#[tokio::test]
async fn profile_self_edit_disabled() {
    let k = kit().await;
    k.set("profile.self_edit", "false").await;
    let mut b = k.signed_in().await;
    let page = b.get("/profile").await;
    assert!(page.has("Your administrator has disabled profile editing."));
    assert!(!page.has("Save changes"));
    let p = b.post("/profile", PROFILE_FORM).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(k.demo_user().await.profile.get("work_city"), "Porto");
}

#[tokio::test]
async fn password_change_rules_and_session_end() {
    let k = kit().await;
    let mut other = k.signed_in().await;
    let mut b = k.signed_in().await;
    let page = b.get("/security").await;
    for h in ["Password", "SSH Keys", "API Keys"] {
        assert!(page.has(h), "{h}");
    }
    assert!(page.has("At least 12 characters"));

    let change = |cur: &'static str, new: &'static str, confirm: &'static str| {
        [
            ("current_password", cur),
            ("new_password", new),
            ("confirm_password", confirm),
        ]
    };
    let p = b
        .post(
            "/security/password",
            &change("Wrong-Passw0rd!", "N3w-Passw0rd!xyz", "N3w-Passw0rd!xyz"),
        )
        .await;
    assert!(p.has("Your current password is not correct."));
    let p = b
        .post(
            "/security/password",
            &change(DEMO_PASSWORD, "N3w-Passw0rd!xyz", "N3w-Passw0rd!xyZ"),
        )
        .await;
    assert!(p.has("The new passwords do not match."));
    // Each unmet rule is listed.
    let p = b
        .post(
            "/security/password",
            &change(DEMO_PASSWORD, "short", "short"),
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    for rule in ["at least 12", "upper-case", "digit", "special"] {
        assert!(p.has(rule), "{rule} missing in {}", p.body);
    }
    let p = b
        .post(
            "/security/password",
            &change(DEMO_PASSWORD, "Dreyes-Passw0rd!", "Dreyes-Passw0rd!"),
        )
        .await;
    assert!(p.has("username"));
    let p = b
        .post(
            "/security/password",
            &change(DEMO_PASSWORD, DEMO_PASSWORD, DEMO_PASSWORD),
        )
        .await;
    assert!(p.has("not used in your last"));
    assert_eq!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps"),
        "unchanged so far"
    );

    b.get("/security").await;
    let p = b
        .post(
            "/security/password",
            &change(DEMO_PASSWORD, "N3w-Passw0rd!xyz", "N3w-Passw0rd!xyz"),
        )
        .await;
    assert_eq!(p.location(), Some("/login?changed=1"));
    // Every session ended: this one and the other browser's.
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );
    assert!(
        other
            .get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );
    assert!(
        b.get("/login?changed=1")
            .await
            .has("Your password was changed.")
    );
    assert!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD)
            .await
            .has("Incorrect email or password.")
    );
    assert_eq!(
        b.sign_in(DEMO_EMAIL, "N3w-Passw0rd!xyz").await.location(),
        Some("/apps")
    );
    assert!(
        k.audit_events()
            .await
            .contains(&("password.change".into(), "success".into()))
    );
}

#[tokio::test]
async fn admin_set_password_ends_sessions_in_other_processes_too() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    // As `portcullis admin users set-password` does from another process:
    // only the database changes, not this process's session cache.
    let user = k.demo_user().await;
    let hash = k.idp.hasher.hash("Adm1n-Set-Passw0rd!").await.unwrap();
    k.idp
        .store
        .set_password_hash(&user.id, &hash, idp::clock::now() + 1)
        .await
        .unwrap();
    assert!(
        b.get("/apps")
            .await
            .location()
            .unwrap()
            .starts_with("/login")
    );
}

const ED25519: &str = include_str!("fixtures/ed25519.pub");
const RSA1024: &str = include_str!("fixtures/rsa-1024.pub");
const DSA: &str = include_str!("fixtures/dsa.pub");
const ECDSA: &str = include_str!("fixtures/ecdsa-p256.pub");

#[tokio::test]
async fn ssh_keys_add_validate_and_delete() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    b.get("/security").await;
    let p = b
        .post(
            "/security/ssh-keys",
            &[("name", "Laptop"), ("public_key", ED25519)],
        )
        .await;
    assert_eq!(p.location(), Some("/security?done=ssh-added#ssh-keys"));
    let page = b.get("/security?done=ssh-added").await;
    assert!(page.has("SSH key added."));
    assert!(page.has("SHA256:QwaSbwGAKRAZ75VYpcSN9I+djubjMg5MpPFSC0O/nXM"));

    for (name, key, expect) in [
        ("Again", ED25519, "already added"),
        ("Old", DSA, "DSA"),
        ("Short", RSA1024, "2048"),
        ("Junk", "ssh-ed25519 AAAA not-a-key", "not a valid"),
        ("", ECDSA, "name"),
    ] {
        let p = b
            .post("/security/ssh-keys", &[("name", name), ("public_key", key)])
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{name}");
        assert!(p.has(expect), "{name}: expected {expect:?}");
        // What was pasted comes back, the field says it is at fault, and the
        // error is where the form is (the action's fragment) and focused.
        let text = p.body.replace("&#x2f;", "/").replace("&#x2b;", "+");
        assert!(
            text.contains(&format!(">{key}</textarea>")),
            "{name}: the key is lost"
        );
        assert!(text.contains(&format!(r#"value="{name}""#)), "{name}");
        assert!(
            p.has(r#"aria-invalid="true" aria-describedby="ssh-public-key-hint ssh-error""#),
            "{name}"
        );
        assert!(
            p.has(r#"id="ssh-error" tabindex="-1" data-focus-on-load"#),
            "{name}"
        );
        assert!(p.has(r#"action="/security/ssh-keys#ssh-keys""#), "{name}");
    }
    assert_eq!(
        k.idp
            .store
            .ssh_keys(&k.demo_user().await.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Someone else cannot delete it.
    idp::admin::users::add(
        &k.idp,
        &support::admin_actor(),
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
    let key_id = k.idp.store.ssh_keys(&k.demo_user().await.id).await.unwrap()[0]
        .id
        .clone();
    let mut eve = k.browser();
    eve.sign_in("eve@example.com", "Ev3-Passw0rd!long").await;
    eve.get("/security").await;
    for confirm in ["", "yes"] {
        let p = eve
            .post(
                &format!("/security/ssh-keys/{key_id}/delete"),
                &[("confirm", confirm)],
            )
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{confirm:?}");
    }

    // The first press asks; nothing is deleted until the second.
    let ask = b
        .post(&format!("/security/ssh-keys/{key_id}/delete"), &[])
        .await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(
        ask.has("Delete this SSH key?") && ask.has("Laptop"),
        "{}",
        ask.body
    );
    assert!(ask.has(r#"name="confirm" value="yes""#));
    assert!(
        ask.body
            .replace("&#x2f;", "/")
            .contains(r#"href="/security#ssh-keys""#),
        "a way back"
    );
    assert_eq!(
        k.idp
            .store
            .ssh_keys(&k.demo_user().await.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let p = b
        .post(
            &format!("/security/ssh-keys/{key_id}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(p.location(), Some("/security?done=ssh-deleted#ssh-keys"));
    assert!(
        k.idp
            .store
            .ssh_keys(&k.demo_user().await.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_and_stored_hashed() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    b.get("/security").await;
    let p = b
        .post(
            "/security/api-keys",
            &[("name", "CI"), ("expires_days", "30")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let start = p.body.find("pcl_").expect("the key is shown");
    let secret: String = p.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(secret.len() > 40);
    let again = b.get("/security").await;
    assert!(!again.has(&secret), "shown once only");
    assert!(again.has(&secret[..10]), "the prefix identifies it");
    let hash = idp::account::api_keys::hash(&secret);
    let row = k
        .idp
        .store
        .use_api_key(&hash, idp::clock::now())
        .await
        .unwrap()
        .expect("usable");
    assert_eq!(row.name, "CI");

    for (name, days) in [("", "30"), ("x", "7"), ("x", "")] {
        let p = b
            .post(
                "/security/api-keys",
                &[("name", name), ("expires_days", days)],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{name} {days}");
    }
    let ask = b
        .post(&format!("/security/api-keys/{}/revoke", row.id), &[])
        .await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.has("Revoke this API key?"), "{}", ask.body);
    assert!(
        k.idp
            .store
            .use_api_key(&hash, idp::clock::now())
            .await
            .unwrap()
            .is_some(),
        "asking revoked it"
    );
    let p = b
        .post(
            &format!("/security/api-keys/{}/revoke", row.id),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(p.location(), Some("/security?done=api-revoked#api-keys"));
    assert!(
        k.idp
            .store
            .use_api_key(&hash, idp::clock::now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        k.audit_events()
            .await
            .contains(&("api_key.revoke".into(), "success".into()))
    );
}

#[tokio::test]
async fn pages_need_a_session() {
    let k = kit().await;
    let mut b = k.browser();
    for path in ["/apps", "/profile", "/security", "/login/notice"] {
        let p = b.get(path).await;
        assert!(
            p.location().unwrap().starts_with("/login?return_to="),
            "{path}"
        );
    }
    b.get("/login").await;
    let p = b.post("/profile", PROFILE_FORM).await;
    assert_eq!(p.location(), Some("/login"));
}

/// The checklist beside "New password" is the policy, rendered by the
/// server with what the page's script needs to tick each rule; the user's
/// own identifiers are the only ones given. The server still judges.
#[tokio::test]
async fn the_password_checklist_is_the_policy_and_the_server_still_judges() {
    let k = kit().await;
    k.set("password.min_length", "14").await;
    let mut b = k.signed_in().await;
    let page = b.get("/security").await;
    assert!(
        page.body
            .contains(r#"data-password-rules="pw-new" data-match="pw-confirm""#)
    );
    assert!(
        page.body
            .contains(r#"<li data-rule="min" data-value="14">At least 14 characters"#)
    );
    for kind in ["upper", "lower", "digit", "special", "identity"] {
        assert!(
            page.body.contains(&format!("data-rule=\"{kind}\"")),
            "{kind}"
        );
    }
    let user = k.demo_user().await;
    let ids = page
        .body
        .split(r#"data-rule="identity" data-value=""#)
        .nth(1)
        .unwrap();
    let ids = &ids[..ids.find('"').unwrap()];
    assert!(ids.contains(&user.username.to_lowercase()), "{ids}");
    // What the script would tick is not what decides: a short password is refused.
    let res = b
        .post(
            "/security/password",
            &[
                ("current_password", support::DEMO_PASSWORD),
                ("new_password", "Short-1!aB"),
                ("confirm_password", "Short-1!aB"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.has("Use at least 14 characters."));
}
