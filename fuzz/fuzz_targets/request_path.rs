//! The gateway's path rule (`portcullis_wire::request_path`, as `idp::request_path`), as every proxied request
//! meets it: `normalize` on the raw path, then `without_parameters` and
//! `in_prefix` on its result. For any input: no panic; an accepted path is a
//! fixed point (normalising it again gives it back unchanged, so what was
//! decided on is what is forwarded); it starts with `/`, has no `//`, no
//! backslash or control character and no `.` or `..` segment; and it lies
//! inside itself as a prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_wire::request_path::{
    PathCase, PathOptions, in_prefix, normalize, without_parameters,
};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let opts = PathOptions {
        parameters: flags & 1 != 0,
    };
    let case = if flags & 2 != 0 {
        PathCase::Insensitive
    } else {
        PathCase::Sensitive
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    // A second path after a NUL byte (refused in a path) is a policy prefix.
    let (raw, prefix) = raw.split_once('\0').unwrap_or((raw, "/"));
    let Ok(path) = normalize(raw, opts) else {
        return;
    };
    let path = path.into_owned();
    assert_eq!(
        normalize(&path, opts).as_deref(),
        Ok(path.as_str()),
        "normalize is idempotent on {raw:?}"
    );
    assert!(path.starts_with('/'), "{path:?}");
    assert!(!path.contains("//"), "{path:?}");
    assert!(!path.contains('\\'), "{path:?}");
    assert!(!path.chars().any(char::is_control), "{path:?}");
    let bare = without_parameters(&path);
    for seg in bare.split('/') {
        assert!(seg != "." && seg != "..", "dot segment in {path:?}");
    }
    assert!(in_prefix(&path, &path, case), "{path:?} inside itself");
    assert!(in_prefix("/", &path, case));
    if let Ok(prefix) = normalize(prefix, opts) {
        let inside = in_prefix(&prefix, &bare, case);
        // Inside a prefix means: equal to it, or continuing it after a '/'.
        if inside && case == PathCase::Sensitive && prefix != "/" {
            let p = prefix.trim_end_matches('/');
            assert!(bare.starts_with(p), "{bare:?} in {prefix:?}");
        }
    }
});
