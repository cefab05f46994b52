//! The compact JWS reader behind `id_token_hint`, the gateway's bearer
//! checks and every token the provider reads back
//! (`portcullis_wire::jws::KeySet::verify`, `kid_of`; `idp::oidc::keys`
//! re-exports them). For any input: no panic. A token made by our keys
//! reads back as exactly its claims, and changing any one byte of it makes
//! it unreadable: nothing but our signature over exactly these bytes is
//! accepted.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis_wire::jws::{Alg, KeySet, SigningKey, kid_of};

/// A real RS256 and ES256 key (throw-away, fuzz/keys/, made with `openssl
/// genpkey` and `openssl pkcs8 -topk8`), loaded as the provider loads its own. Generating them here
/// would spend seconds of an instrumented run on the first input.
static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    let key = |alg: Alg, der: &[u8]| {
        let kid = format!("fuzz-{}", alg.as_str());
        SigningKey::from_pkcs8_der(kid, alg, der, serde_json::json!({}), None).unwrap()
    };
    KeySet::new(vec![
        key(Alg::RS256, include_bytes!("../keys/rs256.pk8")),
        key(Alg::ES256, include_bytes!("../keys/es256.pk8")),
    ])
});

static RS256_TOKEN: LazyLock<(String, serde_json::Value)> = LazyLock::new(|| {
    let claims = serde_json::json!({ "sub": "fuzz", "aud": ["a", "b"], "n": 1 });
    (KEYS.sign(Alg::RS256, "JWT", &claims).unwrap(), claims)
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = KEYS.verify(&text);
    let _ = kid_of(&text);
    let [pick, at, with, ..] = data else {
        return;
    };
    // An RSA signature costs tens of milliseconds instrumented: RS256 signs
    // once (RS256_TOKEN), ES256 signs the fuzzed claims on every input.
    let (jwt, claims) = if pick & 1 == 0 {
        RS256_TOKEN.clone()
    } else {
        let claims = serde_json::json!({ "sub": text, "n": data.len() });
        (KEYS.sign(Alg::ES256, "JWT", &claims).unwrap(), claims)
    };
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
