//! SCIM resources read back into the directory's fields
//! (`idp::scim::users::read`, `groups::read`), from any JSON and from a User
//! after any PATCH. For any input: no panic. Links the identity core, so CI
//! does not build it (fuzz/README.md); `FUZZ_FEATURES=core
//! scripts/fuzz-smoke.sh scim_resources` does.
#![no_main]

use idp::scim::{self, patch};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const USER: patch::Schemas = patch::Schemas {
    core: scim::USER_SCHEMA,
    extensions: &[scim::ENTERPRISE_SCHEMA],
};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = scim::users::read(&body, None);
    let _ = scim::groups::read(&body);
    if let Ok(ops) = patch::parse(&body) {
        let mut r = json!({
            "schemas": [scim::USER_SCHEMA], "id": "1", "userName": "dana",
            "name": {"givenName": "Dana"}, "active": true,
            "emails": [{"value": "dana@example.com", "type": "work"}],
        });
        if patch::apply(&mut r, &ops, USER).is_ok() {
            let _ = scim::users::read(&r, None);
        }
    }
});
