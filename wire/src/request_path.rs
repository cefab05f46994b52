//! The one path rule: what a request path means, for routing, for access
//! rules and for what the upstream receives.
//!
//! Upstreams decode and normalise a path before they route it (stock nginx
//! turns `//mfa/x`, `/%6dfa/x` and `/mfa%2fx` into `/mfa/x`). A proxy that
//! decides on the raw string and forwards the raw string lets the spelling
//! choose the rule. So every decision is taken on [`normalize`]'s result,
//! and exactly that result is forwarded:
//!
//! - percent-encodings of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded, every other percent-encoding is kept with upper-case hex;
//! - repeated slashes are merged (a trailing slash is kept);
//! - what cannot be normalised safely is refused: invalid percent-encoding
//!   (or bytes that are not UTF-8 once decoded, such as overlong slashes), an
//!   encoded slash, a backslash, a NUL or other control character, `;` path
//!   parameters unless the application opts in, and a `.` or `..` segment in
//!   any spelling (`..`, `%2e%2e`, `.%2E`, `..;x`). Browsers and HTTP clients
//!   resolve dot segments before sending, so only a crafted request has one;
//!   refusing them means no upstream can resolve a path into another rule's.
//!
//! Matching a prefix is on whole segments ([`in_prefix`]), with or without
//! ASCII case as the application's upstream matches paths ([`PathCase`]).

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    #[error("the path does not start with '/'")]
    NotAbsolute,
    #[error("invalid percent-encoding")]
    BadEncoding,
    #[error("an encoded slash")]
    EncodedSlash,
    #[error("a backslash")]
    Backslash,
    #[error("a NUL or control character")]
    Control,
    #[error("a ';' path parameter")]
    Parameter,
    #[error("a '.' or '..' segment")]
    DotSegment,
}

/// How an application's upstream compares paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathCase {
    /// `/Admin` and `/admin` are different paths (nginx, most servers).
    #[default]
    Sensitive,
    /// The upstream matches paths without ASCII case (IIS, case-insensitive
    /// file systems): rules must match without case too.
    Insensitive,
}

/// What an application allows in its paths beyond the safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathOptions {
    /// `;` path parameters (`/x;jsessionid=1`) are passed on. Their segment
    /// still may not be a dot segment before the `;`.
    pub parameters: bool,
}

/// The normalised form of `raw` (a request path without query), or why it
/// has none. Borrowed when `raw` is already normal, the common case.
pub fn normalize(raw: &str, opts: PathOptions) -> Result<Cow<'_, str>, PathRefusal> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRefusal::NotAbsolute);
    }
    if already_normal(bytes) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut segments = raw[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if seg.is_empty() && !last {
            // `//`: merged.
            continue;
        }
        out.push(b'/');
        let start = out.len();
        let mut params_at = None;
        let sb = seg.as_bytes();
        let mut i = 0;
        while i < sb.len() {
            let b = sb[i];
            match b {
                b'%' => {
                    let (Some(h), Some(l)) = (
                        sb.get(i + 1).and_then(|c| hex(*c)),
                        sb.get(i + 2).and_then(|c| hex(*c)),
                    ) else {
                        return Err(PathRefusal::BadEncoding);
                    };
                    let v = (h << 4) | l;
                    match v {
                        b'/' => return Err(PathRefusal::EncodedSlash),
                        b'\\' => return Err(PathRefusal::Backslash),
                        0..=0x1f | 0x7f => return Err(PathRefusal::Control),
                        _ if unreserved(v) => out.push(v),
                        _ => {
                            out.push(b'%');
                            out.push(HEX[usize::from(v >> 4)]);
                            out.push(HEX[usize::from(v & 15)]);
                        }
                    }
                    i += 3;
                    continue;
                }
                b'\\' => return Err(PathRefusal::Backslash),
                0..=0x20 | 0x7f => return Err(PathRefusal::Control),
                b';' => {
                    if !opts.parameters {
                        return Err(PathRefusal::Parameter);
                    }
                    if params_at.is_none() && out.len() == start {
                        // `/a/;x/b`: servers that strip parameters see `//`.
                        return Err(PathRefusal::Parameter);
                    }
                    params_at.get_or_insert(out.len());
                    out.push(b';');
                }
                0x80..=0xff => {
                    // Raw UTF-8 means what its percent-encoding means.
                    out.push(b'%');
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
                _ => out.push(b),
            }
            i += 1;
        }
        let name = &out[start..params_at.unwrap_or(out.len())];
        if is_dot_segment(name) {
            return Err(PathRefusal::DotSegment);
        }
    }
    // Decoded bytes must still be text: `%C0%AF` (an overlong `/`) is not.
    let decoded_ok = percent_decodes_to_utf8(&out);
    match String::from_utf8(out) {
        Ok(s) if decoded_ok => Ok(Cow::Owned(s)),
        _ => Err(PathRefusal::BadEncoding),
    }
}

