-- Who did an administrative action (the CLI's OS user, a signed-in
-- administrator, an API client), so the audit trail can be filtered by actor.
-- NULL for events that are not administrative.
ALTER TABLE audit ADD COLUMN actor TEXT;
