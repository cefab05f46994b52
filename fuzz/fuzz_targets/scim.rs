//! SCIM input (`portcullis_wire::scim`, re-exported as `idp::scim`): the
//! filter grammar, PATCH paths and bodies, and PATCH applied to a User's JSON
//! form. For any input: no panic (a refusal is a typed `Refusal` the client
//! sees as a 400), a parsed filter evaluates on a resource, and PATCH applies
//! or refuses without leaving a resource that is not an object. Reading the
//! patched JSON back into the directory's fields (`idp::scim::users::read`)
//! needs the core: `scim_resources` (not in CI; fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::scim::{self, filter, patch};
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
            match patch::apply(&mut r, &ops, USER) {
                Ok(()) => assert!(r.is_object()),
                Err(e) => assert_eq!(e.status(), 400, "{e}"),
            }
        }
    }
});
