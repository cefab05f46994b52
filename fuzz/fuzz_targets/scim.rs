//! SCIM input (`idp::scim`): the filter grammar, PATCH paths and bodies,
//! and reading a User or Group back from JSON. For any input: no panic (a
//! refusal is a typed `ScimError` with a 4xx status), a parsed filter
//! evaluates on a resource, and PATCH applies or refuses without leaving a
//! resource that is not an object.
#![no_main]

use idp::scim::{self, filter, patch};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn resource() -> Value {
    json!({
        "schemas": [scim::USER_SCHEMA], "id": "1", "userName": "dana",
        "name": {"givenName": "Dana"}, "active": true,
        "emails": [{"value": "dana@example.com", "type": "work"}],
        (scim::ENTERPRISE_SCHEMA): {"department": "Ops"},
        "meta": {"created": "2026-01-01T00:00:00Z"}
    })
}

const USER: patch::Schemas = patch::Schemas {
    core: scim::USER_SCHEMA,
    extensions: &[scim::ENTERPRISE_SCHEMA],
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match filter::parse(text) {
        Ok(f) => {
            let _ = filter::matches(&f, &resource(), scim::USER_SCHEMA);
            let _ = filter::simple_eq(&f);
        }
        Err(e) => assert_eq!(e.status(), 400, "{e}"),
    }
    if let Err(e) = filter::parse_patch_path(text) {
        assert_eq!(e.status(), 400, "{e}");
    }
    if let Ok(body) = serde_json::from_str::<Value>(text) {
        if let Ok(ops) = patch::parse(&body) {
            let mut r = resource();
            if patch::apply(&mut r, &ops, USER).is_ok() {
                assert!(r.is_object());
                let _ = scim::users::read(&r, None);
            }
        }
        let _ = scim::users::read(&body, None);
        let _ = scim::groups::read(&body);
    }
});
