-- Failed-sign-in counters shared by every instance: per account and source
-- address, per account, per address and per subnet. The key is a keyed hash
-- of the scope and the typed email or address, so the table lists no email
-- and no address, and an unknown email is counted exactly like a known one.
CREATE TABLE signin_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure BIGINT NOT NULL,
    -- Attempts from this key are answered "wait" without a password check
    -- until this time (unix seconds; 0 = not delayed).
    blocked_until BIGINT NOT NULL
);
CREATE INDEX signin_throttle_last ON signin_throttle(last_failure);
