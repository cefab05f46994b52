-- The admin user search and audit query (issue 19) filter and page in SQL.
-- users(email) is already indexed by its UNIQUE constraint (the list's
-- order); these serve the filters that would otherwise scan.
CREATE INDEX IF NOT EXISTS group_members_user ON group_members(user_id);
CREATE INDEX IF NOT EXISTS users_locked ON users(locked_reason);
CREATE INDEX IF NOT EXISTS users_admin_role ON users(admin_role);
CREATE INDEX IF NOT EXISTS audit_actor ON audit(actor, at);
CREATE INDEX IF NOT EXISTS audit_event ON audit(event, at);
CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject, at);

-- What the admin user search looks in (email, full name, username,
-- lower-cased), kept by the store on every write of those fields: one LIKE
-- over one column instead of LOWER() and concatenation per row. Existing
-- rows are filled here with SQL's LOWER (ASCII-only on SQLite); the next
-- edit of a row rewrites it with full case folding.
ALTER TABLE users ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE users SET search = LOWER(email || ' ' || first_name || ' ' || last_name || ' ' || username);
