//! Form bodies as the portal and the OIDC endpoints read them: the token and
//! authorization endpoints' `portcullis_wire::form::Params` (which refuses a
//! repeated or oversized parameter), and axum's `Form` extractor
//! (`serde_urlencoded`) into structs shaped like the portal's sign-in forms
//! (`EmailForm`, `PasswordForm` in idp/src/portal/login.rs, private there).
//! For any input: no panic; `get` refuses a parameter given twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::form::{MAX_PARAM_LEN, Params};
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct EmailForm {
    #[serde(default)]
    email: String,
    remember: Option<String>,
    #[serde(default)]
    return_to: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(data);
    for name in [
        "grant_type",
        "code",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
    ] {
        let count = params.pairs().iter().filter(|(k, _)| k == name).count();
        match params.get(name) {
            Ok(Some(v)) => {
                assert_eq!(count, 1, "{name} given {count} times");
                assert!(v.len() <= MAX_PARAM_LEN && !v.is_empty());
            }
            Ok(None) => assert!(count <= 1, "{name} given {count} times"),
            Err(_) => {}
        }
        let _ = params.require(name);
    }
    let _ = serde_urlencoded::from_bytes::<EmailForm>(data);
    let _ = serde_urlencoded::from_bytes::<PasswordForm>(data);
});
