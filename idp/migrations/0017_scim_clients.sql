-- SCIM 2.0 provisioning (RFC 7643/7644). Portable SQL like 0001.

-- The provisioning clients (an HR system, Entra ID, Okta...): one bearer
-- token each, kept only as its SHA-256. A revoked client keeps its row for
-- the audit trail; its name may be given to a new client.
CREATE TABLE scim_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX scim_clients_live_name ON scim_clients(name) WHERE revoked_at IS NULL;

-- The provisioning system's own key for a user or group (SCIM externalId).
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE groups ADD COLUMN external_id TEXT;
-- SCIM filters look users up by these; 100k users must not mean a scan.
CREATE INDEX users_external_id ON users(external_id);
CREATE INDEX users_username ON users(LOWER(username));
CREATE INDEX users_created ON users(created_at, id);
CREATE INDEX group_members_user ON group_members(user_id);
