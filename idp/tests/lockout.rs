//! Failed sign-ins under attack (issue 14 defect 5): per account and source
//! delays that lift by themselves, the administrator's hard lock, per address
//! and per subnet limits answered with 429 and `Retry-After`, the same answer
//! for unknown emails, and empty passwords that count nothing (issue 18).
//! Each runs on SQLite, or on PostgreSQL with PORTCULLIS_TEST_DATABASE=postgres.

mod support;

use axum::http::{StatusCode, header};
use idp::sign_in::SignIn;
use support::{DEMO_EMAIL, DEMO_PASSWORD, Kit, Page, kit};

const WRONG: &str = "Wrong-Passw0rd!";
const ATTACKER: &str = "203.0.113.7";
const OWNER: &str = "198.51.100.20";

fn retry_after(p: &Page) -> Option<i64> {
    p.headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn signed_in(p: &Page) -> bool {
    p.set_cookies()
        .iter()
        .any(|c| c.contains("portcullis_session=") && !c.contains("Max-Age=0"))
}

/// The page without what legitimately differs: the CSRF token, the email
/// the visitor typed, and the wait in words (read a second later, "1
/// minute" is "59 seconds").
fn normalised(p: &Page, email: &str) -> String {
    let mut body = p.body.replace(email, "EMAIL");
    if let Some(i) = body.find("Wait ")
        && let Some(j) = body[i..].find(" before")
    {
        body.replace_range(i..i + j, "Wait WAIT");
    }
    body.lines()
        .filter(|l| !l.contains("csrf"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn add_users(k: &Kit, n: usize) -> Vec<String> {
    let mut emails = Vec::new();
    for i in 0..n {
        let email = format!("user{i}@example.com");
        idp::admin::users::add(
            &k.idp,
            &support::admin_actor(),
            idp::admin::users::NewUser {
                email: email.clone(),
                first_name: "User".into(),
                last_name: format!("Number{i}"),
                password: Some(DEMO_PASSWORD.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        emails.push(email);
    }
    emails
}

#[tokio::test]
async fn an_attacker_address_gets_429_while_the_owner_signs_in_and_resets_elsewhere() {
    let k = kit().await;
    let mut attacker = k.browser_from(ATTACKER);
    for i in 0..5 {
        let p = attacker.sign_in(DEMO_EMAIL, WRONG).await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(p.has("Incorrect email or password."));
        assert_eq!(retry_after(&p), None);
    }
    // The threshold reached, this source waits; the page says how long.
    let p = attacker.sign_in(DEMO_EMAIL, WRONG).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&p).expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    let words = if wait == 60 {
        "1 minute".to_string()
    } else {
        format!("{wait} seconds")
    };
    assert!(
        p.has(&format!(
            "Too many failed sign-in attempts. Wait {words} before you try again."
        )),
        "{}",
        p.body
    );
    assert!(p.has("<form"), "still the sign-in page");
    // Even the right password is not checked from the delayed source.
    let p = attacker.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!signed_in(&p));

    // The owner, from another address, is not locked out.
    let mut owner = k.browser_from(OWNER);
    let p = owner.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(p.location(), Some("/apps"), "{}", p.body);
    assert!(k.demo_user().await.locked.is_none());
    // ...nor from resetting.
    let mut owner = k.browser_from(OWNER);
    owner.get("/password/reset").await;
    let r = owner
        .post("/password/reset", &[("email", DEMO_EMAIL)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // And the attacker's own delay is still in force.
    let p = attacker.sign_in(DEMO_EMAIL, WRONG).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_progressive_delay_lifts_by_itself_and_grows() {
    let k = kit().await;
    k.set("lockout.threshold", "3").await;
    k.set("lockout.delay", "30s").await;
    let (idp, ip) = (&k.idp, Some(ATTACKER));
    let t0 = idp::clock::now();
    for _ in 0..3 {
        let r = idp.sign_in_at(DEMO_EMAIL, WRONG, ip, t0).await.unwrap();
        assert!(matches!(r, SignIn::Invalid), "{r:?}");
    }
    // Delayed for the configured 30 s: even the right password waits.
    let r = idp
        .sign_in_at(DEMO_EMAIL, DEMO_PASSWORD, ip, t0 + 29)
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Throttled { retry_after: 1 }), "{r:?}");
    // Lifted by itself after the interval; the next failure doubles it.
    let r = idp
        .sign_in_at(DEMO_EMAIL, WRONG, ip, t0 + 30)
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Invalid), "{r:?}");
    let r = idp
        .sign_in_at(DEMO_EMAIL, DEMO_PASSWORD, ip, t0 + 30 + 59)
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Throttled { retry_after: 1 }), "{r:?}");
    let r = idp
        .sign_in_at(DEMO_EMAIL, DEMO_PASSWORD, ip, t0 + 30 + 60)
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Success { .. }), "{r:?}");
    assert!(k.demo_user().await.locked.is_none(), "never a hard lock");
    // The right password cleared this source's count: a fresh budget.
    let t1 = t0 + 100;
    for _ in 0..2 {
        let r = idp.sign_in_at(DEMO_EMAIL, WRONG, ip, t1).await.unwrap();
        assert!(matches!(r, SignIn::Invalid), "{r:?}");
    }
    let r = idp
        .sign_in_at(DEMO_EMAIL, DEMO_PASSWORD, ip, t1)
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Success { .. }), "{r:?}");
}

