//! Every route path the portal, the OpenID Connect provider and the SAML IdP
//! answer, and the gateway's handshake path: one list, so handlers, redirects,
//! the gateway and the tests never spell a path differently.

// The portal.
pub const HOME: &str = "/";
pub const LOGIN: &str = "/login";
pub const LOGIN_PASSWORD: &str = "/login/password";
pub const LOGIN_NOTICE: &str = "/login/notice";
pub const LOGIN_FEDERATION_ID: &str = "/login/federation/{id}";
pub const LOGIN_FEDERATION_ID_START: &str = "/login/federation/{id}/start";
pub const LOGIN_FEDERATION_ID_CALLBACK: &str = "/login/federation/{id}/callback";
pub const LOGIN_FEDERATION_ID_RETURN: &str = "/login/federation/{id}/return";
pub const LOGIN_FEDERATION_ID_METADATA: &str = "/login/federation/{id}/metadata";
pub const LOGIN_FEDERATION_ID_SLO: &str = "/login/federation/{id}/slo";
/// The same-origin page that moves a signed-out browser on to the upstream
/// provider's logout.
pub const LOGIN_FEDERATION_ID_LEAVE: &str = "/login/federation/{id}/leave";
pub const LOGIN_MFA: &str = "/login/mfa";
pub const LOGIN_STEP_UP: &str = "/login/step-up";
pub const LOGIN_MFA_METHOD: &str = "/login/mfa/{method}";
pub const MFA_TOTP_SETUP: &str = "/mfa/totp/setup";
pub const MFA_TOTP_SETUP_SCAN: &str = "/mfa/totp/setup/scan";
pub const MFA_TOTP_SETUP_CONFIRM: &str = "/mfa/totp/setup/confirm";
pub const SECURITY_TOTP_REMOVE: &str = "/security/totp/remove";
pub const SECURITY_RECOVERY_CODES: &str = "/security/recovery-codes";
pub const SECURITY_WEBAUTHN_REGISTER_START: &str = "/security/webauthn/register/start";
pub const SECURITY_WEBAUTHN_REGISTER_FINISH: &str = "/security/webauthn/register/finish";
pub const SECURITY_WEBAUTHN_ID_DELETE: &str = "/security/webauthn/{id}/delete";
pub const LOGIN_MFA_WEBAUTHN_START: &str = "/login/mfa/webauthn/start";
pub const LOGIN_MFA_WEBAUTHN_FINISH: &str = "/login/mfa/webauthn/finish";
pub const LOGIN_PASSKEY_START: &str = "/login/passkey/start";
pub const LOGIN_PASSKEY_FINISH: &str = "/login/passkey/finish";
pub const LOGOUT: &str = "/logout";
pub const PASSWORD_RESET: &str = "/password/reset";
pub const PASSWORD_RESET_NEW: &str = "/password/reset/new";
pub const PASSWORD_RESET_MFA: &str = "/password/reset/mfa";
pub const APPS: &str = "/apps";
pub const APPS_ID_FAVORITE: &str = "/apps/{id}/favorite";
pub const APPS_ID_LAUNCH: &str = "/apps/{id}/launch";
/// An uploaded tile logo (`admin::apps::set_logo`).
pub const APPS_ID_LOGO: &str = "/apps/{id}/logo";
pub const GATEWAY_AUTHORIZE: &str = "/gateway/authorize";
pub const PROFILE: &str = "/profile";
pub const SECURITY: &str = "/security";
pub const SECURITY_PASSWORD: &str = "/security/password";
pub const SECURITY_SSH_KEYS: &str = "/security/ssh-keys";
pub const SECURITY_SSH_KEYS_ID_DELETE: &str = "/security/ssh-keys/{id}/delete";
pub const SECURITY_API_KEYS: &str = "/security/api-keys";
pub const SECURITY_API_KEYS_ID_REVOKE: &str = "/security/api-keys/{id}/revoke";
pub const SECURITY_SESSIONS_ID_END: &str = "/security/sessions/{id}/end";
pub const SECURITY_SESSIONS_END_OTHERS: &str = "/security/sessions/end-others";
pub const STATIC_PORTAL_CSS: &str = "/static/portal.css";
pub const STATIC_PORTAL_JS: &str = "/static/portal.js";
pub const STATIC_WEBAUTHN_JS: &str = "/static/webauthn.js";
pub const STATIC_SAML_JS: &str = "/static/saml.js";
pub const HEALTHZ: &str = "/healthz";
pub const LOGIN_FEDERATION_ID_ACS: &str = "/login/federation/{id}/acs";

// The gateway handshake: the application host's callback (answered by the
// gateway itself, on every application host) and the portal's half.
pub const GATEWAY_CALLBACK: &str = "/.portcullis/callback";

