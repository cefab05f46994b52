//! What several instances sharing one database rely on, proven with two (or
//! more) independent stores — separate connection pools, as two processes
//! would have — on the same database: SQLite (a file) and a real PostgreSQL
//! server started by the test. Every race is run with concurrent callers and
//! must have exactly one winner.

mod support;

use std::sync::Arc;

use idp::store::{GrantRow, NewRefresh, NewUser, Spend, Store};
use idp::{Idp, IdpConfig};

/// Two stores over one fresh database of each engine. PostgreSQL is left out
/// only when PORTCULLIS_SKIP_POSTGRES=1.
async fn pairs() -> Vec<(&'static str, Store, Store, tempfile::TempDir)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    out.push(("sqlite", a, b, dir));
    if !support::pg::skipped() {
        let url = support::pg::fresh_database().await;
        let (a, b) = tokio::join!(Store::open(&url), Store::open(&url));
        out.push((
            "postgres",
            a.unwrap(),
            b.unwrap(),
            tempfile::tempdir().unwrap(),
        ));
    }
    out
}

async fn user(s: &Store, email: &str) -> String {
    s.create_user(
        &NewUser {
            email: email.into(),
            first_name: "F".into(),
            last_name: "L".into(),
            username: "u".into(),
            password_hash: None,
            admin_role: None,
        },
        1000,
    )
    .await
    .unwrap()
    .id
}

async fn grant(s: &Store, user_id: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    s.insert_grant(&GrantRow {
        id: id.clone(),
        client_id: "rp".into(),
        user_id: user_id.into(),
        session_hash: None,
        scope: "openid".into(),
        nonce: None,
        auth_time: 1000,
        amr: "pwd".into(),
        acr: None,
        created_at: 1000,
        expires_at: i64::MAX / 2,
        revoked_at: None,
    })
    .await
    .unwrap();
    id
}

