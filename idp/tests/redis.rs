//! The Redis session store against a real `redis-server` started here on a
//! free port (skipped with a message when the binary is missing). Two store
//! handles stand for two `portcullis` instances sharing one Redis.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;

use idp::config::SessionConfig;
use idp::redis_store::RedisStore;
use idp::session::{AppLink, Presented, Revocation, Session, SessionKey, Sessions, Store};
use tokio::sync::broadcast;

struct RedisServer {
    child: Child,
    port: u16,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_redis(port: u16) -> Option<RedisServer> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = RedisServer { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn session(user: &str, now: i64) -> Session {
    Session {
        user_id: user.into(),
        created_at: now,
        auth_time: now,
        amr: vec!["pwd".into()],
        mfa_at: None,
        expires_at: now + 3600,
        last_seen: now,
        source_ip: None,
        device: None,
        apps: Vec::new(),
    }
}

#[tokio::test]
async fn two_instances_share_sessions_and_revocations() {
    let Some(redis) = start_redis(free_port()).await else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let a = RedisStore::connect(&url, "test:").await.unwrap();
    let b = RedisStore::connect(&url, "test:").await.unwrap();
    let now = idp::clock::now();

    let k1 = SessionKey::of_token("one");
    let k2 = SessionKey::of_token("two");
    let other = SessionKey::of_token("three");
    a.insert(&k1, &session("u1", now)).await.unwrap();
    a.insert(&k2, &session("u1", now)).await.unwrap();
    a.insert(&other, &session("u2", now)).await.unwrap();
    assert_eq!(
        b.get(&k1).await.unwrap(),
        Some(session("u1", now)),
        "seen by the other instance"
    );

    b.touch(&k1, now + 5).await.unwrap();
    assert_eq!(a.get(&k1).await.unwrap().unwrap().last_seen, now + 5);

    b.remove(&k2).await.unwrap();
    assert_eq!(a.get(&k2).await.unwrap(), None);
    b.touch(&k2, now + 6).await.unwrap();
    assert_eq!(a.get(&k2).await.unwrap(), None, "touch never resurrects");

    // An application-host cookie linked on one instance is known to the other.
    let mut link = AppLink {
        session: k1.clone(),
        app: "wiki".into(),
        expires_at: now + 3600,
        last_used: now,
    };
    let cookie = SessionKey::of_token("app-cookie");
    a.insert_link(&cookie, &link).await.unwrap();
    assert_eq!(b.get_link(&cookie).await.unwrap(), Some(link.clone()));
    // A later use written back on one instance (an upsert) is what the other reads.
    link.last_used = now + 40;
    b.insert_link(&cookie, &link).await.unwrap();
    assert_eq!(
        a.get_link(&cookie).await.unwrap().map(|l| l.last_used),
        Some(now + 40)
    );
    assert_eq!(
        b.get_link(&SessionKey::of_token("nope")).await.unwrap(),
        None
    );

    assert_eq!(b.revoke_user("u1").await.unwrap(), 1);
    assert_eq!(a.get(&k1).await.unwrap(), None);
    assert!(
        a.get(&other).await.unwrap().is_some(),
        "other users untouched"
    );

    // Redis gone: errors, not panics; back again: the same handles recover.
    let port = redis.port;
    // (dropping the server kills it and waits for it to exit)
    drop(redis);
    assert!(
        a.get(&other).await.is_err(),
        "fails closed while Redis is down"
    );
    let _again = start_redis(port).await.expect("redis restarts");
    let mut recovered = false;
    for _ in 0..50 {
        if a.get(&other).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the connection manager reconnects by itself");
}

/// The next announcement other than `All` (sent whenever a subscription starts).
async fn next_revocation(rx: &mut broadcast::Receiver<Revocation>) -> Revocation {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an announcement arrives")
            .expect("the channel stays open");
        if r != Revocation::All {
            return r;
        }
    }
}

#[tokio::test]
async fn revocations_reach_the_other_instance_through_pubsub() {
    let Some(redis) = start_redis(free_port()).await else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let cfg = SessionConfig::default();
    let a = Sessions::new(
        Arc::new(RedisStore::connect(&url, "pubsub:").await.unwrap()),
        &cfg,
    );
    let b = Sessions::new(
        Arc::new(RedisStore::connect(&url, "pubsub:").await.unwrap()),
        &cfg,
    );
    let mut on_b = b.revocations();
    // B's subscription is live once it says so (an `All`).
    let first = tokio::time::timeout(Duration::from_secs(5), on_b.recv())
        .await
        .expect("subscribed")
        .unwrap();
    assert_eq!(first, Revocation::All);

    let now = idp::clock::now();
    let (token, _) = a.create("u1", vec![], None, now).await.unwrap();
    let key = SessionKey::of_token(&token);
    a.end(&key).await.unwrap();
    assert_eq!(next_revocation(&mut on_b).await, Revocation::Session(key));
    a.revoke_user("u1").await.unwrap();
    assert_eq!(
        next_revocation(&mut on_b).await,
        Revocation::User("u1".into())
    );

    // A forged or garbled message on the channel is ignored, not fatal.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("PUBLISH")
        .arg("pubsub:revoked")
        .arg("not json")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    a.revoke_user("u2").await.unwrap();
    assert_eq!(
        next_revocation(&mut on_b).await,
        Revocation::User("u2".into())
    );
}

/// A handle that was idle while Redis restarted still holds the dead
/// connection: its first command must still be answered (one retry on a new
/// connection), not fail with "broken pipe" and a 503 for the first request.
#[tokio::test]
async fn the_first_command_after_redis_restarts_is_answered() {
    let Some(redis) = start_redis(free_port()).await else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    let port = redis.port;
    let url = format!("redis://127.0.0.1:{port}/0");
    let idle = RedisStore::connect(&url, "restart:").await.unwrap();
    let now = idp::clock::now();
    let key = SessionKey::of_token("idle");
    idle.insert(&key, &session("u1", now)).await.unwrap();
    assert!(idle.get(&key).await.unwrap().is_some());

    // Redis restarts (without its data) while this handle sends nothing.
    drop(redis);
    let _again = start_redis(port).await.expect("redis restarts");
    // `start_redis` returns once the port accepts connections: Redis answers.
    assert_eq!(
        idle.get(&key)
            .await
            .expect("the first read after the restart"),
        None
    );
    let link = SessionKey::of_token("idle-link");
    assert_eq!(idle.get_link(&link).await.unwrap(), None);

    // The same for the first write on a handle idle across a restart.
    let writer = RedisStore::connect(&url, "restart:").await.unwrap();
    writer.get(&key).await.unwrap();
    drop(_again);
    let _third = start_redis(port).await.expect("redis restarts again");
    writer
        .insert(&key, &session("u1", now))
        .await
        .expect("the first write after the restart");
    assert!(writer.get(&key).await.unwrap().is_some());
}

/// Stops or resumes a process (SIGSTOP / SIGCONT): Redis keeps its data but
/// answers nothing meanwhile, as in a network partition.
fn signal(redis: &RedisServer, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &redis.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig}");
}

#[tokio::test]
async fn a_sign_out_while_redis_is_away_is_queued_and_applied_when_it_answers() {
    let Some(redis) = start_redis(free_port()).await else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let k = support::kit_with(|c| {
        c.sessions.store = "redis".into();
        c.sessions.redis_url = Some(url);
        c.sessions.redis_prefix = "signout:".into();
    })
    .await;
    let user = k.demo_user().await;
    let now = idp::clock::now();
    let (token, _) = k
        .idp
        .sessions
        .create(&user.id, vec!["pwd".into()], None, now)
        .await
        .unwrap();
    let key = SessionKey::of_token(&token);
    let mut heard = k.idp.sessions.revocations();

    signal(&redis, "-STOP");
    let out = k.idp.sign_out(&key, now).await;
    signal(&redis, "-CONT");
    assert_eq!(out.unwrap(), idp::session::end::SignedOut::Queued);
    // This instance's caches hear of it at once.
    assert_eq!(
        next_revocation(&mut heard).await,
        Revocation::Session(key.clone())
    );

    // Redis answers again, with the session still in it, until the queue is applied.
    assert!(
        k.idp
            .resume(Presented::Key(&key), now)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(k.idp.apply_pending_signouts().await.unwrap(), 1);
    assert!(
        k.idp
            .resume(Presented::Key(&key), now)
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(
        k.idp.apply_pending_signouts().await.unwrap(),
        0,
        "applied once"
    );
}

/// The browser and the applications a session opened are kept with it in
/// Redis, seen by every instance, and annotating an ended session never
/// brings it back.
#[tokio::test]
async fn annotations_are_shared_and_never_resurrect_a_session() {
    let Some(redis) = start_redis(free_port()).await else {
        eprintln!("redis-server not available: skipping");
        return;
    };
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let a: Arc<dyn Store> = Arc::new(RedisStore::connect(&url, "test:").await.unwrap());
    let b = RedisStore::connect(&url, "test:").await.unwrap();
    let sessions = Sessions::new(a, &SessionConfig::default());
    let now = idp::clock::now();
    let (token, _) = sessions
        .create("u1", vec!["pwd".into()], None, now)
        .await
        .unwrap();
    let key = SessionKey::of_token(&token);
    sessions
        .describe(
            &key,
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .await
        .unwrap();
    sessions.link_app(&key, "wiki", now + 3600).await.unwrap();
    sessions.link_app(&key, "wiki", now + 3600).await.unwrap();
    let seen = b.get(&key).await.unwrap().unwrap();
    assert_eq!(seen.device.as_deref(), Some("Firefox on Linux"));
    assert_eq!(
        seen.apps,
        vec!["wiki".to_string()],
        "once, however often opened"
    );

    b.remove(&key).await.unwrap();
    b.replace(&key, &seen).await.unwrap();
    assert_eq!(b.get(&key).await.unwrap(), None, "replace never resurrects");
}
