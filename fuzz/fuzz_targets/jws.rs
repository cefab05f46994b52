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
use portcullis_wire::jws::{Alg, KeySet, SigningKey, generate, kid_of};

/// A real RS256 and ES256 key, made as the provider makes its own.
static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    KeySet::new(
        Alg::ALL
            .into_iter()
            .map(|alg| {
                let kid = format!("fuzz-{}", alg.as_str());
                let (der, jwk) = generate(alg, &kid).unwrap();
                SigningKey::from_pkcs8_der(kid, alg, &der, jwk, None).unwrap()
            })
            .collect(),
    )
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
