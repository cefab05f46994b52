-- A rotated refresh token's successor names it (parent_hash), so a client
-- that never received the successor (a killed instance, a dropped
-- connection) may present the old token once more within a short grace;
-- reissued_at records that it did, so the grace is taken at most once.
ALTER TABLE oidc_refresh_tokens ADD COLUMN parent_hash TEXT;
ALTER TABLE oidc_refresh_tokens ADD COLUMN reissued_at BIGINT;
CREATE INDEX oidc_refresh_parent ON oidc_refresh_tokens(parent_hash);
