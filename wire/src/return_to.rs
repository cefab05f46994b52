//! Where a sign-in may send the browser afterwards: a path on the portal, or
//! a URL on a configured application's origin. Anything else would make the
//! portal an open redirect.

use crate::paths;

/// The safe target for `raw`, or None.
pub fn safe(raw: &str, portal_origin: &str, app_origins: &[String]) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if raw.starts_with('/') {
        // "//host" and "/\host" are network-path references to another host.
        if raw.starts_with("//") {
            return None;
        }
        let base = url::Url::parse(portal_origin).ok()?;
        let joined = base.join(raw).ok()?;
        if joined.origin() != base.origin() {
            return None;
        }
        // Never bounce back into the sign-in pages themselves.
        if joined.path().starts_with(paths::LOGIN) || joined.path() == paths::LOGOUT {
            return None;
        }
        return Some(raw.to_string());
    }
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "https" | "http")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    (origin == portal_origin || app_origins.contains(&origin)).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::safe;

    const P: &str = "https://portal.localhost:8443";

    #[test]
    fn only_portal_paths_and_app_origins() {
        let apps = vec!["https://wiki.example.com".to_string()];
        assert_eq!(safe("/profile", P, &apps).as_deref(), Some("/profile"));
        assert_eq!(
            safe("/apps?tab=favorites", P, &apps).as_deref(),
            Some("/apps?tab=favorites")
        );
        assert!(safe("https://wiki.example.com/page", P, &apps).is_some());
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "https://wiki.example.com.evil.example/",
            "https://user@wiki.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "http://wiki.example.com/",
            "/login/password",
            "/\tevil",
            "",
            "evil.example",
        ] {
            assert_eq!(safe(bad, P, &apps), None, "{bad:?}");
        }
    }
}
