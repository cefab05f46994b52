-- SAML 2.0 identity provider state. Portable SQL: TEXT ids, BIGINT unix seconds.

-- Signing certificates, shared by every instance through the store. The
-- private key (PKCS#1 DER) is sealed with the master key's secret box.
CREATE TABLE saml_certs (
    id TEXT PRIMARY KEY,
    private_sealed TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when a newer certificate took over signing; the old one stays in
    -- the metadata until retired_at + saml.cert_overlap.
    retired_at BIGINT
);

-- Service providers added with `portcullis admin saml-sps` (configured ones are not stored).
CREATE TABLE saml_sps (
    entity_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every AuthnRequest accepted: its ID answers InResponseTo and a second
-- arrival of the same ID from the same SP is a replay. `handle` is the
-- random value the sign-in continues with; the request is answered once.
CREATE TABLE saml_requests (
    sp_entity_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    handle_hash TEXT NOT NULL,
    acs_url TEXT NOT NULL,
    relay_state TEXT,
    force_authn BOOLEAN NOT NULL,
    is_passive BOOLEAN NOT NULL,
    wants_mfa BOOLEAN NOT NULL,
    received_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answered_at BIGINT,
    PRIMARY KEY (sp_entity_id, request_id)
);
CREATE UNIQUE INDEX saml_requests_handle ON saml_requests(handle_hash);

-- One row per assertion issued through a portal session, for single logout.
CREATE TABLE saml_sessions (
    id TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sp_entity_id TEXT NOT NULL,
    name_id TEXT NOT NULL,
    name_id_format TEXT NOT NULL,
    session_index TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Front-channel logout: the chain this row is being logged out in, and
    -- the ID of the LogoutRequest sent to the SP.
    logout_chain TEXT,
    logout_request_id TEXT,
    ended_at BIGINT
);
CREATE INDEX saml_sessions_session ON saml_sessions(session_hash);
CREATE INDEX saml_sessions_chain ON saml_sessions(logout_chain);
