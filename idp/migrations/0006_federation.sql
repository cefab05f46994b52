-- Federated sign-in to upstream identity providers. Portable SQL like 0001:
-- text ids, BIGINT unix seconds, TEXT for sealed blobs.

-- A local account's link to an upstream identity. Later sign-ins find the
-- account by the provider's stable subject, never by email.
CREATE TABLE federated_identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The email the provider asserted when the link was made or last used.
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (provider, user_id)
);
CREATE INDEX federated_identities_user ON federated_identities(user_id);

-- SAML AuthnRequests in flight, by request ID (InResponseTo). The ACS fills
-- `result` (sealed) once; the browser that holds the request's cookie takes
-- it once, by deleting the row.
CREATE TABLE federation_requests (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    result TEXT
);
CREATE INDEX federation_requests_expiry ON federation_requests(expires_at);

-- Assertion IDs already accepted, kept until they would have expired anyway:
-- the same assertion is never accepted twice.
CREATE TABLE federation_assertions (
    provider TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (provider, assertion_id)
);

-- What ending the upstream session at sign-out needs, by portal session key:
-- the sealed ID token (OIDC id_token_hint) or NameID and SessionIndex (SAML).
CREATE TABLE federated_sessions (
    session_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    sealed TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
