-- OpenID Connect provider state. Portable SQL: TEXT ids, BIGINT unix seconds.
-- Codes and refresh tokens are stored as SHA-256 hex of the bearer value only.

-- Signing keys, shared by every instance through the store. The private key
-- is sealed with the master key's secret box.
CREATE TABLE oidc_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when a newer key of the same algorithm took over signing; the key
    -- stays published until retired_at + the longest token lifetime.
    retired_at BIGINT
);

-- Clients added with `portcullis admin clients add` (config clients are not stored).
CREATE TABLE oidc_clients (
    client_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One user's consent to one client through one sign-in: the family every
-- code, refresh token and access token issued from it belongs to.
CREATE TABLE oidc_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_hash TEXT,
    scope TEXT NOT NULL,
    nonce TEXT,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oidc_grants_user ON oidc_grants(user_id);
CREATE INDEX oidc_grants_session ON oidc_grants(session_hash);

CREATE TABLE oidc_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES oidc_grants(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE oidc_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES oidc_grants(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX oidc_refresh_grant ON oidc_refresh_tokens(grant_id);

-- Access tokens are self-contained JWTs; one revoked on its own (RFC 7009)
-- is remembered by its jti until it would have expired anyway.
CREATE TABLE oidc_revoked_jti (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
