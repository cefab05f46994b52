//! The cookie reader the portal and the gateway share (`portcullis_wire::cookie`, as `idp::cookie`, through `portcullis_wire::cookies::Cookies::get`) on any
//! `Cookie` header lines, and the `Set-Cookie` builder on any value. For any
//! input: no panic; a value is found only for a name that occurs in the
//! header, and a name sent twice is never trusted. (The gateway's own cookie
//! reader, `cookie`/`strip_our_cookies` in gateway/src/proxy/mod.rs, is in the
//! binary crate and cannot be linked from here.)
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use portcullis_wire::cookies::{Cookies, Name};

const NAMES: [Name; 6] = [
    Name::Session,
    Name::Csrf,
    Name::Login,
    Name::Email,
    Name::Mfa,
    Name::Federation,
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let cookies = Cookies::new(flags & 1 != 0);
    let mut headers = HeaderMap::new();
    // Each line is one `Cookie` header (HTTP/2 sends one per cookie).
    for line in rest.split(|&b| b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, v);
        }
    }
    for n in NAMES {
        let name = cookies.name(n);
        if let Some(value) = cookies.get(&headers, n) {
            let occurrences: usize = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|s| s.matches(name.as_str()).count())
                .sum();
            assert!(occurrences >= 1, "{name} found but not sent");
            assert!(!value.contains(';'), "a value never spans pairs: {value:?}");
        }
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let n = NAMES[usize::from(flags >> 1) % NAMES.len()];
        let _ = cookies.set(n, text, Some(i64::from(flags)));
        let _ = cookies.clear(n);
    }
});
