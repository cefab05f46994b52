//! `return_to` checking (`portcullis_wire::return_to::safe`, as `idp::web::return_to`): where a sign-in may
//! send the browser afterwards. For any input: no panic; an accepted target
//! is a portal path (not `//host`, not the sign-in pages) or a URL on the
//! portal's or a configured application's origin; and accepting is stable
//! (checking an accepted target again accepts it unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::return_to::safe;

const PORTAL: &str = "https://portal.example.com";

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let apps = vec![
        "https://wiki.example.com".to_string(),
        "http://legacy.example.com:8080".to_string(),
        "https://xn--bcher-kva.example".to_string(),
    ];
    let Some(target) = safe(raw, PORTAL, &apps) else {
        return;
    };
    if target.starts_with('/') {
        assert!(!target.starts_with("//"), "{raw:?} -> {target:?}");
        let joined = url::Url::parse(PORTAL).unwrap().join(&target).unwrap();
        assert_eq!(
            joined.origin().ascii_serialization(),
            PORTAL,
            "{raw:?} -> {target:?}"
        );
        assert!(
            !joined.path().starts_with("/login"),
            "{raw:?} -> {target:?}"
        );
    } else {
        let url = url::Url::parse(&target).expect("an accepted URL parses");
        let origin = url.origin().ascii_serialization();
        assert!(
            origin == PORTAL || apps.contains(&origin),
            "{raw:?} -> {target:?} ({origin})"
        );
        assert!(url.username().is_empty() && url.password().is_none());
    }
    assert_eq!(
        safe(&target, PORTAL, &apps).as_deref(),
        Some(target.as_str()),
        "stable: {raw:?} -> {target:?}"
    );
});
