//! The identity assertion the gateway hands to protected applications
//! (`X-Portcullis-Assertion`): a short-lived JWT signed with the provider's
//! keys, so an application verifies it against the published JWKS instead of
//! trusting plain headers that anything on its network could forge.

use serde_json::json;

use super::keys::Alg;
use crate::crypto;
use crate::error::Result;
use crate::idp::Idp;

/// How long an assertion is valid. Applications see it on every request and
/// the gateway reuses one until it nears its end, so it stays short: a leaked
/// assertion is worth less than a minute.
pub const ASSERTION_LIFETIME_SECS: i64 = 55;

/// ES256: signing takes tens of microseconds where RS256 takes a millisecond,
/// and every JOSE library verifies it.
pub const ASSERTION_ALG: Alg = Alg::ES256;

/// The JOSE `typ` of an assertion, so one is never mistaken for an ID or
/// access token by code that checks both with the same keys.
pub const ASSERTION_TYP: &str = "portcullis-assertion+jwt";

/// Who is behind a proxied request, as an application sees it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub groups: &'a [String],
    pub amr: &'a [String],
    pub auth_time: i64,
}

impl Idp {
    /// Signs an assertion about `subject` for the application at `audience`
    /// (its origin); returns it with its expiry time.
    pub async fn sign_assertion(
        &self,
        subject: &Subject<'_>,
        audience: &str,
        now: i64,
    ) -> Result<(String, i64)> {
        let exp = now + ASSERTION_LIFETIME_SECS;
        let claims = json!({
            "iss": self.issuer(),
            "aud": audience,
            "sub": subject.user_id,
            "email": subject.email,
            "groups": subject.groups,
            "amr": subject.amr,
            "auth_time": subject.auth_time,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": crypto::random_token(),
        });
        let keys = self.oidc_keys().await?;
        Ok((keys.sign(ASSERTION_ALG, ASSERTION_TYP, &claims)?, exp))
    }
}
