-- When a user's or a group's directory attributes last changed (SCIM
-- meta.lastModified, the admin API). NULL on rows untouched since before
-- this column: read as their creation time.
ALTER TABLE users ADD COLUMN modified_at BIGINT;
ALTER TABLE groups ADD COLUMN modified_at BIGINT;
