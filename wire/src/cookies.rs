//! Cookie names and attributes. On HTTPS every cookie is `__Host-` prefixed,
//! `Secure`, `HttpOnly`, host-only and `SameSite=Lax`.

use http::{HeaderMap, HeaderValue, header};

#[derive(Debug, Clone)]
pub struct Cookies {
    secure: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Name {
    Session,
    Csrf,
    Login,
    Email,
    /// A sign-in waiting for its second factor.
    Mfa,
    /// A sign-in in flight at an upstream identity provider.
    Federation,
}

impl Name {
    fn base(self) -> &'static str {
        match self {
            Self::Session => "portcullis_session",
            Self::Csrf => "portcullis_csrf",
            Self::Login => "portcullis_login",
            Self::Email => "portcullis_email",
            Self::Mfa => "portcullis_mfa",
            Self::Federation => "portcullis_fed",
        }
    }
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    pub fn name(&self, n: Name) -> String {
        if self.secure {
            format!("__Host-{}", n.base())
        } else {
            n.base().to_string()
        }
    }

    /// The value of a cookie in the request, if present once. A name sent
    /// twice is treated as absent rather than guessing which one to trust.
    pub fn get(&self, headers: &HeaderMap, n: Name) -> Option<String> {
        crate::cookie::find(headers.get_all(header::COOKIE), &self.name(n)).map(str::to_string)
    }

    /// A `Set-Cookie` value; `max_age` None makes a browser-session cookie.
    pub fn set(&self, n: Name, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut c = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax", self.name(n));
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn clear(&self, n: Name) -> HeaderValue {
        self.set(n, "", Some(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes() {
        let c = Cookies::new(true);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-portcullis_session=abc; b=2"),
        );
        assert_eq!(c.get(&h, Name::Session).as_deref(), Some("abc"));
        assert_eq!(c.get(&h, Name::Csrf), None);
        let set = c.set(Name::Session, "abc", None);
        let s = set.to_str().unwrap();
        assert!(s.starts_with("__Host-portcullis_session=abc; Path=/"));
        assert!(s.contains("HttpOnly") && s.contains("Secure") && s.contains("SameSite=Lax"));
        assert!(!s.contains("Domain"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-portcullis_session=evil"),
        );
        assert_eq!(c.get(&h, Name::Session), None, "duplicates are not trusted");
        let plain = Cookies::new(false).set(Name::Session, "x", None);
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }
}
