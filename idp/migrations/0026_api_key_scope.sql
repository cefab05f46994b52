-- Personal API keys accepted by the gateway (issue 21). `apps`: the policy
-- ids (applications) a key is limited to, space-separated; NULL: every
-- application that accepts API keys. `api_keys` on an application: its
-- gateway policy accepts them (`api = { api_keys = true }`), reconciled at
-- start-up and reload, so the Security page offers only those.
ALTER TABLE api_keys ADD COLUMN apps TEXT;
ALTER TABLE applications ADD COLUMN api_keys BIGINT NOT NULL DEFAULT 0;
