//! The admin console through the real router: the guard on every route
//! (no role, the auditor, a stale second factor, CSRF), then each page's
//! happy path and validation errors.

mod support;

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use idp::admin::users::NewUser;
use idp::roles::Role;
use support::{Browser, DEMO_EMAIL, Kit, admin_actor, kit};

const TARGET: &str = "target@example.com";
const PLAIN: &str = "plain@example.com";
const AUDITOR: &str = "auditor@example.com";
const HELPDESK: &str = "helpdesk@example.com";
const PASSWORD: &str = "Quiet-Meadow-3189!";

fn now() -> i64 {
    idp::clock::now()
}

/// The kit with a target user (in group "staff"), a user without a role, an
/// auditor and a help-desk user.
async fn console_kit() -> Kit {
    let k = kit().await;
    idp::admin::groups::add(&k.idp, &admin_actor(), "staff")
        .await
        .unwrap();
    for (email, role, groups) in [
        (TARGET, None, vec!["staff".to_string()]),
        (PLAIN, None, vec![]),
        (AUDITOR, Some(Role::Auditor), vec![]),
        (HELPDESK, Some(Role::Helpdesk), vec![]),
    ] {
        idp::admin::users::add(
            &k.idp,
            &admin_actor(),
            NewUser {
                email: email.into(),
                first_name: "Test".into(),
                last_name: email.split('@').next().unwrap().into(),
                password: Some(PASSWORD.into()),
                groups,
                role,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    k
}

/// A browser holding a session of `email` whose second factor was verified
/// at `mfa_at` (what the MFA step or a step-up leaves), with a form token.
async fn as_user(k: &Kit, email: &str, mfa_at: Option<i64>) -> Browser {
    let user = k.idp.user_by_email(email).await.unwrap();
    let (token, _) = k
        .idp
        .sessions
        .create_with(
            &user.id,
            vec!["pwd".into(), "otp".into(), "mfa".into()],
            None,
            now(),
            mfa_at,
            now(),
        )
        .await
        .unwrap();
    let mut b = k.browser();
    let name = idp::web::cookies::Cookies::new(k.idp.config.secure_cookies)
        .name(idp::web::cookies::Name::Session);
    b.cookies.insert(name, token);
    // Any page sets the CSRF cookie and carries a token.
    let p = b.get("/profile").await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.location());
    b
}

async fn fresh(k: &Kit, email: &str) -> Browser {
    as_user(k, email, Some(now())).await
}

fn concrete(path: &str) -> String {
    path.replace("{email}", "target%40example.com")
        .replace("{name}", "staff")
        .replace("{key}", "password.min_length")
        .replace("{entity}", WIKI_SP_PATH)
}

/// A form each POST route would accept from an administrator.
fn fields_for(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        p if p.ends_with("/lock") || p.ends_with("/unlock") => vec![("reason", "test")],
        p if p.ends_with("/password") => vec![("password", "Other-River-5521!")],
        p if p.ends_with("/role") => vec![("role", "admin")],
        p if p.ends_with("/groups") && p.starts_with("/admin/users") => {
            vec![("group", "staff"), ("action", "remove")]
        }
        p if p.ends_with("/members") => vec![("action", "remove"), ("member", TARGET)],
        "/admin/users/new" => vec![("email", "new@example.com")],
        "/admin/groups" => vec![("name", "newgroup")],
        p if p.starts_with("/admin/settings/") => vec![("value", "12")],
        "/admin/keys/rotate" => vec![("which", "oidc")],
        _ => vec![],
    }
}

async fn audit_by(k: &Kit, email: &str) -> Vec<String> {
    let id = k.idp.user_by_email(email).await.unwrap().id;
    let actor = format!("user:{id}");
    k.idp
        .store
        .recent_audit(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.actor.as_deref() == Some(actor.as_str()))
        .map(|r| r.event)
        .collect()
}

async fn target_unchanged(k: &Kit) {
    let t = idp::admin::users::show(&k.idp, TARGET).await.unwrap();
    assert_eq!(t.user.locked, None);
    assert_eq!(t.groups, vec!["staff".to_string()]);
    assert_eq!(t.user.admin_role, None);
}

#[tokio::test]
async fn every_route_answers_403_to_a_user_without_a_role() {
    let k = console_kit().await;
    let mut b = fresh(&k, PLAIN).await;
    for (method, path) in idp::web::admin::ROUTES {
        let p = concrete(path);
        let page = if *method == "GET" {
            b.get(&p).await
        } else {
            b.post(&p, &fields_for(path)).await
        };
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{method} {p}");
        assert!(page.has("no administrator role"), "{method} {p}");
    }
    target_unchanged(&k).await;
    assert!(audit_by(&k, PLAIN).await.is_empty());
    // Nor does the account menu offer the console.
    assert!(!b.get("/profile").await.has("href=\"/admin\""));
}

#[tokio::test]
async fn signed_out_every_page_goes_to_sign_in_and_back() {
    let k = console_kit().await;
    let mut b = k.browser();
    for (method, path) in idp::web::admin::ROUTES {
        let p = concrete(path);
        if *method == "GET" {
            let page = b.get(&p).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{p}");
            let to = page.location().unwrap();
            assert!(to.starts_with("/login?return_to="), "{p}: {to}");
        }
    }
}

#[tokio::test]
async fn an_auditor_reads_every_page_and_cannot_post_any_write() {
    let k = console_kit().await;
    let mut b = fresh(&k, AUDITOR).await;
    for page in [
        "/admin",
        "/admin/users/target%40example.com",
        "/admin/groups",
        "/admin/groups/staff",
        "/admin/apps",
        "/admin/clients",
        "/admin/audit",
        "/admin/users",
        "/admin/settings",
        "/admin/keys",
        "/admin/saml",
        "/admin/federation",
    ] {
        let p = b.get(page).await;
        assert_eq!(p.status, StatusCode::OK, "{page}");
        // No write form is offered.
        assert!(!p.has("Lock account") && !p.has("Change…"), "{page}");
    }
    for (method, path) in idp::web::admin::ROUTES {
        if *method != "POST" {
            continue;
        }
        let p = concrete(path);
        let page = b.post(&p, &fields_for(path)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {p}");
    }
    target_unchanged(&k).await;
    assert!(audit_by(&k, AUDITOR).await.is_empty());
    assert!(b.get("/profile").await.has("href=\"/admin\""));
}

#[tokio::test]
async fn the_help_desk_unlocks_and_ends_sessions_but_cannot_delete_or_configure() {
    let k = console_kit().await;
    idp::admin::users::lock(&k.idp, &admin_actor(), TARGET)
        .await
        .unwrap();
    let mut b = fresh(&k, HELPDESK).await;
    b.get("/admin/users/target%40example.com").await;
    let res = b
        .post(
            "/admin/users/target%40example.com/unlock",
            &[("reason", "called the desk")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        idp::admin::users::show(&k.idp, TARGET)
            .await
            .unwrap()
            .user
            .locked,
        None
    );
    for (path, fields) in [
        ("/admin/users/target%40example.com/delete", vec![]),
        (
            "/admin/users/target%40example.com/lock",
            vec![("reason", "x")],
        ),
        ("/admin/settings/password.min_length", vec![("value", "12")]),
        ("/admin/keys/rotate", vec![("which", "oidc")]),
    ] {
        assert_eq!(
            b.post(path, &fields).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert!(k.idp.user_by_email(TARGET).await.is_ok());
}

fn oath(secret: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = body.find(start)? + start.len();
    let j = body[i..].find(end)? + i;
    Some(&body[i..j])
}

/// The demo admin, signed in with a password only, with TOTP enrolled.
async fn admin_with_totp(k: &Kit) -> (Browser, String) {
    let mut b = k.signed_in().await;
    assert_eq!(b.get("/mfa/totp/setup").await.status, StatusCode::OK);
    b.post("/mfa/totp/setup", &[]).await;
    let scan = b.get("/mfa/totp/setup/scan").await;
    let key = between(&scan.body, "<code id=\"totp-key\">", "</code>")
        .unwrap()
        .to_string();
    b.get("/mfa/totp/setup/confirm").await;
    let done = b
        .post("/mfa/totp/setup/confirm", &[("code", &oath(&key, now()))])
        .await;
    assert_eq!(done.location(), Some("/security?done=totp-on#mfa"));
    (b, key)
}

#[tokio::test]
async fn a_stale_second_factor_is_sent_to_step_up_and_back() {
    let k = console_kit().await;
    let (mut b, key) = admin_with_totp(&k).await;
    // Signed in with a password only: whatever the user MFA policy, the
    // console wants a second factor.
    let page = b.get("/admin/groups").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location(),
        Some("/login/step-up?return_to=%2Fadmin%2Fgroups")
    );
    // A write with a stale factor changes nothing.
    let res = b
        .post(
            "/admin/users/target%40example.com/lock",
            &[("reason", "stale")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.location().unwrap().starts_with("/login/step-up?"));
    target_unchanged(&k).await;

    // The step-up itself, with the next TOTP step's code (the enrolment
    // used the current one).
    let to = b.get(page.location().unwrap()).await;
    assert_eq!(to.location(), Some("/login/mfa"));
    assert_eq!(
        b.get("/login/mfa").await.location(),
        Some("/login/mfa/totp")
    );
    b.get("/login/mfa/totp").await;
    let done = b
        .post("/login/mfa/totp", &[("code", &oath(&key, now() + 30))])
        .await;
    assert_eq!(done.location(), Some("/admin/groups"), "{}", done.body);
    assert_eq!(b.get("/admin/groups").await.status, StatusCode::OK);
}

#[tokio::test]
async fn deletes_and_key_rotation_want_a_fresher_factor_than_other_pages() {
    let k = console_kit().await;
    // Enrolled, so a stale factor means a step-up rather than "enrol one".
    admin_with_totp(&k).await;
    // Ten minutes: fresh enough for the console (15), not for a delete (5).
    let mut b = as_user(&k, DEMO_EMAIL, Some(now() - 600)).await;
    assert_eq!(
        b.get("/admin/users/target%40example.com").await.status,
        StatusCode::OK
    );
    for path in [
        "/admin/users/target%40example.com/delete",
        "/admin/keys/rotate?which=oidc",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location()
                .unwrap()
                .starts_with("/login/step-up?return_to="),
            "{path}"
        );
    }
    let res = b
        .post("/admin/users/target%40example.com/delete", &[])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.location().unwrap().starts_with("/login/step-up?"));
    assert!(k.idp.user_by_email(TARGET).await.is_ok());
    // Twenty minutes: stale for every page.
    let mut b = as_user(&k, DEMO_EMAIL, Some(now() - 1200)).await;
    let page = b.get("/admin").await;
    assert_eq!(page.location(), Some("/login/step-up?return_to=%2Fadmin"));
}

#[tokio::test]
async fn an_admin_with_no_factor_enrolled_is_told_to_enrol_one() {
    let k = console_kit().await;
    let mut b = k.signed_in().await;
    let page = b.get("/admin").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.has("Set up a second factor"));
    assert!(page.has("/mfa/totp/setup"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    b.get("/admin/users/target%40example.com").await;
    for (path, fields) in [
        (
            "/admin/users/target%40example.com/lock",
            vec![("reason", "no token")],
        ),
        (
            "/admin/users/target%40example.com/role",
            vec![("role", "admin")],
        ),
        (
            "/admin/groups/staff/members",
            vec![("action", "remove"), ("member", TARGET)],
        ),
    ] {
        let res = b.post_raw(path, &fields).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
        assert!(res.has("This form has expired"), "{path}");
        let mut wrong = fields.clone();
        wrong.push(("csrf", "not-the-token"));
        assert_eq!(b.post_raw(path, &wrong).await.status, StatusCode::FORBIDDEN);
    }
    target_unchanged(&k).await;
    assert!(audit_by(&k, DEMO_EMAIL).await.is_empty());
}

// ---- pages -------------------------------------------------------------

#[tokio::test]
async fn the_account_menu_links_admins_to_the_console() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    assert!(b.get("/apps").await.has("<a href=\"/admin\">Admin</a>"));
    let home = b.get("/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.has("full administrator"));
    assert!(home.has("Healthy"));
    assert!(home.has("0 succeeded"));
    assert!(home.has("none: passwords do not expire"));
}

#[tokio::test]
async fn the_dashboard_charts_sign_ins_and_counts_locked_and_expiring_accounts() {
    let k = console_kit().await;
    let mut other = k.browser();
    assert_eq!(
        other.sign_in(PLAIN, PASSWORD).await.location(),
        Some("/apps")
    );
    let mut wrong = k.browser();
    let res = wrong.sign_in(TARGET, "Not-The-Password-1!").await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "the password page again"
    );
    idp::admin::users::lock(&k.idp, &admin_actor(), HELPDESK)
        .await
        .unwrap();
    k.set("password.max_age_days", "20").await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let home = b.get("/admin").await;
    assert!(home.has("1 succeeded"), "{}", home.body);
    assert!(home.has("1 failed"));
    assert!(home.has("<svg"));
    assert_eq!(home.body.matches("class=\"bar-ok\"").count(), 1);
    assert_eq!(home.body.matches("class=\"bar-fail\"").count(), 1);
    assert!(home.has("/admin/users?status=locked\">1</a>"));
    // Every password was set just now: 20 days left, so none expire within 14.
    assert!(home.has("Passwords expiring within 14 days</dt><dd>0</dd>"));
    k.set("password.max_age_days", "10").await;
    let home = b.get("/admin").await;
    // The demo user's, the four made by the kit (the locked one is not counted).
    assert!(
        home.has("Passwords expiring within 14 days</dt><dd>4</dd>"),
        "{}",
        home.body
    );
}

#[tokio::test]
async fn users_create_with_validation() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    assert_eq!(b.get("/admin/users/new").await.status, StatusCode::OK);
    let bad = b
        .post(
            "/admin/users/new",
            &[("email", "not-an-email"), ("first_name", "Ann")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("is not an email address"));
    assert!(bad.has("value=\"Ann\""), "the form keeps what was typed");
    let weak = b
        .post(
            "/admin/users/new",
            &[("email", "ann@example.com"), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.has("password:"));
    let unknown = b
        .post(
            "/admin/users/new",
            &[("email", "ann@example.com"), ("groups", "nosuch")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.has("no group with name"));
    assert!(k.idp.user_by_email("ann@example.com").await.is_err());

    let ok = b
        .post(
            "/admin/users/new",
            &[
                ("email", "Ann@Example.com"),
                ("first_name", "Ann"),
                ("last_name", "Lee"),
                ("groups", "staff"),
                ("role", "auditor"),
            ],
        )
        .await;
    assert_eq!(
        ok.location(),
        Some("/admin/users/ann%40example.com?done=created")
    );
    let page = b.get(ok.location().unwrap()).await;
    assert!(page.has("User created."));
    assert!(page.has("Ann Lee"));
    let v = idp::admin::users::show(&k.idp, "ann@example.com")
        .await
        .unwrap();
    assert_eq!(v.groups, vec!["staff".to_string()]);
    assert_eq!(v.user.admin_role, Some(Role::Auditor));
    let dup = b
        .post("/admin/users/new", &[("email", "ann@example.com")])
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.has("already exists"));
    assert_eq!(
        b.get("/admin/users/nobody%40example.com").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn users_lock_and_unlock_need_a_reason_which_the_audit_keeps() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    b.get("/admin/users/target%40example.com").await;
    let none = b
        .post("/admin/users/target%40example.com/lock", &[("reason", " ")])
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.has("give a reason"));
    target_unchanged(&k).await;

    let mut t = fresh(&k, TARGET).await;
    let res = b
        .post(
            "/admin/users/target%40example.com/lock",
            &[("reason", "laptop stolen")],
        )
        .await;
    assert_eq!(
        res.location(),
        Some("/admin/users/target%40example.com?done=locked")
    );
    let page = b.get(res.location().unwrap()).await;
    assert!(page.has("locked by an administrator"));
    // The locked user's session ended with the lock.
    assert_eq!(t.get("/profile").await.status, StatusCode::SEE_OTHER);
    let row = k
        .idp
        .store
        .recent_audit(10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.event == "admin.user.lock")
        .unwrap();
    assert!(row.detail.contains("laptop stolen"), "{}", row.detail);

    let res = b
        .post(
            "/admin/users/target%40example.com/unlock",
            &[("reason", "laptop found")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    target_unchanged(&k).await;
}

#[tokio::test]
async fn users_password_reset_link_and_mfa_reset() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    b.get("/admin/users/target%40example.com").await;
    let weak = b
        .post(
            "/admin/users/target%40example.com/password",
            &[("password", "short")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.has("password:"));
    let ok = b
        .post(
            "/admin/users/target%40example.com/password",
            &[("password", "Other-River-5521!")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let mut t = k.browser();
    assert_eq!(
        t.sign_in(TARGET, "Other-River-5521!").await.location(),
        Some("/apps")
    );

    let sent = b
        .post("/admin/users/target%40example.com/reset-link", &[])
        .await;
    assert_eq!(
        sent.location(),
        Some("/admin/users/target%40example.com?done=reset-link")
    );
    let outbox = k.idp.config.outbox_dir();
    let mut found = false;
    for _ in 0..100 {
        found = std::fs::read_dir(&outbox)
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "a reset mail in the outbox");

    // An account locked by an administrator gets no link.
    idp::admin::users::lock(&k.idp, &admin_actor(), TARGET)
        .await
        .unwrap();
    let refused = b
        .post("/admin/users/target%40example.com/reset-link", &[])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("unlock it first"));

    let confirm = b.get("/admin/users/target%40example.com/reset-mfa").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Reset the second factors of target@example.com?"));
    let done = b
        .post("/admin/users/target%40example.com/reset-mfa", &[])
        .await;
    assert_eq!(
        done.location(),
        Some("/admin/users/target%40example.com?done=mfa-reset")
    );
    assert!(
        k.audit_events()
            .await
            .contains(&("admin.user.reset_mfa".to_string(), "success".to_string()))
    );
}

#[tokio::test]
async fn users_role_groups_applications_and_sessions() {
    let k = console_kit().await;
    let app = k.unassigned_application("Payroll").await;
    idp::admin::apps::assign(&k.idp, &admin_actor(), &app.name, "staff")
        .await
        .unwrap();
    idp::admin::groups::add(&k.idp, &admin_actor(), "finance")
        .await
        .unwrap();
    let mut t1 = fresh(&k, TARGET).await;
    let _t2 = fresh(&k, TARGET).await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let page = b.get("/admin/users/target%40example.com").await;
    assert!(page.has("Payroll"), "applications through staff");
    assert_eq!(page.body.matches("/sessions/end\"").count(), 2);

    let bad = b
        .post(
            "/admin/users/target%40example.com/role",
            &[("role", "root")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("unknown role"));
    let ok = b
        .post(
            "/admin/users/target%40example.com/role",
            &[("role", "helpdesk")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(
        k.idp.user_by_email(TARGET).await.unwrap().admin_role,
        Some(Role::Helpdesk)
    );

    let add = b
        .post(
            "/admin/users/target%40example.com/groups",
            &[("group", "finance"), ("action", "add")],
        )
        .await;
    assert_eq!(add.status, StatusCode::SEE_OTHER);
    let none = b
        .post(
            "/admin/users/target%40example.com/groups",
            &[("group", "nosuch"), ("action", "add")],
        )
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.has("no group with name"));
    let rm = b
        .post(
            "/admin/users/target%40example.com/groups",
            &[("group", "staff"), ("action", "remove")],
        )
        .await;
    assert_eq!(rm.status, StatusCode::SEE_OTHER);
    assert_eq!(
        idp::admin::users::show(&k.idp, TARGET)
            .await
            .unwrap()
            .groups,
        vec!["finance".to_string()]
    );
    let page = b.get("/admin/users/target%40example.com").await;
    assert!(!page.has("Payroll"), "no longer through staff");

    // Sessions: end one by its id, then all.
    let sessions = idp::admin::sessions::list(&k.idp, TARGET).await.unwrap();
    assert_eq!(sessions.len(), 2);
    let bad = b
        .post(
            "/admin/users/target%40example.com/sessions/end",
            &[("id", "0000000000000000")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let newest = &sessions[0].id;
    let one = b
        .post(
            "/admin/users/target%40example.com/sessions/end",
            &[("id", newest)],
        )
        .await;
    assert_eq!(one.status, StatusCode::SEE_OTHER);
    assert_eq!(
        idp::admin::sessions::list(&k.idp, TARGET)
            .await
            .unwrap()
            .len(),
        1
    );
    let all = b
        .post("/admin/users/target%40example.com/sessions/end-all", &[])
        .await;
    assert_eq!(all.status, StatusCode::SEE_OTHER);
    assert!(
        idp::admin::sessions::list(&k.idp, TARGET)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(t1.get("/profile").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn users_delete_is_confirmed_first() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let confirm = b.get("/admin/users/target%40example.com/delete").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Delete target@example.com?"));
    assert!(
        k.idp.user_by_email(TARGET).await.is_ok(),
        "not before the POST"
    );
    let done = b
        .post("/admin/users/target%40example.com/delete", &[])
        .await;
    assert_eq!(done.location(), Some("/admin?done=user-deleted"));
    assert!(b.get("/admin?done=user-deleted").await.has("User deleted."));
    assert!(k.idp.user_by_email(TARGET).await.is_err());
    let again = b
        .post("/admin/users/target%40example.com/delete", &[])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn groups_create_and_bulk_membership() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    assert!(b.get("/admin/groups").await.has("staff"));
    let empty = b.post("/admin/groups", &[("name", "  ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.has("a group name must have"));
    let dup = b.post("/admin/groups", &[("name", "staff")]).await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.has("already exists"));
    let ok = b.post("/admin/groups", &[("name", "Sales team")]).await;
    assert_eq!(
        ok.location(),
        Some("/admin/groups/Sales%20team?done=created")
    );
    assert!(b.get(ok.location().unwrap()).await.has("Group created."));

    // One unknown email: nothing changes.
    let unknown = b
        .post(
            "/admin/groups/Sales%20team/members",
            &[
                ("action", "add"),
                ("emails", "plain@example.com\nnobody@example.com"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.has("no user with email"));
    assert!(unknown.has("nobody@example.com"), "the text is kept");
    let g = idp::admin::groups::show(&k.idp, "Sales team")
        .await
        .unwrap();
    assert_eq!(g.members, 0);

    let add = b
        .post(
            "/admin/groups/Sales%20team/members",
            &[
                ("action", "add"),
                (
                    "emails",
                    "plain@example.com, Target@example.com\nauditor@example.com",
                ),
            ],
        )
        .await;
    assert_eq!(
        add.location(),
        Some("/admin/groups/Sales%20team?done=members&added=3&removed=0")
    );
    let page = b.get(add.location().unwrap()).await;
    assert!(page.has("3 added"));
    assert!(page.has("auditor@example.com"));
    let rm = b
        .post(
            "/admin/groups/Sales%20team/members",
            &[("action", "remove"), ("member", PLAIN), ("member", AUDITOR)],
        )
        .await;
    assert_eq!(
        rm.location(),
        Some("/admin/groups/Sales%20team?done=members&added=0&removed=2")
    );
    let g = idp::admin::groups::members(&k.idp, "Sales team", 0, 0)
        .await
        .unwrap();
    let emails: Vec<&str> = g.items.iter().map(|m| m.user.email.as_str()).collect();
    assert_eq!(emails, vec![TARGET]);
    let nothing = b
        .post(
            "/admin/groups/Sales%20team/members",
            &[("action", "remove")],
        )
        .await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b.get("/admin/groups/nosuch").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn groups_show_their_bound_applications() {
    let k = console_kit().await;
    let app = k.unassigned_application("Wiki").await;
    idp::admin::apps::assign(&k.idp, &admin_actor(), &app.name, "staff")
        .await
        .unwrap();
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let page = b.get("/admin/groups/staff").await;
    assert!(page.has("Wiki"));
    assert!(page.has("target@example.com"));
}

#[tokio::test]
async fn settings_are_confirmed_and_validated() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let list = b.get("/admin/settings").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.has("password.min_length"));
    assert!(list.has("minimum password length"));
    let confirm = b.get("/admin/settings/password.min_length?value=14").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Change password.min_length?"));
    assert_eq!(k.idp.settings().await.unwrap().password.min_length, 12);
    let bad = b
        .post("/admin/settings/password.min_length", &[("value", "3")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("password.min_length"));
    assert!(bad.has("aria-invalid=\"true\""));
    let ok = b
        .post("/admin/settings/password.min_length", &[("value", "14")])
        .await;
    assert_eq!(ok.location(), Some("/admin/settings?done=1"));
    assert_eq!(k.idp.settings().await.unwrap().password.min_length, 14);
    assert_eq!(
        b.get("/admin/settings/nosuch.key?value=1").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn keys_are_listed_and_rotated_after_confirmation() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let list = b.get("/admin/keys").await;
    assert_eq!(list.status, StatusCode::OK);
    let before = idp::admin::keys::list(&k.idp).await.unwrap();
    assert!(list.has(&before[0].kid));
    let confirm = b.get("/admin/keys/rotate?which=oidc").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has("Rotate the OIDC signing keys?"));
    assert_eq!(
        b.post("/admin/keys/rotate", &[("which", "jwt")])
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let done = b.post("/admin/keys/rotate", &[("which", "oidc")]).await;
    assert_eq!(done.location(), Some("/admin/keys?done=oidc"));
    let after = idp::admin::keys::list(&k.idp).await.unwrap();
    assert!(after.len() > before.len());
    let done = b.post("/admin/keys/rotate", &[("which", "saml")]).await;
    assert_eq!(done.location(), Some("/admin/keys?done=saml"));
}

#[tokio::test]
async fn applications_create_edit_and_bind_groups() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    assert_eq!(b.get("/admin/apps").await.status, StatusCode::OK);
    let bad = b
        .post(
            "/admin/apps",
            &[("name", "Payroll"), ("launch_url", "javascript:alert(1)")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("launch_url"));
    assert!(bad.has("value=\"Payroll\""));
    let ok = b
        .post(
            "/admin/apps",
            &[
                ("name", "Payroll"),
                ("launch_url", "https://payroll.example.com/"),
                ("description", "Pay slips"),
            ],
        )
        .await;
    assert_eq!(ok.location(), Some("/admin/apps/Payroll?done=created"));
    let page = b.get("/admin/apps/Payroll").await;
    assert!(page.has("Kind: bookmark"));
    assert!(page.has("Pay slips"));

    let bad = b
        .post(
            "/admin/apps/Payroll",
            &[("launch_url", "ftp://payroll.example.com/")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let saved = b
        .post(
            "/admin/apps/Payroll",
            &[
                ("launch_url", "https://pay.example.com/"),
                ("description", "Pay slips and taxes"),
                ("detail_url", "https://pay.example.com/help"),
            ],
        )
        .await;
    assert_eq!(saved.location(), Some("/admin/apps/Payroll?done=saved"));
    let a = idp::admin::apps::find(&k.idp, "Payroll").await.unwrap();
    assert_eq!(a.launch_url, "https://pay.example.com/");
    assert_eq!(
        a.detail_url.as_deref(),
        Some("https://pay.example.com/help")
    );

    let add = b
        .post(
            "/admin/apps/Payroll/groups",
            &[("group", "staff"), ("action", "add")],
        )
        .await;
    assert_eq!(add.status, StatusCode::SEE_OTHER);
    let apps = idp::admin::users::applications(&k.idp, TARGET)
        .await
        .unwrap();
    assert!(apps.iter().any(|a| a.name == "Payroll"));
    let unknown = b
        .post(
            "/admin/apps/Payroll/groups",
            &[("group", "nosuch"), ("action", "add")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rm = b
        .post(
            "/admin/apps/Payroll/groups",
            &[("group", "staff"), ("action", "remove")],
        )
        .await;
    assert_eq!(rm.status, StatusCode::SEE_OTHER);
    let apps = idp::admin::users::applications(&k.idp, TARGET)
        .await
        .unwrap();
    assert!(!apps.iter().any(|a| a.name == "Payroll"));
    assert_eq!(
        b.get("/admin/apps/Nosuch").await.status,
        StatusCode::NOT_FOUND
    );
}

/// A `multipart/form-data` upload of `file` as the `logo` field, with the
/// browser's form token unless `csrf` is false.
async fn upload(b: &mut Browser, path: &str, file: &[u8], csrf: bool) -> support::Page {
    let boundary = "----portcullis-test-boundary";
    let mut body = Vec::new();
    if csrf {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
                b.csrf.clone().unwrap()
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b.send(
        axum::http::Request::post(path)
            .header(
                axum::http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
}

/// The smallest valid PNG: one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

#[tokio::test]
async fn application_logos_are_uploaded_checked_and_served_cacheable() {
    let k = console_kit().await;
    let app = k.unassigned_application("Payroll").await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    b.get("/admin/apps/Payroll").await;

    // Refused: no token, a script-capable format, an oversized file.
    let no_token = upload(&mut b, "/admin/apps/Payroll/logo", PNG, false).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let svg = upload(
        &mut b,
        "/admin/apps/Payroll/logo",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
        true,
    )
    .await;
    assert_eq!(svg.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(svg.has("must be a PNG or JPEG"));
    let mut big = PNG.to_vec();
    big.resize(idp::admin::apps::MAX_LOGO_BYTES + 1, 0);
    let big = upload(&mut b, "/admin/apps/Payroll/logo", &big, true).await;
    assert_eq!(big.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(big.has("at most 256 KiB"));
    assert_eq!(
        idp::admin::apps::find(&k.idp, "Payroll")
            .await
            .unwrap()
            .logo_url,
        None
    );

    let ok = upload(&mut b, "/admin/apps/Payroll/logo", PNG, true).await;
    assert_eq!(
        ok.location(),
        Some("/admin/apps/Payroll?done=logo"),
        "{}",
        ok.body
    );
    let url = idp::admin::apps::find(&k.idp, "Payroll")
        .await
        .unwrap()
        .logo_url
        .unwrap();
    assert!(
        url.starts_with(&format!("/apps/{}/logo?v=", app.id)),
        "{url}"
    );

    // Served by the portal to a signed-in user, as a PNG, cacheable.
    let mut user = fresh(&k, TARGET).await;
    let img = user.get(&url).await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.headers["content-type"], "image/png");
    assert!(
        img.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(img.headers["x-content-type-options"], "nosniff");
    let etag = img.headers["etag"].to_str().unwrap().to_string();
    let again = user
        .send(
            axum::http::Request::get(&url)
                .header(axum::http::header::IF_NONE_MATCH, &etag)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let mut stranger = k.browser();
    assert_eq!(stranger.get(&url).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        user.get("/apps/no-such-app/logo").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn users_list_searches_filters_and_pages() {
    let k = console_kit().await;
    for i in 0..55 {
        idp::admin::users::add(
            &k.idp,
            &admin_actor(),
            NewUser {
                email: format!("bulk{i:02}@example.com"),
                first_name: "Bulk".into(),
                last_name: format!("Person{i:02}"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let mut b = fresh(&k, AUDITOR).await;
    let all = b.get("/admin/users").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.has("1–50 of 60"), "{}", all.body);
    assert!(all.has("/admin/users?offset=50"));
    let next = b.get("/admin/users?offset=50").await;
    assert!(next.has("51–60 of 60"));
    assert!(next.has("rel=\"prev\""));

    let found = b.get("/admin/users?text=person07").await;
    assert!(found.has("bulk07@example.com"));
    assert!(found.has("1–1 of 1"));
    let staff = b.get("/admin/users?group=staff").await;
    assert!(staff.has("target@example.com") && !staff.has("plain@example.com"));
    let auditors = b.get("/admin/users?role=auditor").await;
    assert!(auditors.has("auditor@example.com") && !auditors.has("target@example.com"));
    idp::admin::users::lock(&k.idp, &admin_actor(), PLAIN)
        .await
        .unwrap();
    let locked = b.get("/admin/users?status=locked").await;
    assert!(locked.has("plain@example.com") && !locked.has("target@example.com"));
    let too_long = b
        .get(&format!("/admin/users?text={}", "x".repeat(300)))
        .await;
    assert!(too_long.has("at most 200 characters"));
    assert!(
        b.get("/admin/users?text=nothing-like-this")
            .await
            .has("No user matches.")
    );
}

#[tokio::test]
async fn users_profile_edit_with_validation_and_concurrent_edits() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let page = b.get("/admin/users/target%40example.com").await;
    let version = between(&page.body, "name=\"version\" value=\"", "\"")
        .unwrap()
        .replace("&quot;", "\"");
    let bad = b
        .post(
            "/admin/users/target%40example.com/profile",
            &[
                ("version", &version),
                ("email", "target@example.com"),
                ("first_name", "Tess"),
                ("work_phone", "call me maybe"),
                ("alternate_email", "nope"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("pf-work_phone-error"));
    assert!(bad.has("pf-alternate_email-error"));
    assert!(bad.has("value=\"call me maybe\""), "what was typed stays");
    assert_eq!(
        k.idp.user_by_email(TARGET).await.unwrap().first_name,
        "Test"
    );

    let ok = b
        .post(
            "/admin/users/target%40example.com/profile",
            &[
                ("version", &version),
                ("email", "tess@example.com"),
                ("first_name", "Tess"),
                ("last_name", "Target"),
                ("username", "tess"),
                ("work_phone", "+1 555 0100"),
                ("home_city", "Lisbon"),
            ],
        )
        .await;
    assert_eq!(
        ok.location(),
        Some("/admin/users/tess%40example.com?done=profile"),
        "{}",
        ok.body
    );
    let u = k.idp.user_by_email("tess@example.com").await.unwrap();
    assert_eq!(u.first_name, "Tess");
    assert_eq!(
        u.profile.0.get("home_city").map(String::as_str),
        Some("Lisbon")
    );
    let page = b.get(ok.location().unwrap()).await;
    assert!(page.has("Profile saved."));
    // The edit is among the user's recent events.
    assert!(page.has("admin.user.update"), "{}", page.body);

    // The form that was open before that edit is out of date now.
    let stale = b
        .post(
            "/admin/users/tess%40example.com/profile",
            &[("version", &version), ("first_name", "Other")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.has("changed since it was read"));
    assert_eq!(
        k.idp
            .user_by_email("tess@example.com")
            .await
            .unwrap()
            .first_name,
        "Tess"
    );
    let taken = b
        .post(
            "/admin/users/tess%40example.com/profile",
            &[("email", PLAIN)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.has("already exists"));
}

#[tokio::test]
async fn audit_log_filters_pages_and_exports() {
    let k = console_kit().await;
    idp::admin::users::lock_because(&k.idp, &admin_actor(), TARGET, "=cmd|x, \"quoted\"")
        .await
        .unwrap();
    let mut b = fresh(&k, AUDITOR).await;
    let all = b.get("/admin/audit").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.has("admin.user.lock"));
    let locks = b.get("/admin/audit?event=admin.user.lock").await;
    assert!(locks.has("admin.user.lock") && !locks.has("admin.user.add"));
    let about = b.get("/admin/audit?user=plain%40example.com").await;
    assert!(about.has("admin.user.add") && !about.has("admin.user.lock"));
    let by_cli = b.get("/admin/audit?actor=cli%3Atest&outcome=success").await;
    assert!(by_cli.has("admin.group.add"));
    let bad = b.get("/admin/audit?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("since: a date such as"));
    let bad = b.get("/admin/audit?outcome=maybe").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let today = idp::clock::date(now());
    let future = b.get("/admin/audit?since=2999-01-01").await;
    assert!(future.has("No event matches."));
    let dated = b
        .get(&format!("/admin/audit?since={today}&until={today}"))
        .await;
    assert!(dated.has("admin.user.lock"));

    let csv = b
        .get("/admin/audit/export?format=csv&event=admin.user.")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit.csv")
    );
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next(),
        Some("at,event,outcome,user_id,subject,actor,source_ip,detail")
    );
    assert!(
        csv.body
            .contains("\"'=cmd|x, \"\"quoted\"\" (0 sessions ended)\""),
        "{}",
        csv.body
    );
    assert_eq!(
        csv.body.lines().count(),
        1 + 5,
        "a header and five user changes"
    );
    let jsonl = b
        .get("/admin/audit/export?format=jsonl&event=admin.user.lock")
        .await;
    assert_eq!(jsonl.headers["content-type"], "application/x-ndjson");
    let rows: Vec<serde_json::Value> = jsonl
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["event"], "admin.user.lock");
    assert_eq!(rows[0]["actor"], "cli:test");
    assert_eq!(
        b.get("/admin/audit/export?format=xml").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn oidc_clients_are_registered_with_the_secret_shown_once() {
    let k = console_kit().await;
    k.unassigned_application("Wiki").await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    assert_eq!(b.get("/admin/clients").await.status, StatusCode::OK);
    let bad = b
        .post(
            "/admin/clients",
            &[("client_id", "wiki"), ("redirect_uris", "not a uri")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("redirect"), "{}", bad.body);
    assert!(bad.has("value=\"wiki\""));
    let ok = b
        .post(
            "/admin/clients",
            &[
                ("client_id", "wiki"),
                ("redirect_uris", "https://wiki.example.com/callback"),
                ("application", "Wiki"),
                ("require_mfa", "1"),
                ("refresh", "1"),
                (
                    "backchannel_logout_uri",
                    "https://wiki.example.com/backchannel",
                ),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.headers["cache-control"], "no-store");
    let secret = between(&ok.body, "<code id=\"client-secret\">", "</code>")
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 43);
    let (c, source) = idp::admin::oidc::list(&k.idp)
        .await
        .unwrap()
        .into_iter()
        .find(|(c, _)| c.client_id == "wiki")
        .unwrap();
    assert_eq!(source, "store");
    assert!(c.require_mfa);
    assert!(c.grant_types.contains(&"refresh_token".to_string()));
    assert_eq!(
        c.backchannel_logout_uri.as_deref(),
        Some("https://wiki.example.com/backchannel")
    );
    // Shown once: the list afterwards names the client, not its secret.
    let list = b.get("/admin/clients").await;
    assert!(list.has("wiki") && !list.has(&secret));
    let dup = b
        .post(
            "/admin/clients",
            &[
                ("client_id", "wiki"),
                ("redirect_uris", "https://wiki.example.com/callback"),
                ("application", "Wiki"),
            ],
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        dup.has("already exists"),
        "{}",
        between(&dup.body, "id=\"client-error\">", "<").unwrap_or("")
    );
}

// ---- SAML service providers and federation ------------------------------

/// The SP metadata fixture the console and API tests register (a
/// Shibboleth-shaped descriptor: two HTTP-POST ACS with indexes, one
/// Artifact ACS, signed requests, a persistent NameID, a certificate).
const WIKI_SP: &str = include_str!("fixtures/saml/sp-metadata.xml");
const WIKI_SP_ID: &str = "https://wiki.example.com/shibboleth";
const WIKI_SP_PATH: &str = "https%3A%2F%2Fwiki.example.com%2Fshibboleth";

/// A `multipart/form-data` post of text fields and, when given, one file
/// (field name, file name, bytes), with the browser's form token first
/// unless `csrf` is false.
async fn multipart(
    b: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
    csrf: bool,
) -> support::Page {
    let boundary = "----portcullis-test-boundary";
    let mut body = Vec::new();
    let token = b.csrf.clone().unwrap_or_default();
    let mut all: Vec<(&str, &str)> = Vec::new();
    if csrf {
        all.push(("csrf", &token));
    }
    all.extend_from_slice(fields);
    for (name, value) in all {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/xml\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b.send(
        axum::http::Request::post(path)
            .header(
                axum::http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
}

async fn stored_sps(k: &Kit) -> Vec<String> {
    idp::admin::saml::list(&k.idp)
        .await
        .unwrap()
        .into_iter()
        .map(|(s, _)| s.entity_id)
        .collect()
}

fn sp_page() -> String {
    format!("/admin/saml/{WIKI_SP_PATH}")
}

#[tokio::test]
async fn saml_sps_are_previewed_registered_from_pasted_metadata_and_shown() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let list = b.get("/admin/saml").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.has("No service provider yet."));

    // The preview says what was read and stores nothing.
    let fields = [
        ("metadata", WIKI_SP),
        ("application", "Team Wiki"),
        ("sign", "both"),
    ];
    let mut preview_fields = fields.to_vec();
    preview_fields.push(("step", "preview"));
    let preview = multipart(&mut b, "/admin/saml", &preview_fields, None, true).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.has("What the metadata says"));
    assert!(preview.has(WIKI_SP_ID));
    assert!(preview.has("[1] https://wiki.example.com/Shibboleth.sso/SAML2/POST (default)"));
    let shown = between(&preview.body, "id=\"sp-preview\"", "</dl>").unwrap();
    assert!(
        !unescape(shown).contains("SAML2/Artifact"),
        "only HTTP-POST consumers"
    );
    assert!(preview.has("CN=test-idp, expires 2036-11-20"));
    assert!(stored_sps(&k).await.is_empty());
    assert!(audit_by(&k, DEMO_EMAIL).await.is_empty());

    let mut save_fields = fields.to_vec();
    save_fields.push(("step", "save"));
    let saved = multipart(&mut b, "/admin/saml", &save_fields, None, true).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(
        saved.location(),
        Some(format!("{}?done=created", sp_page()).as_str())
    );
    assert_eq!(stored_sps(&k).await, vec![WIKI_SP_ID.to_string()]);
    assert_eq!(audit_by(&k, DEMO_EMAIL).await, vec!["admin.saml.sp.add"]);

    let page = b.get(saved.location().unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("Service provider registered."));
    for text in [
        "<td>1</td><td>https://wiki.example.com/Shibboleth.sso/SAML2/POST</td><td>yes</td>",
        "<td>3</td><td>https://wiki.example.com/Shibboleth.sso/SAML2/POST-alt</td><td></td>",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "CN=test-idp; expires 2036-11-20",
        "https://wiki.example.com/Shibboleth.sso/SLO/Redirect",
        "<dt>Signed AuthnRequests</dt><dd>required</dd>",
        "the Response and the Assertion",
        "href=\"/saml/metadata?sp=https%3A%2F%2Fwiki.example.com%2Fshibboleth\"",
        // The basic attribute map every SP gets.
        "<td>firstName</td><td>basic</td><td></td><td>first_name</td>",
    ] {
        assert!(unescape(&page.body).contains(text), "{text}");
    }
    assert!(
        !between(&page.body, "id=\"sp-facts\"", "</section>")
            .unwrap()
            .contains("SAML2&#x2f;Artifact")
    );
    // The IdP metadata for this SP follows what it asked for.
    let md = b.get(&format!("/saml/metadata?sp={WIKI_SP_PATH}")).await;
    assert_eq!(md.status, StatusCode::OK);
    assert!(md.has("WantAuthnRequestsSigned=\"true\""));
    // The list names it; registering it twice is refused beside the form.
    assert!(b.get("/admin/saml").await.has(WIKI_SP_ID));
    let again = multipart(&mut b, "/admin/saml", &save_fields, None, true).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.has("already exists"));
    assert!(
        unescape(&again.body).contains("aria-invalid=\"true\" aria-describedby=\"sp-error\"><?xml")
    );
}

#[tokio::test]
async fn saml_sp_metadata_upload_works_and_a_doctype_is_refused_with_nothing_changed() {
    let k = console_kit().await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    b.get("/admin/saml").await;
    let fields = [
        ("application", "Team Wiki"),
        ("sign", "both"),
        ("step", "save"),
    ];
    // The parser's own refusal: no DTD, whatever it declares.
    let evil = WIKI_SP.replacen(
        "<md:EntityDescriptor",
        "<!DOCTYPE md:EntityDescriptor [<!ENTITY x \"boom\">]>\n<md:EntityDescriptor",
        1,
    );
    let refused = multipart(
        &mut b,
        "/admin/saml",
        &fields,
        Some(("metadata_file", "sp.xml", evil.as_bytes())),
        true,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.has("DTD"),
        "{}",
        between(&refused.body, "id=\"sp-error\">", "<").unwrap_or(&refused.body)
    );
    assert!(stored_sps(&k).await.is_empty());
    assert!(audit_by(&k, DEMO_EMAIL).await.is_empty());
    // Not an XML text at all.
    let binary = multipart(
        &mut b,
        "/admin/saml",
        &fields,
        Some(("metadata_file", "sp.xml", &[0xff, 0xfe, 0x00, 0x01])),
        true,
    )
    .await;
    assert_eq!(binary.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stored_sps(&k).await.is_empty());
    // Without the form token: refused before anything is read.
    let no_token = multipart(
        &mut b,
        "/admin/saml",
        &fields,
        Some(("metadata_file", "sp.xml", WIKI_SP.as_bytes())),
        false,
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.has("This form has expired"));
    assert!(stored_sps(&k).await.is_empty());
    // The same file, well-formed, uploaded.
    let ok = multipart(
        &mut b,
        "/admin/saml",
        &fields,
        Some(("metadata_file", "sp.xml", WIKI_SP.as_bytes())),
        true,
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(stored_sps(&k).await, vec![WIKI_SP_ID.to_string()]);
}

async fn register_wiki_sp(k: &Kit) -> idp::saml::ServiceProviderConfig {
    idp::admin::saml::import_metadata(
        &k.idp,
        &admin_actor(),
        WIKI_SP,
        idp::admin::saml::MetadataOptions {
            application: "Team Wiki".into(),
            sign: "both".into(),
            require_mfa: false,
            relay_state: None,
            release: Default::default(),
        },
    )
    .await
    .unwrap()
}

/// The edit form's fields as the detail page fills them in.
fn edit_fields(page: &str) -> Vec<(String, String)> {
    let text = |id: &str| {
        let start = format!("id=\"{id}\"");
        let at = page.find(&start).unwrap();
        let rest = &page[at..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest.find("</textarea>").unwrap();
        unescape(&rest[open..close])
    };
    let value = |name: &str| {
        between(
            page,
            &format!("name=\"{name}\" type=\"text\" value=\""),
            "\"",
        )
        .or_else(|| {
            between(
                page,
                &format!("name=\"{name}\" type=\"url\" value=\""),
                "\"",
            )
        })
        .or_else(|| between(page, &format!("name=\"{name}\" value=\""), "\""))
        .map(unescape)
        .unwrap_or_default()
    };
    vec![
        ("version".into(), value("version")),
        ("acs".into(), text("sp-acs")),
        ("application".into(), "Team Wiki".into()),
        (
            "name_id_format".into(),
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
        ),
        ("name_id_source".into(), value("name_id_source")),
        ("attributes".into(), text("sp-attrs")),
        ("attribute_map".into(), text("sp-map")),
        ("attribute_profile".into(), String::new()),
        ("sign".into(), "both".into()),
        ("require_signed_requests".into(), "1".into()),
        ("certificate".into(), text("sp-cert")),
        ("slo_url".into(), value("slo_url")),
        (
            "slo_binding".into(),
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect".into(),
        ),
        ("relay_state".into(), String::new()),
    ]
}

/// What the page's markup escaping did, undone.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    fields.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.into();
}

async fn post_owned(b: &mut Browser, path: &str, fields: &[(String, String)]) -> support::Page {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post(path, &borrowed).await
}

#[tokio::test]
async fn saml_sps_are_edited_through_the_core_with_errors_on_the_fields() {
    let k = console_kit().await;
    register_wiki_sp(&k).await;
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let page = b.get(&sp_page()).await;
    assert_eq!(page.status, StatusCode::OK);
    let form = edit_fields(&page.body);
    assert_eq!(
        form.iter().find(|(k, _)| k == "acs").unwrap().1,
        "1 https://wiki.example.com/Shibboleth.sso/SAML2/POST default\n3 https://wiki.example.com/Shibboleth.sso/SAML2/POST-alt"
    );

    // An ACS URL the core refuses: the message is beside the ACS field,
    // what was typed is kept, and nothing is written.
    let mut bad = form.clone();
    set(&mut bad, "acs", "1 http://wiki.example.com/acs default");
    let res = post_owned(&mut b, &sp_page(), &bad).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.has("sp.acs[0].url"),
        "{}",
        between(&res.body, "id=\"sp-error\">", "<").unwrap_or("")
    );
    assert!(unescape(&res.body).contains(
        "aria-invalid=\"true\" aria-describedby=\"sp-error\">1 http://wiki.example.com/acs default</textarea>"
    ));
    let (sp, _) = idp::admin::saml::show(&k.idp, WIKI_SP_ID).await.unwrap();
    assert_eq!(
        sp.acs[0].url,
        "https://wiki.example.com/Shibboleth.sso/SAML2/POST"
    );
    // A line that is not index, URL, default.
    let mut garbled = form.clone();
    set(
        &mut garbled,
        "acs",
        "1 https://wiki.example.com/acs sometimes",
    );
    let res = post_owned(&mut b, &sp_page(), &garbled).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.has("line 1"));
    // An attribute source that does not exist.
    let mut bad_source = form.clone();
    set(
        &mut bad_source,
        "attribute_map",
        "urn:oid:2.5.4.10=shoe_size",
    );
    let res = post_owned(&mut b, &sp_page(), &bad_source).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.has("shoe_size"));
    assert!(
        !audit_by(&k, DEMO_EMAIL)
            .await
            .contains(&"admin.saml.sp.update".to_string())
    );

    // A good edit: attribute release, signing, an ACS more.
    let mut good = form.clone();
    set(
        &mut good,
        "acs",
        "1 https://wiki.example.com/Shibboleth.sso/SAML2/POST\n3 https://wiki.example.com/Shibboleth.sso/SAML2/POST-alt default\n4 https://wiki.example.com/acs4",
    );
    set(
        &mut good,
        "attribute_map",
        "urn:oid:2.5.4.10=profile.work_city\nurn:oid:0.9.2342.19200300.100.1.3=email",
    );
    set(&mut good, "attribute_profile", "eduperson");
    set(&mut good, "sign", "assertion");
    let res = post_owned(&mut b, &sp_page(), &good).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "{}",
        between(&res.body, "id=\"sp-error\">", "<").unwrap_or("")
    );
    let (sp, _) = idp::admin::saml::show(&k.idp, WIKI_SP_ID).await.unwrap();
    assert_eq!(sp.acs.len(), 3);
    assert_eq!(sp.default_acs().unwrap().index, Some(3));
    assert_eq!(sp.attribute_map.len(), 2);
    assert_eq!(
        sp.attribute_map[1].friendly_name.as_deref(),
        Some("mail"),
        "a standard OID gets its friendly name"
    );
    assert_eq!(sp.sign, idp::saml::config::SignWhat::Assertion);
    assert!(sp.attribute_profile.is_some());
    assert!(
        sp.certificate.is_some() && sp.require_signed_requests,
        "kept"
    );
    let events = audit_by(&k, DEMO_EMAIL).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "admin.saml.sp.update")
            .count(),
        1
    );
    let shown = b.get(res.location().unwrap()).await;
    assert!(shown.has("Service provider saved."));
    assert!(unescape(&shown.body).contains("<td>urn:oid:2.5.4.10</td><td>urn:oasis:names:tc:SAML:2.0:attrname-format:uri</td><td></td><td>profile.work_city</td>"));
    assert!(shown.has("(eduPerson profile)"));
    assert!(shown.has("<dd>the Assertion</dd>"));

    // The form read before that edit is out of date now.
    let res = post_owned(&mut b, &sp_page(), &form).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.has("changed since it was read"));
    assert_eq!(
        idp::admin::saml::show(&k.idp, WIKI_SP_ID)
            .await
            .unwrap()
            .0
            .acs
            .len(),
        3
    );
    // Without the form token: refused, unchanged.
    let raw: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = b.post_raw(&sp_page(), &raw).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn saml_sp_removal_is_confirmed_with_a_fresh_second_factor() {
    let k = console_kit().await;
    register_wiki_sp(&k).await;
    admin_with_totp(&k).await;
    // Ten minutes: fresh enough to read it, not to remove it.
    let mut b = as_user(&k, DEMO_EMAIL, Some(now() - 600)).await;
    assert_eq!(b.get(&sp_page()).await.status, StatusCode::OK);
    let confirm = b.get(&format!("{}/delete", sp_page())).await;
    assert_eq!(confirm.status, StatusCode::SEE_OTHER);
    assert!(
        confirm
            .location()
            .unwrap()
            .starts_with("/login/step-up?return_to=")
    );
    let res = b.post(&format!("{}/delete", sp_page()), &[]).await;
    assert!(res.location().unwrap().starts_with("/login/step-up?"));
    assert_eq!(stored_sps(&k).await, vec![WIKI_SP_ID.to_string()]);
    // An auditor may read it but not remove it.
    let mut auditor = fresh(&k, AUDITOR).await;
    let read = auditor.get(&sp_page()).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(!read.has("Save service provider") && !read.has("Remove service provider"));
    assert_eq!(
        auditor
            .post(&format!("{}/delete", sp_page()), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Fresh: the confirmation, then the removal.
    let mut b = fresh(&k, DEMO_EMAIL).await;
    let confirm = b.get(&format!("{}/delete", sp_page())).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has(&format!("Remove {WIKI_SP_ID}?")));
    let done = b.post(&format!("{}/delete", sp_page()), &[]).await;
    assert_eq!(done.location(), Some("/admin/saml?done=deleted"));
    assert!(stored_sps(&k).await.is_empty());
    assert_eq!(audit_by(&k, DEMO_EMAIL).await, vec!["admin.saml.sp.remove"]);
    assert_eq!(b.get(&sp_page()).await.status, StatusCode::NOT_FOUND);
}

/// Upstream IdP metadata with the same test certificate (CN=test-idp,
/// valid until 2036-11-20).
fn upstream_metadata() -> String {
    let cert = between(WIKI_SP, "<ds:X509Certificate>", "</ds:X509Certificate>").unwrap();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.saml.example/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.saml.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

#[tokio::test]
async fn the_federation_page_shows_each_providers_status() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(&md, upstream_metadata()).unwrap();
    let text = format!(
        r#"
[[oidc]]
id = "partner"
name = "Partner"
domains = ["partner.example"]
issuer = "http://127.0.0.1:1"
client_id = "portcullis"
client_secret = "0123456789abcdef"

[[saml]]
id = "saml"
name = "SAML Partner"
domains = ["saml.example", "saml2.example"]
metadata_file = "{}"
"#,
        md.display()
    );
    let fed: idp::federation::FederationConfig = toml::from_str(&text).unwrap();
    let k = support::kit_with(|c| c.federation = fed).await;
    idp::admin::users::add(
        &k.idp,
        &admin_actor(),
        NewUser {
            email: AUDITOR.into(),
            first_name: "Test".into(),
            last_name: "Auditor".into(),
            role: Some(Role::Auditor),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A sign-in through the unreachable provider: refused, and its status
    // says why.
    let partner = k.idp.federation.get("partner").unwrap();
    assert!(
        k.idp
            .start_federation(&partner, Some("ann@partner.example"), None)
            .await
            .is_err()
    );
    let mut b = fresh(&k, AUDITOR).await;
    let page = b.get("/admin/federation").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = |id: &str| {
        unescape(between(&page.body, &format!("<tr id=\"provider-{id}\">"), "</tr>").unwrap())
    };
    let oidc = row("partner");
    assert!(oidc.contains("OpenID Connect"), "{oidc}");
    assert!(oidc.contains("partner.example"));
    assert!(oidc.contains("http://127.0.0.1:1/.well-known/openid-configuration"));
    assert!(oidc.contains("<td>not yet</td>"), "{oidc}");
    assert!(oidc.contains("could not be reached"), "{oidc}");
    assert!(
        oidc.matches("could not be reached").count() >= 2,
        "the read and the sign-in: {oidc}"
    );
    let saml = row("saml");
    assert!(saml.contains("SAML"));
    assert!(saml.contains("saml.example, saml2.example"));
    assert!(saml.contains("https://idp.saml.example/metadata"), "{saml}");
    assert!(
        saml.contains(" UTC</td><td>none</td><td>none</td><td>2036-11-20"),
        "{saml}"
    );
}