/// The path rules are matched against: `path` (normalised) without its `;`
/// parameters, as servers that accept them route (`/admin;x/y` is
/// `/admin/y` to Tomcat). Borrowed when there are none.
pub fn without_parameters(path: &str) -> Cow<'_, str> {
    if !path.contains(';') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg.split(';').next().unwrap_or(""));
    }
    Cow::Owned(out)
}

/// Whether `path` (normalised) lies inside `prefix` on segment boundaries:
/// `/grafana` covers `/grafana`, `/grafana/` and `/grafana/x`, not
/// `/grafana2`. The one matcher for application prefixes, policy path rules
/// and `return_to`.
pub fn in_prefix(prefix: &str, path: &str, case: PathCase) -> bool {
    if prefix == "/" {
        return true;
    }
    let p = prefix.trim_end_matches('/');
    let Some(head) = path.get(..p.len()) else {
        return false;
    };
    let same = match case {
        PathCase::Sensitive => head == p,
        PathCase::Insensitive => head.eq_ignore_ascii_case(p),
    };
    same && matches!(path.as_bytes().get(p.len()), None | Some(b'/'))
}

/// No byte that could need work: no `%`, `;`, `\\`, control byte or
/// non-ASCII byte, no `//`, no dot segment. One scan.
fn already_normal(b: &[u8]) -> bool {
    let mut seg_start = 1;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match c {
            b'%' | b';' | b'\\' | 0..=0x20 | 0x7f..=0xff => return false,
            b'/' => {
                if i == seg_start || matches!(&b[seg_start..i], b"." | b"..") {
                    return false;
                }
                seg_start = i + 1;
            }
            _ => {}
        }
    }
    !matches!(&b[seg_start..], b"." | b"..")
}

