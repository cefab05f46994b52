//! Store faults as people and load balancers see them (issue 14): a store
//! that went away gives the "temporarily unavailable" page (503, with
//! Retry-After) and readiness fails within a second. The full database is
//! in `storage_full.rs` (its own process: a write that failed for want of
//! space makes the whole process not ready for a while).

mod support;

use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use idp::error::Fault;
use idp::health::NotReady;
use support::{DEMO_PASSWORD, kit};

#[tokio::test]
async fn a_store_that_went_away_is_a_503_page_and_not_ready_within_a_second() {
    let k = kit().await;
    assert!(k.idp.ready().await.is_ok());
    let mut b = support::at_password_step(&k).await;

    k.idp.store.close().await;
    let page = b
        .post("/login/password", &[("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(
        page.has("Sign-in is temporarily unavailable"),
        "{}",
        page.body
    );
    assert!(page.has("try again in a minute"), "{}", page.body);
    assert_eq!(
        page.headers.get(header::RETRY_AFTER).map(|v| v.as_bytes()),
        Some(&b"60"[..])
    );

    let started = Instant::now();
    let ready = k.idp.ready().await;
    assert!(matches!(ready, Err(NotReady::Unreachable(_))), "{ready:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn store_errors_are_classified() {
    use idp::Error;
    for e in [
        sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed,
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
    ] {
        assert_eq!(Error::from(e).fault(), Some(Fault::Unavailable));
    }
    assert_eq!(
        Error::SessionStore("refused".into()).fault(),
        Some(Fault::Unavailable)
    );
    assert_eq!(
        Error::Io {
            path: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        }
        .fault(),
        Some(Fault::StorageFull)
    );
    assert_eq!(Error::NotFound("x".into()).fault(), None);
    assert_eq!(Error::from(sqlx::Error::RowNotFound).fault(), None);
}
