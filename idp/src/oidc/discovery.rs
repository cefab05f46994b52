//! Discovery (OpenID Connect Discovery 1.0). The metadata lists
//! exactly what is implemented, nothing aspirational.

use crate::paths;
use serde_json::json;

use super::config::SCOPES;

/// The provider metadata document for issuer `iss`.
pub fn metadata(iss: &str) -> serde_json::Value {
    let at = |p: &str| format!("{iss}{p}");
    json!({
        "issuer": iss,
        "authorization_endpoint": at(paths::OIDC_AUTHORIZE),
        "token_endpoint": at(paths::OIDC_TOKEN),
        "userinfo_endpoint": at(paths::OIDC_USERINFO),
        "jwks_uri": at(paths::OIDC_JWKS),
        "introspection_endpoint": at(paths::OIDC_INTROSPECT),
        "revocation_endpoint": at(paths::OIDC_REVOKE),
        "end_session_endpoint": at(paths::OIDC_END_SESSION),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
            "name", "given_name", "family_name", "preferred_username",
            "email", "email_verified", "phone_number", "phone_number_verified", "address",
            "groups"
        ],
        "acr_values_supported": [super::authorize::ACR_PWD, super::authorize::ACR_MFA],
        // consent and select_account are accepted and change nothing, so
        // they are not advertised.
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
