-- The LDAP interface (issue 20). Service accounts bind as
-- cn=NAME,ou=services,<base DN> with an API key; only its SHA-256 is kept.
-- `grants` is a comma-separated list of what the account may read
-- (users, groups). A revoked account keeps its row so its name stays taken
-- in the audit trail's sense: revoking is final.
CREATE TABLE ldap_accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    grants TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- POSIX ids for users (uidNumber, and gidNumber of their personal group) and
-- groups (gidNumber), from one number space so a user's personal group never
-- shares a number with a directory group. No foreign key: the row outlives
-- a deleted user or group, so its number is never handed out again.
CREATE TABLE posix_ids (
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    number BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (owner_kind, owner_id)
);