#[tokio::test]
async fn hard_mode_locks_at_the_admins_threshold() {
    let k = kit().await;
    k.set("lockout.mode", "hard").await;
    k.set("lockout.threshold", "3").await;
    let mut attacker = k.browser_from(ATTACKER);
    for _ in 0..2 {
        attacker.sign_in(DEMO_EMAIL, WRONG).await;
    }
    assert!(k.demo_user().await.locked.is_none(), "below the threshold");
    let third = attacker.sign_in(DEMO_EMAIL, WRONG).await;
    assert_eq!(third.status, StatusCode::UNAUTHORIZED);
    assert!(
        third.has("Incorrect email or password."),
        "the lock is not told to a guesser"
    );
    assert!(k.demo_user().await.locked.is_some());
    // The seed's lock: the right password, from anywhere, meets it.
    let mut owner = k.browser_from(OWNER);
    let p = owner.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(p.has("This account is locked after too many failed attempts. Reset your password (Reset User Password) to unlock it, or ask your administrator to unlock it."), "{}", p.body);
    assert!(p.location().is_none());
    assert!(
        k.audit_events()
            .await
            .contains(&("account.locked".into(), "success".into()))
    );
    // No time lifts it; an administrator does.
    let later = idp::clock::now() + 7 * 86_400;
    let r = k
        .idp
        .sign_in_at(DEMO_EMAIL, DEMO_PASSWORD, Some(OWNER), later)
        .await
        .unwrap();
    assert!(
        matches!(
            r,
            SignIn::Locked(idp::directory::LockReason::FailedAttempts)
        ),
        "{r:?}"
    );
    idp::admin::users::unlock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert_eq!(
        owner.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await.location(),
        Some("/apps")
    );
}

#[tokio::test]
async fn unknown_and_known_emails_get_the_same_answers_and_both_count() {
    for mode in ["progressive", "hard"] {
        let k = kit().await;
        k.set("lockout.mode", mode).await;
        let ghost = "ghost@example.com";
        let mut a = k.browser_from("203.0.113.10");
        let mut b = k.browser_from("203.0.113.11");
        let mut statuses = Vec::new();
        for i in 0..7 {
            let known = a.sign_in(DEMO_EMAIL, WRONG).await;
            let unknown = b.sign_in(ghost, WRONG).await;
            assert_eq!(known.status, unknown.status, "{mode}: attempt {i}");
            // Equal up to the second that may tick between the two requests.
            match (retry_after(&known), retry_after(&unknown)) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1, "{mode}: {i}: {x} {y}"),
                (x, y) => assert_eq!(x, y, "{mode}: {i}"),
            }
            assert_eq!(
                normalised(&known, DEMO_EMAIL),
                normalised(&unknown, ghost),
                "{mode}: attempt {i}"
            );
            statuses.push(known.status);
        }
        let expected_429 = mode == "progressive";
        assert_eq!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            expected_429,
            "{mode}: {statuses:?}"
        );
    }

    // Both count toward the account-wide bar for distributed guessing too:
    // one failure each from many addresses, then the account waits.
    let k = kit().await;
    k.set("lockout.account_threshold", "4").await;
    for email in [DEMO_EMAIL, "ghost@example.com"] {
        for i in 1..=4 {
            let p = k
                .browser_from(&format!("192.0.2.{i}"))
                .sign_in(email, WRONG)
                .await;
            assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{email} {i}");
        }
        let p = k.browser_from("198.18.0.1").sign_in(email, WRONG).await;
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
    }
}

#[tokio::test]
async fn the_password_step_costs_the_same_for_unknown_emails() {
    let k = kit().await;
    // Each sample from a fresh address, so no delay is involved; several
    // rounds interleaved, so machine load hits both alike.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut n = 0;
    for _ in 0..8 {
        for (email, into) in [
            (DEMO_EMAIL, &mut known),
            ("ghost@example.com", &mut unknown),
        ] {
            n += 1;
            let ip = format!("198.51.100.{n}");
            let t = std::time::Instant::now();
            let r = k.idp.sign_in(email, WRONG, Some(&ip)).await.unwrap();
            into.push(t.elapsed());
            assert!(matches!(r, SignIn::Invalid));
        }
    }
    known.sort();
    unknown.sort();
    let (mk, mu) = (known[4].as_secs_f64(), unknown[4].as_secs_f64());
    // Both hash once; a missing hash (an early answer) would be many times
    // faster. The bound is loose because the test machine is shared.
    assert!(
        mu > mk * 0.5 && mk > mu * 0.5,
        "known {mk:.4}s, unknown {mu:.4}s"
    );
}

