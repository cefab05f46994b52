//! Password reset by email through the router, with the outbox transport in
//! a temporary folder: request, link, second factor, new password, and the
//! ways it must refuse. Also the expiry reminders. TOTP codes come from
//! Debian's `oathtool`.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use support::{Browser, DEMO_EMAIL, DEMO_PASSWORD, Kit, kit, kit_with};

const NEW_PASSWORD: &str = "Green-Meadow-5830!";

fn oath(secret: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn outbox(k: &Kit) -> PathBuf {
    k.idp.config.outbox_dir()
}

/// Every message in the outbox, oldest first, with quoted-printable undone.
fn mails(k: &Kit) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(outbox(k)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .replace("=\r\n", "")
                .replace("=3D", "=")
        })
        .collect()
}

/// Waits until the outbox holds `n` messages (the sender is a background task).
async fn wait_mails(k: &Kit, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let m = mails(k);
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} messages, found {}", mails(k).len());
}

fn token_in(mail: &str) -> String {
    let i = mail.find("token=").expect("a reset link") + "token=".len();
    mail[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn request(b: &mut Browser, email: &str) -> support::Page {
    let form = b.get("/password/reset").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.has("Send Reset Request") && form.has("name=\"csrf\""));
    b.post("/password/reset", &[("email", email)]).await
}

/// Asks for a link for the demo user and returns its token.
async fn reset_token(k: &Kit, b: &mut Browser) -> String {
    let before = mails(k).len();
    let res = request(b, DEMO_EMAIL).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Other mail (a confirmation) may land meanwhile: take the new link.
    for _ in 0..100 {
        if let Some(m) = mails(k).iter().skip(before).find(|m| m.contains("token=")) {
            return token_in(m);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no reset mail arrived")
}

#[tokio::test]
async fn the_sign_in_page_links_to_the_reset_form() {
    let k = kit().await;
    let mut b = k.browser();
    b.get("/login").await;
    b.post("/login", &[("email", DEMO_EMAIL)]).await;
    let p = b.get("/login/password").await;
    assert!(p.has("href=\"/password/reset\""));
    assert!(p.has("Reset User Password"));
}

#[tokio::test]
async fn unknown_email_gets_the_same_page_and_no_mail() {
    let k = kit().await;
    let mut b = k.browser();
    let unknown = request(&mut b, "nobody@example.com").await;
    let known = request(&mut b, DEMO_EMAIL).await;
    assert_eq!(unknown.status, known.status);
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("csrf"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&unknown.body), strip(&known.body), "same answer");
    assert!(known.has("If an account exists"));
    let m = wait_mails(&k, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails(&k).len(), 1, "only the known account got mail");
    assert!(m[0].contains(&format!("To: {DEMO_EMAIL}")), "{}", m[0]);
    assert!(m[0].contains("multipart/alternative") && m[0].contains("text/html"));
    // The answer takes about as long either way.
    let t = std::time::Instant::now();
    request(&mut b, "someone@example.com").await;
    assert!(t.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn reset_replaces_the_password_once_and_ends_sessions() {
    let k = kit().await;
    let mut other = k.signed_in().await;
    assert_eq!(other.get("/apps").await.status, StatusCode::OK);
    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    // Only the hash is stored, never the token.
    let rows = k
        .idp
        .store
        .live_reset(&idp::reset::token_hash(&token), idp::clock::now())
        .await
        .unwrap();
    assert!(rows.is_some());

    let link = format!("/password/reset/new?token={token}");
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.has("Reset Password") && page.has("name=\"confirm\""));
    let done = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.has("Password reset"));

    // The other browser's session ended.
    let apps = other.get("/apps").await;
    assert_ne!(apps.status, StatusCode::OK);
    // Old password fails, new one works.
    let mut c = k.browser();
    let old = c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_ne!(old.location(), Some("/apps"));
    let mut d = k.browser();
    assert_eq!(
        d.sign_in(DEMO_EMAIL, NEW_PASSWORD).await.location(),
        Some("/apps")
    );
    // The link works once.
    let again = b.get(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.has("Ask for a new link") && again.has("/password/reset"));
    let again = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", "Other-Pass-1234!"),
                ("confirm", "Other-Pass-1234!"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE);
    // A confirmation mail follows.
    let m = wait_mails(&k, 2).await;
    assert!(
        m[1].contains("was reset") || m[1].contains("was just reset"),
        "{}",
        m[1]
    );
    assert!(!m[1].contains(&token));
    let events = k.audit_events().await;
    assert!(
        events.contains(&("password.reset".into(), "success".into())),
        "{events:?}"
    );
}

#[tokio::test]
async fn policy_errors_are_all_listed_and_the_link_survives_them() {
    let k = kit().await;
    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    b.get(&format!("/password/reset/new?token={token}")).await;
    let weak = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", "abc"),
                ("confirm", "abc"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.body.matches("<li>").count() >= 2,
        "every unmet rule: {}",
        weak.body
    );
    let mismatch = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", NEW_PASSWORD),
                ("confirm", "Different-9876!"),
            ],
        )
        .await;
    assert!(mismatch.has("do not match"));
    let reuse = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", DEMO_PASSWORD),
                ("confirm", DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        reuse.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "history applies"
    );
    let ok = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn tampered_and_missing_tokens_get_the_clear_page() {
    let k = kit().await;
    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    let mut t = token.clone().into_bytes();
    t[0] = if t[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(t).unwrap();
    for path in [
        format!("/password/reset/new?token={tampered}"),
        "/password/reset/new".to_string(),
        "/password/reset/new?token=".to_string(),
        format!("/password/reset/new?token={}", "x".repeat(5000)),
    ] {
        let p = b.get(&path).await;
        assert_eq!(p.status, StatusCode::GONE, "{path}");
        assert!(p.has("Ask for a new link"));
    }
    b.get(&format!("/password/reset/new?token={token}")).await;
    let p = b
        .post(
            "/password/reset/new",
            &[
                ("token", &tampered),
                ("proof", ""),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::GONE);
    // The real one still works.
    assert_eq!(
        b.get(&format!("/password/reset/new?token={token}"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let k = kit_with(|c| c.reset.token_lifetime = Duration::from_secs(1)).await;
    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let p = b.get(&format!("/password/reset/new?token={token}")).await;
    assert_eq!(p.status, StatusCode::GONE);
}

#[tokio::test]
async fn requests_are_rate_limited_per_account() {
    let k = kit().await;
    let mut b = k.browser();
    for _ in 0..3 {
        assert_eq!(request(&mut b, DEMO_EMAIL).await.status, StatusCode::OK);
    }
    let limited = request(&mut b, DEMO_EMAIL).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // An unknown email is limited the same way: the limit tells nothing.
    for _ in 0..3 {
        request(&mut b, "ghost@example.com").await;
    }
    assert_eq!(
        request(&mut b, "ghost@example.com").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails(&k).len(), 3, "no mail beyond the limit");
}

#[tokio::test]
async fn a_stranger_cannot_spend_the_owners_reset_budget() {
    let k = kit().await;
    let mut stranger = k.browser_from("203.0.113.66");
    for _ in 0..3 {
        assert_eq!(
            request(&mut stranger, DEMO_EMAIL).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        request(&mut stranger, DEMO_EMAIL).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner's requests from their own address have their own budget.
    let mut owner = k.browser_from("198.51.100.20");
    for _ in 0..3 {
        assert_eq!(request(&mut owner, DEMO_EMAIL).await.status, StatusCode::OK);
    }
    // Negative: that budget is limited too.
    let limited = request(&mut owner, DEMO_EMAIL).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.has("Wait a few minutes"));
    assert_eq!(
        limited.headers.get(header::RETRY_AFTER).unwrap(),
        "900",
        "the window"
    );
    // The emailed link is never limited: the owner, limited for requests,
    // still opens the newest link.
    let m = wait_mails(&k, 6).await;
    let token = token_in(m.last().unwrap());
    let p = owner
        .get(&format!("/password/reset/new?token={token}"))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
}

#[tokio::test]
async fn reset_requests_from_all_addresses_have_a_ceiling_per_email() {
    let k = kit_with(|c| c.reset.max_per_email = 4).await;
    let mut statuses = Vec::new();
    for i in 1..=5 {
        let mut b = k.browser_from(&format!("192.0.2.{i}"));
        statuses.push(request(&mut b, DEMO_EMAIL).await.status);
    }
    assert_eq!(statuses[..4], [StatusCode::OK; 4]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    // Another email is not affected.
    let mut b = k.browser_from("192.0.2.9");
    assert_eq!(
        request(&mut b, "other@example.com").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_are_rate_limited_per_source_address() {
    let k = kit_with(|c| c.reset.max_per_address = 2).await;
    let mut b = k.browser();
    b.get("/password/reset").await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let body = serde_urlencoded::to_string([
            ("email", format!("user{i}@example.com")),
            ("csrf", b.csrf.clone().unwrap()),
        ])
        .unwrap();
        let mut req = Request::post("/password/reset")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 40000))));
        statuses.push(b.send(req).await.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn the_recovery_email_gets_a_copy() {
    let k = kit().await;
    let user = k.demo_user().await;
    let mut profile = user.profile.clone();
    profile
        .0
        .insert("recovery_email".into(), "me@private.example".into());
    k.idp
        .store
        .update_profile(
            &user.id,
            &user.first_name,
            &user.last_name,
            &user.username,
            &profile,
        )
        .await
        .unwrap();
    let mut b = k.browser();
    request(&mut b, DEMO_EMAIL).await;
    let m = wait_mails(&k, 2).await;
    assert!(m.iter().any(|x| x.contains(&format!("To: {DEMO_EMAIL}"))));
    assert!(m.iter().any(|x| x.contains("To: me@private.example")));
    // Each message has one recipient.
    assert!(
        m.iter()
            .all(|x| !(x.contains(DEMO_EMAIL) && x.contains("me@private.example")))
    );
}

#[tokio::test]
async fn mfa_is_asked_before_the_new_password() {
    let k = kit().await;
    let mut signed = k.signed_in().await;
    signed.get("/mfa/totp/setup").await;
    signed.post("/mfa/totp/setup", &[]).await;
    let scan = signed.get("/mfa/totp/setup/scan").await;
    let i = scan.body.find("<code id=\"totp-key\">").unwrap() + "<code id=\"totp-key\">".len();
    let key = scan.body[i..].split('<').next().unwrap().to_string();
    signed.get("/mfa/totp/setup/confirm").await;
    let at = idp::clock::now() - 30;
    let done = signed
        .post("/mfa/totp/setup/confirm", &[("code", &oath(&key, at))])
        .await;
    assert!(
        done.location().is_some_and(|l| l.starts_with("/security")),
        "{}",
        done.body
    );

    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    let page = b.get(&format!("/password/reset/new?token={token}")).await;
    assert!(
        page.has("Verify Your Identity") && page.has("authenticator app"),
        "{}",
        page.body
    );
    assert!(
        !page.has("name=\"confirm\""),
        "no password form before the factor"
    );
    // Skipping the factor does not work.
    let skip = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(skip.status, StatusCode::SEE_OTHER);
    let forged = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", "99999999999.AAAA"),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    let wrong = b
        .post(
            "/password/reset/mfa",
            &[("token", &token), ("method", "totp"), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = b
        .post(
            "/password/reset/mfa",
            &[
                ("token", &token),
                ("method", "totp"),
                ("code", &oath(&key, idp::clock::now())),
            ],
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    assert!(right.has("name=\"confirm\""));
    let proof = {
        let m = "name=\"proof\" value=\"";
        let i = right.body.find(m).unwrap() + m.len();
        right.body[i..].split('"').next().unwrap().to_string()
    };
    assert!(!proof.is_empty());
    let ok = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", &proof),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.has("Password reset"));
}

#[tokio::test]
async fn reset_unlocks_a_failed_attempts_lock_but_not_a_suspension() {
    let k = kit().await;
    k.set("lockout.mode", "hard").await;
    for _ in 0..10 {
        let mut x = k.browser();
        x.sign_in(DEMO_EMAIL, "wrong-password").await;
    }
    assert!(k.demo_user().await.locked.is_some(), "locked by failures");
    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    b.get(&format!("/password/reset/new?token={token}")).await;
    let ok = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", NEW_PASSWORD),
                ("confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let u = k.demo_user().await;
    assert!(u.locked.is_none() && u.failed_attempts == 0);
    assert_eq!(
        k.browser()
            .sign_in(DEMO_EMAIL, NEW_PASSWORD)
            .await
            .location(),
        Some("/apps")
    );

    // A link asked for before an admin suspension does not lift it.
    let token = reset_token(&k, &mut b).await;
    idp::admin::users::lock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let p = b.get(&format!("/password/reset/new?token={token}")).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .post(
            "/password/reset/new",
            &[
                ("token", &token),
                ("proof", ""),
                ("password", "Third-Pass-4567!"),
                ("confirm", "Third-Pass-4567!"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(k.demo_user().await.locked.is_some(), "still suspended");
    // And a suspended account gets no new link, with the same answer.
    let before = mails(&k).len();
    let res = request(&mut b, DEMO_EMAIL).await;
    assert_eq!(res.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails(&k).len(), before);
}

#[tokio::test]
async fn expiry_reminder_is_sent_once_a_day() {
    let k = kit().await;
    k.set("password.max_age_days", "30").await;
    let user = k.demo_user().await;
    let hash = user.password_hash.clone().unwrap();
    // Changed 25 days ago: it expires in 5 days.
    k.idp
        .store
        .set_password_hash(&user.id, &hash, idp::clock::now() - 25 * 86_400)
        .await
        .unwrap();
    assert_eq!(k.idp.send_expiry_reminders().await.unwrap(), 1);
    assert_eq!(
        k.idp.send_expiry_reminders().await.unwrap(),
        0,
        "once a day"
    );
    let m = wait_mails(&k, 1).await;
    assert!(m[0].contains("expires in 5 days"), "{}", m[0]);
    assert!(m[0].contains("/security"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mails(&k).len(), 1);
}

#[tokio::test]
async fn a_message_that_finally_fails_is_audited_and_the_answer_is_unchanged() {
    // Nothing listens on the port: every attempt is a temporary failure.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let k = kit_with(|c| {
        c.mail.transport = idp::config::MailTransport::Smtp;
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = idp::config::SmtpTls::None;
        c.mail.max_attempts = 2;
        c.mail.retry_backoff = Duration::from_millis(20);
    })
    .await;
    let mut b = k.browser();
    let res = request(&mut b, DEMO_EMAIL).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.has("If an account exists"));
    for _ in 0..100 {
        if k.audit_events()
            .await
            .contains(&("mail.send".into(), "failure".into()))
        {
            let rows = k.idp.store.recent_audit(100).await.unwrap();
            let row = rows.iter().find(|r| r.event == "mail.send").unwrap();
            assert!(row.detail.contains("password_reset") && row.detail.contains("2 attempt"));
            assert!(!row.detail.contains("token"), "{}", row.detail);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the failure was not audited");
}

#[tokio::test]
async fn reset_can_be_turned_off() {
    let k = kit_with(|c| c.reset.enabled = false).await;
    let mut b = k.browser();
    let p = b.get("/password/reset").await;
    assert!(p.has("administrator") && !p.has("Send Reset Request"));
    let p = b.get("/password/reset/new?token=abc").await;
    assert!(p.has("administrator"));
}

#[tokio::test]
async fn several_methods_give_the_chooser_and_a_recovery_code_works() {
    let k = kit().await;
    let mut signed = k.signed_in().await;
    signed.get("/mfa/totp/setup").await;
    signed.post("/mfa/totp/setup", &[]).await;
    let scan = signed.get("/mfa/totp/setup/scan").await;
    let i = scan.body.find("<code id=\"totp-key\">").unwrap() + "<code id=\"totp-key\">".len();
    let key = scan.body[i..].split('<').next().unwrap().to_string();
    signed.get("/mfa/totp/setup/confirm").await;
    signed
        .post(
            "/mfa/totp/setup/confirm",
            &[("code", &oath(&key, idp::clock::now()))],
        )
        .await;
    signed.get("/security").await;
    let codes_page = signed.post("/security/recovery-codes", &[]).await;
    let list = codes_page
        .body
        .split("id=\"recovery-codes\"")
        .nth(1)
        .expect("the new codes are shown");
    let code = list
        .split("<code>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("a recovery code")
        .to_string();

    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    let chooser = b.get(&format!("/password/reset/new?token={token}")).await;
    assert!(
        chooser.has("Use your authenticator app") && chooser.has("Use a recovery code"),
        "{}",
        chooser.body
    );
    assert!(!chooser.has("name=\"code\""), "a chooser, not a form");
    let form = b
        .get(&format!(
            "/password/reset/new?token={token}&method=recovery"
        ))
        .await;
    assert!(form.has("Recovery code") && form.has("Use another method"));
    let ok = b
        .post(
            "/password/reset/mfa",
            &[("token", &token), ("method", "recovery"), ("code", &code)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert!(ok.has("name=\"confirm\""));
    // The recovery code was spent.
    let again = b
        .post(
            "/password/reset/mfa",
            &[("token", &token), ("method", "recovery"), ("code", &code)],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

/// The reset form lists the policy as a checklist the page's script ticks,
/// and its new-password field is described by it.
#[tokio::test]
async fn the_reset_form_shows_the_password_checklist() {
    let k = kit().await;
    let mut b = k.browser();
    let token = reset_token(&k, &mut b).await;
    let page = b.get(&format!("/password/reset/new?token={token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"aria-describedby="password-policy""#));
    assert!(
        page.body
            .contains(r#"data-password-rules="reset-password" data-match="reset-confirm""#)
    );
    assert!(page.has("At least 12 characters"));
    assert!(
        page.body.contains(r#"<li data-rule="match" hidden>"#),
        "shown by the script only"
    );
}
