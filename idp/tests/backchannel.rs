//! Back-channel logout when every session of a user ends (password change,
//! lock, MFA reset): one token per OP session for clients that need a
//! `sid`, one `sub`-only token for the others, delivered from the store's
//! outbox by whichever instance serves, with retries, exactly once.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use support::{Browser, DEMO_EMAIL, Kit, kit_with};
use tokio::sync::mpsc::UnboundedReceiver;

const SECRET: &str = "bcl-secret-5f1c0d9e7a3b2c4d6e8f0a1b2c3d4e5f";
const CB: &str = "https://wiki.example.com/callback";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const BACKOFF: i64 = 10;

fn sha(s: &str) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(s.as_bytes())))
}

/// A client with a back-channel logout URI; `strict` registers
/// `backchannel_logout_session_required`.
fn client(id: &str, uri: &str, strict: bool) -> idp::oidc::ClientConfig {
    serde_json::from_value(json!({
        "client_id": id,
        "client_secret_hash": sha(SECRET),
        "redirect_uris": [CB],
        "application": "Team Wiki",
        "backchannel_logout_uri": uri,
        "backchannel_logout_session_required": strict,
    }))
    .unwrap()
}

/// What the receiver saw: the logout token and the status it answered.
type Seen = (String, u16);

/// A real HTTP receiver on loopback: answers 500 to its first `fail_first`
/// requests, 200 after, and reports every request.
async fn receiver(fail_first: usize) -> (String, UnboundedReceiver<Seen>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            let count = count.clone();
            async move {
                assert_eq!(
                    headers[header::CONTENT_TYPE],
                    "application/x-www-form-urlencoded"
                );
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let status = if count.fetch_add(1, Ordering::SeqCst) < fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let _ = tx.send((token, status.as_u16()));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{}/bcl", addr.port()), rx)
}

/// Everything received so far. A delivery pass returns only once its
/// requests were answered, so after one this is complete, no waiting.
fn drain(rx: &mut UnboundedReceiver<Seen>) -> Vec<Seen> {
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

async fn next_seen(rx: &mut UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap()
}

/// Waits, up to a deadline, until the outbox is empty.
async fn outbox_drained(idp: &idp::Idp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !idp.store.queued_logouts().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox is still not empty"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn b64json(part: &str) -> Value {
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Verifies a logout token's signature and its form (Back-Channel Logout
/// 1.0, 2.4); returns its claims.
async fn logout_claims(k: &Kit, token: &str, aud: &str) -> Value {
    let header = b64json(token.split('.').next().unwrap());
    assert_eq!(header["typ"], "logout+jwt");
    // verify_jwt, not the cached key set: another instance may have made the
    // signing key a moment ago.
    let (_, c) = k.idp.verify_jwt(token).await.unwrap().unwrap();
    assert_eq!(c["iss"], "https://portal.localhost");
    assert_eq!(c["aud"], aud);
    assert_eq!(c["sub"], json!(k.demo_user().await.id));
    assert!(c["events"][EVENT].is_object(), "{c}");
    assert_eq!(c["events"].as_object().unwrap().len(), 1);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let iat = c["iat"].as_i64().unwrap();
    assert!((iat - idp::clock::now()).abs() < 30);
    assert!(c["exp"].as_i64().unwrap() > iat);
    assert!(c.get("nonce").is_none(), "a logout token has no nonce");
    c
}

/// Signs in (a new portal session), gets a code for `client_id` and
/// exchanges it; returns the ID token's `sid`.
async fn grant(k: &Kit, b: &mut Browser, client_id: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CB)
        .append_pair("scope", "openid")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1");
    let page = b.get(&format!("/oauth2/authorize?{}", q.finish())).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let code = url::Url::parse(page.location().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{SECRET}"))
    );
    let body = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
    ])
    .unwrap();
    let res = k
        .browser()
        .send(
            axum::http::Request::post("/oauth2/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, basic)
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let t: Value = serde_json::from_str(&res.body).unwrap();
    let id = t["id_token"].as_str().unwrap();
    b64json(id.split('.').nth(1).unwrap())["sid"]
        .as_str()
        .expect("the ID token names its session")
        .to_string()
}

/// A kit with a `strict` client (session required) and a `loose` one
/// (not), each with its own receiver.
async fn two_client_kit(
    strict_uri: &str,
    loose_uri: &str,
    adjust: impl FnOnce(&mut idp::IdpConfig),
) -> Kit {
    let (s, l) = (strict_uri.to_string(), loose_uri.to_string());
    kit_with(move |c| {
        c.oidc.clients = vec![client("strict", &s, true), client("loose", &l, false)];
        adjust(c);
    })
    .await
}

/// Two portal sessions of the demo user, each with a grant for both
/// clients; returns the two sessions' sids.
async fn two_sessions(k: &Kit) -> BTreeSet<String> {
    let mut sids = BTreeSet::new();
    for _ in 0..2 {
        let mut b = k.signed_in().await;
        let sid = grant(k, &mut b, "strict").await;
        assert_eq!(grant(k, &mut b, "loose").await, sid, "one session, one sid");
        sids.insert(sid);
    }
    assert_eq!(sids.len(), 2, "two sessions, two sids");
    sids
}

#[derive(Clone, Copy, Debug)]
enum Action {
    PasswordChange,
    Lock,
    MfaReset,
    ResetByEmail,
}

impl Action {
    async fn run(self, idp: &idp::Idp) {
        match self {
            Self::PasswordChange => idp::admin::users::set_password(
                idp,
                &support::admin_actor(),
                DEMO_EMAIL,
                "Green-Valley-9134!",
            )
            .await
            .unwrap(),
            Self::Lock => assert!(
                idp::admin::users::lock(idp, &support::admin_actor(), DEMO_EMAIL)
                    .await
                    .unwrap()
            ),
            Self::MfaReset => {
                idp::admin::users::reset_mfa(idp, &support::admin_actor(), DEMO_EMAIL)
                    .await
                    .unwrap();
            }
            Self::ResetByEmail => {
                idp.request_reset(DEMO_EMAIL, None).await.unwrap();
                let token = reset_link_token(idp).await;
                let pw = "Green-Valley-9134!";
                idp.complete_reset(&token, pw, pw, false, None)
                    .await
                    .unwrap();
            }
        }
    }
}

/// The token of the reset link in the mail outbox folder, waiting (with a
/// deadline) for the background mail sender to write it.
async fn reset_link_token(idp: &idp::Idp) -> String {
    let dir = idp.config.outbox_dir();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mails = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        for m in mails {
            let text = std::fs::read_to_string(m.path())
                .unwrap_or_default()
                .replace("=\r\n", "")
                .replace("=3D", "=");
            if let Some(i) = text.find("token=") {
                return text[i + "token=".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no reset mail");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn user_wide_ends_send_one_token_per_session_to_clients_that_need_sid() {
    for action in [
        Action::PasswordChange,
        Action::Lock,
        Action::MfaReset,
        Action::ResetByEmail,
    ] {
        let (strict_uri, mut strict) = receiver(0).await;
        let (loose_uri, mut loose) = receiver(0).await;
        let k = two_client_kit(&strict_uri, &loose_uri, |_| {}).await;
        let sids = two_sessions(&k).await;

        action.run(&k.idp).await;
        // Queued with the revocation; nothing sent before a delivery pass.
        assert_eq!(k.idp.store.queued_logouts().await.unwrap().len(), 3);
        assert!(drain(&mut strict).is_empty() && drain(&mut loose).is_empty());

        let d = k.idp.deliver_due_logouts(idp::clock::now()).await.unwrap();
        assert_eq!(d.delivered, 3, "{action:?}: {d:?}");

        // Session required: one token per session, each with its own sid.
        let got = drain(&mut strict);
        assert_eq!(got.len(), 2, "{action:?}");
        let mut seen = BTreeSet::new();
        for (token, _) in &got {
            let c = logout_claims(&k, token, "strict").await;
            seen.insert(c["sid"].as_str().expect("a sid").to_string());
        }
        assert_eq!(seen, sids, "{action:?}: each session's sid once");

        // No session requirement: one sub-only token.
        let got = drain(&mut loose);
        assert_eq!(got.len(), 1, "{action:?}");
        let c = logout_claims(&k, &got[0].0, "loose").await;
        assert!(c.get("sid").is_none(), "{action:?}: sub-only, {c}");

        // Delivered rows are gone: a second pass sends nothing.
        assert!(k.idp.store.queued_logouts().await.unwrap().is_empty());
        let d = k.idp.deliver_due_logouts(idp::clock::now()).await.unwrap();
        assert_eq!(d, idp::oidc::backchannel::Delivery::default());
        assert!(drain(&mut strict).is_empty() && drain(&mut loose).is_empty());
    }
}

#[tokio::test]
async fn one_sign_out_names_its_session_to_every_client() {
    let (strict_uri, mut strict) = receiver(0).await;
    let (loose_uri, mut loose) = receiver(0).await;
    let k = two_client_kit(&strict_uri, &loose_uri, |c| {
        c.oidc.backchannel_poll_interval = Duration::from_secs(60);
    })
    .await;
    // The serving instance's task: a local sign-out wakes it, no poll needed.
    let task = idp::oidc::backchannel::spawn_delivery(k.idp.clone());
    let mut other = k.signed_in().await;
    grant(&k, &mut other, "strict").await;
    let mut b = k.signed_in().await;
    let sid = grant(&k, &mut b, "strict").await;
    assert_eq!(grant(&k, &mut b, "loose").await, sid);
    b.get("/apps").await;
    b.post("/logout", &[]).await;
    for (rx, aud) in [(&mut strict, "strict"), (&mut loose, "loose")] {
        let (token, _) = next_seen(rx).await;
        let c = logout_claims(&k, &token, aud).await;
        assert_eq!(c["sid"], json!(sid), "the ended session, not the other");
    }
    outbox_drained(&k.idp).await;
    assert!(drain(&mut strict).is_empty(), "the other session lives on");
    task.abort();
}

#[tokio::test]
async fn clients_without_a_live_grant_or_a_uri_get_nothing() {
    let (strict_uri, mut strict) = receiver(0).await;
    let k = kit_with(|c| {
        let mut no_uri = client("no-uri", "https://x.example.com/bcl", false);
        no_uri.backchannel_logout_uri = None;
        c.oidc.clients = vec![client("strict", &strict_uri, true), no_uri];
    })
    .await;
    let mut b = k.signed_in().await;
    grant(&k, &mut b, "no-uri").await;
    idp::admin::users::lock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    assert!(
        k.idp.store.queued_logouts().await.unwrap().is_empty(),
        "a client without a URI is owed nothing, nor one without a grant"
    );
    k.idp.deliver_due_logouts(idp::clock::now()).await.unwrap();
    assert!(drain(&mut strict).is_empty());
}

#[tokio::test]
async fn a_token_queued_by_a_short_lived_process_is_sent_by_a_serving_instance() {
    let (uri, mut rx) = receiver(0).await;
    let k = two_client_kit(&uri, &uri, |c| {
        c.oidc.backchannel_poll_interval = Duration::from_millis(50);
    })
    .await;
    let sids = two_sessions(&k).await;
    // The admin CLI: opens its own core on the store, locks, exits.
    let cli = k.another_idp(|_| {}).await;
    idp::admin::users::lock(&cli, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    drop(cli);
    assert_eq!(k.idp.store.queued_logouts().await.unwrap().len(), 3);
    assert!(drain(&mut rx).is_empty(), "the CLI sends nothing itself");

    // The server's delivery task finds the rows at its next poll.
    let task = idp::oidc::backchannel::spawn_delivery(k.idp.clone());
    let mut strict_sids = BTreeSet::new();
    let mut sub_only = 0;
    for _ in 0..3 {
        let (token, status) = next_seen(&mut rx).await;
        assert_eq!(status, 200);
        let aud = b64json(token.split('.').nth(1).unwrap())["aud"]
            .as_str()
            .unwrap()
            .to_string();
        let c = logout_claims(&k, &token, &aud).await;
        match c["sid"].as_str() {
            Some(s) => {
                assert_eq!(aud, "strict");
                strict_sids.insert(s.to_string());
            }
            None => {
                assert_eq!(aud, "loose");
                sub_only += 1;
            }
        }
    }
    assert_eq!((strict_sids, sub_only), (sids, 1));
    outbox_drained(&k.idp).await;
    task.abort();
}

#[tokio::test]
async fn a_claim_left_by_a_dead_instance_is_taken_over_after_its_lease() {
    let (uri, mut rx) = receiver(0).await;
    let k = two_client_kit(&uri, &uri, |_| {}).await;
    let mut b = k.signed_in().await;
    grant(&k, &mut b, "strict").await;
    idp::admin::users::lock(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let now = idp::clock::now();
    let rows = k.idp.store.queued_logouts().await.unwrap();
    assert_eq!(rows.len(), 1);
    // An instance claims the row and dies before sending.
    let dead = k.another_idp(|_| {}).await;
    assert!(
        dead.store
            .claim_logout(&rows[0].id, "dead-instance", now, now + 60)
            .await
            .unwrap()
            .is_some()
    );
    drop(dead);
    // While the lease runs, nobody else sends it ...
    let d = k.idp.deliver_due_logouts(now + 30).await.unwrap();
    assert_eq!(d.delivered, 0, "{d:?}");
    assert!(drain(&mut rx).is_empty());
    // ... after it, a living instance does.
    let d = k.idp.deliver_due_logouts(now + 61).await.unwrap();
    assert_eq!(d.delivered, 1, "{d:?}");
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1);
    logout_claims(&k, &got[0].0, "strict").await;
    // The dead claim cannot finish a row it lost.
    assert!(
        !k.idp
            .store
            .finish_logout(&rows[0].id, "dead-instance")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_token_on_the_third_attempt() {
    let (uri, mut rx) = receiver(2).await;
    let k = two_client_kit(&uri, "https://unused.example.com/bcl", |c| {
        c.oidc.backchannel_retry_backoff = Duration::from_secs(BACKOFF as u64);
    })
    .await;
    let mut b = k.signed_in().await;
    let sid = grant(&k, &mut b, "strict").await;
    idp::admin::users::set_password(
        &k.idp,
        &support::admin_actor(),
        DEMO_EMAIL,
        "Green-Valley-9134!",
    )
    .await
    .unwrap();
    let t0 = idp::clock::now();

    let d = k.idp.deliver_due_logouts(t0).await.unwrap();
    assert_eq!(d.retrying, 1, "{d:?}");
    assert_eq!(
        drain(&mut rx).iter().map(|s| s.1).collect::<Vec<_>>(),
        [500]
    );
    let row = &k.idp.store.queued_logouts().await.unwrap()[0];
    assert_eq!((row.attempts, row.next_attempt_at), (1, t0 + BACKOFF));
    assert!(row.last_error.as_deref().unwrap().contains("500"));

    // Not before the back-off.
    let d = k.idp.deliver_due_logouts(t0 + BACKOFF - 1).await.unwrap();
    assert_eq!(d, Default::default());
    assert!(drain(&mut rx).is_empty());

    // Second attempt fails; the wait doubles.
    let d = k.idp.deliver_due_logouts(t0 + BACKOFF).await.unwrap();
    assert_eq!(d.retrying, 1, "{d:?}");
    assert_eq!(drain(&mut rx).len(), 1);
    let row = &k.idp.store.queued_logouts().await.unwrap()[0];
    assert_eq!((row.attempts, row.next_attempt_at), (2, t0 + 3 * BACKOFF));
    let d = k
        .idp
        .deliver_due_logouts(t0 + 3 * BACKOFF - 1)
        .await
        .unwrap();
    assert_eq!(d, Default::default());

    // Third attempt: delivered, and the row is gone.
    let d = k.idp.deliver_due_logouts(t0 + 3 * BACKOFF).await.unwrap();
    assert_eq!(d.delivered, 1, "{d:?}");
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, 200);
    let c = logout_claims(&k, &got[0].0, "strict").await;
    assert_eq!(c["sid"], json!(sid));
    assert!(k.idp.store.queued_logouts().await.unwrap().is_empty());
    assert!(
        !k.audit_events()
            .await
            .contains(&("oidc.backchannel_logout".into(), "failure".into())),
        "a delivered token is no failure"
    );
}

#[tokio::test]
async fn a_receiver_that_always_fails_is_given_up_and_audited_without_the_token() {
    let (uri, mut rx) = receiver(usize::MAX).await;
    let k = two_client_kit(&uri, "https://unused.example.com/bcl", |c| {
        c.oidc.backchannel_max_attempts = 3;
        c.oidc.backchannel_retry_backoff = Duration::from_secs(BACKOFF as u64);
    })
    .await;
    let mut b = k.signed_in().await;
    grant(&k, &mut b, "strict").await;
    idp::admin::users::reset_mfa(&k.idp, &support::admin_actor(), DEMO_EMAIL)
        .await
        .unwrap();
    let t0 = idp::clock::now();
    for (at, retrying) in [(t0, 1), (t0 + BACKOFF, 1)] {
        let d = k.idp.deliver_due_logouts(at).await.unwrap();
        assert_eq!(d.retrying, retrying, "{d:?}");
    }
    let d = k.idp.deliver_due_logouts(t0 + 3 * BACKOFF).await.unwrap();
    assert_eq!(d.abandoned, 1, "{d:?}");
    let tokens: Vec<String> = drain(&mut rx).into_iter().map(|s| s.0).collect();
    assert_eq!(tokens.len(), 3, "exactly max_attempts attempts");
    assert!(k.idp.store.queued_logouts().await.unwrap().is_empty());
    // Nothing more, however late.
    let d = k.idp.deliver_due_logouts(t0 + 86_400).await.unwrap();
    assert_eq!(d, Default::default());

    let audit = k.idp.store.recent_audit(1000).await.unwrap();
    let failed: Vec<_> = audit
        .iter()
        .filter(|r| r.event == "oidc.backchannel_logout" && r.outcome == "failure")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].detail.contains("strict") && failed[0].detail.contains("3 attempt"));
    for r in &audit {
        for t in &tokens {
            assert!(!r.detail.contains(t.as_str()), "a token in the audit");
            let sig = t.rsplit('.').next().unwrap();
            assert!(!r.detail.contains(sig), "a token signature in the audit");
        }
    }
}

#[tokio::test]
async fn two_delivering_instances_send_each_token_exactly_once() {
    let (uri, mut rx) = receiver(0).await;
    let k = two_client_kit(&uri, &uri, |_| {}).await;
    let user = k.demo_user().await;
    let other = k.another_idp(|_| {}).await;
    let now = idp::clock::now();
    const N: usize = 24;
    k.idp
        .store
        .revoke_grants_queueing_logouts(idp::store::GrantsOf::User("nobody"), now, |_| {
            (0..N)
                .map(|i| idp::store::NewLogout {
                    client_id: "strict".into(),
                    user_id: user.id.clone(),
                    sid: Some(format!("sid-{i}")),
                })
                .collect()
        })
        .await
        .unwrap();
    // Both instances see every row due and race for each.
    let (a, b) = tokio::join!(
        k.idp.deliver_due_logouts(now),
        other.deliver_due_logouts(now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.delivered + b.delivered, N, "{a:?} {b:?}");
    assert_eq!(a.retrying + b.retrying + a.abandoned + b.abandoned, 0);
    let mut sids = Vec::new();
    for (token, _) in drain(&mut rx) {
        let c = logout_claims(&k, &token, "strict").await;
        sids.push(c["sid"].as_str().unwrap().to_string());
    }
    sids.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("sid-{i}")).collect();
    want.sort();
    assert_eq!(sids, want, "every row once, none twice");
    // And nothing is left for either.
    let (a, b) = tokio::join!(
        k.idp.deliver_due_logouts(now + 3600),
        other.deliver_due_logouts(now + 3600)
    );
    assert_eq!(a.unwrap().delivered + b.unwrap().delivered, 0);
    assert!(drain(&mut rx).is_empty());
}

#[test]
fn session_required_needs_a_uri() {
    let mut c = client("strict", "https://wiki.example.com/bcl", true);
    assert!(c.validate("oidc.clients[0]").is_ok());
    c.backchannel_logout_uri = None;
    let e = c.validate("oidc.clients[0]").unwrap_err().to_string();
    assert!(
        e.contains("oidc.clients[0].backchannel_logout_session_required"),
        "{e}"
    );
    // Omitted, it is false (Back-Channel Logout 1.0, 2.2).
    let omitted: idp::oidc::ClientConfig = serde_json::from_value(json!({
        "client_id": "x", "redirect_uris": [CB], "application": "Team Wiki",
    }))
    .unwrap();
    assert!(!omitted.backchannel_logout_session_required);
}

#[test]
fn outbox_settings_are_validated() {
    let mut o = idp::oidc::OidcConfig::default();
    assert!(o.validate().is_ok());
    o.backchannel_max_attempts = 0;
    assert!(
        o.validate()
            .unwrap_err()
            .to_string()
            .contains("oidc.backchannel_max_attempts")
    );
    o.backchannel_max_attempts = 8;
    o.backchannel_retry_backoff = Duration::from_millis(500);
    assert!(
        o.validate()
            .unwrap_err()
            .to_string()
            .contains("oidc.backchannel_retry_backoff")
    );
}
