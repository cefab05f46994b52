-- Password reset links and expiry reminders. Portable SQL like 0001: text
-- ids, BIGINT unix seconds.

-- One row per emailed reset link. Only the SHA-256 of the token is kept, so
-- a copy of the database cannot be used to reset anyone's password.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Set once, by a conditional UPDATE: a link works a single time.
    used_at BIGINT
);
CREATE INDEX password_resets_user ON password_resets(user_id);

-- When each user was last sent an expiry reminder, so that at most one goes
-- out per day, across restarts and across instances sharing the database.
CREATE TABLE expiry_reminders (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    last_sent_at BIGINT NOT NULL
);