/// Runs `n` calls of `f`, alternating between the two stores, all at once.
async fn race<T, F, Fut>(a: &Store, b: &Store, n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Store, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(f(s, i))
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_is_redeemed_once_across_instances() {
    for (engine, a, b, _dir) in pairs().await {
        let u = user(&a, "code@example.com").await;
        let g = grant(&a, &u).await;
        a.insert_code("codehash", &g, "rp", "https://rp/cb", None, i64::MAX / 2)
            .await
            .unwrap();
        let results = race(&a, &b, 8, |s, _| async move {
            s.redeem_code("codehash", 2000, None).await.unwrap()
        })
        .await;
        let fresh = results.iter().filter(|r| matches!(r, Spend::Fresh)).count();
        let replayed = results
            .iter()
            .filter(|r| matches!(r, Spend::Replayed { grant_id } if *grant_id == g))
            .count();
        assert_eq!((fresh, replayed), (1, 7), "{engine}");
        // Negative: a code never issued is unknown, not a replay.
        assert!(
            matches!(
                b.redeem_code("other", 2000, None).await.unwrap(),
                Spend::Unknown
            ),
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_refreshes_with_one_token_have_one_winner() {
    for (engine, a, b, _dir) in pairs().await {
        let u = user(&a, "refresh@example.com").await;
        let g = grant(&a, &u).await;
        a.insert_refresh("rt", &g, 1000, i64::MAX / 2)
            .await
            .unwrap();
        let results = race(&a, &b, 6, |s, i| async move {
            let next = NewRefresh {
                token_hash: format!("rt-next-{i}"),
                expires_at: i64::MAX / 2,
            };
            s.rotate_refresh("rt", 2000, Some(&next)).await.unwrap()
        })
        .await;
        let fresh = results.iter().filter(|r| matches!(r, Spend::Fresh)).count();
        assert_eq!(fresh, 1, "{engine}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Spend::Fresh | Spend::Replayed { .. })),
            "{engine}: the losers are told it was a reuse"
        );
        assert_eq!(
            b.refresh_token_grant("rt", 2000).await.unwrap(),
            None,
            "{engine}"
        );
        // The winner's successor was stored with its spend, and only that one.
        let mut successors = 0;
        for i in 0..6 {
            let hash = format!("rt-next-{i}");
            if a.refresh_token_grant(&hash, 2000).await.unwrap().is_some() {
                successors += 1;
            }
        }
        assert_eq!(successors, 1, "{engine}");
        // Negative: an unused token of a revoked family is worthless, and not a replay.
        a.insert_refresh("rt2", &g, 1000, i64::MAX / 2)
            .await
            .unwrap();
        assert!(a.revoke_grant(&g, 2000).await.unwrap());
        assert!(
            matches!(
                b.rotate_refresh("rt2", 2001, None).await.unwrap(),
                Spend::Revoked
            ),
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_links_work_once_and_reminders_go_once() {
    for (engine, a, b, _dir) in pairs().await {
        let u = user(&a, "reset@example.com").await;
        a.create_reset("th", &u, 1000, 5000).await.unwrap();
        let won = race(&a, &b, 6, |s, _| async move {
            s.consume_reset("th", 2000).await.unwrap()
        })
        .await;
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{engine}");
        // Negative: expired links are refused everywhere.
        a.create_reset("old", &u, 1000, 1500).await.unwrap();
        assert!(!b.consume_reset("old", 2000).await.unwrap(), "{engine}");

        let uid = u.clone();
        let claimed = race(&a, &b, 6, move |s, _| {
            let uid = uid.clone();
            async move { s.claim_expiry_reminder(&uid, 10_000, 86_400).await.unwrap() }
        })
        .await;
        assert_eq!(claimed.iter().filter(|c| **c).count(), 1, "{engine}");
        assert!(
            !a.claim_expiry_reminder(&u, 20_000, 86_400).await.unwrap(),
            "{engine}: same day"
        );
        assert!(
            b.claim_expiry_reminder(&u, 10_000 + 86_400, 86_400)
                .await
                .unwrap(),
            "{engine}: next day"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_attempts_and_rate_limits_count_every_instance() {
    for (engine, a, b, _dir) in pairs().await {
        let u = user(&a, "lock@example.com").await;
        let uid = u.clone();
        let mut counts = race(&a, &b, 20, move |s, _| {
            let uid = uid.clone();
            async move { s.record_failed_attempt(&uid).await.unwrap().unwrap() }
        })
        .await;
        counts.sort();
        assert_eq!(
            counts,
            (1..=20).collect::<Vec<i64>>(),
            "{engine}: no increment lost"
        );
        assert_eq!(b.user_by_id(&u).await.unwrap().unwrap().failed_attempts, 20);

        let mut hits = race(&a, &b, 10, |s, _| async move {
            s.hit_rate_limit("k", 1000, 60).await.unwrap()
        })
        .await;
        hits.sort();
        assert_eq!(hits, (1..=10).collect::<Vec<i64>>(), "{engine}");
        // The next window starts again at one; other keys are separate.
        assert_eq!(
            a.hit_rate_limit("k", 1061, 60).await.unwrap(),
            1,
            "{engine}"
        );
        assert_eq!(
            b.hit_rate_limit("other", 1000, 60).await.unwrap(),
            1,
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_failure_counters_and_delays_count_every_instance() {
    for (engine, a, b, _dir) in pairs().await {
        // An unknown id counts nothing but is no error (the unknown-email path).
        assert_eq!(
            a.record_failed_attempt("-").await.unwrap(),
            None,
            "{engine}"
        );
        let mut n = race(&a, &b, 20, |s, _| async move {
            s.signin_failure("k", 1000, 0).await.unwrap()
        })
        .await;
        n.sort();
        assert_eq!(n, (1..=20).collect::<Vec<i64>>(), "{engine}: none lost");
        // A delay set on one instance is seen on the other; a shorter one
        // set later by a concurrent failure does not cut it.
        b.signin_block("k", 1300).await.unwrap();
        a.signin_block("k", 1100).await.unwrap();
        let keys = ["k", "", "nope", ""];
        assert_eq!(
            a.signin_blocked_until(&keys, 1000).await.unwrap(),
            Some(1300)
        );
        assert_eq!(
            b.signin_blocked_until(&keys, 1300).await.unwrap(),
            None,
            "{engine}: lifted"
        );
        // Failures are forgotten after a quiet spell, then count from one.
        assert_eq!(
            a.signin_failure("k", 5000, 4000).await.unwrap(),
            1,
            "{engine}"
        );
        // Cleared on the other instance: gone for both.
        b.signin_clear("k").await.unwrap();
        assert_eq!(
            a.signin_failure("k", 5001, 4000).await.unwrap(),
            1,
            "{engine}"
        );
        assert_eq!(
            a.purge_signin_throttle(6000, 6000).await.unwrap(),
            1,
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_handshake_codes_are_shared_and_single_use() {
    for (engine, a, b, _dir) in pairs().await {
        let ha = idp::handoff::Handoffs::new(a.clone());
        let hb = Arc::new(idp::handoff::Handoffs::new(b.clone()));
        let now = idp::clock::now();
        let code = ha
            .issue(
                idp::handoff::Grant {
                    session: idp::session::SessionKey::of_token("tok"),
                    app: "wiki".into(),
                    state: "st".into(),
                },
                now,
            )
            .await
            .unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (hb, code) = (hb.clone(), code.clone());
                tokio::spawn(async move { hb.redeem(&code, "wiki", now).await.unwrap() })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            if let Some(g) = t.await.unwrap() {
                assert_eq!(g.session, idp::session::SessionKey::of_token("tok"));
                won += 1;
            }
        }
        assert_eq!(won, 1, "{engine}");
        assert_eq!(
            ha.redeem(&code, "wiki", now).await.unwrap(),
            None,
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ties_within_a_second_keep_their_order() {
    for (engine, a, b, _dir) in pairs().await {
        let u = user(&a, "order@example.com").await;
        for (i, s) in [&a, &b, &a, &b].into_iter().enumerate() {
            s.set_password_hash(&u, &format!("h{i}"), 5000)
                .await
                .unwrap();
        }
        assert_eq!(
            b.password_history(&u, 2).await.unwrap(),
            vec!["h3".to_string(), "h2".to_string()],
            "{engine}"
        );
        for event in ["first", "second", "third"] {
            a.insert_audit(&idp::store::AuditRow {
                at: 7000,
                event: event.into(),
                user_id: None,
                subject: None,
                source_ip: None,
                actor: None,
                outcome: "success".into(),
                detail: String::new(),
            })
            .await
            .unwrap();
        }
        let events: Vec<String> = b
            .recent_audit(3)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.event)
            .collect();
        assert_eq!(events, ["third", "second", "first"], "{engine}");
    }
}

fn config(dir: &std::path::Path) -> IdpConfig {
    let mut c = IdpConfig::for_data_dir(dir.to_path_buf());
    // Instances sharing a database share the master key.
    c.secrets.master_key = Some(idp::crypto::b64url(&[9u8; 32]));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rotated_on_one_instance_is_honoured_by_the_others() {
    for (engine, a, b, dir) in pairs().await {
        let ia = Idp::with_store(config(dir.path()), a).await.unwrap();
        let ib = Idp::with_store(config(dir.path()), b).await.unwrap();
        // Both caches warm, with the same keys.
        let before = ib.oidc_keys().await.unwrap().jwks();
        assert_eq!(ia.oidc_keys().await.unwrap().jwks(), before, "{engine}");

        let kid = idp::oidc::keys::rotate(
            &ia.store,
            &ia.keys.secret_box(),
            idp::oidc::keys::Alg::ES256,
            idp::clock::now(),
        )
        .await
        .unwrap();
        ia.reload_oidc_keys().await;
        let jwt = ia
            .oidc_keys()
            .await
            .unwrap()
            .sign(
                idp::oidc::keys::Alg::ES256,
                "JWT",
                &serde_json::json!({"sub": "x"}),
            )
            .unwrap();
        assert!(jwt.split('.').next().is_some());
        // B has not re-read its keys yet, yet verifies the new key's token.
        let (_, claims) = ib.verify_jwt(&jwt).await.unwrap().expect("verified at B");
        assert_eq!(claims["sub"], "x", "{engine}");
        assert!(
            ib.oidc_keys()
                .await
                .unwrap()
                .jwks()
                .to_string()
                .contains(&kid),
            "{engine}: B publishes the new key"
        );
        // Negative: a token under a kid nobody has stays refused.
        let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
        parts[0] = idp::crypto::b64url(br#"{"alg":"ES256","kid":"nope","typ":"JWT"}"#);
        assert!(
            ib.verify_jwt(&parts.join(".")).await.unwrap().is_none(),
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    if support::pg::skipped() {
        return;
    }
    let url = support::pg::fresh_database().await;
    let opened = futures_join(&url).await;
    assert!(opened.iter().all(Result::is_ok), "{opened:?}");
    let s = opened.into_iter().next().unwrap().unwrap();
    assert!(s.is_empty().await.unwrap());
    // Negative: a wrong password is not waited out; it fails at once.
    let bad = url.replace("portcullis@", "nobody@");
    assert!(Store::open(&bad).await.is_err());
}

async fn futures_join(url: &str) -> Vec<Result<Store, idp::Error>> {
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Start-up waits for a database that comes up late: the first attempts find
/// the port closed, then a relay to the real server opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn start_up_waits_for_a_late_database() {
    if support::pg::skipped() {
        return;
    }
    let real = support::pg::fresh_database().await;
    let real_url = url::Url::parse(&real).unwrap();
    let upstream = format!("127.0.0.1:{}", real_url.port().unwrap());
    // A free port, closed until the relay opens it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut late_url = real_url.clone();
    late_url.set_port(Some(port)).unwrap();
    let retry = idp::store::ConnectRetry {
        attempts: 40,
        delay: std::time::Duration::from_millis(100),
        attempt_timeout: std::time::Duration::from_secs(2),
    };
    let opening = tokio::spawn(async move { Store::open_with(late_url.as_str(), retry).await });
    // Sequencing only: let some attempts fail on the closed port first.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(!opening.is_finished(), "nothing to connect to yet");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    let store = opening
        .await
        .unwrap()
        .expect("opened once the database came up");
    assert!(store.is_empty().await.unwrap());
}
