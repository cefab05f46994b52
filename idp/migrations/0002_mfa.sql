-- Second factors. Portable SQL like 0001: text ids, BIGINT unix seconds.

-- One authenticator app per user. The secret is sealed with the store's
-- secret box; a row with activated_at NULL is an enrolment in progress.
CREATE TABLE mfa_totp (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    -- The last accepted time step: a code for this step or an earlier one
    -- is refused, so an observed code cannot be replayed.
    last_step BIGINT,
    last_used_at BIGINT
);

-- Single-use recovery codes, stored as keyed hashes.
CREATE TABLE mfa_recovery_codes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes(user_id);

-- Security keys and passkeys (WebAuthn). `passkey` is the library's
-- serialised credential: public key, counter, flags; nothing secret.
CREATE TABLE mfa_webauthn (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX mfa_webauthn_user ON mfa_webauthn(user_id);

-- WebAuthn ceremonies between their start and finish requests, taken once.
CREATE TABLE mfa_webauthn_ceremonies (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
