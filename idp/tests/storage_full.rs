//! A full database as people and load balancers see it (issue 14): sign-in
//! gives a page saying nothing can be saved (507, not the generic 500), and
//! readiness fails while writes fail.
//!
//! The full database is SQLite's own SQLITE_FULL, which is what a full disk
//! gives: the database is capped at its current size (`max_page_count`), so
//! a write that needs a new page fails exactly as on a disk without space.
//! Its own test binary: the failed write makes this process not ready.

mod support;

use axum::http::StatusCode;
use idp::health::NotReady;
use support::{DEMO_PASSWORD, kit};

fn on_sqlite() -> bool {
    !matches!(
        std::env::var("PORTCULLIS_TEST_DATABASE").as_deref(),
        Ok("postgres")
    )
}

#[tokio::test]
async fn a_full_database_says_so_on_sign_in_and_readiness_fails() {
    if !on_sqlite() {
        return; // the cap is SQLite's; PostgreSQL's 53100 maps the same way
    }
    let k = kit().await;
    assert!(k.idp.ready().await.is_ok());
    k.idp.store.cap_size_for_tests().await.unwrap();

    // Every sign-in stores a session; the pages they fill run out.
    let mut full = None;
    for _ in 0..2_000 {
        let mut b = support::at_password_step(&k).await;
        let page = b
            .post("/login/password", &[("password", DEMO_PASSWORD)])
            .await;
        if page.status != StatusCode::SEE_OTHER {
            full = Some(page);
            break;
        }
    }
    let page = full.expect("the capped database filled up");
    assert_eq!(
        page.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        page.body
    );
    assert!(
        page.has("Changes cannot be saved right now"),
        "{}",
        page.body
    );
    assert!(page.has("Our storage is full"), "{}", page.body);
    assert!(!page.has("Something went wrong"), "not the generic page");

    // The load balancer hears of it while writes fail.
    let ready = k.idp.ready().await;
    assert!(matches!(ready, Err(NotReady::StorageFull)), "{ready:?}");
}
