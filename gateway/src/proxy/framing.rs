//! Request framing the upstream must read exactly as the gateway did.
//!
//! pingora frames a request body by its `Content-Length` (refusing differing
//! values with 400, and dropping `Content-Length` when `Transfer-Encoding` is
//! present), but forwards the header lines as the client wrote them: two
//! identical `Content-Length` lines, or `Content-Length: 5, 5`. An upstream
//! that refuses those, takes the first, or (worse) reads them differently is
//! one disagreement away from request smuggling. So the gateway forwards
//! exactly one clean value, the one it framed the body by, and refuses what
//! does not reduce to one value.
//!
//! Pipelining: requests a client writes before reading the answers (HTTP/1.1
//! pipelining, RFC 9112 section 9.3.2) are served one after the other, answers
//! in request order. pingora's default drops every request after the first
//! one of a read and closes the connection without a word.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// What every request goes through first: pipelined requests are kept for
/// their turn (HTTP/1.1; a no-op on HTTP/2), and the body framing is made
/// unambiguous (see [`clean_content_length`]).
pub fn prepare(session: &mut Session) -> Result<(), Ambiguous> {
    // Sticks for the connection's later requests too; cheap to repeat.
    session.as_downstream_mut().set_pipelining_enabled(true);
    clean_content_length(session.req_header_mut())
}

/// Why a request's framing was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguous {
    /// `Content-Length` values that differ, or one that is not a number.
    ContentLength,
}

impl std::fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ambiguous::ContentLength => f.write_str("ambiguous or invalid Content-Length"),
        }
    }
}

/// Leaves at most one `Content-Length` on `req`, holding one decimal number:
/// identical repeated values (`5` twice, `5, 5`) become one `5`; differing or
/// unparseable ones are refused. Beside `Transfer-Encoding` (which frames the
/// body instead) any `Content-Length` is removed.
pub fn clean_content_length(req: &mut RequestHeader) -> Result<(), Ambiguous> {
    let mut values = req.headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return Ok(());
    };
    if req.headers.contains_key(TRANSFER_ENCODING) {
        req.remove_header(&CONTENT_LENGTH);
        return Ok(());
    }
    let single = values.next().is_none();
    if single && number(first.as_bytes()).is_some() {
        // The usual case: one line, one number; nothing to rewrite.
        return Ok(());
    }
    let mut length: Option<u64> = None;
    for value in req.headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let n = number(part.trim_ascii()).ok_or(Ambiguous::ContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(Ambiguous::ContentLength);
            }
            length = Some(n);
        }
    }
    let length = length.ok_or(Ambiguous::ContentLength)?;
    req.insert_header(CONTENT_LENGTH, length.to_string())
        .map_err(|_| Ambiguous::ContentLength)
}

/// A decimal number of digits only (no sign, space or comma) that fits in u64.
fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(lines: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/", None).unwrap();
        for (n, v) in lines {
            r.append_header(n.to_string(), *v).unwrap();
        }
        r
    }

    fn lengths(r: &RequestHeader) -> Vec<&str> {
        r.headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn identical_values_become_one() {
        for lines in [
            &[("Content-Length", "5"), ("content-length", "5")][..],
            &[("Content-Length", "5, 5")],
            &[("Content-Length", "5,5"), ("Content-Length", " 5 ")],
            &[("Content-Length", "05")],
        ] {
            let mut r = req(lines);
            assert_eq!(clean_content_length(&mut r), Ok(()), "{lines:?}");
            let want = if lines == [("Content-Length", "05")] {
                vec!["05"]
            } else {
                vec!["5"]
            };
            assert_eq!(lengths(&r), want, "{lines:?}");
        }
    }

    #[test]
    fn one_plain_value_is_left_alone() {
        let mut r = req(&[("Content-Length", "12")]);
        assert_eq!(clean_content_length(&mut r), Ok(()));
        assert_eq!(lengths(&r), ["12"]);
        let mut none = req(&[("Host", "x")]);
        assert_eq!(clean_content_length(&mut none), Ok(()));
        assert!(lengths(&none).is_empty());
    }

    #[test]
    fn differing_or_invalid_values_are_refused() {
        for lines in [
            &[("Content-Length", "5"), ("Content-Length", "6")][..],
            &[("Content-Length", "5, 6")],
            &[("Content-Length", "5,")],
            &[("Content-Length", "")],
            &[("Content-Length", "-5")],
            &[("Content-Length", "+5")],
            &[("Content-Length", "5 5")],
            &[("Content-Length", "0x5")],
            &[("Content-Length", "99999999999999999999999")],
        ] {
            let mut r = req(lines);
            assert_eq!(
                clean_content_length(&mut r),
                Err(Ambiguous::ContentLength),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn transfer_encoding_removes_content_length() {
        let mut r = req(&[
            ("Content-Length", "3"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "4"),
        ]);
        assert_eq!(clean_content_length(&mut r), Ok(()));
        assert!(lengths(&r).is_empty());
        assert!(r.headers.contains_key(TRANSFER_ENCODING));
    }
}
