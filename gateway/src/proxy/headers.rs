//! The request headers the gateway owns: whatever a client sends under
//! these names never reaches an upstream, and the gateway sets its own.
//!
//! A name is ours whatever its spelling: header names are case-insensitive,
//! and CGI, WSGI and Rack servers (and nginx with `underscores_in_headers`)
//! read `_` and `-` alike, so `X_Portcullis_User` would reach the
//! application as `HTTP_X_PORTCULLIS_USER`, the same variable as
//! `X-Portcullis-User`. Names are compared with `_` read as `-`.

use pingora::http::RequestHeader;

/// Every name starting with this is ours (`x-portcullis-user`, `-email`,
/// `-groups`, `-assertion`, and any added later).
pub const OWNED_PREFIX: &str = "x-portcullis-";

/// The other names the gateway owns. The forwarding headers are set from
/// the connection (or dropped); the URL-override headers, which some
/// frameworks (Symfony, IIS, Spring) use to route instead of the request
/// line, are dropped so no rule can be stepped around through them.
pub const OWNED: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
];

/// Whether a header name (lower-case, as `http` stores it) is one of ours
/// in any spelling.
pub fn is_owned(name: &str) -> bool {
    let b = name.as_bytes();
    // Every owned name starts with `x` or `f`: most headers stop here.
    if !matches!(b.first().map(u8::to_ascii_lowercase), Some(b'x' | b'f')) {
        return false;
    }
    let same = |ours: &str| {
        ours.len() <= b.len()
            && ours
                .bytes()
                .zip(b)
                .all(|(o, &c)| o == c.to_ascii_lowercase() || (o == b'-' && c == b'_'))
    };
    same(OWNED_PREFIX) || OWNED.iter().any(|o| o.len() == b.len() && same(o))
}

/// Removes every header the gateway owns from a request on its way upstream.
pub fn strip_owned(req: &mut RequestHeader) {
    if !req.headers.keys().any(|k| is_owned(k.as_str())) {
        return;
    }
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| is_owned(k.as_str()))
        .cloned()
        .collect();
    for name in names {
        req.remove_header(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_in_every_spelling() {
        for name in [
            "x-portcullis-user",
            "x_portcullis_user",
            "x-portcullis_user",
            "x_portcullis-groups",
            "x-portcullis-anything-new",
            "x-portcullis-",
            "forwarded",
            "x-forwarded-for",
            "x_forwarded_for",
            "x-forwarded_proto",
            "x-forwarded-host",
            "x_forwarded_host",
            "x-forwarded-prefix",
            "x-real-ip",
            "x_real_ip",
            "x-original-url",
            "x_original_url",
            "x-rewrite-url",
        ] {
            assert!(is_owned(name), "{name}");
        }
        // `http` lower-cases names, but a raw spelling is ours as well.
        assert!(is_owned("X_Portcullis_User"));
    }

    #[test]
    fn others_pass() {
        for name in [
            "host",
            "cookie",
            "authorization",
            "x-request-id",
            "x-portcullisuser",
            "x-portcullis",
            "forwarded-for",
            "x-forwarded",
            "x-forwarded-forx",
            "x-real-ipv6",
            "accept",
        ] {
            assert!(!is_owned(name), "{name}");
        }
    }

    #[test]
    fn stripping_leaves_the_rest() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in [
            ("x_portcullis_user", "evil"),
            ("X-Portcullis-Email", "evil@example.com"),
            ("x-forwarded-host", "evil.example"),
            ("x-original-url", "/admin"),
            ("accept", "text/html"),
            ("x-request-id", "1"),
        ] {
            req.append_header(k.to_string(), v).unwrap();
        }
        strip_owned(&mut req);
        let mut left: Vec<&str> = req.headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-request-id"]);
    }
}