/// `.` or `..`, also with trailing spaces or dots that some file systems
/// drop (`.. `, `...` is a name on every server we know, so it is kept).
fn is_dot_segment(seg: &[u8]) -> bool {
    let mut end = seg.len();
    // `%20` stays encoded in the output: `..%20` is read as `.. ` by servers
    // that decode before trimming.
    while end >= 3 && &seg[end - 3..end] == b"%20" {
        end -= 3;
    }
    matches!(&seg[..end], b"." | b"..")
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether the percent-encoded bytes left in `s`, decoded, are UTF-8.
fn percent_decodes_to_utf8(s: &[u8]) -> bool {
    if !s.contains(&b'%') {
        return true;
    }
    let mut decoded = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (
            s[i],
            s.get(i + 1).and_then(|c| hex(*c)),
            s.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                decoded.push((h << 4) | l);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathRefusal> {
        normalize(p, PathOptions::default()).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/a",
            "/a/",
            "/a/b.css",
            "/a/...",
            "/a/..x",
            "/.well-known/x",
            "/a/x.",
            "/~u/-_",
        ] {
            assert!(
                matches!(normalize(p, PathOptions::default()), Ok(Cow::Borrowed(b)) if b == p),
                "{p}"
            );
        }
    }

    #[test]
    fn spellings_of_one_path_become_that_path() {
        for (raw, want) in [
            ("//mfa/x", "/mfa/x"),
            ("/mfa//x", "/mfa/x"),
            ("///mfa///x//", "/mfa/x/"),
            ("/%6dfa/x", "/mfa/x"),
            ("/%6Dfa/x", "/mfa/x"),
            ("/%4d%46%41/x", "/MFA/x"),
            ("/a%7e", "/a~"),
            ("/a%2d%2E%5f", "/a-._"),
            ("/a%20b", "/a%20b"),
            ("/a%3cb", "/a%3Cb"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%25b", "/a%25b"),
            ("/a%3Bb", "/a%3Bb"),
            ("/caf\u{e9}", "/caf%C3%A9"),
        ] {
            assert_eq!(norm(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn what_cannot_be_normalised_safely_is_refused() {
        use PathRefusal::*;
        for (raw, why) in [
            ("/mfa%2fx", EncodedSlash),
            ("/mfa%2Fx", EncodedSlash),
            ("/public/..%2fadmin/", EncodedSlash),
            ("/public/%2e%2e%2fadmin/", EncodedSlash),
            ("/a\\b", Backslash),
            ("/public/..\\admin", Backslash),
            ("/a%5cb", Backslash),
            ("/a%00b", Control),
            ("/a%0ab", Control),
            ("/a%7fb", Control),
            ("/a b", Control),
            ("/a;b", Parameter),
            ("/public/..;/admin", Parameter),
            ("/a%", BadEncoding),
            ("/a%2", BadEncoding),
            ("/a%zz", BadEncoding),
            ("/a%c0%af", BadEncoding),
            ("/a%ff", BadEncoding),
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/..", DotSegment),
            ("/..", DotSegment),
            ("/.", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/%2E./b", DotSegment),
            ("/a/.%2e", DotSegment),
            ("/a/%2e/b", DotSegment),
            ("/a/..%20/b", DotSegment),
            ("a", NotAbsolute),
            ("", NotAbsolute),
        ] {
            assert_eq!(norm(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn parameters_only_where_the_application_opted_in() {
        let opts = PathOptions { parameters: true };
        assert_eq!(
            normalize("/app;jsessionid=1/x", opts).as_deref(),
            Ok("/app;jsessionid=1/x")
        );
        for bad in ["/public/..;/admin", "/a/.;x/b", "/a/%2e%2e;/b"] {
            assert_eq!(normalize(bad, opts), Err(PathRefusal::DotSegment), "{bad}");
        }
        assert_eq!(normalize("/a/;x/b", opts), Err(PathRefusal::Parameter));
        assert_eq!(without_parameters("/admin;x=1/y;z"), "/admin/y");
        assert_eq!(without_parameters("/admin/y/"), "/admin/y/");
    }

    #[test]
    fn prefixes_match_on_whole_segments_with_or_without_case() {
        use PathCase::*;
        for (prefix, path, inside) in [
            ("/", "/anything", true),
            ("/a", "/a", true),
            ("/a", "/a/", true),
            ("/a", "/a/x", true),
            ("/a", "/ab", false),
            ("/a", "/", false),
            ("/a/b", "/a", false),
            ("/mfa", "/MFA/x", false),
        ] {
            assert_eq!(
                in_prefix(prefix, path, Sensitive),
                inside,
                "{prefix} {path}"
            );
        }
        assert!(in_prefix("/mfa", "/MFA/x", Insensitive));
        assert!(in_prefix("/Admin", "/aDMIN", Insensitive));
        assert!(!in_prefix("/admin", "/admins", Insensitive));
        // Multi-byte text after the prefix's length is no panic.
        assert!(!in_prefix("/ab", "/é", Insensitive));
    }
}