#[tokio::test]
async fn a_spray_from_one_address_meets_the_address_limit_before_any_lock() {
    let k = kit().await;
    // The strictest setting: the administrator's hard lock at 5.
    k.set("lockout.mode", "hard").await;
    let emails = add_users(&k, 30).await;
    let mut sprayer = k.browser_from(ATTACKER);
    let mut statuses = Vec::new();
    // A spray: one password over every account, then the next password.
    for round in 0..5 {
        for email in &emails {
            let p = sprayer
                .sign_in(email, &format!("Spring-2026-{round}!"))
                .await;
            statuses.push(p.status);
        }
    }
    let first = statuses
        .iter()
        .position(|s| *s == StatusCode::TOO_MANY_REQUESTS)
        .expect("a 429");
    assert_eq!(first, 20, "the default address budget is 20 failures");
    assert!(
        statuses[first..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    for email in &emails {
        let u = k.idp.user_by_email(email).await.unwrap();
        assert!(u.locked.is_none(), "{email} was locked");
    }
    // Another address, even the same user's, is not affected.
    let p = k
        .browser_from(OWNER)
        .sign_in(&emails[0], DEMO_PASSWORD)
        .await;
    assert_eq!(p.location(), Some("/apps"), "{}", p.body);
}

#[tokio::test]
async fn subnet_limits_catch_rotating_addresses_v4_and_v6() {
    let k = kit().await;
    k.set("lockout.subnet_threshold", "6").await;
    for (same, rotated, other) in [
        ("203.0.113.", "203.0.113.99", "203.0.114.5"),
        ("2001:db8:0:1::", "2001:db8:0:1:ffff::1", "2001:db8:0:2::1"),
    ] {
        for i in 1..=6 {
            let p = k
                .browser_from(&format!("{same}{i}"))
                .sign_in(&format!("victim{i}@example.com"), WRONG)
                .await;
            assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{same}{i}");
        }
        let p = k
            .browser_from(rotated)
            .sign_in("fresh@example.com", WRONG)
            .await;
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{rotated}");
        assert!(retry_after(&p).is_some());
        let p = k
            .browser_from(other)
            .sign_in("fresh@example.com", WRONG)
            .await;
        assert_eq!(
            p.status,
            StatusCode::UNAUTHORIZED,
            "{other}: another subnet"
        );
    }
}

#[tokio::test]
async fn an_empty_password_is_a_validation_message_and_counts_nothing() {
    let k = kit().await;
    k.set("lockout.mode", "hard").await;
    k.set("lockout.threshold", "2").await;
    let mut b = k.browser_from(ATTACKER);
    for pw in ["", " ", "   \t", "", ""] {
        let p = b.sign_in(DEMO_EMAIL, pw).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{pw:?}");
        assert!(p.has("Enter your password."), "{}", p.body);
        assert!(!p.has("Incorrect email or password."));
    }
    let u = k.demo_user().await;
    assert_eq!(u.failed_attempts, 0);
    assert!(u.locked.is_none());
    // Nothing in the throttle either (progressive counters).
    k.set("lockout.mode", "progressive").await;
    for _ in 0..10 {
        b.sign_in(DEMO_EMAIL, "").await;
    }
    // Negative next to positive: a real wrong password does count.
    let p = b.sign_in(DEMO_EMAIL, WRONG).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    k.set("lockout.mode", "hard").await;
    b.sign_in(DEMO_EMAIL, WRONG).await;
    assert_eq!(k.demo_user().await.failed_attempts, 1);
    idp::admin::users::unlock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let p = b.sign_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(p.location(), Some("/apps"), "{}", p.body);
}

#[tokio::test]
async fn the_limits_are_shared_through_the_store() {
    // Two cores over one store stand for two instances.
    let k = kit().await;
    let other = idp::Idp::with_store(k.idp.config.clone(), k.idp.store.clone())
        .await
        .unwrap();
    for i in 0..5 {
        let idp = if i % 2 == 0 { &k.idp } else { &other };
        let r = idp
            .sign_in(DEMO_EMAIL, WRONG, Some(ATTACKER))
            .await
            .unwrap();
        assert!(matches!(r, SignIn::Invalid), "{r:?}");
    }
    let r = other
        .sign_in(DEMO_EMAIL, WRONG, Some(ATTACKER))
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Throttled { .. }), "{r:?}");
    let r = k
        .idp
        .sign_in(DEMO_EMAIL, DEMO_PASSWORD, Some(OWNER))
        .await
        .unwrap();
    assert!(matches!(r, SignIn::Success { .. }), "{r:?}");
}
