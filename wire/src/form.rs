//! Form parameters as the OAuth and OpenID Connect endpoints read them
//! (query strings and `application/x-www-form-urlencoded` bodies), kept as
//! a list so that a repeated parameter can be refused (RFC 6749 section
//! 3.1: parameters must not be included more than once). `idp::oidc::wire`
//! turns a [`ParamError`] into an `invalid_request`.

/// Form parameters, in the order they were sent.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

/// Larger values are refused.
pub const MAX_PARAM_LEN: usize = 4096;

/// Larger bodies are refused before parsing.
pub const MAX_FORM_BODY: usize = 64 * 1024;

/// Why a parameter or a form body is refused; the message is safe to show
/// the client (it names the parameter, never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("the body must be application/x-www-form-urlencoded")]
    NotForm,
    #[error("the body is too large")]
    TooLarge,
    #[error("parameter {0} is repeated")]
    Repeated(String),
    #[error("parameter {0} is too long")]
    TooLong(String),
    #[error("parameter {0} is missing")]
    Missing(String),
}

impl Params {
    pub fn parse(raw: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(raw).into_owned().collect())
    }

    /// Parameters given as pairs (what a test or another caller builds).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The form body of a client's request (token, introspection,
    /// revocation, userinfo by POST): `application/x-www-form-urlencoded`
    /// and at most [`MAX_FORM_BODY`].
    pub fn from_form(content_type: Option<&str>, body: &[u8]) -> Result<Self, ParamError> {
        let ct = content_type.unwrap_or("");
        if !ct.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        }) {
            return Err(ParamError::NotForm);
        }
        if body.len() > MAX_FORM_BODY {
            return Err(ParamError::TooLarge);
        }
        Ok(Self::parse(body))
    }

    /// The single value of `name`; a repeated or oversized one is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut it = self.0.iter().filter(|(k, _)| k == name);
        let first = it.next();
        if it.next().is_some() {
            return Err(ParamError::Repeated(name.to_string()));
        }
        match first {
            Some((_, v)) if v.len() > MAX_PARAM_LEN => Err(ParamError::TooLong(name.to_string())),
            Some((_, v)) if v.is_empty() => Ok(None),
            Some((_, v)) => Ok(Some(v.as_str())),
            None => Ok(None),
        }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn require(&self, name: &str) -> Result<&str, ParamError> {
        self.get(name)?
            .ok_or_else(|| ParamError::Missing(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_name() {
        let p = Params::parse(b"a=1&b=&c=2&c=3");
        assert_eq!(p.get("a"), Ok(Some("1")));
        assert_eq!(p.get("b"), Ok(None));
        assert_eq!(p.get("c"), Err(ParamError::Repeated("c".into())));
        assert_eq!(p.require("b"), Err(ParamError::Missing("b".into())));
        let long = format!("a={}", "x".repeat(MAX_PARAM_LEN + 1));
        assert_eq!(
            Params::parse(long.as_bytes()).get("a"),
            Err(ParamError::TooLong("a".into()))
        );
    }

    #[test]
    fn only_form_bodies_within_the_limit() {
        let form = Some("application/x-www-form-urlencoded; charset=UTF-8");
        assert!(Params::from_form(form, b"a=1").is_ok());
        assert_eq!(
            Params::from_form(Some("application/json"), b"{}").unwrap_err(),
            ParamError::NotForm
        );
        assert_eq!(
            Params::from_form(form, &vec![b'a'; MAX_FORM_BODY + 1]).unwrap_err(),
            ParamError::TooLarge
        );
    }
}
