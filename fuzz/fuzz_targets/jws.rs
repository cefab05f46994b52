//! The compact JWS reader behind `id_token_hint`, the gateway's bearer
//! checks and every token the provider reads back
//! (`idp::oidc::keys::KeySet::verify`, `kid_of`). For any input: no panic.
//! A token made by our keys reads back as exactly its claims, and changing
//! any one byte of it makes it unreadable: nothing but our signature over
//! exactly these bytes is accepted.
#![no_main]

use std::sync::LazyLock;

use idp::oidc::keys::{Alg, KeySet, kid_of};
use libfuzzer_sys::fuzz_target;

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = idp::store::Store::open_in_memory().await.unwrap();
        let master = idp::crypto::Keys::from_base64(&format!("{}=", "A".repeat(43))).unwrap();
        KeySet::load_or_create(&store, &master.secret_box(), 0)
            .await
            .unwrap()
    })
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = KEYS.verify(&text);
    let _ = kid_of(&text);
    let [pick, at, with, ..] = data else {
        return;
    };
    let alg = if pick & 1 == 0 { Alg::RS256 } else { Alg::ES256 };
    let claims = serde_json::json!({ "sub": text, "n": data.len() });
    let jwt = KEYS.sign(alg, "JWT", &claims).unwrap();
    assert_eq!(
        KEYS.verify(&jwt),
        Some(("JWT".to_string(), claims)),
        "our own token reads back"
    );
    let mut changed = jwt.clone().into_bytes();
    let i = usize::from(*at) * 7 % changed.len();
    if changed[i] == *with {
        return;
    }
    changed[i] = *with;
    if let Ok(changed) = String::from_utf8(changed) {
        assert!(
            KEYS.verify(&changed).is_none(),
            "a token with byte {i} changed was accepted: {changed}"
        );
    }
});
