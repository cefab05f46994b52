-- State that several instances share through the store (PostgreSQL when
-- scaled out). Portable SQL like 0001: TEXT ids, BIGINT unix seconds.

-- Orders rows written within the same second (SQLite's rowid did this on
-- one engine only). Filled by the application with a growing number.
ALTER TABLE audit ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE password_history ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

-- The gateway's single-use handshake codes (was in one process's memory): a
-- code issued by the portal on one instance is redeemed on whichever
-- instance the browser reaches next. Only the SHA-256 of a code is kept.
CREATE TABLE gateway_handoffs (
    code_hash TEXT PRIMARY KEY,
    session_key TEXT NOT NULL,
    app TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX gateway_handoffs_expiry ON gateway_handoffs(expires_at);

-- Fixed-window request counters shared by every instance (password reset
-- requests per account and per address). The key is a keyed hash, so the
-- table does not list the emails people typed.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
CREATE INDEX rate_limits_window ON rate_limits(window_start);
