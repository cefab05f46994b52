//! Multi-factor sign-in through the router: TOTP enrolment and verification,
//! replay and lockout, recovery codes, the chooser, policy and forced
//! enrolment. TOTP codes come from Debian's `oathtool`, an implementation
//! independent of ours.

mod support;

use idp::session::Presented;
use std::process::Command;

use axum::http::StatusCode;
use support::{Browser, DEMO_EMAIL, DEMO_PASSWORD, Kit, kit};

/// The code `oathtool` computes for `secret` at unix time `at` (30 s, 6 digits, SHA-1).
fn oath(secret: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (scripts/install-deps.sh test)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn now() -> i64 {
    idp::clock::now()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = body.find(start)? + start.len();
    let j = body[i..].find(end)? + i;
    Some(&body[i..j])
}

/// Walks the three enrolment steps and returns the base32 key read from the page.
async fn enrol(b: &mut Browser) -> String {
    let step1 = b.get("/mfa/totp/setup").await;
    assert_eq!(step1.status, StatusCode::OK, "{}", step1.body);
    assert!(step1.has("Set Up Verification Code (TOTP)") && step1.has("I Have An App"));
    let start = b.post("/mfa/totp/setup", &[]).await;
    assert_eq!(start.location(), Some("/mfa/totp/setup/scan"));
    let scan = b.get("/mfa/totp/setup/scan").await;
    assert!(scan.has("data:image/png;base64,"), "QR code inline");
    assert_eq!(
        scan.headers.get("cache-control").unwrap(),
        "no-store",
        "the key page is not cached"
    );
    let key = between(&scan.body, "<code id=\"totp-key\">", "</code>")
        .expect("base32 key on the page")
        .to_string();
    assert!(key.len() >= 32 && key.chars().all(|c| c.is_ascii_alphanumeric()));
    let step3 = b.get("/mfa/totp/setup/confirm").await;
    assert!(step3.has("Activate"));
    key
}

async fn enrolled(k: &Kit) -> (Browser, String) {
    let mut b = k.signed_in().await;
    let key = enrol(&mut b).await;
    let done = b
        .post("/mfa/totp/setup/confirm", &[("code", &oath(&key, now()))])
        .await;
    assert_eq!(
        done.location(),
        Some("/security?done=totp-on#mfa"),
        "{}",
        done.body
    );
    (b, key)
}

fn session_cookie(b: &Browser) -> Option<String> {
    b.cookies
        .iter()
        .find(|(k, _)| k.ends_with("portcullis_session"))
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn totp_enrolment_and_sign_in_with_code() {
    let k = kit().await;
    let (mut first, key) = enrolled(&k).await;
    let security = first.get("/security").await;
    assert!(security.has("Remove authenticator app"));
    assert!(!security.has(&key), "the key is never shown again");
    let again = first.get("/mfa/totp/setup/scan").await;
    assert!(!again.has(&key), "nor on the enrolment page");

    // Stored sealed, not in clear; nothing secret in the audit trail.
    let user = k.demo_user().await;
    let row = k.idp.store.totp(&user.id).await.unwrap().unwrap();
    assert!(row.secret_sealed.starts_with("v1:") && !row.secret_sealed.contains(&key));
    assert!(row.activated_at.is_some());

    // Password step: no session, the app's code is asked for directly.
    let mut b = k.browser();
    let pw = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(pw.location(), Some("/login/mfa"), "{}", pw.body);
    assert!(
        session_cookie(&b).is_none(),
        "no session before the second factor"
    );
    let chooser = b.get("/login/mfa").await;
    assert_eq!(
        chooser.location(),
        Some("/login/mfa/totp"),
        "one method: straight to it"
    );
    let apps = b.get("/apps").await;
    assert_eq!(
        apps.location(),
        Some("/login/mfa"),
        "the portal is out of reach"
    );
    let form = b.get("/login/mfa/totp").await;
    assert!(form.has("Verify Your Identity") && form.has("Code from your authenticator app"));

    // Wrong codes: garbage, a code from an hour ago, a code from two steps ago.
    for (code, why) in [
        ("abcdef".to_string(), "not digits"),
        (oath(&key, now() - 3600), "an hour old"),
        (oath(&key, now() - 60), "two steps ago"),
    ] {
        let res = b.post("/login/mfa/totp", &[("code", &code)]).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(res.has("That code is not correct."), "{why}");
        assert!(session_cookie(&b).is_none(), "{why}");
    }

    // The enrolment used the current step; the next step's code is accepted.
    let code = oath(&key, now() + 30);
    let ok = b.post("/login/mfa/totp", &[("code", &code)]).await;
    assert_eq!(ok.location(), Some("/apps"), "{}", ok.body);
    let token = session_cookie(&b).expect("session after the second factor");
    assert!(
        !b.cookies.keys().any(|c| c.ends_with("portcullis_mfa")),
        "the pending cookie is gone"
    );
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
    let session = k
        .idp
        .resume(Presented::Token(&token), now())
        .await
        .unwrap()
        .unwrap()
        .session;
    assert_eq!(session.amr, vec!["pwd", "otp", "mfa"]);
    assert!(session.mfa_at.is_some_and(|t| t >= session.auth_time));

    // The same code again, from another browser: refused as a replay.
    let mut c = k.browser();
    assert_eq!(
        c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/login/mfa")
    );
    c.get("/login/mfa/totp").await;
    let replay = c.post("/login/mfa/totp", &[("code", &code)]).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(replay.has("That code was already used."));
    assert!(session_cookie(&c).is_none());
    // And the code of the enrolment step, earlier still, is refused too.
    let older = c
        .post("/login/mfa/totp", &[("code", &oath(&key, now()))])
        .await;
    assert_eq!(older.status, StatusCode::UNAUTHORIZED);

    let events = k.audit_events().await;
    for e in [
        ("mfa.totp.enrol", "success"),
        ("mfa.totp.verify", "success"),
        ("mfa.totp.verify", "failure"),
        ("signin.password", "success"),
    ] {
        assert!(events.contains(&(e.0.into(), e.1.into())), "{e:?}");
    }
    for row in k.idp.store.recent_audit(1000).await.unwrap() {
        assert!(
            !row.detail.contains(&key) && !row.detail.contains(&code),
            "{row:?}"
        );
    }
}

#[tokio::test]
async fn wrong_confirmation_code_leaves_totp_inactive() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    let key = enrol(&mut b).await;
    for code in [oath(&key, now() - 3600), "12345".into(), "".into()] {
        let res = b.post("/mfa/totp/setup/confirm", &[("code", &code)]).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.has("That code did not match."));
    }
    let user = k.demo_user().await;
    assert!(!k.idp.factors(&user.id).await.unwrap().totp);
    assert!(b.get("/security").await.has("Set up authenticator app"));
    // Sign-in still needs only the password.
    let mut c = k.browser();
    assert_eq!(
        c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
    assert!(
        k.audit_events()
            .await
            .contains(&("mfa.totp.enrol".into(), "failure".into()))
    );
}

#[tokio::test]
async fn lockout_counts_password_and_code_failures_together() {
    let k = kit().await;
    let (_, key) = enrolled(&k).await;
    // In hard mode wrong passwords and codes share one count; in progressive
    // mode (below) codes alone lock.
    k.set("lockout.mode", "hard").await;
    k.set("lockout.threshold", "3").await;
    let mut b = k.browser();
    // One wrong password...
    let wrong = b.sign_in(DEMO_EMAIL, "Wrong-Passw0rd!").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // ...then the right one does not clear the count while a code is due...
    let pw = b
        .post("/login/password", &[("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(pw.location(), Some("/login/mfa"));
    b.get("/login/mfa/totp").await;
    let bad = oath(&key, now() - 3600);
    let second = b.post("/login/mfa/totp", &[("code", &bad)]).await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED);
    // ...and the third failure, a wrong code, locks the account.
    let third = b.post("/login/mfa/totp", &[("code", &bad)]).await;
    assert_eq!(third.status, StatusCode::FORBIDDEN);
    assert!(third.has("Account locked"));
    assert!(k.demo_user().await.locked.is_some());
    assert!(session_cookie(&b).is_none());
    // Even a right code now changes nothing.
    let late = b
        .post("/login/mfa/totp", &[("code", &oath(&key, now() + 30))])
        .await;
    assert_eq!(late.location(), Some("/login"), "the pending sign-in ended");
    assert!(session_cookie(&b).is_none());
    let relogin = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(relogin.has("This account is locked after too many failed attempts."));
    assert!(
        k.audit_events()
            .await
            .contains(&("account.locked".into(), "success".into()))
    );
}

#[tokio::test]
async fn in_progressive_mode_codes_still_lock_and_empty_codes_count_nothing() {
    let k = kit().await;
    let (_, key) = enrolled(&k).await;
    k.idp
        .new_recovery_codes(&k.demo_user().await, None)
        .await
        .unwrap();
    k.set("lockout.threshold", "2").await;
    let mut b = k.browser();
    let pw = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(pw.location(), Some("/login/mfa"));
    b.get("/login/mfa/totp").await;
    // Stray Enters: a validation message each, nothing counted (issue 18).
    for empty in ["", "  ", "", ""] {
        let p = b.post("/login/mfa/totp", &[("code", empty)]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{empty:?}");
        assert!(p.has("Enter the code your authenticator app shows."));
    }
    b.get("/login/mfa/recovery").await;
    let p = b.post("/login/mfa/recovery", &[("code", " ")]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.has("Enter one of your recovery codes."));
    assert_eq!(k.demo_user().await.failed_attempts, 0);
    // Wrong codes (the password is known here) lock at the threshold even
    // in progressive mode: the seed's limited verification attempts.
    b.get("/login/mfa/totp").await;
    let bad = oath(&key, now() - 3600);
    let first = b.post("/login/mfa/totp", &[("code", &bad)]).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    assert!(k.demo_user().await.locked.is_none());
    let second = b.post("/login/mfa/totp", &[("code", &bad)]).await;
    assert_eq!(second.status, StatusCode::FORBIDDEN);
    assert!(k.demo_user().await.locked.is_some());
}

#[tokio::test]
async fn forced_enrolment_cannot_be_bypassed() {
    let k = kit().await;
    k.set("mfa.policy", "required").await;
    let mut b = k.browser();
    let pw = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(pw.location(), Some("/mfa/totp/setup"), "{}", pw.body);
    assert!(session_cookie(&b).is_none());
    let app_id = k.idp.store.list_applications().await.unwrap()[0].id.clone();
    for path in [
        "/apps".to_string(),
        "/profile".into(),
        "/security".into(),
        "/login/notice".into(),
        format!("/apps/{app_id}/launch"),
        "/login/mfa".into(),
        "/login/mfa/totp".into(),
    ] {
        let res = b.get(&path).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.location(), Some("/mfa/totp/setup"), "{path}");
    }
    // Forms of signed-in pages are refused as well.
    b.get("/mfa/totp/setup").await;
    let post = b
        .post(
            "/security/api-keys",
            &[("name", "x"), ("expires_days", "30")],
        )
        .await;
    assert_eq!(post.location(), Some("/mfa/totp/setup"));
    assert!(
        k.idp
            .store
            .api_keys(&k.demo_user().await.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Enrolment is the way through, and ends in a session.
    let key = enrol(&mut b).await;
    let step = b.get("/mfa/totp/setup").await;
    assert!(step.has("Your organization requires a second sign-in step."));
    b.post("/mfa/totp/setup", &[]).await;
    let scan = b.get("/mfa/totp/setup/scan").await;
    let key2 = between(&scan.body, "<code id=\"totp-key\">", "</code>").unwrap();
    assert_ne!(key, key2, "starting again makes a new secret");
    let bad = b
        .post("/mfa/totp/setup/confirm", &[("code", &oath(&key, now()))])
        .await;
    assert_eq!(
        bad.status,
        StatusCode::BAD_REQUEST,
        "the old secret is gone"
    );
    assert!(session_cookie(&b).is_none());
    let done = b
        .post("/mfa/totp/setup/confirm", &[("code", &oath(key2, now()))])
        .await;
    assert_eq!(done.location(), Some("/apps"), "{}", done.body);
    assert!(session_cookie(&b).is_some());
    assert_eq!(b.get("/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn required_for_listed_groups_only() {
    let k = kit().await;
    k.set("mfa.policy", "required").await;
    k.set("mfa.required_groups", "admins").await;
    let mut b = k.browser();
    assert_eq!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps"),
        "the demo user is not in the listed group"
    );
    let g = k.idp.store.create_group("admins", now()).await.unwrap();
    k.idp
        .store
        .add_member(&g.id, &k.demo_user().await.id)
        .await
        .unwrap();
    let mut c = k.browser();
    assert_eq!(
        c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/mfa/totp/setup")
    );
}

#[tokio::test]
async fn policy_off_skips_the_second_step_and_hides_enrolment() {
    let k = kit().await;
    enrolled(&k).await;
    k.set("mfa.policy", "off").await;
    let mut b = k.browser();
    assert_eq!(
        b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
    assert!(!b.get("/security").await.has("Multi-Factor Authentication"));
    assert_eq!(b.get("/mfa/totp/setup").await.status, StatusCode::FORBIDDEN);
    assert!(
        idp::settings::Settings::set(&k.idp.store, "mfa.policy", "sometimes")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn removal_requires_password_or_current_code() {
    let k = kit().await;
    let (mut b, key) = enrolled(&k).await;
    b.get("/security").await;
    for fields in [
        vec![],
        vec![("password", "Wrong-Passw0rd!")],
        vec![("code", "123")],
    ] {
        let res = b.post("/security/totp/remove", &fields).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(res.has("The authenticator app was not removed"));
    }
    let user = k.demo_user().await;
    assert!(k.idp.factors(&user.id).await.unwrap().totp);
    // A current code works (the enrolment step is spent; use the next one).
    let ok = b
        .post(
            "/security/totp/remove",
            &[("code", &oath(&key, now() + 30))],
        )
        .await;
    assert_eq!(ok.location(), Some("/security?done=totp-removed#mfa"));
    assert!(!k.idp.factors(&user.id).await.unwrap().totp);

    // And so does the password.
    let key = enrol(&mut b).await;
    b.post("/mfa/totp/setup/confirm", &[("code", &oath(&key, now()))])
        .await;
    b.get("/security").await;
    let ok = b
        .post("/security/totp/remove", &[("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(ok.location(), Some("/security?done=totp-removed#mfa"));
    let events = k.audit_events().await;
    assert!(events.contains(&("mfa.totp.remove".into(), "failure".into())));
    assert!(events.contains(&("mfa.totp.remove".into(), "success".into())));
}

#[tokio::test]
async fn recovery_codes_single_use_and_the_chooser() {
    let k = kit().await;
    let (mut b, _key) = enrolled(&k).await;
    let sec = b.get("/security").await;
    assert!(sec.has("0 unused recovery codes."));
    let page = b.post("/security/recovery-codes", &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    let list = between(
        &page.body,
        "<ul class=\"codes\" id=\"recovery-codes\">",
        "</ul>",
    )
    .unwrap();
    let codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(page.has("10 unused recovery codes."));
    // Stored hashed only.
    let user = k.demo_user().await;
    for (_, h) in k.idp.store.unused_recovery_codes(&user.id).await.unwrap() {
        assert!(!codes.iter().any(|c| h.contains(c.as_str())));
    }
    assert!(!b.get("/security").await.has(&codes[0]), "shown once");

    // Two methods now: the chooser, app first (neither used yet at sign-in).
    let mut c = k.browser();
    assert_eq!(
        c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/login/mfa")
    );
    let chooser = c.get("/login/mfa").await;
    assert!(chooser.has("Verify Your Identity"));
    let app = chooser.body.find("choose-totp").unwrap();
    let rec = chooser.body.find("choose-recovery").unwrap();
    assert!(app < rec, "the app comes first");
    c.get("/login/mfa/recovery").await;
    let ok = c
        .post("/login/mfa/recovery", &[("code", &codes[3].to_lowercase())])
        .await;
    assert_eq!(ok.location(), Some("/apps"), "{}", ok.body);
    assert!(c.get("/security").await.has("9 unused recovery codes."));

    // The used code is gone; the chooser now lists recovery codes first.
    let mut d = k.browser();
    d.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    let chooser = d.get("/login/mfa").await;
    assert!(
        chooser.body.find("choose-recovery").unwrap() < chooser.body.find("choose-totp").unwrap()
    );
    d.get("/login/mfa/recovery").await;
    let again = d.post("/login/mfa/recovery", &[("code", &codes[3])]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.has("That recovery code is not correct or was already used."));
    assert!(
        k.audit_events()
            .await
            .contains(&("mfa.recovery.used".into(), "success".into()))
    );
}

#[tokio::test]
async fn pending_cookie_is_not_a_session_and_cannot_be_forged() {
    let k = kit().await;
    enrolled(&k).await;
    let mut b = k.browser();
    b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    let pending = b
        .cookies
        .iter()
        .find(|(k, _)| k.ends_with("portcullis_mfa"))
        .map(|(_, v)| v.clone())
        .unwrap();
    // Presented as a session cookie, it is nothing.
    let mut forged = k.browser();
    forged
        .cookies
        .insert("__Host-portcullis_session".into(), pending.clone());
    assert_eq!(
        forged.get("/apps").await.location(),
        Some("/login?return_to=%2Fapps")
    );
    // Edited (enrol flag, user), its signature no longer matches.
    let mut edited = k.browser();
    let (body, tag) = pending.split_once('.').unwrap();
    let mut raw = body.to_string();
    raw.replace_range(0..1, if raw.starts_with('e') { "f" } else { "e" });
    edited
        .cookies
        .insert("__Host-portcullis_mfa".into(), format!("{raw}.{tag}"));
    assert_eq!(edited.get("/login/mfa").await.location(), Some("/login"));
}

#[tokio::test]
async fn admin_reset_removes_factors_and_sessions() {
    let k = kit().await;
    let (mut b, _) = enrolled(&k).await;
    b.post("/security/recovery-codes", &[]).await;
    let removed = idp::admin::users::reset_mfa(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(removed, 11);
    let user = k.demo_user().await;
    let f = k.idp.factors(&user.id).await.unwrap();
    assert!(!f.totp && f.recovery_left == 0);
    assert_eq!(
        b.get("/apps").await.status,
        StatusCode::SEE_OTHER,
        "sessions ended"
    );
    assert!(
        k.audit_events()
            .await
            .contains(&("admin.user.reset_mfa".into(), "success".into()))
    );
    // Under a required policy the next sign-in enrols again.
    k.set("mfa.policy", "required").await;
    let mut c = k.browser();
    assert_eq!(
        c.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/mfa/totp/setup")
    );
}

#[tokio::test]
async fn webauthn_endpoints_refuse_bad_input_and_change_nothing() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    let sec = b.get("/security").await;
    assert!(sec.has("Security keys and passkeys") && sec.has("Register security key"));
    let js = b.get("/static/webauthn.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("navigator.credentials.create"));

    // Start answers the browser's options for a discoverable credential.
    let start = b.post("/security/webauthn/register/start", &[]).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let v: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    let ceremony = v["ceremony"].as_str().unwrap().to_string();
    let pk = &v["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "portal.localhost");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");

    // A forged answer is refused, and the ceremony is spent by the attempt.
    for (c, name, cred) in [
        (ceremony.as_str(), "Key", "{\"id\":\"x\"}"),
        (ceremony.as_str(), "Key", "not json"),
        ("no-such-ceremony", "Key", "{}"),
        ("whatever", "", "{}"),
    ] {
        let res = b
            .post(
                "/security/webauthn/register/finish",
                &[("ceremony", c), ("name", name), ("credential", cred)],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{c} {cred}");
        assert!(res.body.contains("\"error\""), "{}", res.body);
    }
    let user = k.demo_user().await;
    assert_eq!(k.idp.factors(&user.id).await.unwrap().webauthn, 0);

    // Without CSRF token the start is refused like any form.
    let raw = b.post_raw("/security/webauthn/register/start", &[]).await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN);
    // Someone else's (or no) key cannot be removed.
    let gone = b.post("/security/webauthn/nope/delete", &[]).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // The second-factor endpoints need a pending sign-in.
    let mut anon = k.browser();
    anon.get("/login").await;
    let res = anon.post("/login/mfa/webauthn/start", &[]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    // Passkey login with a forged answer: refused, no session.
    let start = anon.post("/login/passkey/start", &[]).await;
    assert_eq!(start.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    assert!(
        v["options"].get("mediation").is_none(),
        "a plain prompt, not autofill"
    );
    let res = anon
        .post(
            "/login/passkey/finish",
            &[
                ("ceremony", v["ceremony"].as_str().unwrap()),
                ("credential", "{}"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(session_cookie(&anon).is_none());
}

#[tokio::test]
async fn passkey_sessions_verify_again_after_the_interval() {
    let k = kit().await;
    let user = k.demo_user().await;
    let t = now();
    let amr = vec!["hwk".to_string(), "user".into(), "mfa".into()];
    let (fresh, _) = k
        .idp
        .sessions
        .create_with(&user.id, amr.clone(), None, t, Some(t), t)
        .await
        .unwrap();
    let (stale, _) = k
        .idp
        .sessions
        // auth_time stays after the password's last change, which alone
        // would end the session; only mfa_at is old.
        .create_with(&user.id, amr, None, t, Some(t - 13 * 3600), t)
        .await
        .unwrap();
    let (pwd, _) = k
        .idp
        .sessions
        .create_with(&user.id, vec!["pwd".into()], None, t, None, t)
        .await
        .unwrap();
    for (token, expect) in [
        (fresh, None),
        (stale, Some("/login?reverify=1&return_to=%2Fapps")),
        (pwd, None),
    ] {
        let mut b = k.browser();
        b.cookies
            .insert("__Host-portcullis_session".into(), token.clone());
        let res = b.get("/apps").await;
        assert_eq!(res.location(), expect, "{token}");
    }
    let mut b = k.browser();
    let page = b.get("/login?reverify=1").await;
    assert!(page.has("Verify with it again to continue."));
    assert!(page.has("Log in with passkey"));
}

#[test]
fn configurable_period_matches_oathtool() {
    // The seed product uses 60-second codes; oathtool computes them independently.
    let cfg = idp::config::MfaConfig {
        totp_period: 60,
        totp_skew: 0,
        ..Default::default()
    };
    let secret = idp::mfa::totp::new_secret();
    let key = idp::mfa::totp::base32(&secret);
    let t = 1_800_000_000;
    let out = Command::new("oathtool")
        .args([
            "--totp",
            "--time-step-size=60s",
            "-b",
            &key,
            "-N",
            &format!("@{t}"),
        ])
        .output()
        .unwrap();
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(
        idp::mfa::totp::matching_step(&secret, &cfg, &code, t).unwrap(),
        Some(t / 60)
    );
    assert_eq!(
        idp::mfa::totp::matching_step(&secret, &cfg, &code, t + 60).unwrap(),
        None,
        "no skew allowed: the next period refuses it"
    );
    assert_eq!(oath(&key, t).len(), 6);
}

#[tokio::test]
async fn failed_removal_attempts_count_toward_lockout() {
    let k = kit().await;
    let (mut b, _) = enrolled(&k).await;
    k.set("lockout.threshold", "2").await;
    b.get("/security").await;
    for _ in 0..2 {
        b.post("/security/totp/remove", &[("password", "Wrong-Passw0rd!")])
            .await;
    }
    assert!(k.demo_user().await.locked.is_some());
    assert_eq!(
        b.get("/security").await.status,
        StatusCode::SEE_OTHER,
        "sessions ended"
    );
    assert!(k.idp.factors(&k.demo_user().await.id).await.unwrap().totp);
}

#[tokio::test]
async fn the_second_factor_yields_a_new_session_id() {
    let k = kit().await;
    let (mut b, key) = enrolled(&k).await;
    let before = session_cookie(&b).expect("signed in after enrolment");
    // Signing in again in the same browser: the old session ends at the
    // password step, and no session exists until the code.
    let pw = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(pw.location(), Some("/login/mfa"));
    assert!(session_cookie(&b).is_none());
    assert!(
        k.idp
            .resume(Presented::Token(&before), now())
            .await
            .unwrap()
            .is_err()
    );
    b.get("/login/mfa/totp").await;
    let ok = b
        .post("/login/mfa/totp", &[("code", &oath(&key, now() + 30))])
        .await;
    assert_eq!(ok.location(), Some("/apps"));
    let after = session_cookie(&b).unwrap();
    assert_ne!(before, after);
    // A fresh CSRF secret comes with the new session.
    assert!(
        ok.set_cookies()
            .iter()
            .any(|c| c.contains("portcullis_csrf="))
    );
}

/// A pending-sign-in cookie as the portal would seal it (the tests hold the key).
fn pending_cookie(k: &Kit, uid: &str, auth_time: i64, exp: i64) -> String {
    let body = idp::crypto::b64url(
        serde_json::json!({
            "uid": uid, "enrol": false, "auth_time": auth_time, "return_to": null, "exp": exp
        })
        .to_string()
        .as_bytes(),
    );
    let tag = idp::crypto::b64url(&k.idp.keys.mac("mfa-pending", body.as_bytes()));
    format!("{body}.{tag}")
}

#[tokio::test]
async fn pending_sign_in_expires_and_dies_with_a_password_change() {
    let k = kit().await;
    let (_, key) = enrolled(&k).await;
    let user = k.demo_user().await;
    let t = now();
    let open = |cookie: String| {
        let mut b = k.browser();
        b.cookies.insert("__Host-portcullis_mfa".into(), cookie);
        b
    };
    // Well formed and current: the chooser sends it to the app's code form.
    let mut ok = open(pending_cookie(&k, &user.id, t, t + 60));
    assert_eq!(
        ok.get("/login/mfa").await.location(),
        Some("/login/mfa/totp")
    );
    // Expired: back to the start, and a right code changes nothing.
    let mut old = open(pending_cookie(&k, &user.id, t - 700, t - 100));
    assert_eq!(old.get("/login/mfa").await.location(), Some("/login"));
    let mut old = open(pending_cookie(&k, &user.id, t - 700, t - 100));
    old.get("/login").await;
    let res = old
        .post("/login/mfa/totp", &[("code", &oath(&key, t + 30))])
        .await;
    assert_eq!(res.location(), Some("/login"));
    assert!(session_cookie(&old).is_none());
    // Password changed after the password step: the pending sign-in is void.
    k.idp
        .store
        .set_password_changed_at(&user.id, t + 5)
        .await
        .unwrap();
    let mut stale = open(pending_cookie(&k, &user.id, t, t + 60));
    assert_eq!(stale.get("/login/mfa").await.location(), Some("/login"));
}

#[tokio::test]
async fn forced_enrolment_has_a_way_out() {
    let k = kit().await;
    k.set("mfa.policy", "required").await;
    let mut b = k.browser();
    let pw = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(pw.location(), Some("/mfa/totp/setup"));
    for path in ["/mfa/totp/setup", "/mfa/totp/setup/confirm"] {
        if path.ends_with("confirm") {
            b.post("/mfa/totp/setup", &[]).await;
        }
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.has(r#"action="/logout""#) && page.has("Sign out"),
            "{path}: no sign-out"
        );
        assert!(page.has("Sign in as someone else"), "{path}");
    }
    // Signing out ends the held-back sign-in: enrolment is no longer reachable.
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
        "{:?}",
        out.set_cookies()
    );
    let after = b.get("/mfa/totp/setup").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(
        after.location().unwrap().starts_with("/login"),
        "{:?}",
        after.location()
    );
}

#[tokio::test]
async fn removing_a_security_key_asks_and_needs_a_fresh_proof() {
    let k = kit().await;
    let mut b = k.signed_in().await;
    let user = k.demo_user().await;
    let id = k
        .idp
        .store
        .add_webauthn_key(&user.id, "Blue USB key", "cred-1", "{}", now())
        .await
        .unwrap();
    b.get("/security").await;
    let path = format!("/security/webauthn/{id}/delete");
    let left = |k: &support::Kit| {
        let idp = k.idp.clone();
        let uid = user.id.clone();
        async move { idp.store.webauthn_keys(&uid).await.unwrap().len() }
    };

    // One press is a question, not a removal.
    let ask = b.post(&path, &[]).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.has("Remove this security key?") && ask.has("Blue USB key"));
    assert!(ask.has(r#"name="password""#), "a proof is asked for");
    assert_eq!(left(&k).await, 1);

    // Confirmed without a proof, or with a wrong one: refused, nothing removed,
    // and a wrong password counts like a failed sign-in.
    let bare = b.post(&path, &[("confirm", "yes")]).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);
    assert!(bare.has("The key was not removed"));
    let wrong = b
        .post(
            &path,
            &[("confirm", "yes"), ("password", "Wrong-Passw0rd!")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.has(r#"aria-invalid="true""#));
    assert_eq!(left(&k).await, 1);
    assert_eq!(k.demo_user().await.failed_attempts, 1);
    assert!(
        k.audit_events()
            .await
            .contains(&("mfa.webauthn.remove".into(), "failure".into()))
    );

    let done = b
        .post(&path, &[("confirm", "yes"), ("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(done.location(), Some("/security?done=key-removed#mfa"));
    assert_eq!(left(&k).await, 0);
    // Gone now, and never someone else's.
    let again = b
        .post(&path, &[("confirm", "yes"), ("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}