// The OpenID Connect provider.
pub const OIDC_AUTHORIZE: &str = "/oauth2/authorize";
pub const OIDC_TOKEN: &str = "/oauth2/token";
pub const OIDC_USERINFO: &str = "/oauth2/userinfo";
pub const OIDC_JWKS: &str = "/oauth2/jwks";
pub const OIDC_INTROSPECT: &str = "/oauth2/introspect";
pub const OIDC_REVOKE: &str = "/oauth2/revoke";
pub const OIDC_END_SESSION: &str = "/oauth2/logout";
/// Where the user's confirmation of an RP-initiated logout is posted.
pub const OIDC_END_SESSION_CONFIRM: &str = "/oauth2/logout/confirm";
pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";

// The SAML identity provider.
pub const SAML_METADATA: &str = "/saml/metadata";
pub const SAML_SSO: &str = "/saml/sso";
pub const SAML_CONTINUE: &str = "/saml/sso/continue";
pub const SAML_IDP_INIT: &str = "/saml/idp-init";
pub const SAML_SLO: &str = "/saml/slo";
pub const SAML_SLO_NEXT: &str = "/saml/slo/next";

// SCIM 2.0 provisioning (RFC 7644), under one base.
pub const SCIM_BASE: &str = "/scim/v2";
pub const SCIM_USERS: &str = "/scim/v2/Users";
pub const SCIM_USERS_ID: &str = "/scim/v2/Users/{id}";
pub const SCIM_USERS_SEARCH: &str = "/scim/v2/Users/.search";
pub const SCIM_GROUPS: &str = "/scim/v2/Groups";
pub const SCIM_GROUPS_ID: &str = "/scim/v2/Groups/{id}";
pub const SCIM_GROUPS_SEARCH: &str = "/scim/v2/Groups/.search";
pub const SCIM_SEARCH: &str = "/scim/v2/.search";
pub const SCIM_SERVICE_PROVIDER_CONFIG: &str = "/scim/v2/ServiceProviderConfig";
pub const SCIM_RESOURCE_TYPES: &str = "/scim/v2/ResourceTypes";
pub const SCIM_RESOURCE_TYPES_ID: &str = "/scim/v2/ResourceTypes/{id}";
pub const SCIM_SCHEMAS: &str = "/scim/v2/Schemas";
pub const SCIM_SCHEMAS_ID: &str = "/scim/v2/Schemas/{id}";

// The admin console (`web/admin/`). Every route is behind its one guard.
pub const ADMIN: &str = "/admin";
pub const ADMIN_USERS: &str = "/admin/users";
pub const ADMIN_USERS_NEW: &str = "/admin/users/new";
pub const ADMIN_USER: &str = "/admin/users/{email}";
pub const ADMIN_USER_PROFILE: &str = "/admin/users/{email}/profile";
pub const ADMIN_USER_LOCK: &str = "/admin/users/{email}/lock";
pub const ADMIN_USER_UNLOCK: &str = "/admin/users/{email}/unlock";
pub const ADMIN_USER_RESET_MFA: &str = "/admin/users/{email}/reset-mfa";
pub const ADMIN_USER_PASSWORD: &str = "/admin/users/{email}/password";
pub const ADMIN_USER_RESET_LINK: &str = "/admin/users/{email}/reset-link";
pub const ADMIN_USER_ROLE: &str = "/admin/users/{email}/role";
pub const ADMIN_USER_GROUPS: &str = "/admin/users/{email}/groups";
pub const ADMIN_USER_SESSIONS_END: &str = "/admin/users/{email}/sessions/end";
pub const ADMIN_USER_SESSIONS_END_ALL: &str = "/admin/users/{email}/sessions/end-all";
pub const ADMIN_USER_DELETE: &str = "/admin/users/{email}/delete";
pub const ADMIN_GROUPS: &str = "/admin/groups";
pub const ADMIN_GROUP: &str = "/admin/groups/{name}";
pub const ADMIN_GROUP_MEMBERS: &str = "/admin/groups/{name}/members";
pub const ADMIN_SETTINGS: &str = "/admin/settings";
pub const ADMIN_SETTINGS_KEY: &str = "/admin/settings/{key}";
pub const ADMIN_KEYS: &str = "/admin/keys";
pub const ADMIN_KEYS_ROTATE: &str = "/admin/keys/rotate";
pub const ADMIN_APPS: &str = "/admin/apps";
pub const ADMIN_APP: &str = "/admin/apps/{name}";
pub const ADMIN_APP_GROUPS: &str = "/admin/apps/{name}/groups";
pub const ADMIN_APP_LOGO: &str = "/admin/apps/{name}/logo";
pub const ADMIN_AUDIT: &str = "/admin/audit";
pub const ADMIN_AUDIT_EXPORT: &str = "/admin/audit/export";
pub const ADMIN_CLIENTS: &str = "/admin/clients";
pub const ADMIN_SAML: &str = "/admin/saml";
/// The entity ID percent-encoded as one segment.
pub const ADMIN_SAML_SP: &str = "/admin/saml/{entity}";
pub const ADMIN_SAML_SP_DELETE: &str = "/admin/saml/{entity}/delete";
pub const ADMIN_FEDERATION: &str = "/admin/federation";

// The admin REST API: every route is below this prefix.
pub const API_ADMIN_V1: &str = "/api/admin/v1";
pub const API_ADMIN_V1_OPENAPI: &str = "/api/admin/v1/openapi.json";
