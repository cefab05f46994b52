-- One authorization model (the access module): the directory says who may open
-- an application. An application protected by the gateway is tied to its policy
-- file (policy_id: the file name without .toml), whose groups are reconciled into
-- application_groups at start-up and reload. `everyone` opens an application to
-- every signed-in user, which must be said, never implied by an empty group list.
ALTER TABLE applications ADD COLUMN policy_id TEXT;
ALTER TABLE applications ADD COLUMN everyone BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX applications_policy ON applications(policy_id);
