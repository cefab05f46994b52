//! The one reading of a `Cookie` request header, for the portal and the
//! gateway alike, so both agree on what a browser sent.

use http::HeaderValue;

/// Every `name=value` pair of the `Cookie` header values, in order. A value
/// in double quotes (RFC 6265 allows them) is given without them.
pub fn pairs<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim(), v))
        })
}

/// The value of cookie `name`, if it was sent exactly once: a name sent
/// twice (a cookie planted for a parent domain beside ours, say) is treated
/// as absent rather than guessing which one to trust.
pub fn find<'a>(values: impl IntoIterator<Item = &'a HeaderValue>, name: &str) -> Option<&'a str> {
    let mut found = None;
    for (k, v) in pairs(values) {
        if k == name {
            if found.is_some() {
                return None;
            }
            found = Some(v);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    #[test]
    fn once_quoted_or_not_and_never_twice() {
        let one = [h("a=1; s=\"tok\"; b=2")];
        assert_eq!(find(&one, "s"), Some("tok"));
        assert_eq!(find(&one, "a"), Some("1"));
        assert_eq!(find(&one, "c"), None);
        let twice = [h("s=x"), h("s=y")];
        assert_eq!(find(&twice, "s"), None);
        assert_eq!(find(&[h("s=\"half")], "s"), Some("\"half"));
        assert_eq!(find(&[h("novalue; s=1")], "s"), Some("1"));
    }
}
